#!/usr/bin/env python3
"""Debian's ISOLINUX (packages isolinux and syslinux-common) on an ISO made with xorriso, its
isolinux.cfg printing on COM1 (SERIAL 0 115200, a SAY line, PROMPT 1): booted from the CD of a
VM with a blank disk, it reaches its "boot:" prompt.

Where the CPU has no VT-x/AMD-V (the build machines), KVM emulates every instruction and
cannot emulate the 32-bit IRET ISOLINUX 6.04 runs early (testing.md): there the prompt check
skips, and the test checks instead what pcvm must do on such a stop — end within a timeout
with exit code 1 and a report of the emulation failure with the guest's registers on stderr,
rather than hang as QEMU does. With VT-x/AMD-V the prompt must come, under pcvm and under QEMU.

usage: isolinux.py PCVM
"""
import os
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
from tap import Tap, has_hw_virt, qemu_available, read, require_kvm, run, tempdir  # noqa: E402

ISOLINUX_BIN = "/usr/lib/ISOLINUX/isolinux.bin"
LDLINUX_C32 = "/usr/lib/syslinux/modules/bios/ldlinux.c32"
CONFIG = """SERIAL 0 115200
SAY pcvm: isolinux.cfg read
PROMPT 1
TIMEOUT 0
DEFAULT local
LABEL local
  LOCALBOOT 0
"""
SAID = "pcvm: isolinux.cfg read"
PROMPT = "boot:"
TIMEOUT = 60


def make_iso(tmp):
    tree = os.path.join(tmp, "iso")
    os.makedirs(os.path.join(tree, "isolinux"))
    shutil.copy(ISOLINUX_BIN, os.path.join(tree, "isolinux"))
    shutil.copy(LDLINUX_C32, os.path.join(tree, "isolinux"))
    with open(os.path.join(tree, "isolinux", "isolinux.cfg"), "w") as f:
        f.write(CONFIG)
    iso = os.path.join(tmp, "isolinux.iso")
    subprocess.run(["xorriso", "-as", "mkisofs", "-quiet", "-V", "PCVM_ISOLINUX",
                    "-b", "isolinux/isolinux.bin", "-c", "isolinux/boot.cat", "-no-emul-boot",
                    "-boot-load-size", "4", "-boot-info-table", "-o", iso, tree],
                   check=True, capture_output=True)
    return iso


def run_until_prompt(cmd, serial, timeout):
    """Runs CMD until the serial file shows the prompt, the process ends, or TIMEOUT: (exit
    code or None while still running, stderr, seconds)."""
    start = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    while proc.poll() is None and time.monotonic() - start < timeout:
        if PROMPT in read(serial):
            break
        time.sleep(0.1)
    rc = proc.poll()
    if rc is None:
        proc.kill()
    out, err = proc.communicate()
    return rc, err, time.monotonic() - start


def main():
    binary = sys.argv[1]
    tap = Tap()
    if not require_kvm(tap):
        return tap.done()
    missing = [p for p in (ISOLINUX_BIN, LDLINUX_C32) if not os.path.exists(p)]
    if missing or not shutil.which("xorriso"):
        tap.skip("ISOLINUX under pcvm", "needs xorriso and " + ", ".join(missing) +
                 " (apt-get install xorriso isolinux syslinux-common)")
        return tap.done()
    hw = has_hw_virt()
    with tempdir() as tmp:
        iso = make_iso(tmp)
        bundle = os.path.join(tmp, "isolinux.pcvm")
        rc, out, err = run([binary, "create", bundle, "--disk-size", "64M", "--cdrom", iso], 30)
        if not tap.ok(rc == 0, "create a VM with a blank disk and the ISOLINUX ISO", err):
            return tap.done()
        serial = os.path.join(tmp, "pcvm.serial")
        rc, err, took = run_until_prompt([binary, "run", bundle, "--serial", serial], serial,
                                         TIMEOUT)
        text, log = read(serial), read(os.path.join(bundle, "pcvm.log"))
        detail = f"exit code {rc} after {took:.1f} s\nserial:\n{text}\nstderr:\n{err}\n" \
                 f"pcvm.log:\n{log[-2500:]}"
        tap.ok("Booting from DVD/CD" in log, "SeaBIOS boots the CD (pcvm.log)", detail)
        if not hw:
            tap.ok(rc == 1, "without VT-x: pcvm stops with exit code 1 instead of hanging",
                   detail)
            tap.ok("instruction emulation failed" in err and "RIP=" in err and "CS=" in err,
                   "without VT-x: stderr reports the emulation failure with the registers",
                   detail)
            tap.ok("guest failure" in log, "without VT-x: pcvm.log says why the VM stopped",
                   detail)
            tap.skip("ISOLINUX reaches its prompt on COM1", "the CPU has no VT-x/AMD-V: this KVM "
                     "cannot emulate ISOLINUX's 32-bit IRET (testing.md)")
            return tap.done()
        tap.ok(SAID in text and PROMPT in text, "ISOLINUX reads isolinux.cfg and prompts on COM1",
               detail)
        tap.ok(rc is None, "pcvm runs on at the prompt", detail)
        if not qemu_available():
            tap.skip("qemu: the same prompt", "qemu-system-x86_64 is not installed")
            return tap.done()
        qserial = os.path.join(tmp, "qemu.serial")
        qdisk = os.path.join(tmp, "qemu.qcow2")
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", qdisk, "64M"], check=True)
        qrc, qerr, qtook = run_until_prompt(
            ["qemu-system-x86_64", "-accel", "kvm", "-machine", "pc", "-m", "256", "-nodefaults",
             "-vga", "none", "-display", "none", "-serial", "file:" + qserial,
             "-boot", "order=cd", "-drive", f"file={qdisk},format=qcow2,if=ide,index=0",
             "-drive", f"file={iso},format=raw,if=ide,index=2,media=cdrom,readonly=on"],
            qserial, TIMEOUT)
        qtext = read(qserial)
        tap.ok(SAID in qtext and PROMPT in qtext, "qemu: the same prompt on COM1",
               f"qemu:\n{qtext}\n{qerr}\npcvm:\n{text}")
    return tap.done()


if __name__ == "__main__":
    sys.exit(main())
