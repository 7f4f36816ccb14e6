/*
 * The snapshot manager: a window per VM with its snapshot tree (a thumbnail per snapshot,
 * name, description, date, whether memory is included and the disk space each one holds, a
 * "You are here" row below the current snapshot) and the operations on it: Take, Go To,
 * Delete (the snapshots below stay) and Rename. Long operations show their progress below the
 * tree; nothing waits on the GTK thread. The tree follows every change: the manager's own
 * operations, those of other windows and of the command line, and the VM's state.
 */
#pragma once
#include <gtk/gtk.h>

#include "vm.h"

/* Presents VM's snapshot manager, making it if there is none. */
GtkWindow *snapshots_show(GtkApplication *app, PcvmVm *vm);
