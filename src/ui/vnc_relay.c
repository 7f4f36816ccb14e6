/*
 * The relay between each viewer's socket and libvncserver: libvncserver writes with blocking
 * semantics, so a viewer that stops reading in the middle of an update larger than its socket
 * buffer would hold the VNC thread, and every other viewer with it. Instead libvncserver gets
 * one end of a socket pair per viewer and a thread of the relay's own moves the bytes between
 * the other end and the viewer's socket, without ever blocking: what the viewer does not take
 * waits in memory. libvncserver's writes land in the pair, which the relay always empties, so
 * they return at once; the VNC thread sends a viewer its next update only once the relay says
 * the previous one has left (vnc_relay_idle), so at most one update waits per viewer.
 *
 * A viewer goes when either side closes: its socket (the relay shuts the pair's write side, and
 * libvncserver reads the end), or libvncserver's end (the relay passes on what is queued, as far
 * as the socket takes it at once, and closes the socket). One that takes nothing of a waiting
 * update for RELAY_STUCK_US, or lets more than RELAY_MAX_QUEUED wait, is dropped.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "ui/vnc_internal.h"

#define RELAY_CHUNK (64 * 1024)
#define RELAY_MAX_QUEUED (128u << 20) /* more than a raw frame of the largest VBE mode */
#define RELAY_STUCK_US (10 * G_USEC_PER_SEC)
#define RELAY_POLL_MS 1000 /* how often a stuck viewer is looked for */

struct vnc_relay_link {
	gint refs;         /* the relay's and the client's */
	int sock;          /* the viewer's socket */
	int pair;          /* the relay's end of the pair; libvncserver has the other */
	GByteArray *queued; /* from libvncserver, not yet written to the viewer: from QUEUED_OFF */
	size_t queued_off;
	uint8_t in[RELAY_CHUNK]; /* from the viewer, not yet written to the pair: IN_OFF..IN_LEN */
	size_t in_off, in_len;
	gint64 progress; /* when the viewer last took bytes, or nothing waited for it */
	bool sock_eof;   /* the viewer sent its last byte */
	bool pair_shut;  /* ... and libvncserver was told */
	bool dead;       /* to be closed and released by the relay thread */
};

struct vnc_relay {
	pthread_t thread;
	int wake; /* eventfd: a link added, or time to quit */
	pthread_mutex_t lock;
	GPtrArray *links; /* struct vnc_relay_link *, the relay's references */
	bool quit;
};

static void link_unref(struct vnc_relay_link *l)
{
	if (!g_atomic_int_dec_and_test(&l->refs))
		return;
	g_byte_array_unref(l->queued);
	g_free(l);
}

void vnc_relay_link_unref(struct vnc_relay_link *l)
{
	if (l)
		link_unref(l);
}

static size_t link_waiting(const struct vnc_relay_link *l)
{
	return l->queued->len - l->queued_off;
}

/* ---- moving bytes (relay thread, lock held; every descriptor non-blocking) ---- */

static void link_from_lib(struct vnc_relay_link *l)
{
	uint8_t buf[RELAY_CHUNK];
	ssize_t n = read(l->pair, buf, sizeof(buf));
	if (n > 0) {
		if (!link_waiting(l)) {
			g_byte_array_set_size(l->queued, 0);
			l->queued_off = 0;
			l->progress = g_get_monotonic_time();
		}
		g_byte_array_append(l->queued, buf, n);
		if (link_waiting(l) > RELAY_MAX_QUEUED) {
			log_warn("vnc: a viewer left %zu bytes unread: dropped", link_waiting(l));
			l->dead = true;
		}
	} else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
		/* libvncserver closed the client: pass on what the socket takes now, then go */
		if (link_waiting(l))
			(void)send(l->sock, l->queued->data + l->queued_off, link_waiting(l),
				   MSG_NOSIGNAL | MSG_DONTWAIT);
		l->dead = true;
	}
}

static void link_to_sock(struct vnc_relay_link *l)
{
	ssize_t n = send(l->sock, l->queued->data + l->queued_off, link_waiting(l),
			 MSG_NOSIGNAL | MSG_DONTWAIT);
	if (n > 0) {
		l->queued_off += n;
		l->progress = g_get_monotonic_time();
	} else if (n < 0 && errno != EAGAIN && errno != EINTR) {
		l->dead = true;
	}
}

static void link_from_sock(struct vnc_relay_link *l)
{
	ssize_t n = recv(l->sock, l->in, sizeof(l->in), MSG_DONTWAIT);
	if (n > 0) {
		l->in_off = 0;
		l->in_len = n;
	} else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
		l->sock_eof = true; /* libvncserver reads the end once the rest is through */
	}
}

static void link_to_lib(struct vnc_relay_link *l)
{
	ssize_t n = send(l->pair, l->in + l->in_off, l->in_len - l->in_off,
			 MSG_NOSIGNAL | MSG_DONTWAIT);
	if (n > 0)
		l->in_off += n;
	else if (n < 0 && errno != EAGAIN && errno != EINTR)
		l->dead = true;
}

/* The events to wait for on the viewer's socket and on the pair. */
static void link_events(const struct vnc_relay_link *l, short *sock, short *pair)
{
	bool in_waits = l->in_off < l->in_len;
	*sock = (link_waiting(l) ? POLLOUT : 0) | (!in_waits && !l->sock_eof ? POLLIN : 0);
	*pair = POLLIN | (in_waits ? POLLOUT : 0);
}

static void link_service(struct vnc_relay_link *l, short sock, short pair)
{
	if (pair & (POLLIN | POLLHUP | POLLERR))
		link_from_lib(l);
	if (!l->dead && (sock & (POLLOUT | POLLERR)) && link_waiting(l))
		link_to_sock(l);
	if (!l->dead && (sock & (POLLIN | POLLHUP | POLLERR)) && l->in_off == l->in_len &&
	    !l->sock_eof)
		link_from_sock(l);
	if (!l->dead && (pair & POLLOUT) && l->in_off < l->in_len)
		link_to_lib(l);
	if (!l->dead && l->sock_eof && l->in_off == l->in_len && !l->pair_shut) {
		shutdown(l->pair, SHUT_WR); /* the viewer is done: libvncserver reads the end */
		l->pair_shut = true;
	}
	if (!l->dead && link_waiting(l) &&
	    g_get_monotonic_time() - l->progress > RELAY_STUCK_US) {
		log_warn("vnc: a viewer took nothing of an update for %d s: dropped",
			 (int)(RELAY_STUCK_US / G_USEC_PER_SEC));
		l->dead = true;
	}
}

static void link_close(struct vnc_relay_link *l)
{
	close(l->sock);
	close(l->pair);
	l->sock = l->pair = -1;
	link_unref(l);
}

/* ---- the thread ---- */

static void *relay_thread(void *data)
{
	struct vnc_relay *r = data;
	pthread_setname_np(pthread_self(), "vnc-relay");
	struct pollfd *fds = NULL;
	guint cap = 0;
	for (;;) {
		pthread_mutex_lock(&r->lock);
		if (r->quit) {
			pthread_mutex_unlock(&r->lock);
			break;
		}
		guint n = r->links->len;
		if (1 + 2 * n > cap) {
			cap = 1 + 2 * n;
			fds = g_renew(struct pollfd, fds, cap);
		}
		fds[0] = (struct pollfd){ .fd = r->wake, .events = POLLIN };
		for (guint i = 0; i < n; i++) {
			struct vnc_relay_link *l = g_ptr_array_index(r->links, i);
			fds[1 + 2 * i] = (struct pollfd){ .fd = l->sock };
			fds[2 + 2 * i] = (struct pollfd){ .fd = l->pair };
			link_events(l, &fds[1 + 2 * i].events, &fds[2 + 2 * i].events);
			if (!fds[1 + 2 * i].events)
				fds[1 + 2 * i].fd = -1; /* nothing to do there: not even its hangup */
		}
		pthread_mutex_unlock(&r->lock);

		if (poll(fds, 1 + 2 * n, RELAY_POLL_MS) < 0 && errno != EINTR) {
			log_warn("vnc: relay poll: %s", g_strerror(errno));
			g_usleep(G_USEC_PER_SEC / 100);
		}
		uint64_t v;
		if (fds[0].revents & POLLIN)
			(void)read(r->wake, &v, sizeof(v));

		pthread_mutex_lock(&r->lock);
		/* links added since the poll sit after the first N, untouched this round */
		for (guint i = n; i-- > 0;) {
			struct vnc_relay_link *l = g_ptr_array_index(r->links, i);
			link_service(l, fds[1 + 2 * i].revents, fds[2 + 2 * i].revents);
			if (l->dead) {
				g_ptr_array_remove_index(r->links, i);
				link_close(l);
			}
		}
		pthread_mutex_unlock(&r->lock);
	}
	g_free(fds);
	return NULL;
}

static void relay_wake(struct vnc_relay *r)
{
	uint64_t one = 1;
	(void)write(r->wake, &one, sizeof(one));
}

struct vnc_relay *vnc_relay_new(char **error)
{
	struct vnc_relay *r = g_new0(struct vnc_relay, 1);
	r->wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (r->wake < 0) {
		*error = g_strdup_printf("vnc: eventfd: %s", g_strerror(errno));
		g_free(r);
		return NULL;
	}
	pthread_mutex_init(&r->lock, NULL);
	r->links = g_ptr_array_new();
	int err = pthread_create(&r->thread, NULL, relay_thread, r);
	if (err) {
		*error = g_strdup_printf("vnc: cannot start the relay thread: %s", g_strerror(err));
		g_ptr_array_free(r->links, TRUE);
		pthread_mutex_destroy(&r->lock);
		close(r->wake);
		g_free(r);
		return NULL;
	}
	return r;
}

void vnc_relay_free(struct vnc_relay *r)
{
	if (!r)
		return;
	pthread_mutex_lock(&r->lock);
	r->quit = true;
	pthread_mutex_unlock(&r->lock);
	relay_wake(r);
	pthread_join(r->thread, NULL);
	for (guint i = 0; i < r->links->len; i++)
		link_close(g_ptr_array_index(r->links, i));
	g_ptr_array_free(r->links, TRUE);
	pthread_mutex_destroy(&r->lock);
	close(r->wake);
	g_free(r);
}

static bool set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	return fl >= 0 && fcntl(fd, F_SETFL, fl | O_NONBLOCK) == 0;
}

int vnc_relay_add(struct vnc_relay *r, int sock, const void *prefix, size_t prefix_len,
		  struct vnc_relay_link **out)
{
	int sp[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0)
		return -1;
	if (sp[0] >= FD_SETSIZE || !set_nonblock(sp[1]) || !set_nonblock(sock) ||
	    (prefix_len && send(sp[1], prefix, prefix_len, MSG_NOSIGNAL) != (ssize_t)prefix_len)) {
		close(sp[0]);
		close(sp[1]);
		return -1;
	}
	int one = 1; /* as libvncserver would have set it; fails harmlessly on a Unix socket */
	setsockopt(sock, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	struct vnc_relay_link *l = g_new0(struct vnc_relay_link, 1);
	l->refs = 2;
	l->sock = sock;
	l->pair = sp[1];
	l->queued = g_byte_array_new();
	l->progress = g_get_monotonic_time();
	/* what the viewer has sent already (a WebSocket request) is there before libvncserver
	 * looks, as it would be on the socket itself */
	for (int i = 0; i < 8; i++) {
		link_from_sock(l);
		if (l->in_off == l->in_len)
			break;
		link_to_lib(l);
		if (l->in_off < l->in_len)
			break;
	}
	pthread_mutex_lock(&r->lock);
	g_ptr_array_add(r->links, l);
	pthread_mutex_unlock(&r->lock);
	relay_wake(r);
	*out = l;
	return sp[0];
}

bool vnc_relay_idle(struct vnc_relay *r, struct vnc_relay_link *l)
{
	pthread_mutex_lock(&r->lock);
	int outq = 0;
	bool idle = !link_waiting(l) && l->sock >= 0 &&
		    (ioctl(l->sock, TIOCOUTQ, &outq) < 0 || outq == 0);
	pthread_mutex_unlock(&r->lock);
	return idle;
}
