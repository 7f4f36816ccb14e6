/*
 * Posted writes through a real /dev/kvm: a guest's writes to a posted span (KVM's coalesced
 * ring) and of posted values (an ioeventfd each) cause no exit, and reach the device at the
 * next exit, before that exit's own access, in the order the machine promises; other values
 * written to the same register exit as always. Regions that move take their posted writes
 * along.
 */
#include <glib.h>
#include <linux/kvm.h>
#include <string.h>
#include <sys/ioctl.h>

#include "devices/bus.h"
#include "kvm_util.h"
#include "kvm/kvm.h"
#include "kvm/vcpu.h"

#define RAM_SIZE (1u << 20)
#define CODE 0x1000
#define DEV 0x3F8  /* the recorder: 7 ports, up to DONE */
#define DONE 0x3FF /* a write here ends the guest */

struct write {
	uint16_t port;
	uint8_t value;
};

struct recorder {
	uint16_t base;
	struct write log[32];
	unsigned n;
};

static uint64_t rec_read(void *opaque, uint64_t off, unsigned size)
{
	(void)opaque, (void)off, (void)size;
	return 0x5A;
}

static void rec_write(void *opaque, uint64_t off, uint64_t data, unsigned size)
{
	struct recorder *r = opaque;
	(void)size;
	if (r->n < G_N_ELEMENTS(r->log))
		r->log[r->n++] = (struct write){ r->base + off, data };
}

/* Port 1 posted (any value); port 0 posted for 08h and 00h, in that order. */
static const struct bus_ops rec_ops = {
	rec_read,
	rec_write,
	1,
	1,
	.posted = { { 1, 1 } },
	.posted_values = { { 0, 1, 0x08 }, { 0, 1, 0x00 } },
};

struct fx {
	struct kvm_vm vm;
	struct vcpu vcpu;
	struct vcpu_env env;
	uint8_t *ram;
	struct recorder rec;
};

/* What pc.c does for the port bus. */
static void fx_posted(void *opaque, const struct bus_posted *p, bool on)
{
	struct kvm_vm *vm = opaque;
	if (p->match && on)
		g_assert_cmpint(kvm_vm_post_value(vm, p->addr, p->len, p->value, true), ==, 0);
	else if (p->match)
		g_assert_cmpint(kvm_vm_unpost_value(vm, p->addr, p->len, p->value, true), ==, 0);
	else if (on)
		kvm_vm_coalesce(vm, p->addr, p->len, true); /* optional: checked below */
	else
		kvm_vm_uncoalesce(vm, p->addr, p->len, true);
}

static void fx_request(void *opaque, struct vcpu *v, enum vcpu_action action, const char *why)
{
	(void)opaque, (void)v, (void)action, (void)why;
}

/* KVM with one vCPU, 1 MiB of RAM and a port bus; skips (fails under CI=true) without KVM or
 * without ioeventfds. */
static bool fx_open(struct fx *fx)
{
	memset(fx, 0, sizeof(*fx));
	if (!(fx->ram = fake_kvm_vm(&fx->vm, RAM_SIZE)))
		return false;
	g_assert_true(fx->vm.ioeventfd); /* in every kernel since 2.6.32 */
	char *error = NULL;
	fx->env = (struct vcpu_env){ .pio = bus_new("io"), .request = fx_request };
	g_assert_cmpint(vcpu_create(&fx->vcpu, &fx->vm, 0, 1, &fx->env, &error), ==, 0);
	bus_set_posted_hook(fx->env.pio, fx_posted, &fx->vm);
	return true;
}

static void fx_close(struct fx *fx)
{
	vcpu_destroy(&fx->vcpu);
	fake_kvm_vm_close(&fx->vm, fx->ram, RAM_SIZE);
	bus_free(fx->env.pio);
}

/* Real mode at 0:CODE. */
static void fx_load(struct fx *fx, const uint8_t *code, size_t len)
{
	memcpy(fx->ram + CODE, code, len);
	struct kvm_sregs sregs;
	g_assert_cmpint(ioctl(fx->vcpu.fd, KVM_GET_SREGS, &sregs), ==, 0);
	sregs.cs.base = 0;
	sregs.cs.selector = 0;
	g_assert_cmpint(ioctl(fx->vcpu.fd, KVM_SET_SREGS, &sregs), ==, 0);
	struct kvm_regs regs = { .rip = CODE, .rflags = 2 };
	g_assert_cmpint(ioctl(fx->vcpu.fd, KVM_SET_REGS, &regs), ==, 0);
}

/* Runs to the write to DONE as the vCPU thread does (drain, then handle), logging every exit
 * the guest made; returns how many there were before DONE. */
static unsigned fx_run(struct fx *fx, struct write *exits, unsigned max)
{
	struct kvm_run *run = fx->vcpu.run;
	for (unsigned n = 0;; n++) {
		g_assert_cmpint(ioctl(fx->vcpu.fd, KVM_RUN, 0), ==, 0);
		kvm_vm_drain_posted(&fx->vm, fx->env.pio, NULL);
		g_assert_cmpuint(run->exit_reason, ==, KVM_EXIT_IO);
		if (run->io.port == DONE)
			return n;
		g_assert_cmpuint(n, <, max);
		uint8_t *data = (uint8_t *)run + run->io.data_offset;
		exits[n] = (struct write){ run->io.port, run->io.direction == KVM_EXIT_IO_OUT ? *data
											     : 0xFF };
		char *why = NULL;
		g_assert_cmpint(vcpu_handle_exit(&fx->env, run, fx->vcpu.fd, &why), ==, VCPU_CONTINUE);
	}
}

static void assert_log(const struct recorder *r, const struct write *want, unsigned n)
{
	for (unsigned i = 0; i < MIN(n, r->n); i++) {
		g_assert_cmphex(r->log[i].port, ==, want[i].port);
		g_assert_cmphex(r->log[i].value, ==, want[i].value);
	}
	g_assert_cmpuint(r->n, ==, n);
}

/*
 *	mov dx, 0x3F9 / mov al, 0x11 / out dx, al	posted span: no exit
 *	dec dx / mov al, 0x08 / out dx, al		posted value: no exit
 *	mov al, 0x00 / out dx, al			posted value: no exit
 *	mov al, 0x05 / out dx, al			another value: exits
 *	mov al, 0x08 / out dx, al			posted value: no exit
 *	in al, dx					exits
 *	mov dx, 0x3FF / out dx, al			done
 */
static const uint8_t guest[] = {
	0xBA, 0xF9, 0x03, 0xB0, 0x11, 0xEE, 0x4A, 0xB0, 0x08, 0xEE, 0xB0, 0x00, 0xEE,
	0xB0, 0x05, 0xEE, 0xB0, 0x08, 0xEE, 0xEC, 0xBA, 0xFF, 0x03, 0xEE,
};

static void test_order(void)
{
	struct fx fx;
	if (!fx_open(&fx))
		return;
	fx.rec.base = DEV;
	g_assert_cmpint(bus_register(fx.env.pio, DEV, 7, &rec_ops, &fx.rec, NULL, "rec"), ==, 0);
	g_assert_cmpuint(fx.vm.n_values, ==, 2);
	bool ring = fx.vm.ring != NULL; /* coalesced PIO, where this KVM has it */
	fx_load(&fx, guest, sizeof(guest));

	struct write exits[8];
	unsigned n = fx_run(&fx, exits, G_N_ELEMENTS(exits));
	/* the device saw every write in the guest's order, the two posted values each before the
	 * exit that followed them: at the 05h, in the order declared */
	const struct write want[] = {
		{ 0x3F9, 0x11 }, { 0x3F8, 0x08 }, { 0x3F8, 0x00 }, { 0x3F8, 0x05 }, { 0x3F8, 0x08 },
	};
	assert_log(&fx.rec, want, G_N_ELEMENTS(want));
	/* and only the 05h and the read left the guest (plus the span's write without a ring) */
	g_assert_cmpuint(n, ==, ring ? 2 : 3);
	g_assert_cmphex(exits[n - 2].port, ==, 0x3F8);
	g_assert_cmphex(exits[n - 2].value, ==, 0x05);
	g_assert_cmphex(exits[n - 1].value, ==, 0xFF); /* the IN */
	fx_close(&fx);
}

/* A region that moves (a PCI BAR) takes its posted values along: at the old ports they exit
 * as plain writes (to nothing), at the new ones they are posted. */
static void test_moved(void)
{
	struct fx fx;
	if (!fx_open(&fx))
		return;
	fx.rec.base = 0x2F8;
	g_assert_cmpint(bus_register(fx.env.pio, DEV, 7, &rec_ops, &fx.rec, NULL, "rec"), ==, 0);
	g_assert_cmpint(bus_unregister(fx.env.pio, DEV, &fx.rec), ==, 0);
	g_assert_cmpuint(fx.vm.n_values, ==, 0);
	g_assert_cmpint(bus_register(fx.env.pio, 0x2F8, 7, &rec_ops, &fx.rec, NULL, "rec"), ==, 0);
	g_assert_cmpuint(fx.vm.n_values, ==, 2);
	/* mov dx, 0x3F8 / mov al, 0x08 / out dx, al (exits: nothing there now)
	 * mov dx, 0x2F8 / out dx, al (posted) / mov dx, 0x3FF / out dx, al */
	static const uint8_t code[] = { 0xBA, 0xF8, 0x03, 0xB0, 0x08, 0xEE, 0xBA, 0xF8,
					0x02, 0xEE, 0xBA, 0xFF, 0x03, 0xEE };
	fx_load(&fx, code, sizeof(code));
	struct write exits[4];
	g_assert_cmpuint(fx_run(&fx, exits, G_N_ELEMENTS(exits)), ==, 1);
	g_assert_cmphex(exits[0].port, ==, 0x3F8);
	const struct write want[] = { { 0x2F8, 0x08 } };
	assert_log(&fx.rec, want, 1);
	/* a VM torn down (a reset) forgets them; the machine posts them again on the next */
	kvm_vm_destroy(&fx.vm);
	g_assert_cmpuint(fx.vm.n_values, ==, 0);
	fx_close(&fx);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/posted/order", test_order);
	g_test_add_func("/posted/moved", test_moved);
	return g_test_run();
}
