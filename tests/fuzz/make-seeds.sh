#!/bin/sh
# Seed corpus for fuzz_qcow2: small qcow2 images of every shape qemu-img makes.
# usage: tests/fuzz/make-seeds.sh DIR
set -eu
dir=${1:?usage: $0 DIR}
mkdir -p "$dir"
cd "$dir"
img() { name=$1; shift; rm -f "$name"; qemu-img create -q -f qcow2 "$@" "$name" 1M; }
io() { name=$1; shift; for c in "$@"; do qemu-io -f qcow2 -c "$c" "$name" >/dev/null; done; }

img v3-512.qcow2 -o cluster_size=512
io v3-512.qcow2 'write -P 0x11 0 8k' 'write -z 16k 4k' 'write -P 0x12 900k 1k'
img v2-4k.qcow2 -o cluster_size=4096,compat=0.10
io v2-4k.qcow2 'write -P 0x21 0 16k' 'write -P 0x22 512k 4k'
img rc1-4k.qcow2 -o cluster_size=4096,refcount_bits=1
io rc1-4k.qcow2 'write -P 0x31 4k 8k' 'discard 4k 4k'
img rc64-4k.qcow2 -o cluster_size=4096,refcount_bits=64
io rc64-4k.qcow2 'write -P 0x41 0 4k'
img backing-4k.qcow2 -o cluster_size=4096 -u -b base.img -F raw
img snap-4k.qcow2 -o cluster_size=4096
io snap-4k.qcow2 'write -P 0x51 0 8k'
qemu-img snapshot -c s1 snap-4k.qcow2
io snap-4k.qcow2 'write -P 0x52 4k 4k'
rm -f plain.raw && qemu-img create -q -f raw plain.raw 64k
qemu-io -f raw -c 'write -P 0x61 0 32k' plain.raw >/dev/null
qemu-img convert -c -O qcow2 -o cluster_size=4096 plain.raw compressed-4k.qcow2
rm -f plain.raw
