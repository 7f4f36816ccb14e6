#!/usr/bin/env python3
"""The machine's life as a user drives it: the ACPI power button (`pcvm powerdown`) seen by a
guest that powers off in answer (tests/guests/powerbtn.asm, also under QEMU with QMP's
system_powerdown), the "state" events a control-socket client is pushed while another client
pauses, resumes, resets and stops the VM, and `pcvm suspend` with the next `pcvm run` resuming
the counter guest (tests/snapshot/counter.asm) where it was.

usage: lifecycle.py PCVM GUEST_SRC_DIR
"""
import json
import os
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, HERE)
from tap import Pcvm, Tap, guest_disk, qemu_available, read, require_kvm, run, \
    tempdir  # noqa: E402
import snapshotlib as sl  # noqa: E402

WAIT = 60


def wait_until(pred, seconds, proc=None):
    """Polls PRED until it is true (its value), PROC exits, or SECONDS pass (None)."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        if proc is not None and proc.poll() is not None:
            return pred() or None
        time.sleep(0.05)
    return None


def lines(text):
    return [l.rstrip("\r") for l in text.splitlines()]


def wait_exit(proc, seconds):
    try:
        return proc.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return None


# ---- the ACPI power button ----

POWERBTN_EXPECT = ["ACPI mode on: SCI_EN set",
                   "ready: PWRBTN_EN set, waiting for the power button",
                   "power button pressed: PWRBTN_STS set",
                   "PWRBTN_STS cleared by writing 1",
                   "powering off through PM1a_CNT (S5)"]
READY = "ready: PWRBTN_EN set"


def press_pcvm(binary, tmp, disk):
    """powerbtn.asm under pcvm, `pcvm powerdown` once it is ready: (exit code, serial, log,
    the powerdown's (rc, out, err), stderr)."""
    bundle = Pcvm(binary, tmp).create("powerbtn", "--disk", disk, "--memory", "64",
                                      "--test-exit")
    serial = os.path.join(tmp, "powerbtn.serial")
    err_path = os.path.join(tmp, "powerbtn.stderr")
    with open(err_path, "w") as err:
        proc = subprocess.Popen([binary, "run", bundle, "--serial", serial],
                                stdin=subprocess.DEVNULL, stdout=err, stderr=err)
    pressed = (None, "", "the guest never became ready")
    if wait_until(lambda: READY in read(serial), WAIT, proc):
        pressed = run([binary, "powerdown", bundle], 30)
    rc = wait_exit(proc, WAIT)
    return rc, read(serial), read(os.path.join(bundle, "pcvm.log")), pressed, read(err_path)


def qmp(path, *commands):
    """Sends COMMANDS (names) to QEMU's QMP socket at PATH after the handshake; the replies."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(path)
    f = s.makefile("rw")
    json.loads(f.readline())  # the greeting
    replies = []
    for cmd in ("qmp_capabilities",) + commands:
        f.write(json.dumps({"execute": cmd}) + "\n")
        f.flush()
        while True:
            msg = json.loads(f.readline())
            if "return" in msg or "error" in msg:
                replies.append(msg)
                break
    s.close()
    return replies


def press_qemu(tmp, disk):
    """The same guest under QEMU, pressed with QMP's system_powerdown: (exit code, serial)."""
    serial = os.path.join(tmp, "qemu-powerbtn.serial")
    qmp_path = os.path.join(tmp, "qmp.sock")
    proc = subprocess.Popen(
        ["qemu-system-x86_64", "-accel", "kvm", "-machine", "pc", "-m", "64", "-nodefaults",
         "-vga", "std", "-display", "none", "-serial", "file:" + serial,
         "-device", "isa-debug-exit,iobase=0xf4,iosize=4",
         "-drive", f"file={disk},format=raw,if=ide",
         "-qmp", f"unix:{qmp_path},server=on,wait=off"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if wait_until(lambda: READY in read(serial), WAIT, proc):
        qmp(qmp_path, "system_powerdown")
    return wait_exit(proc, WAIT), read(serial)


def test_power_button(tap, binary, src, tmp):
    disk = guest_disk(src, "powerbtn", tmp)
    rc, serial, log, (prc, pout, perr), err = press_pcvm(binary, tmp, disk)
    tap.ok(prc == 0, "pcvm powerdown of the running VM succeeds", f"{prc} {pout}{perr}")
    tap.ok(lines(serial) == POWERBTN_EXPECT,
           "the guest saw PWRBTN_STS, cleared it and entered S5",
           "got:\n" + serial + "\nstderr:\n" + err)
    tap.ok(rc == 0 and "ACPI power button pressed" in log and
           "guest ACPI power-off (S5)" in log,
           "pcvm exits with 0: the guest powered off (S5) after the button",
           f"exit code {rc}\nstderr:\n{err}\npcvm.log:\n{log[-2000:]}")
    if not qemu_available():
        tap.skip("qemu: the same power button", "qemu-system-x86_64 is not installed")
        return
    qdisk = guest_disk(src, "powerbtn", tmp, "qemu-powerbtn")
    qrc, qserial = press_qemu(tmp, qdisk)
    tap.ok(qrc == rc and lines(qserial) == lines(serial),
           "qemu (system_powerdown): same serial output and exit code as pcvm",
           f"qemu {qrc}, pcvm {rc}\nqemu:\n{qserial}\npcvm:\n{serial}")


# ---- state events ----

class Subscriber:
    """A control-socket client that only listens, after one request (so that the server has
    taken it among its clients)."""

    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(20)
        self.s.connect(path)
        self.buf = b""
        self.s.sendall(b'{"cmd": "status", "id": "sub"}\n')
        self.first = self.next()

    def next(self):
        """The next message, None at the end of the connection."""
        while b"\n" not in self.buf:
            try:
                chunk = self.s.recv(65536)
            except socket.timeout:
                return None
            if not chunk:
                return None
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def state_event(self):
        """The next "state" event's state (other events skipped), None if none comes."""
        while True:
            msg = self.next()
            if msg is None:
                return None
            if msg.get("event") == "state":
                return msg.get("data", {}).get("state")


def test_state_events(tap, binary, src, tmp):
    disk = guest_disk(src, "spin", tmp)
    bundle = Pcvm(binary, tmp).create("events", "--disk", disk, "--memory", "64")
    proc = subprocess.Popen([binary, "run", bundle], stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    sock = os.path.join(bundle, "run", "control.sock")
    try:
        if not tap.ok(wait_until(lambda: os.path.exists(sock), WAIT, proc),
                      "events: the control socket appears"):
            return
        sub = Subscriber(sock)
        tap.ok(sub.first and sub.first.get("ok") and sub.first["result"]["state"] == "running",
               "events: the subscriber's status request is answered", sub.first)
        for cmd, want in (("pause", "paused"), ("resume", "running"), ("reset", "reset"),
                          ("stop", "off")):
            rc, out, err = run([binary, cmd, bundle], 30)
            got = sub.state_event()
            tap.ok(rc == 0 and got == want,
                   f"events: `pcvm {cmd}` by another client pushes state \"{want}\"",
                   f"pcvm {cmd}: exit {rc} {out}{err}; the subscriber got {got!r}")
        tap.ok(sub.next() is None, "events: the connection ends after \"off\"")
        tap.ok(wait_exit(proc, 20) == 0, "events: the VM exited with 0 after stop")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


# ---- suspend and resume ----

def test_suspend(tap, binary, tmp):
    missing = sl.missing_tools("qemu-img", "qemu-io", "nasm")
    if missing:
        tap.skip("suspend and resume", ", ".join(missing) + " not installed")
        return
    guest, _ = sl.assemble("counter", tmp)
    vm = sl.Vm(binary, tmp, "suspend", guest)
    try:
        suspend_resume(tap, vm)
    finally:
        vm.kill()


def suspend_resume(tap, vm):
    vm.start()
    if not tap.ok(vm.wait_counts(4, seconds=WAIT), "suspend: the counter guest counts",
                  vm.serial()[-800:] + vm.stderr()):
        return
    rc, out, err = vm.cli("suspend", vm.bundle)
    code = wait_exit(vm.proc, 30)
    before = vm.last_count()
    tap.ok(rc == 0 and code == 0, "suspend: `pcvm suspend` succeeds and pcvm exits with 0",
           f"suspend exit {rc} {out}{err}; pcvm exit {code}; {vm.stderr()}")
    files = vm.snapshot_files()
    tap.ok("suspend.state" in files and "suspend.ram" in files,
           "suspend: snapshots/suspend.state and suspend.ram exist", files)
    tap.ok(vm.status() == "off", "suspend: status says off", vm.status())
    offset = vm.serial_size()
    time.sleep(1)  # a guest counting on would have gone on by 18 steps
    tap.ok(vm.serial_size() == offset, "suspend: nothing runs while suspended")
    vm.start()
    after = vm.wait_counts(3, offset, seconds=WAIT)
    tail = vm.serial()[offset:]
    tap.ok(after is not None and after[0][0] in (before + 1, before + 2)
           and sl.consecutive([c for c, _ in after]) and "boot" not in tail,
           f"resume: the count goes on from {before:#x} with no new boot (no \"boot\" line)",
           f"before {before}, after {after}\n{tail[-800:]}\n{vm.stderr()}")
    tap.ok(not vm.mismatches(offset),
           "resume: no mismatch: RAM, disk and CPU state came back together",
           tail[-800:])
    tap.ok("resumed from suspend" in vm.log(), "resume: pcvm.log says it resumed",
           vm.log()[-1500:])
    tap.ok(not any(f.startswith("suspend.") for f in vm.snapshot_files()),
           "resume: the suspend files are consumed", vm.snapshot_files())
    code = vm.stop()
    tap.ok(code == 0, "resume: the resumed VM stops normally", f"{code} {vm.stderr()}")
    offset = vm.serial_size()
    vm.start()
    again = vm.wait(lambda: "boot d=" in vm.serial()[offset:], WAIT)
    tap.ok(again, "the next run after that boots afresh (from the disk's count)",
           vm.serial()[offset:][-800:])
    vm.stop()


def main():
    binary, src = sys.argv[1:3]
    tap = Tap()
    if not require_kvm(tap):
        return tap.done()
    with tempdir() as tmp:
        test_power_button(tap, binary, src, tmp)
        test_state_events(tap, binary, src, tmp)
        test_suspend(tap, binary, tmp)
    return tap.done()


if __name__ == "__main__":
    sys.exit(main())
