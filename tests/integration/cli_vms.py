#!/usr/bin/env python3
"""pcvm list and pcvm start, as a `virsh list --all` / `virsh start` user meets them: the library
under $XDG_DATA_HOME (a temp dir here), the state of each VM asked over its control socket, a
damaged bundle listed with its error, a VM started in the background and found running, refused
twice, a start that fails reported, and stop / suspend seen by list.

usage: cli_vms.py PCVM GUEST_SRC_DIR
"""
import json
import os
import signal
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from tap import Tap, guest_disk, read, require_kvm, run, tempdir  # noqa: E402


class Cli:
    def __init__(self, binary, tmp):
        self.binary = binary
        self.env = dict(os.environ, XDG_DATA_HOME=os.path.join(tmp, "data"),
                        XDG_CONFIG_HOME=os.path.join(tmp, "config"))
        self.library = os.path.join(tmp, "data", "pcvm", "vms")
        self.started = []  # pids of VMs `pcvm start` reported, killed at the end

    def __call__(self, *args, timeout=90):
        return run([self.binary, *args], timeout, env=self.env)

    def listing(self, *args):
        """`pcvm list --json ARGS`: (exit code, {path: entry} or None, stderr + stdout)."""
        rc, out, err = self("list", "--json", *args)
        try:
            entries = {e["path"]: e for e in json.loads(out)}
        except (ValueError, TypeError, KeyError):
            entries = None
        return rc, entries, err + out

    def wait_state(self, bundle, state, seconds=30):
        end = time.monotonic() + seconds
        while True:
            rc, entries, text = self.listing(bundle)
            got = entries and entries.get(bundle, {}).get("state")
            if got == state or time.monotonic() > end:
                return got == state, text
            time.sleep(0.2)


def alive(pid):
    """PID exists and is not a zombie waiting for its (new) parent to reap it."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


def spin_disk(tmp, src, name):
    return guest_disk(src, "spin", tmp, name)


def create(cli, bundle, *args):
    rc, out, err = cli("create", bundle, *args)
    assert rc == 0, err
    return bundle


def test_empty(tap, cli):
    rc, out, err = cli("list")
    tap.ok(rc == 0 and "No VMs" in out and cli.library in out,
           "list: an empty library says so and where it looked", f"rc {rc}\n{out}{err}")
    rc, out, err = cli("list", "--json")
    tap.ok(rc == 0 and out.strip() == "[]", "list --json: an empty library is []", out + err)


def test_damaged(tap, cli, tmp, good):
    """A vm.conf that does not parse, a *.pcvm without vm.conf, and a bundle pcvm-gtk opened
    from outside the library that is gone: each listed with its error, the others still."""
    bad = create(cli, os.path.join(cli.library, "bad.pcvm"), "--disk-size", "64M")
    with open(os.path.join(bad, "vm.conf"), "w") as f:
        f.write("[vm]\nname=Bad\nmemory-mib=lots\n")
    empty = os.path.join(cli.library, "empty.pcvm")
    os.makedirs(empty)
    os.makedirs(os.path.join(cli.library, "not-a-vm"))  # a folder beside: not listed
    outside = create(cli, os.path.join(tmp, "outside.pcvm"), "--disk-size", "64M")
    conf = os.path.join(outside, "vm.conf")
    text = read(conf).replace("name=outside", "name=Élan")  # any UTF-8 name
    with open(conf, "w", encoding="utf-8") as f:
        f.write(text)
    gone = os.path.join(tmp, "gone.pcvm")
    os.makedirs(os.path.join(tmp, "config", "pcvm"))
    with open(os.path.join(tmp, "config", "pcvm", "gtk.conf"), "w") as f:
        f.write(f"[library]\nbundles={outside};{gone};\n")
    rc, entries, text = cli.listing()
    tap.ok(rc == 1 and entries is not None and len(entries) == 6 and good in entries,
           "list: damaged bundles do not stop the listing (exit 1 after listing all)", text)
    entries = entries or {}
    e = entries.get(bad, {})
    tap.ok(e.get("name") == "Bad" and "memory-mib=lots" in (e.get("error") or "")
           and e.get("state") == "off" and e.get("memory-mib") is None,
           "list: a vm.conf that does not parse is listed with its error", str(e))
    e = entries.get(empty, {})
    tap.ok("no vm.conf" in (e.get("error") or ""), "list: a *.pcvm without vm.conf is listed",
           str(e))
    e = entries.get(outside, {})
    tap.ok(e.get("name") == "Élan" and e.get("error") is None and e.get("state") == "off",
           "list: the bundles pcvm-gtk opened from elsewhere are listed", str(e))
    e = entries.get(gone, {})
    tap.ok(e.get("state") == "missing" and "no such VM bundle" in (e.get("error") or ""),
           "list: a remembered bundle that is gone is listed as missing", str(e))
    tap.ok(not any(p.endswith("not-a-vm") for p in entries),
           "list: other folders in the library are not VMs", str(list(entries)))
    rc, out, err = cli("list")
    line = next((ln for ln in out.splitlines() if ln.startswith("Bad ")), "")
    tap.ok(rc == 1 and line.split()[:2] == ["Bad", "off"]
           and "error: " in out and "memory-mib=lots" in out,
           "list: the table shows the damaged bundle and its error", out + err)
    return [bad, empty, outside, gone]


def test_start_and_list(tap, cli, idle, quiet):
    rc, out, err = cli("start", idle)
    pid = int(out.rsplit("pid ", 1)[1].rstrip(")\n")) if "pid " in out else 0
    if pid:
        cli.started.append(pid)
    tap.ok(rc == 0 and out.startswith(f"{idle}: running (pid {pid})") and alive(pid),
           "start: the VM runs in the background once start returns", f"rc {rc}\n{out}{err}")
    tap.ok(pid and os.getsid(pid) == pid if alive(pid) else False,
           "start: the VM has a session of its own (it outlives the terminal)")
    status = cli("status", idle)
    tap.ok(status[0] == 0 and "state: running" in status[1] and f"pid: {pid}" in status[1],
           "start: pcvm status finds the started VM", status[1] + status[2])

    rc, out, err = cli("list")
    rows = {ln.split()[0]: ln.split() for ln in out.splitlines()[1:] if ln.strip()}
    tap.ok(rc == 0 and out.startswith("NAME") and rows.get("idle", [])[:5] == [
        "idle", "running", "256", "MiB", "1"] and rows.get("quiet", [])[:5] == [
        "quiet", "off", "128", "MiB", "2"] and rows["idle"][-1] == idle,
        "list: a table of both VMs, one running, one off, with memory, CPUs and path",
        f"rc {rc}\n{out}{err}")
    rc, entries, text = cli.listing()
    e = (entries or {}).get(idle, {})
    q = (entries or {}).get(quiet, {})
    tap.ok(rc == 0 and e.get("state") == "running" and e.get("pid") == pid
           and e.get("memory-mib") == 256 and e.get("cpus") == 1 and e.get("error") is None
           and q.get("state") == "off" and q.get("pid") is None and q.get("cpus") == 2,
           "list --json: parsed, with state, pid, memory and CPUs", text)
    rc, entries, text = cli.listing(quiet, idle)
    tap.ok(rc == 0 and entries is not None and set(entries) == {idle, quiet},
           "list DIR...: only the bundles named", text)

    rc, out, err = cli("start", idle)
    tap.ok(rc == 1 and "already running" in err and f"pid {pid}" in err and alive(pid),
           "start: a VM that already runs is refused, with its pid", f"rc {rc}\n{out}{err}")
    cli("pause", idle)
    ok, text = cli.wait_state(idle, "paused", 5)
    tap.ok(ok, "list: a paused VM is paused", text)
    cli("resume", idle)
    return pid


def test_start_fails(tap, cli, tmp, src):
    disk = spin_disk(tmp, src, "doomed")
    bundle = create(cli, os.path.join(cli.library, "doomed.pcvm"), "--disk", disk)
    os.unlink(disk)
    rc, out, err = cli("start", bundle)
    tap.ok(rc == 1 and "exited with status 1" in err and disk in err
           and "No such file" in err and "pcvm.log" in err,
           "start: a VM whose run fails is reported with the end of its log (exit 1)",
           f"rc {rc}\n{out}{err}")
    tap.ok(not os.path.exists(os.path.join(bundle, "run", "pid")),
           "start: the failed VM left nothing running")
    rc, out, err = cli("start", os.path.join(tmp, "nowhere.pcvm"))
    tap.ok(rc == 1 and "no such VM bundle" in err, "start: a bundle that does not exist", err)
    rc, out, err = cli("start", bundle, "--serial", "stdio")
    tap.ok(rc == 1 and "--serial stdio" in err, "start: --serial stdio is refused (no terminal)",
           err)


def test_suspend_and_stop(tap, cli, idle, pid):
    rc, out, err = cli("suspend", idle)
    ok, text = cli.wait_state(idle, "suspended")
    end = time.monotonic() + 20  # the state is on disk: the process may still be exiting
    while alive(pid) and time.monotonic() < end:
        time.sleep(0.1)
    tap.ok(rc == 0 and ok and not alive(pid), "list: a suspended VM is suspended", err + text)
    rc, out, err = cli("start", idle)
    new = int(out.rsplit("pid ", 1)[1].rstrip(")\n")) if "pid " in out else 0
    if new:
        cli.started.append(new)
    log = read(os.path.join(idle, "pcvm.log"))
    tap.ok(rc == 0 and "resumed from suspend" in log and cli.wait_state(idle, "running")[0],
           "start: a suspended VM resumes, as run does", f"rc {rc}\n{out}{err}{log[-1500:]}")
    rc, out, err = cli("stop", idle)
    ok, text = cli.wait_state(idle, "off")
    tap.ok(rc == 0 and ok, "stop ends the started VM and list shows it off", err + text)
    end = time.monotonic() + 20
    while new and alive(new) and time.monotonic() < end:
        time.sleep(0.1)
    tap.ok(new and not alive(new), "the stopped VM's process is gone")


def test_silent_vm(tap, cli, tmp):
    """A VM whose control socket accepts but never answers (hung, or busy): list says so
    within seconds instead of waiting on it for the 30 s other commands allow."""
    bundle = create(cli, os.path.join(tmp, "silent.pcvm"), "--disk-size", "64M")
    os.makedirs(os.path.join(bundle, "run"), exist_ok=True)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(os.path.join(bundle, "run", "control.sock"))
    listener.listen(4)
    try:
        t0 = time.monotonic()
        rc, entries, text = cli.listing(bundle)
        took = time.monotonic() - t0
    finally:
        listener.close()
    e = (entries or {}).get(bundle, {})
    tap.ok(e.get("state") == "unknown" and e.get("error") and took < 15,
           "list: a VM that does not answer is listed as unknown within seconds",
           f"{took:.1f} s\n{text}")


def test_odd_names(tap, cli, tmp):
    """A bundle folder whose name is not UTF-8 (Linux allows any bytes), with no name in its
    vm.conf, and one whose name holds a newline: the JSON stays JSON, the table one line each."""
    where = os.path.join(tmp, "odd")
    os.makedirs(where)
    latin = create(cli, os.path.join(os.fsencode(where), b"caf\xe9.pcvm"), "--disk-size", "16M")
    conf = os.path.join(latin, b"vm.conf")
    with open(conf, "rb") as f:
        text = f.read()
    with open(conf, "wb") as f:
        f.write(b"\n".join(ln for ln in text.split(b"\n") if not ln.startswith(b"name=")))
    newline = create(cli, os.path.join(where, "nl.pcvm"), "--disk-size", "16M")
    conf = os.path.join(newline, "vm.conf")
    text = read(conf).replace("name=nl", "name=two\\nlines")
    with open(conf, "w") as f:
        f.write(text)
    rc, out, err = cli("list", "--json", where)
    try:
        names = sorted(e["name"] for e in json.loads(out))
    except (ValueError, TypeError, KeyError):
        names = None
    tap.ok(rc == 0 and names == ["caf\ufffd", "two\nlines"],
           "list --json: names and paths that are not UTF-8 still make valid JSON", out + err)
    rc, out, err = cli("list", where)
    lines = out.splitlines()
    tap.ok(rc == 0 and len(lines) == 3 and lines[1].startswith("caf\ufffd ")
           and lines[2].startswith("two?lines "),
           "list: the table shows them one line each", out + err)


def main():
    binary, src = sys.argv[1:3]
    tap = Tap()
    with tempdir() as tmp:
        cli = Cli(binary, tmp)
        try:
            test_empty(tap, cli)
            test_silent_vm(tap, cli, tmp)
            test_odd_names(tap, cli, tmp)
            if require_kvm(tap):
                idle = create(cli, os.path.join(cli.library, "idle.pcvm"), "--disk",
                              spin_disk(tmp, src, "idle"))
                quiet = create(cli, os.path.join(cli.library, "quiet.pcvm"), "--disk",
                               spin_disk(tmp, src, "quiet"), "--memory", "128", "--cpus", "2")
                pid = test_start_and_list(tap, cli, idle, quiet)
                test_damaged(tap, cli, tmp, idle)
                test_start_fails(tap, cli, tmp, src)
                test_suspend_and_stop(tap, cli, idle, pid)
        finally:
            for pid in cli.started:
                if alive(pid):
                    os.kill(pid, signal.SIGKILL)
    return tap.done()


if __name__ == "__main__":
    sys.exit(main())
