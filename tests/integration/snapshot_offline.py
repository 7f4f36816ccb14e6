#!/usr/bin/env python3
"""Snapshots while the VM is off: disk-only snapshots, and reverting to a memory snapshot, after
which the next `pcvm run` resumes there.

With the counter guest (tests/snapshot/counter.asm: a count in RAM and in a disk sector; at
boot it starts from the sector's count, "boot fresh" when there is none):
  1. VM off: take "clean" (disk only: no .state/.ram, "[disk]" in the list).
  2. Run: the guest counts and writes its sector; stop. Revert "clean" (off): the sector is
     back to what it was (empty), no resume mark; the next run boots fresh.
  3. While running: reverting to the disk-only "clean" is refused (it was taken off) and the
     VM runs on. Take "live" (memory), let the guest count on, stop.
  4. Revert "live" (off): the disk sector holds the snapshot's count again, DIR/snapshots/
     resume names it, the list marks it; `pcvm run` resumes there (no boot: the guest goes on
     counting from the snapshot's count, pcvm.log says "resumed at snapshot"), the mark is
     consumed.
  5. Revert "live" (off) again and delete it: the resume mark must not outlive its snapshot;
     `pcvm run` must still start the VM.
  6. Take "space" (off), write over 1 MiB it holds: `pcvm snapshot list` says it alone holds
     that much of the disk and its L1 and L2 tables (test_qcow2_snapshot checks the same
     count against what `qemu-img snapshot -d` frees).
qemu-img check (clean: the VM is off) and the disk's snapshots against the tree after each step.

usage: snapshot_offline.py PCVM
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import snapshotlib as sl  # noqa: E402
from snapshotlib import Vm  # noqa: E402


def consistent(tap, vm, what, ids, current):
    problems = vm.consistency(live=False, expect_ids=ids)
    tree = vm.tree()
    if tree.current != current:
        problems.append(f"current node {tree.current}, expected {current}")
    tap.ok(not problems, f"{what}: qemu-img check clean, disk snapshots {ids} as in the tree, "
           f"you are here: {current}", "\n".join(problems))


def main():
    return sl.main("counter", "offline", lambda tap, vm, _: run_tests(tap, vm))


def run_tests(tap, vm):
    # 1. a disk-only snapshot of the VM that never ran
    rc, out, err, secs = vm.snap("take", "clean")
    tap.ok(rc == 0 and out.strip() == "snapshot 1 taken (disks only: the VM is off)",
           f"take with the VM off: a disk-only snapshot ({secs * 1000:.0f} ms)", out + err)
    tree = vm.tree()
    files = vm.snapshot_files()
    tap.ok(tree.nodes.get("1", {}).get("has_memory") is False and
           not any(f.startswith("1.") for f in files),
           "it has no memory and no state, RAM or thumbnail files", f"{tree} {files}")
    rc, out, err = vm.cli("snapshot", "list", vm.bundle)
    tap.ok(rc == 0 and "1  clean  [disk]" in out and "you are here" in out,
           "pcvm snapshot list shows it as a disk snapshot", out + err)
    consistent(tap, vm, "after the off take", ["1"], "1")
    empty = vm.disk_count()

    # 2. the guest writes the disk; revert brings the sector back
    vm.start()
    got = vm.wait_counts(6, seconds=60)
    code = vm.stop()
    written = vm.disk_count()
    tap.ok(got and code == 0 and empty is None and written is not None and written >= 6,
           f"the guest ran and wrote its count to the disk ({written}), pcvm stop exits 0",
           f"counts {got}, exit {code}, sector {empty} -> {written}\n{vm.stderr()}")
    rc, out, err, secs = vm.snap("revert", "clean")
    back = vm.disk_count()
    tap.ok(rc == 0 and back is None, f"revert to the disk snapshot with the VM off "
           f"({secs * 1000:.0f} ms): the sector is empty again ({written} -> {back})", out + err)
    tap.ok(not os.path.exists(vm.snapdir("resume")),
           "reverting to a disk-only snapshot leaves no resume mark", vm.snapshot_files())
    consistent(tap, vm, "after the off revert", ["1"], "1")

    # 3. running: a disk-only snapshot cannot be reverted to; a memory snapshot
    off = vm.serial_size()
    vm.start()
    got = vm.wait_counts(4, off, seconds=60)
    tap.ok(got is not None and "boot fresh" in vm.serial()[off:] and got[0][0] == 0,
           "the next run boots from the reverted disk (boot fresh, counting from 0)",
           vm.serial()[off:off + 400])
    before = vm.last_count()
    rc, out, err, secs = vm.snap("revert", "clean")
    # the guest counts on: a count above the one before the refusal, however slow the host
    went_on = before is not None and vm.wait_count_above(before, 20)
    tap.ok(rc != 0 and "powered off" in err and went_on and vm.running(),
           "while running, reverting to a snapshot taken powered off is refused; the VM runs on",
           f"{out}{err}\ncount {before} before, {vm.last_count()} after; running {vm.running()}")
    lo = vm.last_count()
    rc, out, err, secs = vm.snap("take", "live")
    hi = vm.last_count()
    tap.ok(rc == 0 and out.startswith("snapshot 2 taken"),
           f"take a memory snapshot while running (counts {lo}..{hi})", out + err)
    vm.wait_count_above(hi + 6)
    code = vm.stop()
    later = vm.disk_count()
    tap.ok(code == 0 and later is not None and later > hi + 1, f"the guest counted on ({later}); "
           "stop", f"exit {code}")
    consistent(tap, vm, "after stopping", ["1", "2"], "2")

    # 4. revert to the memory snapshot while off: the next run resumes there
    rc, out, err, secs = vm.snap("revert", "live")
    snap_disk = vm.disk_count()
    mark = sl.read(vm.snapdir("resume")).strip()
    tap.ok(rc == 0 and snap_disk is not None and lo <= snap_disk <= hi + 1,
           f"revert to the memory snapshot with the VM off ({secs * 1000:.0f} ms): the disk "
           f"holds the snapshot's count ({later} -> {snap_disk}; snapshot {lo}..{hi})", out + err)
    tap.ok(mark == "2", f"DIR/snapshots/resume names the snapshot ({mark!r})")
    rc, out, err = vm.cli("snapshot", "list", vm.bundle)
    here = [l for l in out.splitlines() if "you are here" in l]
    tap.ok(rc == 0 and len(here) == 1 and here[0].lstrip().startswith("2  live"),
           "pcvm snapshot list marks it", out + err)
    consistent(tap, vm, "after the off revert to the memory snapshot", ["1", "2"], "2")

    off = vm.serial_size()
    vm.start()
    got = vm.wait_counts(5, off, seconds=30)
    cs = [c for c, d in got or []]
    text = vm.serial()[off:]
    tap.ok(got is not None and "boot" not in text and lo + 1 <= cs[0] <= hi + 2 and
           sl.consecutive(cs) and all(c == d for c, d in got) and not vm.mismatches(off),
           f"pcvm run resumes at the snapshot: no boot, counting on from {cs[:1]} "
           f"(snapshot {lo}..{hi}), RAM and disk agree",
           f"COM1 after start: {text[:600]}\n{sl.log_tail(vm.log())}\n{vm.stderr()}")
    tap.ok("resumed at snapshot 2" in vm.log() and not os.path.exists(vm.snapdir("resume")),
           "pcvm.log says so and the resume mark is consumed", sl.log_tail(vm.log()))
    code = vm.stop()
    tap.ok(code == 0, f"stop ({code})")
    consistent(tap, vm, "after the resumed run", ["1", "2"], "2")

    # 5. the resume mark and a deleted snapshot
    rc1, out1, err1, _ = vm.snap("revert", "live")
    rc2, out2, err2, _ = vm.snap("delete", "live")
    tap.ok(rc1 == 0, "revert to the memory snapshot again (off)", out1 + err1)
    refused = rc2 != 0
    consistent(tap, vm, "after deleting it" if not refused else "after the refused delete",
               ["1"] if not refused else ["1", "2"], "1" if not refused else "2")
    off = vm.serial_size()
    vm.start()
    got = vm.wait_counts(2, off, seconds=60)
    tap.ok(got is not None and vm.running(),
           "deleting the snapshot a stopped VM was to resume at: `pcvm run` still starts the "
           f"VM (delete {'refused' if refused else 'done'})",
           f"delete: exit {rc2} {out2}{err2}\nrun: {vm.stderr()}\n{sl.log_tail(vm.log(), 5)}\n"
           f"files: {vm.snapshot_files()}")
    vm.stop()

    # 6. the disk space only a snapshot holds, in the list (VM off: read from the image)
    mib = 1 << 20
    sl.run(["qemu-io", "-f", "qcow2", "-c", "write -q -P 0x5a 32M 1M", vm.disk], 30)
    rc, out, err, _ = vm.snap("take", "space")
    sid = out.split()[1] if rc == 0 else None
    sl.run(["qemu-io", "-f", "qcow2", "-c", "write -q -P 0xa5 32M 1M", vm.disk], 30)
    rc, out, err = vm.cli("snapshot", "list", vm.bundle)
    mem, disk = sl.list_space(out).get(sid, (None, None))
    # the 16 clusters written over are its alone, and its L1 and L2 tables (64 KiB clusters)
    tap.ok(rc == 0 and disk is not None and 0.95 * mib <= disk <= 1.05 * (mib + 3 * 65536),
           f"after 1 MiB the snapshot held was written over, pcvm snapshot list shows that "
           f"it alone holds {disk} bytes of the disk", out + err)
    rc, out, err, _ = vm.snap("delete", "space")
    consistent(tap, vm, "after deleting it", ["1"], "1")


if __name__ == "__main__":
    sys.exit(main())
