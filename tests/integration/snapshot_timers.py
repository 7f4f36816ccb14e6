#!/usr/bin/env python3
"""Timers and interrupts after a revert, with two vCPUs.

The guest (tests/snapshot/timers.asm) wakes its second CPU with INIT-SIPI-SIPI (x2APIC); the
AP counts its own LAPIC timer interrupts (periodic, 100 ms); the BSP halts between BIOS timer
ticks (IRQ 0: PIT -> PIC, 18.2 Hz) and every 4 ticks prints the tick count, the AP's count and
the RTC time read through INT 1Ah. The test measures the timers against the host clock before
any snapshot, takes a snapshot while the guest runs, lets it count well past it, reverts (CLI,
then once more through the control socket) and checks after each revert that
  - the guest goes on from the snapshot's tick and AP counts,
  - the BIOS ticks (IRQ 0) and the AP's LAPIC timer keep their rates (within a factor of
    2.5 of 18.2 Hz and 10 Hz over 4 s of host time: the machines tests run on are slow, not
    that slow),
  - the RTC reads valid BCD through INT 1Ah and keeps the host's time (within 2 s over the
    same 4 s).
A loaded host can starve a vCPU for a while, so a measurement that is off is taken once more
over 8 s before it fails; a stopped or wrong timer fails both.

usage: snapshot_timers.py PCVM
"""
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import snapshotlib as sl  # noqa: E402
from snapshotlib import Vm  # noqa: E402

LINE = re.compile(r"^t=([0-9A-F]{8}) ap=([0-9A-F]{8}) rtc=(\d\d):([0-5]\d):([0-5]\d)$")
TICK_HZ = 1193182 / 65536
AP_HZ = 10.0
FACTOR = 2.5
WINDOW = 4.0    # seconds a rate is measured over; once more over twice that when one is off
RTC_SLACK = 2   # seconds the RTC may differ from the host's clock over a window (it counts
                # whole seconds; the lines come some ms after their INT 1Ah)
AHEAD_TICKS, AHEAD_AP = 32, 20  # how far the guest counts past the snapshot before a revert
AFTER_TICKS, AFTER_AP = 8, 8    # how far past the snapshot the first line after it may be


def samples(vm, offset=0):
    """[(ticks, ap, rtc seconds of the day)] of the complete lines after OFFSET; lines with an
    unreadable RTC ("??") get None."""
    out = []
    for line in sl.full_lines(vm.serial(), offset):
        m = LINE.match(line)
        if m:
            h, mi, s = (int(x) for x in m.group(3, 4, 5))
            out.append((int(m.group(1), 16), int(m.group(2), 16), h * 3600 + mi * 60 + s))
        elif line.startswith("t="):
            out.append((None, None, None))
    return out


def next_sample(vm, offset, seconds=15):
    """Waits for a line after those already there: (its index among the samples after OFFSET,
    the host time it was seen), or (None, None). Polling every 20 ms places it in host time
    better than the 220 ms between lines would."""
    n = len(samples(vm, offset))
    if not vm.wait(lambda: len(samples(vm, offset)) > n, seconds, step=0.02):
        return None, None
    return n, time.monotonic()


def measure(vm, offset, window):
    """From a new line to the first one after WINDOW seconds of host time: a dict with the tick
    and AP rates, the RTC's and the host's seconds between the two lines and the samples from
    the one to the other (rates None when a line is missing or its RTC unreadable)."""
    m = {"tick": None, "ap": None, "rtc_secs": None, "host_secs": None, "samples": []}
    i1, w1 = next_sample(vm, offset)
    if i1 is not None:
        time.sleep(window)
        i2, w2 = next_sample(vm, offset)
        if i2 is not None:
            s = samples(vm, offset)[i1:i2 + 1]
            m["samples"] = s
            (t1, a1, r1), (t2, a2, r2) = s[0], s[-1]
            m["host_secs"] = w2 - w1
            if t1 is not None and t2 is not None:
                m["tick"], m["ap"] = (t2 - t1) / (w2 - w1), (a2 - a1) / (w2 - w1)
                m["rtc_secs"] = (r2 - r1) % 86400
    return m


def in_range(rate, nominal):
    return rate is not None and nominal / FACTOR <= rate <= nominal * FACTOR


def verdicts(m):
    """Whether the measurement M shows IRQ 0 ticking, the AP's timer interrupting and the RTC
    keeping time, each at a sane rate."""
    s = m["samples"]
    valid = bool(s) and all(x[0] is not None for x in s)
    return {
        "tick": valid and in_range(m["tick"], TICK_HZ) and
                all(b[0] > a[0] for a, b in zip(s, s[1:])),
        "ap": valid and in_range(m["ap"], AP_HZ) and all(b[1] >= a[1] for a, b in zip(s, s[1:])),
        "rtc": valid and m["rtc_secs"] is not None and m["rtc_secs"] >= 1 and
               abs(m["rtc_secs"] - m["host_secs"]) <= RTC_SLACK,
    }


def check_timers(tap, vm, what, offset):
    """The tick rate, the AP's rate and the RTC over WINDOW seconds of host time. A loaded host
    can starve a vCPU for a while (KVM does not replay the LAPIC ticks a halted AP missed, and
    replays the PIT's late), so a window that is off is measured once more, twice as long: a
    stopped or wrong timer fails both."""
    m = measure(vm, offset, WINDOW)
    v = verdicts(m)
    if not all(v.values()):
        print(f"# {what}: {[k for k in v if not v[k]]} off over {WINDOW} s ({fmt(m)}); "
              f"once more over {2 * WINDOW} s", flush=True)
        m = measure(vm, offset, 2 * WINDOW)
        v = verdicts(m)
    tap.ok(v["tick"], f"{what}: IRQ 0 keeps ticking ({rnd(m['tick'])} Hz, nominal "
           f"{TICK_HZ:.1f})", f"{fmt(m)}\nsamples: {m['samples']}")
    tap.ok(v["ap"], f"{what}: the AP's LAPIC timer keeps interrupting ({rnd(m['ap'])} Hz, "
           f"nominal {AP_HZ:.0f})", f"{fmt(m)}\nsamples: {m['samples']}")
    tap.ok(v["rtc"], f"{what}: INT 1Ah reads the RTC, which keeps the host's time (RTC "
           f"{m['rtc_secs']} s over {rnd(m['host_secs'])} s)",
           f"{fmt(m)}\nsamples: {m['samples']}")


def rnd(x):
    return None if x is None else round(x, 1)


def fmt(m):
    return (f"ticks {rnd(m['tick'])} Hz, AP {rnd(m['ap'])} Hz, RTC {m['rtc_secs']} s over "
            f"{rnd(m['host_secs'])} s")


def valid_samples(vm, offset=0):
    return [x for x in samples(vm, offset) if x[0] is not None]


def wait_ahead(vm, snap):
    """Until the guest has counted well past the snapshot SNAP = (t_lo, t_hi, ap_lo, ap_hi), so
    that a revert that left it running on stands out (whether it got there). The BIOS's tick
    count starts again from 0 at midnight: below the snapshot's counts as past them."""
    t_lo, t_hi, _, ap_hi = snap
    return vm.wait(lambda: any((t > t_hi + AHEAD_TICKS or t < t_lo) and a > ap_hi + AHEAD_AP
                               for t, a, _ in valid_samples(vm)), 60)


def check_after_revert(tap, vm, what, offset, snap):
    """The samples after the revert at OFFSET go on from SNAP = (t_lo, t_hi, ap_lo, ap_hi), then
    the timers run. Lines printed between OFFSET and the revert are AHEAD_TICKS or more past
    the snapshot (wait_ahead), outside the ticks the first line after it may have: they are
    left out. (Not paused around the revert: the in-kernel PIT would count the pause and
    replay it, moving the first line on.)"""
    t_lo, t_hi, ap_lo, ap_hi = snap
    def after():
        s = valid_samples(vm, offset)
        while s and not t_lo <= s[0][0] <= t_hi + AFTER_TICKS:
            s = s[1:]
        return s if len(s) >= 3 else None
    got = vm.wait(after, 15) or []
    tap.ok(len(got) >= 3 and t_lo <= got[0][0] <= t_hi + AFTER_TICKS and
           ap_lo <= got[0][1] <= ap_hi + AFTER_AP,
           f"{what}: the guest goes on from the snapshot (ticks {got[0][0] if got else None}, "
           f"AP {got[0][1] if got else None}; snapshot ticks {t_lo}..{t_hi}, AP {ap_lo}..{ap_hi})",
           f"samples after the revert: {samples(vm, offset)}")
    check_timers(tap, vm, what, offset)


def main():
    return sl.main("timers", "timers", lambda tap, vm, _: run_tests(tap, vm), cpus=2)


def run_tests(tap, vm):
    t0 = time.monotonic()
    vm.start()
    up = vm.wait(lambda: (lambda s: s if len(s) >= 3 and s[-1][1] else None)(samples(vm)), 60)
    if not tap.ok(up is not None and "AP up" in vm.serial(),
                  f"the timers guest runs on 2 vCPUs, the AP counting its LAPIC timer "
                  f"({time.monotonic() - t0:.1f} s)",
                  f"COM1: {vm.serial()[-800:]}\nstderr: {vm.stderr()}"):
        return
    check_timers(tap, vm, "before any snapshot", 0)

    before = valid_samples(vm)[-1]
    rc, out, err, secs = vm.snap("take", "timers")
    # a line printed after the take: its counts are at or past the snapshot's
    after, _ = next_sample(vm, 0)
    last = valid_samples(vm)[-1] if after is not None else (None, None, None)
    snap = (before[0], last[0], before[1], last[1])
    if not tap.ok(rc == 0 and out.startswith("snapshot 1 taken") and after is not None,
                  f"take a snapshot of 2 running vCPUs ({secs * 1000:.0f} ms)",
                  f"{out}{err}\nCOM1: {vm.serial()[-400:]}"):
        return

    ahead = wait_ahead(vm, snap)
    offset = vm.serial_size()
    rc, out, err, secs = vm.snap("revert", "timers")
    tap.ok(rc == 0 and ahead, f"revert (CLI, {secs * 1000:.0f} ms)",
           f"{out}{err}\ncounted past the snapshot {snap}: {bool(ahead)}")
    check_after_revert(tap, vm, "after the revert", offset, snap)

    ahead = wait_ahead(vm, snap)
    offset = vm.serial_size()
    r = vm.control("snapshot-revert", snapshot="1")
    tap.ok(bool(r and r.get("ok")) and ahead, "revert again (control socket)",
           f"{r}\ncounted past the snapshot {snap}: {bool(ahead)}")
    check_after_revert(tap, vm, "after the second revert", offset, snap)

    code = vm.stop()
    tap.ok(code == 0, f"pcvm stop: exit code {code}", vm.stderr())
    problems = vm.consistency(live=False, expect_ids=["1"])
    tap.ok(not problems, "qemu-img check clean, the disk snapshot as in the tree",
           "\n".join(problems))


if __name__ == "__main__":
    sys.exit(main())
