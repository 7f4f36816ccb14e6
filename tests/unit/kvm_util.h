/* What the unit tests that drive a real /dev/kvm share (kvm_util.c). */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* A real KVM VM (in-kernel irqchip and PIT) with RAM_SIZE bytes of RAM at address 0, which it
 * returns. Without a usable /dev/kvm: skips the test, or fails it under CI=true (CI machines
 * must have KVM), and returns NULL. fake_kvm_vm_close undoes it. */
struct kvm_vm;
uint8_t *fake_kvm_vm(struct kvm_vm *vm, size_t ram_size);
void fake_kvm_vm_close(struct kvm_vm *vm, uint8_t *ram, size_t ram_size);
