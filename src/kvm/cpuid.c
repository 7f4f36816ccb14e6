/*
 * CPUID as the guest sees it: what KVM_GET_SUPPORTED_CPUID offers, with the per-vCPU topology
 * filled in (Intel SDM vol. 2A, CPUID): one package, one thread per core, NCPUS cores.
 */
#include <glib.h>
#include <string.h>

#include "kvm/vcpu.h"

#define CPUID_1_ECX_HYPERVISOR (1u << 31)
#define CPUID_1_EDX_HTT (1u << 28)

typedef void (*cpuid_fixup)(struct kvm_cpuid_entry2 *e, unsigned id, unsigned ncpus);

static void fix_leaf1(struct kvm_cpuid_entry2 *e, unsigned id, unsigned ncpus)
{
	/* EBX: initial APIC ID in 31:24, logical processors per package in 23:16 */
	e->ebx = (e->ebx & 0x0000FFFFu) | (id << 24) | ((ncpus & 0xFF) << 16);
	if (ncpus > 1)
		e->edx |= CPUID_1_EDX_HTT;
	else
		e->edx &= ~CPUID_1_EDX_HTT;
	e->ecx |= CPUID_1_ECX_HYPERVISOR;
}

static void fix_leaf4(struct kvm_cpuid_entry2 *e, unsigned id, unsigned ncpus)
{
	/* EAX 31:26: cores per package - 1; 25:14: threads sharing this cache - 1 */
	if ((e->eax & 0x1F) == 0)
		return; /* no more caches */
	unsigned level = (e->eax >> 5) & 7;
	unsigned sharing = level >= 3 ? ncpus - 1 : 0;
	e->eax = (e->eax & 0x3FFFu) | ((ncpus - 1) << 26) | (sharing << 14);
}

static void fix_topology(struct kvm_cpuid_entry2 *e, unsigned id, unsigned ncpus)
{
	/* leaves 0xB/0x1F: level 0 = SMT (1 thread), level 1 = core (ncpus); EDX = x2APIC ID */
	unsigned shift = ncpus > 1 ? g_bit_storage(ncpus - 1) : 0;
	switch (e->index) {
	case 0: e->eax = 0; e->ebx = 1; e->ecx = 1 << 8; break;
	case 1: e->eax = shift; e->ebx = ncpus; e->ecx = 2 << 8 | 1; break;
	default: e->eax = 0; e->ebx = 0; e->ecx = e->index; break;
	}
	e->edx = id;
}

static const struct {
	uint32_t function;
	cpuid_fixup fix;
} cpuid_fixups[] = {
	{ 0x1, fix_leaf1 },
	{ 0x4, fix_leaf4 },
	{ 0xB, fix_topology },
	{ 0x1F, fix_topology },
};

struct kvm_cpuid2 *cpuid_for_vcpu(const struct kvm_cpuid2 *supported, unsigned id,
				  unsigned ncpus)
{
	size_t bytes = sizeof(*supported) + supported->nent * sizeof(struct kvm_cpuid_entry2);
	struct kvm_cpuid2 *c = g_memdup2(supported, bytes);
	for (uint32_t i = 0; i < c->nent; i++)
		for (size_t f = 0; f < G_N_ELEMENTS(cpuid_fixups); f++)
			if (c->entries[i].function == cpuid_fixups[f].function)
				cpuid_fixups[f].fix(&c->entries[i], id, ncpus);
	return c;
}
