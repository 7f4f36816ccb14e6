/*
 * The VNC server's sockets: listening (TCP, the Unix socket), accepting, and the gate a new
 * connection passes before libvncserver gets it. vnc_server_new opens the listening sockets on
 * its caller's thread, so that their errors reach the caller; everything else runs on the VNC
 * thread. See vnc.c's header comment.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"
#include "ui/vnc_internal.h"

/* ---- new connections ---- */

void vnc_pending_free(struct vnc_pending *p, bool close_fd)
{
	vnc_remove(p->vnc, &p->watch);
	vnc_remove(p->vnc, &p->timer);
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
 * Hands viewer socket FD to libvncserver through the relay (vnc_relay.c). SILENT: the viewer
 * has sent nothing, as a plain RFB viewer waiting for the server's version does; libvncserver's
 * WebSocket check would wait 100 ms for bytes that never come, blocking the loop, so its end of
 * the relay first reads "RFB " (the check then passes the connection as plain), which is taken
 * off again once the check has peeked at it.
 */
static rfbClientPtr relayed_client(struct vnc_server *vnc, int fd, bool silent,
				   struct vnc_relay_link **link)
{
	int lib = vnc_relay_add(vnc->relay, fd, "RFB ", silent ? 4 : 0, link);
	if (lib < 0) {
		log_warn("vnc: cannot relay a viewer: %s", g_strerror(errno));
		close(fd);
		return NULL;
	}
	rfbClientPtr cl = vnc_lib.NewClient(vnc->screen, lib); /* closes LIB when it refuses */
	char stand_in[4];
	if (cl && silent && recv(cl->sock, stand_in, sizeof(stand_in), MSG_DONTWAIT) != 4) {
		vnc_lib.CloseClient(cl); /* vnc_sweep frees it */
		cl = NULL;
	}
	if (!cl) {
		vnc_relay_link_unref(*link);
		*link = NULL;
	}
	return cl;
}

/* ---- a viewer that cannot be served ---- */

static gboolean refused_readable(int fd, GIOCondition cond, gpointer data)
{
	struct vnc_pending *p = data;
	char buf[512];
	ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
	if (n > 0 || (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)))
		return G_SOURCE_CONTINUE;
	p->watch = 0; /* this source ends with the callback */
	vnc_pending_free(p, true);
	return G_SOURCE_REMOVE;
}

static gboolean refused_timer(gpointer data)
{
	struct vnc_pending *p = data;
	p->timer = 0;
	vnc_pending_free(p, true);
	return G_SOURCE_REMOVE;
}

/*
 * Tells the viewer REASON as an RFB 3.8 server refusing it (§7.1.1-7.1.2: the version, no
 * security types, the reason), all at once: an RFB viewer waits for the server's version and
 * then shows the reason. What the viewer sends is read and dropped until it closes (or after
 * VNC_PARTIAL_TIMEOUT_US): closing with its bytes unread would reset the connection, and a
 * reset can throw the reason away before the viewer has read it.
 */
static void pending_refuse(struct vnc_pending *p, const char *reason)
{
	uint32_t len = strlen(reason);
	uint8_t head[sz_rfbProtocolVersionMsg + 5];
	memcpy(head, "RFB 003.008\n", sz_rfbProtocolVersionMsg);
	head[sz_rfbProtocolVersionMsg] = 0;
	uint32_t be_len = GUINT32_TO_BE(len);
	memcpy(head + sz_rfbProtocolVersionMsg + 1, &be_len, 4);
	struct iovec iov[2] = { { head, sizeof(head) }, { (void *)reason, len } };
	struct msghdr msg = { .msg_iov = iov, .msg_iovlen = 2 };
	sendmsg(p->fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT); /* a new socket's buffer takes it */
	shutdown(p->fd, SHUT_WR);
	vnc_remove(p->vnc, &p->watch);
	vnc_remove(p->vnc, &p->timer);
	p->watch = vnc_add_fd(p->vnc, p->fd, G_IO_IN | G_IO_HUP | G_IO_ERR, refused_readable, p);
	p->timer = vnc_add_timeout(p->vnc, VNC_PARTIAL_TIMEOUT_US / 1000, refused_timer, p);
}

/* ---- handing over ---- */

/* Gives a connection whose first bytes have arrived (N of them; -2: none) to libvncserver,
 * loading it for the first viewer. */
static void pending_hand_over(struct vnc_pending *p, ssize_t n)
{
	struct vnc_server *vnc = p->vnc;
	int fd = p->fd;
	char peer[INET6_ADDRSTRLEN + 8];
	peer_name(fd, peer, sizeof(peer));
	char *error = NULL;
	if (!vnc_screen_ensure(vnc, &error)) {
		log_warn("%s (viewer from %s refused)", error, peer);
		pending_refuse(p, error);
		g_free(error);
		return;
	}
	vnc_pending_free(p, false);
	/* the WebSocket check and the server's version happen in here */
	struct vnc_relay_link *link = NULL;
	rfbClientPtr cl = relayed_client(vnc, fd, n == -2, &link);
	if (cl) {
		free(cl->host); /* libvncserver's, for its log */
		cl->host = strdup(peer);
		log_info("vnc: viewer connected from %s%s", peer, cl->wsctx ? " (WebSocket)" : "");
		vnc_client_started(vnc, cl, link);
		vnc_tick(vnc); /* bring the framebuffer up to date for it */
	}
	vnc_sweep(vnc);
}

/* Decides what to do with a connection: hand it over, wait, or drop it. */
static void pending_step(struct vnc_pending *p)
{
	char buf[VNC_WS_HEADER_MAX];
	ssize_t n = recv(p->fd, buf, sizeof(buf), MSG_PEEK | MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		n = -2;
	if (n == 0 || n == -1) {
		vnc_pending_free(p, true); /* gone, or broken, before it said anything */
		return;
	}
	bool ready;
	if (n == -2)
		ready = p->grace_over; /* silent: a plain RFB viewer waiting for us */
	else if (memcmp(buf, "GET ", MIN((size_t)n, 4)) == 0)
		ready = (size_t)n == sizeof(buf) || g_strstr_len(buf, n, "\r\n\r\n");
	else
		ready = n >= 4; /* libvncserver's check looks at four bytes */
	if (ready) {
		pending_hand_over(p, n);
		return;
	}
	if (g_get_monotonic_time() - p->since > VNC_PARTIAL_TIMEOUT_US) {
		log_info("vnc: connection dropped: incomplete request");
		vnc_pending_free(p, true);
		return;
	}
	if (n > 0) {
		/* part of a request: the socket stays readable, so poll for the rest */
		vnc_remove(p->vnc, &p->watch);
		p->grace_over = true;
		if (!p->timer)
			p->timer = vnc_add_timeout(p->vnc, VNC_RETRY_MS, pending_timer, p);
	} else if (!p->watch) {
		p->watch =
			vnc_add_fd(p->vnc, p->fd, G_IO_IN | G_IO_HUP | G_IO_ERR, pending_readable, p);
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
	p->watch = vnc_add_fd(vnc, fd, G_IO_IN | G_IO_HUP | G_IO_ERR, pending_readable, p);
	p->timer = vnc_add_timeout(vnc, VNC_WS_GRACE_MS, pending_timer, p);
	g_ptr_array_add(vnc->pending, p);
}

/* ---- accepting ---- */

static gboolean listener_readable(int fd, GIOCondition cond, gpointer data);

static gboolean listener_resume(gpointer data)
{
	struct vnc_listener *l = data;
	l->resume = 0;
	l->watch = vnc_add_fd(l->vnc, l->fd, G_IO_IN, listener_readable, l);
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
			l->resume = vnc_add_timeout(l->vnc, 1000, listener_resume, l);
			return G_SOURCE_REMOVE;
		}
		break;
	}
	return G_SOURCE_CONTINUE;
}

void vnc_listener_free(gpointer data)
{
	struct vnc_listener *l = data;
	vnc_remove(l->vnc, &l->watch);
	vnc_remove(l->vnc, &l->resume);
	close(l->fd);
	g_free(l);
}

static void listener_add(struct vnc_server *vnc, int fd)
{
	struct vnc_listener *l = g_new0(struct vnc_listener, 1);
	l->vnc = vnc;
	l->fd = fd;
	l->watch = vnc_add_fd(vnc, fd, G_IO_IN, listener_readable, l);
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

/* A listening socket for one of getaddrinfo's answers; -1 with errno. */
static int listen_addr(const struct addrinfo *ai)
{
	int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	int one = 1;
	if (fd < 0)
		return -1;
	/* separate IPv4 and IPv6 sockets, as getaddrinfo lists both */
	if (ai->ai_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 16) < 0) {
		int err = errno;
		close(fd);
		errno = err;
		return -1;
	}
	return fd;
}

bool vnc_listen_tcp(struct vnc_server *vnc, const char *spec, char **error)
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
		int fd = listen_addr(ai);
		if (fd < 0)
			err = errno;
		else
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

bool vnc_listen_unix(struct vnc_server *vnc, const char *path, char **error)
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
