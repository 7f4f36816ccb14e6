# bench/lib.sh — what every bench/*.sh shares; sourced after the script sets ROOT, QEMU and PCVM.
#   die MESSAGE        the script's name, the message, exit 1
#   check_vmm_prereqs  QEMU, a usable /dev/kvm, nasm and python3, or die saying what to install
#   ensure_pcvm        builds build/pcvm (ninja, or meson setup first) when PCVM is not there
#   stop_pid PID SIG   sends SIG to PID if it still runs and reaps it (nothing when PID is '')
#   ratio A B          A / B with two decimals ("n/a" when B is 0)
#   median N...        the median, one decimal
#   host_line          "  host    CPU, N CPUs, hardware virtualization: yes|no (...)"
#   vmm_lines          "  pcvm ...", "  QEMU ..." and "  BIOS ..." header lines (PCVM, QEMU, BIOS)
#   com1_tail FILE     the last 300 characters of a COM1 log, on one line
#   exit_error RC SERIAL LOG
#                      why a run that ended with RC instead of OK_EXIT failed: the code (and a
#                      timeout of RUN_TIMEOUT), what COM1 and the VMM's log said last

die() {
	echo "bench/${0##*/}: $*" >&2
	exit 1
}

check_vmm_prereqs() {
	command -v "$QEMU" >/dev/null 2>&1 ||
		die "$QEMU not found: install Debian's qemu-system-x86 (apt-get install qemu-system-x86)"
	[ -e /dev/kvm ] || die "/dev/kvm is missing: this benchmark needs KVM"
	if [ ! -r /dev/kvm ] || [ ! -w /dev/kvm ]; then
		die "/dev/kvm is not readable and writable by $(id -un)"
	fi
	command -v nasm >/dev/null 2>&1 || die "nasm not found (apt-get install nasm)"
	command -v python3 >/dev/null 2>&1 || die "python3 not found"
}

ensure_pcvm() {
	[ -x "$PCVM" ] && return 0
	echo "bench/${0##*/}: build/pcvm missing, building it" >&2
	if [ -f "$ROOT/build/build.ninja" ]; then
		ninja -C "$ROOT/build" >&2 || die "ninja -C build failed"
	else
		(cd "$ROOT" && meson setup build >&2 && ninja -C build >&2) ||
			die "meson setup build && ninja -C build failed"
	fi
	[ -x "$PCVM" ] || die "the build finished but $PCVM is not there"
}

stop_pid() {
	if [ -n "$1" ] && kill -0 "$1" 2>/dev/null; then
		kill "-$2" "$1" 2>/dev/null
		wait "$1" 2>/dev/null
	fi
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }

median() {
	[ $# -gt 0 ] || return 0
	printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END {
		if (NR == 0) exit
		m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		printf "%.1f\n", m }'
}

host_line() {
	local cpu hwvirt
	cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
	if grep -qE 'vmx|svm' /proc/cpuinfo; then hwvirt=yes; else hwvirt="no (KVM emulates the guest)"; fi
	echo "  host    $cpu, $(nproc) CPUs, hardware virtualization: $hwvirt"
}

vmm_lines() {
	echo "  pcvm    $("$PCVM" version 2>/dev/null | head -n 1) ($PCVM)"
	echo "  QEMU    $("$QEMU" --version | head -n 1)"
	echo "  BIOS    $BIOS (both)"
}

com1_tail() { tr -d '\r' 2>/dev/null <"$1" | tail -c 300 | tr '\n' ' '; }

exit_error() {
	local rc=$1
	if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then rc="$rc (timed out after ${RUN_TIMEOUT} s)"; fi
	echo "exit code $rc (want $OK_EXIT), COM1: '$(com1_tail "$2")', log: $(grep -v \
		'host doesn.t support requested feature' "$3" | tail -n 3 | tr '\n' ' ')"
}
