#!/usr/bin/env python3
"""The console over VNC, end to end, on a running pcvm (`pcvm run DIR --vnc 127.0.0.1:N`):

  - a real VNC client (gvnccapture, over TCP) and a minimal RFB client here (over
    DIR/run/vnc.sock) capture the same frame as `pcvm screenshot`;
  - keys reach the guest's INT 16h with the right scan codes and characters (keys.asm prints
    INT 16h AH=11h's and AH=00h's view of each key on COM1): X keysyms in RFB KeyEvents, QEMU
    extended key events (raw scan codes), `pcvm send-keys`, and a VM run with --keyboard=de;
  - the frame follows a guest mode change (DesktopSize, 720x400 -> 640x480);
  - the VNC socket survives garbage, half handshakes, abrupt disconnects, absurd message
    lengths, a client that never reads, more connections than it takes and clients sending
    random messages: afterwards a capture still works, the VM still runs and keys still
    arrive; keys a vanished viewer held are released;
  - `pcvm send-keys DIR ctrl-alt-delete` reboots the guest (SeaBIOS's INT 9 handler);
  - libvncserver is mapped (/proc/PID/maps) only once the first viewer connects, which then
    gets the frame `pcvm screenshot` took without it;
  - with [display] vnc-password= only VNC authentication is offered (TCP and vnc.sock), a
    wrong response fails, the right one (DES, computed here) gets the console; --vnc on a
    non-loopback address without a password is refused.

Output is TAP. usage: vnc.py PCVM
"""
import os
import random
import shutil
import socket
import struct
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, HERE)
from tap import Tap, make_disk, read, require_kvm, tempdir  # noqa: E402
import displaylib as dl  # noqa: E402

GUEST_INC = os.path.join(HERE, "..", "guests")
WAIT = 90  # seconds for SeaBIOS to boot the guest (ASan in CI)
KEY_WAIT = 10  # seconds for a key to show on COM1

XK = dict(dl.XK, KP_Enter=0xFF8D, Home=0xFF50, exclam=0x21, numbersign=0x23)


def assemble(name, tmp):
    out = os.path.join(tmp, name + ".bin")
    subprocess.run(["nasm", "-f", "bin", "-i", HERE + "/", "-i", GUEST_INC + "/",
                    os.path.join(HERE, name + ".asm"), "-o", out], check=True)
    with open(out, "rb") as f:
        return f.read()


def key_lines(vm):
    return [ln.strip() for ln in read(vm.serial).splitlines() if ln.startswith("key ")]


def expect_key(tap, vm, send, want, label):
    """Calls SEND, then waits for one new "key" line on COM1, which must be "key WANT"."""
    before = len(key_lines(vm))
    send()
    end = time.monotonic() + KEY_WAIT
    while time.monotonic() < end and len(key_lines(vm)) <= before:
        time.sleep(0.05)
    time.sleep(0.1)  # a stray second key would show by now
    new = key_lines(vm)[before:]
    tap.ok(new == ["key " + want], f"{label} -> INT 16h {want} (AH=11h AH=00h)",
           f"COM1 got {new}")


def same_frame(tap, vm, display, tmp, tag, client=None):
    """gvnccapture (TCP), this client (unix socket) and `pcvm screenshot` show one frame."""
    shot, err = vm.screenshot(os.path.join(tmp, tag + "-screenshot.png"))
    if not tap.ok(shot is not None, f"{tag}: pcvm screenshot", err):
        return None
    gpng = os.path.join(tmp, tag + "-gvnc.png")
    if shutil.which("gvnccapture") is None:
        tap.skip(f"{tag}: gvnccapture's frame equals pcvm's screenshot",
                 "gvnccapture (Debian's gvncviewer) is not installed")
        ok = False
    else:
        ok, msg = dl.gvnccapture(display, gpng)
        ok = tap.ok(ok, f"{tag}: gvnccapture over TCP", msg)
    if ok:
        g = dl.read_png(gpng)
        diff = dl.compare(g, shot, names=("gvnccapture", "screenshot"))
        tap.ok(diff is None, f"{tag}: gvnccapture's frame equals pcvm's screenshot "
               f"({g.width}x{g.height})", diff)
    own = client or dl.Rfb(vm.vnc_sock)
    try:
        img = own.capture()
        diff = dl.compare(img, shot, names=("vnc.sock", "screenshot"))
        tap.ok(diff is None, f"{tag}: an RFB client on vnc.sock (raw encoding) gets the same "
               f"frame ({img.width}x{img.height})", diff)
    except (OSError, dl.RfbError) as e:
        tap.ok(False, f"{tag}: an RFB client on vnc.sock gets the same frame", repr(e))
    finally:
        if client is None:
            own.close()
    return shot


def vnc_keys(tap, vm):
    c = dl.Rfb(vm.vnc_sock)
    try:
        k = c.tap_key
        expect_key(tap, vm, lambda: k(XK["a"]), "1E61 1E61", "VNC keysym a")
        expect_key(tap, vm, lambda: k(XK["Shift_L"], XK["A"]), "1E41 1E41",
                   "VNC keysyms Shift_L + A")
        expect_key(tap, vm, lambda: k(XK["A"]), "1E41 1E41",
                   "VNC keysym A without Shift (the server presses Shift around it)")
        expect_key(tap, vm, lambda: k(XK["exclam"]), "0221 0221", "VNC keysym exclam")
        expect_key(tap, vm, lambda: k(XK["Return"]), "1C0D 1C0D", "VNC keysym Return")
        expect_key(tap, vm, lambda: k(XK["Escape"]), "011B 011B", "VNC keysym Escape")
        expect_key(tap, vm, lambda: k(XK["F1"]), "3B00 3B00", "VNC keysym F1")
        expect_key(tap, vm, lambda: k(XK["F12"]), "8600 8600", "VNC keysym F12")
        expect_key(tap, vm, lambda: k(XK["Left"]), "4BE0 4B00", "VNC keysym Left (gray, E0)")
        expect_key(tap, vm, lambda: k(XK["Home"]), "47E0 4700", "VNC keysym Home (gray, E0)")
        expect_key(tap, vm, lambda: k(XK["KP_Enter"]), "E00D 1C0D", "VNC keysym KP_Enter")
        expect_key(tap, vm, lambda: k(XK["Control_L"], XK["a"]), "1E01 1E01",
                   "VNC keysyms Control_L + a")
        expect_key(tap, vm, lambda: k(XK["Alt_L"], XK["a"]), "1E00 1E00",
                   "VNC keysyms Alt_L + a")
        expect_key(tap, vm, lambda: k(XK["BackSpace"]), "0E08 0E08", "VNC keysym BackSpace")

        # QEMU extended key events: the viewer's raw scan codes, no keymap
        c.set_encodings([0, -258])
        kind, rects = c.read_message()
        tap.ok(kind == "update" and any(r[4] == -258 for r in rects),
               "the server acknowledges the QEMU extended key event pseudo-encoding",
               f"{kind} {rects}")

        def qkey(code, sym=0):
            return lambda: (c.qemu_key(code, True, sym), c.qemu_key(code, False, sym))
        expect_key(tap, vm, qkey(0x1E, XK["a"]), "1E61 1E61", "QEMU key event scan code 1Eh")
        expect_key(tap, vm, qkey(0xCB), "4BE0 4B00", "QEMU key event scan code E0 4Bh (Left)")
        expect_key(tap, vm, qkey(0x9C), "E00D 1C0D",
                   "QEMU key event scan code E0 1Ch (keypad Enter)")
        expect_key(tap, vm, qkey(0x2C, XK["y"]), "2C7A 2C7A",
                   "QEMU key event: the scan code wins over the keysym (2Ch with keysym y)")
    finally:
        c.close()


def send_keys(tap, vm):
    for combo, want in [("a", "1E61 1E61"), ("shift-a", "1E41 1E41"), ("ret", "1C0D 1C0D"),
                        ("esc", "011B 011B"), ("f12", "8600 8600"), ("left", "4BE0 4B00"),
                        ("ctrl-a", "1E01 1E01"), ("0x1e", "1E61 1E61")]:
        def send(combo=combo):
            rc, out, err = vm.cli("send-keys", vm.bundle, combo)
            if rc != 0:
                print(f"# send-keys {combo}: exit {rc}: {err.strip()}", flush=True)
        expect_key(tap, vm, send, want, f"pcvm send-keys {combo}")
    before = len(key_lines(vm))
    rc, out, err = vm.cli("send-keys", vm.bundle, "a", "shift-a", "ret")
    end = time.monotonic() + KEY_WAIT
    while time.monotonic() < end and len(key_lines(vm)) < before + 3:
        time.sleep(0.05)
    time.sleep(0.1)
    tap.ok(rc == 0 and key_lines(vm)[before:] == ["key 1E61 1E61", "key 1E41 1E41",
                                                  "key 1C0D 1C0D"],
           "pcvm send-keys with three combinations presses them in order",
           f"exit {rc} {err}\n{key_lines(vm)[before:]}")
    rc, out, err = vm.cli("send-keys", vm.bundle, "ctrl-nosuchkey")
    tap.ok(rc != 0 and "nosuchkey" in err, "pcvm send-keys names a key it does not know",
           f"exit {rc}: {out}{err}")


def german_keys(tap, vm):
    """pcvm run --keyboard=de: a German viewer's keysyms become the keys of a German keyboard,
    which the guest's (US) BIOS reads as the US characters of those positions."""
    c = dl.Rfb(vm.vnc_sock)
    try:
        k = c.tap_key
        expect_key(tap, vm, lambda: k(XK["z"]), "1579 1579", "de: keysym z is the key at US Y")
        expect_key(tap, vm, lambda: k(XK["y"]), "2C7A 2C7A", "de: keysym y is the key at US Z")
        expect_key(tap, vm, lambda: k(XK["udiaeresis"]), "1A5B 1A5B",
                   "de: keysym udiaeresis is the key at US [")
        expect_key(tap, vm, lambda: k(XK["numbersign"]), "2B5C 2B5C",
                   "de: keysym numbersign is the key at US backslash")
        expect_key(tap, vm, lambda: k(XK["at"]), "1000 1000",
                   "de: keysym at is AltGr+Q (the BIOS sees Alt+Q)")
        expect_key(tap, vm, lambda: k(XK["a"]), "1E61 1E61", "de: keysym a")
    finally:
        c.close()


# ---- hostile clients ---------------------------------------------------------------------

def connect(vm, timeout=5):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(vm.vnc_sock)
    return s


def closed_by_server(s, seconds=10):
    """True if the server closes S within SECONDS (what it sends before is read and dropped)."""
    end = time.monotonic() + seconds
    try:
        while time.monotonic() < end:
            s.settimeout(max(0.1, end - time.monotonic()))
            if not s.recv(65536):
                return True
    except (socket.timeout, TimeoutError):
        return False
    except OSError:
        return True  # reset
    return False


def recv_exact(s, n):
    out = b""
    while len(out) < n:
        chunk = s.recv(n - len(out))
        if not chunk:
            raise dl.RfbError("the server closed the connection during the handshake")
        out += chunk
    return out


def handshaken(vm):
    """A raw socket past ServerInit (RFB 3.8, security None, shared)."""
    s = connect(vm)
    recv_exact(s, 12)
    s.sendall(b"RFB 003.008\n")
    recv_exact(s, recv_exact(s, 1)[0])
    s.sendall(b"\x01")
    recv_exact(s, 4)
    s.sendall(b"\x01")
    hdr = recv_exact(s, 24)
    recv_exact(s, struct.unpack(">I", hdr[20:24])[0])
    return s


def hostile(tap, vm, display, tmp):
    alive = []
    # garbage before the handshake, on TCP and on the Unix socket
    t = socket.create_connection(("127.0.0.1", 5900 + display), timeout=5)
    t.sendall(os.urandom(4096))
    tap.ok(closed_by_server(t), "TCP: garbage instead of a protocol version: the server hangs up")
    t.close()
    t = socket.create_connection(("127.0.0.1", 5900 + display), timeout=5)
    t.sendall(b"RFB 003.008\n")
    t.close()
    s = connect(vm)
    s.sendall(os.urandom(4096))
    tap.ok(closed_by_server(s), "garbage instead of a protocol version: the server hangs up")
    s.close()
    # a plausible version with a wrong minor, then garbage
    s = connect(vm)
    s.sendall(b"RFB 003.999\n" + b"\xff" * 64)
    closed_by_server(s, 3)
    s.close()
    # half handshakes, closed abruptly at every step
    for cut in (b"RFB 0", b"RFB 003.008\n", b"RFB 003.008\n\x01", b"RFB 003.008\n\x01\x01"):
        s = connect(vm)
        s.sendall(cut)
        s.close()
    # a client that connects and says nothing, kept open while others work
    idle = connect(vm)
    alive.append(idle)
    # a client that stops after the version, kept open
    half = connect(vm)
    half.sendall(b"RFB 003.008\n")
    alive.append(half)
    # after the handshake: unknown message types, a bad pixel format, absurd lengths
    cases = [
        ("an unknown message type", b"\xfe" + os.urandom(31)),
        ("a pixel format of 7 bits per pixel",
         struct.pack(">B3xBBBBHHHBBB3x", 0, 7, 7, 0, 1, 255, 255, 255, 16, 8, 0)),
        ("a QEMU message of an unknown subtype", b"\xff\x07" + bytes(10)),
    ]
    for what, msg in cases:
        s = handshaken(vm)
        s.sendall(msg)
        tap.ok(closed_by_server(s), f"{what}: the server hangs up on that client")
        s.close()
    for what, msg in [
        ("ClientCutText claiming 2 GiB", struct.pack(">B3xI", 6, 0x7FFFFFFF) + b"x" * 100),
        ("extended ClientCutText claiming -2 GiB", struct.pack(">B3xi", 6, -0x80000000)),
        ("SetEncodings claiming 65535 encodings", struct.pack(">BxH", 2, 65535) + bytes(40)),
        ("half a FramebufferUpdateRequest", b"\x03\x00\x00"),
        ("a FramebufferUpdateRequest far outside the screen",
         struct.pack(">BBHHHH", 3, 0, 60000, 60000, 65535, 65535)),
        ("a KeyEvent for keysym 0xFFFFFFFF", struct.pack(">BBxxI", 4, 1, 0xFFFFFFFF)),
        ("a PointerEvent far outside the screen", struct.pack(">BBHH", 5, 7, 65535, 65535)),
    ]:
        s = handshaken(vm)
        s.sendall(msg)
        time.sleep(0.2)
        s.close()  # abruptly, mid-message for most
    # a client that asks for full frames and never reads what comes back
    stalled = handshaken(vm)
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    for _ in range(64):
        stalled.sendall(struct.pack(">BBHHHH", 3, 0, 0, 0, 720, 400))
    alive.append(stalled)
    # more connections than the server takes at once
    crowd, refused = [], ""
    for _ in range(40):
        try:
            crowd.append(connect(vm, timeout=2))
        except OSError as e:
            refused = f", then {e!r}"
            break
    tap.ok(True, f"{len(crowd)} more connections opened at once{refused}")

    start = time.monotonic()
    rc, out, err = vm.cli("status", vm.bundle, timeout=30)
    took = time.monotonic() - start
    # A client that stops reading in the middle of an update holds only the VNC server's
    # thread, not the VM's main loop (src/ui/vnc.c; integration/vnc_stall.py times it closely).
    tap.ok(rc == 0 and "state: running" in out and vm.running() and took < 4,
           f"with all that going on, the VM runs and answers `pcvm status` ({took:.1f}s)",
           out + err)
    for s in crowd:
        s.close()
    # the VM's screen is the same as before, and a real client still gets it
    same_frame(tap, vm, display, tmp, "after hostile clients")
    expect_key(tap, vm, lambda: vm.cli("send-keys", vm.bundle, "a"), "1E61 1E61",
               "after hostile clients, send-keys still reaches the guest")
    c = dl.Rfb(vm.vnc_sock)
    expect_key(tap, vm, lambda: c.tap_key(XK["Escape"]), "011B 011B",
               "after hostile clients, VNC keys still reach the guest")
    c.close()
    for s in alive:
        s.close()
    # and abruptly dropped, a loaded client mid-update
    for _ in range(5):
        s = handshaken(vm)
        s.sendall(struct.pack(">BBHHHH", 3, 0, 0, 0, 720, 400))
        s.recv(100)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()  # RST
    rc, out, err = vm.cli("status", vm.bundle)
    tap.ok(rc == 0 and "state: running" in out, "clients reset mid-update: the VM runs on",
           out + err)
    random_clients(tap, vm)
    # a viewer that goes away holding keys: the guest sees them released
    before = len(key_lines(vm))
    c = dl.Rfb(vm.vnc_sock)
    c.key(XK["Shift_L"], True)
    c.key(XK["Control_L"], True)
    c.key(XK["a"], True)
    time.sleep(0.2)
    c.close()
    end = time.monotonic() + KEY_WAIT  # the guest prints Ctrl+A; then nothing more comes
    while time.monotonic() < end and len(key_lines(vm)) <= before:
        time.sleep(0.05)
    time.sleep(0.3)
    held = key_lines(vm)[before:]
    expect_key(tap, vm, lambda: vm.cli("send-keys", vm.bundle, "b"), "3062 3062",
               "a viewer left holding Shift, Ctrl and a: they are released (send-keys b)")
    tap.ok(held and all(k == "key 1E01 1E01" for k in held),
           "... and its Ctrl+A reached the guest (once, or repeated while held)", held)


def random_message(rng):
    """One client message of a random type with random fields (some well formed, some not)."""
    kind = rng.choice([0, 2, 3, 4, 5, 6, 255, rng.randrange(256)])
    r16, r32 = (lambda: rng.randrange(1 << 16)), (lambda: rng.randrange(1 << 32))
    if kind == 0:
        return struct.pack(">B3xBBBBHHHBBB3x", 0, rng.choice([8, 16, 32, rng.randrange(256)]),
                           rng.randrange(256), rng.randrange(2), rng.randrange(2), r16(), r16(),
                           r16(), rng.randrange(256), rng.randrange(256), rng.randrange(256))
    if kind == 2:
        n = rng.randrange(40)
        return struct.pack(">BxH", 2, n) + b"".join(struct.pack(">i", rng.choice(
            [0, 1, 2, 5, 6, 7, 16, -223, -224, -258, -239, -240, -308, -309, -312,
             rng.randrange(-1 << 31, 1 << 31)])) for _ in range(n))
    if kind == 3:
        return struct.pack(">BBHHHH", 3, rng.randrange(2), r16(), r16(), r16(), r16())
    if kind == 4:
        return struct.pack(">BBxxI", 4, rng.randrange(2), r32())
    if kind == 5:
        return struct.pack(">BBHH", 5, rng.randrange(256), r16(), r16())
    if kind == 6:
        n = rng.choice([0, 5, 100, rng.randrange(1 << 31)])
        return struct.pack(">B3xI", 6, n) + rng.randbytes(min(n, 200))
    if kind == 255:
        return bytes([255, rng.randrange(3)]) + struct.pack(">HII", rng.randrange(2), r32(),
                                                            rng.choice([0x1E, 0xCB, r32()]))
    return bytes([kind]) + rng.randbytes(rng.randrange(30))


def random_clients(tap, vm, count=40, seed=20240601):
    """COUNT clients, each past the handshake, send 1-11 random messages and go."""
    rng = random.Random(seed)
    for i in range(count):
        try:
            s = handshaken(vm)
        except (OSError, dl.RfbError) as e:
            tap.ok(False, f"random messages: client {i} gets through the handshake", repr(e))
            return
        try:
            s.sendall(b"".join(random_message(rng) for _ in range(rng.randrange(1, 12))))
        except OSError:
            pass  # the server hung up already
        s.close()
    rc, out, err = vm.cli("status", vm.bundle)
    tap.ok(rc == 0 and "state: running" in out,
           f"{count} clients sending random messages (seed {seed}): the VM runs on", out + err)


def mode_change(tap, vm, display, tmp):
    """Tab: the guest goes to mode 12h; a client that asked for DesktopSize hears of it."""
    c = dl.Rfb(vm.vnc_sock)
    try:
        c.set_encodings([0, -223])
        c.capture()
        before = (c.width, c.height)
        c.request(True)
        vm.cli("send-keys", vm.bundle, "tab")
        if not tap.ok(vm.wait_serial("mode 12h", 20), "Tab: the guest switches to mode 12h",
                      read(vm.serial)[-300:]):
            return
        resized, framed = None, False
        end = time.monotonic() + 15
        while time.monotonic() < end and not framed:
            kind, rects = c.read_message()
            for r in rects if kind == "update" else ():
                if r[4] == -223:
                    resized = (r[2], r[3])
                elif r[4] == 0 and resized:
                    framed = True  # the new frame followed: all of it has been read
            if not framed and kind == "update":
                c.request(not resized)
        tap.ok(before == (720, 400) and resized == (640, 480),
               "a client with the DesktopSize pseudo-encoding gets the new size",
               f"before {before}, resized {resized}")
        shot = same_frame(tap, vm, display, tmp, "mode 12h", client=c)
        if shot is not None:
            bands = all(shot.px(320, 30 * b + 15) == tuple(dl.colour16(b)) for b in range(16))
            white = tuple(dl.colour16(15))
            tap.ok(shot.size == (640, 480) and bands and shot.px(5, 0) == white,
                   "the mode 12h frame shows the guest's 16 bands and frame",
                   f"{shot.size}, top {shot.px(5, 0)}, bands "
                   f"{[shot.px(320, 30 * b + 15) for b in range(16)]}")
    except (OSError, dl.RfbError) as e:
        tap.ok(False, "DesktopSize client", repr(e))
    finally:
        c.close()


def reboot(tap, vm):
    n = read(vm.serial).count("keys ready")
    rc, out, err = vm.cli("send-keys", vm.bundle, "ctrl-alt-delete")
    end = time.monotonic() + WAIT
    while time.monotonic() < end and read(vm.serial).count("keys ready") <= n:
        time.sleep(0.1)
    tap.ok(rc == 0 and read(vm.serial).count("keys ready") == n + 1,
           "pcvm send-keys ctrl-alt-delete reboots the guest", f"exit {rc} {err}\n"
           + read(vm.serial)[-300:])


PASSWORD = "s3cr3t!x"


def security_types(address):
    """The security types a server offers a 3.8 client, and the socket, mid-handshake."""
    family = socket.AF_UNIX if isinstance(address, str) else socket.AF_INET
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(address)
    recv_exact(s, 12)
    s.sendall(b"RFB 003.008\n")
    return list(recv_exact(s, recv_exact(s, 1)[0])), s


def password(tap, vm, display):
    """[display] vnc-password=: VNC authentication only, on TCP and on vnc.sock."""
    for where, address in (("TCP", ("127.0.0.1", 5900 + display)), ("vnc.sock", vm.vnc_sock)):
        types, s = security_types(address)
        s.close()
        tap.ok(types == [2], f"password: {where}: the server offers VNC authentication only",
               types)
    types, s = security_types(vm.vnc_sock)
    s.sendall(b"\x01")  # None, which was not offered
    tap.ok(closed_by_server(s), "password: choosing security type None: the server hangs up")
    s.close()
    types, s = security_types(vm.vnc_sock)
    s.sendall(b"\x02")
    recv_exact(s, 16)
    s.sendall(bytes(16))
    result = struct.unpack(">I", recv_exact(s, 4))[0]
    tap.ok(result == 1, "password: a wrong response fails (SecurityResult 1)", result)
    s.close()
    try:
        c = dl.Rfb(vm.vnc_sock, password=PASSWORD)
        img = c.capture()
        c.close()
        shot, err = vm.screenshot(os.path.join(vm.tmp, "password.png"))
        tap.ok(shot is not None and dl.compare(img, shot) is None,
               "password: the right one gets the console (the frame equals the screenshot)",
               err or dl.compare(img, shot))
    except (OSError, dl.RfbError) as e:
        tap.ok(False, "password: the right one gets the console", repr(e))


def libvncserver_mapped(pid):
    with open(f"/proc/{pid}/maps") as f:
        return any("libvncserver" in line for line in f)


def lazy_library(tap, vm, tmp):
    """libvncserver is loaded when the first viewer connects, not before: VM has had none yet
    (no TCP port, nothing on vnc.sock). A screenshot does not need it; the viewer gets the same
    frame."""
    pid = vm.proc.pid
    shot, err = vm.screenshot(os.path.join(tmp, "lazy-screenshot.png"))
    tap.ok(shot is not None, "before any viewer: pcvm screenshot", err)
    tap.ok(not libvncserver_mapped(pid),
           "before any viewer: libvncserver is not mapped (/proc/PID/maps)")
    try:
        c = dl.Rfb(vm.vnc_sock)
    except (OSError, dl.RfbError) as e:
        tap.ok(False, "the first viewer completes the RFB handshake", repr(e) + vm.stderr())
        return
    try:
        tap.ok(libvncserver_mapped(pid),
               "the first viewer completes the RFB handshake: libvncserver is mapped now")
        img = c.capture()
        diff = None if shot is None else dl.compare(img, shot,
                                                    names=("first viewer", "screenshot"))
        tap.ok(shot is not None and diff is None,
               f"the first viewer gets the frame pcvm screenshot took ({img.width}x{img.height})",
               diff)
    except (OSError, dl.RfbError) as e:
        tap.ok(False, "the first viewer gets a frame", repr(e))
    finally:
        c.close()


def beyond_loopback(tap, binary, tmp, disk):
    """--vnc on a non-loopback address without a password is refused."""
    bundle = os.path.join(tmp, "open.pcvm")
    subprocess.run([binary, "create", bundle, "--disk", disk], capture_output=True, timeout=30)
    try:
        p = subprocess.run([binary, "run", bundle, "--serial", "none",
                            "--vnc", f"0.0.0.0:{dl.free_display()}"], capture_output=True,
                           text=True, timeout=30)
        tap.ok(p.returncode == 1 and "vnc-password" in p.stderr,
               "--vnc 0.0.0.0:N without [display] vnc-password= is refused, naming the setting",
               f"exit {p.returncode}: {p.stderr}")
    except subprocess.TimeoutExpired:
        tap.ok(False, "--vnc 0.0.0.0:N without a password is refused", "pcvm ran on")


def main():
    binary = sys.argv[1]
    tap = Tap()
    if not require_kvm(tap):
        return tap.done()
    with tempdir() as tmp:
        boot = assemble("keys", tmp)
        disk = os.path.join(tmp, "keys.img")
        make_disk(disk, boot)
        de_disk = os.path.join(tmp, "keys-de.img")
        shutil.copyfile(disk, de_disk)
        vm, display = dl.start_with_vnc(
            lambda n: dl.PcvmMachine(binary, tmp, disk, f"keys-{n}", vnc=n))
        de = dl.PcvmMachine(binary, tmp, de_disk, "keys-de", extra=["--keyboard", "de"])
        pw_disk = os.path.join(tmp, "keys-pw.img")
        shutil.copyfile(disk, pw_disk)
        pw, pw_display = dl.start_with_vnc(lambda n: dl.PcvmMachine(
            binary, tmp, pw_disk, f"keys-pw-{n}", vnc=n,
            conf=f"[display]\nvnc-password={PASSWORD}\n"))
        try:
            start = time.monotonic()
            ready = vm.wait_serial("keys ready", WAIT)
            tap.ok(ready, f"the key guest is ready ({time.monotonic() - start:.1f}s)",
                   read(vm.serial) + vm.stderr())
            tap.ok(os.path.exists(vm.vnc_sock) and dl.wait_port(5900 + display, 5),
                   f"pcvm listens on DIR/run/vnc.sock and 127.0.0.1:{5900 + display}",
                   vm.stderr())
            if ready:
                same_frame(tap, vm, display, tmp, "text mode")
                vnc_keys(tap, vm)
                send_keys(tap, vm)
                same_frame(tap, vm, display, tmp, "text mode after keys")
                hostile(tap, vm, display, tmp)
                mode_change(tap, vm, display, tmp)
                reboot(tap, vm)
            if pw.wait_serial("keys ready", WAIT):
                password(tap, pw, pw_display)
            else:
                tap.ok(False, "the key guest is ready with a VNC password", pw.stderr())
            pw.stop()
            beyond_loopback(tap, binary, tmp, disk)
            if de.wait_serial("keys ready", WAIT):
                lazy_library(tap, de, tmp)
                german_keys(tap, de)
            else:
                tap.ok(False, "the key guest is ready under --keyboard=de", de.stderr())
            rc = vm.stop()
            tap.ok(rc == 0, "pcvm stop: exit code 0", f"exit {rc}\n{vm.stderr()[-2000:]}")
            tap.ok(not os.path.exists(vm.vnc_sock), "vnc.sock is removed at exit")
            rc = de.stop()
            tap.ok(rc == 0, "pcvm --keyboard=de stop: exit code 0",
                   f"exit {rc}\n{de.stderr()[-2000:]}")
        finally:
            vm.kill()
            de.kill()
            pw.kill()
    return tap.done()


if __name__ == "__main__":
    sys.exit(main())
