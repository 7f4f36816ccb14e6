/*
 * An IDE (ATA) channel: the command-block registers (0x1F0-0x1F7 style), the control-block
 * register (0x3F6 style) and up to two drives behind them, spoken to with the ATA/ATAPI-6
 * register protocol (T13/1410D). A drive is a hard disk (ATA command set, PIO and DMA) or an
 * ATAPI CD/DVD-ROM (the PACKET protocol here, its command set in src/devices/atapi.c).
 *
 * The channel knows nothing of ports or PCI: the machine (or src/devices/piix_ide.c) maps
 * ide_cmd_ops and ide_ctrl_ops wherever the board puts them, opaque = struct ide_channel *, and
 * a bus-master engine (the PIIX's) plugs in through struct ide_dma_ops.
 */
#pragma once
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "block/block.h"
#include "devices/atapi.h"
#include "devices/bus.h"
#include "devices/irq.h"
#include "state.h"

/* READ/WRITE MULTIPLE block limit (IDENTIFY word 47) and so the sector buffer's size. */
#define IDE_MAX_MULT 16
#define IDE_BUF_SIZE (IDE_MAX_MULT * BLOCK_SECTOR)

/* The most one DMA request asks of the block layer: a DMA command moves its data in chunks of
 * at most this through a bounce buffer, so memory stays bounded whatever the guest asks. */
#define IDE_DMA_CHUNK (128 * 1024)

/* What sits on a drive position. The command table says which kinds accept each command. */
enum ide_kind {
	IDE_KIND_NONE,  /* no device: commands to it are ignored */
	IDE_KIND_DISK,  /* ATA hard disk: 512-byte sectors */
	IDE_KIND_CDROM, /* ATAPI CD/DVD-ROM: 2048-byte blocks of a raw ISO image, or no medium */
};

/* Where a drive's state machine stands (ATA-6 clause 9: PIO data-in/out, DMA, PACKET). */
enum ide_xfer {
	IDE_XFER_IDLE,   /* no command in progress: BSY and DRQ clear */
	IDE_XFER_IN,     /* DRQ: the host reads buf[buf_pos..drq_end) from the data port */
	IDE_XFER_OUT,    /* DRQ: the host writes buf[buf_pos..drq_end) through the data port */
	IDE_XFER_IO,     /* BSY: a block request (io_op) is in flight */
	IDE_XFER_PACKET, /* DRQ: the host writes the 12-byte ATAPI command packet into buf */
	IDE_XFER_DMA,    /* BSY: a DMA command waits for the bus master to move its next chunk */
};

/*
 * The bus-master engine behind a channel (the PIIX's, piix_ide.c). POS counts bytes from the
 * start of the descriptor table the engine was last started with; the drive keeps it, so a
 * chunk can be moved again after a state load.
 */
enum ide_dma_result {
	IDE_DMA_OK,
	IDE_DMA_SHORT, /* the table ended first (the engine cleared its active bit) */
	IDE_DMA_FAULT, /* a descriptor or buffer lies outside guest RAM (the engine's error bit) */
};

struct ide_dma_ops {
	/* Whether the engine is started, so data may move now (or the table turn out short). */
	bool (*ready)(void *opaque);
	/* Moves LEN bytes between BUF and the memory the table describes at POS. BUF NULL: the
	 * data got there by way of map; the engine only moves on over them. */
	enum ide_dma_result (*rw)(void *opaque, uint32_t pos, uint8_t *buf, uint32_t len,
				  bool to_memory);
	/* Optional: the host address of the LEN bytes at POS when they lie in one region of the
	 * table and in guest RAM, else NULL. Moves nothing and changes no register: the drive
	 * moves the data itself, then calls rw with BUF NULL. */
	void *(*map)(void *opaque, uint32_t pos, uint32_t len);
};

struct ide_channel;

struct ide_drive {
	/* ---- configuration, not saved: fixed at init, but for a CD's medium ---- */
	enum ide_kind kind;
	struct block_dev *bd; /* the disk, or the CD's medium; NULL when absent or empty */
	struct ide_channel *chan;
	unsigned unit;           /* 0 = master (device 0), 1 = slave (device 1) */
	uint64_t sectors;        /* capacity in the drive's blocks: 512 (disk) or 2048 bytes (CD) */
	uint16_t identify[256];  /* IDENTIFY (PACKET) DEVICE template; current words patched in */
	uint32_t io_gen;         /* bumped to disown an in-flight request (reset, load, medium) */
	bool dma_pumping;        /* inside ide_dma_pump: an inline completion just returns to it */

	/* ---- guest-visible state (saved) ---- */
	uint8_t status;
	uint8_t error;
	/* 0/1 flags are bytes, not bool: a state file may hold any byte, and post_load checks */
	uint8_t irq_pending; /* INTRQ condition: cleared by a Status read or a command write */
	uint8_t xfer;     /* enum ide_xfer */
	uint8_t cmd;      /* opcode of the command in progress */
	uint8_t io_op;    /* enum block_op of the request in flight while xfer == IDE_XFER_IO */
	uint64_t lba;       /* first block of the current DRQ block or DMA chunk */
	uint32_t remaining; /* blocks of the command not yet completed, current block included */
	uint16_t block;     /* blocks in the current DRQ block (PIO) or chunk (DMA) */
	uint16_t buf_pos;   /* bytes of buf already moved through the data port (or by DMA) */
	uint16_t buf_len;   /* bytes of data in buf */
	uint16_t drq_end;   /* end of the current DRQ block in buf (ATAPI: split by byte count) */
	uint8_t dma;        /* the command moves its data by bus-master DMA */
	uint32_t dma_pos;   /* bytes of this command's data the engine moved since it was started */
	uint8_t dma_mode;   /* SET FEATURES 03h: 20h+n multiword DMA n, 40h+n Ultra DMA n */
	uint16_t byte_limit; /* ATAPI: byte count limit of the PACKET command (LBA Mid/High) */
	struct atapi_state atapi;
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
	/* Since the last reset nothing wrote the registers: each device still holds its own
	 * signature there, so selecting the other shows its signature (ATA-6 reset protocol). */
	uint8_t sig_latched;

	struct ide_drive drive[2];
	struct irq_line irq;
	pthread_mutex_t *lock; /* held by the completion of a block request; see ide_channel_set_lock */
	/* flush_posted runs before a completion off the vCPU changes the registers (NULL: none) */
	const struct machine_hooks *hooks;
	const struct ide_dma_ops *dma; /* NULL: no bus master, DMA commands abort */
	void *dma_opaque;
};

/* Offset 0: 16-bit data port (8-bit and 32-bit accesses too); 1-7: byte registers, of which
 * 1-6 (the task file) are posted: their writes only latch what a command or read acts on. */
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
 * Makes position UNIT a drive of KIND, keeping its block device: the CD-ROM's medium (NULL: an
 * empty drive) or the disk (required). For the machine, between init and the first reset. The
 * drive comes up reset. Returns -1 for a disk without an image.
 */
int ide_channel_set_kind(struct ide_channel *chan, unsigned unit, enum ide_kind kind);
/*
 * Puts MEDIUM (or nothing) in the CD-ROM drive UNIT, with CHAN's lock held. Refused (-1, *error)
 * for a drive that is no CD-ROM, and while the guest locks the tray unless FORCE. Otherwise the
 * guest sees a new-media (or media-removal) event and, for a new disc, a unit attention; a
 * command reading the old disc ends with NOT READY. *OLD receives the previous medium, which
 * the drive no longer touches: see ide_cdrom_change_media() for what the caller does with it.
 */
int ide_channel_change_medium(struct ide_channel *chan, unsigned unit, struct block_dev *medium,
			      bool force, struct block_dev **old, char **error);
/* Attaches the bus-master engine. */
void ide_channel_set_dma(struct ide_channel *chan, const struct ide_dma_ops *ops, void *opaque);
/* The engine was started (its start bit went from 0 to 1): a drive's DMA command in progress
 * moves its data from the start of the new descriptor table. Called with the lock held. */
void ide_channel_dma_start(struct ide_channel *chan);
/* Waits for the block requests of both drives, without the lock (before freeing the channel). */
void ide_channel_drain(struct ide_channel *chan);
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
 * After a state load: checks every saved index and length against the buffer, the command and
 * the medium, then recomputes the interrupt line, re-issues a block request that was in flight
 * when the state was saved (a DMA write takes its data from guest memory again) and lets a DMA
 * command move on if its engine is started. The bus-master registers must be loaded first. On
 * bad values returns -1 with *error set and leaves the channel reset.
 */
int ide_channel_post_load(struct ide_channel *chan, char **error);
/* The refusing part of ide_channel_post_load on its own: pure (it reads CHAN only), for the
 * check hook of the device that holds the channel. Returns 0, or -1 with *error set. */
int ide_channel_check(const struct ide_channel *chan, char **error);

/* State fields of the channel member C of TYPE (e.g. chan[0] of struct piix_ide). */
#define IDE_ATAPI_STATE_FIELDS_(type, a)                                                           \
	STATE_U8(type, a.sense_key), STATE_U8(type, a.asc), STATE_U8(type, a.ascq),                \
		STATE_U8(type, a.unit_attention), STATE_U8(type, a.tray_open),                     \
		STATE_U8(type, a.locked), STATE_U8(type, a.media_event), STATE_U8_ARRAY(type, a.cdb)

#define IDE_DRIVE_STATE_FIELDS_(type, d)                                                           \
	STATE_U8(type, d.status), STATE_U8(type, d.error), STATE_U8(type, d.irq_pending),          \
		STATE_U8(type, d.xfer), STATE_U8(type, d.cmd), STATE_U8(type, d.io_op),            \
		STATE_U64(type, d.lba), STATE_U32(type, d.remaining), STATE_U16(type, d.block),    \
		STATE_U16(type, d.buf_pos), STATE_U16(type, d.buf_len),                            \
		STATE_U16(type, d.drq_end), STATE_U8(type, d.dma), STATE_U32(type, d.dma_pos),     \
		STATE_U8(type, d.dma_mode), STATE_U16(type, d.byte_limit), STATE_U8(type, d.mult), \
		STATE_U8(type, d.heads),                                                           \
		STATE_U8(type, d.spt), STATE_U16(type, d.cyls), STATE_U8(type, d.write_cache),     \
		IDE_ATAPI_STATE_FIELDS_(type, d.atapi), STATE_U8_ARRAY(type, d.buf)

#define IDE_CHANNEL_STATE_FIELDS(type, c)                                                          \
	STATE_U8(type, c.feature), STATE_U8(type, c.nsector), STATE_U8(type, c.lba_low),           \
		STATE_U8(type, c.lba_mid), STATE_U8(type, c.lba_high),                             \
		STATE_U8(type, c.hob_feature), STATE_U8(type, c.hob_nsector),                      \
		STATE_U8(type, c.hob_lba_low), STATE_U8(type, c.hob_lba_mid),                      \
		STATE_U8(type, c.hob_lba_high), STATE_U8(type, c.select), STATE_U8(type, c.devctl), \
		STATE_U8(type, c.sig_latched),                                                     \
		IDE_DRIVE_STATE_FIELDS_(type, c.drive[0]), IDE_DRIVE_STATE_FIELDS_(type, c.drive[1])
