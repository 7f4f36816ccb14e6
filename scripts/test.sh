#!/usr/bin/env bash
# Builds pcvm and runs the whole test suite (unit, guest, integration). The last line is
# "N passed, N failed[, N skipped]", counting every check of every test program.
# Extra arguments go to `meson test` (e.g. --suite unit).
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${PCVM_BUILD_DIR:-$root/build}
build_failed() { echo "the build failed"; echo "0 passed, 1 failed"; exit 1; }
if [ ! -f "$build/build.ninja" ]; then
  meson setup "$build" "$root" ${PCVM_MESON_ARGS:-} || build_failed
fi
ninja -C "$build" || build_failed
meson test -C "$build" --print-errorlogs --num-processes 2 "$@"
rc=$?
python3 "$root/tests/summarize.py" "$build/meson-logs/testlog.json" || rc=1
exit $rc
