#!/usr/bin/env python3
"""pcvm-gtk as a person uses it, under Xvfb, driven through its accessibility tree with dogtail:

  - the library of an empty library folder;
  - the new-VM wizard, Custom path, on an installer ISO made here (xorriso, with the El Torito
    boot image tests/gui/guest.asm): the ISO is read, the VM created with `pcvm create` and
    powered on after creation;
  - the console: the guest's screen in the VncDisplay changes as the guest runs (two
    screenshots of it differ; the guest's text screen says it booted), a click grabs the
    keyboard (the status line says so), VM → Send Key → Ctrl+Alt+Del resets the guest (its
    CMOS boot counter goes to 2), Screenshot saves the screen as a PNG;
  - a snapshot taken from the toolbar shows in `pcvm snapshot list`; Revert, of the paused VM,
    goes back to it and leaves it paused;
  - Pause and Resume; Suspend saves the machine and powers off, Resume brings it back;
    Reset restarts the guest;
  - the VM keeps running when the app quits; the app, started again, finds it running and
    powers it off;
  - a VM that cannot start (its disk is gone) puts the exit status and its log in the window;
  - Delete moves a bundle to the trash;
  - with PCVM_KVM_DEVICE pointing at a missing file, the host-check dialog says so at start.

Screenshots of every window go to OUTDIR (they are the test's artefacts: look at them).

usage: gui.py PCVM_GTK PCVM GUEST_SRC_DIR OUTDIR
"""
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, HERE)
from tap import run  # noqa: E402
import guilib  # noqa: E402
from guilib import by, click, find, press, screenshot, wait  # noqa: E402

VM_NAME = "GUI Test VM"
BOOT = 90  # seconds for SeaBIOS to boot the CD here (slow KVM, ASan)


class Gui:
    def __init__(self, tap, tree, args, tmp):
        self.tap, self.tree = tap, tree
        self.gtk, self.pcvm, self.guests, self.out = args
        self.tmp = tmp
        self.library = os.path.join(tmp, "library")
        self.bundle = os.path.join(self.library, VM_NAME + ".pcvm")
        self.app = None
        self.node = None
        self.shots = 0
        self.snap_ticks = None

    # ---- the app ----

    def start(self, extra_env=None, label="app"):
        log = os.path.join(self.out, f"pcvm-gtk-{label}.log")
        self.app = guilib.App(self.gtk, self.library, log, extra_env)
        self.node = wait(lambda: self.tree.root.application("pcvm-gtk"), 30)
        return self.node is not None

    def quit(self):
        """File → Quit, as a person would; the process must end by itself."""
        item = find(self.node, by("Quit", "menu item"))
        if item:
            click(item)
        ok = wait(lambda: not self.app.running(), 15)
        self.app.stop()
        self.node = None
        return ok

    def frame(self, prefix, timeout=15):
        roles = ("frame", "dialog", "alert", "file chooser")
        return find(self.node, lambda n: n.roleName in roles and n.name.startswith(prefix) and
                    n.showing, timeout)

    def shot(self, name, node=None):
        """A screenshot of NODE's window (or the screen) kept as an artefact."""
        self.shots += 1
        path = os.path.join(self.out, f"{self.shots:02d}-{name}.png")
        extents = tuple(node.extents) if node is not None else None
        screenshot(path, extents)
        return path

    def ok(self, cond, name, detail=""):
        if not cond and self.app:
            detail = f"{detail}\npcvm-gtk output:\n{self.app.output()[-3000:]}"
        return self.tap.ok(bool(cond), name, detail)

    def pcvm_out(self, *args):
        rc, out, err = run([self.pcvm, *args], 60)
        return rc, out + err

    # ---- the scenario ----

    def library_empty(self):
        lib = self.frame("pcvm")
        empty = lib and find(lib, lambda n: n.roleName == "label" and
                             n.name.startswith("No virtual machine yet"))
        self.shot("library-empty", lib)
        return self.ok(lib and empty, "the library window shows an empty library")

    def make_iso(self):
        boot = os.path.join(self.tmp, "iso", "boot.img")
        os.makedirs(os.path.dirname(boot))
        subprocess.run(["nasm", "-f", "bin", "-i", self.guests + "/",
                        os.path.join(HERE, "guest.asm"), "-o", boot], check=True)
        self.iso = os.path.join(self.tmp, "gui-test.iso")
        subprocess.run(["xorriso", "-as", "mkisofs", "-quiet", "-V", "PCVM_GUI_TEST", "-b",
                        "boot.img", "-no-emul-boot", "-boot-load-size", "4", "-o", self.iso,
                        os.path.dirname(boot)], check=True, capture_output=True)

    def wizard_next(self, wiz, shot):
        """Next, once the page is complete; the page's screenshot SHOT first."""
        nxt = find(wiz, by("Next", "push button", showing=True))
        ready = nxt and wait(lambda: nxt.sensitive, 15)
        time.sleep(0.3)  # for GTK to draw what the accessibility tree already says
        self.shot(shot, wiz)
        if ready:
            click(nxt)
        return ready

    def wizard(self):
        click(find(self.node, by("New VM", "push button")))
        wiz = self.frame("New Virtual Machine")
        if not self.ok(wiz, "New VM opens the wizard"):
            return False
        click(find(wiz, by("Custom", "radio button")))
        self.wizard_next(wiz, "wizard-type")
        iso = find(wiz, by("ISO file", "text"))
        iso.text = self.iso
        status = find(wiz, lambda n: n.roleName == "label" and "PCVM_GUI_TEST" in n.name, 20)
        self.ok(status and "Not recognised" in status.name,
                "the wizard reads the ISO's volume id and offers the generic preset",
                status.name if status else "no status line")
        if not self.ok(self.wizard_next(wiz, "wizard-installer"),
                       "an ISO 9660 image completes the installer page"):
            return False
        name = find(wiz, by("Virtual machine name", "text"))
        name.text = VM_NAME
        location = find(wiz, by("Location", "text"))
        self.ok(location.text == self.bundle, "the location follows the name into the library",
                location.text)
        ready = self.wizard_next(wiz, "wizard-name")
        find(wiz, by("Maximum disk size", "spin button")).value = 1
        self.wizard_next(wiz, "wizard-disk")
        find(wiz, by("Memory", "spin button")).value = 64
        self.wizard_next(wiz, "wizard-hardware")
        self.wizard_next(wiz, "wizard-network")
        summary = find(wiz, lambda n: n.roleName == "label" and n.name.startswith("Name:"))
        power_on = find(wiz, by("Power on this virtual machine after creation", "check box"))
        self.shot("wizard-summary", wiz)
        text = summary.name if summary else ""
        self.ok(ready and VM_NAME in text and "Memory: 64 MiB" in text and self.iso in text
                and "Disk: 1 GiB" in text, "the summary lists the choices", text)
        self.ok(power_on and power_on.checked, "“Power on after creation” is on by default")
        click(find(wiz, by("Apply", "push button", showing=True)))
        gone = wait(lambda: not wiz.showing, 30)
        conf = guilib_read(os.path.join(self.bundle, "vm.conf"))
        return self.ok(gone and "memory-mib=64" in conf and "guest=generic" in conf and
                       self.iso in conf, "the wizard creates the VM (pcvm create, guest=)",
                       conf)

    def console(self):
        con = self.frame(VM_NAME, 30)
        if not self.ok(con, "powering on after creation opens the console window"):
            return None
        # the app learns the state by polling (once a second): both, in one wait
        running = wait(lambda: guilib.vm_state(self.bundle) == "running" and
                       "Running" in con.name, 30)
        self.ok(running, "the VM runs and the title says so", con.name)
        booted = wait(lambda: "boot 01" in guilib.text_screen(self.bundle), BOOT)
        self.ok(booted, "the guest boots from the installer ISO",
                guilib.text_screen(self.bundle))
        screen = find(con, by("Screen"))
        first = screenshot(os.path.join(self.out, "console-screen-a.png"), tuple(screen.extents))
        time.sleep(3)  # the guest's bar grows by a cell a second
        second = screenshot(os.path.join(self.out, "console-screen-b.png"),
                            tuple(screen.extents))
        a, b = guilib.pixels(first), guilib.pixels(second)
        self.ok(len(set(a)) > 2 and a != b,
                "the console shows the guest's screen, and it changes while the guest runs")
        self.shot("console-running", con)
        return con

    def grab(self, con):
        screen = find(con, by("Screen"))
        screen.click()  # a real pointer click, as the grab wants
        grabbed = find(con, lambda n: n.roleName == "label" and "press Ctrl+Alt" in n.name)
        self.shot("console-grabbed", con)
        self.ok(grabbed, "a click into the screen grabs the keyboard; the status line says so")

    def send_ctrl_alt_del(self, con):
        item = find(con, by("Ctrl+Alt+Del", "menu item"))
        click(item)
        reset = wait(lambda: "boot 02" in guilib.text_screen(self.bundle), BOOT)
        screen = find(con, by("Screen"))
        wait(lambda: len(set(guilib.pixels(screenshot(None, tuple(screen.extents))))) > 2, 10)
        self.shot("console-after-reset", con)
        self.ok(reset, "VM → Send Key → Ctrl+Alt+Del resets the guest",
                guilib.text_screen(self.bundle))

    def save_screenshot(self, con):
        click(find(con, by("Screenshot", "push button")))
        chooser = self.frame("Save Screenshot")
        if not self.ok(chooser, "Screenshot asks where to save the picture"):
            return
        path = os.path.join(self.tmp, "saved-screen.png")
        find(chooser, by(role="text")).text = path
        self.shot("screenshot-chooser", chooser)
        click(find(chooser, by("Save", "push button")))
        saved = wait(lambda: os.path.exists(path) and os.path.getsize(path) > 0, 15)
        head = open(path, "rb").read(24) if saved else b""
        size = (int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big"))
        self.ok(head[:8] == b"\x89PNG\r\n\x1a\n" and size == (720, 400),
                "the screenshot is saved as a PNG of the guest's 720x400 text screen",
                f"{path}: {head[:8]!r} {size}")

    def snapshot(self, con):
        click(find(con, by("Take Snapshot", "push button")))
        dialog = self.frame("Take a Snapshot")
        if not self.ok(dialog, "Take Snapshot asks for a name"):
            return
        find(dialog, by("Snapshot name", "text")).text = "first"
        self.shot("snapshot-dialog", dialog)
        click(find(dialog, by("Take Snapshot", "push button")))
        listed = wait(lambda: "first" in self.pcvm_out("snapshot", "list", self.bundle)[1], 60)
        self.snap_ticks = self.ticks(10)  # no fewer than the snapshot holds
        self.ok(listed, "the snapshot is taken (pcvm snapshot list)",
                self.pcvm_out("snapshot", "list", self.bundle)[1])

    def ticks(self, timeout=0):
        return guilib.ticks(self.bundle, timeout)

    def revert(self, con):
        """Revert of the paused VM, which a revert keeps paused: the tick count it goes back to
        stays on the screen for as long as the test takes to read it."""
        at = self.snap_ticks
        if not self.ok(at is not None, "the guest's tick count is on its screen after the "
                       "snapshot", guilib.text_screen(self.bundle)):
            return
        wait(lambda: (self.ticks() or 0) > at + 90, 30)  # ~5 s past the snapshot (18.2/s)
        press(con, "Pause")
        paused = wait(lambda: guilib.vm_state(self.bundle) == "paused" and "Paused" in con.name,
                      15)
        before = self.ticks(10)
        if not self.ok(paused and before is not None and before > at + 90,
                       "the guest runs on past the snapshot, then pauses",
                       f"snapshot at tick {at}, now {before}, {con.name}"):
            return
        press(con, "Revert")
        confirm = self.frame(f"Revert “{VM_NAME}” to snapshot “first”?")
        if not self.ok(confirm, "Revert asks before going back to the current snapshot"):
            return
        self.shot("revert-confirm", confirm)
        click(find(confirm, by("Revert", "push button")))
        back = wait(lambda: (self.ticks() or 1 << 16) <= at + 45, 60)
        log = os.path.join(self.bundle, "pcvm.log")
        self.ok(back, "Revert takes the guest back to the snapshot (its tick count fell)",
                "pcvm.log:\n" + (guilib.read_tail(log, 1200) if os.path.exists(log) else "(none)")
                + f"\nticks: snapshot at {at}, before the revert {before}, now {self.ticks()}")
        still = guilib.vm_state(self.bundle)
        press(con, "Resume")
        resumed = wait(lambda: guilib.vm_state(self.bundle) == "running" and
                       "Running" in con.name, 15)
        self.ok(still == "paused" and resumed, "the reverted VM stays paused until Resume",
                f"after the revert: {still}; {con.name}")

    def pause_suspend(self, con):
        click(find(con, by("Pause", "push button")))
        paused = wait(lambda: guilib.vm_state(self.bundle) == "paused" and "Paused" in con.name,
                      15)
        self.shot("console-paused", con)
        self.ok(paused, "Pause stops the guest; the title says Paused", con.name)
        click(find(con, by("Resume", "push button")))
        self.ok(wait(lambda: guilib.vm_state(self.bundle) == "running", 15),
                "Resume lets it run again")
        click(find(con, by("Suspend", "push button")))
        suspended = wait(lambda: "Suspended" in con.name, 60)
        self.shot("console-suspended", con)
        self.ok(suspended and guilib.vm_state(self.bundle) == "off",
                "Suspend saves the machine and powers off; the console says Suspended",
                con.name)
        click(find(con, by("Resume", "push button")))
        resumed = wait(lambda: "boot 02" in guilib.text_screen(self.bundle) and
                       "Running" in con.name, 60)
        self.ok(resumed,
                "Resume starts it again where it was (no new boot)",
                guilib.text_screen(self.bundle))

    def reset(self, con):
        click(find(con, by("Reset", "push button")))
        self.ok(wait(lambda: "boot 03" in guilib.text_screen(self.bundle), BOOT),
                "Reset restarts the guest (the CMOS boot counter says 3)",
                guilib.text_screen(self.bundle))

    def library_running(self):
        lib = self.frame("pcvm")
        row = find(lib, by(VM_NAME, "list item"))
        thumb = find(lib, by("Screen of " + VM_NAME), 15)
        state = wait(lambda: "Running" in (row.description or ""), 10)
        self.shot("library-running", lib)
        self.ok(row and state and thumb and thumb.showing,
                "the library lists the VM as running, with a thumbnail of its screen",
                row.description if row else "no row")

    def detached(self):
        self.ok(self.quit(), "File → Quit ends the app")
        self.ok(guilib.vm_state(self.bundle) == "running",
                "the VM keeps running after the app has gone")
        self.start(label="second")
        lib = self.frame("pcvm")
        row = find(lib, by(VM_NAME, "list item"))
        state = wait(lambda: "Running" in (row.description or ""), 15)
        self.ok(state, "the app, started again, finds the VM running")
        click(find(lib, by("Console", "push button")))
        con = self.frame(VM_NAME, 15)
        click(find(con, by("Power Off", "push button")))
        off = wait(lambda: guilib.vm_state(self.bundle) == "off" and "Powered off" in con.name,
                   30)
        self.shot("console-off", con)
        self.ok(off, "Power Off ends the VM; the console says it is off", con.name)
        click(find(con, by("Close Console", "menu item")))

    def broken_vm(self):
        bundle = os.path.join(self.library, "Broken.pcvm")
        rc, out = self.pcvm_out("create", bundle, "--memory", "32", "--disk-size", "64M")
        os.unlink(os.path.join(bundle, "disk0.qcow2"))  # a lost disk: pcvm run refuses to start
        lib = self.frame("pcvm")
        row = find(lib, by("Broken", "list item"), 20)  # found by the folder's monitor
        if not self.ok(row, "a bundle made by the command line appears in the library", out):
            return
        click(row)
        row.grabFocus()
        power = find(lib, by("Power On", "push button"))
        wait(lambda: power.sensitive, 10)
        click(power)
        title = find(lib, lambda n: n.roleName == "label" and
                     "“Broken” stopped with an error" in n.name, 60)
        detail = find(lib, lambda n: n.roleName == "label" and "exited with status" in n.name)
        self.shot("library-error", lib)
        con = self.frame("Broken")  # powering on opened its console, which shows it too
        if con:
            self.shot("console-error", con)
        self.ok(title and detail and "disk0.qcow2" in detail.name,
                "a VM that cannot start shows its exit status and log in the window",
                detail.name if detail else "no error shown")
        guilib.kill_vm(bundle)
        for con in self.node.findChildren(lambda n: n.roleName == "frame" and
                                          n.name.startswith("Broken")):
            close = con.findChild(by("Close Console", "menu item"), retry=False,
                                  requireResult=False)
            if close:
                click(close)
        delete = find(lib, by("Delete from Disk…", "menu item"))
        click(delete)
        confirm = self.frame("Move “Broken” to the trash?")
        if not self.ok(confirm, "Delete asks before moving the VM to the trash"):
            return
        self.shot("delete-confirm", confirm)
        click(find(confirm, by("Move to Trash", "push button")))
        trashed = wait(lambda: not os.path.exists(bundle), 15)
        trash = os.path.join(os.environ["XDG_DATA_HOME"], "Trash", "files", "Broken.pcvm")
        self.ok(trashed and os.path.isdir(trash), "the bundle went to the trash")

    def host_check_slow(self):
        """A CPU without VT-x/AMD-V: a dialog says so once, then the library's warning bar."""
        cpuinfo = os.path.join(self.tmp, "cpuinfo-novirt")
        with open(cpuinfo, "w") as f:
            f.write("processor\t: 0\nflags\t\t: fpu vme de pse tsc msr pae\n")
        for start in (1, 2):
            self.start({"PCVM_CPUINFO": cpuinfo}, label=f"host-slow-{start}")
            dialog = self.frame("Virtual machines will run slowly", 10 if start == 1 else 5)
            if start == 1:
                text = dialog and find(dialog, lambda n: n.roleName == "label" and
                                       "VT-x" in n.name)
                if dialog:
                    self.shot("host-check-slow", dialog)
                self.ok(dialog and text, "a CPU without VT-x/AMD-V is reported once, with how "
                        "to fix it", text.name if text else "no dialog")
                if dialog:
                    click(find(dialog, by("Close", "push button")))
            else:
                self.ok(not dialog, "the next start does not show that dialog again")
            self.quit()

    def host_check(self):
        missing = os.path.join(self.tmp, "no-such-kvm")
        self.start({"PCVM_KVM_DEVICE": missing}, label="host-check")
        dialog = self.frame("KVM is not available", 20)
        text = dialog and find(dialog, lambda n: n.roleName == "label" and missing in n.name)
        if dialog:
            self.shot("host-check", dialog)
        self.ok(dialog and text, "a missing /dev/kvm is reported at start, with how to fix it",
                text.name if text else "no dialog")
        if dialog:
            click(find(dialog, by("Close", "push button")))
        self.quit()

    def run(self):
        self.make_iso()
        if not self.ok(self.start(), "pcvm-gtk starts and shows up in the accessibility tree"):
            return
        self.library_empty()
        if not self.wizard():
            return
        con = self.console()
        if con:
            self.grab(con)
            self.send_ctrl_alt_del(con)
            self.save_screenshot(con)
            self.snapshot(con)
            self.revert(con)
            self.pause_suspend(con)
            self.reset(con)
            click(find(con, by("Close Console", "menu item")))
        self.library_running()
        self.detached()
        self.broken_vm()
        self.quit()
        self.host_check_slow()
        self.host_check()


def guilib_read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def main():
    return guilib.main(__doc__, "pcvm-gtk under Xvfb with dogtail", Gui, ("GUI Test VM.pcvm", "Broken.pcvm"))


if __name__ == "__main__":
    sys.exit(main())
