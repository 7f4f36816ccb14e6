"""Helpers shared by pcvm's Python tests: TAP output, running pcvm and QEMU on a disk image."""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time


class Tap:
    """Test Anything Protocol output, one line per check, as meson's 'tap' protocol reads it."""

    def __init__(self):
        self.n = 0
        self.failed = 0

    def ok(self, cond, name, detail=""):
        self.n += 1
        if cond:
            print(f"ok {self.n} {name}", flush=True)
        else:
            self.failed += 1
            print(f"not ok {self.n} {name}", flush=True)
            for line in str(detail).splitlines()[-40:]:
                print(f"#   {line}", flush=True)
        return cond

    def skip(self, name, reason):
        self.n += 1
        print(f"ok {self.n} {name} # SKIP {reason}", flush=True)

    def bail(self, reason):
        print(f"Bail out! {reason}", flush=True)
        sys.exit(1)

    def done(self):
        print(f"1..{self.n}", flush=True)
        return 1 if self.failed else 0


def in_ci():
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def kvm_problem():
    """None if /dev/kvm can be used, else why not."""
    if not os.path.exists("/dev/kvm"):
        return "no /dev/kvm on this machine"
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return "/dev/kvm is not accessible to this user"
    return None


def has_hw_virt():
    with open("/proc/cpuinfo") as f:
        flags = f.read()
    return " vmx" in flags or " svm" in flags


def require_kvm(tap):
    """Tests that need /dev/kvm skip with a reason where it is absent, but never in CI."""
    problem = kvm_problem()
    if problem is None:
        return True
    if in_ci():
        tap.ok(False, "/dev/kvm is usable", problem + " (CI needs /dev/kvm)")
    else:
        tap.skip("/dev/kvm is usable", problem)
    return False


def nasm(src_dir, name, out):
    subprocess.run(["nasm", "-f", "bin", "-i", src_dir + "/", os.path.join(src_dir, name + ".asm"),
                    "-o", out], check=True)


def make_disk(path, boot, size=1 << 20, extra=None):
    """A raw disk: the assembled guest at sector 0, EXTRA {sector: bytes} placed after it."""
    data = bytearray(boot)
    data += bytes(size - len(data))
    for sector, blob in (extra or {}).items():
        data[sector * 512:sector * 512 + len(blob)] = blob
    with open(path, "wb") as f:
        f.write(data)


def guest_disk(src_dir, name, tmp, disk_name=None):
    """Assembles test guest NAME (tmp/NAME.bin, once) and writes it onto a raw disk,
    tmp/DISK_NAME.img (default NAME); returns the disk's path."""
    image = os.path.join(tmp, name + ".bin")
    if not os.path.exists(image):
        nasm(src_dir, name, image)
    with open(image, "rb") as f:
        boot = f.read()
    disk = os.path.join(tmp, (disk_name or name) + ".img")
    make_disk(disk, boot)
    return disk


def run(cmd, timeout, env=None, **kw):
    """Runs CMD; returns (exit code or None on timeout, stdout, stderr)."""
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         errors="replace", env=env, start_new_session=True, **kw)
    try:
        out, err = p.communicate(timeout=timeout)
        return p.returncode, out, err
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        out, err = p.communicate()
        return None, out, err


class Pcvm:
    def __init__(self, binary, workdir):
        self.binary = binary
        self.workdir = workdir

    def create(self, name, *args):
        bundle = os.path.join(self.workdir, name + ".pcvm")
        rc, out, err = run([self.binary, "create", bundle, *args], 30)
        if rc != 0:
            raise RuntimeError(f"pcvm create failed: {err}")
        return bundle

    def run_guest(self, disk, cpus=1, memory=256, timeout=60, name="guest"):
        """Boots DISK in a fresh bundle; returns (exit code, serial output, pcvm.log, stderr)."""
        bundle = self.create(name, "--disk", disk, "--cpus", str(cpus), "--memory", str(memory),
                             "--test-exit")
        serial = os.path.join(self.workdir, name + ".serial")
        rc, out, err = run([self.binary, "run", bundle, "--serial", serial], timeout)
        return rc, read(serial), read(os.path.join(bundle, "pcvm.log")), err


def read(path):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return ""


def qemu_available():
    return shutil.which("qemu-system-x86_64") is not None


def run_qemu(disk, workdir, cpus=1, memory=256, timeout=60, name="qemu"):
    """The same disk under QEMU with KVM, SeaBIOS and isa-debug-exit: (exit code, serial)."""
    serial = os.path.join(workdir, name + ".serial")
    cmd = ["qemu-system-x86_64", "-accel", "kvm", "-machine", "pc", "-m", str(memory),
           "-smp", str(cpus), "-nodefaults", "-vga", "std", "-display", "none",
           "-serial", "file:" + serial, "-device", "isa-debug-exit,iobase=0xf4,iosize=4",
           "-drive", f"file={disk},format=raw,if=ide"]
    rc, out, err = run(cmd, timeout)
    return rc, read(serial)


def tempdir():
    return tempfile.TemporaryDirectory(prefix="pcvm-test-")


def elapsed(start):
    return f"{time.monotonic() - start:.1f}s"
