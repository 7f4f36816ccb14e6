#!/usr/bin/env bash
# bench/console.sh — the console over VNC: full-screen update rate and bytes per frame, pcvm
# against QEMU on the same machine, same guest, in one run. A benchmark: it prints numbers and
# ratios; it is not a test (whatever the numbers, it exits 0 when every run worked).
#
# Usage: bench/console.sh            (from any directory)
#   DURATION=N      seconds measured per VMM and encoding (default 10)
#   ENCODINGS=...   RFB encodings to measure, of raw, zrle, zlib (default "raw zrle")
#   SIZES=...       the guest's VBE modes, WIDTHxHEIGHT at 32 bits per pixel with a linear
#                   framebuffer, as the VGA BIOS offers them (default "800x600 320x200": a
#                   desktop, and a screen small enough that the guest outdraws both servers
#                   even where KVM emulates it, so that the servers' own pace shows)
#
# The guest (bench/guests/console.asm, booted by SeaBIOS from an IDE disk) sets the VBE mode
# and then redraws the whole framebuffer over and over, every pixel different from one frame
# to the next (a picture sliding four pixels left per frame), printing "." on COM1 after each
# frame. Both VMMs get -m 256, one vCPU, the same SeaBIOS and VGA BIOS, and listen for VNC on
# 127.0.0.1 (pcvm run --vnc, QEMU -vnc).
#
# The client (Python, here; no VNC library) speaks RFB 3.8 over TCP, security None, asks for
# 32 bits per pixel true colour (depth 24, little endian) and one encoding, requests a full
# frame, then keeps exactly one incremental FramebufferUpdateRequest outstanding: a new one as
# soon as an update has arrived whole, as viewers do. After a warm-up it counts, for
# DURATION seconds:
#   updates/s     FramebufferUpdate messages received
#   frames/s      pixels received / (width * height): full-screen frames' worth a second
#   bytes/frame   bytes received / those frames (headers included)
#   guest fps     frames the guest drew in the same time (its COM1 dots): the most a server
#                 can show. Where KVM emulates the guest (no VT-x/AMD-V) the guest draws slowly
#                 (~13 frames/s at 800x600) and caps both servers; the byte counts and CPU
#                 costs still compare. The warm-up lasts until the guest draws steadily: there,
#                 its first frames after the mode set take seconds, under either VMM.
#   VMM CPU       CPU time of the VMM's threads other than the vCPU's (the display refresh,
#                 the VNC server and its encoder), % of one core over the window, and
#                 milliseconds per frame sent
# pixel and byte counts come from the messages themselves (rectangle headers, zlib/ZRLE
# lengths); the client does not decode compressed data.
#
# Needs: qemu-system-x86_64, /dev/kvm (read/write), nasm, python3, SeaBIOS at
# /usr/share/seabios (bios-256k.bin, vgabios-stdvga.bin; BIOS=FILE to change the first).
# Builds build/pcvm if it is missing. Exit status: 0 when every run delivered updates (whatever
# the numbers); 1 on a missing prerequisite or a broken run.

set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DURATION=${DURATION:-10}
ENCODINGS=${ENCODINGS:-raw zrle}
SIZES=${SIZES:-800x600 320x200}
BIOS=${BIOS:-/usr/share/seabios/bios-256k.bin}
QEMU=${QEMU:-qemu-system-x86_64}
PCVM=$ROOT/build/pcvm
MEM=256

# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"

# --- prerequisites ----------------------------------------------------------------------
check_vmm_prereqs
[ -r "$BIOS" ] || die "SeaBIOS image $BIOS not found (apt-get install seabios)"
[[ $DURATION =~ ^[1-9][0-9]*$ ]] || die "DURATION must be a positive integer"
for size in $SIZES; do
	[[ $size =~ ^[1-9][0-9]*x[1-9][0-9]*$ ]] || die "'$size' in SIZES is not WIDTHxHEIGHT"
done
for enc in $ENCODINGS; do
	case $enc in
	raw | zrle | zlib) ;;
	*) die "unknown encoding '$enc' in ENCODINGS (raw, zrle, zlib)" ;;
	esac
done

ensure_pcvm

TMP=$(mktemp -d "${TMPDIR:-/tmp}/pcvm-bench-console.XXXXXX") || die "mktemp failed"
# shellcheck disable=SC2317 # called by the trap
cleanup() { rm -rf "$TMP"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

for size in $SIZES; do
	nasm -f bin -i "$ROOT/tests/guests/" -DWIDTH="${size%x*}" -DHEIGHT="${size#*x}" \
		"$ROOT/bench/guests/console.asm" -o "$TMP/console-$size.bin" ||
		die "nasm bench/guests/console.asm failed"
done

# console.py: runs both VMMs one after the other, measures, prints the table.
cat >"$TMP/console.py" <<'PY'
import os, signal, socket, struct, subprocess, sys, time

tmp, pcvm, qemu, bios = sys.argv[1:5]
duration, mem = int(sys.argv[5]), int(sys.argv[6])
sizes = sys.argv[7].split()
encodings = sys.argv[8].split()
ENC = {"raw": 0, "zlib": 6, "zrle": 16}
WARMUP = 2.0
STEADY_TIMEOUT = 90
BOOT_TIMEOUT = 180
TICK = os.sysconf("SC_CLK_TCK")


class Broken(Exception):
    pass


# SIGTERM (the script interrupted): unwind, so that the VMs started are killed
signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))


def free_port():
    for n in range(50 + os.getpid() % 500, 1000):
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", 5900 + n))
            return n
        except OSError:
            continue
        finally:
            s.close()
    raise Broken("no free VNC port")


class Client:
    def __init__(self, port, encoding):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=15)
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        self.rx = 0
        v = self.take(12)
        if not v.startswith(b"RFB 003."):
            raise Broken(f"not an RFB server: {v!r}")
        self.s.sendall(b"RFB 003.008\n")
        n = self.take(1)[0]
        if n == 0 or 1 not in self.take(n):
            raise Broken("no security type None")
        self.s.sendall(b"\x01")
        if self.take(4) != bytes(4):
            raise Broken("security handshake failed")
        self.s.sendall(b"\x01")
        self.w, self.h = struct.unpack(">HH", self.take(4))
        self.take(16)
        self.take(struct.unpack(">I", self.take(4))[0])
        self.s.sendall(struct.pack(">B3xBBBBHHHBBB3x", 0, 32, 24, 0, 1, 255, 255, 255,
                                   16, 8, 0))
        self.s.sendall(struct.pack(">BxHi", 2, 1, ENC[encoding]))

    def take(self, n):
        while len(self.buf) < n:
            chunk = self.s.recv(1 << 20)
            if not chunk:
                raise Broken("the server closed the connection")
            self.rx += len(chunk)
            self.buf += chunk
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def skip(self, n):
        if len(self.buf) >= n:
            del self.buf[:n]
            return
        n -= len(self.buf)
        self.buf.clear()
        while n > 0:
            chunk = self.s.recv(1 << 20)
            if not chunk:
                raise Broken("the server closed the connection")
            self.rx += len(chunk)
            if len(chunk) > n:
                self.buf += chunk[n:]
            n -= min(n, len(chunk))

    def request(self, incremental):
        self.s.sendall(struct.pack(">BBHHHH", 3, incremental, 0, 0, self.w, self.h))

    def update(self):
        """Reads messages up to the end of one FramebufferUpdate; returns its pixels."""
        while True:
            kind = self.take(1)[0]
            if kind == 0:
                break
            if kind == 1:
                raise Broken("colour map entries, though true colour was asked for")
            if kind == 2:
                continue
            if kind == 3:
                self.skip(struct.unpack(">3xI", self.take(7))[0])
                continue
            raise Broken(f"server message type {kind}")
        n = struct.unpack(">xH", self.take(3))[0]
        pixels = 0
        for _ in range(n):
            x, y, w, h, enc = struct.unpack(">HHHHi", self.take(12))
            if enc == 0:
                self.skip(w * h * 4)
            elif enc in (6, 16):
                self.skip(struct.unpack(">I", self.take(4))[0])
            elif enc == 1:
                self.take(4)
            elif enc == -223:
                self.w, self.h = w, h
                continue
            else:
                raise Broken(f"unexpected encoding {enc}")
            pixels += w * h
        return pixels


def cpu_ticks(pid, vcpu_names):
    """(CPU ticks of the VMM's threads other than vCPUs, of the vCPUs)."""
    other = vcpu = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                stat = f.read()
            with open(f"/proc/{pid}/task/{tid}/comm") as f:
                comm = f.read().strip()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        t = int(fields[11]) + int(fields[12])
        if any(comm.startswith(v) for v in vcpu_names):
            vcpu += t
        else:
            other += t
    return other, vcpu


def dots(serial):
    try:
        with open(serial, "rb") as f:
            return f.read().count(b".")
    except OSError:
        return 0


def measure(port, encoding, proc, serial, vcpu_names, width, height):
    c = Client(port, encoding)
    try:
        c.request(0)
        c.update()
        # warm-up: at least WARMUP seconds, and until the guest has drawn in each of the last
        # two seconds (its first frames after the mode set can take seconds where KVM
        # emulates it, while the host maps its pages)
        start = last = time.monotonic()
        history = [dots(serial)]
        c.request(1)
        while True:
            c.update()
            now = time.monotonic()
            if now - last >= 1:
                last = now
                history.append(dots(serial))
                steady = len(history) >= 3 and history[-1] > history[-2] > history[-3]
                if now - start >= WARMUP and steady:
                    break
                if now - start > STEADY_TIMEOUT:
                    raise Broken(f"the guest drew {history[-1] - history[0]} frames in "
                                 f"{now - start:.0f} s of warm-up")
            c.request(1)
        c.request(1)
        t0, rx0, d0 = time.monotonic(), c.rx - len(c.buf), dots(serial)
        cpu0 = cpu_ticks(proc.pid, vcpu_names)
        updates = pixels = 0
        while True:
            pixels += c.update()
            updates += 1
            now = time.monotonic()
            if now - t0 >= duration:
                break
            c.request(1)
        cpu1 = cpu_ticks(proc.pid, vcpu_names)
        secs = now - t0
        rx = c.rx - len(c.buf) - rx0
        frames = pixels / (c.w * c.h)
        if (c.w, c.h) != (width, height):
            raise Broken(f"the screen is {c.w}x{c.h}, not {width}x{height}")
        if frames < 1:
            raise Broken(f"less than one frame in {secs:.1f} s")
        other = (cpu1[0] - cpu0[0]) / TICK
        return dict(ups=updates / secs, fps=frames / secs, bpf=rx / frames,
                    guest=(dots(serial) - d0) / secs, cpu=100 * other / secs,
                    cpu_ms=1000 * other / frames)
    finally:
        c.s.close()


def run_vmm(vmm, size):
    width, height = (int(v) for v in size.split("x"))
    serial = os.path.join(tmp, f"{vmm}-{size}.serial")
    disk = os.path.join(tmp, vmm + ".img")
    with open(os.path.join(tmp, f"console-{size}.bin"), "rb") as f:
        boot = f.read()
    with open(disk, "wb") as f:
        f.write(boot + bytes((1 << 20) - len(boot)))
    n = free_port()
    log = open(os.path.join(tmp, vmm + ".log"), "w")
    if vmm == "pcvm":
        bundle = os.path.join(tmp, f"console-{size}.pcvm")
        p = subprocess.run([pcvm, "create", bundle, "--disk", disk, "--memory", str(mem), "--net", "none"],
                           capture_output=True, text=True)
        if p.returncode:
            raise Broken("pcvm create: " + p.stderr.strip())
        cmd = [pcvm, "run", bundle, "--serial", serial, "--bios", bios,
               "--vnc", f"127.0.0.1:{n}"]
        vcpu_names = ["vcpu"]
    else:
        cmd = [qemu, "-accel", "kvm", "-machine", "pc", "-m", str(mem), "-nodefaults",
               "-vga", "std", "-display", "none", "-bios", bios,
               "-name", "console,debug-threads=on", "-vnc", f"127.0.0.1:{n}",
               "-serial", "file:" + serial, "-drive", f"file={disk},format=raw,if=ide"]
        vcpu_names = ["CPU "]
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                            start_new_session=True)
    results = {}
    try:
        end = time.monotonic() + BOOT_TIMEOUT
        while True:
            try:
                text = open(serial, errors="replace").read()
            except OSError:
                text = ""
            if "drawing" in text:
                break
            if proc.poll() is not None or time.monotonic() > end:
                raise Broken(f"the guest did not start drawing (exit {proc.poll()}); COM1: "
                             f"{text[-200:]!r}; log: {open(log.name).read()[-300:]!r}")
            time.sleep(0.1)
        mode = text.split("\n")[0].strip()
        for enc in encodings:
            try:
                results[enc] = measure(5900 + n, enc, proc, serial, vcpu_names, width, height)
            except (Broken, OSError) as e:
                results[enc] = f"FAILED: {e}"
            if proc.poll() is not None:
                raise Broken(f"{vmm} exited ({proc.returncode}) while measuring")
        return mode, results
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        log.close()


def fmt(v, spec):
    return format(v, spec) if isinstance(v, (int, float)) else "-"


def report(size):
    global broken
    res = {}
    print(f"{size} at 32 bits per pixel")
    for vmm in ("pcvm", "qemu"):
        try:
            mode, res[vmm] = run_vmm(vmm, size)
            print(f"  {vmm:5s}  guest: {mode}", flush=True)
        except (Broken, OSError) as e:
            print(f"  {vmm:5s}  FAILED: {e}", flush=True)
            res[vmm] = {enc: "FAILED" for enc in encodings}
    print(f"  {'':10s} {'':5s} {'updates/s':>9s} {'frames/s':>9s} {'bytes/frame':>12s} "
          f"{'guest fps':>9s} {'VMM CPU %':>9s} {'CPU ms/frame':>12s}")
    for enc in encodings:
        for vmm in ("pcvm", "qemu"):
            r = res[vmm][enc]
            if isinstance(r, str):
                broken += 1
                print(f"  {enc:10s} {vmm:5s} {r}")
                continue
            print(f"  {enc:10s} {vmm:5s} {r['ups']:9.1f} {r['fps']:9.1f} {r['bpf']:12,.0f} "
                  f"{r['guest']:9.1f} {r['cpu']:9.1f} {r['cpu_ms']:12.2f}")
    print(f"  {'pcvm/QEMU':10s} {'':5s} {'':9s} {'frames/s':>9s} {'bytes/frame':>12s} "
          f"{'':9s} {'':9s} {'CPU ms/frame':>12s}")
    for enc in encodings:
        p, q = res["pcvm"][enc], res["qemu"][enc]
        if isinstance(p, str) or isinstance(q, str):
            print(f"  {enc:10s} {'':5s} {'':9s} {'n/a':>9s} {'n/a':>12s} {'':9s} {'':9s} "
                  f"{'n/a':>12s}")
            continue

        def ratio(k):
            return f"{p[k] / q[k]:.2f}" if q[k] else "n/a"
        print(f"  {enc:10s} {'':5s} {'':9s} {ratio('fps'):>9s} {ratio('bpf'):>12s} {'':9s} "
              f"{'':9s} {ratio('cpu_ms'):>12s}")
    print(flush=True)


broken = 0
for size in sizes:
    report(size)
sys.exit(1 if broken else 0)
PY

echo "pcvm vs QEMU: full-screen updates over VNC (RFB over TCP on 127.0.0.1)"
echo "  pcvm    $("$PCVM" version 2>/dev/null | head -n 1) ($PCVM)"
echo "  QEMU    $("$QEMU" --version | head -n 1)"
echo "  BIOS    $BIOS and vgabios-stdvga.bin beside it (both)"
echo "  guest   bench/guests/console.asm: VBE modes $SIZES at 32 bpp, the whole screen"
echo "          redrawn and changed every frame; -m $MEM, 1 vCPU"
echo "  client  32 bpp, one incremental request outstanding; ${DURATION} s per encoding after"
echo "          a warm-up (2 s at least); encodings: $ENCODINGS"
host_line
echo
# in the background, so that an interrupt reaches it as SIGTERM and it stops the VMs it started
python3 "$TMP/console.py" "$TMP" "$PCVM" "$QEMU" "$BIOS" "$DURATION" "$MEM" "$SIZES" "$ENCODINGS" &
PY_PID=$!
trap 'kill -TERM "$PY_PID" 2>/dev/null; wait "$PY_PID"; exit 130' INT TERM
wait "$PY_PID"
rc=$?
[ $rc -eq 0 ] || echo "bench/console.sh: a run was broken (see FAILED above)" >&2
exit $rc
