#!/usr/bin/env python3
"""Changing the CD while the guest runs: `pcvm media DIR cdrom --eject | --insert ISO
[--force]` against a guest (tests/guests/media.asm) that polls the drive with TEST UNIT READY
and REQUEST SENSE and prints every change of state on COM1. The test and the guest meet in the
serial output: the test waits (with a timeout) for the line that says the guest saw the last
change before it makes the next one.

What the guest must see, as on a real drive: the disc leaving (NOT READY, MEDIUM NOT PRESENT:
02/3A), a new disc (UNIT ATTENTION, MEDIUM MAY HAVE CHANGED: 06/28/00), then ready, and the new
disc's volume descriptor. PREVENT MEDIUM REMOVAL from the guest makes `pcvm media --eject`
fail with a clear message (the disc stays, the guest sees nothing), `--force` takes it anyway,
and the next disc goes into the emptied drive while the lock stands. vm.conf follows every
change. The same guest and the same changes (through QMP) run under QEMU as the reference; the
two must see the same, but for the ASCQ of 3A (pcvm says 02, tray open; QEMU 00).

usage: media.py PCVM GUEST_SRC_DIR
"""
import configparser
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
from tap import Tap, guest_disk, read, require_kvm, run, tempdir  # noqa: E402

EXIT_OK = (0x10 << 1) | 1
WAIT = 60  # seconds for any one step: SeaBIOS takes 2 s here, a change is seen in 1/18 s


class Serial:
    """The guest's COM1 output as it grows; `expect` waits for the next line matching a regex,
    after the lines already matched."""

    def __init__(self, path, proc):
        self.path, self.proc, self.pos = path, proc, 0

    def lines(self):
        return [l.rstrip("\r") for l in read(self.path).splitlines()]

    def expect(self, pattern, timeout=WAIT):
        deadline = time.monotonic() + timeout
        while True:
            lines = self.lines()
            for i in range(self.pos, len(lines)):
                if re.fullmatch(pattern, lines[i]):
                    self.pos = i + 1
                    return lines[i]
            if time.monotonic() > deadline or self.proc.poll() is not None:
                return None
            time.sleep(0.05)


class PcvmMedia:
    """Changes discs with `pcvm media`; vm.conf records the drive's file."""

    who = "pcvm"

    def __init__(self, binary, bundle):
        self.binary, self.bundle = binary, bundle

    def media(self, *args):
        return run([self.binary, "media", self.bundle, "cdrom", *args], 30)

    def eject(self, force=False):
        return self.media("--eject", *(["--force"] if force else []))

    def insert(self, iso, force=False):
        return self.media("--insert", iso, *(["--force"] if force else []))

    def conf(self):
        return cdrom_file(self.bundle), read(os.path.join(self.bundle, "vm.conf"))


class QemuMedia:
    """The same changes through QEMU's QMP (eject, blockdev-change-medium): the reference."""

    who = "qemu"

    def __init__(self, sock_path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        deadline = time.monotonic() + WAIT
        while True:
            try:
                self.sock.connect(sock_path)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        self.file = self.sock.makefile("rw")
        json.loads(self.file.readline())  # greeting
        self.call("qmp_capabilities")

    def call(self, command, **args):
        self.file.write(json.dumps({"execute": command, "arguments": args}) + "\n")
        self.file.flush()
        while True:
            reply = json.loads(self.file.readline())
            if "event" not in reply:
                return reply

    def result(self, reply, ok_text):
        if "error" in reply:
            return 1, "", reply["error"].get("desc", str(reply)) + "\n"
        return 0, ok_text + "\n", ""

    def eject(self, force=False):
        return self.result(self.call("eject", id="cd0", force=force), "ejected")

    def insert(self, iso):
        return self.result(self.call("blockdev-change-medium", id="cd0", filename=iso,
                                     format="raw"), iso)

    def conf(self):
        return None, ""

    def close(self):
        self.sock.close()


def cdrom_file(bundle):
    conf = configparser.ConfigParser(interpolation=None)
    conf.read(os.path.join(bundle, "vm.conf"))
    return conf.get("ide1:0", "file", fallback=None)


def make_iso(path, volid):
    tree = path + ".d"
    os.makedirs(tree)
    with open(os.path.join(tree, "readme.txt"), "w") as f:
        f.write(f"this is {volid}\n")
    subprocess.run(["xorriso", "-as", "mkisofs", "-quiet", "-V", volid, "-o", path, tree],
                   check=True, capture_output=True)
    return path


WANT = ["media: polling the CD drive", "cd: ready", "cd: volume DISC_A",
        "cd: check condition, sense 02/3A/..", "cd: check condition, sense 06/28/00",
        "cd: ready", "cd: volume DISC_B", "cd: tray locked",
        "cd: check condition, sense 02/3A/..", "cd: check condition, sense 06/28/00",
        "cd: ready", "cd: volume DISC_A", "cd: tray unlocked", "media: third disc read, done"]


def main():
    binary, src = sys.argv[1:3]
    tap = Tap()
    if not require_kvm(tap):
        return tap.done()
    with tempdir() as tmp:
        disk = guest_disk(src, "media", tmp)
        iso_a = make_iso(os.path.join(tmp, "a.iso"), "DISC_A")
        iso_b = make_iso(os.path.join(tmp, "b.iso"), "DISC_B")

        bundle = os.path.join(tmp, "media.pcvm")
        rc, out, err = run([binary, "create", bundle, "--disk", disk, "--cdrom", iso_a,
                            "--test-exit"], 30)
        if not tap.ok(rc == 0, "pcvm: create a VM with a CD", err):
            return tap.done()
        serial_path = os.path.join(tmp, "pcvm.serial")
        pcvm_lines = run_vm(tap, "pcvm", [binary, "run", bundle, "--serial", serial_path],
                            serial_path, lambda: PcvmMedia(binary, bundle), iso_a, iso_b,
                            lambda: read(os.path.join(bundle, "pcvm.log"))[-3000:])

        offline(tap, binary, bundle, iso_b)

        if not shutil.which("qemu-system-x86_64"):
            tap.skip("qemu: the same changes through QMP", "qemu-system-x86_64 is not installed")
            return tap.done()
        qmp = os.path.join(tmp, "qmp.sock")
        serial_path = os.path.join(tmp, "qemu.serial")
        cmd = ["qemu-system-x86_64", "-accel", "kvm", "-machine", "pc", "-m", "256",
               "-nodefaults", "-vga", "none", "-display", "none", "-serial",
               "file:" + serial_path, "-device", "isa-debug-exit,iobase=0xf4,iosize=4",
               "-qmp", f"unix:{qmp},server=on,wait=off",
               "-drive", f"file={disk},format=raw,if=ide,index=0",
               "-drive", f"file={iso_a},format=raw,if=none,id=cdrom,media=cdrom,readonly=on",
               "-device", "ide-cd,drive=cdrom,id=cd0,bus=ide.1,unit=0"]
        qemu_lines = run_vm(tap, "qemu", cmd, serial_path, lambda: QemuMedia(qmp), iso_a, iso_b,
                            lambda: "")
        same = [re.sub(r"3A/..", "3A/xx", l) for l in pcvm_lines] == \
            [re.sub(r"3A/..", "3A/xx", l) for l in qemu_lines]
        tap.ok(same, "qemu: the guest saw the same changes as under pcvm (ASCQ of 3A aside)",
               "qemu:\n" + "\n".join(qemu_lines) + "\npcvm:\n" + "\n".join(pcvm_lines))
    return tap.done()


def offline(tap, binary, bundle, iso):
    """pcvm media on a VM that is not running: the change goes to vm.conf alone."""
    ctl = PcvmMedia(binary, bundle)
    rc, out, err = ctl.eject()
    tap.ok(rc == 0 and ctl.conf()[0] == "", "pcvm: --eject with the VM off records it in vm.conf",
           f"{rc}\n{out}{err}\n{ctl.conf()[1]}")
    rc, out, err = ctl.insert(iso)
    tap.ok(rc == 0 and ctl.conf()[0] == iso, "pcvm: --insert with the VM off records it",
           f"{rc}\n{out}{err}\n{ctl.conf()[1]}")
    rc, out, err = run([binary, "media", bundle, "ide0:0", "--eject"], 30)
    tap.ok(rc == 1 and "no CD drive 'ide0:0'" in err, "pcvm: the disk is no CD drive to eject",
           f"{rc}\n{out}{err}")


def run_vm(tap, who, cmd, serial_path, controller, iso_a, iso_b, log):
    """Runs CMD, makes the changes through the controller, checks the exit; the serial lines."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    serial = Serial(serial_path, proc)
    ctl, done = None, False
    try:
        try:
            ctl = controller()
        except OSError as e:
            tap.ok(False, f"{who}: the VM's control connection", str(e))
        if ctl is not None:
            done = steps(tap, who, ctl, serial, iso_a, iso_b)
        try:
            rc = proc.wait(timeout=WAIT if done else 1)
        except subprocess.TimeoutExpired:
            rc = None
    finally:
        if proc.poll() is None:
            proc.kill()
        out, err = proc.communicate()
        if ctl is not None and hasattr(ctl, "close"):
            ctl.close()
    tap.ok(rc == EXIT_OK, f"{who}: the guest exits with {EXIT_OK} after the third disc",
           f"exit code {rc}\nstderr:\n{err}\nserial:\n{read(serial_path)}\nlog:\n{log()}")
    return serial.lines()


def steps(tap, who, ctl, serial, iso_a, iso_b):
    def seen(pattern, what):
        line = serial.expect(pattern)
        tap.ok(line is not None, f"{who}: {what}",
               f"no line matching {pattern!r} within {WAIT} s; serial:\n"
               + "\n".join(serial.lines()))
        return line is not None

    def conf_is(want, what):
        got, text = ctl.conf()
        if got is not None:
            tap.ok(got == want, f"{who}: {what}", text)

    if not (seen(r"media: polling the CD drive", "the guest polls the CD drive")
            and seen(r"cd: ready", "the drive is ready at boot")
            and seen(r"cd: volume DISC_A", "the guest reads the first disc")):
        return False

    rc, out, err = ctl.eject()
    tap.ok(rc == 0 and "ejected" in out, f"{who}: eject while the VM runs", f"{rc}\n{out}{err}")
    conf_is("", "vm.conf records the empty drive")
    if not seen(r"cd: check condition, sense 02/3A/0[0-2]",
                "the guest sees NOT READY, MEDIUM NOT PRESENT (02/3A)"):
        return False

    rc, out, err = ctl.insert(iso_b)
    tap.ok(rc == 0 and iso_b in out, f"{who}: insert another ISO", f"{rc}\n{out}{err}")
    conf_is(iso_b, "vm.conf records the new ISO")
    if not (seen(r"cd: check condition, sense 06/28/00",
                 "the guest sees UNIT ATTENTION, MEDIUM MAY HAVE CHANGED (06/28/00)")
            and seen(r"cd: ready", "then the drive is ready again")
            and seen(r"cd: volume DISC_B", "and READ (10) returns the new disc's content")
            and seen(r"cd: tray locked", "the guest locks the tray (PREVENT MEDIUM REMOVAL)")):
        return False

    rc, out, err = ctl.eject()
    tap.ok(rc == 1 and "locked" in err, f"{who}: eject of a locked tray fails with a clear message",
           f"exit code {rc}\nstdout: {out}\nstderr: {err}")
    conf_is(iso_b, "vm.conf keeps the disc after the refused eject")
    time.sleep(1)
    late = serial.lines()[serial.pos:]
    tap.ok(not late, f"{who}: the guest saw no change after the refused eject", "\n".join(late))

    rc, out, err = ctl.eject(force=True)
    tap.ok(rc == 0 and "ejected" in out, f"{who}: a forced eject takes the locked disc",
           f"{rc}\n{out}{err}")
    conf_is("", "vm.conf records the forced eject")
    if not seen(r"cd: check condition, sense 02/3A/0[0-2]",
                "the guest sees the disc gone (02/3A)"):
        return False

    missing = os.path.join(os.path.dirname(iso_a), "none.iso")
    rc, out, err = ctl.insert(missing)
    tap.ok(rc == 1 and "none.iso" in err, f"{who}: inserting a missing file is refused, named",
           f"{rc}\n{out}{err}")
    conf_is("", "vm.conf is unchanged by the refused insert")
    if who == "pcvm":
        # a file name that is not UTF-8 cannot travel in the JSON request (nor live in vm.conf)
        latin = os.path.join(os.fsencode(os.path.dirname(iso_a)), b"caf\xe9.iso")
        shutil.copyfile(iso_a, latin)
        rc, out, err = ctl.insert(latin)
        tap.ok(rc == 1 and "not UTF-8" in err,
               f"{who}: a file name that is not UTF-8 is refused, saying so", f"{rc}\n{out}{err}")
        conf_is("", "vm.conf is unchanged by it")

    # The tray is still locked, but empty and open: the lock keeps a disc in, it does not keep
    # one out (a real drive takes the next disc; so does QEMU).
    rc, out, err = ctl.insert(iso_a)
    tap.ok(rc == 0, f"{who}: a disc goes into the emptied drive while the guest's lock stands",
           f"{rc}\n{out}{err}")
    if rc != 0 and ctl.who == "pcvm":
        rc, out, err = ctl.insert(iso_a, force=True)  # go on with the rest of the test
        tap.ok(rc == 0, f"{who}: insert --force the first ISO again", f"{rc}\n{out}{err}")
    conf_is(iso_a, "vm.conf records it")
    if not (seen(r"cd: check condition, sense 06/28/00", "the guest sees UNIT ATTENTION again")
            and seen(r"cd: ready", "then ready")
            and seen(r"cd: volume DISC_A", "and reads the first disc's volume descriptor")
            and seen(r"cd: tray unlocked", "the guest unlocks the tray (ALLOW MEDIUM REMOVAL)")
            and seen(r"media: third disc read, done", "the guest is done")):
        return False
    got = serial.lines()
    tap.ok(len(got) == len(WANT) and all(re.fullmatch(w, g) for w, g in zip(WANT, got)),
           f"{who}: the guest saw exactly these changes, each once",
           "expected:\n" + "\n".join(WANT) + "\ngot:\n" + "\n".join(got))
    return True


if __name__ == "__main__":
    sys.exit(main())
