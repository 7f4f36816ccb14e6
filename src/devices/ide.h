/*
 * An IDE (ATA) channel: the command-block registers (0x1F0-0x1F7 style), the control-block
 * register (0x3F6 style) and up to two drives behind them, spoken to with the ATA/ATAPI-6
 * register protocol (T13/1410D). Hard disks only for now, PIO only; the drive kind leaves room
 * for an ATAPI CD-ROM, and bus-master DMA arrives with the PIIX bus-master engine.
 *
 * The channel knows nothing of ports or PCI: the machine (or src/devices/piix_ide.c) maps
 * ide_cmd_ops and ide_ctrl_ops wherever the board puts them, opaque = struct ide_channel *.
 */
#pragma once
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "block/block.h"
#include "devices/bus.h"
#include "devices/irq.h"
#include "state.h"

/* READ/WRITE MULTIPLE block limit (IDENTIFY word 47) and so the sector buffer's size. */
#define IDE_MAX_MULT 16
#define IDE_BUF_SIZE (IDE_MAX_MULT * BLOCK_SECTOR)

/* What sits on a drive position. The command table says which kinds accept each command. */
enum ide_kind {
	IDE_KIND_NONE, /* no device: commands to it are ignored */
	IDE_KIND_DISK, /* ATA hard disk */
	/* IDE_KIND_CDROM: ATAPI, with the install-from-ISO issue */
};

/* Where a drive's PIO state machine stands (ATA-6 PIO data-in/data-out protocols). */
enum ide_xfer {
	IDE_XFER_IDLE, /* no command in progress: BSY and DRQ clear */
	IDE_XFER_IN,   /* DRQ: the host reads buf[buf_pos..buf_len) from the data port */
	IDE_XFER_OUT,  /* DRQ: the host writes buf[buf_pos..buf_len) through the data port */
	IDE_XFER_IO,   /* BSY: a block request (io_op) is in flight */
};

struct ide_channel;

struct ide_drive {
	/* ---- configuration: fixed at init, not saved ---- */
	enum ide_kind kind;
	struct block_dev *bd; /* NULL when absent */
	struct ide_channel *chan;
	unsigned unit;           /* 0 = master (device 0), 1 = slave (device 1) */
	uint64_t sectors;        /* capacity in 512-byte sectors */
	uint16_t identify[256];  /* IDENTIFY DEVICE template; per-command words patched in */
	uint32_t io_gen;         /* bumped to disown an in-flight request (reset, load) */

	/* ---- guest-visible state (saved) ---- */
	uint8_t status;
	uint8_t error;
	/* 0/1 flags are bytes, not bool: a state file may hold any byte, and post_load checks */
	uint8_t irq_pending; /* INTRQ condition: cleared by a Status read or a command write */
	uint8_t xfer;     /* enum ide_xfer */
	uint8_t cmd;      /* opcode of the command in progress */
	uint8_t io_op;    /* enum block_op of the request in flight while xfer == IDE_XFER_IO */
	uint64_t lba;       /* first sector of the current block */
	uint32_t remaining; /* sectors of the command not yet completed, current block included */
	uint16_t block;     /* sectors in the current DRQ block */
	uint16_t buf_pos;   /* bytes of the block already moved through the data port */
	uint16_t buf_len;   /* bytes in the block */
	uint8_t mult;       /* SET MULTIPLE MODE block size; 0 = multiple commands abort */
	uint8_t heads;      /* current CHS translation (INITIALIZE DEVICE PARAMETERS) */
	uint8_t spt;
	uint16_t cyls;
	uint8_t write_cache; /* SET FEATURES 02h/82h; 0 = every write is flushed */
	uint8_t buf[IDE_BUF_SIZE];
};

struct ide_channel {
	/* Task-file registers, written to both drives at once (ATA-6). The hob_ copies hold
	 * the previous value of each: the LBA48 "high order bytes" read back with devctl HOB. */
	uint8_t feature, nsector, lba_low, lba_mid, lba_high;
	uint8_t hob_feature, hob_nsector, hob_lba_low, hob_lba_mid, hob_lba_high;
	uint8_t select; /* Device register; bit 4 (DEV) picks the drive */
	uint8_t devctl; /* Device Control: nIEN 0x02, SRST 0x04, HOB 0x80 */

	struct ide_drive drive[2];
	struct irq_line irq;
	pthread_mutex_t *lock; /* held by the completion of a block request; see ide_channel_set_lock */
};

/* Offset 0: 16-bit data port (8-bit and 32-bit accesses too); 1-7: byte registers. */
extern const struct bus_ops ide_cmd_ops;
/* One port: Alternate Status on read, Device Control on write. */
extern const struct bus_ops ide_ctrl_ops;

/* MASTER and SLAVE may be NULL (absent); IRQ is copied (NULL: no interrupt line). Leaves the
 * channel in its power-on state. */
void ide_channel_init(struct ide_channel *chan, const struct irq_line *irq,
		      struct block_dev *master, struct block_dev *slave);
/* Hardware reset (power-on defaults): both drives, registers, pending interrupts. */
void ide_channel_reset(struct ide_channel *chan);
/*
 * The lock that guards CHAN (the one its ports are registered with). A block request that
 * completes later, on the main thread, takes it before touching the channel. Backends may also
 * complete inside block_submit(), with the lock already held by the caller, so it must be a
 * recursive mutex. NULL (the default) means the caller serialises everything itself.
 */
void ide_channel_set_lock(struct ide_channel *chan, pthread_mutex_t *lock);
/* Whether the channel drives its interrupt line now (selected drive pending, nIEN clear). */
bool ide_channel_irq_asserted(const struct ide_channel *chan);
/*
 * After a state load: checks every saved index and length against the buffer and the disk,
 * then recomputes the interrupt line and re-issues a block request that was in flight when the
 * state was saved. On bad values returns -1 with *error set and leaves the channel reset.
 */
int ide_channel_post_load(struct ide_channel *chan, char **error);

/* State fields of the channel member C of TYPE (e.g. chan[0] of struct piix_ide). */
#define IDE_DRIVE_STATE_FIELDS_(type, d)                                                           \
	STATE_U8(type, d.status), STATE_U8(type, d.error), STATE_U8(type, d.irq_pending),          \
		STATE_U8(type, d.xfer), STATE_U8(type, d.cmd), STATE_U8(type, d.io_op),            \
		STATE_U64(type, d.lba), STATE_U32(type, d.remaining), STATE_U16(type, d.block),    \
		STATE_U16(type, d.buf_pos), STATE_U16(type, d.buf_len), STATE_U8(type, d.mult),    \
		STATE_U8(type, d.heads), STATE_U8(type, d.spt), STATE_U16(type, d.cyls),           \
		STATE_U8(type, d.write_cache), STATE_U8_ARRAY(type, d.buf)

#define IDE_CHANNEL_STATE_FIELDS(type, c)                                                          \
	STATE_U8(type, c.feature), STATE_U8(type, c.nsector), STATE_U8(type, c.lba_low),           \
		STATE_U8(type, c.lba_mid), STATE_U8(type, c.lba_high),                             \
		STATE_U8(type, c.hob_feature), STATE_U8(type, c.hob_nsector),                      \
		STATE_U8(type, c.hob_lba_low), STATE_U8(type, c.hob_lba_mid),                      \
		STATE_U8(type, c.hob_lba_high), STATE_U8(type, c.select), STATE_U8(type, c.devctl), \
		IDE_DRIVE_STATE_FIELDS_(type, c.drive[0]), IDE_DRIVE_STATE_FIELDS_(type, c.drive[1])
