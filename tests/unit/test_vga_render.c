/*
 * The VGA's picture (see test_vga.c): text modes drawn with the test's own font, the cursor,
 * dirty cells, the text snapshot, and the 16- and 256-colour graphics modes, checked pixel by
 * pixel against pictures built from what the test wrote.
 */
#include <glib.h>
#include <string.h>

#include "vga_util.h"

/* ---- standard mode tables (IBM VGA BIOS parameter table values) ---- */

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

/* ==== rendering ==== */

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

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/vga/render/text-80x25", test_render_text);
	g_test_add_func("/vga/render/text-80x50", test_render_text_80x50);
	g_test_add_func("/vga/render/cursor", test_render_cursor);
	g_test_add_func("/vga/render/text-snapshot", test_text_snapshot);
	g_test_add_func("/vga/render/mode-0dh", test_render_mode0dh);
	g_test_add_func("/vga/render/mode-12h", test_render_mode12h);
	g_test_add_func("/vga/render/mode-13h", test_render_mode13h);
	g_test_add_func("/vga/dirty/text", test_dirty_text);
	return g_test_run();
}
