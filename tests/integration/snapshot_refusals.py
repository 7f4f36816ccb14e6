#!/usr/bin/env python3
"""Snapshot operations pcvm must refuse, with a clear message and nothing changed:

  - a raw disk (off and running): the message says qcow2 and how to convert; no snapshot
    files, nothing new in the bundle, the disk image unchanged, the VM runs on;
  - an unknown snapshot name or id (revert, delete; off and running);
  - a damaged index.conf (garbage, a missing parent, a parent loop, a current node that does
    not exist, a cut group header): list, take and revert say what is wrong with which file,
    create nothing (no disk snapshot), and the VM runs on;
  - a damaged ID.state (truncated, empty, bit flips in the header and the payload, another
    format version, garbage appended, an absurd section length, missing): the revert is
    refused, the VM keeps running as it was (the counter guest counts on, no jump back), the
    tree's current node unchanged; with the intact file the revert works;
  - a tree that holds 10,000 snapshots, the most index.conf may hold when read: take (off
    and running) is refused up front, index.conf and the disk unchanged (it used to write a
    tree that could not be read back);
  - an ID.state whose checksum is right but a section's contents are refused (a bus-master
    register bit no guest can set in piix-ide, a field the uart does not have, damaged CPU and
    KVM payloads): the revert is refused naming the device, before anything changed; the VM
    runs on, and pcvm.log has no "restore failed";
  - a damaged ID.ram (truncated, missing): refused the same way, the VM running on
    (the issue: "validated whole before anything is applied").

The counter guest (tests/snapshot/counter.asm) shows whether the VM ran on unchanged: its count
keeps rising by one per step, RAM and disk agreeing.

usage: snapshot_refusals.py PCVM
"""
import os
import shutil
import struct
import sys
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import snapshotlib as sl  # noqa: E402
from snapshotlib import Vm  # noqa: E402
from tap import make_disk  # noqa: E402


def listing(root):
    out = []
    for d, dirs, files in os.walk(root):
        rel = os.path.relpath(d, root)
        out += [os.path.join(rel, x) + "/" for x in dirs]
        out += [os.path.join(rel, f) for f in files if f != "pcvm.log"]
    # run/ and run/lock: the bundle lock every command on a stopped VM takes
    return sorted(x for x in out if x not in ("./run/", "run/lock"))


def digest(path):
    import hashlib
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def runs_on(vm, before, steps=3, seconds=10):
    """True if the counter guest goes on counting from BEFORE without a jump back."""
    ok = vm.wait(lambda: (vm.last_count() or -1) >= before + steps, seconds)
    return bool(ok) and vm.running() and vm.status() == "running"


def test_raw(tap, binary, tmp, guest_bytes):
    raw = os.path.join(tmp, "raw.img")
    make_disk(raw, guest_bytes, size=4 << 20)
    vm = Vm(binary, tmp, "raw", disk=raw)
    sha = digest(raw)
    before = listing(vm.bundle)
    rc, out, err, _ = vm.snap("take", "s")
    tap.ok(rc != 0 and "qcow2" in err and "qemu-img convert" in err and raw in err,
           "raw disk, VM off: take refused, saying to convert it to qcow2", f"exit {rc}: {err}")
    after = listing(vm.bundle)
    tap.ok(after == before and digest(raw) == sha,
           "raw disk, VM off: nothing created in the bundle, the disk unchanged",
           f"new in the bundle: {sorted(set(after) - set(before))}")
    vm.start()
    try:
        if not tap.ok(vm.wait_counts(3, seconds=60) is not None, "a VM on a raw disk runs",
                      vm.stderr()):
            return
        before = listing(vm.bundle)
        c = vm.last_count()
        rc, out, err, _ = vm.snap("take", "s")
        tap.ok(rc != 0 and "qcow2" in err and "qemu-img convert" in err,
               "raw disk, running: take refused with advice", f"exit {rc}: {err}")
        after = listing(vm.bundle)
        tap.ok(after == before and not vm.snapshot_files() and runs_on(vm, c),
               "raw disk, running: no snapshot files, nothing new, the VM runs on",
               f"new: {sorted(set(after) - set(before))}, files {vm.snapshot_files()}")
        rc, out, err = vm.cli("snapshot", "list", vm.bundle)
        tap.ok(rc == 0 and "no snapshot above it" in out, "its snapshot list is empty", out + err)
    finally:
        vm.stop()
    tap.ok(digest(raw) != sha, "(the raw disk's guest wrote to it meanwhile)")


def test_unknown(tap, vm, state):
    for op in ("revert", "delete"):
        for which in ("nosuch", "99"):
            rc, out, err, _ = vm.snap(op, which)
            tap.ok(rc != 0 and f"no snapshot '{which}'" in err,
                   f"{state}: {op} of an unknown snapshot '{which}' is refused", f"exit {rc}: {err}")


INDEX_DAMAGE = [
    ("binary garbage", b"\x00\xff\xfe garbage \x01\x02\n[[[ \xc3\x28\n"),
    ("a missing parent", b"[tree]\ncurrent=1\nnext-id=2\n\n[snapshot 1]\nparent=7\nname=s\n"
                         b"has-memory=true\n"),
    ("a parent loop", b"[tree]\ncurrent=1\nnext-id=3\n\n[snapshot 1]\nparent=2\nname=a\n"
                      b"has-memory=true\n\n[snapshot 2]\nparent=1\nname=b\nhas-memory=true\n"),
    ("a current node that does not exist", b"[tree]\ncurrent=9\nnext-id=2\n\n[snapshot 1]\n"
                                           b"parent=\nname=s\nhas-memory=true\n"),
    ("a cut group header", b"[tree]\ncurrent=1\nnext-id=2\n\n[snapsh"),
]


def test_index(tap, vm):
    index = vm.snapdir("index.conf")
    with open(index, "rb") as f:
        good = f.read()
    ids_before, _ = sl.disk_snapshot_ids(vm.disk)
    for what, data in INDEX_DAMAGE:
        with open(index, "wb") as f:
            f.write(data)
        c = vm.last_count()
        rc1, out1, err1 = vm.cli("snapshot", "list", vm.bundle)
        rc2, out2, err2, _ = vm.snap("take", "x")
        rc3, out3, err3, _ = vm.snap("revert", "1")
        ids, _ = sl.disk_snapshot_ids(vm.disk)
        errs = [err1, err2, err3]
        tap.ok(rc1 != 0 and rc2 != 0 and rc3 != 0 and all("index.conf" in e for e in errs)
               and ids == ids_before and runs_on(vm, c),
               f"index.conf with {what}: list, take and revert refused naming the file; no disk "
               f"snapshot made; the VM runs on",
               f"list: exit {rc1} {out1}{err1}\ntake: exit {rc2} {out2}{err2}\n"
               f"revert: exit {rc3} {err3}\ndisk snapshots {ids_before} -> {ids}")
    with open(index, "wb") as f:
        f.write(good)


def full_index(good=b"[tree]\ncurrent=\nnext-id=1\n"):
    """GOOD (an index.conf) with disk-only snapshots added up to 10,000 in all: its own stay
    listed, so that nothing of them looks like a leftover to remove."""
    have = good.count(b"\n[snapshot ") + good.startswith(b"[snapshot ")
    more = [f"\n[snapshot {i}]\nparent=\nname=fill {i}\nhas-memory=false\n".encode()
            for i in range(have + 1, 10001)]
    return good + b"".join(more)


def test_full_tree(tap, vm, state):
    index = vm.snapdir("index.conf")
    os.makedirs(vm.snapdir(), exist_ok=True)
    try:
        with open(index, "rb") as f:
            good = f.read()
    except FileNotFoundError:
        good = None
    full = full_index(good) if good else full_index()
    with open(index, "wb") as f:
        f.write(full)
    ids_before, _ = sl.disk_snapshot_ids(vm.disk)
    c = vm.last_count() if vm.running() else None
    rc, out, err, _ = vm.snap("take", "one too many")
    with open(index, "rb") as f:
        after = f.read()
    ids, _ = sl.disk_snapshot_ids(vm.disk)
    tap.ok(rc != 0 and "there are 10000 snapshots, the most pcvm keeps" in err
           and after == full and ids == ids_before and (c is None or runs_on(vm, c)),
           f"{state}: with 10,000 snapshots take is refused up front; index.conf and the "
           "disk unchanged",
           f"exit {rc}: {out}{err}\nindex.conf changed: {after != full}\n"
           f"disk snapshots {ids_before} -> {ids}")
    if good is None:
        os.unlink(index)
    else:
        with open(index, "wb") as f:
            f.write(good)


def flip(data, pos, bit=0x10):
    b = bytearray(data)
    b[pos] ^= bit
    return bytes(b)


def state_damage(good):
    n = len(good)
    import struct
    # the first section: name length (2), name, instance (4), version (4), length (8)
    nlen = struct.unpack_from("<H", good, 12)[0]
    plen_at = 12 + 2 + nlen + 8
    absurd = bytearray(good)
    struct.pack_into("<Q", absurd, plen_at, 1 << 62)
    return [
        ("truncated to half", good[:n // 2]),
        ("truncated by 1 byte", good[:-1]),
        ("empty", b""),
        ("a bit flipped in the magic", flip(good, 2)),
        ("another format version", flip(good, 8, 0x01)),
        ("a bit flipped in the middle", flip(good, n // 2)),
        ("a bit flipped in the last section", flip(good, n - 40)),
        ("a bit flipped in the checksum", flip(good, n - 1)),
        ("garbage appended", good + b"\x00garbage"),
        ("an absurd section length", bytes(absurd)),
        ("missing", None),
    ]


def test_state(tap, vm, sid):
    path = vm.snapdir(f"{sid}.state")
    with open(path, "rb") as f:
        good = f.read()
    unnamed = []
    for what, data in state_damage(good):
        if data is None:
            os.unlink(path)
        else:
            with open(path, "wb") as f:
                f.write(data)
        current = vm.tree().current
        c = vm.last_count()
        rc, out, err, _ = vm.snap("revert", sid)
        after = vm.counts()
        if f"{sid}.state" not in err:
            unnamed.append(f"{what}: {err.strip()}")
        tap.ok(rc != 0 and ("state file" in err or f"{sid}.state" in err) and runs_on(vm, c)
               and vm.tree().current == current and not vm.mismatches(),
               f"ID.state {what}: revert refused ('{err.strip()[:60]}'); the VM runs on unchanged",
               f"exit {rc}: {err.strip()}\ncounts: {c} -> {vm.last_count()} "
               f"({[x for x, _ in after[-6:]]})\nstatus {vm.status()}\n{sl.log_tail(vm.log(), 6)}")
        if not vm.running():
            return False
    with open(path, "wb") as f:
        f.write(good)
    tap.ok(not unnamed, f"every refusal names the damaged file ({sid}.state): which snapshot's "
           "file is damaged, and where", "\n".join(unnamed))
    return True


def state_sections(data):
    """{(name, instance): (payload offset, length)} of a state file (src/state.h): magic,
    u32 format version, sections (u16 name length, name, u32 instance, u32 version, u64 length,
    payload), u16 0xFFFF, CRC-32 of everything before it."""
    pos, out = 12, {}
    while True:
        nlen = struct.unpack_from("<H", data, pos)[0]
        pos += 2
        if nlen == 0xFFFF:
            return out
        name = data[pos:pos + nlen].decode()
        instance, _version, plen = struct.unpack_from("<IIQ", data, pos + nlen)
        pos += nlen + 16
        out[(name, instance)] = (pos, plen)
        pos += plen


def section_of(data, name):
    return next(v for (n, _), v in state_sections(data).items() if n == name)


def field_at(data, section, field):
    """Where FIELD's elements start in device SECTION's payload (state.h: per field u8 name
    length, name, u8 kind, u32 count, then the elements)."""
    pos, plen = section_of(data, section)
    end = pos + plen
    widths = {1: 1, 2: 2, 3: 4, 4: 8, 5: 1}
    while pos < end:
        nlen = data[pos]
        name = data[pos + 1:pos + 1 + nlen].decode()
        kind, count = data[pos + 1 + nlen], struct.unpack_from("<I", data, pos + 2 + nlen)[0]
        pos += 1 + nlen + 1 + 4
        if name == field:
            return pos
        pos += widths[kind] * count
    raise KeyError(f"{section}: no field {field}")


def edited(good, at, value):
    """GOOD with byte AT set to VALUE and the file's checksum made right again: only the
    section's own checks can tell."""
    b = bytearray(good)
    b[at] = value
    b[-4:] = struct.pack("<I", zlib.crc32(bytes(b[:-4])))
    return bytes(b)


def content_damage(good):
    bmdma = field_at(good, "piix-ide", "bmdma")
    rbr = field_at(good, "uart16550a", "rbr")
    cpu, cpu_len = section_of(good, "cpu")
    kvm, kvm_len = section_of(good, "kvm")
    return [
        # BMICX's reserved byte 1: no guest write sets it (piix_ide_post_load refuses it)
        ("a piix-ide bus-master bit no guest can set", "piix-ide state refused",
         edited(good, bmdma + 1, 0x5A)),
        # the field's name: "rbr" -> "rbx", a field the uart does not have
        ("a uart16550a field this pcvm does not know", "uart16550a state refused",
         edited(good, rbr - 6, ord("x"))),
        ("a damaged CPU payload", "CPU 0 state refused",
         edited(good, cpu + cpu_len // 2, good[cpu + cpu_len // 2] ^ 0x10)),
        ("a damaged KVM payload", "KVM (interrupt controllers, timer, clock) state refused",
         edited(good, kvm + kvm_len // 2, good[kvm + kvm_len // 2] ^ 0x10)),
    ]


def test_state_contents(tap, vm, sid):
    """A state file that parses, with a section whose contents a load refuses: refused before
    the disks, RAM or KVM change, so the VM runs on (it used to stop: "restore failed")."""
    path = vm.snapdir(f"{sid}.state")
    with open(path, "rb") as f:
        good = f.read()
    for what, message, data in content_damage(good):
        with open(path, "wb") as f:
            f.write(data)
        current = vm.tree().current
        c = vm.last_count()
        log_at = len(vm.log())
        rc, out, err, _ = vm.snap("revert", sid)
        new_log = vm.log()[log_at:]
        tap.ok(rc != 0 and f"snapshot {sid}: {message}" in err
               and "the VM keeps running as it was" in err and runs_on(vm, c)
               and vm.tree().current == current and not vm.mismatches()
               and "restore failed" not in new_log,
               f"ID.state with {what}: revert refused ('{err.strip()[:90]}'); the VM runs on "
               "unchanged",
               f"exit {rc}: {err.strip()}\ncounts: {c} -> {vm.last_count()}\n"
               f"status {vm.status()}\n{sl.log_tail(new_log, 6)}")
        if not vm.running() or vm.status() != "running":
            return False
    with open(path, "wb") as f:
        f.write(good)
    return True


def test_ram(tap, vm, sid, good_lo, good_hi):
    path = vm.snapdir(f"{sid}.ram")
    keep = path + ".intact"
    os.link(path, keep)
    # the intact files revert
    off = vm.serial_size()
    rc, out, err, _ = vm.snap("revert", sid)
    got = vm.wait_counts(4, off, seconds=15) or []
    got = [c for c, d in got if c <= good_hi + 2]
    tap.ok(rc == 0 and got and good_lo + 1 <= got[0] <= good_hi + 2,
           "with the intact files the revert works", f"exit {rc}: {err}\n{got}")
    for what in ("truncated", "missing"):
        os.unlink(path)
        if what == "truncated":
            shutil.copyfile(keep, path)
            os.truncate(path, os.path.getsize(keep) // 2)
        vm.wait_count_above((vm.last_count() or 0) + 3)
        c = vm.last_count()
        ids_before, _ = sl.disk_snapshot_ids(vm.disk)
        rc, out, err, _ = vm.snap("revert", sid)
        alive = runs_on(vm, c)
        tap.ok(rc != 0 and f"{sid}.ram" in err and alive and not vm.mismatches(),
               f"ID.ram {what}: revert refused before anything changed; the VM runs on",
               f"exit {rc}: {err.strip()}\nVM running: {vm.running()}, status {vm.status()}, "
               f"counts {c} -> {vm.last_count()}\n{sl.log_tail(vm.log(), 6)}\n{vm.stderr()[-600:]}")
        if not vm.running():
            break
    os.replace(keep, path)  # the snapshot whole again for the checks that follow


def main():
    return sl.main("counter", "refusals", run_tests)


def run_tests(tap, vm, guest_bytes):
    test_unknown(tap, vm, "VM off, no snapshots")
    test_full_tree(tap, vm, "VM off")
    vm.start()  # booting while the raw-disk VM is tested
    test_raw(tap, vm.binary, vm.tmp, guest_bytes)
    if not tap.ok(vm.wait_counts(3, seconds=60) is not None, "the counter guest runs",
                  vm.stderr()):
        return
    lo = vm.last_count()
    rc, out, err, _ = vm.snap("take", "good")
    hi = vm.last_count()
    sid = out.split()[1] if rc == 0 else None
    tap.ok(rc == 0, f"take snapshot {sid}", err)
    test_unknown(tap, vm, "running")
    test_index(tap, vm)
    test_full_tree(tap, vm, "running")
    if test_state(tap, vm, sid) and test_state_contents(tap, vm, sid):
        test_ram(tap, vm, sid, lo, hi)
    if vm.running():
        vm.stop()
    problems = vm.consistency(live=False, expect_ids=[sid], strays_allowed=True)
    tap.ok(not problems, "afterwards: qemu-img check clean, the disk snapshot as in the "
           "tree", "\n".join(problems))


if __name__ == "__main__":
    sys.exit(main())
