#!/usr/bin/env bash
# bench/disk.sh — disk throughput through PIIX bus-master DMA, pcvm against QEMU on the same
# machine, in one run. A benchmark: it prints MB/s, the ratios and whether the issue's goal
# (at least 1.5x QEMU's throughput) is met; it is not a test (a goal missed still exits 0).
#
# Usage: bench/disk.sh            (from any directory)
#   REPS=N      timed runs per VMM and format (default 5), interleaved
#   MIB=N       size of the read region and of the write region, MiB (default 128)
#   FORMATS=... image formats to measure (default "raw qcow2"; qcow2 needs qemu-img)
#   PCVM=FILE   the pcvm binary to measure (default build/pcvm, built if missing)
# The environment reaches both VMMs: PCVM_NO_INLINE=1 measures pcvm with every request going
# through its I/O thread and main loop (none served at once on the vCPU thread).
#
# The guest (bench/guests/dma.asm, a boot sector program in real mode) is the same for both
# VMMs, on an IDE primary master disk: SeaBIOS boots it, then it programs the PIIX bus master
# itself (PRD table of one 64 KiB region, BAR4 of 00:01.1) and
#   - reads MIB MiB with READ DMA, 128 sectors (64 KiB) per command, one command at a time,
#     polling the bus-master status for completion (IRQ 14 is masked at the PIC);
#   - writes MIB MiB to a second, never-written region the same way with WRITE DMA;
#   - issues one FLUSH CACHE.
# The guest times each phase itself on the PIT: channel 0 reprogrammed to mode 2 at the
# BIOS's usual 18.2 Hz, a time stamp = BIOS tick count * 65536 + counts since the last
# reload (1,193,182 counts a second, so ~1 us resolution, no wrap ambiguity as long as the
# BIOS tick advances), read with interrupts off. It prints the stamps on COM1; this script
# turns them into MB/s (10^6 bytes a second). The figures are the guest's view: from its
# first command to the completion of its last; VMM start-up and SeaBIOS are not in them.
#   read   = MIB MiB / read phase
#   write  = MIB MiB / write phase (each command complete = the VMM has written the data to
#            the image file, through the host page cache; both VMMs use the page cache:
#            QEMU's default cache=writeback, pcvm's plain reads and writes)
#   write+flush = MIB MiB / (write phase + FLUSH CACHE), the flush being an fdatasync of the
#            image on the host: this one depends mostly on the host's disk.
# Reads come from the host page cache (the image was just copied), for both VMMs.
# (Checked once against the host's clock: the host's time between the COM1 lines that close
# each phase agreed with the guest's figures within 1%, for both VMMs.)
#
# Each timed run gets a fresh copy of the same base image (made once: the read region is
# filled, the write region is a hole; the qcow2 base is made from the raw one by
# `qemu-img convert`, so the write region's clusters are unallocated and every write
# allocates), synced to disk before the VMM starts. QEMU gets the image with format= set
# explicitly; pcvm detects it. Both get the same SeaBIOS (pcvm --bios, QEMU -bios), -m 256,
# one vCPU, COM1 to a file, the test-exit port 0xf4 (QEMU: isa-debug-exit).
#
# A run counts only if the VMM exits with 33 (the guest's success value 0x10), COM1 holds the
# three time lines and "dma-bench done", the guest saw the host's tag at both ends of every
# 64 KiB it read (a stale or short transfer stops it with an error), and afterwards the image's
# write region holds byte for byte what the guest wrote (qcow2: read back through
# `qemu-img convert`, and `qemu-img check` must be clean). Otherwise the run is reported as
# FAILED, not as a number, and the script exits 1.
# One untimed warm-up run per VMM and format, then REPS runs each, the order alternating.
#
# Where the time goes (ANATOMY=1, the default where perf can record KVM's tracepoints;
# ANATOMY=0 skips it): one more run of each VMM on the raw image under `perf record` with
# kvm:kvm_userspace_exit (KVM_RUN returning to the VMM) and kvm:kvm_pio (a port access, seen
# by the VMM or coalesced by KVM). Between the first and the last ATA DMA command the guest
# issues, the script counts per command: exits to the VMM, port accesses, and bus-master
# status polls (the guest's reads other than the ATA status register). The guest does the
# same work in both, so the differences are the device models'. On a host without VT-x/AMD-V
# the host kernel also emulates every guest instruction, the same cost in both VMMs. Then the
# host's own cost of a write into new space: 64 KiB written into new page-cache pages and into
# the same pages again, timed on the images' file system (both VMMs pay the first per write).
#
# Needs: qemu-system-x86_64, /dev/kvm (read/write), nasm, python3, SeaBIOS at
# /usr/share/seabios/bios-256k.bin (BIOS=FILE to change), qemu-img for qcow2.
# Builds build/pcvm if it is missing. Exit status: 0 when every run completed and checked out
# (whatever the ratios); 1 on a missing prerequisite or a broken run.

set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
REPS=${REPS:-5}
MIB=${MIB:-128}
FORMATS=${FORMATS:-raw qcow2}
MEM=256
BIOS=${BIOS:-/usr/share/seabios/bios-256k.bin}
QEMU=${QEMU:-qemu-system-x86_64}
QEMU_IMG=${QEMU_IMG:-qemu-img}
export QEMU_IMG
PCVM_SET=${PCVM:+yes}
PCVM=${PCVM:-$ROOT/build/pcvm}
RUN_TIMEOUT=${RUN_TIMEOUT:-300}
GOAL=1.5
OK_EXIT=33

# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"

# --- prerequisites ----------------------------------------------------------------------
check_vmm_prereqs
command -v timeout >/dev/null 2>&1 || die "timeout (coreutils) not found"
[ -r "$BIOS" ] || die "SeaBIOS image $BIOS not found (apt-get install seabios)"
[[ $REPS =~ ^[1-9][0-9]*$ ]] || die "REPS must be a positive integer"
if [[ ! $MIB =~ ^[1-9][0-9]*$ ]] || [ "$MIB" -gt 2048 ]; then
	die "MIB must be an integer from 1 to 2048"
fi
for fmt in $FORMATS; do
	case $fmt in
	raw) ;;
	qcow2)
		command -v "$QEMU_IMG" >/dev/null 2>&1 ||
			die "$QEMU_IMG not found, needed for qcow2 (apt-get install qemu-utils; or FORMATS=raw)"
		;;
	*) die "unknown format '$fmt' in FORMATS (raw, qcow2)" ;;
	esac
done

[ -n "$PCVM_SET" ] && [ ! -x "$PCVM" ] && die "PCVM=$PCVM is not an executable"
ensure_pcvm

TMP=$(mktemp -d "${TMPDIR:-/tmp}/pcvm-bench-disk.XXXXXX") || die "mktemp failed"
# shellcheck disable=SC2317 # called by the trap
cleanup() { rm -rf "$TMP"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

# disk.py: the base image, the COM1 parser and the write-region check.
cat >"$TMP/disk.py" <<'PY'
import os, struct, subprocess, sys, time

PIT_HZ = 1193182
CHUNK = 65536
PATTERN = bytes(((i * 7 + 3) & 0xFF) for i in range(CHUNK))


def tag(letter, i):
    return struct.pack("<I", (ord(letter) << 24) | i)


def mkbase(image, code, mib):
    """Guest in sectors 0-8; read region at 1 MiB (chunk i tagged 'R'|i at both ends); the
    write region after it stays a hole."""
    with open(code, "rb") as f:
        boot = f.read()
    with open(image, "wb") as f:
        f.write(boot)
        f.seek(1 << 20)
        for i in range(mib * 16):
            t = tag("R", i)
            f.write(t + PATTERN[4:-4] + t)
        f.truncate((1 + 2 * mib) << 20)


def parse(serial, mib):
    """Prints the seconds of the read, write and flush phases; exit 1 if they are not there."""
    with open(serial, errors="replace") as f:
        text = f.read()
    want = "%04X" % (mib * 16)
    phases = {}
    for line in text.splitlines():
        w = line.split()
        if len(w) == 4 and w[0] in ("read", "write", "flush") and w[1] == "chunks=" + want:
            t0, t1 = int(w[2][3:], 16), int(w[3][3:], 16)
            phases[w[0]] = ((t1 - t0) & 0xFFFFFFFF) / PIT_HZ
    if "dma-bench done" not in text or len(phases) != 3:
        sys.exit("no complete report on COM1")
    if not all(0 < s < 3600 for s in (phases["read"], phases["write"])):
        sys.exit("implausible phase times %r" % phases)
    print("%.6f %.6f %.6f" % (phases["read"], phases["write"], phases["flush"]))


def verify(image, fmt, mib, scratch):
    """The write region holds chunk i = 'W'|i, the pattern, 'W'|i; the read region is intact."""
    if fmt == "qcow2":
        qemu_img = os.environ.get("QEMU_IMG", "qemu-img")
        r = subprocess.run([qemu_img, "check", image], capture_output=True, text=True)
        if r.returncode != 0:
            sys.exit("qemu-img check exit %d: %s" % (r.returncode, (r.stdout + r.stderr).strip()))
        subprocess.run([qemu_img, "convert", "-f", "qcow2", "-O", "raw", image, scratch],
                       check=True)
        image = scratch
    with open(image, "rb") as f:
        f.seek(1 << 20)
        for region, letter in ((0, "R"), (1, "W")):
            for i in range(mib * 16):
                got = f.read(CHUNK)
                t = tag(letter, i)
                if got != t + PATTERN[4:-4] + t:
                    sys.exit("%s region: 64 KiB chunk %d (byte %d) differs" %
                             ("write" if region else "read", i,
                              (1 << 20) + (region * mib * 16 + i) * CHUNK))


def pagecost(directory):
    """Microseconds per 64 KiB pwrite into new page-cache pages (a file's hole) and into the
    same pages again, 64 MiB each way, on the images' file system."""
    path = os.path.join(directory, "pagecost.tmp")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        costs = []
        for _ in range(2):
            t = time.perf_counter()
            for i in range(1024):
                os.pwrite(fd, PATTERN, i * CHUNK)
            costs.append((time.perf_counter() - t) / 1024 * 1e6)
    finally:
        os.close(fd)
        os.unlink(path)
    print("%.0f %.0f" % tuple(costs))


cmd = sys.argv[1]
if cmd == "pagecost":
    pagecost(sys.argv[2])
elif cmd == "mkbase":
    mkbase(sys.argv[2], sys.argv[3], int(sys.argv[4]))
elif cmd == "parse":
    parse(sys.argv[2], int(sys.argv[3]))
elif cmd == "verify":
    verify(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5])
PY

# --- guest, base images, bundles ---------------------------------------------------------
nasm -f bin -i "$ROOT/tests/guests/" -DMIB="$MIB" "$ROOT/bench/guests/dma.asm" -o "$TMP/dma.bin" ||
	die "nasm bench/guests/dma.asm failed"
python3 "$TMP/disk.py" mkbase "$TMP/base.raw" "$TMP/dma.bin" "$MIB" ||
	die "making the base image failed"
for fmt in $FORMATS; do
	if [ "$fmt" = qcow2 ]; then
		"$QEMU_IMG" convert -f raw -O qcow2 "$TMP/base.raw" "$TMP/base.qcow2" >"$TMP/convert.log" 2>&1 ||
			die "qemu-img convert to qcow2 failed: $(cat "$TMP/convert.log")"
	fi
	# the bundle names $TMP/pcvm.FMT, which each pcvm run replaces with a fresh copy
	cp --sparse=always "$TMP/base.$fmt" "$TMP/pcvm.$fmt" || die "copying the base image failed"
	"$PCVM" create "$TMP/$fmt.pcvm" --disk "$TMP/pcvm.$fmt" --memory $MEM --net none --test-exit \
		>"$TMP/create.log" 2>&1 || die "pcvm create failed: $(cat "$TMP/create.log")"
done

FAILURES=0
WRAP=() # a command run_disk puts before the VMM's (the anatomy's perf record)
# run_disk VMM FMT: sets R_READ R_WRITE R_WFLUSH (MB/s), or R_ERR and returns 1
run_disk() {
	local vmm=$1 fmt=$2 img=$TMP/$1.$2 serial=$TMP/serial.txt rc secs
	local -a cmd
	R_READ='' R_WRITE='' R_WFLUSH='' R_ERR=''
	rm -f "$serial" "$img"
	if ! cp --sparse=always "$TMP/base.$fmt" "$img" || ! sync "$img"; then
		R_ERR="copying the base image failed"
		FAILURES=$((FAILURES + 1))
		return 1
	fi
	if [ "$vmm" = pcvm ]; then
		cmd=("$PCVM" run "$TMP/$fmt.pcvm" --serial "$serial" --test-exit --bios "$BIOS")
	else
		# shellcheck disable=SC2054 # the commas are QEMU's
		cmd=("$QEMU" -accel kvm -machine pc -m "$MEM" -nodefaults -vga std -display none
			-bios "$BIOS" -serial "file:$serial" -device isa-debug-exit,iobase=0xf4,iosize=4
			-drive "file=$img,format=$fmt,if=ide")
	fi
	timeout -k 5 "$RUN_TIMEOUT" "${WRAP[@]}" "${cmd[@]}" </dev/null >"$TMP/log.txt" 2>&1
	rc=$?
	if [ "$rc" != "$OK_EXIT" ]; then
		R_ERR=$(exit_error "$rc" "$serial" "$TMP/log.txt")
	elif ! secs=$(python3 "$TMP/disk.py" parse "$serial" "$MIB" 2>&1); then
		R_ERR="$secs; COM1: '$(com1_tail "$serial")'"
	elif ! R_ERR=$(python3 "$TMP/disk.py" verify "$img" "$fmt" "$MIB" "$TMP/check.raw" 2>&1); then
		R_ERR="the image after the run: $R_ERR"
	else
		R_ERR=''
		read -r R_READ R_WRITE R_WFLUSH < <(awk -v s="$secs" -v mib="$MIB" 'BEGIN {
			split(s, t, " "); b = mib * 1048576 / 1e6
			printf "%.1f %.1f %.1f\n", b / t[1], b / t[2], b / (t[2] + t[3]) }')
	fi
	rm -f "$img" "$TMP/check.raw"
	[ -z "$R_ERR" ] && return 0
	FAILURES=$((FAILURES + 1))
	return 1
}


echo "pcvm vs QEMU: disk throughput through bus-master DMA, measured by the guest"
vmm_lines
echo "  guest   bench/guests/dma.asm: $MIB MiB READ DMA, $MIB MiB WRITE DMA, 64 KiB per command,"
echo "          polled; one FLUSH CACHE; IDE primary master, -m $MEM, 1 vCPU"
host_line
echo "  image   in $(df -P "$TMP" | awk 'NR == 2 { print $1 " (" $6 ")" }'), a fresh copy per run"
echo "  MB/s    10^6 bytes a second; runs each: $REPS, interleaved, after one untimed warm-up each"
echo

declare -A MED=()
for fmt in $FORMATS; do
	echo "$fmt image"
	for vmm in pcvm qemu; do
		run_disk "$vmm" "$fmt" || echo "   warm-up $vmm FAILED: $R_ERR"
	done
	P_R=() P_W=() P_F=() Q_R=() Q_W=() Q_F=()
	printf '   %-5s %10s %10s %12s   %10s %10s %12s\n' "" "pcvm" "" "" "QEMU" "" ""
	printf '   %-5s %10s %10s %12s   %10s %10s %12s\n' run read write write+flush read write \
		write+flush
	for ((i = 1; i <= REPS; i++)); do
		order="pcvm qemu"
		((i % 2 == 0)) && order="qemu pcvm"
		declare -A cell=([pcvm]="FAILED FAILED FAILED" [qemu]="FAILED FAILED FAILED")
		for vmm in $order; do
			if run_disk "$vmm" "$fmt"; then
				cell[$vmm]="$R_READ $R_WRITE $R_WFLUSH"
				if [ "$vmm" = pcvm ]; then
					P_R+=("$R_READ") P_W+=("$R_WRITE") P_F+=("$R_WFLUSH")
				else
					Q_R+=("$R_READ") Q_W+=("$R_WRITE") Q_F+=("$R_WFLUSH")
				fi
			else
				echo "   run $i $vmm FAILED: $R_ERR"
			fi
		done
		# shellcheck disable=SC2086 # three numbers each
		printf '   %-5s %10s %10s %12s   %10s %10s %12s\n' "$i" ${cell[pcvm]} ${cell[qemu]}
		unset cell
	done
	echo
	printf '   %-12s %10s %10s %10s\n' "median MB/s" pcvm QEMU pcvm/QEMU
	for phase in read write write+flush; do
		case $phase in
		read) p=$(median "${P_R[@]}") q=$(median "${Q_R[@]}") ;;
		write) p=$(median "${P_W[@]}") q=$(median "${Q_W[@]}") ;;
		*) p=$(median "${P_F[@]}") q=$(median "${Q_F[@]}") ;;
		esac
		r=n/a
		[ -n "$p" ] && [ -n "$q" ] && r=$(ratio "$p" "$q")
		MED[$fmt.$phase]=$r
		printf '   %-12s %10s %10s %10s\n' "$phase" "${p:-FAILED}" "${q:-FAILED}" "$r"
	done
	echo
done

# --- where the time goes (per command, from KVM's tracepoints) ---------------------------
ANATOMY_EVENTS=(-e kvm:kvm_userspace_exit -e kvm:kvm_pio)
# anatomy VMM: "exits port-accesses polls" per command of one run (raw image), or fails
anatomy() {
	local vmm=$1 rec=$TMP/anatomy.data
	WRAP=(perf record -q -c 1 "${ANATOMY_EVENTS[@]}" -o "$rec" --)
	run_disk "$vmm" raw || { WRAP=(); return 1; }
	WRAP=()
	# counts from the first DMA command on, as they stood at the last one
	perf script -i "$rec" -F event,trace 2>/dev/null | awk '
		/pio_write at 0x1f7 / && ($NF == "0xc8" || $NF == "0xca") {
			if (cmds++) { x = exits; p = pio; q = polls }
		}
		!cmds { next }
		/kvm_userspace_exit/ { exits++ }
		/kvm_pio/ { pio++ }
		/kvm_pio/ && /pio_read/ && !/at 0x1f7 / { polls++ }
		END {
			n = cmds - 1
			if (n < 1) exit 1
			printf "%.2f %.2f %.2f\n", x / n, p / n, q / n
		}'
	rm -f "$rec"
}

if [ "${ANATOMY:-1}" != 0 ] && [[ " $FORMATS " == *" raw "* ]] && command -v perf >/dev/null 2>&1 &&
	perf record -q -c 1 "${ANATOMY_EVENTS[@]}" -o "$TMP/probe.data" -- true >/dev/null 2>&1; then
	echo "where the time goes: per 64 KiB command, raw image, read and write phases (perf)"
	printf '   %-6s %14s %15s %24s\n' "" "exits to VMM" "port accesses" "bus-master status polls"
	for vmm in pcvm qemu; do
		if a=$(anatomy "$vmm"); then
			# shellcheck disable=SC2086 # three numbers
			printf '   %-6s %14s %15s %24s\n' "$([ $vmm = qemu ] && echo QEMU || echo pcvm)" $a
		else
			echo "   $vmm: the run failed: $R_ERR"
		fi
	done
	echo
fi

# The host's part of a write into new space: the page-cache pages it allocates. Where the host
# gets memory back from its hypervisor on first touch this is several times a cached write,
# and both VMMs pay it for every write command (raw: the write region is a hole; qcow2: new
# clusters), which pulls the write ratios toward 1 whatever the VMMs do.
if pc=$(python3 "$TMP/disk.py" pagecost "$TMP" 2>/dev/null); then
	read -r pc_new pc_cached <<<"$pc"
	echo "host page cache: a 64 KiB write into new pages takes ${pc_new} us, into cached pages" \
		"${pc_cached} us"
	echo "   (each write command into new space pays the first, in both VMMs)"
	echo
fi

# --- goal ---------------------------------------------------------------------------------
echo "Goal (from the issue; information only): disk DMA throughput at least ${GOAL}x QEMU's"
for fmt in $FORMATS; do
	for phase in read write; do
		r=${MED[$fmt.$phase]}
		if [ "$r" = n/a ]; then
			met="unknown (runs failed)"
		else
			met=$(awk -v r="$r" -v g="$GOAL" 'BEGIN { print (r >= g) ? "met" : "NOT met" }')
		fi
		printf '   %-20s %-22s %s\n' "$fmt $phase" "pcvm/QEMU = $r" "$met"
	done
done

if [ "$FAILURES" -gt 0 ]; then
	echo "bench/disk.sh: $FAILURES run(s) failed (see above)" >&2
	exit 1
fi
exit 0
