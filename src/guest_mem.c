#include "guest_mem.h"

#include <string.h>

int guest_mem_add(struct guest_mem *mem, uint64_t gpa, uint64_t size, void *hva)
{
	if (mem->nregions == GUEST_MEM_MAX_REGIONS || gpa + size < gpa)
		return -1;
	mem->regions[mem->nregions++] = (struct guest_mem_region){ gpa, size, hva };
	return 0;
}

void *guest_mem_ptr(const struct guest_mem *mem, uint64_t gpa, uint64_t len)
{
	for (unsigned i = 0; i < mem->nregions; i++) {
		const struct guest_mem_region *r = &mem->regions[i];
		if (gpa >= r->gpa && gpa - r->gpa <= r->size && len <= r->size - (gpa - r->gpa))
			return r->hva + (gpa - r->gpa);
	}
	return NULL;
}

/* Accesses may span adjacent regions (e.g. below and above the VGA hole is not adjacent, but
 * two slots that touch are): copy piecewise, after checking the whole range first. */
static int guest_mem_copy(const struct guest_mem *mem, uint64_t gpa, uint8_t *buf, size_t len,
			  bool to_guest)
{
	for (int pass = 0; pass < 2; pass++) {
		uint64_t a = gpa;
		size_t left = len;
		while (left) {
			const struct guest_mem_region *hit = NULL;
			for (unsigned i = 0; i < mem->nregions; i++) {
				const struct guest_mem_region *r = &mem->regions[i];
				if (a >= r->gpa && a - r->gpa < r->size) {
					hit = r;
					break;
				}
			}
			if (!hit)
				return -1;
			uint64_t avail = hit->size - (a - hit->gpa);
			size_t n = left < avail ? left : avail;
			if (pass == 1) {
				uint8_t *p = hit->hva + (a - hit->gpa);
				if (to_guest)
					memcpy(p, buf + (a - gpa), n);
				else
					memcpy(buf + (a - gpa), p, n);
			}
			a += n;
			left -= n;
		}
	}
	return 0;
}

int guest_mem_read(const struct guest_mem *mem, uint64_t gpa, void *buf, size_t len)
{
	return guest_mem_copy(mem, gpa, buf, len, false);
}

int guest_mem_write(const struct guest_mem *mem, uint64_t gpa, const void *buf, size_t len)
{
	return guest_mem_copy(mem, gpa, (uint8_t *)buf, len, true);
}
