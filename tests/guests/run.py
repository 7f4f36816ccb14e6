#!/usr/bin/env python3
"""Guest tests: nasm programs, built at test time, booted by SeaBIOS from an IDE disk under pcvm.

Each guest reports on COM1 and ends by writing its status to the test-exit port. Where QEMU is
installed the same disk also boots under qemu-system-x86_64 -accel kvm, and both must print the
same and exit the same way (the differential check of testing.md). Output is TAP.

Guests that boot from a CD, or use the CD drive and bus-master DMA themselves, get their media
from a `machine` function (ISOs made with xorriso, qcow2 disks; machines.py): under pcvm a
bundle from `pcvm create` (a blank disk is pcvm's own new qcow2), under QEMU the same drives.
qcow2 images are checked with `qemu-img check` afterwards.

usage: run.py PCVM SRC_DIR GUEST
"""
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from tap import Tap, Pcvm, has_hw_virt, make_disk, nasm, qemu_available, require_kvm, run, \
    run_qemu, tempdir  # noqa: E402

from machines import Vm, image_bytes, iso_file_lba, make_iso, missing_tools, qcow2_check, \
    qcow2_create, word_pattern  # noqa: E402

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


def assemble(src_dir, tmp, name):
    out = os.path.join(tmp, name + ".bin")
    nasm(src_dir, name, out)
    with open(out, "rb") as f:
        return f.read()


# SeaBIOS's log (in pcvm.log) when the blank disk, first in the boot order, falls through to the CD
FELL_THROUGH = ["Booting from Hard Disk", "Boot failed: not a bootable disk",
                "Booting from DVD/CD"]


def eltorito_machine(tmp, src_dir):
    """eltorito.asm as the no-emulation boot image of an ISO with PATTERN.BIN (8 KiB, word W =
    W * 9E37h + 1234h); a blank qcow2 disk that SeaBIOS tries first and falls through."""
    iso = make_iso(os.path.join(tmp, "eltorito.iso"),
                   {"boot.img": assemble(src_dir, tmp, "eltorito"),
                    "pattern.bin": word_pattern(4096, 0x9E37, 0x1234)},
                   boot="boot.img", volid="ELTORITO")
    lba, size = iso_file_lba(iso, "pattern.bin")
    return dict(cdrom=iso, check=qcow2_clean, log=FELL_THROUGH, expect=[
        "El Torito boot from drive E0",
        "INT 13h extensions on drive E0, 0800-byte sectors (hex)",
        f"PATTERN.BIN at LBA {lba:08X}, {size:08X} bytes (hex)",
        "extended read of 4 CD sectors ok",
        "extended read of the third sector alone ok"])


def install_machine(tmp, src_dir):
    """installer.asm boots from the CD and copies PAYLOAD.BIN (installed.asm) to the blank disk."""
    payload = assemble(src_dir, tmp, "installed")
    iso = make_iso(os.path.join(tmp, "install.iso"),
                   {"boot.img": assemble(src_dir, tmp, "installer"), "payload.bin": payload},
                   boot="boot.img", volid="INSTALLER")

    def check(tap, who, disk, grew):
        qcow2_clean(tap, who, disk, grew)
        tap.ok(image_bytes(disk, 0, len(payload)) == payload,
               f"{who}: the disk holds the installed system (read by qemu-img)")
        if grew is not None:
            tap.ok(None not in grew and grew[1] > grew[0],
                   "pcvm: `pcvm disk info` shows the allocated bytes grew",
                   f"before {grew[0]}, after {grew[1]}")
    installed = ["installed system booted from drive 80",
                 "all 9 sectors of the installed system are there"]
    return dict(cdrom=iso, check=check, log=FELL_THROUGH + ["Booting from Hard Disk"], expect=[
        "installer booted from drive E0",
        "installer wrote PAYLOAD.BIN to drive 80 and read it back",
        "installer resets through 0xCF9", *installed,
        "the installer ran before this boot, in the same power cycle"],
        # powered on again with the CD ejected
        again=installed + ["no installer ran in this power cycle: the disk boots on its own"])


DMA_READ_LBA, DMA_WRITE_LBA, DMA_SECTORS = 64, 256, 160


def dma_machine(tmp, src_dir):
    """dma.asm on a qcow2 disk holding the read pattern at LBA 64; the CD a pattern file."""
    raw = os.path.join(tmp, "dma.img")
    read_pattern = word_pattern(DMA_SECTORS * 256, 0x9E37, 0x1234)
    make_disk(raw, assemble(src_dir, tmp, "dma"), extra={DMA_READ_LBA: read_pattern})
    cd = os.path.join(tmp, "dma-cd.bin")
    with open(cd, "wb") as f:
        f.write(word_pattern(64 * 1024, 0x3C6F, 0x0F0F))  # 64 blocks of 2048 bytes

    def disk(who):
        return qcow2_create(os.path.join(tmp, who + "-dma.qcow2"), 0, raw=raw)

    def check(tap, who, path, grew):
        qcow2_clean(tap, who, path, grew)
        want = word_pattern(DMA_SECTORS * 256, 0x7F4B, xor=0xA5C3)
        tap.ok(image_bytes(path, DMA_WRITE_LBA * 512, len(want)) == want,
               f"{who}: WRITE DMA's data is in the image at LBA {DMA_WRITE_LBA}")
        tap.ok(image_bytes(path, DMA_READ_LBA * 512, len(read_pattern)) == read_pattern,
               f"{who}: the sectors read by DMA are unchanged")
    return dict(disk=disk, cdrom=cd, check=check, expect=[
        "IDENTIFY: DMA, multiword DMA 0-2 and Ultra DMA supported",
        "READ DMA of 160 sectors through 5 PRD entries (odd sizes, a page crossing, 64 KiB) ok",
        "WRITE DMA of 160 sectors ok, read back by DMA through 2 entries",
        "ATAPI READ (10) of 4 blocks by DMA through 3 PRD entries ok"])


def cdrom_machine(tmp, src_dir):
    """cdrom.asm on a raw disk; the CD the same pattern file as dma's."""
    raw = os.path.join(tmp, "cdrom.img")
    make_disk(raw, assemble(src_dir, tmp, "cdrom"))
    cd = os.path.join(tmp, "cdrom-cd.bin")
    with open(cd, "wb") as f:
        f.write(word_pattern(64 * 1024, 0x3C6F, 0x0F0F))
    return dict(disk=lambda who: raw, cdrom=cd, check=lambda *args: None, expect=[
        "INQUIRY: peripheral type 05, removable 01",
        "READ CAPACITY: last LBA 0000003F, 00000800-byte blocks (hex)",
        "READ (10) of 2 blocks by PIO, byte count limit 1FFh: even DRQ blocks of at most 1FEh "
        "bytes, data ok",
        "READ (12) past the last block: sense 05/21/00",
        "opcode FFh: sense 05/20/00",
        "READ TOC: tracks 01-01, track 1 at LBA 00000000, lead-out AA at LBA 00000040",
        "MODE SENSE (10): page 2A, page length 14"])


def dmaerr_machine(tmp, src_dir):
    """dmaerr.asm on a raw disk whose LBA 71 ends with the marker 5A5AA5A5h."""
    raw = os.path.join(tmp, "dmaerr.img")
    make_disk(raw, assemble(src_dir, tmp, "dmaerr"), extra={71: bytes(508) + b"\xa5\xa5\x5a\x5a"})
    return dict(disk=lambda who: raw, cdrom=None, check=lambda *args: None, expect=[
        "PRD region outside RAM: bus-master Error and Interrupt, drive ERR",
        "PRD table outside RAM: bus-master Error and Interrupt, drive ERR",
        "PRD table shorter than the transfer: Interrupt and Active clear; channel reset",
        "READ DMA through the same channel afterwards ok"])


def qcow2_clean(tap, who, disk, grew=None):
    ok, report = qcow2_check(disk)
    tap.ok(ok, f"{who}: qemu-img check finds the qcow2 disk clean", report)


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
    "eltorito": dict(machine=eltorito_machine),
    "install": dict(machine=install_machine),
    "dma": dict(machine=dma_machine),
    "cdrom": dict(machine=cdrom_machine),
    "dmaerr": dict(machine=dmaerr_machine, qemu=False),
}


def lines(text):
    return [l.rstrip("\r") for l in text.splitlines()]


def check_run(tap, who, spec, rc, serial, detail):
    want_rc = spec.get("exit_code", EXIT_OK)
    tap.ok(rc == want_rc, f"{who}: exit code {want_rc}", f"got {rc}\nserial:\n{serial}\n{detail}")
    got = lines(serial)
    tap.ok(got == spec["expect"], f"{who}: serial output as expected",
           "expected:\n" + "\n".join(spec["expect"]) + "\ngot:\n" + serial + "\n" + detail)


def allocated(pcvm_bin, bundle):
    """The disk's allocated bytes as `pcvm disk info` reports them (None if it does not)."""
    rc, out, err = run([pcvm_bin, "disk", "info", bundle], 30)
    m = re.search(r"ide0:0: disk\n(?:  .*\n)*?  allocated .*\((\d+) bytes\)", out)
    return int(m.group(1)) if rc == 0 and m else None


def conf_disk(bundle):
    with open(os.path.join(bundle, "vm.conf")) as f:
        m = re.search(r"\[ide0:0\][^[]*?file=(\S+)", f.read())
    path = m.group(1)
    return path if os.path.isabs(path) else os.path.join(bundle, path)


def run_machine(tap, pcvm_bin, src_dir, guest, spec, tmp):
    """A guest whose drives come from spec["machine"] (a disk image or a blank qcow2, a CD or
    none): booted under pcvm from a bundle, then (unless qemu=False) under QEMU, the same."""
    missing = missing_tools("xorriso", "qemu-img")
    if missing:
        tap.skip(f"{guest} under pcvm", "needs " + ", ".join(missing))
        return
    setup = spec["machine"](tmp, src_dir)
    spec = dict(spec, expect=setup["expect"])
    vm = Vm(tmp, cdrom=setup["cdrom"], cpus=spec.get("cpus", 1))
    vm.disk = setup["disk"]("pcvm") if "disk" in setup else None
    bundle = vm.pcvm_create(pcvm_bin, name=guest)  # no disk given: a new blank qcow2
    disk = conf_disk(bundle)
    before = allocated(pcvm_bin, bundle)
    rc, serial, log, err = vm.pcvm_run(pcvm_bin, bundle, timeout=90)
    check_run(tap, "pcvm", spec, rc, serial, "stderr:\n" + err + "\npcvm.log:\n" + log[-3000:])
    if "log" in setup:
        pos = 0
        for fragment in setup["log"]:
            pos = log.find(fragment, pos)
            if pos < 0:
                break
            pos += len(fragment)
        tap.ok(pos >= 0 and log.count("Booting from DVD/CD") == 1,
               "pcvm: the firmware log shows " + " -> ".join(setup["log"]), log[-3000:])
    setup["check"](tap, "pcvm", disk, (before, allocated(pcvm_bin, bundle)))
    if "again" in setup:
        rc2, out, err = run([pcvm_bin, "media", bundle, "cdrom", "--eject"], 30)
        tap.ok(rc2 == 0, "pcvm: eject the CD with the VM off", out + err)
        rc2, serial2, log, err = vm.pcvm_run(pcvm_bin, bundle, timeout=90, name=guest + "-again")
        check_run(tap, "pcvm, powered on again without the CD", dict(spec, expect=setup["again"]),
                  rc2, serial2, "stderr:\n" + err + "\npcvm.log:\n" + log[-3000:])
        ok, report = qcow2_check(disk)
        tap.ok(ok, "pcvm: qemu-img check: still clean after the second boot", report)
    if not spec.get("qemu", True):
        return
    if not qemu_available():
        tap.skip("qemu: same behaviour", "qemu-system-x86_64 is not installed")
        return
    qdisk = setup["disk"]("qemu") if "disk" in setup else \
        qcow2_create(os.path.join(tmp, "qemu.qcow2"), "64M")
    qrc, qserial = vm.qemu_run(disk=qdisk, timeout=90)
    tap.ok(qrc == rc, "qemu: same exit code as pcvm", f"qemu {qrc}, pcvm {rc}")
    tap.ok(lines(qserial) == lines(serial), "qemu: same serial output as pcvm",
           "qemu:\n" + qserial + "\npcvm:\n" + serial)
    setup["check"](tap, "qemu", qdisk, None)


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
    if "machine" in spec:
        with tempdir() as tmp:
            run_machine(tap, pcvm_bin, src_dir, guest, spec, tmp)
        return tap.done()
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
