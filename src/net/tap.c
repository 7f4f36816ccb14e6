/*
 * Tap backend: /dev/net/tun with IFF_TAP | IFF_NO_PI, read non-blocking on the main loop
 * straight into the port's queue, written with writev from whichever thread sends. While the
 * port's queue is full the fd is not watched; the port's resume turns the watch back on.
 */
#include "net/tap.h"

#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <linux/if_tun.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <pthread.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "log.h"

#define TAP_READ_BURST 64 /* frames per wakeup, so one busy tap cannot starve the loop */

struct tap_backend {
	struct net_backend be;
	struct net_backend_ops ops; /* tap_ops, renamed by tap_backend_set_owner */
	int fd;
	char ifname[IFNAMSIZ];
	GMainContext *ctx;
	GSource *source;
	gpointer tag;
	pthread_mutex_t lock; /* stopped, and the watch's events */
	bool stopped;	      /* not watching: the port's queue was full */
	bool broken;	      /* not watching for good: reading failed */
	void (*on_free)(void *opaque);
	void *on_free_opaque;
	uint8_t rxbuf[NET_MAX_FRAME + 1]; /* one more: a frame that fills it is too long */
};

/* ---- host interfaces ---- */

static const char cap_hint[] = "needs CAP_NET_ADMIN: run as root, or have the administrator "
			       "prepare a tap: ip tuntap add dev NAME mode tap user USER; "
			       "ip link set NAME master BRIDGE up; and set tap=NAME in [net0]";

static const char root_hint[] = "needs CAP_NET_ADMIN: run as root";

/* One ioctl on a throwaway socket; 0 or -errno. */
static int netif_ioctl(unsigned long req, void *arg)
{
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -errno;
	int ret = ioctl(s, req, arg) < 0 ? -errno : 0;
	close(s);
	return ret;
}

/* HINT: what a person without CAP_NET_ADMIN can do about EPERM. */
static int netif_fail(char **error, int err, const char *what, const char *ifname,
		      const char *hint)
{
	if (err == -EPERM)
		*error = g_strdup_printf("%s %s %s", what, ifname, hint);
	else
		*error = g_strdup_printf("%s %s: %s", what, ifname, strerror(-err));
	return -1;
}

static void ifreq_name(struct ifreq *ifr, const char *ifname)
{
	memset(ifr, 0, sizeof(*ifr));
	g_strlcpy(ifr->ifr_name, ifname, IFNAMSIZ);
}

int netif_set_up(const char *ifname, bool up, char **error)
{
	struct ifreq ifr;
	ifreq_name(&ifr, ifname);
	int err = netif_ioctl(SIOCGIFFLAGS, &ifr);
	if (!err && !!(ifr.ifr_flags & IFF_UP) == up)
		return 0; /* as wanted already: a prepared tap needs no privilege */
	ifr.ifr_flags = up ? ifr.ifr_flags | IFF_UP : ifr.ifr_flags & ~IFF_UP;
	if (!err)
		err = netif_ioctl(SIOCSIFFLAGS, &ifr);
	if (err)
		return netif_fail(error, err, up ? "bringing up" : "taking down", ifname, cap_hint);
	return 0;
}

int netif_bridge_create(const char *bridge, char **error)
{
	char name[IFNAMSIZ];
	g_strlcpy(name, bridge, sizeof(name));
	int err = netif_ioctl(SIOCBRADDBR, name);
	return err ? netif_fail(error, err, "creating bridge", bridge, root_hint) : 0;
}

int netif_bridge_delete(const char *bridge, char **error)
{
	if (netif_set_up(bridge, false, error) < 0)
		return -1;
	char name[IFNAMSIZ];
	g_strlcpy(name, bridge, sizeof(name));
	int err = netif_ioctl(SIOCBRDELBR, name);
	return err ? netif_fail(error, err, "deleting bridge", bridge, root_hint) : 0;
}

/* RTM_GETLINK for IFNAME: the ifindex of its master (0: none) and whether it is a bridge.
 * Netlink, not /sys/class/net: sysfs shows the namespace it was mounted in, not ours. */
static int netif_query(const char *ifname, unsigned *master, bool *is_bridge)
{
	struct {
		struct nlmsghdr nh;
		struct ifinfomsg ifi;
	} req = { .nh = { .nlmsg_len = sizeof(req), .nlmsg_type = RTM_GETLINK,
			  .nlmsg_flags = NLM_F_REQUEST },
		  .ifi = { .ifi_family = AF_UNSPEC, .ifi_index = (int)if_nametoindex(ifname) } };
	*master = 0;
	*is_bridge = false;
	if (!req.ifi.ifi_index)
		return -ENODEV;
	int s = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (s < 0)
		return -errno;
	size_t size = 32768; /* a link message with all its statistics fits */
	uint8_t *msg = g_malloc(size);
	ssize_t n = send(s, &req, sizeof(req), 0) < 0 ? -1 : recv(s, msg, size, 0);
	int err = n < 0 ? -errno : 0;
	close(s);
	struct nlmsghdr *nh = (struct nlmsghdr *)msg;
	if (!err && (!NLMSG_OK(nh, (size_t)n) || nh->nlmsg_type != RTM_NEWLINK))
		err = -ENODEV;
	int len = err ? 0 : (int)IFLA_PAYLOAD(nh);
	for (struct rtattr *a = IFLA_RTA(NLMSG_DATA(nh)); !err && RTA_OK(a, len);
	     a = RTA_NEXT(a, len)) {
		if (a->rta_type == IFLA_MASTER && RTA_PAYLOAD(a) >= 4)
			*master = *(uint32_t *)RTA_DATA(a);
		if (a->rta_type != IFLA_LINKINFO)
			continue;
		int ilen = (int)RTA_PAYLOAD(a);
		for (struct rtattr *i = RTA_DATA(a); RTA_OK(i, ilen); i = RTA_NEXT(i, ilen))
			if (i->rta_type == IFLA_INFO_KIND)
				*is_bridge = !strncmp(RTA_DATA(i), "bridge", RTA_PAYLOAD(i));
	}
	g_free(msg);
	return err;
}

char *netif_master(const char *ifname)
{
	unsigned master;
	bool is_bridge;
	char name[IFNAMSIZ];
	if (netif_query(ifname, &master, &is_bridge) < 0 || !master ||
	    !if_indextoname(master, name))
		return NULL;
	return g_strdup(name);
}

bool netif_is_bridge(const char *ifname)
{
	unsigned master;
	bool is_bridge;
	return netif_query(ifname, &master, &is_bridge) == 0 && is_bridge;
}

int netif_bridge_attach(const char *bridge, const char *ifname, char **error)
{
	if (!if_nametoindex(bridge)) {
		*error = g_strdup_printf("bridge %s: no such device (an administrator creates it: "
					 "ip link add %s type bridge)",
					 bridge, bridge);
		return -1;
	}
	if (!netif_is_bridge(bridge)) {
		*error = g_strdup_printf("%s is not a bridge", bridge);
		return -1;
	}
	g_autofree char *master = netif_master(ifname);
	if (master && !strcmp(master, bridge))
		return 0;
	if (master) {
		*error = g_strdup_printf("%s is attached to bridge %s, not %s", ifname, master,
					 bridge);
		return -1;
	}
	struct ifreq ifr;
	ifreq_name(&ifr, bridge);
	ifr.ifr_ifindex = (int)if_nametoindex(ifname);
	int err = netif_ioctl(SIOCBRADDIF, &ifr);
	if (!err)
		return 0;
	g_autofree char *what = g_strdup_printf("attaching %s to bridge", ifname);
	return netif_fail(error, err, what, bridge, cap_hint);
}

int netif_set_mac(const char *ifname, const uint8_t mac[6], char **error)
{
	struct ifreq ifr;
	ifreq_name(&ifr, ifname);
	ifr.ifr_hwaddr.sa_family = ARPHRD_ETHER;
	memcpy(ifr.ifr_hwaddr.sa_data, mac, 6);
	int err = netif_ioctl(SIOCSIFHWADDR, &ifr);
	return err ? netif_fail(error, err, "setting the MAC address of", ifname, root_hint) : 0;
}

int netif_set_ipv4(const char *ifname, struct in_addr addr, unsigned prefix_len, char **error)
{
	struct ifreq ifr;
	ifreq_name(&ifr, ifname);
	struct sockaddr_in *sin = (struct sockaddr_in *)&ifr.ifr_addr;
	sin->sin_family = AF_INET;
	sin->sin_addr = addr;
	int err = netif_ioctl(SIOCSIFADDR, &ifr);
	if (!err) {
		/* the kernel derives the broadcast address and the subnet route from these */
		sin->sin_addr.s_addr = prefix_len ? htonl(~0u << (32 - prefix_len)) : 0;
		err = netif_ioctl(SIOCSIFNETMASK, &ifr);
	}
	return err ? netif_fail(error, err, "setting the address of", ifname, root_hint) : 0;
}

/* ---- reading and writing frames ---- */

static void tap_watch(struct tap_backend *tb, bool on)
{
	tb->stopped = !on;
	g_source_modify_unix_fd(tb->source, tb->tag, on ? G_IO_IN : 0);
}

struct tap_source {
	GSource source;
	struct tap_backend *tb;
};

static gboolean tap_dispatch(GSource *source, GSourceFunc cb, gpointer data)
{
	struct tap_backend *tb = ((struct tap_source *)source)->tb;
	struct net_port *port = tb->be.port;
	for (int i = 0; i < TAP_READ_BURST; i++) {
		pthread_mutex_lock(&tb->lock);
		bool room = !port || net_port_can_deliver(port);
		if (!room)
			tap_watch(tb, false); /* the port calls resume when it has room */
		pthread_mutex_unlock(&tb->lock);
		if (!room)
			break;
		ssize_t n = read(tb->fd, tb->rxbuf, sizeof(tb->rxbuf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno != EAGAIN) {
			/* the fd stays readable with its error: stop rather than spin */
			log_warn("tap %s: read: %s: no more frames from it", tb->ifname,
				 strerror(errno));
			pthread_mutex_lock(&tb->lock);
			tb->broken = true;
			tap_watch(tb, false);
			pthread_mutex_unlock(&tb->lock);
		}
		if (n < 0)
			break;
		if (port && n >= NET_MIN_FRAME && n <= NET_MAX_FRAME)
			net_port_deliver(port, tb->rxbuf, (size_t)n);
	}
	return G_SOURCE_CONTINUE;
}

static GSourceFuncs tap_source_funcs = { .dispatch = tap_dispatch };

static int tap_send(struct net_backend *be, const struct iovec *iov, int iovcnt)
{
	struct tap_backend *tb = (struct tap_backend *)be;
	for (;;) {
		if (writev(tb->fd, iov, iovcnt) >= 0)
			return 0;
		if (errno != EINTR)
			break;
	}
	int err = errno;
	if (err != EAGAIN && err != EIO) /* EIO: the link is down, the frame is lost */
		log_once(LOG_WARN, "tap %s: write: %s", tb->ifname, strerror(err));
	return -err;
}

static void tap_resume(struct net_backend *be)
{
	struct tap_backend *tb = (struct tap_backend *)be;
	pthread_mutex_lock(&tb->lock);
	if (tb->stopped && !tb->broken)
		tap_watch(tb, true);
	pthread_mutex_unlock(&tb->lock);
}

static void tap_free(struct net_backend *be)
{
	struct tap_backend *tb = (struct tap_backend *)be;
	if (tb->source) {
		g_source_destroy(tb->source);
		g_source_unref(tb->source);
	}
	if (tb->fd >= 0)
		close(tb->fd); /* a tap we created was not persistent: this removes it */
	if (tb->on_free)
		tb->on_free(tb->on_free_opaque);
	if (tb->ctx)
		g_main_context_unref(tb->ctx);
	pthread_mutex_destroy(&tb->lock);
	g_free(tb);
}

static const struct net_backend_ops tap_ops = {
	.name = "tap",
	.send = tap_send,
	.resume = tap_resume,
	.free = tap_free,
};

/* ---- opening ---- */

static int tap_open_fail(char **error, const char *name, int err)
{
	bool exists = name && if_nametoindex(name);
	if (err == EPERM && exists)
		*error = g_strdup_printf("tap %s: permission denied: it belongs to another user "
					 "(the administrator prepares it with ip tuntap add dev %s "
					 "mode tap user USER)",
					 name, name);
	else if (err == EPERM)
		*error = g_strdup_printf("creating a tap device %s", cap_hint);
	else if (err == EBUSY)
		*error = g_strdup_printf("tap %s is already in use by another process", name);
	else if (err == EINVAL && exists)
		*error = g_strdup_printf("%s exists and is not a tap device", name);
	else
		*error = g_strdup_printf("tap %s: %s", name ? name : "(new)", strerror(err));
	return -1;
}

static int tap_open(struct tap_backend *tb, const char *name, char **error)
{
	if (name && (!*name || strlen(name) >= IFNAMSIZ || strchr(name, '/'))) {
		*error = g_strdup_printf("tap name '%s': 1 to %d characters, no '/'", name,
					 IFNAMSIZ - 1);
		return -1;
	}
	tb->fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (tb->fd < 0) {
		int err = errno;
		*error = err == ENOENT ? g_strdup("/dev/net/tun: no such device (load the tun "
						  "module: modprobe tun)")
				       : g_strdup_printf("/dev/net/tun: %s", strerror(err));
		return -1;
	}
	struct ifreq ifr;
	ifreq_name(&ifr, name ? name : "pcvmtap%d");
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
	if (ioctl(tb->fd, TUNSETIFF, &ifr) < 0)
		return tap_open_fail(error, name, errno);
	g_strlcpy(tb->ifname, ifr.ifr_name, sizeof(tb->ifname));
	return 0;
}

struct net_backend *tap_backend_new(const char *tap_name, const char *bridge, void *gmain_context,
				    char **error)
{
	struct tap_backend *tb = g_new0(struct tap_backend, 1);
	tb->ops = tap_ops;
	tb->be.ops = &tb->ops;
	tb->fd = -1;
	pthread_mutex_init(&tb->lock, NULL);
	if (tap_open(tb, tap_name, error) < 0 ||
	    (bridge && netif_bridge_attach(bridge, tb->ifname, error) < 0) ||
	    netif_set_up(tb->ifname, true, error) < 0) {
		tap_free(&tb->be);
		return NULL;
	}
	tb->ctx = g_main_context_ref(gmain_context ? gmain_context : g_main_context_default());
	tb->source = g_source_new(&tap_source_funcs, sizeof(struct tap_source));
	((struct tap_source *)tb->source)->tb = tb;
	g_source_set_name(tb->source, "tap");
	tb->tag = g_source_add_unix_fd(tb->source, tb->fd, G_IO_IN);
	g_source_attach(tb->source, tb->ctx);
	return &tb->be;
}

const char *tap_backend_ifname(struct net_backend *be)
{
	return ((struct tap_backend *)be)->ifname;
}

void tap_backend_set_owner(struct net_backend *be, const char *name, void (*on_free)(void *),
			   void *opaque)
{
	struct tap_backend *tb = (struct tap_backend *)be;
	tb->ops.name = name;
	tb->on_free = on_free;
	tb->on_free_opaque = opaque;
}
