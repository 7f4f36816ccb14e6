#!/usr/bin/env python3
"""A guest in VBE graphics comes back with the same screen after a revert.

The guest (tests/snapshot/screen.asm) sets a VESA 800x600x32 linear-framebuffer mode and draws
a picture the test recomputes; each key it reads through INT 16h changes the screen: another
picture in the same mode, or ('t') text mode 3. The test:
  1. `pcvm screenshot` equals the recomputed picture; take a snapshot; its thumbnail ID.png
     is a PNG of that screen (800x600, the same pixels);
  2. a key: the guest draws the next picture; the screenshot differs; revert: the screenshot
     is pixel-identical to the one before the snapshot;
  3. 't': the guest switches to text mode (720x400 screenshot); revert: the VBE mode and the
     picture come back, pixel-identical;
  4. after the revert the guest still reads keys and draws in the restored mode.
On a mismatch the pictures are kept in $PCVM_TEST_ARTIFACTS (default: a pcvm-snapshot-screen-*
directory in /tmp), named in the failure.

usage: snapshot_screen.py PCVM
"""
import os
import shutil
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "display"))
import snapshotlib as sl  # noqa: E402
from snapshotlib import Vm  # noqa: E402
import displaylib as dl  # noqa: E402

WAIT = 90


def picture(phase):
    """What screen.asm draws for PHASE, as an RGB Image."""
    red_add, blue_xor = (phase * 64) & 255, (phase * 0x55) & 255
    reds = [(((x * 5) >> 4) + red_add) & 255 for x in range(800)]
    rows = []
    for y in range(600):
        g = (y * 3) >> 3
        row = bytearray(2400)
        row[0::3] = bytes(reds)
        row[1::3] = bytes([g]) * 800
        row[2::3] = bytes(((x ^ y) & 255) ^ blue_xor for x in range(800))
        rows.append(bytes(row))
    return dl.Image(800, 600, b"".join(rows))


class Artifacts:
    def __init__(self):
        self.dir = None

    def keep(self, name, img_or_path):
        if self.dir is None:
            base = os.environ.get("PCVM_TEST_ARTIFACTS")
            if base:
                os.makedirs(base, exist_ok=True)
            self.dir = tempfile.mkdtemp(prefix="pcvm-snapshot-screen-", dir=base)
        out = os.path.join(self.dir, name)
        if isinstance(img_or_path, str):
            shutil.copy(img_or_path, out)
        else:
            dl.write_png(out, img_or_path)
        return out


def shot(vm, tmp, name):
    """(Image or None, message) from `pcvm screenshot`."""
    path = os.path.join(tmp, name + ".png")
    rc, out, err = vm.cli("screenshot", vm.bundle, path)
    if rc != 0 or not os.path.exists(path):
        return None, f"pcvm screenshot: exit {rc}: {out}{err}"
    try:
        return dl.read_png(path), ""
    except ValueError as e:
        return None, str(e)


def same(tap, art, name, got, want, what):
    diff = "no screenshot" if got is None else dl.compare(got, want)
    detail = diff
    if diff and got is not None:
        detail += (f"\nkept: {art.keep(name + '-got.png', got)} and "
                   f"{art.keep(name + '-want.png', want)}")
    return tap.ok(diff is None, what, detail)


def wait_serial(vm, text, offset, seconds=WAIT):
    return vm.wait(lambda: text in vm.serial()[offset:], seconds)


def main():
    return sl.main("screen", "screen", lambda tap, vm, _: run_tests(tap, vm, vm.tmp, Artifacts()))


def run_tests(tap, vm, tmp, art):
    t0 = time.monotonic()
    vm.start()
    if not tap.ok(wait_serial(vm, "drawn 00", 0), f"the guest draws in VBE 800x600x32 "
                  f"({time.monotonic() - t0:.1f} s)",
                  f"COM1: {vm.serial()[-800:]}\nstderr: {vm.stderr()}"):
        return
    want0 = picture(0)
    s1, msg = shot(vm, tmp, "s1")
    if not same(tap, art, "before", s1, want0, "the screen before the snapshot is the guest's "
                "picture"):
        return

    rc, out, err, secs = vm.snap("take", "graphics")
    sid = out.split()[1] if rc == 0 and out.startswith("snapshot ") else None
    tap.ok(sid is not None, f"take a snapshot in VBE graphics ({secs * 1000:.0f} ms)", out + err)
    thumb = vm.snapdir(f"{sid}.png")
    try:
        timg = dl.read_png(thumb)
        problem = dl.compare(timg, s1)
    except (OSError, ValueError) as e:
        timg, problem = None, str(e)
    if problem and timg is not None:
        problem += f"\nkept: {art.keep('thumbnail.png', thumb)}"
    tap.ok(timg is not None and timg.size == (800, 600) and problem is None,
           f"the thumbnail {sid}.png is a PNG of the screen "
           f"({timg.width}x{timg.height})" if timg else f"the thumbnail {sid}.png", problem)

    # another picture, then revert
    off = vm.serial_size()
    rc, out, err = vm.cli("send-keys", vm.bundle, "a")
    drew = wait_serial(vm, "drawn 01", off)
    s2, msg = shot(vm, tmp, "s2")
    tap.ok(rc == 0 and drew and s2 is not None and dl.compare(s2, picture(1)) is None,
           "a key: the guest draws its next picture", f"{err}{msg}")
    rc, out, err, secs = vm.snap("revert", "graphics")
    tap.ok(rc == 0, f"revert ({secs * 1000:.0f} ms)", out + err)
    s3, msg = shot(vm, tmp, "s3")
    same(tap, art, "revert1", s3, s1, "after the revert the screen is pixel-identical to the "
         "one before the snapshot")

    # text mode, then revert
    off = vm.serial_size()
    rc, out, err = vm.cli("send-keys", vm.bundle, "t")
    switched = wait_serial(vm, "text\r\n", off, 30)
    s4, msg = shot(vm, tmp, "s4")
    tap.ok(rc == 0 and switched and s4 is not None and s4.size == (720, 400),
           "'t': the guest switches to text mode (a 720x400 screen)",
           f"{err}{msg} size {s4 and s4.size}\nCOM1: {vm.serial()[off:]}")
    r = vm.control("snapshot-revert", snapshot=sid)
    tap.ok(bool(r and r.get("ok")), "revert from text mode (control socket)", r)
    s5, msg = shot(vm, tmp, "s5")
    same(tap, art, "revert2", s5, s1, "after the revert from text mode the VBE mode and picture "
         "are back, pixel-identical")

    # the guest goes on in the restored mode
    off = vm.serial_size()
    rc, out, err = vm.cli("send-keys", vm.bundle, "a")
    drew = wait_serial(vm, "drawn 01", off)
    s6, msg = shot(vm, tmp, "s6")
    same(tap, art, "after", s6, picture(1),
         "after the revert the guest reads keys and draws in the restored mode")

    code = vm.stop()
    tap.ok(code == 0, f"pcvm stop: exit code {code}", vm.stderr())
    problems = vm.consistency(live=False, expect_ids=[sid])
    tap.ok(not problems, "qemu-img check clean, the disk snapshot as in the tree",
           "\n".join(problems))


if __name__ == "__main__":
    sys.exit(main())
