#!/usr/bin/env python3
"""Display guest tests: nasm guests draw in text mode 3, mode 12h, mode 13h and a VBE 800x600x32
linear-framebuffer mode, print "drawn" on COM1 and halt (text.asm writes its last row after
that line, with no exit after it: KVM queues those writes, and pcvm must take them from the
queue itself before it shows the screen). For each:

  - pcvm: `pcvm screenshot` is checked pixel by pixel (every pixel) against the picture
    recomputed here from what the guest drew (text: from the VGA BIOS's own 8x16 font, 9-dot
    cells, the BIOS palette); the text screen also through the control socket's "text-screen";
  - QEMU (-vga std, same SeaBIOS and VGA BIOS, same disk) with -vnc, captured with gvnccapture
    after the same COM1 line: the same check, and pcvm's screenshot must equal QEMU's picture.

Colours: 6-bit DAC values become 8 bits as v << 2 | (v & 1) * 3 (QEMU's expansion, which pcvm
follows), so the comparisons are exact, tolerance 0. Output is TAP. On a mismatch the pictures
are kept in $PCVM_TEST_ARTIFACTS (default: a pcvm-display-* directory in /tmp), named in the
failure.

"modes" (modes.asm) goes through 13 more modes - 80x50 text, 0Dh, 0Eh, 10h, 12h with palette
changes, CGA 04h and 06h, VBE 8 bpp banked, the 8-bit DAC, VBE 16, 24 and 32 bpp, display
start and logical line length, text again - and compares pcvm's screenshot with QEMU's screen
at each (a differential check only).

usage: display.py PCVM [GUEST ...]   (guests: text mode12 mode13 vbe modes; default all)
"""
import os
import shutil
import subprocess
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, HERE)
from tap import Tap, make_disk, qemu_available, read, require_kvm, tempdir  # noqa: E402
import displaylib as dl  # noqa: E402

GUEST_INC = os.path.join(HERE, "..", "guests")
WAIT = 90  # seconds for a guest to draw: SeaBIOS, the BIOS mode set and the drawing (ASan in CI)


def assemble(name, tmp):
    out = os.path.join(tmp, name + ".bin")
    subprocess.run(["nasm", "-f", "bin", "-i", HERE + "/", "-i", GUEST_INC + "/",
                    os.path.join(HERE, name + ".asm"), "-o", out], check=True)
    with open(out, "rb") as f:
        return f.read()


# ---- what each guest draws ---------------------------------------------------------------

def text_cells():
    """The screen text.asm writes: {(row, col): (char, attr)}."""
    cells = {}

    def put(row, col, s, attr):
        for i, ch in enumerate(s):
            cells[(row, col + i)] = (ch if isinstance(ch, int) else ord(ch), attr)
    put(0, 0, " " * 80, 0x1F)
    put(0, 2, "pcvm display test: VGA text mode 3, 80x25, 9-dot cells", 0x1F)
    for r in range(16):
        put(2 + r, 2, [r * 16 + c for c in range(16)], 0x70 if r & 1 else 0x0E)
        for c in range(16):
            put(2 + r, 22 + 2 * c, [0xB1, 0xC5], r << 4 | c)
    put(19, 60, [0xC9] + [0xCD] * 10 + [0xBB], 0x1E)
    put(20, 60, [0xBA], 0x1E)
    put(20, 61, "  drawn   ", 0x4F)
    put(20, 71, [0xBA], 0x1E)
    put(21, 60, [0xC8] + [0xCD] * 10 + [0xBC], 0x1E)
    put(24, 0, "The quick brown fox jumps over the lazy dog. 0123456789 !@#$%^&*()[]{}<>~",
        0x07)
    return cells


def text_lines(cells):
    """The screen as "text-screen" gives it: 25 lines, trailing blanks dropped."""
    lines = []
    for r in range(25):
        s = "".join(dl.cp437(cells.get((r, c), (0x20, 7))[0]) for c in range(80))
        lines.append(s.rstrip(" "))
    return lines


def expect_text():
    try:
        font = dl.vga_font16()
    except (OSError, ValueError) as e:
        return None, str(e)
    return dl.render_text(text_cells(), font), ""


def qemu_text():
    """QEMU repeats the eighth dot in the ninth for B0h-DFh, not only the IBM VGA's C0h-DFh
    (hw/display/vga.c: ch >= 0xb0 && ch <= 0xdf): the shade characters B0h-B2h get a ninth
    dot there that a real card (and pcvm) leaves in the background colour."""
    try:
        font = dl.vga_font16()
    except (OSError, ValueError) as e:
        return None, str(e)
    return dl.render_text(text_cells(), font, line_graphics=(0xB0, 0xDF)), ""


def expect_mode12():
    w, h = 640, 480
    pix = bytearray(w * h)
    for i in range(16):
        x0, y0 = (i % 4) * 160, (i // 4) * 120
        for y in range(y0, y0 + 120):
            pix[y * w + x0:y * w + x0 + 160] = bytes([i]) * 160
    for i in range(16):
        x0, y0 = (i % 4) * 160, (i // 4) * 120
        for y in range(y0 + 40, y0 + 80):
            for x in range(x0 + 40, x0 + 120):
                if (x + y) & 1:
                    pix[y * w + x] = 15 - i
    for t in range(480):
        pix[t * w + t] ^= 15
    for t in range(480):
        pix[(479 - t) * w + 160 + t] = 10
    lut = [dl.colour16(c) for c in range(16)]
    return dl.Image(w, h, b"".join(lut[c] for c in pix)), ""


def expect_mode13():
    pal = [bytes(dl.dac8(v) for v in (i >> 2, i & 63, (255 - i) >> 2)) for i in range(256)]
    rows = []
    for y in range(200):
        line = b"".join(pal[((x ^ y) + (y >> 1)) & 255] * 2 for x in range(320))
        rows.append(line * 2)  # 640x400: each pixel doubled across and down
    return dl.Image(640, 400, b"".join(rows)), ""


def expect_vbe():
    rows = []
    reds = [((x * 5) >> 4) for x in range(800)]
    for y in range(600):
        g = (y * 3) >> 3
        rows.append(b"".join(bytes((reds[x], g, (x ^ y) & 255)) for x in range(800)))
    return dl.Image(800, 600, b"".join(rows)), ""


GUESTS = {
    "text": dict(expect=expect_text, qemu_expect=qemu_text,
                 qemu_differs="QEMU's ninth dot of B0h-BFh", 
                 what="text mode 3 banner, font and attributes (720x400)"),
    "mode12": dict(expect=expect_mode12, what="mode 12h rectangles and write modes (640x480)"),
    "mode13": dict(expect=expect_mode13, what="mode 13h pattern with its own palette (640x400)"),
    "vbe": dict(expect=expect_vbe, what="VBE 800x600x32 linear framebuffer gradient"),
}


# ---- running them ------------------------------------------------------------------------

class Artifacts:
    def __init__(self):
        self.dir = None

    def keep(self, name, img):
        if self.dir is None:
            base = os.environ.get("PCVM_TEST_ARTIFACTS")
            if base:
                os.makedirs(base, exist_ok=True)
                self.dir = base
            else:
                self.dir = tempfile.mkdtemp(prefix="pcvm-display-")
        path = os.path.join(self.dir, name + ".png")
        dl.write_png(path, img)
        return path


def check_picture(tap, arts, who, guest, got, want, what):
    diff = dl.compare(got, want)
    detail = diff or ""
    if diff:
        detail += f"\nkept: {arts.keep(guest + '-' + who, got)} and " \
                  f"{arts.keep(guest + '-expected', want)}"
    tap.ok(diff is None, f"{guest}: {who}: every pixel as drawn ({what})", detail)


def serial_lines(text):
    return [ln.rstrip("\r") for ln in text.splitlines()]


def run_guest(tap, binary, tmp, name, spec, arts, use_qemu):
    boot = assemble(name, tmp)
    disk = os.path.join(tmp, name + ".img")
    make_disk(disk, boot)
    qdisk = os.path.join(tmp, name + "-qemu.img")
    shutil.copyfile(disk, qdisk)
    start = time.monotonic()
    pc = dl.PcvmMachine(binary, tmp, disk, name)
    qm = None
    if use_qemu:
        qm, _ = dl.start_with_vnc(lambda n: dl.QemuMachine(tmp, qdisk, name + "-qemu", n))
    want, why = spec["expect"]()
    try:
        drawn = pc.wait_serial("drawn", WAIT)
        took = time.monotonic() - start
        tap.ok(drawn, f"{name}: pcvm: the guest drew its picture ({took:.1f}s)",
               f"COM1: {read(pc.serial)!r}\nstderr: {pc.stderr()}\nlog: {pc.log()[-2000:]}")
        if name == "text" and drawn:
            # row 24 is written after "drawn", with nothing that exits after it: a moment
            # later the screen has it, or never, if pcvm did not take the queued writes
            want_lines = text_lines(text_cells())
            end = time.monotonic() + 5
            while True:
                r = pc.control("text-screen")
                text = (r or {}).get("result", {}).get("text", "") if r and r.get("ok") else None
                got_lines = text.split("\n") if text is not None else None
                if got_lines and got_lines[-1] == "":
                    got_lines.pop()
                if got_lines == want_lines or time.monotonic() > end:
                    break
                time.sleep(0.1)
            tap.ok(got_lines == want_lines, "text: pcvm: \"text-screen\" gives the 25 lines as "
                   "Unicode (code page 437)",
                   f"reply {r!r}\n" + "\n".join(
                       f"line {i}: got {g!r} expected {w!r}"
                       for i, (g, w) in enumerate(zip(got_lines or [], want_lines)) if g != w))
        got = None
        if drawn:
            got, err = pc.screenshot(os.path.join(tmp, name + "-pcvm.png"))
            tap.ok(got is not None, f"{name}: pcvm screenshot", err)
        if got is not None and want is not None:
            check_picture(tap, arts, "pcvm", name, got, want, spec["what"])
        elif want is None:
            tap.skip(f"{name}: pcvm: every pixel as drawn", why)
        if qm is None:
            tap.skip(f"{name}: qemu: same picture", "qemu-system-x86_64 or gvnccapture missing")
            return
        qdrawn = qm.wait_serial("drawn", WAIT)
        tap.ok(qdrawn, f"{name}: qemu: the guest drew its picture",
               f"COM1: {read(qm.serial)!r}\nstderr: {qm.stderr()}")
        tap.ok(serial_lines(read(qm.serial)) == serial_lines(read(pc.serial)),
               f"{name}: qemu: same COM1 output as pcvm" +
               (" (VBE mode, pitch, framebuffer address)" if name == "vbe" else ""),
               f"qemu: {read(qm.serial)!r}\npcvm: {read(pc.serial)!r}")
        if not qdrawn:
            return
        qpng = os.path.join(tmp, name + "-qemu.png")
        if not dl.wait_port(5900 + qm.display, 20):
            tap.ok(False, f"{name}: qemu: its VNC server listens", qm.stderr())
            return
        qwant, ignore = want, None
        if "qemu_expect" in spec and want is not None:
            # where QEMU knowingly differs from a real card: its own expected picture, and
            # those pixels left out of the comparison with pcvm
            qwant, _ = spec["qemu_expect"]()
            ignore = {i // 3 for i in range(0, len(want.pixels), 3)
                      if want.pixels[i:i + 3] != qwant.pixels[i:i + 3]}
        # QEMU refreshes its console on a timer (30 ms while a viewer is connected): a capture
        # that still shows an older picture is taken again, up to three times
        for attempt in range(3):
            time.sleep(0.3 + attempt)
            ok, msg = dl.gvnccapture(qm.display, qpng)
            if not ok:
                break
            qimg = dl.read_png(qpng)
            if qwant is None or dl.compare(qimg, qwant) is None:
                break
        tap.ok(ok, f"{name}: qemu: gvnccapture of its VNC console" +
               (f" (try {attempt + 1})" if attempt else ""), msg)
        if not ok:
            return
        if qwant is not None:
            check_picture(tap, arts, "qemu", name, qimg, qwant, spec["what"] + (
                f", with {spec['qemu_differs']}" if ignore else ""))
        if got is not None:
            diff = dl.compare(got, qimg, ignore=ignore, names=("pcvm", "qemu"))
            detail = diff or ""
            if diff:
                detail += f"\nkept: {arts.keep(name + '-pcvm', got)} and " \
                          f"{arts.keep(name + '-qemu', qimg)}"
            tap.ok(diff is None, f"{name}: pcvm's screenshot equals QEMU's picture "
                   f"({got.width}x{got.height}, tolerance 0" +
                   (f"; {len(ignore)} pixels of {spec['qemu_differs']} left out)" if ignore
                    else ")"), detail)
    finally:
        rc = pc.stop()
        if qm:
            qm.stop()
        tap.ok(rc == 0, f"{name}: pcvm stop powers the VM off (exit code 0)",
               f"exit {rc}\n" + pc.stderr())


MODE_STEPS = ["01 80x50 text", "02 mode 0Dh", "03 mode 0Eh", "04 mode 10h",
              "05 mode 12h with palette changes", "06 mode 04h (CGA)", "07 mode 06h (CGA)",
              "08 VBE 640x480x8 banked", "09 VBE 8-bit DAC", "10 VBE 640x480x16",
              "11 VBE 640x480x15", "12 VBE 640x480x24", "13 VBE 640x480x32 display start",
              "14 text again"]
# The text steps: character = cell number & 255, cells of 9 x (8 or 16) dots
MODE_TEXT = {"01": 8, "14": 16}


def qemu_ninth_dots(rows, cell_h):
    """The pixels where QEMU's text differs from a real card's by design: the ninth dot of
    characters B0h-BFh (QEMU repeats the eighth there, an IBM VGA only for C0h-DFh), on a
    screen whose cell N holds character N & 255."""
    out = set()
    for n in range(80 * rows):
        if 0xB0 <= n & 255 <= 0xBF:
            r, c = divmod(n, 80)
            out.update((r * cell_h + y) * 720 + c * 9 + 8 for y in range(cell_h))
    return out


EXIT_OK = (0x10 << 1) | 1


def run_modes(tap, binary, tmp, arts, use_qemu):
    """modes.asm: one picture per mode, pcvm's screenshot against QEMU's screen at each step
    (QEMU's through this RFB client, which also presses its keys)."""
    if not use_qemu:
        tap.skip("modes: pcvm and QEMU show the same in each mode",
                 "qemu-system-x86_64 or gvnccapture missing")
        return
    boot = assemble("modes", tmp)
    disk = os.path.join(tmp, "modes.img")
    make_disk(disk, boot)
    qdisk = os.path.join(tmp, "modes-qemu.img")
    shutil.copyfile(disk, qdisk)
    pc = dl.PcvmMachine(binary, tmp, disk, "modes")
    qm, qdisplay = dl.start_with_vnc(lambda n: dl.QemuMachine(tmp, qdisk, "modes-qemu", n))
    client = None
    try:
        client = dl.Rfb(("127.0.0.1", 5900 + qdisplay))
        client.set_encodings([0, -223])
        for step in MODE_STEPS:
            line = "step " + step
            ok = pc.wait_serial(line, WAIT) and qm.wait_serial(line, WAIT)
            if not tap.ok(ok, f"modes: {step}: both reached it",
                          f"pcvm: {read(pc.serial)[-300:]!r}\nqemu: {read(qm.serial)[-300:]!r}"
                          f"\n{pc.stderr()}"):
                return
            got, err = pc.screenshot(os.path.join(tmp, "modes.png"))
            if got is None:
                tap.ok(False, f"modes: {step}: pcvm screenshot", err)
                return
            number = step.split()[0]
            ignore = None
            if number in MODE_TEXT:
                ignore = qemu_ninth_dots(400 // MODE_TEXT[number], MODE_TEXT[number])
            for attempt in range(4):  # QEMU redraws its console on a timer
                time.sleep(0.2 + 0.5 * attempt)
                qimg = client.capture()
                diff = dl.compare(got, qimg, ignore=ignore, names=("pcvm", "qemu"))
                if diff is None:
                    break
            tag = "modes-" + number
            detail = diff and diff + f"\nkept: {arts.keep(tag + '-pcvm', got)} and " \
                f"{arts.keep(tag + '-qemu', qimg)}"
            tap.ok(diff is None, f"modes: {step}: pcvm's screenshot equals QEMU's screen "
                   f"({got.width}x{got.height}" + (f"; the ninth dots of B0h-BFh, "
                                                   f"{len(ignore)} pixels, left out)"
                                                   if ignore else ")"), detail)
            pc.cli("send-keys", pc.bundle, "ret")
            client.tap_key(dl.XK["Return"])
        pc_rc = pc.proc.wait(timeout=WAIT)
        q_rc = qm.proc.wait(timeout=WAIT)
        tap.ok(pc_rc == EXIT_OK and q_rc == EXIT_OK and "done" in read(pc.serial),
               "modes: both finish (test-exit 0x10)", f"pcvm {pc_rc}, qemu {q_rc}")
    except (OSError, dl.RfbError, subprocess.TimeoutExpired):
        tap.ok(False, "modes: the run went through", traceback.format_exc())
    finally:
        if client:
            client.close()
        pc.kill()
        qm.kill()


def main():
    binary = sys.argv[1]
    names = sys.argv[2:] or list(GUESTS) + ["modes"]
    tap = Tap()
    if not require_kvm(tap):
        return tap.done()
    use_qemu = qemu_available() and shutil.which("gvnccapture") is not None
    arts = Artifacts()
    with tempdir() as tmp:
        for name in names:
            if name == "modes":
                run_modes(tap, binary, tmp, arts, use_qemu)
            else:
                run_guest(tap, binary, tmp, name, GUESTS[name], arts, use_qemu)
    return tap.done()


if __name__ == "__main__":
    sys.exit(main())
