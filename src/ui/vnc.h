/*
 * The VM's console over VNC (libvncserver), served from a thread of its own ("vnc", its own
 * GMainContext), so that no viewer can hold the VM's main loop: framebuffer updates from the
 * display's dirty rectangles, keyboard (X keysyms through the layout's keymap, and QEMU's
 * extended key event with raw scan codes) and pointer (as relative PS/2 motion) back to the
 * display. Every socket also accepts WebSocket clients (noVNC), as libvncserver detects them.
 * libvncserver itself is loaded when the first viewer connects (vnc_lib.h). Threading in
 * detail: vnc.c's header comment.
 */
#pragma once
#include <stdbool.h>

#include "ui/display.h"

struct vnc_options {
	/* TCP: "HOST:N" listens on HOST, port 5900 + N ("127.0.0.1:1", "localhost:0",
	 * "[::1]:2"); ":N" or "0.0.0.0:N" on every address. NULL: no TCP. */
	const char *listen;
	/* A Unix socket to listen on (DIR/run/vnc.sock); created mode 0600, removed by
	 * vnc_server_free. NULL: none. */
	const char *unix_path;
	/* VNC authentication (only the first 8 characters count, as the protocol's DES key).
	 * Required when LISTEN resolves to anything but loopback. NULL or "": none. */
	const char *password;
	/* How keysyms map to keys: "en-us" (the default when NULL) or "de". Viewers that send
	 * QEMU extended key events bypass it. */
	const char *keyboard_layout;
	/* The desktop name viewers show; NULL: "pcvm". */
	const char *name;
};

struct vnc_server;

/*
 * Starts listening, and the server's thread (the process ignores SIGPIPE: main() does).
 * DISPLAY is copied; its opaque must stay valid until vnc_server_free. The server calls
 * display->refresh() from its thread about 30 times a second while a viewer is connected (and
 * once for the first, for the size), never at the same time as vnc_server_capture() does;
 * display->key() and display->pointer() when viewers type and move, on the calling thread's
 * thread-default main context (the VM's main loop), in order. NULL with *error (g_free it) on
 * a bad option, a non-loopback address without a password, or a socket that cannot be bound.
 */
struct vnc_server *vnc_server_new(const struct display_ops *display, const struct vnc_options *opts,
				  char **error);
/* Disconnects every viewer (releasing the keys and buttons they held), stops listening and
 * the thread. Call it from the thread that created the server; it does not wait for a viewer
 * that has stopped reading. */
void vnc_server_free(struct vnc_server *vnc);

/* The TCP port listened on, or 0. */
unsigned vnc_server_port(const struct vnc_server *vnc);
/* Viewers connected (past the WebSocket check). Any thread. */
unsigned vnc_server_clients(struct vnc_server *vnc);
/*
 * The screen as of now: refreshes from the display and returns a copy of its surface (g_free
 * it: the pixels are in the same block), or NULL while the display has no picture (no mode set
 * yet). The change this refresh finds reaches the viewers with the server's next tick: whatever
 * else needs the picture (a screenshot, a snapshot's thumbnail) should take it from here, as
 * refresh() reports each change once. Any thread but the server's; it waits at most for a
 * refresh in progress, never for a viewer.
 */
struct display_surface *vnc_server_capture(struct vnc_server *vnc);
