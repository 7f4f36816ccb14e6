/*
 * Keyboard tables: X keysyms to keys, keys to PS/2 scan codes, key names to keys.
 *
 * A key is named by its "qnum" (display.h): its scan code set 1 make code, with 0x80 added for
 * E0-prefixed keys. The tables are generated at build time (src/ui/gen-keymap.py) from the
 * i8042's set-2 to set-1 translation table and QEMU's xkb-derived keymap files; nothing here is
 * a hand-written key list.
 */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What a keysym needs held on a layout, besides its key (the keymap files' modifier column). */
enum {
	KEYMAP_MOD_SHIFT = 1,
	KEYMAP_MOD_ALTGR = 2,
	KEYMAP_MOD_NUMLOCK = 4, /* keypad keysyms that need Num Lock on: informational */
};

/* Keys by qnum that callers press or test for */
#define KEYMAP_QNUM_SHIFT 0x2A
#define KEYMAP_QNUM_SHIFT_R 0x36
#define KEYMAP_QNUM_CTRL 0x1D
#define KEYMAP_QNUM_CTRL_R 0x9D
#define KEYMAP_QNUM_ALT 0x38
#define KEYMAP_QNUM_ALTGR 0xB8 /* right Alt: ISO_Level3_Shift on layouts that have AltGr */
#define KEYMAP_QNUM_SYSRQ 0x54 /* what the Print Screen key sends with Alt held */
#define KEYMAP_QNUM_PRINT 0xB7
#define KEYMAP_QNUM_PAUSE 0xC6

#define KEYMAP_SET2_MAX 8   /* longest scan code sequence of one key event (Pause) */
#define KEYMAP_COMBO_MAX 16 /* keys in one send-keys combination */

/* One line of a layout's keymap: KEYSYM is typed with key QNUM and MODS held. */
struct keymap_entry {
	uint32_t keysym;
	uint8_t qnum;
	uint8_t mods; /* KEYMAP_MOD_* */
	const char *name; /* the keysym's name in the keymap file */
};

/* True for the layouts pcvm has tables for ("en-us", "de"). */
bool keymap_layout_known(const char *layout);
/* The layouts' names, NULL-terminated, for messages. */
const char *const *keymap_layout_names(void);
/* All entries of LAYOUT (sorted by keysym), or NULL. */
const struct keymap_entry *keymap_layout_entries(const char *layout, size_t *n);

/*
 * The key that types KEYSYM on LAYOUT and the modifiers (KEYMAP_MOD_*) it needs held. Where
 * a keysym sits on several keys the keymap file's first one wins. False when the layout is
 * unknown or does not have the keysym.
 */
bool keymap_keysym_to_qnum(const char *layout, uint32_t keysym, unsigned *qnum,
			   unsigned *modifiers);
/* The same, preferring the mapping whose Shift/AltGr needs equal HELD (KEYMAP_MOD_*): what the
 * VNC server uses, since the viewer already holds the modifiers it typed with. */
bool keymap_keysym_lookup(const char *layout, uint32_t keysym, unsigned held, unsigned *qnum,
			  unsigned *modifiers);

/*
 * The PS/2 scan code set 2 bytes the keyboard sends for key QNUM going down or up: make code,
 * or F0-prefixed break, E0 first for E0 keys; Print Screen (0xB7) with its fake Shift, Pause
 * (0xC6) as its eight-byte make and no break, 0x54 as Alt+SysRq (0x84). Returns the number of
 * bytes (at most KEYMAP_SET2_MAX), 0 for a qnum with no key or Pause's release. Stateless: see
 * struct keymap_kbd for the codes that depend on held modifiers.
 */
size_t keymap_qnum_to_set2(unsigned qnum, bool down, uint8_t out[KEYMAP_SET2_MAX]);

/*
 * A keyboard that remembers which keys are down, for the two keys whose codes depend on the
 * modifiers held (Keyboard Scan Code Specification): the Print Screen key (qnum 0xB7, or 0x54
 * as Linux hosts and keycodemapdb report it) sends E0 12 E0 7C alone, E0 7C with Shift or Ctrl,
 * 84 with Alt; Pause sends E0 7E E0 F0 7E (Break) with Ctrl. Zero-initialize it.
 */
struct keymap_kbd {
	uint8_t down[32]; /* bit per qnum */
};
size_t keymap_kbd_event(struct keymap_kbd *kbd, unsigned qnum, bool down,
			uint8_t out[KEYMAP_SET2_MAX]);
bool keymap_kbd_is_down(const struct keymap_kbd *kbd, unsigned qnum);

/*
 * Parses a key combination as `pcvm send-keys` takes it: key names joined by '-', as QEMU's
 * sendkey names them ("ctrl-alt-delete", "shift-a", "f12", "ret", "kp_enter", "altgr-q"), or
 * hexadecimal qnums ("0x1e"). Fills QNUMS (room for KEYMAP_COMBO_MAX) in order: press them in
 * order, release them in reverse. False for an empty, unknown or too long combination.
 */
bool keymap_parse_combo(const char *text, unsigned qnums[], size_t *n);
/* The send-keys name of QNUM, or NULL. */
const char *keymap_qnum_name(unsigned qnum);
