/*
 * The new-VM wizard (a GtkAssistant, data/wizard.ui): Typical or Custom; the installer ISO
 * (the guest recognised from it picks a preset of data/guest-presets.conf) or "install
 * later"; name and location; disk size; memory and CPUs within the host's limits (Custom);
 * the network (Custom); a summary with "Power on after creation". It creates the bundle with
 * `pcvm create` (wizard_create.c) and hands it to DONE.
 */
#pragma once
#include <gtk/gtk.h>
#include <stdbool.h>

typedef void (*wizard_done)(const char *dir, bool power_on, gpointer data);

void wizard_show(GtkWindow *parent, wizard_done done, gpointer data);
