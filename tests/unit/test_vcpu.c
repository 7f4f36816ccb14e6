/* vCPU exit handling with made-up struct kvm_run, and the per-vCPU CPUID topology. */
#include <glib.h>
#include <linux/kvm.h>
#include <string.h>
#include <sys/ioctl.h>

#include "devices/bus.h"
#include "kvm/kvm.h"
#include "kvm/vcpu.h"
#include "kvm_util.h"

struct port_log {
	uint8_t last_out[16];
	unsigned outs, ins;
	unsigned last_size;
};

static uint64_t port_read(void *opaque, uint64_t off, unsigned size)
{
	struct port_log *p = opaque;
	p->ins++;
	p->last_size = size;
	return 0xA0 + p->ins;
}

static void port_write(void *opaque, uint64_t off, uint64_t data, unsigned size)
{
	struct port_log *p = opaque;
	p->last_out[p->outs++ % 16] = data;
	p->last_size = size;
}

static const struct bus_ops port_ops = { port_read, port_write, 1, 4 };

struct fixture {
	struct bus *pio, *mmio;
	struct vcpu_env env;
	struct port_log log;
	union {
		struct kvm_run run;
		uint8_t page[4096];
	} r;
};

static void fixture_init(struct fixture *fx)
{
	memset(fx, 0, sizeof(*fx));
	fx->pio = bus_new("pio");
	fx->mmio = bus_new("mmio");
	fx->env.pio = fx->pio;
	fx->env.mmio = fx->mmio;
	bus_register(fx->pio, 0x3F8, 8, &port_ops, &fx->log, NULL, "log");
	bus_register(fx->mmio, 0xFEB00000, 0x1000, &port_ops, &fx->log, NULL, "log");
}

static void fixture_free(struct fixture *fx)
{
	bus_free(fx->pio);
	bus_free(fx->mmio);
}

static void test_string_io(void)
{
	struct fixture fx;
	fixture_init(&fx);
	/* rep outsb of "hi!" to port 0x3F8: one exit, count 3 */
	fx.r.run.exit_reason = KVM_EXIT_IO;
	fx.r.run.io.direction = KVM_EXIT_IO_OUT;
	fx.r.run.io.size = 1;
	fx.r.run.io.port = 0x3F8;
	fx.r.run.io.count = 3;
	fx.r.run.io.data_offset = 1024;
	memcpy(fx.r.page + 1024, "hi!", 3);
	char *why = NULL;
	g_assert_cmpint(vcpu_handle_exit(&fx.env, &fx.r.run, -1, &why), ==, VCPU_CONTINUE);
	g_assert_cmpuint(fx.log.outs, ==, 3);
	g_assert_cmpmem(fx.log.last_out, 3, "hi!", 3);
	/* rep insw of 2 words */
	fx.r.run.io.direction = KVM_EXIT_IO_IN;
	fx.r.run.io.size = 2;
	fx.r.run.io.count = 2;
	g_assert_cmpint(vcpu_handle_exit(&fx.env, &fx.r.run, -1, &why), ==, VCPU_CONTINUE);
	g_assert_cmpuint(fx.log.ins, ==, 2);
	g_assert_cmpuint(fx.r.page[1024], ==, 0xA1);
	g_assert_cmpuint(fx.r.page[1026], ==, 0xA2);
	/* an unclaimed port reads all-ones and the vCPU carries on */
	fx.r.run.io.port = 0x1234;
	fx.r.run.io.count = 1;
	g_assert_cmpint(vcpu_handle_exit(&fx.env, &fx.r.run, -1, &why), ==, VCPU_CONTINUE);
	g_assert_cmphex(fx.r.page[1024], ==, 0xFF);
	fixture_free(&fx);
}

static void test_mmio(void)
{
	struct fixture fx;
	fixture_init(&fx);
	fx.r.run.exit_reason = KVM_EXIT_MMIO;
	fx.r.run.mmio.phys_addr = 0xFEB00010;
	fx.r.run.mmio.len = 4;
	fx.r.run.mmio.is_write = 0;
	char *why = NULL;
	g_assert_cmpint(vcpu_handle_exit(&fx.env, &fx.r.run, -1, &why), ==, VCPU_CONTINUE);
	g_assert_cmpuint(fx.r.run.mmio.data[0], ==, 0xA1);
	g_assert_cmpuint(fx.log.last_size, ==, 4);
	/* a write to the read-only BIOS (no region) is dropped; an absurd length is ignored */
	fx.r.run.mmio.phys_addr = 0xFFFF0000;
	fx.r.run.mmio.is_write = 1;
	g_assert_cmpint(vcpu_handle_exit(&fx.env, &fx.r.run, -1, &why), ==, VCPU_CONTINUE);
	fx.r.run.mmio.len = 200;
	g_assert_cmpint(vcpu_handle_exit(&fx.env, &fx.r.run, -1, &why), ==, VCPU_CONTINUE);
	fixture_free(&fx);
}

static void test_machine_exits(void)
{
	struct fixture fx;
	fixture_init(&fx);
	char *why = NULL;
	fx.r.run.exit_reason = KVM_EXIT_SHUTDOWN;
	g_assert_cmpint(vcpu_handle_exit(&fx.env, &fx.r.run, -1, &why), ==, VCPU_RESET);
	g_assert_nonnull(strstr(why, "triple fault"));
	g_clear_pointer(&why, g_free);
	fx.r.run.exit_reason = KVM_EXIT_SYSTEM_EVENT;
	fx.r.run.system_event.type = KVM_SYSTEM_EVENT_SHUTDOWN;
	g_assert_cmpint(vcpu_handle_exit(&fx.env, &fx.r.run, -1, &why), ==, VCPU_POWEROFF);
	g_clear_pointer(&why, g_free);
	fx.r.run.system_event.type = KVM_SYSTEM_EVENT_RESET;
	g_assert_cmpint(vcpu_handle_exit(&fx.env, &fx.r.run, -1, &why), ==, VCPU_RESET);
	g_clear_pointer(&why, g_free);
	fx.r.run.exit_reason = KVM_EXIT_INTERNAL_ERROR;
	fx.r.run.internal.suberror = KVM_INTERNAL_ERROR_EMULATION;
	fx.r.run.internal.ndata = 2;
	fx.r.run.internal.data[0] = 0x1;
	fx.r.run.internal.data[1] = 0x27;
	g_assert_cmpint(vcpu_handle_exit(&fx.env, &fx.r.run, -1, &why), ==, VCPU_FAILED);
	g_assert_nonnull(strstr(why, "instruction emulation failed"));
	g_assert_nonnull(strstr(why, "0x27"));
	g_clear_pointer(&why, g_free);
	fx.r.run.exit_reason = 9999;
	g_assert_cmpint(vcpu_handle_exit(&fx.env, &fx.r.run, -1, &why), ==, VCPU_FAILED);
	g_assert_nonnull(strstr(why, "9999"));
	g_free(why);
	fixture_free(&fx);
}

static const struct kvm_cpuid_entry2 *find_leaf(const struct kvm_cpuid2 *c, uint32_t fn,
						uint32_t idx)
{
	for (uint32_t i = 0; i < c->nent; i++)
		if (c->entries[i].function == fn && c->entries[i].index == idx)
			return &c->entries[i];
	return NULL;
}

/* Coalesced writes come out of the ring in order, port writes on the port bus and memory writes
 * on the memory bus (the same address on the other bus is not them), and a ring whose contents
 * make no sense (KVM's memory, but still: bounds) is consumed without harm. */
static void test_coalesced_drain(void)
{
	struct fixture fx;
	fixture_init(&fx);
	struct kvm_vm vm = { 0 };
	pthread_mutex_init(&vm.ring_lock, NULL);
	union {
		struct kvm_coalesced_mmio_ring ring;
		uint8_t page[4096];
	} *mem = g_malloc0(sizeof(*mem));
	vm.ring = &mem->ring;
	vm.ring_entries = (4096 - sizeof(struct kvm_coalesced_mmio_ring)) /
			  sizeof(struct kvm_coalesced_mmio);
	kvm_vm_drain_posted(&vm, fx.pio, fx.mmio); /* empty: nothing */
	g_assert_cmpuint(fx.log.outs, ==, 0);

	/* three port writes that wrap around the end of the ring, a memory write, a memory write
	 * at a port's address (nothing there on the memory bus), then two bogus ones */
	const struct kvm_coalesced_mmio entries[] = {
		{ .phys_addr = 0x3F9, .len = 1, .pio = 1, .data = { 0x11 } },
		{ .phys_addr = 0x3FA, .len = 1, .pio = 1, .data = { 0x22 } },
		{ .phys_addr = 0x3FB, .len = 1, .pio = 1, .data = { 0x33 } },
		{ .phys_addr = 0xFEB00010, .len = 4, .pio = 0, .data = { 0x44, 0, 0, 0 } },
		{ .phys_addr = 0x3F9, .len = 1, .pio = 0, .data = { 0x55 } },
		{ .phys_addr = 0x3F8, .len = 200, .pio = 1 },
		{ .phys_addr = 0xFEB00000, .len = 16, .pio = 0 },
	};
	const unsigned n = G_N_ELEMENTS(entries);
	uint32_t first = vm.ring_entries - 2;
	for (unsigned i = 0; i < n; i++)
		mem->ring.coalesced_mmio[(first + i) % vm.ring_entries] = entries[i];
	mem->ring.first = first;
	mem->ring.last = (first + n) % vm.ring_entries;
	kvm_vm_drain_posted(&vm, fx.pio, fx.mmio);
	const uint8_t want[] = { 0x11, 0x22, 0x33, 0x44 };
	g_assert_cmpuint(fx.log.outs, ==, 4);
	g_assert_cmpmem(fx.log.last_out, 4, want, 4);
	g_assert_cmpuint(fx.log.last_size, ==, 4);
	g_assert_cmpuint(mem->ring.first, ==, mem->ring.last);
	g_free(mem);
	pthread_mutex_destroy(&vm.ring_lock);
	fixture_free(&fx);
}

static void test_cpuid_topology(void)
{
	struct kvm_cpuid2 *base = g_malloc0(sizeof(*base) + 4 * sizeof(struct kvm_cpuid_entry2));
	base->nent = 4;
	base->entries[0] = (struct kvm_cpuid_entry2){ .function = 1, .ebx = 0x00020800, .edx = 0 };
	base->entries[1] = (struct kvm_cpuid_entry2){ .function = 0xB, .index = 0 };
	base->entries[2] = (struct kvm_cpuid_entry2){ .function = 0xB, .index = 1 };
	base->entries[3] = (struct kvm_cpuid_entry2){ .function = 4, .index = 0, .eax = 0x121 };
	struct kvm_cpuid2 *c = cpuid_for_vcpu(base, 2, 4);
	const struct kvm_cpuid_entry2 *l1 = find_leaf(c, 1, 0);
	g_assert_cmphex(l1->ebx >> 24, ==, 2);		/* initial APIC ID */
	g_assert_cmphex((l1->ebx >> 16) & 0xFF, ==, 4); /* logical processors */
	g_assert_cmphex(l1->ebx & 0xFFFF, ==, 0x0800);	/* CLFLUSH size, brand kept */
	g_assert_true(l1->edx & (1u << 28));		/* HTT */
	g_assert_true(l1->ecx & (1u << 31));		/* hypervisor */
	g_assert_cmpuint(find_leaf(c, 0xB, 0)->edx, ==, 2);
	g_assert_cmpuint(find_leaf(c, 0xB, 1)->ebx, ==, 4);
	g_assert_cmpuint(find_leaf(c, 0xB, 1)->eax, ==, 2); /* x2APIC ID shift for 4 cores */
	g_assert_cmpuint(find_leaf(c, 4, 0)->eax >> 26, ==, 3);
	g_free(c);
	c = cpuid_for_vcpu(base, 0, 1);
	g_assert_false(find_leaf(c, 1, 0)->edx & (1u << 28));
	g_free(c);
	g_free(base);
}

static void ignore_request(void *opaque, struct vcpu *v, enum vcpu_action action,
			   const char *why)
{
	(void)opaque, (void)v, (void)action, (void)why;
}

/* A vCPU started paused (a reset or revert of a paused VM) runs no guest instruction until it
 * is resumed. The guest counts in RAM: 0x1000: inc byte [0x2000] / jmp 0x1000. */
static void test_start_paused(void)
{
	struct kvm_vm vm;
	uint8_t *ram = fake_kvm_vm(&vm, 1u << 20);
	if (!ram)
		return;
	static const uint8_t loop[] = { 0xFE, 0x06, 0x00, 0x20, 0xEB, 0xFA };
	memcpy(ram + 0x1000, loop, sizeof(loop));
	struct bus *pio = bus_new("io");
	struct vcpu_env env = { .pio = pio, .request = ignore_request };
	struct vcpu v;
	char *error = NULL;
	g_assert_cmpint(vcpu_create(&v, &vm, 0, 1, &env, &error), ==, 0);
	struct kvm_sregs sregs;
	g_assert_cmpint(ioctl(v.fd, KVM_GET_SREGS, &sregs), ==, 0);
	sregs.cs.base = sregs.cs.selector = sregs.ds.base = sregs.ds.selector = 0;
	g_assert_cmpint(ioctl(v.fd, KVM_SET_SREGS, &sregs), ==, 0);
	struct kvm_regs regs = { .rip = 0x1000, .rflags = 2 };
	g_assert_cmpint(ioctl(v.fd, KVM_SET_REGS, &regs), ==, 0);

	g_assert_cmpint(vcpu_start(&v, VCPU_PAUSED, &error), ==, 0);
	g_usleep(200 * 1000);
	g_assert_cmpuint(__atomic_load_n(&ram[0x2000], __ATOMIC_RELAXED), ==, 0);
	vcpu_set_state(&v, VCPU_RUNNING);
	gint64 end = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
	while (!__atomic_load_n(&ram[0x2000], __ATOMIC_RELAXED) && g_get_monotonic_time() < end)
		g_usleep(1000);
	g_assert_cmpuint(__atomic_load_n(&ram[0x2000], __ATOMIC_RELAXED), !=, 0);
	vcpu_destroy(&v);
	fake_kvm_vm_close(&vm, ram, 1u << 20);
	bus_free(pio);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/vcpu/string-io", test_string_io);
	g_test_add_func("/vcpu/mmio", test_mmio);
	g_test_add_func("/vcpu/machine-exits", test_machine_exits);
	g_test_add_func("/vcpu/cpuid-topology", test_cpuid_topology);
	g_test_add_func("/vcpu/coalesced-drain", test_coalesced_drain);
	g_test_add_func("/vcpu/start-paused", test_start_paused);
	return g_test_run();
}
