#!/usr/bin/env python3
"""Crash safety of qcow2 disks: SIGKILL pcvm while its guest writes, then the image must pass
`qemu-img check` (leaked clusters allowed, nothing worse) and hold every write the guest saw
complete.

The guest (GUEST below, built with nasm at test time) boots from the qcow2 disk and
  1. reads its round counter (sector 1024), adds one, writes it back and prints "round RRRR";
  2. writes sequence-numbered runs of sectors through INT 13h AH=43h, one call at a time,
     and prints "w NNNN" after each call returns: the BIOS call returning means the VMM
     completed the write. Write n of round r covers 1-12 sectors inside its own 8 KiB slot
     (65536 slots over 512 MiB, slot grid offset 4 KiB from the cluster grid, so some writes
     cross a cluster; the slots of one round are all different, later rounds overwrite some
     of the earlier ones); every sector holds 32 copies of {'CRSH', r, n, its LBA}.
The test kills pcvm with SIGKILL at a random moment of each round and continues with the same
image in the next round: rounds 1-3 on the qcow2 image `pcvm create --disk-size` makes
(64 KiB clusters), rounds 4-6 on one made by `qemu-img create -o cluster_size=4096` (small
clusters: many L2 tables and refcount blocks get allocated while the guest writes).
After each kill:
  - `qemu-img check` exits 0 (clean) or 3 (leaked clusters only), never 2 (corruption) or 1;
  - the round counter the guest reported is in sector 1024 and grew;
  - every write reported on COM1 reads back (via `qemu-img convert -O raw`) exactly;
  - the writes after the last reported one (in flight at the kill, or done but not yet
    printed) hold, sector by sector, either what was there before or their new data;
  - every other allocated sector of the image holds what the test expects (nothing else
    changed, nothing written to the wrong place).

usage: crash.py PCVM GUEST_SRC_DIR
"""
import json
import os
import random
import signal
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from tap import Tap, in_ci, read, require_kvm, run, tempdir  # noqa: E402

SECTOR = 512
XLBA = 1024            # the round counter
SLOT_BASE = 2056       # 1 MiB + 4 KiB
NSLOTS = 65536
DISK_SIZE = 1 << 30
MAGIC = 0x48535243     # "CRSH"
RMAGIC = 0x21444E52    # "RND!"
LAG = 64               # writes after the last reported one that may have reached the disk
ROUNDS_PER_IMAGE = 3

GUEST = r"""
%include "stage1.inc"
%define XLBA 1024
%define SLOT_BASE 2056
%define BUFSEG 0x1000
%define MAGIC 0x48535243
%define RMAGIC 0x21444E52

main:
	mov word [dap.count], 1		; the round counter
	mov dword [dap.lba], XLBA
	mov ah, 0x42
	call disk
	mov byte [step], 1
	jc fail
	mov ax, BUFSEG
	mov es, ax
	xor eax, eax
	cmp dword [es:4], RMAGIC
	jne .fresh
	mov eax, [es:0]
.fresh:	inc eax
	mov [round], eax
	xor di, di
	xor eax, eax
	mov cx, 128
	rep stosd
	mov eax, [round]
	mov [es:0], eax
	mov dword [es:4], RMAGIC
	mov word [dap.count], 1
	mov ah, 0x43
	call disk
	mov byte [step], 2
	jc fail
	print round_msg
	mov ax, [round]
	call put_hex16
	print crlf
	mov word [seq], 0
	mov byte [step], 3

.next:	movzx eax, word [seq]		; slot (n * 7919 + r * 1000) mod 65536
	imul eax, eax, 7919
	mov ebx, [round]
	imul ebx, ebx, 1000
	add eax, ebx
	and eax, 0xFFFF
	shl eax, 4
	add eax, SLOT_BASE
	movzx ebx, word [seq]		; + n mod 4 sectors into the slot
	and ebx, 3
	add eax, ebx
	mov [dap.lba], eax
	mov dword [dap.lba + 4], 0
	movzx eax, word [seq]		; 1 + (n * 5 + r) mod 12 sectors
	imul eax, eax, 5
	add eax, [round]
	xor edx, edx
	mov ecx, 12
	div ecx
	inc dx
	mov [dap.count], dx
	mov si, dx
	mov ax, BUFSEG
	mov es, ax
	xor di, di
	mov ebx, [dap.lba]
.sector:
	mov cx, 32
.copy:	mov eax, MAGIC
	stosd
	mov eax, [round]
	stosd
	movzx eax, word [seq]
	stosd
	mov eax, ebx
	stosd
	loop .copy
	inc ebx
	dec si
	jnz .sector
	mov ah, 0x43
	call disk
	jc fail
	mov al, 'w'
	call putc
	mov al, ' '
	call putc
	mov ax, [seq]
	call put_hex16
	print crlf
	inc word [seq]
	jnz .next
	exit_with 0x10

disk:				; AH = 42h/43h on the DAP; CF on an error
	xor al, al
	mov si, dap
	mov dl, [boot_drive]
	int 0x13
	ret

fail:
	print failed_msg
	mov al, [step]
	call put_hex8
	mov al, ' '
	call putc
	mov ax, [seq]
	call put_hex16
	print crlf
	exit_with 0x01

dap:	db 0x10, 0
.count:	dw 0
	dw 0, BUFSEG
.lba:	dq 0
round:	dd 0
seq:	dw 0
step:	db 0
round_msg:  db "round ", 0
failed_msg: db "crash guest FAILED step ", 0
	times 4608 - ($ - $$) db 0
"""


def schedule(r, n):
    """(first LBA, sector count) of write n in round r, as the guest computes them."""
    slot = (n * 7919 + r * 1000) & (NSLOTS - 1)
    return SLOT_BASE + slot * 16 + (n & 3), 1 + (n * 5 + r) % 12


def sector_data(r, n, lba):
    return struct.pack("<4I", MAGIC, r, n, lba) * 32


def counter_sector(r):
    return struct.pack("<II", r, RMAGIC) + bytes(SECTOR - 8)


def qemu_img(*args, timeout=60):
    return run(["qemu-img", *args], timeout)


class Disk:
    """The image and what the test knows must be on it: sector -> bytes (absent: zeros)."""

    def __init__(self, path, guest_bin, tmp):
        self.path = path
        self.raw = os.path.join(tmp, "check.raw")
        with open(guest_bin, "rb") as f:
            code = f.read()
        write = f"write -q -s {guest_bin} 0 {len(code)}"
        rc, out, err = run(["qemu-io", "-f", "qcow2", "-c", write, path], 60)
        if rc != 0:
            raise RuntimeError(f"qemu-io could not write the guest: {out}{err}")
        self.model = {i: code[i * SECTOR:(i + 1) * SECTOR] for i in range(len(code) // SECTOR)}
        self.last_round = 0

    def expected(self, lba):
        return self.model.get(lba, bytes(SECTOR))

    def to_raw(self):
        if os.path.exists(self.raw):
            os.unlink(self.raw)
        rc, out, err = qemu_img("convert", "-f", "qcow2", "-O", "raw", self.path, self.raw)
        if rc != 0:
            raise RuntimeError(f"qemu-img convert failed: {err}")
        return open(self.raw, "rb")

    def data_ranges(self):
        rc, out, err = qemu_img("map", "--output=json", "-f", "qcow2", self.path)
        if rc != 0:
            raise RuntimeError(f"qemu-img map failed: {err}")
        return [(e["start"], e["length"]) for e in json.loads(out) if e.get("data")]


def read_sector(f, lba):
    f.seek(lba * SECTOR)
    data = f.read(SECTOR)
    return data + bytes(SECTOR - len(data))


def parse_serial(text):
    """(round or None, [write numbers], error line or None) from the complete lines on COM1."""
    rnd, writes, error = None, [], None
    for line in text.split("\n")[:-1]:  # the last piece has no line end yet
        line = line.rstrip("\r")
        if line.startswith("round ") and rnd is None:
            rnd = int(line[6:], 16)
        elif line.startswith("w ") and len(line) == 6:
            writes.append(int(line[2:], 16))
        elif "FAILED" in line:
            error = line
    return rnd, writes, error


def one_round(tap, binary, bundle, disk, tmp, k, rng):
    name = f"round {k}"
    serial = os.path.join(tmp, f"round{k}.serial")
    errlog = os.path.join(tmp, f"round{k}.stderr")
    with open(errlog, "w") as err:
        p = subprocess.Popen([binary, "run", bundle, "--serial", serial], stdin=subprocess.DEVNULL,
                             stdout=err, stderr=err, start_new_session=True)
    started = False
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and p.poll() is None:
        if "round " in read(serial):
            started = True
            break
        time.sleep(0.02)
    delay = rng.uniform(0.05, 1.5)
    if started:
        time.sleep(delay)
    alive = p.poll() is None
    if alive:
        os.kill(p.pid, signal.SIGKILL)
    p.wait()
    text = read(serial)
    rnd, writes, error = parse_serial(text)
    log = read(os.path.join(bundle, "pcvm.log"))
    detail = (f"pcvm exit code {p.returncode}\nCOM1 (tail): {text[-600:]}\n"
              f"stderr: {read(errlog)[-1500:]}\npcvm.log: {log[-1500:]}")
    if not tap.ok(started and alive and rnd is not None and error is None,
                  f"{name}: the guest wrote until pcvm was killed ({len(writes)} writes reported, "
                  f"killed {delay:.2f} s into the round)", detail):
        return False

    # qemu-img check: 0 clean, 3 leaked clusters only; 2 corruption, 1 check not completed
    rc, out, err = qemu_img("check", disk.path)
    leaks = [l for l in out.splitlines() if "leaked" in l]
    tap.ok(rc in (0, 3), f"{name}: qemu-img check finds no corruption (exit {rc})", out + err)
    if leaks:
        print(f"# {name}: {leaks[0].strip()}", flush=True)

    with disk.to_raw() as f:
        got = read_sector(f, XLBA)
        tap.ok(rnd > disk.last_round and got == counter_sector(rnd),
               f"{name}: the round counter write the guest saw complete is there ({rnd})",
               f"previous round {disk.last_round}, sector {XLBA} holds {got[:8].hex()}")
        disk.last_round = rnd
        disk.model[XLBA] = counter_sector(rnd)

        ok_seq = writes == list(range(len(writes)))
        bad = []
        for n in writes:
            lba, count = schedule(rnd, n)
            for s in range(lba, lba + count):
                want = sector_data(rnd, n, s)
                if read_sector(f, s) != want:
                    bad.append(f"write {n}: sector {s}")
                disk.model[s] = want
        tap.ok(ok_seq and not bad,
               f"{name}: all {len(writes)} writes reported complete read back exactly",
               f"reported in order: {ok_seq}\n" + "\n".join(bad[:20]))

        torn = []
        landed = 0
        for n in range(len(writes), len(writes) + LAG):
            lba, count = schedule(rnd, n)
            for s in range(lba, lba + count):
                new, old, now = sector_data(rnd, n, s), disk.expected(s), read_sector(f, s)
                if now == new:
                    landed += 1
                elif now != old:
                    torn.append(f"write {n}: sector {s} holds {now[:16].hex()}")
                disk.model[s] = now
        tap.ok(not torn, f"{name}: the writes after the last reported one hold old or new data "
               f"({landed} sectors new)", "\n".join(torn[:20]))

        stray = []
        for start, length in disk.data_ranges():
            f.seek(start)
            data = f.read(length)
            for i in range(0, len(data), SECTOR):
                s = start // SECTOR + i // SECTOR
                chunk = data[i:i + SECTOR]
                if chunk != disk.expected(s)[:len(chunk)]:
                    stray.append(f"sector {s}: {chunk[:16].hex()}")
                    if len(stray) >= 20:
                        break
            if len(stray) >= 20:
                break
        tap.ok(not stray, f"{name}: every other allocated sector holds what it should",
               "\n".join(stray))
    return True


def make_images(binary, tmp, guest_bin):
    """Two bundles on qcow2 images: pcvm's own new disk, and qemu-img's with 4 KiB clusters."""
    own = os.path.join(tmp, "own.pcvm")
    rc, out, err = run([binary, "create", own, "--disk-size", str(DISK_SIZE), "--test-exit"], 30)
    if rc != 0:
        raise RuntimeError(f"pcvm create --disk-size failed: {err}")
    conf = read(os.path.join(own, "vm.conf"))
    name = [l.split("=", 1)[1] for l in conf.splitlines() if l.startswith("file=")][0]
    own_disk = name if os.path.isabs(name) else os.path.join(own, name)

    small_disk = os.path.join(tmp, "small-clusters.qcow2")
    rc, out, err = qemu_img("create", "-q", "-f", "qcow2", "-o", "cluster_size=4096", small_disk,
                            str(DISK_SIZE))
    if rc != 0:
        raise RuntimeError(f"qemu-img create failed: {err}")
    small = os.path.join(tmp, "small.pcvm")
    rc, out, err = run([binary, "create", small, "--disk", small_disk, "--test-exit"], 30)
    if rc != 0:
        raise RuntimeError(f"pcvm create --disk failed: {err}")
    return [(own, Disk(own_disk, guest_bin, tmp), "pcvm's new qcow2 disk (64 KiB clusters)"),
            (small, Disk(small_disk, guest_bin, tmp), "qemu-img qcow2 with 4 KiB clusters")]


def main():
    binary, src = sys.argv[1:3]
    tap = Tap()
    if not require_kvm(tap):
        return tap.done()
    missing = [t for t in ("qemu-img", "qemu-io", "nasm")
               if not any(os.access(os.path.join(d, t), os.X_OK)
                          for d in os.environ.get("PATH", "").split(os.pathsep))]
    if missing:
        why = f"{', '.join(missing)} not installed (apt-get install qemu-utils nasm)"
        if in_ci():
            tap.ok(False, "qemu-img, qemu-io and nasm are installed", why)
        else:
            tap.skip("crash safety", why)
        return tap.done()
    seed = int(os.environ.get("CRASH_SEED", str(int(time.time()))))
    print(f"# random seed {seed} (CRASH_SEED={seed} repeats the kill moments)", flush=True)
    rng = random.Random(seed)
    with tempdir() as tmp:
        asm = os.path.join(tmp, "crash.asm")
        with open(asm, "w") as f:
            f.write(GUEST)
        guest_bin = os.path.join(tmp, "crash.bin")
        subprocess.run(["nasm", "-f", "bin", "-i", src + "/", asm, "-o", guest_bin], check=True)
        images = make_images(binary, tmp, guest_bin)
        k = 0
        for bundle, disk, what in images:
            print(f"# {what}: {disk.path}", flush=True)
            for _ in range(ROUNDS_PER_IMAGE):
                k += 1
                if not one_round(tap, binary, bundle, disk, tmp, k, rng):
                    break
    return tap.done()


if __name__ == "__main__":
    sys.exit(main())
