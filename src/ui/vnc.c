/*
 * The VNC server: libvncserver driven by a GLib main loop on a thread of its own.
 *
 * libvncserver is loaded (vnc_lib.h) and its screen created only when the first viewer is
 * handed over (vnc_screen_ensure): a VM nobody watches maps neither it nor its TLS stack, and
 * listens, accepts and captures (screenshots) without it. Until then SCREEN and FB are NULL.
 * A viewer that comes when the library cannot be loaded is told why and closed; the VM runs on.
 *
 * Threads. Everything a viewer can stall runs on the "vnc" thread, around its own
 * GMainContext: the listening sockets, the connections waiting to be handed over, the clients,
 * the 30 Hz tick and libvncserver's screen (vnc_listen.c, vnc_client.c). libvncserver writes
 * and reads with blocking semantics, so it never gets a viewer's socket: it gets one end of a
 * socket pair per viewer, and the "vnc-relay" thread moves the bytes between the other end and
 * the viewer's socket without blocking (vnc_relay.c). A viewer that stops reading in the middle
 * of an update leaves the rest waiting in the relay; libvncserver's write has returned, and the
 * VNC thread serves the other viewers on. The reads the gate below lets through incomplete (a
 * message over VNC_GATE_MAX, a WebSocket message split across frames) wait at most
 * VNC_MAX_WAIT_MS. The VM's main loop never waits for either thread.
 *
 * What crosses threads:
 * - display->refresh() runs on the VNC thread (the tick, a new viewer) and in
 *   vnc_server_capture() on its caller's; render_lock makes them take turns and also covers the
 *   surface the call returns and UNSENT, the changes a refresh reported that the framebuffer
 *   libvncserver serves does not show yet. The lock is never held while writing to a socket, so
 *   a capture (a screenshot, a snapshot's thumbnail) waits at most for one refresh.
 * - display->key() and display->pointer() run on the thread that created the server (its
 *   thread-default main context, the VM's main loop): the VNC thread queues the events and one
 *   idle source delivers them in order (vnc_input.c).
 * - vnc_server_clients() reads the client list under conn_lock. vnc_server_free() shuts the
 *   clients' sockets down through duplicates kept under that lock and interrupts the thread
 *   (VNC_KICK_SIGNAL), so that a write libvncserver waits on fails at once, wakes the context,
 *   joins the thread, and tears the server down on the caller's thread.
 *
 * On the VNC thread, libvncserver is not handed sockets blindly:
 * - The server accepts connections itself (TCP and the Unix socket) and holds a new connection
 *   back for a moment: RFB viewers wait for the server to speak, WebSocket ones (noVNC) send an
 *   HTTP request first, which libvncserver's WebSocket check (in rfbNewClient) peeks at, waiting
 *   100 ms when there is nothing. A WebSocket connection is handed over once its request has
 *   arrived whole; a silent one, after that grace period, through new_plain_client(), which
 *   spares the check its wait.
 * - Each client's socket has a GLib watch. Before rfbProcessClientMessage() reads a message,
 *   the message must be in the socket buffer whole (its length is known from its first bytes,
 *   RFB 3.8 and QEMU's extension; for WebSocket clients, a whole frame). A message that stays
 *   incomplete is re-checked on a short timer instead of the watch (a readable socket would
 *   wake the loop constantly) and the client is dropped after VNC_PARTIAL_TIMEOUT_US.
 * - A 30 Hz timer, running while a viewer is connected, calls display->refresh(), copies the
 *   dirty rectangles into libvncserver's framebuffer, marks only those, and lets each client
 *   send what it asked for (rfbUpdateClient).
 * - A client gets its next update only once the previous one has left the relay and the
 *   viewer's socket (client_can_send), so a viewer that keeps asking and stops reading stops
 *   getting updates instead of piling them up in the relay; the relay drops it once it has
 *   taken nothing for 10 s.
 */
#include "ui/vnc.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "ui/keymap.h"
#include "ui/vnc_internal.h"

/* ---- sources on the VNC thread's context ---- */

static guint vnc_attach(struct vnc_server *vnc, GSource *s, GSourceFunc fn, gpointer data)
{
	g_source_set_callback(s, fn, data, NULL);
	guint id = g_source_attach(s, vnc->ctx);
	g_source_unref(s);
	return id;
}

guint vnc_add_fd(struct vnc_server *vnc, int fd, GIOCondition cond, GUnixFDSourceFunc fn,
		 gpointer data)
{
	return vnc_attach(vnc, g_unix_fd_source_new(fd, cond), G_SOURCE_FUNC(fn), data);
}

guint vnc_add_timeout(struct vnc_server *vnc, unsigned ms, GSourceFunc fn, gpointer data)
{
	return vnc_attach(vnc, g_timeout_source_new(ms), fn, data);
}

/* g_source_remove() would look in the default context. */
void vnc_remove(struct vnc_server *vnc, guint *id)
{
	if (!*id)
		return;
	GSource *s = g_main_context_find_source_by_id(vnc->ctx, *id);
	if (s)
		g_source_destroy(s);
	*id = 0;
}

/* ---- the framebuffer ---- */

/* The display's XRGB8888 (0x00RRGGBB in host order) served as is: 32 bpp, depth 24. */
static void vnc_set_format(rfbScreenInfoPtr screen)
{
	screen->serverFormat.redShift = 16;
	screen->serverFormat.greenShift = 8;
	screen->serverFormat.blueShift = 0;
}

static void copy_rect(struct vnc_server *vnc, const struct display_surface *s, unsigned x,
		      unsigned y, unsigned w, unsigned h)
{
	for (unsigned row = y; row < y + h; row++)
		memcpy(vnc->fb + (size_t)row * vnc->fb_w + x,
		       s->pixels + (size_t)row * s->stride + x, (size_t)w * 4);
}

static void vnc_resize(struct vnc_server *vnc, const struct display_surface *s)
{
	uint32_t *old = vnc->fb;
	vnc->fb = g_malloc((size_t)s->width * s->height * 4);
	vnc->fb_w = s->width;
	vnc->fb_h = s->height;
	vnc->fb_unfilled = false;
	copy_rect(vnc, s, 0, 0, s->width, s->height);
	/* clients that support DesktopSize get the new size with their next update */
	vnc_lib.NewFramebuffer(vnc->screen, (char *)vnc->fb, s->width, s->height, 8, 3, 4);
	/* rfbNewFramebuffer resets the pixel format to its own default; ours again, and every
	 * client's translation from it */
	vnc_set_format(vnc->screen);
	rfbClientIteratorPtr it = vnc_lib.GetClientIterator(vnc->screen);
	for (rfbClientPtr cl; (cl = vnc_lib.ClientIteratorNext(it));)
		vnc->screen->setTranslateFunction(cl);
	vnc_lib.ReleaseClientIterator(it);
	g_free(old);
}

static bool surface_usable(const struct display_surface *s)
{
	/* RFB sizes are 16-bit */
	return s && s->pixels && s->width && s->height && s->width <= 0xFFFF &&
	       s->height <= 0xFFFF && s->stride >= s->width;
}

/* Copies what changed into the framebuffer and marks only that as modified. */
static void vnc_sync(struct vnc_server *vnc, const struct display_surface *s,
		     const struct display_update *up)
{
	if (!surface_usable(s))
		return;
	if (s->width != vnc->fb_w || s->height != vnc->fb_h) {
		vnc_resize(vnc, s);
		return;
	}
	if (up->resized || vnc->fb_unfilled) {
		vnc->fb_unfilled = false;
		copy_rect(vnc, s, 0, 0, s->width, s->height);
		vnc_lib.MarkRectAsModified(vnc->screen, 0, 0, s->width, s->height);
		return;
	}
	for (unsigned i = 0; i < up->nrects && i < DISPLAY_MAX_RECTS; i++) {
		const struct display_rect *r = &up->rects[i];
		if (r->x >= s->width || r->y >= s->height || !r->w || !r->h)
			continue;
		unsigned w = MIN(r->w, s->width - r->x), h = MIN(r->h, s->height - r->y);
		copy_rect(vnc, s, r->x, r->y, w, h);
		vnc_lib.MarkRectAsModified(vnc->screen, r->x, r->y, r->x + w, r->y + h);
	}
}

/* Adds a refresh's changes to UNSENT; past DISPLAY_MAX_RECTS, one rectangle bounds them all. */
static void update_merge(struct display_update *unsent, const struct display_update *up)
{
	unsent->resized |= up->resized;
	unsigned n = MIN(up->nrects, DISPLAY_MAX_RECTS);
	if (unsent->nrects + n <= DISPLAY_MAX_RECTS) {
		memcpy(unsent->rects + unsent->nrects, up->rects, n * sizeof(up->rects[0]));
		unsent->nrects += n;
		return;
	}
	unsigned x0 = UINT_MAX, y0 = UINT_MAX, x1 = 0, y1 = 0;
	for (unsigned i = 0; i < unsent->nrects + n; i++) {
		const struct display_rect *r =
			i < unsent->nrects ? &unsent->rects[i] : &up->rects[i - unsent->nrects];
		x0 = MIN(x0, r->x);
		y0 = MIN(y0, r->y);
		x1 = MAX(x1, r->x + MIN(r->w, UINT_MAX - r->x));
		y1 = MAX(y1, r->y + MIN(r->h, UINT_MAX - r->y));
	}
	unsent->rects[0] = (struct display_rect){ x0, y0, x1 - x0, y1 - y0 };
	unsent->nrects = 1;
}

/* display->refresh(), its changes kept for the framebuffer; with render_lock held. */
static const struct display_surface *vnc_refresh_locked(struct vnc_server *vnc)
{
	struct display_update up = { 0 };
	const struct display_surface *s = vnc->display.refresh(vnc->display.opaque, &up);
	update_merge(&vnc->unsent, &up);
	return s;
}

/* On the VNC thread: the display's changes into the framebuffer, then to every viewer. */
void vnc_tick(struct vnc_server *vnc)
{
	if (!vnc->screen)
		return; /* no viewer yet: the changes wait in the display (and UNSENT) */
	pthread_mutex_lock(&vnc->render_lock);
	const struct display_surface *s = vnc_refresh_locked(vnc);
	vnc_sync(vnc, s, &vnc->unsent);
	memset(&vnc->unsent, 0, sizeof(vnc->unsent));
	pthread_mutex_unlock(&vnc->render_lock);
	for (guint i = 0; i < vnc->clients->len; i++)
		vnc_client_update(((struct vnc_client *)g_ptr_array_index(vnc->clients, i))->cl);
	vnc_sweep(vnc);
}

static gboolean vnc_tick_cb(gpointer data)
{
	vnc_tick(data);
	return G_SOURCE_CONTINUE;
}

void vnc_tick_start(struct vnc_server *vnc)
{
	if (!vnc->tick)
		vnc->tick = vnc_add_timeout(vnc, VNC_TICK_MS, vnc_tick_cb, vnc);
}

void vnc_tick_stop(struct vnc_server *vnc)
{
	vnc_remove(vnc, &vnc->tick);
}

/* ---- the thread ---- */

/*
 * vnc_server_free interrupts the thread with this signal: libvncserver may be waiting in
 * select() to write to a viewer that stopped reading, for up to 5 s, and shutting a Unix socket
 * down does not make it writable. Interrupted, it writes again, into the shut socket, and fails.
 */
#define VNC_KICK_SIGNAL SIGUSR2 /* vcpu.c kicks with SIGUSR1 */
#define VNC_KICK_US 2000
#define VNC_KICK_MAX_US G_USEC_PER_SEC

static void vnc_kick_handler(int sig)
{
	(void)sig; /* only there to interrupt the system call */
}

static void vnc_kick_init(void)
{
	static gsize done;
	if (g_once_init_enter(&done)) {
		struct sigaction sa = { .sa_handler = vnc_kick_handler };
		sigemptyset(&sa.sa_mask);
		sigaction(VNC_KICK_SIGNAL, &sa, NULL); /* no SA_RESTART */
		g_once_init_leave(&done, 1);
	}
}

static void *vnc_thread(void *data)
{
	struct vnc_server *vnc = data;
	pthread_setname_np(pthread_self(), "vnc");
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, VNC_KICK_SIGNAL);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	g_main_context_push_thread_default(vnc->ctx);
	while (!g_atomic_int_get(&vnc->quit))
		g_main_context_iteration(vnc->ctx, TRUE);
	g_main_context_pop_thread_default(vnc->ctx);
	g_atomic_int_set(&vnc->exited, 1);
	return NULL;
}

static bool vnc_thread_start(struct vnc_server *vnc, char **error)
{
	vnc_kick_init();
	int err = pthread_create(&vnc->thread, NULL, vnc_thread, vnc);
	if (err) {
		*error = g_strdup_printf("vnc: cannot start its thread: %s", g_strerror(err));
		return false;
	}
	vnc->thread_started = true;
	return true;
}

static void vnc_thread_stop(struct vnc_server *vnc)
{
	if (!vnc->thread_started)
		return;
	g_atomic_int_set(&vnc->quit, 1);
	vnc_clients_shutdown(vnc);
	g_main_context_wakeup(vnc->ctx);
	/* again until the thread is out, as a kick that comes just before its select() is lost;
	 * but not for ever: interrupted, libvncserver's select() never times out, and a socket
	 * without a duplicate (dup failed) is not shut down */
	gint64 end = g_get_monotonic_time() + VNC_KICK_MAX_US;
	while (!g_atomic_int_get(&vnc->exited) && g_get_monotonic_time() < end) {
		pthread_kill(vnc->thread, VNC_KICK_SIGNAL);
		g_usleep(VNC_KICK_US);
	}
	pthread_join(vnc->thread, NULL);
	vnc->thread_started = false;
}

/* ---- the server ---- */

static struct vnc_server *vnc_alloc(const struct display_ops *display, const char *layout,
				    const struct vnc_options *opts)
{
	struct vnc_server *vnc = g_new0(struct vnc_server, 1);
	vnc->display = *display;
	vnc->layout = g_strdup(layout);
	if (opts->password && *opts->password) {
		vnc->password = g_strdup(opts->password);
		vnc->passwords[0] = vnc->password;
		if (strlen(vnc->password) > 8)
			log_warn("vnc: only the first 8 characters of the password count (VNC "
				 "authentication)");
	}
	vnc->name = g_strdup(opts->name ? opts->name : "pcvm");
	vnc->ctx = g_main_context_new();
	vnc->owner = g_main_context_ref_thread_default();
	vnc->listeners = g_ptr_array_new_with_free_func(vnc_listener_free);
	vnc->pending = g_ptr_array_new();
	vnc->clients = g_ptr_array_new();
	vnc->input = g_array_new(FALSE, FALSE, sizeof(struct vnc_input));
	pthread_mutex_init(&vnc->render_lock, NULL);
	pthread_mutex_init(&vnc->conn_lock, NULL);
	pthread_mutex_init(&vnc->input_lock, NULL);
	return vnc;
}

/* libvncserver's screen, over a framebuffer of the display's size. */
static void vnc_screen_new(struct vnc_server *vnc)
{
	vnc_global_init();
	/* the initial size */
	pthread_mutex_lock(&vnc->render_lock);
	const struct display_surface *s = vnc_refresh_locked(vnc);
	vnc->fb_w = surface_usable(s) ? s->width : 640;
	vnc->fb_h = surface_usable(s) ? s->height : 480;
	pthread_mutex_unlock(&vnc->render_lock);
	/* filled by the first sync, which comes before the viewer sees it (a new connection
	 * brings the framebuffer up to date) */
	vnc->fb = g_malloc0((size_t)vnc->fb_w * vnc->fb_h * 4);
	vnc->fb_unfilled = true;

	rfbScreenInfoPtr screen = vnc_lib.GetScreen(NULL, NULL, vnc->fb_w, vnc->fb_h, 8, 3, 4);
	vnc->screen = screen;
	screen->frameBuffer = (char *)vnc->fb;
	vnc_set_format(screen);
	screen->screenData = vnc;
	screen->desktopName = vnc->name;
	/* no listening or HTTP sockets of libvncserver's own: it gets connections from us */
	screen->port = 0;
	screen->ipv6port = 0;
	screen->httpPort = 0;
	screen->alwaysShared = TRUE; /* the desktop app and a remote viewer side by side */
	screen->maxClientWait = VNC_MAX_WAIT_MS;
	screen->deferUpdateTime = 0; /* our tick already paces updates */
	screen->deferPtrUpdateTime = 0;
	screen->kbdAddEvent = vnc_kbd_event;
	screen->ptrAddEvent = vnc_ptr_event;
	screen->newClientHook = vnc_new_client;
	if (vnc->password) {
		screen->authPasswdData = vnc->passwords;
		screen->passwordCheck = vnc_lib.CheckPasswordByList;
	}
	/* no cursor drawn into the picture: the guest draws its own pointer */
	vnc_lib.SetCursor(screen, NULL);
	vnc_lib.InitServer(screen); /* ignores SIGPIPE, as main() did already */
}

bool vnc_screen_ensure(struct vnc_server *vnc, char **error)
{
	if (vnc->screen)
		return true;
	if (!vnc_lib_load(error))
		return false;
	vnc_screen_new(vnc);
	log_info("vnc: libvncserver's screen set up for the first viewer (%ux%u)", vnc->fb_w,
		 vnc->fb_h);
	return true;
}

struct vnc_server *vnc_server_new(const struct display_ops *display, const struct vnc_options *opts,
				  char **error)
{
	const char *layout = opts->keyboard_layout ? opts->keyboard_layout : "en-us";
	if (!keymap_layout_known(layout)) {
		char *known = g_strjoinv(", ", (char **)keymap_layout_names());
		*error = g_strdup_printf("vnc: unknown keyboard layout '%s' (known: %s)", layout,
					 known);
		g_free(known);
		return NULL;
	}
	struct vnc_server *vnc = vnc_alloc(display, layout, opts);
	if (!(vnc->relay = vnc_relay_new(error))) {
		vnc_server_free(vnc);
		return NULL;
	}
	/* the sockets here, so that their errors reach the caller; served from the thread */
	if ((opts->unix_path && !vnc_listen_unix(vnc, opts->unix_path, error)) ||
	    (opts->listen && !vnc_listen_tcp(vnc, opts->listen, error))) {
		vnc_server_free(vnc);
		return NULL;
	}
	if (!vnc_thread_start(vnc, error)) {
		vnc_server_free(vnc);
		return NULL;
	}
	return vnc;
}

void vnc_server_free(struct vnc_server *vnc)
{
	if (!vnc)
		return;
	vnc_thread_stop(vnc);
	/* the thread is gone: what it owned is this thread's now */
	for (guint i = 0; i < vnc->clients->len; i++)
		vnc_lib.CloseClient(((struct vnc_client *)g_ptr_array_index(vnc->clients, i))->cl);
	vnc_sweep(vnc);
	while (vnc->pending->len)
		vnc_pending_free(g_ptr_array_index(vnc->pending, 0), true);
	g_ptr_array_free(vnc->listeners, true);
	if (vnc->unix_path)
		unlink(vnc->unix_path);
	vnc_tick_stop(vnc);
	if (vnc->screen) {
		vnc_lib.ShutdownServer(vnc->screen, TRUE);
		vnc_lib.ScreenCleanup(vnc->screen);
	}
	vnc_relay_free(vnc->relay); /* after libvncserver closed its ends */
	vnc_input_flush(vnc); /* the keys and buttons the viewers held, released */
	g_ptr_array_free(vnc->pending, true);
	g_ptr_array_free(vnc->clients, true);
	g_array_free(vnc->input, true);
	pthread_mutex_destroy(&vnc->render_lock);
	pthread_mutex_destroy(&vnc->conn_lock);
	pthread_mutex_destroy(&vnc->input_lock);
	g_main_context_unref(vnc->ctx);
	g_main_context_unref(vnc->owner);
	g_free(vnc->fb);
	g_free(vnc->layout);
	g_free(vnc->password);
	g_free(vnc->name);
	g_free(vnc->unix_path);
	g_free(vnc);
}

unsigned vnc_server_port(const struct vnc_server *vnc)
{
	return vnc->port;
}

unsigned vnc_server_clients(struct vnc_server *vnc)
{
	pthread_mutex_lock(&vnc->conn_lock);
	unsigned n = vnc->clients->len;
	pthread_mutex_unlock(&vnc->conn_lock);
	return n;
}

struct display_surface *vnc_server_capture(struct vnc_server *vnc)
{
	pthread_mutex_lock(&vnc->render_lock);
	const struct display_surface *s = vnc_refresh_locked(vnc);
	struct display_surface *copy = NULL;
	if (surface_usable(s)) {
		/* the pixels after the struct, in one block: g_free(copy) frees both */
		size_t row = (size_t)s->width * 4;
		copy = g_malloc(sizeof(*copy) + row * s->height);
		uint32_t *px = (uint32_t *)(copy + 1);
		for (unsigned y = 0; y < s->height; y++)
			memcpy(px + (size_t)y * s->width, s->pixels + (size_t)y * s->stride, row);
		*copy = (struct display_surface){ px, s->width, s->height, s->width };
	}
	pthread_mutex_unlock(&vnc->render_lock);
	return copy;
}
