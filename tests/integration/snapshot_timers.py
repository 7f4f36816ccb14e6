#!/usr/bin/env python3
"""Timers and interrupts after a revert, with two vCPUs.

The guest (tests/snapshot/timers.asm) wakes its second CPU with INIT-SIPI-SIPI (x2APIC); the
AP counts its own LAPIC timer interrupts (periodic, 100 ms); the BSP halts between BIOS timer
ticks (IRQ 0: PIT -> PIC, 18.2 Hz) and every 4 ticks prints the tick count, the AP's count and
the RTC time read through INT 1Ah. The test measures both rates against the host clock before
any snapshot, takes a snapshot while the guest runs, lets it run on, reverts (CLI, then once
more through the control socket) and checks after each revert that
  - the guest goes on from the snapshot's tick and AP counts,
  - the BIOS ticks (IRQ 0) and the AP's LAPIC timer keep their rates (within a factor of
    2.5 of 18.2 Hz and 10 Hz: the machines tests run on are slow, not that slow),
  - the RTC reads valid BCD through INT 1Ah and advances with the ticks.

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
WINDOW = 2.5  # seconds a rate is measured over


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


def rates(vm, offset):
    """Over WINDOW seconds of host time: (tick rate, AP rate, the samples in between)."""
    first = vm.wait(lambda: samples(vm, offset)[-1:] or None, 10)
    w1 = time.monotonic()
    n1 = len(samples(vm, offset))
    time.sleep(WINDOW)
    s = samples(vm, offset)
    w2 = time.monotonic()
    if not first or len(s) <= n1 or s[-1][0] is None or first[0][0] is None:
        return None, None, s
    t1, a1, _ = first[0]
    t2, a2, _ = s[-1]
    return (t2 - t1) / (w2 - w1), (a2 - a1) / (w2 - w1), s[n1 - 1:]


def in_range(rate, nominal):
    return rate is not None and nominal / FACTOR <= rate <= nominal * FACTOR


def check_after_revert(tap, vm, what, offset, snap):
    """The samples after the revert at OFFSET go on from SNAP = (t_lo, t_hi, ap_lo, ap_hi)."""
    t_lo, t_hi, ap_lo, ap_hi = snap
    def after():
        """The samples from the first one after the revert on: lines printed between OFFSET and
        the revert are 2 s of ticks beyond the snapshot."""
        s = [x for x in samples(vm, offset) if x[0] is not None]
        while s and s[0][0] > t_hi + 8:
            s = s[1:]
        return s if len(s) >= 3 else None
    got = vm.wait(after, 15) or []
    tap.ok(len(got) >= 3 and t_lo <= got[0][0] <= t_hi + 8 and ap_lo <= got[0][1] <= ap_hi + 4,
           f"{what}: the guest goes on from the snapshot (ticks {got[0][0] if got else None}, "
           f"AP {got[0][1] if got else None}; snapshot ticks {t_lo}..{t_hi}, AP {ap_lo}..{ap_hi})",
           f"samples after the revert: {samples(vm, offset)}")
    rt, ra, s = rates(vm, offset)
    s = [x for x in s if x[0] is not None]
    tap.ok(in_range(rt, TICK_HZ) and s and all(b[0] > a[0] for a, b in zip(s, s[1:])),
           f"{what}: IRQ 0 keeps ticking ({rt if rt is None else round(rt, 1)} Hz, nominal "
           f"{TICK_HZ:.1f})", f"samples: {s}")
    tap.ok(in_range(ra, AP_HZ) and s and all(b[1] >= a[1] for a, b in zip(s, s[1:])),
           f"{what}: the AP's LAPIC timer keeps interrupting "
           f"({ra if ra is None else round(ra, 1)} Hz, nominal {AP_HZ:.0f})", f"samples: {s}")
    allrtc = [x for x in samples(vm, offset)]
    ok_rtc = bool(s) and all(x[2] is not None for x in allrtc)
    if ok_rtc and len(s) >= 2:
        guest_secs = (s[-1][0] - s[0][0]) / TICK_HZ
        rtc_secs = (s[-1][2] - s[0][2]) % 86400
        ok_rtc = abs(rtc_secs - guest_secs) <= 2.0 and rtc_secs >= 1
    else:
        rtc_secs, guest_secs = None, None
    tap.ok(ok_rtc, f"{what}: INT 1Ah reads the RTC, which advances with the ticks "
           f"(RTC {rtc_secs} s over {guest_secs if guest_secs is None else round(guest_secs, 1)}"
           " s of ticks)", f"samples: {allrtc}")


def main():
    return sl.main("timers", "timers", lambda tap, vm, _: run_tests(tap, vm), cpus=2)


def snapshot_window(vm, before):
    s = [x for x in samples(vm) if x[0] is not None]
    return before[0], s[-1][0], before[1], s[-1][1]


def run_tests(tap, vm):
    t0 = time.monotonic()
    vm.start()
    up = vm.wait(lambda: (lambda s: s if len(s) >= 3 and s[-1][1] else None)(samples(vm)), 60)
    if not tap.ok(up is not None and "AP up" in vm.serial(),
                  f"the timers guest runs on 2 vCPUs, the AP counting its LAPIC timer "
                  f"({time.monotonic() - t0:.1f} s)",
                  f"COM1: {vm.serial()[-800:]}\nstderr: {vm.stderr()}"):
        return
    rt, ra, s = rates(vm, 0)
    tap.ok(in_range(rt, TICK_HZ) and in_range(ra, AP_HZ),
           f"before any snapshot: IRQ 0 at {rt and round(rt, 1)} Hz, the AP's timer at "
           f"{ra and round(ra, 1)} Hz", f"samples: {s}")

    before = [x for x in samples(vm) if x[0] is not None][-1]
    rc, out, err, secs = vm.snap("take", "timers")
    snap = snapshot_window(vm, before)
    tap.ok(rc == 0 and out.startswith("snapshot 1 taken"),
           f"take a snapshot of 2 running vCPUs ({secs * 1000:.0f} ms)", out + err)
    time.sleep(2)

    offset = vm.serial_size()
    rc, out, err, secs = vm.snap("revert", "timers")
    tap.ok(rc == 0, f"revert (CLI, {secs * 1000:.0f} ms)", out + err)
    check_after_revert(tap, vm, "after the revert", offset, snap)

    time.sleep(1)
    offset = vm.serial_size()
    r = vm.control("snapshot-revert", snapshot="1")
    tap.ok(bool(r and r.get("ok")), "revert again (control socket)", r)
    check_after_revert(tap, vm, "after the second revert", offset, snap)

    code = vm.stop()
    tap.ok(code == 0, f"pcvm stop: exit code {code}", vm.stderr())
    problems = vm.consistency(live=False, expect_ids=["1"])
    tap.ok(not problems, "qemu-img check clean, the disk snapshot as in the tree",
           "\n".join(problems))


if __name__ == "__main__":
    sys.exit(main())
