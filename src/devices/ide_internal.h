/*
 * What the parts of the IDE channel share, and nothing else uses: the register bits, the command
 * table's shape, the request that carries a block, and the functions one part calls in another.
 * ide.c: the command table and its dispatcher, the registers, reset, media and state;
 * ide_transfer.c: block requests, the PIO and PACKET protocols, completion and the data port;
 * ide_dma.c: the bus-master DMA side; ide_commands.c: IDENTIFY and the other command handlers.
 * The public interface is ide.h.
 */
#pragma once
#include "devices/ide.h"

/* Status register */
#define ST_ERR 0x01
#define ST_DRQ 0x08
#define ST_DSC 0x10 /* obsolete "seek complete": older drivers still wait for it */
#define ST_DRDY 0x40
#define ST_BSY 0x80
#define ST_READY (ST_DRDY | ST_DSC)
/* Error register */
#define ERR_ABRT 0x04
#define ERR_IDNF 0x10
#define ERR_UNC 0x40
#define ERR_DIAG_PASSED 0x01 /* diagnostic code: device 0 passed, device 1 passed or absent */
/* Device Control register */
#define DC_NIEN 0x02
#define DC_SRST 0x04
#define DC_HOB 0x80
/* Device register */
#define DEV_LBA 0x40
#define DEV_DEV 0x10

#define ATA_PACKET 0xA0
#define ATA_IDENTIFY_PACKET 0xA1

/* ---- the command table (ide.c) ---- */

enum {
	CF_SECTORS = 1 << 0,  /* address and count from the task file, range-checked first */
	CF_LBA48 = 1 << 1,    /* 48-bit address and 16-bit count from the HOB register pairs */
	CF_IN = 1 << 2,       /* data to the host */
	CF_OUT = 1 << 3,      /* data from the host */
	CF_MULTIPLE = 1 << 4, /* blocks of the SET MULTIPLE MODE size; aborts while that is 0 */
	CF_BOTH = 1 << 5,     /* addressed to both devices: runs even if the selected one is absent */
	CF_DMA = 1 << 6,      /* data by bus-master DMA (ATA-6 DMA protocol) instead of PIO */
	CF_WHILE_BSY = 1 << 7, /* accepted while BSY: DEVICE RESET */
};

struct ide_cmd {
	const char *name;
	void (*run)(struct ide_channel *chan, struct ide_drive *d);
	uint8_t kinds;
	uint8_t flags;
};

extern const struct ide_cmd ide_cmds[256];

/* ---- small helpers ---- */

static inline struct ide_drive *ide_cur(struct ide_channel *chan)
{
	return &chan->drive[(chan->select & DEV_DEV) ? 1 : 0];
}

static inline bool ide_present(const struct ide_drive *d)
{
	return d->kind != IDE_KIND_NONE;
}

static inline bool ide_is_cd(const struct ide_drive *d)
{
	return d->kind == IDE_KIND_CDROM;
}

/* The unit of LBA, count and block: a disk sector or a CD block. */
static inline unsigned ide_unit(const struct ide_drive *d)
{
	return ide_is_cd(d) ? ATAPI_BLOCK : BLOCK_SECTOR;
}

static inline bool ide_channel_has_drive(const struct ide_channel *chan)
{
	return ide_present(&chan->drive[0]) || ide_present(&chan->drive[1]);
}

/* ---- block requests ---- */

/* A request owns a bounce buffer, so a request that a reset, a load or a new medium disowned
 * (io_gen moved on) can finish later without touching the drive's buffer or guest memory. */
struct ide_request {
	struct block_req req;
	struct ide_drive *drive;
	uint32_t gen;
	uint8_t data[];
};

/* ---- ide_transfer.c ---- */

void ide_update_irq(struct ide_channel *chan);
void ide_raise(struct ide_channel *chan, struct ide_drive *d);
void ide_complete(struct ide_channel *chan, struct ide_drive *d);
void ide_fail_irq(struct ide_channel *chan, struct ide_drive *d, uint8_t error, bool irq);
void ide_fail(struct ide_channel *chan, struct ide_drive *d, uint8_t error);
void ide_abort(struct ide_channel *chan, struct ide_drive *d);
struct ide_request *ide_request_new(struct ide_drive *d, enum block_op op);
void ide_request_send(struct ide_drive *d, struct ide_request *r, bool now);
void ide_submit(struct ide_drive *d, enum block_op op);
void ide_in_ready(struct ide_channel *chan, struct ide_drive *d, uint16_t len);
void ide_read_block(struct ide_drive *d);
void ide_out_open(struct ide_drive *d);
void ide_atapi_end(struct ide_channel *chan, struct ide_drive *d, bool irq);
void ide_atapi_fail(struct ide_channel *chan, struct ide_drive *d, uint8_t key, uint8_t asc,
		    uint8_t ascq, bool irq);
void ide_cmd_packet(struct ide_channel *chan, struct ide_drive *d);
uint16_t ide_data_read16(struct ide_channel *chan);
void ide_data_write16(struct ide_channel *chan, uint16_t v);

/* ---- ide_dma.c ---- */

void ide_dma_begin(struct ide_channel *chan, struct ide_drive *d);
void ide_dma_pump(struct ide_channel *chan, struct ide_drive *d);
void ide_dma_io_done(struct ide_channel *chan, struct ide_drive *d, uint8_t *data);
void ide_cmd_dma(struct ide_channel *chan, struct ide_drive *d);

/* ---- ide_commands.c ---- */

void ide_identify_init(struct ide_drive *d, bool other_present);
void ide_load_signature(struct ide_channel *chan, const struct ide_drive *d);
bool ide_dma_mode_valid(uint8_t mode);
void ide_drives_ready(struct ide_channel *chan);
void ide_cmd_identify(struct ide_channel *chan, struct ide_drive *d);
void ide_cmd_identify_packet(struct ide_channel *chan, struct ide_drive *d);
void ide_cmd_read(struct ide_channel *chan, struct ide_drive *d);
void ide_cmd_write(struct ide_channel *chan, struct ide_drive *d);
void ide_cmd_flush(struct ide_channel *chan, struct ide_drive *d);
void ide_cmd_done(struct ide_channel *chan, struct ide_drive *d);
void ide_cmd_check_power(struct ide_channel *chan, struct ide_drive *d);
void ide_cmd_set_multiple(struct ide_channel *chan, struct ide_drive *d);
void ide_cmd_init_params(struct ide_channel *chan, struct ide_drive *d);
void ide_cmd_set_features(struct ide_channel *chan, struct ide_drive *d);
void ide_cmd_diagnostic(struct ide_channel *chan, struct ide_drive *d);
void ide_cmd_device_reset(struct ide_channel *chan, struct ide_drive *d);
