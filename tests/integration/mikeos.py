#!/usr/bin/env python3
"""MikeOS 4.6.1 (a 16-bit hobby OS that nobody here wrote; ../shared/guests/README.md) boots
from the CD of a VM whose disk is blank, through El Torito floppy emulation, to its first
dialog ("Thanks for trying out MikeOS!", OK / Cancel).

The dialog is read from the VM's text screen through the control socket (the text-screen
command: pcvm's VGA text mode). Besides: SeaBIOS fell through the blank disk and booted the CD
once (its log in pcvm.log), pcvm keeps running at the dialog with no emulation failure or other
guest failure, `pcvm status` says running, and SIGTERM powers it off cleanly.

Per testing.md, tests built on third-party guests skip where the CPU has no VT-x/AMD-V (the
build machines' KVM emulates instructions there). PCVM_RUN_THIRD_PARTY_GUESTS=1 runs it anyway
(MikeOS does run on that KVM). The ISO is copied first; the original is never opened by pcvm.

usage: mikeos.py PCVM [ISO]   (ISO default: $PCVM_GUESTS_DIR or ../shared/guests, mikeos.iso)
"""
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
from tap import Tap, has_hw_virt, read, require_kvm, run, tempdir  # noqa: E402

DIALOG = "Thanks for trying out MikeOS!"
RUN_SECONDS = 3  # at the dialog, before it is stopped
SHA256 = "2d52c146b58bcc2d11d382f498e29790f6563e4d92040c3ce2481925dc1a2a88"
FAILURES = ("emulation failed", "internal error", "guest failure", "triple fault", "shutdown event")


def guests_dir():
    return os.environ.get("PCVM_GUESTS_DIR") or \
        os.path.normpath(os.path.join(HERE, "..", "..", "..", "shared", "guests"))


def third_party_allowed(tap, what):
    if has_hw_virt() or os.environ.get("PCVM_RUN_THIRD_PARTY_GUESTS") == "1":
        return True
    tap.skip(what, "the CPU has no VT-x/AMD-V: tests built on third-party guests run only "
             "with hardware virtualization (testing.md); PCVM_RUN_THIRD_PARTY_GUESTS=1 forces it")
    return False


def wait_for(path, text, proc, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        if text in read(path):
            return True
        time.sleep(0.1)
    return text in read(path)


def text_screen(bundle):
    """The VM's text screen through its control socket, or None."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(10)
            s.connect(os.path.join(bundle, "run", "control.sock"))
            s.sendall(b'{"cmd": "text-screen", "id": 1}\n')
            buf = b""
            while True:
                while b"\n" not in buf:
                    chunk = s.recv(65536)
                    if not chunk:
                        return None
                    buf += chunk
                line, buf = buf.split(b"\n", 1)
                msg = json.loads(line)
                if msg.get("id") == 1:
                    return msg.get("result", {}).get("text") if msg.get("ok") else None
    except (OSError, ValueError):
        return None


def wait_for_screen(bundle, text, proc, timeout):
    deadline = time.monotonic() + timeout
    screen = None
    while time.monotonic() < deadline and proc.poll() is None:
        screen = text_screen(bundle)
        if screen and text in screen:
            break
        time.sleep(0.25)
    return screen


def main():
    binary = sys.argv[1]
    original = sys.argv[2] if len(sys.argv) > 2 else os.path.join(guests_dir(), "mikeos.iso")
    tap = Tap()
    if not require_kvm(tap):
        return tap.done()
    if not third_party_allowed(tap, "MikeOS boots from the CD under pcvm"):
        return tap.done()
    if not os.path.exists(original):
        tap.skip("MikeOS boots from the CD under pcvm", f"{original} is not there")
        return tap.done()
    with tempdir() as tmp:
        iso = os.path.join(tmp, "mikeos.iso")
        shutil.copyfile(original, iso)
        with open(iso, "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()
        tap.ok(digest == SHA256, "the copy is MikeOS 4.6.1 as ../shared/guests has it", digest)
        bundle = os.path.join(tmp, "mikeos.pcvm")
        rc, out, err = run([binary, "create", bundle, "--disk-size", "64M", "--cdrom", iso], 30)
        if not tap.ok(rc == 0, "create a VM with a blank disk and MikeOS in the CD drive", err):
            return tap.done()
        log_path = os.path.join(bundle, "pcvm.log")
        proc = subprocess.Popen([binary, "run", bundle, "--serial", os.path.join(tmp, "com1")],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                start_new_session=True)
        try:
            booted = wait_for(log_path, "Booting from DVD/CD", proc, 60)
            tap.ok(booted, "SeaBIOS boots from the CD (pcvm.log: Booting from DVD/CD)",
                   read(log_path)[-3000:])
            log = read(log_path)
            failed = log.find("Boot failed: not a bootable disk")
            tap.ok(0 <= failed < log.find("Booting from DVD/CD"),
                   "after the blank disk failed to boot", log[-3000:])
            screen = wait_for_screen(bundle, DIALOG, proc, 60)
            tap.ok(screen is not None and DIALOG in screen and "Cancel" in screen,
                   "MikeOS shows its first dialog on the text screen",
                   f"screen:\n{screen}\nexit code {proc.poll()}\npcvm.log:\n"
                   + read(log_path)[-2000:])
            time.sleep(RUN_SECONDS)
            running = proc.poll() is None
            tap.ok(running, f"pcvm is still running MikeOS {RUN_SECONDS} s later",
                   f"exit code {proc.poll()}")
            if running:
                rc, out, err = run([binary, "status", bundle], 30)
                tap.ok(rc == 0 and "running" in out, "pcvm status: running", out + err)
            proc.send_signal(signal.SIGTERM)
            try:
                rc = proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                rc = None
        finally:
            if proc.poll() is None:
                proc.kill()
            out, err = proc.communicate()
        log = read(log_path)
        tap.ok(rc == 0, "SIGTERM powers it off cleanly (exit 0)", f"exit code {rc}\n{err}")
        bad = [f for f in FAILURES if f in log.lower() or f in err.lower()]
        tap.ok(not bad, "no emulation failure or other guest failure in pcvm.log or stderr",
               f"found {bad}\nstderr:\n{err}\npcvm.log:\n{log[-3000:]}")
        tap.ok(log.count("Booting from DVD/CD") == 1, "the CD was booted once: no reboot",
               log[-3000:])
        with open(original, "rb") as f:
            tap.ok(hashlib.sha256(f.read()).hexdigest() == SHA256, "the original ISO is untouched")
    return tap.done()


if __name__ == "__main__":
    sys.exit(main())
