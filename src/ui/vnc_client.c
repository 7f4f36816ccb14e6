/*
 * The VNC server's clients, on the VNC thread: a message is handed to libvncserver only once
 * it is in the socket buffer whole (its length is known from its first bytes), so that
 * libvncserver's blocking reads do not wait; a client gets its next update only once the last
 * has left its socket. See vnc.c's header comment.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "ui/vnc_internal.h"

/* ---- how much of a message has arrived ---- */

static uint32_t be16(const uint8_t *p)
{
	return (uint32_t)p[0] << 8 | p[1];
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* The size of a client message past RFB_NORMAL by its type B[0]: the bytes, or a header
 * length above N that says "wait for the header that tells the size". */
static size_t rfb_normal_message_size(const uint8_t *b, size_t n)
{
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
		return n < 1 ? 1 : rfb_normal_message_size(b, n);
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
static gboolean client_retry(gpointer data);

static void client_drop(struct vnc_client *c, const char *why)
{
	log_info("vnc: viewer dropped: %s", why);
	vnc_lib.CloseClient(c->cl);
}

/* A message is in the socket buffer only in part: poll for the rest on a timer. */
static void client_wait_rest(struct vnc_client *c)
{
	vnc_remove(c->vnc, &c->watch);
	if (!c->partial_since)
		c->partial_since = g_get_monotonic_time();
	if (!c->retry)
		c->retry = vnc_add_timeout(c->vnc, VNC_RETRY_MS, client_retry, c);
}

/* Whether everything written to the client has left, through the relay and out of the
 * viewer's socket: then it gets its next update. So at most one update waits in the relay for
 * a viewer that stopped reading. TIOCOUTQ counts bytes not yet read by the peer here (the
 * relay's end of a Unix socket pair). */
static bool client_can_send(rfbClientPtr cl)
{
	struct vnc_client *c = cl->clientData;
	int outq = 0;
	if (ioctl(cl->sock, TIOCOUTQ, &outq) == 0 && outq)
		return false;
	return !c || !c->link || vnc_relay_idle(c->vnc->relay, c->link);
}

void vnc_client_update(rfbClientPtr cl)
{
	if (cl->sock != RFB_INVALID_SOCKET && cl->state == RFB_NORMAL && client_can_send(cl))
		vnc_lib.UpdateClient(cl);
}

/* Handles the messages that are in whole, then sends the client what it asked for. */
static void client_pump(struct vnc_client *c)
{
	rfbClientPtr cl = c->cl;
	unsigned n = 0;
	while (cl->sock != RFB_INVALID_SOCKET && n < VNC_PUMP_MAX) {
		/* libvncserver's WebSocket decoder keeps what it read beyond one message */
		if (cl->wsctx && vnc_lib.WebSocketsHasDataInBuffer(cl)) {
			vnc_lib.ProcessClientMessage(cl);
			n++;
			continue;
		}
		enum gate g = client_gate(c);
		if (g == GATE_READY) {
			c->partial_since = 0;
			vnc_lib.ProcessClientMessage(cl);
			n++;
		} else if (g == GATE_CLOSED) {
			vnc_lib.CloseClient(cl);
		} else {
			if (g == GATE_PARTIAL)
				client_wait_rest(c);
			break;
		}
	}
	vnc_client_update(cl);
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
			vnc_lib.CloseClient(c->cl);
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
		c->watch = vnc_add_fd(vnc, c->cl->sock, G_IO_IN | G_IO_HUP | G_IO_ERR,
				      client_readable, c);
		client_pump(c);
	}
	vnc_sweep(vnc);
	return G_SOURCE_REMOVE;
}

/* libvncserver 0.9.14 frees neither a client's extension records (rfbDisableExtension does not
 * either) nor its WebSocket context; later versions free the context after the gone hook and
 * find NULL. */
static void client_free_extras(rfbClientPtr cl)
{
	for (rfbExtensionData *e = cl->extensions, *next; e; e = next) {
		next = e->next;
		free(e->data);
		free(e);
	}
	cl->extensions = NULL;
	free(cl->wsctx);
	cl->wsctx = NULL;
}

static void client_gone(rfbClientPtr cl)
{
	struct vnc_client *c = cl->clientData;
	struct vnc_server *vnc = c->vnc;
	/* the guest must not see keys or buttons stuck down by a viewer that went away */
	for (unsigned q = 0; q < 256; q++)
		if (vnc_client_is_down(c, q))
			vnc_client_key(c, q, false);
	if (c->buttons & VNC_BUTTONS)
		vnc_input_pointer(vnc, 0, 0, 0, 0);
	vnc_remove(vnc, &c->watch);
	vnc_remove(vnc, &c->retry);
	g_hash_table_destroy(c->keysyms);
	pthread_mutex_lock(&vnc->conn_lock);
	g_ptr_array_remove(vnc->clients, c);
	if (c->shut_fd >= 0)
		close(c->shut_fd);
	guint left = vnc->clients->len;
	pthread_mutex_unlock(&vnc->conn_lock);
	cl->clientData = NULL;
	client_free_extras(cl);
	vnc_relay_link_unref(c->link);
	g_free(c);
	if (left == 0)
		vnc_tick_stop(vnc);
	log_info("vnc: viewer disconnected (%u left)", left);
}

enum rfbNewClientAction vnc_new_client(rfbClientPtr cl)
{
	struct vnc_server *vnc = cl->screen->screenData;
	struct vnc_client *c = g_new0(struct vnc_client, 1);
	c->vnc = vnc;
	c->cl = cl;
	c->shut_fd = -1;
	c->keysyms = g_hash_table_new(NULL, NULL);
	cl->clientData = c;
	cl->clientGoneHook = client_gone;
	c->watch = vnc_add_fd(vnc, cl->sock, G_IO_IN | G_IO_HUP | G_IO_ERR, client_readable, c);
	pthread_mutex_lock(&vnc->conn_lock);
	g_ptr_array_add(vnc->clients, c);
	pthread_mutex_unlock(&vnc->conn_lock);
	vnc_tick_start(vnc);
	return RFB_CLIENT_ACCEPT;
}

void vnc_client_started(struct vnc_server *vnc, rfbClientPtr cl, struct vnc_relay_link *link)
{
	struct vnc_client *c = cl->clientData;
	if (!c) {
		vnc_relay_link_unref(link);
		return;
	}
	c->link = link;
	if (cl->sock == RFB_INVALID_SOCKET)
		return;
	int fd = fcntl(cl->sock, F_DUPFD_CLOEXEC, 0);
	pthread_mutex_lock(&vnc->conn_lock);
	c->shut_fd = fd;
	pthread_mutex_unlock(&vnc->conn_lock);
}

void vnc_clients_shutdown(struct vnc_server *vnc)
{
	pthread_mutex_lock(&vnc->conn_lock);
	for (guint i = 0; i < vnc->clients->len; i++) {
		struct vnc_client *c = g_ptr_array_index(vnc->clients, i);
		if (c->shut_fd >= 0)
			shutdown(c->shut_fd, SHUT_RDWR);
	}
	pthread_mutex_unlock(&vnc->conn_lock);
}

/* Frees the clients libvncserver has closed. */
void vnc_sweep(struct vnc_server *vnc)
{
	for (guint i = vnc->clients->len; i-- > 0;) {
		if (i >= vnc->clients->len)
			continue;
		struct vnc_client *c = g_ptr_array_index(vnc->clients, i);
		if (c->cl->sock == RFB_INVALID_SOCKET)
			vnc_lib.ClientConnectionGone(c->cl); /* calls client_gone */
	}
}
