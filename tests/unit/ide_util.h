/*
 * What the IDE test programs share (ide_util.c): the ATA status bits, a synthetic disk, an IDE
 * channel on a fake bus (the rig test_ide.c drives) and its ports, commands issued the way a
 * driver issues them, PIO transfers, and the data pattern both programs write.
 *   test_ide.c       the channel: register protocol, transfers, interrupts, hostile guests
 *   test_ide_piix.c  the PIIX3 function: save and load mid-transfer, PCI config, the class
 */
#pragma once

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "block/block.h"
#include "devices/ide.h"
#include "devices/pci.h"
#include "devices/piix_ide.h"
#include "fakes.h"

#define CMD 0x1F0
#define CTRL 0x3F6
#define GSI 14
#define DISK_SECTORS 8192u /* 4 MiB: 8 cylinders of 16 heads x 63 sectors */

/* Status and error bits (ATA-6 Error and Status registers) */
#define BSY 0x80
#define DRDY 0x40
#define DSC 0x10
#define DRQ 0x08
#define ERR 0x01
#define ABRT 0x04
#define IDNF 0x10
#define UNC 0x40

/* A synthetic disk: any size, sector N holds N; writes recorded, failures injected. */
struct synth {
	uint64_t last_write_off;
	size_t last_write_len;
	uint8_t last_write_first;
	unsigned flushes;
	bool fail_reads, fail_writes;
};

struct block_dev *synth_open(uint64_t sectors, struct synth *s);

/* A channel on a fake bus with MASTER and SLAVE (NULL: absent); rig_new: memory disks of
 * those sizes (0: absent). The disks are closed with the rig. */
struct rig {
	struct fake_env *env;
	struct ide_channel *chan;
	struct block_dev *disk[2];
};

struct rig *rig_new_with(struct block_dev *master, struct block_dev *slave);
struct rig *rig_new(uint64_t master_sectors, uint64_t slave_sectors);
void rig_free(struct rig *r);

/* Port accesses: register REG (0-7) of the command block; PIO data in and out. */
uint8_t in8(struct rig *r, unsigned reg);
void out8(struct rig *r, unsigned reg, uint8_t v);
void pio_in(struct rig *r, uint8_t *buf, size_t bytes);
void pio_out(struct rig *r, const uint8_t *buf, size_t bytes);
/* Status, Alternate Status; IRQ 14's level now and how many times it has risen. */
uint8_t status(struct rig *r);
uint8_t altstatus(struct rig *r);
int irq_level(struct rig *r);
unsigned irq_raises(struct rig *r);

/* Commands with LBA28, LBA48 or CHS addresses; IDENTIFY DEVICE. */
void issue28(struct rig *r, uint8_t cmd, uint32_t lba, uint8_t count);
void issue48(struct rig *r, uint8_t cmd, uint64_t lba, uint16_t count);
void issue_chs(struct rig *r, uint8_t cmd, unsigned cyl, unsigned head, unsigned sec,
	       uint8_t count);
void identify(struct rig *r, uint16_t id[256]);

/* LEN bytes of a pattern that differs with SEED and from sector to sector. */
void fill_pattern(uint8_t *buf, size_t len, unsigned seed);
