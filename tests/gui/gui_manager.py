#!/usr/bin/env python3
"""pcvm-gtk's snapshot manager and settings as a person uses them, under Xvfb, through the
accessibility tree with dogtail (the second half of the desktop test; gui.py is the first):

  - a VM made with `pcvm create` on an installer ISO (tests/gui/guest.asm) is powered on from
    the library; VM → Snapshot Manager opens its manager, with "You are here" alone;
  - Take Snapshot twice (name and description in the dialog): both show in the tree, the
    second below the first and "You are here" below it, with thumbnails of the screen,
    "Yes" for memory and their disk space; index.conf agrees;
  - Go To the first, with the VM paused (it stays paused): the guest goes back (its tick count
    falls), "You are here" moves below the first;
  - Delete the first, while the VM is made to take seconds over it
    (PCVM_SNAPSHOT_TEST_STALL): the progress bar shows the operation's progress, the window
    answers meanwhile (another row can be selected while the bar still shows), and afterwards
    the second snapshot is still there, now a root;
  - Rename the second (name and description);
  - Settings while running: the note says what waits for the next power-on; the CD changes at
    once (file chooser; vm.conf and the running VM's log say so); a NAT port forward is added
    (the running VM forwards it);
  - Power Off; Settings while off: memory changed and saved (vm.conf); adding a disk is
    refused with the reason in the window (the VM has snapshots); the disk grows.

Screenshots of every window go to OUTDIR: look at them.

usage: gui_manager.py PCVM_GTK PCVM GUEST_SRC_DIR OUTDIR
"""
import configparser
import os
import socket
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, HERE)
from tap import run  # noqa: E402
import guilib  # noqa: E402
from guilib import by, click, find, press, screenshot, wait  # noqa: E402

VM_NAME = "Manager Test VM"
BOOT = 90           # seconds for SeaBIOS to boot the CD (slow KVM, ASan)
STALL_MS = 20000    # how long the VM takes over deleting a snapshot's disks: the test looks at
                    # the window meanwhile (find, click, read back over AT-SPI; slow under load)


def index(bundle):
    """snapshots/index.conf: ({id: {parent, name, description, has_memory}}, current)."""
    cp = configparser.RawConfigParser(strict=False, interpolation=None)
    cp.optionxform = str
    cp.read(os.path.join(bundle, "snapshots", "index.conf"))
    nodes = {}
    for sec in cp.sections():
        if sec.startswith("snapshot "):
            s = cp[sec]
            nodes[sec[9:]] = {"parent": s.get("parent") or None, "name": s.get("name"),
                              "description": s.get("description", ""),
                              "has_memory": s.get("has-memory") == "true"}
    current = cp["tree"].get("current") or None if cp.has_section("tree") else None
    return nodes, current


def free_port():
    """A TCP port free on 127.0.0.1 now; another process may take it before pcvm binds it."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Manager:
    def __init__(self, tap, tree, args, tmp):
        self.tap, self.tree = tap, tree
        self.gtk, self.pcvm, self.guests, self.out = args
        self.tmp = tmp
        self.library = os.path.join(tmp, "library")
        self.bundle = os.path.join(self.library, VM_NAME + ".pcvm")
        self.app = self.node = self.lib = None
        self.shots = 0
        self.one_ticks = None  # the guest's tick count just after snapshot "one"

    # ---- helpers ----

    def ok(self, cond, name, detail=""):
        if not cond and self.app:
            detail = f"{detail}\npcvm-gtk output:\n{self.app.output()[-3000:]}"
        return self.tap.ok(bool(cond), name, detail)

    def shot(self, name, node):
        self.shots += 1
        time.sleep(0.3)  # for GTK to draw what the accessibility tree already says
        screenshot(os.path.join(self.out, f"m{self.shots:02d}-{name}.png"), tuple(node.extents))

    def frame(self, prefix, timeout=15):
        roles = ("frame", "dialog", "alert", "file chooser")
        return find(self.node, lambda n: n.roleName in roles and n.name.startswith(prefix) and
                    n.showing, timeout)

    def pcvm_out(self, *args):
        rc, out, err = run([self.pcvm, *args], 60)
        return out + err

    def conf(self):
        with open(os.path.join(self.bundle, "vm.conf")) as f:
            return f.read()

    def ticks(self, timeout=0):
        return guilib.ticks(self.bundle, timeout)

    def cell(self, win, name, timeout=10):
        return find(win, lambda n: n.roleName == "table cell" and n.name == name and n.showing,
                    timeout)

    def cell_x(self, win, name):
        c = self.cell(win, name, 2)
        return c.extents[0] if c else None

    def label(self, win, pred, timeout=10):
        return find(win, lambda n: n.roleName == "label" and n.showing and pred(n.name), timeout)

    def select(self, win, name, detail=True):
        """Selects the tree row of cell NAME in WIN by a real click (its accessible "activate"
        would activate the row: Go To, in the manager), again if the tree was rebuilt under
        it; DETAIL: until the manager's details show it."""
        def attempt():
            self.cell(win, name, 1).click()
            return not detail or self.label(win, lambda t: t == name, 1)
        return wait(attempt, 15)

    def menu(self, item):
        click(find(self.lib, by(item, "menu item")))

    def page(self, st, title):
        """Shows the settings page TITLE: a click on it in the sidebar."""
        side = find(st, by("Hardware"))
        find(side, lambda n: n.roleName == "label" and n.name == title).click()

    # ---- the scenario ----

    def setup(self):
        self.iso1 = guilib.make_iso(self.guests, self.tmp, "first", "PCVM_FIRST")
        self.iso2 = guilib.make_iso(self.guests, self.tmp, "second", "PCVM_SECOND")
        os.makedirs(self.library)
        out = self.pcvm_out("create", self.bundle, "--name", VM_NAME, "--memory", "64",
                            "--disk-size", "64M", "--cdrom", self.iso1)
        return self.ok(os.path.exists(os.path.join(self.bundle, "vm.conf")),
                       "a VM made with pcvm create", out)

    def start(self):
        env = {"PCVM_SNAPSHOT_TEST_STALL": "delete-disks",
               "PCVM_SNAPSHOT_TEST_STALL_MS": str(STALL_MS)}
        self.app = guilib.App(self.gtk, self.library, os.path.join(self.out, "pcvm-gtk.log"),
                              env)
        self.node = wait(lambda: self.tree.root.application("pcvm-gtk"), 30)
        self.lib = self.node and self.frame("pcvm")
        row = self.lib and find(self.lib, by(VM_NAME, "list item"), 20)
        if not self.ok(row, "pcvm-gtk lists the VM"):
            return False
        click(row)
        row.grabFocus()
        power = find(self.lib, by("Power On", "push button"))
        wait(lambda: power.sensitive, 10)
        click(power)
        booted = wait(lambda: "boot 01" in guilib.text_screen(self.bundle), BOOT)
        return self.ok(booted, "Power On from the library boots the guest",
                       guilib.text_screen(self.bundle))

    def open_manager(self):
        self.menu("Snapshot Manager…")  # the menu item; the other windows use buttons
        man = self.frame(f"Snapshots — {VM_NAME}")
        here = man and self.cell(man, "You are here")
        if man:
            self.shot("manager-empty", man)
        self.ok(man and here, "VM → Snapshot Manager opens the manager; only “You are here”")
        return man

    def take(self, man, name, description):
        click(find(man, by("Take Snapshot", "push button")))
        dialog = self.frame(f"Take a Snapshot of “{VM_NAME}”")
        if not dialog:
            return self.ok(False, f"Take Snapshot asks for a name ({name})")
        find(dialog, by("Snapshot name", "text")).text = name
        find(dialog, by("Snapshot description", "text")).text = description
        if name == "one":
            self.shot("take-dialog", dialog)
        click(find(dialog, by("Take Snapshot", "push button")))
        return self.ok(self.cell(man, name, 60), f"the snapshot “{name}” shows in the tree")

    def two_snapshots(self, man):
        self.take(man, "one", "the first")
        self.one_ticks = self.ticks(10)  # no fewer than the snapshot holds
        wait(lambda: (self.ticks() or 0) > 40, 30)  # the guest runs on a while
        self.take(man, "two", "the second")
        wait(lambda: self.cell_x(man, "You are here") and
             self.cell_x(man, "two") and self.cell_x(man, "You are here") >
             self.cell_x(man, "two"), 15)
        nodes, current = index(self.bundle)
        xs = [self.cell_x(man, n) for n in ("one", "two", "You are here")]
        self.shot("manager-two", man)
        self.ok(None not in xs and xs[0] < xs[1] < xs[2],
                "the tree nests them: “two” below “one”, “You are here” below “two”", str(xs))
        ids = {n["name"]: i for i, n in nodes.items()}
        self.ok(set(ids) == {"one", "two"} and nodes[ids["two"]]["parent"] == ids["one"] and
                current == ids["two"] and all(n["has_memory"] for n in nodes.values()),
                "index.conf agrees: two snapshots with memory, “two” current", str(nodes))
        memory = [c.name for c in man.findChildren(
            lambda n: n.roleName == "table cell" and n.name.startswith("Yes, "))]
        disk = [c.name for c in man.findChildren(
            lambda n: n.roleName == "table cell" and n.name.endswith(("KiB", "MiB", "bytes")))]
        self.ok(len(memory) == 2 and len(disk) >= 2,
                "each row says its memory is included and the disk space it holds",
                f"{memory} {disk}")
        self.select(man, "two")
        preview = find(man, by("Screen of two"))
        pngs = [f for f in os.listdir(os.path.join(self.bundle, "snapshots"))
                if f.endswith(".png")]
        self.ok(preview and preview.extents[2] > 200 and len(pngs) == 2,
                "a snapshot's thumbnail (its screen) shows beside the tree",
                f"{preview and tuple(preview.extents)} {pngs}")
        return ids

    def goto(self, man, ids):
        """Go To with the VM paused (the library's Pause), which Go To keeps paused: the tick
        count it goes back to stays on the screen for as long as the test takes to read it."""
        at = self.one_ticks
        if not self.ok(at is not None, "the guest's tick count is on its screen after “one”",
                       guilib.text_screen(self.bundle)):
            return
        wait(lambda: (self.ticks() or 0) > at + 90, 30)  # ~5 s past "one" (18.2 ticks/s)
        press(self.lib, "Pause")
        paused = wait(lambda: guilib.vm_state(self.bundle) == "paused", 15)
        before = self.ticks(10)
        if not self.ok(paused and before is not None and before > at + 90,
                       "the guest runs on past “one”, then pauses",
                       f"“one” at tick {at}, now {before}"):
            return
        self.select(man, "one")
        if not press(man, "Go To", 5):
            return self.ok(False, "Go To is offered for “one”")
        confirm = self.frame("Go to snapshot “one”?")
        if not self.ok(confirm, "Go To asks first"):
            return
        self.shot("goto-confirm", confirm)
        click(find(confirm, by("Go To", "push button")))
        back = wait(lambda: (self.ticks() or 1 << 16) <= at + 45, 60)
        moved = wait(lambda: index(self.bundle)[1] == ids["one"] and
                     self.cell_x(man, "You are here") == self.cell_x(man, "two"), 20)
        self.shot("manager-after-goto", man)
        self.ok(back and moved, "Go To takes the guest back (its ticks fell) and moves “You are "
                "here” below “one”",
                f"“one” at tick {at}, before {before}, now {self.ticks()}, {index(self.bundle)}")
        still = guilib.vm_state(self.bundle)
        press(self.lib, "Resume")
        resumed = wait(lambda: guilib.vm_state(self.bundle) == "running", 15)
        self.ok(still == "paused" and resumed, "the VM stays paused after Go To until Resume",
                f"after Go To: {still}")

    def delete(self, man, ids):
        root_x = self.cell_x(man, "one")
        self.select(man, "one")
        click(find(man, by("Delete", "push button")))
        confirm = self.frame("Delete snapshot “one”?")
        if not self.ok(confirm, "Delete asks first"):
            return
        self.shot("delete-confirm", confirm)
        click(find(confirm, by("Delete", "push button")))
        bar = find(man, lambda n: n.roleName == "progress bar" and n.showing, 5)
        progress = bar and wait(lambda: "Deleting the snapshot" in (bar.description or ""), 5)
        # the window answers while the VM works: another row can be chosen, and the bar
        # still shows after that (the app has not heard back from the VM yet)
        answered = self.select(man, "two")
        during = bar is not None and bar.showing
        self.shot("manager-deleting", man)
        self.ok(progress and answered and during,
                "while the deletion runs the progress bar says so and the window answers",
                f"bar {bar and bar.description!r}, detail {answered}, bar showing after: "
                f"{during}")
        done = bar is not None and wait(lambda: not bar.showing, STALL_MS / 1000 + 30)
        gone = wait(lambda: self.cell(man, "one", 0.5) is None and
                    self.cell_x(man, "two") == root_x, 20)
        nodes, current = index(self.bundle)
        files = os.listdir(os.path.join(self.bundle, "snapshots"))
        self.shot("manager-after-delete", man)
        self.ok(done and gone and list(nodes) == [ids["two"]] and
                nodes[ids["two"]]["parent"] is None and current is None and
                not any(f.startswith(ids["one"] + ".") for f in files),
                "Delete removes “one”; “two”, its child, stays (now a root)",
                f"{nodes} current={current} {files}")

    def rename(self, man, ids):
        self.select(man, "two")
        click(find(man, by("Rename", "push button")))
        dialog = self.frame("Rename Snapshot “two”")
        if not self.ok(dialog, "Rename asks for the new name and description"):
            return
        find(dialog, by("Snapshot name", "text")).text = "second, renamed"
        find(dialog, by("Snapshot description", "text")).text = "edited in the manager"
        self.shot("rename-dialog", dialog)
        click(find(dialog, by("Save", "push button")))
        shown = self.cell(man, "second, renamed", 20)
        node = index(self.bundle)[0].get(ids["two"], {})
        self.shot("manager-renamed", man)
        self.ok(shown and node.get("name") == "second, renamed" and
                node.get("description") == "edited in the manager",
                "Rename changes the name in the tree and in index.conf", str(node))

    def settings_running(self):
        self.menu("Settings…")
        st = self.frame(f"Settings — {VM_NAME}")
        if not self.ok(st, "VM → Settings opens the settings"):
            return
        note = self.label(st, lambda t: "is running" in t and "next power-on" in t)
        self.shot("settings-running", st)
        self.ok(note, "while the VM runs, the settings say what waits for the next power-on")
        self.page(st, "CD/DVD")
        disc = find(st, by("Disc image", "text"))
        wait(lambda: disc.text == self.iso1, 10)
        click(find(st, by("Choose ISO", "push button")))
        chooser = self.frame("Choose a Disc Image")
        if not self.ok(chooser, "Choose ISO opens a file chooser"):
            return
        from dogtail import rawinput
        rawinput.keyCombo("<Control>l")
        entry = find(chooser, lambda n: n.roleName == "text" and n.showing)
        entry.text = self.iso2
        self.shot("cd-chooser", chooser)
        click(find(chooser, by("Insert", "push button")))
        log = os.path.join(self.bundle, "pcvm.log")
        changed = wait(lambda: f"file={self.iso2}" in self.conf() and
                       f"CD drive [ide1:0]: {self.iso2}" in open(log).read() and
                       disc.text == self.iso2, 20)
        self.shot("settings-cd-changed", st)
        self.ok(changed, "the CD changes at once while running (vm.conf, the VM's log, the page)",
                self.conf())
        self.page(st, "Network")
        port, live = self.add_forward(st)
        self.shot("settings-forward", st)
        self.ok(live, "a port forward added in the settings is in place at once and in vm.conf",
                f"port {port}\n{self.conf()}")
        click(find(st, by("Cancel", "push button")))
        self.ok(wait(lambda: not st.showing, 10), "Cancel closes the settings")

    def add_forward(self, st):
        """Adds a forward from a free host port to the guest's 22 on the Network page of ST,
        with another port if the one chosen was taken meanwhile (the page then says that port
        is in use): (port, whether the forward is in place)."""
        for _ in range(3):
            port = free_port()
            find(st, by("Host port", "spin button")).value = port
            find(st, by("Guest port", "spin button")).value = 22
            press(st, "Add Forward")
            rule = f"tcp:127.0.0.1:{port}-:22"
            taken = f"127.0.0.1:{port}: the port is in use"

            def outcome():
                if self.label(st, lambda t: taken in t, 0):
                    return "taken"
                return (rule in guilib.control(self.bundle, "portfwd-list")["rules"] and
                        rule in self.conf() and self.cell(st, str(port), 1) and "live")
            got = wait(outcome, 20)
            if got != "taken":
                return port, got == "live"
        return port, False

    def power_off(self):
        con = self.frame(VM_NAME)
        if con:
            click(find(con, by("Close Console", "menu item")))
        click(find(self.lib, by("Power Off", "push button")))
        self.ok(wait(lambda: guilib.vm_state(self.bundle) == "off", 30), "Power Off")

    def settings_off(self):
        click(find(self.lib, by("Edit Virtual Machine Settings", "push button")))
        st = self.frame(f"Settings — {VM_NAME}")
        if not st:
            return self.ok(False, "Settings opens with the VM off")
        mem = find(st, by("Memory in MiB", "spin button"))
        wait(lambda: mem.value == 64, 10)
        mem.value = 96
        note = self.label(st, lambda t: "is running" in t, 1)
        self.shot("settings-off-memory", st)
        click(find(st, by("Save", "push button")))
        saved = wait(lambda: not st.showing, 15)
        rc, got, err = run([self.pcvm, "config", self.bundle, "get", "vm.memory-mib"], 30)
        self.ok(saved and got.strip() == "96" and not note,
                "with the VM off, memory set in the settings is saved to vm.conf", got + err)
        self.disks()

    def disks(self):
        click(find(self.lib, by("Edit Virtual Machine Settings", "push button")))
        st = self.frame(f"Settings — {VM_NAME}")
        self.page(st, "Hard Disks")
        add = find(st, by("Add Disk", "push button"))
        wait(lambda: add.sensitive, 10)
        click(add)
        ask = self.frame("Add a Hard Disk")
        if ask:
            self.shot("disk-add-dialog", ask)
            click(find(ask, by("Add", "push button")))
        why = self.label(st, lambda t: "while the VM has snapshots" in t, 20)
        self.shot("settings-disk-refused", st)
        self.ok(ask and why, "adding a disk to a VM with snapshots is refused, and the window "
                "says why", why.name if why else "")
        self.select(st, "ide0:0", detail=False)
        grow = find(st, by("Grow Disk", "push button"))
        wait(lambda: grow.sensitive, 10)
        click(grow)
        ask = self.frame("Grow the Disk in ide0:0")
        if ask:
            self.shot("disk-grow-dialog", ask)
            click(find(ask, by("Grow", "push button")))
        grown = self.cell(st, "1.0\u00a0GiB", 20)
        info = self.pcvm_out("disk", "info", self.bundle)
        self.shot("settings-disk-grown", st)
        self.ok(grown and "(1073741824 bytes)" in info,
                "Grow makes the disk 1 GiB (pcvm disk info agrees)", info)
        click(find(st, by("Cancel", "push button")))

    def quit(self):
        item = find(self.lib, by("Quit", "menu item"))
        if item:
            click(item)
        self.ok(wait(lambda: not self.app.running(), 15), "File → Quit ends the app")

    def run(self):
        if not self.setup() or not self.start():
            return
        man = self.open_manager()
        if man:
            ids = self.two_snapshots(man)
            if set(ids) == {"one", "two"}:
                self.goto(man, ids)
                self.delete(man, ids)
                self.rename(man, ids)
            click(find(man, by("Close", "push button")))
        self.settings_running()
        self.power_off()
        self.settings_off()
        self.quit()


def main():
    return guilib.main(__doc__, "pcvm-gtk's snapshot manager and settings under Xvfb", Manager,
                       (VM_NAME + ".pcvm",))


if __name__ == "__main__":
    sys.exit(main())
