/*
 * The standard VGA's legacy memory window at 0xA0000-0xBFFFF: the four planes behind it, the
 * latches and the graphics controller's data path (write modes, logical functions, bit mask,
 * read modes), after the IBM VGA Technical Reference ("Video Subsystem": graphics controller,
 * sequencer) and FreeVGA. The registers are in vga.c; with VBE on, the window is a bank of the
 * linear framebuffer (vga_vbe.c).
 */
#include <string.h>

#include "devices/vga_internal.h"

/* ---- the legacy window: planes, latches and the graphics controller's data path ---- */

/* GR06 bits 3:2, memory map select: where in 0xA0000-0xBFFFF the planes answer */
static const struct {
	uint32_t base, size;
} vga_maps[4] = {
	{ 0x00000, 0x20000 }, /* A0000-BFFFF */
	{ 0x00000, 0x10000 }, /* A0000-AFFFF */
	{ 0x10000, 0x08000 }, /* B0000-B7FFF */
	{ 0x18000, 0x08000 }, /* B8000-BFFFF */
};

static bool vga_window(const struct vga *vga, uint64_t off, uint32_t *addr)
{
	unsigned m = (vga->gc[6] >> 2) & 3;
	if (!(vga->misc & MISC_RAM_ENABLE) || off < vga_maps[m].base ||
	    off >= vga_maps[m].base + vga_maps[m].size)
		return false;
	*addr = off - vga_maps[m].base;
	return true;
}

static uint8_t vga_rotate(uint8_t v, unsigned n)
{
	n &= 7;
	return n ? (uint8_t)(v >> n | v << (8 - n)) : v;
}

/* GR03 bits 4:3, the logical function applied between data and latch */
static uint8_t vga_alu(const struct vga *vga, uint8_t x, uint8_t latch)
{
	switch ((vga->gc[3] >> 3) & 3) {
	case 1:
		return x & latch;
	case 2:
		return x | latch;
	case 3:
		return x ^ latch;
	default:
		return x;
	}
}

/* Bits outside the bit mask come from the latch unchanged. */
static uint8_t vga_combine(const struct vga *vga, uint8_t x, uint8_t latch, uint8_t mask)
{
	return (vga_alu(vga, x, latch) & mask) | (latch & ~mask);
}

static uint8_t vga_expand(uint8_t bits, unsigned plane)
{
	return (bits >> plane) & 1 ? 0xFF : 0x00;
}

/* Write mode 0: rotated data, or set/reset for the planes enable set/reset selects. */
static void vga_write_mode0(const struct vga *vga, uint8_t val, uint8_t out[4])
{
	uint8_t rot = vga_rotate(val, vga->gc[3]);
	for (unsigned p = 0; p < 4; p++) {
		uint8_t x = (vga->gc[1] >> p) & 1 ? vga_expand(vga->gc[0], p) : rot;
		out[p] = vga_combine(vga, x, vga->latch[p], vga->gc[8]);
	}
}

/* Write mode 1: the latches, as they are (a plane-to-plane copy). */
static void vga_write_mode1(const struct vga *vga, uint8_t val, uint8_t out[4])
{
	memcpy(out, vga->latch, 4);
}

/* Write mode 2: data bits 3:0 are the colour, one bit per plane. */
static void vga_write_mode2(const struct vga *vga, uint8_t val, uint8_t out[4])
{
	for (unsigned p = 0; p < 4; p++)
		out[p] = vga_combine(vga, vga_expand(val, p), vga->latch[p], vga->gc[8]);
}

/* Write mode 3: set/reset is the colour; rotated data ANDed with the bit mask is the mask. */
static void vga_write_mode3(const struct vga *vga, uint8_t val, uint8_t out[4])
{
	uint8_t mask = vga_rotate(val, vga->gc[3]) & vga->gc[8];
	for (unsigned p = 0; p < 4; p++)
		out[p] = vga_combine(vga, vga_expand(vga->gc[0], p), vga->latch[p], mask);
}

static void (*const vga_write_modes[4])(const struct vga *, uint8_t, uint8_t[4]) = {
	vga_write_mode0, vga_write_mode1, vga_write_mode2, vga_write_mode3,
};

/*
 * Host address to plane offset (SR04): chain 4 takes address bits 1:0 as the plane, odd/even
 * takes bit 0 (even addresses reach planes 0 and 2, odd ones 1 and 3); either way the plane
 * offset is the address with those bits cleared, as the CRT controller's doubleword and word
 * modes read it back. The odd/even page bit of the miscellaneous register is ignored, as the
 * VGA BIOS's modes need. *PLANES gets the planes a write may reach.
 */
static uint32_t vga_write_decode(const struct vga *vga, uint32_t addr, uint8_t *planes)
{
	*planes = vga->seq[2] & 0x0F;
	if (vga->seq[4] & 0x08) {
		*planes &= 1u << (addr & 3);
		addr &= ~3u;
	} else if (!(vga->seq[4] & 0x04)) {
		*planes &= (addr & 1) ? 0x0A : 0x05;
		addr &= ~1u;
	}
	return addr & VGA_PLANE_MASK;
}

/* Reads: chain 4 (SR04 bit 3), host odd/even (GR05 bit 4) or the read map select (GR04). */
static uint32_t vga_read_decode(const struct vga *vga, uint32_t addr, unsigned *plane)
{
	if (vga->seq[4] & 0x08) {
		*plane = addr & 3;
		addr &= ~3u;
	} else if (vga->gc[5] & 0x10) {
		*plane = (vga->gc[4] & 2) | (addr & 1);
		addr &= ~1u;
	} else {
		*plane = vga->gc[4] & 3;
	}
	return addr & VGA_PLANE_MASK;
}

static void vga_plane_write(struct vga *vga, uint32_t addr, uint8_t val)
{
	uint8_t planes, out[4];
	uint32_t off = vga_write_decode(vga, addr, &planes);
	if (!planes)
		return;
	vga_write_modes[vga->gc[5] & 3](vga, val, out);
	for (unsigned p = 0; p < 4; p++)
		if (planes & (1u << p))
			vga->vram[off * 4 + p] = out[p];
	vga_mark_dirty(vga, off * 4, 4);
	if (planes & 4)
		vga->font_dirty = true;
}

/* Every read loads the four latches. Read mode 1 compares each plane's bits with the colour
 * compare register, for the planes colour don't care includes; matching bits read 1. */
static uint8_t vga_plane_read(struct vga *vga, uint32_t addr)
{
	unsigned plane;
	uint32_t off = vga_read_decode(vga, addr, &plane);
	memcpy(vga->latch, &vga->vram[off * 4], 4);
	if (!(vga->gc[5] & 0x08))
		return vga->latch[plane];
	uint8_t diff = 0;
	for (unsigned p = 0; p < 4; p++)
		if ((vga->gc[7] >> p) & 1)
			diff |= vga->latch[p] ^ vga_expand(vga->gc[2], p);
	return ~diff;
}

/* With VBE on, the window is the 64 KiB bank at 0xA0000 (vga_vbe.c). */
static uint8_t vga_legacy_read_byte(struct vga *vga, uint64_t off)
{
	uint32_t addr;
	if (vga_vbe_enabled(vga)) {
		uint8_t *p = vga_vbe_bank_ptr(vga, off);
		return p ? *p : 0xFF;
	}
	return vga_window(vga, off, &addr) ? vga_plane_read(vga, addr) : 0xFF;
}

static void vga_legacy_write_byte(struct vga *vga, uint64_t off, uint8_t val)
{
	uint32_t addr;
	if (vga_vbe_enabled(vga)) {
		uint8_t *p = vga_vbe_bank_ptr(vga, off);
		if (p) {
			*p = val;
			vga_mark_dirty(vga, p - vga->vram, 1);
		}
	} else if (vga_window(vga, off, &addr)) {
		vga_plane_write(vga, addr, val);
	}
}

/* Wider accesses are byte cycles in address order, as on the 8/16-bit bus. */
static uint64_t vga_legacy_read(void *opaque, uint64_t off, unsigned size)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < size; i++)
		v |= (uint64_t)vga_legacy_read_byte(opaque, off + i) << (8 * i);
	return v;
}

static void vga_legacy_write(void *opaque, uint64_t off, uint64_t data, unsigned size)
{
	for (unsigned i = 0; i < size; i++)
		vga_legacy_write_byte(opaque, off + i, data >> (8 * i));
}

const struct bus_ops vga_legacy_mem_ops = {
	.read = vga_legacy_read,
	.write = vga_legacy_write,
	.min_size = 1,
	.max_size = 8,
	/* All of it: a write only changes VRAM (through the latches, set by reads, which exit)
	 * and marks it dirty; the display takes the posted writes before each render. A text
	 * mode's screen is drawn this way, and a BIOS clears the window with a string of them. */
	.posted = { { 0, 0x20000 } },
};
