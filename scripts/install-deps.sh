#!/usr/bin/env bash
# Installs what pcvm needs to build, run and test on Debian 12 (run as root or with sudo).
set -euo pipefail
packages=(
  # build
  meson ninja-build gcc pkg-config libglib2.0-dev uuid-dev zlib1g-dev libjson-glib-dev liburing-dev libvncserver-dev libpng-dev libslirp-dev
  # build: the desktop app pcvm-gtk (SVG icons need the librsvg pixbuf loader at run time)
  libgtk-3-dev libgtk-vnc-2.0-dev librsvg2-common
  # run: the firmware, the NIC option ROM, DHCP for host-only networks, bridge setup; libvncserver,
  # which pcvm loads when a VNC viewer connects (not linked: libvncserver-dev gives the headers)
  seabios ipxe-qemu dnsmasq-base iproute2 libvncserver1
  # tests: assembling test guests, QEMU as the differential reference, python for the harness
  nasm qemu-system-x86 qemu-system-data x11proto-dev qemu-utils python3 time xorriso isolinux syslinux-common clang gvncviewer socat strace
  # tests: pcvm-gtk under Xvfb through the accessibility tree; validating its desktop files
  xvfb python3-dogtail at-spi2-core dbus-x11 desktop-file-utils appstream
)
as_root=()
[ "$(id -u)" -eq 0 ] || as_root=(sudo)
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -q
"${as_root[@]}" apt-get install -y -q --no-install-recommends "${packages[@]}"
