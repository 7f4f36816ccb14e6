/*
 * vCPU and in-kernel VM state, saved and loaded through KVM's ioctls (cpu_state.h has the
 * format and the load order). The layout is the record tables below; save, validation and
 * load (cpu_state_payload.c) walk them.
 */
#include "kvm/cpu_state.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <string.h>
#include <sys/ioctl.h>

#include "kvm/cpu_state_internal.h"

/* ---- vCPU records ---- */

#define MSR_IA32_TSC 0x10u
#define MSR_IA32_TSC_DEADLINE 0x6E0u
#define MSR_BATCH 128u /* entries per KVM_GET/SET_MSRS; KVM takes at most 255 */
#define MSRS_MAX 4096u
#define XSAVE_LEGACY_SIZE 4096u /* struct kvm_xsave */
#define XSAVE_MAX (1u << 20)

/*
 * MSRs in KVM's list that are not state. Writing MSR_KVM_WALL_CLOCK(_NEW) makes KVM store the
 * wall clock into guest memory at the value written: writing back a saved 0 would overwrite
 * the guest's IVT. The Hyper-V synthetic MSRs are unused (pcvm's CPUID offers no Hyper-V), and
 * writes to several (hypercall page, reference TSC page, reset) act on memory or the VM.
 */
static const struct {
	uint32_t first, last;
} msr_not_state[] = {
	{ 0x00000011, 0x00000011 }, /* MSR_KVM_WALL_CLOCK */
	{ 0x4B564D00, 0x4B564D00 }, /* MSR_KVM_WALL_CLOCK_NEW */
	{ 0x40000000, 0x400000FF }, /* Hyper-V */
};

static bool msr_is_state(uint32_t index)
{
	for (size_t i = 0; i < G_N_ELEMENTS(msr_not_state); i++)
		if (index >= msr_not_state[i].first && index <= msr_not_state[i].last)
			return false;
	return true;
}

/* Loaded after the LAPIC (step 6 in cpu_state.h). */
static bool msr_is_late(uint32_t index)
{
	return index == MSR_IA32_TSC_DEADLINE;
}

/* KVM_GET/SET_MSRS on N entries in batches. Returns how many were processed (KVM stops at the
 * first it refuses), or -1 with errno. */
static int msr_io(int fd, unsigned long req, struct kvm_msr_entry *e, uint32_t n)
{
	struct kvm_msrs *m = g_malloc0(sizeof(*m) + MSR_BATCH * sizeof(*e));
	uint32_t done = 0;
	while (done < n) {
		uint32_t chunk = MIN(n - done, MSR_BATCH);
		m->nmsrs = chunk;
		memcpy(m->entries, e + done, chunk * sizeof(*e));
		int r = ioctl(fd, req, m);
		if (r < 0) {
			int saved = errno;
			g_free(m);
			errno = saved;
			return -1;
		}
		if (req == KVM_GET_MSRS)
			memcpy(e + done, m->entries, (size_t)r * sizeof(*e));
		done += r;
		if ((uint32_t)r < chunk)
			break;
	}
	g_free(m);
	return done;
}

/* Every MSR KVM lists that is state and that KVM_GET_MSRS can read on this vCPU. */
static int get_msrs(const struct kctx *k, const struct rec_desc *d, GByteArray *out)
{
	const struct kvm_msr_list *list = k->vm->msr_list;
	uint32_t n = 0;
	struct kvm_msr_entry *e = g_new0(struct kvm_msr_entry, list ? list->nmsrs : 0);
	for (uint32_t i = 0; list && i < list->nmsrs && n < MSRS_MAX; i++)
		if (msr_is_state(list->indices[i]))
			e[n++].index = list->indices[i];
	uint32_t pos = 0;
	while (pos < n) {
		int r = msr_io(k->fd, KVM_GET_MSRS, e + pos, n - pos);
		if (r < 0) {
			g_free(e);
			return -1;
		}
		pos += r;
		if (pos < n) { /* unreadable here (a feature this vCPU's CPUID lacks): skip it */
			memmove(e + pos, e + pos + 1, (n - pos - 1) * sizeof(*e));
			n--;
		}
	}
	g_byte_array_append(out, (const guint8 *)e, n * sizeof(*e));
	g_free(e);
	return 0;
}

static int set_msrs_filtered(const struct kctx *k, const struct rec_view *v, bool late,
			     char **error)
{
	struct kvm_msr_entry *e = g_new(struct kvm_msr_entry, v->count);
	uint32_t n = 0;
	for (uint32_t i = 0; i < v->count; i++) {
		memcpy(&e[n], v->data + i * sizeof(*e), sizeof(*e));
		if (msr_is_late(e[n].index) == late)
			n++;
	}
	int r = msr_io(k->fd, KVM_SET_MSRS, e, n);
	int ret = 0;
	if (r < 0) {
		*error = g_strdup_printf("KVM_SET_MSRS: %s", strerror(errno));
		ret = -1;
	} else if ((uint32_t)r < n) {
		*error = g_strdup_printf("KVM refused MSR %#" PRIx32 " = %#llx", e[r].index,
					 (unsigned long long)e[r].data);
		ret = -1;
	}
	g_free(e);
	return ret;
}

static int set_msrs_early(const struct kctx *k, const struct rec_desc *d,
			  const struct rec_view *v, char **error)
{
	return set_msrs_filtered(k, v, false, error);
}

static int set_msrs_late(const struct kctx *k, const struct rec_desc *d,
			 const struct rec_view *v, char **error)
{
	return set_msrs_filtered(k, v, true, error);
}

static int check_msrs(const struct kctx *k, const struct rec_view *v, char **error)
{
	bool has_tsc = false;
	for (uint32_t i = 0; i < v->count; i++) {
		struct kvm_msr_entry e;
		memcpy(&e, v->data + i * sizeof(e), sizeof(e));
		if (e.reserved) {
			*error = g_strdup_printf("MSR entry %u is damaged", i);
			return -1;
		}
		if (!msr_is_state(e.index) || !kvm_vm_has_msr(k->vm, e.index)) {
			*error = g_strdup_printf("MSR %#" PRIx32 " was saved, but this host's KVM "
						 "does not offer it (snapshot from another host?)",
						 e.index);
			return -1;
		}
		for (uint32_t j = 0; j < i; j++) {
			uint32_t other;
			memcpy(&other, v->data + j * sizeof(e), sizeof(other));
			if (other == e.index) {
				*error = g_strdup_printf("MSR %#" PRIx32 " appears twice", e.index);
				return -1;
			}
		}
		has_tsc |= e.index == MSR_IA32_TSC;
	}
	if (!has_tsc) {
		*error = g_strdup("the MSRs lack the TSC");
		return -1;
	}
	return 0;
}

/* What KVM_GET_XSAVE2 fills and KVM_SET_XSAVE reads on this host. */
static uint32_t host_xsave_size(const struct kvm_vm *vm)
{
	int fd = vm->vm_fd >= 0 ? vm->vm_fd : vm->kvm_fd;
	int r = ioctl(fd, KVM_CHECK_EXTENSION, KVM_CAP_XSAVE2);
	return r > (int)XSAVE_LEGACY_SIZE ? (uint32_t)r : XSAVE_LEGACY_SIZE;
}

/* XCR0 bits the guest may enable: CPUID leaf 0xD subleaf 0, EDX:EAX. */
static uint64_t guest_xfeatures(const struct kvm_vm *vm)
{
	for (uint32_t i = 0; vm->cpuid && i < vm->cpuid->nent; i++) {
		const struct kvm_cpuid_entry2 *e = &vm->cpuid->entries[i];
		if (e->function == 0xD && e->index == 0)
			return e->eax | (uint64_t)e->edx << 32;
	}
	return 0x3; /* x87 and SSE */
}

static int get_xsave(const struct kctx *k, const struct rec_desc *d, GByteArray *out)
{
	int fd = k->vm->vm_fd >= 0 ? k->vm->vm_fd : k->vm->kvm_fd;
	bool xsave2 = ioctl(fd, KVM_CHECK_EXTENSION, KVM_CAP_XSAVE2) > 0;
	uint32_t size = host_xsave_size(k->vm);
	void *buf = g_malloc0(size);
	int ret = ioctl(k->fd, xsave2 ? KVM_GET_XSAVE2 : KVM_GET_XSAVE, buf);
	int saved = errno;
	if (ret >= 0)
		g_byte_array_append(out, buf, size);
	g_free(buf);
	errno = saved;
	return ret < 0 ? -1 : 0;
}

static int set_xsave(const struct kctx *k, const struct rec_desc *d, const struct rec_view *v,
		     char **error)
{
	/* KVM_SET_XSAVE reads the host's full size: pad a smaller saved area with zeros (the
	 * features beyond it are then absent from XSTATE_BV, i.e. in their initial state) */
	uint32_t size = MAX(host_xsave_size(k->vm), v->count);
	uint8_t *buf = g_malloc0(size);
	memcpy(buf, v->data, v->count);
	int ret = ioctl(k->fd, KVM_SET_XSAVE, buf);
	if (ret < 0)
		*error = g_strdup_printf("loading 'xsave' into KVM: %s", strerror(errno));
	g_free(buf);
	return ret < 0 ? -1 : 0;
}

/* Intel SDM vol. 1, 13.4: the XSAVE header at byte 512 — XSTATE_BV, XCOMP_BV (0 in the
 * standard format KVM's ABI uses), 48 reserved bytes; MXCSR at byte 24. */
static int check_xsave(const struct kctx *k, const struct rec_view *v, char **error)
{
	uint32_t host = host_xsave_size(k->vm);
	if (v->count > host || v->count % 4) {
		*error = g_strdup_printf("%u bytes of XSAVE state; this host's KVM takes %u",
					 v->count, host);
		return -1;
	}
	uint64_t xstate_bv = get_le(v->data + 512, 8);
	uint64_t xcomp_bv = get_le(v->data + 520, 8);
	bool reserved_zero = true;
	for (unsigned i = 528; i < 576; i++)
		reserved_zero &= v->data[i] == 0;
	uint32_t mxcsr = get_le(v->data + 24, 4);
	if (xcomp_bv || !reserved_zero || (mxcsr >> 16)) {
		*error = g_strdup("the XSAVE area is damaged");
		return -1;
	}
	if (xstate_bv & ~guest_xfeatures(k->vm)) {
		*error = g_strdup_printf("the XSAVE area holds features %#llx this guest's CPU "
					 "does not have",
					 (unsigned long long)(xstate_bv & ~guest_xfeatures(k->vm)));
		return -1;
	}
	return 0;
}

static int check_xcrs(const struct kctx *k, const struct rec_view *v, char **error)
{
	struct kvm_xcrs x;
	memcpy(&x, v->data, sizeof(x));
	if (x.nr_xcrs > KVM_MAX_XCRS || x.flags) {
		*error = g_strdup("'xcrs' is damaged");
		return -1;
	}
	for (uint32_t i = 0; i < x.nr_xcrs; i++) {
		uint64_t xcr0 = x.xcrs[i].value;
		/* XCR0 is the only XCR KVM knows; x87 is always on; AVX needs SSE (SDM vol. 1,
		 * 13.3) */
		if (x.xcrs[i].xcr != 0 || x.xcrs[i].reserved || !(xcr0 & 1) ||
		    ((xcr0 & 4) && !(xcr0 & 2)) || (xcr0 & ~guest_xfeatures(k->vm))) {
			*error = g_strdup_printf("XCR%u = %#llx is not valid for this guest's CPU",
						 x.xcrs[i].xcr, (unsigned long long)xcr0);
			return -1;
		}
	}
	return 0;
}

static int check_sregs2(const struct kctx *k, const struct rec_view *v, char **error)
{
	struct kvm_sregs2 s;
	memcpy(&s, v->data, sizeof(s));
	if (s.flags & ~(uint64_t)KVM_SREGS2_FLAGS_PDPTRS_VALID) {
		*error = g_strdup_printf("'sregs2' has unknown flags %#llx",
					 (unsigned long long)s.flags);
		return -1;
	}
	return 0;
}

#define EVENTS_FLAGS_KNOWN                                                                         \
	(KVM_VCPUEVENT_VALID_NMI_PENDING | KVM_VCPUEVENT_VALID_SIPI_VECTOR |                       \
	 KVM_VCPUEVENT_VALID_SHADOW | KVM_VCPUEVENT_VALID_SMM)

static int check_events(const struct kctx *k, const struct rec_view *v, char **error)
{
	struct kvm_vcpu_events e;
	memcpy(&e, v->data, sizeof(e));
	/* payloads and triple-fault events need capabilities pcvm does not enable */
	if (e.flags & ~EVENTS_FLAGS_KNOWN) {
		*error = g_strdup_printf("'events' has unknown flags %#x", e.flags);
		return -1;
	}
	if ((e.exception.injected || e.exception.pending) &&
	    (e.exception.nr > 31 || e.exception.nr == 2)) {
		*error = g_strdup_printf("'events' holds exception %u, which is not one",
					 e.exception.nr);
		return -1;
	}
	return 0;
}

static int set_events(const struct kctx *k, const struct rec_desc *d, const struct rec_view *v,
		      char **error)
{
	struct kvm_vcpu_events e;
	memcpy(&e, v->data, sizeof(e));
	/* without these KVM ignores the saved NMI-pending state and SIPI vector */
	e.flags |= KVM_VCPUEVENT_VALID_NMI_PENDING | KVM_VCPUEVENT_VALID_SIPI_VECTOR;
	if (ioctl(k->fd, KVM_SET_VCPU_EVENTS, &e) < 0) {
		*error = g_strdup_printf("loading 'events' into KVM: %s", strerror(errno));
		return -1;
	}
	return 0;
}

static int check_debugregs(const struct kctx *k, const struct rec_view *v, char **error)
{
	struct kvm_debugregs r;
	memcpy(&r, v->data, sizeof(r));
	/* KVM refuses flags and DR6/DR7 bits above 31 (SDM vol. 3, 18.2) */
	if (r.flags || (r.dr6 >> 32) || (r.dr7 >> 32)) {
		*error = g_strdup("'debugregs' is damaged");
		return -1;
	}
	return 0;
}

static int check_mp_state(const struct kctx *k, const struct rec_view *v, char **error)
{
	struct kvm_mp_state m;
	memcpy(&m, v->data, sizeof(m));
	/* the states an x86 vCPU with an in-kernel LAPIC can be in */
	if (m.mp_state > KVM_MP_STATE_SIPI_RECEIVED) {
		*error = g_strdup_printf("MP state %u is not an x86 one", m.mp_state);
		return -1;
	}
	return 0;
}

enum {
	CPU_REGS,
	CPU_SREGS2,
	CPU_SREGS,
	CPU_XSAVE,
	CPU_FPU,
	CPU_XCRS,
	CPU_MSRS,
	CPU_LAPIC,
	CPU_EVENTS,
	CPU_DEBUGREGS,
	CPU_MP_STATE,
	CPU_NRECS
};

#define PLAIN(type, cap_, get_, set_)                                                              \
	.elem_size = sizeof(type), .min_count = 1, .max_count = 1, .has_cap = (cap_) >= 0,         \
	.cap = (cap_), .cap_name = #cap_, .get_req = (get_), .set_req = (set_)

static const struct rec_desc cpu_recs[CPU_NRECS] = {
	[CPU_REGS] = { "regs", PLAIN(struct kvm_regs, -1, KVM_GET_REGS, KVM_SET_REGS) },
	[CPU_SREGS2] = { "sregs2", PLAIN(struct kvm_sregs2, KVM_CAP_SREGS2, KVM_GET_SREGS2,
					 KVM_SET_SREGS2),
			 .group = "sregs", .check = check_sregs2 },
	[CPU_SREGS] = { "sregs", PLAIN(struct kvm_sregs, -1, KVM_GET_SREGS, KVM_SET_SREGS),
			.group = "sregs" },
	[CPU_XSAVE] = { "xsave", .elem_size = 1, .min_count = XSAVE_LEGACY_SIZE,
			.max_count = XSAVE_MAX, .has_cap = true, .cap = KVM_CAP_XSAVE,
			.cap_name = "KVM_CAP_XSAVE", .group = "fpu", .get = get_xsave,
			.set = set_xsave, .check = check_xsave },
	[CPU_FPU] = { "fpu", PLAIN(struct kvm_fpu, -1, KVM_GET_FPU, KVM_SET_FPU), .group = "fpu" },
	[CPU_XCRS] = { "xcrs", PLAIN(struct kvm_xcrs, KVM_CAP_XCRS, KVM_GET_XCRS, KVM_SET_XCRS),
		       .optional = true, .check = check_xcrs },
	[CPU_MSRS] = { "msrs", .elem_size = sizeof(struct kvm_msr_entry), .min_count = 1,
		       .max_count = MSRS_MAX, .get = get_msrs, .check = check_msrs },
	[CPU_LAPIC] = { "lapic", PLAIN(struct kvm_lapic_state, -1, KVM_GET_LAPIC,
				       KVM_SET_LAPIC) },
	[CPU_EVENTS] = { "events", PLAIN(struct kvm_vcpu_events, KVM_CAP_VCPU_EVENTS,
					 KVM_GET_VCPU_EVENTS, KVM_SET_VCPU_EVENTS),
			 .set = set_events, .check = check_events },
	[CPU_DEBUGREGS] = { "debugregs", PLAIN(struct kvm_debugregs, KVM_CAP_DEBUGREGS,
					       KVM_GET_DEBUGREGS, KVM_SET_DEBUGREGS),
			    .check = check_debugregs },
	[CPU_MP_STATE] = { "mp_state", PLAIN(struct kvm_mp_state, KVM_CAP_MP_STATE,
					     KVM_GET_MP_STATE, KVM_SET_MP_STATE),
			   .check = check_mp_state },
};

/* cpu_state.h, "Load order for a vCPU", has the reasons in full. */
static const struct load_step cpu_steps[] = {
	{ CPU_REGS },			/* KVM_SET_REGS drops a pending exception */
	{ CPU_XSAVE },			/* one of these two */
	{ CPU_FPU },
	{ CPU_XCRS },
	{ CPU_SREGS2 },			/* one of these two: EFER, CRs, the APIC base */
	{ CPU_SREGS },
	{ CPU_MSRS, set_msrs_early },	/* all but TSC_DEADLINE */
	{ CPU_LAPIC },			/* after the APIC base */
	{ CPU_MSRS, set_msrs_late },	/* TSC_DEADLINE needs LVTT in deadline mode */
	{ CPU_EVENTS },			/* after regs and the LAPIC */
	{ CPU_DEBUGREGS },
	{ CPU_MP_STATE },		/* last: depends on latched INIT / pending SMI */
};

static const struct payload_format cpu_format = {
	.what = "vCPU state",
	.tag = { 'V', 'C', 'P', 'U' },
	.version = CPU_STATE_VERSION,
	.recs = cpu_recs,
	.nrecs = CPU_NRECS,
	.steps = cpu_steps,
	.nsteps = G_N_ELEMENTS(cpu_steps),
};

int cpu_state_save(int vcpu_fd, const struct kvm_vm *vm, GByteArray *out, char **error)
{
	struct kctx k = { vcpu_fd, vm };
	return cpu_state_payload_save_checked(&cpu_format, &k, out, error);
}

int cpu_state_validate(const struct kvm_vm *vm, const uint8_t *buf, size_t len, char **error)
{
	struct kctx k = { -1, vm };
	struct rec_view views[CPU_NRECS];
	return cpu_state_payload_parse(&cpu_format, &k, buf, len, views, error);
}

int cpu_state_load(int vcpu_fd, const struct kvm_vm *vm, const uint8_t *buf, size_t len,
		   char **error)
{
	struct kctx k = { vcpu_fd, vm };
	return cpu_state_payload_load(&cpu_format, &k, buf, len, error);
}

int cpu_state_complete_io(int vcpu_fd, struct kvm_run *run, char **error)
{
	__atomic_store_n(&run->immediate_exit, 1, __ATOMIC_SEQ_CST);
	int ret = ioctl(vcpu_fd, KVM_RUN, 0);
	int saved = errno;
	__atomic_store_n(&run->immediate_exit, 0, __ATOMIC_SEQ_CST);
	if (ret < 0 && saved != EINTR && saved != EAGAIN) {
		*error = g_strdup_printf("completing the vCPU's last I/O: KVM_RUN: %s",
					 strerror(saved));
		return -1;
	}
	return 0;
}

/* ---- VM records ---- */

static int get_irqchip(const struct kctx *k, const struct rec_desc *d, GByteArray *out)
{
	struct kvm_irqchip chip = { .chip_id = d->arg };
	if (ioctl(k->fd, KVM_GET_IRQCHIP, &chip) < 0)
		return -1;
	g_byte_array_append(out, (const guint8 *)&chip.chip, d->elem_size);
	return 0;
}

static int set_irqchip(const struct kctx *k, const struct rec_desc *d, const struct rec_view *v,
		       char **error)
{
	struct kvm_irqchip chip = { .chip_id = d->arg };
	memcpy(&chip.chip, v->data, d->elem_size);
	if (ioctl(k->fd, KVM_SET_IRQCHIP, &chip) < 0) {
		*error = g_strdup_printf("loading '%s' into KVM: %s", d->name, strerror(errno));
		return -1;
	}
	return 0;
}

static int check_pit(const struct kctx *k, const struct rec_view *v, char **error)
{
	struct kvm_pit_state2 p;
	memcpy(&p, v->data, sizeof(p));
	bool bad = p.flags & ~(KVM_PIT_FLAGS_HPET_LEGACY | KVM_PIT_FLAGS_SPEAKER_DATA_ON);
	/* 8254: a 3-bit mode (6 and 7 alias 2 and 3; KVM keeps 0xFF for "never programmed"), a
	 * 2-bit access mode, counts up to 65536 */
	for (unsigned i = 0; i < 3; i++)
		bad |= (p.channels[i].mode > 7 && p.channels[i].mode != 0xFF) ||
		       p.channels[i].count > 0x10000 || p.channels[i].rw_mode > 3;
	if (bad) {
		*error = g_strdup("'pit' is damaged");
		return -1;
	}
	return 0;
}

#define CLOCK_FLAGS_KNOWN (KVM_CLOCK_TSC_STABLE | KVM_CLOCK_REALTIME | KVM_CLOCK_HOST_TSC)

static int check_clock(const struct kctx *k, const struct rec_view *v, char **error)
{
	struct kvm_clock_data c;
	memcpy(&c, v->data, sizeof(c));
	if ((c.flags & ~CLOCK_FLAGS_KNOWN) || c.pad0 || c.pad[0] || c.pad[1] || c.pad[2] ||
	    c.pad[3]) {
		*error = g_strdup("'clock' is damaged");
		return -1;
	}
	return 0;
}

static int set_clock(const struct kctx *k, const struct rec_desc *d, const struct rec_view *v,
		     char **error)
{
	struct kvm_clock_data c;
	memcpy(&c, v->data, sizeof(c));
	/* no KVM_CLOCK_REALTIME: the clock continues from the saved value instead of being
	 * advanced by the wall-clock time since (cpu_state.h, "For the machine") */
	c.flags = 0;
	c.realtime = c.host_tsc = 0;
	if (ioctl(k->fd, KVM_SET_CLOCK, &c) < 0) {
		*error = g_strdup_printf("loading 'clock' into KVM: %s", strerror(errno));
		return -1;
	}
	return 0;
}

enum { VM_PIC_MASTER, VM_PIC_SLAVE, VM_IOAPIC, VM_PIT, VM_CLOCK, VM_NRECS };

static const struct rec_desc vm_recs[VM_NRECS] = {
	[VM_PIC_MASTER] = { "pic_master", .elem_size = sizeof(struct kvm_pic_state),
			    .min_count = 1, .max_count = 1, .arg = KVM_IRQCHIP_PIC_MASTER,
			    .get = get_irqchip, .set = set_irqchip },
	[VM_PIC_SLAVE] = { "pic_slave", .elem_size = sizeof(struct kvm_pic_state),
			   .min_count = 1, .max_count = 1, .arg = KVM_IRQCHIP_PIC_SLAVE,
			   .get = get_irqchip, .set = set_irqchip },
	[VM_IOAPIC] = { "ioapic", .elem_size = sizeof(struct kvm_ioapic_state), .min_count = 1,
			.max_count = 1, .arg = KVM_IRQCHIP_IOAPIC, .get = get_irqchip,
			.set = set_irqchip },
	[VM_PIT] = { "pit", PLAIN(struct kvm_pit_state2, KVM_CAP_PIT_STATE2, KVM_GET_PIT2,
				  KVM_SET_PIT2),
		     .check = check_pit },
	[VM_CLOCK] = { "clock", PLAIN(struct kvm_clock_data, KVM_CAP_ADJUST_CLOCK, KVM_GET_CLOCK,
				      KVM_SET_CLOCK),
		       .set = set_clock, .check = check_clock },
};

/* The chips the PIT feeds, then the PIT, then the clock (closest to the resume). */
static const struct load_step vm_steps[] = {
	{ VM_PIC_MASTER }, { VM_PIC_SLAVE }, { VM_IOAPIC }, { VM_PIT }, { VM_CLOCK },
};

static const struct payload_format vm_format = {
	.what = "KVM state",
	.tag = { 'K', 'V', 'M', 'S' },
	.version = VM_KERNEL_STATE_VERSION,
	.recs = vm_recs,
	.nrecs = VM_NRECS,
	.steps = vm_steps,
	.nsteps = G_N_ELEMENTS(vm_steps),
};

int vm_kernel_state_save(const struct kvm_vm *vm, GByteArray *out, char **error)
{
	struct kctx k = { vm->vm_fd, vm };
	return cpu_state_payload_save_checked(&vm_format, &k, out, error);
}

int vm_kernel_state_validate(const struct kvm_vm *vm, const uint8_t *buf, size_t len,
			     char **error)
{
	struct kctx k = { -1, vm };
	struct rec_view views[VM_NRECS];
	return cpu_state_payload_parse(&vm_format, &k, buf, len, views, error);
}

int vm_kernel_state_load(const struct kvm_vm *vm, const uint8_t *buf, size_t len, char **error)
{
	struct kctx k = { vm->vm_fd, vm };
	return cpu_state_payload_load(&vm_format, &k, buf, len, error);
}
