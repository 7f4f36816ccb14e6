/*
 * Keyboard tables: scan codes of particular keys, every keysym of the US and German keymap
 * files round-tripped through the i8042's translation (the bytes a guest reads at port 0x60
 * with translation on must name the key again), layout specifics and send-keys combinations.
 */
#include <glib.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "devices/i8042.h"
#include "fakes.h"
#include "ui/keymap.h"

#define KEYMAP_DIR "/usr/share/qemu/keymaps"

/* ---- the oracle: an i8042 with translation on ---- */

struct kbc {
	struct fake_env *env;
	struct i8042 *s;
};

static struct kbc *kbc_new(void)
{
	struct kbc *k = g_new0(struct kbc, 1);
	k->env = fake_env_new(1, 12);
	k->s = i8042_class.create(&k->env->ctx);
	i8042_class.reset(k->s);
	fake_map(k->env, 0x60, 1, &i8042_data_ops, k->s, &k->s->lock);
	fake_map(k->env, 0x64, 1, &i8042_cmd_ops, k->s, &k->s->lock);
	/* command byte: translation on, interrupts off (IBM PS/2 TR, command byte bit 6) */
	fake_outb(k->env, 0x64, 0x60);
	fake_outb(k->env, 0x60, 0x40);
	g_assert_cmphex(fake_inb(k->env, 0x64) & 0x01, ==, 0);
	return k;
}

static void kbc_free(struct kbc *k)
{
	i8042_class.destroy(k->s);
	fake_env_free(k->env);
	g_free(k);
}

/* Feeds set-2 BYTES to the keyboard; returns what the guest reads at port 0x60. */
static size_t kbc_translate(struct kbc *k, const uint8_t *bytes, size_t n, uint8_t *out)
{
	size_t got = 0;
	if (n)
		i8042_kbd_put_scancode(k->s, bytes, n);
	while (fake_inb(k->env, 0x64) & 0x01) {
		g_assert_cmpuint(got, <, 16);
		out[got++] = fake_inb(k->env, 0x60);
	}
	return got;
}

/*
 * Decodes one key event from set-1 bytes (IBM PC/XT codes; E0 for the extended keys, E1 1D 45
 * for Pause, E0 2A/E0 AA fake shifts around Print Screen). Returns the qnum, -1 if malformed.
 */
static int set1_decode(const uint8_t *b, size_t n, bool *down)
{
	int qnum = -1;
	for (size_t i = 0; i < n; i++) {
		if (b[i] == 0xE1 && i + 5 < n && b[i + 1] == 0x1D && b[i + 2] == 0x45) {
			/* Pause: E1 1D 45 E1 9D C5, a make with its break */
			if (b[i + 3] != 0xE1 || b[i + 4] != 0x9D || b[i + 5] != 0xC5 || qnum >= 0)
				return -1;
			*down = true;
			qnum = KEYMAP_QNUM_PAUSE;
			i += 5;
		} else if (b[i] == 0xE0 && i + 1 < n) {
			uint8_t c = b[++i];
			if ((c & 0x7F) == 0x2A || (c & 0x7F) == 0x36)
				continue; /* fake shift */
			if (qnum >= 0)
				return -1;
			*down = !(c & 0x80);
			qnum = 0x80 | (c & 0x7F);
		} else {
			if (qnum >= 0 || b[i] == 0xE0 || b[i] == 0xE1)
				return -1;
			*down = !(b[i] & 0x80);
			qnum = b[i] & 0x7F;
		}
	}
	return qnum;
}

/* The key QNUM pressed and released must come back as QNUM, make then break. */
static void check_roundtrip(struct kbc *k, unsigned qnum, const char *what)
{
	uint8_t set2[KEYMAP_SET2_MAX], set1[16];
	bool down = false;
	size_t n = keymap_qnum_to_set2(qnum, true, set2);
	if (n == 0)
		g_error("%s: qnum 0x%02x has no make code", what, qnum);
	size_t m = kbc_translate(k, set2, n, set1);
	int got = set1_decode(set1, m, &down);
	if (got != (int)qnum || !down)
		g_error("%s: qnum 0x%02x make came back as %d (%s)", what, qnum, got,
			down ? "make" : "break");
	n = keymap_qnum_to_set2(qnum, false, set2);
	if (qnum == KEYMAP_QNUM_PAUSE) {
		g_assert_cmpuint(n, ==, 0); /* no break code */
		return;
	}
	m = kbc_translate(k, set2, n, set1);
	got = set1_decode(set1, m, &down);
	if (got != (int)qnum || down)
		g_error("%s: qnum 0x%02x break came back as %d", what, qnum, got);
}

#define EXPECT_SET2(qnum, down, ...)                                                               \
	do {                                                                                       \
		const uint8_t e_[] = { __VA_ARGS__ };                                              \
		uint8_t b_[KEYMAP_SET2_MAX];                                                       \
		size_t n_ = keymap_qnum_to_set2(qnum, down, b_);                                   \
		g_assert_cmpmem(b_, n_, e_, sizeof(e_));                                           \
	} while (0)

static void test_set2_keys(void)
{
	uint8_t b[KEYMAP_SET2_MAX];
	EXPECT_SET2(0x1E, true, 0x1C); /* A */
	EXPECT_SET2(0x1E, false, 0xF0, 0x1C);
	EXPECT_SET2(0x1C, true, 0x5A); /* Return */
	EXPECT_SET2(0x1C, false, 0xF0, 0x5A);
	EXPECT_SET2(0xCB, true, 0xE0, 0x6B); /* Left Arrow */
	EXPECT_SET2(0xCB, false, 0xE0, 0xF0, 0x6B);
	EXPECT_SET2(0xC8, true, 0xE0, 0x75); /* Up Arrow */
	EXPECT_SET2(0x01, true, 0x76);       /* Esc */
	EXPECT_SET2(0x41, true, 0x83);       /* F7: the one set-2 code above 0x7F */
	EXPECT_SET2(0x41, false, 0xF0, 0x83);
	EXPECT_SET2(0x58, true, 0x07);       /* F12 */
	EXPECT_SET2(0x54, true, 0x84);       /* Alt+SysRq */
	EXPECT_SET2(KEYMAP_QNUM_PRINT, true, 0xE0, 0x12, 0xE0, 0x7C);
	EXPECT_SET2(KEYMAP_QNUM_PRINT, false, 0xE0, 0xF0, 0x7C, 0xE0, 0xF0, 0x12);
	EXPECT_SET2(KEYMAP_QNUM_PAUSE, true, 0xE1, 0x14, 0x77, 0xE1, 0xF0, 0x14, 0xF0, 0x77);
	g_assert_cmpuint(keymap_qnum_to_set2(KEYMAP_QNUM_PAUSE, false, b), ==, 0);
	/* keypad */
	EXPECT_SET2(0x4F, true, 0x69); /* KP1 / End */
	EXPECT_SET2(0x52, true, 0x70); /* KP0 */
	EXPECT_SET2(0x53, true, 0x71); /* KP. */
	EXPECT_SET2(0x37, true, 0x7C); /* KP* */
	EXPECT_SET2(0x4A, true, 0x7B); /* KP- */
	EXPECT_SET2(0x4E, true, 0x79); /* KP+ */
	EXPECT_SET2(0x45, true, 0x77); /* Num Lock */
	EXPECT_SET2(0x9C, true, 0xE0, 0x5A); /* KP Enter */
	EXPECT_SET2(0xB5, true, 0xE0, 0x4A); /* KP / */
	/* right-hand modifiers */
	EXPECT_SET2(0x9D, true, 0xE0, 0x14); /* Right Ctrl */
	EXPECT_SET2(0xB8, true, 0xE0, 0x11); /* Right Alt */
	EXPECT_SET2(0xDB, true, 0xE0, 0x1F); /* Left Windows */
	/* no key */
	g_assert_cmpuint(keymap_qnum_to_set2(0x00, true, b), ==, 0);
	g_assert_cmpuint(keymap_qnum_to_set2(0x80, true, b), ==, 0);
	g_assert_cmpuint(keymap_qnum_to_set2(0x100, true, b), ==, 0);
}

/* Every qnum with a code survives the translation, not just those the layouts use. */
static void test_all_qnums(void)
{
	struct kbc *k = kbc_new();
	uint8_t b[KEYMAP_SET2_MAX];
	unsigned keys = 0;
	for (unsigned q = 1; q < 256; q++) {
		/* the E0 forms of the fake shifts are not keys (the decoder skips them); no
		 * keyboard has keys 0x60 and 0x61, whose set-1 breaks would read as E0 and E1 */
		if (q == 0xAA || q == 0xB6 || q == 0x60 || q == 0x61 ||
		    !keymap_qnum_to_set2(q, true, b))
			continue;
		char what[16];
		snprintf(what, sizeof(what), "qnum 0x%02x", q);
		check_roundtrip(k, q, what);
		keys++;
	}
	g_assert_cmpuint(keys, >=, 200);
	kbc_free(k);
}

/* Each line of the keymap file is in the table, and its key round-trips. */
static void check_layout(const char *layout)
{
	char *path = g_build_filename(KEYMAP_DIR, layout, NULL), *text;
	if (!g_file_get_contents(path, &text, NULL, NULL)) {
		g_test_skip("keymap file missing (Debian package qemu-system-data)");
		g_free(path);
		return;
	}
	size_t n;
	const struct keymap_entry *entries = keymap_layout_entries(layout, &n);
	g_assert_nonnull(entries);
	struct kbc *k = kbc_new();
	char **lines = g_strsplit(text, "\n", -1);
	unsigned checked = 0;
	for (char **l = lines; *l; l++) {
		char *line = g_strstrip(*l);
		if (!*line || *line == '#')
			continue;
		char **f = g_strsplit_set(line, " \t", -1);
		g_assert_nonnull(f[1]);
		unsigned qnum = g_ascii_strtoull(f[1], NULL, 16), mods = 0;
		for (char **m = f + 2; *m; m++)
			mods |= !strcmp(*m, "shift")     ? KEYMAP_MOD_SHIFT
				: !strcmp(*m, "altgr")   ? KEYMAP_MOD_ALTGR
				: !strcmp(*m, "numlock") ? KEYMAP_MOD_NUMLOCK
							 : 0x80;
		const struct keymap_entry *e = NULL;
		for (size_t i = 0; i < n && !e; i++)
			if (!strcmp(entries[i].name, f[0]) && entries[i].qnum == qnum &&
			    entries[i].mods == mods)
				e = &entries[i];
		if (!e)
			g_error("%s: '%s' is not in the table", layout, line);
		/* the keysym produces a key, the key's scan codes name it again */
		unsigned q2, m2;
		g_assert_true(keymap_keysym_to_qnum(layout, e->keysym, &q2, &m2));
		char what[64];
		snprintf(what, sizeof(what), "%s %s", layout, f[0]);
		check_roundtrip(k, q2, what);
		check_roundtrip(k, qnum, what);
		checked++;
		g_strfreev(f);
	}
	g_assert_cmpuint(checked, >, 200);
	g_strfreev(lines);
	kbc_free(k);
	g_free(text);
	g_free(path);
}

static void test_layout_us(void)
{
	check_layout("en-us");
}

static void test_layout_de(void)
{
	check_layout("de");
}

static void expect_keysym(const char *layout, uint32_t keysym, unsigned qnum, unsigned mods)
{
	unsigned q = 0, m = 0;
	if (!keymap_keysym_to_qnum(layout, keysym, &q, &m))
		g_error("%s: keysym 0x%x not found", layout, keysym);
	g_assert_cmphex(q, ==, qnum);
	g_assert_cmphex(m, ==, mods);
}

static void test_keysyms(void)
{
	/* US */
	expect_keysym("en-us", 'a', 0x1E, 0);
	expect_keysym("en-us", 'A', 0x1E, KEYMAP_MOD_SHIFT);
	expect_keysym("en-us", 'z', 0x2C, 0);
	expect_keysym("en-us", 'y', 0x15, 0);
	expect_keysym("en-us", '@', 0x03, KEYMAP_MOD_SHIFT);
	expect_keysym("en-us", 0xFF0D, 0x1C, 0); /* Return */
	expect_keysym("en-us", 0xFF51, 0xCB, 0); /* Left */
	expect_keysym("en-us", 0xFF13, 0xC6, 0); /* Pause */
	expect_keysym("en-us", 0xFF61, 0x54, 0); /* Print: the Linux/xkb SysRq key */
	expect_keysym("en-us", 0xFF8D, 0x9C, 0); /* KP_Enter */
	expect_keysym("en-us", 0xFFB1, 0x4F, KEYMAP_MOD_NUMLOCK); /* KP_1 */
	expect_keysym("en-us", 0xFF9C, 0x4F, 0);                  /* KP_End */
	expect_keysym("en-us", 0xFFE1, 0x2A, 0);                  /* Shift_L */
	/* German: Z and Y swapped, umlauts, AltGr */
	expect_keysym("de", 'z', 0x15, 0);
	expect_keysym("de", 'y', 0x2C, 0);
	expect_keysym("de", 'Z', 0x15, KEYMAP_MOD_SHIFT);
	expect_keysym("de", 0xE4, 0x28, 0); /* adiaeresis */
	expect_keysym("de", 0xC4, 0x28, KEYMAP_MOD_SHIFT);
	expect_keysym("de", 0xDF, 0x0C, 0); /* ssharp */
	expect_keysym("de", '@', 0x10, KEYMAP_MOD_ALTGR);
	expect_keysym("de", '\\', 0x0C, KEYMAP_MOD_ALTGR);
	expect_keysym("de", 0x20AC, 0x12, KEYMAP_MOD_ALTGR); /* EuroSign */
	expect_keysym("de", 0xFE03, 0xB8, 0);               /* ISO_Level3_Shift */

	/* the mapping that matches the modifiers held wins */
	unsigned q, m;
	g_assert_true(keymap_keysym_lookup("de", 0xB0, KEYMAP_MOD_SHIFT, &q, &m)); /* degree */
	g_assert_cmphex(q, ==, 0x29);
	g_assert_cmphex(m, ==, KEYMAP_MOD_SHIFT);
	g_assert_true(keymap_keysym_lookup("de", 0xB0, 0, &q, &m)); /* none matches: the first */
	g_assert_cmphex(q, ==, 0x0B);
	g_assert_cmphex(m, ==, KEYMAP_MOD_SHIFT | KEYMAP_MOD_ALTGR);

	g_assert_false(keymap_keysym_to_qnum("en-us", 0x12345678, &q, &m));
	g_assert_false(keymap_keysym_to_qnum("fr", 'a', &q, &m));
	g_assert_false(keymap_keysym_to_qnum(NULL, 'a', &q, &m));
	g_assert_true(keymap_layout_known("de"));
	g_assert_false(keymap_layout_known("xx"));
	const char *const *names = keymap_layout_names();
	g_assert_cmpstr(names[0], ==, "en-us");
	g_assert_cmpstr(names[1], ==, "de");
	g_assert_null(names[2]);
}

/* Print Screen and Pause depend on the modifiers held; the i8042 must turn them into the
 * set-1 sequences a PC/XT-style guest expects. */
static void test_kbd_state(void)
{
	struct keymap_kbd kbd = { 0 };
	struct kbc *k = kbc_new();
	uint8_t b[KEYMAP_SET2_MAX], s1[16];
	size_t n;

#define EXPECT_KBD(qnum, down, ...)                                                                \
	do {                                                                                       \
		const uint8_t e_[] = { __VA_ARGS__ };                                              \
		n = keymap_kbd_event(&kbd, qnum, down, b);                                         \
		g_assert_cmpmem(b, n, e_, sizeof(e_));                                             \
	} while (0)

	EXPECT_KBD(KEYMAP_QNUM_PRINT, true, 0xE0, 0x12, 0xE0, 0x7C);
	g_assert_true(keymap_kbd_is_down(&kbd, KEYMAP_QNUM_PRINT));
	EXPECT_KBD(KEYMAP_QNUM_PRINT, false, 0xE0, 0xF0, 0x7C, 0xE0, 0xF0, 0x12);
	/* 0x54 without Alt is the same key */
	EXPECT_KBD(KEYMAP_QNUM_SYSRQ, true, 0xE0, 0x12, 0xE0, 0x7C);
	EXPECT_KBD(KEYMAP_QNUM_SYSRQ, false, 0xE0, 0xF0, 0x7C, 0xE0, 0xF0, 0x12);
	/* with Ctrl: no fake shift */
	EXPECT_KBD(KEYMAP_QNUM_CTRL, true, 0x14);
	EXPECT_KBD(KEYMAP_QNUM_PRINT, true, 0xE0, 0x7C);
	EXPECT_KBD(KEYMAP_QNUM_PRINT, false, 0xE0, 0xF0, 0x7C);
	/* Ctrl+Pause is Break */
	EXPECT_KBD(KEYMAP_QNUM_PAUSE, true, 0xE0, 0x7E, 0xE0, 0xF0, 0x7E);
	n = kbc_translate(k, b, n, s1);
	const uint8_t brk[] = { 0xE0, 0x46, 0xE0, 0xC6 };
	g_assert_cmpmem(s1, n, brk, sizeof(brk));
	g_assert_cmpuint(keymap_kbd_event(&kbd, KEYMAP_QNUM_PAUSE, false, b), ==, 0);
	EXPECT_KBD(KEYMAP_QNUM_CTRL, false, 0xF0, 0x14);
	/* Pause alone */
	EXPECT_KBD(KEYMAP_QNUM_PAUSE, true, 0xE1, 0x14, 0x77, 0xE1, 0xF0, 0x14, 0xF0, 0x77);
	n = kbc_translate(k, b, n, s1);
	const uint8_t pause[] = { 0xE1, 0x1D, 0x45, 0xE1, 0x9D, 0xC5 };
	g_assert_cmpmem(s1, n, pause, sizeof(pause));
	/* Alt+Print Screen is SysRq: 84, which the 8042 turns into 54 */
	EXPECT_KBD(KEYMAP_QNUM_ALT, true, 0x11);
	EXPECT_KBD(KEYMAP_QNUM_SYSRQ, true, 0x84);
	n = kbc_translate(k, b, n, s1);
	const uint8_t sysrq[] = { 0x54 };
	g_assert_cmpmem(s1, n, sysrq, sizeof(sysrq));
	EXPECT_KBD(KEYMAP_QNUM_SYSRQ, false, 0xF0, 0x84);
	n = kbc_translate(k, b, n, s1);
	const uint8_t sysrq_up[] = { 0xD4 };
	g_assert_cmpmem(s1, n, sysrq_up, sizeof(sysrq_up));
	EXPECT_KBD(KEYMAP_QNUM_ALT, false, 0xF0, 0x11);
	/* other keys as the stateless table has them */
	EXPECT_KBD(0x1E, true, 0x1C);
	g_assert_cmpuint(keymap_kbd_event(&kbd, 0x1FF, true, b), ==, 0);
#undef EXPECT_KBD
	kbc_free(k);
}

static void expect_combo(const char *text, size_t n, ...)
{
	unsigned q[KEYMAP_COMBO_MAX];
	size_t got = 99;
	if (!keymap_parse_combo(text, q, &got))
		g_error("'%s' did not parse", text);
	g_assert_cmpuint(got, ==, n);
	va_list ap;
	va_start(ap, n);
	for (size_t i = 0; i < n; i++)
		g_assert_cmphex(q[i], ==, va_arg(ap, unsigned));
	va_end(ap);
}

static void test_combo(void)
{
	expect_combo("ctrl-alt-delete", 3, 0x1D, 0x38, 0xD3);
	expect_combo("shift-a", 2, 0x2A, 0x1E);
	expect_combo("f12", 1, 0x58);
	expect_combo("f1", 1, 0x3B);
	expect_combo("ret", 1, 0x1C);
	expect_combo("CTRL-ALT-F2", 3, 0x1D, 0x38, 0x3C);
	expect_combo("altgr-q", 2, 0xB8, 0x10);
	expect_combo("meta", 1, 0xDB);
	expect_combo("print", 1, 0xB7);
	expect_combo("sysrq", 1, 0x54);
	expect_combo("alt-sysrq-b", 3, 0x38, 0x54, 0x30);
	expect_combo("pause", 1, 0xC6);
	expect_combo("esc", 1, 0x01);
	expect_combo("spc", 1, 0x39);
	expect_combo("tab", 1, 0x0F);
	expect_combo("backspace", 1, 0x0E);
	expect_combo("minus", 1, 0x0C);
	expect_combo("equal", 1, 0x0D);
	expect_combo("0", 1, 0x0B);
	expect_combo("9", 1, 0x0A);
	expect_combo("z", 1, 0x2C);
	expect_combo("up", 1, 0xC8);
	expect_combo("down", 1, 0xD0);
	expect_combo("left", 1, 0xCB);
	expect_combo("right", 1, 0xCD);
	expect_combo("home", 1, 0xC7);
	expect_combo("end", 1, 0xCF);
	expect_combo("pgup", 1, 0xC9);
	expect_combo("pgdn", 1, 0xD1);
	expect_combo("insert", 1, 0xD2);
	expect_combo("kp_enter", 1, 0x9C);
	expect_combo("kp_5", 1, 0x4C);
	expect_combo("ctrl_r-shift_r", 2, 0x9D, 0x36);
	expect_combo("0x1e", 1, 0x1E);
	expect_combo("enter", 1, 0x1C);

	unsigned q[KEYMAP_COMBO_MAX];
	size_t n = 5;
	const char *bad[] = { "", "ctrl-", "-a", "ctrl--a", "nosuchkey", "ctrl-alt-foo", "0x00",
			      "0x100", "0x", "a b",
			      "a-b-c-d-e-f-g-h-i-j-k-l-m-n-o-p-q" /* 17 keys */ };
	for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
		if (keymap_parse_combo(bad[i], q, &n))
			g_error("'%s' parsed", bad[i]);
		g_assert_cmpuint(n, ==, 0);
	}
	g_assert_false(keymap_parse_combo(NULL, q, &n));
	expect_combo("a-b-c-d-e-f-g-h-i-j-k-l-m-n-o-p", 16, 0x1E, 0x30, 0x2E, 0x20, 0x12, 0x21,
		     0x22, 0x23, 0x17, 0x24, 0x25, 0x26, 0x32, 0x31, 0x18, 0x19);

	g_assert_cmpstr(keymap_qnum_name(0x1E), ==, "a");
	g_assert_cmpstr(keymap_qnum_name(0xB8), ==, "alt_r");
	g_assert_cmpstr(keymap_qnum_name(0x1C), ==, "ret");
	g_assert_null(keymap_qnum_name(0x00));
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/keymap/set2-keys", test_set2_keys);
	g_test_add_func("/keymap/all-qnums-roundtrip", test_all_qnums);
	g_test_add_func("/keymap/layout-en-us", test_layout_us);
	g_test_add_func("/keymap/layout-de", test_layout_de);
	g_test_add_func("/keymap/keysyms", test_keysyms);
	g_test_add_func("/keymap/kbd-state", test_kbd_state);
	g_test_add_func("/keymap/combo", test_combo);
	return g_test_run();
}
