/*
 * The standard VGA's instance struct and what vga.c (registers, PCI), vga_window.c (planes,
 * legacy window), vga_vbe.c (Bochs DISPI, linear framebuffer) and vga_render.c (the surface)
 * share. Not for the machine or the display backends: they use vga.h.
 */
#pragma once
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "devices/pci.h"
#include "devices/vga.h"

/* Register counts (IBM VGA Technical Reference: sequencer 00-04, graphics controller 00-08,
 * attribute controller 00-14, CRT controller 00-18) */
#define VGA_SEQ_N 5
#define VGA_GC_N 9
#define VGA_AC_N 21
#define VGA_CRTC_N 25

/* The VGA's own memory: four 64 KiB planes. Plane P's byte at offset O lives at
 * vram[O * 4 + P], so the first 256 KiB of VRAM hold the planes interleaved. */
#define VGA_PLANE_SIZE 0x10000u
#define VGA_PLANE_MASK 0xFFFFu

/* Bochs VBE DISPI register indexes (Bochs vbe.h) */
enum {
	VBE_ID,
	VBE_XRES,
	VBE_YRES,
	VBE_BPP,
	VBE_ENABLE,
	VBE_BANK,
	VBE_VIRT_WIDTH,
	VBE_VIRT_HEIGHT,
	VBE_X_OFFSET,
	VBE_Y_OFFSET,
	VBE_NREGS,              /* registers kept in vga->vbe[] */
	VBE_VIDEO_MEMORY_64K = VBE_NREGS, /* read-only, from the VRAM size */
};

#define VBE_ENABLED 0x01
#define VBE_GETCAPS 0x02
#define VBE_8BIT_DAC 0x20
#define VBE_LFB_ENABLED 0x40
#define VBE_NOCLEARMEM 0x80
#define VBE_ENABLE_BITS (VBE_ENABLED | VBE_GETCAPS | VBE_8BIT_DAC | VBE_LFB_ENABLED | VBE_NOCLEARMEM)
#define VBE_ID0 0xB0C0
#define VBE_ID5 0xB0C5
#define VBE_MAX_XRES 2560
#define VBE_MAX_YRES 1600
#define VBE_MAX_BPP 32
#define VBE_BANK_SIZE 0x10000u

/* Miscellaneous output register bit 1: the planes answer in the legacy window */
#define MISC_RAM_ENABLE 0x02

/* VRAM dirt: one bit per 16 bytes (four plane offsets), for the legacy window, the LFB and KVM's dirty log alike */
#define VGA_DIRTY_SHIFT 4

/* What the display shows, derived from the registers at each render. Zero-filled before it is
 * computed so that two can be compared with memcmp. */
enum vga_disp_kind {
	VGA_DISP_BLANK,
	VGA_DISP_TEXT,
	VGA_DISP_PLANAR, /* 16 colours: one bit per plane per pixel */
	VGA_DISP_CGA,    /* shift register interleave: 2 bits per pixel from planes 0/1 (2/3) */
	VGA_DISP_256,    /* 256 colours: one byte per pixel, planes 0-3 in turn */
	VGA_DISP_VBE,
	VGA_DISP_KINDS
};

struct vga_disp {
	enum vga_disp_kind kind;
	unsigned width, height; /* surface pixels */
	/* VGA timing: character clocks per line, dots per character, horizontal dot doubling,
	 * scan lines per character row, vertical doubling */
	unsigned cols, cell_w, hdouble, char_h, vdouble;
	unsigned start, row_ma; /* start address and address advance per character row */
	unsigned addr_mode;     /* 0 byte, 1 word, 2 doubleword */
	unsigned wrap_bit;      /* word mode: MA bit shown on address bit 0 (13 or 15) */
	unsigned subst;         /* CR17 bits 1:0 inverted: row scan bits replace address 13/14 */
	/* text */
	unsigned font_a, font_b; /* plane 2 offsets of character maps A and B */
	bool line_graphics, blink_enabled, mono_underline;
	unsigned underline;
	/* VBE */
	unsigned bpp, line_bytes;
	uint64_t base;
};

struct vga {
	pthread_mutex_t lock;
	struct pci_function pci; /* config bytes are saved with the device */
	uint8_t power_on_config[256];

	/* ---- guest-visible registers: saved (struct vga_state_fields in vga.c) ---- */
	uint8_t misc, feature, vss;
	uint8_t seq_index, seq[VGA_SEQ_N];
	uint8_t gc_index, gc[VGA_GC_N];
	uint8_t ac_index, ac[VGA_AC_N];
	bool ac_flipflop; /* true: the next 0x3C0 write is data */
	uint8_t crtc_index, crtc[VGA_CRTC_N];
	uint8_t dac_mask, dac_read_index, dac_write_index;
	uint8_t dac_sub;   /* 0-2: which of R, G, B the data port handles next */
	uint8_t dac_state; /* 0x3C7 read: 0x00 after a write index, 0x03 after a read index */
	uint8_t dac_latch[3];
	uint8_t palette[256 * 3]; /* 6-bit values, or 8-bit under VBE_8BIT_DAC */
	uint8_t latch[4];
	uint16_t vbe_index, vbe[VBE_NREGS];
	/* VRAM is saved with guest RAM (the snapshot's memory file), not in this section. */

	/* ---- wiring ---- */
	uint8_t *vram;
	uint64_t vram_size;
	struct clock *clock;
	void (*lfb_map)(void *opaque, uint64_t gpa, void *hva, uint64_t size);
	void (*lfb_unmap)(void *opaque, uint64_t gpa);
	void *lfb_opaque;
	void (*lfb_sync)(void *opaque);
	void *lfb_sync_opaque;

	/* ---- derived, not saved ---- */
	bool lfb_mapped;
	uint64_t lfb_gpa;
	uint64_t beam_last_ns, beam_skew_ns; /* input status 1 timing (vga.c) */
	uint8_t vbe_data_lo;                 /* low byte of a DISPI word split by the port bus */
	bool vbe_lo_pending;                 /* ... waiting for its high byte */
	uint64_t *dirty;                     /* VRAM dirt, VGA_DIRTY_SHIFT granules */
	size_t dirty_words;
	bool dirty_any;
	bool full_redraw; /* palette, font, register changes: everything is redrawn */
	bool font_dirty;  /* plane 2 was written */

	/* ---- renderer (vga_render.c), main thread, under the lock ---- */
	struct vga_surface surface;
	struct vga_disp disp;
	bool have_disp;
	uint32_t *text_cache; /* per cell: what was drawn there, see vga_render_text */
	size_t text_cache_len;
	uint64_t render_count;
};

/* vga.c */
void vga_mark_dirty(struct vga *vga, uint64_t offset, uint64_t len);
uint8_t vga_port_read(struct vga *vga, unsigned port);
void vga_port_write(struct vga *vga, unsigned port, uint8_t val);

/* vga_vbe.c */
extern const struct bus_ops vga_lfb_ops;  /* BAR0 */
extern const struct bus_ops vga_mmio_ops; /* BAR2 */
bool vga_vbe_enabled(const struct vga *vga);
uint16_t vga_vbe_read(struct vga *vga, unsigned index);
void vga_vbe_write(struct vga *vga, unsigned index, uint16_t val);
unsigned vga_vbe_bytes_pp(unsigned bpp);
bool vga_vbe_state_valid(const struct vga *vga);
void vga_vbe_reset(struct vga *vga);
void vga_lfb_update(struct vga *vga);
uint8_t *vga_vbe_bank_ptr(struct vga *vga, uint64_t off);

/* vga_render.c */
void vga_render_free(struct vga *vga);
