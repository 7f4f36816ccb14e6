"""Helpers for pcvm's snapshot tests (tests/integration/snapshot*.py): a VM bundle on a qcow2
disk holding one of the guests in tests/snapshot/, the serial output of the counter guest
(tests/snapshot/counter.asm), the snapshot tree in DIR/snapshots/index.conf, and what
qemu-img says about the disk (read with -U / --force-share while pcvm has it open).
"""
import configparser
import json
import os
import re
import signal
import subprocess
import sys
import time
import types

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
from tap import Tap, in_ci, read, require_kvm, run, tempdir  # noqa: E402

GUEST_DIR = os.path.normpath(os.path.join(HERE, "..", "snapshot"))
INCLUDE_DIR = os.path.normpath(os.path.join(HERE, "..", "guests"))

# tests/snapshot/counter.asm
COUNTER_LBA = 2048
COUNTER_MAGIC = b"SNAP"
COUNT_ADDR = 0x600          # the counter in low RAM (guest-physical = offset in ID.ram)
HIGH_ADDR = 0x08000000      # its copy at 128 MiB
COUNT_LINE = re.compile(r"^c=([0-9A-F]{8}) d=([0-9A-F]{8})$")


def missing_tools(*tools):
    return [t for t in tools
            if not any(os.access(os.path.join(d, t), os.X_OK)
                       for d in os.environ.get("PATH", "").split(os.pathsep))]


def require_tools(tap, *tools):
    """True if TOOLS are installed; else a visible skip (a failure in CI)."""
    missing = missing_tools(*tools)
    if not missing:
        return True
    why = f"{', '.join(missing)} not installed (apt-get install qemu-utils nasm)"
    if in_ci():
        tap.ok(False, "the tools the snapshot tests need are installed", why)
    else:
        tap.skip("snapshot tests", why)
    return False


def assemble(name, tmp):
    """tests/snapshot/NAME.asm -> (path of the binary, its bytes)."""
    out = os.path.join(tmp, name + ".bin")
    subprocess.run(["nasm", "-f", "bin", "-i", INCLUDE_DIR + "/", "-i", GUEST_DIR + "/",
                    os.path.join(GUEST_DIR, name + ".asm"), "-o", out], check=True)
    with open(out, "rb") as f:
        return out, f.read()


def main(guest_name, vm_name, run_tests, **vm_args):
    """What each snapshot test's main does: skip without KVM or the tools, assemble
    tests/snapshot/GUEST_NAME.asm into a temporary folder, make the VM VM_NAME there and call
    run_tests(tap, vm, guest_bytes); the VM is killed afterwards, whatever happened."""
    tap = Tap()
    if not require_kvm(tap) or not require_tools(tap, "qemu-img", "qemu-io", "nasm"):
        return tap.done()
    with tempdir() as tmp:
        guest, guest_bytes = assemble(guest_name, tmp)
        vm = Vm(sys.argv[1], tmp, vm_name, guest, **vm_args)
        try:
            run_tests(tap, vm, guest_bytes)
        finally:
            vm.kill()
    return tap.done()


def qemu_img(*args, timeout=60):
    return run(["qemu-img", *args], timeout)


def disk_snapshot_ids(disk):
    """IDs of the disk's internal snapshots (`qemu-img info`, as `qemu-img snapshot -l`), or
    None with the message when qemu-img fails."""
    rc, out, err = qemu_img("info", "-U", "--output=json", disk)
    if rc != 0:
        return None, err
    return sorted((s["id"] for s in json.loads(out).get("snapshots", [])), key=int), ""


def snapshot_list_ids(disk):
    """IDs in `qemu-img snapshot -l -U` (the table the issue names), and its text."""
    rc, out, err = qemu_img("snapshot", "-l", "-U", disk)
    ids = []
    for line in out.splitlines():
        m = re.match(r"^(\d+)\s+", line)
        if m:
            ids.append(m.group(1))
    return (sorted(ids, key=int) if rc == 0 else None), out + err


def check_image(disk, live):
    """`qemu-img check` (with -U when LIVE): (ok, exit code, text). A stopped VM's image must be
    clean (0); an open one may show leaks (3): pcvm reserves clusters in batches and gives the
    unused ones back at a clean close (src/block/qcow2_refcount.c), nothing worse."""
    args = ["check"] + (["-U"] if live else []) + [disk]
    rc, out, err = qemu_img(*args)
    text = out + err
    if live:
        ok = rc in (0, 3) and "ERROR" not in text and "corrupt" not in text.lower()
    else:
        ok = rc == 0
    return ok, rc, text


def qemu_io_read(disk, offset, length):
    """LENGTH bytes at OFFSET of the disk's current state, read-only with --force-share."""
    rc, out, err = run(["qemu-io", "-r", "-U", "-f", "qcow2", "-c",
                        f"read -v {offset} {length}", disk], 30)
    if rc != 0:
        raise RuntimeError(f"qemu-io read failed: {out}{err}")
    data = bytearray()
    for line in out.splitlines():
        m = re.match(r"^[0-9a-f]+:\s+((?:[0-9a-f]{2} )+)", line)
        if m:
            data += bytes.fromhex(m.group(1).replace(" ", ""))
    return bytes(data[:length])


def snapshot_disk_read(disk, snap_id, offset, length, tmp):
    """LENGTH bytes at OFFSET of the disk as internal snapshot SNAP_ID holds it."""
    raw = os.path.join(tmp, f"snap-{snap_id}.raw")
    if os.path.exists(raw):
        os.unlink(raw)
    rc, out, err = qemu_img("convert", "-U", "-f", "qcow2", "-l", f"snapshot.id={snap_id}",
                            "-O", "raw", disk, raw)
    if rc != 0:
        raise RuntimeError(f"qemu-img convert -l snapshot.id={snap_id}: {out}{err}")
    try:
        with open(raw, "rb") as f:
            f.seek(offset)
            return f.read(length)
    finally:
        os.unlink(raw)


def counter_sector_value(data):
    """The count in the counter sector's first 12 bytes, or None for no (valid) count."""
    if len(data) < 12 or data[:4] != COUNTER_MAGIC:
        return None
    c = int.from_bytes(data[4:8], "little")
    if int.from_bytes(data[8:12], "little") != (~c & 0xFFFFFFFF):
        return None
    return c


def ram_word(path, addr):
    """The 32-bit word at guest-physical ADDR (< 3 GiB) of a RAM file (ID.ram)."""
    with open(path, "rb") as f:
        f.seek(addr)
        return int.from_bytes(f.read(4).ljust(4, b"\0"), "little")


class Tree:
    """DIR/snapshots/index.conf: nodes {id: {"parent", "name", "has_memory"}} and current."""

    def __init__(self, path):
        self.nodes, self.current, self.error = {}, None, None
        if not os.path.exists(path):
            return
        cp = configparser.RawConfigParser(strict=False, interpolation=None)
        cp.optionxform = str
        try:
            cp.read(path)
        except configparser.Error as e:
            self.error = str(e)
            return
        for sec in cp.sections():
            if sec.startswith("snapshot "):
                s = cp[sec]
                self.nodes[sec[9:]] = {"parent": s.get("parent", "") or None,
                                       "name": s.get("name", ""),
                                       "has_memory": s.get("has-memory", "false") == "true"}
        if cp.has_section("tree"):
            self.current = cp["tree"].get("current", "") or None

    def ids(self):
        return sorted(self.nodes, key=int)

    def __repr__(self):
        return f"current={self.current} nodes={self.nodes}"


def full_lines(text, offset):
    """The complete lines of TEXT after byte OFFSET: a line cut at OFFSET and the unfinished
    last one are left out (a revert replays the line the snapshot was in)."""
    part = text[offset:]
    pieces = part.split("\n")
    if offset > 0 and not text[:offset].endswith("\n"):
        pieces = pieces[1:]
    return [p.rstrip("\r") for p in pieces[:-1]]


def counts(text, offset=0):
    """[(c, d)] of the counter guest's complete step lines after OFFSET."""
    out = []
    for line in full_lines(text, offset):
        m = COUNT_LINE.match(line)
        if m:
            out.append((int(m.group(1), 16), int(m.group(2), 16)))
    return out


def consecutive(values):
    return all(b == a + 1 for a, b in zip(values, values[1:]))


class Vm:
    """A bundle on a qcow2 disk (`pcvm create --disk-size`) with GUEST_BIN written at sector 0,
    or on DISK (an image made elsewhere) as given."""

    def __init__(self, binary, tmp, name, guest_bin=None, memory=256, cpus=1, disk=None,
                 disk_size="64M"):
        self.binary, self.tmp, self.name = binary, tmp, name
        self.bundle = os.path.join(tmp, name + ".pcvm")
        args = [binary, "create", self.bundle, "--memory", str(memory), "--cpus", str(cpus)]
        args += ["--disk", disk] if disk else ["--disk-size", disk_size]
        rc, out, err = run(args, 30)
        if rc != 0:
            raise RuntimeError(f"pcvm create failed: {out}{err}")
        conf = read(os.path.join(self.bundle, "vm.conf"))
        f = [l.split("=", 1)[1] for l in conf.splitlines() if l.startswith("file=")][0]
        self.disk = f if os.path.isabs(f) else os.path.join(self.bundle, f)
        if guest_bin and not disk:
            size = os.path.getsize(guest_bin)
            rc, out, err = run(["qemu-io", "-f", "qcow2", "-c",
                                f"write -q -s {guest_bin} 0 {size}", self.disk], 60)
            if rc != 0:
                raise RuntimeError(f"qemu-io could not write the guest: {out}{err}")
        self.serial_path = os.path.join(tmp, name + ".serial")
        self.proc = None
        self.runs = 0
        self.errfile = None

    # --- the VM process ---

    def start(self, *extra, env=None):
        """`pcvm run` in the background (COM1 appended to self.serial_path); ENV: variables
        added to the environment."""
        self.runs += 1
        self.errfile = os.path.join(self.tmp, f"{self.name}.run{self.runs}.stderr")
        with open(self.errfile, "w") as err:
            self.proc = subprocess.Popen([self.binary, "run", self.bundle, "--serial",
                                          self.serial_path, *extra],
                                         stdin=subprocess.DEVNULL, stdout=err, stderr=err,
                                         start_new_session=True,
                                         env=dict(os.environ, **env) if env else None)
        return self.proc

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout=20):
        """`pcvm stop`; the process's exit code (None if it had to be killed)."""
        if not self.running():
            return self.proc.returncode if self.proc else None
        self.cli("stop", self.bundle)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return None

    def kill(self):
        if self.running():
            os.kill(self.proc.pid, signal.SIGKILL)
        if self.proc:
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass

    def stderr(self):
        return read(self.errfile) if self.errfile else ""

    def cli(self, *args, timeout=60):
        return run([self.binary, *args], timeout)

    def snap(self, *args, timeout=60):
        """`pcvm snapshot OP DIR ARGS...`: (rc, stdout, stderr, seconds)."""
        t0 = time.monotonic()
        rc, out, err = run([self.binary, "snapshot", args[0], self.bundle, *args[1:]], timeout)
        return rc, out, err, time.monotonic() - t0

    def status(self):
        rc, out, err = self.cli("status", self.bundle)
        m = re.search(r"state: (\w+)", out)
        return m.group(1) if m else f"(exit {rc}: {out}{err})"

    def control(self, cmd, timeout=30, **args):
        """One request on the control socket; the reply object (events are skipped)."""
        return self.control_events(cmd, timeout, **args)[1]

    def control_events(self, cmd, timeout=30, request_id=None, **args):
        """One request on the control socket: (the event lines before the reply, the reply or
        None)."""
        import socket
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(timeout)
        s.connect(os.path.join(self.bundle, "run", "control.sock"))
        req = {"cmd": cmd, "args": args}
        if request_id is not None:
            req["id"] = request_id
        s.sendall(json.dumps(req).encode() + b"\n")
        buf, events = b"", []
        try:
            while True:
                while b"\n" not in buf:
                    chunk = s.recv(65536)
                    if not chunk:
                        return events, None
                    buf += chunk
                line, buf = buf.split(b"\n", 1)
                msg = json.loads(line)
                if "ok" in msg:
                    return events, msg
                events.append(msg)
        finally:
            s.close()

    def revert_paused(self, name, how="cli", verb="revert"):
        """Reverts the running VM to NAME with the guest paused around it: pause, note COM1's
        size, revert (`pcvm snapshot VERB`, or snapshot-VERB on the control socket when HOW is
        "socket"), resume. A revert keeps a paused VM paused (pc_vcpus_hold and
        pc_cpus_start honour pc->paused), so every byte after the offset is the reverted
        guest's, however long the revert takes. Returns a namespace: offset, ok, detail (the
        CLI's output or the reply), secs (the revert alone) and state (the control socket's
        status between the revert and the resume: "paused" unless something is wrong)."""
        r = types.SimpleNamespace(offset=None, ok=False, detail="", secs=0.0, state=None)
        p = self.control("pause")
        if not (p and p.get("ok")):
            r.detail = f"pause: {p}"
            return r
        try:
            r.offset = self.serial_size()
            t0 = time.monotonic()
            if how == "socket":
                reply = self.control("snapshot-" + verb, snapshot=name)
                r.ok, r.detail = bool(reply and reply.get("ok")), str(reply)
            else:
                rc, out, err = run([self.binary, "snapshot", verb, self.bundle, name], 60)
                r.ok, r.detail = rc == 0, out + err
            r.secs = time.monotonic() - t0
            if self.running():
                r.state = ((self.control("status") or {}).get("result") or {}).get("state")
        finally:
            if self.running():
                self.control("resume")
        return r

    # --- what the VM left behind ---

    def serial(self):
        """COM1 as written (bytes as latin-1, "\r\n" kept: offsets are file offsets)."""
        try:
            with open(self.serial_path, "rb") as f:
                return f.read().decode("latin-1")
        except FileNotFoundError:
            return ""

    def serial_size(self):
        try:
            return os.path.getsize(self.serial_path)
        except FileNotFoundError:
            return 0

    def log(self):
        return read(os.path.join(self.bundle, "pcvm.log"))

    def snapdir(self, *parts):
        return os.path.join(self.bundle, "snapshots", *parts)

    def tree(self):
        return Tree(self.snapdir("index.conf"))

    def snapshot_files(self):
        try:
            return sorted(os.listdir(self.snapdir()))
        except FileNotFoundError:
            return []

    def wait(self, pred, seconds, step=0.05):
        """Polls PRED until true (its value), the VM exits, or SECONDS pass (None)."""
        end = time.monotonic() + seconds
        while True:
            v = pred()
            if v:
                return v
            if time.monotonic() > end or (self.proc is not None and self.proc.poll() is not None):
                return pred() or None
            time.sleep(step)

    # --- the counter guest ---

    def counts(self, offset=0):
        return counts(self.serial(), offset)

    def last_count(self, offset=0):
        c = self.counts(offset)
        return c[-1][0] if c else None

    def wait_counts(self, n, offset=0, seconds=30):
        """The step lines after OFFSET once there are at least N of them (None on timeout)."""
        return self.wait(lambda: (lambda c: c if len(c) >= n else None)(self.counts(offset)),
                         seconds)

    def wait_count_above(self, value, seconds=30):
        return self.wait(lambda: (self.last_count() or -1) > value, seconds)

    def mismatches(self, offset=0):
        return [l for l in full_lines(self.serial(), offset) + [self.serial()[offset:]]
                if "MISMATCH" in l or "DISKFAIL" in l][:5]

    def disk_count(self):
        """The count in the counter sector of the disk's current state (None: none there)."""
        return counter_sector_value(qemu_io_read(self.disk, COUNTER_LBA * 512, 16))

    def consistency(self, live, expect_ids=None, strays_allowed=False):
        """Problems (a list of strings, empty when fine): qemu-img check, the disk's internal
        snapshots against the tree (the same IDs, in `qemu-img snapshot -l` too), each memory
        snapshot's files, and (unless STRAYS_ALLOWED) no files of snapshots the tree lacks."""
        problems = []
        ok, rc, text = check_image(self.disk, live)
        if not ok:
            problems.append(f"qemu-img check{' -U' if live else ''} exit {rc}: {text[-1500:]}")
        tree = self.tree()
        if tree.error:
            problems.append(f"index.conf: {tree.error}")
        ids, why = disk_snapshot_ids(self.disk)
        listed, ltext = snapshot_list_ids(self.disk)
        if ids is None:
            problems.append(f"qemu-img info: {why}")
        elif ids != tree.ids():
            problems.append(f"disk snapshots {ids} but the tree lists {tree.ids()}")
        if listed != tree.ids():
            problems.append(f"qemu-img snapshot -l lists {listed}, the tree {tree.ids()}:\n"
                            + ltext)
        if expect_ids is not None and tree.ids() != sorted(expect_ids, key=int):
            problems.append(f"the tree lists {tree.ids()}, expected {sorted(expect_ids)}")
        files = self.snapshot_files()
        for sid, n in tree.nodes.items():
            want = [".state", ".ram", ".vram"] if n["has_memory"] else []
            for ext in want:
                if sid + ext not in files:
                    problems.append(f"snapshot {sid} has no {sid}{ext}")
        if not strays_allowed:
            for f in files:
                sid = f.split(".", 1)[0]
                if sid.isdigit() and sid not in tree.nodes:
                    problems.append(f"{f} belongs to no snapshot in the tree")
        return problems


def log_tail(log, n=12):
    """The last N lines of pcvm.log that are not SeaBIOS's."""
    return "\n".join([l for l in log.splitlines() if " firmware: " not in l][-n:])


def progress_problems(cmd, events, reply, request_id, phases):
    """What is wrong with the progress events (control.h) a request CMD with REQUEST_ID got
    before REPLY: none at all, or of another request or command; done outside 0..total or
    going back within a phase; PHASES (each must appear and end at done == total)."""
    problems = []
    progress = [e for e in events if e.get("event") == "progress"]
    if not progress:
        problems.append(f"no progress event before the reply (events: {events})")
    last = {}
    for e in progress:
        d = e.get("data") or {}
        phase, done, total = d.get("phase"), d.get("done"), d.get("total")
        if e.get("id") != request_id or d.get("op") != cmd:
            problems.append(f"an event of another request: {e}")
        if not isinstance(done, int) or not isinstance(total, int) or not 0 <= done <= total:
            problems.append(f"done/total out of range: {e}")
            continue
        if done < last.get(phase, (0, 0))[0]:
            problems.append(f"phase {phase}: done went back to {done}: {e}")
        last[phase] = (done, total)
    for phase in phases:
        if phase not in last or last[phase][0] != last[phase][1] or last[phase][1] == 0:
            problems.append(f"phase {phase} missing or not finished: {last.get(phase)}")
    if not reply or not reply.get("ok") or reply.get("id") != request_id:
        problems.append(f"no good reply after the events: {reply}")
    return problems


def parse_size(text):
    """Bytes in "640.0 KiB", "1.1 MiB", "512 bytes" (GLib's IEC sizes, whose space may be a
    no-break space)."""
    m = re.match(r"^([0-9.]+)\s(bytes|KiB|MiB|GiB)$", text.strip())
    if not m:
        return None
    unit = {"bytes": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30}[m.group(2)]
    return float(m.group(1)) * unit


def list_space(text):
    """{id: (memory bytes or None, disk bytes or None)} from `pcvm snapshot list`."""
    out = {}
    for line in text.splitlines():
        m = re.match(r"^\s*(\d+)  ", line)
        if not m:
            continue
        mem = re.search(r"memory ([0-9.]+\s(?:bytes|KiB|MiB|GiB))", line)
        disk = re.search(r"disk ([0-9.]+\s(?:bytes|KiB|MiB|GiB))", line)
        out[m.group(1)] = (parse_size(mem.group(1)) if mem else None,
                           parse_size(disk.group(1)) if disk else None)
    return out
