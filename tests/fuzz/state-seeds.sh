#!/bin/sh
# fuzz_state's seeds, which the target writes itself (FUZZ_STATE_SEEDS), and the inputs that
# found bugs (state-seeds/), with their mutants, through fuzz_replay (a test in every build).
# usage: state-seeds.sh FUZZ_REPLAY_STATE [MUTANTS]
set -eu
replay=${1:?usage: $0 FUZZ_REPLAY_STATE [MUTANTS]}
dir=$(mktemp -d "${TMPDIR:-/tmp}/pcvm-state-seeds.XXXXXX")
trap 'rm -rf "$dir"' EXIT
FUZZ_STATE_SEEDS="$dir" "$replay" "$dir"
found="$(dirname "$0")/state-seeds"
if [ -d "$found" ]; then
	cp "$found"/* "$dir"/ 2>/dev/null || true
fi
"$replay" "$dir" "${2:-200}"
