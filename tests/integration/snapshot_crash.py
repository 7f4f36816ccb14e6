#!/usr/bin/env python3
"""Crash safety of snapshot take: SIGKILL the VM process at random moments of `pcvm snapshot
take`, several rounds, and check what is left.

The guest is the counter guest (tests/snapshot/counter.asm: a count in RAM at 0000:0600 and at
128 MiB, and in disk sector 2048, kept equal step by step). Each round:
  1. the VM runs (resumed from a snapshot, see 4); `pcvm snapshot take` starts, and after a
     random delay between 0 and 1.3 times the duration of an uninterrupted take the VM
     process gets SIGKILL (its RAM-writer child, if any, is left to finish as after a real
     kill of the main process; it must not linger);
  2. `qemu-img check` exits 0 or 3 (leaked clusters allowed), never 2 (corruption) or 1;
     `pcvm snapshot list` reads the tree; every snapshot it lists is on the disk
     (`qemu-img snapshot -l`) and, if taken running, has its .state, .ram and .vram; a take
     the CLI reported done before the kill is in the tree;
  3. each listed memory snapshot is whole: in its ID.ram the count at 0000:0600 and its
     copy at 128 MiB, and the disk as the snapshot holds it (qemu-img convert -l
     snapshot.id=ID), agree (the disk and the high copy may be one step behind: the guest was
     between the two writes);
  4. revert with the VM off to one of them (a different one each round) and `pcvm run`: the
     VM resumes there, the guest counting on from that snapshot's count with RAM and disk
     agreeing — this is the next round's running VM.
Then: a take works after all the crashes (also after a leftover that imitates a kill between
the disk snapshot and index.conf: a disk snapshot and files with the next free ID), every
listed snapshot reverts in the running VM with the guest counting on from its count, and
after a clean stop `qemu-img check` still finds no corruption.

CRASH_SEED=N repeats the kill moments; SNAPSHOT_CRASH_ROUNDS=N changes the rounds (default 8).

usage: snapshot_crash.py PCVM
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

ROUNDS = int(os.environ.get("SNAPSHOT_CRASH_ROUNDS", "8"))


def group_alive(pgid):
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def crash_during_take(vm, name, delay):
    """Starts `pcvm snapshot take`, SIGKILLs the VM after DELAY s. Returns (CLI exit code, its
    output, whether the VM's process group outlived the kill by more than 5 s)."""
    cli = subprocess.Popen([vm.binary, "snapshot", "take", vm.bundle, name],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           start_new_session=True)
    time.sleep(delay)
    pgid = vm.proc.pid
    os.kill(vm.proc.pid, signal.SIGKILL)
    vm.proc.wait()
    try:
        out, _ = cli.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        cli.kill()
        out, _ = cli.communicate()
    end = time.monotonic() + 5
    while group_alive(pgid) and time.monotonic() < end:
        time.sleep(0.05)
    lingered = group_alive(pgid)
    if lingered:
        os.killpg(pgid, signal.SIGKILL)
        time.sleep(0.2)
    return cli.returncode, out, lingered


def snapshot_whole(vm, sid, tmp):
    """None if memory snapshot SID is consistent in itself, else what is wrong; and its RAM count."""
    ram = vm.snapdir(f"{sid}.ram")
    try:
        r = sl.ram_word(ram, sl.COUNT_ADDR)
        h = sl.ram_word(ram, sl.HIGH_ADDR)
        d = sl.counter_sector_value(
            sl.snapshot_disk_read(vm.disk, sid, sl.COUNTER_LBA * 512, 16, tmp))
    except (OSError, RuntimeError) as e:
        return str(e), None
    if h not in (r, r - 1) or d not in (r, r - 1):
        return f"snapshot {sid}: RAM count {r}, high copy {h}, disk {d}", r
    return None, r


def check_after_crash(tap, vm, k, cli_rc, cli_out, tmp):
    name = f"round {k}"
    ok, rc, text = sl.check_image(vm.disk, live=False)
    tap.ok(rc in (0, 3), f"{name}: qemu-img check finds no corruption (exit {rc})", text[-1500:])
    rc, out, err = vm.cli("snapshot", "list", vm.bundle)
    tree = vm.tree()
    tap.ok(rc == 0 and not tree.error, f"{name}: pcvm snapshot list reads the tree "
           f"({len(tree.nodes)} snapshots)", out + err)
    problems = []
    ids, why = sl.disk_snapshot_ids(vm.disk)
    listed, ltext = sl.snapshot_list_ids(vm.disk)
    for sid, n in tree.nodes.items():
        if ids is None or sid not in ids or listed is None or sid not in listed:
            problems.append(f"snapshot {sid} is not on the disk: {ids} / {ltext}")
        if n["has_memory"]:
            for ext in (".state", ".ram", ".vram"):
                if not os.path.exists(vm.snapdir(sid + ext)):
                    problems.append(f"snapshot {sid} has no {sid}{ext}")
    done = cli_rc == 0 and cli_out.startswith("snapshot ")
    if done and cli_out.split()[1] not in tree.nodes:
        problems.append(f"the CLI reported '{cli_out.strip()}' but the tree lacks it")
    extra = sorted(set(ids or []) - set(tree.nodes), key=int)
    tap.ok(not problems, f"{name}: every snapshot the tree lists is on the disk with its files "
           f"(take {'reported done' if done else 'interrupted'}"
           f"{'; leftover disk snapshots ' + str(extra) if extra else ''})", "\n".join(problems))
    counts = {}
    bad = []
    for sid, n in tree.nodes.items():
        if n["has_memory"]:
            why, r = snapshot_whole(vm, sid, tmp)
            counts[sid] = r
            if why:
                bad.append(why)
    tap.ok(not bad, f"{name}: each listed snapshot's RAM and disk agree with each other "
           f"({len(counts)} checked)", "\n".join(bad))
    return counts


def resume_at(tap, vm, sid, r, what):
    """Reverts the stopped VM to SID and runs it: the guest must go on from R."""
    rc, out, err, _ = vm.snap("revert", sid)
    off = vm.serial_size()
    vm.start()
    got = vm.wait_counts(3, off, seconds=20) or []
    cs = [c for c, d in got]
    ok = (rc == 0 and len(cs) >= 3 and cs[0] in (r, r + 1) and sl.consecutive(cs) and
          all(c == d for c, d in got) and not vm.mismatches(off))
    tap.ok(ok, f"{what}: revert to snapshot {sid} with the VM off, pcvm run resumes there "
           f"(counting from {cs[:1]}, snapshot count {r})",
           f"revert: exit {rc} {err}\ncounts {cs}\n{vm.mismatches(off)}\nstderr: {vm.stderr()}\n"
           f"{sl.log_tail(vm.log(), 6)}")
    return ok


def leftover(vm, tmp):
    """Imitates a kill between the disk snapshot and index.conf: a disk snapshot and files
    under the next ID the tree would give. Returns that ID."""
    import configparser
    cp = configparser.RawConfigParser(strict=False, interpolation=None)
    cp.read(vm.snapdir("index.conf"))
    ids = [int(s[9:]) for s in cp.sections() if s.startswith("snapshot ")]
    next_id = max([int(cp["tree"].get("next-id", "1"))] + [i + 1 for i in ids])
    disk_ids, _ = sl.disk_snapshot_ids(vm.disk)
    while str(next_id) in (disk_ids or []):
        next_id += 1  # a real leftover of the rounds already sits there
    if not vm.running():
        sl.qemu_img("snapshot", "-c", str(next_id), vm.disk)
    for ext in (".state", ".ram.tmp"):
        with open(vm.snapdir(f"{next_id}{ext}"), "wb") as f:
            f.write(b"left over by a crash")
    return str(next_id)


def main():
    seed = int(os.environ.get("CRASH_SEED", str(int(time.time()))))
    print(f"# random seed {seed} (CRASH_SEED={seed} repeats the kill moments)", flush=True)
    rng = random.Random(seed)
    return sl.main("counter", "crash", lambda tap, vm, _: run_tests(tap, vm, vm.tmp, rng))


def run_tests(tap, vm, tmp, rng):
    vm.start()
    if not tap.ok(vm.wait_counts(3, seconds=60) is not None, "the counter guest runs",
                  vm.stderr()):
        return
    rc, out, err, secs = vm.snap("take", "base")
    tap.ok(rc == 0, f"an uninterrupted take: {secs * 1000:.0f} ms", out + err)
    span = max(secs, 0.05) * 1.3
    lingering = []
    for k in range(1, ROUNDS + 1):
        vm.wait_count_above((vm.last_count() or 0) + 2, seconds=10)
        delay = rng.uniform(0, span)
        cli_rc, cli_out, lingered = crash_during_take(vm, f"round{k}", delay)
        if lingered:
            lingering.append(k)
        print(f"# round {k}: killed {delay * 1000:.0f} ms into the take; the CLI said "
              f"'{cli_out.strip()[:100]}' (exit {cli_rc})", flush=True)
        counts = check_after_crash(tap, vm, k, cli_rc, cli_out, tmp)
        mem = sorted([s for s in counts if counts[s] is not None], key=int)
        if not mem:
            tap.ok(False, f"round {k}: a memory snapshot to resume at")
            return
        sid = mem[k % len(mem)]
        if not resume_at(tap, vm, sid, counts[sid], f"round {k}"):
            return
    tap.ok(not lingering, "no process of a killed VM lingers (its RAM writer ends by itself "
           "within 5 s)", f"rounds with a lingering process: {lingering}")

    # takes after the crashes, and after a leftover of a kill after the disk snapshot
    rc, out, err, _ = vm.snap("take", "after-crashes")
    tap.ok(rc == 0, "a take works after the crashes", out + err)
    vm.stop()
    left = leftover(vm, tmp)
    rc, out, err, _ = vm.snap("take", "off-after-leftover")
    if not tap.ok(rc == 0, f"VM off: a take works despite the leftovers of an interrupted "
                  f"take of snapshot {left}", out + err):
        sl.qemu_img("snapshot", "-d", left, vm.disk)  # so that the next check stands alone
    vm.start()
    vm.wait_counts(3, vm.serial_size(), seconds=60)
    left = leftover(vm, tmp)
    rc, out, err, _ = vm.snap("take", "live-after-leftover")
    tap.ok(rc == 0, f"running: a take works despite leftover files of snapshot {left}",
           out + err)

    # every snapshot the tree lists reverts in the running VM
    tree = vm.tree()
    bad = []
    for sid in tree.ids():
        if not tree.nodes[sid]["has_memory"]:
            continue
        why, r = snapshot_whole(vm, sid, tmp)
        # paused first, so that every count read after OFF comes from the reverted guest (a
        # revert keeps a paused VM paused)
        vm.control("pause")
        off = vm.serial_size()
        rc, out, err, _ = vm.snap("revert", sid)
        vm.control("resume")
        got = vm.wait(lambda: (lambda g: g if len(g) >= 3 else None)(
            [x for x in vm.counts(off) if x[0] in range(r, r + 4)] if r is not None else []),
            10) or []
        cs = [c for c, d in got]
        if rc != 0 or why or not cs or cs[0] not in (r, r + 1) or not sl.consecutive(cs) or \
                vm.mismatches(off):
            bad.append(f"snapshot {sid}: revert exit {rc} {err.strip()} {why or ''}; RAM count "
                       f"{r}, then {cs}; {vm.mismatches(off)}")
        if not vm.running():
            break
    tap.ok(not bad, f"every snapshot the tree lists reverts in the running VM "
           f"({len(tree.ids())} snapshots)", "\n".join(bad))
    code = vm.stop()
    ok, rc, text = sl.check_image(vm.disk, live=False)
    tap.ok(code == 0 and rc in (0, 3), f"after a clean stop: exit {code}, qemu-img check "
           f"exit {rc} (leaks from the kills allowed)", text[-1500:])


if __name__ == "__main__":
    sys.exit(main())
