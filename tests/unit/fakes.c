#include "fakes.h"

#include <string.h>
#include <sys/uio.h>

#include "net/net.h"

static void fake_irq_set(void *opaque, unsigned gsi, int level)
{
	struct fake_env *env = opaque;
	g_assert_cmpuint(gsi, <, FAKE_MAX_GSI);
	if (level && !env->irq_level[gsi])
		env->irq_raises[gsi]++;
	env->irq_level[gsi] = level;
}

static void fake_reset(void *opaque, const char *why)
{
	(void)why;
	((struct fake_env *)opaque)->resets++;
}

static void fake_exit(void *opaque, int code, const char *why)
{
	(void)why;
	struct fake_env *env = opaque;
	env->exits++;
	env->exit_code = code;
}

struct fake_env *fake_env_new(int irq0, int irq1)
{
	struct fake_env *env = g_new0(struct fake_env, 1);
	env->ram = g_malloc0(FAKE_RAM_SIZE);
	guest_mem_add(&env->mem, 0, FAKE_RAM_SIZE, env->ram);
	env->clock = clock_new_virtual(0);
	env->hooks = (struct machine_hooks){ .reset = fake_reset,
					     .exit = fake_exit,
					     .flush_posted = fake_flush_posted,
					     .opaque = env };
	env->io = bus_new("test-io");
	env->ctx.mem = &env->mem;
	env->ctx.clock = env->clock;
	env->ctx.hooks = &env->hooks;
	int irqs[2] = { irq0, irq1 };
	for (int i = 0; i < 2; i++)
		if (irqs[i] >= 0)
			env->ctx.irq[i] = (struct irq_line){ fake_irq_set, env, (unsigned)irqs[i] };
	return env;
}

void fake_env_free(struct fake_env *env)
{
	bus_free(env->io);
	clock_free(env->clock);
	g_free(env->ram);
	g_free(env);
}

uint64_t fake_read(const struct bus_ops *ops, void *opaque, uint64_t off, unsigned size)
{
	return ops->read(opaque, off, size);
}

void fake_write(const struct bus_ops *ops, void *opaque, uint64_t off, uint64_t val, unsigned size)
{
	ops->write(opaque, off, val, size);
}

void fake_map(struct fake_env *env, uint64_t base, uint64_t len, const struct bus_ops *ops,
	      void *opaque, pthread_mutex_t *lock)
{
	g_assert_cmpint(bus_register(env->io, base, len, ops, opaque, lock, "test"), ==, 0);
}

static uint64_t fake_in(struct fake_env *env, uint16_t port, unsigned size)
{
	uint64_t v;
	bus_read(env->io, port, size, &v);
	return v;
}

uint64_t fake_inb(struct fake_env *env, uint16_t port) { return fake_in(env, port, 1); }
uint64_t fake_inw(struct fake_env *env, uint16_t port) { return fake_in(env, port, 2); }
uint64_t fake_inl(struct fake_env *env, uint16_t port) { return fake_in(env, port, 4); }
void fake_outb(struct fake_env *env, uint16_t port, uint8_t v) { bus_write(env->io, port, 1, v); }
void fake_outw(struct fake_env *env, uint16_t port, uint16_t v) { bus_write(env->io, port, 2, v); }
void fake_outl(struct fake_env *env, uint16_t port, uint32_t v) { bus_write(env->io, port, 4, v); }

void fake_post_outb(struct fake_env *env, uint16_t port, uint8_t v)
{
	g_assert_cmpuint(env->n_posted, <, FAKE_MAX_POSTED);
	env->posted[env->n_posted].port = port;
	env->posted[env->n_posted].val = v;
	env->n_posted++;
}

void fake_flush_posted(void *opaque)
{
	struct fake_env *env = opaque;
	env->flushes++;
	for (unsigned i = 0; i < env->n_posted; i++)
		bus_write(env->io, env->posted[i].port, 1, env->posted[i].val);
	env->n_posted = 0;
}

static int loop_send(struct net_backend *be, const struct iovec *iov, int iovcnt)
{
	static uint8_t frame[NET_MAX_FRAME];
	size_t len = 0;
	for (int i = 0; i < iovcnt; i++) {
		size_t n = MIN(iov[i].iov_len, sizeof(frame) - len);
		memcpy(frame + len, iov[i].iov_base, n);
		len += n;
	}
	net_port_deliver(be->port, frame, len);
	return 0;
}

static void loop_free(struct net_backend *be)
{
	g_free(be);
}

static const struct net_backend_ops loop_ops = {
	.name = "loopback",
	.send = loop_send,
	.free = loop_free,
};

struct net_port *fake_loopback_port(void)
{
	struct net_port *port = net_port_new(NULL);
	struct net_backend *be = g_new0(struct net_backend, 1);
	be->ops = &loop_ops;
	net_port_attach_backend(port, be);
	return port;
}
