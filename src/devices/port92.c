/*
 * Port 0x92, "system control port A" (PS/2 technical reference; PIIX3 datasheet §4.7.5):
 * bit 1 is the fast A20 gate, bit 0 written as 1 resets the CPU. KVM does not mask A20, so the
 * gate is only stored for the guest to read back.
 */
#include "devices/port92.h"

#include <glib.h>

#include "devices/bus.h"
#include "log.h"

#define PORT92_RESET 0x01
#define PORT92_A20 0x02

static uint64_t port92_read(void *opaque, uint64_t off, unsigned size)
{
	struct port92 *p = opaque;
	return p->value;
}

static void port92_write(void *opaque, uint64_t off, uint64_t data, unsigned size)
{
	struct port92 *p = opaque;
	if (!(data & PORT92_A20))
		log_once(LOG_INFO, "port92: guest disabled A20; KVM does not gate it");
	p->value = data & PORT92_A20;
	if (data & PORT92_RESET)
		machine_request_reset(p->hooks, "fast reset (port 0x92)");
}

const struct bus_ops port92_ops = {
	.read = port92_read,
	.write = port92_write,
	.min_size = 1,
	.max_size = 1,
};

static void *port92_create(const struct dev_ctx *ctx)
{
	struct port92 *p = g_new0(struct port92, 1);
	pthread_mutex_init(&p->lock, NULL);
	p->hooks = ctx->hooks;
	return p;
}

static void port92_destroy(void *dev)
{
	struct port92 *p = dev;
	pthread_mutex_destroy(&p->lock);
	g_free(p);
}

static void port92_reset(void *dev)
{
	((struct port92 *)dev)->value = PORT92_A20; /* SeaBIOS expects A20 on after reset */
}

static pthread_mutex_t *port92_lock(void *dev)
{
	return &((struct port92 *)dev)->lock;
}

static const struct state_field port92_fields[] = {
	STATE_U8(struct port92, value),
};

static const struct state_desc port92_state =
	STATE_DESC("port92", 1, struct port92, port92_fields);

const struct device_class port92_class = {
	.name = "port92",
	.state = &port92_state,
	.create = port92_create,
	.destroy = port92_destroy,
	.reset = port92_reset,
	.lock = port92_lock,
};
