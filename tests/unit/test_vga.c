/*
 * The standard VGA through the ports, the legacy window, the DISPI ports and the PCI BARs, as a
 * guest reaches it, with no BIOS: the test programs the standard modes' register values
 * itself (IBM VGA BIOS mode tables), loads its own font and checks the rendered surface pixel
 * by pixel against pictures it builds from what it wrote.
 */
#include <glib.h>
#include <string.h>

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

static struct t *t_new(void)
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

static void t_free(struct t *t)
{
	vga_class.destroy(t->vga);
	pci_bus_free(t->pci);
	bus_free(t->mmio);
	fake_env_free(t->env);
	g_free(t);
}

/* ---- port helpers ---- */

static void outb(struct t *t, uint16_t port, uint8_t v)
{
	fake_outb(t->env, port, v);
}

static uint8_t inb(struct t *t, uint16_t port)
{
	return fake_inb(t->env, port);
}

static void seq(struct t *t, uint8_t i, uint8_t v)
{
	outb(t, 0x3C4, i);
	outb(t, 0x3C5, v);
}

static void gc(struct t *t, uint8_t i, uint8_t v)
{
	outb(t, 0x3CE, i);
	outb(t, 0x3CF, v);
}

static void crtc(struct t *t, uint8_t i, uint8_t v)
{
	outb(t, 0x3D4, i);
	outb(t, 0x3D5, v);
}

static uint8_t crtc_read(struct t *t, uint8_t i)
{
	outb(t, 0x3D4, i);
	return inb(t, 0x3D5);
}

/* Attribute register I, then the palette address source back on (index bit 5). */
static void ac(struct t *t, uint8_t i, uint8_t v)
{
	inb(t, 0x3DA);
	outb(t, 0x3C0, i);
	outb(t, 0x3C0, v);
	outb(t, 0x3C0, 0x20);
}

static uint8_t ac_read(struct t *t, uint8_t i)
{
	inb(t, 0x3DA);
	outb(t, 0x3C0, i | 0x20);
	uint8_t v = inb(t, 0x3C1);
	inb(t, 0x3DA);
	return v;
}

static void dac(struct t *t, uint8_t i, uint8_t r, uint8_t g, uint8_t b)
{
	outb(t, 0x3C8, i);
	outb(t, 0x3C9, r);
	outb(t, 0x3C9, g);
	outb(t, 0x3C9, b);
}

static void memw(struct t *t, uint32_t addr, uint8_t v)
{
	g_assert_true(bus_write(t->mmio, addr, 1, v));
}

static uint8_t memr(struct t *t, uint32_t addr)
{
	uint64_t v;
	g_assert_true(bus_read(t->mmio, addr, 1, &v));
	return v;
}

static uint8_t plane(struct t *t, unsigned p, uint32_t off)
{
	return t->vram[off * 4 + p];
}

static void vbe(struct t *t, uint16_t index, uint16_t v)
{
	fake_outw(t->env, 0x1CE, index);
	fake_outw(t->env, 0x1CF, v);
}

static uint16_t vbe_read(struct t *t, uint16_t index)
{
	fake_outw(t->env, 0x1CE, index);
	return fake_inw(t->env, 0x1CF);
}

/* ---- standard mode tables (IBM VGA BIOS parameter table values) ---- */

struct mode_regs {
	uint8_t misc, seq[5], crtc[25], gc[9], ac[21];
};

static const struct mode_regs mode_03h = {
	0x67,
	{ 0x03, 0x00, 0x03, 0x00, 0x02 },
	{ 0x5F, 0x4F, 0x50, 0x82, 0x55, 0x81, 0xBF, 0x1F, 0x00, 0x4F, 0x0D, 0x0E, 0x00,
	  0x00, 0x00, 0x00, 0x9C, 0x8E, 0x8F, 0x28, 0x1F, 0x96, 0xB9, 0xA3, 0xFF },
	{ 0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x0E, 0x00, 0xFF },
	{ 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x14, 0x07, 0x38, 0x39, 0x3A,
	  0x3B, 0x3C, 0x3D, 0x3E, 0x3F, 0x0C, 0x00, 0x0F, 0x08, 0x00 },
};

static const struct mode_regs mode_0dh = {
	0x63,
	{ 0x03, 0x09, 0x0F, 0x00, 0x06 },
	{ 0x2D, 0x27, 0x28, 0x90, 0x2B, 0x80, 0xBF, 0x1F, 0x00, 0xC0, 0x00, 0x00, 0x00,
	  0x00, 0x00, 0x00, 0x9C, 0x8E, 0x8F, 0x14, 0x00, 0x96, 0xB9, 0xE3, 0xFF },
	{ 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x05, 0x0F, 0xFF },
	{ 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x10, 0x11, 0x12,
	  0x13, 0x14, 0x15, 0x16, 0x17, 0x01, 0x00, 0x0F, 0x00, 0x00 },
};

static const struct mode_regs mode_12h = {
	0xE3,
	{ 0x03, 0x01, 0x0F, 0x00, 0x06 },
	{ 0x5F, 0x4F, 0x50, 0x82, 0x54, 0x80, 0x0B, 0x3E, 0x00, 0x40, 0x00, 0x00, 0x00,
	  0x00, 0x00, 0x00, 0xEA, 0x8C, 0xDF, 0x28, 0x00, 0xE7, 0x04, 0xE3, 0xFF },
	{ 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x05, 0x0F, 0xFF },
	{ 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x14, 0x07, 0x38, 0x39, 0x3A,
	  0x3B, 0x3C, 0x3D, 0x3E, 0x3F, 0x01, 0x00, 0x0F, 0x00, 0x00 },
};

static const struct mode_regs mode_13h = {
	0x63,
	{ 0x03, 0x01, 0x0F, 0x00, 0x0E },
	{ 0x5F, 0x4F, 0x50, 0x82, 0x54, 0x80, 0xBF, 0x1F, 0x00, 0x41, 0x00, 0x00, 0x00,
	  0x00, 0x00, 0x00, 0x9C, 0x8E, 0x8F, 0x28, 0x40, 0x96, 0xB9, 0xA3, 0xFF },
	{ 0x00, 0x00, 0x00, 0x00, 0x00, 0x40, 0x05, 0x0F, 0xFF },
	{ 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0A,
	  0x0B, 0x0C, 0x0D, 0x0E, 0x0F, 0x41, 0x00, 0x0F, 0x00, 0x00 },
};

/* What a VGA BIOS does for a mode set: sequencer held in reset, misc, CRTC with the protect
 * bit cleared first, graphics controller, attribute controller, screen on. */
static void set_mode(struct t *t, const struct mode_regs *m)
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

/* Plain planar access at A0000 (64 KiB), for the write/read mode tests. */
static void planar_setup(struct t *t)
{
	outb(t, 0x3C2, 0x63);
	seq(t, 2, 0x0F);
	seq(t, 4, 0x06);
	gc(t, 5, 0x00);
	gc(t, 6, 0x05);
	gc(t, 8, 0xFF);
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

static void load_test_dac(struct t *t)
{
	outb(t, 0x3C8, 0);
	for (unsigned i = 0; i < 256; i++) {
		uint8_t c[3];
		test_dac_entry(i, c);
		for (int k = 0; k < 3; k++)
			outb(t, 0x3C9, c[k]);
	}
}

static uint32_t test_dac_rgb(unsigned i)
{
	uint8_t c[3];
	test_dac_entry(i, c);
	return rgb6(c[0], c[1], c[2]);
}

/* 16-colour modes: the attribute controller's palette register, then the DAC. */
static uint32_t attr_rgb(const struct mode_regs *m, unsigned c)
{
	return test_dac_rgb(m->ac[c]);
}

static const uint32_t *surface_px(struct t *t, unsigned x, unsigned y)
{
	const struct vga_surface *s = vga_surface(t->vga);
	g_assert_cmpuint(x, <, s->width);
	g_assert_cmpuint(y, <, s->height);
	return (const uint32_t *)((const uint8_t *)s->pixels + (size_t)y * s->stride) + x;
}

static void render(struct t *t, struct vga_dirty *d)
{
	struct vga_dirty local;
	vga_render(t->vga, d ? d : &local);
}

/* ==== register files ==== */

static void test_sequencer(void)
{
	struct t *t = t_new();
	seq(t, 2, 0xFF);
	g_assert_cmphex(inb(t, 0x3C5), ==, 0x0F); /* map mask: 4 bits */
	seq(t, 1, 0xFF);
	g_assert_cmphex(inb(t, 0x3C5), ==, 0x3D);
	seq(t, 4, 0xFF);
	g_assert_cmphex(inb(t, 0x3C5), ==, 0x0E);
	outb(t, 0x3C4, 0xFB); /* 3-bit index */
	g_assert_cmphex(inb(t, 0x3C4), ==, 0x03);
	outb(t, 0x3C4, 0x06); /* no such register */
	outb(t, 0x3C5, 0x55);
	g_assert_cmphex(inb(t, 0x3C5), ==, 0x00);
	fake_outw(t->env, 0x3C4, 0x0502); /* index and data in one OUT DX, AX */
	outb(t, 0x3C4, 2);
	g_assert_cmphex(inb(t, 0x3C5), ==, 0x05);
	t_free(t);
}

static void test_graphics_controller(void)
{
	struct t *t = t_new();
	static const uint8_t masks[9] = { 0x0F, 0x0F, 0x0F, 0x1F, 0x03, 0x7B, 0x0F, 0x0F, 0xFF };
	for (unsigned i = 0; i < 9; i++) {
		gc(t, i, 0xFF);
		g_assert_cmphex(inb(t, 0x3CF), ==, masks[i]);
	}
	outb(t, 0x3CE, 0x19);
	g_assert_cmphex(inb(t, 0x3CE), ==, 0x09);
	fake_outw(t->env, 0x3CE, 0xA508);
	outb(t, 0x3CE, 8);
	g_assert_cmphex(inb(t, 0x3CF), ==, 0xA5);
	t_free(t);
}

static void test_attribute_flipflop(void)
{
	struct t *t = t_new();
	outb(t, 0x3C2, 0x01); /* colour: status 1 at 0x3DA */
	inb(t, 0x3DA);
	outb(t, 0x3C0, 0x02); /* index */
	outb(t, 0x3C0, 0x2A); /* data */
	g_assert_cmphex(inb(t, 0x3C0), ==, 0x02);
	g_assert_cmphex(inb(t, 0x3C1), ==, 0x2A);
	outb(t, 0x3C0, 0x23); /* index again (with palette address source) */
	g_assert_cmphex(inb(t, 0x3C0), ==, 0x23);
	outb(t, 0x3C0, 0x15); /* data for 03 */
	g_assert_cmphex(inb(t, 0x3C1), ==, 0x15);
	/* flip-flop now expects an index; a half-finished pair is reset by 0x3DA */
	outb(t, 0x3C0, 0x10);
	inb(t, 0x3DA);
	outb(t, 0x3C0, 0x11);
	outb(t, 0x3C0, 0x7E);
	outb(t, 0x3C0, 0x11);
	g_assert_cmphex(inb(t, 0x3C1), ==, 0x7E);
	/* data phase pending; 0x3BA is not decoded in colour mode: it neither answers nor
	 * resets the flip-flop, so the next write is still data for register 11 */
	g_assert_cmphex(inb(t, 0x3BA), ==, 0xFF);
	outb(t, 0x3C0, 0x3A);
	g_assert_cmphex(inb(t, 0x3C0), ==, 0x11);
	g_assert_cmphex(inb(t, 0x3C1), ==, 0x3A);
	outb(t, 0x3C0, 0x12);
	g_assert_cmphex(inb(t, 0x3C0), ==, 0x12);
	/* palette registers keep 6 bits, mode control has no bit 4; 15h-1Fh do not exist */
	ac(t, 0x05, 0xFF);
	g_assert_cmphex(ac_read(t, 0x05), ==, 0x3F);
	ac(t, 0x10, 0xFF);
	g_assert_cmphex(ac_read(t, 0x10), ==, 0xEF);
	ac(t, 0x16, 0xFF);
	g_assert_cmphex(ac_read(t, 0x16), ==, 0x00);
	t_free(t);
}

static void test_crtc_protect(void)
{
	struct t *t = t_new();
	outb(t, 0x3C2, 0x01);
	for (unsigned i = 0; i < 8; i++)
		crtc(t, i, 0x11 * i);
	crtc(t, 0x11, 0x80); /* protect CR00-CR07 */
	for (unsigned i = 0; i < 8; i++)
		crtc(t, i, 0x00);
	for (unsigned i = 0; i < 7; i++)
		g_assert_cmphex(crtc_read(t, i), ==, 0x11 * i);
	g_assert_cmphex(crtc_read(t, 7), ==, 0x67); /* only bit 4 (line compare bit 8) moved */
	crtc(t, 0x09, 0x4F);
	g_assert_cmphex(crtc_read(t, 0x09), ==, 0x4F);
	crtc(t, 0x11, 0x00);
	crtc(t, 0x00, 0x5F);
	g_assert_cmphex(crtc_read(t, 0x00), ==, 0x5F);
	outb(t, 0x3D4, 0x30); /* beyond CR18: reads 0, writes vanish */
	outb(t, 0x3D5, 0x12);
	g_assert_cmphex(inb(t, 0x3D5), ==, 0x00);
	g_assert_cmphex(inb(t, 0x3D4), ==, 0x30);
	t_free(t);
}

/* Misc bit 0 moves the CRTC and status 1 between 0x3Bx and 0x3Dx. */
static void test_crtc_decode(void)
{
	struct t *t = t_new();
	outb(t, 0x3C2, 0x00);
	g_assert_cmphex(inb(t, 0x3CC), ==, 0x00);
	outb(t, 0x3B4, 0x0C);
	outb(t, 0x3B5, 0x12);
	g_assert_cmphex(inb(t, 0x3B5), ==, 0x12);
	g_assert_cmphex(inb(t, 0x3D5), ==, 0xFF);
	g_assert_cmphex(inb(t, 0x3DA), ==, 0xFF);
	outb(t, 0x3C2, 0x01);
	g_assert_cmphex(inb(t, 0x3B5), ==, 0xFF);
	g_assert_cmphex(crtc_read(t, 0x0C), ==, 0x12);
	outb(t, 0x3DA, 0x0B); /* feature control: written at 0x3DA, read at 0x3CA */
	g_assert_cmphex(inb(t, 0x3CA), ==, 0x0B);
	outb(t, 0x3C2, 0xFF);
	g_assert_cmphex(inb(t, 0x3CC), ==, 0xEF);
	g_assert_cmphex(inb(t, 0x3C2), ==, 0x00); /* input status 0 */
	outb(t, 0x3C3, 0xFF);
	g_assert_cmphex(inb(t, 0x3C3), ==, 0x01);
	g_assert_cmphex(inb(t, 0x3C8 + 0x10), ==, 0xFF); /* 0x3D8: nobody */
	t_free(t);
}

static void test_dac_cycle(void)
{
	struct t *t = t_new();
	outb(t, 0x3C8, 0x10);
	g_assert_cmphex(inb(t, 0x3C7), ==, 0x00); /* DAC state: write mode */
	g_assert_cmphex(inb(t, 0x3C8), ==, 0x10);
	static const uint8_t vals[6] = { 0x01, 0x22, 0xFF, 0x3F, 0x00, 0x15 };
	for (int i = 0; i < 6; i++)
		outb(t, 0x3C9, vals[i]);
	g_assert_cmphex(inb(t, 0x3C8), ==, 0x12); /* auto-increment after each triple */
	outb(t, 0x3C7, 0x10);
	g_assert_cmphex(inb(t, 0x3C7), ==, 0x03);
	for (int i = 0; i < 6; i++)
		g_assert_cmphex(inb(t, 0x3C9), ==, vals[i] & 0x3F);
	/* a partial triple does not change the entry; a new index restarts the cycle */
	outb(t, 0x3C8, 0x10);
	outb(t, 0x3C9, 0x05);
	outb(t, 0x3C9, 0x06);
	outb(t, 0x3C8, 0x11);
	outb(t, 0x3C7, 0x10);
	g_assert_cmphex(inb(t, 0x3C9), ==, 0x01);
	outb(t, 0x3C6, 0x0F);
	g_assert_cmphex(inb(t, 0x3C6), ==, 0x0F);
	/* the index wraps after 255 */
	outb(t, 0x3C8, 0xFF);
	for (int i = 0; i < 6; i++)
		outb(t, 0x3C9, 0x2A);
	outb(t, 0x3C7, 0x00);
	g_assert_cmphex(inb(t, 0x3C9), ==, 0x2A);
	t_free(t);
}

/* Polling input status 1 must see retrace come and go even while the clock stands still,
 * and must follow the clock when it moves. */
static void test_retrace(void)
{
	struct t *t = t_new();
	outb(t, 0x3C2, 0x01);
	unsigned on = 0, off = 0, de_changes = 0;
	uint8_t last = inb(t, 0x3DA);
	for (int i = 0; i < 256; i++) {
		uint8_t v = inb(t, 0x3DA);
		if (v & 0x08)
			on++;
		else
			off++;
		if ((v ^ last) & 0x01)
			de_changes++;
		last = v;
	}
	g_assert_cmpuint(on, >, 0);
	g_assert_cmpuint(off, >, on);
	g_assert_cmpuint(de_changes, >, 2);
	/* a moving clock: retrace in the last 5% of each 1/70 s frame */
	unsigned seen = 0;
	for (int i = 0; i < 1000; i++) {
		clock_step(t->env->clock, 50000);
		seen += !!(inb(t, 0x3DA) & 0x08);
	}
	g_assert_cmpuint(seen, >, 0);
	g_assert_cmpuint(seen, <, 200);
	t_free(t);
}

/* ==== planes: write modes, read modes, latches ==== */

static void test_write_mode0(void)
{
	struct t *t = t_new();
	planar_setup(t);
	memw(t, WIN + 10, 0xA5);
	for (unsigned p = 0; p < 4; p++)
		g_assert_cmphex(plane(t, p, 10), ==, 0xA5);
	seq(t, 2, 0x05); /* map mask: planes 0 and 2 */
	memw(t, WIN + 10, 0x3C);
	g_assert_cmphex(plane(t, 0, 10), ==, 0x3C);
	g_assert_cmphex(plane(t, 1, 10), ==, 0xA5);
	g_assert_cmphex(plane(t, 2, 10), ==, 0x3C);
	g_assert_cmphex(plane(t, 3, 10), ==, 0xA5);
	seq(t, 2, 0x0F);
	/* set/reset: planes 0 and 1 enabled, values 1 and 0; planes 2, 3 take the data */
	gc(t, 0, 0x01);
	gc(t, 1, 0x03);
	memw(t, WIN + 20, 0x5A);
	g_assert_cmphex(plane(t, 0, 20), ==, 0xFF);
	g_assert_cmphex(plane(t, 1, 20), ==, 0x00);
	g_assert_cmphex(plane(t, 2, 20), ==, 0x5A);
	g_assert_cmphex(plane(t, 3, 20), ==, 0x5A);
	gc(t, 1, 0x00);
	/* rotate right by 4 */
	gc(t, 3, 0x04);
	memw(t, WIN + 21, 0x12);
	g_assert_cmphex(plane(t, 0, 21), ==, 0x21);
	gc(t, 3, 0x00);
	/* logical functions against the latches (loaded by a read), with the bit mask */
	memw(t, WIN + 30, 0xF0);
	static const struct {
		uint8_t fn, expect;
	} ops[] = { { 0x08, 0xF0 & 0x3C }, { 0x10, 0xF0 | 0x3C }, { 0x18, 0xF0 ^ 0x3C } };
	for (size_t i = 0; i < G_N_ELEMENTS(ops); i++) {
		memw(t, WIN + 31, 0xF0);
		memr(t, WIN + 31);
		gc(t, 3, ops[i].fn);
		memw(t, WIN + 31, 0x3C);
		gc(t, 3, 0x00);
		for (unsigned p = 0; p < 4; p++)
			g_assert_cmphex(plane(t, p, 31), ==, ops[i].expect);
	}
	/* bit mask: masked-off bits keep the latch */
	memw(t, WIN + 40, 0xAA);
	memr(t, WIN + 40);
	gc(t, 8, 0x0F);
	memw(t, WIN + 40, 0x55);
	g_assert_cmphex(plane(t, 2, 40), ==, 0xA5);
	t_free(t);
}

static void test_write_mode1(void)
{
	struct t *t = t_new();
	planar_setup(t);
	for (unsigned p = 0; p < 4; p++) {
		seq(t, 2, 1u << p);
		memw(t, WIN + 100, 0x11 * (p + 1));
	}
	seq(t, 2, 0x0F);
	memr(t, WIN + 100); /* latches */
	gc(t, 5, 0x01);
	gc(t, 8, 0x00); /* write mode 1 ignores the bit mask */
	memw(t, WIN + 200, 0x00);
	for (unsigned p = 0; p < 4; p++)
		g_assert_cmphex(plane(t, p, 200), ==, 0x11 * (p + 1));
	t_free(t);
}

static void test_write_mode2(void)
{
	struct t *t = t_new();
	planar_setup(t);
	gc(t, 5, 0x02);
	gc(t, 8, 0xFF);
	memw(t, WIN + 5, 0x0A); /* colour 1010 */
	g_assert_cmphex(plane(t, 0, 5), ==, 0x00);
	g_assert_cmphex(plane(t, 1, 5), ==, 0xFF);
	g_assert_cmphex(plane(t, 2, 5), ==, 0x00);
	g_assert_cmphex(plane(t, 3, 5), ==, 0xFF);
	/* one pixel: bit mask 0x10 after loading the latches */
	memr(t, WIN + 5);
	gc(t, 8, 0x10);
	memw(t, WIN + 5, 0x05);
	g_assert_cmphex(plane(t, 0, 5), ==, 0x10);
	g_assert_cmphex(plane(t, 1, 5), ==, 0xEF);
	g_assert_cmphex(plane(t, 2, 5), ==, 0x10);
	g_assert_cmphex(plane(t, 3, 5), ==, 0xEF);
	t_free(t);
}

static void test_write_mode3(void)
{
	struct t *t = t_new();
	planar_setup(t);
	memw(t, WIN + 7, 0x00);
	memr(t, WIN + 7);
	gc(t, 5, 0x03);
	gc(t, 0, 0x0C);  /* colour 1100 */
	gc(t, 8, 0xF0);  /* bit mask */
	gc(t, 3, 0x01);  /* rotate 1: data 0x3C -> 0x1E, & 0xF0 = 0x10 */
	memw(t, WIN + 7, 0x3C);
	g_assert_cmphex(plane(t, 0, 7), ==, 0x00);
	g_assert_cmphex(plane(t, 1, 7), ==, 0x00);
	g_assert_cmphex(plane(t, 2, 7), ==, 0x10);
	g_assert_cmphex(plane(t, 3, 7), ==, 0x10);
	t_free(t);
}

static void test_read_modes(void)
{
	struct t *t = t_new();
	planar_setup(t);
	static const uint8_t pat[4] = { 0xF0, 0xCC, 0xAA, 0x0F };
	for (unsigned p = 0; p < 4; p++) {
		seq(t, 2, 1u << p);
		memw(t, WIN + 3, pat[p]);
	}
	seq(t, 2, 0x0F);
	for (unsigned p = 0; p < 4; p++) {
		gc(t, 4, p);
		g_assert_cmphex(memr(t, WIN + 3), ==, pat[p]);
	}
	/* read mode 1: bit i is 1 where the pixel's colour equals the colour compare */
	gc(t, 5, 0x08);
	gc(t, 7, 0x0F);
	for (unsigned c = 0; c < 16; c++) {
		gc(t, 2, c);
		uint8_t expect = 0;
		for (unsigned bit = 0; bit < 8; bit++) {
			unsigned px = 0;
			for (unsigned p = 0; p < 4; p++)
				px |= (pat[p] >> bit & 1) << p;
			expect |= (px == c) << bit;
		}
		g_assert_cmphex(memr(t, WIN + 3), ==, expect);
	}
	/* colour don't care: only plane 0 compared */
	gc(t, 7, 0x01);
	gc(t, 2, 0x01);
	g_assert_cmphex(memr(t, WIN + 3), ==, 0xF0);
	t_free(t);
}

/* Chain 4: address bits 1:0 pick the plane, the plane offset keeps the address. */
static void test_chain4(void)
{
	struct t *t = t_new();
	planar_setup(t);
	seq(t, 4, 0x0E);
	for (unsigned a = 0; a < 8; a++)
		memw(t, WIN + 0x100 + a, 0x40 + a);
	for (unsigned a = 0; a < 8; a++) {
		g_assert_cmphex(plane(t, a & 3, (0x100 + a) & ~3u), ==, 0x40 + a);
		g_assert_cmphex(memr(t, WIN + 0x100 + a), ==, 0x40 + a);
	}
	g_assert_cmphex(plane(t, 1, 0x100), ==, 0x41);
	g_assert_cmphex(plane(t, 0, 0x101), ==, 0x00);
	seq(t, 2, 0x0E); /* map mask still applies */
	memw(t, WIN + 0x200, 0x99);
	g_assert_cmphex(plane(t, 0, 0x200), ==, 0x00);
	t_free(t);
}

/* Odd/even (text modes): even addresses reach planes 0/2, odd ones 1/3, at the even offset. */
static void test_odd_even(void)
{
	struct t *t = t_new();
	outb(t, 0x3C2, 0x67);
	seq(t, 2, 0x03);
	seq(t, 4, 0x02);
	gc(t, 5, 0x10);
	gc(t, 6, 0x0E); /* B8000, 32 KiB */
	gc(t, 8, 0xFF);
	memw(t, 0xB8000 + 40, 'A');
	memw(t, 0xB8000 + 41, 0x1F);
	g_assert_cmphex(plane(t, 0, 40), ==, 'A');
	g_assert_cmphex(plane(t, 1, 40), ==, 0x1F);
	g_assert_cmphex(plane(t, 0, 41), ==, 0x00);
	g_assert_cmphex(memr(t, 0xB8000 + 40), ==, 'A');
	g_assert_cmphex(memr(t, 0xB8000 + 41), ==, 0x1F);
	gc(t, 4, 0x02); /* read map select bit 1 picks planes 2/3 */
	g_assert_cmphex(memr(t, 0xB8000 + 40), ==, 0x00);
	gc(t, 4, 0x00);
	/* A0000 is outside the B8000 map */
	g_assert_cmphex(memr(t, WIN), ==, 0xFF);
	memw(t, WIN, 0x77);
	g_assert_cmphex(plane(t, 0, 0), ==, 0x00);
	t_free(t);
}

static void test_memory_maps(void)
{
	struct t *t = t_new();
	planar_setup(t);
	static const struct {
		uint8_t gr6;
		uint32_t in, out; /* an address inside the map, one outside (0: none) */
	} maps[] = {
		{ 0x01, 0xB0000, 0 }, /* A0000-BFFFF */
		{ 0x05, 0xA0000, 0xB0000 },
		{ 0x09, 0xB0000, 0xB8000 },
		{ 0x0D, 0xB8000, 0xA0000 },
	};
	for (size_t i = 0; i < G_N_ELEMENTS(maps); i++) {
		gc(t, 6, maps[i].gr6);
		memset(t->vram, 0, 0x40000);
		memw(t, maps[i].in + 0x10, 0x5A);
		g_assert_cmphex(memr(t, maps[i].in + 0x10), ==, 0x5A);
		if (maps[i].out) {
			g_assert_cmphex(memr(t, maps[i].out), ==, 0xFF);
			memw(t, maps[i].out, 0x11);
		}
		unsigned n = 0;
		for (uint32_t o = 0; o < 0x40000; o++)
			n += t->vram[o] != 0;
		g_assert_cmpuint(n, ==, 4); /* one byte in each plane, nothing else */
	}
	/* RAM enable (misc bit 1) off: the window does not answer */
	outb(t, 0x3C2, 0x61);
	g_assert_cmphex(memr(t, 0xA0010), ==, 0xFF);
	t_free(t);
}

/* ==== rendering ==== */

/* The test's own font: any pattern will do, as long as each glyph line differs. */
static uint8_t test_glyph(unsigned ch, unsigned line)
{
	return (uint8_t)(ch * 37u + line * 91u + (ch >> 3) * line) ^ (uint8_t)(line << 4 | ch >> 4);
}

/* Into plane 2, 32 bytes per character, as the VGA BIOS loads its font. */
static void load_test_font(struct t *t, unsigned height)
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

struct screen {
	uint8_t ch[80 * 50], at[80 * 50];
};

static void fill_screen(struct t *t, struct screen *s, unsigned cells)
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

static void check_text(struct t *t, const struct mode_regs *m, const struct screen *s,
		       unsigned cols, unsigned rows, unsigned cw, unsigned chh, bool blink_on)
{
	for (unsigned y = 0; y < rows * chh; y++)
		for (unsigned x = 0; x < cols * cw; x++)
			if (*surface_px(t, x, y) != text_expect(m, s, cols, cw, chh, x, y, blink_on))
				g_error("text pixel (%u,%u): %06x, expected %06x", x, y,
					*surface_px(t, x, y),
					text_expect(m, s, cols, cw, chh, x, y, blink_on));
}

static void text_mode3(struct t *t, struct screen *s)
{
	set_mode(t, &mode_03h);
	load_test_dac(t);
	load_test_font(t, 16);
	crtc(t, 0x0A, 0x20); /* cursor off: tested on its own */
	fill_screen(t, s, 80 * 25);
}

static void test_render_text(void)
{
	struct t *t = t_new();
	struct screen *s = g_new0(struct screen, 1);
	text_mode3(t, s);
	struct vga_dirty d;
	g_assert_true(vga_render(t->vga, &d));
	g_assert_true(d.resized);
	const struct vga_surface *surf = vga_surface(t->vga);
	g_assert_cmpuint(surf->width, ==, 720);
	g_assert_cmpuint(surf->height, ==, 400);
	g_assert_cmpuint(surf->stride, >=, 720 * 4);
	/* clock 0: the blink phase shows no blinking foreground */
	check_text(t, &mode_03h, s, 80, 25, 9, 16, false);
	/* nothing changed: nothing to report */
	g_assert_false(vga_render(t->vga, &d));
	/* 16 frames on: blinking characters come back, only their cells are redrawn */
	clock_step(t->env->clock, 16 * 14285714ull + 1000);
	g_assert_true(vga_render(t->vga, &d));
	g_assert_false(d.resized);
	check_text(t, &mode_03h, s, 80, 25, 9, 16, true);
	/* 8-dot cells: 640x400, no ninth column */
	seq(t, 1, 0x01);
	render(t, &d);
	g_assert_true(d.resized);
	g_assert_cmpuint(vga_surface(t->vga)->width, ==, 640);
	check_text(t, &mode_03h, s, 80, 25, 8, 16, true);
	g_free(s);
	t_free(t);
}

/* 80x50: 8-line characters (CR09 = 07h), 8x8 font, 8-dot cells. */
static void test_render_text_80x50(void)
{
	struct t *t = t_new();
	struct screen *s = g_new0(struct screen, 1);
	set_mode(t, &mode_03h);
	seq(t, 1, 0x01);
	crtc(t, 0x09, 0x47);
	crtc(t, 0x0A, 0x20);
	load_test_dac(t);
	load_test_font(t, 8);
	fill_screen(t, s, 80 * 50);
	clock_step(t->env->clock, 16 * 14285714ull);
	render(t, NULL);
	g_assert_cmpuint(vga_surface(t->vga)->width, ==, 640);
	g_assert_cmpuint(vga_surface(t->vga)->height, ==, 400);
	check_text(t, &mode_03h, s, 80, 50, 8, 8, true);
	g_free(s);
	t_free(t);
}

static bool cell_has(struct t *t, unsigned col, unsigned row, unsigned line, uint32_t colour)
{
	for (unsigned x = 0; x < 9; x++)
		if (*surface_px(t, col * 9 + x, row * 16 + line) != colour)
			return false;
	return true;
}

static void test_render_cursor(void)
{
	struct t *t = t_new();
	struct screen *s = g_new0(struct screen, 1);
	text_mode3(t, s);
	unsigned pos = 3 * 80 + 10; /* row 3, column 10 */
	crtc(t, 0x0E, pos >> 8);
	crtc(t, 0x0F, pos & 0xFF);
	crtc(t, 0x0A, 0x0E);
	crtc(t, 0x0B, 0x0F);
	uint32_t fg = attr_rgb(&mode_03h, s->at[pos] & 15);
	struct vga_dirty d;
	render(t, &d); /* frame 0: cursor in its off phase */
	g_assert_false(cell_has(t, 10, 3, 14, fg) && cell_has(t, 10, 3, 15, fg));
	clock_step(t->env->clock, 8 * 14285714ull + 1000); /* frame 8: on */
	g_assert_true(vga_render(t->vga, &d));
	g_assert_true(cell_has(t, 10, 3, 14, fg));
	g_assert_true(cell_has(t, 10, 3, 15, fg));
	/* only the cursor's cell was redrawn */
	g_assert_cmpuint(d.nrects, ==, 1);
	g_assert_cmpuint(d.rects[0].x, ==, 90);
	g_assert_cmpuint(d.rects[0].y, ==, 48);
	g_assert_cmpuint(d.rects[0].w, ==, 9);
	g_assert_cmpuint(d.rects[0].h, ==, 16);
	/* the disable bit hides it */
	crtc(t, 0x0A, 0x2E);
	render(t, &d);
	g_assert_false(cell_has(t, 10, 3, 14, fg) && cell_has(t, 10, 3, 15, fg));
	g_free(s);
	t_free(t);
}

/* Changing one character reports one cell. */
static void test_dirty_text(void)
{
	struct t *t = t_new();
	struct screen *s = g_new0(struct screen, 1);
	text_mode3(t, s);
	struct vga_dirty d;
	render(t, &d);
	memw(t, 0xB8000 + 2 * (24 * 80 + 79), 'Z');
	g_assert_true(vga_render(t->vga, &d));
	g_assert_cmpuint(d.nrects, ==, 1);
	g_assert_cmpuint(d.rects[0].x, ==, 79 * 9);
	g_assert_cmpuint(d.rects[0].y, ==, 24 * 16);
	g_assert_cmpuint(d.rects[0].w, ==, 9);
	g_assert_cmpuint(d.rects[0].h, ==, 16);
	/* a palette change redraws everything */
	dac(t, 0x3F, 1, 2, 3);
	render(t, &d);
	g_assert_cmpuint(d.nrects, ==, 1);
	g_assert_cmpuint(d.rects[0].w, ==, 720);
	g_assert_cmpuint(d.rects[0].h, ==, 400);
	g_free(s);
	t_free(t);
}

static void test_text_snapshot(void)
{
	struct t *t = t_new();
	set_mode(t, &mode_03h);
	static const uint8_t line[] = { 'H', 'i', ' ', 0xC4, 0x01, 0xB3, 0x82, ' ', ' ' };
	for (unsigned i = 0; i < sizeof(line); i++) {
		memw(t, 0xB8000 + 160 + 2 * i, line[i]);
		memw(t, 0xB8000 + 160 + 2 * i + 1, 0x07);
	}
	char buf[8192];
	size_t n = vga_text_snapshot(t->vga, buf, sizeof(buf));
	g_assert_cmpuint(n, ==, strlen(buf));
	gchar **lines = g_strsplit(buf, "\n", -1);
	g_assert_cmpuint(g_strv_length(lines), ==, 26);
	g_assert_cmpstr(lines[0], ==, "");
	g_assert_cmpstr(lines[1], ==, "Hi ─☺│é");
	g_strfreev(lines);
	/* truncation: snprintf-like */
	char small[4];
	g_assert_cmpuint(vga_text_snapshot(t->vga, small, sizeof(small)), ==, n);
	g_assert_cmpstr(small, ==, "\nHi");
	/* graphics: no text */
	set_mode(t, &mode_12h);
	g_assert_cmpuint(vga_text_snapshot(t->vga, buf, sizeof(buf)), ==, 0);
	t_free(t);
}

/* Mode 12h, drawn the way a BIOS puts pixels: bit mask, latch load, write mode 2. */
static void put_pixel_12h(struct t *t, unsigned x, unsigned y, unsigned c)
{
	uint32_t a = WIN + y * 80 + x / 8;
	gc(t, 5, 0x02);
	gc(t, 8, 0x80 >> (x & 7));
	memr(t, a);
	memw(t, a, c);
}

static void test_render_mode12h(void)
{
	struct t *t = t_new();
	set_mode(t, &mode_12h);
	load_test_dac(t);
	uint8_t *img = g_malloc0(640 * 480);
	GRand *r = g_rand_new_with_seed(12);
	for (int i = 0; i < 3000; i++) {
		unsigned x = g_rand_int_range(r, 0, 640), y = g_rand_int_range(r, 0, 480);
		unsigned c = g_rand_int_range(r, 0, 16);
		put_pixel_12h(t, x, y, c);
		img[y * 640 + x] = c;
	}
	/* a horizontal line with set/reset in write mode 0 */
	gc(t, 5, 0x00);
	gc(t, 8, 0xFF);
	gc(t, 0, 0x0B);
	gc(t, 1, 0x0F);
	for (unsigned b = 0; b < 80; b++) {
		memw(t, WIN + 100 * 80 + b, 0);
		memset(&img[100 * 640 + b * 8], 0x0B, 8);
	}
	gc(t, 1, 0x00);
	render(t, NULL);
	g_assert_cmpuint(vga_surface(t->vga)->width, ==, 640);
	g_assert_cmpuint(vga_surface(t->vga)->height, ==, 480);
	for (unsigned y = 0; y < 480; y++)
		for (unsigned x = 0; x < 640; x++)
			if (*surface_px(t, x, y) != attr_rgb(&mode_12h, img[y * 640 + x]))
				g_error("mode 12h pixel (%u,%u)", x, y);
	/* one pixel: one line, one 32-pixel granule */
	struct vga_dirty d;
	put_pixel_12h(t, 333, 222, 9);
	render(t, &d);
	g_assert_cmpuint(d.nrects, ==, 1);
	g_assert_cmpuint(d.rects[0].y, ==, 222);
	g_assert_cmpuint(d.rects[0].h, ==, 1);
	g_assert_cmpuint(d.rects[0].x, <=, 333);
	g_assert_cmpuint(d.rects[0].x + d.rects[0].w, >, 333);
	g_assert_cmpuint(d.rects[0].w, <=, 32);
	g_assert_cmphex(*surface_px(t, 333, 222), ==, attr_rgb(&mode_12h, 9));
	g_rand_free(r);
	g_free(img);
	t_free(t);
}

/* Mode 0Dh: 320x200 pixels, each doubled across and down: a 640x400 picture. */
static void test_render_mode0dh(void)
{
	struct t *t = t_new();
	set_mode(t, &mode_0dh);
	load_test_dac(t);
	gc(t, 5, 0x02);
	for (unsigned x = 0; x < 320; x += 8) {
		gc(t, 8, 0xFF);
		memw(t, WIN + 50 * 40 + x / 8, (x / 8) & 15);
	}
	render(t, NULL);
	g_assert_cmpuint(vga_surface(t->vga)->width, ==, 640);
	g_assert_cmpuint(vga_surface(t->vga)->height, ==, 400);
	for (unsigned x = 0; x < 640; x++)
		for (unsigned y = 100; y < 102; y++)
			g_assert_cmphex(*surface_px(t, x, y), ==,
					attr_rgb(&mode_0dh, (x / 16) & 15));
	g_assert_cmphex(*surface_px(t, 17, 99), ==, attr_rgb(&mode_0dh, 0));
	t_free(t);
}

static void test_render_mode13h(void)
{
	struct t *t = t_new();
	set_mode(t, &mode_13h);
	load_test_dac(t);
	uint8_t *img = g_malloc(320 * 200);
	for (unsigned i = 0; i < 320 * 200; i++) {
		img[i] = (i * 31 + i / 320) & 0xFF;
		memw(t, WIN + i, img[i]);
	}
	render(t, NULL);
	g_assert_cmpuint(vga_surface(t->vga)->width, ==, 640);
	g_assert_cmpuint(vga_surface(t->vga)->height, ==, 400);
	for (unsigned y = 0; y < 400; y++)
		for (unsigned x = 0; x < 640; x++)
			if (*surface_px(t, x, y) != test_dac_rgb(img[(y / 2) * 320 + x / 2]))
				g_error("mode 13h pixel (%u,%u)", x, y);
	/* an 8x8 block at (40, 20): exactly that, doubled */
	struct vga_dirty d;
	for (unsigned y = 20; y < 28; y++)
		for (unsigned x = 40; x < 48; x++)
			memw(t, WIN + y * 320 + x, 0xEE);
	render(t, &d);
	g_assert_cmpuint(d.nrects, ==, 1);
	g_assert_cmpuint(d.rects[0].x, ==, 80);
	g_assert_cmpuint(d.rects[0].y, ==, 40);
	g_assert_cmpuint(d.rects[0].w, ==, 16);
	g_assert_cmpuint(d.rects[0].h, ==, 16);
	g_assert_cmphex(*surface_px(t, 95, 55), ==, test_dac_rgb(0xEE));
	/* the DAC pixel mask applies */
	outb(t, 0x3C6, 0x0F);
	render(t, &d);
	g_assert_cmphex(*surface_px(t, 95, 55), ==, test_dac_rgb(0x0E));
	g_free(img);
	t_free(t);
}

/* ==== VBE ==== */

static void pci_map_bars(struct t *t)
{
	pci_config_write(t->pci, DEVFN, PCI_BAR0, LFB_GPA, 4);
	pci_config_write(t->pci, DEVFN, PCI_BAR0 + 8, MMIO_GPA, 4);
	pci_config_write(t->pci, DEVFN, PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_IO, 2);
}

static void vbe_set(struct t *t, unsigned x, unsigned y, unsigned bpp, uint16_t flags)
{
	vbe(t, 4, 0);
	vbe(t, 1, x);
	vbe(t, 2, y);
	vbe(t, 3, bpp);
	vbe(t, 4, 0x01 | flags);
}

static void lfb_write(struct t *t, uint64_t off, uint64_t v, unsigned size)
{
	g_assert_true(bus_write(t->mmio, LFB_GPA + off, size, v));
}

static void test_vbe_id(void)
{
	struct t *t = t_new();
	g_assert_cmphex(vbe_read(t, 0), ==, 0xB0C5);
	for (uint16_t id = 0xB0C0; id <= 0xB0C5; id++) {
		vbe(t, 0, id);
		g_assert_cmphex(vbe_read(t, 0), ==, id);
	}
	vbe(t, 0, 0xB0C6);
	g_assert_cmphex(vbe_read(t, 0), ==, 0xB0C5);
	g_assert_cmphex(vbe_read(t, 0x0A), ==, 256); /* 16 MiB in 64 KiB units */
	vbe(t, 4, 0x02);                              /* GETCAPS */
	g_assert_cmphex(vbe_read(t, 1), ==, 2560);
	g_assert_cmphex(vbe_read(t, 2), ==, 1600);
	g_assert_cmphex(vbe_read(t, 3), ==, 32);
	vbe(t, 4, 0x00);
	g_assert_cmphex(vbe_read(t, 1), ==, 640);
	g_assert_cmphex(vbe_read(t, 0x0B), ==, 0);
	/* the index port reads back; byte reads of the data port */
	fake_outw(t->env, 0x1CE, 0x0A);
	g_assert_cmphex(fake_inw(t->env, 0x1CE), ==, 0x0A);
	g_assert_cmphex(fake_inb(t->env, 0x1CF), ==, 0x00);
	g_assert_cmphex(fake_inb(t->env, 0x1D0), ==, 0x01);
	t_free(t);
}

/* Each depth through the LFB BAR, checked against the colour the test means. */
static void test_vbe_lfb_depths(void)
{
	struct t *t = t_new();
	pci_map_bars(t);
	load_test_dac(t);
	static const unsigned depths[] = { 8, 15, 16, 24, 32 };
	for (size_t k = 0; k < G_N_ELEMENTS(depths); k++) {
		unsigned bpp = depths[k], bytes = (bpp + 7) / 8, w = 320, h = 200;
		vbe_set(t, w, h, bpp, 0x40);
		g_assert_cmphex(vbe_read(t, 4), ==, 0x41);
		g_assert_cmphex(vbe_read(t, 6), ==, w);
		g_assert_cmphex(vbe_read(t, 7), ==, MIN(16u * 1024 * 1024 / (w * bytes), 0xFFFFu));
		for (unsigned y = 0; y < h; y++)
			for (unsigned x = 0; x < w; x++) {
				uint32_t v = (x * 2654435761u) ^ (y * 40503u);
				lfb_write(t, ((uint64_t)y * w + x) * bytes, v, bytes == 3 ? 2 : bytes);
				if (bytes == 3)
					lfb_write(t, ((uint64_t)y * w + x) * 3 + 2, v >> 16, 1);
			}
		struct vga_dirty d;
		render(t, &d);
		g_assert_cmpuint(vga_surface(t->vga)->width, ==, w);
		g_assert_cmpuint(vga_surface(t->vga)->height, ==, h);
		for (unsigned y = 0; y < h; y++)
			for (unsigned x = 0; x < w; x++) {
				uint32_t v = (x * 2654435761u) ^ (y * 40503u), e;
				if (bpp == 8)
					e = test_dac_rgb(v & 0xFF);
				else if (bpp == 15) /* x1r5g5b5, fields at the top of each byte */
					e = (v >> 10 & 31) << 19 | (v >> 5 & 31) << 11 | (v & 31) << 3;
				else if (bpp == 16) { /* r5g6b5, high bits repeated below */
					unsigned r = v >> 11 & 31, g = v >> 5 & 63, b = v & 31;
					e = (r << 3 | r >> 2) << 16 | (g << 2 | g >> 4) << 8 |
					    (b << 3 | b >> 2);
				}
				else
					e = v & 0xFFFFFF;
				if (*surface_px(t, x, y) != e)
					g_error("%u bpp pixel (%u,%u): %06x expected %06x", bpp, x, y,
						*surface_px(t, x, y), e);
			}
	}
	t_free(t);
}

/* Banks: the 64 KiB window at A0000 moves through VRAM; the LFB bit is not needed. */
static void test_vbe_banked(void)
{
	struct t *t = t_new();
	vbe_set(t, 640, 480, 8, 0x00);
	load_test_dac(t);
	/* line 200 starts at 128000: bank 1, offset 62464 */
	vbe(t, 5, 1);
	for (unsigned x = 0; x < 640; x++)
		memw(t, WIN + 62464 + x, x & 0xFF);
	g_assert_cmphex(t->vram[128000 + 5], ==, 5);
	g_assert_cmphex(memr(t, WIN + 62464 + 7), ==, 7);
	/* B0000 is not the bank window */
	g_assert_cmphex(memr(t, 0xB0000), ==, 0xFF);
	/* banks past VRAM are refused */
	vbe(t, 5, 256);
	g_assert_cmphex(vbe_read(t, 5), ==, 1);
	render(t, NULL);
	for (unsigned x = 0; x < 640; x++)
		g_assert_cmphex(*surface_px(t, x, 200), ==, test_dac_rgb(x & 0xFF));
	/* the 8-bit DAC: entries are taken as they are */
	vbe(t, 4, 0x21);
	dac(t, 3, 0x80, 0x40, 0xC0);
	render(t, NULL);
	g_assert_cmphex(*surface_px(t, 3, 200), ==, 0x8040C0);
	t_free(t);
}

/* A virtual screen twice as wide, shown from an offset. */
static void test_vbe_virtual(void)
{
	struct t *t = t_new();
	pci_map_bars(t);
	vbe_set(t, 640, 480, 32, 0x40);
	vbe(t, 6, 1280);
	g_assert_cmphex(vbe_read(t, 6), ==, 1280);
	g_assert_cmphex(vbe_read(t, 7), ==, 16 * 1024 * 1024 / (1280 * 4));
	vbe(t, 8, 640);
	vbe(t, 9, 100);
	g_assert_cmphex(vbe_read(t, 8), ==, 640);
	g_assert_cmphex(vbe_read(t, 9), ==, 100);
	lfb_write(t, (100ull * 1280 + 640) * 4, 0x123456, 4);
	lfb_write(t, (579ull * 1280 + 1279) * 4, 0xABCDEF, 4);
	render(t, NULL);
	g_assert_cmphex(*surface_px(t, 0, 0), ==, 0x123456);
	g_assert_cmphex(*surface_px(t, 639, 479), ==, 0xABCDEF);
	/* offsets that would show memory past the virtual screen or VRAM are refused */
	vbe(t, 8, 641);
	g_assert_cmphex(vbe_read(t, 8), ==, 640);
	vbe(t, 9, 3000);
	g_assert_cmphex(vbe_read(t, 9), ==, 100);
	vbe(t, 6, 65535); /* 65535 * 4 * 480 bytes: more than VRAM */
	g_assert_cmphex(vbe_read(t, 6), ==, 1280);
	vbe(t, 6, 320); /* narrower than the mode */
	g_assert_cmphex(vbe_read(t, 6), ==, 1280);
	t_free(t);
}

/* Absurd modes are refused; nothing is written outside VRAM (guard pages would fault). */
static void test_vbe_refused(void)
{
	struct t *t = t_new();
	vbe(t, 1, 65535);
	g_assert_cmphex(vbe_read(t, 1), ==, 640);
	vbe(t, 2, 4000);
	g_assert_cmphex(vbe_read(t, 2), ==, 480);
	vbe(t, 3, 7);
	g_assert_cmphex(vbe_read(t, 3), ==, 8);
	vbe(t, 3, 0); /* 0 means 8 */
	g_assert_cmphex(vbe_read(t, 3), ==, 8);
	/* the largest mode fits 16 MiB exactly; XRES cannot change while it is on */
	vbe_set(t, 2560, 1600, 32, 0x40);
	g_assert_cmphex(vbe_read(t, 4), ==, 0x41);
	vbe(t, 1, 640);
	g_assert_cmphex(vbe_read(t, 1), ==, 2560);
	render(t, NULL);
	g_assert_cmpuint(vga_surface(t->vga)->width, ==, 2560);
	/* an empty mode stays off */
	vbe(t, 4, 0);
	vbe(t, 1, 0);
	vbe(t, 4, 0x41);
	g_assert_cmphex(vbe_read(t, 4) & 1, ==, 0);
	vbe(t, 7, 10); /* VIRT_HEIGHT is the device's */
	g_assert_cmphex(vbe_read(t, 7), !=, 10);
	render(t, NULL);
	t_free(t);
}

/* With smaller VRAM, 2560x1600x32 does not fit and is refused. */
static void test_vbe_small_vram(void)
{
	struct fake_env *env = fake_env_new(-1, -1);
	struct vga *vga = vga_class.create(&env->ctx);
	g_assert_cmpint(vga_set_vram_mib(vga, 8), ==, 0);
	g_assert_cmpint(vga_set_vram_mib(vga, 3), ==, -1);
	g_assert_cmpuint(vga_vram_size(vga), ==, 8u << 20);
	fake_map(env, 0x1CE, VGA_VBE_PORT_LEN, &vga_vbe_ops, vga, vga_lock(vga));
	fake_outw(env, 0x1CE, 1);
	fake_outw(env, 0x1CF, 2560);
	fake_outw(env, 0x1CE, 2);
	fake_outw(env, 0x1CF, 1600);
	fake_outw(env, 0x1CE, 3);
	fake_outw(env, 0x1CF, 32);
	fake_outw(env, 0x1CE, 4);
	fake_outw(env, 0x1CF, 0x41);
	g_assert_cmphex(fake_inw(env, 0x1CF), ==, 0x40);
	fake_outw(env, 0x1CE, 0x0A);
	g_assert_cmphex(fake_inw(env, 0x1CF), ==, 128);
	vga_class.destroy(vga);
	fake_env_free(env);
}

/* LFB dirt: through the BAR's bus path, and reported by the machine (KVM's dirty log). */
static void test_dirty_lfb(void)
{
	struct t *t = t_new();
	pci_map_bars(t);
	vbe_set(t, 1024, 768, 32, 0x40);
	struct vga_dirty d;
	render(t, &d);
	g_assert_true(d.resized);
	g_assert_false(vga_render(t->vga, &d));
	lfb_write(t, (300ull * 1024 + 500) * 4, 0xFF0000, 4);
	render(t, &d);
	g_assert_cmpuint(d.nrects, ==, 1);
	g_assert_cmpuint(d.rects[0].y, ==, 300);
	g_assert_cmpuint(d.rects[0].h, ==, 1);
	g_assert_cmpuint(d.rects[0].x, <=, 500);
	g_assert_cmpuint(d.rects[0].x + d.rects[0].w, >, 500);
	g_assert_cmpuint(d.rects[0].w, <=, 4);
	/* behind the device's back, as a guest writes a KVM-mapped LFB */
	uint32_t px = 0x00FF00;
	memcpy(vga_vram(t->vga) + (10ull * 1024 + 20) * 4, &px, 4);
	g_assert_false(vga_render(t->vga, &d));
	vga_lfb_dirty(t->vga, 10 * 4096, 4096); /* the page holding line 10 */
	render(t, &d);
	g_assert_cmpuint(d.nrects, ==, 1);
	g_assert_cmpuint(d.rects[0].y, ==, 10);
	g_assert_cmpuint(d.rects[0].h, ==, 1);
	g_assert_cmphex(*surface_px(t, 20, 10), ==, 0x00FF00);
	/* many scattered writes: at most VGA_DIRTY_MAX_RECTS rectangles, covering all */
	for (unsigned y = 0; y < 768; y += 7)
		lfb_write(t, ((uint64_t)y * 1024 + (y % 5) * 100) * 4, 0x0000FF, 4);
	render(t, &d);
	g_assert_cmpuint(d.nrects, ==, VGA_DIRTY_MAX_RECTS);
	const struct vga_rect *last = &d.rects[d.nrects - 1];
	g_assert_cmpuint(last->y + last->h, ==, 764);
	t_free(t);
}

/* ==== PCI ==== */

struct hook_log {
	unsigned maps, unmaps;
	uint64_t gpa, size;
	void *hva;
};

static void hook_map(void *opaque, uint64_t gpa, void *hva, uint64_t size)
{
	struct hook_log *h = opaque;
	h->maps++;
	h->gpa = gpa;
	h->hva = hva;
	h->size = size;
}

static void hook_unmap(void *opaque, uint64_t gpa)
{
	struct hook_log *h = opaque;
	h->unmaps++;
	g_assert_cmphex(gpa, ==, h->gpa);
}

static void sync_hook(void *opaque)
{
	struct t *t = opaque;
	vga_lfb_dirty(t->vga, 0, 4096);
}

static void test_pci_config(void)
{
	struct t *t = t_new();
	g_assert_cmphex(pci_config_read(t->pci, DEVFN, 0x00, 4), ==, 0x11111234);
	g_assert_cmphex(pci_config_read(t->pci, DEVFN, 0x08, 4), ==, 0x03000002);
	g_assert_cmphex(pci_config_read(t->pci, DEVFN, 0x2C, 4), ==, 0x11001AF4);
	/* BAR sizing: 16 MiB prefetchable memory, 4 KiB MMIO */
	pci_config_write(t->pci, DEVFN, PCI_BAR0, 0xFFFFFFFF, 4);
	g_assert_cmphex(pci_config_read(t->pci, DEVFN, PCI_BAR0, 4), ==, 0xFF000008);
	pci_config_write(t->pci, DEVFN, PCI_BAR0 + 8, 0xFFFFFFFF, 4);
	g_assert_cmphex(pci_config_read(t->pci, DEVFN, PCI_BAR0 + 8, 4), ==, 0xFFFFF000);
	g_assert_cmphex(pci_config_read(t->pci, DEVFN, PCI_BAR0 + 4, 4), ==, 0);
	/* the LFB hooks follow BAR0 */
	struct hook_log h = { 0 };
	vga_set_lfb_hooks(t->vga, hook_map, hook_unmap, &h);
	pci_map_bars(t);
	g_assert_cmpuint(h.maps, ==, 1);
	g_assert_cmphex(h.gpa, ==, LFB_GPA);
	g_assert_true(h.hva == vga_vram(t->vga));
	g_assert_cmphex(h.size, ==, 16u << 20);
	uint64_t gpa = 0;
	g_assert_true(vga_lfb_mapping(t->vga, &gpa));
	g_assert_cmphex(gpa, ==, LFB_GPA);
	pci_config_write(t->pci, DEVFN, PCI_BAR0, 0xD0000000, 4);
	g_assert_cmpuint(h.unmaps, ==, 1);
	g_assert_cmpuint(h.maps, ==, 2);
	g_assert_cmphex(h.gpa, ==, 0xD0000000);
	pci_config_write(t->pci, DEVFN, PCI_COMMAND, 0, 2);
	g_assert_cmpuint(h.unmaps, ==, 2);
	g_assert_false(vga_lfb_mapping(t->vga, NULL));
	pci_config_write(t->pci, DEVFN, PCI_BAR0, LFB_GPA, 4);
	pci_config_write(t->pci, DEVFN, PCI_COMMAND, PCI_COMMAND_MEMORY, 2);
	g_assert_cmpuint(h.maps, ==, 3);
	/* setting hooks while mapped replays the map */
	struct hook_log h2 = { 0 };
	vga_set_lfb_hooks(t->vga, hook_map, hook_unmap, &h2);
	g_assert_cmpuint(h2.maps, ==, 1);
	/* the sync hook runs before each render */
	vga_set_lfb_sync(t->vga, sync_hook, t);
	vbe_set(t, 64, 64, 32, 0x40);
	render(t, NULL);
	struct vga_dirty d;
	g_assert_true(vga_render(t->vga, &d)); /* the hook reported the first page */
	g_assert_cmpuint(d.rects[0].y, ==, 0);
	/* a reset turns memory decoding off: unmapped */
	vga_class.reset(t->vga);
	g_assert_cmpuint(h2.unmaps, ==, 1);
	vga_set_lfb_sync(t->vga, NULL, NULL);
	t_free(t);
}

/* BAR2: VGA ports at 0x400, DISPI registers at 0x500, QEMU's extended registers at 0x600. */
static void test_pci_mmio(void)
{
	struct t *t = t_new();
	pci_map_bars(t);
	uint64_t v;
	g_assert_true(bus_write(t->mmio, MMIO_GPA + 0x400 + 0x02, 1, 0x67)); /* 0x3C2 */
	g_assert_cmphex(inb(t, 0x3CC), ==, 0x67);
	g_assert_true(bus_write(t->mmio, MMIO_GPA + 0x400 + 0x14, 2, 0x3F0C)); /* 0x3D4/5 */
	g_assert_cmphex(crtc_read(t, 0x0C), ==, 0x3F);
	g_assert_true(bus_read(t->mmio, MMIO_GPA + 0x500, 2, &v));
	g_assert_cmphex(v, ==, 0xB0C5);
	g_assert_true(bus_write(t->mmio, MMIO_GPA + 0x502, 2, 800));
	g_assert_cmphex(vbe_read(t, 1), ==, 800);
	g_assert_true(bus_write(t->mmio, MMIO_GPA + 0x505, 1, 0x02)); /* YRES high byte */
	g_assert_cmphex(vbe_read(t, 2), ==, 0x2E0);
	g_assert_true(bus_read(t->mmio, MMIO_GPA + 0x514, 2, &v));
	g_assert_cmphex(v, ==, 256);
	g_assert_true(bus_read(t->mmio, MMIO_GPA + 0x600, 4, &v));
	g_assert_cmphex(v, ==, 8);
	g_assert_true(bus_read(t->mmio, MMIO_GPA + 0x604, 4, &v));
	g_assert_cmphex(v, ==, 0x1e1e1e1e);
	g_assert_true(bus_read(t->mmio, MMIO_GPA + 0x10, 4, &v));
	g_assert_cmphex(v, ==, 0);
	t_free(t);
}

/* ==== state ==== */

static GByteArray *save(struct vga *vga)
{
	GByteArray *out = g_byte_array_new();
	state_save(vga_class.state, vga, out);
	return out;
}

/* A text screen and a VBE mode survive save and load into a fresh device (VRAM is copied
 * the way the snapshot's memory file would bring it back). */
static void test_state_round_trip(void)
{
	struct t *a = t_new(), *b = t_new();
	struct screen *s = g_new0(struct screen, 1);
	text_mode3(a, s);
	inb(a, 0x3DA);
	outb(a, 0x3C0, 0x31); /* leave the flip-flop in its data phase */
	outb(a, 0x3C8, 0x20);
	outb(a, 0x3C9, 0x11); /* and the DAC mid-triple */
	GByteArray *sa = save(a->vga);
	memcpy(b->vram, a->vram, 0x40000);
	char *error = NULL;
	g_assert_cmpint(state_load(vga_class.state, b->vga, sa->data, sa->len, &error), ==, 0);
	GByteArray *sb = save(b->vga);
	g_assert_cmpmem(sa->data, sa->len, sb->data, sb->len);
	render(a, NULL);
	render(b, NULL);
	check_text(b, &mode_03h, s, 80, 25, 9, 16, false);
	/* both continue alike: the flip-flop and the DAC cycle came along */
	outb(a, 0x3C0, 0x07);
	outb(b, 0x3C0, 0x07);
	outb(a, 0x3C9, 0x22);
	outb(b, 0x3C9, 0x22);
	outb(a, 0x3C9, 0x33);
	outb(b, 0x3C9, 0x33);
	g_byte_array_free(sa, TRUE);
	g_byte_array_free(sb, TRUE);
	sa = save(a->vga);
	sb = save(b->vga);
	g_assert_cmpmem(sa->data, sa->len, sb->data, sb->len);
	/* a VBE mode that does not fit this VRAM is refused with a message */
	vbe_set(a, 2560, 1600, 32, 0x40);
	g_byte_array_free(sa, TRUE);
	sa = save(a->vga);
	struct fake_env *env = fake_env_new(-1, -1);
	struct vga *small = vga_class.create(&env->ctx);
	g_assert_cmpint(vga_set_vram_mib(small, 4), ==, 0);
	g_assert_cmpint(state_load(vga_class.state, small, sa->data, sa->len, &error), ==, -1);
	g_assert_nonnull(error);
	g_free(error);
	vga_class.destroy(small);
	fake_env_free(env);
	g_byte_array_free(sa, TRUE);
	g_byte_array_free(sb, TRUE);
	g_free(s);
	t_free(a);
	t_free(b);
}

/* ==== hostile input ==== */

static void check_surface_sane(struct t *t)
{
	const struct vga_surface *s = vga_surface(t->vga);
	g_assert_cmpuint(s->width, <=, 4096);
	g_assert_cmpuint(s->height, <=, 4096);
	g_assert_nonnull(s->pixels);
}

/* Garbage blanks the screen most of the time (palette address source off, SR01 screen off);
 * turn it back on so that the renderers see the garbage timings. */
static void display_on(struct t *t, GRand *r)
{
	inb(t, 0x3BA);
	inb(t, 0x3DA);
	outb(t, 0x3C0, 0x20 | g_rand_int_range(r, 0, 0x20));
	outb(t, 0x3C0, g_rand_int(r));
	outb(t, 0x3C0, 0x20);
	seq(t, 1, g_rand_int(r) & ~0x20);
	if (g_rand_boolean(r))
		vbe(t, 4, 0);
}

/* A VBE mode of random size and depth, on if it fits, shown from random offsets. */
static void random_vbe_mode(struct t *t, GRand *r)
{
	static const unsigned depths[] = { 8, 15, 16, 24, 32, 7, 0, 65535 };
	vbe(t, 4, 0);
	vbe(t, 1, g_rand_int_range(r, 0, 3000));
	vbe(t, 2, g_rand_int_range(r, 0, 2000));
	vbe(t, 3, depths[g_rand_int_range(r, 0, G_N_ELEMENTS(depths))]);
	vbe(t, 4, g_rand_int(r) | 1);
	vbe(t, 6, g_rand_int_range(r, 0, 6000));
	vbe(t, 8, g_rand_int_range(r, 0, 3000));
	vbe(t, 9, g_rand_int(r));
	vbe(t, 5, g_rand_int(r));
}

static void hostile_ports(struct t *t, GRand *r, unsigned *kinds)
{
	static const unsigned widths[] = { 1, 2, 4 };
	for (uint16_t port = 0x3B0; port < 0x3E0; port++) {
		for (size_t w = 0; w < G_N_ELEMENTS(widths); w++) {
			uint64_t v;
			bus_write(t->env->io, port, widths[w], g_rand_int(r));
			bus_read(t->env->io, port, widths[w], &v);
		}
		render(t, NULL);
		check_surface_sane(t);
		display_on(t, r);
		render(t, NULL);
		check_surface_sane(t);
		*kinds |= 1u << (vga_surface(t->vga)->width % 9 == 0); /* 9-dot text seen */
	}
	for (int i = 0; i < 64; i++) {
		uint64_t v;
		uint16_t port = 0x1CE + g_rand_int_range(r, 0, 3);
		unsigned w = widths[g_rand_int_range(r, 0, 3)];
		if (i % 3 == 0)
			bus_write(t->env->io, 0x1CE, 2, g_rand_int_range(r, 0, 16));
		bus_write(t->env->io, port, w, g_rand_int(r));
		bus_read(t->env->io, port, w, &v);
		render(t, NULL);
		check_surface_sane(t);
	}
}

static void hostile_memory(struct t *t, GRand *r)
{
	for (int i = 0; i < 2000; i++) {
		uint64_t v;
		uint32_t a = WIN + g_rand_int_range(r, 0, 0x20000);
		unsigned w = 1u << g_rand_int_range(r, 0, 4);
		bus_write(t->mmio, a & ~(uint32_t)(w - 1), w, g_rand_int(r));
		bus_read(t->mmio, a & ~(uint32_t)(w - 1), w, &v);
		uint64_t lfb = g_rand_int_range(r, 0, 1 << 24) & ~7u;
		bus_write(t->mmio, LFB_GPA + lfb, 8, g_rand_int(r));
		bus_write(t->mmio, MMIO_GPA + g_rand_int_range(r, 0, 0x1000), 1, g_rand_int(r));
	}
}

/* Every port in every width with garbage, the DISPI pair likewise, random VBE modes, the
 * legacy window, the LFB and BAR2 with garbage, rendering after each step. The guard pages
 * around VRAM fault on any access outside it; ASan watches the rest. */
static void test_hostile(void)
{
	struct t *t = t_new();
	pci_map_bars(t);
	GRand *r = g_rand_new_with_seed(0x3DA);
	char text[64];
	unsigned kinds = 0, vbe_on = 0;
	for (int round = 0; round < 8; round++) {
		hostile_ports(t, r, &kinds);
		hostile_memory(t, r);
		render(t, NULL);
		check_surface_sane(t);
		vga_text_snapshot(t->vga, text, sizeof(text));
		for (int i = 0; i < 8; i++) {
			random_vbe_mode(t, r);
			vbe_on += vbe_read(t, 4) & 1;
			hostile_memory(t, r);
			render(t, NULL);
			check_surface_sane(t);
		}
	}
	g_assert_cmpuint(kinds, ==, 3); /* both 9-dot text and other widths were drawn */
	g_assert_cmpuint(vbe_on, >, 0);
	vga_lfb_dirty(t->vga, (16u << 20) - 8, 1 << 20); /* runs past VRAM: clipped */
	vga_lfb_dirty(t->vga, ~0ull - 4, 100);
	render(t, NULL);
	g_rand_free(r);
	t_free(t);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/vga/regs/sequencer", test_sequencer);
	g_test_add_func("/vga/regs/graphics-controller", test_graphics_controller);
	g_test_add_func("/vga/regs/attribute-flipflop", test_attribute_flipflop);
	g_test_add_func("/vga/regs/crtc-protect", test_crtc_protect);
	g_test_add_func("/vga/regs/crtc-decode-misc", test_crtc_decode);
	g_test_add_func("/vga/regs/dac-cycle", test_dac_cycle);
	g_test_add_func("/vga/regs/retrace", test_retrace);
	g_test_add_func("/vga/mem/write-mode0", test_write_mode0);
	g_test_add_func("/vga/mem/write-mode1", test_write_mode1);
	g_test_add_func("/vga/mem/write-mode2", test_write_mode2);
	g_test_add_func("/vga/mem/write-mode3", test_write_mode3);
	g_test_add_func("/vga/mem/read-modes", test_read_modes);
	g_test_add_func("/vga/mem/chain4", test_chain4);
	g_test_add_func("/vga/mem/odd-even", test_odd_even);
	g_test_add_func("/vga/mem/memory-maps", test_memory_maps);
	g_test_add_func("/vga/render/text-80x25", test_render_text);
	g_test_add_func("/vga/render/text-80x50", test_render_text_80x50);
	g_test_add_func("/vga/render/cursor", test_render_cursor);
	g_test_add_func("/vga/render/text-snapshot", test_text_snapshot);
	g_test_add_func("/vga/render/mode-0dh", test_render_mode0dh);
	g_test_add_func("/vga/render/mode-12h", test_render_mode12h);
	g_test_add_func("/vga/render/mode-13h", test_render_mode13h);
	g_test_add_func("/vga/vbe/id-caps", test_vbe_id);
	g_test_add_func("/vga/vbe/lfb-depths", test_vbe_lfb_depths);
	g_test_add_func("/vga/vbe/banked", test_vbe_banked);
	g_test_add_func("/vga/vbe/virtual-screen", test_vbe_virtual);
	g_test_add_func("/vga/vbe/refused", test_vbe_refused);
	g_test_add_func("/vga/vbe/small-vram", test_vbe_small_vram);
	g_test_add_func("/vga/dirty/text", test_dirty_text);
	g_test_add_func("/vga/dirty/lfb", test_dirty_lfb);
	g_test_add_func("/vga/pci/config-and-lfb-hooks", test_pci_config);
	g_test_add_func("/vga/pci/mmio-bar", test_pci_mmio);
	g_test_add_func("/vga/state/round-trip", test_state_round_trip);
	g_test_add_func("/vga/hostile/garbage", test_hostile);
	return g_test_run();
}
