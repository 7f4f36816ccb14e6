#!/usr/bin/env python3
"""Bridged and host-only networking with real VMs, inside network namespaces that the test
creates (ip netns add pcvmt-PID-*): every pcvm runs there (ip netns exec), so nothing touches
the machine's own interfaces, and the namespaces go at the end, with whatever still runs in
them, even when a check fails. The guest is tests/guests/net/lan.asm: an address by DHCP or
from the parameter block the test writes to sector 1, pings of the addresses the block lists,
then ARP and echo answered until a UDP "quit" (or "again": the pings once more, with the MACs
ARP found the first time) reaches its port 7000.

  host-only  `pcvm net create lan0 --subnet 10.77.0.0/24`; VM B joins (the bridge, the host
             address and dnsmasq come up), leases an address and pings the host; VM A joins,
             leases another and pings B and the host; the host pings both; dnsmasq's lease
             file names both; the host's MAC on the network stays the same while VMs join and
             leave (a guest's ARP cache stays right: A pings the host again after B left);
             no router in the lease, no default route, no forwarding; when both are gone, so
             are the bridge and dnsmasq.
  bridged    a bridge br0 in one namespace, a veth from it to a peer namespace (10.9.0.1/24);
             the VM (--net bridged:br0, static 10.9.0.2) pings the peer, the peer pings the VM;
             pcvm's tap is gone from br0 after the VM exits. The same guest under QEMU (-netdev
             tap on a tap prepared on br0) must print the same.
  errors     --net bridged:nosuchbr, a bridge that is not one, hostonly:nosuchnet: pcvm run
             exits 1 naming [net0] and the culprit, and leaves no tap behind.

Needs root, iproute2 (ip), /dev/net/tun and /dev/kvm; the host-only case also dnsmasq. Without
them the cases skip with the reason.

usage: netns.py PCVM GUEST_SRC_DIR   (GUEST_SRC_DIR = tests/guests; the guest is in net/)
"""
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
from tap import Tap, make_disk, qemu_available, read, require_kvm, run, tempdir  # noqa: E402
from net import set_keys  # noqa: E402  (tests/integration/net.py)

EXIT_OK = (0x10 << 1) | 1
WAIT = 90        # seconds for a guest to get from power-on to serving (10-20 s here)
SERVE_LIMIT = 240  # seconds the guest waits for each command before it gives up
PORT = 7000      # the guest's command port
NET, SUBNET, HOST = "lan0", "10.77.0.0/24", "10.77.0.1"
BRIDGE = "pcvm-" + NET
LEASE_OPTIONS = "dhcp:   mask 255.255.255.0, router none, dns none, lease 43200 s"
MAC_A, MAC_B, MAC_C = "52:54:00:4e:53:0a", "52:54:00:4e:53:0b", "52:54:00:4e:53:0c"
PEER, GUEST_IP = "10.9.0.1", "10.9.0.2"


# Pings DST COUNT times from the namespace it runs in (there may be no ping(8) installed): a
# raw ICMP socket; a reply counts if it comes from DST with our identifier, sequence and data
# and a correct checksum.
PINGER = r"""
import os, socket, struct, sys, time
def csum(b):
    b += bytes(len(b) % 2)
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xFFFF)
    return ~(s + (s >> 16)) & 0xFFFF
dst, count = sys.argv[1], int(sys.argv[2])
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
ident, got = os.getpid() & 0xFFFF, 0
for seq in range(1, count + 1):
    data = bytes((i * 3 + seq) & 0xFF for i in range(56))
    head = struct.pack("!BBHHH", 8, 0, 0, ident, seq)
    s.sendto(struct.pack("!BBHHH", 8, 0, csum(head + data), ident, seq) + data, (dst, 0))
    end = time.monotonic() + 3
    while end > time.monotonic():
        s.settimeout(end - time.monotonic())
        try:
            pkt, (src, _) = s.recvfrom(2048)
        except socket.timeout:
            break
        icmp = pkt[(pkt[0] & 15) * 4:]
        if (src == dst and icmp[:2] == b"\0\0" and csum(icmp) == 0 and
                struct.unpack("!HH", icmp[4:8]) == (ident, seq) and icmp[8:] == data):
            got += 1
            print(f"reply from {src}: icmp_seq={seq}")
            break
    else:
        print(f"no reply to icmp_seq={seq}")
print(f"{got} of {count} replies")
"""


def nic_line(mac):
    return (f"e1000: 8086:100E at 00:03.0, IRQ 11, MAC {mac}, EEPROM checksum ok, link up")


def ping_lines(ip, first_seq, count=3, lost=False):
    if lost:
        return [f"ping: no reply from {ip} to icmp_seq={s}"
                for s in range(first_seq, first_seq + count)] + [
            f"ping: 0 of {count} replies from {ip}"]
    return [f"ping: 64 bytes from {ip}: icmp_seq={s} ttl=64, data ok"
            for s in range(first_seq, first_seq + count)] + [
        f"ping: {count} of {count} replies from {ip}"]


def params(dhcp=False, ip="0.0.0.0", mask="0.0.0.0", targets=(), pings=3):
    """lan.asm's parameter block (sector 1)."""
    block = b"PCVMLAN1" + struct.pack("<HH", 1 if dhcp else 0, SERVE_LIMIT)
    block += socket.inet_aton(ip) + socket.inet_aton(mask)
    block += struct.pack("<BBH", len(targets), pings, 0)
    block += b"".join(socket.inet_aton(t) for t in targets)
    return block.ljust(512, b"\0")


class Namespaces:
    """The network namespaces of this test. `remove` ends what still runs in them (dnsmasq
    left by a VM that was killed, say) and deletes them."""

    def __init__(self, env):
        self.env, self.names = env, []

    def add(self, suffix):
        name = f"pcvmt-{os.getpid()}-{suffix}"
        rc, out, err = run(["ip", "netns", "add", name], 30)
        if rc != 0:
            raise RuntimeError(f"ip netns add {name}: {err.strip()}")
        self.names.append(name)
        self.sh(name, "ip link set lo up")
        return name

    def run(self, ns, *cmd, timeout=60):
        return run(["ip", "netns", "exec", ns, *cmd], timeout, env=self.env)

    def sh(self, ns, *lines):
        """Runs each `ip ...` line in NS; raises on failure (the test's own setup)."""
        for line in lines:
            rc, out, err = self.run(ns, *line.split())
            if rc != 0:
                raise RuntimeError(f"{ns}: {line}: {err.strip()}")

    def ip(self, ns, *args):
        """`ip ARGS` in NS: its output, or '' if it failed."""
        rc, out, err = self.run(ns, "ip", *args)
        return out if rc == 0 else ""

    def remove(self):
        for name in self.names:
            rc, out, err = run(["ip", "netns", "pids", name], 30)
            for pid in out.split():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (OSError, ValueError):
                    pass
            run(["ip", "netns", "del", name], 30)
        self.names = []


def link_mac(nss, ns, ifname):
    m = re.search(r"link/ether ([0-9a-f:]{17})", nss.ip(ns, "-o", "link", "show", "dev", ifname))
    return m.group(1) if m else None


class Serial:
    """The guest's COM1 output as it grows; `expect` waits for a line equal to TEXT (or
    matching a regex) after the lines already matched."""

    def __init__(self, path, proc):
        self.path, self.proc, self.pos = path, proc, 0

    def lines(self):
        return [l.rstrip("\r") for l in read(self.path).splitlines()]

    def expect(self, text, timeout=WAIT, regex=False):
        deadline = time.monotonic() + timeout
        while True:
            lines = self.lines()
            for i in range(self.pos, len(lines)):
                m = re.fullmatch(text, lines[i]) if regex else lines[i] == text
                if m:
                    self.pos = i + 1
                    return m
            if time.monotonic() > deadline or self.proc.poll() is not None:
                return None
            time.sleep(0.05)


class LanVm:
    """lan.asm with its parameter block, under pcvm (NET: a --net spec) or QEMU (NET: the
    name of a prepared tap), in namespace NS."""

    def __init__(self, who, ctx, ns, name, block, net, mac):
        self.who, self.ctx, self.ns, self.name, self.net, self.mac = who, ctx, ns, name, net, mac
        tmp = ctx["tmp"]
        self.disk = os.path.join(tmp, f"{who}-{name}.img")
        make_disk(self.disk, ctx["boot"], extra={1: block})
        self.serial_path = os.path.join(tmp, f"{who}-{name}.serial")
        self.bundle = os.path.join(tmp, f"{name}.pcvm")
        self.proc = self.serial = self.ip = None
        if who == "pcvm":
            rc, out, err = run([ctx["pcvm"], "create", self.bundle, "--disk", self.disk,
                                "--memory", "64", "--test-exit", "--net", net], 30)
            if rc != 0:
                raise RuntimeError(f"pcvm create failed ({rc}): {err}")
            set_keys(os.path.join(self.bundle, "vm.conf"), "net0", {"mac": mac, "rom": "none"})

    def command(self):
        if self.who == "pcvm":
            return [self.ctx["pcvm"], "run", self.bundle, "--serial", self.serial_path]
        return ["qemu-system-x86_64", "-accel", "kvm", "-machine", "pc", "-m", "64",
                "-nodefaults", "-vga", "none", "-display", "none",
                "-serial", "file:" + self.serial_path,
                "-device", "isa-debug-exit,iobase=0xf4,iosize=4",
                "-netdev", f"tap,id=n0,ifname={self.net},script=no,downscript=no",
                "-device", f"e1000,netdev=n0,addr=03.0,romfile=,mac={self.mac}",
                "-drive", f"file={self.disk},format=raw,if=ide"]

    def start(self):
        self.proc = subprocess.Popen(["ip", "netns", "exec", self.ns, *self.command()],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     errors="replace", env=self.ctx["env"],
                                     start_new_session=True)
        self.ctx["vms"].append(self)
        self.serial = Serial(self.serial_path, self.proc)
        return self.serial

    def send(self, command, want, source_ns, tries=3):
        """Sends COMMAND to the guest's port from SOURCE_NS until the line WANT appears (or,
        for quit, the VM ends): UDP may be lost."""
        script = ("import socket, sys; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); "
                  "s.sendto(sys.argv[1].encode(), (sys.argv[2], int(sys.argv[3])))")
        for _ in range(tries):
            self.ctx["nss"].run(source_ns, sys.executable, "-c", script, command, self.ip,
                                str(PORT))
            if self.serial.expect(want, timeout=10):
                return True
        return False

    def wait(self, timeout=WAIT):
        """(exit code or None if it had to be killed, stderr)"""
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.stop()
        out, err = self.proc.communicate()
        return (self.proc.returncode if self.proc.returncode >= 0 else None), err

    def stop(self):
        """SIGTERM (pcvm then leaves its network as it should), SIGKILL if that is ignored."""
        if self.proc is None or self.proc.poll() is not None:
            return
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(self.proc.pid, sig)
                self.proc.wait(timeout=15)
                return
            except (OSError, subprocess.TimeoutExpired):
                pass

    def details(self):
        text = "serial:\n" + "\n".join(self.serial.lines() if self.serial else [])
        if self.who == "pcvm":
            text += "\npcvm.log:\n" + read(os.path.join(self.bundle, "pcvm.log"))[-1500:]
        return text


def check_lines(tap, vm, what, want):
    got = vm.serial.lines()
    return tap.ok(got == want, f"{vm.who}: {vm.name}: {what}",
                  "expected:\n" + "\n".join(want) + "\n" + vm.details())


def finish(tap, vm, source, source_ns):
    """Quits VM with a datagram from SOURCE_NS; checks the line and the exit code."""
    sent = vm.send("quit", f"lan: quit from {source}", source_ns)
    rc, err = vm.wait()
    tap.ok(sent and rc == EXIT_OK, f"{vm.who}: {vm.name}: 'quit' from {source}, exit {EXIT_OK}",
           f"exit code {rc}\nstderr:\n{err}\n{vm.details()}")


def serving(tap, vm, ip_pattern):
    """Waits for the guest to serve: the address it serves at, or None (a failed check)."""
    m = vm.serial.expect(r"lan: serving at (" + ip_pattern + ")", regex=True)
    if not tap.ok(m is not None, f"{vm.who}: {vm.name}: the guest takes an address, pings "
                  "and serves", vm.details()):
        vm.stop()
        return None
    vm.ip = m.group(1)
    return vm.ip


def host_pings(tap, nss, ns, ip, what):
    rc, out, err = nss.run(ns, sys.executable, "-c", PINGER, ip, "3")
    return tap.ok(rc == 0 and "3 of 3 replies" in out, what, out + err)


def dnsmasq_pid(ctx):
    text = read(os.path.join(ctx["env"]["XDG_RUNTIME_DIR"], "pcvm", "networks", NET,
                             "dnsmasq.pid")).strip()
    return int(text) if text.isdigit() else None


def network_state(nss, ns):
    """What a host-only network changes in the namespace: the bridge's addresses, its
    forwarding switch, ip_forward and the default route."""
    fwd = nss.run(ns, "cat", f"/proc/sys/net/ipv4/conf/{BRIDGE}/forwarding")[1].strip()
    return dict(addr=nss.ip(ns, "-4", "-o", "addr", "show", "dev", BRIDGE),
                bridge_forwarding=fwd,
                ip_forward=nss.run(ns, "cat", "/proc/sys/net/ipv4/ip_forward")[1].strip(),
                default=nss.ip(ns, "route", "show", "default").strip())


def alive(pid):
    """PID runs (a zombie waiting for its reaper does not)."""
    stat = read(f"/proc/{pid}/stat")
    return bool(stat) and stat[stat.rindex(")") + 2] not in "ZX"


def in_range(ip):
    last = int(ip.split(".")[3])
    return ip.startswith("10.77.0.") and 100 <= last <= 254


def hostonly(tap, ctx):
    """The host-only case, in phases that share H: the first VM, the second, the first
    leaving, the second leaving."""
    nss = ctx["nss"]
    h = dict(ns=nss.add("ho"))
    h["forwarding"] = network_state(nss, h["ns"])["ip_forward"]  # a new namespace may inherit 1
    rc, out, err = nss.run(h["ns"], ctx["pcvm"], "net", "create", NET, "--subnet", SUBNET)
    if (tap.ok(rc == 0 and f"bridge {BRIDGE}" in out and f"host {HOST}" in out,
               f"pcvm net create {NET} --subnet {SUBNET}", out + err) and
            hostonly_first(tap, ctx, h) and hostonly_second(tap, ctx, h)):
        hostonly_leave(tap, ctx, h)


def hostonly_first(tap, ctx, h):
    """B joins: the network comes up; B leases an address and pings the host."""
    nss, ns = ctx["nss"], h["ns"]
    h["b"] = b = LanVm("pcvm", ctx, ns, "hostonly-b", params(dhcp=True, targets=[HOST]),
                       f"hostonly:{NET}", MAC_B)
    b.start()
    if serving(tap, b, r"10\.77\.0\.\d+") is None:
        return False
    h["mac"] = link_mac(nss, ns, BRIDGE)
    check_lines(tap, b, "DHCP lease from the network's dnsmasq, the host pinged", [
        nic_line(MAC_B), f"dhcp: offer of {b.ip} from server {HOST}",
        f"dhcp: ack, bound to {b.ip}", LEASE_OPTIONS, f"arp: {HOST} is at {h['mac']}",
        *ping_lines(HOST, 1), f"lan: serving at {b.ip}"])
    tap.ok(in_range(b.ip), f"B's address {b.ip} is in the DHCP range 10.77.0.100-254")
    state = network_state(nss, ns)
    tap.ok(f"inet {HOST}/24" in state["addr"] and state["bridge_forwarding"] == "0" and
           state["ip_forward"] == h["forwarding"] and not state["default"],
           f"{BRIDGE} is up in the namespace with {HOST}/24, forwarding off on it, no default "
           "route", str(state))
    h["dnsmasq"] = pid = dnsmasq_pid(ctx)
    rc, out, err = run(["ip", "netns", "pids", ns], 30)
    tap.ok(pid is not None and str(pid) in out.split(),
           "dnsmasq runs in the namespace (its pid file names a process there)",
           f"pid {pid}, namespace pids {out}")
    tap.ok(run(["ip", "link", "show", BRIDGE], 30)[0] != 0,
           f"the machine's own namespace has no {BRIDGE}")
    return True


def hostonly_second(tap, ctx, h):
    """A joins: its own lease; it pings B and the host; the host pings both."""
    nss, ns, b = ctx["nss"], h["ns"], h["b"]
    h["a"] = a = LanVm("pcvm", ctx, ns, "hostonly-a", params(dhcp=True, targets=[b.ip, HOST]),
                       f"hostonly:{NET}", MAC_A)
    a.start()
    if serving(tap, a, r"10\.77\.0\.\d+") is None:
        return False
    mac = link_mac(nss, ns, BRIDGE)
    h["a_lines"] = [
        nic_line(MAC_A), f"dhcp: offer of {a.ip} from server {HOST}",
        f"dhcp: ack, bound to {a.ip}", LEASE_OPTIONS, f"arp: {b.ip} is at {MAC_B}",
        *ping_lines(b.ip, 1), f"arp: {HOST} is at {mac}", *ping_lines(HOST, 4),
        f"lan: serving at {a.ip}"]
    check_lines(tap, a, "its own lease; B and the host answer its pings", h["a_lines"])
    tap.ok(in_range(a.ip) and a.ip != b.ip,
           f"A's address {a.ip} is in the DHCP range and not B's ({b.ip})")
    leases = read(os.path.join(ctx["env"]["XDG_RUNTIME_DIR"], "pcvm", "networks", NET,
                               "dnsmasq.leases"))
    tap.ok(f" {MAC_A} {a.ip} " in leases and f" {MAC_B} {b.ip} " in leases,
           "dnsmasq's lease file names both VMs' MACs and addresses", leases)
    rc, out, err = run([ctx["pcvm"], "net", "list"], 30, env=ctx["env"])
    tap.ok(rc == 0 and re.search(rf"^{NET} .* 2 VMs$", out, re.M),
           f"pcvm net list: {NET} in use by 2 VMs", out + err)
    host_pings(tap, nss, ns, a.ip, f"the host pings A at {a.ip}")
    host_pings(tap, nss, ns, b.ip, f"the host pings B at {b.ip}")
    tap.ok(mac == h["mac"], f"the host's MAC on {BRIDGE} stays {h['mac']} when A joins",
           f"now {mac}")
    return True


def hostonly_leave(tap, ctx, h):
    """B leaves (the network stays, the host keeps its MAC: A still reaches it at the one it
    knows), then A (the network goes)."""
    nss, ns, a, b, pid = ctx["nss"], h["ns"], h["a"], h["b"], h["dnsmasq"]
    finish(tap, b, HOST, ns)
    mac = link_mac(nss, ns, BRIDGE)
    tap.ok(mac == h["mac"], f"the host's MAC on {BRIDGE} stays {h['mac']} when B leaves",
           f"now {mac}")
    tap.ok(mac is not None and dnsmasq_pid(ctx) == pid and alive(pid),
           "with A still on it, the bridge and dnsmasq stay", f"bridge MAC {mac}")
    a.send("again", f"lan: again from {HOST}", ns)
    a.serial.expect(f"lan: serving at {a.ip}")
    check_lines(tap, a, "'again': B is gone, the host answers at the MAC A knows", [
        *h["a_lines"], f"lan: again from {HOST}", *ping_lines(b.ip, 7, lost=True),
        *ping_lines(HOST, 10), f"lan: serving at {a.ip}"])
    finish(tap, a, HOST, ns)
    tap.ok(not nss.ip(ns, "-o", "link", "show", "dev", BRIDGE),
           f"after both VMs exit, {BRIDGE} is gone from the namespace", nss.ip(ns, "link"))
    tap.ok(pid is not None and not alive(pid), f"after both VMs exit, dnsmasq (pid {pid}) is gone")
    state = network_state(nss, ns)
    tap.ok(state["ip_forward"] == h["forwarding"] and not state["default"],
           "ip_forward as it was and no default route in the namespace afterwards",
           str(state))
    rc, out, err = run([ctx["pcvm"], "net", "list"], 30, env=ctx["env"])
    tap.ok(rc == 0 and re.search(rf"^{NET} .* 0 VMs$", out, re.M),
           f"pcvm net list: {NET} in use by 0 VMs", out + err)
    rc, out, err = run([ctx["pcvm"], "net", "remove", NET], 30, env=ctx["env"])
    tap.ok(rc == 0, f"pcvm net remove {NET}", out + err)


def bridged_setup(nss, ns1):
    """NS1: br0 and one end of a veth; a new namespace (returned) the other end at PEER/24."""
    ns2 = nss.add("b2")
    nss.sh(ns1, "ip link add br0 type bridge", "ip link set br0 up",
           f"ip link add veth-b type veth peer name veth-p netns {ns2}",
           "ip link set veth-b master br0 up")
    nss.sh(ns2, f"ip addr add {PEER}/24 dev veth-p", "ip link set veth-p up")
    return ns2


def bridged(tap, ctx, who, ns1, ns2):
    """The guest at GUEST_IP on br0 under WHO: its serial lines, or None."""
    nss = ctx["nss"]
    if who == "qemu":
        nss.sh(ns1, "ip tuntap add dev qtap0 mode tap", "ip link set qtap0 master br0 up")
    net = "bridged:br0" if who == "pcvm" else "qtap0"
    vm = LanVm(who, ctx, ns1, "bridged",
               params(ip=GUEST_IP, mask="255.255.255.0", targets=[PEER]), net, MAC_C)
    before = set(re.findall(r"^\d+: ([^:@]+)", nss.ip(ns1, "-o", "link"), re.M))
    vm.start()
    if serving(tap, vm, re.escape(GUEST_IP)) is None:
        return None
    ports = set(re.findall(r"^\d+: ([^:@]+)", nss.ip(ns1, "-o", "link", "show", "master", "br0"),
                           re.M))
    peer_mac = link_mac(nss, ns2, "veth-p")
    check_lines(tap, vm, f"static {GUEST_IP} on br0 pings the peer namespace's {PEER}", [
        nic_line(MAC_C), f"lan: static address {GUEST_IP}, mask 255.255.255.0",
        f"arp: {PEER} is at {peer_mac}", *ping_lines(PEER, 1), f"lan: serving at {GUEST_IP}"])
    if who == "pcvm":
        taps = ports - before - {"veth-b"}
        tap.ok(len(taps) == 1 and all(t.startswith("pcvmtap") for t in taps),
               "pcvm made a tap and attached it to br0", f"ports of br0: {ports}")
    host_pings(tap, nss, ns2, GUEST_IP, f"{who}: the peer namespace pings the VM at {GUEST_IP}")
    neigh = nss.ip(ns2, "neigh", "show", GUEST_IP)
    tap.ok(MAC_C in neigh, f"{who}: the peer knows {GUEST_IP} at the VM's MAC {MAC_C}", neigh)
    finish(tap, vm, PEER, ns2)
    if who == "pcvm":
        after = set(re.findall(r"^\d+: ([^:@]+)", nss.ip(ns1, "-o", "link"), re.M))
        tap.ok(after == before, "after the VM exits, its tap is gone from the namespace",
               f"before {sorted(before)}, after {sorted(after)}")
    else:
        nss.sh(ns1, "ip link del qtap0")
    return vm.serial.lines()


def errors(tap, ctx, ns1):
    """What a user sees when [net0] names a bridge or network that is not there."""
    nss = ctx["nss"]
    cases = [("bridged:nosuchbr", ["[net0]", "nosuchbr", "no such device"]),
             ("bridged:veth-b", ["[net0]", "veth-b is not a bridge"]),
             ("hostonly:nosuchnet", ["[net0]", "no host-only network nosuchnet",
                                     "pcvm net create nosuchnet"])]
    before = nss.ip(ns1, "-o", "link")
    for i, (spec, words) in enumerate(cases):
        bundle = os.path.join(ctx["tmp"], f"error{i}.pcvm")
        rc, out, err = run([ctx["pcvm"], "create", bundle, "--disk", ctx["any_disk"],
                            "--memory", "64", "--test-exit", "--net", spec], 30)
        if rc == 0:
            rc, out, err = nss.run(ns1, ctx["pcvm"], "run", bundle, timeout=60)
        tap.ok(rc == 1 and all(w in err for w in words),
               f"--net {spec}: pcvm run exits 1 saying {', '.join(words)}",
               f"exit code {rc}\nstderr:\n{err}")
    after = nss.ip(ns1, "-o", "link")
    tap.ok(before == after, "the failed runs leave no tap in the namespace",
           f"before:\n{before}\nafter:\n{after}")


def cases(tap, ctx, ns1, hostonly_problem):
    try:
        ns2 = bridged_setup(ctx["nss"], ns1)
        lines = {"pcvm": bridged(tap, ctx, "pcvm", ns1, ns2)}
        if qemu_available() and lines["pcvm"] is not None:
            lines["qemu"] = bridged(tap, ctx, "qemu", ns1, ns2)
            tap.ok(lines["qemu"] == lines["pcvm"],
                   "qemu: the bridged guest prints the same as under pcvm",
                   "qemu:\n" + "\n".join(lines["qemu"] or []) + "\npcvm:\n" +
                   "\n".join(lines["pcvm"]))
        else:
            tap.skip("qemu: the bridged guest under QEMU",
                     "qemu-system-x86_64 is not installed, or pcvm's run failed")
        errors(tap, ctx, ns1)
    except RuntimeError as e:
        tap.ok(False, "bridged networking: setting up", str(e))
    if hostonly_problem:
        tap.skip("host-only network with two VMs", hostonly_problem)
        return
    try:
        hostonly(tap, ctx)
    except RuntimeError as e:
        tap.ok(False, "host-only networking: setting up", str(e))


def problems():
    """Why the cases cannot run here: (for all, for host-only)."""
    if os.geteuid() != 0:
        return "needs root for network namespaces, bridges and taps", None
    if not shutil.which("ip"):
        return "needs iproute2 (ip)", None
    if not os.path.exists("/dev/net/tun"):
        return "no /dev/net/tun (modprobe tun)", None
    if not (shutil.which("dnsmasq") or os.access("/usr/sbin/dnsmasq", os.X_OK)):
        return None, "host-only networks need dnsmasq (Debian: dnsmasq-base)"
    return None, None


def main():
    binary, src = sys.argv[1:3]
    tap = Tap()
    if not require_kvm(tap):
        return tap.done()
    everything, hostonly_problem = problems()
    if everything:
        tap.skip("bridged and host-only networks in network namespaces", everything)
        return tap.done()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("terminated"))
    with tempdir() as tmp:
        env = dict(os.environ, XDG_CONFIG_HOME=os.path.join(tmp, "config"),
                   XDG_RUNTIME_DIR=os.path.join(tmp, "run"))
        os.makedirs(env["XDG_RUNTIME_DIR"], mode=0o700)
        boot = os.path.join(tmp, "lan.bin")
        net_dir = os.path.join(src, "net")
        subprocess.run(["nasm", "-f", "bin", "-i", net_dir + "/", "-i", src + "/",
                        os.path.join(net_dir, "lan.asm"), "-o", boot], check=True)
        with open(boot, "rb") as f:
            ctx = dict(pcvm=binary, tmp=tmp, env=env, boot=f.read(), vms=[],
                       nss=Namespaces(env), any_disk=os.path.join(tmp, "any.img"))
        make_disk(ctx["any_disk"], ctx["boot"])
        try:
            try:
                ns1 = ctx["nss"].add("b1")
            except RuntimeError as e:
                tap.skip("bridged and host-only networks in network namespaces", str(e))
            else:
                cases(tap, ctx, ns1, hostonly_problem)
        finally:
            for vm in ctx["vms"]:
                vm.stop()
            ctx["nss"].remove()
    return tap.done()


if __name__ == "__main__":
    sys.exit(main())
