/*
 * NAT backend on libslirp (4.7's SlirpConfig version 4). libslirp is not thread-safe: one
 * mutex covers every call into it, from the NIC's transmit path (vCPU threads: slirp_input)
 * and from the main loop (a GSource that polls slirp's sockets and runs its TCP timers, and
 * one GSource per slirp timer). Frames for the guest only go into the port's queue.
 */
#include "net/slirp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <slirp/libslirp.h>
#include <string.h>

#include "log.h"

struct slirp_poll {
	int fd;
	GIOCondition cond;
	gpointer tag; /* NULL once handed on to the next round */
};

struct slirp_backend {
	struct net_backend be;
	pthread_mutex_t lock; /* every Slirp call; polls, hostfwds */
	Slirp *slirp;
	GMainContext *ctx;
	GSource *poll_source;
	GArray *polls;	  /* struct slirp_poll, index = what add_poll returned this round */
	GArray *old_polls; /* the previous round's, while slirp_pollfds_fill runs */
	gint64 deadline;  /* monotonic µs when slirp's own timers want slirp_pollfds_poll */
	bool paused;	  /* the port's queue is full: stop reading host sockets */
	GArray *hostfwds; /* struct net_hostfwd */
	char *tftp_root, *boot_file;
	uint8_t txbuf[NET_MAX_FRAME]; /* gathers a multi-part frame for slirp_input */
};

struct slirp_poll_source {
	GSource source;
	struct slirp_backend *sb;
};

struct slirp_timer {
	GSource source;
	struct slirp_backend *sb;
	SlirpTimerCb cb;
	void *cb_opaque;
};

/* ---- port forward text ---- */

static int parse_port(const char *text, uint16_t *port)
{
	guint64 v;
	if (!g_ascii_string_to_unsigned(text, 10, 1, 65535, &v, NULL))
		return -1;
	*port = (uint16_t)v;
	return 0;
}

/* "[ADDR]:PORT" into ADDR (DEFAULT when empty) and PORT. */
static int parse_endpoint(const char *text, const char *dflt, char addr[INET_ADDRSTRLEN],
			  uint16_t *port)
{
	const char *colon = strrchr(text, ':');
	if (!colon || colon - text >= INET_ADDRSTRLEN || parse_port(colon + 1, port) < 0)
		return -1;
	g_autofree char *a = g_strndup(text, colon - text);
	struct in_addr in;
	if (*a && inet_pton(AF_INET, a, &in) != 1)
		return -1;
	g_strlcpy(addr, *a ? a : dflt, INET_ADDRSTRLEN);
	return 0;
}

int net_hostfwd_parse(const char *text, struct net_hostfwd *out, char **error)
{
	struct net_hostfwd f = { 0 };
	const char *rest = text;
	if (g_str_has_prefix(rest, "tcp:") || g_str_has_prefix(rest, "udp:")) {
		f.udp = rest[0] == 'u';
		rest += 4;
	}
	const char *dash = strchr(rest, '-');
	char guest_addr[INET_ADDRSTRLEN];
	g_autofree char *host = dash ? g_strndup(rest, dash - rest) : NULL;
	if (!dash || parse_endpoint(host, "127.0.0.1", f.host_addr, &f.host_port) < 0 ||
	    parse_endpoint(dash + 1, SLIRP_GUEST_ADDR, guest_addr, &f.guest_port) < 0) {
		*error = g_strdup_printf("port forward '%s': expected [tcp|udp]:[HOSTADDR]:"
					 "HOSTPORT-:GUESTPORT, e.g. tcp:127.0.0.1:2222-:22",
					 text);
		return -1;
	}
	if (strcmp(guest_addr, SLIRP_GUEST_ADDR)) {
		*error = g_strdup_printf("port forward '%s': the guest is %s, not %s", text,
					 SLIRP_GUEST_ADDR, guest_addr);
		return -1;
	}
	*out = f;
	return 0;
}

char *net_hostfwd_format(const struct net_hostfwd *f)
{
	return g_strdup_printf("%s:%s:%u-:%u", f->udp ? "udp" : "tcp", f->host_addr, f->host_port,
			       f->guest_port);
}

/* ---- libslirp callbacks (called with sb->lock held) ---- */

static ssize_t cb_send_packet(const void *buf, size_t len, void *opaque)
{
	struct slirp_backend *sb = opaque;
	/* A full queue drops the frame: TCP retransmits it once the guest catches up. */
	if (sb->be.port && !net_port_deliver(sb->be.port, buf, len))
		sb->paused = true;
	return (ssize_t)len;
}

static void cb_guest_error(const char *msg, void *opaque)
{
	log_once(LOG_WARN, "slirp: guest error: %s", msg);
}

static int64_t cb_clock_get_ns(void *opaque)
{
	return g_get_monotonic_time() * 1000;
}

static gboolean timer_dispatch(GSource *source, GSourceFunc cb, gpointer data)
{
	struct slirp_timer *t = (struct slirp_timer *)source;
	g_source_set_ready_time(source, -1);
	pthread_mutex_lock(&t->sb->lock);
	t->cb(t->cb_opaque);
	pthread_mutex_unlock(&t->sb->lock);
	return G_SOURCE_CONTINUE;
}

static GSourceFuncs timer_funcs = { .dispatch = timer_dispatch };

static void *cb_timer_new(SlirpTimerCb cb, void *cb_opaque, void *opaque)
{
	struct slirp_backend *sb = opaque;
	struct slirp_timer *t =
		(struct slirp_timer *)g_source_new(&timer_funcs, sizeof(struct slirp_timer));
	t->sb = sb;
	t->cb = cb;
	t->cb_opaque = cb_opaque;
	g_source_set_name(&t->source, "slirp-timer");
	g_source_set_ready_time(&t->source, -1);
	g_source_attach(&t->source, sb->ctx);
	return t;
}

static void cb_timer_free(void *timer, void *opaque)
{
	g_source_destroy(timer);
	g_source_unref(timer);
}

/* EXPIRE_MS is on cb_clock_get_ns's clock, the monotonic one GLib's ready times use. */
static void cb_timer_mod(void *timer, int64_t expire_ms, void *opaque)
{
	g_source_set_ready_time(timer, expire_ms * 1000);
}

static void cb_register_poll_fd(int fd, void *opaque)
{
	/* Only needed where sockets are not fds (Windows): slirp_pollfds_fill lists them. */
}

static void cb_notify(void *opaque)
{
	struct slirp_backend *sb = opaque;
	g_main_context_wakeup(sb->ctx); /* a socket buffer has room: poll with new events */
}

static const SlirpCb slirp_callbacks = {
	.send_packet = cb_send_packet,
	.guest_error = cb_guest_error,
	.clock_get_ns = cb_clock_get_ns,
	.timer_new = cb_timer_new,
	.timer_free = cb_timer_free,
	.timer_mod = cb_timer_mod,
	.register_poll_fd = cb_register_poll_fd,
	.unregister_poll_fd = cb_register_poll_fd,
	.notify = cb_notify,
};

/* ---- the poll source ---- */

static const struct {
	int slirp;
	GIOCondition glib;
} poll_flags[] = {
	{ SLIRP_POLL_IN, G_IO_IN },   { SLIRP_POLL_OUT, G_IO_OUT }, { SLIRP_POLL_PRI, G_IO_PRI },
	{ SLIRP_POLL_ERR, G_IO_ERR }, { SLIRP_POLL_HUP, G_IO_HUP },
};

static int add_poll(int fd, int events, void *opaque)
{
	struct slirp_backend *sb = opaque;
	GIOCondition cond = 0;
	for (size_t i = 0; i < G_N_ELEMENTS(poll_flags); i++)
		if (events & poll_flags[i].slirp)
			cond |= poll_flags[i].glib;
	if (sb->paused)
		cond &= ~(G_IO_IN | G_IO_PRI); /* nothing more for the guest until resume */
	/* Every change to a source's fds wakes its context: a socket polled as before keeps its
	 * entry, or a streaming guest would keep the main loop spinning. */
	struct slirp_poll p = { fd, cond, NULL };
	for (guint i = 0; i < sb->old_polls->len && !p.tag; i++) {
		struct slirp_poll *old = &g_array_index(sb->old_polls, struct slirp_poll, i);
		if (old->fd != fd || !old->tag)
			continue;
		p.tag = old->tag;
		old->tag = NULL;
		if (old->cond != cond)
			g_source_modify_unix_fd(sb->poll_source, p.tag, cond);
	}
	if (!p.tag)
		p.tag = g_source_add_unix_fd(sb->poll_source, fd, cond);
	g_array_append_val(sb->polls, p);
	return (int)sb->polls->len - 1;
}

static int get_revents(int idx, void *opaque)
{
	struct slirp_backend *sb = opaque;
	if (idx < 0 || (guint)idx >= sb->polls->len)
		return 0;
	gpointer tag = g_array_index(sb->polls, struct slirp_poll, idx).tag;
	GIOCondition cond = g_source_query_unix_fd(sb->poll_source, tag);
	int events = 0;
	for (size_t i = 0; i < G_N_ELEMENTS(poll_flags); i++)
		if (cond & poll_flags[i].glib)
			events |= poll_flags[i].slirp;
	return events;
}

static gboolean poll_prepare(GSource *source, gint *timeout)
{
	struct slirp_backend *sb = ((struct slirp_poll_source *)source)->sb;
	pthread_mutex_lock(&sb->lock);
	GArray *old = sb->old_polls;
	sb->old_polls = sb->polls;
	sb->polls = old;
	g_array_set_size(sb->polls, 0);
	uint32_t ms = UINT32_MAX;
	slirp_pollfds_fill(sb->slirp, &ms, add_poll, sb);
	for (guint i = 0; i < sb->old_polls->len; i++) { /* sockets slirp closed meanwhile */
		gpointer tag = g_array_index(sb->old_polls, struct slirp_poll, i).tag;
		if (tag)
			g_source_remove_unix_fd(source, tag);
	}
	g_array_set_size(sb->old_polls, 0);
	pthread_mutex_unlock(&sb->lock);
	if (ms == UINT32_MAX) {
		sb->deadline = -1;
		*timeout = -1;
	} else {
		sb->deadline = g_source_get_time(source) + (gint64)ms * 1000;
		*timeout = (gint)MIN(ms, (uint32_t)G_MAXINT);
	}
	return ms == 0;
}

static gboolean poll_check(GSource *source)
{
	struct slirp_backend *sb = ((struct slirp_poll_source *)source)->sb;
	for (guint i = 0; i < sb->polls->len; i++) {
		gpointer tag = g_array_index(sb->polls, struct slirp_poll, i).tag;
		if (g_source_query_unix_fd(source, tag))
			return TRUE;
	}
	return sb->deadline >= 0 && g_source_get_time(source) >= sb->deadline;
}

static gboolean poll_dispatch(GSource *source, GSourceFunc cb, gpointer data)
{
	struct slirp_backend *sb = ((struct slirp_poll_source *)source)->sb;
	g_source_set_ready_time(source, -1); /* the poll a send asked for is this one */
	pthread_mutex_lock(&sb->lock);
	slirp_pollfds_poll(sb->slirp, 0, get_revents, sb);
	pthread_mutex_unlock(&sb->lock);
	return G_SOURCE_CONTINUE;
}

static GSourceFuncs poll_funcs = {
	.prepare = poll_prepare,
	.check = poll_check,
	.dispatch = poll_dispatch,
};

/* ---- backend ops ---- */

static int slirp_backend_send(struct net_backend *be, const struct iovec *iov, int iovcnt)
{
	struct slirp_backend *sb = (struct slirp_backend *)be;
	pthread_mutex_lock(&sb->lock);
	if (iovcnt == 1) {
		slirp_input(sb->slirp, iov[0].iov_base, (int)iov[0].iov_len);
	} else {
		size_t len = 0;
		for (int i = 0; i < iovcnt && len + iov[i].iov_len <= sizeof(sb->txbuf); i++) {
			memcpy(sb->txbuf + len, iov[i].iov_base, iov[i].iov_len);
			len += iov[i].iov_len;
		}
		slirp_input(sb->slirp, sb->txbuf, (int)len);
	}
	pthread_mutex_unlock(&sb->lock);
	/* The frame may have opened a socket, or left an ACK or data for the loop to move: have
	 * it poll anew within a millisecond. Coalesced: a stream of frames wakes the loop once a
	 * millisecond, not once a frame (which cost a third of the frame rate). */
	if (g_source_get_ready_time(sb->poll_source) < 0)
		g_source_set_ready_time(sb->poll_source, g_get_monotonic_time() + 1000);
	return 0;
}

static void slirp_backend_resume(struct net_backend *be)
{
	struct slirp_backend *sb = (struct slirp_backend *)be;
	pthread_mutex_lock(&sb->lock);
	sb->paused = false;
	pthread_mutex_unlock(&sb->lock);
	g_main_context_wakeup(sb->ctx);
}

static void slirp_backend_free(struct net_backend *be)
{
	struct slirp_backend *sb = (struct slirp_backend *)be;
	g_source_destroy(sb->poll_source);
	g_source_unref(sb->poll_source);
	pthread_mutex_lock(&sb->lock);
	slirp_cleanup(sb->slirp); /* frees its timers through cb_timer_free */
	pthread_mutex_unlock(&sb->lock);
	pthread_mutex_destroy(&sb->lock);
	g_array_unref(sb->polls);
	g_array_unref(sb->old_polls);
	g_array_unref(sb->hostfwds);
	g_main_context_unref(sb->ctx);
	g_free(sb->tftp_root);
	g_free(sb->boot_file);
	g_free(sb);
}

static const struct net_backend_ops slirp_backend_ops = {
	.name = "slirp",
	.send = slirp_backend_send,
	.resume = slirp_backend_resume,
	.free = slirp_backend_free,
};

static struct in_addr ip4(const char *text)
{
	struct in_addr a;
	inet_pton(AF_INET, text, &a);
	return a;
}

static struct in6_addr ip6(const char *text)
{
	struct in6_addr a;
	inet_pton(AF_INET6, text, &a);
	return a;
}

struct net_backend *slirp_backend_new(const struct slirp_backend_opts *opts, void *gmain_context,
				      char **error)
{
	/* 4.7 checks this with g_return_val_if_fail: say it first, in words */
	if (opts->boot_file && strlen(opts->boot_file) >= 128) {
		*error = g_strdup_printf("boot file name %s: longer than DHCP's 127 characters",
					 opts->boot_file);
		return NULL;
	}
	if (opts->tftp_root && !g_file_test(opts->tftp_root, G_FILE_TEST_IS_DIR)) {
		*error = g_strdup_printf("TFTP root %s: not a directory", opts->tftp_root);
		return NULL;
	}
	struct slirp_backend *sb = g_new0(struct slirp_backend, 1);
	sb->be.ops = &slirp_backend_ops;
	pthread_mutex_init(&sb->lock, NULL);
	sb->ctx = g_main_context_ref(gmain_context ? gmain_context : g_main_context_default());
	sb->polls = g_array_new(FALSE, FALSE, sizeof(struct slirp_poll));
	sb->old_polls = g_array_new(FALSE, FALSE, sizeof(struct slirp_poll));
	sb->hostfwds = g_array_new(FALSE, FALSE, sizeof(struct net_hostfwd));
	sb->tftp_root = g_strdup(opts->tftp_root);
	sb->boot_file = g_strdup(opts->boot_file);
	SlirpConfig cfg = {
		.version = 4,
		.restricted = opts->restricted,
		.in_enabled = true,
		.vnetwork = ip4("10.0.2.0"),
		.vnetmask = ip4("255.255.255.0"),
		.vhost = ip4("10.0.2.2"),
		.vdhcp_start = ip4(SLIRP_GUEST_ADDR),
		.vnameserver = ip4("10.0.2.3"),
		.in6_enabled = true,
		.vprefix_addr6 = ip6("fec0::"),
		.vprefix_len = 64,
		.vhost6 = ip6("fec0::2"),
		.vnameserver6 = ip6("fec0::3"),
		.tftp_path = sb->tftp_root,
		.bootfile = sb->boot_file,
	};
	struct slirp_poll_source *ps = (struct slirp_poll_source *)g_source_new(
		&poll_funcs, sizeof(struct slirp_poll_source));
	ps->sb = sb;
	sb->poll_source = &ps->source;
	g_source_set_name(sb->poll_source, "slirp");
	pthread_mutex_lock(&sb->lock);
	sb->slirp = slirp_new(&cfg, &slirp_callbacks, sb);
	pthread_mutex_unlock(&sb->lock);
	if (!sb->slirp) {
		*error = g_strdup("slirp: could not start the NAT network");
		g_source_unref(sb->poll_source);
		pthread_mutex_destroy(&sb->lock);
		g_array_unref(sb->polls);
	g_array_unref(sb->old_polls);
		g_array_unref(sb->hostfwds);
		g_main_context_unref(sb->ctx);
		g_free(sb->tftp_root);
		g_free(sb->boot_file);
		g_free(sb);
		return NULL;
	}
	g_source_attach(sb->poll_source, sb->ctx);
	return &sb->be;
}

/* ---- port forwards ---- */

static int hostfwd_find(struct slirp_backend *sb, const struct net_hostfwd *f)
{
	for (guint i = 0; i < sb->hostfwds->len; i++) {
		const struct net_hostfwd *h = &g_array_index(sb->hostfwds, struct net_hostfwd, i);
		if (h->udp == f->udp && h->host_port == f->host_port &&
		    !strcmp(h->host_addr, f->host_addr))
			return (int)i;
	}
	return -1;
}

int slirp_backend_hostfwd_add(struct net_backend *be, const struct net_hostfwd *f, char **error)
{
	struct slirp_backend *sb = (struct slirp_backend *)be;
	g_autofree char *text = net_hostfwd_format(f);
	struct in_addr host;
	if (inet_pton(AF_INET, f->host_addr, &host) != 1 || !f->host_port || !f->guest_port) {
		*error = g_strdup_printf("port forward %s: bad address or port", text);
		return -1;
	}
	pthread_mutex_lock(&sb->lock);
	int ret = -1;
	const char *proto = f->udp ? "udp" : "tcp";
	if (hostfwd_find(sb, f) >= 0) {
		*error = g_strdup_printf("port forward %s: %s port %s:%u is already forwarded",
					 text, proto, f->host_addr, f->host_port);
	} else {
		errno = 0;
		ret = slirp_add_hostfwd(sb->slirp, f->udp, host, f->host_port,
					ip4(SLIRP_GUEST_ADDR), f->guest_port);
		const char *why = errno == EADDRINUSE ? "the port is in use"
				  : errno	      ? strerror(errno)
							      : "slirp refused";
		if (ret < 0)
			*error = g_strdup_printf("port forward %s: cannot listen on %s port "
						 "%s:%u: %s",
						 text, proto, f->host_addr, f->host_port, why);
		else
			g_array_append_val(sb->hostfwds, *f);
	}
	pthread_mutex_unlock(&sb->lock);
	g_main_context_wakeup(sb->ctx); /* poll the new listening socket */
	return ret < 0 ? -1 : 0;
}

int slirp_backend_hostfwd_remove(struct net_backend *be, const struct net_hostfwd *f,
				 char **error)
{
	struct slirp_backend *sb = (struct slirp_backend *)be;
	pthread_mutex_lock(&sb->lock);
	int i = hostfwd_find(sb, f), ret = -1;
	if (i >= 0) {
		ret = slirp_remove_hostfwd(sb->slirp, f->udp, ip4(f->host_addr), f->host_port);
		g_array_remove_index(sb->hostfwds, (guint)i);
	}
	pthread_mutex_unlock(&sb->lock);
	if (i < 0) {
		*error = g_strdup_printf("no port forward from %s port %s:%u",
					 f->udp ? "udp" : "tcp", f->host_addr, f->host_port);
		return -1;
	}
	if (ret < 0)
		log_warn("slirp: removing forward of port %u: slirp had no such forward",
			 f->host_port);
	g_main_context_wakeup(sb->ctx);
	return 0;
}

GArray *slirp_backend_hostfwd_list(struct net_backend *be)
{
	struct slirp_backend *sb = (struct slirp_backend *)be;
	GArray *list = g_array_new(FALSE, FALSE, sizeof(struct net_hostfwd));
	pthread_mutex_lock(&sb->lock);
	g_array_append_vals(list, sb->hostfwds->data, sb->hostfwds->len);
	pthread_mutex_unlock(&sb->lock);
	return list;
}
