/*
 * What the VGA test programs share: a VGA on a fake bus with its PCI function, port and memory
 * helpers, mode 03h's register values and mode setting, the test's palette and colours, the
 * surface, and text screens drawn with the test's own font (vga_util.c).
 *   test_vga.c         the register files and the planes (write and read modes, latches)
 *   test_vga_render.c  text and graphics modes rendered, dirty cells
 *   test_vga_vbe.c     VBE, the LFB, the PCI function, state, hostile guests
 */
#pragma once

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "devices/pci.h"
#include "devices/vga.h"
#include "fakes.h"

#define DEVFN (2 << 3)
#define LFB_GPA 0xE0000000u
#define MMIO_GPA 0xE1000000u
#define WIN 0xA0000u

struct t {
	struct fake_env *env;
	struct vga *vga;
	struct bus *mmio;
	struct pci_bus *pci;
	uint8_t *vram;
};

/* A reset VGA at PCI slot 2 with its ports and the legacy window mapped (BARs not yet). */
struct t *t_new(void);
void t_free(struct t *t);

/* Ports: a byte; the indexed sequencer, graphics and CRTC registers; a DAC entry. */
void outb(struct t *t, uint16_t port, uint8_t v);
uint8_t inb(struct t *t, uint16_t port);
void seq(struct t *t, uint8_t i, uint8_t v);
void gc(struct t *t, uint8_t i, uint8_t v);
void crtc(struct t *t, uint8_t i, uint8_t v);
uint8_t crtc_read(struct t *t, uint8_t i);
void dac(struct t *t, uint8_t i, uint8_t r, uint8_t g, uint8_t b);

/* A byte of guest-physical memory through the test's MMIO bus. */
void memw(struct t *t, uint32_t addr, uint8_t v);
uint8_t memr(struct t *t, uint32_t addr);

/* A standard mode's registers (IBM VGA BIOS parameter table values), set as a BIOS does. */
struct mode_regs {
	uint8_t misc, seq[5], crtc[25], gc[9], ac[21];
};
extern const struct mode_regs mode_03h;
void set_mode(struct t *t, const struct mode_regs *m);

/* Colours as the test expects them: the test's 256-entry DAC loaded, entry I as RGB on
 * screen; a 16-colour mode's colour C through the attribute palette. */
void load_test_dac(struct t *t);
uint32_t test_dac_rgb(unsigned i);
uint32_t attr_rgb(const struct mode_regs *m, unsigned c);

/* The pixel at (X, Y) of the rendered surface; rendering (D: its dirty cells, or NULL). */
const uint32_t *surface_px(struct t *t, unsigned x, unsigned y);
void render(struct t *t, struct vga_dirty *d);

/* Text screens: the test's font loaded in plane 2, a screen filled with characters and
 * attributes, and the picture checked dot by dot against them. */
struct screen {
	uint8_t ch[80 * 50], at[80 * 50];
};
void load_test_font(struct t *t, unsigned height);
void fill_screen(struct t *t, struct screen *s, unsigned cells);
void check_text(struct t *t, const struct mode_regs *m, const struct screen *s,
		unsigned cols, unsigned rows, unsigned cw, unsigned chh, bool blink_on);
/* Mode 03h with the test's DAC and font, the cursor off, 80x25 cells filled into S. */
void text_mode3(struct t *t, struct screen *s);
