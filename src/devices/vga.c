/*
 * The standard VGA: register files, ports 0x3B0-0x3DF, VRAM, the PCI function and the device
 * class. After the IBM VGA Technical Reference ("Video Subsystem": sequencer, CRT controller,
 * graphics controller, attribute controller, video DAC) and FreeVGA's register descriptions.
 * The four planes behind the legacy window at 0xA0000 are in vga_window.c, the Bochs DISPI
 * interface and the linear framebuffer in vga_vbe.c, the picture in vga_render.c.
 */
#include <glib.h>
#include <stddef.h>
#include <string.h>
#include <sys/mman.h>

#include "devices/vga_internal.h"
#include "log.h"

#define VGA_VENDOR 0x1234
#define VGA_DEVICE 0x1111
#define VGA_CLASS 0x030000 /* display, VGA compatible */
#define VGA_REVISION 0x02  /* 2: QEMU's extended registers at BAR2 + 0x600 */
#define VGA_SUBSYS_VENDOR 0x1AF4
#define VGA_SUBSYS_ID 0x1100
#define VGA_MMIO_SIZE 0x1000

/* Miscellaneous output register (bit 1, RAM enable, is in vga_internal.h) */
#define MISC_COLOR_IO 0x01 /* I/O address select: CRTC at 0x3Dx, else 0x3Bx */
#define MISC_WMASK 0xEF
#define FEATURE_WMASK 0x0B
#define VSS_WMASK 0x01

/* Input status 1 */
#define ST1_DISPLAY_DISABLED 0x01
#define ST1_VRETRACE 0x08

/* ---- register files, as data ---- */

/* WMASK: the bits that exist. DISPLAY: bits the picture depends on, so a change redraws it
 * (cursor registers are not among them: the text renderer tracks the cursor cell itself).
 * PROTECT: bits locked while CR11 bit 7 is set (CR00-CR07, all but CR07 bit 4). */
struct vga_reg {
	uint8_t wmask, display, protect;
};

struct vga_regfile {
	const char *name;
	const struct vga_reg *regs;
	unsigned count;
	uint8_t index_mask;
	size_t index_off, data_off; /* in struct vga */
};

/* Sequencer 00-04: reset, clocking mode, map mask, character map select, memory mode */
static const struct vga_reg vga_seq_regs[VGA_SEQ_N] = {
	{ 0x03, 0x00 }, { 0x3D, 0x3D }, { 0x0F, 0x00 }, { 0x3F, 0x3F }, { 0x0E, 0x00 },
};

/* Graphics controller 00-08: set/reset, enable set/reset, color compare, data rotate, read
 * map select, graphics mode, miscellaneous, color don't care, bit mask */
static const struct vga_reg vga_gc_regs[VGA_GC_N] = {
	{ 0x0F, 0x00 }, { 0x0F, 0x00 }, { 0x0F, 0x00 }, { 0x1F, 0x00 }, { 0x03, 0x00 },
	{ 0x7B, 0x60 }, { 0x0F, 0x01 }, { 0x0F, 0x00 }, { 0xFF, 0x00 },
};

/* Attribute controller 00-0F palette, 10 mode control, 11 overscan, 12 color plane enable,
 * 13 horizontal pixel panning, 14 color select */
#define AC_PAL { 0x3F, 0x3F }
static const struct vga_reg vga_ac_regs[VGA_AC_N] = {
	AC_PAL, AC_PAL, AC_PAL, AC_PAL, AC_PAL, AC_PAL, AC_PAL, AC_PAL,
	AC_PAL, AC_PAL, AC_PAL, AC_PAL, AC_PAL, AC_PAL, AC_PAL, AC_PAL,
	{ 0xEF, 0xEF }, { 0xFF, 0xFF }, { 0x3F, 0x0F }, { 0x0F, 0x0F }, { 0x0F, 0x0F },
};

/* CRT controller 00-18. Timing registers that only move the beam (retrace, blanking) do not
 * change the picture; 0A/0B/0E/0F are the cursor. */
#define CR_PROT { 0xFF, 0xFF, 0xFF }
static const struct vga_reg vga_crtc_regs[VGA_CRTC_N] = {
	CR_PROT, CR_PROT, CR_PROT, CR_PROT, CR_PROT, CR_PROT, CR_PROT,
	[0x07] = { 0xFF, 0xFF, 0xEF },
	[0x08] = { 0x7F, 0x7F },
	[0x09] = { 0xFF, 0xFF },
	[0x0A] = { 0x3F, 0x00 },
	[0x0B] = { 0x7F, 0x00 },
	[0x0C] = { 0xFF, 0xFF },
	[0x0D] = { 0xFF, 0xFF },
	[0x0E] = { 0xFF, 0x00 },
	[0x0F] = { 0xFF, 0x00 },
	[0x10] = { 0xFF, 0x00 },
	[0x11] = { 0xFF, 0x00 },
	[0x12] = { 0xFF, 0xFF },
	[0x13] = { 0xFF, 0xFF },
	[0x14] = { 0x7F, 0x7F },
	[0x15] = { 0xFF, 0x00 },
	[0x16] = { 0x7F, 0x00 },
	[0x17] = { 0xEF, 0xEF },
	[0x18] = { 0xFF, 0xFF },
};

#define REGFILE(n, regs_, mask, idx, data)                                                         \
	{ n, regs_, G_N_ELEMENTS(regs_), mask, offsetof(struct vga, idx), offsetof(struct vga, data) }

static const struct vga_regfile vga_seq_file = REGFILE("SR", vga_seq_regs, 0x07, seq_index, seq);
static const struct vga_regfile vga_gc_file = REGFILE("GR", vga_gc_regs, 0x0F, gc_index, gc);
static const struct vga_regfile vga_ac_file = REGFILE("AR", vga_ac_regs, 0x3F, ac_index, ac);
static const struct vga_regfile vga_crtc_file =
	REGFILE("CR", vga_crtc_regs, 0xFF, crtc_index, crtc);

static uint8_t *regfile_index(struct vga *vga, const struct vga_regfile *f)
{
	return (uint8_t *)vga + f->index_off;
}

static uint8_t *regfile_data(struct vga *vga, const struct vga_regfile *f)
{
	return (uint8_t *)vga + f->data_off;
}

/* The attribute controller's index byte also holds the palette address source (bit 5). */
static unsigned regfile_reg(struct vga *vga, const struct vga_regfile *f)
{
	return *regfile_index(vga, f) & (f == &vga_ac_file ? 0x1F : 0xFF);
}

/* Registers past the end of a file do not exist: they read 0 and ignore writes. */
static uint8_t regfile_read(struct vga *vga, const struct vga_regfile *f)
{
	unsigned i = regfile_reg(vga, f);
	return i < f->count ? regfile_data(vga, f)[i] : 0;
}

static void regfile_write(struct vga *vga, const struct vga_regfile *f, uint8_t val)
{
	unsigned i = regfile_reg(vga, f);
	if (i >= f->count) {
		log_once(LOG_DEBUG, "vga: write to nonexistent register %s%02X", f->name, i);
		return;
	}
	const struct vga_reg *r = &f->regs[i];
	uint8_t wm = r->wmask;
	if (vga->crtc[0x11] & 0x80) /* CR11 bit 7: protect CR00-CR07 */
		wm &= ~r->protect;
	uint8_t *p = &regfile_data(vga, f)[i];
	uint8_t old = *p;
	*p = (old & ~wm) | (val & wm);
	if ((old ^ *p) & r->display)
		vga->full_redraw = true;
}

/* A loaded file holds only what a guest could write: indexes and values within their masks. */
static bool regfile_valid(struct vga *vga, const struct vga_regfile *f)
{
	if (*regfile_index(vga, f) & ~f->index_mask)
		return false;
	for (unsigned i = 0; i < f->count; i++)
		if (regfile_data(vga, f)[i] & ~f->regs[i].wmask)
			return false;
	return true;
}

/* ---- input status: a beam that moves with the clock, or with polling when it stands ---- */

#define VGA_FRAME_NS 14285714ull              /* 70 Hz, the 400-line modes' refresh */
#define VGA_LINE_NS (VGA_FRAME_NS / 449)      /* 449 lines per frame */
#define VGA_VRETRACE_NS (VGA_FRAME_NS / 20)   /* the last 5% of the frame */
#define VGA_POLL_STEP_NS (VGA_FRAME_NS / 64)  /* a poll while the clock stands still */

/* Where the beam is in its frame. Reading the status while the clock has not moved (a virtual
 * clock, a coarse one) moves the beam by a step, so a guest polling for retrace always sees it
 * come and go within 64 reads. */
static uint64_t vga_beam_ns(struct vga *vga)
{
	uint64_t now = vga->clock ? clock_ns(vga->clock) : 0;
	if (now == vga->beam_last_ns)
		vga->beam_skew_ns = (vga->beam_skew_ns + VGA_POLL_STEP_NS) % VGA_FRAME_NS;
	vga->beam_last_ns = now;
	return (now % VGA_FRAME_NS + vga->beam_skew_ns) % VGA_FRAME_NS;
}

/* Input status 1 (0x3BA/0x3DA): bit 3 vertical retrace, bit 0 display disabled (horizontal or
 * vertical blanking). Reading it resets the attribute controller's flip-flop. */
static uint8_t vga_status1(struct vga *vga)
{
	uint64_t pos = vga_beam_ns(vga);
	uint8_t v = 0;
	if (pos >= VGA_FRAME_NS - VGA_VRETRACE_NS)
		v |= ST1_VRETRACE | ST1_DISPLAY_DISABLED;
	else if (pos % VGA_LINE_NS >= VGA_LINE_NS * 4 / 5)
		v |= ST1_DISPLAY_DISABLED;
	vga->ac_flipflop = false;
	return v;
}

/* ---- ports ---- */

enum vga_decode { VGA_ANY, VGA_MONO, VGA_COLOR };

struct vga_port {
	uint8_t (*read)(struct vga *vga, const struct vga_port *p);
	void (*write)(struct vga *vga, const struct vga_port *p, uint8_t val);
	enum vga_decode decode; /* CRTC and status 1 answer where misc bit 0 puts them */
	const struct vga_regfile *file;
};

static uint8_t port_index_read(struct vga *vga, const struct vga_port *p)
{
	return *regfile_index(vga, p->file);
}

static void port_index_write(struct vga *vga, const struct vga_port *p, uint8_t val)
{
	*regfile_index(vga, p->file) = val & p->file->index_mask;
}

static uint8_t port_data_read(struct vga *vga, const struct vga_port *p)
{
	return regfile_read(vga, p->file);
}

static void port_data_write(struct vga *vga, const struct vga_port *p, uint8_t val)
{
	regfile_write(vga, p->file, val);
}

/* 0x3C0: index and data share the port; the flip-flop says which comes next. The index byte
 * keeps bit 5, the palette address source: while it is 0 the screen is blank. */
static void port_ac_write(struct vga *vga, const struct vga_port *p, uint8_t val)
{
	if (vga->ac_flipflop) {
		regfile_write(vga, p->file, val);
	} else {
		if ((vga->ac_index ^ val) & 0x20)
			vga->full_redraw = true;
		vga->ac_index = val & p->file->index_mask;
	}
	vga->ac_flipflop = !vga->ac_flipflop;
}

static uint8_t port_status1_read(struct vga *vga, const struct vga_port *p)
{
	return vga_status1(vga);
}

/* Input status 0: no switch sense, no pending vertical retrace interrupt. */
static uint8_t port_status0_read(struct vga *vga, const struct vga_port *p)
{
	return 0x00;
}

static uint8_t port_misc_read(struct vga *vga, const struct vga_port *p)
{
	return vga->misc;
}

static void port_misc_write(struct vga *vga, const struct vga_port *p, uint8_t val)
{
	vga->misc = val & MISC_WMASK;
	vga->full_redraw = true;
}

static uint8_t port_feature_read(struct vga *vga, const struct vga_port *p)
{
	return vga->feature;
}

static void port_feature_write(struct vga *vga, const struct vga_port *p, uint8_t val)
{
	vga->feature = val & FEATURE_WMASK;
}

static uint8_t port_vss_read(struct vga *vga, const struct vga_port *p)
{
	return vga->vss;
}

static void port_vss_write(struct vga *vga, const struct vga_port *p, uint8_t val)
{
	vga->vss = val & VSS_WMASK;
}

/* ---- the DAC: mask, read and write indexes, and three data accesses per entry ---- */

static uint8_t vga_dac_width_mask(const struct vga *vga)
{
	return (vga->vbe[VBE_ENABLE] & VBE_8BIT_DAC) ? 0xFF : 0x3F;
}

static uint8_t port_dac_mask_read(struct vga *vga, const struct vga_port *p)
{
	return vga->dac_mask;
}

static void port_dac_mask_write(struct vga *vga, const struct vga_port *p, uint8_t val)
{
	if (vga->dac_mask != val)
		vga->full_redraw = true;
	vga->dac_mask = val;
}

static uint8_t port_dac_state_read(struct vga *vga, const struct vga_port *p)
{
	return vga->dac_state;
}

static void port_dac_read_index_write(struct vga *vga, const struct vga_port *p, uint8_t val)
{
	vga->dac_read_index = val;
	vga->dac_sub = 0;
	vga->dac_state = 0x03;
}

static uint8_t port_dac_write_index_read(struct vga *vga, const struct vga_port *p)
{
	return vga->dac_write_index;
}

static void port_dac_write_index_write(struct vga *vga, const struct vga_port *p, uint8_t val)
{
	vga->dac_write_index = val;
	vga->dac_sub = 0;
	vga->dac_state = 0x00;
}

static uint8_t port_dac_data_read(struct vga *vga, const struct vga_port *p)
{
	uint8_t v = vga->palette[vga->dac_read_index * 3 + vga->dac_sub];
	if (++vga->dac_sub == 3) {
		vga->dac_sub = 0;
		vga->dac_read_index++;
	}
	return v & vga_dac_width_mask(vga);
}

/* Red, green, blue are latched; the entry changes with the third. */
static void port_dac_data_write(struct vga *vga, const struct vga_port *p, uint8_t val)
{
	vga->dac_latch[vga->dac_sub] = val & vga_dac_width_mask(vga);
	if (++vga->dac_sub < 3)
		return;
	vga->dac_sub = 0;
	uint8_t *e = &vga->palette[vga->dac_write_index++ * 3];
	if (memcmp(e, vga->dac_latch, 3)) {
		memcpy(e, vga->dac_latch, 3);
		vga->full_redraw = true;
	}
}

#define P(port) [(port) - 0x3B0]
static const struct vga_port vga_ports[0x30] = {
	P(0x3B4) = { port_index_read, port_index_write, VGA_MONO, &vga_crtc_file },
	P(0x3B5) = { port_data_read, port_data_write, VGA_MONO, &vga_crtc_file },
	P(0x3BA) = { port_status1_read, port_feature_write, VGA_MONO },
	P(0x3C0) = { port_index_read, port_ac_write, VGA_ANY, &vga_ac_file },
	P(0x3C1) = { port_data_read, NULL, VGA_ANY, &vga_ac_file },
	P(0x3C2) = { port_status0_read, port_misc_write },
	P(0x3C3) = { port_vss_read, port_vss_write },
	P(0x3C4) = { port_index_read, port_index_write, VGA_ANY, &vga_seq_file },
	P(0x3C5) = { port_data_read, port_data_write, VGA_ANY, &vga_seq_file },
	P(0x3C6) = { port_dac_mask_read, port_dac_mask_write },
	P(0x3C7) = { port_dac_state_read, port_dac_read_index_write },
	P(0x3C8) = { port_dac_write_index_read, port_dac_write_index_write },
	P(0x3C9) = { port_dac_data_read, port_dac_data_write },
	P(0x3CA) = { port_feature_read, NULL },
	P(0x3CC) = { port_misc_read, NULL },
	P(0x3CE) = { port_index_read, port_index_write, VGA_ANY, &vga_gc_file },
	P(0x3CF) = { port_data_read, port_data_write, VGA_ANY, &vga_gc_file },
	P(0x3D4) = { port_index_read, port_index_write, VGA_COLOR, &vga_crtc_file },
	P(0x3D5) = { port_data_read, port_data_write, VGA_COLOR, &vga_crtc_file },
	P(0x3DA) = { port_status1_read, port_feature_write, VGA_COLOR },
};
#undef P

static const struct vga_port *vga_port_find(struct vga *vga, unsigned off)
{
	if (off >= G_N_ELEMENTS(vga_ports))
		return NULL;
	const struct vga_port *p = &vga_ports[off];
	bool color = vga->misc & MISC_COLOR_IO;
	if ((p->decode == VGA_MONO && color) || (p->decode == VGA_COLOR && !color))
		return NULL;
	return p;
}

/* OFF is the port minus 0x3B0. Ports nobody answers read all-ones. */
uint8_t vga_port_read(struct vga *vga, unsigned off)
{
	const struct vga_port *p = vga_port_find(vga, off);
	return p && p->read ? p->read(vga, p) : 0xFF;
}

void vga_port_write(struct vga *vga, unsigned off, uint8_t val)
{
	const struct vga_port *p = vga_port_find(vga, off);
	if (p && p->write)
		p->write(vga, p, val);
	else
		log_once(LOG_DEBUG, "vga: write %#x to port %#x ignored", val, off + 0x3B0);
}

/* A 16-bit access is two byte cycles (OUT DX, AX to an index port writes index then data). */
static uint64_t vga_ioport_read(void *opaque, uint64_t off, unsigned size)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < size; i++)
		v |= (uint64_t)vga_port_read(opaque, off + i) << (8 * i);
	return v;
}

static void vga_ioport_write(void *opaque, uint64_t off, uint64_t data, unsigned size)
{
	for (unsigned i = 0; i < size; i++)
		vga_port_write(opaque, off + i, data >> (8 * i));
}

const struct bus_ops vga_ioport_ops = {
	.read = vga_ioport_read,
	.write = vga_ioport_write,
	.min_size = 1,
	.max_size = 2,
	/* every register: a write latches an index, a value or a DAC component, in order, and
	 * starts nothing; reads exit, and the display takes the queue before it renders. A mode
	 * set writes some sixty of them, a palette load 768. */
	.posted = { { 0, 0x30 } },
};

/* ---- VRAM dirt ---- */

/* Sets granules FIRST..LAST a word at a time: KVM's dirty log reports whole pages. */
void vga_mark_dirty(struct vga *vga, uint64_t offset, uint64_t len)
{
	if (!len || offset >= vga->vram_size)
		return;
	if (len > vga->vram_size - offset)
		len = vga->vram_size - offset;
	uint64_t first = offset >> VGA_DIRTY_SHIFT, last = (offset + len - 1) >> VGA_DIRTY_SHIFT;
	for (uint64_t w = first / 64; w <= last / 64; w++) {
		uint64_t m = ~0ull;
		if (w == first / 64)
			m &= ~0ull << (first % 64);
		if (w == last / 64)
			m &= ~0ull >> (63 - last % 64);
		vga->dirty[w] |= m;
	}
	vga->dirty_any = true;
}

/* ---- PCI ---- */

/* Runs with the PCI bus's config lock held; takes ours after it (never the other way). The
 * generic write has already moved the BARs on the bus; the LFB hooks follow. */
static void vga_config_write(struct pci_function *f, unsigned off, uint32_t val, unsigned size)
{
	struct vga *vga = f->opaque;
	pthread_mutex_lock(&vga->lock);
	vga_lfb_update(vga);
	pthread_mutex_unlock(&vga->lock);
}

static void vga_pci_init(struct vga *vga)
{
	struct pci_function *f = &vga->pci;
	pci_function_init(f, "vga", VGA_VENDOR, VGA_DEVICE, VGA_CLASS, VGA_REVISION, 0x00);
	pci_function_set_bar(f, 0, vga->vram_size, false, &vga_lfb_ops, vga);
	f->config[PCI_BAR0] |= 0x08; /* prefetchable */
	pci_function_set_bar(f, 2, VGA_MMIO_SIZE, false, &vga_mmio_ops, vga);
	pci_config_set16(f, PCI_SUBSYS_VENDOR, VGA_SUBSYS_VENDOR);
	pci_config_set16(f, PCI_SUBSYS_ID, VGA_SUBSYS_ID);
	f->lock = &vga->lock;
	f->opaque = vga;
	f->config_write = vga_config_write;
	memcpy(vga->power_on_config, f->config, sizeof(vga->power_on_config));
}

/* ---- VRAM ---- */

/* VRAM sits between two inaccessible guard pages: an access past either end is a fault
 * rather than a write into some other mapping. */
#define VGA_GUARD 4096

static void vga_vram_free(struct vga *vga)
{
	if (vga->vram)
		munmap(vga->vram - VGA_GUARD, vga->vram_size + 2 * VGA_GUARD);
	vga->vram = NULL;
}

static int vga_vram_alloc(struct vga *vga, uint64_t size)
{
	uint8_t *p = mmap(NULL, size + 2 * VGA_GUARD, PROT_NONE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED || mprotect(p + VGA_GUARD, size, PROT_READ | PROT_WRITE) < 0) {
		log_error("vga: cannot allocate %" G_GUINT64_FORMAT " MiB of VRAM", size >> 20);
		if (p != MAP_FAILED)
			munmap(p, size + 2 * VGA_GUARD);
		return -1;
	}
	vga_vram_free(vga);
	vga->vram = p + VGA_GUARD;
	vga->vram_size = size;
	vga->dirty_words = (size >> VGA_DIRTY_SHIFT) / 64;
	g_free(vga->dirty);
	vga->dirty = g_new0(uint64_t, vga->dirty_words);
	return 0;
}

int vga_set_vram_mib(struct vga *vga, unsigned mib)
{
	if (mib < 4 || mib > 256 || (mib & (mib - 1)) || vga->pci.bus) {
		log_error("vga: VRAM must be 4 to 256 MiB, a power of two, set before attaching");
		return -1;
	}
	if (vga_vram_alloc(vga, (uint64_t)mib << 20) < 0)
		return -1;
	vga_pci_init(vga);
	vga_class.reset(vga);
	return 0;
}

uint8_t *vga_vram(struct vga *vga)
{
	return vga->vram;
}

uint64_t vga_vram_size(struct vga *vga)
{
	return vga->vram_size;
}

struct pci_function *vga_pci(struct vga *vga)
{
	return &vga->pci;
}

pthread_mutex_t *vga_lock(struct vga *vga)
{
	return &vga->lock;
}

/* ---- class ---- */

static void vga_reset(void *dev)
{
	struct vga *vga = dev;
	pci_function_reset(&vga->pci, vga->power_on_config);
	vga->misc = vga->feature = vga->vss = 0;
	vga->seq_index = vga->gc_index = vga->ac_index = vga->crtc_index = 0;
	memset(vga->seq, 0, sizeof(vga->seq));
	memset(vga->gc, 0, sizeof(vga->gc));
	memset(vga->ac, 0, sizeof(vga->ac));
	memset(vga->crtc, 0, sizeof(vga->crtc));
	vga->ac_flipflop = false;
	vga->dac_mask = 0xFF;
	vga->dac_read_index = vga->dac_write_index = vga->dac_sub = vga->dac_state = 0;
	memset(vga->dac_latch, 0, sizeof(vga->dac_latch));
	memset(vga->palette, 0, sizeof(vga->palette));
	memset(vga->latch, 0, sizeof(vga->latch));
	vga_vbe_reset(vga);
	vga_lfb_update(vga);
	vga->full_redraw = true;
}

/* What a loaded state may not hold (values no guest could have written), or NULL. */
static const char *vga_check(struct vga *vga)
{
	const struct pci_function *f = &vga->pci;
	for (int i = 0; i < 256; i++)
		if ((f->config[i] ^ vga->power_on_config[i]) & ~(f->wmask[i] | f->w1cmask[i]))
			return "a read-only configuration byte differs";
	const struct vga_regfile *files[] = { &vga_seq_file, &vga_gc_file, &vga_ac_file,
					      &vga_crtc_file };
	for (size_t i = 0; i < G_N_ELEMENTS(files); i++)
		if (!regfile_valid(vga, files[i]))
			return "a register holds bits its register file does not have";
	if ((vga->misc & ~MISC_WMASK) || (vga->feature & ~FEATURE_WMASK) || (vga->vss & ~VSS_WMASK))
		return "undefined bits in the miscellaneous or feature registers";
	if (vga->dac_sub > 2 || (vga->dac_state != 0 && vga->dac_state != 3))
		return "DAC access state out of range";
	if (!vga_vbe_state_valid(vga))
		return "the VBE registers describe no mode this VRAM can hold";
	return NULL;
}

/* The state_desc check hook: pure, as state_check runs it on a scratch copy (vga_check only
 * reads, though its helpers take a non-const vga). */
static int vga_state_check(const void *obj, char **error)
{
	const char *bad = vga_check((struct vga *)obj);
	if (bad)
		*error = g_strdup_printf("vga: %s", bad);
	return bad ? -1 : 0;
}

/* Rebuilds the mappings and redraws everything. A refused state leaves the device at
 * power-on rather than half loaded. */
static int vga_post_load(void *obj, char **error)
{
	struct vga *vga = obj;
	if (vga_state_check(vga, error) < 0) {
		vga_reset(vga);
		return -1;
	}
	vga->vbe_data_lo = 0;
	vga->vbe_lo_pending = false;
	pci_function_remap(&vga->pci);
	vga_lfb_update(vga);
	vga->full_redraw = true;
	return 0;
}

/* Registers, DAC and latches. VRAM is guest memory as far as snapshots go: it is saved with
 * guest RAM (the snapshot's memory file), not in this section. The surface, dirt and the
 * text cache are rebuilt: post_load redraws everything. */
static const struct state_field vga_fields[] = {
	STATE_U8_ARRAY(struct vga, pci.config),
	STATE_U8(struct vga, misc),
	STATE_U8(struct vga, feature),
	STATE_U8(struct vga, vss),
	STATE_U8(struct vga, seq_index),
	STATE_U8_ARRAY(struct vga, seq),
	STATE_U8(struct vga, gc_index),
	STATE_U8_ARRAY(struct vga, gc),
	STATE_U8(struct vga, ac_index),
	STATE_U8_ARRAY(struct vga, ac),
	STATE_BOOL(struct vga, ac_flipflop),
	STATE_U8(struct vga, crtc_index),
	STATE_U8_ARRAY(struct vga, crtc),
	STATE_U8(struct vga, dac_mask),
	STATE_U8(struct vga, dac_read_index),
	STATE_U8(struct vga, dac_write_index),
	STATE_U8(struct vga, dac_sub),
	STATE_U8(struct vga, dac_state),
	STATE_U8_ARRAY(struct vga, dac_latch),
	STATE_U8_ARRAY(struct vga, palette),
	STATE_U8_ARRAY(struct vga, latch),
	STATE_U16(struct vga, vbe_index),
	STATE_U16_ARRAY(struct vga, vbe),
};

static const struct state_desc vga_state =
	STATE_DESC("vga", 1, struct vga, vga_fields, .post_load = vga_post_load,
		   .check = vga_state_check);

static void *vga_create(const struct dev_ctx *ctx)
{
	struct vga *vga = g_new0(struct vga, 1);
	pthread_mutex_init(&vga->lock, NULL);
	vga->clock = ctx->clock;
	if (vga_vram_alloc(vga, (uint64_t)VGA_VRAM_DEFAULT_MIB << 20) < 0) {
		pthread_mutex_destroy(&vga->lock);
		g_free(vga);
		return NULL;
	}
	vga_pci_init(vga);
	vga_reset(vga);
	return vga;
}

/* Call before the buses are freed: the BARs are taken off the PCI MMIO bus. */
static void vga_destroy(void *dev)
{
	struct vga *vga = dev;
	if (vga->lfb_mapped && vga->lfb_unmap)
		vga->lfb_unmap(vga->lfb_opaque, vga->lfb_gpa);
	for (int n = 0; n < PCI_NUM_BARS; n++)
		if (vga->pci.bars[n].mapped && vga->pci.bus)
			bus_unregister(pci_bus_mmio(vga->pci.bus), vga->pci.bars[n].mapped_at, vga);
	vga_render_free(vga);
	vga_vram_free(vga);
	g_free(vga->dirty);
	pthread_mutex_destroy(&vga->lock);
	g_free(vga);
}

static pthread_mutex_t *vga_class_lock(void *dev)
{
	return &((struct vga *)dev)->lock;
}

const struct device_class vga_class = {
	.name = "vga",
	.state = &vga_state,
	.create = vga_create,
	.destroy = vga_destroy,
	.reset = vga_reset,
	.lock = vga_class_lock,
};
