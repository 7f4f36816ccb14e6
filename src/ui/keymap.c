/*
 * Keyboard tables. The data is generated (src/ui/gen-keymap.py, see keymap.h); this file only
 * looks it up and assembles scan code sequences.
 */
#include "ui/keymap.h"

#include <glib.h>
#include <stdlib.h>
#include <string.h>

struct keymap_layout {
	const char *name;
	const struct keymap_entry *entries;
	size_t n;
};

struct keymap_name {
	const char *name;
	uint8_t qnum;
	bool alias;
};

#include "keymap_tables.h"

static const struct keymap_layout *layout_find(const char *name)
{
	for (size_t i = 0; name && i < G_N_ELEMENTS(keymap_layouts); i++)
		if (strcmp(keymap_layouts[i].name, name) == 0)
			return &keymap_layouts[i];
	return NULL;
}

bool keymap_layout_known(const char *layout)
{
	return layout_find(layout) != NULL;
}

const char *const *keymap_layout_names(void)
{
	return keymap_layout_name_list;
}

const struct keymap_entry *keymap_layout_entries(const char *layout, size_t *n)
{
	const struct keymap_layout *l = layout_find(layout);
	*n = l ? l->n : 0;
	return l ? l->entries : NULL;
}

/* The first entry for KEYSYM (entries are sorted by keysym, file order within one keysym). */
static const struct keymap_entry *entry_first(const struct keymap_layout *l, uint32_t keysym)
{
	size_t lo = 0, hi = l->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (l->entries[mid].keysym < keysym)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < l->n && l->entries[lo].keysym == keysym ? &l->entries[lo] : NULL;
}

bool keymap_keysym_lookup(const char *layout, uint32_t keysym, unsigned held, unsigned *qnum,
			  unsigned *modifiers)
{
	const struct keymap_layout *l = layout_find(layout);
	const struct keymap_entry *first = l ? entry_first(l, keysym) : NULL;
	if (!first)
		return false;
	const struct keymap_entry *pick = first;
	const unsigned mask = KEYMAP_MOD_SHIFT | KEYMAP_MOD_ALTGR;
	for (const struct keymap_entry *e = first; e < l->entries + l->n && e->keysym == keysym;
	     e++) {
		if ((e->mods & mask) == (held & mask)) {
			pick = e;
			break;
		}
	}
	*qnum = pick->qnum;
	*modifiers = pick->mods;
	return true;
}

bool keymap_keysym_to_qnum(const char *layout, uint32_t keysym, unsigned *qnum, unsigned *modifiers)
{
	const struct keymap_layout *l = layout_find(layout);
	const struct keymap_entry *e = l ? entry_first(l, keysym) : NULL;
	if (!e)
		return false;
	*qnum = e->qnum;
	*modifiers = e->mods;
	return true;
}

/* ---- scan code set 2 ---- */

static size_t put(uint8_t out[KEYMAP_SET2_MAX], const uint8_t *seq, size_t n)
{
	memcpy(out, seq, n);
	return n;
}

#define PUT(out, seq) put(out, seq, sizeof(seq))

size_t keymap_qnum_to_set2(unsigned qnum, bool down, uint8_t out[KEYMAP_SET2_MAX])
{
	if (qnum >= 256 || !keymap_set2_code[qnum])
		return 0;
	if (qnum == KEYMAP_QNUM_PRINT)
		return down ? PUT(out, keymap_set2_print_make) : PUT(out, keymap_set2_print_break);
	if (qnum == KEYMAP_QNUM_PAUSE)
		return down ? PUT(out, keymap_set2_pause_make) : 0;
	size_t n = 0;
	if (qnum & 0x80)
		out[n++] = 0xE0;
	if (!down)
		out[n++] = 0xF0;
	out[n++] = keymap_set2_code[qnum];
	return n;
}

bool keymap_kbd_is_down(const struct keymap_kbd *kbd, unsigned qnum)
{
	return qnum < 256 && (kbd->down[qnum / 8] >> (qnum % 8) & 1);
}

static bool kbd_any_down(const struct keymap_kbd *kbd, unsigned a, unsigned b)
{
	return keymap_kbd_is_down(kbd, a) || keymap_kbd_is_down(kbd, b);
}

size_t keymap_kbd_event(struct keymap_kbd *kbd, unsigned qnum, bool down,
			uint8_t out[KEYMAP_SET2_MAX])
{
	if (qnum >= 256)
		return 0;
	if (down)
		kbd->down[qnum / 8] |= 1u << (qnum % 8);
	else
		kbd->down[qnum / 8] &= ~(1u << (qnum % 8));

	bool ctrl = kbd_any_down(kbd, KEYMAP_QNUM_CTRL, KEYMAP_QNUM_CTRL_R);
	bool alt = kbd_any_down(kbd, KEYMAP_QNUM_ALT, KEYMAP_QNUM_ALTGR);
	bool shift = kbd_any_down(kbd, KEYMAP_QNUM_SHIFT, KEYMAP_QNUM_SHIFT_R);

	if (qnum == KEYMAP_QNUM_PRINT || qnum == KEYMAP_QNUM_SYSRQ) {
		if (alt)
			return down ? PUT(out, keymap_set2_sysrq_make)
				    : PUT(out, keymap_set2_sysrq_break);
		if (shift || ctrl)
			return down ? PUT(out, keymap_set2_print_mod_make)
				    : PUT(out, keymap_set2_print_mod_break);
		return down ? PUT(out, keymap_set2_print_make) : PUT(out, keymap_set2_print_break);
	}
	if (qnum == KEYMAP_QNUM_PAUSE && ctrl)
		return down ? PUT(out, keymap_set2_break_make) : 0;
	return keymap_qnum_to_set2(qnum, down, out);
}

/* ---- names ---- */

static int name_cmp(const void *key, const void *elem)
{
	return strcmp(key, ((const struct keymap_name *)elem)->name);
}

static bool parse_key(const char *tok, size_t len, unsigned *qnum)
{
	char buf[32];
	if (len == 0 || len >= sizeof(buf))
		return false;
	for (size_t i = 0; i < len; i++)
		buf[i] = g_ascii_tolower(tok[i]);
	buf[len] = 0;
	if (buf[0] == '0' && buf[1] == 'x' && buf[2]) {
		char *end;
		unsigned long v = strtoul(buf + 2, &end, 16);
		if (*end || v == 0 || v > 0xFF || !keymap_set2_code[v])
			return false;
		*qnum = v;
		return true;
	}
	const struct keymap_name *n = bsearch(buf, keymap_names, G_N_ELEMENTS(keymap_names),
					      sizeof(keymap_names[0]), name_cmp);
	if (!n)
		return false;
	*qnum = n->qnum;
	return true;
}

bool keymap_parse_combo(const char *text, unsigned qnums[], size_t *n)
{
	*n = 0;
	if (!text || !*text)
		return false;
	const char *p = text;
	for (;;) {
		const char *dash = strchr(p, '-');
		size_t len = dash ? (size_t)(dash - p) : strlen(p);
		if (*n == KEYMAP_COMBO_MAX || !parse_key(p, len, &qnums[*n])) {
			*n = 0;
			return false;
		}
		(*n)++;
		if (!dash)
			return true;
		p = dash + 1;
	}
}

const char *keymap_qnum_name(unsigned qnum)
{
	for (size_t i = 0; i < G_N_ELEMENTS(keymap_names); i++)
		if (keymap_names[i].qnum == qnum && !keymap_names[i].alias)
			return keymap_names[i].name;
	return NULL;
}
