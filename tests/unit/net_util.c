/* What the network test programs share (net_util.h). */
#include "net_util.h"

#include <glib/gstdio.h>
#include <string.h>

const uint8_t mac1[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
const uint8_t mac2[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x57 };
const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

/* ---- building and reading frames ---- */

void put16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, v >> 16);
	put16(p + 2, (uint16_t)v);
}

uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

uint32_t get32(const uint8_t *p)
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

size_t eth(uint8_t *f, const uint8_t *dst, const uint8_t *src, uint16_t type)
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

size_t dhcp_discover(uint8_t *f, const uint8_t *mac, uint32_t xid)
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

size_t icmp_echo(uint8_t *f, const uint8_t *dst_mac, uint32_t dst, uint16_t seq)
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
bool ipv4_valid(const uint8_t *f, size_t len, uint8_t proto)
{
	if (len < 34 || get16(f + 12) != ETH_IP || f[14] != 0x45 || f[23] != proto ||
	    csum(f + 14, 20, 0) != 0 || get16(f + 16) + 14u > len)
		return false;
	size_t plen = get16(f + 16) - 20u;
	if (proto == 17 && get16(f + 40))
		return csum(f + 34, plen, pseudo_sum(f + 14, plen)) == 0;
	return proto != 1 || csum(f + 34, plen, 0) == 0;
}

const uint8_t *dhcp_option(const uint8_t *b, size_t len, uint8_t code, uint8_t *olen)
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

/* The DHCP message of type TYPE answering XID in F, or NULL. */
const uint8_t *dhcp_reply(const uint8_t *f, size_t len, uint32_t xid, uint8_t type)
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

static bool nicrec_receive(void *opaque, const uint8_t *frame, size_t len)
{
	struct nicrec *n = opaque;
	if (n->refuse)
		return false;
	g_ptr_array_add(n->frames, g_bytes_new(frame, len));
	return true;
}

static const struct net_nic_ops nicrec_ops = { .receive = nicrec_receive };

/* Runs CTX until a frame N received matches, for at most SECONDS. */
GBytes *wait_frame(GMainContext *ctx, struct nicrec *n, frame_match m, const void *arg,
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

void rig_open(struct rig *r, struct net_backend *(*make)(void *ctx, void *arg), void *arg)
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

void rig_close(struct rig *r)
{
	net_port_free(r->port);
	g_ptr_array_unref(r->nic.frames);
	while (g_main_context_iteration(r->ctx, FALSE))
		;
	g_main_context_unref(r->ctx);
}

int rig_send(struct rig *r, const uint8_t *f, size_t len)
{
	g_ptr_array_set_size(r->nic.frames, 0);
	/* two parts, as a NIC sends a header and a payload descriptor */
	struct iovec iov[2] = { { (void *)f, 14 }, { (void *)(f + 14), len - 14 } };
	return net_port_send(r->port, iov, 2);
}

/* ---- DHCP and ARP ---- */

bool match_offer(const uint8_t *f, size_t len, const void *xid)
{
	return dhcp_reply(f, len, *(const uint32_t *)xid, 2) != NULL;
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
const uint8_t *arp(struct rig *r, uint32_t sip, uint32_t ip, const uint8_t *want_sha)
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

/* ---- a scratch directory ---- */

char *scratch_xdg_dirs(void)
{
	char *base = g_dir_make_tmp("pcvm-test-net-XXXXXX", NULL);
	g_assert_nonnull(base);
	g_autofree char *config = g_build_filename(base, "config", NULL);
	g_autofree char *run = g_build_filename(base, "run", NULL);
	g_setenv("XDG_CONFIG_HOME", config, TRUE);
	g_setenv("XDG_RUNTIME_DIR", run, TRUE);
	return base;
}

void remove_tree(const char *path)
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
