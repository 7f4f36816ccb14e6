/*
 * The Bochs VBE extensions of the standard VGA: the DISPI register file (index port 0x1CE,
 * data port 0x1CF; Bochs's iodev/vbe.h and "Bochs VBE Extensions" in its documentation), the
 * linear framebuffer in BAR0 with the 64 KiB banked window at 0xA0000 as its alternative, and
 * the BAR2 MMIO block that QEMU's stdvga defines (docs/specs/standard-vga.rst in QEMU): VGA
 * ports 0x3C0-0x3DF at 0x400, DISPI registers at 0x500 + 2 * index, extended registers at
 * 0x600.
 */
#include <glib.h>
#include <string.h>

#include "devices/vga_internal.h"
#include "log.h"

/* BAR2 layout */
#define MMIO_VGA_BASE 0x400
#define MMIO_VGA_END 0x420
#define MMIO_DISPI_BASE 0x500
#define MMIO_DISPI_END (MMIO_DISPI_BASE + 2 * (VBE_VIDEO_MEMORY_64K + 1))
#define MMIO_QEXT_SIZE 0x600      /* size of the extended register block: 8 */
#define MMIO_QEXT_BYTEORDER 0x604 /* 0x1e1e1e1e: little-endian framebuffer */
#define QEXT_SIZE 8
#define QEXT_LITTLE_ENDIAN 0x1e1e1e1eu

bool vga_vbe_enabled(const struct vga *vga)
{
	return vga->vbe[VBE_ENABLE] & VBE_ENABLED;
}

unsigned vga_vbe_bytes_pp(unsigned bpp)
{
	return (bpp + 7) / 8;
}

static bool vbe_bpp_valid(unsigned bpp)
{
	return bpp == 8 || bpp == 15 || bpp == 16 || bpp == 24 || bpp == 32;
}

/* Whether an XRES x YRES view at (XOFF, YOFF) of a screen VW pixels wide lies in VRAM. */
static bool vbe_view_fits(const struct vga *vga, uint64_t vw, uint64_t xoff, uint64_t yoff)
{
	uint64_t xres = vga->vbe[VBE_XRES], yres = vga->vbe[VBE_YRES];
	uint64_t line = vw * vga_vbe_bytes_pp(vga->vbe[VBE_BPP]);
	return xres && yres && vw >= xres && xoff <= vw - xres &&
	       (yoff + yres) * line <= vga->vram_size;
}

/* VIRT_HEIGHT follows from VRAM and the line length; the guest reads it, never writes it. */
static void vbe_update_virt_height(struct vga *vga)
{
	uint64_t line = (uint64_t)vga->vbe[VBE_VIRT_WIDTH] * vga_vbe_bytes_pp(vga->vbe[VBE_BPP]);
	uint64_t h = line ? vga->vram_size / line : 0;
	vga->vbe[VBE_VIRT_HEIGHT] = MIN(h, 0xFFFF);
}

static void vbe_refuse(struct vga *vga, unsigned index, uint16_t val)
{
	log_once(LOG_DEBUG, "vga: DISPI register %u: value %#x refused", index, val);
}

/* ---- DISPI registers, one handler each ---- */

static void vbe_write_id(struct vga *vga, unsigned i, uint16_t val)
{
	if (val >= VBE_ID0 && val <= VBE_ID5)
		vga->vbe[VBE_ID] = val;
	else
		vbe_refuse(vga, i, val);
}

/* XRES, YRES and BPP hold still while a mode is on (as Bochs: disable, change, enable). */
static void vbe_write_geometry(struct vga *vga, unsigned i, uint16_t val)
{
	static const uint16_t max[] = {
		[VBE_XRES] = VBE_MAX_XRES, [VBE_YRES] = VBE_MAX_YRES, [VBE_BPP] = VBE_MAX_BPP
	};
	if (i == VBE_BPP && val == 0)
		val = 8;
	bool ok = i == VBE_BPP ? vbe_bpp_valid(val) : val <= max[i];
	if (!ok || vga_vbe_enabled(vga)) {
		vbe_refuse(vga, i, val);
		return;
	}
	vga->vbe[i] = val;
}

/* Turning a mode on checks that it fits, resets the virtual screen to the mode and clears
 * what it shows unless NOCLEARMEM. A mode that does not fit stays off. */
static void vbe_write_enable(struct vga *vga, unsigned i, uint16_t val)
{
	val &= VBE_ENABLE_BITS;
	if ((val & VBE_ENABLED) && !vga_vbe_enabled(vga)) {
		uint16_t xres = vga->vbe[VBE_XRES];
		if (!vbe_view_fits(vga, xres, 0, 0)) {
			log_once(LOG_INFO, "vga: VBE mode %ux%ux%u does not fit in VRAM; refused",
				 xres, vga->vbe[VBE_YRES], vga->vbe[VBE_BPP]);
			val &= ~VBE_ENABLED;
		} else {
			vga->vbe[VBE_VIRT_WIDTH] = xres;
			vga->vbe[VBE_X_OFFSET] = vga->vbe[VBE_Y_OFFSET] = vga->vbe[VBE_BANK] = 0;
			vbe_update_virt_height(vga);
			uint64_t len = (uint64_t)xres * vga_vbe_bytes_pp(vga->vbe[VBE_BPP]) *
				       vga->vbe[VBE_YRES];
			if (!(val & VBE_NOCLEARMEM))
				memset(vga->vram, 0, len);
		}
	}
	vga->vbe[VBE_ENABLE] = val;
	vga->full_redraw = true;
}

static void vbe_write_bank(struct vga *vga, unsigned i, uint16_t val)
{
	if ((uint64_t)val * VBE_BANK_SIZE < vga->vram_size)
		vga->vbe[VBE_BANK] = val;
	else
		vbe_refuse(vga, i, val);
}

static void vbe_write_virt_width(struct vga *vga, unsigned i, uint16_t val)
{
	if (!vbe_view_fits(vga, val, 0, 0)) {
		vbe_refuse(vga, i, val);
		return;
	}
	vga->vbe[VBE_VIRT_WIDTH] = val;
	vga->vbe[VBE_X_OFFSET] = MIN(vga->vbe[VBE_X_OFFSET], val - vga->vbe[VBE_XRES]);
	vbe_update_virt_height(vga);
	uint16_t ymax = vga->vbe[VBE_VIRT_HEIGHT] - vga->vbe[VBE_YRES];
	vga->vbe[VBE_Y_OFFSET] = MIN(vga->vbe[VBE_Y_OFFSET], ymax);
}

static void vbe_write_offset(struct vga *vga, unsigned i, uint16_t val)
{
	uint16_t x = i == VBE_X_OFFSET ? val : vga->vbe[VBE_X_OFFSET];
	uint16_t y = i == VBE_Y_OFFSET ? val : vga->vbe[VBE_Y_OFFSET];
	if (vbe_view_fits(vga, vga->vbe[VBE_VIRT_WIDTH], x, y))
		vga->vbe[i] = val;
	else
		vbe_refuse(vga, i, val);
}

static void vbe_write_readonly(struct vga *vga, unsigned i, uint16_t val)
{
	vbe_refuse(vga, i, val);
}

/* GETCAPS in ENABLE makes XRES, YRES and BPP read the maxima. */
static uint16_t vbe_read_geometry(struct vga *vga, unsigned i)
{
	static const uint16_t caps[] = {
		[VBE_XRES] = VBE_MAX_XRES, [VBE_YRES] = VBE_MAX_YRES, [VBE_BPP] = VBE_MAX_BPP
	};
	return (vga->vbe[VBE_ENABLE] & VBE_GETCAPS) ? caps[i] : vga->vbe[i];
}

static uint16_t vbe_read_stored(struct vga *vga, unsigned i)
{
	return vga->vbe[i];
}

static uint16_t vbe_read_memory(struct vga *vga, unsigned i)
{
	return MIN(vga->vram_size >> 16, 0xFFFF);
}

static const struct {
	uint16_t (*read)(struct vga *vga, unsigned i);
	void (*write)(struct vga *vga, unsigned i, uint16_t val);
	bool display; /* a change alters the picture */
} vbe_regs[] = {
	[VBE_ID] = { vbe_read_stored, vbe_write_id },
	[VBE_XRES] = { vbe_read_geometry, vbe_write_geometry },
	[VBE_YRES] = { vbe_read_geometry, vbe_write_geometry },
	[VBE_BPP] = { vbe_read_geometry, vbe_write_geometry },
	[VBE_ENABLE] = { vbe_read_stored, vbe_write_enable },
	[VBE_BANK] = { vbe_read_stored, vbe_write_bank },
	[VBE_VIRT_WIDTH] = { vbe_read_stored, vbe_write_virt_width, true },
	[VBE_VIRT_HEIGHT] = { vbe_read_stored, vbe_write_readonly },
	[VBE_X_OFFSET] = { vbe_read_stored, vbe_write_offset, true },
	[VBE_Y_OFFSET] = { vbe_read_stored, vbe_write_offset, true },
	[VBE_VIDEO_MEMORY_64K] = { vbe_read_memory, vbe_write_readonly },
};

/* Indexes past the table read 0 and ignore writes. */
uint16_t vga_vbe_read(struct vga *vga, unsigned index)
{
	return index < G_N_ELEMENTS(vbe_regs) ? vbe_regs[index].read(vga, index) : 0;
}

void vga_vbe_write(struct vga *vga, unsigned index, uint16_t val)
{
	if (index >= G_N_ELEMENTS(vbe_regs)) {
		vbe_refuse(vga, index, val);
		return;
	}
	vbe_regs[index].write(vga, index, val);
	if (vbe_regs[index].display)
		vga->full_redraw = true;
}

void vga_vbe_reset(struct vga *vga)
{
	memset(vga->vbe, 0, sizeof(vga->vbe));
	vga->vbe_index = 0;
	vga->vbe[VBE_ID] = VBE_ID5;
	vga->vbe[VBE_XRES] = 640;
	vga->vbe[VBE_YRES] = 480;
	vga->vbe[VBE_BPP] = 8;
	vga->vbe_data_lo = 0;
	vga->vbe_lo_pending = false;
}

/* Values a guest could have left, and, with a mode on, a view inside VRAM. */
bool vga_vbe_state_valid(const struct vga *vga)
{
	const uint16_t *r = vga->vbe;
	if (r[VBE_ID] < VBE_ID0 || r[VBE_ID] > VBE_ID5 || r[VBE_XRES] > VBE_MAX_XRES ||
	    r[VBE_YRES] > VBE_MAX_YRES || !vbe_bpp_valid(r[VBE_BPP]) ||
	    (r[VBE_ENABLE] & ~VBE_ENABLE_BITS) || (uint64_t)r[VBE_BANK] * VBE_BANK_SIZE >= vga->vram_size)
		return false;
	return !vga_vbe_enabled(vga) ||
	       vbe_view_fits(vga, r[VBE_VIRT_WIDTH], r[VBE_X_OFFSET], r[VBE_Y_OFFSET]);
}

/* ---- ports 0x1CE-0x1D0 ---- */

/*
 * Index at 0x1CE (8 or 16 bits), data at 0x1CF. A 16-bit data write arrives as bytes at
 * offsets 1 and 2 (vga.h, VGA_VBE_PORT_LEN), one right after the other: the low byte waits
 * for the high one, so the register sees the word once. A low byte that no high byte follows
 * (an 8-bit OUT to 0x1CF) is written as a value of its own at the next access to the ports;
 * a lone byte at 0x1D0 is one too (QEMU answers 0x1D0 as a data port).
 */
static void vga_vbe_flush(struct vga *vga)
{
	if (vga->vbe_lo_pending) {
		vga->vbe_lo_pending = false;
		vga_vbe_write(vga, vga->vbe_index, vga->vbe_data_lo);
	}
}

static uint64_t vga_vbe_port_read(void *opaque, uint64_t off, unsigned size)
{
	struct vga *vga = opaque;
	vga_vbe_flush(vga);
	if (off == 0)
		return vga->vbe_index;
	uint16_t v = vga_vbe_read(vga, vga->vbe_index);
	return off == 1 ? (uint64_t)(v & 0xFF) : (uint64_t)(v >> 8);
}

static void vga_vbe_port_write(void *opaque, uint64_t off, uint64_t data, unsigned size)
{
	struct vga *vga = opaque;
	if (off == 2 && vga->vbe_lo_pending) {
		vga->vbe_lo_pending = false;
		vga_vbe_write(vga, vga->vbe_index, vga->vbe_data_lo | (data & 0xFF) << 8);
		return;
	}
	vga_vbe_flush(vga);
	if (off == 0) {
		vga->vbe_index = data;
	} else if (off == 1) {
		vga->vbe_data_lo = data;
		vga->vbe_lo_pending = true;
	} else {
		vga_vbe_write(vga, vga->vbe_index, data & 0xFF);
	}
}

const struct bus_ops vga_vbe_ops = {
	.read = vga_vbe_port_read,
	.write = vga_vbe_port_write,
	.min_size = 1,
	.max_size = 2,
};

/* ---- the banked window and the linear framebuffer ---- */

/* OFF into the legacy window: the bank at 0xA0000-0xAFFFF, or NULL. */
uint8_t *vga_vbe_bank_ptr(struct vga *vga, uint64_t off)
{
	uint64_t at = (uint64_t)vga->vbe[VBE_BANK] * VBE_BANK_SIZE + off;
	return off < VBE_BANK_SIZE && at < vga->vram_size ? vga->vram + at : NULL;
}

static uint64_t vga_lfb_read(void *opaque, uint64_t off, unsigned size)
{
	struct vga *vga = opaque;
	uint64_t v = 0;
	if (off + size <= vga->vram_size)
		memcpy(&v, vga->vram + off, size); /* x86 hosts: little-endian like the guest */
	return v;
}

static void vga_lfb_write(void *opaque, uint64_t off, uint64_t data, unsigned size)
{
	struct vga *vga = opaque;
	if (off + size > vga->vram_size)
		return;
	memcpy(vga->vram + off, &data, size);
	vga_mark_dirty(vga, off, size);
}

const struct bus_ops vga_lfb_ops = {
	.read = vga_lfb_read,
	.write = vga_lfb_write,
	.min_size = 1,
	.max_size = 8,
};

/* ---- BAR2: the same registers as MMIO ---- */

static uint8_t vga_mmio_read_byte(struct vga *vga, uint64_t off)
{
	if (off >= MMIO_VGA_BASE && off < MMIO_VGA_END)
		return vga_port_read(vga, off - MMIO_VGA_BASE + 0x10); /* 0x3C0 + n */
	if (off >= MMIO_DISPI_BASE && off < MMIO_DISPI_END)
		return vga_vbe_read(vga, (off - MMIO_DISPI_BASE) / 2) >> (8 * (off & 1));
	if (off >= MMIO_QEXT_SIZE && off < MMIO_QEXT_SIZE + 4)
		return QEXT_SIZE >> (8 * (off - MMIO_QEXT_SIZE));
	if (off >= MMIO_QEXT_BYTEORDER && off < MMIO_QEXT_BYTEORDER + 4)
		return QEXT_LITTLE_ENDIAN >> (8 * (off - MMIO_QEXT_BYTEORDER));
	return 0; /* 0x000-0x3FF: no EDID blob */
}

static uint64_t vga_mmio_read(void *opaque, uint64_t off, unsigned size)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < size; i++)
		v |= (uint64_t)vga_mmio_read_byte(opaque, off + i) << (8 * i);
	return v;
}

/* DISPI registers are 16 bits: a byte write changes its half of the stored value. */
static void vga_mmio_dispi_write(struct vga *vga, uint64_t off, uint64_t data, unsigned size)
{
	for (unsigned i = 0; i < size;) {
		unsigned index = (off + i - MMIO_DISPI_BASE) / 2;
		if (!((off + i) & 1) && i + 1 < size) {
			vga_vbe_write(vga, index, data >> (8 * i));
			i += 2;
			continue;
		}
		uint16_t cur = index < VBE_NREGS ? vga->vbe[index] : 0;
		unsigned shift = 8 * ((off + i) & 1);
		uint16_t byte = (data >> (8 * i)) & 0xFF;
		vga_vbe_write(vga, index, (cur & ~(0xFF << shift)) | byte << shift);
		i++;
	}
}

static void vga_mmio_write(void *opaque, uint64_t off, uint64_t data, unsigned size)
{
	struct vga *vga = opaque;
	if (off >= MMIO_VGA_BASE && off + size <= MMIO_VGA_END) {
		for (unsigned i = 0; i < size; i++)
			vga_port_write(vga, off + i - MMIO_VGA_BASE + 0x10, data >> (8 * i));
	} else if (off >= MMIO_DISPI_BASE && off + size <= MMIO_DISPI_END) {
		vga_mmio_dispi_write(vga, off, data, size);
	} else {
		/* EDID and the extended registers: read-only here (no big-endian framebuffer) */
		log_once(LOG_DEBUG, "vga: MMIO write at %#x ignored", (unsigned)off);
	}
}

const struct bus_ops vga_mmio_ops = {
	.read = vga_mmio_read,
	.write = vga_mmio_write,
	.min_size = 1,
	.max_size = 4,
};

/* ---- LFB mapping hooks and KVM dirt ---- */

/* Follows BAR0 as the PCI core placed it on the bus: unmap the old place, map the new. */
void vga_lfb_update(struct vga *vga)
{
	const struct pci_bar *b = &vga->pci.bars[0];
	if (vga->lfb_mapped && (!b->mapped || b->mapped_at != vga->lfb_gpa)) {
		if (vga->lfb_unmap)
			vga->lfb_unmap(vga->lfb_opaque, vga->lfb_gpa);
		vga->lfb_mapped = false;
	}
	if (b->mapped && !vga->lfb_mapped) {
		vga->lfb_mapped = true;
		vga->lfb_gpa = b->mapped_at;
		if (vga->lfb_map)
			vga->lfb_map(vga->lfb_opaque, vga->lfb_gpa, vga->vram, vga->vram_size);
	}
}

void vga_set_lfb_hooks(struct vga *vga,
		       void (*map)(void *opaque, uint64_t gpa, void *hva, uint64_t size),
		       void (*unmap)(void *opaque, uint64_t gpa), void *opaque)
{
	pthread_mutex_lock(&vga->lock);
	vga->lfb_map = map;
	vga->lfb_unmap = unmap;
	vga->lfb_opaque = opaque;
	if (vga->lfb_mapped && map)
		map(opaque, vga->lfb_gpa, vga->vram, vga->vram_size);
	pthread_mutex_unlock(&vga->lock);
}

void vga_set_lfb_sync(struct vga *vga, void (*sync)(void *opaque), void *opaque)
{
	pthread_mutex_lock(&vga->lock);
	vga->lfb_sync = sync;
	vga->lfb_sync_opaque = opaque;
	pthread_mutex_unlock(&vga->lock);
}

bool vga_lfb_mapping(struct vga *vga, uint64_t *gpa)
{
	pthread_mutex_lock(&vga->lock);
	bool mapped = vga->lfb_mapped;
	if (mapped && gpa)
		*gpa = vga->lfb_gpa;
	pthread_mutex_unlock(&vga->lock);
	return mapped;
}

void vga_lfb_dirty(struct vga *vga, uint64_t offset, uint64_t len)
{
	pthread_mutex_lock(&vga->lock);
	vga_mark_dirty(vga, offset, len);
	pthread_mutex_unlock(&vga->lock);
}
