/*
 * A VM's settings (data/settings.ui): memory and processors (within the host's limits), hard
 * disks (add, grow, remove: with the VM off), the CD/DVD drive (an ISO or none, changed at
 * once even while the VM runs), the network adapter's connection and NAT port forwards (at
 * once), the display adapter (shown) and the boot order. What applies at the next power-on is
 * marked so while the VM runs, and written on Save. The app never writes vm.conf itself:
 * `pcvm config`, `pcvm disk`, `pcvm media` and `pcvm portfwd` do, and check what they write.
 */
#pragma once
#include <gtk/gtk.h>

#include "vm.h"

/* Presents VM's settings window, making it if there is none. */
GtkWindow *settings_show(GtkWindow *parent, PcvmVm *vm);
