#!/usr/bin/env python3
"""A running VM driven through its control socket and the commands built on it: status, pause,
resume, reset, stop, the CD drive (create --cdrom, pcvm media), and a socket that survives
garbage and abrupt disconnects.

usage: control.py PCVM GUEST_SRC_DIR
"""
import json
import os
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from tap import Tap, guest_disk, read, require_kvm, run, tempdir  # noqa: E402


def pcvm(binary, *args, timeout=30):
    return run([binary, *args], timeout)


def make_iso(tmp, name, content):
    root = os.path.join(tmp, name + "-root")
    os.makedirs(root, exist_ok=True)
    with open(os.path.join(root, "README.TXT"), "w") as f:
        f.write(content)
    iso = os.path.join(tmp, name + ".iso")
    subprocess.run(["xorriso", "-as", "mkisofs", "-quiet", "-o", iso, root], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return iso


def connect(path):
    """A connection to PATH, waiting while the listen queue is momentarily full."""
    for _ in range(100):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(path)
            return s
        except BlockingIOError:
            s.close()
            time.sleep(0.05)
    raise RuntimeError(f"{path}: the listen queue stayed full")


class Socket:
    def __init__(self, path):
        self.s = connect(path)
        self.s.settimeout(10)
        self.buf = b""

    def send(self, data):
        self.s.sendall(data)

    def reply(self):
        """The next reply line (events are skipped)."""
        while True:
            while b"\n" not in self.buf:
                chunk = self.s.recv(65536)
                if not chunk:
                    return None
                self.buf += chunk
            line, self.buf = self.buf.split(b"\n", 1)
            msg = json.loads(line)
            if "ok" in msg:
                return msg

    def close(self):
        self.s.close()


def wait_for(path, seconds=10):
    """Until the socket PATH accepts a connection (it exists a moment before it listens)."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        with socket.socket(socket.AF_UNIX) as s:
            try:
                s.connect(path)
                return True
            except OSError:
                pass
        time.sleep(0.05)
    return False


def test_offline(tap, binary, tmp, disk):
    iso = make_iso(tmp, "first", "first disc")
    bundle = os.path.join(tmp, "cd.pcvm")
    rc, out, err = pcvm(binary, "create", bundle, "--disk", disk, "--cdrom", iso)
    conf = read(os.path.join(bundle, "vm.conf"))
    tap.ok(rc == 0 and "[ide1:0]" in conf and "type=cdrom" in conf and f"file={iso}" in conf,
           "create --cdrom puts the ISO in the secondary master", conf + err)
    with open(os.path.join(bundle, "vm.conf"), "a") as f:
        f.write("# a comment the user wrote\n")
    rc, out, err = pcvm(binary, "media", bundle, "cdrom", "--eject")
    conf = read(os.path.join(bundle, "vm.conf"))
    tap.ok(rc == 0 and "file=\n" in conf and "# a comment the user wrote" in conf,
           "media --eject on a stopped VM empties the drive in vm.conf, keeping comments", conf + err)
    rc, out, err = pcvm(binary, "media", bundle, "cdrom", "--insert", iso)
    tap.ok(rc == 0 and f"file={iso}" in read(os.path.join(bundle, "vm.conf")),
           "media --insert on a stopped VM records the ISO", err)
    rc, out, err = pcvm(binary, "media", bundle, "cdrom", "--insert", "/nonexistent.iso")
    tap.ok(rc == 1 and "/nonexistent.iso" in err, "media --insert of a missing file is refused", err)
    rc, out, err = pcvm(binary, "media", bundle, "ide0:0", "--eject")
    tap.ok(rc == 1 and "no CD drive" in err, "media on a disk slot is refused", err)
    rc, out, err = pcvm(binary, "media", bundle, "cdrom")
    tap.ok(rc == 1 and "usage" in err, "media without --insert or --eject prints usage", err)
    rc, out, err = pcvm(binary, "status", bundle)
    tap.ok(rc == 0 and out.strip() == "state: off", "status of a VM that is not running", out + err)
    rc, out, err = pcvm(binary, "pause", bundle)
    tap.ok(rc == 1 and "not running" in err, "pause of a VM that is not running says so", err)
    rc, out, err = pcvm(binary, "disk", "info", bundle)
    tap.ok(rc == 0 and "ide1:0: cdrom" in out and "format     raw" in out, "disk info lists the CD",
           out + err)
    os.rename(iso, iso + ".gone")
    return bundle, iso


def test_running(tap, binary, tmp, bundle, iso):
    proc = subprocess.Popen([binary, "run", bundle], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    sock_path = os.path.join(bundle, "run", "control.sock")
    if not tap.ok(wait_for(sock_path), "the control socket appears"):
        proc.kill()
        return
    _, err = "", ""
    rc, out, err = pcvm(binary, "status", bundle)
    tap.ok(rc == 0 and "state: running" in out and f"pid: {proc.pid}" in out,
           "status of a running VM", out + err)
    rc, _, err = pcvm(binary, "pause", bundle)
    rc2, out, _ = pcvm(binary, "status", bundle)
    tap.ok(rc == 0 and "state: paused" in out, "pause", out + err)
    rc, _, err = pcvm(binary, "resume", bundle)
    rc2, out, _ = pcvm(binary, "status", bundle)
    tap.ok(rc == 0 and "state: running" in out, "resume", out + err)

    # garbage, a huge line, and clients that vanish mid-request
    s = Socket(sock_path)
    s.send(b"this is not json\n")
    r = s.reply()
    tap.ok(r and r["ok"] is False and "JSON" in r["error"], "garbage gets an error reply", r)
    s.send(b'{"cmd": "no-such-command", "id": 7}\n')
    r = s.reply()
    tap.ok(r and r["id"] == 7 and "unknown command" in r["error"], "an unknown command is named", r)
    s.send(b'{"cmd": "status", "id": "abc"}\n')
    r = s.reply()
    tap.ok(r and r["ok"] and r["id"] == "abc" and r["result"]["state"] == "running",
           "status over the socket echoes the id", r)
    # arguments of the wrong type are refused (a number as "drive" crashed the VM: the CD
    # drive's name was NULL), and so is a second request on one line (json-glib leaked it)
    s.send(b'{"cmd": "media-change", "args": {"drive": 1}, "id": 8}\n')
    r = s.reply()
    tap.ok(r and r["ok"] is False and r["error"] == '"drive" must be a string',
           "an argument of the wrong type is refused by name", r)
    s.send(b'{"cmd": "send-keys", "args": {"keys": {}}, "id": 9} {"cmd": "reset"}\n')
    r = s.reply()
    tap.ok(r and r["ok"] is False and "JSON" in r["error"], "two requests on one line: refused", r)
    s.send(b"\xff\xfe\x00 binary\n")
    s.close()
    for _ in range(20):
        c = connect(sock_path)
        c.send(b'{"cmd": "stat')
        c.close()
    big = Socket(sock_path)
    try:
        big.send(b"x" * (200 * 1024))
        big.send(b"\n")
        big.reply()
    except OSError:
        pass
    big.close()
    rc, out, err = pcvm(binary, "status", bundle)
    tap.ok(rc == 0 and "state: running" in out and proc.poll() is None,
           "the VM and its socket survive garbage, a huge line and abrupt disconnects", out + err)

    # the CD while running: the missing ISO started the drive empty, with a warning
    new_iso = make_iso(tmp, "second", "second disc")
    rc, out, err = pcvm(binary, "media", bundle, "cdrom", "--insert", new_iso)
    tap.ok(rc == 0 and f"file={new_iso}" in read(os.path.join(bundle, "vm.conf")),
           "media --insert while running reaches the VM and vm.conf", out + err)
    rc, out, err = pcvm(binary, "media", bundle, "cdrom", "--eject")
    tap.ok(rc == 0, "media --eject while running", out + err)
    log = read(os.path.join(bundle, "pcvm.log"))
    tap.ok("CD drive [ide1:0]: " + new_iso in log and "CD drive [ide1:0]: ejected" in log
           and "the drive starts empty" in log, "pcvm.log records the CD changes", log[-3000:])

    rc, out, err = pcvm(binary, "reset", bundle)
    time.sleep(0.5)
    tap.ok(rc == 0 and proc.poll() is None and "reset requested by the user" in
           read(os.path.join(bundle, "pcvm.log")), "reset keeps the VM process running", err)
    rc, out, err = pcvm(binary, "stop", bundle)
    try:
        code = proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        code = None
    tap.ok(rc == 0 and code == 0, "stop powers the VM off (exit code 0)", f"{rc} {code} {err}")
    tap.ok(not os.path.exists(sock_path), "the control socket is removed at exit")
    stderr = proc.stderr.read()
    tap.ok("the drive starts empty" in stderr, "a missing ISO is a warning on stderr", stderr)


def main():
    binary, src = sys.argv[1:3]
    tap = Tap()
    with tempdir() as tmp:
        disk = guest_disk(src, "spin", tmp)
        bundle, iso = test_offline(tap, binary, tmp, disk)
        if require_kvm(tap):
            test_running(tap, binary, tmp, bundle, iso)
    return tap.done()


if __name__ == "__main__":
    sys.exit(main())
