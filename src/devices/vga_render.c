/*
 * The picture: what the CRT controller, attribute controller and DAC would send to a monitor,
 * drawn into an XRGB8888 surface at the mode's dot resolution (720x400 for 80x25 text, 640x400
 * for modes 0Dh and 13h, whose pixels are doubled by the dot clock and double scanning, as
 * QEMU shows them), or the VBE mode's own. Only what changed is redrawn: text cells are
 * compared with what was last drawn in them; graphics lines look at the VRAM dirt that the
 * legacy window, the LFB bus path and KVM's dirty log leave; register, palette and font
 * changes redraw everything.
 */
#include <glib.h>
#include <string.h>

#include "devices/vga_internal.h"

#define VGA_SURFACE_MAX 4096
#define VGA_BLANK_W 640
#define VGA_BLANK_H 480
#define VGA_FRAME_NS 14285714ull /* 70 Hz: the blink counters count these frames */

/* IBM VGA: the cursor blinks at 1/16 and blinking characters at 1/32 of the frame rate */
#define CURSOR_BLINK_SHIFT 3
#define CHAR_BLINK_SHIFT 4

/* ---- colours ---- */

struct vga_colors {
	uint32_t dac[256]; /* DAC entry to XRGB, through the pixel mask */
	uint32_t attr[16]; /* 4-bit attribute colour to XRGB, through the attribute controller */
};

/* 6-bit DAC values to 8 bits the way QEMU shows them (the low bit fills the two new ones),
 * so that screenshots of the same guest compare exactly. */
static uint32_t vga_dac_expand(uint8_t v, bool eight_bit)
{
	if (eight_bit)
		return v;
	v &= 0x3F;
	return (uint32_t)(v << 2 | (v & 1) * 3);
}

/* Attribute controller (IBM VGA, attribute registers 10h, 12h, 14h): colour plane enable
 * masks the colour, the palette register maps it to 6 bits, and the colour select register
 * supplies bits 7:6 (and 5:4 instead of the palette's when mode control bit 7 is set). */
static uint8_t vga_attr_to_dac(const struct vga *vga, unsigned c)
{
	uint8_t v = vga->ac[c & vga->ac[0x12] & 0x0F];
	if (vga->ac[0x10] & 0x80)
		v = (v & 0x0F) | (vga->ac[0x14] & 0x03) << 4;
	return v | (vga->ac[0x14] & 0x0C) << 4;
}

static void vga_colors_compute(const struct vga *vga, struct vga_colors *col)
{
	bool eight = vga->vbe[VBE_ENABLE] & VBE_8BIT_DAC;
	for (unsigned i = 0; i < 256; i++) {
		const uint8_t *e = &vga->palette[(i & vga->dac_mask) * 3];
		col->dac[i] = vga_dac_expand(e[0], eight) << 16 | vga_dac_expand(e[1], eight) << 8 |
			      vga_dac_expand(e[2], eight);
	}
	for (unsigned i = 0; i < 16; i++)
		col->attr[i] = col->dac[vga_attr_to_dac(vga, i)];
}

/* ---- what the registers say is on screen ---- */

static void vga_disp_blank(const struct vga *vga, struct vga_disp *d)
{
	memset(d, 0, sizeof(*d));
	d->kind = VGA_DISP_BLANK;
	d->width = vga->surface.width ? vga->surface.width : VGA_BLANK_W;
	d->height = vga->surface.height ? vga->surface.height : VGA_BLANK_H;
}

static void vga_disp_vbe(const struct vga *vga, struct vga_disp *d)
{
	unsigned bytes = vga_vbe_bytes_pp(vga->vbe[VBE_BPP]);
	d->kind = VGA_DISP_VBE;
	d->width = vga->vbe[VBE_XRES];
	d->height = vga->vbe[VBE_YRES];
	d->bpp = vga->vbe[VBE_BPP];
	d->line_bytes = vga->vbe[VBE_VIRT_WIDTH] * bytes;
	d->base = (uint64_t)vga->vbe[VBE_Y_OFFSET] * d->line_bytes +
		  (uint64_t)vga->vbe[VBE_X_OFFSET] * bytes;
}

/* Character map select (SR03): maps 0-3 at 0, 16, 32, 48 KiB of plane 2, maps 4-7 at 8, 24,
 * 40, 56 KiB. Map A serves attribute bit 3 = 1, map B bit 3 = 0. */
static unsigned vga_font_base(unsigned map)
{
	return ((map & 3) * 2 + (map >> 2)) * 0x2000;
}

static void vga_disp_text(const struct vga *vga, struct vga_disp *d)
{
	uint8_t sr3 = vga->seq[3];
	d->kind = VGA_DISP_TEXT;
	d->width = d->cols * d->cell_w * d->hdouble;
	d->font_a = vga_font_base((sr3 >> 5 & 1) << 2 | (sr3 >> 2 & 3));
	d->font_b = vga_font_base((sr3 >> 4 & 1) << 2 | (sr3 & 3));
	d->line_graphics = vga->ac[0x10] & 0x04;
	d->blink_enabled = vga->ac[0x10] & 0x08;
	d->mono_underline = vga->ac[0x10] & 0x02;
	d->underline = vga->crtc[0x14] & 0x1F;
}

/* GR05 bit 6: 256 colours; bit 5: shift register interleave (CGA 4-colour modes). */
static void vga_disp_graphics(const struct vga *vga, struct vga_disp *d)
{
	d->kind = (vga->gc[5] & 0x40)	? VGA_DISP_256
		  : (vga->gc[5] & 0x20) ? VGA_DISP_CGA
					: VGA_DISP_PLANAR;
	d->cell_w = 8;
	d->width = d->cols * 8 * d->hdouble;
}

/*
 * CRT controller: CR01 horizontal display end (characters), CR12 + CR07 bits 1/6 vertical
 * display end (scan lines), CR09 maximum scan line and double scan, CR0C/0D start address,
 * CR13 offset (the address advances by twice it per character row), CR14 bit 6 doubleword
 * and CR17 bit 6 byte/word addressing, CR17 bit 5 address wrap, CR17 bits 0/1 row scan
 * substitution. SR01: 8/9-dot characters (bit 0), dot clock halved (bit 3), screen off
 * (bit 5). A palette address source of 0 (attribute index bit 5) blanks the screen.
 */
static void vga_disp_compute(const struct vga *vga, struct vga_disp *d)
{
	const uint8_t *cr = vga->crtc;
	memset(d, 0, sizeof(*d));
	if (vga_vbe_enabled(vga)) {
		vga_disp_vbe(vga, d);
		return;
	}
	if (!(vga->ac_index & 0x20) || (vga->seq[1] & 0x20)) {
		vga_disp_blank(vga, d);
		return;
	}
	d->cols = cr[0x01] + 1u;
	d->cell_w = (vga->seq[1] & 0x01) ? 8 : 9;
	d->hdouble = (vga->seq[1] & 0x08) ? 2 : 1;
	d->height = (cr[0x12] | (cr[0x07] & 0x02) << 7 | (cr[0x07] & 0x40) << 3) + 1u;
	d->char_h = (cr[0x09] & 0x1F) + 1u;
	d->vdouble = (cr[0x09] & 0x80) ? 2 : 1;
	d->start = cr[0x0C] << 8 | cr[0x0D];
	d->row_ma = cr[0x13] * 2u;
	d->addr_mode = (cr[0x14] & 0x40) ? 2 : (cr[0x17] & 0x40) ? 0 : 1;
	d->wrap_bit = (cr[0x17] & 0x20) ? 15 : 13;
	d->subst = ~cr[0x17] & 3;
	if (vga->gc[6] & 0x01)
		vga_disp_graphics(vga, d);
	else
		vga_disp_text(vga, d);
	if (d->width > VGA_SURFACE_MAX || d->height > VGA_SURFACE_MAX)
		vga_disp_blank(vga, d);
}

/* The plane offset the CRT controller reads for memory address MA on row scan RS: byte, word
 * or doubleword rotation, then CR17's substitution of row scan bits 0/1 for address bits
 * 13/14 (the CGA modes' interleaved rows). */
static uint32_t vga_crtc_addr(const struct vga_disp *d, uint32_t ma, unsigned rs)
{
	uint32_t a;
	ma &= 0xFFFF;
	if (d->addr_mode == 2)
		a = ma << 2 | (ma >> 14 & 3);
	else if (d->addr_mode == 1)
		a = ma << 1 | (ma >> d->wrap_bit & 1);
	else
		a = ma;
	if (d->subst & 1)
		a = (a & ~0x2000u) | (rs & 1) << 13;
	if (d->subst & 2)
		a = (a & ~0x4000u) | (rs & 2) << 13;
	return a & VGA_PLANE_MASK;
}

/* ---- surface and dirty rectangles ---- */

static void vga_surface_resize(struct vga *vga, unsigned w, unsigned h)
{
	g_free(vga->surface.pixels);
	vga->surface.pixels = g_new0(uint32_t, (size_t)w * h);
	vga->surface.width = w;
	vga->surface.height = h;
	vga->surface.stride = w * 4;
	g_free(vga->text_cache);
	vga->text_cache = NULL;
	vga->text_cache_len = 0;
}

static uint32_t *vga_row(struct vga *vga, unsigned y)
{
	return vga->surface.pixels + (size_t)y * vga->surface.width;
}

/* Adds a changed area; rows come top to bottom, so a rectangle directly below the last one
 * with the same columns extends it. Past the table's end the last one grows to cover all. */
static void vga_dirty_add(struct vga_dirty *out, unsigned x, unsigned y, unsigned w, unsigned h)
{
	struct vga_rect *last = out->nrects ? &out->rects[out->nrects - 1] : NULL;
	if (last && last->x == x && last->w == w && last->y + last->h == y) {
		last->h += h;
	} else if (out->nrects < VGA_DIRTY_MAX_RECTS) {
		out->rects[out->nrects++] = (struct vga_rect){ x, y, w, h };
	} else {
		unsigned x1 = MAX(last->x + last->w, x + w), y1 = MAX(last->y + last->h, y + h);
		last->x = MIN(last->x, x);
		last->y = MIN(last->y, y);
		last->w = x1 - last->x;
		last->h = y1 - last->y;
	}
}

static bool vga_granule_dirty(const struct vga *vga, uint64_t byte)
{
	uint64_t g = byte >> VGA_DIRTY_SHIFT;
	return vga->dirty[g / 64] >> (g % 64) & 1;
}

/* The first and last dirty granules of VRAM bytes [START, START + LEN), word by word. */
static bool vga_dirty_span(const struct vga *vga, uint64_t start, uint64_t len, uint64_t *first,
			   uint64_t *last)
{
	uint64_t g0 = start >> VGA_DIRTY_SHIFT, g1 = (start + len - 1) >> VGA_DIRTY_SHIFT;
	bool found = false;
	for (uint64_t w = g0 / 64; w <= g1 / 64; w++) {
		uint64_t m = vga->dirty[w];
		if (w == g0 / 64)
			m &= ~0ull << (g0 % 64);
		if (w == g1 / 64)
			m &= ~0ull >> (63 - g1 % 64);
		if (!m)
			continue;
		if (!found)
			*first = w * 64 + __builtin_ctzll(m);
		*last = w * 64 + 63 - __builtin_clzll(m);
		found = true;
	}
	return found;
}

/* ---- text ---- */

/* What a cell shows, so that an unchanged cell is not drawn again: character, attribute,
 * whether blinking hides its foreground, and the cursor's shape when it is in the cell. */
#define CELL_VALID (1u << 31)
#define CELL_BLINK_OFF (1u << 16)
#define CELL_CURSOR (1u << 17)

struct vga_text {
	const struct vga_disp *d;
	const struct vga_colors *col;
	unsigned cw, ch; /* cell size in surface pixels */
	unsigned cursor_ma, cursor_start, cursor_end;
	bool cursor_on, blink_on;
};

/* One scan line L of a cell: 8 glyph bits and the ninth dot (bit 0), and the underline. */
static unsigned vga_text_bits(struct vga *vga, const struct vga_disp *d, uint32_t key, unsigned l)
{
	unsigned chr = key & 0xFF, attr = key >> 8 & 0xFF;
	unsigned font = (attr & 0x08) ? d->font_a : d->font_b;
	unsigned bits = vga->vram[((font + chr * 32 + (l & 31)) & VGA_PLANE_MASK) * 4 + 2] << 1;
	if (d->cell_w == 9 && d->line_graphics && chr >= 0xC0 && chr <= 0xDF)
		bits |= bits >> 1 & 1; /* line graphics: the ninth dot repeats the eighth */
	if (d->mono_underline && (attr & 0x77) == 0x01 && l == d->underline)
		bits = 0x1FF;
	return bits;
}

/* The cursor's lines are solid in the foreground colour, blinking or not. */
static void vga_text_cell(struct vga *vga, const struct vga_text *t, unsigned row, unsigned c,
			  uint32_t key)
{
	const struct vga_disp *d = t->d;
	unsigned attr = key >> 8 & 0xFF;
	unsigned bg = d->blink_enabled ? (attr >> 4 & 7) : attr >> 4;
	uint32_t fgc = t->col->attr[attr & 15], bgc = t->col->attr[bg];
	uint32_t glyphc = (key & CELL_BLINK_OFF) ? bgc : fgc;
	unsigned y0 = row * t->ch, x0 = c * t->cw;
	for (unsigned y = 0; y < t->ch && y0 + y < d->height; y++) {
		unsigned l = y / d->vdouble;
		bool cursor = (key & CELL_CURSOR) && l >= t->cursor_start && l <= t->cursor_end;
		unsigned bits = cursor ? 0x1FF : vga_text_bits(vga, d, key, l);
		uint32_t on = cursor ? fgc : glyphc;
		uint32_t *px = vga_row(vga, y0 + y) + x0;
		for (unsigned x = 0; x < t->cw; x++)
			px[x] = (bits >> (8 - x / d->hdouble) & 1) ? on : bgc;
	}
}

static uint32_t vga_text_key(struct vga *vga, const struct vga_text *t, uint32_t ma)
{
	uint32_t a = vga_crtc_addr(t->d, ma, 0);
	uint32_t chr = vga->vram[a * 4], attr = vga->vram[a * 4 + 1];
	uint32_t key = CELL_VALID | chr | attr << 8;
	if (t->d->blink_enabled && (attr & 0x80) && !t->blink_on)
		key |= CELL_BLINK_OFF;
	if (t->cursor_on && (ma & 0xFFFF) == t->cursor_ma)
		key |= CELL_CURSOR | t->cursor_start << 18 | t->cursor_end << 23;
	return key;
}

/* CR0A: cursor start (bits 4:0) and cursor off (bit 5); CR0B: cursor end; CR0E/0F: where.
 * A start below the end shows no cursor. */
static void vga_text_cursor(struct vga *vga, struct vga_text *t, uint64_t frame)
{
	t->cursor_ma = vga->crtc[0x0E] << 8 | vga->crtc[0x0F];
	t->cursor_start = vga->crtc[0x0A] & 0x1F;
	t->cursor_end = MIN(vga->crtc[0x0B] & 0x1Fu, t->d->char_h - 1);
	t->cursor_on = !(vga->crtc[0x0A] & 0x20) && t->cursor_start <= t->cursor_end &&
		       (frame >> CURSOR_BLINK_SHIFT & 1);
	t->blink_on = frame >> CHAR_BLINK_SHIFT & 1;
}

static void vga_render_text(struct vga *vga, const struct vga_disp *d,
			    const struct vga_colors *col, bool full, uint64_t frame,
			    struct vga_dirty *out)
{
	struct vga_text t = { d, col, d->cell_w * d->hdouble, d->char_h * d->vdouble };
	unsigned rows = (d->height + t.ch - 1) / t.ch;
	if (vga->text_cache_len != (size_t)rows * d->cols) {
		g_free(vga->text_cache);
		vga->text_cache_len = (size_t)rows * d->cols;
		vga->text_cache = g_new0(uint32_t, vga->text_cache_len);
	}
	vga_text_cursor(vga, &t, frame);
	for (unsigned r = 0; r < rows; r++) {
		unsigned c0 = d->cols, c1 = 0;
		uint32_t *cache = &vga->text_cache[(size_t)r * d->cols];
		for (unsigned c = 0; c < d->cols; c++) {
			uint32_t key = vga_text_key(vga, &t, d->start + r * d->row_ma + c);
			if (!full && cache[c] == key)
				continue;
			cache[c] = key;
			vga_text_cell(vga, &t, r, c, key);
			c0 = MIN(c0, c);
			c1 = c;
		}
		if (c0 <= c1)
			vga_dirty_add(out, c0 * t.cw, r * t.ch, (c1 - c0 + 1) * t.cw,
				      MIN(t.ch, d->height - r * t.ch));
	}
}

/* ---- VGA graphics ---- */

/* Eight dots of one character clock from the four plane bytes P. */
static void vga_dots_planar(const uint8_t p[4], const struct vga_colors *col, uint32_t out[8])
{
	for (unsigned i = 0; i < 8; i++) {
		unsigned s = 7 - i;
		unsigned c = (p[0] >> s & 1) | (p[1] >> s & 1) << 1 | (p[2] >> s & 1) << 2 |
			     (p[3] >> s & 1) << 3;
		out[i] = col->attr[c];
	}
}

/* Shift register interleave: two bits per pixel, four pixels from plane 0 then four from
 * plane 1, planes 2 and 3 giving the upper two bits. */
static void vga_dots_cga(const uint8_t p[4], const struct vga_colors *col, uint32_t out[8])
{
	for (unsigned i = 0; i < 8; i++) {
		unsigned s = 6 - 2 * (i & 3), lo = i < 4 ? p[0] : p[1], hi = i < 4 ? p[2] : p[3];
		out[i] = col->attr[(lo >> s & 3) | (hi >> s & 3) << 2];
	}
}

/* 256 colours: planes 0-3 are four pixels of two dots each, straight to the DAC. */
static void vga_dots_256(const uint8_t p[4], const struct vga_colors *col, uint32_t out[8])
{
	for (unsigned i = 0; i < 8; i++)
		out[i] = col->dac[p[i / 2]];
}

static void (*const vga_dots[VGA_DISP_KINDS])(const uint8_t[4], const struct vga_colors *,
					       uint32_t[8]) = {
	[VGA_DISP_PLANAR] = vga_dots_planar,
	[VGA_DISP_CGA] = vga_dots_cga,
	[VGA_DISP_256] = vga_dots_256,
};

/* One scan line: character clocks whose memory is dirty (all of them when FULL). */
static void vga_graphics_line(struct vga *vga, const struct vga_disp *d,
			      const struct vga_colors *col, unsigned y, bool full,
			      struct vga_dirty *out)
{
	unsigned y2 = y / d->vdouble, rs = y2 % d->char_h;
	uint32_t ma = d->start + (y2 / d->char_h) * d->row_ma;
	unsigned cw = 8 * d->hdouble, c0 = d->cols, c1 = 0;
	uint32_t *px = vga_row(vga, y);
	for (unsigned c = 0; c < d->cols; c++) {
		uint32_t a = vga_crtc_addr(d, ma + c, rs);
		if (!full && !vga_granule_dirty(vga, a * 4))
			continue;
		uint32_t dots[8];
		vga_dots[d->kind](&vga->vram[a * 4], col, dots);
		for (unsigned x = 0; x < cw; x++)
			px[c * cw + x] = dots[x / d->hdouble];
		c0 = MIN(c0, c);
		c1 = c;
	}
	if (c0 <= c1)
		vga_dirty_add(out, c0 * cw, y, (c1 - c0 + 1) * cw, 1);
}

static void vga_render_graphics(struct vga *vga, const struct vga_disp *d,
				const struct vga_colors *col, bool full, uint64_t frame,
				struct vga_dirty *out)
{
	for (unsigned y = 0; y < d->height; y++)
		vga_graphics_line(vga, d, col, y, full, out);
}

/* ---- VBE ---- */

static uint32_t vbe_pixel_8(const uint8_t *p, const struct vga_colors *col)
{
	return col->dac[p[0]];
}

/* 15 bpp: the fields in the top bits of each 8-bit channel, low bits zero (as QEMU 7.2). */
static uint32_t vbe_pixel_15(const uint8_t *p, const struct vga_colors *col)
{
	unsigned v = p[0] | p[1] << 8;
	return (v >> 10 & 31) << 19 | (v >> 5 & 31) << 11 | (v & 31) << 3;
}

/* 5:6:5 widened to 8 bits a channel by repeating the high bits in the low ones, so that
 * 0xFFFF is white (this is also what QEMU's renderer shows) */
static uint32_t vbe_pixel_16(const uint8_t *p, const struct vga_colors *col)
{
	unsigned v = p[0] | p[1] << 8;
	unsigned r = v >> 11 & 31, g = v >> 5 & 63, b = v & 31;
	return (r << 3 | r >> 2) << 16 | (g << 2 | g >> 4) << 8 | (b << 3 | b >> 2);
}

/* 24 and 32 bpp: blue, green, red in memory order (and an unused byte) */
static uint32_t vbe_pixel_rgb(const uint8_t *p, const struct vga_colors *col)
{
	return (uint32_t)p[2] << 16 | p[1] << 8 | p[0];
}

static uint32_t (*vbe_pixel_fn(unsigned bpp))(const uint8_t *, const struct vga_colors *)
{
	static const struct {
		unsigned bpp;
		uint32_t (*fn)(const uint8_t *, const struct vga_colors *);
	} table[] = {
		{ 8, vbe_pixel_8 },    { 15, vbe_pixel_15 },  { 16, vbe_pixel_16 },
		{ 24, vbe_pixel_rgb }, { 32, vbe_pixel_rgb },
	};
	for (size_t i = 0; i < G_N_ELEMENTS(table); i++)
		if (table[i].bpp == bpp)
			return table[i].fn;
	return vbe_pixel_8;
}

/* The columns of line Y whose bytes are dirty, as [X0, X1). */
static bool vbe_line_span(struct vga *vga, uint64_t off, unsigned w, unsigned bytes, bool full,
			  unsigned *x0, unsigned *x1)
{
	uint64_t g0, g1;
	*x0 = 0;
	*x1 = w;
	if (full)
		return true;
	if (!vga_dirty_span(vga, off, (uint64_t)w * bytes, &g0, &g1))
		return false;
	uint64_t b0 = g0 << VGA_DIRTY_SHIFT, b1 = (g1 + 1) << VGA_DIRTY_SHIFT;
	*x0 = b0 > off ? (b0 - off) / bytes : 0;
	*x1 = MIN((b1 - off + bytes - 1) / bytes, w);
	return true;
}

/* Lines that run past the end of VRAM (a guest's offsets cannot put them there; clipping
 * keeps it so) show black. */
static void vga_render_vbe(struct vga *vga, const struct vga_disp *d, const struct vga_colors *col,
			   bool full, uint64_t frame, struct vga_dirty *out)
{
	unsigned bytes = vga_vbe_bytes_pp(d->bpp), x0, x1;
	uint32_t (*pixel)(const uint8_t *, const struct vga_colors *) = vbe_pixel_fn(d->bpp);
	for (unsigned y = 0; y < d->height; y++) {
		uint64_t off = d->base + (uint64_t)y * d->line_bytes;
		uint32_t *px = vga_row(vga, y);
		if (off + (uint64_t)d->width * bytes > vga->vram_size) {
			if (full)
				memset(px, 0, (size_t)d->width * 4);
			continue;
		}
		if (!vbe_line_span(vga, off, d->width, bytes, full, &x0, &x1))
			continue;
		for (unsigned x = x0; x < x1; x++)
			px[x] = pixel(vga->vram + off + (uint64_t)x * bytes, col);
		vga_dirty_add(out, x0, y, x1 - x0, 1);
	}
}

static void vga_render_blank(struct vga *vga, const struct vga_disp *d,
			     const struct vga_colors *col, bool full, uint64_t frame,
			     struct vga_dirty *out)
{
	if (!full)
		return;
	/* a surface just allocated is black already (g_new0): clearing it again would make its
	 * pages resident, 1.2 MB at 640x480, for a screen that may never be looked at */
	if (!out->resized)
		memset(vga->surface.pixels, 0, (size_t)d->width * d->height * 4);
	vga_dirty_add(out, 0, 0, d->width, d->height);
}

static void (*const vga_renderers[VGA_DISP_KINDS])(struct vga *, const struct vga_disp *,
						   const struct vga_colors *, bool, uint64_t,
						   struct vga_dirty *) = {
	[VGA_DISP_BLANK] = vga_render_blank,   [VGA_DISP_TEXT] = vga_render_text,
	[VGA_DISP_PLANAR] = vga_render_graphics, [VGA_DISP_CGA] = vga_render_graphics,
	[VGA_DISP_256] = vga_render_graphics,  [VGA_DISP_VBE] = vga_render_vbe,
};

/* ---- entry points ---- */

/* The frame counter that blinking follows: the device's clock, else one frame per render. */
static uint64_t vga_frame(struct vga *vga)
{
	return vga->clock ? clock_ns(vga->clock) / VGA_FRAME_NS : vga->render_count;
}

/* A new mode: a new size maybe, and everything drawn again. */
static bool vga_render_prepare(struct vga *vga, struct vga_disp *d, struct vga_dirty *out)
{
	vga_disp_compute(vga, d);
	bool full = vga->full_redraw || !vga->have_disp || memcmp(d, &vga->disp, sizeof(*d));
	if (d->kind == VGA_DISP_TEXT && vga->font_dirty)
		full = true;
	if (d->width != vga->surface.width || d->height != vga->surface.height) {
		vga_surface_resize(vga, d->width, d->height);
		out->resized = true;
		full = true;
	}
	vga->disp = *d;
	vga->have_disp = true;
	return full;
}

bool vga_render(struct vga *vga, struct vga_dirty *out)
{
	pthread_mutex_lock(&vga->lock);
	void (*sync)(void *) = vga->lfb_sync;
	void *sync_opaque = vga->lfb_sync_opaque;
	pthread_mutex_unlock(&vga->lock);
	if (sync)
		sync(sync_opaque); /* KVM's dirty log into vga_lfb_dirty(), which locks */

	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&vga->lock);
	struct vga_disp d;
	struct vga_colors col;
	bool full = vga_render_prepare(vga, &d, out);
	vga_colors_compute(vga, &col);
	vga_renderers[d.kind](vga, &d, &col, full, vga_frame(vga), out);
	if (vga->dirty_any)
		memset(vga->dirty, 0, vga->dirty_words * sizeof(uint64_t));
	vga->dirty_any = vga->full_redraw = vga->font_dirty = false;
	vga->render_count++;
	pthread_mutex_unlock(&vga->lock);
	return out->resized || out->nrects;
}

const struct vga_surface *vga_surface(struct vga *vga)
{
	return &vga->surface;
}

void vga_render_free(struct vga *vga)
{
	g_free(vga->surface.pixels);
	g_free(vga->text_cache);
	vga->surface = (struct vga_surface){ 0 };
	vga->text_cache = NULL;
}

/* ---- the text screen as text ---- */

/* Code page 437 below 0x20, at 0x7F and above, as Unicode; 0x00 shows as a blank. */
static const uint16_t cp437_low[32] = {
	0x0020, 0x263A, 0x263B, 0x2665, 0x2666, 0x2663, 0x2660, 0x2022, 0x25D8, 0x25CB, 0x25D9,
	0x2642, 0x2640, 0x266A, 0x266B, 0x263C, 0x25BA, 0x25C4, 0x2195, 0x203C, 0x00B6, 0x00A7,
	0x25AC, 0x21A8, 0x2191, 0x2193, 0x2192, 0x2190, 0x221F, 0x2194, 0x25B2, 0x25BC,
};

static const uint16_t cp437_high[129] = {
	0x2302, /* 0x7F */
	0x00C7, 0x00FC, 0x00E9, 0x00E2, 0x00E4, 0x00E0, 0x00E5, 0x00E7, 0x00EA, 0x00EB, 0x00E8,
	0x00EF, 0x00EE, 0x00EC, 0x00C4, 0x00C5, 0x00C9, 0x00E6, 0x00C6, 0x00F4, 0x00F6, 0x00F2,
	0x00FB, 0x00F9, 0x00FF, 0x00D6, 0x00DC, 0x00A2, 0x00A3, 0x00A5, 0x20A7, 0x0192, 0x00E1,
	0x00ED, 0x00F3, 0x00FA, 0x00F1, 0x00D1, 0x00AA, 0x00BA, 0x00BF, 0x2310, 0x00AC, 0x00BD,
	0x00BC, 0x00A1, 0x00AB, 0x00BB, 0x2591, 0x2592, 0x2593, 0x2502, 0x2524, 0x2561, 0x2562,
	0x2556, 0x2555, 0x2563, 0x2551, 0x2557, 0x255D, 0x255C, 0x255B, 0x2510, 0x2514, 0x2534,
	0x252C, 0x251C, 0x2500, 0x253C, 0x255E, 0x255F, 0x255A, 0x2554, 0x2569, 0x2566, 0x2560,
	0x2550, 0x256C, 0x2567, 0x2568, 0x2564, 0x2565, 0x2559, 0x2558, 0x2552, 0x2553, 0x256B,
	0x256A, 0x2518, 0x250C, 0x2588, 0x2584, 0x258C, 0x2590, 0x2580, 0x03B1, 0x00DF, 0x0393,
	0x03C0, 0x03A3, 0x03C3, 0x00B5, 0x03C4, 0x03A6, 0x0398, 0x03A9, 0x03B4, 0x221E, 0x03C6,
	0x03B5, 0x2229, 0x2261, 0x00B1, 0x2265, 0x2264, 0x2320, 0x2321, 0x00F7, 0x2248, 0x00B0,
	0x2219, 0x00B7, 0x221A, 0x207F, 0x00B2, 0x25A0, 0x00A0,
};

static gunichar cp437_to_unicode(uint8_t c)
{
	if (c < 0x20)
		return cp437_low[c];
	return c < 0x7F ? c : cp437_high[c - 0x7F];
}

static void vga_text_row(struct vga *vga, const struct vga_disp *d, unsigned r, GString *s)
{
	gsize mark = s->len, keep = s->len;
	for (unsigned c = 0; c < d->cols; c++) {
		uint32_t a = vga_crtc_addr(d, d->start + r * d->row_ma + c, 0);
		gunichar u = cp437_to_unicode(vga->vram[a * 4]);
		g_string_append_unichar(s, u);
		if (u != ' ')
			keep = s->len;
	}
	g_string_truncate(s, MAX(keep, mark));
	g_string_append_c(s, '\n');
}

size_t vga_text_snapshot(struct vga *vga, char *buf, size_t len)
{
	GString *s = g_string_new(NULL);
	struct vga_disp d;
	pthread_mutex_lock(&vga->lock);
	vga_disp_compute(vga, &d);
	if (d.kind == VGA_DISP_TEXT) {
		unsigned rows = d.height / (d.char_h * d.vdouble);
		for (unsigned r = 0; r < rows; r++)
			vga_text_row(vga, &d, r, s);
	}
	pthread_mutex_unlock(&vga->lock);
	size_t need = s->len;
	if (len) {
		size_t n = MIN(need, len - 1);
		memcpy(buf, s->str, n);
		buf[n] = '\0';
	}
	g_string_free(s, TRUE);
	return need;
}
