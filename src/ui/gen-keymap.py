#!/usr/bin/env python3
"""Generates pcvm's keyboard tables (src/ui/keymap.c includes the output) from data:

- qnum -> PS/2 scan code set 2, by inverting the i8042's set-2 -> set-1 translation table
  (src/devices/i8042.c, IBM PS/2 Hardware Interface Technical Reference), plus the few
  set-2 facts that table cannot express (F7 and Alt+SysRq above 0x7F, Print Screen and
  Pause sequences), from Microsoft's "Keyboard Scan Code Specification" (rev. 1.3a).
- X keysym -> qnum for each keyboard layout, from QEMU's keymap files (Debian package
  qemu-system-data: /usr/share/qemu/keymaps/LAYOUT, generated from xkb by qemu-keymap),
  with keysym names resolved through the X11 headers (Debian package x11proto-dev).
- key names for `pcvm send-keys` (QEMU's QKeyCode names, as the keymap files' comments
  give them) -> qnum.

Usage: gen-keymap.py --i8042 I8042_C --keymaps DIR --x11 DIR --layouts en-us,de
                     --output FILE [--depfile FILE]
"""
import argparse
import os
import re
import sys

# Set-2 codes the translation table does not hold: the keyboard sends F7 as 0x83 and
# Alt+SysRq as 0x84; the 8042 translates them to 0x41 and 0x54 (Keyboard Scan Code
# Specification, "Scan Code Table", F7 and "Alt+Print Screen").
SET2_ABOVE_7F = {0x41: 0x83, 0x54: 0x84}

# Multi-byte sequences (Keyboard Scan Code Specification, notes to the scan code table).
SEQUENCES = {
    # Print Screen alone: a fake Left Shift, then E0 7C
    "print_make": [0xE0, 0x12, 0xE0, 0x7C],
    "print_break": [0xE0, 0xF0, 0x7C, 0xE0, 0xF0, 0x12],
    # Print Screen with Shift or Ctrl held
    "print_mod_make": [0xE0, 0x7C],
    "print_mod_break": [0xE0, 0xF0, 0x7C],
    # Print Screen with Alt held (SysRq)
    "sysrq_make": [0x84],
    "sysrq_break": [0xF0, 0x84],
    # Pause: make only, no break
    "pause_make": [0xE1, 0x14, 0x77, 0xE1, 0xF0, 0x14, 0xF0, 0x77],
    # Ctrl+Pause (Break): make and break together on press
    "break_make": [0xE0, 0x7E, 0xE0, 0xF0, 0x7E],
}

# Names send-keys accepts beyond the QKeyCode names in the keymap comments: QKeyCode names of
# keys no evdev code maps to in those files, and a few common spellings.
NAME_ALIASES = {
    "altgr": "alt_r",
    "altgr_r": "alt_r",
    "meta": "meta_l",
    "win": "meta_l",
    "super": "meta_l",
    "enter": "ret",
    "return": "ret",
    "escape": "esc",
    "space": "spc",
    "del": "delete",
    "ins": "insert",
    "pageup": "pgup",
    "pagedown": "pgdn",
    "capslock": "caps_lock",
    "numlock": "num_lock",
    "scrolllock": "scroll_lock",
    "ctrl_l": "ctrl",
    "alt_l": "alt",
    "shift_l": "shift",
    "break": "pause",
}
# QKeyCode "print" is the Print Screen key proper (E0 37); the files name only "sysrq" (0x54).
EXTRA_NAMES = {"print": 0xB7}

MODIFIERS = {"shift": 1, "altgr": 2, "numlock": 4}

PACKAGES = {
    "i8042": "the pcvm source tree (src/devices/i8042.c)",
    "keymaps": "qemu-system-data",
    "x11": "x11proto-dev",
}


def die(msg):
    sys.stderr.write("gen-keymap.py: error: %s\n" % msg)
    sys.exit(1)


def need(path, what):
    if not os.path.isfile(path):
        die("%s not found: install the Debian package %s" % (path, PACKAGES[what]))
    return path


def read_translation(path):
    """The i8042's set2_to_set1[128] table: index set-2 code, value set-1 code."""
    src = open(path, encoding="utf-8").read()
    m = re.search(r"set2_to_set1\s*\[\s*128\s*\]\s*=\s*\{(.*?)\};", src, re.S)
    if not m:
        die("%s: no set2_to_set1[128] table" % path)
    body = re.sub(r"/\*.*?\*/|//[^\n]*", "", m.group(1), flags=re.S)
    pairs = re.findall(r"\[\s*(0x[0-9A-Fa-f]+|\d+)\s*\]\s*=\s*(0x[0-9A-Fa-f]+|\d+)", body)
    if pairs:  # designated initializers
        vals = [0] * 128  # as C leaves the others
        for idx, val in pairs:
            vals[int(idx, 0)] = int(val, 0)
    else:
        vals = [int(x, 0) for x in re.findall(r"0x[0-9A-Fa-f]+|\b\d+\b", body)]
    if len(vals) != 128:
        die("%s: set2_to_set1 has %d entries, expected 128" % (path, len(vals)))
    return vals


def set2_codes(xlat):
    """qnum -> set-2 code (the byte after any E0 prefix); None where no key has the code."""
    inverse = {}
    for s2, s1 in enumerate(xlat):
        if s1 in (0x00, 0xFF):  # no key (0x00: overrun in set 2, 0xFF in set 1)
            continue
        if s1 in inverse:
            die("set2_to_set1 maps two codes to 0x%02X" % s1)
        inverse[s1] = s2
    codes = [None] * 256
    for qnum in range(1, 256):
        s1 = qnum & 0x7F
        if s1 == 0:
            continue
        # E0-prefixed keys: the translation works on the byte after E0 the same way; the
        # codes above 0x7F exist only without the prefix.
        codes[qnum] = SET2_ABOVE_7F.get(qnum, inverse.get(s1))
    return codes


def read_keysyms(x11dir):
    defs = {}
    headers = [("keysymdef.h", "XK_", ""), ("XF86keysym.h", "XF86XK_", "XF86"),
               ("Sunkeysym.h", "SunXK_", "Sun")]
    files = []
    for name, prefix, repl in headers:
        path = os.path.join(x11dir, name)
        if name == "keysymdef.h":
            need(path, "x11")
        elif not os.path.isfile(path):
            continue
        files.append(path)
        pat = re.compile(r"^#define\s+" + prefix + r"(\w+)\s+(0x[0-9a-fA-F]+)", re.M)
        for m in pat.finditer(open(path, encoding="latin-1").read()):
            defs.setdefault(repl + m.group(1), int(m.group(2), 16))
    return defs, files


def keysym_value(name, defs):
    if name in defs:
        return defs[name]
    m = re.fullmatch(r"U([0-9A-Fa-f]{4,6})", name)
    if m:  # X11 maps Unicode code point U to keysym 0x01000000 + U
        return 0x01000000 + int(m.group(1), 16)
    m = re.fullmatch(r"0x([0-9A-Fa-f]+)", name)
    if m:
        return int(m.group(1), 16)
    return None


def read_layout(path, defs):
    """[(keysym, qnum, mods, name)] in file order, and {QKeyCode name: qnum} from comments."""
    entries, names, unknown = [], {}, []
    comment = re.compile(r'#.*QKeyCode "(\w+)", number (0x[0-9a-fA-F]+)')
    for lineno, line in enumerate(open(path, encoding="utf-8"), 1):
        line = line.strip()
        m = comment.match(line)
        if m:
            names[m.group(1)] = int(m.group(2), 16)
            continue
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        if parts[0] in ("include", "map"):
            die("%s:%d: '%s' lines are not supported" % (path, lineno, parts[0]))
        if len(parts) < 2:
            die("%s:%d: expected 'keysym scancode [modifiers]'" % (path, lineno))
        keysym = keysym_value(parts[0], defs)
        if keysym is None:
            unknown.append(parts[0])
            continue
        qnum = int(parts[1], 16)
        if not 0 < qnum < 256:
            die("%s:%d: scan code %s out of range" % (path, lineno, parts[1]))
        mods = 0
        for mod in parts[2:]:
            if mod not in MODIFIERS:
                die("%s:%d: unknown modifier '%s'" % (path, lineno, mod))
            mods |= MODIFIERS[mod]
        entry = (keysym, qnum, mods, parts[0])
        if not any(e[:3] == entry[:3] for e in entries if e[0] == keysym):
            entries.append(entry)
    if unknown:
        die("%s: keysyms not in the X11 headers: %s" % (path, " ".join(sorted(set(unknown)))))
    # sorted by keysym; entries for one keysym stay in file order (the first is preferred)
    order = {id(e): i for i, e in enumerate(entries)}
    entries.sort(key=lambda e: (e[0], order[id(e)]))
    return entries, names


def c_ident(layout):
    return re.sub(r"\W", "_", layout)


def emit(out, codes, layouts, names, aliases):
    w = out.write
    w("/* Generated by src/ui/gen-keymap.py: do not edit. */\n\n")
    w("/* qnum -> scan code set 2 (after the E0 prefix for qnums >= 0x80); 0: no key */\n")
    w("static const uint8_t keymap_set2_code[256] = {\n")
    for row in range(0, 256, 8):
        cells = ", ".join("0x%02X" % (codes[q] or 0) for q in range(row, row + 8))
        w("\t%s, /* 0x%02X */\n" % (cells, row))
    w("};\n\n")
    for name, seq in SEQUENCES.items():
        w("static const uint8_t keymap_set2_%s[] = { %s };\n" %
          (name, ", ".join("0x%02X" % b for b in seq)))
    w("\n")
    for layout, entries in layouts:
        w("static const struct keymap_entry keymap_layout_%s[] = {\n" % c_ident(layout))
        for keysym, qnum, mods, name in entries:
            w('\t{ 0x%08X, 0x%02X, %d, "%s" },\n' % (keysym, qnum, mods, name))
        w("};\n\n")
    w("static const struct keymap_layout keymap_layouts[] = {\n")
    for layout, entries in layouts:
        w('\t{ "%s", keymap_layout_%s, %d },\n' % (layout, c_ident(layout), len(entries)))
    w("};\n\n")
    w("static const char *const keymap_layout_name_list[] = { %s, NULL };\n\n" %
      ", ".join('"%s"' % layout for layout, _ in layouts))
    w("/* send-keys names, sorted for bsearch; alias: not the key's QKeyCode name */\n")
    w("static const struct keymap_name keymap_names[] = {\n")
    for name in sorted(names):
        w('\t{ "%s", 0x%02X, %s },\n' % (name, names[name], "true" if name in aliases else "false"))
    w("};\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--i8042", required=True)
    ap.add_argument("--keymaps", required=True)
    ap.add_argument("--x11", required=True)
    ap.add_argument("--layouts", required=True)
    ap.add_argument("--output", required=True)
    ap.add_argument("--depfile")
    args = ap.parse_args()

    deps = [need(args.i8042, "i8042")]
    codes = set2_codes(read_translation(args.i8042))
    defs, x11files = read_keysyms(args.x11)
    deps += x11files

    layouts, names = [], {}
    for layout in args.layouts.split(","):
        path = need(os.path.join(args.keymaps, layout), "keymaps")
        deps.append(path)
        entries, qnames = read_layout(path, defs)
        for keysym, qnum, _, name in entries:
            if codes[qnum] is None and qnum not in (0xB7, 0xC6):
                die("%s: %s maps to 0x%02X, which has no set-2 code" % (path, name, qnum))
        layouts.append((layout, entries))
        for name, qnum in qnames.items():
            if names.setdefault(name, qnum) != qnum:
                die("%s: QKeyCode %s is 0x%02X here, 0x%02X elsewhere" %
                    (path, name, qnum, names[name]))
    aliases = set()
    for alias, target in NAME_ALIASES.items():
        if target not in names:
            die("alias %s: no QKeyCode %s in the keymap files" % (alias, target))
        if alias not in names:
            names[alias] = names[target]
            aliases.add(alias)
    for name, qnum in EXTRA_NAMES.items():
        names.setdefault(name, qnum)

    tmp = args.output + ".tmp"
    with open(tmp, "w", encoding="utf-8") as out:
        emit(out, codes, layouts, names, aliases)
    os.replace(tmp, args.output)
    if args.depfile:
        with open(args.depfile, "w", encoding="utf-8") as dep:
            dep.write("%s: %s\n" % (args.output, " ".join(d.replace(" ", "\\ ") for d in deps)))


if __name__ == "__main__":
    main()
