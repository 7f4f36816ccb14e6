/*
 * The NIC-backend port, the slirp backend (DHCP, ARP, ICMP and port forwards through real
 * libslirp on a private GMainContext), host-only definitions and `pcvm net`, and - as root, in
 * a network namespace of their own - the tap and host-only backends with a real bridge and
 * dnsmasq. Frames are built here byte by byte, checksums included.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <linux/capability.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli_net.h"
#include "net/hostonly.h"
#include "net/net.h"
#include "net/slirp.h"
#include "net/tap.h"

#define IP4(a, b, c, d) ((uint32_t)(a) << 24 | (b) << 16 | (c) << 8 | (d))
#define GUEST IP4(10, 0, 2, 15)
#define HOST IP4(10, 0, 2, 2)
#define ETH_IP 0x0800
#define ETH_ARP 0x0806
#define BOOTP 42 /* offset of the BOOTP message in a DHCP frame */

static const uint8_t mac1[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
static const uint8_t mac2[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x57 };
static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

/* ---- building and reading frames ---- */

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, v >> 16);
	put16(p + 2, (uint16_t)v);
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)get16(p) << 16 | get16(p + 2);
}

/* RFC 1071 sum; SUM carries a pseudo header in. */
static uint16_t csum(const uint8_t *p, size_t len, uint32_t sum)
{
	for (size_t i = 0; i + 1 < len; i += 2)
		sum += get16(p + i);
	if (len & 1)
		sum += p[len - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static size_t eth(uint8_t *f, const uint8_t *dst, const uint8_t *src, uint16_t type)
{
	memcpy(f, dst, 6);
	memcpy(f + 6, src, 6);
	put16(f + 12, type);
	return 14;
}

/* An IPv4 header at IP for LEN bytes of payload; returns the frame's total length. */
static size_t ipv4(uint8_t *ip, uint8_t proto, uint32_t src, uint32_t dst, size_t len)
{
	memset(ip, 0, 20);
	ip[0] = 0x45;
	put16(ip + 2, (uint16_t)(20 + len));
	put16(ip + 4, 0x1234);
	ip[8] = 64;
	ip[9] = proto;
	put32(ip + 12, src);
	put32(ip + 16, dst);
	put16(ip + 10, csum(ip, 20, 0));
	return 14 + 20 + len;
}

static uint32_t pseudo_sum(const uint8_t *ip, size_t len)
{
	return get16(ip + 12) + get16(ip + 14) + get16(ip + 16) + get16(ip + 18) + ip[9] +
	       (uint32_t)len;
}

static size_t udp(uint8_t *f, uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport,
		  size_t len)
{
	uint8_t *u = f + 34;
	put16(u, sport);
	put16(u + 2, dport);
	put16(u + 4, (uint16_t)(8 + len));
	put16(u + 6, 0);
	size_t total = ipv4(f + 14, 17, src, dst, 8 + len);
	put16(u + 6, csum(u, 8 + len, pseudo_sum(f + 14, 8 + len)));
	return total;
}

static size_t dhcp_discover(uint8_t *f, const uint8_t *mac, uint32_t xid)
{
	memset(f, 0, 600);
	eth(f, bcast, mac, ETH_IP);
	uint8_t *b = f + BOOTP;
	b[0] = 1; /* BOOTREQUEST */
	b[1] = 1;
	b[2] = 6;
	put32(b + 4, xid);
	put16(b + 10, 0x8000); /* broadcast the reply */
	memcpy(b + 28, mac, 6);
	put32(b + 236, 0x63825363);
	static const uint8_t opts[] = { 53, 1, 1, 55, 4, 1, 3, 6, 54, 255 };
	memcpy(b + 240, opts, sizeof(opts));
	return udp(f, 0, 0xffffffff, 68, 67, 300);
}

static size_t arp_request(uint8_t *f, const uint8_t *mac, uint32_t sip, uint32_t tip)
{
	memset(f, 0, 60);
	uint8_t *a = f + eth(f, bcast, mac, ETH_ARP);
	put16(a, 1);
	put16(a + 2, ETH_IP);
	a[4] = 6;
	a[5] = 4;
	put16(a + 6, 1);
	memcpy(a + 8, mac, 6);
	put32(a + 14, sip);
	put32(a + 24, tip);
	return 60;
}

static size_t icmp_echo(uint8_t *f, const uint8_t *dst_mac, uint32_t dst, uint16_t seq)
{
	uint8_t *icmp = f + 34;
	eth(f, dst_mac, mac1, ETH_IP);
	memset(icmp, 0, 40);
	icmp[0] = 8;
	put16(icmp + 4, 0xbeef);
	put16(icmp + 6, seq);
	memcpy(icmp + 8, "pcvm ping payload 0123456789abcdef", 32);
	put16(icmp + 2, csum(icmp, 40, 0));
	return ipv4(f + 14, 1, GUEST, dst, 40);
}

/* A valid IPv4 frame of protocol PROTO: header and (for UDP/ICMP) payload checksums hold. */
static bool ipv4_valid(const uint8_t *f, size_t len, uint8_t proto)
{
	if (len < 34 || get16(f + 12) != ETH_IP || f[14] != 0x45 || f[23] != proto ||
	    csum(f + 14, 20, 0) != 0 || get16(f + 16) + 14u > len)
		return false;
	size_t plen = get16(f + 16) - 20u;
	if (proto == 17 && get16(f + 40))
		return csum(f + 34, plen, pseudo_sum(f + 14, plen)) == 0;
	return proto != 1 || csum(f + 34, plen, 0) == 0;
}

/* The DHCP message of type TYPE answering XID in F, or NULL. */
static const uint8_t *dhcp_reply(const uint8_t *f, size_t len, uint32_t xid, uint8_t type);

static const uint8_t *dhcp_option(const uint8_t *b, size_t len, uint8_t code, uint8_t *olen)
{
	for (size_t i = 240; i + 1 < len && b[i] != 255;) {
		if (b[i] == 0) {
			i++;
			continue;
		}
		if (i + 2 + b[i + 1] > len)
			return NULL;
		if (b[i] == code) {
			*olen = b[i + 1];
			return b + i + 2;
		}
		i += 2 + b[i + 1];
	}
	return NULL;
}

static const uint8_t *dhcp_reply(const uint8_t *f, size_t len, uint32_t xid, uint8_t type)
{
	if (!ipv4_valid(f, len, 17) || get16(f + 34) != 67 || get16(f + 36) != 68)
		return NULL;
	const uint8_t *b = f + BOOTP;
	uint8_t olen;
	const uint8_t *t = dhcp_option(b, len - BOOTP, 53, &olen);
	if (len < BOOTP + 241 || b[0] != 2 || get32(b + 4) != xid ||
	    get32(b + 236) != 0x63825363 || !t || olen != 1 || *t != type)
		return NULL;
	return b;
}

/* ---- a NIC that records what it gets ---- */

struct nicrec {
	GPtrArray *frames; /* GBytes */
	bool refuse;
};

static bool nicrec_receive(void *opaque, const uint8_t *frame, size_t len)
{
	struct nicrec *n = opaque;
	if (n->refuse)
		return false;
	g_ptr_array_add(n->frames, g_bytes_new(frame, len));
	return true;
}

static const struct net_nic_ops nicrec_ops = { .receive = nicrec_receive };

typedef bool (*frame_match)(const uint8_t *f, size_t len, const void *arg);

/* Runs CTX until a frame N received matches, for at most SECONDS. */
static GBytes *wait_frame(GMainContext *ctx, struct nicrec *n, frame_match m, const void *arg,
			  int seconds)
{
	gint64 end = g_get_monotonic_time() + seconds * G_USEC_PER_SEC;
	for (guint seen = 0;;) {
		for (; seen < n->frames->len; seen++) {
			gsize len;
			const uint8_t *f = g_bytes_get_data(n->frames->pdata[seen], &len);
			if (m(f, len, arg))
				return n->frames->pdata[seen];
		}
		if (g_get_monotonic_time() > end)
			return NULL;
		g_main_context_iteration(ctx, TRUE);
	}
}

static gboolean tick(gpointer data)
{
	return G_SOURCE_CONTINUE;
}

/* A port with a recording NIC and BE on a private context that wakes every 20 ms. */
struct rig {
	GMainContext *ctx;
	struct net_port *port;
	struct nicrec nic;
	struct net_backend *be;
};

static void rig_open(struct rig *r, struct net_backend *(*make)(void *ctx, void *arg), void *arg)
{
	memset(r, 0, sizeof(*r));
	r->ctx = g_main_context_new();
	GSource *t = g_timeout_source_new(20);
	g_source_set_callback(t, tick, NULL, NULL);
	g_source_attach(t, r->ctx);
	g_source_unref(t);
	r->port = net_port_new(r->ctx);
	r->nic.frames = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
	net_port_attach_nic(r->port, &nicrec_ops, &r->nic);
	if (make) {
		r->be = make(r->ctx, arg);
		g_assert_nonnull(r->be);
		net_port_attach_backend(r->port, r->be);
	}
}

static void rig_close(struct rig *r)
{
	net_port_free(r->port);
	g_ptr_array_unref(r->nic.frames);
	while (g_main_context_iteration(r->ctx, FALSE))
		;
	g_main_context_unref(r->ctx);
}

static int rig_send(struct rig *r, const uint8_t *f, size_t len)
{
	g_ptr_array_set_size(r->nic.frames, 0);
	/* two parts, as a NIC sends a header and a payload descriptor */
	struct iovec iov[2] = { { (void *)f, 14 }, { (void *)(f + 14), len - 14 } };
	return net_port_send(r->port, iov, 2);
}

/* ---- the port ---- */

struct fake_be {
	struct net_backend be;
	unsigned sends, resumes, frees;
	size_t last_len;
	int ret;
};

static int fake_send(struct net_backend *be, const struct iovec *iov, int iovcnt)
{
	struct fake_be *f = (struct fake_be *)be;
	f->sends++;
	f->last_len = 0;
	for (int i = 0; i < iovcnt; i++)
		f->last_len += iov[i].iov_len;
	return f->ret;
}

static void fake_resume(struct net_backend *be)
{
	((struct fake_be *)be)->resumes++;
}

static void fake_free(struct net_backend *be)
{
	((struct fake_be *)be)->frees++;
}

static const struct net_backend_ops fake_ops = { "fake", fake_send, fake_resume, fake_free };

static void test_port_send(void)
{
	struct rig r;
	rig_open(&r, NULL, NULL);
	uint8_t f[NET_MAX_FRAME + 1] = { 0 };
	struct iovec iov = { f, 60 };
	g_assert_cmpint(net_port_send(r.port, &iov, 1), ==, -ENOTCONN);
	struct fake_be fb = { .be.ops = &fake_ops };
	net_port_attach_backend(r.port, &fb.be);
	g_assert_cmpint(rig_send(&r, f, 60), ==, 0);
	g_assert_cmpuint(fb.last_len, ==, 60);
	iov.iov_len = NET_MIN_FRAME - 1;
	g_assert_cmpint(net_port_send(r.port, &iov, 1), ==, -EMSGSIZE);
	iov.iov_len = NET_MAX_FRAME + 1;
	g_assert_cmpint(net_port_send(r.port, &iov, 1), ==, -EMSGSIZE);
	iov.iov_len = NET_MAX_FRAME;
	g_assert_cmpint(net_port_send(r.port, &iov, 1), ==, 0);
	fb.ret = -EIO;
	g_assert_cmpint(rig_send(&r, f, 100), ==, -EIO);
	g_assert_cmpuint(fb.sends, ==, 3);
	struct net_port_stats s;
	net_port_get_stats(r.port, &s);
	g_assert_cmpuint(s.tx_frames, ==, 2);
	g_assert_cmpuint(s.tx_bytes, ==, 60 + NET_MAX_FRAME);
	g_assert_cmpuint(s.tx_dropped, ==, 4);
	rig_close(&r);
	g_assert_cmpuint(fb.frees, ==, 1);
}

static void test_port_deliver(void)
{
	struct rig r;
	rig_open(&r, NULL, NULL);
	struct fake_be fb = { .be.ops = &fake_ops };
	net_port_attach_backend(r.port, &fb.be);
	uint8_t f[64] = { 0 };
	r.nic.refuse = true;
	for (unsigned i = 0; i < NET_PORT_QUEUE; i++) {
		f[20] = (uint8_t)i;
		g_assert_true(net_port_deliver(r.port, f, sizeof(f)));
	}
	g_assert_false(net_port_deliver(r.port, f, sizeof(f))); /* full: dropped */
	g_assert_false(net_port_can_deliver(r.port));
	g_assert_false(net_port_deliver(r.port, f, NET_MIN_FRAME - 1));
	g_assert_cmpuint(net_port_flush(r.port), ==, 0); /* the NIC has no buffers */
	g_assert_cmpuint(fb.resumes, ==, 0);
	r.nic.refuse = false;
	net_port_nic_ready(r.port); /* the main loop offers them again, in order */
	while (r.nic.frames->len < NET_PORT_QUEUE)
		g_main_context_iteration(r.ctx, TRUE);
	for (unsigned i = 0; i < NET_PORT_QUEUE; i++)
		g_assert_cmpuint(((const uint8_t *)g_bytes_get_data(r.nic.frames->pdata[i],
								    NULL))[20],
				 ==, i & 0xff);
	g_assert_cmpuint(fb.resumes, ==, 1);
	g_assert_true(net_port_can_deliver(r.port));
	struct net_port_stats s;
	net_port_get_stats(r.port, &s);
	g_assert_cmpuint(s.rx_frames, ==, NET_PORT_QUEUE);
	g_assert_cmpuint(s.rx_bytes, ==, NET_PORT_QUEUE * sizeof(f));
	g_assert_cmpuint(s.rx_dropped, ==, 2);
	rig_close(&r);
}

/* ---- slirp ---- */

static struct net_backend *make_slirp(void *ctx, void *arg)
{
	struct slirp_backend_opts opts = { .boot_file = arg };
	char *error = NULL;
	struct net_backend *be = slirp_backend_new(&opts, ctx, &error);
	g_assert_no_errno(be ? 0 : -1);
	g_assert_null(error);
	return be;
}

static bool match_offer(const uint8_t *f, size_t len, const void *xid)
{
	return dhcp_reply(f, len, *(const uint32_t *)xid, 2) != NULL;
}

static void test_slirp_dhcp(void)
{
	struct rig r;
	rig_open(&r, make_slirp, "pxelinux.0");
	uint8_t f[600];
	uint32_t xid = 0x5043564d;
	g_assert_cmpint(rig_send(&r, f, dhcp_discover(f, mac1, xid)), ==, 0);
	GBytes *offer = wait_frame(r.ctx, &r.nic, match_offer, &xid, 10);
	g_assert_nonnull(offer);
	gsize len;
	const uint8_t *o = g_bytes_get_data(offer, &len);
	const uint8_t *b = dhcp_reply(o, len, xid, 2);
	g_assert_cmpmem(b + 28, 6, mac1, 6);	   /* chaddr */
	g_assert_cmphex(get32(b + 16), ==, GUEST); /* yiaddr */
	g_assert_cmpstr((const char *)b + 108, ==, "pxelinux.0");
	uint8_t olen;
	const uint8_t *router = dhcp_option(b, len - BOOTP, 3, &olen);
	g_assert_nonnull(router);
	g_assert_cmphex(get32(router), ==, HOST);
	const uint8_t *dns = dhcp_option(b, len - BOOTP, 6, &olen);
	g_assert_nonnull(dns);
	g_assert_cmphex(get32(dns), ==, IP4(10, 0, 2, 3));
	const uint8_t *mask = dhcp_option(b, len - BOOTP, 1, &olen);
	g_assert_nonnull(mask);
	g_assert_cmphex(get32(mask), ==, IP4(255, 255, 255, 0));
	rig_close(&r);
}

struct arp_want {
	uint32_t ip;
	const uint8_t *sha; /* NULL: any */
};

static bool match_arp_reply(const uint8_t *f, size_t len, const void *arg)
{
	const struct arp_want *w = arg;
	return len >= 42 && get16(f + 12) == ETH_ARP && get16(f + 20) == 2 &&
	       get32(f + 28) == w->ip && (!w->sha || !memcmp(f + 22, w->sha, 6));
}

/* Asks for IP's MAC through R; returns it (the reply's sender hardware address). */
static const uint8_t *arp(struct rig *r, uint32_t sip, uint32_t ip, const uint8_t *want_sha)
{
	uint8_t f[60];
	struct arp_want w = { ip, want_sha };
	GBytes *reply = NULL;
	/* asked again each second, as a host's stack does: a port that has just come up (a new
	 * tap on a bridge, on a loaded machine) may drop the first request */
	for (int tries = 0; tries < 10 && !reply; tries++) {
		g_assert_cmpint(rig_send(r, f, arp_request(f, mac1, sip, ip)), ==, 0);
		reply = wait_frame(r->ctx, &r->nic, match_arp_reply, &w, 1);
	}
	g_assert_nonnull(reply);
	const uint8_t *a = (const uint8_t *)g_bytes_get_data(reply, NULL) + 14;
	g_assert_cmpmem(a + 18, 6, mac1, 6); /* tha: us */
	g_assert_cmphex(get32(a + 24), ==, sip);
	return a + 8;
}

static bool match_echo_reply(const uint8_t *f, size_t len, const void *arg)
{
	return ipv4_valid(f, len, 1) && f[34] == 0 && get16(f + 38) == 0xbeef &&
	       get16(f + 40) == *(const uint16_t *)arg && get32(f + 26) == HOST &&
	       !memcmp(f + 42, "pcvm ping payload", 17);
}

static void test_slirp_arp_icmp(void)
{
	struct rig r;
	rig_open(&r, make_slirp, NULL);
	uint8_t host_mac[6];
	memcpy(host_mac, arp(&r, GUEST, HOST, NULL), 6);
	uint8_t f[100];
	uint16_t seq = 7;
	g_assert_cmpint(rig_send(&r, f, icmp_echo(f, host_mac, HOST, seq)), ==, 0);
	g_assert_nonnull(wait_frame(r.ctx, &r.nic, match_echo_reply, &seq, 10));
	rig_close(&r);
}

static void test_hostfwd_text(void)
{
	static const struct {
		const char *in, *out;
	} good[] = {
		{ "tcp:127.0.0.1:2222-:22", "tcp:127.0.0.1:2222-:22" },
		{ "tcp::2222-:22", "tcp:127.0.0.1:2222-:22" },
		{ ":8080-:80", "tcp:127.0.0.1:8080-:80" },
		{ "udp:0.0.0.0:5353-10.0.2.15:53", "udp:0.0.0.0:5353-:53" },
	};
	for (size_t i = 0; i < G_N_ELEMENTS(good); i++) {
		struct net_hostfwd f, back;
		char *error = NULL;
		g_assert_cmpint(net_hostfwd_parse(good[i].in, &f, &error), ==, 0);
		g_autofree char *text = net_hostfwd_format(&f);
		g_assert_cmpstr(text, ==, good[i].out);
		g_assert_cmpint(net_hostfwd_parse(text, &back, &error), ==, 0);
		g_assert_cmpmem(&f, sizeof(f), &back, sizeof(back));
	}
	static const char *const bad[] = {
		"tcp:127.0.0.1:2222", "tcp:127.0.0.1:0-:22", "tcp:127.0.0.1:65536-:22",
		"sctp:1.2.3.4:1-:2",  "tcp:localhost:22-:22", "tcp::22-10.0.2.16:22",
		"tcp::x-:22",	      "",			 "tcp::22-:",
	};
	for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
		struct net_hostfwd f;
		char *error = NULL;
		g_assert_cmpint(net_hostfwd_parse(bad[i], &f, &error), ==, -1);
		g_assert_nonnull(strstr(error, "port forward"));
		g_free(error);
	}
}

/* A TCP socket listening on 127.0.0.1 at a port the kernel picks. */
static int listen_any(uint16_t *port)
{
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);
	g_assert_no_errno(bind(s, (struct sockaddr *)&a, sizeof(a)));
	g_assert_no_errno(listen(s, 1));
	g_assert_no_errno(getsockname(s, (struct sockaddr *)&a, &alen));
	*port = ntohs(a.sin_port);
	return s;
}

static bool match_syn(const uint8_t *f, size_t len, const void *port)
{
	return len >= 54 && get16(f + 12) == ETH_IP && f[23] == 6 && get32(f + 30) == GUEST &&
	       get16(f + 36) == *(const uint16_t *)port && (f[47] & 0x12) == 0x02;
}

static void test_slirp_hostfwd(void)
{
	struct rig r;
	rig_open(&r, make_slirp, NULL);
	arp(&r, GUEST, HOST, NULL); /* slirp learns the guest's MAC */
	struct net_hostfwd fwd = { .host_addr = "127.0.0.1", .guest_port = 22 };
	char *error = NULL;
	int busy = listen_any(&fwd.host_port);
	g_assert_cmpint(slirp_backend_hostfwd_add(r.be, &fwd, &error), ==, -1);
	g_assert_nonnull(strstr(error, "in use"));
	g_clear_pointer(&error, g_free);
	close(busy); /* now the port is free: forward it while the "VM" runs */
	g_assert_cmpint(slirp_backend_hostfwd_add(r.be, &fwd, &error), ==, 0);
	g_assert_cmpint(slirp_backend_hostfwd_add(r.be, &fwd, &error), ==, -1);
	g_assert_nonnull(strstr(error, "already forwarded"));
	g_clear_pointer(&error, g_free);
	GArray *list = slirp_backend_hostfwd_list(r.be);
	g_assert_cmpuint(list->len, ==, 1);
	g_assert_cmpuint(g_array_index(list, struct net_hostfwd, 0).host_port, ==, fwd.host_port);
	g_array_unref(list);

	g_ptr_array_set_size(r.nic.frames, 0);
	int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_port = htons(fwd.host_port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	g_assert_no_errno(connect(c, (struct sockaddr *)&a, sizeof(a)));
	uint16_t gport = 22;
	g_assert_nonnull(wait_frame(r.ctx, &r.nic, match_syn, &gport, 10));
	close(c);

	g_assert_cmpint(slirp_backend_hostfwd_remove(r.be, &fwd, &error), ==, 0);
	g_assert_cmpint(slirp_backend_hostfwd_remove(r.be, &fwd, &error), ==, -1);
	g_assert_nonnull(strstr(error, "no port forward"));
	g_free(error);
	list = slirp_backend_hostfwd_list(r.be);
	g_assert_cmpuint(list->len, ==, 0);
	g_array_unref(list);
	rig_close(&r);
}

static void test_slirp_bad_opts(void)
{
	struct slirp_backend_opts opts = { .tftp_root = "/nonexistent/tftp" };
	char *error = NULL;
	g_assert_null(slirp_backend_new(&opts, NULL, &error));
	g_assert_nonnull(strstr(error, "not a directory"));
	g_free(error);
}

/* ---- host-only definitions and `pcvm net` (no privileges: only files) ---- */

static void create_ok(const char *name, const char *subnet, const char *bridge, const char *host,
		      const char *start, const char *end, struct hostonly_net *n)
{
	memset(n, 0, sizeof(*n));
	g_strlcpy(n->name, name, sizeof(n->name));
	g_strlcpy(n->subnet, subnet, sizeof(n->subnet));
	g_strlcpy(n->bridge, bridge, sizeof(n->bridge));
	g_strlcpy(n->host_address, host, sizeof(n->host_address));
	g_strlcpy(n->dhcp_start, start, sizeof(n->dhcp_start));
	g_strlcpy(n->dhcp_end, end, sizeof(n->dhcp_end));
	char *error = NULL;
	if (hostonly_net_create(n, &error) < 0)
		g_error("creating %s: %s", name, error);
	struct hostonly_net back;
	g_assert_cmpint(hostonly_net_load(name, &back, &error), ==, 0);
	g_assert_cmpmem(n, sizeof(*n), &back, sizeof(back));
}

static void test_hostonly_defs(void)
{
	/* 198.18.0.0/15 is for benchmarks: no test machine's interface should be on it */
	static const struct {
		const char *subnet, *bridge, *host, *start, *end;
	} want[] = {
		{ "198.18.56.0/24", "pcvm-defs1", "198.18.56.1", "198.18.56.100", "198.18.56.254" },
		{ "198.18.57.0/25", "pcvm-defs2", "198.18.57.1", "198.18.57.100", "198.18.57.126" },
		{ "198.18.57.128/28", "pcvm-defs3", "198.18.57.129", "198.18.57.130",
		  "198.18.57.142" },
	};
	struct hostonly_net n;
	for (size_t i = 0; i < G_N_ELEMENTS(want); i++) {
		g_autofree char *name = g_strdup_printf("defs%zu", i + 1);
		create_ok(name, want[i].subnet, "", "", "", "", &n);
		g_assert_cmpstr(n.bridge, ==, want[i].bridge);
		g_assert_cmpstr(n.host_address, ==, want[i].host);
		g_assert_cmpstr(n.dhcp_start, ==, want[i].start);
		g_assert_cmpstr(n.dhcp_end, ==, want[i].end);
		g_assert_cmpuint(n.users, ==, 0);
	}
	create_ok("defs4", "198.18.58.0/24", "hobr4", "198.18.58.254", "198.18.58.10",
		  "198.18.58.20", &n);

	static const struct {
		const char *name, *subnet, *bridge, *host, *start, *end, *why;
	} bad[] = {
		{ "defs1", "198.18.99.0/24", "", "", "", "", "exists already" },
		{ "ov", "198.18.56.128/25", "", "", "", "",
		  "overlaps network defs1's 198.18.56.0/24" },
		{ "bd", "198.18.90.0/24", "hobr4", "", "", "", "bridge hobr4 is network defs4's" },
		{ "bc", "198.18.60.0", "", "", "", "", "expected A.B.C.D/N" },
		{ "hb", "198.18.60.1/24", "", "", "", "", "did you mean 198.18.60.0/24" },
		{ "p31", "198.18.60.0/31", "", "", "", "", "8 to 30" },
		{ "ho", "198.18.61.0/24", "", "198.18.62.1", "", "", "not a host address" },
		{ "ro", "198.18.61.0/24", "", "", "198.18.61.200", "198.18.62.5", "not a range" },
		{ "rr", "198.18.61.0/24", "", "", "198.18.61.90", "198.18.61.80", "not a range" },
		{ "hr", "198.18.61.0/24", "", "198.18.61.150", "", "", "inside the DHCP range" },
		{ "averyverylongname", "198.18.61.0/24", "", "", "", "", "longer than 15" },
		{ "../evil", "198.18.61.0/24", "", "", "", "", "network name" },
		{ "lb", "198.18.61.0/24", "lo", "", "", "", "an interface named lo exists" },
		{ "bn", "198.18.61.0/24", "a/b", "", "", "", "bridge name 'a/b'" },
		{ "lo", "127.0.0.0/8", "", "", "", "",
		  "overlaps 127.0.0.1/8 on this host's interface lo" },
	};
	for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
		memset(&n, 0, sizeof(n));
		g_strlcpy(n.name, bad[i].name, sizeof(n.name));
		g_strlcpy(n.subnet, bad[i].subnet, sizeof(n.subnet));
		g_strlcpy(n.bridge, bad[i].bridge, sizeof(n.bridge));
		g_strlcpy(n.host_address, bad[i].host, sizeof(n.host_address));
		g_strlcpy(n.dhcp_start, bad[i].start, sizeof(n.dhcp_start));
		g_strlcpy(n.dhcp_end, bad[i].end, sizeof(n.dhcp_end));
		char *error = NULL;
		g_assert_cmpint(hostonly_net_create(&n, &error), ==, -1);
		if (!strstr(error, bad[i].why))
			g_error("%s: '%s' does not say '%s'", bad[i].name, error, bad[i].why);
		g_free(error);
	}

	char *error = NULL;
	GPtrArray *list = hostonly_net_list(&error);
	g_assert_cmpuint(list->len, ==, 4);
	for (guint i = 0; i < list->len; i++) {
		g_autofree char *name = g_strdup_printf("defs%u", i + 1);
		g_assert_cmpstr(((struct hostonly_net *)list->pdata[i])->name, ==, name);
		g_assert_cmpint(hostonly_net_remove(name, &error), ==, 0);
	}
	g_ptr_array_unref(list);
	g_assert_cmpint(hostonly_net_remove("defs1", &error), ==, -1);
	g_assert_nonnull(strstr(error, "no host-only network defs1"));
	g_clear_pointer(&error, g_free);
	g_assert_cmpint(hostonly_net_load("defs1", &n, &error), ==, -1);
	g_assert_nonnull(strstr(error, "pcvm net create defs1"));
	g_free(error);
	list = hostonly_net_list(&error);
	g_assert_cmpuint(list->len, ==, 0);
	g_ptr_array_unref(list);
}

/* cli_net with ARGS split at spaces. */
static int cli(const char *args)
{
	g_auto(GStrv) argv = g_strsplit(args, " ", -1);
	/* GOption shuffles the array it parses: hand it a copy, free the strings from ours */
	g_autofree char **copy = g_memdup2(argv, sizeof(char *) * (g_strv_length(argv) + 1));
	int ret = cli_net((int)g_strv_length(argv), copy);
	fflush(stdout);
	return ret;
}

static void test_cli_net(void)
{
	if (g_test_subprocess()) {
		g_assert_cmpint(cli("net list"), ==, 0);
		g_assert_cmpint(cli("net create clinet1 --subnet 198.18.70.0/24"), ==, 0);
		g_assert_cmpint(cli("net create clinet2 --subnet 198.18.71.0/24 --bridge clibr2 "
				    "--host-address 198.18.71.5 "
				    "--dhcp-range 198.18.71.10-198.18.71.20"),
				==, 0);
		g_assert_cmpint(cli("net list"), ==, 0);
		g_assert_cmpint(cli("net create clinet3 --subnet 198.18.70.0/25"), ==, 1);
		g_assert_cmpint(cli("net create clinet3"), ==, 1);
		g_assert_cmpint(cli("net create clinet3 --subnet 198.18.72.0/24 "
				    "--dhcp-range x"),
				==, 1);
		g_assert_cmpint(cli("net remove clinet1"), ==, 0);
		g_assert_cmpint(cli("net remove clinet1"), ==, 1);
		g_assert_cmpint(cli("net frobnicate"), ==, 1);
		return;
	}
	g_test_trap_subprocess(NULL, 30 * G_USEC_PER_SEC, 0);
	g_test_trap_assert_passed();
	g_test_trap_assert_stdout("no host-only networks*created network clinet1*"
				  "NAME*BRIDGE*SUBNET*HOST ADDRESS*DHCP RANGE*IN USE BY*\n"
				  "clinet1*pcvm-clinet1*198.18.70.0/24*198.18.70.1 *"
				  "198.18.70.100-198.18.70.254*0 VMs\n"
				  "clinet2*clibr2*198.18.71.0/24*198.18.71.5 *"
				  "198.18.71.10-198.18.71.20*0 VMs\n"
				  "removed network clinet1\n");
	g_test_trap_assert_stderr("*overlaps network clinet1's*usage: pcvm net create*"
				  "--dhcp-range 'x'*no host-only network clinet1*usage*");
}

/* ---- tap and host-only: root, in a network namespace of the test's own ---- */

/* Why this process cannot have a network namespace of its own, or NULL. */
static const char *netns_unavailable(void)
{
	if (geteuid() != 0)
		return "needs root for a network namespace, bridges and taps";
	if (access("/dev/net/tun", R_OK | W_OK) < 0)
		return "no usable /dev/net/tun";
	pid_t pid = fork();
	if (pid == 0)
		_exit(unshare(CLONE_NEWNET) == 0 ? 0 : 1);
	int status = 0;
	waitpid(pid, &status, 0);
	if (!WIFEXITED(status) || WEXITSTATUS(status))
		return "unshare(CLONE_NEWNET) is not permitted here";
	return NULL;
}

/* In the parent: runs this test again in a subprocess (or skips) and returns false. In the
 * subprocess: moves it into a fresh network namespace and returns true. Nothing the test does
 * can touch the machine's own interfaces. */
static bool in_netns(void)
{
	if (g_test_subprocess()) {
		g_assert_no_errno(unshare(CLONE_NEWNET));
		return true;
	}
	const char *why = netns_unavailable();
	if (why) {
		g_test_skip(why);
		return false;
	}
	g_test_trap_subprocess(NULL, 120 * G_USEC_PER_SEC, G_TEST_SUBPROCESS_INHERIT_STDERR);
	g_test_trap_assert_passed();
	return false;
}

static void sh(const char *cmd)
{
	int status = 0;
	g_autoptr(GError) err = NULL;
	g_assert_true(g_spawn_command_line_sync(cmd, NULL, NULL, &status, &err));
	g_assert_no_error(err);
	if (!g_spawn_check_wait_status(status, NULL))
		g_error("'%s' failed", cmd);
}

/* By ioctl: /sys/class/net shows the namespace sysfs was mounted in, not this one. */
static void read_mac(const char *ifname, uint8_t mac[6])
{
	struct ifreq ifr = { 0 };
	g_strlcpy(ifr.ifr_name, ifname, IFNAMSIZ);
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	g_assert_no_errno(ioctl(s, SIOCGIFHWADDR, &ifr));
	close(s);
	memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
}

static struct net_backend *make_tap(void *ctx, void *arg)
{
	const char *const *a = arg;
	char *error = NULL;
	struct net_backend *be = tap_backend_new(a[0], a[1], ctx, &error);
	if (!be)
		g_error("tap_backend_new: %s", error);
	return be;
}

static void tap_refused(const char *tap, const char *bridge, const char *why)
{
	char *error = NULL;
	g_assert_null(tap_backend_new(tap, bridge, NULL, &error));
	if (!strstr(error, why))
		g_error("'%s' does not say '%s'", error, why);
	g_free(error);
}

static void drop_cap_net_admin(void)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2];
	g_assert_no_errno((int)syscall(SYS_capget, &h, d));
	d[CAP_NET_ADMIN / 32].effective &= ~(1u << (CAP_NET_ADMIN % 32));
	g_assert_no_errno((int)syscall(SYS_capset, &h, d));
}

static unsigned count_seq(struct nicrec *n, unsigned *out_of_order)
{
	unsigned count = 0;
	for (guint i = 0; i < n->frames->len; i++) {
		gsize len;
		const uint8_t *f = g_bytes_get_data(n->frames->pdata[i], &len);
		if (len < 16 || get16(f + 12) != 0x88b5)
			continue;
		*out_of_order += get16(f + 14) != count;
		count++;
	}
	return count;
}

/* 300 frames from the bridge while the NIC takes none: the tap stops reading when the port's
 * queue is full and resumes when it drains, so nothing is dropped and the order holds. */
static void tap_backpressure(struct rig *r, const uint8_t *peer)
{
	enum { N = 300 };
	g_ptr_array_set_size(r->nic.frames, 0);
	r->nic.refuse = true;
	int s = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
	g_assert_no_errno(s);
	struct sockaddr_ll to = { .sll_family = AF_PACKET,
				  .sll_ifindex = (int)if_nametoindex("tveth0"),
				  .sll_halen = 6 };
	memcpy(to.sll_addr, bcast, 6);
	for (unsigned i = 0; i < N; i++) {
		uint8_t f[60] = { 0 };
		eth(f, bcast, peer, 0x88b5);
		put16(f + 14, (uint16_t)i);
		g_assert_cmpint(sendto(s, f, sizeof(f), 0, (struct sockaddr *)&to, sizeof(to)), ==,
				sizeof(f));
	}
	close(s);
	gint64 end = g_get_monotonic_time() + G_USEC_PER_SEC / 2;
	while (g_get_monotonic_time() < end)
		g_main_context_iteration(r->ctx, TRUE);
	g_assert_cmpuint(r->nic.frames->len, ==, 0);
	struct net_port_stats st;
	net_port_get_stats(r->port, &st);
	g_assert_cmpuint(st.rx_dropped, ==, 0);

	r->nic.refuse = false;
	net_port_nic_ready(r->port);
	unsigned out_of_order = 0;
	end = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
	while (count_seq(&r->nic, &out_of_order) < N && g_get_monotonic_time() < end) {
		out_of_order = 0;
		g_main_context_iteration(r->ctx, TRUE);
	}
	out_of_order = 0;
	g_assert_cmpuint(count_seq(&r->nic, &out_of_order), ==, N);
	g_assert_cmpuint(out_of_order, ==, 0);
	net_port_get_stats(r->port, &st);
	g_assert_cmpuint(st.rx_dropped, ==, 0);
}

static void test_tap_bridged(void)
{
	if (!in_netns())
		return;
	char *error = NULL;
	g_assert_cmpint(netif_bridge_create("tbr0", &error), ==, 0);
	g_assert_cmpint(netif_set_up("tbr0", true, &error), ==, 0);
	sh("ip link add tveth0 type veth peer name tveth1");
	g_assert_cmpint(netif_bridge_attach("tbr0", "tveth1", &error), ==, 0);
	sh("ip link set tveth1 up");
	sh("ip addr add 192.0.2.1/24 dev tveth0");
	sh("ip link set tveth0 up");
	uint8_t peer[6];
	read_mac("tveth0", peer);

	/* a tap of our own: attached, answered across the bridge, gone when freed */
	struct rig r;
	const char *fresh[] = { NULL, "tbr0" };
	rig_open(&r, make_tap, fresh);
	char name[IFNAMSIZ];
	g_strlcpy(name, tap_backend_ifname(r.be), sizeof(name));
	g_assert_true(g_str_has_prefix(name, "pcvmtap"));
	g_autofree char *master = netif_master(name);
	g_assert_cmpstr(master, ==, "tbr0");
	arp(&r, IP4(192, 0, 2, 2), IP4(192, 0, 2, 1), peer);
	tap_backpressure(&r, peer);
	rig_close(&r);
	g_assert_cmpuint(if_nametoindex(name), ==, 0);

	/* taps the administrator prepared for this user: used, then left in place */
	sh("ip tuntap add dev ptap0 mode tap user root");
	sh("ip tuntap add dev ptap1 mode tap user root");
	sh("ip tuntap add dev ptap2 mode tap user 4242");
	const char *prepared[] = { "ptap0", "tbr0" };
	rig_open(&r, make_tap, (void *)prepared);
	arp(&r, IP4(192, 0, 2, 3), IP4(192, 0, 2, 1), peer);
	rig_close(&r);
	g_assert_cmpuint(if_nametoindex("ptap0"), !=, 0);

	tap_refused(NULL, "nobr0", "bridge nobr0: no such device");
	tap_refused(NULL, "tveth0", "tveth0 is not a bridge");
	tap_refused("tbr0", NULL, "tbr0 exists and is not a tap device");
	tap_refused("much-too-long-name", NULL, "1 to 15 characters");
	g_assert_cmpint(netif_bridge_create("tbr1", &error), ==, 0);
	tap_refused("ptap0", "tbr1", "ptap0 is attached to bridge tbr0, not tbr1");

	/* without CAP_NET_ADMIN: only a prepared tap, attached and up already */
	drop_cap_net_admin();
	tap_refused(NULL, NULL, "creating a tap device needs CAP_NET_ADMIN");
	tap_refused("ptap1", "tbr0", "attaching ptap1 to bridge tbr0 needs CAP_NET_ADMIN");
	tap_refused("ptap1", NULL, "bringing up ptap1 needs CAP_NET_ADMIN");
	tap_refused("ptap2", NULL, "tap ptap2: permission denied: it belongs to another user");
	rig_open(&r, make_tap, (void *)prepared);
	arp(&r, IP4(192, 0, 2, 3), IP4(192, 0, 2, 1), peer);
	rig_close(&r);
}

static struct net_backend *make_hostonly(void *ctx, void *name)
{
	char *error = NULL;
	struct net_backend *be = hostonly_backend_new(name, ctx, &error);
	if (!be)
		g_error("hostonly_backend_new: %s", error);
	return be;
}

/* DHCP through R from MAC: dnsmasq offers an address in the range, names the host as its
 * server and gives no router. */
static uint32_t dnsmasq_offer(struct rig *r, const uint8_t *mac, uint32_t xid)
{
	uint8_t f[600];
	g_assert_cmpint(rig_send(r, f, dhcp_discover(f, mac, xid)), ==, 0);
	GBytes *offer = wait_frame(r->ctx, &r->nic, match_offer, &xid, 20);
	g_assert_nonnull(offer);
	gsize len;
	const uint8_t *b = dhcp_reply(g_bytes_get_data(offer, &len), len, xid, 2);
	uint8_t olen = 0;
	const uint8_t *server = dhcp_option(b, len - BOOTP, 54, &olen);
	g_assert_nonnull(server);
	g_assert_cmphex(get32(server), ==, IP4(198, 18, 100, 1));
	g_assert_true(!dhcp_option(b, len - BOOTP, 3, &olen) || olen == 0);
	g_assert_cmpmem(b + 28, 6, mac, 6);
	uint32_t yiaddr = get32(b + 16);
	g_assert_cmphex(yiaddr, >=, IP4(198, 18, 100, 100));
	g_assert_cmphex(yiaddr, <=, IP4(198, 18, 100, 254));
	return yiaddr;
}

static bool match_hello(const uint8_t *f, size_t len, const void *arg)
{
	return len >= 30 && get16(f + 12) == 0x88b5 && !memcmp(f + 14, "hello, tap 2", 12);
}

static void assert_host_address(const char *bridge, uint32_t want)
{
	struct ifreq ifr = { 0 };
	g_strlcpy(ifr.ifr_name, bridge, IFNAMSIZ);
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	g_assert_no_errno(ioctl(s, SIOCGIFADDR, &ifr));
	close(s);
	g_assert_cmphex(ntohl(((struct sockaddr_in *)&ifr.ifr_addr)->sin_addr.s_addr), ==, want);
}

static long dnsmasq_pid(void)
{
	g_autofree char *path = g_build_filename(g_get_user_runtime_dir(), "pcvm", "networks",
						 "ho1", "dnsmasq.pid", NULL);
	g_autofree char *text = NULL;
	g_assert_true(g_file_get_contents(path, &text, NULL, NULL));
	return strtol(text, NULL, 10);
}

/* Alive and not a zombie. */
static bool process_alive(long pid)
{
	g_autofree char *path = g_strdup_printf("/proc/%ld/stat", pid);
	g_autofree char *text = NULL;
	if (!g_file_get_contents(path, &text, NULL, NULL))
		return false;
	const char *p = strrchr(text, ')');
	return p && p[2] != 'Z' && p[2] != 'X';
}

/* A VM on network ho1 killed with -9: its record stays behind with a dead PID. */
static void join_and_die(void)
{
	int p[2];
	g_assert_no_errno(pipe(p));
	pid_t pid = fork();
	if (pid == 0) {
		char *error = NULL;
		char ok = hostonly_backend_new("ho1", NULL, &error) ? 'y' : 'n';
		if (write(p[1], &ok, 1) != 1 || ok != 'y')
			_exit(1);
		pause();
		_exit(0);
	}
	char ok = 0;
	g_assert_cmpint(read(p[0], &ok, 1), ==, 1);
	g_assert_cmpint(ok, ==, 'y');
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	close(p[0]);
	close(p[1]);
}

static void test_hostonly_backend(void)
{
	g_autofree char *dnsmasq = g_find_program_in_path("dnsmasq");
	if (!dnsmasq && !g_file_test("/usr/sbin/dnsmasq", G_FILE_TEST_IS_EXECUTABLE)) {
		g_test_skip("no dnsmasq (Debian package dnsmasq-base)");
		return;
	}
	if (!in_netns())
		return;
	struct hostonly_net n = { .name = "ho1", .subnet = "198.18.100.0/24" };
	char *error = NULL;
	g_assert_cmpint(hostonly_net_create(&n, &error), ==, 0);
	struct rig r1, r2;
	rig_open(&r1, make_hostonly, "ho1");
	rig_open(&r2, make_hostonly, "ho1");
	g_assert_cmpstr(r1.be->ops->name, ==, "hostonly");
	assert_host_address("pcvm-ho1", IP4(198, 18, 100, 1));
	g_assert_cmpint(hostonly_net_load("ho1", &n, &error), ==, 0);
	g_assert_cmpuint(n.users, ==, 1); /* two NICs, one VM process */

	uint32_t a1 = dnsmasq_offer(&r1, mac1, 0x1001), a2 = dnsmasq_offer(&r2, mac2, 0x1002);
	g_assert_cmphex(a1, !=, a2);
	uint8_t f[60] = { 0 };
	eth(f, mac2, mac1, 0x88b5);
	memcpy(f + 14, "hello, tap 2", 12);
	g_assert_cmpint(rig_send(&r1, f, sizeof(f)), ==, 0);
	g_assert_nonnull(wait_frame(r2.ctx, &r2.nic, match_hello, NULL, 10));

	g_assert_cmpint(hostonly_net_remove("ho1", &error), ==, -1);
	g_assert_nonnull(strstr(error, "in use by 1 VM"));
	g_clear_pointer(&error, g_free);
	long pid = dnsmasq_pid();
	g_assert_true(process_alive(pid));
	rig_close(&r1);
	g_assert_cmpuint(if_nametoindex("pcvm-ho1"), !=, 0);
	g_assert_true(process_alive(pid));
	rig_close(&r2); /* the last one out takes the network down */
	g_assert_cmpuint(if_nametoindex("pcvm-ho1"), ==, 0);
	g_assert_false(process_alive(pid));

	join_and_die();
	g_assert_cmpuint(if_nametoindex("pcvm-ho1"), !=, 0);
	pid = dnsmasq_pid();
	g_assert_cmpint(hostonly_net_load("ho1", &n, &error), ==, 0);
	g_assert_cmpuint(n.users, ==, 0);
	rig_open(&r1, make_hostonly, "ho1"); /* prunes the dead VM, starts afresh */
	g_assert_false(process_alive(pid));
	dnsmasq_offer(&r1, mac1, 0x1003);
	rig_close(&r1);
	g_assert_cmpuint(if_nametoindex("pcvm-ho1"), ==, 0);
	g_assert_cmpint(hostonly_net_remove("ho1", &error), ==, 0);

	drop_cap_net_admin();
	g_assert_cmpint(hostonly_net_create(&n, &error), ==, 0);
	g_assert_null(hostonly_backend_new("ho1", NULL, &error));
	g_assert_nonnull(strstr(error, "creating bridge pcvm-ho1 needs CAP_NET_ADMIN"));
	g_free(error);
	g_assert_cmpuint(if_nametoindex("pcvm-ho1"), ==, 0);
}

static void remove_tree(const char *path)
{
	g_autoptr(GDir) d = g_dir_open(path, 0, NULL);
	for (const char *e; d && (e = g_dir_read_name(d));) {
		g_autofree char *child = g_build_filename(path, e, NULL);
		if (g_file_test(child, G_FILE_TEST_IS_DIR) &&
		    !g_file_test(child, G_FILE_TEST_IS_SYMLINK))
			remove_tree(child);
		else
			g_unlink(child);
	}
	g_rmdir(path);
}

int main(int argc, char **argv)
{
	/* network definitions and runtime state go to a scratch directory, set before GLib
	 * reads (and caches) the XDG variables */
	g_autofree char *base = g_dir_make_tmp("pcvm-test-net-XXXXXX", NULL);
	g_assert_nonnull(base);
	g_autofree char *config = g_build_filename(base, "config", NULL);
	g_autofree char *run = g_build_filename(base, "run", NULL);
	g_setenv("XDG_CONFIG_HOME", config, TRUE);
	g_setenv("XDG_RUNTIME_DIR", run, TRUE);
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/net/port/send", test_port_send);
	g_test_add_func("/net/port/deliver", test_port_deliver);
	g_test_add_func("/net/slirp/dhcp", test_slirp_dhcp);
	g_test_add_func("/net/slirp/arp-icmp", test_slirp_arp_icmp);
	g_test_add_func("/net/slirp/hostfwd-text", test_hostfwd_text);
	g_test_add_func("/net/slirp/hostfwd", test_slirp_hostfwd);
	g_test_add_func("/net/slirp/bad-opts", test_slirp_bad_opts);
	g_test_add_func("/net/hostonly/definitions", test_hostonly_defs);
	g_test_add_func("/net/hostonly/cli", test_cli_net);
	g_test_add_func("/net/tap/bridged", test_tap_bridged);
	g_test_add_func("/net/hostonly/backend", test_hostonly_backend);
	int ret = g_test_run();
	remove_tree(base);
	return ret;
}
