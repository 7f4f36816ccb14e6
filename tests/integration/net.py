#!/usr/bin/env python3
"""Networking through the e1000 and the NAT (slirp), as a guest and a user see it: nasm guests
(tests/guests/net/) that drive the e1000 themselves, by polling, under pcvm and under QEMU
(-netdev user, -device e1000: the reference); both must print the same.

  dhcp     DISCOVER -> OFFER of 10.0.2.15 (router 10.0.2.2, DNS 10.0.2.3), REQUEST -> ACK
  ping     ARP for the gateway 10.0.2.2, three ICMP echoes answered with the same data
  tcpecho  a TCP server on the guest's port 7 reached from the host through a port forward
           ([net0] forward= / -netdev user,hostfwd=); `pcvm portfwd add` while the VM runs
           opens a second port, `pcvm portfwd remove` closes the first (QEMU: hostfwd_add
           and hostfwd_remove through QMP)
  tcpout   a TCP connection from the guest to 10.0.2.2:PORT, which the NAT maps to the
           test's server on 127.0.0.1:PORT
  tftp     network boot's first steps: DHCP names the boot file and next server ([net0] tftp=
           bootfile= / -netdev user,tftp=,bootfile=), the guest fetches the file the test wrote
           by TFTP (its size, CRC-32 and first line must match) and asks for one that does not
           exist (ERROR 1, file not found)
  rom      (pcvm alone) the NIC's default option ROM, Debian's iPXE: SeaBIOS runs it (pcvm.log),
           its banner naming 00:03.0 is on the screen the disk guest finds, and the tftp guest
           still works after it; skipped when the ROM is not installed
  netfirst (pcvm alone) [vm] boot=network,disk: SeaBIOS's boot order (pcvm.log) has the NIC at
           00:03.0 before the disk and it boots iPXE first (on the screen), not the disk guest;
           the test stops the VM there (iPXE waits for a boot server); skipped without the ROM

The test allocates free host ports (bind to port 0). The NIC gets no option ROM (pcvm
rom=none, QEMU romfile=) but in the rom case, and the MAC 52:54:00:12:34:56 under both.

usage: net.py PCVM GUEST_SRC_DIR   (GUEST_SRC_DIR = tests/guests; the guests are in net/)
"""
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
from tap import Tap, make_disk, qemu_available, read, require_kvm, run, tempdir  # noqa: E402

EXIT_OK = (0x10 << 1) | 1
WAIT = 60  # seconds for any one step; a guest takes 5-10 s here, 30 s on a loaded machine
MAC = "52:54:00:12:34:56"
NIC = ("e1000: 8086:100E at 00:03.0, IRQ 11, MAC 52:54:00:12:34:56, EEPROM checksum ok, "
       "link up")
LEASE = "dhcp:   mask 255.255.255.0, router 10.0.2.2, dns 10.0.2.3, lease 86400 s"

DHCP_WANT = [NIC, "dhcp: offer of 10.0.2.15 from server 10.0.2.2", LEASE,
             "dhcp: ack, bound to 10.0.2.15", LEASE]
PING_WANT = [NIC, "arp: 10.0.2.2 is at 52:55:0a:00:02:02"] + [
    f"ping: 64 bytes from 10.0.2.2: icmp_seq={i} ttl=255, data ok" for i in (1, 2, 3)] + [
    "ping: 3 replies from the gateway"]
LISTENING = "tcp: listening on port 7 at 10.0.2.15"
# (what the test sends, what must come back) on each connection, in order
ECHO_LINES = [("hello pcvm", "echo: HELLO PCVM"), ("through the second port",
              "echo: THROUGH THE SECOND PORT"), ("quit", "bye")]
ECHO_WANT = [NIC, LISTENING] + [
    line for n, (sent, _) in enumerate(ECHO_LINES, 1)
    for line in (f"tcp: connection {n} from 10.0.2.2", f"tcp: connection {n}: '{sent}'",
                 f"tcp: connection {n} closed")] + ["tcp: quit"]
GUEST_HELLO, SERVER_HELLO = "hello from the guest", "hello guest, this is the host"
TCPOUT_WANT = [NIC, "tcp: connected to the host's server through 10.0.2.2",
               f"tcp: the server says '{SERVER_HELLO}'", "tcp: closed"]
BOOT_FILE = "pcvm-netboot.bin"
BOOT_SIZE = 6 * 512 + 261  # the last block short
MISSING_FILE = "pcvm-no-such-file"  # the name tftp.asm asks for second
OFFERED = re.compile(r"dhcp: boot file '(.*)' \((option 67|BOOTP file field)\), "
                     r"next server 10\.0\.2\.2$")
TFTP_ERROR = re.compile(r"tftp: ERROR (\d+) '(.*)'$")
IPXE_ROM = "/usr/lib/ipxe/qemu/pxe-e1000.rom"  # pcvm's default when no rom= is given


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def assemble(src_dir, tmp, name, defines=(), out=None):
    """The guest tests/guests/net/NAME.asm on a raw disk (for both VMMs: neither writes it),
    OUT.img (NAME.img by default)"""
    out = out or name
    binary = os.path.join(tmp, out + ".bin")
    net_dir = os.path.join(src_dir, "net")
    subprocess.run(["nasm", "-f", "bin", "-i", net_dir + "/", "-i", src_dir + "/",
                    *[f"-D{d}" for d in defines], os.path.join(net_dir, name + ".asm"),
                    "-o", binary], check=True)
    with open(binary, "rb") as f:
        boot = f.read()
    disk = os.path.join(tmp, out + ".img")
    make_disk(disk, boot)
    return disk


def set_keys(conf, group, keys):
    """Sets KEYS in [GROUP] of the GKeyFile CONF, replacing lines or adding them."""
    with open(conf) as f:
        text = f.read()
    # the group's lines up to the next group (a blank line is no key: "[^[]" would take its
    # newline and the next group's header with it)
    m = re.search(r"^\[" + re.escape(group) + r"\]\n(?:[^[\n].*\n?|\n)*", text, re.M)
    body = m.group(0)
    for key, value in keys.items():
        line = f"{key}={value}"
        body, n = re.subn(r"^" + re.escape(key) + r"=.*$", line, body, flags=re.M)
        if n == 0:
            body = body.rstrip("\n") + "\n" + line + "\n"
    with open(conf, "w") as f:
        f.write(text[:m.start()] + body + text[m.end():])


class Serial:
    """The guest's COM1 output as it grows; `expect` waits for a line equal to TEXT after the
    lines already matched."""

    def __init__(self, path, proc):
        self.path, self.proc, self.pos = path, proc, 0

    def lines(self):
        return [l.rstrip("\r") for l in read(self.path).splitlines()]

    def expect(self, text, timeout=WAIT):
        deadline = time.monotonic() + timeout
        while True:
            lines = self.lines()
            for i in range(self.pos, len(lines)):
                if lines[i] == text:
                    self.pos = i + 1
                    return True
            if time.monotonic() > deadline or self.proc.poll() is not None:
                return False
            time.sleep(0.05)


class Vm:
    """One guest disk under one VMM; subclasses say how to start it and change forwards."""

    def __init__(self, tmp, name, disk, forwards):
        self.tmp, self.name, self.disk, self.forwards = tmp, name, disk, forwards
        self.serial_path = os.path.join(tmp, f"{self.who}-{name}.serial")
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(self.command(), stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, errors="replace",
                                     start_new_session=True)
        return Serial(self.serial_path, self.proc)

    def wait(self, timeout=WAIT):
        """(exit code or None if it had to be killed, stderr)"""
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        out, err = self.proc.communicate()
        return self.proc.returncode if self.proc.returncode >= 0 else None, err

    def run(self, timeout=WAIT):
        """Runs the guest to its end: (exit code, serial lines, details for a failure)."""
        serial = self.start()
        rc, err = self.wait(timeout)
        return rc, serial.lines(), f"stderr:\n{err}\n{self.log()}"

    def log(self):
        return ""


class PcvmVm(Vm):
    who = "pcvm"

    def __init__(self, binary, tmp, name, disk, forwards=(), netboot=None, rom=False):
        """NETBOOT: (TFTP root, boot file) or None; ROM: keep the default option ROM."""
        self.binary = binary
        super().__init__(tmp, name, disk, forwards)
        self.bundle = os.path.join(tmp, name + ".pcvm")
        rc, out, err = run([binary, "create", self.bundle, "--disk", disk, "--memory", "64",
                            "--test-exit", "--net", "nat"], 30)
        if rc != 0:
            raise RuntimeError(f"pcvm create failed ({rc}): {err}")
        keys = {"mac": MAC} if rom else {"mac": MAC, "rom": "none"}
        if forwards:
            keys["forward"] = ";".join(f"tcp:127.0.0.1:{p}-:7" for p in forwards)
        if netboot:
            keys["tftp"], keys["bootfile"] = netboot
        set_keys(os.path.join(self.bundle, "vm.conf"), "net0", keys)

    def command(self):
        return [self.binary, "run", self.bundle, "--serial", self.serial_path]

    def log(self):
        return "pcvm.log:\n" + read(os.path.join(self.bundle, "pcvm.log"))[-1500:]

    def portfwd(self, *args):
        return run([self.binary, "portfwd", self.bundle, *args], 30)

    def add_forward(self, port):
        return self.portfwd("add", "tcp", f"127.0.0.1:{port}", "7")

    def remove_forward(self, port):
        return self.portfwd("remove", "tcp", f"127.0.0.1:{port}")

    def list_forwards(self):
        return self.portfwd("list")

    def recorded_forwards(self):
        """[net0] forward= in vm.conf, which follows every change"""
        with open(os.path.join(self.bundle, "vm.conf")) as f:
            m = re.search(r"^\[net0\]\n(?:[^[].*\n?)*", f.read(), re.M)
        line = re.search(r"^forward=(.*)$", m.group(0), re.M) if m else None
        return [f for f in line.group(1).split(";") if f] if line else []


class QemuVm(Vm):
    """The reference: QEMU's e1000 on -netdev user; forwards changed through QMP's HMP
    passthrough (hostfwd_add / hostfwd_remove)."""
    who = "qemu"

    def __init__(self, tmp, name, disk, forwards=(), netboot=None):
        super().__init__(tmp, name, disk, forwards)
        self.qmp_path = os.path.join(tmp, f"qmp-{name}.sock")
        self.qmp = None
        self.netboot = netboot

    def command(self):
        netdev = "user,id=n0" + "".join(f",hostfwd=tcp:127.0.0.1:{p}-:7" for p in self.forwards)
        if self.netboot:
            netdev += ",tftp={},bootfile={}".format(*self.netboot)
        return ["qemu-system-x86_64", "-accel", "kvm", "-machine", "pc", "-m", "64",
                "-nodefaults", "-vga", "none", "-display", "none",
                "-serial", "file:" + self.serial_path,
                "-device", "isa-debug-exit,iobase=0xf4,iosize=4",
                "-netdev", netdev, "-device", f"e1000,netdev=n0,addr=03.0,romfile=,mac={MAC}",
                "-drive", f"file={self.disk},format=raw,if=ide",
                "-qmp", f"unix:{self.qmp_path},server=on,wait=off"]

    def hmp(self, command):
        if self.qmp is None:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.connect(self.qmp_path)
            self.qmp = sock.makefile("rw")
            json.loads(self.qmp.readline())  # greeting
            self.call("qmp_capabilities")
        reply = self.call("human-monitor-command", **{"command-line": command})
        return reply.get("return", "") if "return" in reply else str(reply.get("error"))

    def call(self, command, **args):
        self.qmp.write(json.dumps({"execute": command, "arguments": args}) + "\n")
        self.qmp.flush()
        while True:
            reply = json.loads(self.qmp.readline())
            if "event" not in reply:
                return reply

    def add_forward(self, port):
        text = self.hmp(f"hostfwd_add n0 tcp:127.0.0.1:{port}-:7")
        return (0 if not text.strip() else 1), text, ""

    def remove_forward(self, port):
        text = self.hmp(f"hostfwd_remove n0 tcp:127.0.0.1:{port}")
        return (0 if "removed" in text else 1), text, ""

    def list_forwards(self):
        return None

    def recorded_forwards(self):
        return None


def check_lines(tap, who, what, got, want, detail):
    return tap.ok(got == want, f"{who}: {what}",
                  detail + "\nexpected:\n" + "\n".join(want) + "\ngot:\n" + "\n".join(got))


def run_to_end(tap, vm, what, want):
    rc, lines, detail = vm.run()
    tap.ok(rc == EXIT_OK, f"{vm.who}: the {vm.name} guest exits with {EXIT_OK}",
           f"{detail}\nexit code {rc}\nserial:\n" + "\n".join(lines))
    check_lines(tap, vm.who, what, lines, want, detail)
    return lines


def echo_exchange(port, line):
    """Connects to 127.0.0.1:PORT, sends LINE, reads the answer line, closes our side and
    reads to the guest's FIN: (answer or None, closed cleanly, error text)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=WAIT) as s:
            s.sendall(line.encode() + b"\n")
            data = b""
            while not data.endswith(b"\n"):
                chunk = s.recv(256)
                if not chunk:
                    break
                data += chunk
            s.shutdown(socket.SHUT_WR)
            rest = s.recv(256)
            return data.decode(errors="replace").rstrip("\n"), rest == b"", ""
    except OSError as e:
        return None, False, f"{type(e).__name__}: {e}"


def refused(port):
    """True if nothing listens on 127.0.0.1:PORT any more."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10):
            return False
    except ConnectionRefusedError:
        return True
    except OSError:
        return False


def check_forwards(tap, vm, ports, what):
    """`pcvm portfwd list` and vm.conf name the forwards of PORTS and no other."""
    want = [f"tcp:127.0.0.1:{p}-:7" for p in ports]
    listed = vm.list_forwards()
    if listed is not None:
        rc, out, err = listed
        tap.ok(rc == 0 and sorted(out.split()) == sorted(want),
               f"{vm.who}: portfwd list shows {what}", f"{rc}\n{out}{err}\nwant {want}")
    recorded = vm.recorded_forwards()
    if recorded is not None:
        tap.ok(sorted(recorded) == sorted(want), f"{vm.who}: vm.conf records {what}",
               f"forward= {recorded}, want {want}")


def tcpecho(tap, vm, first, second):
    """The port forward FIRST from the start, SECOND added while running, FIRST removed."""
    who = vm.who
    serial = vm.start()
    finished = False
    try:
        if not tap.ok(serial.expect(LISTENING), f"{who}: the guest listens on port 7",
                      "\n".join(serial.lines())):
            return serial.lines()
        ports = [first, second, second]
        for n, ((sent, want), port) in enumerate(zip(ECHO_LINES, ports), 1):
            if n == 2:
                rc, out, err = vm.add_forward(second)
                tap.ok(rc == 0, f"{who}: add a forward of 127.0.0.1:{second} while running",
                       f"{rc}\n{out}{err}")
                check_forwards(tap, vm, [first, second], "both forwards")
            if n == 3:
                rc, out, err = vm.remove_forward(first)
                tap.ok(rc == 0, f"{who}: remove the forward of 127.0.0.1:{first}",
                       f"{rc}\n{out}{err}")
                tap.ok(refused(first), f"{who}: 127.0.0.1:{first} refuses connections now")
                check_forwards(tap, vm, [second], "the second forward alone")
            answer, closed, error = echo_exchange(port, sent)
            tap.ok(answer == want and closed,
                   f"{who}: '{sent}' through 127.0.0.1:{port} comes back as '{want}'",
                   f"answer {answer!r}, closed by the guest: {closed} {error}\nserial:\n"
                   + "\n".join(serial.lines()))
            if not serial.expect(f"tcp: connection {n} closed"):
                tap.ok(False, f"{who}: the guest closes connection {n}",
                       "\n".join(serial.lines()))
                break
        else:
            finished = True
    finally:
        if not finished:
            vm.proc.kill()
        rc, err = vm.wait()
        if hasattr(vm, "qmp") and vm.qmp is not None:
            vm.qmp.close()
    lines = serial.lines()
    tap.ok(rc == EXIT_OK, f"{who}: the tcpecho guest exits with {EXIT_OK} after 'quit'",
           f"stderr:\n{err}\n{vm.log()}\nexit code {rc}")
    check_lines(tap, who, "the guest saw the three connections and lines", lines, ECHO_WANT,
                vm.log())
    return lines


class Server:
    """The host's TCP server for tcpout: one connection at a time; receives a line, answers,
    reads to the guest's FIN."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.sock.settimeout(WAIT)
        self.port = self.sock.getsockname()[1]

    def serve_once(self):
        self.result = dict(line=None, eof=False, error="")
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        try:
            conn, _ = self.sock.accept()
            with conn:
                conn.settimeout(WAIT)
                data = b""
                while not data.endswith(b"\n"):
                    chunk = conn.recv(256)
                    if not chunk:
                        break
                    data += chunk
                self.result["line"] = data.decode(errors="replace").rstrip("\n")
                conn.sendall(SERVER_HELLO.encode() + b"\n")
                self.result["eof"] = conn.recv(256) == b""
        except OSError as e:
            self.result["error"] = f"{type(e).__name__}: {e}"

    def done(self):
        self.thread.join(WAIT)
        return self.result


def tcpout(tap, vm, server):
    server.serve_once()
    lines = run_to_end(tap, vm, "the guest connected, got the server's line and closed",
                       TCPOUT_WANT)
    got = server.done()
    tap.ok(got["line"] == GUEST_HELLO and got["eof"],
           f"{vm.who}: the server on 127.0.0.1:{server.port} got the guest's line, then its FIN",
           str(got))
    return lines


def tftp_root(tmp):
    """A TFTP root holding the boot file: a first line to recognise, then bytes of every value
    (NUL, CR, LF, FF: octet mode passes them as they are). (root, the file's bytes)"""
    root = os.path.join(tmp, "tftp")
    os.mkdir(root)
    head = f"pcvm network boot test file, {BOOT_SIZE} bytes\n".encode()
    data = head + bytes((i * 131 + 7) % 256 for i in range(BOOT_SIZE - len(head)))
    with open(os.path.join(root, BOOT_FILE), "wb") as f:
        f.write(data)
    return root, data


def tftp_want(data):
    """What the tftp guest must print for DATA; the boot file line as a pattern (libslirp may
    name the file in option 67 or in the BOOTP file field)"""
    first = data.split(b"\n", 1)[0].decode()
    return [NIC, "dhcp: offer of 10.0.2.15 from server 10.0.2.2", "dhcp: ack, bound to 10.0.2.15",
            LEASE, OFFERED, f"tftp: RRQ '{BOOT_FILE}' to 10.0.2.2 port 69",
            re.compile(rf"tftp: {len(data) // 512 + 1} blocks from port \d+, {len(data)} bytes, "
                       rf"CRC-32 {zlib.crc32(data):08X}$"),
            f"tftp: first line '{first}'", f"tftp: RRQ '{MISSING_FILE}' to 10.0.2.2 port 69",
            TFTP_ERROR]


def matches(got, want):
    return len(got) == len(want) and all(
        w.match(g) if isinstance(w, re.Pattern) else g == w for g, w in zip(got, want))


def tftp(tap, vm, data):
    """The boot file offered, fetched whole (size and CRC-32 as the test computed them), and
    ERROR 1 for a file that is not there."""
    who = vm.who
    rc, lines, detail = vm.run()
    serial = "\nserial:\n" + "\n".join(lines)
    tap.ok(rc == EXIT_OK, f"{who}: the tftp guest exits with {EXIT_OK}",
           f"{detail}\nexit code {rc}{serial}")
    offered = [m for m in map(OFFERED.match, lines) if m]
    tap.ok(offered and offered[0].group(1) == BOOT_FILE,
           f"{who}: DHCP offers the boot file {BOOT_FILE} from next server 10.0.2.2", serial)
    got = [m.groups() for m in map(re.compile(
        r"tftp: (\d+) blocks from port \d+, (\d+) bytes, CRC-32 ([0-9A-F]{8})$").match, lines) if m]
    want = (str(len(data) // 512 + 1), str(len(data)), f"{zlib.crc32(data):08X}")
    tap.ok(got == [want], f"{who}: TFTP brings {want[0]} blocks, {want[1]} bytes with CRC-32 "
           f"{want[2]}, as written", f"got {got}{serial}")
    errors = [m.groups() for m in map(TFTP_ERROR.match, lines) if m]
    tap.ok(len(errors) == 1 and errors[0][0] == "1" and errors[0][1].lower() == "file not found",
           f"{who}: {MISSING_FILE} gets TFTP ERROR 1 (file not found)", f"got {errors}{serial}")
    want_lines = tftp_want(data)
    tap.ok(matches(lines, want_lines), f"{who}: the tftp guest prints DHCP, the file and the error",
           detail + "\nexpected:\n" + "\n".join(getattr(w, "pattern", w) for w in want_lines)
           + serial)
    return lines


def option_rom(tap, binary, tmp, disk, tftp_lines):
    """pcvm with the NIC's default option ROM (no rom= key) boots the tftp guest built with
    ROM_BANNER, which first prints the screen's iPXE banner. The TFTP root is given relative to
    the bundle (../tftp), as disks may be."""
    if not os.path.exists(IPXE_ROM):
        tap.skip("pcvm: SeaBIOS runs the NIC's default option ROM",
                 f"{IPXE_ROM} is not installed (Debian's ipxe-qemu)")
        return
    vm = PcvmVm(binary, tmp, "rom", disk, netboot=("../tftp", BOOT_FILE), rom=True)
    rc, lines, detail = vm.run()
    serial = "\nserial:\n" + "\n".join(lines)
    tap.ok(rc == EXIT_OK, f"pcvm: with iPXE's option ROM the disk guest boots and exits with "
           f"{EXIT_OK}", f"{detail}\nexit code {rc}{serial}")
    # SeaBIOS's debug output (debug level 1): the ROMs of PCI cards are run after "Scan for
    # option roms" (the VGA BIOS's before it), and a ROM's boot entry is placed by looking up
    # its card's path, slot 3 for net0 at 00:03.0
    log = read(os.path.join(vm.bundle, "pcvm.log")).split("Scan for option roms", 1)
    ran = re.findall(r"Running option rom at ([0-9a-f]{4}):[0-9a-f]{4}", log[-1])
    tap.ok(len(log) == 2 and ran, "pcvm: SeaBIOS runs a PCI option ROM (pcvm.log)",
           vm.log())
    tap.ok(len(log) == 2 and "Searching bootorder for: /pci@i0cf8/*@3\n" in log[1],
           "pcvm: SeaBIOS places the boot entry of the ROM of the NIC at 00:03.0", vm.log())
    banner = [l for l in lines if l.startswith("rom: ")]
    if not banner:
        tap.skip("pcvm: the iPXE banner names the NIC and its ROM's segment",
                 "no iPXE banner on the screen (another ROM build)")
    else:
        m = re.match(r"rom: iPXE .* 00:03\.0 ([0-9A-F]{4}) ", banner[0])
        tap.ok(m and m.group(1).lower() in ran,
               "pcvm: the iPXE banner names the NIC at 00:03.0 and the segment SeaBIOS ran",
               f"banner {banner}, SeaBIOS ran ROMs at {ran}")
    tap.ok(lines[len(banner):] == tftp_lines,
           "pcvm: the tftp guest prints the same after iPXE's initialisation as without a ROM, "
           "with tftp=../tftp found beside the bundle", detail + serial)


def firmware_lines(bundle):
    """SeaBIOS's debug output (port 0x402) as pcvm.log records it, without the timestamps"""
    return [m.group(1) for m in re.finditer(r"^\S+ firmware: (.*)$",
                                             read(os.path.join(bundle, "pcvm.log")), re.M)]


def text_screen(bundle):
    """The running VM's text screen, asked over its control socket; "" when it cannot answer"""
    try:
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(5)
            s.connect(os.path.join(bundle, "run", "control.sock"))
            s.sendall(b'{"cmd": "text-screen", "args": {}, "id": 1}\n')
            buf = b""
            while b"\n" not in buf:
                chunk = s.recv(65536)
                if not chunk:
                    return ""
                buf += chunk
        return json.loads(buf.split(b"\n", 1)[0]).get("result", {}).get("text", "")
    except (OSError, ValueError, AttributeError):
        return ""


def network_first(tap, binary, tmp, disk):
    """[vm] boot=network,disk: the fw_cfg bootorder file names the NIC at 00:03.0 before the
    disk, and SeaBIOS boots the NIC's option ROM (iPXE) first, although the disk is bootable.
    The test stops the VM once iPXE has control, before the disk could be tried (here iPXE
    does not hand back to SeaBIOS in time: on a host without VT-x it stalls after its banner
    and the machine resets some 30 s later, under QEMU as well)."""
    if not os.path.exists(IPXE_ROM):
        tap.skip("pcvm: boot=network,disk boots the NIC's option ROM first",
                 f"{IPXE_ROM} is not installed (Debian's ipxe-qemu)")
        return
    vm = PcvmVm(binary, tmp, "netfirst", disk, rom=True)
    set_keys(os.path.join(vm.bundle, "vm.conf"), "vm", {"boot": "network,disk"})
    vm.start()
    deadline, screen = time.monotonic() + WAIT, ""
    while time.monotonic() < deadline and vm.proc.poll() is None:
        screen = text_screen(vm.bundle)
        if "iPXE (PCI 00:03.0) starting execution" in screen:
            break
        time.sleep(0.5)
    vm.proc.terminate()  # SIGTERM powers the VM off
    rc, err = vm.wait(30)
    fw = firmware_lines(vm.bundle)
    detail = f"{vm.log()}\nstderr:\n{err}"
    order = fw.index("boot order:") if "boot order:" in fw else -1
    tap.ok(order >= 0 and fw[order + 1:order + 3] == [
        "1: /pci@i0cf8/ethernet@3/ethernet-phy@0", "2: /pci@i0cf8/ide@1,1/drive@0/disk@0"],
        "pcvm: boot=network,disk lists the NIC at 00:03.0, then the disk, in fw_cfg bootorder",
        detail)
    ran = [m.group(1) for m in map(re.compile(r"Running option rom at ([0-9a-f]{4}):").match, fw)
           if m]
    booted = [l for l in fw if l.startswith("Booting from ")]
    tap.ok(len(booted) >= 2 and booted[0] == "Booting from ROM..." and
           booted[1].split(":")[0] == "Booting from " + (ran[-1] if ran else "?"),
           "pcvm: SeaBIOS boots the NIC's option ROM first (the segment it ran it at), not the "
           "disk", f"option ROMs run at {ran}, boots {booted}\n{detail}")
    tap.ok("iPXE (PCI 00:03.0) starting execution" in screen,
           "pcvm: iPXE has control and says so on the screen", f"screen:\n{screen}\n{detail}")
    tap.ok(rc is not None and not read(vm.serial_path).strip(),
           "pcvm: the disk guest did not run, and SIGTERM stops the VM in iPXE",
           f"exit code {rc}, serial:\n{read(vm.serial_path)}\n{detail}")


def differential(tap, name, pcvm_lines, qemu_lines):
    tap.ok(pcvm_lines == qemu_lines, f"qemu: the {name} guest prints the same as under pcvm",
           "qemu:\n" + "\n".join(qemu_lines) + "\npcvm:\n" + "\n".join(pcvm_lines))


def main():
    binary, src = sys.argv[1:3]
    tap = Tap()
    if not require_kvm(tap):
        return tap.done()
    with_qemu = qemu_available()
    with tempdir() as tmp:
        server = Server()
        disks = {name: assemble(src, tmp, name, defines) for name, defines in [
            ("dhcp", ()), ("ping", ()), ("tcpecho", ()),
            ("tcpout", (f"SERVER_PORT={server.port}",)), ("tftp", ())]}
        rom_disk = assemble(src, tmp, "tftp", ("ROM_BANNER",), "tftp-rom")
        root, boot_data = tftp_root(tmp)
        netboot = (root, BOOT_FILE)
        results = {}
        for who in ["pcvm", "qemu"]:
            if who == "qemu" and not with_qemu:
                tap.skip("qemu: the same guests under QEMU", "qemu-system-x86_64 is not installed")
                break

            def vm(name, forwards=(), netboot=None):
                if who == "pcvm":
                    return PcvmVm(binary, tmp, name, disks[name], forwards, netboot)
                return QemuVm(tmp, name, disks[name], forwards, netboot)
            r = results[who] = {}
            r["dhcp"] = run_to_end(tap, vm("dhcp"), "DHCP offer of 10.0.2.15 (router 10.0.2.2, "
                                   "DNS 10.0.2.3), then the ACK", DHCP_WANT)
            r["ping"] = run_to_end(tap, vm("ping"), "ARP for 10.0.2.2 and three echo replies",
                                   PING_WANT)
            first, second = free_port(), free_port()  # free now, bound in a moment
            r["tcpecho"] = tcpecho(tap, vm("tcpecho", [first]), first, second)
            r["tcpout"] = tcpout(tap, vm("tcpout"), server)
            r["tftp"] = tftp(tap, vm("tftp", netboot=netboot), boot_data)
            if who == "pcvm":
                option_rom(tap, binary, tmp, rom_disk, results["pcvm"]["tftp"])
                network_first(tap, binary, tmp, rom_disk)
        if "qemu" in results:
            for name in results["pcvm"]:
                differential(tap, name, results["pcvm"][name], results["qemu"][name])
        server.sock.close()
    return tap.done()


if __name__ == "__main__":
    sys.exit(main())
