#!/usr/bin/env python3
"""Seeds for fuzz_devices: hand-made command sequences in its input encoding (see the comment
at the top of tests/fuzz/fuzz_devices.c), plus the inputs that found bugs, kept as files in
tests/fuzz/device-seeds/.

usage: device-seeds.py DIR                      write the seeds into DIR
       device-seeds.py --replay PROGRAM N       run PROGRAM (fuzz_replay_devices) on the seeds
                                                and N mutants of each, in a temporary directory
"""
import os
import shutil
import struct
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))

# op byte: the first index of each kind in fuzz_devices.c's op_table
OUT, IN, OUTS, INS, MEM, MMIO_W, MMIO_R, TIME, RESET, SAVE_LOAD, FIRMWARE, RENDER, HOST = (
    0, 8, 13, 15, 17, 21, 24, 26, 27, 28, 29, 30, 31)
# pio_regions
IDE0, IDE0_CTL, IDE1, IDE1_CTL, BM, COM1, RTC, KBD_DATA, KBD_CMD, FW_CFG, PCI, VGA, VBE, \
    NIC_IO, PM, GPE, APM, HOTPLUG, PORT92, DEBUGCON, TEST_EXIT, ANY_PORT, LSI_IO = range(23)
# mmio_regions
NIC_MMIO, VGA_MMIO, VGA_LFB, VGA_WINDOW, ANY_ADDR, LSI_MMIO, LSI_RAM = range(7)
# host_ops
H_SERIAL, H_KEY, H_MOUSE, H_POWER, H_MEDIA, H_LINK, H_FRAME = range(7)
# devices in creation order (machine_new)
I440FX, PIIX3, PIIX_IDE, ACPI_PM, VGA_DEV, E1000, RTC_DEV, UART, I8042, FWCFG, P92, DBG, TEXIT, \
    LSI = range(14)
MACHINE = LSI + 1  # RESET of one past the last device: the whole machine
SIZE = {1: 0, 2: 1, 4: 2, 8: 3}
# the first byte: which slaves the rig leaves out
NO_DISK_SLAVE, NO_CD_SLAVE = 0x01, 0x02


class Seq:
    def __init__(self, rig=0):
        self.b = bytearray([rig])

    def out(self, region, off, val, size=1):
        self.b += struct.pack('<BBHBI', OUT, region, off, SIZE[size], val & 0xFFFFFFFF)
        return self

    def inp(self, region, off, size=1, times=1):
        for _ in range(times):
            self.b += struct.pack('<BBHB', IN, region, off, SIZE[size])
        return self

    def outs(self, region, off, size, count, addr):
        self.b += struct.pack('<BBHBH', OUTS, region, off, SIZE[size], count)
        self.b += addr.to_bytes(3, 'little')
        return self

    def ins(self, region, off, size, count, addr):
        self.b += struct.pack('<BBHBH', INS, region, off, SIZE[size], count)
        self.b += addr.to_bytes(3, 'little')
        return self

    def mem(self, addr, data):
        for i in range(0, len(data), 255):
            chunk = data[i:i + 255]
            self.b += bytes([MEM]) + (addr + i).to_bytes(3, 'little') + bytes([len(chunk)])
            self.b += chunk
        return self

    def mmio_w(self, region, off, val, size=4):
        self.b += struct.pack('<BBIBI', MMIO_W, region, off, SIZE[size], val & 0xFFFFFFFF)
        return self

    def mmio_r(self, region, off, size=4):
        self.b += struct.pack('<BBIB', MMIO_R, region, off, SIZE[size])
        return self

    def time(self, shift, mult=0):
        self.b += bytes([TIME, shift, mult])
        return self

    def op(self, kind, *args):
        self.b += bytes([kind, *args])
        return self

    def host(self, kind, *args):
        self.b += bytes([HOST, kind, *args])
        return self


def prd(addr, count, eot):
    return struct.pack('<II', addr, (count & 0xFFFF) | (0x80000000 if eot else 0))


def ata(s, chan, cmd, lba, count, feature=0, unit=0):
    """An LBA28 ATA command on channel CHAN (IDE0 or IDE1) to drive UNIT."""
    s.out(chan, 1, feature).out(chan, 2, count)
    s.out(chan, 3, lba & 0xFF).out(chan, 4, lba >> 8 & 0xFF).out(chan, 5, lba >> 16 & 0xFF)
    s.out(chan, 6, 0xE0 | unit << 4 | (lba >> 24 & 0x0F)).out(chan, 7, cmd)
    return s


def seed_ide_dma():
    """READ DMA of 8 sectors through a two-entry PRD table, WRITE DMA back, a table aimed past
    the end of RAM, the bus-master status, a save and load mid-way."""
    s = Seq()
    s.mem(0x1000, prd(0x2000, 2048, False) + prd(0x3000, 2048, True))
    s.mem(0x1800, prd(0x200000, 4096, True))  # 1 MiB of RAM: past the end
    s.out(BM, 4, 0x1000, 4).out(BM, 2, 0x06)
    ata(s, IDE0, 0xC8, 0, 8).op(SAVE_LOAD, PIIX_IDE).out(BM, 0, 0x09)
    s.inp(BM, 2).inp(IDE0, 7).out(BM, 0, 0x00).out(BM, 2, 0x06)
    ata(s, IDE0, 0xCA, 100, 8).out(BM, 0, 0x01).inp(BM, 2).inp(IDE0, 7).out(BM, 0, 0)
    s.out(BM, 4, 0x1800, 4)
    ata(s, IDE0, 0xC8, 0, 8).out(BM, 0, 0x09).inp(BM, 2).inp(IDE0, 7).inp(IDE0, 1)
    s.out(BM, 0, 0).out(IDE0_CTL, 0, 0x04).out(IDE0_CTL, 0, 0x00)  # software reset
    ata(s, IDE0, 0xEC, 0, 0).ins(IDE0, 0, 2, 256, 0x4000)  # IDENTIFY DEVICE
    ata(s, IDE0, 0x20, 2047, 2).ins(IDE0, 0, 2, 512, 0x4000)  # READ SECTORS at the end
    return s


CDB_AT = 0x9000  # where the seeds keep a command packet: rep outsw sends it from there


def packet(s, cdb, limit=0xFFFE, dma=False, unit=0):
    """PACKET with the byte count limit, then the 12-byte command packet (secondary master or
    slave), from guest RAM by rep outsw."""
    s.out(IDE1, 6, 0xA0 | unit << 4).out(IDE1, 1, 1 if dma else 0)
    s.out(IDE1, 4, limit & 0xFF).out(IDE1, 5, limit >> 8).out(IDE1, 7, 0xA0)
    s.mem(CDB_AT, bytes(cdb) + bytes(12 - len(cdb))).outs(IDE1, 0, 2, 6, CDB_AT)
    return s


def seed_atapi():
    """TEST UNIT READY (the unit attention), REQUEST SENSE, INQUIRY, READ CAPACITY, READ(10)
    by PIO and by DMA, READ TOC, and a READ(10) past the end of the disc."""
    s = Seq()
    packet(s, [0x00]).inp(IDE1, 7).inp(IDE1, 1)
    packet(s, [0x03, 0, 0, 0, 18]).inp(IDE1, 7).ins(IDE1, 0, 2, 9, 0x5000)
    packet(s, [0x12, 0, 0, 0, 36]).inp(IDE1, 4).inp(IDE1, 5).ins(IDE1, 0, 2, 18, 0x5000)
    packet(s, [0x25]).ins(IDE1, 0, 2, 4, 0x5000)
    packet(s, [0x28, 0, 0, 0, 0, 16, 0, 0, 1]).inp(IDE1, 7).inp(IDE1, 2)
    s.ins(IDE1, 0, 2, 1024, 0x6000).inp(IDE1, 7)
    s.mem(0x1000, prd(0x8000, 4096, True)).out(BM, 12, 0x1000, 4).out(BM, 10, 0x06)
    packet(s, [0x28, 0, 0, 0, 0, 16, 0, 0, 2], dma=True).out(BM, 8, 0x09)
    s.inp(BM, 10).inp(IDE1, 7).out(BM, 8, 0)
    packet(s, [0x43, 0, 0, 0, 0, 0, 0, 0x03, 0x24]).ins(IDE1, 0, 2, 0x12, 0x5000)
    packet(s, [0x28, 0, 0, 0, 0x01, 0x2C, 0, 0, 4]).inp(IDE1, 7).inp(IDE1, 1)
    packet(s, [0x1E, 0, 0, 0, 1]).host(H_MEDIA, 0).host(H_MEDIA, 1).op(SAVE_LOAD, PIIX_IDE)
    packet(s, [0x4A, 1, 0, 0, 0x10, 0, 0, 0, 8]).ins(IDE1, 0, 2, 4, 0x5000)
    packet(s, [0xBD, 0, 0, 0, 0, 0, 0, 0, 0, 8]).inp(IDE1, 7)
    return s


def seed_uart():
    """Divisor, FIFO, loopback mode: a byte written comes back in the receiver; the interrupt
    identification; host input filling the FIFO."""
    s = Seq()
    s.out(COM1, 3, 0x80).out(COM1, 0, 1).out(COM1, 1, 0).out(COM1, 3, 0x03)
    s.out(COM1, 2, 0xC7).out(COM1, 4, 0x1B).out(COM1, 1, 0x0F)
    s.out(COM1, 0, ord('A')).inp(COM1, 5).inp(COM1, 2).inp(COM1, 0).inp(COM1, 6)
    s.outs(COM1, 0, 1, 20, 0x100).inp(COM1, 5).inp(COM1, 0, times=18)
    s.out(COM1, 4, 0x0B).host(H_SERIAL, 16, *range(0x30, 0x40)).host(H_SERIAL, 4, 1, 2, 3, 4)
    s.inp(COM1, 5).inp(COM1, 2).op(SAVE_LOAD, UART).inp(COM1, 0, times=17).out(COM1, 7, 0x5A)
    s.inp(COM1, 7)
    return s


def seed_rtc():
    """Every clock register read, registers A/B programmed for the periodic, alarm and update
    interrupts, time passing, register C read, the clock stopped and set."""
    s = Seq()
    for reg in list(range(0x0E)) + [0x32, 0x10, 0x14, 0x7F]:
        s.out(RTC, 0, reg).inp(RTC, 1)
    s.out(RTC, 0, 0x0A).out(RTC, 1, 0x26).out(RTC, 0, 0x0B).out(RTC, 1, 0x72)
    s.out(RTC, 0, 0x01).out(RTC, 1, 0xFF).out(RTC, 0, 0x03).out(RTC, 1, 0xFF)
    s.out(RTC, 0, 0x05).out(RTC, 1, 0xFF)
    s.time(20, 10).out(RTC, 0, 0x0C).inp(RTC, 1).time(27, 40).out(RTC, 0, 0x0C).inp(RTC, 1)
    s.op(SAVE_LOAD, RTC_DEV)
    s.out(RTC, 0, 0x0B).out(RTC, 1, 0x86).out(RTC, 0, 0x00).out(RTC, 1, 0x59)
    s.out(RTC, 0, 0x04).out(RTC, 1, 0x23).out(RTC, 0, 0x0B).out(RTC, 1, 0x06)
    s.time(27, 3).out(RTC, 0, 0x00).inp(RTC, 1).out(RTC, 0, 0x0A).out(RTC, 1, 0x70)
    s.out(RTC, 0, 0x0A).out(RTC, 1, 0x20).out(RTC, 0, 0x0C).inp(RTC, 1)
    return s


def seed_i8042():
    """The controller's command byte, self tests, keyboard reset and scan code set, the mouse
    through 0xD4 with the IntelliMouse knock, host keys and motion, the reset pulse."""
    s = Seq()
    s.out(KBD_CMD, 0, 0x20).inp(KBD_CMD, 0).inp(KBD_DATA, 0)
    s.out(KBD_CMD, 0, 0x60).out(KBD_DATA, 0, 0x47)
    s.out(KBD_CMD, 0, 0xAA).inp(KBD_DATA, 0).out(KBD_CMD, 0, 0xAB).inp(KBD_DATA, 0)
    s.out(KBD_DATA, 0, 0xFF).inp(KBD_DATA, 0, times=3)
    s.out(KBD_DATA, 0, 0xF0).out(KBD_DATA, 0, 0x02).inp(KBD_DATA, 0, times=2)
    s.out(KBD_DATA, 0, 0xED).out(KBD_DATA, 0, 0x07).inp(KBD_DATA, 0, times=2)
    for b in (0xF3, 200, 0xF3, 100, 0xF3, 80, 0xF2, 0xF4):
        s.out(KBD_CMD, 0, 0xD4).out(KBD_DATA, 0, b).inp(KBD_CMD, 0).inp(KBD_DATA, 0, times=2)
    s.host(H_KEY, 0, 0x1C).host(H_KEY, 1, 0xF0, 0x1C).host(H_MOUSE, 5, 0xFB, 1, 1)
    s.inp(KBD_CMD, 0).inp(KBD_DATA, 0, times=8).op(SAVE_LOAD, I8042)
    s.out(KBD_CMD, 0, 0xD2).out(KBD_DATA, 0, 0x55).inp(KBD_DATA, 0)
    s.out(KBD_CMD, 0, 0xD0).inp(KBD_DATA, 0).out(KBD_CMD, 0, 0xD1).out(KBD_DATA, 0, 0xDF)
    s.out(KBD_CMD, 0, 0xFE).inp(KBD_CMD, 0)
    return s


def be(v):
    """What a guest's outl writes for the big-endian 32-bit value V (fw_cfg's DMA address)."""
    return struct.unpack('<I', struct.pack('>I', v))[0]


def seed_fw_cfg():
    """The signature and ID through the data port, the file directory, a DMA read of a file,
    DMA with a descriptor and a buffer past the end of RAM, the DMA signature."""
    s = Seq()
    s.out(FW_CFG, 0, 0x0000, 2).inp(FW_CFG, 1, times=4)
    s.out(FW_CFG, 0, 0x0001, 2).inp(FW_CFG, 1, times=4)
    s.out(FW_CFG, 0, 0x0019, 2).ins(FW_CFG, 1, 1, 4 + 2 * 64, 0x2000)
    desc = struct.pack('>IIQ', 0x0020 << 16 | 0x08 | 0x02, 64, 0x3000)
    far = struct.pack('>IIQ', 0x02, 64, 0x1FFFF0)
    s.mem(0x2800, desc).mem(0x2900, far)
    s.out(FW_CFG, 4, 0, 4).out(FW_CFG, 8, be(0x2800), 4).inp(FW_CFG, 4, 4).inp(FW_CFG, 8, 4)
    s.out(FW_CFG, 8, be(0x2900), 4).out(FW_CFG, 8, be(0x1FFFF8), 4)
    s.out(FW_CFG, 4, be(1), 4).out(FW_CFG, 8, be(0x2800), 4)
    s.op(SAVE_LOAD, FWCFG).out(FW_CFG, 0, 0x8000, 2).inp(FW_CFG, 1).out(FW_CFG, 0, 0x3FFF, 2)
    s.inp(FW_CFG, 1)
    return s


def cfg(s, devfn, off, val=None, size=4):
    s.out(PCI, 0, 0x80000000 | devfn << 8 | (off & 0xFC), 4)
    if val is None:
        return s.inp(PCI, 4 + (off & 3), size)
    return s.out(PCI, 4 + (off & 3), val, size)


def seed_pci():
    """Every function's IDs, BAR sizing and a BAR moved (the bus-master and e1000 regions follow
    it), the command register, the PIRQ routing, an absent function, 0xCF9."""
    s = Seq()
    for devfn in (0x00, 0x08, 0x09, 0x0B, 0x10, 0x18, 0x20, 0xFF):
        cfg(s, devfn, 0x00)
    cfg(s, 0x18, 0x10, 0xFFFFFFFF).inp(PCI, 4, 4)
    cfg(s, 0x18, 0x10, 0xFEB00000)
    cfg(s, 0x18, 0x14, 0xFFFFFFFF).inp(PCI, 4, 4)
    cfg(s, 0x18, 0x14, 0xD000)
    cfg(s, 0x09, 0x20, 0xFFFFFFFF).inp(PCI, 4, 4)
    cfg(s, 0x09, 0x20, 0xD100)
    s.inp(BM, 2).mmio_r(NIC_MMIO, 8).out(NIC_IO, 0, 8, 4).inp(NIC_IO, 4, 4)
    cfg(s, 0x10, 0x04, 0, 2).mmio_r(VGA_MMIO, 0x500, 2)
    cfg(s, 0x18, 0x30, 0xFFFFFFFE).inp(PCI, 4, 4)  # the e1000's option ROM, mapped and read
    cfg(s, 0x18, 0x30, 0xFEA00001).mmio_r(ANY_ADDR, 0xFEA00000, 4).mmio_r(ANY_ADDR, 0xFEA007FE, 4)
    cfg(s, 0x08, 0x60, 0x80808080)
    cfg(s, 0x0B, 0x40, 0x0701).out(PM, 0, 0xFFFF, 2).inp(PM, 8, 4).op(SAVE_LOAD, ACPI_PM)
    s.out(PCI, 1, 0x02).inp(PCI, 1).op(SAVE_LOAD, PIIX3).op(FIRMWARE).out(PCI, 1, 0x06)
    return s


def seed_e1000():
    """Reset, the EEPROM through EERD, a PHY read through MDIC, receive and transmit rings,
    one frame sent that loops back into the receive ring, the interrupt cause read; a ring
    aimed past the end of RAM."""
    s = Seq()
    s.mmio_w(NIC_MMIO, 0x0000, 0x04000000).mmio_w(NIC_MMIO, 0x0000, 0x40)
    s.mmio_w(NIC_MMIO, 0x0014, 0x01).mmio_r(NIC_MMIO, 0x0014)
    s.mmio_w(NIC_MMIO, 0x0020, 0x08210000).mmio_r(NIC_MMIO, 0x0020).mmio_r(NIC_MMIO, 0x0008)
    for i in range(8):
        s.mem(0x7000 + 16 * i, struct.pack('<QQ', 0x8000 + 2048 * i, 0))
    s.mmio_w(NIC_MMIO, 0x2800, 0x7000).mmio_w(NIC_MMIO, 0x2804, 0)
    s.mmio_w(NIC_MMIO, 0x2808, 128).mmio_w(NIC_MMIO, 0x2810, 0).mmio_w(NIC_MMIO, 0x2818, 7)
    s.mmio_w(NIC_MMIO, 0x0100, 0x0000801E).mmio_w(NIC_MMIO, 0x00D0, 0x9F)
    frame = bytes([0xFF] * 6 + [0x52, 0x54, 0, 0x12, 0x34, 0x56, 0x08, 0x06]) + bytes(46)
    s.mem(0x6000, frame)
    s.mem(0x5000, struct.pack('<QHBBBBH', 0x6000, 60, 0, 0x0B, 0, 0, 0))
    s.mmio_w(NIC_MMIO, 0x3800, 0x5000).mmio_w(NIC_MMIO, 0x3808, 128)
    s.mmio_w(NIC_MMIO, 0x3810, 0).mmio_w(NIC_MMIO, 0x3818, 0)
    s.mmio_w(NIC_MMIO, 0x0400, 0x010400FA).mmio_w(NIC_MMIO, 0x3818, 1)
    s.time(20).mmio_r(NIC_MMIO, 0x00C0).mmio_r(NIC_MMIO, 0x2810).op(SAVE_LOAD, E1000)
    s.host(H_FRAME, 60, 0, 0x00, 0x60, 0x00).host(H_LINK, 0).host(H_LINK, 1)
    s.mmio_w(NIC_MMIO, 0x3800, 0x1FFF00).mmio_w(NIC_MMIO, 0x3818, 3).mmio_r(NIC_MMIO, 0x00C0)
    s.mmio_w(NIC_MMIO, 0x2800, 0xFFFFF0).mmio_w(NIC_MMIO, 0x2818, 5).host(H_FRAME, 64, 0, 0, 0, 0)
    return s


def seed_vga():
    """Text mode in the legacy window with the cursor, a VBE mode through the DISPI ports and
    the MMIO BAR, pixels in the linear framebuffer, a planar mode, renders."""
    s = Seq()
    vga_mode(s, MODE_03H)
    for i, ch in enumerate(b'pcvm fuzz'):
        s.mmio_w(VGA_WINDOW, 0x18000 + 2 * i, ch | 0x1F00, 2)
    s.out(VGA, 0x24, 0x0E).out(VGA, 0x25, 0x00).out(VGA, 0x24, 0x0F).out(VGA, 0x25, 0x05)
    s.op(RENDER).op(SAVE_LOAD, VGA_DEV)
    for idx, val in ((4, 0), (1, 640), (2, 480), (3, 32), (4, 0x41)):
        s.out(VBE, 0, idx, 2).out(VBE, 1, val, 2)
    s.mmio_w(VGA_LFB, 0, 0x00FF0000).mmio_w(VGA_LFB, 640 * 4 * 479 + 4 * 639, 0xFF)
    s.op(RENDER).mmio_w(VGA_MMIO, 0x500 + 2 * 1, 800, 2).mmio_w(VGA_MMIO, 0x500 + 2 * 6, 4096, 2)
    s.mmio_w(VGA_MMIO, 0x500 + 2 * 9, 1000, 2).op(RENDER)
    s.out(VBE, 0, 4, 2).out(VBE, 1, 0, 2).out(VGA, 0x12, 0x67).out(VGA, 0x14, 0x01)
    s.out(VGA, 0x15, 0x0F).out(VGA, 0x1E, 0x05).out(VGA, 0x1F, 0x00)
    s.mmio_w(VGA_WINDOW, 0, 0xFF, 1).op(RENDER).inp(VGA, 0x2A, times=3)
    return s


def seed_pm():
    """The PM timer, PM1 enables and the power button (SCI), GPE and APM, then S5."""
    s = Seq()
    s.inp(PM, 8, 4).time(26, 20).inp(PM, 8, 4).out(PM, 2, 0x0121, 2).out(PM, 4, 0x0001, 2)
    s.host(H_POWER).inp(PM, 0, 2).out(PM, 0, 0x0100, 2).out(GPE, 2, 0xFF).inp(GPE, 0)
    s.out(APM, 0, 0xF1).inp(APM, 1).op(SAVE_LOAD, ACPI_PM).inp(HOTPLUG, 0, 4)
    s.out(PORT92, 0, 0x02).inp(PORT92, 0).out(DEBUGCON, 0, ord('x')).out(PM, 4, 0x2001, 2)
    s.out(TEST_EXIT, 0, 1).out(PORT92, 0, 0x03).op(RESET, MACHINE)
    return s


def seed_atapi_more():
    """The rest of the command set: MODE SENSE pages, MODE SELECT with its parameter list,
    GET CONFIGURATION, READ DISC INFORMATION, READ TOC formats, READ (12), READ CD, SEEK,
    START STOP UNIT (eject and load), SET CD SPEED; each answer read out."""
    s = Seq()
    cmds = [
        [0x5A, 0, 0x2A, 0, 0, 0, 0, 0, 0xFF], [0x5A, 0, 0x01, 0, 0, 0, 0, 0, 0xFF],
        [0x5A, 0, 0x3F, 0, 0, 0, 0, 0, 0xFF], [0x5A, 0, 0xAA, 0, 0, 0, 0, 0, 0xFF],
        [0x46, 0, 0, 0, 0, 0, 0, 0x01, 0], [0x46, 1, 0, 0, 0, 0, 0, 0x01, 0],
        [0x46, 2, 0, 0x1E, 0, 0, 0, 0, 0x40], [0x51, 0, 0, 0, 0, 0, 0, 0, 34],
        [0x43, 2, 0, 0, 0, 0, 0, 0x03, 0x24], [0x43, 0, 0, 0, 0, 0, 0, 0, 12, 0x40],
        [0x43, 0, 0, 0, 0, 0, 0xAA, 0, 12], [0x43, 0, 2, 0, 0, 0, 0, 0x10, 0],
        [0xA8, 0, 0, 0, 0, 17, 0, 0, 0, 2], [0xBE, 0, 0, 0, 0, 18, 0, 0, 1, 0x10],
        [0xBE, 0, 0, 0, 0, 18, 0, 0, 1, 0xF8], [0x2B, 0, 0, 0, 0, 20],
        [0xBB, 0, 0xFF, 0xFF], [0x1B, 0, 0, 0, 2], [0x00], [0x1B, 0, 0, 0, 3], [0x00],
        [0x03, 0, 0, 0, 18], [0x12, 1, 0x80, 0, 36],
    ]
    for cdb in cmds:
        packet(s, cdb, 0x800).inp(IDE1, 7).inp(IDE1, 2).inp(IDE1, 4).inp(IDE1, 5)
        s.ins(IDE1, 0, 2, 0x400, 0x5000).inp(IDE1, 7).inp(IDE1, 1)
    packet(s, [0x55, 0x10, 0, 0, 0, 0, 0, 0, 24]).inp(IDE1, 2)
    s.mem(0x5000, bytes([0, 22, 0, 0, 0, 0, 0, 0, 0x01, 6, 0, 5] + [0] * 12))
    s.outs(IDE1, 0, 2, 12, 0x5000).inp(IDE1, 7).inp(IDE1, 1)
    packet(s, [0x28, 0, 0, 0, 0, 0, 0, 0x10, 0], 0x1000).inp(IDE1, 4).inp(IDE1, 5)
    s.ins(IDE1, 0, 4, 0x400, 0x10000).op(SAVE_LOAD, PIIX_IDE).ins(IDE1, 0, 4, 0x4000, 0x10000)
    s.out(IDE1, 6, 0xA0).out(IDE1, 7, 0xA1).ins(IDE1, 0, 2, 256, 0x5000)  # IDENTIFY PACKET
    s.out(IDE1, 7, 0x08).inp(IDE1, 7).inp(IDE1, 4)  # DEVICE RESET
    s.out(IDE1, 6, 0xB0).out(IDE1, 7, 0xEC).inp(IDE1, 7)  # the absent slave
    return s


def seed_ide_pio():
    """PIO commands: SET MULTIPLE then READ/WRITE MULTIPLE, READ/WRITE SECTORS (EXT), CHS
    addressing after INITIALIZE DEVICE PARAMETERS, SET FEATURES, READ VERIFY, FLUSH, CHECK POWER
    MODE, a command to the absent slave, the HOB bit."""
    s = Seq()
    ata(s, IDE0, 0xC6, 0, 8).inp(IDE0, 7)
    ata(s, IDE0, 0xC4, 10, 16).ins(IDE0, 0, 2, 8 * 256, 0x10000).ins(IDE0, 0, 4, 4 * 128, 0x14000)
    s.mem(0x20000, bytes(range(256)) * 2)
    ata(s, IDE0, 0xC5, 40, 9).outs(IDE0, 0, 2, 9 * 256, 0x20000).inp(IDE0, 7).inp(IDE0, 1)
    ata(s, IDE0, 0x30, 2040, 8).outs(IDE0, 0, 4, 8 * 128, 0x20000).inp(IDE0, 7)
    s.out(IDE0, 6, 0x40).out(IDE0, 2, 0).out(IDE0, 3, 0).out(IDE0, 4, 0).out(IDE0, 5, 0)
    s.out(IDE0, 2, 3).out(IDE0, 3, 0x10).out(IDE0, 4, 0).out(IDE0, 5, 0).out(IDE0, 7, 0x24)
    s.ins(IDE0, 0, 2, 3 * 256, 0x10000).out(IDE0_CTL, 0, 0x80).inp(IDE0, 2).inp(IDE0, 3)
    s.out(IDE0_CTL, 0, 0x00).out(IDE0, 7, 0x34).outs(IDE0, 0, 2, 3 * 256, 0x20000).inp(IDE0, 7)
    s.out(IDE0, 6, 0xA3).out(IDE0, 2, 17).out(IDE0, 7, 0x91).inp(IDE0, 7)  # 4 heads, 17 sectors
    s.out(IDE0, 6, 0xA2).out(IDE0, 2, 2).out(IDE0, 3, 5).out(IDE0, 4, 3).out(IDE0, 5, 0)
    s.out(IDE0, 7, 0x20).ins(IDE0, 0, 2, 2 * 256, 0x10000).inp(IDE0, 3).inp(IDE0, 6)
    ata(s, IDE0, 0xEF, 0x22, 0, 0x03).inp(IDE0, 7)  # multiword DMA 2
    ata(s, IDE0, 0xEF, 0x45, 0, 0x03).inp(IDE0, 7)  # Ultra DMA 5
    ata(s, IDE0, 0xEF, 0, 0, 0x82).inp(IDE0, 7)  # write cache off
    ata(s, IDE0, 0xCA, 0, 200).op(SAVE_LOAD, PIIX_IDE).out(BM, 0, 1).inp(IDE0, 7)
    ata(s, IDE0, 0x40, 100, 50).inp(IDE0, 7).out(IDE0, 7, 0xE7).inp(IDE0, 7)
    s.out(IDE0, 7, 0xE5).inp(IDE0, 2).out(IDE0, 7, 0x90).inp(IDE0, 1)
    ata(s, IDE0, 0x20, 0, 1).op(SAVE_LOAD, PIIX_IDE).ins(IDE0, 0, 1, 512, 0x10000)
    ata(s, IDE0, 0x30, 5, 2).outs(IDE0, 0, 2, 100, 0x20000).op(SAVE_LOAD, PIIX_IDE)
    s.outs(IDE0, 0, 2, 412, 0x20000).inp(IDE0, 7)
    s.out(IDE0, 6, 0xF0).out(IDE0, 7, 0xEC).inp(IDE0, 7).inp(IDE0_CTL, 0)
    ata(s, IDE0, 0x25, 0, 0).out(BM, 0, 9).inp(IDE0, 7)  # READ DMA EXT
    return s


def seed_e1000_offload():
    """A TCP segmentation context and a data descriptor for 2000 bytes of payload, checksum
    insertion, interrupt delays and moderation, a VLAN tag; the segments come back through the
    receive ring, the delay timers fire."""
    s = Seq()
    s.mmio_w(NIC_MMIO, 0x0000, 0x40 | 0x40000000)
    for i in range(16):
        s.mem(0x7000 + 16 * i, struct.pack('<QQ', 0x40000 + 2048 * i, 0))
    s.mmio_w(NIC_MMIO, 0x2800, 0x7000).mmio_w(NIC_MMIO, 0x2808, 256)
    s.mmio_w(NIC_MMIO, 0x2810, 0).mmio_w(NIC_MMIO, 0x2818, 15)
    s.mmio_w(NIC_MMIO, 0x2820, 100).mmio_w(NIC_MMIO, 0x282C, 300)  # RDTR, RADV
    s.mmio_w(NIC_MMIO, 0x3820, 50).mmio_w(NIC_MMIO, 0x382C, 200)  # TIDV, TADV
    s.mmio_w(NIC_MMIO, 0x00C4, 1000).mmio_w(NIC_MMIO, 0x00D0, 0x1FFFF)  # ITR, IMS
    s.mmio_w(NIC_MMIO, 0x0100, 0x0400801E).mmio_w(NIC_MMIO, 0x5000, 0x300)  # RCTL, RXCSUM
    eth = bytes([0x52, 0x54, 0, 0x12, 0x34, 0x56] * 2) + b'\x08\x00'
    ip = bytes([0x45, 0, 0, 0, 0, 1, 0x40, 0, 64, 6, 0, 0, 10, 0, 2, 15, 10, 0, 2, 2])
    tcp = bytes([0x12, 0x34, 0x00, 0x50, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x18, 0x20, 0, 0, 0, 0,
                 0])
    payload = bytes((i * 7) & 0xFF for i in range(2000))
    s.mem(0x30000, eth + ip + tcp + payload)
    ctx = struct.pack('<BBHBBHIBBH', 14, 24, 33, 34, 50, 0, 2000 | 0x2F << 24, 0, 54, 536)
    data = struct.pack('<QIBBH', 0x30000, 2054 | 1 << 20 | 0x2F << 24, 0, 0x03, 0)
    csum_ctx = struct.pack('<BBHBBHIBBH', 14, 24, 33, 34, 50, 0, 0x2B << 24, 0, 0, 0)
    csum_data = struct.pack('<QIBBH', 0x30000, 200 | 1 << 20 | 0xEB << 24, 0, 0x03, 5)
    legacy = struct.pack('<QHBBBBH', 0x30000, 100, 0, 0x1B | 0x40 | 0x04, 0, 24, 7)
    s.mem(0x5000, ctx + data + csum_ctx + csum_data + legacy)
    s.mmio_w(NIC_MMIO, 0x3800, 0x5000).mmio_w(NIC_MMIO, 0x3808, 256)
    s.mmio_w(NIC_MMIO, 0x0038, 0x8100).mmio_w(NIC_MMIO, 0x0000, 0x40 | 0x40000000)  # VET, VME
    s.mmio_w(NIC_MMIO, 0x0400, 0x010400FA).mmio_w(NIC_MMIO, 0x3818, 2)
    s.time(10).mmio_r(NIC_MMIO, 0x00C0).time(17).mmio_r(NIC_MMIO, 0x00C0).time(20)
    s.mmio_w(NIC_MMIO, 0x3818, 5).op(SAVE_LOAD, E1000).time(20).mmio_r(NIC_MMIO, 0x2810)
    s.mmio_r(NIC_MMIO, 0x00C0).mmio_r(NIC_MMIO, 0x4074).mmio_r(NIC_MMIO, 0x40D4)
    s.mmio_r(NIC_MMIO, 0x40C0).mmio_r(NIC_MMIO, 0x40C4).mmio_r(NIC_MMIO, 0x4088)
    return s


def seed_ps2_more():
    """The keyboard's and the mouse's other commands: echo, typematic, identify, resend,
    defaults, scaling, resolution, status, remote mode and read data, wrap mode, reset; the
    controller's output port, RAM and test commands; motion in remote and stream modes."""
    s = Seq()
    for b in (0xEE, 0xF3, 0x20, 0xF2, 0xFE, 0xF5, 0xF6, 0xF4, 0xF0, 0x00, 0xF0, 0x03, 0xFA,
              0xF7, 0xF8, 0xFC, 0x1C, 0xFD, 0x1C):
        s.out(KBD_DATA, 0, b).inp(KBD_DATA, 0, times=2)
    for b in (0xFF, 0xF6, 0xE6, 0xE7, 0xE8, 3, 0xE9, 0xF0, 0xEB, 0xEA, 0xF3, 200, 0xF3, 200,
              0xF3, 80, 0xF2, 0xF4, 0xEE, 0x12, 0xEC, 0xFE, 0xF5):
        s.out(KBD_CMD, 0, 0xD4).out(KBD_DATA, 0, b).inp(KBD_DATA, 0, times=3)
    s.host(H_MOUSE, 0x80, 0x7F, 0xFE, 7).host(H_MOUSE, 3, 3, 1, 0).inp(KBD_DATA, 0, times=8)
    for cmd in (0xA7, 0xA8, 0xA9, 0xAD, 0xAE, 0xC0, 0xE0, 0xCA, 0xF0, 0xFE, 0xD3, 0xA4, 0x21):
        s.out(KBD_CMD, 0, cmd).out(KBD_DATA, 0, 0x77).inp(KBD_CMD, 0).inp(KBD_DATA, 0)
    s.out(KBD_CMD, 0, 0x60).out(KBD_DATA, 0, 0x03).host(H_KEY, 2, 0xE0, 0xF0, 0x75)
    for i in range(40):
        s.host(H_KEY, 0, 0x10 + i)
    s.op(SAVE_LOAD, I8042).inp(KBD_DATA, 0, times=70)
    return s


# Register sets of the standard modes 12h (640x480x16, planar) and 13h (320x200x256, chain 4).
MODE_12H = dict(misc=0xE3, seq=[0x03, 0x01, 0x0F, 0x00, 0x06],
                crtc=[0x5F, 0x4F, 0x50, 0x82, 0x54, 0x80, 0x0B, 0x3E, 0x00, 0x40, 0, 0, 0, 0,
                      0, 0, 0xEA, 0x0C, 0xDF, 0x28, 0x00, 0xE7, 0x04, 0xE3, 0xFF],
                gc=[0, 0, 0, 0, 0, 0, 0x05, 0x0F, 0xFF],
                ac=[0, 1, 2, 3, 4, 5, 0x14, 7, 0x38, 0x39, 0x3A, 0x3B, 0x3C, 0x3D, 0x3E, 0x3F,
                    0x01, 0, 0x0F, 0, 0])
MODE_03H = dict(misc=0x67, seq=[0x03, 0x00, 0x03, 0x00, 0x02],
                crtc=[0x5F, 0x4F, 0x50, 0x82, 0x55, 0x81, 0xBF, 0x1F, 0x00, 0x4F, 0x0D, 0x0E, 0,
                      0, 0, 0x50, 0x9C, 0x8E, 0x8F, 0x28, 0x1F, 0x96, 0xB9, 0xA3, 0xFF],
                gc=[0, 0, 0, 0, 0, 0x10, 0x0E, 0x00, 0xFF],
                ac=[0, 1, 2, 3, 4, 5, 0x14, 7, 0x38, 0x39, 0x3A, 0x3B, 0x3C, 0x3D, 0x3E, 0x3F,
                    0x0C, 0, 0x0F, 0x08, 0])
MODE_13H = dict(misc=0x63, seq=[0x03, 0x01, 0x0F, 0x00, 0x0E],
                crtc=[0x5F, 0x4F, 0x50, 0x82, 0x54, 0x80, 0xBF, 0x1F, 0x00, 0x41, 0, 0, 0, 0,
                      0, 0, 0x9C, 0x0E, 0x8F, 0x28, 0x40, 0x96, 0xB9, 0xA3, 0xFF],
                gc=[0, 0, 0, 0, 0, 0x40, 0x05, 0x0F, 0xFF],
                ac=list(range(16)) + [0x41, 0, 0x0F, 0, 0])


def vga_mode(s, m):
    """A mode set as a BIOS does it, through the ports (0x3B0 + offset)."""
    s.out(VGA, 0x12, m['misc'])
    for i, v in enumerate(m['seq']):
        s.out(VGA, 0x14, i).out(VGA, 0x15, v)
    s.out(VGA, 0x24, 0x11).out(VGA, 0x25, 0x0E)  # unlock CR0-7
    for i, v in enumerate(m['crtc']):
        s.out(VGA, 0x24, i).out(VGA, 0x25, v)
    for i, v in enumerate(m['gc']):
        s.out(VGA, 0x1E, i).out(VGA, 0x1F, v)
    s.inp(VGA, 0x2A)
    for i, v in enumerate(m['ac']):
        s.out(VGA, 0x10, i).out(VGA, 0x10, v)
    s.out(VGA, 0x10, 0x20)
    s.out(VGA, 0x18, 0)
    for i in range(48):
        s.out(VGA, 0x19, (i * 5) & 0x3F)
    return s


def seed_vga_planar():
    """Modes 12h and 13h set through the ports, every write mode of the graphics controller
    with set/reset, rotate, logical ops and the bit mask, read modes, latches; renders."""
    s = Seq()
    vga_mode(s, MODE_12H)
    for mode, extra in ((0, [(1, 0x0F), (0, 0x05), (3, 0x08)]), (1, []), (2, [(8, 0xF0)]),
                        (3, [(3, 0x13), (8, 0xFF)])):
        for idx, v in extra:
            s.out(VGA, 0x1E, idx).out(VGA, 0x1F, v)
        s.out(VGA, 0x1E, 5).out(VGA, 0x1F, mode)
        s.mmio_r(VGA_WINDOW, 0x100, 1).mmio_w(VGA_WINDOW, 0x100 + 80 * mode, 0xA5C3, 2)
        s.mmio_w(VGA_WINDOW, 0x9000 + mode, 0x5A, 1)
    s.out(VGA, 0x1E, 5).out(VGA, 0x1F, 0x08).out(VGA, 0x1E, 2).out(VGA, 0x1F, 0x05)
    s.mmio_r(VGA_WINDOW, 0x100, 4).out(VGA, 0x1E, 4).out(VGA, 0x1F, 2).mmio_r(VGA_WINDOW, 0x100, 2)
    s.out(VGA, 0x14, 2).out(VGA, 0x15, 0x03).mmio_w(VGA_WINDOW, 0x200, 0x12345678, 4)
    s.op(RENDER).op(SAVE_LOAD, VGA_DEV)
    vga_mode(s, MODE_13H)
    s.mmio_w(VGA_WINDOW, 0, 0x0F0E0D0C, 4).mmio_w(VGA_WINDOW, 320 * 199 + 316, 0x01020304, 4)
    s.out(VGA, 0x24, 0x0C).out(VGA, 0x25, 0x01).out(VGA, 0x24, 0x13).out(VGA, 0x25, 0x50)
    s.op(RENDER).out(VGA, 0x24, 0x09).out(VGA, 0x25, 0x40).out(VGA, 0x1E, 5).out(VGA, 0x1F, 0x20)
    s.op(RENDER)
    return s


def seed_ide_async():
    """The slaves' media complete only when time passes: DMA and PIO commands in flight while
    the guest reads status, stops the engine, resets the channel, saves and loads, changes the
    disc; then the requests complete."""
    s = Seq()
    s.mem(0x1000, prd(0x20000, 0, False) + prd(0x30000, 0x8000, True))
    s.out(BM, 4, 0x1000, 4).out(BM, 2, 0x06)
    ata(s, IDE0, 0xC8, 8, 0xC0, unit=1).out(BM, 0, 0x09).inp(IDE0, 7).inp(BM, 2)
    s.op(SAVE_LOAD, PIIX_IDE).time(10).inp(IDE0, 7).inp(BM, 2).out(BM, 0, 0).out(BM, 2, 6)
    ata(s, IDE0, 0xCA, 100, 64, unit=1).out(BM, 0, 0x01).out(BM, 0, 0).time(5)
    s.out(BM, 0, 0x01).time(5).inp(IDE0, 7).out(BM, 0, 0).out(BM, 2, 6)
    ata(s, IDE0, 0x20, 4, 2, unit=1).inp(IDE0, 7).time(1).ins(IDE0, 0, 2, 256, 0x40000)
    s.op(SAVE_LOAD, PIIX_IDE).ins(IDE0, 0, 2, 256, 0x40000).inp(IDE0, 7)
    ata(s, IDE0, 0x30, 9, 1, unit=1).outs(IDE0, 0, 2, 256, 0x20000).inp(IDE0, 7)
    s.out(IDE0_CTL, 0, 0x04).out(IDE0_CTL, 0, 0).time(3).inp(IDE0, 7)
    ata(s, IDE0, 0xE7, 0, 0, unit=1).op(RESET, PIIX_IDE).time(3).inp(IDE0, 7)
    s.op(FIRMWARE)
    packet(s, [0x28, 0, 0, 0, 0, 16, 0, 0, 4], unit=1).inp(IDE1, 7).op(SAVE_LOAD, PIIX_IDE)
    s.time(2).inp(IDE1, 7).inp(IDE1, 4).inp(IDE1, 5).ins(IDE1, 0, 2, 0x800, 0x40000)
    s.time(2).ins(IDE1, 0, 2, 0x800, 0x40000)
    s.mem(0x1800, prd(0x50000, 0x2000, True)).out(BM, 12, 0x1800, 4).out(BM, 10, 0x06)
    packet(s, [0x28, 0, 0, 0, 0, 16, 0, 0, 4], dma=True, unit=1).out(BM, 8, 0x09)
    s.host(H_MEDIA, 3).time(2).inp(IDE1, 7).inp(BM, 10).host(H_MEDIA, 3)
    packet(s, [0x00], unit=1).inp(IDE1, 7).inp(IDE1, 1)
    packet(s, [0xBE, 0, 0, 0, 0, 16, 0, 0, 2, 0xF8], unit=1).host(H_MEDIA, 3).time(2)
    s.inp(IDE1, 7).ins(IDE1, 0, 2, 0x800, 0x40000)
    return s


def seed_absent_slaves():
    """A rig without the slaves: the empty positions selected, their registers, commands to
    them, the device control register, a diagnostic."""
    s = Seq(NO_DISK_SLAVE | NO_CD_SLAVE)
    for chan, ctl in ((IDE0, IDE0_CTL), (IDE1, IDE1_CTL)):
        s.out(chan, 6, 0xB0).inp(chan, 7).inp(ctl, 0).inp(chan, 1).inp(chan, 2).inp(chan, 4)
        s.out(chan, 7, 0xEC).inp(chan, 7).inp(chan, 0, 2, times=2).out(chan, 7, 0xA1)
        s.out(chan, 7, 0xA0).outs(chan, 0, 2, 6, 0x100).inp(chan, 7).out(ctl, 0, 0x02)
        s.out(ctl, 0, 0x04).out(ctl, 0, 0).inp(chan, 4).inp(chan, 5).out(chan, 7, 0x90)
        s.inp(chan, 1).out(chan, 6, 0xA0).inp(chan, 7).op(SAVE_LOAD, PIIX_IDE)
    s.host(H_MEDIA, 2).host(H_MEDIA, 0).host(H_MEDIA, 0)
    return s


def seed_e1000_eeprom_filters():
    """The EEPROM read by bit-banging EECD, a PHY register written through MDIC, the receive
    filters: multicast table, VLAN filter table, promiscuous modes, a second station address."""
    s = Seq()
    REQ, CS, SK, DI = 0x40, 0x02, 0x01, 0x04
    s.mmio_w(NIC_MMIO, 0x0010, REQ | CS)
    for bit in [1, 1, 0] + [0, 0, 0, 0, 1, 1]:
        v = REQ | CS | (DI if bit else 0)
        s.mmio_w(NIC_MMIO, 0x0010, v).mmio_w(NIC_MMIO, 0x0010, v | SK).mmio_w(NIC_MMIO, 0x0010, v)
    for _ in range(33):
        s.mmio_w(NIC_MMIO, 0x0010, REQ | CS | SK).mmio_r(NIC_MMIO, 0x0010)
        s.mmio_w(NIC_MMIO, 0x0010, REQ | CS)
    s.mmio_w(NIC_MMIO, 0x0010, 0)
    s.mmio_w(NIC_MMIO, 0x0020, 0x04000000 | 1 << 21 | 0 << 16 | 0x9140).mmio_r(NIC_MMIO, 0x0020)
    s.mmio_w(NIC_MMIO, 0x0020, 0x04000000 | 1 << 21 | 4 << 16 | 0x01E1)
    s.mmio_w(NIC_MMIO, 0x0020, 0x08000000 | 1 << 21 | 1 << 16).mmio_r(NIC_MMIO, 0x0020)
    s.mmio_w(NIC_MMIO, 0x0020, 0x08000000 | 2 << 21 | 1 << 16).mmio_r(NIC_MMIO, 0x0020)
    s.mmio_w(NIC_MMIO, 0x0000, 0x40)
    for i in range(8):
        s.mem(0x7000 + 16 * i, struct.pack('<QQ', 0x40000 + 2048 * i, 0))
    s.mmio_w(NIC_MMIO, 0x2800, 0x7000).mmio_w(NIC_MMIO, 0x2808, 128)
    s.mmio_w(NIC_MMIO, 0x2810, 0).mmio_w(NIC_MMIO, 0x2818, 7)
    s.mmio_w(NIC_MMIO, 0x5200, 0x10000).mmio_w(NIC_MMIO, 0x5600, 0x20)
    s.mmio_w(NIC_MMIO, 0x5408, 0x44332211).mmio_w(NIC_MMIO, 0x540C, 0x80006655)
    s.mmio_w(NIC_MMIO, 0x0100, 0x2 | 0x8000 | 0x40000)
    me = bytes([0x52, 0x54, 0, 0x12, 0x34, 0x56])
    frames = [bytes([1, 0, 0x5E, 0, 0, 1]) + me + b'\x08\x00',
              bytes([1, 0, 0x5E, 0, 0, 2]) + me + b'\x08\x00',
              me + me + bytes([0x81, 0, 0, 5, 8, 0]), me + me + bytes([0x81, 0, 0, 6, 8, 0]),
              bytes([0x11, 0x22, 0x33, 0x44, 0x55, 0x66]) + me + b'\x08\x00',
              bytes([2, 0, 0, 0, 0, 1]) + me + b'\x08\x00']
    for i, f in enumerate(frames):
        s.mem(0x60000 + 0x100 * i, f + bytes(64 - len(f)))
    for mo in (0, 1, 3):
        s.mmio_w(NIC_MMIO, 0x0100, 0x2 | 0x8000 | 0x40000 | mo << 12)
        for i in range(len(frames)):
            s.host(H_FRAME, 64, 0, 0, 0x01 * i, 0x06)
    s.mmio_w(NIC_MMIO, 0x0100, 0x2 | 0x8 | 0x10).host(H_FRAME, 64, 0, 0, 0x05, 0x06)
    s.mmio_r(NIC_MMIO, 0x2810).mmio_r(NIC_MMIO, 0x4074).mmio_r(NIC_MMIO, 0x00C0)
    s.mmio_r(NIC_MMIO, 0x4000, 4).op(SAVE_LOAD, E1000)
    return s


def seed_vbe_modes():
    """VBE modes of 8, 16 and 15 bits per pixel rendered, the capabilities and memory
    registers, the banked window, a virtual screen with offsets."""
    s = Seq()
    s.out(VBE, 0, 4, 2).out(VBE, 1, 0x02, 2).out(VBE, 0, 1, 2).inp(VBE, 1, 2)
    s.out(VBE, 0, 0x0A, 2).inp(VBE, 1, 2).out(VBE, 0, 0, 2).out(VBE, 1, 0xB0C5, 2)
    for bpp in (8, 16, 15):
        for idx, val in ((4, 0), (1, 320), (2, 200), (3, bpp), (4, 0x01)):
            s.out(VBE, 0, idx, 2).out(VBE, 1, val, 2)
        s.mmio_w(VGA_WINDOW, 0, 0x7C1F03E0, 4).mmio_w(VGA_WINDOW, 0x8000, 0xFFFF, 2)
        s.out(VBE, 0, 5, 2).out(VBE, 1, 1, 2).mmio_w(VGA_WINDOW, 0x10, 0x1234, 2)
        s.op(RENDER)
    for idx, val in ((6, 400), (8, 20), (9, 30), (6, 0xFFFF), (9, 0x7FFF), (5, 0xFF)):
        s.out(VBE, 0, idx, 2).out(VBE, 1, val, 2)
    s.mmio_r(VGA_MMIO, 0x500 + 2 * 7, 2).mmio_r(VGA_MMIO, 0x600, 4).mmio_r(VGA_MMIO, 0x604, 4)
    s.mmio_w(VGA_MMIO, 0x408, 0x11, 1).mmio_r(VGA_MMIO, 0x41A, 1).op(SAVE_LOAD, VGA_DEV)
    s.op(RENDER)
    return s


# LSI 53C895A SCRIPTS (its Technical Manual, chapter 5) and registers
DI, CMD, ST, MO, MI = 1, 2, 3, 6, 7
LSI_DSP, LSI_ISTAT, LSI_DSTAT, LSI_SIST0, LSI_SIST1 = 0x2C, 0x14, 0x0C, 0x42, 0x43


def scripts(*insns):
    return b''.join(struct.pack('<' + 'I' * len(i), *i) for i in insns)


def lsi_cmd(target, cdb, data_phase, count, buf):
    """SeaBIOS's lsi-scsi program: select, IDENTIFY, COMMAND, data, STATUS, MESSAGE IN, INT."""
    return scripts((0x41000000 | target << 16, 0), (0x0E000001, 0x9000), (0x0A000010, 0x9010),
                   (0x08000000 | data_phase << 24 | count, buf), (0x0B000001, 0x9100),
                   (0x0F000001, 0x9101), (0x60000040, 0), (0x48000000, 0), (0x98080000, 0x600D))


def lsi_run(s, prog, cdb=b''):
    s.mem(0x8000, prog).mem(0x9000, b'\x80').mem(0x9010, cdb.ljust(16, b'\0'))
    s.out(LSI_IO, LSI_DSP, 0x8000, 4).inp(LSI_IO, LSI_ISTAT).inp(LSI_IO, 0x15)
    return s.inp(LSI_IO, LSI_SIST0).inp(LSI_IO, LSI_SIST1).inp(LSI_IO, LSI_DSTAT)


def seed_lsi():
    """The LSI 53C895A: commands to the disk in memory (ID 0) and the file (ID 1, its reads
    in flight while time does not pass), saved and loaded in the middle; an absent ID; table
    indirect moves; memory moves through the register window and SCRIPTS RAM; an endless loop
    cut by ABRT; bus reset, SRST."""
    s = Seq()
    s.out(LSI_IO, 0x39, 0x7D).out(LSI_IO, 0x40, 0xFF).out(LSI_IO, 0x41, 0x17)
    lsi_run(s, lsi_cmd(0, 0, DI, 36, 0x40000), bytes([0x12, 0, 0, 0, 36]))
    lsi_run(s, lsi_cmd(0, 0, DI, 0, 0), bytes(6))  # TEST UNIT READY: the unit attention
    lsi_run(s, lsi_cmd(0, 0, DI, 0x2000, 0x40000), bytes([0x28, 0, 0, 0, 0, 2, 0, 0, 16]))
    lsi_run(s, lsi_cmd(0, 0, 0, 0x1000, 0x40000), bytes([0x2A, 0, 0, 0, 0, 9, 0, 0, 8]))
    lsi_run(s, lsi_cmd(1, 0, DI, 0, 0), bytes(6))
    lsi_run(s, lsi_cmd(1, 0, DI, 0x30000, 0x40000), bytes([0x28, 0, 0, 0, 0, 0, 0, 1, 128]))
    s.op(SAVE_LOAD, LSI).inp(LSI_IO, 0x0B).time(8).inp(LSI_IO, LSI_ISTAT).op(SAVE_LOAD, LSI)
    s.time(8).inp(LSI_IO, LSI_DSTAT).inp(LSI_IO, LSI_SIST0)
    lsi_run(s, lsi_cmd(5, 0, DI, 8, 0x40000), bytes(6))  # no disk: selection time-out
    s.mem(0xA000, struct.pack('<IIIIIIIIII', 0x00010000, 0, 1, 0x9000, 6, 0x9010, 36, 0x40000,
                              1, 0x9100) + struct.pack('<II', 1, 0x9101))
    s.out(LSI_IO, 0x10, 0xA000, 4)  # DSA
    lsi_run(s, scripts((0x43000000, 0), (0x1E000000, 8), (0x1A000000, 16), (0x19000000, 24),
                       (0x1B000000, 32), (0x1F000000, 40), (0x98080000, 1)),
            bytes([0x12, 0, 0, 0, 36]))
    lsi_run(s, scripts((0xC0000004, 0x40000, 0xFEBF1000 + 0x34), (0xC0000010, 0x40000, 0xFEBF2010),
                       (0xE1340004, 0xFEBF2010), (0xE0340004 | 0x10000000, 0xFFFFF8),
                       (0x7E340100, 0), (0x80280000, 0x8000), (0xA0000000, 0)))
    lsi_run(s, scripts((0x7E340100, 0), (0x80080000, 0x8000)))  # endless
    s.time(16).time(20).out(LSI_IO, LSI_ISTAT, 0x80).out(LSI_IO, LSI_ISTAT, 0)
    s.inp(LSI_IO, LSI_DSTAT).mmio_w(LSI_RAM, 0, 0x98080000).mmio_w(LSI_RAM, 4, 7)
    s.out(LSI_IO, LSI_DSP, 0xFEBF2000, 4).mmio_r(LSI_MMIO, LSI_DSTAT, 1)
    s.out(LSI_IO, 0x01, 0x08).out(LSI_IO, 0x01, 0).inp(LSI_IO, LSI_SIST0).op(SAVE_LOAD, LSI)
    s.out(LSI_IO, LSI_ISTAT, 0x40).inp(LSI_IO, 0x00, 4).op(RESET, LSI)
    return s


SEEDS = {
    'ide-dma': seed_ide_dma,
    'atapi': seed_atapi,
    'uart': seed_uart,
    'rtc': seed_rtc,
    'i8042': seed_i8042,
    'fw-cfg': seed_fw_cfg,
    'pci': seed_pci,
    'e1000': seed_e1000,
    'vga': seed_vga,
    'pm': seed_pm,
    'atapi-more': seed_atapi_more,
    'ide-pio': seed_ide_pio,
    'e1000-offload': seed_e1000_offload,
    'ps2-more': seed_ps2_more,
    'vga-planar': seed_vga_planar,
    'ide-async': seed_ide_async,
    'absent-slaves': seed_absent_slaves,
    'e1000-eeprom-filters': seed_e1000_eeprom_filters,
    'vbe-modes': seed_vbe_modes,
    'lsi': seed_lsi,
}


def write_seeds(out):
    os.makedirs(out, exist_ok=True)
    for name, make in SEEDS.items():
        with open(os.path.join(out, name), 'wb') as f:
            f.write(make().b)
    found = os.path.join(HERE, 'device-seeds')
    if os.path.isdir(found):
        for name in os.listdir(found):
            shutil.copy(os.path.join(found, name), os.path.join(out, 'found-' + name))


def main(argv):
    if len(argv) == 2 and argv[1] != '--replay':
        write_seeds(argv[1])
        return 0
    if len(argv) != 4 or argv[1] != '--replay':
        print(__doc__, file=sys.stderr)
        return 2
    env = dict(os.environ)
    env.setdefault('ASAN_OPTIONS', 'halt_on_error=1:abort_on_error=1')
    env.setdefault('UBSAN_OPTIONS', 'halt_on_error=1:abort_on_error=1:print_stacktrace=1')
    with tempfile.TemporaryDirectory(prefix='pcvm-device-seeds.') as d:
        write_seeds(d)
        rc = subprocess.call([argv[2], d, argv[3]], env=env)
    return rc if rc >= 0 else 128 - rc


if __name__ == '__main__':
    sys.exit(main(sys.argv))
