/*
 * bench/exit_cost.c — what one guest port write costs on this host's KVM, by how the VMM takes
 * it: an exit to the VMM, a write KVM queues in its coalesced ring, a write KVM matches to an
 * ioeventfd, and, for reference, no write at all. A benchmark: it prints microseconds per
 * loop iteration, nothing is asserted.
 *
 * Build and run (bench/exit_cost.sh does both):
 *   cc -O2 -o exit_cost bench/exit_cost.c && ./exit_cost [ITERATIONS]
 *
 * The guest is a real-mode loop at 0:1000h, ITERATIONS times (default 200,000):
 *	L: out dx, al (or nop) / dec ecx / jnz L
 * then a write to port 1235h that ends the run. Port 1234h is, in turn: not claimed by KVM
 * (each write exits to this program, which returns at once: the least a VMM can do), a
 * coalesced-PIO zone (the ring is emptied at each exit, as a VMM does), an ioeventfd matching
 * the value written. The time is the host's, around the KVM_RUN loop, divided by ITERATIONS;
 * the loop's own instructions (dec, jnz) are in every figure, so the "nop" line is the floor.
 * On a host without VT-x/AMD-V the host kernel emulates each guest instruction, which is in
 * every figure too.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define RAM_SIZE 0x100000
#define CODE 0x1000
#define PORT 0x1234
#define PORT_DONE 0x1235

enum way { WAY_NOP, WAY_EXIT, WAY_COALESCED, WAY_IOEVENTFD };

static const char *const way_names[] = {
	[WAY_NOP] = "no write (nop): the loop alone",
	[WAY_EXIT] = "out, exit to the VMM",
	[WAY_COALESCED] = "out, queued in KVM's coalesced ring",
	[WAY_IOEVENTFD] = "out, matched by an ioeventfd",
};

static void die(const char *what)
{
	fprintf(stderr, "exit_cost: %s: %s\n", what, strerror(errno));
	exit(1);
}

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec * 1e-9;
}

/* mov ecx, N / mov dx, PORT / mov al, 0 / L: (out dx, al | nop) / dec ecx / jnz L /
 * mov dx, PORT_DONE / out dx, al / hlt */
static size_t guest_code(uint8_t *c, uint32_t n, enum way way)
{
	size_t i = 0;
	c[i++] = 0x66, c[i++] = 0xB9;
	memcpy(c + i, &n, 4), i += 4;
	c[i++] = 0xBA, c[i++] = PORT & 0xFF, c[i++] = PORT >> 8;
	c[i++] = 0xB0, c[i++] = 0x00;
	size_t loop = i;
	c[i++] = way == WAY_NOP ? 0x90 : 0xEE;
	c[i++] = 0x66, c[i++] = 0x49;
	c[i++] = 0x75, c[i] = (uint8_t)(loop - (i + 1)), i++;
	c[i++] = 0xBA, c[i++] = PORT_DONE & 0xFF, c[i++] = PORT_DONE >> 8;
	c[i++] = 0xEE, c[i++] = 0xF4;
	return i;
}

/* One run: microseconds per iteration; *EXITS counts the returns from KVM_RUN. */
static double run_way(int kvm, enum way way, uint32_t n, long *exits)
{
	int vm = ioctl(kvm, KVM_CREATE_VM, 0);
	if (vm < 0 || ioctl(vm, KVM_CREATE_IRQCHIP, 0) < 0)
		die("KVM_CREATE_VM");
	uint8_t *mem = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1,
			    0);
	if (mem == MAP_FAILED)
		die("mmap");
	struct kvm_userspace_memory_region slot = { .memory_size = RAM_SIZE,
						    .userspace_addr = (uintptr_t)mem };
	if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &slot) < 0)
		die("KVM_SET_USER_MEMORY_REGION");
	guest_code(mem + CODE, n, way);

	int cpu = ioctl(vm, KVM_CREATE_VCPU, 0);
	int run_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (cpu < 0 || run_size <= 0)
		die("KVM_CREATE_VCPU");
	struct kvm_run *run = mmap(NULL, run_size, PROT_READ | PROT_WRITE, MAP_SHARED, cpu, 0);
	if (run == MAP_FAILED)
		die("mmap kvm_run");
	struct kvm_sregs sregs;
	if (ioctl(cpu, KVM_GET_SREGS, &sregs) < 0)
		die("KVM_GET_SREGS");
	sregs.cs.base = 0, sregs.cs.selector = 0;
	struct kvm_regs regs = { .rip = CODE, .rflags = 2 };
	if (ioctl(cpu, KVM_SET_SREGS, &sregs) < 0 || ioctl(cpu, KVM_SET_REGS, &regs) < 0)
		die("KVM_SET_REGS");

	struct kvm_coalesced_mmio_ring *ring = NULL;
	int efd = -1;
	if (way == WAY_COALESCED) {
		int page = ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_COALESCED_MMIO);
		struct kvm_coalesced_mmio_zone zone = { .addr = PORT, .size = 1, .pio = 1 };
		if (page <= 0 || ioctl(vm, KVM_REGISTER_COALESCED_MMIO, &zone) < 0)
			die("KVM_REGISTER_COALESCED_MMIO");
		ring = (void *)((uint8_t *)run + page * sysconf(_SC_PAGESIZE));
	} else if (way == WAY_IOEVENTFD) {
		efd = eventfd(0, EFD_NONBLOCK);
		struct kvm_ioeventfd e = {
			.addr = PORT,
			.len = 1,
			.fd = efd,
			.flags = KVM_IOEVENTFD_FLAG_PIO | KVM_IOEVENTFD_FLAG_DATAMATCH,
		};
		if (efd < 0 || ioctl(vm, KVM_IOEVENTFD, &e) < 0)
			die("KVM_IOEVENTFD");
	}

	*exits = 0;
	double t0 = now();
	for (;;) {
		if (ioctl(cpu, KVM_RUN, 0) < 0 && errno != EINTR)
			die("KVM_RUN");
		(*exits)++;
		if (ring)
			ring->first = ring->last; /* what a VMM replays; nothing to replay here */
		if (run->exit_reason == KVM_EXIT_IO && run->io.port == PORT_DONE)
			break;
		if (run->exit_reason != KVM_EXIT_IO) {
			fprintf(stderr, "exit_cost: unexpected exit %u\n", run->exit_reason);
			exit(1);
		}
	}
	double us = (now() - t0) / n * 1e6;
	if (efd >= 0)
		close(efd);
	munmap(run, run_size);
	close(cpu);
	munmap(mem, RAM_SIZE);
	close(vm);
	return us;
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? strtol(argv[1], NULL, 10) : 200000;
	if (n < 1000 || n > 100000000) {
		fprintf(stderr, "usage: exit_cost [ITERATIONS, 1000 to 100000000]\n");
		return 2;
	}
	int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm < 0)
		die("/dev/kvm");
	printf("one guest port write, by how KVM takes it (%ld iterations each)\n", n);
	printf("  %-40s %10s %10s\n", "", "us/iter", "exits");
	for (enum way w = WAY_NOP; w <= WAY_IOEVENTFD; w++) {
		long exits;
		double us = run_way(kvm, w, n, &exits);
		printf("  %-40s %10.3f %10ld\n", way_names[w], us, exits);
	}
	close(kvm);
	return 0;
}
