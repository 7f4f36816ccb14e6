#!/usr/bin/env bash
# Installs what pcvm needs to build, run and test on Debian 12 (run as root or with sudo).
set -euo pipefail
packages=(
  # build
  meson ninja-build gcc pkg-config libglib2.0-dev uuid-dev zlib1g-dev libjson-glib-dev liburing-dev libvncserver-dev libpng-dev
  # run: the firmware
  seabios
  # tests: assembling test guests, QEMU as the differential reference, python for the harness
  nasm qemu-system-x86 qemu-system-data x11proto-dev qemu-utils python3 time xorriso isolinux syslinux-common clang gvncviewer socat strace
)
as_root=()
[ "$(id -u)" -eq 0 ] || as_root=(sudo)
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -q
"${as_root[@]}" apt-get install -y -q --no-install-recommends "${packages[@]}"
