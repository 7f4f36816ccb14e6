#!/usr/bin/env python3
"""The pcvm command line as a user meets it: create, run, and every error the spine promises
a clear message for (exit code 1, no crash).

usage: cli.py PCVM GUEST_SRC_DIR
"""
import os
import pwd
import signal
import stat
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from tap import Tap, guest_disk, nasm, read, require_kvm, run, tempdir  # noqa: E402


def pcvm(binary, *args, timeout=60, env=None):
    return run([binary, *args], timeout, env=env)


def check_error(tap, name, result, *fragments):
    rc, out, err = result
    ok = rc == 1 and all(f in err for f in fragments)
    tap.ok(ok, name, f"exit code {rc}\nstderr: {err}\nexpected: {fragments}")


def test_create(tap, binary, tmp):
    bundle = os.path.join(tmp, "demo.pcvm")
    rc, out, err = pcvm(binary, "create", bundle, "--name", "Demo", "--memory", "256", "--cpus",
                        "2", "--disk-size", "8G")
    tap.ok(rc == 0, "create with a new disk", err)
    conf = read(os.path.join(bundle, "vm.conf"))
    tap.ok("name=Demo" in conf and "memory-mib=256" in conf and "cpus=2" in conf
           and "file=disk0.qcow2" in conf and "uuid=" in conf, "vm.conf holds the settings", conf)
    disk = os.path.join(bundle, "disk0.qcow2")
    st = os.stat(disk)
    info = run(["qemu-img", "info", "--output=json", disk], 30)
    tap.ok(info[0] == 0 and '"format": "qcow2"' in info[1] and '"virtual-size": 8589934592' in info[1]
           and st.st_size < (1 << 20), "the new disk is an 8 GiB qcow2 that takes little space",
           f"{info}\nfile size {st.st_size}")
    rc, out, err = pcvm(binary, "disk", "info", bundle)
    tap.ok(rc == 0 and "format     qcow2" in out and "(8589934592 bytes)" in out,
           "pcvm disk info shows format and virtual size", out + err)
    check_error(tap, "create refuses to overwrite a VM",
                pcvm(binary, "create", bundle), "already holds a VM")
    check_error(tap, "create refuses a bad size",
                pcvm(binary, "create", os.path.join(tmp, "x.pcvm"), "--disk-size", "lots"),
                "--disk-size lots")
    check_error(tap, "create refuses a missing disk image",
                pcvm(binary, "create", os.path.join(tmp, "y.pcvm"), "--disk", "/nonexistent.img"),
                "/nonexistent.img")
    tap.ok(not os.path.exists(os.path.join(tmp, "y.pcvm")), "a failed create leaves nothing")
    # a name beyond ASCII where no locale is set (LANG unset: the C locale), as from a service
    env = {k: v for k, v in os.environ.items() if not k.startswith("LC_") and k != "LANG"}
    named = os.path.join(tmp, "elan.pcvm")
    rc, out, err = pcvm(binary, "create", named, "--name", "Élan", "--disk-size", "16M",
                        env=dict(env, LC_ALL="C"))
    conf = read(os.path.join(named, "vm.conf")) if rc == 0 else ""
    tap.ok(rc == 0 and "name=Élan" in conf, "create takes a UTF-8 name in the C locale",
           f"exit code {rc}\nstderr: {err}\n{conf}")
    rc, out, err = pcvm(binary, "nonsense")
    tap.ok(rc == 1 and "unknown command" in err, "an unknown command is named", err)


def boot_disk(tmp, src, name="hello"):
    return guest_disk(src, name, tmp)


def new_bundle(binary, tmp, name, disk, *args):
    bundle = os.path.join(tmp, name + ".pcvm")
    rc, out, err = pcvm(binary, "create", bundle, "--disk", disk, *args)
    assert rc == 0, err
    return bundle


def test_run_errors(tap, binary, tmp, src):
    disk = boot_disk(tmp, src)
    check_error(tap, "run: no such bundle", pcvm(binary, "run", os.path.join(tmp, "none.pcvm")),
                "no such VM bundle")

    b = new_bundle(binary, tmp, "missing-disk", disk)
    moved = disk + ".moved"
    os.rename(disk, moved)
    check_error(tap, "run: a missing disk file is named", pcvm(binary, "run", b),
                "disk [ide0:0]", disk, "No such file")
    os.rename(moved, disk)

    b = new_bundle(binary, tmp, "bad-conf", disk)
    conf = read(os.path.join(b, "vm.conf")).replace("memory-mib=256", "memory-mib=huge")
    with open(os.path.join(b, "vm.conf"), "w") as f:
        f.write(conf)
    check_error(tap, "run: a bad value names vm.conf and its line", pcvm(binary, "run", b),
                "vm.conf:", "memory-mib=huge", "not a whole number")
    with open(os.path.join(b, "vm.conf"), "w") as f:
        f.write("[vm]\nname=x\nthis is not a key file line\n")
    check_error(tap, "run: a malformed line is named", pcvm(binary, "run", b), "vm.conf:3:")
    with open(os.path.join(b, "vm.conf"), "wb") as f:
        f.write(bytes(range(256)))
    rc, out, err = pcvm(binary, "run", b)
    tap.ok(rc == 1 and "vm.conf" in err, "run: a binary vm.conf is refused", err)

    b = new_bundle(binary, tmp, "no-bios", disk)
    check_error(tap, "run: missing SeaBIOS says which package",
                pcvm(binary, "run", b, "--bios", "/nonexistent/bios-256k.bin"),
                "apt-get install seabios")
    check_error(tap, "run: a file that is no BIOS is refused",
                pcvm(binary, "run", b, "--bios", disk + "x"), "BIOS")

    env = dict(os.environ, PCVM_KVM_DEVICE=os.path.join(tmp, "no-kvm"))
    check_error(tap, "run: no /dev/kvm says how to get KVM", pcvm(binary, "run", b, env=env),
                "KVM is not available", "modprobe")

    if os.geteuid() == 0:
        node = os.path.join(tmp, "kvm-root-only")
        with open(node, "w"):
            pass
        os.chmod(node, 0o600)
        os.chmod(tmp, 0o777)
        b2 = new_bundle(binary, tmp, "perm", disk)
        os.chmod(b2, 0o777)
        nobody = pwd.getpwnam("nobody")
        env = dict(os.environ, PCVM_KVM_DEVICE=node)
        result = run(["setpriv", f"--reuid={nobody.pw_uid}", f"--regid={nobody.pw_gid}",
                      "--clear-groups", binary, "run", b2], 30, env=env)
        check_error(tap, "run: no permission on /dev/kvm says to join the kvm group", result,
                    "permission denied", "kvm group")
    else:
        tap.skip("run: no permission on /dev/kvm", "needs root to run as another user")


def test_running_lock(tap, binary, tmp, src):
    disk = boot_disk(tmp, src, "spin")
    b = new_bundle(binary, tmp, "locked", disk)
    first = subprocess.Popen([binary, "run", b], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
    pidfile = os.path.join(b, "run", "pid")
    end = time.monotonic() + 30
    while not os.path.exists(pidfile) and time.monotonic() < end:
        time.sleep(0.05)
    if not tap.ok(os.path.exists(pidfile), "run: the running VM writes run/pid"):
        first.kill()
        first.wait()
        return
    check_error(tap, "run: a bundle already running is refused, with its pid",
                pcvm(binary, "run", b), "already running", f"pid {first.pid}")
    time.sleep(1)
    tap.ok(first.poll() is None, "the running VM kept running")
    log_path = os.path.join(b, "pcvm.log")
    end = time.monotonic() + 30  # SeaBIOS first (ASan in CI)
    while "spin: idle from here on" not in read(log_path) and time.monotonic() < end:
        time.sleep(0.1)
    tap.ok("firmware: spin: idle from here on" in read(log_path),
           "pcvm.log shows what the guest wrote to the debug port last, while it runs",
           read(log_path)[-2000:])
    first.send_signal(signal.SIGTERM)
    try:
        rc = first.wait(timeout=20)
    except subprocess.TimeoutExpired:
        first.kill()
        rc = None
    tap.ok(rc == 0, "SIGTERM powers the VM off cleanly (exit 0)", f"exit code {rc}")
    tap.ok(not os.path.exists(pidfile), "the pid file is gone after exit")
    log = read(os.path.join(b, "pcvm.log"))
    tap.ok("SeaBIOS" in log and "stopped by a signal" in log,
           "pcvm.log holds the firmware's log and why the VM stopped", log[-2000:])


def test_serial_file(tap, binary, tmp, src):
    disk = boot_disk(tmp, src)
    b = new_bundle(binary, tmp, "serial", disk, "--test-exit")
    out = os.path.join(tmp, "com1.txt")
    with open(out, "w") as f:
        f.write("earlier line\n")
    rc, _, err = pcvm(binary, "run", b, "--serial", out)
    text = read(out)
    tap.ok(rc == 33 and text.startswith("earlier line\n") and "hello from the boot sector" in text,
           "--serial FILE appends the guest's COM1 output", f"rc {rc}\n{text}\n{err}")
    rc, stdout, err = pcvm(binary, "run", b, "--serial", "stdio")
    tap.ok(rc == 33 and "hello from the boot sector" in stdout, "--serial stdio", stdout + err)
    rc, stdout, err = pcvm(binary, "run", b, "--serial", "none")
    tap.ok(rc == 33 and stdout == "", "--serial none", stdout + err)
    conf = read(os.path.join(b, "vm.conf")).replace("[vm]\n", "[vm]\ncolour=blue\n")
    with open(os.path.join(b, "vm.conf"), "w") as f:
        f.write(conf)
    rc, stdout, err = pcvm(binary, "run", b, "--serial", "none", "--test-exit")
    log = read(os.path.join(b, "pcvm.log"))
    tap.ok(rc == 33 and "unknown key 'colour'" in log, "an unknown vm.conf key is warned about",
           log[-1500:])


def test_boot_order(tap, binary, tmp, src):
    """Both the disk and the CD boot; [vm] boot= decides which SeaBIOS tries first."""
    disk = boot_disk(tmp, src)  # prints "hello from the boot sector, drive 80"
    root = os.path.join(tmp, "cd-root")
    os.makedirs(root, exist_ok=True)
    nasm(src, "hello", os.path.join(root, "boot.img"))
    iso = os.path.join(tmp, "boot.iso")
    subprocess.run(["xorriso", "-as", "mkisofs", "-quiet", "-b", "boot.img", "-no-emul-boot",
                    "-boot-load-size", "4", "-o", iso, root], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for order, drive in (("disk,cdrom", "80"), ("cdrom,disk", "E0")):
        b = new_bundle(binary, tmp, "order-" + order.replace(",", "-"), disk, "--cdrom", iso,
                       "--test-exit")
        conf = read(os.path.join(b, "vm.conf")).replace("[vm]\n", f"[vm]\nboot={order}\n")
        with open(os.path.join(b, "vm.conf"), "w") as f:
            f.write(conf)
        rc, out, err = pcvm(binary, "run", b, "--serial", "stdio")
        tap.ok(rc == 33 and f"drive {drive}" in out, f"boot={order} boots drive {drive} first",
               out + err)


def net_group(conf, group):
    """The lines of [GROUP] in vm.conf text, as a dict."""
    out, cur = {}, None
    for line in conf.splitlines():
        line = line.strip()
        if line.startswith("["):
            cur = line
        elif cur == f"[{group}]" and "=" in line:
            k, v = line.split("=", 1)
            out[k] = v
    return out if f"[{group}]" in conf else None


def test_net_config(tap, binary, tmp):
    a, b = os.path.join(tmp, "neta.pcvm"), os.path.join(tmp, "netb.pcvm")
    pcvm(binary, "create", a, "--disk-size", "64M")
    pcvm(binary, "create", b, "--disk-size", "64M")
    na, nb = net_group(read(os.path.join(a, "vm.conf")), "net0"), \
        net_group(read(os.path.join(b, "vm.conf")), "net0")
    tap.ok(na and na.get("model") == "e1000" and na.get("mode") == "nat"
           and na.get("mac", "").startswith("52:54:00:"),
           "a new VM has an e1000 on NAT with a 52:54:00 MAC", str(na))
    tap.ok(na and nb and na.get("mac") != nb.get("mac"), "two VMs get different MACs",
           f"{na} {nb}")
    c = os.path.join(tmp, "netc.pcvm")
    rc, out, err = pcvm(binary, "create", c, "--disk-size", "64M", "--net", "none")
    tap.ok(rc == 0 and net_group(read(os.path.join(c, "vm.conf")), "net0") is None,
           "--net none: no network card", err)
    d = os.path.join(tmp, "netd.pcvm")
    rc, out, err = pcvm(binary, "create", d, "--disk-size", "64M", "--net", "bridged:br7")
    nd = net_group(read(os.path.join(d, "vm.conf")), "net0") if rc == 0 else None
    tap.ok(nd and nd.get("mode") == "bridged" and nd.get("bridge") == "br7",
           "--net bridged:BRIDGE names the bridge", f"{err} {nd}")
    e = os.path.join(tmp, "nete.pcvm")
    check_error(tap, "create refuses an unknown network mode",
                pcvm(binary, "create", e, "--net", "vmnet8"), "--net vmnet8", "nat")
    tap.ok(not os.path.exists(e), "the refused create leaves nothing")

    rc, out, err = pcvm(binary, "portfwd", a, "add", "tcp", "2222", "22")
    conf = read(os.path.join(a, "vm.conf"))
    tap.ok(rc == 0 and "forward=tcp:127.0.0.1:2222-:22" in conf,
           "portfwd add (VM off) records the forward in vm.conf", err + conf)
    rc, out, err = pcvm(binary, "portfwd", a, "add", "udp", "0.0.0.0:5353", "53")
    rc, out, err = pcvm(binary, "portfwd", a, "list")
    tap.ok(rc == 0 and out.split() == ["tcp:127.0.0.1:2222-:22", "udp:0.0.0.0:5353-:53"],
           "portfwd list shows both forwards", out + err)
    check_error(tap, "portfwd add refuses a host port already forwarded",
                pcvm(binary, "portfwd", a, "add", "tcp", "127.0.0.1:2222", "23"),
                "already forwarded")
    check_error(tap, "portfwd add refuses a bad port",
                pcvm(binary, "portfwd", a, "add", "tcp", "70000", "22"), "70000")
    rc, out, err = pcvm(binary, "portfwd", a, "remove", "tcp", "2222")
    rc2, out2, err2 = pcvm(binary, "portfwd", a, "list")
    tap.ok(rc == 0 and out2.split() == ["udp:0.0.0.0:5353-:53"],
           "portfwd remove takes the forward out", err + out2 + err2)
    check_error(tap, "portfwd remove of a forward that does not exist",
                pcvm(binary, "portfwd", a, "remove", "tcp", "2222"), "no tcp forward")
    check_error(tap, "portfwd on a VM without a NAT card",
                pcvm(binary, "portfwd", c, "list"), "not a NAT network card")


def test_net_errors(tap, binary, tmp, src):
    disk = boot_disk(tmp, src, "hello")
    env = dict(os.environ, XDG_CONFIG_HOME=os.path.join(tmp, "xdg-config"))
    bundle = new_bundle(binary, tmp, "noet", disk, "--net", "hostonly:nosuchnet")
    check_error(tap, "run: a host-only network that was never created is named",
                pcvm(binary, "run", bundle, env=env), "[net0]", "nosuchnet")
    bundle = new_bundle(binary, tmp, "nobr", disk, "--net", "bridged:pcvmnobr0")
    result = pcvm(binary, "run", bundle)
    check_error(tap, "run: a bridged card whose bridge is missing (or no permission) is named",
                result, "[net0]")
    bundle = new_bundle(binary, tmp, "badfwd", disk)
    with open(os.path.join(bundle, "vm.conf"), "a") as f:
        f.write("[net1]\nmode=nat\nforward=tcp:127.0.0.1:99999-:22\n")
    check_error(tap, "run: a bad forward= in vm.conf is named",
                pcvm(binary, "run", bundle), "forward=tcp:127.0.0.1:99999-:22")


def main():
    binary, src = sys.argv[1:3]
    tap = Tap()
    with tempdir() as tmp:
        test_create(tap, binary, tmp)
        test_net_config(tap, binary, tmp)
        if require_kvm(tap):
            test_net_errors(tap, binary, tmp, src)
            test_run_errors(tap, binary, tmp, src)
            test_running_lock(tap, binary, tmp, src)
            test_serial_file(tap, binary, tmp, src)
            test_boot_order(tap, binary, tmp, src)
    return tap.done()


if __name__ == "__main__":
    sys.exit(main())
