/*
 * The device interface. Every emulated device is a struct of its own reached through an opaque
 * pointer; its class (one entry in registry.c) says how to create, reset and destroy it and
 * describes its state. The machine (src/pc.c) wires instances to ports, IRQs and backends;
 * device files know nothing of the machine's layout.
 */
#pragma once
#include <pthread.h>

#include "clock.h"
#include "devices/irq.h"
#include "guest_mem.h"
#include "state.h"

struct block_dev;
struct chardev;
struct net_port;
struct pci_bus;

#define DEV_MAX_IRQS 2
#define DEV_MAX_DISKS 7 /* IDE: 4; LSI SCSI: targets 0-6 */

/* What a device may be given at creation. Each class takes what it needs; the rest is NULL. */
struct dev_ctx {
	struct guest_mem *mem;
	struct clock *clock;
	struct irq_line irq[DEV_MAX_IRQS];
	const struct machine_hooks *hooks;
	struct chardev *chr;
	struct block_dev *disks[DEV_MAX_DISKS]; /* IDE: channel * 2 + unit; SCSI: target ID */
	struct pci_bus *pci;
	struct net_port *net; /* NIC: the port to its network backend */
	uint8_t mac[6];       /* NIC: its MAC address */
};

struct device_class {
	const char *name;
	const struct state_desc *state;
	void *(*create)(const struct dev_ctx *ctx);
	void (*destroy)(void *dev);
	/* Power-on state; called after create and on every machine reset. */
	void (*reset)(void *dev);
	/* The device's lock (held around its I/O handlers and timers), for save/load. */
	pthread_mutex_t *(*lock)(void *dev);
};

/* Every device class, NULL-terminated (src/devices/registry.c). */
extern const struct device_class *const device_classes[];
const struct device_class *device_class_find(const char *name);
