/*
 * The NIC-backend port, the slirp backend (DHCP, ARP, ICMP and port forwards through real
 * libslirp on a private GMainContext), host-only definitions and `pcvm net`, and - as root, in
 * a network namespace of their own - the tap and host-only backends with a real bridge and
 * dnsmasq. Frames are built here byte by byte, checksums included.
 *
 * This program: the port, slirp, host-only definitions and `pcvm net`; test_net_netns.c holds
 * the tap and host-only backends (root); what they share is in net_util.c.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <glib.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cli_net.h"
#include "net/hostonly.h"
#include "net/net.h"
#include "net/slirp.h"
#include "net_util.h"

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

int main(int argc, char **argv)
{
	/* network definitions and runtime state go to a scratch directory, set before GLib
	 * reads (and caches) the XDG variables */
	g_autofree char *base = scratch_xdg_dirs();
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
	int ret = g_test_run();
	remove_tree(base);
	return ret;
}
