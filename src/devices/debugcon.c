/*
 * Bochs/QEMU-style debug port. SeaBIOS probes it by reading: only if the read returns 0xE9
 * (the Bochs "port E9 hack" value) does it keep logging here (pc-platform.md).
 */
#include "devices/debugcon.h"

#include <glib.h>

#include "devices/bus.h"
#include "log.h"

#define DEBUGCON_PRESENT 0xE9

static uint64_t debugcon_read(void *opaque, uint64_t off, unsigned size)
{
	return DEBUGCON_PRESENT;
}

static void debugcon_write(void *opaque, uint64_t off, uint64_t data, unsigned size)
{
	char c = (char)data;
	log_guest_bytes("firmware", &c, 1);
}

const struct bus_ops debugcon_ops = {
	.read = debugcon_read,
	.write = debugcon_write,
	.min_size = 1,
	.max_size = 1,
	/* log bytes, in order: the firmware writes thousands of them per boot; the machine
	 * hands over what a guest that stopped exiting posted within a tenth of a second */
	.posted = { { 0, 1 } },
};

static void *debugcon_create(const struct dev_ctx *ctx)
{
	struct debugcon *d = g_new0(struct debugcon, 1);
	pthread_mutex_init(&d->lock, NULL);
	return d;
}

static void debugcon_destroy(void *dev)
{
	struct debugcon *d = dev;
	pthread_mutex_destroy(&d->lock);
	g_free(d);
}

static void debugcon_reset(void *dev)
{
}

static pthread_mutex_t *debugcon_lock(void *dev)
{
	return &((struct debugcon *)dev)->lock;
}

/* Nothing the guest can read back: an empty but present description. */
static const struct state_desc debugcon_state = { .name = "debugcon", .version = 1 };

const struct device_class debugcon_class = {
	.name = "debugcon",
	.state = &debugcon_state,
	.create = debugcon_create,
	.destroy = debugcon_destroy,
	.reset = debugcon_reset,
	.lock = debugcon_lock,
};
