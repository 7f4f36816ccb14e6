/*
 * fuzz_state's other half: the vCPU and in-kernel VM payloads of a snapshot (src/kvm/
 * cpu_state*.c), checked as a revert checks them before it changes anything
 * (cpu_state_validate, vm_kernel_state_validate), without KVM. The host's capabilities come
 * from a fake /dev/kvm: the program is linked with -Wl,--wrap=ioctl, and KVM_CHECK_EXTENSION
 * on FAKE_KVM_FD answers from a bit mask the input picks. Validation must issue no other ioctl
 * (cpu_state.h): one is a failure.
 */
#include <linux/kvm.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <zlib.h>

#include "fuzz_state.h"
#include "kvm/cpu_state.h"
#include "kvm/kvm.h"

#define FAKE_KVM_FD 0x3FFF0000 /* a number no open file has */
#define XSAVE_LEGACY 4096u
#define XSAVE2_SIZE 8192u
#define MSR_IA32_TSC 0x10u
#define MSR_IA32_SYSENTER_CS 0x174u
#define MSR_IA32_CR_PAT 0x277u
#define MSR_IA32_TSC_DEADLINE 0x6E0u
#define MSR_STAR 0xC0000081u
#define MSR_KVM_SYSTEM_TIME_NEW 0x4B564D01u

/* Bit N of the mask: the fake host has cap_bits[N]. */
static const int cap_bits[] = {
	KVM_CAP_SREGS2, KVM_CAP_XSAVE,	   KVM_CAP_XCRS,       KVM_CAP_VCPU_EVENTS,
	KVM_CAP_DEBUGREGS, KVM_CAP_MP_STATE, KVM_CAP_PIT_STATE2, KVM_CAP_ADJUST_CLOCK,
};
#define CAPS_ALL 0xFF
#define CAPS_OLD_HOST (CAPS_ALL & ~0x03) /* no SREGS2, no XSAVE: sregs and fpu */

static uint8_t fake_caps;
static bool validating; /* inside a validation: only capability queries are allowed */

static int fake_check_extension(long cap)
{
	if (cap == KVM_CAP_XSAVE2) /* the XSAVE size of a host with AVX-512 state, say */
		return (fake_caps & 0x03) == 0x03 ? (int)XSAVE2_SIZE : 0;
	for (size_t i = 0; i < G_N_ELEMENTS(cap_bits); i++)
		if (cap_bits[i] == cap)
			return fake_caps >> i & 1;
	return 0;
}

int __real_ioctl(int fd, unsigned long req, ...);
int __wrap_ioctl(int fd, unsigned long req, ...);

int __wrap_ioctl(int fd, unsigned long req, ...)
{
	va_list ap;
	va_start(ap, req);
	void *arg = va_arg(ap, void *);
	va_end(ap);
	if (fd == FAKE_KVM_FD && req == KVM_CHECK_EXTENSION)
		return fake_check_extension((long)(intptr_t)arg);
	if (validating && (fd == FAKE_KVM_FD || fd == -1)) {
		fprintf(stderr, "fuzz_state: a validation issued ioctl %#lx\n", req);
		abort();
	}
	return __real_ioctl(fd, req, arg);
}

/* A host with the usual MSRs and a guest CPU with x87, SSE and AVX state. */
static struct kvm_vm *fake_vm(void)
{
	static const uint32_t msrs[] = { MSR_IA32_TSC, MSR_IA32_SYSENTER_CS, MSR_IA32_CR_PAT,
					 MSR_IA32_TSC_DEADLINE, MSR_STAR, MSR_KVM_SYSTEM_TIME_NEW };
	static struct kvm_vm vm;
	static union {
		struct kvm_msr_list list;
		uint8_t bytes[sizeof(struct kvm_msr_list) + sizeof(msrs)];
	} msr_list;
	static union {
		struct kvm_cpuid2 cpuid;
		uint8_t bytes[sizeof(struct kvm_cpuid2) + sizeof(struct kvm_cpuid_entry2)];
	} cpuid;
	if (!vm.msr_list) {
		msr_list.list.nmsrs = G_N_ELEMENTS(msrs);
		memcpy(msr_list.list.indices, msrs, sizeof(msrs));
		cpuid.cpuid.nent = 1;
		cpuid.cpuid.entries[0] = (struct kvm_cpuid_entry2){ .function = 0xD, .eax = 0x7 };
		vm.kvm_fd = vm.vm_fd = FAKE_KVM_FD;
		vm.msr_list = &msr_list.list;
		vm.cpuid = &cpuid.cpuid;
	}
	return &vm;
}

void kvm_payload_check(bool vcpu, uint8_t caps, const uint8_t *payload, size_t len)
{
	uint8_t *buf = g_memdup2(payload, len);
	if (len >= 4) { /* the fuzzer works on what is inside, not on the CRC */
		uint32_t crc = crc32(0, buf, len - 4);
		for (unsigned i = 0; i < 4; i++)
			buf[len - 4 + i] = crc >> (8 * i);
	}
	fake_caps = caps;
	validating = true;
	char *error = NULL;
	int ret = vcpu ? cpu_state_validate(fake_vm(), buf, len, &error)
		       : vm_kernel_state_validate(fake_vm(), buf, len, &error);
	validating = false;
	if (ret < 0 && !error) {
		fprintf(stderr, "fuzz_state: a refused KVM payload says nothing\n");
		abort();
	}
	g_free(error);
	g_free(buf);
}

/* ---- seeds: payloads as cpu_state_save writes them ---- */

static void put_le(GByteArray *out, uint64_t v, unsigned width)
{
	for (unsigned i = 0; i < width; i++) {
		uint8_t b = v >> (8 * i);
		g_byte_array_append(out, &b, 1);
	}
}

static void rec(GByteArray *out, unsigned *n, const char *name, const void *data, uint32_t size,
		uint32_t count)
{
	put_le(out, strlen(name), 1);
	g_byte_array_append(out, (const guint8 *)name, strlen(name));
	put_le(out, size, 4);
	put_le(out, count, 4);
	g_byte_array_append(out, data, size * count);
	(*n)++;
}

static GByteArray *payload_begin(const char *tag)
{
	GByteArray *out = g_byte_array_new();
	g_byte_array_append(out, (const guint8 *)tag, 4);
	put_le(out, 1, 4);
	put_le(out, 0, 4); /* the record count, patched by payload_end */
	return out;
}

static void payload_end(GByteArray *out, unsigned n)
{
	for (unsigned b = 0; b < 4; b++)
		out->data[8 + b] = n >> (8 * b);
	put_le(out, crc32(0, out->data, out->len), 4);
}

/* The records a vCPU in real mode after SeaBIOS has, on a host with or without the newer
 * interfaces (sregs2 and xsave, or sregs and fpu). */
static GByteArray *vcpu_payload(bool new_host)
{
	GByteArray *out = payload_begin("VCPU");
	unsigned n = 0;
	struct kvm_regs regs = { .rip = 0x7C00, .rsp = 0x6F00, .rflags = 0x202 };
	rec(out, &n, "regs", &regs, sizeof(regs), 1);
	if (new_host) {
		struct kvm_sregs2 s = { .cr0 = 0x10, .flags = KVM_SREGS2_FLAGS_PDPTRS_VALID };
		rec(out, &n, "sregs2", &s, sizeof(s), 1);
		uint8_t *x = g_malloc0(XSAVE_LEGACY);
		x[0] = 0x7F; /* FCW */
		x[3] = 0x03;
		x[24] = 0x80; /* MXCSR 0x1F80 */
		x[25] = 0x1F;
		x[512] = 0x03; /* XSTATE_BV: x87, SSE */
		rec(out, &n, "xsave", x, 1, XSAVE_LEGACY);
		g_free(x);
	} else {
		struct kvm_sregs s = { .cr0 = 0x10, .apic_base = 0xFEE00900 };
		rec(out, &n, "sregs", &s, sizeof(s), 1);
		struct kvm_fpu f = { .fcw = 0x37F, .mxcsr = 0x1F80 };
		rec(out, &n, "fpu", &f, sizeof(f), 1);
	}
	struct kvm_xcrs xcrs = { .nr_xcrs = 1, .xcrs = { { .xcr = 0, .value = 0x7 } } };
	rec(out, &n, "xcrs", &xcrs, sizeof(xcrs), 1);
	struct kvm_msr_entry msrs[] = {
		{ .index = MSR_IA32_TSC, .data = 123456789 },
		{ .index = MSR_IA32_CR_PAT, .data = 0x0007040600070406ull },
		{ .index = MSR_IA32_TSC_DEADLINE, .data = 0 },
		{ .index = MSR_KVM_SYSTEM_TIME_NEW, .data = 0x9001 },
	};
	rec(out, &n, "msrs", msrs, sizeof(msrs[0]), G_N_ELEMENTS(msrs));
	struct kvm_lapic_state lapic = { 0 };
	lapic.regs[0xF0] = 0xFF; /* SVR: enabled, vector 0xFF */
	lapic.regs[0xF1] = 0x01;
	rec(out, &n, "lapic", &lapic, sizeof(lapic), 1);
	struct kvm_vcpu_events ev = { .flags = KVM_VCPUEVENT_VALID_SHADOW };
	rec(out, &n, "events", &ev, sizeof(ev), 1);
	struct kvm_debugregs dr = { .dr6 = 0xFFFF0FF0, .dr7 = 0x400 };
	rec(out, &n, "debugregs", &dr, sizeof(dr), 1);
	struct kvm_mp_state mp = { KVM_MP_STATE_RUNNABLE };
	rec(out, &n, "mp_state", &mp, sizeof(mp), 1);
	payload_end(out, n);
	return out;
}

/* The PICs and IOAPIC as SeaBIOS leaves them, the PIT at 18.2 Hz, the clock. */
static GByteArray *vm_payload(void)
{
	GByteArray *out = payload_begin("KVMS");
	unsigned n = 0;
	struct kvm_pic_state master = { .irq_base = 0x08, .imr = 0xB8, .elcr_mask = 0xF8 };
	struct kvm_pic_state slave = { .irq_base = 0x70, .imr = 0x8E, .elcr_mask = 0xDE };
	rec(out, &n, "pic_master", &master, sizeof(master), 1);
	rec(out, &n, "pic_slave", &slave, sizeof(slave), 1);
	struct kvm_ioapic_state io = { .base_address = 0xFEC00000, .id = 0 };
	for (int i = 0; i < KVM_IOAPIC_NUM_PINS; i++)
		io.redirtbl[i].bits = 1ull << 16; /* masked */
	rec(out, &n, "ioapic", &io, sizeof(io), 1);
	struct kvm_pit_state2 pit = { 0 };
	for (int i = 0; i < 3; i++)
		pit.channels[i] = (struct kvm_pit_channel_state){ .count = 0x10000, .mode = i ? 0xFF : 2,
								  .rw_mode = 3 };
	rec(out, &n, "pit", &pit, sizeof(pit), 1);
	struct kvm_clock_data clock = { .clock = 5000000000ull };
	rec(out, &n, "clock", &clock, sizeof(clock), 1);
	payload_end(out, n);
	return out;
}

void kvm_payload_seeds(void (*put)(const char *name, uint8_t mode, uint8_t caps,
				   const GByteArray *payload))
{
	GByteArray *p = vcpu_payload(true);
	put("vcpu-new-host", 0xFE, CAPS_ALL, p);
	g_byte_array_free(p, TRUE);
	p = vcpu_payload(false);
	put("vcpu-old-host", 0xFE, CAPS_OLD_HOST, p);
	g_byte_array_free(p, TRUE);
	p = vm_payload();
	put("vm-kernel", 0xFD, CAPS_ALL, p);
	g_byte_array_free(p, TRUE);
}
