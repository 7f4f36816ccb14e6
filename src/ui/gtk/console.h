/*
 * A VM's console window: its screen through gtk-vnc's VncDisplay on DIR/run/vnc.sock, the
 * VM actions, a Send Key menu, full screen, scaling and screenshots. The keyboard is grabbed
 * on a click into the screen and released with Ctrl+Alt, as the status bar says; while the
 * screen has the focus every key goes to the guest, never to the app's shortcuts.
 */
#pragma once
#include <gtk/gtk.h>

#include "vm.h"

/* Presents VM's console window, making it if there is none. */
GtkWindow *console_show(GtkApplication *app, PcvmVm *vm);
