/*
 * Where a NIC model (src/devices/e1000.c) meets a network backend (slirp, tap, host-only): a
 * net_port. The NIC sends frames straight through to the backend, from whatever thread runs
 * its transmit ring; frames from the network are queued by the port and handed to the NIC on
 * the main loop. Nothing the backend does can call into the NIC while the NIC is sending, so
 * neither side has to hold the other's lock, and a slow guest (no receive buffers) makes the
 * port stop its backend instead of growing a queue without end.
 *
 * Threading:
 *   net_port_send, net_port_nic_ready, net_port_deliver, net_port_can_deliver: any thread.
 *   nic ops and backend resume: called on the port's main context, without the port's lock.
 *   The rest: the main loop thread.
 */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

/* An Ethernet frame without FCS, VLAN tag included: what either side may pass. */
#define NET_MIN_FRAME 14
#define NET_MAX_FRAME 16384
/* Frames from the network waiting for the NIC; more are dropped and the backend is paused. */
#define NET_PORT_QUEUE 256

struct net_port;
struct net_backend;

struct net_nic_ops {
	/* Takes one frame. Returns false when it cannot now (no receive descriptors): the port
	 * keeps the frame and offers it again after net_port_nic_ready(). */
	bool (*receive)(void *nic, const uint8_t *frame, size_t len);
};

struct net_backend_ops {
	const char *name; /* "slirp", "tap", "hostonly": for messages */
	/* Sends one frame to the network; any thread, must not call into the port's NIC side.
	 * Returns 0, or -errno when the frame was dropped. */
	int (*send)(struct net_backend *be, const struct iovec *iov, int iovcnt);
	/* The port's queue has room again: a backend that stopped reading may resume. */
	void (*resume)(struct net_backend *be);
	void (*free)(struct net_backend *be);
};

/* Every backend's instance struct starts with this. */
struct net_backend {
	const struct net_backend_ops *ops;
	struct net_port *port; /* set by net_port_attach_backend */
};

struct net_port_stats {
	uint64_t tx_frames, tx_bytes, tx_dropped;
	uint64_t rx_frames, rx_bytes, rx_dropped;
};

/* CONTEXT: the GMainContext the port delivers on (NULL: the default one). */
struct net_port *net_port_new(void *gmain_context);
/* Frees the backend too. No NIC call is made after this returns. */
void net_port_free(struct net_port *port);
void net_port_attach_nic(struct net_port *port, const struct net_nic_ops *ops, void *nic);
/* The port owns BE from here on. */
void net_port_attach_backend(struct net_port *port, struct net_backend *be);
struct net_backend *net_port_backend(struct net_port *port);

/* NIC → network. 0, or -errno (no backend, frame too long or short, backend error). */
int net_port_send(struct net_port *port, const struct iovec *iov, int iovcnt);
/* NIC: receive descriptors became available; queued frames are offered again. */
void net_port_nic_ready(struct net_port *port);

/* Backend → NIC: copies the frame into the queue. Returns false when the queue is full (the
 * frame is dropped and counted): stop reading until ops->resume. */
bool net_port_deliver(struct net_port *port, const void *frame, size_t len);
bool net_port_can_deliver(struct net_port *port);
/* Offers queued frames to the NIC now, on the calling thread; for tests without a main loop.
 * Returns how many the NIC took. */
unsigned net_port_flush(struct net_port *port);

void net_port_get_stats(struct net_port *port, struct net_port_stats *stats);
