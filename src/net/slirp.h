/*
 * NAT through libslirp: the guest's network is 10.0.2.0/24 (and fec0::/64), the host side is
 * 10.0.2.2, DNS 10.0.2.3, and the guest gets 10.0.2.15 by DHCP. Connections the guest opens
 * become ordinary sockets of the VM process; host ports can be forwarded to the guest.
 *
 * Threading: send from any thread; everything else on the main-loop thread. One lock covers
 * every call into libslirp.
 */
#pragma once
#include <glib.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>

#include "net/net.h"

#define SLIRP_GUEST_ADDR "10.0.2.15"

struct slirp_backend_opts {
	const char *tftp_root; /* serve this directory over TFTP; NULL: no TFTP server */
	const char *boot_file; /* DHCP boot file name (with tftp_root); NULL: none */
	bool restricted;       /* the guest reaches the host's forwards, not the outside */
};

/* A host port forwarded to the guest (10.0.2.15). */
struct net_hostfwd {
	bool udp;
	char host_addr[INET_ADDRSTRLEN]; /* the host address listened on, "127.0.0.1" by default */
	uint16_t host_port;
	uint16_t guest_port;
};

/*
 * "[tcp:|udp:][HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT", e.g. "tcp:127.0.0.1:2222-:22".
 * The protocol defaults to tcp. An empty HOSTADDR means 127.0.0.1 (unlike QEMU, where it means
 * every address: a forward open to the whole LAN has to be asked for with 0.0.0.0). GUESTADDR
 * may be empty or 10.0.2.15, the only guest address slirp hands out.
 */
int net_hostfwd_parse(const char *text, struct net_hostfwd *out, char **error);
/* The canonical text ("tcp:127.0.0.1:2222-:22"), which net_hostfwd_parse reads back. */
char *net_hostfwd_format(const struct net_hostfwd *f);

/* CONTEXT: the GMainContext slirp's sockets and timers run on (NULL: the default one). */
struct net_backend *slirp_backend_new(const struct slirp_backend_opts *opts, void *gmain_context,
				      char **error);
/* Main-loop thread, while the VM runs. Fails with a message when the host port is taken. */
int slirp_backend_hostfwd_add(struct net_backend *be, const struct net_hostfwd *f, char **error);
/* Matches on protocol, host address and host port; fails when there is no such forward. */
int slirp_backend_hostfwd_remove(struct net_backend *be, const struct net_hostfwd *f,
				 char **error);
/* The forwards in place, oldest first: a GArray of struct net_hostfwd (g_array_unref it). */
GArray *slirp_backend_hostfwd_list(struct net_backend *be);
