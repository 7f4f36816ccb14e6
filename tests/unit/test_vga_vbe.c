/*
 * The VGA's Bochs VBE extensions (see test_vga.c) through the DISPI ports, the banked window
 * and the LFB BAR; the PCI function and its MMIO BAR; save and load; hostile guests.
 */
#include <glib.h>
#include <string.h>

#include "vga_util.h"

/* ==== VBE ==== */

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
	g_test_add_func("/vga/vbe/id-caps", test_vbe_id);
	g_test_add_func("/vga/vbe/lfb-depths", test_vbe_lfb_depths);
	g_test_add_func("/vga/vbe/banked", test_vbe_banked);
	g_test_add_func("/vga/vbe/virtual-screen", test_vbe_virtual);
	g_test_add_func("/vga/vbe/refused", test_vbe_refused);
	g_test_add_func("/vga/vbe/small-vram", test_vbe_small_vram);
	g_test_add_func("/vga/dirty/lfb", test_dirty_lfb);
	g_test_add_func("/vga/pci/config-and-lfb-hooks", test_pci_config);
	g_test_add_func("/vga/pci/mmio-bar", test_pci_mmio);
	g_test_add_func("/vga/state/round-trip", test_state_round_trip);
	g_test_add_func("/vga/hostile/garbage", test_hostile);
	return g_test_run();
}
