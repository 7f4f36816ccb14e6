/*
 * Bridged networking: a tap device, optionally attached to a host bridge. Creating a tap or
 * attaching it needs CAP_NET_ADMIN; without it, an administrator prepares one for the user
 * (ip tuntap add dev NAME mode tap user USER; ip link set NAME master BRIDGE up) and the VM
 * names it (tap=NAME in [net0]).
 *
 * Threading: send from any thread; the rest on the main-loop thread.
 */
#pragma once
#include <netinet/in.h>

#include "net/net.h"

/*
 * TAP_NAME: a prepared tap to open, or NULL to create a new one (named pcvmtapN), which is
 * removed again when the backend is freed; a prepared one is left as it was found.
 * BRIDGE: the bridge to attach the tap to (skipped when it already is), or NULL.
 * CONTEXT: the GMainContext the tap is read on (NULL: the default one).
 */
struct net_backend *tap_backend_new(const char *tap_name, const char *bridge, void *gmain_context,
				    char **error);
/* The tap's interface name. */
const char *tap_backend_ifname(struct net_backend *be);
/* For backends built on a tap (host-only): NAME replaces "tap" as ops->name, and
 * ON_FREE(OPAQUE) runs when the backend is freed, after the tap is closed. */
void tap_backend_set_owner(struct net_backend *be, const char *name, void (*on_free)(void *),
			   void *opaque);

/* Host interfaces by ioctl, no shelling out; all need CAP_NET_ADMIN. 0, or -1 and *ERROR. */
int netif_set_up(const char *ifname, bool up, char **error);
int netif_bridge_create(const char *bridge, char **error);
int netif_bridge_delete(const char *bridge, char **error); /* takes it down first */
int netif_bridge_attach(const char *bridge, const char *ifname, char **error);
int netif_set_ipv4(const char *ifname, struct in_addr addr, unsigned prefix_len, char **error);
/* A MAC set this way stays: a bridge given one no longer takes the lowest of its ports'. */
int netif_set_mac(const char *ifname, const uint8_t mac[6], char **error);
/* The bridge IFNAME is attached to, or NULL (g_free it). */
char *netif_master(const char *ifname);
bool netif_is_bridge(const char *ifname);
