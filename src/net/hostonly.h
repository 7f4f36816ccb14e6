/*
 * Host-only networks: a named private bridge with a host address and DHCP from dnsmasq, no
 * router and no forwarding, so guests reach each other and the host but nothing beyond.
 *
 * Definitions are GKeyFiles in $XDG_CONFIG_HOME/pcvm/networks/NAME.conf. A running network
 * keeps its state in $XDG_RUNTIME_DIR/pcvm/networks/NAME/: a lock file, one record per VM NIC
 * on it (users/PID-TAP), dnsmasq's pid and lease files. The first VM to join brings the
 * bridge and dnsmasq up, the last to leave takes them down; a VM killed with -9 is pruned by
 * the next one that takes the lock. Bringing a network up needs CAP_NET_ADMIN (root).
 */
#pragma once
#include <glib.h>
#include <net/if.h>
#include <netinet/in.h>

#include "net/net.h"

#define HOSTONLY_NAME_MAX 32

struct hostonly_net {
	char name[HOSTONLY_NAME_MAX + 1];   /* letters, digits, '-', '_' */
	char bridge[IFNAMSIZ];		    /* "" in a request: "pcvm-" + name */
	char subnet[INET_ADDRSTRLEN + 3];   /* CIDR, "192.168.56.0/24" (/8 to /30) */
	char host_address[INET_ADDRSTRLEN]; /* "" in a request: the subnet's first address */
	char dhcp_start[INET_ADDRSTRLEN];   /* both "" in a request: .100 to the subnet's */
	char dhcp_end[INET_ADDRSTRLEN];	    /* last address (.254), or from .2 if smaller */
	unsigned users;			    /* from load/list: running VMs on it */
};

/* Validates REQ (name and subnet set, the rest optional), fills in the defaults and saves it.
 * Refuses a duplicate name or bridge, a subnet overlapping another network's or a host
 * interface's, an existing interface as bridge. */
int hostonly_net_create(struct hostonly_net *net, char **error);
int hostonly_net_load(const char *name, struct hostonly_net *out, char **error);
/* Every definition, sorted by name: struct hostonly_net * elements (g_ptr_array_unref). NULL
 * and *ERROR when the directory cannot be read; broken files are skipped with a warning. */
GPtrArray *hostonly_net_list(char **error);
/* Refuses while a running VM uses the network. */
int hostonly_net_remove(const char *name, char **error);
/* Parses "A.B.C.D/N" into the network address and prefix length (host bits must be zero). */
int hostonly_parse_cidr(const char *text, struct in_addr *net, unsigned *prefix_len,
			char **error);

/* Joins network NAME with a new tap on its bridge, bringing the network up if it is the first
 * user; freeing the backend leaves it. */
struct net_backend *hostonly_backend_new(const char *name, void *gmain_context, char **error);
