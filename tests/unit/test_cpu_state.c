/*
 * vCPU and in-kernel VM state through a real /dev/kvm: values set, saved, changed, loaded and
 * read back; damaged payloads refused before any ioctl, with the vCPU unchanged; a load that
 * KVM refuses half-way puts the previous state back; pending I/O completed before a save.
 */
#include <errno.h>
#include <glib.h>
#include <linux/kvm.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <zlib.h>

#include "kvm_util.h"
#include "kvm/cpu_state.h"
#include "kvm/kvm.h"
#include "kvm/vcpu.h"

#define RAM_SIZE (1u << 20)
#define MSR_IA32_TSC 0x10u
#define MSR_IA32_SYSENTER_CS 0x174u
#define MSR_IA32_SYSENTER_ESP 0x175u
#define MSR_IA32_SYSENTER_EIP 0x176u
#define MSR_IA32_MISC_ENABLE 0x1A0u
#define MSR_IA32_CR_PAT 0x277u
#define MSR_IA32_TSC_DEADLINE 0x6E0u
#define MSR_STAR 0xC0000081u
#define MSR_LSTAR 0xC0000082u
#define MSR_CSTAR 0xC0000083u
#define MSR_SYSCALL_MASK 0xC0000084u
#define MSR_KERNEL_GS_BASE 0xC0000102u
#define MSR_KVM_SYSTEM_TIME_NEW 0x4B564D01u
#define APIC_TASKPRI 0x80
#define APIC_SPIV 0xF0
#define APIC_LVTT 0x320
#define APIC_LVT0 0x350
#define APIC_TMICT 0x380

struct fx {
	struct kvm_vm vm;
	struct vcpu vcpu;
	struct vcpu_env env;
	uint8_t *ram;
	int fd;
	/* KVM without VT-x/AMD-V (testing.md) accepts IA32_TSC writes but keeps the host's TSC */
	bool tsc_settable;
	uint64_t tsc_deadline; /* what cpu_set_values(true) armed: 2^50 past the TSC it read */
};

static bool probe_tsc_settable(int fd);

/* Opens KVM with one vCPU and 1 MiB of RAM at 0; skips (fails under CI=true) without KVM. */
static bool fx_open(struct fx *fx)
{
	memset(fx, 0, sizeof(*fx));
	if (!(fx->ram = fake_kvm_vm(&fx->vm, RAM_SIZE)))
		return false;
	char *error = NULL;
	g_assert_cmpint(vcpu_create(&fx->vcpu, &fx->vm, 0, 1, &fx->env, &error), ==, 0);
	fx->fd = fx->vcpu.fd;
	fx->tsc_settable = probe_tsc_settable(fx->fd);
	return true;
}

static void fx_close(struct fx *fx)
{
	vcpu_destroy(&fx->vcpu);
	fake_kvm_vm_close(&fx->vm, fx->ram, RAM_SIZE);
}

/* ---- direct KVM access ---- */

/* Fails with the message, if any. */
static void assert_no_error(const char *error)
{
	if (error)
		g_error("%s", error);
}

static void xioctl(int fd, unsigned long req, void *arg)
{
	if (ioctl(fd, req, arg) < 0)
		g_error("ioctl %#lx: %s", req, g_strerror(errno));
}

/* One MSR through KVM_GET_MSRS / KVM_SET_MSRS (struct kvm_msrs ends in a flexible array). */
static struct kvm_msrs *msr_one(uint32_t index, uint64_t value)
{
	struct kvm_msrs *m = g_malloc0(sizeof(*m) + sizeof(m->entries[0]));
	m->nmsrs = 1;
	m->entries[0] = (struct kvm_msr_entry){ .index = index, .data = value };
	return m;
}

static uint64_t msr_get(int fd, uint32_t index)
{
	g_autofree struct kvm_msrs *m = msr_one(index, 0);
	g_assert_cmpint(ioctl(fd, KVM_GET_MSRS, m), ==, 1);
	return m->entries[0].data;
}

static void msr_set(int fd, uint32_t index, uint64_t value)
{
	g_autofree struct kvm_msrs *m = msr_one(index, value);
	g_assert_cmpint(ioctl(fd, KVM_SET_MSRS, m), ==, 1);
}

static bool probe_tsc_settable(int fd)
{
	const uint64_t target = 1ull << 52; /* years ahead of any host's TSC */
	msr_set(fd, MSR_IA32_TSC, target);
	uint64_t got = msr_get(fd, MSR_IA32_TSC);
	msr_set(fd, MSR_IA32_TSC, 0);
	return got >= target && got - target < (1ull << 40);
}

static uint32_t lapic_reg(const struct kvm_lapic_state *l, unsigned off)
{
	uint32_t v;
	memcpy(&v, l->regs + off, 4);
	return v;
}

static void lapic_set_reg(struct kvm_lapic_state *l, unsigned off, uint32_t v)
{
	memcpy(l->regs + off, &v, 4);
}

static bool guest_has_tsc_deadline(const struct kvm_vm *vm)
{
	for (uint32_t i = 0; i < vm->cpuid->nent; i++)
		if (vm->cpuid->entries[i].function == 1)
			return vm->cpuid->entries[i].ecx & (1u << 24);
	return false;
}

/* MSRs a test sets, with two sets of valid values. */
static const struct {
	uint32_t index;
	uint64_t a, b;
} test_msrs[] = {
	{ MSR_IA32_SYSENTER_CS, 0x10, 0x20 },
	{ MSR_IA32_SYSENTER_ESP, 0xFFFFFFFF81234000ull, 0x8000 },
	{ MSR_IA32_SYSENTER_EIP, 0xFFFFFFFF81000100ull, 0x9000 },
	{ MSR_STAR, 0x0023001000000000ull, 0x001B000800000000ull },
	{ MSR_LSTAR, 0xFFFFFFFF81800000ull, 0xFFFFFFFF82000000ull },
	{ MSR_CSTAR, 0xFFFFFFFF81800100ull, 0 },
	{ MSR_SYSCALL_MASK, 0x47700, 0x200 },
	{ MSR_KERNEL_GS_BASE, 0xFFFF888012340000ull, 0x7F0000001000ull },
	{ MSR_IA32_CR_PAT, 0x0007010600070106ull, 0x0007040600070406ull },
	{ MSR_IA32_MISC_ENABLE, 0x1, 0x801 },
	{ MSR_KVM_SYSTEM_TIME_NEW, 0x5001, 0 },
};

/* Everything a load must bring back, read with KVM's own ioctls. */
struct cpu_view {
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	struct kvm_lapic_state lapic;
	struct kvm_vcpu_events events;
	struct kvm_debugregs dbg;
	struct kvm_mp_state mp;
	struct kvm_xcrs xcrs;
	uint8_t xsave[4096];
	uint64_t msrs[G_N_ELEMENTS(test_msrs)];
	uint64_t tsc_deadline;
	uint64_t tsc;
};

static void cpu_view_read(int fd, struct cpu_view *v)
{
	memset(v, 0, sizeof(*v));
	xioctl(fd, KVM_GET_REGS, &v->regs);
	xioctl(fd, KVM_GET_SREGS, &v->sregs);
	xioctl(fd, KVM_GET_LAPIC, &v->lapic);
	xioctl(fd, KVM_GET_VCPU_EVENTS, &v->events);
	xioctl(fd, KVM_GET_DEBUGREGS, &v->dbg);
	xioctl(fd, KVM_GET_MP_STATE, &v->mp);
	xioctl(fd, KVM_GET_XCRS, &v->xcrs);
	xioctl(fd, KVM_GET_XSAVE, v->xsave);
	for (size_t i = 0; i < G_N_ELEMENTS(test_msrs); i++)
		v->msrs[i] = msr_get(fd, test_msrs[i].index);
	v->tsc_deadline = msr_get(fd, MSR_IA32_TSC_DEADLINE);
	v->tsc = msr_get(fd, MSR_IA32_TSC);
}

/* Equal but for the TSC, which runs on: it must not have gone back nor far ahead (where this
 * host's KVM can set it at all). */
static void cpu_view_assert_equal(const struct fx *fx, const struct cpu_view *want,
				  const struct cpu_view *got)
{
	int fd = fx->fd;
	g_assert_cmpmem(&want->regs, sizeof(want->regs), &got->regs, sizeof(got->regs));
	g_assert_cmpmem(&want->sregs, sizeof(want->sregs), &got->sregs, sizeof(got->sregs));
	g_assert_cmpmem(&want->lapic, sizeof(want->lapic), &got->lapic, sizeof(got->lapic));
	g_assert_cmpmem(&want->events, sizeof(want->events), &got->events, sizeof(got->events));
	g_assert_cmpmem(&want->dbg, sizeof(want->dbg), &got->dbg, sizeof(got->dbg));
	g_assert_cmpuint(want->mp.mp_state, ==, got->mp.mp_state);
	g_assert_cmpmem(&want->xcrs, sizeof(want->xcrs), &got->xcrs, sizeof(got->xcrs));
	g_assert_cmpmem(want->xsave, sizeof(want->xsave), got->xsave, sizeof(got->xsave));
	for (size_t i = 0; i < G_N_ELEMENTS(test_msrs); i++)
		g_assert_cmphex(want->msrs[i], ==, got->msrs[i]);
	g_assert_cmphex(want->tsc_deadline, ==, got->tsc_deadline);
	int khz = ioctl(fd, KVM_GET_TSC_KHZ, 0);
	g_assert_cmpint(khz, >, 0);
	if (!fx->tsc_settable)
		return;
	g_assert_cmpuint(got->tsc, >=, want->tsc);
	g_assert_cmpuint(got->tsc - want->tsc, <, (uint64_t)khz * 1000 * 10);
}

/* Gives every piece of vCPU state a value other than its reset value: set A or set B. */
static void cpu_set_values(struct fx *fx, bool a)
{
	int fd = fx->fd;
	struct kvm_regs regs;
	xioctl(fd, KVM_GET_REGS, &regs);
	regs.rax = a ? 0x1111222233334444ull : 7;
	regs.rbx = a ? 0xB0B0 : 8;
	regs.r15 = a ? 0xF15F15 : 9;
	regs.rsp = a ? 0x7000 : 0x6000;
	regs.rip = a ? 0x1234 : 0x4321;
	regs.rflags = a ? 0x246 : 0x2;
	xioctl(fd, KVM_SET_REGS, &regs);

	struct kvm_sregs sregs;
	xioctl(fd, KVM_GET_SREGS, &sregs);
	sregs.cs.base = a ? 0x10000 : 0x20000;
	sregs.cs.selector = a ? 0x1000 : 0x2000;
	sregs.ds.base = a ? 0x30000 : 0;
	sregs.ds.selector = a ? 0x3000 : 0;
	sregs.cr2 = a ? 0xDEAD000 : 0;
	sregs.cr3 = a ? 0x9000 : 0x8000;
	sregs.gdt.base = a ? 0x500 : 0x600;
	sregs.gdt.limit = a ? 0x27 : 0x17;
	sregs.idt.limit = a ? 0x7FF : 0x3FF;
	xioctl(fd, KVM_SET_SREGS, &sregs);

	struct kvm_xcrs xcrs;
	xioctl(fd, KVM_GET_XCRS, &xcrs);
	g_assert_cmpuint(xcrs.nr_xcrs, >=, 1);
	xcrs.xcrs[0].value = a ? 0x3 : 0x1;
	xioctl(fd, KVM_SET_XCRS, &xcrs);

	uint8_t xsave[4096];
	xioctl(fd, KVM_GET_XSAVE, xsave);
	memset(xsave + 160, a ? 0xA5 : 0x5A, 16); /* XMM0 in the legacy area */
	uint64_t bv;
	memcpy(&bv, xsave + 512, 8);
	bv |= 2; /* SSE state present */
	memcpy(xsave + 512, &bv, 8);
	xioctl(fd, KVM_SET_XSAVE, xsave);

	for (size_t i = 0; i < G_N_ELEMENTS(test_msrs); i++)
		msr_set(fd, test_msrs[i].index, a ? test_msrs[i].a : test_msrs[i].b);
	msr_set(fd, MSR_IA32_TSC, a ? 1ull << 40 : 12345);

	struct kvm_lapic_state lapic;
	xioctl(fd, KVM_GET_LAPIC, &lapic);
	lapic_set_reg(&lapic, APIC_TASKPRI, a ? 0x20 : 0x0);
	lapic_set_reg(&lapic, APIC_SPIV, a ? 0x1FF : 0x10F);
	lapic_set_reg(&lapic, APIC_LVT0, a ? 0x700 : 0x10000);
	/* TSC-deadline mode where the guest's CPUID has it, masked one-shot otherwise */
	bool deadline = guest_has_tsc_deadline(&fx->vm);
	lapic_set_reg(&lapic, APIC_LVTT, (a && deadline) ? 0x400EF : 0x100EF);
	xioctl(fd, KVM_SET_LAPIC, &lapic);
	if (a && deadline) {
		/* far ahead of the TSC the vCPU has (the host's, where TSC writes are ignored),
		 * so the timer does not fire between two reads */
		fx->tsc_deadline = msr_get(fd, MSR_IA32_TSC) + (1ull << 50);
		msr_set(fd, MSR_IA32_TSC_DEADLINE, fx->tsc_deadline);
	}

	struct kvm_vcpu_events ev;
	xioctl(fd, KVM_GET_VCPU_EVENTS, &ev);
	ev.nmi.masked = a;
	ev.interrupt.shadow = a ? KVM_X86_SHADOW_INT_STI : 0;
	ev.flags = KVM_VCPUEVENT_VALID_SHADOW;
	xioctl(fd, KVM_SET_VCPU_EVENTS, &ev);

	struct kvm_debugregs dbg;
	xioctl(fd, KVM_GET_DEBUGREGS, &dbg);
	dbg.db[0] = a ? 0x1000 : 0;
	dbg.db[3] = a ? 0x4000 : 0x8;
	dbg.dr7 = a ? 0x401 : 0x400;
	xioctl(fd, KVM_SET_DEBUGREGS, &dbg);

	struct kvm_mp_state mp = { a ? KVM_MP_STATE_HALTED : KVM_MP_STATE_RUNNABLE };
	xioctl(fd, KVM_SET_MP_STATE, &mp);
}

static void test_cpu_round_trip(void)
{
	struct fx fx;
	if (!fx_open(&fx))
		return;
	char *error = NULL;
	cpu_set_values(&fx, true);
	struct cpu_view a, b, after;
	cpu_view_read(fx.fd, &a);
	GByteArray *saved = g_byte_array_new();
	g_assert_cmpint(cpu_state_save(fx.fd, &fx.vm, saved, &error), ==, 0);
	g_assert_null(error);
	g_assert_cmpint(cpu_state_validate(&fx.vm, saved->data, saved->len, &error), ==, 0);

	cpu_set_values(&fx, false);
	cpu_view_read(fx.fd, &b);
	g_assert_cmphex(b.regs.rax, !=, a.regs.rax);
	g_assert_cmphex(b.msrs[0], !=, a.msrs[0]);
	if (fx.tsc_settable)
		g_assert_cmpuint(b.tsc, <, a.tsc);
	else
		g_test_message("this host's KVM ignores TSC writes (no VT-x): TSC not compared");

	g_assert_cmpint(cpu_state_load(fx.fd, &fx.vm, saved->data, saved->len, &error), ==, 0);
	g_assert_null(error);
	cpu_view_read(fx.fd, &after);
	cpu_view_assert_equal(&fx, &a, &after);
	g_assert_cmphex(after.regs.rax, ==, 0x1111222233334444ull);
	g_assert_cmphex(after.sregs.cs.base, ==, 0x10000);
	g_assert_cmphex(lapic_reg(&after.lapic, APIC_TASKPRI), ==, 0x20);
	g_assert_cmpuint(after.mp.mp_state, ==, KVM_MP_STATE_HALTED);
	g_assert_cmphex(after.msrs[4], ==, test_msrs[4].a);
	if (!guest_has_tsc_deadline(&fx.vm))
		g_test_message("this host's KVM offers no TSC-deadline timer: not tested");
	else
		g_assert_cmphex(after.tsc_deadline, ==, fx.tsc_deadline);

	g_byte_array_free(saved, TRUE);
	fx_close(&fx);
}

/* The guest's TSC continues from the saved value, not from wherever it was before the load. */
static void test_tsc_continues(void)
{
	struct fx fx;
	if (!fx_open(&fx))
		return;
	if (!fx.tsc_settable) {
		g_test_skip("this host's KVM ignores IA32_TSC writes (no VT-x/AMD-V TSC offset)");
		fx_close(&fx);
		return;
	}
	char *error = NULL;
	const uint64_t t0 = 5000000000000ull;
	msr_set(fx.fd, MSR_IA32_TSC, t0);
	GByteArray *saved = g_byte_array_new();
	g_assert_cmpint(cpu_state_save(fx.fd, &fx.vm, saved, &error), ==, 0);
	msr_set(fx.fd, MSR_IA32_TSC, 99);
	g_assert_cmpuint(msr_get(fx.fd, MSR_IA32_TSC), <, t0);
	g_usleep(20000);
	g_assert_cmpint(cpu_state_load(fx.fd, &fx.vm, saved->data, saved->len, &error), ==, 0);
	uint64_t tsc = msr_get(fx.fd, MSR_IA32_TSC);
	int khz = ioctl(fx.fd, KVM_GET_TSC_KHZ, 0);
	g_assert_cmpuint(tsc, >=, t0);
	g_assert_cmpuint(tsc - t0, <, (uint64_t)khz * 1000); /* well under a second's worth */
	g_byte_array_free(saved, TRUE);
	fx_close(&fx);
}

/* ---- the in-kernel chips, PIT and clock ---- */

struct vm_view {
	struct kvm_irqchip pic[2], ioapic;
	struct kvm_pit_state2 pit;
	struct kvm_clock_data clock;
};

static void vm_view_read(const struct kvm_vm *vm, struct vm_view *v)
{
	memset(v, 0, sizeof(*v));
	v->pic[0].chip_id = KVM_IRQCHIP_PIC_MASTER;
	v->pic[1].chip_id = KVM_IRQCHIP_PIC_SLAVE;
	v->ioapic.chip_id = KVM_IRQCHIP_IOAPIC;
	xioctl(vm->vm_fd, KVM_GET_IRQCHIP, &v->pic[0]);
	xioctl(vm->vm_fd, KVM_GET_IRQCHIP, &v->pic[1]);
	xioctl(vm->vm_fd, KVM_GET_IRQCHIP, &v->ioapic);
	xioctl(vm->vm_fd, KVM_GET_PIT2, &v->pit);
	xioctl(vm->vm_fd, KVM_GET_CLOCK, &v->clock);
}

static void vm_set_values(const struct kvm_vm *vm, bool a)
{
	struct vm_view v;
	vm_view_read(vm, &v);
	v.pic[0].chip.pic.imr = a ? 0x5A : 0xFF;
	v.pic[0].chip.pic.irq_base = a ? 0x08 : 0x20;
	v.pic[1].chip.pic.imr = a ? 0xC3 : 0xFF;
	v.pic[1].chip.pic.irq_base = a ? 0x70 : 0x28;
	v.ioapic.chip.ioapic.id = a ? 1 : 0;
	v.ioapic.chip.ioapic.redirtbl[5].bits = a ? 0x0300000000008035ull : 0x10000;
	v.ioapic.chip.ioapic.redirtbl[11].bits = a ? 0x0100000000000041ull : 0x10000;
	xioctl(vm->vm_fd, KVM_SET_IRQCHIP, &v.pic[0]);
	xioctl(vm->vm_fd, KVM_SET_IRQCHIP, &v.pic[1]);
	xioctl(vm->vm_fd, KVM_SET_IRQCHIP, &v.ioapic);
	v.pit.channels[0].count = a ? 1193 : 65536;
	v.pit.channels[0].mode = a ? 2 : 3;
	v.pit.channels[0].rw_mode = 3;
	v.pit.channels[2].count = a ? 4000 : 100;
	v.pit.channels[2].mode = a ? 3 : 0;
	/* HPET legacy mode stops channel 0's timer: a running PIT raises IRQ0 in the PIC
	 * between two reads, and the views are compared byte for byte. (A fresh VM's PIT
	 * has the flag clear: into_fresh_vm sees it carried over.) */
	v.pit.flags = KVM_PIT_FLAGS_HPET_LEGACY;
	xioctl(vm->vm_fd, KVM_SET_PIT2, &v.pit);
	struct kvm_clock_data c = { .clock = a ? 10000000000ull : 500000000000ull };
	xioctl(vm->vm_fd, KVM_SET_CLOCK, &c);
}

static void test_vm_round_trip(void)
{
	struct fx fx;
	if (!fx_open(&fx))
		return;
	char *error = NULL;
	vm_set_values(&fx.vm, true);
	struct vm_view a, after;
	vm_view_read(&fx.vm, &a);
	GByteArray *saved = g_byte_array_new();
	g_assert_cmpint(vm_kernel_state_save(&fx.vm, saved, &error), ==, 0);
	g_assert_null(error);
	vm_set_values(&fx.vm, false);
	vm_kernel_state_load(&fx.vm, saved->data, saved->len, &error);
	assert_no_error(error);
	vm_view_read(&fx.vm, &after);
	for (int i = 0; i < 2; i++)
		g_assert_cmpmem(&a.pic[i].chip.pic, sizeof(a.pic[i].chip.pic),
				&after.pic[i].chip.pic, sizeof(after.pic[i].chip.pic));
	g_assert_cmpmem(&a.ioapic.chip.ioapic, sizeof(a.ioapic.chip.ioapic),
			&after.ioapic.chip.ioapic, sizeof(after.ioapic.chip.ioapic));
	for (int i = 0; i < 3; i++) {
		g_assert_cmpuint(a.pit.channels[i].count, ==, after.pit.channels[i].count);
		g_assert_cmpuint(a.pit.channels[i].mode, ==, after.pit.channels[i].mode);
	}
	/* the clock continues from the saved value */
	g_assert_cmpuint(after.clock.clock, >=, a.clock.clock);
	g_assert_cmpuint(after.clock.clock - a.clock.clock, <, 30000000000ull); /* not b's 500 s */
	g_byte_array_free(saved, TRUE);
	fx_close(&fx);
}

/* Suspend to disk and resume in a new process: the state goes into a VM created afresh, and an
 * application processor still waiting for its SIPI stays waiting. */
static void test_into_fresh_vm(void)
{
	struct fx old, fresh;
	if (!fx_open(&old))
		return;
	char *error = NULL;
	struct vcpu ap_old, ap_fresh;
	g_assert_cmpint(vcpu_create(&ap_old, &old.vm, 1, 2, &old.env, &error), ==, 0);
	cpu_set_values(&old, true);
	vm_set_values(&old.vm, true);
	struct cpu_view a, ap_a, after;
	cpu_view_read(old.fd, &a);
	cpu_view_read(ap_old.fd, &ap_a);
	g_assert_cmpuint(ap_a.mp.mp_state, ==, KVM_MP_STATE_UNINITIALIZED);
	struct vm_view va, vafter;
	vm_view_read(&old.vm, &va);
	GByteArray *bsp = g_byte_array_new(), *ap = g_byte_array_new(), *kvm = g_byte_array_new();
	g_assert_cmpint(cpu_state_save(old.fd, &old.vm, bsp, &error), ==, 0);
	g_assert_cmpint(cpu_state_save(ap_old.fd, &old.vm, ap, &error), ==, 0);
	g_assert_cmpint(vm_kernel_state_save(&old.vm, kvm, &error), ==, 0);
	vcpu_destroy(&ap_old);
	fx_close(&old);

	g_assert_true(fx_open(&fresh));
	g_assert_cmpint(vcpu_create(&ap_fresh, &fresh.vm, 1, 2, &fresh.env, &error), ==, 0);
	vm_kernel_state_load(&fresh.vm, kvm->data, kvm->len, &error);
	assert_no_error(error);
	cpu_state_load(fresh.fd, &fresh.vm, bsp->data, bsp->len, &error);
	assert_no_error(error);
	cpu_state_load(ap_fresh.fd, &fresh.vm, ap->data, ap->len, &error);
	assert_no_error(error);
	cpu_view_read(fresh.fd, &after);
	cpu_view_assert_equal(&fresh, &a, &after);
	cpu_view_read(ap_fresh.fd, &after);
	g_assert_cmpuint(after.mp.mp_state, ==, KVM_MP_STATE_UNINITIALIZED);
	g_assert_cmphex(lapic_reg(&after.lapic, 0x20), ==, 1u << 24); /* APIC ID */
	vm_view_read(&fresh.vm, &vafter);
	g_assert_cmpmem(&va.ioapic.chip.ioapic, sizeof(va.ioapic.chip.ioapic),
			&vafter.ioapic.chip.ioapic, sizeof(vafter.ioapic.chip.ioapic));
	g_assert_cmpmem(&va.pic, sizeof(va.pic), &vafter.pic, sizeof(vafter.pic));
	g_assert_cmphex(vafter.pit.flags, ==, KVM_PIT_FLAGS_HPET_LEGACY);
	g_byte_array_free(bsp, TRUE);
	g_byte_array_free(ap, TRUE);
	g_byte_array_free(kvm, TRUE);
	vcpu_destroy(&ap_fresh);
	fx_close(&fresh);
}

/* ---- damaged payloads ---- */

static uint32_t le32(const uint8_t *p)
{
	return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = v >> (8 * i);
}

/* Where record NAME's header and data are in a payload. */
static void find_record(const GByteArray *b, const char *name, size_t *hdr, size_t *data,
			uint32_t *count)
{
	size_t pos = 12;
	uint32_t n = le32(b->data + 8);
	for (uint32_t i = 0; i < n; i++) {
		size_t nlen = b->data[pos];
		size_t d = pos + 1 + nlen + 8;
		uint32_t es = le32(b->data + pos + 1 + nlen), cnt = le32(b->data + pos + 5 + nlen);
		if (nlen == strlen(name) && !memcmp(b->data + pos + 1, name, nlen)) {
			*hdr = pos;
			*data = d;
			*count = cnt;
			return;
		}
		pos = d + (size_t)es * cnt;
	}
	g_error("record %s not in the payload", name);
}

static void fix_crc(GByteArray *b)
{
	put32(b->data + b->len - 4, crc32(0, b->data, b->len - 4));
}

static GByteArray *copy_of(const GByteArray *b)
{
	GByteArray *c = g_byte_array_sized_new(b->len);
	g_byte_array_append(c, b->data, b->len);
	return c;
}

/* B must be refused by validation with a message containing WANT (NULL: any); a load of it
 * into no vCPU at all (fd -1) fails with the same message, so no ioctl came first; a load into
 * the real vCPU leaves it as it was. */
static void assert_refused(struct fx *fx, const GByteArray *b, const char *want, bool vm_level)
{
	char *error = NULL, *error2 = NULL;
	int ret = vm_level ? vm_kernel_state_validate(&fx->vm, b->data, b->len, &error)
			   : cpu_state_validate(&fx->vm, b->data, b->len, &error);
	g_assert_cmpint(ret, ==, -1);
	g_assert_nonnull(error);
	if (want && !strstr(error, want))
		g_error("expected an error about '%s', got: %s", want, error);
	if (!vm_level) {
		g_assert_cmpint(cpu_state_load(-1, &fx->vm, b->data, b->len, &error2), ==, -1);
		g_assert_cmpstr(error, ==, error2);
		g_clear_pointer(&error2, g_free);
		struct cpu_view before, after;
		cpu_view_read(fx->fd, &before);
		g_assert_cmpint(cpu_state_load(fx->fd, &fx->vm, b->data, b->len, &error2), ==, -1);
		g_assert_cmpstr(error, ==, error2);
		cpu_view_read(fx->fd, &after);
		cpu_view_assert_equal(fx, &before, &after);
	} else {
		struct vm_view before, after;
		vm_view_read(&fx->vm, &before);
		g_assert_cmpint(vm_kernel_state_load(&fx->vm, b->data, b->len, &error2), ==, -1);
		g_assert_cmpstr(error, ==, error2);
		vm_view_read(&fx->vm, &after);
		g_assert_cmpmem(&before.pic, sizeof(before.pic), &after.pic, sizeof(after.pic));
		g_assert_cmpmem(&before.ioapic, sizeof(before.ioapic), &after.ioapic,
				sizeof(after.ioapic));
	}
	g_free(error);
	g_free(error2);
}

static void test_cpu_damaged(void)
{
	struct fx fx;
	if (!fx_open(&fx))
		return;
	char *error = NULL;
	cpu_set_values(&fx, true);
	GByteArray *good = g_byte_array_new();
	g_assert_cmpint(cpu_state_save(fx.fd, &fx.vm, good, &error), ==, 0);
	cpu_set_values(&fx, false);

	/* the control: a good payload gets as far as the ioctls (which fail on fd -1) */
	g_assert_cmpint(cpu_state_load(-1, &fx.vm, good->data, good->len, &error), ==, -1);
	g_assert_nonnull(strstr(error, g_strerror(EBADF)));
	g_clear_pointer(&error, g_free);

	/* truncated anywhere */
	for (size_t len = 0; len < good->len; len += (len < 64 ? 1 : 97)) {
		GByteArray *b = copy_of(good);
		g_byte_array_set_size(b, len);
		char *e = NULL;
		g_assert_cmpint(cpu_state_validate(&fx.vm, b->data, b->len, &e), ==, -1);
		g_assert_cmpint(cpu_state_load(-1, &fx.vm, b->data, b->len, &error), ==, -1);
		g_assert_cmpstr(e, ==, error);
		g_clear_pointer(&e, g_free);
		g_clear_pointer(&error, g_free);
		g_byte_array_free(b, TRUE);
	}
	GByteArray *b = copy_of(good);
	g_byte_array_set_size(b, good->len - 1);
	assert_refused(&fx, b, NULL, false);
	g_byte_array_free(b, TRUE);

	/* every bit of the header and of the first record's header flipped */
	for (size_t bit = 0; bit < (12 + 1 + 4 + 8) * 8; bit++) {
		b = copy_of(good);
		b->data[bit / 8] ^= 1u << (bit % 8);
		char *e = NULL;
		g_assert_cmpint(cpu_state_validate(&fx.vm, b->data, b->len, &e), ==, -1);
		g_free(e);
		g_byte_array_free(b, TRUE);
	}
	/* a bit flip in the middle of a record is caught by the checksum */
	size_t hdr, data;
	uint32_t count;
	find_record(good, "lapic", &hdr, &data, &count);
	b = copy_of(good);
	b->data[data + 0x80] ^= 0x10;
	assert_refused(&fx, b, "checksum", false);
	g_byte_array_free(b, TRUE);

	/* damage behind a correct checksum: what the record checks catch */
	b = copy_of(good);
	put32(b->data + 4, 99);
	fix_crc(b);
	assert_refused(&fx, b, "format version 99", false);
	g_byte_array_free(b, TRUE);

	b = copy_of(good);
	find_record(b, "regs", &hdr, &data, &count);
	put32(b->data + hdr + 1 + 4, sizeof(struct kvm_regs) + 8);
	fix_crc(b);
	assert_refused(&fx, b, "kernel ABI", false);
	g_byte_array_free(b, TRUE);

	b = copy_of(good);
	find_record(b, "regs", &hdr, &data, &count);
	put32(b->data + hdr + 1 + 4 + 4, 2);
	fix_crc(b);
	assert_refused(&fx, b, "elements", false);
	g_byte_array_free(b, TRUE);

	b = copy_of(good);
	find_record(b, "lapic", &hdr, &data, &count);
	b->data[hdr + 1] = 'L';
	fix_crc(b);
	assert_refused(&fx, b, "unknown record 'Lapic'", false);
	g_byte_array_free(b, TRUE);

	b = copy_of(good); /* a name of another length: the rest still parses, the name not */
	find_record(b, "mp_state", &hdr, &data, &count);
	memcpy(b->data + hdr + 1, "mp_stat", 7);
	b->data[hdr] = 7;
	fix_crc(b);
	assert_refused(&fx, b, "unknown record 'mp_stat'", false);
	g_byte_array_free(b, TRUE);

	b = copy_of(good); /* one record fewer: "mp_state" is the last; drop it */
	find_record(b, "mp_state", &hdr, &data, &count);
	memmove(b->data + hdr, b->data + data + 4, b->len - (data + 4));
	g_byte_array_set_size(b, b->len - (data + 4 - hdr));
	put32(b->data + 8, le32(b->data + 8) - 1);
	fix_crc(b);
	assert_refused(&fx, b, "'mp_state' is missing", false);
	g_byte_array_free(b, TRUE);

	b = copy_of(good); /* stray bytes */
	g_byte_array_set_size(b, b->len + 3);
	memmove(b->data + b->len - 4, b->data + b->len - 7, 4);
	fix_crc(b);
	assert_refused(&fx, b, "stray", false);
	g_byte_array_free(b, TRUE);

	b = copy_of(good);
	find_record(b, "msrs", &hdr, &data, &count);
	put32(b->data + data, 0xDEAD);
	fix_crc(b);
	assert_refused(&fx, b, "MSR 0xdead", false);
	g_byte_array_free(b, TRUE);

	b = copy_of(good);
	find_record(b, "events", &hdr, &data, &count);
	put32(b->data + data + offsetof(struct kvm_vcpu_events, flags), 0x80);
	fix_crc(b);
	assert_refused(&fx, b, "flags", false);
	g_byte_array_free(b, TRUE);

	b = copy_of(good);
	find_record(b, "mp_state", &hdr, &data, &count);
	put32(b->data + data, 9);
	fix_crc(b);
	assert_refused(&fx, b, "MP state 9", false);
	g_byte_array_free(b, TRUE);

	b = copy_of(good);
	find_record(b, "xsave", &hdr, &data, &count);
	b->data[data + 520] = 1; /* XCOMP_BV */
	fix_crc(b);
	assert_refused(&fx, b, "XSAVE", false);
	g_byte_array_free(b, TRUE);

	b = copy_of(good);
	find_record(b, "debugregs", &hdr, &data, &count);
	b->data[data + offsetof(struct kvm_debugregs, dr7) + 5] = 1;
	fix_crc(b);
	assert_refused(&fx, b, "debugregs", false);
	g_byte_array_free(b, TRUE);

	/* a vCPU payload is not a VM payload and vice versa */
	assert_refused(&fx, good, "not a KVM state payload", true);

	g_byte_array_free(good, TRUE);
	fx_close(&fx);
}

static void test_vm_damaged(void)
{
	struct fx fx;
	if (!fx_open(&fx))
		return;
	char *error = NULL;
	vm_set_values(&fx.vm, true);
	GByteArray *good = g_byte_array_new();
	g_assert_cmpint(vm_kernel_state_save(&fx.vm, good, &error), ==, 0);
	vm_set_values(&fx.vm, false);
	for (size_t len = 0; len < good->len; len++) {
		char *e = NULL;
		g_assert_cmpint(vm_kernel_state_validate(&fx.vm, good->data, len, &e), ==, -1);
		g_free(e);
	}
	GByteArray *b = copy_of(good);
	b->data[20] ^= 4;
	assert_refused(&fx, b, "checksum", true);
	g_byte_array_free(b, TRUE);

	size_t hdr, data;
	uint32_t count;
	b = copy_of(good);
	find_record(b, "pit", &hdr, &data, &count);
	b->data[data + offsetof(struct kvm_pit_channel_state, mode)] = 9;
	fix_crc(b);
	assert_refused(&fx, b, "'pit' is damaged", true);
	g_byte_array_free(b, TRUE);

	b = copy_of(good);
	find_record(b, "clock", &hdr, &data, &count);
	put32(b->data + data + offsetof(struct kvm_clock_data, flags), 0x100);
	fix_crc(b);
	assert_refused(&fx, b, "'clock' is damaged", true);
	g_byte_array_free(b, TRUE);

	b = copy_of(good);
	find_record(b, "ioapic", &hdr, &data, &count);
	put32(b->data + hdr + 1 + 6, 4);
	fix_crc(b);
	assert_refused(&fx, b, "kernel ABI", true);
	g_byte_array_free(b, TRUE);

	assert_refused(&fx, good, "not a vCPU state payload", false);
	g_byte_array_free(good, TRUE);
	fx_close(&fx);
}

/* A payload that passes validation but that KVM refuses half-way (a reserved CR4 bit: KVM
 * checks it in KVM_SET_SREGS, after the registers were loaded): the previous state comes back. */
static void test_cpu_rollback(void)
{
	struct fx fx;
	if (!fx_open(&fx))
		return;
	char *error = NULL;
	cpu_set_values(&fx, true);
	GByteArray *b = g_byte_array_new();
	g_assert_cmpint(cpu_state_save(fx.fd, &fx.vm, b, &error), ==, 0);
	size_t hdr, data;
	uint32_t count;
	bool sregs2 = true;
	if (ioctl(fx.vm.vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_SREGS2) <= 0)
		sregs2 = false;
	find_record(b, sregs2 ? "sregs2" : "sregs", &hdr, &data, &count);
	size_t cr4 = data + (sregs2 ? offsetof(struct kvm_sregs2, cr4)
				    : offsetof(struct kvm_sregs, cr4));
	b->data[cr4 + 7] |= 0x80; /* CR4 bit 63: reserved */
	fix_crc(b);
	g_assert_cmpint(cpu_state_validate(&fx.vm, b->data, b->len, &error), ==, 0);

	cpu_set_values(&fx, false);
	struct cpu_view before, after;
	cpu_view_read(fx.fd, &before);
	g_assert_cmpint(cpu_state_load(fx.fd, &fx.vm, b->data, b->len, &error), ==, -1);
	g_assert_nonnull(strstr(error, "previous state is kept"));
	g_test_message("refused: %s", error);
	g_clear_pointer(&error, g_free);
	cpu_view_read(fx.fd, &after);
	cpu_view_assert_equal(&fx, &before, &after);
	g_byte_array_free(b, TRUE);
	fx_close(&fx);
}

/* After an IN exit, the value userspace supplies reaches RAX (and RIP moves on) only when
 * KVM_RUN is entered again: cpu_state_complete_io does that without running the guest. */
static void test_complete_io(void)
{
	struct fx fx;
	if (!fx_open(&fx))
		return;
	char *error = NULL;
	/* real mode at 0:0x1000: mov dx, 0x3FD; in al, dx; hlt (COM1 LSR: not in the kernel) */
	static const uint8_t code[] = { 0xBA, 0xFD, 0x03, 0xEC, 0xF4 };
	memcpy(fx.ram + 0x1000, code, sizeof(code));
	struct kvm_sregs sregs;
	xioctl(fx.fd, KVM_GET_SREGS, &sregs);
	sregs.cs.base = 0;
	sregs.cs.selector = 0;
	xioctl(fx.fd, KVM_SET_SREGS, &sregs);
	struct kvm_regs regs = { .rip = 0x1000, .rflags = 2, .rax = 0x1100 };
	xioctl(fx.fd, KVM_SET_REGS, &regs);
	struct kvm_run *run = fx.vcpu.run;
	g_assert_cmpint(ioctl(fx.fd, KVM_RUN, 0), ==, 0);
	g_assert_cmpuint(run->exit_reason, ==, KVM_EXIT_IO);
	g_assert_cmpuint(run->io.port, ==, 0x3FD);
	g_assert_cmpuint(run->io.direction, ==, KVM_EXIT_IO_IN);
	((uint8_t *)run)[run->io.data_offset] = 0x5C;

	xioctl(fx.fd, KVM_GET_REGS, &regs);
	g_assert_cmphex(regs.rax & 0xFF, ==, 0); /* not there yet: a save now would be wrong */
	g_assert_cmphex(regs.rip, ==, 0x1003);	  /* still on the IN */
	g_assert_cmpint(cpu_state_complete_io(fx.fd, run, &error), ==, 0);
	g_assert_cmpuint(run->immediate_exit, ==, 0);
	xioctl(fx.fd, KVM_GET_REGS, &regs);
	g_assert_cmphex(regs.rax, ==, 0x115C);
	g_assert_cmphex(regs.rip, ==, 0x1004); /* past the IN, the HLT not executed */
	struct kvm_mp_state mp;
	xioctl(fx.fd, KVM_GET_MP_STATE, &mp);
	g_assert_cmpuint(mp.mp_state, ==, KVM_MP_STATE_RUNNABLE);
	fx_close(&fx);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/cpu_state/round_trip", test_cpu_round_trip);
	g_test_add_func("/cpu_state/tsc_continues", test_tsc_continues);
	g_test_add_func("/cpu_state/vm_round_trip", test_vm_round_trip);
	g_test_add_func("/cpu_state/into_fresh_vm", test_into_fresh_vm);
	g_test_add_func("/cpu_state/damaged", test_cpu_damaged);
	g_test_add_func("/cpu_state/vm_damaged", test_vm_damaged);
	g_test_add_func("/cpu_state/rollback", test_cpu_rollback);
	g_test_add_func("/cpu_state/complete_io", test_complete_io);
	return g_test_run();
}
