#!/usr/bin/env python3
"""Crash safety of snapshot revert and delete: SIGKILL at chosen points and at random moments.

The guest is the counter guest (tests/snapshot/counter.asm: a count in RAM and in a disk
sector, kept equal; at boot it goes on from the sector's count, "boot d=..."). pcvm stops at a
named point of an operation when PCVM_SNAPSHOT_TEST_STALL names it (src/snapshot/offline.h:
it prints "pcvm: test point POINT" on stderr and sleeps); the test kills the process there:
  - running VM, revert (the VM process killed): revert-intent (marked under way, nothing
    changed yet), revert-disks (disks reverted, RAM not yet), revert-resumed (the guest runs
    at the snapshot, the tree not yet updated), revert-tree (tree updated, mark not removed);
  - running VM, delete: delete-tree (the tree no longer lists it), delete-disks (its disk
    snapshot gone too), delete-files (some of its files gone);
  - VM off (the CLI killed): revert-intent, revert-disks, revert-tree; delete-tree,
    delete-disks, delete-files;
  - and revert and delete of the running VM killed at random moments (timing only).
After each kill:
  1. `qemu-img check` finds no corruption (exit 0 or 3: a killed process may leak clusters);
     `pcvm snapshot list` reads the tree;
  2. the VM starts again. A revert that had begun is complete: the VM resumes at the
     snapshot, counting on from its count with RAM and disk agreeing. One that had not
     (random kills only) left the old state: the guest boots from the disk as it was;
  3. a deleted snapshot is gone completely (tree, disk snapshot, files); after a random kill
     it may instead still be there completely;
  4. the tree, the disk's snapshots (`qemu-img snapshot -l`) and the files agree: no
     leftovers, no intent or resume mark once the VM runs.
Then every listed snapshot reverts in the running VM, and after a clean stop `qemu-img check`
finds nothing but leaked clusters.

CRASH_SEED=N repeats the random kill moments.

usage: snapshot_crash_ops.py PCVM
"""
import os
import random
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import snapshotlib as sl  # noqa: E402
from snapshotlib import Vm  # noqa: E402

STALL = "PCVM_SNAPSHOT_TEST_STALL"
RUNNING_REVERT = ["revert-intent", "revert-disks", "revert-resumed", "revert-tree"]
DELETE = ["delete-tree", "delete-disks", "delete-files"]
OFFLINE_REVERT = ["revert-intent", "revert-disks", "revert-tree"]


def wait_text(path, text, seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if text in sl.read(path):
            return True
        time.sleep(0.02)
    return False


def kill_vm(vm):
    os.kill(vm.proc.pid, signal.SIGKILL)
    vm.proc.wait()


def snap_count(vm, sid):
    return sl.ram_word(vm.snapdir(f"{sid}.ram"), sl.COUNT_ADDR)


def start_running(tap, vm, what, env=None):
    """Starts the VM; its step lines from the start (offset, [(c, d)]) or None."""
    off = vm.serial_size()
    vm.start(env=env)
    got = vm.wait_counts(3, off, seconds=60)
    if not tap.ok(got is not None, f"{what}: the VM runs", f"{vm.stderr()}\n"
                  f"{sl.log_tail(vm.log())}\nCOM1: {vm.serial()[off:off + 500]}"):
        return None
    return off, got


def outcome(vm, off, got):
    """'resumed R' (no boot: counting from R), 'booted D' (from the disk's count D) or why
    neither, for the step lines after OFF."""
    text = vm.serial()[off:]
    cs = [c for c, d in got]
    if vm.mismatches(off) or not sl.consecutive(cs) or any(c != d for c, d in got):
        return f"inconsistent: {got} {vm.mismatches(off)}"
    if "boot d=" in text:
        return f"booted {cs[0]}"
    if "boot" in text:
        return f"booted fresh?! {text[:200]}"
    return f"resumed {cs[0]}"


def after_kill(tap, vm, what):
    """Step 1 above, with the VM process gone."""
    ok, rc, text = sl.check_image(vm.disk, live=False)
    tap.ok(rc in (0, 3), f"{what}: qemu-img check finds no corruption (exit {rc})", text[-1500:])
    rc, out, err = vm.cli("snapshot", "list", vm.bundle)
    tree = vm.tree()
    tap.ok(rc == 0 and not tree.error, f"{what}: pcvm snapshot list reads the tree", out + err)
    return tree


def consistent(tap, vm, what, expect_ids):
    """Step 4 above, the VM running (and paused for the look)."""
    vm.cli("pause", vm.bundle)
    try:
        problems = vm.consistency(live=True, expect_ids=expect_ids)
    finally:
        vm.cli("resume", vm.bundle)
    for mark in ("reverting", "resume"):
        if os.path.exists(vm.snapdir(mark)):
            problems.append(f"snapshots/{mark} is left: {sl.read(vm.snapdir(mark))!r}")
    tap.ok(not problems, f"{what}: the tree ({sorted(expect_ids, key=int)}), the disk's "
           "snapshots and the files agree; no marks left", "\n".join(problems))


def resumed_at(tap, vm, what, sid, started):
    """The VM (just started) resumed at snapshot SID."""
    off, got = started
    r = snap_count(vm, sid)
    res = outcome(vm, off, got)
    tap.ok(res in (f"resumed {r}", f"resumed {r + 1}") and vm.tree().current == sid,
           f"{what}: the revert is complete: the VM resumes at snapshot {sid} (count {r}: "
           f"{res}), the tree's current node",
           f"{res}; tree {vm.tree()}\n{sl.log_tail(vm.log(), 8)}")


def kill_running_at(tap, vm, op, sid, point):
    """The running VM (started with the stall) gets `pcvm snapshot OP SID`, is killed at
    POINT. Returns whether it got there."""
    cli = subprocess.Popen([vm.binary, "snapshot", op, vm.bundle, sid], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
    reached = wait_text(vm.errfile, f"pcvm: test point {point}", 30)
    kill_vm(vm)
    out, _ = cli.communicate(timeout=30)
    tap.ok(reached and cli.returncode != 0, f"{op} {sid}: the VM reached {point} and was killed "
           f"there (the CLI: exit {cli.returncode})", f"{out}\n{vm.stderr()}")
    return reached


def kill_cli_at(tap, vm, op, sid, point):
    """With the VM off, `pcvm snapshot OP SID` is killed at POINT."""
    errfile = os.path.join(vm.tmp, f"cli-{op}-{point}.stderr")
    with open(errfile, "w") as err:
        cli = subprocess.Popen([vm.binary, "snapshot", op, vm.bundle, sid],
                               stdout=subprocess.DEVNULL, stderr=err,
                               env=dict(os.environ, **{STALL: point}))
    reached = wait_text(errfile, f"pcvm: test point {point}", 30)
    cli.kill()
    cli.wait()
    tap.ok(reached, f"VM off: {op} {sid} reached {point} and was killed there", sl.read(errfile))
    return reached


def main():
    seed = int(os.environ.get("CRASH_SEED", str(int(time.time()))))
    print(f"# random seed {seed} (CRASH_SEED={seed} repeats the kill moments)", flush=True)
    rng = random.Random(seed)
    return sl.main("counter", "crashops", lambda tap, vm, _: run_tests(tap, vm, rng))


def take(tap, vm, name):
    vm.wait_count_above((vm.last_count() or 0) + 4, seconds=10)
    rc, out, err, secs = vm.snap("take", name)
    sid = out.split()[1] if rc == 0 and out.startswith("snapshot ") else None
    tap.ok(sid is not None, f"take {name}: snapshot {sid}", out + err)
    return sid, secs


def revert_completed(tap, vm, what, restart, target, ids):
    """A revert killed part way (WHAT): the next start (named RESTART) completes it. Whether
    that start worked; the VM is stopped again."""
    after_kill(tap, vm, what)
    started = start_running(tap, vm, f"{what}, {restart}")
    if not started:
        return False
    resumed_at(tap, vm, what, target, started)
    consistent(tap, vm, what, ids)
    vm.stop()
    return True


def delete_finished(tap, vm, what, restart, doomed, ids):
    """A delete of DOOMED killed part way (WHAT): the tree no longer lists it and the next start
    (named RESTART) finishes it. Whether that start worked; the VM is stopped again."""
    tree = after_kill(tap, vm, what)
    tap.ok(doomed not in tree.nodes, f"{what}: the tree no longer lists snapshot {doomed}",
           repr(tree))
    if not start_running(tap, vm, f"{what}, {restart}"):
        return False
    consistent(tap, vm, f"{what}: snapshot {doomed} is gone", ids)
    vm.stop()
    return True


def run_tests(tap, vm, rng):
    if not start_running(tap, vm, "at first"):
        return
    base, _ = take(tap, vm, "base")
    second, _ = take(tap, vm, "second")
    ids = [base, second]
    vm.stop()
    k = 0

    # running VM: revert killed at each point; the next start completes it
    for point in RUNNING_REVERT:
        target = ids[k % 2]
        k += 1
        if not start_running(tap, vm, f"revert at {point}", env={STALL: point}):
            return
        if not kill_running_at(tap, vm, "revert", target, point):
            return
        if not revert_completed(tap, vm, f"revert killed at {point}", "restart", target, ids):
            return

    # running VM: delete killed at each point; the next start finishes it
    for point in DELETE:
        if not start_running(tap, vm, f"delete at {point}", env={STALL: point}):
            return
        doomed, _ = take(tap, vm, f"doomed-{point}")
        if not kill_running_at(tap, vm, "delete", doomed, point):
            return
        if not delete_finished(tap, vm, f"delete killed at {point}", "restart", doomed, ids):
            return

    # VM off: the CLI killed during revert and delete
    for point in OFFLINE_REVERT:
        target = ids[k % 2]
        k += 1
        if not kill_cli_at(tap, vm, "revert", target, point):
            return
        if not revert_completed(tap, vm, f"VM off: revert killed at {point}", "start", target,
                                ids):
            return
    for point in DELETE:
        if not start_running(tap, vm, f"VM off: delete at {point}: before"):
            return
        doomed, _ = take(tap, vm, f"off-doomed-{point}")
        vm.stop()
        if not kill_cli_at(tap, vm, "delete", doomed, point):
            return
        if not delete_finished(tap, vm, f"VM off: delete killed at {point}", "start", doomed,
                               ids):
            return

    random_kills(tap, vm, rng, ids, k)
    final_checks(tap, vm)


def random_kills(tap, vm, rng, ids, k):
    """Revert and delete of the running VM killed after a random delay: either outcome."""
    started = start_running(tap, vm, "random kills")
    if not started:
        return
    for rnd in range(1, 3):
        target = ids[(k + rnd) % 2]
        rc, out, err, secs = vm.snap("revert", target)  # how long one takes here
        delay = rng.uniform(0, max(secs, 0.05) * 1.3)
        cli = subprocess.Popen([vm.binary, "snapshot", "revert", vm.bundle, ids[(k + rnd + 1) % 2]],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        kill_vm(vm)
        cli.wait()
        print(f"# random revert {rnd}: killed {delay * 1000:.0f} ms into it", flush=True)
        after_kill(tap, vm, f"random revert {rnd}")
        started = start_running(tap, vm, f"random revert {rnd}, restart")
        if not started:
            return
        other = ids[(k + rnd + 1) % 2]
        res = outcome(vm, *started)
        r = snap_count(vm, other)
        tap.ok(res.startswith("booted ") or res in (f"resumed {r}", f"resumed {r + 1}"),
               f"random revert {rnd}: the old state (the guest boots from the disk) or the new "
               f"(resumed at snapshot {other}, count {r}): {res}", sl.log_tail(vm.log()))
        consistent(tap, vm, f"random revert {rnd}", ids)
    doomed, _ = take(tap, vm, "random-doomed")
    rc, out, err, secs = vm.snap("delete", doomed)
    spare, _ = take(tap, vm, "random-doomed-2")
    delay = rng.uniform(0, max(secs, 0.05) * 1.3)
    cli = subprocess.Popen([vm.binary, "snapshot", "delete", vm.bundle, spare],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(delay)
    kill_vm(vm)
    cli.wait()
    print(f"# random delete: killed {delay * 1000:.0f} ms into it", flush=True)
    tree = after_kill(tap, vm, "random delete")
    if start_running(tap, vm, "random delete, restart"):
        consistent(tap, vm, f"random delete: snapshot {spare} "
                   f"{'still there' if spare in tree.nodes else 'gone'} completely",
                   ids + ([spare] if spare in tree.nodes else []))


def final_checks(tap, vm):
    """Every listed snapshot reverts in the running VM; a clean stop leaves a clean image."""
    if not vm.running() and not start_running(tap, vm, "at the end"):
        return
    tree = vm.tree()
    bad = []
    for sid in tree.ids():
        if not tree.nodes[sid]["has_memory"]:
            continue
        r = snap_count(vm, sid)
        # paused around the revert: every line after the offset is the reverted guest's
        rv = vm.revert_paused(sid)
        off = rv.offset or 0
        got = (vm.wait_counts(3, off, seconds=20) or [])[:3]
        cs = [c for c, d in got]
        if not rv.ok or not cs or cs[0] not in (r, r + 1) or not sl.consecutive(cs) or \
                any(c != d for c, d in got) or vm.mismatches(off):
            bad.append(f"snapshot {sid}: revert {'ok' if rv.ok else 'failed'} "
                       f"{rv.detail.strip()}; count {r}, then {got}; {vm.mismatches(off)}")
        if not vm.running():
            break
    tap.ok(not bad, f"every snapshot the tree lists reverts in the running VM ({tree.ids()})",
           "\n".join(bad))
    code = vm.stop()
    ok, rc, text = sl.check_image(vm.disk, live=False)
    tap.ok(code == 0 and rc in (0, 3), f"after a clean stop: exit {code}, qemu-img check exit "
           f"{rc} (leaks from the kills allowed)", text[-1500:])


if __name__ == "__main__":
    sys.exit(main())
