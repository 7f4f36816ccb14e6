/* Test doubles for device unit tests: guest RAM, an IRQ recorder, machine hooks, a virtual clock.
 * A device test builds a device with fake_ctx() and drives it through its bus_ops, exactly the
 * entry points the guest uses. */
#pragma once
#include <glib.h>
#include <stdint.h>

#include "devices/bus.h"
#include "devices/device.h"

#define FAKE_RAM_SIZE (1u << 20)
#define FAKE_MAX_GSI 24

#define FAKE_MAX_POSTED 16

struct fake_env {
	struct guest_mem mem;
	uint8_t *ram;
	struct clock *clock;
	int irq_level[FAKE_MAX_GSI];
	unsigned irq_raises[FAKE_MAX_GSI]; /* rising edges seen */
	unsigned resets;
	int exits;
	int exit_code;
	struct machine_hooks hooks;
	/* byte writes posted with fake_post_outb, handed to env->io by the flush_posted hook */
	struct {
		uint16_t port;
		uint8_t val;
	} posted[FAKE_MAX_POSTED];
	unsigned n_posted;
	unsigned flushes; /* flush_posted calls */
	struct bus *io; /* a PIO bus for tests that map devices at their real ports */
	struct dev_ctx ctx;
};

/* A fresh environment: 1 MiB of RAM at GPA 0, a virtual clock at 0, ctx.irq[0..1] on GSI
 * IRQ0 and IRQ1 (pass -1 for none), hooks recording resets and exits. */
struct fake_env *fake_env_new(int irq0, int irq1);
void fake_env_free(struct fake_env *env);

/* Convenience: call a region's handlers directly (no bus), as the bus would. */
uint64_t fake_read(const struct bus_ops *ops, void *opaque, uint64_t off, unsigned size);
void fake_write(const struct bus_ops *ops, void *opaque, uint64_t off, uint64_t val, unsigned size);

/* Registers OPS at BASE on env->io so a test can use bus_read/bus_write with real port numbers. */
void fake_map(struct fake_env *env, uint64_t base, uint64_t len, const struct bus_ops *ops,
	      void *opaque, pthread_mutex_t *lock);
uint64_t fake_inb(struct fake_env *env, uint16_t port);
uint64_t fake_inw(struct fake_env *env, uint16_t port);
uint64_t fake_inl(struct fake_env *env, uint16_t port);
void fake_outb(struct fake_env *env, uint16_t port, uint8_t v);
void fake_outw(struct fake_env *env, uint16_t port, uint16_t v);
void fake_outl(struct fake_env *env, uint16_t port, uint32_t v);
/* A guest's port write KVM queues instead of exiting (bus_ops.posted): it reaches the device
 * only at fake_flush_posted or when a device calls the flush_posted hook. */
void fake_post_outb(struct fake_env *env, uint16_t port, uint8_t v);
void fake_flush_posted(void *env);
/* A network port whose backend hands every frame sent back to the port (a NIC talking to
 * itself); free it with net_port_free. */
struct net_port *fake_loopback_port(void);
