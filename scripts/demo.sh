#!/usr/bin/env bash
# Builds pcvm, makes a demo VM around a small boot disk that the project assembles, and boots
# it with its serial console on this terminal. The guest shows the time and a timer-driven
# clock for five seconds, then powers off through ACPI.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${PCVM_BUILD_DIR:-$root/build}
[ -f "$build/build.ninja" ] || meson setup "$build" "$root" >/dev/null
ninja -C "$build" >/dev/null
vms=${XDG_DATA_HOME:-$HOME/.local/share}/pcvm/vms
bundle=$vms/demo.pcvm
mkdir -p "$vms"
rm -rf "$bundle"
disk=$(mktemp -d)/demo.img
nasm -f bin -i "$root/tests/guests/" "$root/tests/guests/demo.asm" -o "$disk"
truncate -s 1M "$disk"
"$build/pcvm" create "$bundle" --name "Demo" --memory 64 --disk "$disk"
echo "booting $bundle (SeaBIOS, then the IDE disk); its log is $bundle/pcvm.log"
exec "$build/pcvm" run "$bundle" --serial stdio
