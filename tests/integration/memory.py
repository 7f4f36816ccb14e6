#!/usr/bin/env python3
"""Guest RAM as the guest sees it, for sizes on both sides of the PCI hole at 3.5 GiB
(pc-platform.md): tests/guests/memmap.asm prints the INT 15h E820 map SeaBIOS builds from
fw_cfg etc/e820 and the CMOS memory bytes 34h-35h and 5Bh-5Dh. RAM up to 3.5 GiB sits below
4 GiB; the rest starts at 4 GiB. With hardware virtualization the guest also writes and reads
RAM above 4 GiB through PAE paging (this KVM without VT-x cannot run a paging guest); QEMU runs
the same guest as a check of the guest itself. Guest RAM is mapped lazily: a 6 GiB VM is cheap.

usage: memory.py PCVM GUEST_SRC_DIR
"""
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from tap import Tap, Pcvm, has_hw_virt, make_disk, qemu_available, require_kvm, run, \
    tempdir  # noqa: E402

MIB = 1 << 20
HOLE = 0xE0000000  # the PCI hole: RAM below 4 GiB ends here
G4 = 1 << 32
SIZES_MIB = [512, 3584, 4096, 6144]
EXIT_OK = (0x10 << 1) | 1
E820 = re.compile(r"^e820 ([0-9A-F]{16}) ([0-9A-F]{16}) ([0-9A-F]{2})$")
CMOS = re.compile(r"^cmos 35-34 ([0-9A-F]{4}) 5D-5B ([0-9A-F]{6})$")
HIGH = re.compile(r"^4 GiB \+ 2 MiB \+ 100h: ([0-9A-F]{8}), 0020_0100h: ([0-9A-F]{8})$")
LAST = re.compile(r"^last dword ([0-9A-F]{16}): ([0-9A-F]{8})$")
PAST = re.compile(r"^past the end ([0-9A-F]{16}): ([0-9A-F]{8})$")
WORDS = dict(low=0x4C4F5721, high=0x48494748, last=0x5441494C, past=0x50415354)


def assemble(src, tmp, paging):
    out = os.path.join(tmp, f"memmap{'-paging' if paging else ''}.bin")
    subprocess.run(["nasm", "-f", "bin", "-i", src + "/"] + (["-DPAGING"] if paging else []) +
                   [os.path.join(src, "memmap.asm"), "-o", out], check=True)
    with open(out, "rb") as f:
        return f.read()


def parse(serial):
    """{"e820": [(base, length, type)], "cmos": (34h-35h, 5Bh-5Dh), "high": (high, low),
    "last": (addr, word), "past": (addr, word)} from the guest's lines."""
    got = {"e820": []}
    for line in (l.rstrip("\r") for l in serial.splitlines()):
        for key, rx in (("e820", E820), ("cmos", CMOS), ("high", HIGH), ("last", LAST),
                        ("past", PAST)):
            m = rx.match(line)
            if m:
                values = tuple(int(g, 16) for g in m.groups())
                if key == "e820":
                    got[key].append(values)
                else:
                    got[key] = values
    return got


def split(mib):
    below = min(mib * MIB, HOLE)
    return below, mib * MIB - below


def map_problems(got, mib, below=None):
    """What is wrong with the E820 map and CMOS bytes for a MIB MiB guest whose RAM below
    4 GiB ends at BELOW (pcvm's split by default); empty when right."""
    if below is None:
        below = split(mib)[0]
    above = mib * MIB - below
    e820, problems = got["e820"], []
    low = [(b, l) for b, l, t in e820 if t == 1 and b < G4]
    if not any(b + l == below for b, l, _ in e820 if b < G4):
        problems.append(f"no entry ends at the top of low RAM {below:#x}")
    if any(b + l > below and b < G4 for b, l in low):
        problems.append(f"RAM reported in the hole above {below:#x}")
    if not low or max(b + l for b, l in low) < below - 16 * MIB:
        problems.append("RAM below 4 GiB ends more than 16 MiB short of the hole")
    high = [(b, l) for b, l, t in e820 if t == 1 and b >= G4]
    if high != ([(G4, above)] if above else []):
        problems.append(f"RAM above 4 GiB is {high}, expected {above:#x} bytes at 4 GiB")
    want = (min((below - 16 * MIB) >> 16, 0xFFFF), above >> 16)
    if got.get("cmos") != want:
        problems.append(f"CMOS 34h-35h, 5Bh-5Dh: {got.get('cmos')}, expected {want}")
    return problems


def access_problems(got, mib, below=None):
    """What is wrong with the words the guest wrote above 4 GiB and read back."""
    if below is None:
        below = split(mib)[0]
    end = G4 + mib * MIB - below
    want = {"high": (WORDS["high"], WORDS["low"]), "last": (end - 4, WORDS["last"])}
    problems = [f"{k}: read {got.get(k)}, expected {v}" for k, v in want.items()
                if got.get(k) != v]
    past = got.get("past")
    if not past or past[0] != end or past[1] == WORDS["past"]:
        problems.append(f"past the end: {past}: should be {end:#x} and not keep the word")
    return problems


def run_pcvm(binary, tmp, boot, mib, name):
    disk = os.path.join(tmp, name + ".img")
    make_disk(disk, boot)
    return Pcvm(binary, tmp).run_guest(disk, memory=mib, timeout=90, name=name)


def run_qemu(tmp, boot, mib, accel):
    disk = os.path.join(tmp, f"qemu-{mib}.img")
    make_disk(disk, boot)
    serial = os.path.join(tmp, f"qemu-{mib}.serial")
    rc, _, _ = run(["qemu-system-x86_64", "-accel", accel, "-machine", "pc", "-m", str(mib),
                    "-nodefaults", "-vga", "std", "-display", "none",
                    "-serial", "file:" + serial,
                    "-device", "isa-debug-exit,iobase=0xf4,iosize=4",
                    "-drive", f"file={disk},format=raw,if=ide"], 120)
    with open(serial, errors="replace") as f:
        return rc, f.read()


def main():
    binary, src = sys.argv[1:3]
    tap = Tap()
    if not require_kvm(tap):
        return tap.done()
    paging = has_hw_virt()
    with tempdir() as tmp:
        boot = assemble(src, tmp, paging)
        for mib in SIZES_MIB:
            rc, serial, log, err = run_pcvm(binary, tmp, boot, mib, f"mem{mib}")
            detail = f"exit {rc}\nserial:\n{serial}\nstderr:\n{err}\npcvm.log:\n{log[-1500:]}"
            got = parse(serial)
            below, above = split(mib)
            problems = map_problems(got, mib)
            tap.ok(rc == EXIT_OK and not problems,
                   f"{mib} MiB: E820 and CMOS show {below >> 20} MiB below the hole and "
                   f"{above >> 20} MiB at 4 GiB", "\n".join(problems) + "\n" + detail)
            if not above:
                continue
            if not paging:
                tap.skip(f"{mib} MiB: RAM above 4 GiB holds what the guest writes",
                         "no VT-x/AMD-V: this KVM cannot run a guest with paging on")
                continue
            problems = access_problems(got, mib)
            tap.ok(not problems, f"{mib} MiB: RAM above 4 GiB holds what the guest writes, "
                   "up to its last dword, and nothing past it", "\n".join(problems) + detail)
        if not qemu_available():
            tap.skip("qemu: the guest's own check of RAM above 4 GiB", "no qemu-system-x86_64")
            return tap.done()
        # QEMU puts 3 GiB below 4 GiB for a guest this large (its gigabyte alignment)
        mib = SIZES_MIB[-1]
        qboot = boot if paging else assemble(src, tmp, True)
        rc, serial = run_qemu(tmp, qboot, mib, "kvm" if paging else "tcg")
        got = parse(serial)
        problems = map_problems(got, mib, below=0xC0000000) + \
            access_problems(got, mib, below=0xC0000000)
        tap.ok(rc == EXIT_OK and not problems,
               f"qemu ({'kvm' if paging else 'tcg'}), {mib} MiB: the same guest finds RAM "
               "above 4 GiB where E820 says and keeps what it writes there",
               "\n".join(problems) + f"\nexit {rc}\n{serial}")
    return tap.done()


if __name__ == "__main__":
    sys.exit(main())
