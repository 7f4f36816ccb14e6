/*
 * /dev/kvm: the VM file descriptor, memory slots, the in-kernel irqchip and PIT with QEMU-style
 * GSI routing. One struct kvm_vm per VM process; vCPUs are in vcpu.h.
 */
#pragma once
#include <linux/kvm.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct bus;

#define KVM_MAX_POSTED_VALUES 16

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
	/* Coalesced port writes (kvm_vm_coalesce_pio): the ring KVM appends them to instead of
	 * exiting, mapped from the first vCPU; NULL without zones or without the capability. */
	struct kvm_coalesced_mmio_ring *ring;
	unsigned ring_entries;
	pthread_mutex_t ring_lock; /* one drainer at a time: writes are replayed in order */
	int ring_page;		   /* KVM_CAP_COALESCED_MMIO: the ring's page in the vCPU mmap */
	bool coalesced_pio;	   /* KVM_CAP_COALESCED_PIO */
	bool ioeventfd;		   /* KVM_CAP_IOEVENTFD */
	/* Posted single values (kvm_vm_post_value): KVM signals an eventfd each instead of
	 * exiting. Under values_lock, which is never held while a device is called (a BAR that
	 * moves posts values under its device's lock); value_fds[i] goes with values[i]. */
	pthread_mutex_t values_lock;
	struct kvm_posted_value {
		uint64_t addr;
		uint32_t len, value;
		bool pio;
	} values[KVM_MAX_POSTED_VALUES];
	struct pollfd value_fds[KVM_MAX_POSTED_VALUES];
	unsigned n_values;
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
/*
 * Writes to [ADDR, ADDR + LEN), ports (PIO) or guest-physical addresses, stop causing exits:
 * KVM queues them in a ring and the vCPU replays them (kvm_vm_drain_posted) before it
 * handles its next exit of any kind. Only for registers and memory whose writes start nothing
 * (bus_ops.posted): anything that reads or triggers exits and sees the writes in order.
 * Returns -1 where KVM cannot (then nothing changes). uncoalesce undoes it (a region moved).
 */
int kvm_vm_coalesce(struct kvm_vm *vm, uint64_t addr, uint32_t len, bool pio);
int kvm_vm_uncoalesce(struct kvm_vm *vm, uint64_t addr, uint32_t len, bool pio);
/*
 * A write of VALUE, LEN bytes at ADDR (bus_ops.posted_values), stops causing an exit: KVM
 * matches the value and signals an eventfd, which the drain turns back into one write. Other
 * values written there exit as before. Returns -1 where KVM cannot (then nothing changes);
 * unpost undoes it, dropping a write still pending (a region that moves does so on an exit,
 * after the drain).
 */
int kvm_vm_post_value(struct kvm_vm *vm, uint64_t addr, uint32_t len, uint32_t value, bool pio);
int kvm_vm_unpost_value(struct kvm_vm *vm, uint64_t addr, uint32_t len, uint32_t value, bool pio);
/* Maps the ring from vCPU FD (vcpu_create does this for the first vCPU). */
void kvm_vm_map_ring(struct kvm_vm *vm, int vcpu_fd);
/*
 * Replays the posted writes on PIO and MMIO: the ring's, oldest first, then each posted value
 * written since the last drain, once, in the order they were posted. Any vCPU thread, or
 * another one while the VM is sure to exist (the main loop, which creates and destroys it, or
 * under the machine's lock that says so); two loads when nothing is posted, a poll(2) more
 * where values are.
 */
void kvm_vm_drain_posted(struct kvm_vm *vm, struct bus *pio, struct bus *mmio);

/* Drives GSI to LEVEL (edge-triggered lines: 1 then 0). Safe from any thread. */
void kvm_vm_irq_line(struct kvm_vm *vm, unsigned gsi, int level);
bool kvm_vm_has_msr(const struct kvm_vm *vm, uint32_t index);
