#include "kvm/kvm.h"

#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <inttypes.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "devices/bus.h"
#include "log.h"

/* Capabilities pcvm cannot run without, with what each is for. */
static const struct {
	int cap;
	const char *what;
} kvm_required_caps[] = {
	{ KVM_CAP_IRQCHIP, "in-kernel interrupt controller" },
	{ KVM_CAP_PIT2, "in-kernel PIT" },
	{ KVM_CAP_IRQ_ROUTING, "GSI routing" },
	{ KVM_CAP_READONLY_MEM, "read-only memory (the BIOS ROM)" },
	{ KVM_CAP_IMMEDIATE_EXIT, "immediate exit (pausing vCPUs)" },
	{ KVM_CAP_SET_TSS_ADDR, "real-mode TSS" },
	{ KVM_CAP_EXT_CPUID, "CPUID configuration" },
};

static char *kvm_open_error(const char *path, int err)
{
	switch (err) {
	case ENOENT:
		return g_strdup_printf("%s: no such device — KVM is not available: load the kvm "
				       "module (modprobe kvm_intel or kvm_amd) and enable "
				       "virtualization (VT-x/AMD-V) in the BIOS setup",
				       path);
	case EACCES:
	case EPERM:
		return g_strdup_printf("%s: permission denied — add yourself to the kvm group "
				       "(sudo usermod -aG kvm $USER) and log in again",
				       path);
	default:
		return g_strdup_printf("%s: %s", path, strerror(err));
	}
}

static int kvm_load_cpuid(struct kvm_vm *vm, char **error)
{
	for (unsigned n = 64; n <= 4096; n *= 2) {
		struct kvm_cpuid2 *c = g_malloc0(sizeof(*c) + n * sizeof(struct kvm_cpuid_entry2));
		c->nent = n;
		if (ioctl(vm->kvm_fd, KVM_GET_SUPPORTED_CPUID, c) == 0) {
			vm->cpuid = c;
			return 0;
		}
		g_free(c);
		if (errno != E2BIG)
			break;
	}
	*error = g_strdup_printf("KVM_GET_SUPPORTED_CPUID: %s", strerror(errno));
	return -1;
}

static void kvm_load_msr_list(struct kvm_vm *vm)
{
	struct kvm_msr_list probe = { .nmsrs = 0 };
	ioctl(vm->kvm_fd, KVM_GET_MSR_INDEX_LIST, &probe); /* fails with E2BIG, sets nmsrs */
	vm->msr_list = g_malloc0(sizeof(*vm->msr_list) + probe.nmsrs * sizeof(uint32_t));
	vm->msr_list->nmsrs = probe.nmsrs;
	if (ioctl(vm->kvm_fd, KVM_GET_MSR_INDEX_LIST, vm->msr_list) < 0)
		vm->msr_list->nmsrs = 0;
}

bool kvm_vm_has_msr(const struct kvm_vm *vm, uint32_t index)
{
	for (uint32_t i = 0; vm->msr_list && i < vm->msr_list->nmsrs; i++)
		if (vm->msr_list->indices[i] == index)
			return true;
	return false;
}

/*
 * GSI routing as QEMU's pc machine has it, so every OS finds what its tables say: GSI n goes to
 * PIC pin n (master 0-7 except the cascade, slave 8-15) and to IOAPIC pin n, except GSI 0 (the
 * PIT) which reaches IOAPIC pin 2 — the "IRQ0 override" SeaBIOS writes into MADT.
 */
static int kvm_setup_gsi_routing(struct kvm_vm *vm)
{
	enum { MAX_ROUTES = 16 + 24 };
	struct kvm_irq_routing *r =
		g_malloc0(sizeof(*r) + MAX_ROUTES * sizeof(struct kvm_irq_routing_entry));
	unsigned n = 0;
	for (unsigned gsi = 0; gsi < 16; gsi++) {
		if (gsi == 2)
			continue;
		r->entries[n++] = (struct kvm_irq_routing_entry){
			.gsi = gsi,
			.type = KVM_IRQ_ROUTING_IRQCHIP,
			.u.irqchip = { gsi < 8 ? KVM_IRQCHIP_PIC_MASTER : KVM_IRQCHIP_PIC_SLAVE,
				       gsi % 8 },
		};
	}
	for (unsigned gsi = 0; gsi < 24; gsi++) {
		if (gsi == 2)
			continue;
		r->entries[n++] = (struct kvm_irq_routing_entry){
			.gsi = gsi,
			.type = KVM_IRQ_ROUTING_IRQCHIP,
			.u.irqchip = { KVM_IRQCHIP_IOAPIC, gsi == 0 ? 2 : gsi },
		};
	}
	r->nr = n;
	int ret = ioctl(vm->vm_fd, KVM_SET_GSI_ROUTING, r);
	g_free(r);
	return ret;
}

int kvm_vm_create(struct kvm_vm *vm, char **error)
{
	vm->vm_fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0);
	if (vm->vm_fd < 0) {
		*error = g_strdup_printf("KVM_CREATE_VM: %s", strerror(errno));
		return -1;
	}
	struct kvm_pit_config pit = { .flags = KVM_PIT_SPEAKER_DUMMY };
	const char *step = NULL;
	if (ioctl(vm->vm_fd, KVM_SET_TSS_ADDR, KVM_TSS_ADDR) < 0)
		step = "KVM_SET_TSS_ADDR";
	else if (ioctl(vm->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &(uint64_t){ KVM_IDENTITY_MAP_ADDR }) < 0)
		step = "KVM_SET_IDENTITY_MAP_ADDR";
	else if (ioctl(vm->vm_fd, KVM_CREATE_IRQCHIP, 0) < 0)
		step = "KVM_CREATE_IRQCHIP";
	else if (ioctl(vm->vm_fd, KVM_CREATE_PIT2, &pit) < 0)
		step = "KVM_CREATE_PIT2";
	else if (kvm_setup_gsi_routing(vm) < 0)
		step = "KVM_SET_GSI_ROUTING";
	if (step) {
		*error = g_strdup_printf("%s: %s", step, strerror(errno));
		kvm_vm_destroy(vm);
		return -1;
	}
	return 0;
}

int kvm_vm_open(struct kvm_vm *vm, const char *path, char **error)
{
	memset(vm, 0, sizeof(*vm));
	vm->vm_fd = -1;
	vm->kvm_fd = open(path, O_RDWR | O_CLOEXEC);
	if (vm->kvm_fd < 0) {
		*error = kvm_open_error(path, errno);
		return -1;
	}
	int version = ioctl(vm->kvm_fd, KVM_GET_API_VERSION, 0);
	if (version != KVM_API_VERSION) {
		*error = g_strdup_printf("%s: KVM API version %d, pcvm needs %d", path, version,
					 KVM_API_VERSION);
		goto fail;
	}
	for (size_t i = 0; i < G_N_ELEMENTS(kvm_required_caps); i++) {
		if (ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, kvm_required_caps[i].cap) <= 0) {
			*error = g_strdup_printf("%s: this kernel's KVM lacks %s", path,
						 kvm_required_caps[i].what);
			goto fail;
		}
	}
	vm->run_size = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (vm->run_size <= 0) {
		*error = g_strdup_printf("KVM_GET_VCPU_MMAP_SIZE: %s", strerror(errno));
		goto fail;
	}
	if (kvm_load_cpuid(vm, error) < 0)
		goto fail;
	kvm_load_msr_list(vm);
	/* optional: without them every port write exits, as before */
	vm->ring_page = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_COALESCED_MMIO);
	vm->coalesced_pio = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_COALESCED_PIO) > 0;
	vm->ioeventfd = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_IOEVENTFD) > 0;
	pthread_mutex_init(&vm->ring_lock, NULL);
	pthread_mutex_init(&vm->values_lock, NULL);
	return 0;
fail:
	kvm_vm_close(vm);
	return -1;
}

static int kvm_vm_zone(struct kvm_vm *vm, unsigned long request, uint64_t addr, uint32_t len,
		       bool pio)
{
	struct kvm_coalesced_mmio_zone zone = { .addr = addr, .size = len, .pio = pio };
	if (vm->vm_fd < 0 || !vm->coalesced_pio || vm->ring_page <= 0 ||
	    ioctl(vm->vm_fd, request, &zone) < 0)
		return -1;
	return 0;
}

int kvm_vm_coalesce(struct kvm_vm *vm, uint64_t addr, uint32_t len, bool pio)
{
	return kvm_vm_zone(vm, KVM_REGISTER_COALESCED_MMIO, addr, len, pio);
}

int kvm_vm_uncoalesce(struct kvm_vm *vm, uint64_t addr, uint32_t len, bool pio)
{
	return kvm_vm_zone(vm, KVM_UNREGISTER_COALESCED_MMIO, addr, len, pio);
}

void kvm_vm_map_ring(struct kvm_vm *vm, int vcpu_fd)
{
	long page = sysconf(_SC_PAGESIZE);
	if (vm->ring || vm->ring_page <= 0 || !vm->coalesced_pio)
		return;
	/* a mapping of its own, so that it outlives whichever vCPU is destroyed first */
	void *p = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu_fd,
		       (off_t)vm->ring_page * page);
	if (p == MAP_FAILED)
		return;
	vm->ring = p;
	vm->ring_entries = (page - sizeof(struct kvm_coalesced_mmio_ring)) /
			   sizeof(struct kvm_coalesced_mmio);
}

static void kvm_vm_drain_ring(struct kvm_vm *vm, struct bus *pio, struct bus *mmio)
{
	struct kvm_coalesced_mmio_ring *r = vm->ring;
	uint32_t first = r->first % vm->ring_entries;
	for (unsigned n = 0; n < vm->ring_entries &&
			     first != __atomic_load_n(&r->last, __ATOMIC_ACQUIRE);
	     n++) {
		/* KVM owns the ring's contents: bound what it says before using it */
		struct kvm_coalesced_mmio e = r->coalesced_mmio[first % vm->ring_entries];
		uint64_t val = 0;
		memcpy(&val, e.data, MIN(e.len, sizeof(val)));
		if (e.pio && e.len && e.len <= 4)
			bus_write(pio, e.phys_addr, e.len, val);
		else if (!e.pio && mmio && e.len && e.len <= 8)
			bus_write(mmio, e.phys_addr, e.len, val);
		first = (first + 1) % vm->ring_entries;
		__atomic_store_n(&r->first, first, __ATOMIC_RELEASE);
	}
}

/* The values KVM counted on their eventfds since the last drain, each written once (the count
 * says how often, and once is the same), outside values_lock. */
static void kvm_vm_drain_values(struct kvm_vm *vm, struct bus *pio, struct bus *mmio)
{
	struct kvm_posted_value due[KVM_MAX_POSTED_VALUES];
	unsigned n = 0;
	if (!__atomic_load_n(&vm->n_values, __ATOMIC_ACQUIRE))
		return;
	pthread_mutex_lock(&vm->values_lock);
	if (vm->n_values && poll(vm->value_fds, vm->n_values, 0) > 0) {
		for (unsigned i = 0; i < vm->n_values; i++) {
			uint64_t count;
			if ((vm->value_fds[i].revents & POLLIN) &&
			    read(vm->value_fds[i].fd, &count, sizeof(count)) == sizeof(count))
				due[n++] = vm->values[i];
		}
	}
	pthread_mutex_unlock(&vm->values_lock);
	for (unsigned i = 0; i < n; i++) {
		struct bus *bus = due[i].pio ? pio : mmio;
		if (bus)
			bus_write(bus, due[i].addr, due[i].len, due[i].value);
	}
}

void kvm_vm_drain_posted(struct kvm_vm *vm, struct bus *pio, struct bus *mmio)
{
	struct kvm_coalesced_mmio_ring *r = vm->ring;
	bool ring = r && __atomic_load_n(&r->first, __ATOMIC_ACQUIRE) !=
				 __atomic_load_n(&r->last, __ATOMIC_ACQUIRE);
	if (!ring && !__atomic_load_n(&vm->n_values, __ATOMIC_ACQUIRE))
		return;
	pthread_mutex_lock(&vm->ring_lock);
	if (ring)
		kvm_vm_drain_ring(vm, pio, mmio);
	kvm_vm_drain_values(vm, pio, mmio);
	pthread_mutex_unlock(&vm->ring_lock);
}

static struct kvm_ioeventfd kvm_value_ioeventfd(const struct kvm_posted_value *v, int fd)
{
	return (struct kvm_ioeventfd){
		.datamatch = v->value,
		.addr = v->addr,
		.len = v->len,
		.fd = fd,
		.flags = KVM_IOEVENTFD_FLAG_DATAMATCH | (v->pio ? KVM_IOEVENTFD_FLAG_PIO : 0),
	};
}

int kvm_vm_post_value(struct kvm_vm *vm, uint64_t addr, uint32_t len, uint32_t value, bool pio)
{
	struct kvm_posted_value v = { addr, len, value, pio };
	if (vm->vm_fd < 0 || !vm->ioeventfd || (len != 1 && len != 2 && len != 4))
		return -1;
	int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (fd < 0)
		return -1;
	pthread_mutex_lock(&vm->values_lock);
	struct kvm_ioeventfd e = kvm_value_ioeventfd(&v, fd);
	if (vm->n_values == KVM_MAX_POSTED_VALUES || ioctl(vm->vm_fd, KVM_IOEVENTFD, &e) < 0) {
		pthread_mutex_unlock(&vm->values_lock);
		close(fd);
		return -1;
	}
	vm->values[vm->n_values] = v;
	vm->value_fds[vm->n_values] = (struct pollfd){ .fd = fd, .events = POLLIN };
	__atomic_store_n(&vm->n_values, vm->n_values + 1, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&vm->values_lock);
	return 0;
}

int kvm_vm_unpost_value(struct kvm_vm *vm, uint64_t addr, uint32_t len, uint32_t value, bool pio)
{
	int ret = -1;
	pthread_mutex_lock(&vm->values_lock);
	for (unsigned i = 0; i < vm->n_values; i++) {
		const struct kvm_posted_value *v = &vm->values[i];
		if (v->addr != addr || v->len != len || v->value != value || v->pio != pio)
			continue;
		struct kvm_ioeventfd e = kvm_value_ioeventfd(v, vm->value_fds[i].fd);
		e.flags |= KVM_IOEVENTFD_FLAG_DEASSIGN;
		ioctl(vm->vm_fd, KVM_IOEVENTFD, &e);
		close(vm->value_fds[i].fd);
		unsigned rest = vm->n_values - i - 1;
		memmove(&vm->values[i], &vm->values[i + 1], rest * sizeof(vm->values[0]));
		memmove(&vm->value_fds[i], &vm->value_fds[i + 1], rest * sizeof(vm->value_fds[0]));
		__atomic_store_n(&vm->n_values, vm->n_values - 1, __ATOMIC_RELEASE);
		ret = 0;
		break;
	}
	pthread_mutex_unlock(&vm->values_lock);
	return ret;
}

void kvm_vm_destroy(struct kvm_vm *vm)
{
	/* closing the VM releases its ioeventfds; the eventfds are ours (no vCPU runs now) */
	for (unsigned i = 0; i < vm->n_values; i++)
		close(vm->value_fds[i].fd);
	vm->n_values = 0;
	if (vm->ring)
		munmap(vm->ring, sysconf(_SC_PAGESIZE));
	vm->ring = NULL;
	if (vm->vm_fd >= 0)
		close(vm->vm_fd);
	vm->vm_fd = -1;
}

void kvm_vm_close(struct kvm_vm *vm)
{
	kvm_vm_destroy(vm);
	if (vm->kvm_fd >= 0)
		close(vm->kvm_fd);
	g_free(vm->cpuid);
	g_free(vm->msr_list);
	vm->vm_fd = vm->kvm_fd = -1;
	vm->cpuid = NULL;
	vm->msr_list = NULL;
}

int kvm_vm_set_memory(struct kvm_vm *vm, unsigned slot, uint64_t gpa, uint64_t size, void *hva,
		      bool read_only)
{
	struct kvm_userspace_memory_region r = {
		.slot = slot,
		.flags = read_only ? KVM_MEM_READONLY : 0,
		.guest_phys_addr = gpa,
		.memory_size = size,
		.userspace_addr = (uintptr_t)hva,
	};
	if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &r) < 0) {
		log_error("KVM_SET_USER_MEMORY_REGION slot %u at %#" PRIx64 ": %s", slot, gpa,
			  strerror(errno));
		return -1;
	}
	return 0;
}

int kvm_vm_set_memory_logged(struct kvm_vm *vm, unsigned slot, uint64_t gpa, uint64_t size,
			     void *hva)
{
	struct kvm_userspace_memory_region r = {
		.slot = slot,
		.flags = size ? KVM_MEM_LOG_DIRTY_PAGES : 0,
		.guest_phys_addr = gpa,
		.memory_size = size,
		.userspace_addr = (uintptr_t)hva,
	};
	if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &r) < 0) {
		log_error("KVM_SET_USER_MEMORY_REGION (logged) slot %u at %#" PRIx64 ": %s", slot,
			  gpa, strerror(errno));
		return -1;
	}
	return 0;
}

int kvm_vm_get_dirty_log(struct kvm_vm *vm, unsigned slot, uint64_t *bitmap)
{
	struct kvm_dirty_log log = { .slot = slot, .dirty_bitmap = bitmap };
	return ioctl(vm->vm_fd, KVM_GET_DIRTY_LOG, &log) < 0 ? -1 : 0;
}

void kvm_vm_irq_line(struct kvm_vm *vm, unsigned gsi, int level)
{
	struct kvm_irq_level irq = { .irq = gsi, .level = level };
	if (ioctl(vm->vm_fd, KVM_IRQ_LINE, &irq) < 0)
		log_once(LOG_WARN, "KVM_IRQ_LINE %u: %s", gsi, strerror(errno));
}
