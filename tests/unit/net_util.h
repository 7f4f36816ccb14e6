/*
 * What the network test programs share (net_util.c): frames built and read byte by byte,
 * checksums included; a NIC that records what it gets on a port with a backend, on a
 * private GMainContext; DHCP and ARP through such a port; a scratch XDG directory.
 *   test_net.c        the port, slirp, host-only definitions and `pcvm net`
 *   test_net_netns.c  as root in a network namespace: the tap and host-only backends
 */
#pragma once

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "net/net.h"

#define IP4(a, b, c, d) ((uint32_t)(a) << 24 | (b) << 16 | (c) << 8 | (d))
#define GUEST IP4(10, 0, 2, 15)
#define HOST IP4(10, 0, 2, 2)
#define ETH_IP 0x0800
#define ETH_ARP 0x0806
#define BOOTP 42 /* offset of the BOOTP message in a DHCP frame */

extern const uint8_t mac1[6];
extern const uint8_t mac2[6];
extern const uint8_t bcast[6];

/* Big-endian fields. */
void put16(uint8_t *p, uint16_t v);
uint16_t get16(const uint8_t *p);
uint32_t get32(const uint8_t *p);

/* Frames into F, their lengths returned: an Ethernet header; a DHCPDISCOVER from MAC; an
 * ICMP echo request from the guest to DST. */
size_t eth(uint8_t *f, const uint8_t *dst, const uint8_t *src, uint16_t type);
size_t dhcp_discover(uint8_t *f, const uint8_t *mac, uint32_t xid);
size_t icmp_echo(uint8_t *f, const uint8_t *dst_mac, uint32_t dst, uint16_t seq);

/* A valid IPv4 frame of protocol PROTO: header and (for UDP/ICMP) payload checksums hold. */
bool ipv4_valid(const uint8_t *f, size_t len, uint8_t proto);
/* The DHCP message of type TYPE answering XID in F, or NULL; option CODE of message B. */
const uint8_t *dhcp_reply(const uint8_t *f, size_t len, uint32_t xid, uint8_t type);
const uint8_t *dhcp_option(const uint8_t *b, size_t len, uint8_t code, uint8_t *olen);

/* ---- a NIC that records what it gets ---- */

struct nicrec {
	GPtrArray *frames; /* GBytes */
	bool refuse;
};
typedef bool (*frame_match)(const uint8_t *f, size_t len, const void *arg);

/* Runs CTX until a frame N received matches, for at most SECONDS. */
GBytes *wait_frame(GMainContext *ctx, struct nicrec *n, frame_match m, const void *arg,
		   int seconds);

/* A port with a recording NIC and BE on a private context that wakes every 20 ms. */
struct rig {
	GMainContext *ctx;
	struct net_port *port;
	struct nicrec nic;
	struct net_backend *be;
};

void rig_open(struct rig *r, struct net_backend *(*make)(void *ctx, void *arg), void *arg);
void rig_close(struct rig *r);
/* Sends F (LEN bytes) into the port as a NIC does; the frames recorded so far are dropped. */
int rig_send(struct rig *r, const uint8_t *f, size_t len);

/* A DHCPOFFER answering *XID (a frame_match). */
bool match_offer(const uint8_t *f, size_t len, const void *xid);
/* Asks for IP's MAC through R; returns it (the reply's sender hardware address). */
const uint8_t *arp(struct rig *r, uint32_t sip, uint32_t ip, const uint8_t *want_sha);

/* A scratch directory with XDG_CONFIG_HOME and XDG_RUNTIME_DIR pointed into it, for the
 * network definitions and runtime state: to be made before GLib reads (and caches) the
 * XDG variables, and removed with remove_tree. */
char *scratch_xdg_dirs(void);
void remove_tree(const char *path);
