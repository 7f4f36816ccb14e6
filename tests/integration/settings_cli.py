#!/usr/bin/env python3
"""The command-line side of the desktop app's settings and snapshot manager (issue 7):

  - `pcvm config DIR set|get|unset`: settings checked as `pcvm run` reads them, comments kept,
    the file untouched by a refused change; what is set applies at the next start (`pcvm
    status` shows the new memory), and says so while the VM runs;
  - `pcvm disk add|remove|grow` with the VM off: a new qcow2 disk in a free IDE slot, grown
    (qemu-img info and check agree), removed with its file kept or deleted; refused while the
    VM runs, and add/remove while it has snapshots; growing with snapshots keeps them
    revertable (the old size comes back);
  - `pcvm snapshot rename DIR SNAPSHOT NEWNAME [--description TEXT]`, with the VM off and
    running (the guest runs on undisturbed), and the `snapshot-rename` control command;
  - bad input everywhere: a clear message, exit status 1, nothing changed.

usage: settings_cli.py PCVM
"""
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import snapshotlib as sl  # noqa: E402
from snapshotlib import Vm  # noqa: E402
from tap import Tap, read, require_kvm, tempdir  # noqa: E402

MiB = 1 << 20


def virtual_size(path):
    rc, out, err = sl.qemu_img("info", "-U", "--output=json", path)
    return json.loads(out)["virtual-size"] if rc == 0 else None


def refused(tap, vm, args, text, what, unchanged=None):
    """`pcvm ARGS` fails with TEXT on stderr; UNCHANGED (a path) keeps its bytes."""
    before = read(unchanged) if unchanged else None
    rc, out, err = vm.cli(*args)
    same = unchanged is None or read(unchanged) == before
    tap.ok(rc == 1 and text in err and same, f"refused: {what}",
           f"exit {rc}\n{out}{err}" + ("" if same else "\nthe file changed"))


def config_tests(tap, vm):
    conf = os.path.join(vm.bundle, "vm.conf")
    with open(conf, "a") as f:
        f.write("# kept by pcvm config\n")
    rc, out, err = vm.cli("config", vm.bundle, "set", "vm.memory-mib=192", "vm.cpus=2",
                          "vm.boot=disk,cdrom")
    text = read(conf)
    tap.ok(rc == 0 and "memory-mib=192" in text and "cpus=2" in text and
           "boot=disk,cdrom" in text and "# kept by pcvm config" in text,
           "config set writes the settings and keeps the comments", out + err + text)
    rc, out, err = vm.cli("config", vm.bundle, "get", "vm.memory-mib")
    tap.ok(rc == 0 and out == "192\n", "config get reads one back", out + err)
    refused(tap, vm, ("config", vm.bundle, "set", "vm.memory=1"), "with a KEY of [vm]",
            "an unknown key", conf)
    refused(tap, vm, ("config", vm.bundle, "set", "vm.cpus=3", "vm.memory-mib=8"),
            "memory-mib=8: out of range", "a value out of range (and the valid one with it)",
            conf)
    refused(tap, vm, ("config", vm.bundle, "set", "net0.mode=bridged"),
            "bridged needs bridge=NAME", "bridged without a bridge", conf)
    refused(tap, vm, ("config", vm.bundle, "set", "vm.boot=disk,floppy"),
            "expected a list of disk, cdrom and network", "an unknown boot device", conf)
    refused(tap, vm, ("config", vm.bundle, "set", "ide9:0.file=x"), "no group [ide9:0]",
            "an unknown group", conf)
    refused(tap, vm, ("config", vm.bundle, "unset", "vm"), "[vm] cannot go as a whole",
            "removing [vm]", conf)
    refused(tap, vm, ("config", vm.bundle, "frob", "x"), "usage: pcvm config", "a bad verb")
    refused(tap, vm, ("config", vm.bundle + "-nope", "get", "vm.name"), "not a VM bundle",
            "a missing bundle")
    rc, out, err = vm.cli("config", vm.bundle, "unset", "vm.boot")
    tap.ok(rc == 0 and "boot=" not in read(conf), "config unset removes a key", out + err)


def disk_tests(tap, vm):
    conf = os.path.join(vm.bundle, "vm.conf")
    rc, out, err = vm.cli("disk", "add", vm.bundle, "--size", "32M")
    disk1 = os.path.join(vm.bundle, "disk1.qcow2")
    tap.ok(rc == 0 and "ide0:1: new disk disk1.qcow2" in out and "[ide0:1]" in read(conf) and
           virtual_size(disk1) == 32 * MiB, "disk add makes a qcow2 disk in the first free slot",
           out + err + read(conf))
    refused(tap, vm, ("disk", "add", vm.bundle, "--slot", "ide0:0"), "holds a drive already",
            "adding into a slot in use", conf)
    refused(tap, vm, ("disk", "add", vm.bundle, "--size", "lots"), "expected a size",
            "a bad size", conf)
    rc, out, err = vm.cli("disk", "grow", vm.bundle, "ide0:1", "64M")
    rc2, out2, err2 = vm.cli("disk", "grow", vm.bundle, "ide0:1", "+16M")
    clean, _, check = sl.check_image(disk1, live=False)
    tap.ok(rc == 0 and rc2 == 0 and virtual_size(disk1) == 80 * MiB and clean,
           "disk grow to a size and by a size: qemu-img sees 80 MiB, check clean",
           out + err + out2 + err2 + check)
    refused(tap, vm, ("disk", "grow", vm.bundle, "ide0:1", "16M"), "disks only grow",
            "shrinking a disk")
    refused(tap, vm, ("disk", "grow", vm.bundle, "ide1:1", "1G"), "no hard disk 'ide1:1'",
            "growing a slot without a disk")
    rc, out, err = vm.cli("disk", "remove", vm.bundle, "ide0:1")
    tap.ok(rc == 0 and "[ide0:1]" not in read(conf) and os.path.exists(disk1),
           "disk remove takes the drive out and keeps its file", out + err)
    rc, out, err = vm.cli("disk", "add", vm.bundle, "--size", "8M", "--slot", "ide1:1")
    disk2 = os.path.join(vm.bundle, "disk2.qcow2")
    tap.ok(rc == 0 and "ide1:1: new disk disk2.qcow2" in out,
           "a new disk never takes the name of a file that is still there", out + err)
    rc, out, err = vm.cli("disk", "remove", vm.bundle, "ide1:1", "--delete-file")
    tap.ok(rc == 0 and not os.path.exists(disk2) and "[ide1:1]" not in read(conf),
           "disk remove --delete-file deletes the image", out + err)
    outside = os.path.join(vm.tmp, "outside.qcow2")
    os.rename(disk1, outside)
    vm.cli("config", vm.bundle, "set", "ide0:1.type=disk", f"ide0:1.file={outside}")
    refused(tap, vm, ("disk", "remove", vm.bundle, "ide0:1", "--delete-file"),
            "is not inside", "deleting an image outside the bundle", conf)
    vm.cli("disk", "remove", vm.bundle, "ide0:1")


def running_tests(tap, vm):
    vm.start()
    running = vm.wait_counts(3, seconds=60)
    rc, out, err = vm.cli("status", vm.bundle)
    tap.ok(running and "memory: 192 MiB" in out and "cpus: 2" in out,
           "the VM starts with what pcvm config set", out + err + vm.stderr())
    rc, out, err = vm.cli("config", vm.bundle, "set", "vm.cpus=1")
    tap.ok(rc == 0 and "applies at its next start" in out,
           "config set while running says the change waits for the next start", out + err)
    refused(tap, vm, ("disk", "add", vm.bundle), "power the VM off first",
            "adding a disk while running")
    refused(tap, vm, ("disk", "grow", vm.bundle, "ide0:0", "+1M"), "power the VM off first",
            "growing a disk while running")
    rc, out, err, _ = vm.snap("take", "live")
    before = vm.last_count()
    rc2, out2, err2, secs = vm.snap("rename", "live", "renamed live", "--description",
                                    "two\nlines")
    node = vm.tree().nodes.get("1", {})
    desc = read(vm.snapdir("index.conf"))
    moving = vm.wait_count_above(before + 2, seconds=30)
    tap.ok(rc == 0 and rc2 == 0 and node.get("name") == "renamed live" and
           node.get("has_memory") and "description=two\\nlines" in desc and moving,
           f"snapshot rename while running ({secs * 1000:.0f} ms): the tree has the new name "
           "and description, the guest runs on", out + err + out2 + err2 + desc)
    rc, out, err = vm.cli("snapshot", "list", vm.bundle)
    tap.ok(rc == 0 and "1  renamed live  [memory+disk]" in out,
           "snapshot list shows the new name", out + err)
    refused(tap, vm, ("snapshot", "rename", vm.bundle, "nope", "x"), "no snapshot 'nope'",
            "renaming an unknown snapshot (running)")
    refused(tap, vm, ("snapshot", "rename", vm.bundle, "1", " "), "the new name is empty",
            "an empty name (running)")
    bad = [vm.control("snapshot-rename", snapshot="1"),
           vm.control("snapshot-rename", snapshot="1", name="x", description=5),
           vm.control("snapshot-rename", name="x")]
    tap.ok(all(r and not r["ok"] and r["error"] for r in bad) and
           vm.tree().nodes["1"]["name"] == "renamed live",
           "snapshot-rename refuses requests without a name, snapshot or with a bad "
           "description", str(bad))
    r = vm.control("snapshot-rename", snapshot="renamed live", name="by socket",
                   description=None)
    tap.ok(r and r["ok"] and vm.tree().nodes["1"]["name"] == "by socket" and
           "description=two\\nlines" in read(vm.snapdir("index.conf")),
           "snapshot-rename by name over the socket; a null description keeps it", str(r))
    code = vm.stop()
    tap.ok(code == 0, "the VM powers off", vm.stderr())


def offline_snapshot_tests(tap, vm):
    conf = os.path.join(vm.bundle, "vm.conf")
    rc, out, err = vm.cli("snapshot", "rename", vm.bundle, "1", "off and renamed")
    tap.ok(rc == 0 and vm.tree().nodes["1"]["name"] == "off and renamed" and
           "description=two\\nlines" in read(vm.snapdir("index.conf")),
           "snapshot rename with the VM off; no --description keeps it", out + err)
    refused(tap, vm, ("snapshot", "rename", vm.bundle, "1", "a\tb"), "must be one line",
            "a name with a control character", vm.snapdir("index.conf"))
    refused(tap, vm, ("snapshot", "rename", vm.bundle, "1"), "usage: pcvm snapshot",
            "rename without a new name")
    refused(tap, vm, ("disk", "add", vm.bundle), "while the VM has snapshots",
            "adding a disk while there are snapshots", conf)
    refused(tap, vm, ("disk", "remove", vm.bundle, "ide0:0"), "while the VM has snapshots",
            "removing a disk while there are snapshots", conf)
    old = virtual_size(vm.disk)
    rc, out, err = vm.cli("disk", "grow", vm.bundle, "ide0:0", "+64M")
    grown = virtual_size(vm.disk)
    rc2, out2, err2, _ = vm.snap("revert", "1")
    back = virtual_size(vm.disk)
    problems = vm.consistency(live=False, expect_ids=["1"])
    tap.ok(rc == 0 and grown == old + 64 * MiB and rc2 == 0 and back == old and not problems,
           "a disk with snapshots grows; reverting gives the snapshot's size back",
           f"{old} -> {grown} -> {back}\n{out}{err}{out2}{err2}{problems}")


def main():
    binary = sys.argv[1]
    tap = Tap()
    if not require_kvm(tap) or not sl.require_tools(tap, "qemu-img", "qemu-io", "nasm"):
        return tap.done()
    with tempdir() as tmp:
        guest, _ = sl.assemble("counter", tmp)
        vm = Vm(binary, tmp, "settings", guest, memory=160)
        try:
            config_tests(tap, vm)
            disk_tests(tap, vm)
            running_tests(tap, vm)
            offline_snapshot_tests(tap, vm)
        finally:
            vm.kill()
    return tap.done()


if __name__ == "__main__":
    t0 = time.monotonic()
    code = main()
    print(f"# {time.monotonic() - t0:.1f} s", flush=True)
    sys.exit(code)
