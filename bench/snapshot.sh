#!/usr/bin/env bash
# bench/snapshot.sh — live snapshot and revert, pcvm against QEMU (savevm/loadvm) on the same
# machine, in one run, at several guest RAM sizes. A benchmark: it prints numbers, ratios and
# whether the issue's goals are met (guest pause <= 20 ms and revert <= 50 ms at every size);
# it is not a test (a goal missed still exits 0).
#
# Usage: bench/snapshot.sh        (from any directory)
#   SIZES="256 1024 4096"   guest RAM sizes in MiB (default)
#   FILL_MAX=512            MiB of RAM the guest writes at most (default 512; see below)
#   REPS=3                  take/revert cycles per VMM and size (medians are reported)
#   PCVM=PATH               the pcvm binary (default build/pcvm, built if missing)
#
# The guest (bench/guests/snapfill.asm, booted by SeaBIOS from a qcow2 IDE disk) writes a
# pattern over min(RAM - 16 MiB, FILL_MAX) MiB of RAM from 1 MiB up in unreal mode, every
# 4 KiB page different and none zero, prints "filled N MiB" on COM1 and then idles (HLT, BIOS
# timer ticking). So at 256 MiB the guest has written 240 MiB, at 1 GiB and 4 GiB 512 MiB: the
# rest of the 4 GiB stays untouched, to keep the run's time and disk use bounded (every
# written MiB is saved by both VMMs; both keep untouched RAM out of their files — pcvm as holes
# in ID.ram, QEMU as zero-page records — but still walk all of it).
#
# Each VMM gets -m SIZE, one vCPU, the same guest on its own 64 MiB qcow2 disk. Once the guest
# has filled its RAM, REPS cycles of: take a snapshot, revert to it (the snapshots stay until
# the VMM is done with this size; then its directory is removed):
#   pcvm   `pcvm snapshot take DIR NAME` / `revert` while `pcvm run` runs.
#          pause  = pcvm.log "snapshot N 'NAME' taken; guest paused X ms" (the vCPUs held)
#          take   = wall clock of the `pcvm snapshot take` command (connect, state, disk
#                   snapshot, RAM written out while the guest runs, thumbnail, index.conf)
#          revert = pcvm.log "reverted to snapshot N 'NAME' in X ms"; the wall clock of the
#                   `pcvm snapshot revert` command is shown beside it
#   QEMU   HMP monitor on a Unix socket (-monitor unix:SOCK,server,nowait): `savevm NAME`,
#          `loadvm NAME`, each timed from sending the line to the next
#          "(qemu) " prompt. savevm stops the guest for all of its work, so QEMU's pause
#          and take are the same number; revert = loadvm.
# The table shows medians over the cycles and ratio = QEMU / pcvm; the lines above it every
# cycle's numbers. pcvm's first cycle differs from the later ones: its take writes the RAM the
# guest wrote (anonymous memory) and its revert replaces that memory (freed on a thread once
# the guest runs again); later takes find RAM mapped from the snapshot file reverted to before
# and copy what the guest has not written since from that file (copy_file_range), and later
# reverts replace that mapping.
#
# Disk: each size needs about REPS x its written RAM per VMM in $TMPDIR (default /tmp); the
# script checks for that (plus 1 GiB) first and removes everything at the end.
# Where KVM emulates the guest (no VT-x/AMD-V) the fill takes a while (~40 MiB/s), the
# snapshot numbers themselves do not depend on it.
#
# Needs: qemu-system-x86_64, qemu-img, qemu-io, /dev/kvm (read/write), nasm, python3.
# Builds build/pcvm if it is missing. Exit status: 0 when every run worked; 1 on a missing
# prerequisite or a broken run (a VM that did not fill its RAM, a snapshot command that failed).

set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SIZES=${SIZES:-256 1024 4096}
FILL_MAX=${FILL_MAX:-512}
REPS=${REPS:-3}
QEMU=${QEMU:-qemu-system-x86_64}
PCVM=${PCVM:-$ROOT/build/pcvm}

# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"

# --- prerequisites ----------------------------------------------------------------------
check_vmm_prereqs
for t in qemu-img qemu-io; do
	command -v $t >/dev/null 2>&1 || die "$t not found (apt-get install qemu-utils)"
done
[[ $REPS =~ ^[1-9][0-9]*$ ]] || die "REPS must be a positive integer"
[[ $FILL_MAX =~ ^[1-9][0-9]*$ ]] || die "FILL_MAX must be a positive integer (MiB)"
for s in $SIZES; do
	if ! [[ $s =~ ^[0-9]+$ ]] || [ "$s" -lt 64 ]; then
		die "SIZES: '$s' is not a RAM size in MiB >= 64"
	fi
done

ensure_pcvm

TMP=$(mktemp -d "${TMPDIR:-/tmp}/pcvm-bench-snapshot.XXXXXX") || die "mktemp failed"
PY_PID=''
# shellcheck disable=SC2317 # called by the trap
cleanup() {
	stop_pid "$PY_PID" TERM
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

max_fill=0
for s in $SIZES; do
	fill=$((s - 16))
	[ "$fill" -gt "$FILL_MAX" ] && fill=$FILL_MAX
	[ "$fill" -gt "$max_fill" ] && max_fill=$fill
done
need_mib=$((REPS * max_fill + 1024))
free_kib=$(df -Pk "$TMP" | awk 'NR == 2 { print $4 }')
if [ -n "$free_kib" ] && [ "$((free_kib / 1024))" -lt "$need_mib" ]; then
	die "only $((free_kib / 1024)) MiB free in $(dirname "$TMP"): need about $need_mib MiB" \
		"(TMPDIR=... elsewhere, or fewer REPS / a smaller FILL_MAX)"
fi

# --- the guest, one build per fill size -------------------------------------------------
FILLS=()
for s in $SIZES; do
	fill=$((s - 16))
	[ "$fill" -gt "$FILL_MAX" ] && fill=$FILL_MAX
	FILLS+=("$s:$fill")
	[ -f "$TMP/fill$fill.bin" ] && continue
	nasm -f bin -i "$ROOT/tests/guests/" -DFILL_MIB="$fill" "$ROOT/bench/guests/snapfill.asm" \
		-o "$TMP/fill$fill.bin" || die "nasm bench/guests/snapfill.asm failed"
done

# --- the measurements (Python: processes, sockets and clocks) ---------------------------
cat >"$TMP/bench.py" <<'PY'
import json, os, re, signal, socket, statistics, subprocess, sys, time

PCVM, QEMU, TMP, REPS = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
RUNS = [tuple(int(x) for x in a.split(":")) for a in sys.argv[5:]]
FILL_TIMEOUT = 900
# on SIGTERM (the script's trap) unwind, so that the VMs are killed in the finally blocks
signal.signal(signal.SIGTERM, lambda *a: sys.exit(130))


class Broken(Exception):
    pass


def sh(cmd, timeout=600):
    t0 = time.monotonic()
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stdout + p.stderr, time.monotonic() - t0


def disk_with_guest(path, guest):
    rc, out, _ = sh(["qemu-img", "create", "-q", "-f", "qcow2", path, "64M"])
    if rc != 0:
        raise Broken(f"qemu-img create: {out}")
    rc, out, _ = sh(["qemu-io", "-f", "qcow2", "-c",
                     f"write -q -s {guest} 0 {os.path.getsize(guest)}", path])
    if rc != 0:
        raise Broken(f"qemu-io: {out}")


def wait_filled(proc, serial, what):
    end = time.monotonic() + FILL_TIMEOUT
    t0 = time.monotonic()
    while time.monotonic() < end:
        try:
            with open(serial, "rb") as f:
                if b"filled" in f.read():
                    return time.monotonic() - t0
        except FileNotFoundError:
            pass
        if proc.poll() is not None:
            raise Broken(f"{what} exited ({proc.returncode}) before the guest filled its RAM")
        time.sleep(0.1)
    raise Broken(f"{what}: the guest did not fill its RAM in {FILL_TIMEOUT} s")


def stop(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    proc.wait()


def log_value(log, pattern):
    m = re.findall(pattern, log)
    return float(m[-1]) if m else None


def snapshot_cli(bundle, verb, name, what, pattern):
    """Runs `pcvm snapshot VERB BUNDLE NAME`: its wall-clock ms and the ms that the line WHAT,
    matched by PATTERN, gives in the bundle's pcvm.log."""
    rc, out, secs = sh([PCVM, "snapshot", verb, bundle, name])
    if rc != 0:
        raise Broken(f"pcvm snapshot {verb}: {out.strip()}")
    log = open(os.path.join(bundle, "pcvm.log"), errors="replace").read()
    value = log_value(log, pattern)
    if value is None:
        raise Broken(f"pcvm.log has no '{what}' line for {name}")
    return secs * 1000, value


def bench_pcvm(size, fill, guest):
    d = os.path.join(TMP, f"pcvm{size}")
    os.makedirs(d)
    disk = os.path.join(d, "disk.qcow2")
    disk_with_guest(disk, guest)
    bundle = os.path.join(d, "vm.pcvm")
    rc, out, _ = sh([PCVM, "create", bundle, "--memory", str(size), "--disk", disk, "--net", "none"])
    if rc != 0:
        raise Broken(f"pcvm create: {out}")
    serial = os.path.join(d, "serial.txt")
    err = open(os.path.join(d, "stderr.txt"), "w")
    proc = subprocess.Popen([PCVM, "run", bundle, "--serial", serial], stdin=subprocess.DEVNULL,
                            stdout=err, stderr=err, start_new_session=True)
    res = {"pause": [], "take": [], "revert": [], "revert_cli": []}
    try:
        res["fill_s"] = wait_filled(proc, serial, "pcvm")
        time.sleep(1)
        for i in range(1, REPS + 1):
            name = f"bench{i}"
            taken = rf"snapshot \d+ '{name}' taken; guest paused ([\d.]+) ms"
            cli_ms, pause = snapshot_cli(bundle, "take", name, "taken; guest paused", taken)
            res["take"].append(cli_ms)
            res["pause"].append(pause)
            time.sleep(0.5)
            reverted = rf"reverted to snapshot \d+ '{name}' in ([\d.]+) ms"
            cli_ms, rev = snapshot_cli(bundle, "revert", name, "reverted to snapshot", reverted)
            res["revert_cli"].append(cli_ms)
            res["revert"].append(rev)
            time.sleep(0.5)
            if proc.poll() is not None:
                raise Broken(f"pcvm exited ({proc.returncode}) after the revert")
            ram = os.path.join(bundle, "snapshots", "1.ram")
            if i == 1 and os.path.exists(ram):
                res["ram_file_mib"] = os.stat(ram).st_blocks * 512 / 2**20
    finally:
        stop(proc)
        err.close()
    return res


class Monitor:
    def __init__(self, path):
        end = time.monotonic() + 30
        while True:
            try:
                self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.s.connect(path)
                break
            except OSError:
                self.s.close()
                if time.monotonic() > end:
                    raise Broken("QEMU's monitor socket did not open")
                time.sleep(0.1)
        self.s.settimeout(600)
        self.buf = b""
        self.until_prompt()

    def until_prompt(self):
        while b"(qemu) " not in self.buf:
            chunk = self.s.recv(65536)
            if not chunk:
                raise Broken("QEMU closed its monitor")
            self.buf += chunk
        text, self.buf = self.buf.split(b"(qemu) ", 1)
        return text.decode(errors="replace")

    def cmd(self, line):
        t0 = time.monotonic()
        self.s.sendall(line.encode() + b"\n")
        text = self.until_prompt()
        secs = time.monotonic() - t0
        # the monitor echoes the line; anything else it printed is an error or a warning
        extra = text.replace(line, "").replace("\r", "").replace("\n", "").strip()
        extra = re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", extra).strip()
        if "rror" in extra:
            raise Broken(f"QEMU: {line}: {extra}")
        return secs


def bench_qemu(size, fill, guest):
    d = os.path.join(TMP, f"qemu{size}")
    os.makedirs(d)
    disk = os.path.join(d, "disk.qcow2")
    disk_with_guest(disk, guest)
    serial = os.path.join(d, "serial.txt")
    mon = os.path.join(d, "monitor.sock")
    err = open(os.path.join(d, "stderr.txt"), "w")
    proc = subprocess.Popen([QEMU, "-accel", "kvm", "-machine", "pc", "-m", str(size),
                             "-nodefaults", "-vga", "std", "-display", "none",
                             "-serial", "file:" + serial, "-monitor", f"unix:{mon},server,nowait",
                             "-drive", f"file={disk},format=qcow2,if=ide"],
                            stdin=subprocess.DEVNULL, stdout=err, stderr=err,
                            start_new_session=True)
    res = {"pause": [], "take": [], "revert": [], "revert_cli": []}
    try:
        res["fill_s"] = wait_filled(proc, serial, "QEMU")
        time.sleep(1)
        m = Monitor(mon)
        for i in range(1, REPS + 1):
            name = f"bench{i}"
            t = m.cmd(f"savevm {name}") * 1000
            res["take"].append(t)
            res["pause"].append(t)
            time.sleep(0.5)
            res["revert"].append(m.cmd(f"loadvm {name}") * 1000)
            time.sleep(0.5)
            if i == 1:
                rc, out, _ = sh(["qemu-img", "info", "-U", "--output=json", disk])
                try:
                    snaps = json.loads(out).get("snapshots", [])
                    res["ram_file_mib"] = snaps[0]["vm-state-size"] / 2**20
                except (ValueError, IndexError, KeyError):
                    pass
        if proc.poll() is not None:
            raise Broken(f"QEMU exited ({proc.returncode})")
    finally:
        stop(proc)
        err.close()
    return res


def med(v):
    return statistics.median(v) if v else None


def f(v, unit="ms"):
    if v is None:
        return "FAILED"
    return f"{v:.0f} {unit}" if v >= 100 else f"{v:.1f} {unit}"


def ratio(q, p):
    return f"{q / p:.1f}x" if q is not None and p else "n/a"


results = {}
broken = 0
for size, fill in RUNS:
    guest = os.path.join(TMP, f"fill{fill}.bin")
    for vmm, fn in (("pcvm", bench_pcvm), ("qemu", bench_qemu)):
        t0 = time.monotonic()
        try:
            results[(vmm, size)] = fn(size, fill, guest)
            r = results[(vmm, size)]
            print(f"  {vmm:4} {size:5} MiB: guest filled {fill} MiB in {r['fill_s']:.0f} s; "
                  f"take {[round(x, 1) for x in r['take']]} ms, pause "
                  f"{[round(x, 1) for x in r['pause']]} ms, revert "
                  f"{[round(x, 1) for x in r['revert']]} ms "
                  f"({time.monotonic() - t0:.0f} s)", flush=True)
        except (Broken, OSError, subprocess.TimeoutExpired) as e:
            broken += 1
            results[(vmm, size)] = None
            print(f"  {vmm:4} {size:5} MiB: BROKEN: {e}", flush=True)
        subprocess.run(["rm", "-rf", os.path.join(TMP, f"{vmm}{size}")])

print()
print("Medians over %d take/revert cycles; ratio = QEMU / pcvm (higher: pcvm faster)" % REPS)
hdr = ("RAM", "written", "pcvm pause", "QEMU pause", "ratio", "pcvm take", "QEMU take", "ratio",
       "pcvm revert", "(CLI)", "QEMU revert", "ratio", "saved pcvm/QEMU")
row = "%-8s %-8s %11s %11s %7s %10s %10s %7s %12s %9s %12s %7s %16s"
print(row % hdr)
misses = []
for size, fill in RUNS:
    p, q = results.get(("pcvm", size)), results.get(("qemu", size))
    pp, pt, pr, prc = ((med(p["pause"]), med(p["take"]), med(p["revert"]), med(p["revert_cli"]))
                       if p else (None,) * 4)
    qp, qt, qr = (med(q["pause"]), med(q["take"]), med(q["revert"])) if q else (None,) * 3
    saved = "%s/%s" % (f(p.get("ram_file_mib") if p else None, "MiB"),
                       f(q.get("ram_file_mib") if q else None, "MiB"))
    print(row % (f"{size} MiB", f"{fill} MiB", f(pp), f(qp), ratio(qp, pp), f(pt), f(qt),
                 ratio(qt, pt), f(pr), f(prc), f(qr), ratio(qr, pr), saved))
    if p is None:
        misses.append(f"no pcvm numbers at {size} MiB")
        continue
    for what, limit in (("pause", 20), ("revert", 50)):
        for i, v in enumerate(p[what]):
            if v > limit:
                misses.append(f"{what} {v:.1f} ms > {limit} ms at {size} MiB (cycle {i + 1})")
print()
print("Goal (issue 5): guest pause <= 20 ms and revert <= 50 ms at every size (every cycle): "
      + ("met" if not misses else "NOT met: " + "; ".join(misses)))
sys.exit(1 if broken else 0)
PY

echo "pcvm vs QEMU: live snapshot (guest pause, total) and revert, against guest RAM size"
echo "  pcvm    $("$PCVM" version 2>/dev/null | head -n 1) ($PCVM)"
echo "  QEMU    $("$QEMU" --version | head -n 1) (savevm/loadvm over HMP)"
echo "  guest   bench/guests/snapfill.asm on a 64 MiB qcow2 IDE disk, 1 vCPU; RAM written:" \
	"min(RAM - 16 MiB, $FILL_MAX MiB)"
host_line
echo "  disk    $(df -Ph "$TMP" | awk 'NR == 2 { print $1 " (" $4 " free)" }') for $TMP"
echo
python3 "$TMP/bench.py" "$PCVM" "$QEMU" "$TMP" "$REPS" "${FILLS[@]}" &
PY_PID=$!
trap 'kill -TERM "$PY_PID" 2>/dev/null; wait "$PY_PID"; exit 130' INT TERM
wait "$PY_PID"
status=$?
PY_PID=''
exit $status
