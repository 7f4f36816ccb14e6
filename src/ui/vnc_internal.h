/* The VNC server's internals, shared by the files that make it up: vnc.c (the server, its
 * thread, the framebuffer), vnc_listen.c (listening, accepting, the pending-connection gate),
 * vnc_client.c (message gating, clients), vnc_input.c (keyboard, pointer, QEMU's extended key
 * events). Threading: see vnc.c's header comment. */
#pragma once
#include <glib-unix.h>
#include <glib.h>
#include <pthread.h>
#include <rfb/rfb.h>
#include <stdbool.h>
#include <stdint.h>

#include "ui/vnc.h"
#include "ui/vnc_lib.h"

#define VNC_BASE_PORT 5900
#define VNC_TICK_MS 33       /* display refresh while a viewer is connected, ~30 Hz */
#define VNC_MAX_WAIT_MS 2000 /* libvncserver's limit on a blocking read or write */
#define VNC_WS_GRACE_MS 100  /* time for a WebSocket viewer to send its request: libvncserver's */
#define VNC_RETRY_MS 10      /* re-check of an incomplete message */
#define VNC_PARTIAL_TIMEOUT_US (5 * G_USEC_PER_SEC)
#define VNC_GATE_MAX (64 * 1024) /* longer messages are handed over once this much is there */
#define VNC_MAX_CONNECTIONS 32
#define VNC_PUMP_MAX 64 /* messages handled per wakeup, so one client cannot starve the loop */
#define VNC_WS_HEADER_MAX 4096 /* libvncserver reads at most this much of the HTTP request */

/* VNC button mask bits (RFB 3.8 §7.5.5): 1-3 buttons, 4/5 wheel up/down */
#define VNC_BUTTONS 0x07
#define VNC_WHEEL_UP 0x08
#define VNC_WHEEL_DOWN 0x10

struct vnc_listener {
	struct vnc_server *vnc;
	int fd;
	guint watch;
	guint resume; /* accept paused after running out of descriptors */
};

/* An accepted connection not yet given to libvncserver. */
struct vnc_pending {
	struct vnc_server *vnc;
	int fd;
	guint watch;
	guint timer;
	gint64 since;
	bool grace_over;
};

struct vnc_relay;
struct vnc_relay_link;

struct vnc_client {
	struct vnc_server *vnc;
	rfbClientPtr cl;
	struct vnc_relay_link *link; /* between libvncserver's socket and the viewer's */
	/* a duplicate of the socket, so that vnc_server_free can shut it down from its thread
	 * while libvncserver may be waiting on it (conn_lock); -1 until the client is set up */
	int shut_fd;
	guint watch;          /* socket readable; 0 while waiting for the rest of a message */
	guint retry;          /* the re-check timer while a message is incomplete */
	gint64 partial_since; /* when the current incomplete message was first seen */
	uint8_t down[32];     /* keys this viewer holds, by qnum */
	GHashTable *keysyms;  /* keysym -> qnum it pressed, so the release finds the same key */
	bool have_pos;
	int x, y;
	unsigned buttons;
};

/* A key or pointer event on its way to the display's thread. */
struct vnc_input {
	bool is_key;
	bool down;
	unsigned qnum;
	int dx, dy, dz;
	unsigned buttons;
};

struct vnc_server {
	/* fixed once vnc_server_new returns */
	struct display_ops display;
	char *layout;
	char *password;
	char *passwords[2]; /* libvncserver's NULL-terminated list */
	char *name;
	char *unix_path;
	unsigned port;
	GMainContext *ctx;   /* the VNC thread's: every source of the server is attached here */
	GMainContext *owner; /* where display->key() and ->pointer() run: the creator's */
	pthread_t thread;
	bool thread_started;
	gint quit, exited;

	/* the VNC thread's (the creator's before the thread starts and after it ends) */
	rfbScreenInfoPtr screen; /* NULL until the first viewer: vnc_screen_ensure */
	uint32_t *fb; /* what libvncserver serves: the display surface as of the last sync */
	unsigned fb_w, fb_h;
	bool fb_unfilled; /* fb is still the zeroed block of vnc_screen_ensure: sync copies it all */
	GPtrArray *listeners;
	GPtrArray *pending;
	struct vnc_relay *relay; /* its own thread; from vnc_server_new to vnc_server_free */
	guint tick;

	/* display->refresh() is called with render_lock held, and UNSENT holds what the
	 * refreshes reported that fb does not show yet (vnc_server_capture refreshes too) */
	pthread_mutex_t render_lock;
	struct display_update unsent;

	/* CLIENTS is changed by the VNC thread with conn_lock held, and read under it elsewhere */
	pthread_mutex_t conn_lock;
	GPtrArray *clients;

	/* input events queued for the owner context, and the idle source that delivers them */
	pthread_mutex_t input_lock;
	GArray *input;
	GSource *input_source;
};

/* vnc.c: sources on the VNC thread's context (never the default one), and the framebuffer */
guint vnc_add_fd(struct vnc_server *vnc, int fd, GIOCondition cond, GUnixFDSourceFunc fn,
		 gpointer data);
guint vnc_add_timeout(struct vnc_server *vnc, unsigned ms, GSourceFunc fn, gpointer data);
void vnc_remove(struct vnc_server *vnc, guint *id);
/* On the VNC thread, before a viewer is handed over: loads libvncserver (vnc_lib.h) and creates
 * the screen, the first time. false with *error (g_free it) when the library cannot be loaded. */
bool vnc_screen_ensure(struct vnc_server *vnc, char **error);
void vnc_tick(struct vnc_server *vnc);
void vnc_tick_start(struct vnc_server *vnc);
void vnc_tick_stop(struct vnc_server *vnc);

/* vnc_listen.c */
bool vnc_listen_tcp(struct vnc_server *vnc, const char *spec, char **error);
bool vnc_listen_unix(struct vnc_server *vnc, const char *path, char **error);
void vnc_listener_free(gpointer data);
void vnc_pending_free(struct vnc_pending *p, bool close_fd);

/* vnc_relay.c: see its header comment */
struct vnc_relay *vnc_relay_new(char **error);
/* Closes every viewer's socket still relayed. After libvncserver is done with its ends. */
void vnc_relay_free(struct vnc_relay *r);
/*
 * Puts the relay between viewer socket SOCK (the relay's from then on) and a new socket,
 * returned for libvncserver, whose reads give PREFIX first and then what the viewer sends.
 * *LINK: for vnc_relay_idle, released with vnc_relay_link_unref. -1 on failure: SOCK is
 * still the caller's.
 */
int vnc_relay_add(struct vnc_relay *r, int sock, const void *prefix, size_t prefix_len,
		  struct vnc_relay_link **link);
/* Whether everything libvncserver wrote for the viewer has left its socket (TIOCOUTQ: sent
 * and, over TCP, acknowledged). Any thread. */
bool vnc_relay_idle(struct vnc_relay *r, struct vnc_relay_link *link);
void vnc_relay_link_unref(struct vnc_relay_link *link);

/* vnc_client.c */
enum rfbNewClientAction vnc_new_client(rfbClientPtr cl);
/* After rfbNewClient: the client's relay link (the client's reference from now on). */
void vnc_client_started(struct vnc_server *vnc, rfbClientPtr cl, struct vnc_relay_link *link);
void vnc_client_update(rfbClientPtr cl);
void vnc_sweep(struct vnc_server *vnc);
/* Shuts every client's socket down: whatever libvncserver waits on returns. Any thread. */
void vnc_clients_shutdown(struct vnc_server *vnc);

/* vnc_input.c */
void vnc_global_init(void);
void vnc_kbd_event(rfbBool down, rfbKeySym keysym, rfbClientPtr cl);
void vnc_ptr_event(int mask, int x, int y, rfbClientPtr cl);
bool vnc_client_is_down(const struct vnc_client *c, unsigned qnum);
void vnc_client_key(struct vnc_client *c, unsigned qnum, bool down);
void vnc_input_pointer(struct vnc_server *vnc, int dx, int dy, int dz, unsigned buttons);
/* Delivers the queued events now, on the owner's thread (vnc_server_free). */
void vnc_input_flush(struct vnc_server *vnc);
