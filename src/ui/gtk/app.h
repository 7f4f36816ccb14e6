/*
 * pcvm-gtk, the desktop app (design.md, "Processes"). GTK runs on the main thread only;
 * VMs run as separate `pcvm run` processes and the app reaches them only through their
 * control socket (vmctl.h), their VNC socket (console.c) and the pcvm command line.
 *
 * Modules: main.c (application, options, host check), vm*.c (one VM: state, thumbnail,
 * actions on it), vm_actions.c (the action table shared by the windows), library*.c (the
 * library window), console.c (a VM's screen), wizard*.c (the new-VM assistant), dialogs.c.
 */
#pragma once
#include <gtk/gtk.h>

#include "guest.h"

#define APP_ID	      "org.pcvm.Pcvm"
#define APP_RESOURCES "/org/pcvm/Pcvm/"

/* What every window needs to know about the app, set up once in main.c. */
struct app_env {
	char *pcvm;	   /* the pcvm binary: beside pcvm-gtk, in the build tree, or on PATH */
	char *library_dir; /* where new VMs go and where the library looks */
	char *tmp_dir;	   /* thumbnails and the VMs' stderr, removed at exit */
	char *config_file; /* $XDG_CONFIG_HOME/pcvm/gtk.conf: bundles opened from elsewhere */
	struct guest_presets presets;
};

const struct app_env *app_env(void);

/* A GtkBuilder for RESOURCE (under APP_RESOURCES, e.g. "library.ui"); aborts if the bundled
 * resource is broken, which is a build error. */
GtkBuilder *app_builder(const char *resource);
/* The icon of guest preset GUEST (NULL or unknown: generic) at SIZE pixels. */
GdkPixbuf *app_guest_icon(const char *guest, int size);
