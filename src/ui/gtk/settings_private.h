/* Between the settings window (settings.c) and its device pages (settings_devices.c). */
#pragma once
#include <gtk/gtk.h>
#include <stdbool.h>

#include "config.h"
#include "settings.h"
#include "settings_model.h"
#include "wizard_private.h"

struct settings {
	GtkWindow *window;
	GtkBuilder *builder;
	PcvmVm *vm;
	GtkWidget *error_bar;
	GCancellable *cancel;	  /* the window's reads and commands; cancelled when it closes */
	struct vm_config cfg;	  /* vm.conf as read last */
	bool loaded;		  /* cfg holds it */
	struct vm_settings saved; /* what the power-off fields said when the window opened */
	struct wizard_host *host; /* the host's limits and bridges; NULL until known */
	GPtrArray *disks;	  /* struct disk_entry * of `pcvm disk info`; NULL until known */
	unsigned busy;		  /* pcvm commands under way: the controls that start one wait */
	GtkFileChooserNative *chooser; /* the ISO chooser while it is open */
};

GtkWidget *settings_widget(struct settings *s, const char *id);
/* Runs `pcvm ARGS...` for WHAT ("add a disk"): controls wait meanwhile; on success vm.conf
 * and the disks are read again (the power-off fields keep what the user typed); a failure shows in
 * the window. */
void settings_run(struct settings *s, const char *what, const char *const *args);
/* Enables and shows what fits the VM's state and what is known. */
void settings_update(struct settings *s);
bool settings_vm_on(struct settings *s);

/* settings_devices.c: the disk, CD/DVD and network pages. */
void settings_devices_init(struct settings *s);
/* After vm.conf or the disk list was read. FIRST: the power-off fields (network) are filled too. */
void settings_devices_fill(struct settings *s, bool first);
void settings_devices_update(struct settings *s);
/* The network fields into NEW (mode, bridge, network). */
void settings_devices_collect(struct settings *s, struct vm_settings *new);
