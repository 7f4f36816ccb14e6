"""Helpers of the desktop-app test (gui.py): an X server (Xvfb) and a D-Bus session of its own,
pcvm-gtk started in them, dogtail reaching it through the accessibility tree, screenshots of
what a person would see, and a VM's control socket for checking from outside the app."""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

SCREEN = "1280x1024x24"


def python_with_dogtail():
    """None if this python can drive the app; else re-executes the test with one that can (the
    system python has python3-dogtail; meson may have found another), or says what is missing."""
    try:
        import gi  # noqa: F401
        import dogtail  # noqa: F401
        return None
    except ImportError:
        pass
    system = "/usr/bin/python3"
    if os.path.exists(system) and os.path.realpath(system) != os.path.realpath(sys.executable):
        probe = subprocess.run([system, "-c", "import gi, dogtail"], capture_output=True)
        if probe.returncode == 0:
            os.execv(system, [system] + sys.argv)
    return "python3-dogtail is not installed (apt-get install python3-dogtail)"


def missing_tools():
    """What the test needs beyond python: the reason to skip, or None."""
    needs = {"Xvfb": "xvfb", "dbus-daemon": "dbus", "nasm": "nasm", "xorriso": "xorriso"}
    missing = [pkg for tool, pkg in needs.items() if not shutil.which(tool)]
    if not os.path.exists("/usr/libexec/at-spi-bus-launcher"):
        missing.append("at-spi2-core")
    if missing:
        return "needs " + ", ".join(missing) + " (apt-get install " + " ".join(missing) + ")"
    return python_with_dogtail()


class Session:
    """Xvfb and a D-Bus session bus (the accessibility bus is activated on it). The test's own
    environment points at them, so that dogtail, imported afterwards, talks to the same bus."""

    def __init__(self, tmp):
        self.procs = []
        x = subprocess.Popen(["Xvfb", "-displayfd", "1", "-screen", "0", SCREEN, "-nolisten",
                              "tcp"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                             start_new_session=True)
        self.procs.append(x)
        display = x.stdout.readline().decode().strip()
        if not display:
            raise RuntimeError("Xvfb did not start")
        env = os.environ
        env["DISPLAY"] = ":" + display
        for var, sub in (("XDG_DATA_HOME", "data"), ("XDG_CONFIG_HOME", "config"),
                         ("XDG_CACHE_HOME", "cache"), ("XDG_RUNTIME_DIR", "runtime")):
            env[var] = os.path.join(tmp, sub)
            os.makedirs(env[var], mode=0o700, exist_ok=True)
        env["GSETTINGS_BACKEND"] = "memory"
        env.pop("NO_AT_BRIDGE", None)  # GTK's bridge to the accessibility bus stays on
        env["GTK_THEME"] = "Adwaita"
        # GTK's and gtk-vnc's own allocations are not ours to leak-check
        env["ASAN_OPTIONS"] = env.get("ASAN_OPTIONS", "") + ":detect_leaks=0"
        bus = subprocess.Popen(["dbus-daemon", "--session", "--nofork", "--print-address=1"],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                               start_new_session=True)
        self.procs.append(bus)
        env["DBUS_SESSION_BUS_ADDRESS"] = bus.stdout.readline().decode().strip()

    def close(self):
        for p in reversed(self.procs):  # the bus's process group holds the activated a11y bus
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            p.wait(timeout=10)


class App:
    """pcvm-gtk running in the session."""

    def __init__(self, binary, library, log, extra_env=None):
        env = dict(os.environ, **(extra_env or {}))
        if "PCVM_CPUINFO" not in env:
            # the app warns once about a CPU without VT-x/AMD-V (as this build machine's is):
            # tests see a CPU with it unless they ask otherwise
            cpuinfo = log + ".cpuinfo"
            with open(cpuinfo, "w") as f:
                f.write("processor\t: 0\nflags\t\t: fpu vme de pse tsc msr pae vmx\n")
            env["PCVM_CPUINFO"] = cpuinfo
        self.log = log
        self.proc = subprocess.Popen([binary, "--library", library], env=env,
                                     stdout=open(log, "w"), stderr=subprocess.STDOUT,
                                     start_new_session=True)

    def running(self):
        return self.proc.poll() is None

    def stop(self):
        if self.running():
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def output(self):
        with open(self.log, errors="replace") as f:
            return f.read()


def dogtail():
    """dogtail's tree, configured for a test: no desktop-wide a11y setting is needed (GTK 3
    exports its tree whenever the accessibility bus exists), short waits."""
    from dogtail.config import config
    config.checkForA11y = False
    config.logDebugToFile = False
    config.logDebugToStdOut = False
    config.searchCutoffCount = 10
    config.searchBackoffDuration = 0.3
    config.actionDelay = 0.2
    config.defaultDelay = 0.2
    from dogtail import tree
    sys.excepthook = sys.__excepthook__  # dogtail's hook hides tracebacks
    return tree


def wait(cond, timeout, step=0.3):
    """Polls COND until it returns something true (returned) or TIMEOUT seconds pass (None)."""
    end = time.monotonic() + timeout
    while True:
        try:
            v = cond()
        except Exception:  # a node that went away while looked at: look again
            v = None
        if v:
            return v
        if time.monotonic() > end:
            return None
        time.sleep(step)


def find(root, pred, timeout=10):
    """The first node under ROOT for which PRED holds, waiting up to TIMEOUT seconds."""
    return wait(lambda: root.findChild(pred, retry=False, requireResult=False), timeout)


def by(name=None, role=None, showing=None):
    def pred(n):
        return ((name is None or n.name == name) and (role is None or n.roleName == role)
                and (showing is None or n.showing == showing))
    return pred


def click(node):
    """Activates NODE through its accessible action (no pointer needed)."""
    for action in ("click", "press", "activate", "toggle"):
        if action in node.actions:
            node.doActionNamed(action)
            return
    node.click()


def press(win, name, timeout=15):
    """Clicks WIN's button NAME once it is sensitive (the app holds actions back while one is
    under way, and learns a VM's state by polling, once a second): whether it was."""
    button = find(win, by(name, "push button"))
    ready = button and wait(lambda: button.sensitive, timeout)
    if ready:
        click(button)
    return ready


def screenshot(path, extents=None):
    """The screen, or the rectangle EXTENTS (x, y, w, h) of it, as a PNG; returns the pixbuf."""
    import gi
    gi.require_version("Gdk", "3.0")
    from gi.repository import Gdk
    root = Gdk.get_default_root_window()
    x, y, w, h = extents or (0, 0, root.get_width(), root.get_height())
    x, y = max(0, x), max(0, y)
    w, h = min(w, root.get_width() - x), min(h, root.get_height() - y)
    pix = Gdk.pixbuf_get_from_window(root, x, y, w, h)
    if path:
        pix.savev(path, "png", [], [])
    return pix


def pixels(pix):
    return bytes(pix.get_pixels())


def make_iso(guests, tmp, name, volume_id):
    """An El Torito ISO TMP/NAME.iso booting tests/gui/guest.asm (GUESTS: tests/guests, for its
    include files), with volume id VOLUME_ID; returns its path."""
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.join(tmp, name + "-root")
    os.makedirs(root, exist_ok=True)
    boot = os.path.join(root, "boot.img")
    subprocess.run(["nasm", "-f", "bin", "-i", guests + "/", os.path.join(here, "guest.asm"),
                    "-o", boot], check=True)
    iso = os.path.join(tmp, name + ".iso")
    subprocess.run(["xorriso", "-as", "mkisofs", "-quiet", "-V", volume_id, "-b", "boot.img",
                    "-no-emul-boot", "-boot-load-size", "4", "-o", iso, root], check=True,
                   capture_output=True)
    return iso


def control(bundle, cmd, args=None, timeout=10):
    """One control-socket request to the VM of BUNDLE: its result, or raises with the error."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(os.path.join(bundle, "run", "control.sock"))
    s.sendall(json.dumps({"cmd": cmd, "args": args or {}, "id": 1}).encode() + b"\n")
    buf = b""
    try:
        while True:
            while b"\n" not in buf:
                chunk = s.recv(65536)
                if not chunk:
                    raise RuntimeError("the VM closed the connection")
                buf += chunk
            line, buf = buf.split(b"\n", 1)
            msg = json.loads(line)
            if "ok" in msg:
                if not msg["ok"]:
                    raise RuntimeError(msg.get("error"))
                return msg["result"]
    finally:
        s.close()


def vm_state(bundle):
    try:
        return control(bundle, "status", timeout=5)["state"]
    except (OSError, RuntimeError):
        return "off"


def text_screen(bundle):
    try:
        return control(bundle, "text-screen")["text"]
    except (OSError, RuntimeError):
        return ""


def ticks(bundle, timeout=0):
    """The tick counter that tests/gui/guest.asm shows on its text screen (row 5); None if it
    is not there within TIMEOUT seconds (the VM does not answer, or has not shown it yet)."""
    end = time.monotonic() + timeout
    while True:
        for line in text_screen(bundle).splitlines():
            if line.strip().startswith("ticks "):
                return int(line.split()[1], 16)
        if time.monotonic() > end:
            return None
        time.sleep(0.3)


def kill_vm(bundle):
    """Ends a VM the test left running (pcvm-gtk starts them in sessions of their own)."""
    try:
        with open(os.path.join(bundle, "run", "pid")) as f:
            os.kill(int(f.read().strip()), signal.SIGKILL)
    except (OSError, ValueError):
        pass


def read_tail(path, n=3000):
    """The last N characters of a text file."""
    with open(path, errors="replace") as f:
        return f.read()[-n:]


def main(doc, what, make, bundles):
    """What every desktop test's main does: the tools and KVM checked (a missing tool fails in CI
    and skips elsewhere), a private X/D-Bus session, MAKE(tap, dogtail, argv, tmp).run(), and
    the VMs of BUNDLES (names in the temp library) killed whatever happened.
    argv: PCVM-GTK PCVM GUEST_DIR OUT_DIR (screenshots)."""
    from tap import Tap, in_ci, require_kvm, tempdir
    if len(sys.argv) != 5:
        sys.exit(doc)
    tap = Tap()
    missing = missing_tools()
    if missing:
        if in_ci():
            tap.ok(False, "the desktop test's tools are installed", missing)
        else:
            tap.skip(what, missing)
        return tap.done()
    if not require_kvm(tap):
        return tap.done()
    out = sys.argv[4]
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    with tempdir() as tmp:
        session = Session(tmp)
        test = None
        try:
            test = make(tap, dogtail(), sys.argv[1:5], tmp)
            test.run()
        finally:
            if test and test.app:
                test.app.stop()
            for b in bundles:
                kill_vm(os.path.join(tmp, "library", b))
            session.close()
    print(f"# screenshots in {out}", flush=True)
    return tap.done()
