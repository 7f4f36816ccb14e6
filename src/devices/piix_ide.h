/*
 * PIIX3 IDE function (PCI 8086:7010, Intel 82371SB datasheet): two legacy IDE
 * channels and the bus-master IDE engine behind BAR4.
 *
 * The machine attaches .pci (pci_bus_attach(bus, 1, 1, &ide->pci)) and maps the legacy ports
 * itself, all under .lock:
 *   chan[0]: ide_cmd_ops at 0x1F0 (8 ports), ide_ctrl_ops at 0x3F6 (1 port), IRQ ctx->irq[0]
 *   chan[1]: ide_cmd_ops at 0x170 (8 ports), ide_ctrl_ops at 0x376 (1 port), IRQ ctx->irq[1]
 * Block devices come from ctx->disks[channel * 2 + unit]: a hard disk, or the disc of a CD-ROM
 * drive declared with piix_ide_set_drive_kind(). Bus-master DMA reaches guest memory through
 * ctx->mem only. The device never closes a block device.
 */
#pragma once
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "devices/device.h"
#include "devices/ide.h"
#include "devices/pci.h"

/* Bus-master IDE registers of one channel, at BAR4 + 0 (primary) and + 8 (secondary). */
#define PIIX_BM_CMD 0    /* BMICX: bit 0 start/stop, bit 3 read/write control */
#define PIIX_BM_STATUS 2 /* BMISX: 0 active, 1 error, 2 interrupt (W1C), 5/6 DMA capable */
#define PIIX_BM_PRD 4    /* BMIDTPX: descriptor table address, dword aligned */

/* Where one channel's engine stands in its descriptor table: derived, rebuilt from the table
 * whenever the drive asks for another position (after a load, say), so never saved. */
struct piix_bm_cursor {
	bool valid;
	bool last;        /* the current region is the table's last (EOT) */
	uint32_t pos;     /* bytes before the cursor, from the start of the table */
	uint32_t next;    /* guest address of the next descriptor */
	uint32_t addr;    /* the current region: next byte and bytes left in it */
	uint32_t left;
};

struct piix_bm {
	struct piix_ide *dev;
	unsigned ch;
	struct piix_bm_cursor cur;
};

struct piix_ide {
	/* Recursive: a block request may complete inside block_submit() while it is held. */
	pthread_mutex_t lock;
	struct pci_function pci;
	struct ide_channel chan[2];
	uint8_t bmdma[16]; /* the BAR4 register file, byte for byte */

	/* not guest state */
	const struct guest_mem *mem;
	struct piix_bm bm[2];
	uint8_t power_on_config[256];
	struct irq_line out_irq[2];  /* GSI 14 and 15, from the machine */
	struct irq_line chan_irq[2]; /* what each channel drives: through the bus-master status */
	int irq_level[2];            /* last level passed on, to see rising edges */
};

extern const struct device_class piix_ide_class;

/*
 * Makes drive UNIT (0 master, 1 slave) of CHANNEL a drive of KIND. For the machine, after
 * create and before the first reset: IDE_KIND_CDROM turns the slot into an ATAPI CD/DVD-ROM
 * drive whose disc is ctx->disks[channel * 2 + unit] (a raw ISO image; NULL for an empty
 * drive); IDE_KIND_DISK (the default for a slot with an image) needs an image; IDE_KIND_NONE
 * empties the slot. Returns -1 for a bad position, or a disk without an image.
 */
int piix_ide_set_drive_kind(struct piix_ide *dev, unsigned channel, unsigned unit,
			    enum ide_kind kind);

/*
 * Changes the disc of CD-ROM drive UNIT of CHANNEL while the machine runs (or not): MEDIUM is
 * a raw ISO image (read-only is fine) or NULL to eject. Takes dev->lock itself; call it without
 * that lock, from any thread.
 *
 * Refused (-1, *error set, nothing changed, MEDIUM still the caller's) for a position without a
 * CD-ROM drive, and while the guest has locked the tray (PREVENT ALLOW MEDIUM REMOVAL) unless
 * FORCE. On success MEDIUM is in the drive (the caller still closes it, after the device is
 * destroyed or once it comes back from a later change) and the previous disc comes back in *OLD
 * (NULL if there was none), the caller's to close: the drive never touches it again, but a read
 * the guest had in flight on it may still be running in the block layer, disowned, so close it
 * with block_close(), which drains first: without dev->lock, and not from a block completion.
 * The guest sees a GET EVENT STATUS NOTIFICATION media event (new media or media removal)
 * and, for a new disc, a unit attention (06/28/00) on its next command.
 */
int ide_cdrom_change_media(struct piix_ide *dev, unsigned channel, unsigned unit,
			   struct block_dev *medium, bool force, struct block_dev **old,
			   char **error);
