#!/usr/bin/env bash
# bench/net.sh — guest -> host packets per second and Mbit/s through the e1000, pcvm against
# QEMU on the same machine, in one run: through the NAT (slirp) and through a tap. A
# benchmark: it prints the rates, the ratios and whether the issue's goal (at least 2x QEMU's
# e1000) is met; it is not a test (a goal missed still exits 0).
#
# Usage: bench/net.sh            (from any directory)
#   REPS=N      timed runs per VMM and mode (default 3), interleaved
#   SECONDS_=N  how long the guest streams, RTC seconds (default 5)
#   PAYLOAD=N   UDP payload bytes (default 1470: 1512-byte frames, a full 1500-byte IP MTU)
#   MODES=...   "slirp tap" (default); tap needs root, ip(8) and /dev/net/tun, else skipped
#   PCVM=FILE   the pcvm binary (default build/pcvm, built if missing)
#
# The guest (bench/guests/netstream.asm, real mode, the test guests' e1000 driver in
# tests/guests/net/) is the same for both VMMs: SeaBIOS boots it, it resets and sets up the
# e1000 itself (no option ROM: pcvm rom=none, QEMU romfile=), resolves the host's address with
# ARP, builds one UDP frame and then, from an RTC second boundary for SECONDS_ seconds, keeps a
# 128-descriptor transmit ring full (all descriptors point at the one frame; TDT written once
# per round, DD polled; interrupts masked). It prints how many frames the NIC reported sent.
#   slirp: guest 10.0.2.15 -> 10.0.2.2:PORT, which the NAT sends to the host's 127.0.0.1:PORT
#          (pcvm [net0] mode=nat; QEMU -netdev user)
#   tap:   guest 10.9.0.2 -> 10.9.0.1:PORT, the host end of a tap in a network namespace that
#          this script makes and removes (the machine's own interfaces are not touched); the
#          VMM and the receiver run in the namespace (pcvm [net0] mode=bridged tap=NAME; QEMU
#          -netdev tap,ifname=NAME,script=no)
# On the host a UDP socket (8 MiB receive buffer) counts the datagrams and their bytes:
#   pps    = datagrams received / (last arrival - first arrival)
#   Mbit/s = UDP payload bits received / the same time (10^6 bits a second)
#   lost   = frames the guest's NIC reported sent - datagrams received (dropped by the
#            backend, the host's stack or the socket)
# The host's view: VMM start-up, SeaBIOS and ARP are not in the figures.
#
# A run counts only if the VMM exits with 33 (the guest's success value 0x10), COM1 holds the
# guest's "stream: sent N frames" line and the host received datagrams; otherwise it is reported
# as FAILED, not as a number, and the script exits 1. One untimed warm-up run per VMM and
# mode, then REPS runs each, the order alternating.
#
# Needs: qemu-system-x86_64, /dev/kvm (read/write), nasm, python3, SeaBIOS at
# /usr/share/seabios/bios-256k.bin (BIOS=FILE to change); for tap: root, ip, /dev/net/tun.
# Builds build/pcvm if it is missing. Exit status: 0 when every run completed (whatever the
# ratios); 1 on a missing prerequisite or a broken run.

set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
REPS=${REPS:-3}
SECS=${SECONDS_:-5}
PAYLOAD=${PAYLOAD:-1470}
MODES=${MODES:-slirp tap}
MEM=64
MAC=52:54:00:12:34:56
BIOS=${BIOS:-/usr/share/seabios/bios-256k.bin}
QEMU=${QEMU:-qemu-system-x86_64}
PCVM=${PCVM:-$ROOT/build/pcvm}
RUN_TIMEOUT=${RUN_TIMEOUT:-180}
GOAL=2
OK_EXIT=33
TAP_DEV=pcvmbench0
NS=pcvmbench$$

# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"

# --- prerequisites ----------------------------------------------------------------------
check_vmm_prereqs
command -v timeout >/dev/null 2>&1 || die "timeout (coreutils) not found"
[ -r "$BIOS" ] || die "SeaBIOS image $BIOS not found (apt-get install seabios)"
[[ $REPS =~ ^[1-9][0-9]*$ ]] || die "REPS must be a positive integer"
if [[ ! $SECS =~ ^[1-9][0-9]*$ ]] || [ "$SECS" -gt 600 ]; then
	die "SECONDS_ must be an integer from 1 to 600"
fi
if [[ ! $PAYLOAD =~ ^[1-9][0-9]*$ ]] || [ "$PAYLOAD" -lt 18 ] || [ "$PAYLOAD" -gt 1472 ]; then
	die "PAYLOAD must be an integer from 18 to 1472 (bytes of UDP payload in one frame)"
fi
TAP_SKIP=''
for mode in $MODES; do
	case $mode in
	slirp) ;;
	tap)
		if [ "$(id -u)" != 0 ]; then
			TAP_SKIP="needs root (a tap in a network namespace)"
		elif ! command -v ip >/dev/null 2>&1; then
			TAP_SKIP="ip(8) not found (apt-get install iproute2)"
		elif [ ! -c /dev/net/tun ]; then
			TAP_SKIP="/dev/net/tun is missing"
		fi
		;;
	*) die "unknown mode '$mode' in MODES (slirp, tap)" ;;
	esac
done

ensure_pcvm

TMP=$(mktemp -d "${TMPDIR:-/tmp}/pcvm-bench-net.XXXXXX") || die "mktemp failed"
NS_MADE=''
# shellcheck disable=SC2317 # called by the trap
cleanup() {
	[ -n "$NS_MADE" ] && ip netns del "$NS" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# net.py: a free port, the receiver, the disk image, vm.conf's [net0]
cat >"$TMP/net.py" <<'PY'
import os, re, socket, sys, time


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        print(s.getsockname()[1])


def receive(addr, port, ready, out, wait):
    """Counts datagrams until 3 s pass without one (after the first), or WAIT s with none."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    s.bind((addr, int(port)))
    s.settimeout(float(wait))
    open(ready, "w").close()
    buf = bytearray(65536)
    n = size = 0
    first = last = 0.0
    try:
        while True:
            k = s.recv_into(buf)
            last = time.monotonic()
            if n == 0:
                first = last
                s.settimeout(3)
            n += 1
            size += k
    except socket.timeout:
        pass
    with open(out, "w") as f:
        f.write("%d %d %.6f\n" % (n, size, last - first))


def disk(image, code):
    with open(code, "rb") as f:
        boot = f.read()
    with open(image, "wb") as f:
        f.write(boot)
        f.truncate(1 << 20)


def net0(conf, *pairs):
    """Sets KEY=VALUE lines in [net0] of the GKeyFile CONF."""
    with open(conf) as f:
        text = f.read()
    m = re.search(r"^\[net0\]\n(?:[^[].*\n?)*", text, re.M)
    body = m.group(0)
    for pair in pairs:
        key = pair.split("=", 1)[0]
        body, n = re.subn(r"^" + re.escape(key) + r"=.*$", pair, body, flags=re.M)
        if n == 0:
            body = body.rstrip("\n") + "\n" + pair + "\n"
    with open(conf, "w") as f:
        f.write(text[:m.start()] + body + text[m.end():])


cmd = sys.argv[1]
if cmd == "port":
    free_port()
elif cmd == "recv":
    receive(*sys.argv[2:7])
elif cmd == "disk":
    disk(sys.argv[2], sys.argv[3])
elif cmd == "net0":
    net0(sys.argv[2], *sys.argv[3:])
PY

# --- guests, bundles, the tap -------------------------------------------------------------
PORT=$(python3 "$TMP/net.py" port) || die "no free UDP port"
# mode_setup MODE: the guest's disk and pcvm's bundle for MODE
mode_setup() {
	local mode=$1 guest host
	if [ "$mode" = slirp ]; then guest=10,0,2,15 host=10,0,2,2; else guest=10,9,0,2 host=10,9,0,1; fi
	nasm -f bin -i "$ROOT/tests/guests/net/" -i "$ROOT/tests/guests/" -DGUEST_IP="$guest" \
		-DHOST_IP="$host" -DPORT="$PORT" -DSECONDS="$SECS" -DPAYLOAD="$PAYLOAD" \
		"$ROOT/bench/guests/netstream.asm" -o "$TMP/$mode.bin" ||
		die "nasm bench/guests/netstream.asm failed"
	python3 "$TMP/net.py" disk "$TMP/$mode.img" "$TMP/$mode.bin" || die "making the disk failed"
	"$PCVM" create "$TMP/$mode.pcvm" --disk "$TMP/$mode.img" --memory $MEM --test-exit \
		--net nat >"$TMP/create.log" 2>&1 || die "pcvm create failed: $(cat "$TMP/create.log")"
	if [ "$mode" = slirp ]; then
		python3 "$TMP/net.py" net0 "$TMP/$mode.pcvm/vm.conf" mac=$MAC rom=none
	else
		python3 "$TMP/net.py" net0 "$TMP/$mode.pcvm/vm.conf" mode=bridged tap=$TAP_DEV \
			mac=$MAC rom=none
	fi || die "editing vm.conf failed"
}

tap_setup() {
	ip netns add "$NS" || return 1
	NS_MADE=1
	ip netns exec "$NS" ip link set lo up &&
		ip netns exec "$NS" ip tuntap add dev $TAP_DEV mode tap &&
		ip netns exec "$NS" ip addr add 10.9.0.1/24 dev $TAP_DEV &&
		ip netns exec "$NS" ip link set $TAP_DEV up
}

RUN_MODES=''
for mode in $MODES; do
	if [ "$mode" = tap ]; then
		if [ -n "$TAP_SKIP" ]; then
			echo "bench/net.sh: tap skipped: $TAP_SKIP" >&2
			continue
		fi
		if ! tap_setup >"$TMP/tap.log" 2>&1; then
			echo "bench/net.sh: tap skipped: making the namespace and tap failed:" \
				"$(tr '\n' ' ' <"$TMP/tap.log")" >&2
			continue
		fi
	fi
	mode_setup "$mode"
	RUN_MODES="$RUN_MODES $mode"
done
[ -n "$RUN_MODES" ] || die "no mode to measure"

FAILURES=0
# run_net VMM MODE: sets R_PPS R_MBIT R_LOST, or R_ERR and returns 1
run_net() {
	local vmm=$1 mode=$2 serial=$TMP/serial.txt rc sent n bytes secs addr recv_pid
	local -a cmd wrap=()
	R_PPS='' R_MBIT='' R_LOST='' R_ERR=''
	rm -f "$serial" "$TMP/ready" "$TMP/recv.txt"
	addr=127.0.0.1
	if [ "$mode" = tap ]; then
		addr=10.9.0.1
		wrap=(ip netns exec "$NS")
	fi
	"${wrap[@]}" python3 "$TMP/net.py" recv "$addr" "$PORT" "$TMP/ready" "$TMP/recv.txt" \
		"$RUN_TIMEOUT" &
	recv_pid=$!
	for _ in $(seq 100); do
		[ -e "$TMP/ready" ] && break
		sleep 0.05
	done
	if [ "$vmm" = pcvm ]; then
		cmd=("$PCVM" run "$TMP/$mode.pcvm" --serial "$serial" --test-exit --bios "$BIOS")
	elif [ "$mode" = slirp ]; then
		# shellcheck disable=SC2054 # the commas are QEMU's
		cmd=("$QEMU" -accel kvm -machine pc -m "$MEM" -nodefaults -vga none -display none
			-bios "$BIOS" -serial "file:$serial" -device isa-debug-exit,iobase=0xf4,iosize=4
			-netdev user,id=n0 -device "e1000,netdev=n0,addr=03.0,romfile=,mac=$MAC"
			-drive "file=$TMP/$mode.img,format=raw,if=ide")
	else
		# shellcheck disable=SC2054
		cmd=("$QEMU" -accel kvm -machine pc -m "$MEM" -nodefaults -vga none -display none
			-bios "$BIOS" -serial "file:$serial" -device isa-debug-exit,iobase=0xf4,iosize=4
			-netdev "tap,id=n0,ifname=$TAP_DEV,script=no,downscript=no"
			-device "e1000,netdev=n0,addr=03.0,romfile=,mac=$MAC"
			-drive "file=$TMP/$mode.img,format=raw,if=ide")
	fi
	timeout -k 5 "$RUN_TIMEOUT" "${wrap[@]}" "${cmd[@]}" </dev/null >"$TMP/log.txt" 2>&1
	rc=$?
	# the receiver ends 3 s after the last datagram; one that got none is stopped
	for _ in $(seq 100); do
		kill -0 "$recv_pid" 2>/dev/null || break
		sleep 0.05
	done
	kill "$recv_pid" 2>/dev/null
	wait "$recv_pid" 2>/dev/null
	sent=$(tr -d '\r' <"$serial" 2>/dev/null | sed -n 's/^stream: sent \([0-9]*\) frames.*/\1/p')
	n='' bytes='' secs=''
	[ -s "$TMP/recv.txt" ] && read -r n bytes secs <"$TMP/recv.txt"
	if [ "$rc" != "$OK_EXIT" ]; then
		R_ERR=$(exit_error "$rc" "$serial" "$TMP/log.txt")
	elif [ -z "$sent" ]; then
		R_ERR="no 'stream: sent' line on COM1: '$(com1_tail "$serial")'"
	elif [ -z "${n:-}" ] || [ "$n" -lt 2 ]; then
		R_ERR="the host received ${n:-no} datagrams of the $sent sent"
	else
		# bytes: what recv returned, the UDP payloads
		read -r R_PPS R_MBIT R_LOST < <(awk -v n="$n" -v b="$bytes" -v s="$secs" -v sent="$sent" \
			'BEGIN { printf "%.0f %.1f %d\n", (n - 1) / s, b * 8 / s / 1e6, sent - n }')
	fi
	[ -z "$R_ERR" ] && return 0
	FAILURES=$((FAILURES + 1))
	return 1
}


echo "pcvm vs QEMU: guest -> host UDP through the e1000, counted on the host"
vmm_lines
echo "  guest   bench/guests/netstream.asm: $SECS s of $PAYLOAD-byte UDP payloads ($((PAYLOAD + 42))-byte"
echo "          frames), a 128-descriptor ring kept full, polled; -m $MEM, 1 vCPU, no option ROM"
host_line
echo "  pps     datagrams received / (last - first arrival); Mbit/s: UDP payload, 10^6 bit/s;"
echo "          lost: sent by the guest's NIC, not received; runs each: $REPS, interleaved"
echo

declare -A MED=()
for mode in $RUN_MODES; do
	if [ "$mode" = slirp ]; then
		echo "slirp (NAT): guest 10.0.2.15 -> 10.0.2.2:$PORT = host 127.0.0.1:$PORT"
	else
		echo "tap: guest 10.9.0.2 -> host 10.9.0.1:$PORT on $TAP_DEV in network namespace $NS"
	fi
	for vmm in pcvm qemu; do
		run_net "$vmm" "$mode" || echo "   warm-up $vmm FAILED: $R_ERR"
	done
	P_PPS=() P_MBIT=() Q_PPS=() Q_MBIT=()
	printf '   %-6s %10s %9s %8s   %10s %9s %8s\n' "" "pcvm" "" "" "QEMU" "" ""
	printf '   %-6s %10s %9s %8s   %10s %9s %8s\n' run pps Mbit/s lost pps Mbit/s lost
	for ((i = 1; i <= REPS; i++)); do
		order="pcvm qemu"
		((i % 2 == 0)) && order="qemu pcvm"
		declare -A cell=([pcvm]="FAILED - -" [qemu]="FAILED - -")
		for vmm in $order; do
			if run_net "$vmm" "$mode"; then
				cell[$vmm]="$R_PPS $R_MBIT $R_LOST"
				if [ "$vmm" = pcvm ]; then
					P_PPS+=("$R_PPS") P_MBIT+=("$R_MBIT")
				else
					Q_PPS+=("$R_PPS") Q_MBIT+=("$R_MBIT")
				fi
			else
				echo "   run $i $vmm FAILED: $R_ERR"
			fi
		done
		# shellcheck disable=SC2086 # three values each
		printf '   %-6s %10s %9s %8s   %10s %9s %8s\n' "$i" ${cell[pcvm]} ${cell[qemu]}
		unset cell
	done
	echo
	printf '   %-8s %12s %12s %10s\n' median pcvm QEMU pcvm/QEMU
	for what in pps Mbit/s; do
		if [ "$what" = pps ]; then
			p=$(median "${P_PPS[@]}") q=$(median "${Q_PPS[@]}")
		else
			p=$(median "${P_MBIT[@]}") q=$(median "${Q_MBIT[@]}")
		fi
		r=n/a
		[ -n "$p" ] && [ -n "$q" ] && r=$(ratio "$p" "$q")
		MED[$mode.$what]=$r
		printf '   %-8s %12s %12s %10s\n' "$what" "${p:-FAILED}" "${q:-FAILED}" "$r"
	done
	echo
done

# --- goal ---------------------------------------------------------------------------------
echo "Goal (from the issue; information only): guest -> host packets/s at least ${GOAL}x QEMU's e1000"
for mode in $RUN_MODES; do
	r=${MED[$mode.pps]}
	if [ "$r" = n/a ]; then
		met="unknown (runs failed)"
	else
		met=$(awk -v r="$r" -v g="$GOAL" 'BEGIN { print (r >= g) ? "met" : "NOT met" }')
	fi
	printf '   %-8s %-22s %s\n' "$mode" "pcvm/QEMU = $r" "$met"
done
[ -n "$TAP_SKIP" ] && [[ " $MODES " == *" tap "* ]] && echo "   tap      not measured: $TAP_SKIP"

if [ "$FAILURES" -gt 0 ]; then
	echo "bench/net.sh: $FAILURES run(s) failed (see above)" >&2
	exit 1
fi
exit 0
