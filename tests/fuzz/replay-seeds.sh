#!/bin/sh
# The fuzz targets' seeds and their mutants through fuzz_replay (a test in every build; see
# fuzz_replay.c). usage: replay-seeds.sh FUZZ_REPLAY [MUTANTS]
set -eu
replay=${1:?usage: $0 FUZZ_REPLAY [MUTANTS]}
command -v qemu-img >/dev/null 2>&1 && command -v qemu-io >/dev/null 2>&1 || {
	echo "qemu-img/qemu-io not installed: no seeds to replay"
	exit 77
}
dir=$(mktemp -d "${TMPDIR:-/tmp}/pcvm-seeds.XXXXXX")
trap 'rm -rf "$dir"' EXIT
"$(dirname "$0")/make-seeds.sh" "$dir"
"$replay" "$dir" "${2:-200}"
