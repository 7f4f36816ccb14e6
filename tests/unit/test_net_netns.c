/*
 * The tap and host-only network backends (see test_net.c), as root, each test in a network
 * namespace of its own: a real bridge, taps and dnsmasq. Skipped where that is not possible.
 */
#include <arpa/inet.h>
#include <glib.h>
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

#include "net/hostonly.h"
#include "net/net.h"
#include "net/tap.h"
#include "net_util.h"

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
	GBytes *offer = NULL;
	/* sent again every 2 s, as DHCP clients do: a tap that has just joined the bridge (on a
	 * loaded machine) may drop the first frame */
	for (int tries = 0; tries < 10 && !offer; tries++) {
		g_assert_cmpint(rig_send(r, f, dhcp_discover(f, mac, xid)), ==, 0);
		offer = wait_frame(r->ctx, &r->nic, match_offer, &xid, 2);
	}
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

int main(int argc, char **argv)
{
	/* network definitions and runtime state go to a scratch directory, set before GLib
	 * reads (and caches) the XDG variables */
	g_autofree char *base = scratch_xdg_dirs();
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/net/tap/bridged", test_tap_bridged);
	g_test_add_func("/net/hostonly/backend", test_hostonly_backend);
	int ret = g_test_run();
	remove_tree(base);
	return ret;
}
