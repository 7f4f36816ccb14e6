"""Media for the guests that boot from a CD or use the CD and bus-master DMA: ISOs made with
xorriso, qcow2 disks made and checked with qemu-img, and one VM booted from them under pcvm
(a bundle made by `pcvm create`) or under QEMU with the same drives. Used by run.py and by
the integration tests in ../integration.
"""
import os
import re
import shutil
import struct
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from tap import read, run  # noqa: E402

CD_BLOCK = 2048


def word_pattern(words, mul, add=0, xor=0, first=0):
    """Little-endian 16-bit words: word W (counted from FIRST) = (W * MUL + ADD) ^ XOR."""
    return b"".join(struct.pack("<H", (((w * mul + add) & 0xFFFF) ^ xor))
                    for w in range(first, first + words))


def missing_tools(*tools):
    """The programs among TOOLS that are not installed, and the Debian package of each."""
    packages = {"xorriso": "xorriso", "qemu-img": "qemu-utils",
                "qemu-system-x86_64": "qemu-system-x86", "nasm": "nasm"}
    return [f"{t} (apt-get install {packages.get(t, t)})" for t in tools if not shutil.which(t)]


def make_iso(out, files, boot=None, volid="PCVM", extra=()):
    """An ISO 9660 image of FILES {name: bytes}; BOOT names the El Torito no-emulation boot
    image among them (4 virtual sectors, 2048 bytes, loaded at 07C0:0000)."""
    tree = out + ".d"
    os.makedirs(tree, exist_ok=True)
    for name, data in files.items():
        path = os.path.join(tree, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
    cmd = ["xorriso", "-as", "mkisofs", "-quiet", "-V", volid, "-o", out]
    if boot:
        cmd += ["-b", boot, "-no-emul-boot", "-boot-load-size", "4"]
    cmd += [*extra, tree]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    shutil.rmtree(tree)
    return out


def iso_file_lba(iso, path):
    """(first LBA, size) of PATH in ISO, as xorriso reports them."""
    out = subprocess.run(["xorriso", "-indev", iso, "-find", "/" + path.lstrip("/"), "-exec",
                          "report_lba", "--"], check=True, capture_output=True, text=True)
    m = re.search(r"File data lba:\s*\d+\s*,\s*(\d+)\s*,\s*\d+\s*,\s*(\d+)\s*,",
                  out.stdout + out.stderr)
    if not m:
        raise RuntimeError(f"xorriso reports no LBA for {path}: {out.stdout}{out.stderr}")
    return int(m.group(1)), int(m.group(2))


def qcow2_create(path, size, raw=None):
    """A qcow2 image: blank of SIZE, or the contents of the raw image RAW."""
    if raw:
        cmd = ["qemu-img", "convert", "-f", "raw", "-O", "qcow2", raw, path]
    else:
        cmd = ["qemu-img", "create", "-q", "-f", "qcow2", path, str(size)]
    subprocess.run(cmd, check=True, capture_output=True)
    return path


def qcow2_check(path):
    """(clean, qemu-img check's report)"""
    p = subprocess.run(["qemu-img", "check", path], capture_output=True, text=True)
    return p.returncode == 0 and "No errors" in p.stdout, p.stdout + p.stderr


def image_bytes(path, start, length):
    """LENGTH bytes at START of a qcow2 or raw image, read by qemu-img (the independent reader)."""
    raw = path + ".raw"
    subprocess.run(["qemu-img", "convert", "-O", "raw", path, raw], check=True,
                   capture_output=True)
    try:
        with open(raw, "rb") as f:
            f.seek(start)
            return f.read(length)
    finally:
        os.unlink(raw)


def image_format(path):
    with open(path, "rb") as f:
        return "qcow2" if f.read(4) == b"QFI\xfb" else "raw"


class Vm:
    """One VM's drives: DISK (a raw or qcow2 image, or None) and CDROM (an ISO, or None), with
    the boot order disk, cdrom (pcvm's default; QEMU's -boot order=cd)."""

    def __init__(self, workdir, disk=None, cdrom=None, cpus=1, memory=256):
        self.workdir, self.disk, self.cdrom = workdir, disk, cdrom
        self.cpus, self.memory = cpus, memory

    def pcvm_create(self, binary, name="guest", disk_size=None, test_exit=True):
        bundle = os.path.join(self.workdir, name + ".pcvm")
        args = [binary, "create", bundle, "--cpus", str(self.cpus), "--memory", str(self.memory)]
        args += ["--disk", self.disk] if self.disk else ["--disk-size", disk_size or "64M"]
        if self.cdrom:
            args += ["--cdrom", self.cdrom]
        if test_exit:
            args.append("--test-exit")
        rc, out, err = run(args, 30)
        if rc != 0:
            raise RuntimeError(f"pcvm create failed ({rc}): {err}")
        return bundle

    def pcvm_run(self, binary, bundle, timeout=90, name="guest"):
        """Runs BUNDLE until it exits: (exit code or None on timeout, serial, pcvm.log, stderr)."""
        serial = os.path.join(self.workdir, name + ".serial")
        rc, out, err = run([binary, "run", bundle, "--serial", serial], timeout)
        return rc, read(serial), read(os.path.join(bundle, "pcvm.log")), err

    def qemu_run(self, disk=None, timeout=90, name="qemu"):
        """The same drives under QEMU with KVM, SeaBIOS and isa-debug-exit: (exit code, serial).
        DISK replaces the VM's disk (QEMU gets its own copy)."""
        serial = os.path.join(self.workdir, name + ".serial")
        cmd = ["qemu-system-x86_64", "-accel", "kvm", "-machine", "pc", "-m", str(self.memory),
               "-smp", str(self.cpus), "-nodefaults", "-vga", "none", "-display", "none",
               "-serial", "file:" + serial, "-device", "isa-debug-exit,iobase=0xf4,iosize=4",
               "-boot", "order=cd"]
        disk = disk or self.disk
        if disk:
            cmd += ["-drive", f"file={disk},format={image_format(disk)},if=ide,index=0,"
                    "cache=writethrough"]  # isa-debug-exit exits without flushing
        if self.cdrom:
            cmd += ["-drive", f"file={self.cdrom},format=raw,if=ide,index=2,media=cdrom,"
                    "readonly=on"]
        rc, out, err = run(cmd, timeout)
        return rc, read(serial)
