#!/usr/bin/env python3
"""SCSI disks: [scsi0:N] in vm.conf, `pcvm create --disk-bus scsi`, the LSI 53C895A at 00:04.0
with SeaBIOS booting from it.

  1. Without a guest: create --disk-bus scsi writes [scsi0:0]; disk info, disk add --slot,
     config set/unset and offline snapshots cover the SCSI disk; [scsi0:7], a CD drive on SCSI
     and a bad --disk-bus are refused with messages that say what to do.
  2. Boot (/dev/kvm): guests/hello.asm from a SCSI disk; the fw_cfg bootorder names the disk as
     SeaBIOS looks it up (its log in pcvm.log); guests/int13.asm reads and writes through
     SeaBIOS's LSI driver (INT 13h, extended and CHS) and the writes reach the image; with an IDE
     disk too, boot= order decides and SCSI disks come after IDE ones.
  3. The same guests under QEMU (-device lsi53c895a -device scsi-hd) as a differential check:
     the same serial output and exit code.
  4. Snapshots of a running VM on a SCSI disk (tests/snapshot/counter.asm): take, revert.

usage: scsi.py PCVM GUEST_SRC_DIR
"""
import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, os.path.join(HERE, "..", "guests"))
from tap import Tap, make_disk, nasm, qemu_available, read, require_kvm, run, \
    tempdir  # noqa: E402
from run import int13_check, int13_pattern  # noqa: E402
import snapshotlib as sl  # noqa: E402

EXIT_OK = (0x10 << 1) | 1  # a guest's "all passed": exit_with 0x10
HELLO = ["hello from the boot sector, drive 80"]
INT13 = ["int13 ext read of 16 sectors ok", "int13 ext write of 8 sectors ok",
         "int13 chs read and write ok"]
# SeaBIOS's bootprio_find_scsi_device lookup for target 0, LUN 0 of the controller in slot 4
SCSI_LOOKUP = "Searching bootorder for: /pci@i0cf8/*@4/*@0/*@0,0"


def pcvm(binary, *args, timeout=60):
    return run([binary, *args], timeout)


def check_error(tap, name, result, *fragments):
    rc, out, err = result
    tap.ok(rc == 1 and all(f in err for f in fragments), name,
           f"exit code {rc}\nstderr: {err}\nexpected: {fragments}")


def conf(bundle):
    return read(os.path.join(bundle, "vm.conf"))


def write_conf(bundle, text):
    with open(os.path.join(bundle, "vm.conf"), "w") as f:
        f.write(text)


def guest_image(src, tmp, name, extra=None):
    """tmp/NAME.img: the assembled guest at sector 0 of a 1 MiB raw disk, EXTRA after it."""
    binary = os.path.join(tmp, name + ".bin")
    nasm(src, name, binary)
    with open(binary, "rb") as f:
        boot = f.read()
    disk = os.path.join(tmp, name + ".img")
    make_disk(disk, boot, extra=extra)
    return disk


def lines(text):
    return [l.rstrip("\r") for l in text.splitlines()]


# ---- 1. configuration, without a guest ----

def test_create(tap, binary, tmp):
    bundle = os.path.join(tmp, "scsi.pcvm")
    rc, out, err = pcvm(binary, "create", bundle, "--disk-bus", "scsi", "--disk-size", "64M",
                        "--net", "none")
    text = conf(bundle)
    tap.ok(rc == 0 and re.search(r"\[scsi0:0\]\n(type=disk\n)?file=disk0.qcow2", text)
           and "[ide0:0]" not in text, "create --disk-bus scsi puts the disk in [scsi0:0]",
           err + text)
    rc, out, err = pcvm(binary, "disk", "info", bundle)
    tap.ok(rc == 0 and "scsi0:0: disk" in out and "(67108864 bytes)" in out,
           "disk info lists the SCSI disk", out + err)
    rc, out, err = pcvm(binary, "disk", "add", bundle, "--size", "16M", "--slot", "scsi0:3")
    text = conf(bundle)
    tap.ok(rc == 0 and "scsi0:3: new disk disk1.qcow2" in out and "[scsi0:3]" in text,
           "disk add --slot scsi0:3", out + err + text)
    rc, out, err = pcvm(binary, "disk", "grow", bundle, "scsi0:3", "32M")
    tap.ok(rc == 0 and "scsi0:3: disk1.qcow2 grown" in out, "disk grow of a SCSI disk", out + err)
    check_error(tap, "disk add refuses a taken SCSI slot",
                pcvm(binary, "disk", "add", bundle, "--slot", "scsi0:3"), "holds a drive already")
    check_error(tap, "disk add refuses SCSI ID 7",
                pcvm(binary, "disk", "add", bundle, "--slot", "scsi0:7"), "scsi0:0 to scsi0:6")
    rc, out, err = pcvm(binary, "disk", "remove", bundle, "scsi0:3", "--delete-file")
    tap.ok(rc == 0 and "[scsi0:3]" not in conf(bundle)
           and not os.path.exists(os.path.join(bundle, "disk1.qcow2")),
           "disk remove of a SCSI disk", out + err)

    rc, out, err = pcvm(binary, "config", bundle, "set", "scsi0:5.file=/nowhere.img")
    tap.ok(rc == 0 and "[scsi0:5]" in conf(bundle), "config set scsi0:5.file", out + err)
    rc, out, err = pcvm(binary, "config", bundle, "get", "scsi0:5.file")
    tap.ok(rc == 0 and out.strip() == "/nowhere.img", "config get scsi0:5.file", out + err)
    rc, out, err = pcvm(binary, "config", bundle, "unset", "scsi0:5")
    tap.ok(rc == 0 and "[scsi0:5]" not in conf(bundle), "config unset scsi0:5", out + err)
    check_error(tap, "config refuses a CD drive on SCSI",
                pcvm(binary, "config", bundle, "set", "scsi0:1.type=cdrom"),
                "[scsi0:1] type=cdrom: expected disk")
    check_error(tap, "config refuses [scsi0:7]",
                pcvm(binary, "config", bundle, "set", "scsi0:7.file=x.img"), "scsi0:0 to scsi0:6")
    check_error(tap, "create refuses an unknown --disk-bus",
                pcvm(binary, "create", os.path.join(tmp, "bad.pcvm"), "--disk-bus", "sata"),
                "--disk-bus sata: expected ide or scsi")
    tap.ok(not os.path.exists(os.path.join(tmp, "bad.pcvm")), "a refused create leaves nothing")
    return bundle


def disk_snapshot_tags(disk):
    """The tags of DISK's internal snapshots (qemu-img info), or None."""
    rc, out, err = run(["qemu-img", "info", "-U", "--output=json", disk], 30)
    return [s["name"] for s in json.loads(out).get("snapshots", [])] if rc == 0 else None


def test_offline_snapshot(tap, binary, bundle):
    """Snapshots cover the SCSI disk: one taken with the VM off lands in its qcow2."""
    disk = os.path.join(bundle, "disk0.qcow2")
    rc, out, err = pcvm(binary, "snapshot", "take", bundle, "on-scsi")
    m = re.match(r"snapshot (\S+) taken", out)
    tags = disk_snapshot_tags(disk)
    tap.ok(rc == 0 and m and tags == [m.group(1)],
           "an offline snapshot is taken of the SCSI disk (qemu-img info)", f"{out}{err}{tags}")
    rc, out, err = pcvm(binary, "snapshot", "delete", bundle, "on-scsi")
    tags = disk_snapshot_tags(disk)
    tap.ok(rc == 0 and tags == [], "deleting it removes it from the SCSI disk", f"{out}{err}{tags}")


def test_refusals(tap, binary, tmp, src):
    """vm.conf errors pcvm run reports before the machine starts."""
    bundle = os.path.join(tmp, "refuse.pcvm")
    disk = guest_image(src, tmp, "hello")
    rc, out, err = pcvm(binary, "create", bundle, "--disk", disk, "--disk-bus", "scsi",
                        "--net", "none")
    base = conf(bundle)
    write_conf(bundle, base + "\n[scsi0:7]\nfile=" + disk + "\n")
    check_error(tap, "run refuses [scsi0:7]", pcvm(binary, "run", bundle, timeout=30),
                "[scsi0:7]: SCSI ID 7 is the controller's own", "[scsi0:0] to [scsi0:6]")
    write_conf(bundle, base + "\n[scsi0:2]\ntype=cdrom\nfile=" + disk + "\n")
    check_error(tap, "run refuses a CD drive on SCSI", pcvm(binary, "run", bundle, timeout=30),
                "vm.conf:", "[scsi0:2] type=cdrom: expected disk",
                "a CD drive goes on IDE")
    write_conf(bundle, base + "\n[scsi0:4]\nfile=/nonexistent.img\n")
    check_error(tap, "run names a missing SCSI disk", pcvm(binary, "run", bundle, timeout=30),
                "disk [scsi0:4]", "/nonexistent.img")


# ---- 2. and 3. booting ----

def pcvm_boot(binary, tmp, name, *create_args, timeout=90):
    bundle = os.path.join(tmp, name + ".pcvm")
    rc, out, err = pcvm(binary, "create", bundle, "--test-exit", "--net", "none", *create_args)
    if rc != 0:
        return None, "", "", err, bundle
    serial = os.path.join(tmp, name + ".serial")
    rc, out, err = pcvm(binary, "run", bundle, "--serial", serial, timeout=timeout)
    return rc, read(serial), read(os.path.join(bundle, "pcvm.log")), err, bundle


def qemu_boot(tmp, name, scsi_disk, ide_disk=None, timeout=90):
    """SCSI_DISK as scsi-hd at ID 0 of an lsi53c895a in slot 4, booted first; (rc, serial)."""
    serial = os.path.join(tmp, name + ".qemu.serial")
    cmd = ["qemu-system-x86_64", "-accel", "kvm", "-machine", "pc", "-m", "256", "-nodefaults",
           "-vga", "std", "-display", "none", "-serial", "file:" + serial,
           "-device", "isa-debug-exit,iobase=0xf4,iosize=4",
           "-device", "lsi53c895a,id=scsi0,addr=4",
           "-drive", f"file={scsi_disk},format=raw,if=none,id=sd0",
           "-device", "scsi-hd,drive=sd0,bus=scsi0.0,scsi-id=0,bootindex=1"]
    if ide_disk:
        cmd += ["-drive", f"file={ide_disk},format=raw,if=ide,index=0"]
    rc, out, err = run(cmd, timeout)
    return rc, read(serial)


def check_boot(tap, who, rc, serial, want, detail):
    tap.ok(rc == EXIT_OK, f"{who}: exit code {EXIT_OK}", f"got {rc}\nserial:\n{serial}\n{detail}")
    tap.ok(lines(serial) == want, f"{who}: serial output as expected",
           "expected:\n" + "\n".join(want) + "\ngot:\n" + serial + "\n" + detail)


def test_hello(tap, binary, tmp, src):
    disk = guest_image(src, tmp, "hello")
    rc, serial, log, err, bundle = pcvm_boot(binary, tmp, "hello", "--disk", disk,
                                             "--disk-bus", "scsi")
    detail = "stderr:\n" + err + "\npcvm.log:\n" + log[-4000:]
    check_boot(tap, "pcvm, hello from a SCSI disk", rc, serial, HELLO, detail)
    tap.ok("1: /pci@i0cf8/scsi@4/channel@0/disk@0,0" in log and SCSI_LOOKUP in log,
           "pcvm: bootorder names the SCSI disk as SeaBIOS looks it up", log[-4000:])
    tap.ok(re.search(r"lsi 00:04\.0 0:0 .*type=0 removable=0", log) is not None,
           "pcvm: SeaBIOS's LSI driver finds a fixed disk at ID 0", log[-4000:])
    if qemu_available():
        qrc, qserial = qemu_boot(tmp, "hello", disk)
        tap.ok(qrc == rc and lines(qserial) == lines(serial),
               "qemu: the same exit code and serial output", f"qemu {qrc}: {qserial}\n"
               f"pcvm {rc}: {serial}")
    else:
        tap.skip("qemu: the same exit code and serial output", "qemu-system-x86_64 is missing")


def test_int13(tap, binary, tmp, src):
    disk = guest_image(src, tmp, "int13", extra=int13_pattern())
    qdisk = os.path.join(tmp, "int13-qemu.img")
    with open(disk, "rb") as f, open(qdisk, "wb") as g:
        g.write(f.read())
    rc, serial, log, err, bundle = pcvm_boot(binary, tmp, "int13", "--disk", disk,
                                             "--disk-bus", "scsi")
    check_boot(tap, "pcvm, INT 13h through SeaBIOS's LSI driver", rc, serial, INT13,
               "stderr:\n" + err + "\npcvm.log:\n" + log[-4000:])
    int13_check(tap, "pcvm", disk)
    if qemu_available():
        qrc, qserial = qemu_boot(tmp, "int13", qdisk)
        tap.ok(qrc == rc and lines(qserial) == lines(serial),
               "qemu: the same exit code and serial output", f"qemu {qrc}: {qserial}\n"
               f"pcvm {rc}: {serial}")
        int13_check(tap, "qemu", qdisk)
    else:
        tap.skip("qemu: the same exit code and serial output", "qemu-system-x86_64 is missing")


def test_boot_order(tap, binary, tmp, src):
    """An IDE disk and a SCSI disk: both are "disk" in boot=, IDE slots first, so the IDE disk
    is SeaBIOS's drive 80 and boots (SeaBIOS boots from the first hard disk alone)."""
    hello = guest_image(src, tmp, "hello")
    other = guest_image(src, tmp, "int13", extra=int13_pattern())
    bundle = os.path.join(tmp, "both.pcvm")
    rc, out, err = pcvm(binary, "create", bundle, "--test-exit", "--net", "none", "--disk",
                        hello)
    rc2, out, err2 = pcvm(binary, "config", bundle, "set", f"scsi0:2.file={other}")
    serial = os.path.join(tmp, "both.serial")
    rc3, out, err3 = pcvm(binary, "run", bundle, "--serial", serial, timeout=90)
    log = read(os.path.join(bundle, "pcvm.log"))
    order = re.findall(r"firmware: \d+: (/pci@i0cf8/\S+)$", log, re.M)
    tap.ok(order == ["/pci@i0cf8/ide@1,1/drive@0/disk@0",
                     "/pci@i0cf8/scsi@4/channel@0/disk@2,0"],
           "pcvm: bootorder lists the IDE disk, then the SCSI disk at ID 2",
           f"{order}\n{log[-4000:]}")
    tap.ok(rc == 0 and rc2 == 0 and rc3 == EXIT_OK and lines(read(serial)) == HELLO
           and re.search(r"lsi 00:04\.0 2:0 .*type=0", log) is not None,
           "pcvm: SeaBIOS finds the SCSI disk and boots the IDE one",
           err + err2 + err3 + read(serial) + log[-4000:])


def test_live_snapshot(tap, binary, tmp):
    """A running VM on a SCSI disk: the counter guest (tests/snapshot/counter.asm) reads and
    writes its sector through SeaBIOS's LSI driver every timer tick. A snapshot taken while it
    runs lands in the SCSI disk's qcow2, and a revert brings RAM, disk and the controller back
    together: the guest counts on from the snapshot's count, RAM and disk agreeing."""
    missing = sl.missing_tools("qemu-img", "qemu-io")
    if missing:
        tap.skip("a snapshot of a running VM on a SCSI disk", "needs " + ", ".join(missing))
        return
    guest, _ = sl.assemble("counter", tmp)
    vm = sl.Vm(binary, tmp, "counter", guest)
    rc, out, err = vm.cli("config", vm.bundle, "set", f"scsi0:0.file={vm.disk}")
    rc2, out2, err2 = vm.cli("config", vm.bundle, "unset", "ide0:0")
    tap.ok(rc == 0 and rc2 == 0 and "[ide0:" not in conf(vm.bundle),
           "the counter guest's disk moves to [scsi0:0]", out + err + out2 + err2)
    try:
        vm.start()
        tap.ok(vm.wait_counts(5, seconds=60) is not None and not vm.mismatches(),
               "pcvm: the counter guest counts on the SCSI disk",
               vm.serial()[-2000:] + vm.stderr() + sl.log_tail(vm.log()))
        lo = vm.last_count() or 0
        rc, out, err, secs = vm.snap("take", "a")
        hi = vm.last_count() or 0
        sid = out.split()[1] if rc == 0 and out.startswith("snapshot ") else None
        ids, why = sl.disk_snapshot_ids(vm.disk)
        tap.ok(sid is not None and ids == [sid],
               f"take a running: snapshot {sid} is in the SCSI disk (counts {lo}..{hi})",
               f"{out}{err}{ids} {why}")
        vm.wait_count_above(hi + 8)
        r = vm.revert_paused("a")
        offset = r.offset or 0
        vm.wait(lambda: len(vm.counts(offset)) >= 6, 20)
        cs = [c for c, d in vm.counts(offset)[:6]]
        bad = [(c, d) for c, d in vm.counts(offset)[:6] if c != d]
        tap.ok(r.ok and len(cs) == 6 and lo + 1 <= cs[0] <= hi + 2 and sl.consecutive(cs)
               and not bad and not vm.mismatches(offset),
               "revert: the guest counts on from the snapshot's count, RAM and disk agree",
               f"{r.detail}\ncounts {cs}, snapshot {lo}..{hi}, disagreeing {bad}\n"
               f"{vm.mismatches(offset)}\n{sl.log_tail(vm.log())}")
        tap.ok(vm.stop() is not None, "pcvm stop", vm.stderr())
    finally:
        vm.kill()


def main():
    binary, src = sys.argv[1:3]
    tap = Tap()
    with tempdir() as tmp:
        bundle = test_create(tap, binary, tmp)
        test_offline_snapshot(tap, binary, bundle)
        test_refusals(tap, binary, tmp, src)
        if require_kvm(tap):
            test_hello(tap, binary, tmp, src)
            test_int13(tap, binary, tmp, src)
            test_boot_order(tap, binary, tmp, src)
            test_live_snapshot(tap, binary, tmp)
    return tap.done()


if __name__ == "__main__":
    sys.exit(main())
