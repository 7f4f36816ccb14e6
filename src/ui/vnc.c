/*
 * The VNC server: libvncserver driven from the GLib main loop.
 *
 * libvncserver reads and writes its sockets with blocking semantics (a read of a partial
 * message waits up to maxClientWait for the rest) and its rfbProcessEvents() select()s every
 * client at once. So the server does not hand it sockets blindly:
 *
 * - It accepts connections itself (TCP and the Unix socket) and holds a new connection back
 *   for a moment: RFB viewers wait for the server to speak, WebSocket ones (noVNC) send an HTTP
 *   request first, which libvncserver's WebSocket check (in rfbNewClient) peeks at, waiting
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
 *
 * - A client gets its next update only once the previous one has left the socket
 *   (client_can_send), so a viewer that stops reading stops getting updates instead of
 *   filling its socket until libvncserver's write blocks.
 *
 * What still blocks: an update larger than the socket's send buffer is written at the pace the
 * viewer reads it (a slow link); a viewer that stops reading in the middle of one holds the loop
 * until libvncserver's write timeout (checked in 5 s steps) drops it. A read that the checks
 * above let through incomplete (a message over VNC_GATE_MAX, a WebSocket message split across
 * frames) waits at most VNC_MAX_WAIT_MS.
 */
#include "ui/vnc.h"

#include <errno.h>
#include <fcntl.h>
#include <glib-unix.h>
#include <glib.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <rfb/rfb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"
#include "ui/keymap.h"

#define VNC_BASE_PORT 5900
#define VNC_TICK_MS 33     /* display refresh while a viewer is connected, ~30 Hz */
#define VNC_MAX_WAIT_MS 2000 /* libvncserver's limit on a blocking read or write */
#define VNC_WS_GRACE_MS 100 /* time for a WebSocket viewer to send its request: libvncserver's */
#define VNC_RETRY_MS 10    /* re-check of an incomplete message */
#define VNC_PARTIAL_TIMEOUT_US (5 * G_USEC_PER_SEC)
#define VNC_GATE_MAX (64 * 1024) /* longer messages are handed over once this much is there */
#define VNC_MAX_CONNECTIONS 32
#define VNC_PUMP_MAX 64 /* messages handled per wakeup, so one client cannot starve the loop */
#define VNC_WS_HEADER_MAX 4096 /* libvncserver reads at most this much of the HTTP request */

/* VNC button mask bits (RFB 3.8 §7.5.5): 1-3 buttons, 4/5 wheel up/down */
#define VNC_BUTTONS 0x07
#define VNC_WHEEL_UP 0x08
#define VNC_WHEEL_DOWN 0x10

struct vnc_server;

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

struct vnc_client {
	struct vnc_server *vnc;
	rfbClientPtr cl;
	guint watch;          /* socket readable; 0 while waiting for the rest of a message */
	guint retry;          /* the re-check timer while a message is incomplete */
	gint64 partial_since; /* when the current incomplete message was first seen */
	uint8_t down[32];     /* keys this viewer holds, by qnum */
	GHashTable *keysyms;  /* keysym -> qnum it pressed, so the release finds the same key */
	bool have_pos;
	int x, y;
	unsigned buttons;
};

struct vnc_server {
	struct display_ops display;
	char *layout;
	char *password;
	char *passwords[2]; /* libvncserver's NULL-terminated list */
	char *name;
	char *unix_path;
	unsigned port;
	rfbScreenInfoPtr screen;
	uint32_t *fb; /* what libvncserver serves: the display surface as of the last refresh */
	unsigned fb_w, fb_h;
	bool fb_unfilled; /* fb is still the zeroed block of vnc_server_new: sync copies it all */
	GPtrArray *listeners;
	GPtrArray *pending;
	GPtrArray *clients;
	guint tick;
};

static void vnc_sweep(struct vnc_server *vnc);
static const struct display_surface *vnc_tick(struct vnc_server *vnc);

/* ---- libvncserver's log ---- */

static void vnc_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* libvncserver is chatty (every handshake step); its lines go to the debug log. */
static void vnc_log(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	log_debug("vnc: %s", g_strstrip(buf));
}

/* ---- keyboard and pointer ---- */

static bool client_is_down(const struct vnc_client *c, unsigned qnum)
{
	return c->down[qnum / 8] >> (qnum % 8) & 1;
}

static unsigned client_held(const struct vnc_client *c)
{
	unsigned held = 0;
	if (client_is_down(c, KEYMAP_QNUM_SHIFT) || client_is_down(c, KEYMAP_QNUM_SHIFT_R))
		held |= KEYMAP_MOD_SHIFT;
	if (client_is_down(c, KEYMAP_QNUM_ALTGR))
		held |= KEYMAP_MOD_ALTGR;
	return held;
}

static void client_key(struct vnc_client *c, unsigned qnum, bool down)
{
	if (qnum == 0 || qnum > 0xFF)
		return;
	/* Linux hosts report the Print Screen key as SysRq, which keycodemapdb numbers 0x54: the
	 * code that key sends only with Alt held. */
	bool alt = client_is_down(c, KEYMAP_QNUM_ALT) || client_is_down(c, KEYMAP_QNUM_ALTGR);
	if (qnum == KEYMAP_QNUM_SYSRQ && (down ? !alt : !client_is_down(c, qnum)))
		qnum = KEYMAP_QNUM_PRINT;
	if (!down && !client_is_down(c, qnum))
		return; /* released a key the guest never saw pressed */
	if (down)
		c->down[qnum / 8] |= 1u << (qnum % 8);
	else
		c->down[qnum / 8] &= ~(1u << (qnum % 8));
	c->vnc->display.key(c->vnc->display.opaque, qnum, down);
}

static gboolean keysym_is_qnum(gpointer key, gpointer value, gpointer qnum)
{
	return value == qnum;
}

/* KeyEvent (RFB 3.8 §7.5.4): an X keysym, mapped through the layout's keymap. */
static void vnc_kbd_event(rfbBool down, rfbKeySym keysym, rfbClientPtr cl)
{
	struct vnc_client *c = cl->clientData;
	struct vnc_server *vnc = c->vnc;
	unsigned held = client_held(c), qnum, mods;
	if (!down) {
		gpointer v;
		if (g_hash_table_lookup_extended(c->keysyms, GUINT_TO_POINTER(keysym), NULL, &v))
			qnum = GPOINTER_TO_UINT(v);
		else if (!keymap_keysym_lookup(vnc->layout, keysym, held, &qnum, &mods))
			return;
		g_hash_table_foreach_remove(c->keysyms, keysym_is_qnum, GUINT_TO_POINTER(qnum));
		client_key(c, qnum, false);
		return;
	}
	if (!keymap_keysym_lookup(vnc->layout, keysym, held, &qnum, &mods)) {
		log_debug("vnc: keysym 0x%x has no key on the %s layout", (unsigned)keysym,
			  vnc->layout);
		return;
	}
	/* The modifiers the layout needs for this keysym and the viewer does not hold (a viewer
	 * typing '@' on another layout, or a script) are pressed around the key. */
	bool shift = (mods & KEYMAP_MOD_SHIFT) && !(held & KEYMAP_MOD_SHIFT);
	bool altgr = (mods & KEYMAP_MOD_ALTGR) && !(held & KEYMAP_MOD_ALTGR);
	if (shift)
		client_key(c, KEYMAP_QNUM_SHIFT, true);
	if (altgr)
		client_key(c, KEYMAP_QNUM_ALTGR, true);
	client_key(c, qnum, true);
	if (altgr)
		client_key(c, KEYMAP_QNUM_ALTGR, false);
	if (shift)
		client_key(c, KEYMAP_QNUM_SHIFT, false);
	g_hash_table_insert(c->keysyms, GUINT_TO_POINTER(keysym), GUINT_TO_POINTER(qnum));
}

/* PointerEvent (RFB 3.8 §7.5.5): absolute position, made relative for the PS/2 mouse. */
static void vnc_ptr_event(int mask, int x, int y, rfbClientPtr cl)
{
	struct vnc_client *c = cl->clientData;
	unsigned buttons = (unsigned)mask;
	int dx = c->have_pos ? x - c->x : 0, dy = c->have_pos ? y - c->y : 0, dz = 0;
	unsigned pressed = buttons & ~c->buttons;
	if (pressed & VNC_WHEEL_UP)
		dz--;
	if (pressed & VNC_WHEEL_DOWN)
		dz++;
	bool changed = (buttons ^ c->buttons) & VNC_BUTTONS;
	c->have_pos = true;
	c->x = x;
	c->y = y;
	c->buttons = buttons;
	if (dx || dy || dz || changed)
		c->vnc->display.pointer(c->vnc->display.opaque, dx, dy, dz, buttons & VNC_BUTTONS);
}

/* ---- QEMU extended key events ---- */

/*
 * QEMU's extended key event (RFB community spec, "QEMU Extended Key Event Message"): a viewer
 * that lists pseudo-encoding -258 learns from a framebuffer update carrying that encoding that
 * the server understands client message 255, submessage 0: down flag, keysym and the key's XT
 * scan code with 0xE0 folded into bit 7, which is a qnum. The viewer's own keyboard layout
 * then applies, not the server's keymap.
 */
static rfbBool qemu_new_client(rfbClientPtr cl, void **data)
{
	*data = NULL;
	return TRUE; /* enabled for every client: the message is ours to handle */
}

static rfbBool qemu_enable(rfbClientPtr cl, void **data, int encoding)
{
	if (encoding != (int)rfbEncodingQemuExtendedKeyEvent)
		return FALSE;
	struct {
		rfbFramebufferUpdateMsg msg;
		rfbFramebufferUpdateRectHeader rect;
	} ack = {
		.msg = { .type = rfbFramebufferUpdate, .nRects = Swap16IfLE(1) },
		.rect = { .r = { .w = Swap16IfLE(cl->screen->width),
				 .h = Swap16IfLE(cl->screen->height) },
			  .encoding = Swap32IfLE(rfbEncodingQemuExtendedKeyEvent) },
	};
	G_STATIC_ASSERT(sizeof(ack) ==
			sz_rfbFramebufferUpdateMsg + sz_rfbFramebufferUpdateRectHeader);
	if (rfbWriteExact(cl, (const char *)&ack, sizeof(ack)) < 0)
		rfbCloseClient(cl);
	return TRUE;
}

static rfbBool qemu_message(rfbClientPtr cl, void *data, const rfbClientToServerMsg *msg)
{
	if (msg->type != rfbQemuEvent)
		return FALSE;
	rfbQemuExtendedKeyEventMsg ev;
	if (rfbReadExact(cl, (char *)&ev + 1, 1) <= 0) {
		rfbCloseClient(cl);
		return TRUE;
	}
	if (ev.subtype != 0) {
		log_info("vnc: viewer sent QEMU client message %u, which pcvm does not support",
			 ev.subtype);
		rfbCloseClient(cl);
		return TRUE;
	}
	if (rfbReadExact(cl, (char *)&ev + 2, sz_rfbQemuExtendedKeyEventMsg - 2) <= 0) {
		rfbCloseClient(cl);
		return TRUE;
	}
	struct vnc_client *c = cl->clientData;
	if (cl->viewOnly)
		return TRUE;
	bool down = Swap16IfLE(ev.down) != 0;
	uint32_t keycode = Swap32IfLE(ev.keycode), keysym = Swap32IfLE(ev.keysym);
	if (keycode == 0)
		vnc_kbd_event(down, keysym, cl);
	else if (keycode <= 0xFF)
		client_key(c, keycode, down);
	else
		log_debug("vnc: extended key event with scan code 0x%x ignored", keycode);
	return TRUE;
}

static int qemu_encodings[] = { (int)rfbEncodingQemuExtendedKeyEvent, 0 };

static rfbProtocolExtension qemu_extension = {
	.newClient = qemu_new_client,
	.pseudoEncodings = qemu_encodings,
	.enablePseudoEncoding = qemu_enable,
	.handleMessage = qemu_message,
};

/* libvncserver's log and extensions are process-wide. */
static void vnc_global_init(void)
{
	static gsize done;
	if (g_once_init_enter(&done)) {
		rfbLog = vnc_log;
		rfbErr = vnc_log;
		rfbRegisterProtocolExtension(&qemu_extension);
		g_once_init_leave(&done, 1);
	}
}

/* ---- how much of a message has arrived ---- */

static uint32_t be16(const uint8_t *p)
{
	return (uint32_t)p[0] << 8 | p[1];
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/*
 * Bytes of the client's next message given its first N bytes B (RFB 3.8 §7.1-7.5 by protocol
 * state, libvncserver's extra client messages, QEMU's 255). A result above N means "wait"; it
 * may be just the length of the header that tells the size. Unknown types count one byte:
 * libvncserver rejects them after reading the type.
 */
static size_t rfb_message_size(int state, const uint8_t *b, size_t n)
{
	switch (state) {
	case RFB_PROTOCOL_VERSION:
		return sz_rfbProtocolVersionMsg;
	case RFB_SECURITY_TYPE:
		return 1;
	case RFB_AUTHENTICATION:
		return CHALLENGESIZE; /* the VNC authentication response */
	case RFB_INITIALISATION:
		return sz_rfbClientInitMsg;
	case RFB_NORMAL:
		break;
	default:
		return 1;
	}
	if (n < 1)
		return 1;
	switch (b[0]) {
	case rfbSetPixelFormat:
		return sz_rfbSetPixelFormatMsg;
	case rfbSetEncodings:
		return n < 4 ? 4 : sz_rfbSetEncodingsMsg + 4 * be16(b + 2);
	case rfbFramebufferUpdateRequest:
		return sz_rfbFramebufferUpdateRequestMsg;
	case rfbKeyEvent:
		return sz_rfbKeyEventMsg;
	case rfbPointerEvent:
		return sz_rfbPointerEventMsg;
	case rfbClientCutText: {
		if (n < 8)
			return 8;
		int32_t len = (int32_t)be32(b + 4); /* negative: extended clipboard */
		return sz_rfbClientCutTextMsg + (len < 0 ? -(int64_t)len : len);
	}
	case rfbFileTransfer:
		return n < 12 ? 12 : sz_rfbFileTransferMsg + be32(b + 8);
	case rfbSetScale:
		return sz_rfbSetScaleMsg;
	case rfbSetServerInput:
		return sz_rfbSetServerInputMsg;
	case rfbSetSW:
		return sz_rfbSetSWMsg;
	case rfbTextChat: {
		if (n < 8)
			return 8;
		uint32_t len = be32(b + 4); /* or a chat command, with no text */
		return sz_rfbTextChatMsg + (len <= rfbTextMaxSize ? len : 0);
	}
	case rfbPalmVNCSetScaleFactor:
		return sz_rfbPalmVNCSetScaleFactorMsg;
	case rfbXvp:
		return sz_rfbXvpMsg;
	case rfbSetDesktopSize:
		return n < 8 ? 8 : sz_rfbSetDesktopSizeMsg + sz_rfbExtDesktopScreen * b[6];
	case rfbQemuEvent:
		return n < 2 ? 2 : b[1] == 0 ? sz_rfbQemuExtendedKeyEventMsg : 2;
	default:
		return 1;
	}
}

/* Bytes of the WebSocket frame starting with B[0..N) (RFC 6455 §5.2). */
static size_t ws_frame_size(const uint8_t *b, size_t n)
{
	if (n < 2)
		return 2;
	size_t hlen = 2 + (b[1] & 0x80 ? 4 : 0), len = b[1] & 0x7F;
	if (len == 126) {
		if (n < 4)
			return 4;
		len = be16(b + 2);
		hlen += 2;
	} else if (len == 127) {
		if (n < 10)
			return 10;
		if (be32(b + 2))
			return VNC_GATE_MAX;
		len = be32(b + 6);
		hlen += 8;
	}
	return hlen + len;
}

enum gate { GATE_READY, GATE_EMPTY, GATE_PARTIAL, GATE_CLOSED };

static enum gate client_gate(struct vnc_client *c)
{
	rfbClientPtr cl = c->cl;
	uint8_t b[16];
	int avail = 0;
	if (ioctl(cl->sock, FIONREAD, &avail) < 0)
		return GATE_CLOSED;
	if (avail <= 0) {
		/* readable with nothing to read: end of file, or an error */
		ssize_t r = recv(cl->sock, b, 1, MSG_PEEK | MSG_DONTWAIT);
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
			return GATE_EMPTY;
		return r > 0 ? GATE_EMPTY : GATE_CLOSED; /* r > 0: just arrived, the watch fires */
	}
	ssize_t n = recv(cl->sock, b, MIN(sizeof(b), (size_t)avail), MSG_PEEK | MSG_DONTWAIT);
	if (n <= 0)
		return n == 0 || (errno != EAGAIN && errno != EINTR) ? GATE_CLOSED : GATE_EMPTY;
	size_t need = cl->wsctx ? ws_frame_size(b, n) : rfb_message_size(cl->state, b, n);
	return (size_t)avail >= MIN(need, VNC_GATE_MAX) ? GATE_READY : GATE_PARTIAL;
}

/* ---- clients ---- */

static gboolean client_readable(int fd, GIOCondition cond, gpointer data);

static void client_drop(struct vnc_client *c, const char *why)
{
	log_info("vnc: viewer dropped: %s", why);
	rfbCloseClient(c->cl);
}

static gboolean client_retry(gpointer data);

/* A message is in the socket buffer only in part: poll for the rest on a timer. */
static void client_wait_rest(struct vnc_client *c)
{
	if (c->watch) {
		g_source_remove(c->watch);
		c->watch = 0;
	}
	if (!c->partial_since)
		c->partial_since = g_get_monotonic_time();
	if (!c->retry)
		c->retry = g_timeout_add(VNC_RETRY_MS, client_retry, c);
}

/* Whether everything written to the client has left: its next update may be written without
 * blocking as long as it fits the send buffer. TIOCOUTQ counts bytes not yet sent or
 * acknowledged (TCP) or not yet read by the peer (Unix sockets). */
static bool client_can_send(rfbClientPtr cl)
{
	int outq = 0;
	return ioctl(cl->sock, TIOCOUTQ, &outq) < 0 || outq == 0;
}

static void client_update(rfbClientPtr cl)
{
	if (cl->sock != RFB_INVALID_SOCKET && cl->state == RFB_NORMAL && client_can_send(cl))
		rfbUpdateClient(cl);
}

/* Handles the messages that are in whole, then sends the client what it asked for. */
static void client_pump(struct vnc_client *c)
{
	rfbClientPtr cl = c->cl;
	unsigned n = 0;
	while (cl->sock != RFB_INVALID_SOCKET && n < VNC_PUMP_MAX) {
		/* libvncserver's WebSocket decoder keeps what it read beyond one message */
		if (cl->wsctx && webSocketsHasDataInBuffer(cl)) {
			rfbProcessClientMessage(cl);
			n++;
			continue;
		}
		enum gate g = client_gate(c);
		if (g == GATE_READY) {
			c->partial_since = 0;
			rfbProcessClientMessage(cl);
			n++;
		} else if (g == GATE_CLOSED) {
			rfbCloseClient(cl);
		} else {
			if (g == GATE_PARTIAL)
				client_wait_rest(c);
			break;
		}
	}
	client_update(cl);
}

static gboolean client_readable(int fd, GIOCondition cond, gpointer data)
{
	struct vnc_client *c = data;
	struct vnc_server *vnc = c->vnc;
	client_pump(c);
	vnc_sweep(vnc); /* may free C and remove this source */
	return G_SOURCE_CONTINUE;
}

static gboolean client_retry(gpointer data)
{
	struct vnc_client *c = data;
	struct vnc_server *vnc = c->vnc;
	enum gate g = c->cl->sock == RFB_INVALID_SOCKET ? GATE_CLOSED : client_gate(c);
	if (g == GATE_CLOSED) {
		if (c->cl->sock != RFB_INVALID_SOCKET)
			rfbCloseClient(c->cl);
	} else if (g == GATE_PARTIAL) {
		struct pollfd pfd = { .fd = c->cl->sock, .events = POLLRDHUP };
		if (poll(&pfd, 1, 0) > 0 && (pfd.revents & (POLLRDHUP | POLLHUP | POLLERR)))
			client_drop(c, "connection closed in the middle of a message");
		else if (g_get_monotonic_time() - c->partial_since > VNC_PARTIAL_TIMEOUT_US)
			client_drop(c, "incomplete message");
		else
			return G_SOURCE_CONTINUE;
	} else {
		c->retry = 0;
		c->watch = g_unix_fd_add(c->cl->sock, G_IO_IN | G_IO_HUP | G_IO_ERR,
					 client_readable, c);
		client_pump(c);
	}
	vnc_sweep(vnc);
	return G_SOURCE_REMOVE;
}

static void client_gone(rfbClientPtr cl)
{
	struct vnc_client *c = cl->clientData;
	struct vnc_server *vnc = c->vnc;
	/* the guest must not see keys or buttons stuck down by a viewer that went away */
	for (unsigned q = 0; q < 256; q++)
		if (client_is_down(c, q))
			client_key(c, q, false);
	if (c->buttons & VNC_BUTTONS)
		vnc->display.pointer(vnc->display.opaque, 0, 0, 0, 0);
	if (c->watch)
		g_source_remove(c->watch);
	if (c->retry)
		g_source_remove(c->retry);
	g_hash_table_destroy(c->keysyms);
	g_ptr_array_remove(vnc->clients, c);
	cl->clientData = NULL;
	/* libvncserver 0.9.14 frees neither a client's extension records (rfbDisableExtension
	 * does not either) nor its WebSocket context; later versions free the context after this
	 * hook and find NULL */
	for (rfbExtensionData *e = cl->extensions, *next; e; e = next) {
		next = e->next;
		free(e->data);
		free(e);
	}
	cl->extensions = NULL;
	free(cl->wsctx);
	cl->wsctx = NULL;
	g_free(c);
	if (vnc->clients->len == 0 && vnc->tick) {
		g_source_remove(vnc->tick);
		vnc->tick = 0;
	}
	log_info("vnc: viewer disconnected (%u left)", vnc->clients->len);
}

static gboolean vnc_tick_cb(gpointer data)
{
	vnc_tick(data);
	return G_SOURCE_CONTINUE;
}

static enum rfbNewClientAction vnc_new_client(rfbClientPtr cl)
{
	struct vnc_server *vnc = cl->screen->screenData;
	struct vnc_client *c = g_new0(struct vnc_client, 1);
	c->vnc = vnc;
	c->cl = cl;
	c->keysyms = g_hash_table_new(NULL, NULL);
	cl->clientData = c;
	cl->clientGoneHook = client_gone;
	c->watch = g_unix_fd_add(cl->sock, G_IO_IN | G_IO_HUP | G_IO_ERR, client_readable, c);
	g_ptr_array_add(vnc->clients, c);
	if (!vnc->tick)
		vnc->tick = g_timeout_add(VNC_TICK_MS, vnc_tick_cb, vnc);
	return RFB_CLIENT_ACCEPT;
}

/* Frees the clients libvncserver has closed. */
static void vnc_sweep(struct vnc_server *vnc)
{
	for (guint i = vnc->clients->len; i-- > 0;) {
		if (i >= vnc->clients->len)
			continue;
		struct vnc_client *c = g_ptr_array_index(vnc->clients, i);
		if (c->cl->sock == RFB_INVALID_SOCKET)
			rfbClientConnectionGone(c->cl); /* calls client_gone */
	}
}

/* ---- new connections ---- */

static void pending_free(struct vnc_pending *p, bool close_fd)
{
	if (p->watch)
		g_source_remove(p->watch);
	if (p->timer)
		g_source_remove(p->timer);
	if (close_fd)
		close(p->fd);
	g_ptr_array_remove(p->vnc->pending, p);
	g_free(p);
}

static gboolean pending_readable(int fd, GIOCondition cond, gpointer data);
static gboolean pending_timer(gpointer data);

/* Where a connection comes from, for the log. */
static void peer_name(int fd, char *buf, size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char host[INET6_ADDRSTRLEN], port[8];
	if (getpeername(fd, (struct sockaddr *)&ss, &sl) == 0 && ss.ss_family != AF_UNIX &&
	    getnameinfo((struct sockaddr *)&ss, sl, host, sizeof(host), port, sizeof(port),
			NI_NUMERICHOST | NI_NUMERICSERV) == 0)
		snprintf(buf, len, ss.ss_family == AF_INET6 ? "[%s]:%s" : "%s:%s", host, port);
	else
		g_strlcpy(buf, "the Unix socket", len);
}

/*
 * A connection that has sent nothing: a plain RFB viewer, waiting for the server's version.
 * libvncserver's WebSocket check would wait 100 ms for bytes that never come, blocking the
 * loop, so it is shown a stand-in socket whose first bytes are "RFB " (the check passes such
 * a connection as plain); the viewer's socket then takes the stand-in's descriptor number
 * (dup3), and what libvncserver wrote to the stand-in (its version) is passed on.
 */
static rfbClientPtr new_plain_client(struct vnc_server *vnc, int fd)
{
	int sp[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0)
		return rfbNewClient(vnc->screen, fd); /* the check will wait, that is all */
	rfbClientPtr cl = NULL;
	if (sp[0] < FD_SETSIZE && send(sp[1], "RFB ", 4, MSG_NOSIGNAL) == 4) {
		cl = rfbNewClient(vnc->screen, sp[0]);
		/* the stand-in's buffered "RFB " goes with it */
		if (cl && dup3(fd, cl->sock, O_CLOEXEC) < 0) {
			log_warn("vnc: dup3: %s", g_strerror(errno));
			rfbCloseClient(cl);
			cl = NULL;
		}
		if (cl) {
			char buf[256];
			ssize_t r;
			while ((r = recv(sp[1], buf, sizeof(buf), MSG_DONTWAIT)) > 0)
				send(cl->sock, buf, r, MSG_NOSIGNAL | MSG_DONTWAIT);
			int one = 1; /* as libvncserver would have set it */
			setsockopt(cl->sock, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		}
	} else {
		close(sp[0]);
	}
	close(sp[1]);
	close(fd); /* the connection lives on under the stand-in's number, or is refused */
	return cl;
}

/* Decides what to do with a connection: hand it over, wait, or drop it. */
static void pending_step(struct vnc_pending *p)
{
	struct vnc_server *vnc = p->vnc;
	char buf[VNC_WS_HEADER_MAX];
	ssize_t n = recv(p->fd, buf, sizeof(buf), MSG_PEEK | MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		n = -2;
	if (n == 0 || n == -1) {
		pending_free(p, true); /* gone, or broken, before it said anything */
		return;
	}
	bool ready;
	if (n == -2) {
		ready = p->grace_over; /* silent: a plain RFB viewer waiting for us */
	} else if (memcmp(buf, "GET ", MIN((size_t)n, 4)) == 0) {
		ready = (size_t)n == sizeof(buf) || g_strstr_len(buf, n, "\r\n\r\n");
	} else {
		ready = n >= 4; /* libvncserver's check looks at four bytes */
	}
	if (ready) {
		int fd = p->fd;
		char peer[INET6_ADDRSTRLEN + 8];
		peer_name(fd, peer, sizeof(peer));
		pending_free(p, false);
		/* TCP_NODELAY, the WebSocket check and the server's version happen in here */
		rfbClientPtr cl = n == -2 ? new_plain_client(vnc, fd) : rfbNewClient(vnc->screen, fd);
		if (cl) {
			free(cl->host); /* libvncserver's, for its log */
			cl->host = strdup(peer);
			log_info("vnc: viewer connected from %s%s", peer,
				 cl->wsctx ? " (WebSocket)" : "");
			vnc_tick(vnc); /* bring the framebuffer up to date for it */
		}
		vnc_sweep(vnc);
		return;
	}
	if (g_get_monotonic_time() - p->since > VNC_PARTIAL_TIMEOUT_US) {
		log_info("vnc: connection dropped: incomplete request");
		pending_free(p, true);
		return;
	}
	if (n > 0) {
		/* part of a request: the socket stays readable, so poll for the rest */
		if (p->watch) {
			g_source_remove(p->watch);
			p->watch = 0;
		}
		p->grace_over = true;
		if (!p->timer)
			p->timer = g_timeout_add(VNC_RETRY_MS, pending_timer, p);
	} else if (!p->watch) {
		p->watch = g_unix_fd_add(p->fd, G_IO_IN | G_IO_HUP | G_IO_ERR, pending_readable, p);
	}
}

static gboolean pending_readable(int fd, GIOCondition cond, gpointer data)
{
	struct vnc_pending *p = data;
	p->watch = 0;
	pending_step(p);
	return G_SOURCE_REMOVE;
}

static gboolean pending_timer(gpointer data)
{
	struct vnc_pending *p = data;
	p->timer = 0;
	p->grace_over = true;
	pending_step(p);
	return G_SOURCE_REMOVE;
}

static void pending_new(struct vnc_server *vnc, int fd)
{
	if (fd >= FD_SETSIZE) {
		/* libvncserver keeps its sockets in an fd_set */
		log_once(LOG_WARN, "vnc: descriptor %d beyond FD_SETSIZE: connection refused", fd);
		close(fd);
		return;
	}
	if (vnc->pending->len + vnc->clients->len >= VNC_MAX_CONNECTIONS) {
		log_once(LOG_WARN, "vnc: %d connections already: connection refused",
			 VNC_MAX_CONNECTIONS);
		close(fd);
		return;
	}
	struct vnc_pending *p = g_new0(struct vnc_pending, 1);
	p->vnc = vnc;
	p->fd = fd;
	p->since = g_get_monotonic_time();
	p->watch = g_unix_fd_add(fd, G_IO_IN | G_IO_HUP | G_IO_ERR, pending_readable, p);
	p->timer = g_timeout_add(VNC_WS_GRACE_MS, pending_timer, p);
	g_ptr_array_add(vnc->pending, p);
}

static gboolean listener_readable(int fd, GIOCondition cond, gpointer data);

static gboolean listener_resume(gpointer data)
{
	struct vnc_listener *l = data;
	l->resume = 0;
	l->watch = g_unix_fd_add(l->fd, G_IO_IN, listener_readable, l);
	return G_SOURCE_REMOVE;
}

static gboolean listener_readable(int fd, GIOCondition cond, gpointer data)
{
	struct vnc_listener *l = data;
	for (int i = 0; i < 16; i++) {
		int c = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (c >= 0) {
			pending_new(l->vnc, c);
			continue;
		}
		if (errno == EINTR || errno == ECONNABORTED)
			continue;
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
			/* the connection stays queued and the socket readable: pause, or spin */
			log_once(LOG_WARN, "vnc: accept: %s", g_strerror(errno));
			l->watch = 0;
			l->resume = g_timeout_add_seconds(1, listener_resume, l);
			return G_SOURCE_REMOVE;
		}
		break;
	}
	return G_SOURCE_CONTINUE;
}

static void listener_free(gpointer data)
{
	struct vnc_listener *l = data;
	if (l->watch)
		g_source_remove(l->watch);
	if (l->resume)
		g_source_remove(l->resume);
	close(l->fd);
	g_free(l);
}

static void listener_add(struct vnc_server *vnc, int fd)
{
	struct vnc_listener *l = g_new0(struct vnc_listener, 1);
	l->vnc = vnc;
	l->fd = fd;
	l->watch = g_unix_fd_add(fd, G_IO_IN, listener_readable, l);
	g_ptr_array_add(vnc->listeners, l);
}

/* ---- listening sockets ---- */

static bool addr_is_loopback(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
	}
	if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
		return IN6_IS_ADDR_LOOPBACK(a) ||
		       (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
	}
	return false;
}

/* "HOST:N" -> HOST (NULL for any) and port 5900 + N. */
static bool parse_listen(const char *spec, char **host, unsigned *port, char **error)
{
	const char *colon = strrchr(spec, ':');
	char *end = NULL;
	unsigned long n = colon && colon[1] ? strtoul(colon + 1, &end, 10) : 0;
	if (!colon || !colon[1] || *end || !g_ascii_isdigit(colon[1]) ||
	    n > 65535 - VNC_BASE_PORT) {
		*error = g_strdup_printf("vnc: listen address '%s': expected HOST:DISPLAY, e.g. "
					 "127.0.0.1:1 for port %d",
					 spec, VNC_BASE_PORT + 1);
		return false;
	}
	*port = VNC_BASE_PORT + n;
	size_t hl = colon - spec;
	if (hl >= 2 && spec[0] == '[' && spec[hl - 1] == ']')
		*host = g_strndup(spec + 1, hl - 2);
	else
		*host = hl ? g_strndup(spec, hl) : NULL;
	return true;
}

static bool listen_tcp(struct vnc_server *vnc, const char *spec, char **error)
{
	char *host;
	unsigned port;
	if (!parse_listen(spec, &host, &port, error))
		return false;
	char service[8];
	snprintf(service, sizeof(service), "%u", port);
	struct addrinfo hints = {
		.ai_flags = AI_PASSIVE,
		.ai_family = AF_UNSPEC,
		.ai_socktype = SOCK_STREAM,
	};
	struct addrinfo *res = NULL;
	int rc = getaddrinfo(host, service, &hints, &res);
	g_free(host);
	if (rc != 0) {
		*error = g_strdup_printf("vnc: listen address '%s': %s", spec, gai_strerror(rc));
		return false;
	}
	bool ok = true;
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		if (!addr_is_loopback(ai->ai_addr) && !vnc->password) {
			*error = g_strdup_printf(
				"vnc: listening on '%s' (not a loopback address) needs a password: "
				"set [display] vnc-password=, or listen on 127.0.0.1",
				spec);
			ok = false;
			break;
		}
	}
	int err = 0;
	for (struct addrinfo *ai = res; ok && ai; ai = ai->ai_next) {
		int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		int one = 1;
		if (fd < 0) {
			err = errno;
			continue;
		}
		/* separate IPv4 and IPv6 sockets, as getaddrinfo lists both */
		if (ai->ai_family == AF_INET6)
			setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 16) < 0) {
			err = errno;
			close(fd);
			continue;
		}
		listener_add(vnc, fd);
	}
	freeaddrinfo(res);
	if (ok && vnc->listeners->len == 0) {
		*error = g_strdup_printf("vnc: cannot listen on '%s' (port %u): %s", spec, port,
					 g_strerror(err ? err : EADDRNOTAVAIL));
		ok = false;
	}
	if (ok)
		vnc->port = port;
	return ok;
}

static bool listen_unix(struct vnc_server *vnc, const char *path, char **error)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sa.sun_path)) {
		*error = g_strdup_printf("vnc: %s: path too long for a Unix socket", path);
		return false;
	}
	strcpy(sa.sun_path, path);
	struct stat st;
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			*error = g_strdup_printf("vnc: %s exists and is not a socket", path);
			return false;
		}
		unlink(path); /* left by a VM that is gone: the bundle's lock says so */
	}
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || chmod(path, 0600) < 0 ||
	    listen(fd, 16) < 0) {
		*error = g_strdup_printf("vnc: %s: %s", path, g_strerror(errno));
		if (fd >= 0)
			close(fd);
		return false;
	}
	vnc->unix_path = g_strdup(path);
	listener_add(vnc, fd);
	return true;
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
	rfbNewFramebuffer(vnc->screen, (char *)vnc->fb, s->width, s->height, 8, 3, 4);
	/* rfbNewFramebuffer resets the pixel format to its own default; ours again, and every
	 * client's translation from it */
	vnc_set_format(vnc->screen);
	rfbClientIteratorPtr it = rfbGetClientIterator(vnc->screen);
	for (rfbClientPtr cl; (cl = rfbClientIteratorNext(it));)
		vnc->screen->setTranslateFunction(cl);
	rfbReleaseClientIterator(it);
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
		rfbMarkRectAsModified(vnc->screen, 0, 0, s->width, s->height);
		return;
	}
	for (unsigned i = 0; i < up->nrects && i < DISPLAY_MAX_RECTS; i++) {
		const struct display_rect *r = &up->rects[i];
		if (r->x >= s->width || r->y >= s->height || !r->w || !r->h)
			continue;
		unsigned w = MIN(r->w, s->width - r->x), h = MIN(r->h, s->height - r->y);
		copy_rect(vnc, s, r->x, r->y, w, h);
		rfbMarkRectAsModified(vnc->screen, r->x, r->y, r->x + w, r->y + h);
	}
}

static const struct display_surface *vnc_tick(struct vnc_server *vnc)
{
	struct display_update up = { 0 };
	const struct display_surface *s = vnc->display.refresh(vnc->display.opaque, &up);
	vnc_sync(vnc, s, &up);
	for (guint i = 0; i < vnc->clients->len; i++)
		client_update(((struct vnc_client *)g_ptr_array_index(vnc->clients, i))->cl);
	vnc_sweep(vnc);
	return s;
}

/* ---- the server ---- */

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
	vnc_global_init();

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
	vnc->listeners = g_ptr_array_new_with_free_func(listener_free);
	vnc->pending = g_ptr_array_new();
	vnc->clients = g_ptr_array_new();

	/* the initial size and contents */
	struct display_update up = { 0 };
	const struct display_surface *s = display->refresh(display->opaque, &up);
	vnc->fb_w = surface_usable(s) ? s->width : 640;
	vnc->fb_h = surface_usable(s) ? s->height : 480;
	/* Filled by the first sync, which comes before any viewer sees it (a new connection
	 * brings the framebuffer up to date), not here: with no viewer it then stays untouched
	 * zero pages instead of 1.2 MB (640x480) of resident memory. */
	vnc->fb = g_malloc0((size_t)vnc->fb_w * vnc->fb_h * 4);
	vnc->fb_unfilled = true;

	rfbScreenInfoPtr screen = rfbGetScreen(NULL, NULL, vnc->fb_w, vnc->fb_h, 8, 3, 4);
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
		screen->passwordCheck = rfbCheckPasswordByList;
	}
	/* no cursor drawn into the picture: the guest draws its own pointer */
	rfbSetCursor(screen, NULL);
	rfbInitServer(screen); /* ignores SIGPIPE: libvncserver writes with write() */

	if ((opts->unix_path && !listen_unix(vnc, opts->unix_path, error)) ||
	    (opts->listen && !listen_tcp(vnc, opts->listen, error))) {
		vnc_server_free(vnc);
		return NULL;
	}
	return vnc;
}

void vnc_server_free(struct vnc_server *vnc)
{
	if (!vnc)
		return;
	for (guint i = 0; i < vnc->clients->len; i++)
		rfbCloseClient(((struct vnc_client *)g_ptr_array_index(vnc->clients, i))->cl);
	vnc_sweep(vnc);
	while (vnc->pending->len)
		pending_free(g_ptr_array_index(vnc->pending, 0), true);
	g_ptr_array_free(vnc->listeners, true);
	if (vnc->unix_path)
		unlink(vnc->unix_path);
	if (vnc->tick)
		g_source_remove(vnc->tick);
	rfbShutdownServer(vnc->screen, TRUE);
	rfbScreenCleanup(vnc->screen);
	g_ptr_array_free(vnc->pending, true);
	g_ptr_array_free(vnc->clients, true);
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

unsigned vnc_server_clients(const struct vnc_server *vnc)
{
	return vnc->clients->len;
}

const struct display_surface *vnc_server_refresh(struct vnc_server *vnc)
{
	return vnc_tick(vnc);
}
