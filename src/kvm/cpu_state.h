/*
 * The state KVM keeps for the machine: per vCPU (registers, segment and control registers,
 * FPU/XSAVE, XCR0, MSRs, LAPIC, pending events, MP state, debug registers) and per VM (the
 * in-kernel PIC pair and IOAPIC, the PIT, the kvmclock). The machine's snapshot code stores
 * each payload as one section of the state file (state.h): "cpu" instance N per vCPU, "kvm"
 * instance 0 for the VM.
 *
 * Payload format (little-endian), described by the record tables in cpu_state.c:
 *
 *     tag[4] ("VCPU" or "KVMS"), u32 format version, u32 record count,
 *     records: u8 name length, name, u32 element size, u32 element count, size * count bytes,
 *     u32 CRC-32 of everything before it.
 *
 * A record holds kernel structures as the kernel's ABI lays them out (struct kvm_regs,
 * struct kvm_lapic_state, ...): those are fixed x86 ABI, so they are stored as bytes, with the
 * structure's size as this pcvm knows it in "element size". A load refuses a record whose
 * element size differs ("saved by a pcvm built for another kernel ABI"), an unknown or
 * duplicated record, a missing one, counts out of range and values KVM would reject — all
 * before the first ioctl that changes anything. If KVM still refuses a value half-way, the
 * previous state is put back (it is read before the first change), so a load either applies
 * completely or leaves the vCPU/VM as it was.
 *
 * Which kernel interface is used depends on the host, and the record names say which:
 * "sregs2" (KVM_CAP_SREGS2) or "sregs"; "xsave" (KVM_CAP_XSAVE, KVM_GET_XSAVE2 for sizes over
 * 4 KiB) or "fpu". A file saved with the newer one is refused on a host without it.
 *
 * Load order for a vCPU (cpu_state_load applies it; the reasons are KVM's):
 *   1. regs           KVM_SET_REGS discards a pending exception, so events come later.
 *   2. xsave | fpu, then xcrs (as QEMU does).
 *   3. sregs2 | sregs CR0/CR4/EFER, and the APIC base MSR (xAPIC/x2APIC enable), which
 *                     KVM_SET_LAPIC checks the APIC ID against.
 *   4. msrs           all saved MSRs but TSC_DEADLINE, after EFER; includes IA32_TSC: the guest's
 *                     TSC continues from the saved value (KVM matches the offsets of vCPUs
 *                     whose TSC is written within a second of each other), and the kvmclock
 *                     MSRs (system time, async PF, steal time, PV EOI).
 *   5. lapic          after the APIC base.
 *   6. msrs, second part: IA32_TSC_DEADLINE. KVM ignores a deadline unless LVTT is in TSC-deadline
 *                     mode, which only the LAPIC load can have set.
 *   7. events         pending exception/interrupt/NMI/SMI, interrupt shadow: after regs and the
 *                     LAPIC (an INIT latched in SMM goes into the LAPIC's pending events).
 *   8. debugregs
 *   9. mp_state       last: KVM refuses INIT_RECEIVED/SIPI_RECEIVED while an INIT is latched or
 *                     an SMI pending, which only the events load settles.
 * For the VM (vm_kernel_state_load): PIC master, PIC slave, IOAPIC (the chips the PIT's output
 * feeds), then PIT, then the clock.
 *
 * For the machine:
 *   - Every vCPU must be PAUSED (vcpu_set_state) around save and load: a vCPU ioctl waits for
 *     KVM_RUN to return, and the state of a running vCPU is already stale when read.
 *   - Complete pending I/O before saving: after a KVM_EXIT_IO or KVM_EXIT_MMIO read, the value
 *     userspace supplied reaches the guest's register (and RIP moves past the instruction) only
 *     when KVM_RUN is entered again. A vCPU parked right after such an exit would be saved on
 *     its IN instruction, which a revert then executes a second time. cpu_state_complete_io()
 *     re-enters with immediate_exit set (nothing of the guest runs); call it on the vCPU's own
 *     thread before it parks (from another thread it works too, but KVM then moves the vCPU's
 *     pid, which costs an RCU grace period — milliseconds — each way).
 *   - Load order for a revert: guest RAM and the KVM memory slots first (several MSRs hold
 *     guest-physical addresses that KVM checks or writes: kvmclock, PV EOI, steal time, async
 *     PF), then vm_kernel_state_load, then cpu_state_load for each vCPU, then resume. The
 *     clock (KVM_SET_CLOCK) is set to the saved value, not advanced by the time that passed: a
 *     reverted guest's kvmclock and TSC both continue from the snapshot moment, so they agree
 *     with each other (as after a long pause). KVM treats a TSC written within a second of
 *     what it expects as a request to keep vCPUs in sync and may then keep its own value: the
 *     restored TSC is exact or off by less than a second.
 *   - KVM_SET_PIT2 restarts each PIT channel from its reload value (KVM keeps no phase): a
 *     periodic timer's next tick may come up to one period late. The in-kernel chips keep the
 *     IRQ input levels the devices drive (IRR of level-triggered pins); after a revert the
 *     machine must drive each GSI to the level its restored devices want, as after a reset.
 *   - MSRs saved: those KVM_GET_MSR_INDEX_LIST names and KVM_GET_MSRS can read, except the
 *     kvmclock wall-clock MSRs (a write makes KVM store the wall clock into guest memory at the
 *     written address: an action, not state) and the Hyper-V range (pcvm offers no Hyper-V
 *     CPUID; several of those writes act on guest memory). The APIC base and EFER are in sregs.
 *     A load refuses an MSR this host's KVM does not list.
 *   - Not saved: CPUID (vcpu_create rebuilds it from the configuration), the TSC frequency
 *     (a host with another frequency runs the restored guest's TSC at its own rate), nested
 *     virtualization state (pcvm does not expose VMX/SVM to guests).
 */
#pragma once
#include <glib.h>
#include <linux/kvm.h>
#include <stddef.h>
#include <stdint.h>

#include "kvm/kvm.h"

/* Section names and versions for the state file. The payload carries its own version too. */
#define CPU_STATE_SECTION "cpu"
#define CPU_STATE_VERSION 1
#define VM_KERNEL_STATE_SECTION "kvm"
#define VM_KERNEL_STATE_VERSION 1

/* Appends the state of the (paused) vCPU to OUT, checked to be loadable. On error returns -1
 * with *error set and OUT as it was. */
int cpu_state_save(int vcpu_fd, const struct kvm_vm *vm, GByteArray *out, char **error);
/* Checks BUF as cpu_state_load would, issuing no ioctl but capability queries. */
int cpu_state_validate(const struct kvm_vm *vm, const uint8_t *buf, size_t len, char **error);
/* Validates BUF whole, then loads it into the (paused) vCPU in the order above. On error
 * returns -1 with *error set and the vCPU as it was. */
int cpu_state_load(int vcpu_fd, const struct kvm_vm *vm, const uint8_t *buf, size_t len,
		   char **error);

/* The same for the VM's in-kernel PIC, IOAPIC, PIT and clock (vCPUs paused). */
int vm_kernel_state_save(const struct kvm_vm *vm, GByteArray *out, char **error);
int vm_kernel_state_validate(const struct kvm_vm *vm, const uint8_t *buf, size_t len,
			     char **error);
int vm_kernel_state_load(const struct kvm_vm *vm, const uint8_t *buf, size_t len, char **error);

/* Finishes an I/O or MMIO exit inside KVM without running guest code (KVM_RUN with
 * immediate_exit; see above). RUN is the vCPU's mmapped struct kvm_run; the vCPU must not be
 * in KVM_RUN on another thread. */
int cpu_state_complete_io(int vcpu_fd, struct kvm_run *run, char **error);
