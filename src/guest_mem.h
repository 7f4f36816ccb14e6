/*
 * Guest-physical memory. Every access a device makes on the guest's behalf goes through here:
 * the guest controls the address and length, so both are checked against the RAM regions and an
 * access that is not wholly inside one region fails instead of touching host memory.
 */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GUEST_MEM_MAX_REGIONS 8

struct guest_mem_region {
	uint64_t gpa;
	uint64_t size;
	uint8_t *hva;
};

struct guest_mem {
	unsigned nregions;
	struct guest_mem_region regions[GUEST_MEM_MAX_REGIONS];
};

int guest_mem_add(struct guest_mem *mem, uint64_t gpa, uint64_t size, void *hva);
/* Host pointer for [gpa, gpa + len) if it lies inside one RAM region, else NULL. */
void *guest_mem_ptr(const struct guest_mem *mem, uint64_t gpa, uint64_t len);
/* 0 on success, -1 if any byte lies outside guest RAM (then nothing was copied). */
int guest_mem_read(const struct guest_mem *mem, uint64_t gpa, void *buf, size_t len);
int guest_mem_write(const struct guest_mem *mem, uint64_t gpa, const void *buf, size_t len);
