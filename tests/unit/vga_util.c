/* What the VGA test programs share (vga_util.h). */
#include "vga_util.h"

struct t *t_new(void)
{
	struct t *t = g_new0(struct t, 1);
	t->env = fake_env_new(-1, -1);
	t->vga = vga_class.create(&t->env->ctx);
	g_assert_nonnull(t->vga);
	t->mmio = bus_new("test-mmio");
	t->pci = pci_bus_new(t->env->io, t->mmio);
	g_assert_cmpint(pci_bus_attach(t->pci, 2, 0, vga_pci(t->vga)), ==, 0);
	vga_class.reset(t->vga);
	pthread_mutex_t *lock = vga_lock(t->vga);
	fake_map(t->env, 0x3B0, 0x30, &vga_ioport_ops, t->vga, lock);
	fake_map(t->env, 0x1CE, VGA_VBE_PORT_LEN, &vga_vbe_ops, t->vga, lock);
	g_assert_cmpint(bus_register(t->mmio, WIN, 0x20000, &vga_legacy_mem_ops, t->vga, lock, "vga"),
			==, 0);
	t->vram = vga_vram(t->vga);
	return t;
}

void t_free(struct t *t)
{
	vga_class.destroy(t->vga);
	pci_bus_free(t->pci);
	bus_free(t->mmio);
	fake_env_free(t->env);
	g_free(t);
}

/* ---- port helpers ---- */

void outb(struct t *t, uint16_t port, uint8_t v)
{
	fake_outb(t->env, port, v);
}

uint8_t inb(struct t *t, uint16_t port)
{
	return fake_inb(t->env, port);
}

void seq(struct t *t, uint8_t i, uint8_t v)
{
	outb(t, 0x3C4, i);
	outb(t, 0x3C5, v);
}

void gc(struct t *t, uint8_t i, uint8_t v)
{
	outb(t, 0x3CE, i);
	outb(t, 0x3CF, v);
}

void crtc(struct t *t, uint8_t i, uint8_t v)
{
	outb(t, 0x3D4, i);
	outb(t, 0x3D5, v);
}

uint8_t crtc_read(struct t *t, uint8_t i)
{
	outb(t, 0x3D4, i);
	return inb(t, 0x3D5);
}

void dac(struct t *t, uint8_t i, uint8_t r, uint8_t g, uint8_t b)
{
	outb(t, 0x3C8, i);
	outb(t, 0x3C9, r);
	outb(t, 0x3C9, g);
	outb(t, 0x3C9, b);
}

void memw(struct t *t, uint32_t addr, uint8_t v)
{
	g_assert_true(bus_write(t->mmio, addr, 1, v));
}

uint8_t memr(struct t *t, uint32_t addr)
{
	uint64_t v;
	g_assert_true(bus_read(t->mmio, addr, 1, &v));
	return v;
}

/* ---- standard mode tables (IBM VGA BIOS parameter table values) ---- */

const struct mode_regs mode_03h = {
	0x67,
	{ 0x03, 0x00, 0x03, 0x00, 0x02 },
	{ 0x5F, 0x4F, 0x50, 0x82, 0x55, 0x81, 0xBF, 0x1F, 0x00, 0x4F, 0x0D, 0x0E, 0x00,
	  0x00, 0x00, 0x00, 0x9C, 0x8E, 0x8F, 0x28, 0x1F, 0x96, 0xB9, 0xA3, 0xFF },
	{ 0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x0E, 0x00, 0xFF },
	{ 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x14, 0x07, 0x38, 0x39, 0x3A,
	  0x3B, 0x3C, 0x3D, 0x3E, 0x3F, 0x0C, 0x00, 0x0F, 0x08, 0x00 },
};

/* What a VGA BIOS does for a mode set: sequencer held in reset, misc, CRTC with the protect
 * bit cleared first, graphics controller, attribute controller, screen on. */
void set_mode(struct t *t, const struct mode_regs *m)
{
	seq(t, 0, 0x01);
	outb(t, 0x3C2, m->misc);
	for (unsigned i = 1; i < 5; i++)
		seq(t, i, m->seq[i]);
	seq(t, 0, m->seq[0]);
	crtc(t, 0x11, m->crtc[0x11] & 0x7F);
	for (unsigned i = 0; i < 25; i++)
		crtc(t, i, m->crtc[i]);
	for (unsigned i = 0; i < 9; i++)
		gc(t, i, m->gc[i]);
	inb(t, 0x3DA);
	for (unsigned i = 0; i < 21; i++) {
		outb(t, 0x3C0, i);
		outb(t, 0x3C0, m->ac[i]);
	}
	outb(t, 0x3C0, 0x20);
}

/* ---- colours as the test expects them ---- */

/* A 6-bit DAC value on screen: shifted up, its low bit filling the new ones (as QEMU shows
 * it, so that pcvm's and QEMU's screenshots compare exactly). */
static uint32_t c6(uint8_t v)
{
	return v << 2 | (v & 1) * 3;
}

static uint32_t rgb6(uint8_t r, uint8_t g, uint8_t b)
{
	return c6(r) << 16 | c6(g) << 8 | c6(b);
}

static void test_dac_entry(unsigned i, uint8_t c[3])
{
	c[0] = i & 63;
	c[1] = (63 - i) & 63;
	c[2] = (i * 7 + (i >> 6) * 5) & 63;
}

void load_test_dac(struct t *t)
{
	outb(t, 0x3C8, 0);
	for (unsigned i = 0; i < 256; i++) {
		uint8_t c[3];
		test_dac_entry(i, c);
		for (int k = 0; k < 3; k++)
			outb(t, 0x3C9, c[k]);
	}
}

uint32_t test_dac_rgb(unsigned i)
{
	uint8_t c[3];
	test_dac_entry(i, c);
	return rgb6(c[0], c[1], c[2]);
}

/* 16-colour modes: the attribute controller's palette register, then the DAC. */
uint32_t attr_rgb(const struct mode_regs *m, unsigned c)
{
	return test_dac_rgb(m->ac[c]);
}

const uint32_t *surface_px(struct t *t, unsigned x, unsigned y)
{
	const struct vga_surface *s = vga_surface(t->vga);
	g_assert_cmpuint(x, <, s->width);
	g_assert_cmpuint(y, <, s->height);
	return (const uint32_t *)((const uint8_t *)s->pixels + (size_t)y * s->stride) + x;
}

void render(struct t *t, struct vga_dirty *d)
{
	struct vga_dirty local;
	vga_render(t->vga, d ? d : &local);
}

/* ---- text screens ---- */

/* The test's own font: any pattern will do, as long as each glyph line differs. */
static uint8_t test_glyph(unsigned ch, unsigned line)
{
	return (uint8_t)(ch * 37u + line * 91u + (ch >> 3) * line) ^ (uint8_t)(line << 4 | ch >> 4);
}

/* Into plane 2, 32 bytes per character, as the VGA BIOS loads its font. */
void load_test_font(struct t *t, unsigned height)
{
	seq(t, 2, 0x04);
	seq(t, 4, 0x07);
	gc(t, 4, 0x02);
	gc(t, 5, 0x00);
	gc(t, 6, 0x04);
	for (unsigned ch = 0; ch < 256; ch++)
		for (unsigned l = 0; l < height; l++)
			memw(t, WIN + ch * 32 + l, test_glyph(ch, l));
	seq(t, 2, 0x03);
	seq(t, 4, 0x02);
	gc(t, 4, 0x00);
	gc(t, 5, 0x10);
	gc(t, 6, 0x0E);
}

void fill_screen(struct t *t, struct screen *s, unsigned cells)
{
	for (unsigned i = 0; i < cells; i++) {
		s->ch[i] = i * 7 + i / 256;
		s->at[i] = i * 13 + 5;
		memw(t, 0xB8000 + 2 * i, s->ch[i]);
		memw(t, 0xB8000 + 2 * i + 1, s->at[i]);
	}
}

/* The expected dot of a text screen: glyph bit (the ninth dot repeats the eighth for
 * 0xC0-0xDF), background without the blink bit, foreground hidden in the blink-off phase. */
static uint32_t text_expect(const struct mode_regs *m, const struct screen *s, unsigned cols,
			    unsigned cw, unsigned chh, unsigned x, unsigned y, bool blink_on)
{
	unsigned i = (y / chh) * cols + x / cw, l = y % chh, d = x % cw;
	uint8_t ch = s->ch[i], at = s->at[i], g = test_glyph(ch, l);
	bool on = d < 8 ? (g >> (7 - d)) & 1 : (ch >= 0xC0 && ch <= 0xDF) && (g & 1);
	unsigned bg = at >> 4 & 7, fg = (at & 0x80) && !blink_on ? bg : at & 15;
	return attr_rgb(m, on ? fg : bg);
}

void check_text(struct t *t, const struct mode_regs *m, const struct screen *s,
		unsigned cols, unsigned rows, unsigned cw, unsigned chh, bool blink_on)
{
	for (unsigned y = 0; y < rows * chh; y++)
		for (unsigned x = 0; x < cols * cw; x++)
			if (*surface_px(t, x, y) != text_expect(m, s, cols, cw, chh, x, y, blink_on))
				g_error("text pixel (%u,%u): %06x, expected %06x", x, y,
					*surface_px(t, x, y),
					text_expect(m, s, cols, cw, chh, x, y, blink_on));
}

void text_mode3(struct t *t, struct screen *s)
{
	set_mode(t, &mode_03h);
	load_test_dac(t);
	load_test_font(t, 16);
	crtc(t, 0x0A, 0x20); /* cursor off: tested on its own */
	fill_screen(t, s, 80 * 25);
}
