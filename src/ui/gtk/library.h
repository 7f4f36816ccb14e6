/*
 * The library window: the VMs of the library folder plus bundles opened from elsewhere, each
 * with its guest icon, name, state and a live thumbnail; the actions on the selected one;
 * errors from any of them in an info bar. The bundles are read off the GTK thread.
 */
#pragma once
#include <gtk/gtk.h>
#include <stdbool.h>

#include "vm.h"
#include "vm_library.h"

GtkWindow *library_window_new(GtkApplication *app);
/* Shows a host-check finding (host.h) in the window: fatal ones as a dialog, warnings in the
 * info bar. */
struct host_report;
void library_show_host_report(GtkWindow *library, const struct host_report *r);

/* Reads the bundles in LIBRARY_DIR (making it if missing) and the directories EXTRA (NULL
 * terminated; those without vm.conf are left out) on a worker thread. */
void library_scan_async(const char *library_dir, char **extra, GCancellable *cancel,
			GAsyncReadyCallback callback, gpointer data);
/* The struct bundle_info *s found, sorted by name; g_ptr_array_unref it. */
GPtrArray *library_scan_finish(GAsyncResult *res, GError **error);
/* Remembers the bundles opened from elsewhere in CONFIG_FILE ([library] bundles=; read by
 * vm_library_extra_load). */
void library_extra_save(const char *config_file, char **extra);
