/*
 * The standard VGA through the ports, the legacy window, the DISPI ports and the PCI BARs, as a
 * guest reaches it, with no BIOS: the test programs the standard modes' register values
 * itself (IBM VGA BIOS mode tables), loads its own font and checks the rendered surface pixel
 * by pixel against pictures it builds from what it wrote.
 *
 * This program: the register files and the planes (write modes, read modes, latches, memory
 * maps). test_vga_render.c renders, test_vga_vbe.c holds VBE, PCI, state and hostile guests;
 * what they share is in vga_util.c.
 */
#include <glib.h>
#include <string.h>

#include "vga_util.h"

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

static uint8_t plane(struct t *t, unsigned p, uint32_t off)
{
	return t->vram[off * 4 + p];
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
	return g_test_run();
}
