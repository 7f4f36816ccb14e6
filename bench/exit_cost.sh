#!/usr/bin/env bash
# bench/exit_cost.sh — builds and runs bench/exit_cost.c: what a guest port write costs on this
# host's KVM when it exits to the VMM, when KVM queues it (coalesced ring) and when KVM matches
# it to an ioeventfd, against a loop with no write. A benchmark: it prints, asserts nothing.
# Needs a C compiler and /dev/kvm (read/write). Arguments go to the program (ITERATIONS).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TMP=$(mktemp -d "${TMPDIR:-/tmp}/pcvm-exit-cost.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
"${CC:-cc}" -O2 -Wall -o "$TMP/exit_cost" "$ROOT/bench/exit_cost.c"
"$TMP/exit_cost" "$@"
