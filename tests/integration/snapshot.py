#!/usr/bin/env python3
"""Snapshots of a running VM: RAM and disk come back together, in a tree.

The guest (tests/snapshot/counter.asm) counts once per BIOS timer tick; it keeps the count in
RAM (twice) and in a disk sector, checks before each step that RAM and disk agree (printing
MISMATCH otherwise) and prints "c=RRRRRRRR d=DDDDDDDD". On a qcow2 disk made by
`pcvm create --disk-size`:

  take A (running) -> let it count -> take B while paused (B a child of A; paused stays
  paused) -> revert A (CLI) -> revert B (control socket) -> restore A (CLI), take C (a second
  child of A; snapshot-list on the control socket shows the tree) -> delete A (B and C stay,
  both revert; C by snapshot-restore) -> take E and delete it on the control socket, with
  progress events -> stop.

After each revert the guest must go on from the snapshot's count (the counts the test saw
around the take bound it), counting on without a MISMATCH, and the disk sector must hold the
guest's count. After every operation: `qemu-img check -U` finds nothing but the leaks of
pcvm's cluster reservation (clean after the VM stops), the disk's internal snapshots
(`qemu-img snapshot -l -U`) are exactly the tree's, each memory snapshot has its files, and
`pcvm snapshot list` shows the tree with "<- you are here" at the right node, and the space
each snapshot takes (its memory files, the disk clusters only it holds).

usage: snapshot.py PCVM
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import snapshotlib as sl  # noqa: E402
from snapshotlib import Vm  # noqa: E402

AFTER = 6   # step lines looked at after a revert


def check_state(tap, vm, what, expect_ids, current):
    vm.cli("pause", vm.bundle)  # the image at rest: no guest write half done
    try:
        problems = vm.consistency(live=True, expect_ids=expect_ids)
    finally:
        vm.cli("resume", vm.bundle)
    tree = vm.tree()
    if tree.current != current:
        problems.append(f"the tree's current node is {tree.current}, expected {current}")
    rc, out, err = vm.cli("snapshot", "list", vm.bundle)
    here = [l for l in out.splitlines() if "<- you are here" in l]
    if rc != 0 or len(here) != 1 or (current and not here[0].lstrip().startswith(current + " ")):
        problems.append(f"pcvm snapshot list (exit {rc}) marks {here}, expected node {current}:\n"
                        f"{out}{err}")
    tap.ok(not problems, f"{what}: qemu-img check, qemu-img snapshot -l and the tree agree "
           f"(snapshots {expect_ids}, you are here: {current})", "\n".join(problems))
    return out


def take(tap, vm, name, paused=False):
    """Takes NAME; returns (id, lo, hi): the snapshot's count lies in [lo, hi]."""
    if paused:
        vm.cli("pause", vm.bundle)
        time.sleep(0.3)
    lo = vm.last_count()
    rc, out, err, secs = vm.snap("take", name, "--description", f"test snapshot {name}")
    hi = vm.last_count()
    sid = out.split()[1] if rc == 0 and out.startswith("snapshot ") else None
    tap.ok(rc == 0 and sid is not None,
           f"take {name}{' (paused)' if paused else ''}: snapshot {sid} in {secs * 1000:.0f} ms "
           f"(counts {lo}..{hi})", out + err)
    if paused:
        tap.ok(vm.status() == "paused" and hi == lo,
               f"take {name}: a paused VM stays paused", f"status {vm.status()}, {lo} -> {hi}")
        vm.cli("resume", vm.bundle)
    return sid, lo, hi


def check_revert(tap, vm, name, lo, hi, how):
    """Reverts to NAME (CLI or control socket); the guest must go on from [lo, hi]."""
    vm.wait_count_above(hi + 8)  # so that a revert that did nothing stands out
    before = vm.last_count()
    # the design's names (restore) and the older ones (revert), on the CLI and the socket;
    # paused around it, so that every line after the offset is the reverted guest's
    verb = "restore" if how.endswith("restore") else "revert"
    r = vm.revert_paused(name, "socket" if how.startswith("socket") else "cli", verb)
    offset = r.offset or 0
    tap.ok(r.ok and r.state == "paused",
           f"revert to {name} ({how}) in {r.secs * 1000:.0f} ms; a paused VM stays paused",
           f"{r.detail}\nstate after the revert: {r.state}")
    vm.wait(lambda: len(vm.counts(offset)) >= AFTER, 20)
    got = vm.counts(offset)[:AFTER]
    cs = [c for c, d in got]
    first = cs[0] if cs else None
    bad = [f"c={c:x} d={d:x}" for c, d in got if c != d]
    tap.ok(len(cs) >= AFTER and lo + 1 <= first <= hi + 2 and sl.consecutive(cs) and not bad
           and not vm.mismatches(offset),
           f"revert to {name}: the guest goes on from the snapshot's count "
           f"({before} before, then {first}, snapshot {lo}..{hi}), RAM and disk agree",
           f"counts after the revert: {cs}\ndisagreeing: {bad}\n{vm.mismatches(offset)}\n"
           f"pcvm.log: {sl.log_tail(vm.log())}")
    # the disk itself, read by qemu-io while the guest is paused
    vm.cli("pause", vm.bundle)
    time.sleep(0.2)
    try:
        c = vm.last_count()
        d = vm.disk_count()
    finally:
        vm.cli("resume", vm.bundle)
    tap.ok(c is not None and d in (c, c + 1),
           f"revert to {name}: the disk sector holds the guest's count (disk {d}, last printed "
           f"{c})")
    return cs


def check_list(tap, vm, text, parents, current, started):
    """snapshot-list on the control socket: PARENTS ({id: parent id}) and CURRENT, as in
    index.conf, with the sizes of `pcvm snapshot list` (TEXT) and each snapshot's thumbnail."""
    r = vm.control("snapshot-list")
    res = (r or {}).get("result") or {}
    snaps = res.get("snapshots") or []
    got = {s.get("id"): s for s in snaps}
    tree, space = vm.tree(), sl.list_space(text)
    problems = []
    if not r or not r.get("ok") or res.get("current") != current:
        problems.append(f"the reply's current is {res.get('current')}, expected {current}")
    if [s.get("id") for s in snaps] != sorted(parents, key=int):
        problems.append(f"ids {[s.get('id') for s in snaps]}, expected {sorted(parents, key=int)}"
                        " in creation order")
    for sid, parent in parents.items():
        s, node = got.get(sid, {}), tree.nodes.get(sid, {})
        mem, disk = space.get(sid, (None, None))
        thumb = s.get("thumbnail")
        if (s.get("parent") != parent or s.get("name") != node.get("name") or
                s.get("description") != f"test snapshot {node.get('name')}" or
                s.get("has-memory") is not True or s.get("current") != (sid == current)):
            problems.append(f"snapshot {sid}: {s}, index.conf: {node}, parent {parent}")
        if not isinstance(s.get("time"), int) or not started - 5 <= s["time"] <= time.time() + 5:
            problems.append(f"snapshot {sid}: time {s.get('time')} is not when it was taken")
        # the text rounds to one decimal (e.g. "1.1 MiB"); the disk space may change a little
        # between the two questions while the guest writes
        if not mem or abs(s.get("memory-bytes", 0) - mem) > mem * 0.06:
            problems.append(f"snapshot {sid}: memory-bytes {s.get('memory-bytes')}, "
                            f"pcvm snapshot list: {mem}")
        if disk is None or not isinstance(s.get("disk-bytes"), int):
            problems.append(f"snapshot {sid}: disk-bytes {s.get('disk-bytes')}, list: {disk}")
        if not thumb or not os.path.isabs(thumb) or \
                os.path.realpath(thumb) != os.path.realpath(vm.snapdir(sid + ".png")):
            problems.append(f"snapshot {sid}: thumbnail {thumb}")
    tap.ok(not problems, f"snapshot-list on the control socket: {len(snaps)} snapshots, parents "
           f"{parents}, current {current}, the sizes pcvm snapshot list shows",
           "\n".join(problems) + f"\n{r}\n{text}")


def main():
    return sl.main("counter", "counter", lambda tap, vm, _: run_tests(tap, vm))


def run_tests(tap, vm):
    t0, started = time.monotonic(), time.time()
    vm.start()
    first = vm.wait_counts(3, seconds=60)
    if not tap.ok(first is not None, f"the counter guest counts ({time.monotonic() - t0:.1f} s "
                  "to the first steps)", f"COM1: {vm.serial()[-800:]}\nstderr: {vm.stderr()}"):
        return
    check_state(tap, vm, "before any snapshot", [], None)

    a, a_lo, a_hi = take(tap, vm, "A")
    files = vm.snapshot_files()
    tap.ok(all(f"{a}{e}" in files for e in (".state", ".ram", ".vram", ".png")),
           f"snapshot {a} has its .state, .ram, .vram and .png files", files)
    tree = vm.tree()
    tap.ok(tree.nodes.get(a, {}).get("parent") is None and tree.nodes[a]["name"] == "A"
           and tree.nodes[a]["has_memory"], "A is a root with memory", repr(tree))
    check_state(tap, vm, "after take A", [a], a)

    vm.wait_count_above(a_hi + 8)
    b, b_lo, b_hi = take(tap, vm, "B", paused=True)
    tree = vm.tree()
    tap.ok(tree.nodes.get(b, {}).get("parent") == a, "B is a child of A", repr(tree))
    out = check_state(tap, vm, "after take B", [a, b], b)
    lines = [l for l in out.splitlines() if l.strip()]
    tap.ok(len(lines) == 2 and lines[0].startswith(f"{a}  A") and
           lines[1].startswith(f"  {b}  B") and "you are here" in lines[1],
           "pcvm snapshot list shows B indented below A, you are here at B", out)

    vm.wait_count_above(b_hi + 8)
    check_revert(tap, vm, "A", a_lo, a_hi, "cli")
    check_state(tap, vm, "after revert A", [a, b], a)

    vm.wait_count_above(a_hi + 8)
    check_revert(tap, vm, "B", b_lo, b_hi, "socket")
    check_state(tap, vm, "after revert B", [a, b], b)

    # a branch: back to A, then C, a second child of A
    check_revert(tap, vm, a, a_lo, a_hi, "cli-restore")
    vm.wait_count_above(a_hi + 4)
    c, c_lo, c_hi = take(tap, vm, "C")
    tree = vm.tree()
    tap.ok(tree.nodes.get(c, {}).get("parent") == a and tree.nodes[b]["parent"] == a,
           "C is a second child of A, beside B", repr(tree))
    out = check_state(tap, vm, "after take C", [a, b, c], c)
    check_list(tap, vm, out, {a: None, b: a, c: a}, c, started)

    # delete A: B and C stay and still revert
    rc, out, err, secs = vm.snap("delete", "A")
    tap.ok(rc == 0, f"delete A in {secs * 1000:.0f} ms", out + err)
    tree = vm.tree()
    tap.ok(a not in tree.nodes and tree.nodes.get(b, {}).get("parent") is None
           and tree.nodes.get(c, {}).get("parent") is None,
           "after deleting A, B and C hang at the root", repr(tree))
    tap.ok(not any(f.startswith(a + ".") for f in vm.snapshot_files()),
           "A's files are gone", vm.snapshot_files())
    out = check_state(tap, vm, "after delete A", [b, c], c)
    tap.ok(" A " not in out and f"{b}  B" in out and f"{c}  C" in out,
           "pcvm snapshot list no longer shows A", out)
    check_revert(tap, vm, "B", b_lo, b_hi, "cli")
    check_state(tap, vm, "after revert B (A deleted)", [b, c], b)
    check_revert(tap, vm, c, c_lo, c_hi, "socket-restore")
    check_state(tap, vm, "after revert C (A deleted)", [b, c], c)

    # the control socket: progress events for the requester, then the reply
    events, reply = vm.control_events("snapshot-take", request_id=41, name="E")
    problems = sl.progress_problems("snapshot-take", events, reply, 41, ["disks", "ram"])
    e = (reply or {}).get("result", {}).get("id")
    tap.ok(not problems and e, f"take E on the socket: {len(events)} progress events "
           "(disks, then RAM in bytes up to its size), then the reply", "\n".join(problems))
    out = check_state(tap, vm, "after take E", [b, c, e], e)
    space = sl.list_space(out)
    tap.ok(sorted(space) == sorted([b, c, e]) and
           all(m and m > 0 and d is not None for m, d in space.values()),
           "pcvm snapshot list shows the memory and the disk space of each snapshot "
           "(the disk's asked of the running VM)", out)
    events, reply = vm.control_events("snapshot-delete", request_id="del", snapshot=e)
    problems = sl.progress_problems("snapshot-delete", events, reply, "del", ["disks", "files"])
    tap.ok(not problems, f"delete E on the socket: {len(events)} progress events, then the reply",
           "\n".join(problems))
    check_state(tap, vm, "after delete E", [b, c], c)

    tap.ok(not vm.mismatches(), "the guest never saw RAM and disk disagree", vm.mismatches())
    code = vm.stop()
    tap.ok(code == 0, f"pcvm stop: the VM exits with 0 ({code})", vm.stderr())
    problems = vm.consistency(live=False, expect_ids=[b, c])
    tap.ok(not problems, "after the VM stopped: qemu-img check clean, snapshots as in the tree",
           "\n".join(problems))
    log = vm.log()
    taken = [l for l in log.splitlines() if "taken; guest paused" in l]
    reverted = [l for l in log.splitlines() if "reverted to snapshot" in l]
    for l in taken + reverted:
        print("# pcvm.log: " + l.split(" info: ", 1)[-1], flush=True)
    tap.ok(len(taken) == 4 and len(reverted) == 5, "pcvm.log records 4 takes and 5 reverts",
           log[-2000:])


if __name__ == "__main__":
    sys.exit(main())
