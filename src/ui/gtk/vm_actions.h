/*
 * The actions on a VM (power on, shut down, power off, reset, suspend, resume, pause, take
 * snapshot, revert, delete; the snapshot manager and settings windows), described once in a
 * table: name, shortcut, the states they are enabled in and what they do. The library window
 * adds them for its selected VM, a console window for its own, each as "win." actions behind
 * its toolbar buttons and menu items.
 */
#pragma once
#include <gtk/gtk.h>

#include "vm.h"

struct vm_action_host {
	GtkWindow *window;		    /* for dialogs; its GActionMap gets the actions */
	PcvmVm *(*current)(gpointer owner); /* the VM they act on now (NULL: none) */
	void (*powered_on)(gpointer owner, PcvmVm *vm); /* NULL, or what else to do */
	gpointer owner;
};

/* Adds the actions to HOST->window (a GtkApplicationWindow); HOST must outlive it. */
void vm_actions_add(const struct vm_action_host *host);
/* Enables each action for VM's state (VM NULL: all off). */
void vm_actions_update(GtkWindow *window, PcvmVm *vm);
/* The shortcuts of the app's actions, VM actions and others (main.c calls it once). */
void vm_actions_set_accels(GtkApplication *app);
