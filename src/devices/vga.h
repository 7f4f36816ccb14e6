/*
 * The Bochs/QEMU standard VGA ("stdvga", PCI 1234:1111, class 0300h, subsystem 1af4:1100): an
 * IBM VGA (sequencer, graphics controller, attribute controller, CRT controller, DAC, four
 * planes) plus the Bochs VBE "DISPI" interface and a linear framebuffer in BAR0. SeaBIOS's
 * vgabios-stdvga.bin drives it; the machine hands that ROM over as fw_cfg "pci1234,1111.rom".
 *
 * The machine:
 *   vga = create(ctx)                     ctx->clock (retrace timing, blink); nothing else
 *   pci_bus_attach(pci, 2, 0, vga_pci(vga))     BAR0 (LFB, prefetchable, VRAM-sized) and BAR2
 *                                         (4 KiB MMIO: VGA ports at 0x400, DISPI at 0x500,
 *                                         QEMU's extended registers at 0x600) then map
 *                                         themselves on the PCI MMIO bus through the bus_ops
 *   bus_register(io,   0x3B0, 0x30,  &vga_ioport_ops,    vga, vga_lock(vga), "vga")
 *   bus_register(io,   0x1CE, VGA_VBE_PORT_LEN, &vga_vbe_ops, vga, vga_lock(vga), "vbe")
 *   bus_register(mmio, 0xA0000, 0x20000, &vga_legacy_mem_ops, vga, vga_lock(vga), "vga")
 *   vga_set_lfb_hooks(...)                to put the LFB in a KVM memory slot (optional)
 *   vga_set_lfb_sync(...)                 to feed KVM's dirty log in before each render
 *
 * Locking: the vCPU threads reach the device through the bus, which holds vga_lock() around
 * every handler. vga_render() and vga_text_snapshot() take the lock themselves (call them
 * without it, from one thread at a time: the VNC server's, src/ui/vnc.c). The surface belongs
 * to the thread that renders.
 */
#pragma once
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "devices/bus.h"
#include "devices/device.h"

struct vga;
struct pci_function;

#define VGA_VRAM_DEFAULT_MIB 16
/* The DISPI index (0x1CE) and data (0x1CF) ports. The region is three ports long because the
 * port bus refuses an access that runs past its region: a 16-bit OUT to 0x1CF (what every VBE
 * BIOS does) touches 0x1D0 too, and arrives as two byte writes (QEMU answers 0x1D0 as data
 * as well). */
#define VGA_VBE_PORT_LEN 3

extern const struct device_class vga_class;

/* 0x3B0-0x3DF, one region of 0x30 ports; accesses of 1 or 2 bytes */
extern const struct bus_ops vga_ioport_ops;
/* 0x1CE-0x1D0 (VGA_VBE_PORT_LEN) */
extern const struct bus_ops vga_vbe_ops;
/* 0xA0000-0xBFFFF on the MMIO bus */
extern const struct bus_ops vga_legacy_mem_ops;

struct pci_function *vga_pci(struct vga *vga);
pthread_mutex_t *vga_lock(struct vga *vga);

/*
 * VRAM: host memory the device owns (mmap, page-aligned, a power of two), the LFB's contents.
 * The pointer stays valid until destroy. vga_set_vram_mib() is for the machine after create and
 * before pci_bus_attach (4 to 256 MiB, a power of two); -1 otherwise.
 */
uint8_t *vga_vram(struct vga *vga);
uint64_t vga_vram_size(struct vga *vga);
int vga_set_vram_mib(struct vga *vga, unsigned mib);

/*
 * LFB mapping hooks: MAP is called when BAR0 becomes decodable at GPA (the guest programmed
 * the BAR and enabled memory decoding), UNMAP when it stops or moves (unmap of the old place
 * comes first). Called with the device lock held (and the PCI config lock, for a config write):
 * they may call into KVM but not back into the VGA. While mapped in a KVM slot, guest writes
 * to the LFB bypass the device: the machine reports them with vga_lfb_dirty(), typically from
 * a SYNC hook, which vga_render() calls first, without the lock held.
 * Setting the hooks replays MAP if BAR0 is mapped already; vga_lfb_mapping() says where it is.
 */
void vga_set_lfb_hooks(struct vga *vga,
		       void (*map)(void *opaque, uint64_t gpa, void *hva, uint64_t size),
		       void (*unmap)(void *opaque, uint64_t gpa), void *opaque);
void vga_set_lfb_sync(struct vga *vga, void (*sync)(void *opaque), void *opaque);
bool vga_lfb_mapping(struct vga *vga, uint64_t *gpa);
/* Bytes [OFFSET, OFFSET + LEN) of VRAM changed behind the device's back. Takes the lock. */
void vga_lfb_dirty(struct vga *vga, uint64_t offset, uint64_t len);

/* ---- the display (vga_render.c) ---- */

/* XRGB8888 (0x00RRGGBB in host order), STRIDE bytes from one row to the next. Owned by the
 * device: valid until the next vga_render() that reports resized. */
struct vga_surface {
	uint32_t *pixels;
	unsigned width, height, stride;
};

struct vga_rect {
	unsigned x, y, w, h;
};

#define VGA_DIRTY_MAX_RECTS 32

struct vga_dirty {
	bool resized; /* the surface has a new size (and new pixels): send it all */
	unsigned nrects;
	struct vga_rect rects[VGA_DIRTY_MAX_RECTS]; /* changed areas, in surface pixels */
};

/*
 * Brings the surface up to date with what the guest displays and says what changed: the
 * areas redrawn (when there are more than VGA_DIRTY_MAX_RECTS, the last one grows into their
 * bounding box). Returns whether anything changed. Call it at the display's refresh rate
 * (blinking text and cursor follow the device's clock), from one thread.
 */
bool vga_render(struct vga *vga, struct vga_dirty *out);
const struct vga_surface *vga_surface(struct vga *vga);

/*
 * The text screen as UTF-8 (code page 437), one line per row, trailing blanks dropped, each
 * ending in '\n'; an empty string outside text modes. Writes at most LEN bytes with a NUL
 * (like snprintf) and returns the length the whole text needs. Takes the lock.
 */
size_t vga_text_snapshot(struct vga *vga, char *buf, size_t len);
