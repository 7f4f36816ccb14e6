#include "kvm_util.h"

#include <errno.h>
#include <glib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "kvm/kvm.h"

uint8_t *fake_kvm_vm(struct kvm_vm *vm, size_t ram_size)
{
	if (access("/dev/kvm", R_OK | W_OK) != 0) {
		if (!g_strcmp0(g_getenv("CI"), "true"))
			g_test_fail_printf("/dev/kvm: %s (CI must have KVM)", g_strerror(errno));
		else
			g_test_skip("no usable /dev/kvm");
		return NULL;
	}
	char *error = NULL;
	g_assert_cmpint(kvm_vm_open(vm, "/dev/kvm", &error), ==, 0);
	g_assert_cmpint(kvm_vm_create(vm, &error), ==, 0);
	uint8_t *ram = mmap(NULL, ram_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			    -1, 0);
	g_assert_true(ram != MAP_FAILED);
	g_assert_cmpint(kvm_vm_set_memory(vm, 0, 0, ram_size, ram, false), ==, 0);
	return ram;
}

void fake_kvm_vm_close(struct kvm_vm *vm, uint8_t *ram, size_t ram_size)
{
	kvm_vm_close(vm);
	munmap(ram, ram_size);
}
