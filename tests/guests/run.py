#!/usr/bin/env python3
"""Guest tests: nasm programs, built at test time, booted by SeaBIOS from an IDE disk under pcvm.

Each guest reports on COM1 and ends by writing its status to the test-exit port. Where QEMU is
installed the same disk also boots under qemu-system-x86_64 -accel kvm, and both must print the
same and exit the same way (the differential check of testing.md). Output is TAP.

usage: run.py PCVM SRC_DIR GUEST
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from tap import Tap, Pcvm, has_hw_virt, make_disk, nasm, qemu_available, require_kvm, run_qemu, \
    tempdir  # noqa: E402

EXIT_OK = (0x10 << 1) | 1  # a guest's "all passed": exit_with 0x10


def int13_pattern():
    """Sectors 16-31: (sector * 13 + offset) & 0xFF, which the guest reads and checks."""
    return {16: bytes(((s * 13 + i) & 0xFF) for s in range(16, 32) for i in range(512))}


def int13_check(tap, who, disk):
    written = bytes((((j * 3) & 0xFF) ^ 0xA5) for j in range(4096))
    with open(disk, "rb") as f:
        data = f.read()
    tap.ok(data[48 * 512:56 * 512] == written, f"{who}: INT 13h extended writes reached the image")
    tap.ok(data[56 * 512:57 * 512] == written[:512], f"{who}: INT 13h CHS write reached the image")


GUESTS = {
    "hello": dict(expect=["hello from the boot sector, drive 80"]),
    "int13": dict(extra=int13_pattern, check=int13_check,
                  expect=["int13 ext read of 16 sectors ok", "int13 ext write of 8 sectors ok",
                          "int13 chs read and write ok"]),
    "reset": dict(expect=["boot 01", "reset through 0xCF9", "boot 02",
                          "reset through the keyboard controller", "boot 03",
                          "reset through port 0x92", "boot 04",
                          "all three reset lines rebooted the machine"]),
    "reset_smp": dict(source="reset", cpus=2, expect=[
        "boot 01", "reset through 0xCF9", "boot 02", "reset through the keyboard controller",
        "boot 03", "reset through port 0x92", "boot 04", "all three reset lines rebooted the machine"]),
    "triple": dict(needs_hw_virt=True,
                   expect=["triple fault", "rebooted after the triple fault"]),
    "acpi_off": dict(exit_code=0, expect=["powering off through PM1a_CNT"]),
    "smp": dict(cpus=2, expect=["BSP: sending INIT-SIPI-SIPI to APIC 1",
                                "AP started and ran the trampoline"]),
    "smp4": dict(source="smp", cpus=4, expect=["BSP: sending INIT-SIPI-SIPI to APIC 1",
                                                "AP started and ran the trampoline"]),
    "emulation": dict(qemu=False, no_hw_virt=dict(
        exit_code=1, expect=["executing DAA"],
        stderr=["instruction emulation failed", "instruction bytes at RIP: 27", "RIP=0000000000007c"]),
        expect=["executing DAA", "DAA executed"]),
    "hostile": dict(qemu=False, expect=["ide refused an out-of-range LBA48 read",
                                        "fw_cfg refused DMA outside RAM",
                                        "survived garbage on every port"]),
}


def lines(text):
    return [l.rstrip("\r") for l in text.splitlines()]


def check_run(tap, who, spec, rc, serial, detail):
    want_rc = spec.get("exit_code", EXIT_OK)
    tap.ok(rc == want_rc, f"{who}: exit code {want_rc}", f"got {rc}\nserial:\n{serial}\n{detail}")
    got = lines(serial)
    tap.ok(got == spec["expect"], f"{who}: serial output as expected",
           "expected:\n" + "\n".join(spec["expect"]) + "\ngot:\n" + serial + "\n" + detail)


def main():
    pcvm_bin, src_dir, guest = sys.argv[1:4]
    spec = GUESTS[guest]
    tap = Tap()
    if not require_kvm(tap):
        return tap.done()
    if spec.get("needs_hw_virt") and not has_hw_virt():
        tap.skip(f"{guest} under pcvm", "the CPU has no VT-x/AMD-V: this KVM emulates "
                 "instructions and cannot deliver the guest's exceptions")
        return tap.done()
    if "no_hw_virt" in spec and not has_hw_virt():
        spec = dict(spec, **spec["no_hw_virt"])
    cpus = spec.get("cpus", 1)
    with tempdir() as tmp:
        image = os.path.join(tmp, guest + ".bin")
        nasm(src_dir, spec.get("source", guest), image)
        with open(image, "rb") as f:
            boot = f.read()
        extra = spec["extra"]() if "extra" in spec else None
        disk = os.path.join(tmp, "pcvm.img")
        make_disk(disk, boot, extra=extra)
        rc, serial, log, err = Pcvm(pcvm_bin, tmp).run_guest(disk, cpus=cpus, timeout=90)
        check_run(tap, "pcvm", spec, rc, serial, "stderr:\n" + err + "\npcvm.log:\n" + log)
        for fragment in spec.get("stderr", []):
            tap.ok(fragment in err, f"pcvm: stderr reports '{fragment}'", err)
        if "check" in spec:
            spec["check"](tap, "pcvm", disk)
        if not spec.get("qemu", True):
            return tap.done()
        if not qemu_available():
            tap.skip("qemu: same behaviour", "qemu-system-x86_64 is not installed")
            return tap.done()
        qdisk = os.path.join(tmp, "qemu.img")
        make_disk(qdisk, boot, extra=extra)
        qrc, qserial = run_qemu(qdisk, tmp, cpus=cpus, timeout=90)
        tap.ok(qrc == rc, "qemu: same exit code as pcvm", f"qemu {qrc}, pcvm {rc}")
        tap.ok(lines(qserial) == lines(serial), "qemu: same serial output as pcvm",
               "qemu:\n" + qserial + "\npcvm:\n" + serial)
        if "check" in spec:
            spec["check"](tap, "qemu", qdisk)
    return tap.done()


if __name__ == "__main__":
    sys.exit(main())
