#!/usr/bin/env python3
"""A VNC viewer that stops reading stalls neither the VM nor the other viewers.

The guest (vnc_stall.asm) prints "tick" on COM1 eight times a second, paced by the RTC's
periodic interrupt, whose timer runs on pcvm's main loop: its output grows only while that loop
runs. A raw RFB client on DIR/run/vnc.sock completes the handshake, asks for a full frame in raw
encoding (720x400x4 bytes, several times a Unix socket's buffer), reads the update's start and
then nothing. Meanwhile:
  - the control socket answers `status` within MAX_ANSWER_S, again and again for WINDOW_S;
  - `screenshot` on the control socket works (it refreshes through the VNC server);
  - COM1 keeps growing: no gap of a second without a tick;
  - a viewer connected before the stall gets full frames, each within MAX_FRAME_S, for
    WINDOW_S, and a viewer that connects during the stall gets one too. (libvncserver writes
    with blocking semantics; each viewer's bytes go through pcvm's relay thread, which never
    blocks, src/ui/vnc_relay.c. Without it, one thread's write to the stalled viewer held
    every other viewer until libvncserver's write timeout, about 5 s.)
Last, `pcvm stop` with another stalled viewer connected: pcvm exits promptly.

usage: vnc_stall.py PCVM
"""
import json
import os
import socket
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, os.path.join(HERE, "..", "display"))
from tap import Tap, make_disk, nasm, read, require_kvm, tempdir  # noqa: E402
import displaylib as dl  # noqa: E402

WAIT = 90  # seconds for SeaBIOS to boot the guest (ASan in CI)
WINDOW_S = 3.0
# Bounds with room for a loaded CI machine (ASan, tests in parallel); the stall they catch
# lasts libvncserver's write timeout, about 5 s.
MAX_ANSWER_S = 1.0
MAX_TICK_GAP_S = 2.0
MAX_FRAME_S = 1.5


def stalled_viewer(vm):
    """A client past the handshake that asked for a full raw frame and read the start of it
    (displaylib's client reads up to 64 KiB at a time); (client, update header)."""
    c = dl.Rfb(vm.vnc_sock, timeout=10)
    c.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    c.set_encodings([0])  # raw only
    c.request(False)
    return c, c.recv_exact(4)


def control(vm, cmd, timeout, **args):
    """(reply or None, seconds) for one command on the control socket."""
    start = time.monotonic()
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(vm.control_sock)
        s.sendall(json.dumps({"cmd": cmd, "args": args}).encode() + b"\n")
        buf = b""
        while True:
            while b"\n" not in buf:
                chunk = s.recv(65536)
                if not chunk:
                    return None, time.monotonic() - start
                buf += chunk
            line, buf = buf.split(b"\n", 1)
            msg = json.loads(line)
            if "ok" in msg:
                return msg, time.monotonic() - start
    except OSError:
        return None, time.monotonic() - start
    finally:
        s.close()


def ticks(vm):
    return read(vm.serial).count("tick")


class TickWatch(threading.Thread):
    """Samples the guest's tick count every 50 ms, apart from the control commands, until
    stopped: how many ticks came, and the longest time without one."""

    def __init__(self, vm):
        super().__init__(daemon=True)
        self.vm, self.done = vm, threading.Event()
        self.first = self.count = ticks(vm)
        self.gap = 0.0

    def run(self):
        last = time.monotonic()
        while not self.done.wait(0.05):
            now, count = time.monotonic(), ticks(self.vm)
            if count > self.count:
                last, self.count = now, count
            self.gap = max(self.gap, now - last)

    def stop(self):
        self.done.set()
        self.join()
        return self.count - self.first, self.gap


def liveness(tap, vm, tmp):
    """WINDOW_S of control commands and COM1 samples while a viewer is stalled."""
    answers, worst, failed = 0, 0.0, None
    watch = TickWatch(vm)
    watch.start()
    start = time.monotonic()
    while time.monotonic() - start < WINDOW_S:
        reply, took = control(vm, "status", timeout=2 * WINDOW_S)
        worst = max(worst, took)
        if reply is None or not reply.get("ok"):
            failed = failed or f"status: {reply} after {took:.2f}s"
        answers += 1
        time.sleep(0.1)
    grown, gap = watch.stop()
    tap.ok(failed is None and worst < MAX_ANSWER_S,
           f"stalled viewer: the control socket answered {answers} times in {WINDOW_S:.0f}s, "
           f"each within {MAX_ANSWER_S * 1000:.0f} ms (slowest {worst * 1000:.0f} ms)",
           failed or f"slowest answer {worst:.2f}s")
    tap.ok(gap < MAX_TICK_GAP_S and grown >= 8,
           f"stalled viewer: COM1 kept growing ({grown} ticks, longest gap {gap:.2f}s)",
           f"{grown} ticks, a gap of {gap:.2f}s without one")
    shot = os.path.join(tmp, "stalled.png")
    reply, took = control(vm, "screenshot", timeout=10, file=shot)
    ok = reply is not None and reply.get("ok") and os.path.exists(shot)
    tap.ok(ok and took < 2.0, f"stalled viewer: `screenshot` works ({took:.2f}s)",
           f"{reply} after {took:.2f}s")


def others(tap, vm, good, width, height):
    """Full frames for the viewer connected before the stall, and for a new one, while the
    stalled viewer is still connected."""
    frames, worst, failed = 0, 0.0, None
    start = time.monotonic()
    while time.monotonic() - start < WINDOW_S and failed is None:
        t = time.monotonic()
        try:
            img = good.capture(timeout=10)
            if img.size != (width, height):
                failed = f"a {img.size} frame"
        except (OSError, dl.RfbError) as e:
            failed = repr(e)
        worst = max(worst, time.monotonic() - t)
        frames += 1
    tap.ok(failed is None and worst < MAX_FRAME_S,
           f"stalled viewer: another viewer got {frames} full frames in {WINDOW_S:.0f}s, each "
           f"within {MAX_FRAME_S * 1000:.0f} ms (slowest {worst * 1000:.0f} ms)",
           failed or f"slowest frame {worst:.2f}s")
    start = time.monotonic()
    try:
        c = dl.Rfb(vm.vnc_sock, timeout=10)
        img = c.capture(timeout=10)
        c.close()
        took = time.monotonic() - start
        tap.ok(img.size == (width, height) and took < MAX_FRAME_S,
               f"stalled viewer: a new viewer connects and gets a frame ({took:.2f}s)",
               f"{img.size} after {took:.2f}s")
    except (OSError, dl.RfbError) as e:
        tap.ok(False, "stalled viewer: a new viewer connects and gets a frame", repr(e))


def main():
    binary = sys.argv[1]
    tap = Tap()
    if not require_kvm(tap):
        return tap.done()
    with tempdir() as tmp:
        boot = os.path.join(tmp, "vnc_stall.bin")
        nasm(HERE, "vnc_stall", boot)
        disk = os.path.join(tmp, "vnc_stall.img")
        with open(boot, "rb") as f:
            make_disk(disk, f.read())
        vm = dl.PcvmMachine(binary, tmp, disk, "stall", test_exit=False)
        stalled = []
        try:
            ready = vm.wait_serial("tick", WAIT)
            if not tap.ok(ready, "the guest prints RTC ticks on COM1",
                          read(vm.serial)[-500:] + vm.stderr()[-2000:]):
                return tap.done()
            good = dl.Rfb(vm.vnc_sock, timeout=10)
            stalled.append(good)
            c, update = stalled_viewer(vm)
            stalled.append(c)
            width, height = c.width, c.height
            tap.ok(update[0] == 0 and width * height * 4 > 1 << 20,
                   f"a viewer asks for a {width}x{height} raw frame "
                   f"({width * height * 4 >> 10} KiB), reads the start of it and stops",
                   f"update header {update!r}")
            time.sleep(0.3)  # its socket fills up; the server waits to write the rest
            others(tap, vm, good, width, height)
            liveness(tap, vm, tmp)

            stalled.append(stalled_viewer(vm)[0])
            time.sleep(0.3)
            start = time.monotonic()
            rc = vm.stop()
            took = time.monotonic() - start
            tap.ok(rc == 0 and took < 3.0,
                   f"pcvm stop with a stalled viewer connected: exit {rc} in {took:.1f}s",
                   vm.stderr()[-2000:])
        except (OSError, dl.RfbError) as e:
            tap.ok(False, "the stalled-viewer scenario ran", repr(e))
        finally:
            for c in stalled:
                c.close()
            vm.kill()
    return tap.done()


if __name__ == "__main__":
    sys.exit(main())
