/*
 * Host-only networks: definitions (GKeyFile), the shared runtime state of a running network
 * (bridge, dnsmasq, one record per user) and the backend, a tap on the network's bridge.
 * Everything that changes a network's runtime state holds an exclusive flock on its lock file.
 */
#include "net/hostonly.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "net/tap.h"

#define GROUP "network"

/* A definition's addresses in host byte order. */
struct hostonly_addrs {
	uint32_t net, mask, host, start, end;
	unsigned prefix;
};

/* One VM NIC on a network: what its backend needs to leave. */
struct hostonly_user {
	char *rundir;
	char *record;
};

/* ---- addresses ---- */

static uint32_t mask_of(unsigned prefix)
{
	return prefix ? ~0u << (32 - prefix) : 0;
}

static int ip_parse(const char *text, uint32_t *out)
{
	struct in_addr a;
	if (inet_pton(AF_INET, text, &a) != 1)
		return -1;
	*out = ntohl(a.s_addr);
	return 0;
}

static void ip_text(uint32_t addr, char out[INET_ADDRSTRLEN])
{
	struct in_addr a = { htonl(addr) };
	inet_ntop(AF_INET, &a, out, INET_ADDRSTRLEN);
}

static bool subnets_overlap(uint32_t n1, unsigned p1, uint32_t n2, unsigned p2)
{
	uint32_t m = mask_of(MIN(p1, p2));
	return (n1 & m) == (n2 & m);
}

int hostonly_parse_cidr(const char *text, struct in_addr *net, unsigned *prefix_len,
			char **error)
{
	const char *slash = strchr(text, '/');
	g_autofree char *ip = slash ? g_strndup(text, slash - text) : NULL;
	guint64 prefix;
	uint32_t addr;
	if (!slash || ip_parse(ip, &addr) < 0 ||
	    !g_ascii_string_to_unsigned(slash + 1, 10, 8, 30, &prefix, NULL)) {
		*error = g_strdup_printf("subnet '%s': expected A.B.C.D/N with N from 8 to 30, "
					 "e.g. 192.168.56.0/24",
					 text);
		return -1;
	}
	if (addr & ~mask_of((unsigned)prefix)) {
		char fixed[INET_ADDRSTRLEN];
		ip_text(addr & mask_of((unsigned)prefix), fixed);
		*error = g_strdup_printf("subnet '%s': not a network address (did you mean %s/%u?)",
					 text, fixed, (unsigned)prefix);
		return -1;
	}
	net->s_addr = htonl(addr);
	*prefix_len = (unsigned)prefix;
	return 0;
}

/* ---- validating a definition ---- */

static bool valid_name(const char *name)
{
	size_t len = strlen(name);
	if (!len || len > HOSTONLY_NAME_MAX || !g_ascii_isalnum(name[0]))
		return false;
	for (size_t i = 0; i < len; i++)
		if (!g_ascii_isalnum(name[i]) && name[i] != '-' && name[i] != '_')
			return false;
	return true;
}

static bool valid_ifname(const char *name)
{
	size_t len = strlen(name);
	if (!len || len >= IFNAMSIZ || !strcmp(name, ".") || !strcmp(name, ".."))
		return false;
	for (size_t i = 0; i < len; i++)
		if (!g_ascii_isalnum(name[i]) && !strchr("-_.", name[i]))
			return false;
	return true;
}

static int name_check(const char *name, char **error)
{
	if (valid_name(name))
		return 0;
	*error = g_strdup_printf("network name '%s': 1 to %d letters, digits, '-' or '_', "
				 "starting with a letter or digit",
				 name, HOSTONLY_NAME_MAX);
	return -1;
}

static int bridge_resolve(struct hostonly_net *n, char **error)
{
	if (!*n->bridge && strlen(n->name) + 5 >= IFNAMSIZ) {
		*error = g_strdup_printf("bridge name pcvm-%s would be longer than %d characters: "
					 "name one with --bridge",
					 n->name, IFNAMSIZ - 1);
		return -1;
	}
	if (!*n->bridge)
		snprintf(n->bridge, sizeof(n->bridge), "pcvm-%s", n->name);
	if (valid_ifname(n->bridge))
		return 0;
	*error = g_strdup_printf("bridge name '%s': 1 to %d letters, digits, '-', '_' or '.'",
				 n->bridge, IFNAMSIZ - 1);
	return -1;
}

/* Default DHCP range: .100 to the last address, or all of a smaller subnet; never the host. */
static void dhcp_default(struct hostonly_addrs *a, uint32_t first, uint32_t last)
{
	a->start = last - first >= 100 ? a->net + 100 : first;
	a->end = last;
	if (a->host == a->start)
		a->start++;
	else if (a->host == a->end)
		a->end--;
}

static int addrs_resolve(struct hostonly_net *n, struct hostonly_addrs *a, char **error)
{
	struct in_addr net;
	if (hostonly_parse_cidr(n->subnet, &net, &a->prefix, error) < 0)
		return -1;
	a->net = ntohl(net.s_addr);
	a->mask = mask_of(a->prefix);
	uint32_t first = a->net + 1, last = (a->net | ~a->mask) - 1;
	if (!*n->host_address)
		a->host = first;
	else if (ip_parse(n->host_address, &a->host) < 0 || a->host < first || a->host > last) {
		*error = g_strdup_printf("host address '%s': not a host address in %s",
					 n->host_address, n->subnet);
		return -1;
	}
	if (!*n->dhcp_start && !*n->dhcp_end)
		dhcp_default(a, first, last);
	else if (ip_parse(n->dhcp_start, &a->start) < 0 || ip_parse(n->dhcp_end, &a->end) < 0 ||
		 a->start < first || a->end > last || a->start > a->end) {
		*error = g_strdup_printf("DHCP range '%s-%s': not a range of host addresses in %s",
					 n->dhcp_start, n->dhcp_end, n->subnet);
		return -1;
	}
	ip_text(a->host, n->host_address);
	ip_text(a->start, n->dhcp_start);
	ip_text(a->end, n->dhcp_end);
	if (a->host >= a->start && a->host <= a->end) {
		*error = g_strdup_printf("host address %s is inside the DHCP range %s-%s",
					 n->host_address, n->dhcp_start, n->dhcp_end);
		return -1;
	}
	return 0;
}

/* Checks N and fills in its defaults; A gets its addresses. */
static int hostonly_resolve(struct hostonly_net *n, struct hostonly_addrs *a, char **error)
{
	if (name_check(n->name, error) < 0 || bridge_resolve(n, error) < 0)
		return -1;
	return addrs_resolve(n, a, error);
}

/* ---- files ---- */

static char *config_dir(void)
{
	return g_build_filename(g_get_user_config_dir(), "pcvm", "networks", NULL);
}

static char *config_path(const char *name)
{
	g_autofree char *dir = config_dir();
	g_autofree char *file = g_strconcat(name, ".conf", NULL);
	return g_build_filename(dir, file, NULL);
}

static char *run_dir(const char *name)
{
	return g_build_filename(g_get_user_runtime_dir(), "pcvm", "networks", name, NULL);
}

static int hostonly_save(const struct hostonly_net *n, char **error)
{
	g_autoptr(GKeyFile) kf = g_key_file_new();
	g_autofree char *range = g_strdup_printf("%s-%s", n->dhcp_start, n->dhcp_end);
	g_key_file_set_string(kf, GROUP, "name", n->name);
	g_key_file_set_string(kf, GROUP, "bridge", n->bridge);
	g_key_file_set_string(kf, GROUP, "subnet", n->subnet);
	g_key_file_set_string(kf, GROUP, "host-address", n->host_address);
	g_key_file_set_string(kf, GROUP, "dhcp-range", range);
	g_autofree char *dir = config_dir();
	g_autofree char *path = config_path(n->name);
	g_autoptr(GError) err = NULL;
	if (g_mkdir_with_parents(dir, 0755) < 0) {
		*error = g_strdup_printf("%s: %s", dir, strerror(errno));
		return -1;
	}
	if (!g_key_file_save_to_file(kf, path, &err)) {
		*error = g_strdup_printf("%s: %s", path, err->message);
		return -1;
	}
	return 0;
}

static int key_copy(GKeyFile *kf, const char *key, char *out, size_t size, const char *path,
		    char **error)
{
	g_autofree char *v = g_key_file_get_string(kf, GROUP, key, NULL);
	if (v && g_strlcpy(out, v, size) < size)
		return 0;
	*error = g_strdup_printf("%s: %s %s", path, v ? "bad" : "no", key);
	return -1;
}

static int hostonly_read(const char *name, struct hostonly_net *n, struct hostonly_addrs *a,
			 char **error)
{
	g_autofree char *path = config_path(name);
	g_autoptr(GKeyFile) kf = g_key_file_new();
	g_autoptr(GError) err = NULL;
	memset(n, 0, sizeof(*n));
	if (!g_key_file_load_from_file(kf, path, 0, &err)) {
		if (g_error_matches(err, G_FILE_ERROR, G_FILE_ERROR_NOENT))
			*error = g_strdup_printf("no host-only network %s (create it with: "
						 "pcvm net create %s --subnet CIDR)",
						 name, name);
		else
			*error = g_strdup_printf("%s: %s", path, err->message);
		return -1;
	}
	char range[2 * INET_ADDRSTRLEN];
	g_strlcpy(n->name, name, sizeof(n->name));
	if (key_copy(kf, "bridge", n->bridge, sizeof(n->bridge), path, error) < 0 ||
	    key_copy(kf, "subnet", n->subnet, sizeof(n->subnet), path, error) < 0 ||
	    key_copy(kf, "host-address", n->host_address, sizeof(n->host_address), path,
		     error) < 0 ||
	    key_copy(kf, "dhcp-range", range, sizeof(range), path, error) < 0)
		return -1;
	char *dash = strchr(range, '-');
	if (dash) {
		*dash = 0;
		g_strlcpy(n->dhcp_start, range, sizeof(n->dhcp_start));
		g_strlcpy(n->dhcp_end, dash + 1, sizeof(n->dhcp_end));
	}
	g_autofree char *why = NULL;
	if (!dash || hostonly_resolve(n, a, &why) < 0) {
		*error = g_strdup_printf("%s: %s", path, why ? why : "bad dhcp-range");
		return -1;
	}
	return 0;
}

/* ---- users of a running network ---- */

/* The start time of live process PID (field 22 of /proc/PID/stat), 0 if gone or a zombie. */
static guint64 proc_start_time(long pid)
{
	g_autofree char *path = g_strdup_printf("/proc/%ld/stat", pid);
	g_autofree char *text = NULL;
	if (!g_file_get_contents(path, &text, NULL, NULL))
		return 0;
	const char *p = strrchr(text, ')'); /* the command name may hold anything */
	if (!p)
		return 0;
	g_auto(GStrv) fields = g_strsplit(p + 2, " ", 21);
	if (g_strv_length(fields) < 21 || !strcmp(fields[0], "Z") || !strcmp(fields[0], "X"))
		return 0;
	return g_ascii_strtoull(fields[19], NULL, 10);
}

/* A record holds "PID STARTTIME": a reused PID does not keep a dead VM's record alive.
 * Returns the PID of a live record, 0 for a dead one. */
static long record_alive(const char *path)
{
	g_autofree char *text = NULL;
	long pid = 0;
	unsigned long long start = 0;
	if (!g_file_get_contents(path, &text, NULL, NULL) ||
	    sscanf(text, "%ld %llu", &pid, &start) != 2 || pid <= 0)
		return 0;
	return proc_start_time(pid) == start ? pid : 0;
}

/* Counts the VMs on the network at RUNDIR (one record per NIC); PRUNE deletes the records of
 * VMs that are gone. */
static unsigned users_scan(const char *rundir, bool prune)
{
	g_autofree char *dir = g_build_filename(rundir, "users", NULL);
	g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
	g_autoptr(GHashTable) pids = g_hash_table_new(g_direct_hash, g_direct_equal);
	for (const char *e; d && (e = g_dir_read_name(d));) {
		g_autofree char *path = g_build_filename(dir, e, NULL);
		long pid = record_alive(path);
		if (pid)
			g_hash_table_add(pids, GSIZE_TO_POINTER((gsize)pid));
		else if (prune && unlink(path) == 0)
			log_info("host-only network: pruned %s (its VM is gone)", path);
	}
	return g_hash_table_size(pids);
}

static char *record_write(const char *rundir, const char *tap, char **error)
{
	char *path = g_strdup_printf("%s/users/%d-%s", rundir, (int)getpid(), tap);
	g_autofree char *text = g_strdup_printf("%d %" G_GUINT64_FORMAT "\n", (int)getpid(),
						proc_start_time(getpid()));
	g_autoptr(GError) err = NULL;
	if (!g_file_set_contents(path, text, -1, &err)) {
		*error = g_strdup_printf("%s: %s", path, err->message);
		g_free(path);
		return NULL;
	}
	return path;
}

/* Creates RUNDIR and takes its lock: returns the lock's fd (close it to unlock), or -1. */
static int run_lock(const char *rundir, char **error)
{
	g_autofree char *users = g_build_filename(rundir, "users", NULL);
	g_autofree char *path = g_build_filename(rundir, "lock", NULL);
	if (g_mkdir_with_parents(users, 0700) < 0) {
		*error = g_strdup_printf("%s: %s", users, strerror(errno));
		return -1;
	}
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	while (fd >= 0 && flock(fd, LOCK_EX) < 0 && errno == EINTR)
		;
	if (fd < 0) {
		*error = g_strdup_printf("%s: %s", path, strerror(errno));
		return -1;
	}
	return fd;
}

/* ---- bringing a network up and down ---- */

static char *find_dnsmasq(void)
{
	char *p = g_find_program_in_path("dnsmasq");
	if (!p && g_file_test("/usr/sbin/dnsmasq", G_FILE_TEST_IS_EXECUTABLE))
		p = g_strdup("/usr/sbin/dnsmasq");
	return p;
}

/* dnsmasq must not inherit a signal mask the VM process set up for its own threads: it would
 * never see our SIGTERM. */
static void child_unblock(gpointer data)
{
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
}

static int dnsmasq_start(const struct hostonly_net *n, const struct hostonly_addrs *a,
			 const char *rundir, char **error)
{
	g_autofree char *exe = find_dnsmasq();
	if (!exe) {
		*error = g_strdup("host-only networks need dnsmasq for DHCP: install the Debian "
				  "package dnsmasq-base");
		return -1;
	}
	char mask[INET_ADDRSTRLEN];
	ip_text(a->mask, mask);
	g_autofree char *iface = g_strdup_printf("--interface=%s", n->bridge);
	g_autofree char *range =
		g_strdup_printf("--dhcp-range=%s,%s,%s,12h", n->dhcp_start, n->dhcp_end, mask);
	g_autofree char *leases = g_strdup_printf("--dhcp-leasefile=%s/dnsmasq.leases", rundir);
	g_autofree char *pid = g_strdup_printf("--pid-file=%s/dnsmasq.pid", rundir);
	g_autofree char *log = g_strdup_printf("--log-facility=%s/dnsmasq.log", rundir);
	/* DNS off (port 0) and an empty router option: guests get no route out */
	char *argv[] = {
		exe, "--conf-file=/dev/null", "--bind-interfaces", iface, "--except-interface=lo",
		"--port=0", "--no-resolv", "--no-hosts", "--dhcp-authoritative",
		"--dhcp-option=option:router", range, leases, pid, log, NULL,
	};
	g_autofree char *err_out = NULL;
	g_autoptr(GError) err = NULL;
	int status = 0;
	if (!g_spawn_sync(NULL, argv, NULL, G_SPAWN_STDOUT_TO_DEV_NULL, child_unblock, NULL, NULL,
			  &err_out, &status, &err)) {
		*error = g_strdup_printf("%s: %s", exe, err->message);
		return -1;
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status)) {
		*error = g_strdup_printf("dnsmasq for network %s failed: %s", n->name,
					 err_out && *err_out ? g_strstrip(err_out) : "no message");
		return -1;
	}
	return 0;
}

/* Stops the dnsmasq whose pid file is in RUNDIR, if it is still the one we started. */
static void dnsmasq_stop(const char *rundir)
{
	g_autofree char *pidfile = g_build_filename(rundir, "dnsmasq.pid", NULL);
	g_autofree char *text = NULL;
	if (!g_file_get_contents(pidfile, &text, NULL, NULL))
		return;
	long pid = strtol(text, NULL, 10);
	g_autofree char *cmdpath = g_strdup_printf("/proc/%ld/cmdline", pid);
	g_autofree char *cmd = NULL;
	gsize len = 0;
	g_autofree char *want = g_strdup_printf("--pid-file=%s", pidfile);
	if (pid > 0 && g_file_get_contents(cmdpath, &cmd, &len, NULL) &&
	    memmem(cmd, len, want, strlen(want) + 1)) {
		kill((pid_t)pid, SIGTERM);
		for (int i = 0; i < 200 && proc_start_time(pid); i++)
			g_usleep(10000);
		if (proc_start_time(pid)) {
			log_warn("dnsmasq (pid %ld) ignored SIGTERM: killing it", pid);
			kill((pid_t)pid, SIGKILL);
		}
	}
	unlink(pidfile);
}

static void network_down(const char *rundir)
{
	g_autofree char *marker = g_build_filename(rundir, "up", NULL);
	g_autofree char *leases = g_build_filename(rundir, "dnsmasq.leases", NULL);
	g_autofree char *bridge = NULL;
	dnsmasq_stop(rundir);
	bool up = g_file_get_contents(marker, &bridge, NULL, NULL);
	if (up && if_nametoindex(g_strstrip(bridge))) {
		char *error = NULL;
		if (netif_bridge_delete(bridge, &error) < 0) {
			log_warn("host-only network: %s", error);
			g_free(error);
		}
	}
	unlink(leases);
	unlink(marker);
}

/* IPv4 forwarding off for what arrives on the bridge: no route out, even where the host
 * routes for others. */
static void no_forwarding(const char *bridge)
{
	g_autofree char *path = g_strdup_printf("/proc/sys/net/ipv4/conf/%s/forwarding", bridge);
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write(fd, "0\n", 2) != 2)
		log_warn("host-only bridge %s: cannot turn forwarding off: %s: %s", bridge, path,
			 strerror(errno));
	if (fd >= 0)
		close(fd);
}

static int network_up(const struct hostonly_net *n, const struct hostonly_addrs *a,
		      const char *rundir, char **error)
{
	g_autofree char *marker = g_build_filename(rundir, "up", NULL);
	if (g_file_test(marker, G_FILE_TEST_EXISTS)) {
		network_down(rundir); /* left by VMs that were killed: start afresh */
	} else if (if_nametoindex(n->bridge)) {
		*error = g_strdup_printf("network %s: an interface named %s exists and pcvm "
					 "did not create it (remove it, or define the network "
					 "with another --bridge)",
					 n->name, n->bridge);
		return -1;
	}
	g_autoptr(GError) err = NULL;
	if (!g_file_set_contents(marker, n->bridge, -1, &err)) {
		*error = g_strdup_printf("%s: %s", marker, err->message);
		return -1;
	}
	if (netif_bridge_create(n->bridge, error) < 0) {
		unlink(marker);
		return -1;
	}
	no_forwarding(n->bridge);
	/* Left alone, a bridge takes the lowest MAC of its ports, so the host's MAC would change
	 * as VMs join and leave and guests holding the old one in their ARP caches would lose
	 * the host. A fixed, locally administered one instead: 52:50 and the host address, which
	 * no other network has (their subnets do not overlap). */
	const uint8_t mac[6] = { 0x52, 0x50, a->host >> 24, a->host >> 16, a->host >> 8, a->host };
	struct in_addr host = { htonl(a->host) };
	if (netif_set_mac(n->bridge, mac, error) < 0 ||
	    netif_set_ipv4(n->bridge, host, a->prefix, error) < 0 ||
	    netif_set_up(n->bridge, true, error) < 0 || dnsmasq_start(n, a, rundir, error) < 0) {
		network_down(rundir);
		return -1;
	}
	return 0;
}

/* ---- the backend ---- */

static void hostonly_leave(void *opaque)
{
	struct hostonly_user *u = opaque;
	char *error = NULL;
	int fd = run_lock(u->rundir, &error);
	if (fd < 0) {
		log_warn("host-only network: leaving: %s", error);
		g_free(error);
	}
	unlink(u->record);
	if (!users_scan(u->rundir, true))
		network_down(u->rundir);
	if (fd >= 0)
		close(fd);
	g_free(u->rundir);
	g_free(u->record);
	g_free(u);
}

struct net_backend *hostonly_backend_new(const char *name, void *gmain_context, char **error)
{
	struct hostonly_net n;
	struct hostonly_addrs a;
	if (name_check(name, error) < 0 || hostonly_read(name, &n, &a, error) < 0)
		return NULL;
	g_autofree char *rundir = run_dir(name);
	int lock = run_lock(rundir, error);
	if (lock < 0)
		return NULL;
	unsigned users = users_scan(rundir, true);
	struct net_backend *be = NULL;
	char *record = NULL;
	if (users || network_up(&n, &a, rundir, error) == 0) {
		char *why = NULL;
		be = tap_backend_new(NULL, n.bridge, gmain_context, &why);
		if (!be)
			*error = g_strdup_printf("host-only network %s: %s", name, why);
		g_free(why);
	}
	if (be)
		record = record_write(rundir, tap_backend_ifname(be), error);
	if (be && !record) {
		be->ops->free(be);
		be = NULL;
	}
	if (!be && !users)
		network_down(rundir);
	if (be) {
		struct hostonly_user *u = g_new0(struct hostonly_user, 1);
		u->rundir = g_strdup(rundir);
		u->record = record;
		tap_backend_set_owner(be, "hostonly", hostonly_leave, u);
	}
	close(lock);
	return be;
}

/* ---- definitions ---- */

int hostonly_net_load(const char *name, struct hostonly_net *out, char **error)
{
	struct hostonly_addrs a;
	if (name_check(name, error) < 0 || hostonly_read(name, out, &a, error) < 0)
		return -1;
	g_autofree char *rundir = run_dir(name);
	out->users = users_scan(rundir, false);
	return 0;
}

static gint net_compare(gconstpointer a, gconstpointer b)
{
	const struct hostonly_net *x = *(struct hostonly_net *const *)a;
	const struct hostonly_net *y = *(struct hostonly_net *const *)b;
	return strcmp(x->name, y->name);
}

GPtrArray *hostonly_net_list(char **error)
{
	g_autofree char *dir = config_dir();
	GPtrArray *list = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GError) err = NULL;
	g_autoptr(GDir) d = g_dir_open(dir, 0, &err);
	if (!d && !g_error_matches(err, G_FILE_ERROR, G_FILE_ERROR_NOENT)) {
		*error = g_strdup_printf("%s: %s", dir, err->message);
		g_ptr_array_unref(list);
		return NULL;
	}
	for (const char *e; d && (e = g_dir_read_name(d));) {
		if (!g_str_has_suffix(e, ".conf"))
			continue;
		g_autofree char *name = g_strndup(e, strlen(e) - 5);
		struct hostonly_net *n = g_new0(struct hostonly_net, 1);
		char *why = NULL;
		if (hostonly_net_load(name, n, &why) < 0) {
			log_warn("skipping host-only network %s: %s", name, why);
			g_free(why);
			g_free(n);
			continue;
		}
		g_ptr_array_add(list, n);
	}
	g_ptr_array_sort(list, net_compare);
	return list;
}

/* Refuses a subnet that overlaps an address of this host's interfaces. */
static int host_overlap_check(const struct hostonly_net *n, const struct hostonly_addrs *a,
			      char **error)
{
	struct ifaddrs *ifs = NULL;
	if (getifaddrs(&ifs) < 0)
		return 0; /* nothing to compare with: the bridge setup will tell */
	int ret = 0;
	for (struct ifaddrs *i = ifs; i && !ret; i = i->ifa_next) {
		if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET || !i->ifa_netmask)
			continue;
		uint32_t addr = ntohl(((struct sockaddr_in *)i->ifa_addr)->sin_addr.s_addr);
		uint32_t mask = ntohl(((struct sockaddr_in *)i->ifa_netmask)->sin_addr.s_addr);
		unsigned prefix = (unsigned)__builtin_popcount(mask);
		if (!subnets_overlap(a->net, a->prefix, addr & mask, prefix))
			continue;
		char text[INET_ADDRSTRLEN];
		ip_text(addr, text);
		*error = g_strdup_printf("subnet %s overlaps %s/%u on this host's interface %s",
					 n->subnet, text, prefix, i->ifa_name);
		ret = -1;
	}
	freeifaddrs(ifs);
	return ret;
}

/* Refuses what clashes with another definition: the same bridge or an overlapping subnet. */
static int others_check(const struct hostonly_net *n, const struct hostonly_addrs *a,
			char **error)
{
	g_autoptr(GPtrArray) all = hostonly_net_list(error);
	if (!all)
		return -1;
	for (guint i = 0; i < all->len; i++) {
		struct hostonly_net *o = all->pdata[i];
		struct hostonly_addrs oa;
		char *ignored = NULL;
		if (hostonly_resolve(o, &oa, &ignored) < 0) {
			g_free(ignored);
			continue;
		}
		bool same_bridge = !strcmp(o->bridge, n->bridge);
		if (same_bridge) {
			*error = g_strdup_printf("network %s: bridge %s is network %s's", n->name,
						 n->bridge, o->name);
			return -1;
		}
		if (subnets_overlap(a->net, a->prefix, oa.net, oa.prefix)) {
			*error = g_strdup_printf("network %s: subnet %s overlaps network %s's %s",
						 n->name, n->subnet, o->name, o->subnet);
			return -1;
		}
	}
	return 0;
}

int hostonly_net_create(struct hostonly_net *net, char **error)
{
	struct hostonly_addrs a;
	if (hostonly_resolve(net, &a, error) < 0)
		return -1;
	g_autofree char *path = config_path(net->name);
	if (g_file_test(path, G_FILE_TEST_EXISTS)) {
		*error = g_strdup_printf("network %s exists already", net->name);
		return -1;
	}
	if (if_nametoindex(net->bridge)) {
		*error = g_strdup_printf("network %s: an interface named %s exists already (choose "
					 "another name with --bridge)",
					 net->name, net->bridge);
		return -1;
	}
	if (others_check(net, &a, error) < 0 || host_overlap_check(net, &a, error) < 0)
		return -1;
	net->users = 0;
	return hostonly_save(net, error);
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
			unlink(child);
	}
	rmdir(path);
}

int hostonly_net_remove(const char *name, char **error)
{
	if (name_check(name, error) < 0)
		return -1;
	g_autofree char *path = config_path(name);
	if (!g_file_test(path, G_FILE_TEST_EXISTS)) {
		*error = g_strdup_printf("no host-only network %s", name);
		return -1;
	}
	g_autofree char *rundir = run_dir(name);
	int lock = run_lock(rundir, error);
	if (lock < 0)
		return -1;
	unsigned users = users_scan(rundir, true);
	int ret = -1;
	if (users) {
		*error = g_strdup_printf("network %s is in use by %u VM%s: stop %s first", name,
					 users, users == 1 ? "" : "s", users == 1 ? "it" : "them");
	} else if (unlink(path) < 0) {
		*error = g_strdup_printf("%s: %s", path, strerror(errno));
	} else {
		network_down(rundir); /* only does something after VMs were killed */
		remove_tree(rundir);
		ret = 0;
	}
	close(lock);
	return ret;
}
