#include "devices/test_exit.h"

#include <glib.h>

#include "devices/bus.h"

static uint64_t test_exit_read(void *opaque, uint64_t off, unsigned size)
{
	return ~0ull;
}

static void test_exit_write(void *opaque, uint64_t off, uint64_t data, unsigned size)
{
	struct test_exit *t = opaque;
	/* an exit status is 8 bits wide: (v << 1) | 1 keeps the low 7 bits of v, as in QEMU */
	machine_request_exit(t->hooks, (int)(((data << 1) | 1) & 0xFF), "guest wrote the test-exit port");
}

const struct bus_ops test_exit_ops = {
	.read = test_exit_read,
	.write = test_exit_write,
	.min_size = 1,
	.max_size = 4,
};

static void *test_exit_create(const struct dev_ctx *ctx)
{
	struct test_exit *t = g_new0(struct test_exit, 1);
	pthread_mutex_init(&t->lock, NULL);
	t->hooks = ctx->hooks;
	return t;
}

static void test_exit_destroy(void *dev)
{
	struct test_exit *t = dev;
	pthread_mutex_destroy(&t->lock);
	g_free(t);
}

static void test_exit_reset(void *dev)
{
}

static pthread_mutex_t *test_exit_lock(void *dev)
{
	return &((struct test_exit *)dev)->lock;
}

static const struct state_desc test_exit_state = { .name = "test-exit", .version = 1 };

const struct device_class test_exit_class = {
	.name = "test-exit",
	.state = &test_exit_state,
	.create = test_exit_create,
	.destroy = test_exit_destroy,
	.reset = test_exit_reset,
	.lock = test_exit_lock,
};
