/*
 * /dev/kvm: the VM file descriptor, memory slots, the in-kernel irqchip and PIT with QEMU-style
 * GSI routing. One struct kvm_vm per VM process; vCPUs are in vcpu.h.
 */
#pragma once
#include <linux/kvm.h>
#include <stdbool.h>
#include <stdint.h>

/* Where KVM's real-mode TSS and identity map live (pc-platform.md; reserved in e820). */
#define KVM_IDENTITY_MAP_ADDR 0xFEFFC000u
#define KVM_TSS_ADDR 0xFEFFD000u
#define KVM_RESERVED_SIZE 0x4000u

struct kvm_vm {
	int kvm_fd;
	int vm_fd;
	int run_size;		       /* mmap size of a vCPU's struct kvm_run */
	struct kvm_cpuid2 *cpuid;      /* KVM_GET_SUPPORTED_CPUID */
	struct kvm_msr_list *msr_list; /* KVM_GET_MSR_INDEX_LIST */
};

/*
 * Opens PATH (normally "/dev/kvm") and checks the API version and the capabilities pcvm needs.
 * On failure returns -1 with a message a person can act on in *error.
 */
int kvm_vm_open(struct kvm_vm *vm, const char *path, char **error);
void kvm_vm_close(struct kvm_vm *vm);

/*
 * Creates the VM with its irqchip, PIT and GSI routing. A machine reset destroys it and creates
 * a fresh one (memory slots and vCPUs are re-added by the caller): every piece of in-kernel
 * state then starts from its power-on value, which is what a reset must give the guest.
 */
int kvm_vm_create(struct kvm_vm *vm, char **error);
void kvm_vm_destroy(struct kvm_vm *vm);

int kvm_vm_set_memory(struct kvm_vm *vm, unsigned slot, uint64_t gpa, uint64_t size, void *hva,
		      bool read_only);
/* A slot whose writes KVM records page by page (the linear framebuffer); SIZE 0 deletes it. */
int kvm_vm_set_memory_logged(struct kvm_vm *vm, unsigned slot, uint64_t gpa, uint64_t size,
			     void *hva);
/* Fetches and clears SLOT's dirty bitmap (one bit per 4 KiB page, BITMAP sized by the caller
 * for the slot's pages, rounded up to 64 bits). */
int kvm_vm_get_dirty_log(struct kvm_vm *vm, unsigned slot, uint64_t *bitmap);
/* Drives GSI to LEVEL (edge-triggered lines: 1 then 0). Safe from any thread. */
void kvm_vm_irq_line(struct kvm_vm *vm, unsigned gsi, int level);
bool kvm_vm_has_msr(const struct kvm_vm *vm, uint32_t index);
