/*
 * The app's small dialogs and its error bar. Dialogs are modal to their parent but never run
 * a nested main loop: each reports its answer through a callback.
 */
#pragma once
#include <gtk/gtk.h>
#include <stdbool.h>

#include "host.h"

/* Asks for a snapshot's name and description; DONE runs on "Take Snapshot". */
typedef void (*snapshot_dialog_done)(const char *name, const char *description, gpointer data);
void dialog_take_snapshot(GtkWindow *parent, const char *vm_name, snapshot_dialog_done done,
			  gpointer data, GDestroyNotify destroy);

/* The same dialog for an existing snapshot: its name and description (both may change);
 * DONE runs on "Save". */
void dialog_edit_snapshot(GtkWindow *parent, const char *name, const char *description,
			  snapshot_dialog_done done, gpointer data, GDestroyNotify destroy);

/* A size in GiB between MIN and MAX, starting at VALUE: TITLE, DETAIL and the ACCEPT button;
 * DONE runs with the size on ACCEPT. */
typedef void (*size_dialog_done)(unsigned gib, gpointer data);
void dialog_ask_size(GtkWindow *parent, const char *title, const char *detail, const char *accept,
		     unsigned min, unsigned max, unsigned value, size_dialog_done done,
		     gpointer data, GDestroyNotify destroy);

/* dialog_confirm with a check box OPTION (off at first); DONE gets whether it was on. */
typedef void (*confirm_option_done)(gboolean option, gpointer data);
void dialog_confirm_option(GtkWindow *parent, const char *title, const char *detail,
			   const char *accept, const char *option, confirm_option_done done,
			   gpointer data, GDestroyNotify destroy);

/* A question with Cancel and ACCEPT (DESTRUCTIVE: shown as such); DONE runs on ACCEPT. */
void dialog_confirm(GtkWindow *parent, const char *title, const char *detail, const char *accept,
		    bool destructive, GCallback done, gpointer data, GDestroyNotify destroy);

/* A message with a Close button. */
void dialog_message(GtkWindow *parent, GtkMessageType type, const char *title, const char *detail);

/* The host check's finding (host.h): what is wrong with KVM and how to fix it. */
void dialog_host_check(GtkWindow *parent, const struct host_report *r);

void dialog_about(GtkWindow *parent);

/* An info bar for errors, to pack at the top of a window: hidden until error_bar_show. */
GtkWidget *error_bar_new(void);
void error_bar_show(GtkWidget *bar, GtkMessageType type, const char *title, const char *detail);
