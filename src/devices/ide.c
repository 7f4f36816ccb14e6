/*
 * IDE channel: ATA/ATAPI-6 (T13/1410D rev 3b) register protocol, PIO and bus-master DMA data
 * transfers, and the PACKET protocol of ATAPI drives. Section numbers below cite that standard.
 * Each drive is a small state machine (enum ide_xfer): a command either finishes at once, or
 * moves DRQ blocks through the data port (or DMA chunks through the bus master) with block
 * requests in between, during which the drive is BSY. Requests may complete inline or later on
 * the main thread; either way the completion runs under the channel's lock.
 */
#include "devices/ide.h"

#include <glib.h>
#include <stddef.h>
#include <string.h>

#include "log.h"

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
/* Interrupt reason, the Sector Count register of a PACKET device (ATA-6 PACKET protocol) */
#define IR_COD 0x01 /* command packet, or status at the end */
#define IR_IO 0x02  /* towards the host */
/* Features register of PACKET */
#define PKT_DMA 0x01
#define PKT_OVL 0x02

#define ATA_PACKET 0xA0
#define ATA_IDENTIFY_PACKET 0xA1

/* Default CHS translation, reported in IDENTIFY words 1/3/6: 16 heads, 63 sectors. */
#define IDE_DEFAULT_HEADS 16
#define IDE_DEFAULT_SPT 63
#define IDE_LBA28_MAX 0x0FFFFFFFu
/* Transfer mode selected at power-on (SET FEATURES 03h value): multiword DMA mode 2, the
 * fastest the PIIX3 does. */
#define IDE_DEFAULT_DMA_MODE 0x22

/* ---- the command table ---- */

/* Drive kinds that accept a command. A hard disk aborts the ATAPI-only commands (DEVICE RESET,
 * PACKET, IDENTIFY PACKET DEVICE) — which is how SeaBIOS tells a disk from a CD drive — and a
 * PACKET device only has the few ATA commands of the PACKET command feature set. */
#define K_DISK (1u << IDE_KIND_DISK)
#define K_CD (1u << IDE_KIND_CDROM)

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

static void ide_cmd_identify(struct ide_channel *chan, struct ide_drive *d);
static void ide_cmd_identify_packet(struct ide_channel *chan, struct ide_drive *d);
static void ide_cmd_read(struct ide_channel *chan, struct ide_drive *d);
static void ide_cmd_write(struct ide_channel *chan, struct ide_drive *d);
static void ide_cmd_dma(struct ide_channel *chan, struct ide_drive *d);
static void ide_cmd_flush(struct ide_channel *chan, struct ide_drive *d);
static void ide_cmd_done(struct ide_channel *chan, struct ide_drive *d);
static void ide_cmd_check_power(struct ide_channel *chan, struct ide_drive *d);
static void ide_cmd_set_multiple(struct ide_channel *chan, struct ide_drive *d);
static void ide_cmd_init_params(struct ide_channel *chan, struct ide_drive *d);
static void ide_cmd_set_features(struct ide_channel *chan, struct ide_drive *d);
static void ide_cmd_diagnostic(struct ide_channel *chan, struct ide_drive *d);
static void ide_cmd_device_reset(struct ide_channel *chan, struct ide_drive *d);
static void ide_cmd_packet(struct ide_channel *chan, struct ide_drive *d);

#define RD (CF_SECTORS | CF_IN)
#define WR (CF_SECTORS | CF_OUT)
#define KB (K_DISK | K_CD)

/* ATA-6 clause 8, one entry per command; opcodes without an entry abort. */
static const struct ide_cmd ide_cmds[256] = {
	[0x08] = { "DEVICE RESET", ide_cmd_device_reset, K_CD, CF_WHILE_BSY },
	[0x10 ... 0x1F] = { "RECALIBRATE", ide_cmd_done, K_DISK, 0 },
	[0x20] = { "READ SECTORS", ide_cmd_read, K_DISK, RD },
	[0x21] = { "READ SECTORS (no retry)", ide_cmd_read, K_DISK, RD },
	[0x24] = { "READ SECTORS EXT", ide_cmd_read, K_DISK, RD | CF_LBA48 },
	[0x25] = { "READ DMA EXT", ide_cmd_dma, K_DISK, RD | CF_LBA48 | CF_DMA },
	[0x29] = { "READ MULTIPLE EXT", ide_cmd_read, K_DISK, RD | CF_LBA48 | CF_MULTIPLE },
	[0x30] = { "WRITE SECTORS", ide_cmd_write, K_DISK, WR },
	[0x31] = { "WRITE SECTORS (no retry)", ide_cmd_write, K_DISK, WR },
	[0x34] = { "WRITE SECTORS EXT", ide_cmd_write, K_DISK, WR | CF_LBA48 },
	[0x35] = { "WRITE DMA EXT", ide_cmd_dma, K_DISK, WR | CF_LBA48 | CF_DMA },
	[0x39] = { "WRITE MULTIPLE EXT", ide_cmd_write, K_DISK, WR | CF_LBA48 | CF_MULTIPLE },
	[0x40] = { "READ VERIFY SECTORS", ide_cmd_done, K_DISK, CF_SECTORS },
	[0x41] = { "READ VERIFY SECTORS (no retry)", ide_cmd_done, K_DISK, CF_SECTORS },
	[0x42] = { "READ VERIFY SECTORS EXT", ide_cmd_done, K_DISK, CF_SECTORS | CF_LBA48 },
	[0x70 ... 0x7F] = { "SEEK", ide_cmd_done, K_DISK, 0 },
	[0x90] = { "EXECUTE DEVICE DIAGNOSTIC", ide_cmd_diagnostic, KB, CF_BOTH },
	[0x91] = { "INITIALIZE DEVICE PARAMETERS", ide_cmd_init_params, K_DISK, 0 },
	[0xA0] = { "PACKET", ide_cmd_packet, K_CD, 0 },
	[0xA1] = { "IDENTIFY PACKET DEVICE", ide_cmd_identify_packet, K_CD, 0 },
	[0xC4] = { "READ MULTIPLE", ide_cmd_read, K_DISK, RD | CF_MULTIPLE },
	[0xC5] = { "WRITE MULTIPLE", ide_cmd_write, K_DISK, WR | CF_MULTIPLE },
	[0xC6] = { "SET MULTIPLE MODE", ide_cmd_set_multiple, K_DISK, 0 },
	[0xC8] = { "READ DMA", ide_cmd_dma, K_DISK, RD | CF_DMA },
	[0xC9] = { "READ DMA (no retry)", ide_cmd_dma, K_DISK, RD | CF_DMA },
	[0xCA] = { "WRITE DMA", ide_cmd_dma, K_DISK, WR | CF_DMA },
	[0xCB] = { "WRITE DMA (no retry)", ide_cmd_dma, K_DISK, WR | CF_DMA },
	[0xE0] = { "STANDBY IMMEDIATE", ide_cmd_done, KB, 0 },
	[0xE1] = { "IDLE IMMEDIATE", ide_cmd_done, KB, 0 },
	[0xE2] = { "STANDBY", ide_cmd_done, K_DISK, 0 },
	[0xE3] = { "IDLE", ide_cmd_done, K_DISK, 0 },
	[0xE5] = { "CHECK POWER MODE", ide_cmd_check_power, KB, 0 },
	[0xE7] = { "FLUSH CACHE", ide_cmd_flush, K_DISK, 0 },
	[0xEA] = { "FLUSH CACHE EXT", ide_cmd_flush, K_DISK, 0 },
	/* a PACKET device aborts it, leaving its signature (ATA-6 IDENTIFY DEVICE) */
	[0xEC] = { "IDENTIFY DEVICE", ide_cmd_identify, KB, 0 },
	[0xEF] = { "SET FEATURES", ide_cmd_set_features, KB, 0 },
};

#undef RD
#undef WR
#undef KB

/* ---- small helpers ---- */

static struct ide_drive *ide_cur(struct ide_channel *chan)
{
	return &chan->drive[(chan->select & DEV_DEV) ? 1 : 0];
}

static bool ide_present(const struct ide_drive *d)
{
	return d->kind != IDE_KIND_NONE;
}

static bool ide_is_cd(const struct ide_drive *d)
{
	return d->kind == IDE_KIND_CDROM;
}

/* The unit of LBA, count and block: a disk sector or a CD block. */
static unsigned ide_unit(const struct ide_drive *d)
{
	return ide_is_cd(d) ? ATAPI_BLOCK : BLOCK_SECTOR;
}

static bool ide_channel_has_drive(const struct ide_channel *chan)
{
	return ide_present(&chan->drive[0]) || ide_present(&chan->drive[1]);
}

bool ide_channel_irq_asserted(const struct ide_channel *chan)
{
	const struct ide_drive *d = &chan->drive[(chan->select & DEV_DEV) ? 1 : 0];
	/* ATA-6 INTRQ: only the selected device drives it, and only while nIEN is clear */
	return ide_present(d) && d->irq_pending && !(chan->devctl & DC_NIEN);
}

static void ide_update_irq(struct ide_channel *chan)
{
	irq_set_level(&chan->irq, ide_channel_irq_asserted(chan));
}

static void ide_raise(struct ide_channel *chan, struct ide_drive *d)
{
	d->irq_pending = true;
	ide_update_irq(chan);
}

/* Command completed without data (or after its last data-out block): INTRQ (non-data protocol). */
static void ide_complete(struct ide_channel *chan, struct ide_drive *d)
{
	d->xfer = IDE_XFER_IDLE;
	d->dma = 0;
	d->status = ST_READY;
	ide_raise(chan, d);
}

/* The command ends in error; INTRQ unless the protocol has nobody waiting for one. */
static void ide_fail_irq(struct ide_channel *chan, struct ide_drive *d, uint8_t error, bool irq)
{
	d->xfer = IDE_XFER_IDLE;
	d->dma = 0;
	d->error = error;
	d->status = ST_READY | ST_ERR;
	if (irq)
		ide_raise(chan, d);
}

static void ide_fail(struct ide_channel *chan, struct ide_drive *d, uint8_t error)
{
	ide_fail_irq(chan, d, error, true);
}

static void ide_abort(struct ide_channel *chan, struct ide_drive *d)
{
	ide_fail(chan, d, ERR_ABRT);
}

/* Sectors in the next DRQ block: the multiple count for READ/WRITE MULTIPLE, else one. */
static uint16_t ide_block_sectors(const struct ide_drive *d)
{
	uint32_t n = (ide_cmds[d->cmd].flags & CF_MULTIPLE) ? d->mult : 1;
	return n < d->remaining ? n : d->remaining;
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

static void ide_io_done(struct ide_channel *chan, struct ide_drive *d, int ret, uint8_t *data);

static void ide_request_done(struct block_req *req, int ret)
{
	struct ide_request *r = req->opaque;
	struct ide_drive *d = r->drive;
	pthread_mutex_t *lock = d->chan->lock;
	if (lock)
		pthread_mutex_lock(lock);
	if (r->gen == d->io_gen && d->xfer == IDE_XFER_IO)
		ide_io_done(d->chan, d, ret, r->data);
	if (lock)
		pthread_mutex_unlock(lock);
	g_free(r);
}

/* A request for OP on the current block (d->block units at d->lba), its buffer not filled. */
static struct ide_request *ide_request_new(struct ide_drive *d, enum block_op op)
{
	size_t len = op == BLOCK_FLUSH ? 0 : (size_t)d->block * ide_unit(d);
	struct ide_request *r = g_malloc(sizeof(*r) + len);
	r->drive = d;
	r->gen = d->io_gen;
	r->req = (struct block_req){
		.op = op,
		.offset = d->lba * ide_unit(d),
		.buf = r->data,
		.len = len,
		.done = ide_request_done,
		.opaque = r,
	};
	return r;
}

/*
 * BSY until ide_io_done. A read or write the host serves at once (block_try_now, unless NOW is
 * false: the caller just found it cannot) is done before this returns, so the guest's next
 * status read already sees the result; the rest completes later, on the main loop. The
 * backend may also complete inline inside block_submit (memory disks).
 */
static void ide_request_send(struct ide_drive *d, struct ide_request *r, bool now)
{
	struct block_req *req = &r->req;
	d->xfer = IDE_XFER_IO;
	d->io_op = req->op;
	d->status = ST_BSY | ST_READY;
	if (now && block_try_now(d->bd, req->op, req->buf, req->len, req->offset) == 0) {
		ide_io_done(d->chan, d, 0, r->data);
		g_free(r);
		return;
	}
	block_submit(d->bd, req);
}

/* Starts OP on the current block, a PIO write taking its data from buf. */
static void ide_submit(struct ide_drive *d, enum block_op op)
{
	struct ide_request *r = ide_request_new(d, op);
	if (op == BLOCK_WRITE)
		memcpy(r->data, d->buf, r->req.len);
	ide_request_send(d, r, op != BLOCK_FLUSH);
}

/* ---- PIO data-in and data-out protocols (ATA commands) ---- */

/* A block of LEN bytes is in buf: DRQ, and INTRQ for each block (PIO data-in). */
static void ide_in_ready(struct ide_channel *chan, struct ide_drive *d, uint16_t len)
{
	d->buf_pos = 0;
	d->buf_len = d->drq_end = len;
	d->xfer = IDE_XFER_IN;
	d->status = ST_READY | ST_DRQ;
	ide_raise(chan, d);
}

static void ide_read_block(struct ide_drive *d)
{
	d->block = ide_block_sectors(d);
	ide_submit(d, BLOCK_READ);
}

/* The host has read the whole block. PIO data-in: no interrupt after the last one. */
static void ide_ata_in_drained(struct ide_drive *d)
{
	d->xfer = IDE_XFER_IDLE;
	d->status = ST_READY;
	if (!(ide_cmds[d->cmd].flags & CF_SECTORS))
		return; /* IDENTIFY: one block from the drive itself */
	d->lba += d->block;
	d->remaining -= d->block;
	if (d->remaining)
		ide_read_block(d);
}

/* Opens the next data-out block. PIO data-out: the first DRQ comes without an interrupt. */
static void ide_out_open(struct ide_drive *d)
{
	d->block = ide_block_sectors(d);
	d->buf_pos = 0;
	d->buf_len = d->drq_end = d->block * BLOCK_SECTOR;
	d->xfer = IDE_XFER_OUT;
	d->status = ST_READY | ST_DRQ;
}

/* A data-out block is on the disk: INTRQ for the next block or for the end. */
static void ide_out_written(struct ide_channel *chan, struct ide_drive *d)
{
	d->lba += d->block;
	d->remaining -= d->block;
	if (!d->remaining) {
		ide_complete(chan, d);
		return;
	}
	ide_out_open(d);
	ide_raise(chan, d);
}

static void ide_ata_io_done(struct ide_channel *chan, struct ide_drive *d, const uint8_t *data)
{
	if (d->io_op == BLOCK_READ) {
		memcpy(d->buf, data, (size_t)d->block * BLOCK_SECTOR);
		ide_in_ready(chan, d, d->block * BLOCK_SECTOR);
	} else if (d->io_op == BLOCK_WRITE && !d->write_cache) {
		ide_submit(d, BLOCK_FLUSH); /* write cache disabled: write through */
	} else if (ide_cmds[d->cmd].flags & CF_OUT) {
		ide_out_written(chan, d);
	} else {
		ide_complete(chan, d); /* FLUSH CACHE */
	}
}

/* ---- the PACKET protocol (ATA-6 clause 9, PACKET command protocol) ---- */

static void ide_dma_begin(struct ide_channel *chan, struct ide_drive *d);

/* The ATAPI command ends: status, interrupt reason "command complete" (IO and CoD), INTRQ. */
static void ide_atapi_end(struct ide_channel *chan, struct ide_drive *d, bool irq)
{
	/* every CHECK CONDITION leaves sense data; every other ending leaves none */
	bool check = d->atapi.sense_key != ATAPI_SENSE_NONE;
	d->xfer = IDE_XFER_IDLE;
	d->dma = 0;
	d->status = ST_READY | (check ? ST_ERR : 0);
	/* Error register of a PACKET command: the sense key in bits 7:4 (ATA-6 PACKET outputs) */
	d->error = check ? d->atapi.sense_key << 4 : 0;
	chan->nsector = IR_IO | IR_COD;
	if (irq)
		ide_raise(chan, d);
}

/* The command fails with this sense (CHECK CONDITION). */
static void ide_atapi_fail(struct ide_channel *chan, struct ide_drive *d, uint8_t key, uint8_t asc,
			   uint8_t ascq, bool irq)
{
	struct atapi_result res;
	atapi_fail(&d->atapi, &res, key, asc, ascq);
	ide_atapi_end(chan, d, irq);
}

/* Bytes in one DRQ block: the byte count limit, even (ATA-6 PACKET: the device rounds an odd
 * limit down), 0 meaning the largest. */
static uint32_t ide_atapi_limit(const struct ide_drive *d)
{
	uint32_t limit = d->byte_limit & ~1u;
	if (!d->byte_limit)
		return 0xFFFE;
	return limit ? limit : 2;
}

/* Offers the next DRQ block of buf: its size in the Byte Count register (LBA Mid/High), the
 * direction in the interrupt reason, INTRQ for every block. */
static void ide_atapi_drq(struct ide_channel *chan, struct ide_drive *d, bool in)
{
	uint32_t n = d->buf_len - d->buf_pos, limit = ide_atapi_limit(d);
	n = n < limit ? n : limit;
	d->drq_end = d->buf_pos + n;
	chan->lba_mid = n;
	chan->lba_high = n >> 8;
	chan->nsector = in ? IR_IO : 0;
	d->xfer = in ? IDE_XFER_IN : IDE_XFER_OUT;
	d->status = ST_READY | ST_DRQ;
	ide_raise(chan, d);
}

/* The next blocks of a PIO READ into buf: as many as one DRQ block holds, at least one. */
static void ide_atapi_read_chunk(struct ide_drive *d)
{
	uint32_t n = ide_atapi_limit(d) / ATAPI_BLOCK, max = IDE_BUF_SIZE / ATAPI_BLOCK;
	n = n < 1 ? 1 : n > max ? max : n;
	d->block = n < d->remaining ? n : d->remaining;
	d->buf_pos = d->buf_len = d->drq_end = 0;
	ide_submit(d, BLOCK_READ);
}

static void ide_atapi_io_done(struct ide_channel *chan, struct ide_drive *d, const uint8_t *data)
{
	memcpy(d->buf, data, (size_t)d->block * ATAPI_BLOCK);
	d->buf_pos = 0;
	d->buf_len = d->block * ATAPI_BLOCK;
	ide_atapi_drq(chan, d, true);
}

/* The host took a DRQ block: the next one from buf, the next blocks of the disc, or the end. */
static void ide_atapi_in_drained(struct ide_channel *chan, struct ide_drive *d)
{
	if (d->buf_pos < d->buf_len) {
		ide_atapi_drq(chan, d, true);
		return;
	}
	if (d->remaining) { /* a READ: the blocks in buf are done */
		d->lba += d->block;
		d->remaining -= d->block;
		if (d->remaining) {
			ide_atapi_read_chunk(d);
			return;
		}
	}
	ide_atapi_end(chan, d, true);
}

/* The host sent a DRQ block of parameter data: the next block, or the end (data dropped). */
static void ide_atapi_out_filled(struct ide_channel *chan, struct ide_drive *d)
{
	if (d->buf_pos < d->buf_len)
		ide_atapi_drq(chan, d, false);
	else
		ide_atapi_end(chan, d, true);
}

/* Moves what the command set asked for, by PIO or DMA as the PACKET command chose. */
static void ide_atapi_transfer(struct ide_channel *chan, struct ide_drive *d,
			       const struct atapi_result *res)
{
	d->buf_pos = 0;
	d->buf_len = res->phase == ATAPI_READ ? 0 : res->len;
	d->drq_end = d->buf_len;
	d->lba = res->lba;
	d->remaining = res->phase == ATAPI_READ ? res->blocks : 0;
	d->block = 0;
	if (d->dma)
		ide_dma_begin(chan, d);
	else if (res->phase == ATAPI_READ)
		ide_atapi_read_chunk(d);
	else
		ide_atapi_drq(chan, d, res->phase == ATAPI_DATA_IN);
}

/* The 12-byte packet is in: run it (atapi.c), then its data phase or its status. */
static void ide_atapi_packet_in(struct ide_channel *chan, struct ide_drive *d)
{
	struct atapi_medium m = { d->bd != NULL, d->sectors };
	struct atapi_result res;
	memcpy(d->atapi.cdb, d->buf, ATAPI_CDB_SIZE);
	atapi_exec(&d->atapi, &m, d->buf, sizeof(d->buf), &res);
	bool data = res.phase == ATAPI_DATA_IN || res.phase == ATAPI_DATA_OUT ||
		    res.phase == ATAPI_READ;
	if (data && (res.phase == ATAPI_READ || res.len))
		ide_atapi_transfer(chan, d, &res);
	else
		ide_atapi_end(chan, d, true);
}

/* PACKET (ATA-6 clause 8): the byte count limit and DMA choice from the task file, then DRQ with
 * CoD set for the command packet, no interrupt (IDENTIFY PACKET word 0: DRQ within 50 us). */
static void ide_cmd_packet(struct ide_channel *chan, struct ide_drive *d)
{
	if ((chan->feature & PKT_OVL) || ((chan->feature & PKT_DMA) && !chan->dma)) {
		ide_abort(chan, d); /* no overlap; no DMA without a bus master */
		return;
	}
	d->byte_limit = chan->lba_mid | chan->lba_high << 8;
	d->dma = chan->feature & PKT_DMA;
	d->buf_pos = 0;
	d->buf_len = d->drq_end = ATAPI_CDB_SIZE;
	d->remaining = 0;
	d->block = 0;
	chan->nsector = IR_COD;
	d->xfer = IDE_XFER_PACKET;
	d->status = ST_READY | ST_DRQ;
}

/* ---- bus-master DMA (ATA-6 DMA protocol; the engine is the PIIX's, piix_ide.c) ---- */

static bool ide_dma_ready(const struct ide_channel *chan)
{
	return chan->dma && chan->dma->ready(chan->dma_opaque);
}

/* Data moves from guest memory to the drive. */
static bool ide_dma_out(const struct ide_drive *d)
{
	if (d->cmd == ATA_PACKET)
		return atapi_cmd_takes_data(d->atapi.cdb[0]);
	return ide_cmds[d->cmd].flags & CF_OUT;
}

static void ide_dma_end(struct ide_channel *chan, struct ide_drive *d)
{
	if (d->cmd == ATA_PACKET)
		ide_atapi_end(chan, d, true);
	else
		ide_complete(chan, d);
}

/*
 * The engine could not move the data. A descriptor or buffer outside RAM (FAULT) aborts the
 * command with an interrupt; a table shorter than the transfer (SHORT) leaves the engine with
 * neither active nor interrupt set (SFF-8038i, Bus Master IDE Status register): the driver times
 * out, so the drive ends the command without an interrupt either.
 */
static void ide_dma_error(struct ide_channel *chan, struct ide_drive *d, enum ide_dma_result res)
{
	bool irq = res == IDE_DMA_FAULT;
	log_once(LOG_DEBUG, "ide: DMA %s",
		 irq ? "descriptor or buffer outside RAM" : "descriptor table too short");
	if (d->cmd != ATA_PACKET) {
		ide_fail_irq(chan, d, ERR_ABRT, irq);
		return;
	}
	ide_atapi_fail(chan, d, ATAPI_SENSE_ABORTED_COMMAND, 0, 0, irq);
	d->error |= ERR_ABRT;
}

/* An ATAPI response or parameter list held in buf moves in one piece. */
static void ide_dma_buffer(struct ide_channel *chan, struct ide_drive *d)
{
	uint32_t len = d->buf_len - d->buf_pos;
	enum ide_dma_result res = chan->dma->rw(chan->dma_opaque, d->dma_pos, d->buf + d->buf_pos,
						len, !ide_dma_out(d));
	if (res != IDE_DMA_OK) {
		ide_dma_error(chan, d, res);
		return;
	}
	d->dma_pos += len;
	d->buf_pos = d->buf_len;
	ide_dma_end(chan, d);
}

/* A write chunk: its data comes from guest memory before the request goes out. The position
 * moves on only when the chunk is on the disk, so a load can take the data again. */
static void ide_dma_write_chunk(struct ide_channel *chan, struct ide_drive *d, bool now)
{
	struct ide_request *r = ide_request_new(d, BLOCK_WRITE);
	enum ide_dma_result res =
		chan->dma->rw(chan->dma_opaque, d->dma_pos, r->data, r->req.len, false);
	if (res != IDE_DMA_OK) {
		g_free(r);
		ide_dma_error(chan, d, res);
		return;
	}
	ide_request_send(d, r, now);
}

/* The chunk (LEN bytes) is in memory or on the disk: the engine and the drive move past it. */
static void ide_dma_moved(struct ide_channel *chan, struct ide_drive *d, uint32_t len)
{
	enum ide_dma_result res = chan->dma->rw(chan->dma_opaque, d->dma_pos, NULL, len,
						!ide_dma_out(d));
	if (res != IDE_DMA_OK) {
		ide_dma_error(chan, d, res);
		return;
	}
	d->dma_pos += len;
	d->lba += d->block;
	d->remaining -= d->block;
	d->xfer = IDE_XFER_DMA;
}

/*
 * The chunk straight between the disk and guest memory, with no bounce buffer and no request,
 * where the engine's table has it in one piece of RAM and the host serves it at once (never a
 * write while the write cache is off: that one needs its flush). Else false, and *TRIED says
 * whether block_try_now already said no.
 */
static bool ide_dma_direct(struct ide_channel *chan, struct ide_drive *d, bool *tried)
{
	uint32_t len = (uint32_t)d->block * ide_unit(d);
	bool out = ide_dma_out(d);
	void *p = NULL;
	if (chan->dma->map && (!out || d->write_cache))
		p = chan->dma->map(chan->dma_opaque, d->dma_pos, len);
	*tried = p != NULL;
	if (!p || block_try_now(d->bd, out ? BLOCK_WRITE : BLOCK_READ, p, len,
				d->lba * ide_unit(d)) < 0)
		return false;
	ide_dma_moved(chan, d, len);
	return true;
}

/* One step of a DMA command whose engine is ready: the buffered data, or the next chunk of at
 * most IDE_DMA_CHUNK bytes. */
static void ide_dma_step(struct ide_channel *chan, struct ide_drive *d)
{
	if (d->buf_pos < d->buf_len) {
		ide_dma_buffer(chan, d);
		return;
	}
	uint32_t max = IDE_DMA_CHUNK / ide_unit(d);
	bool tried;
	d->block = d->remaining < max ? d->remaining : max;
	if (ide_dma_direct(chan, d, &tried))
		return;
	if (ide_dma_out(d))
		ide_dma_write_chunk(chan, d, !tried);
	else
		ide_request_send(d, ide_request_new(d, BLOCK_READ), !tried);
}

/*
 * Runs the DMA command while the engine is ready and nothing is in flight. A chunk done at once
 * (ide_dma_direct, block_try_now, a memory disk's inline completion) lands back here through
 * dma_pumping instead of recursing once per chunk; a later one (the main loop) pumps again
 * itself.
 */
static void ide_dma_pump(struct ide_channel *chan, struct ide_drive *d)
{
	if (d->dma_pumping)
		return;
	d->dma_pumping = true;
	while (d->xfer == IDE_XFER_DMA) {
		if (d->buf_pos >= d->buf_len && !d->remaining) {
			/* all data moved: done, even if that used up the table (Active clear) */
			ide_dma_end(chan, d);
			break;
		}
		if (!ide_dma_ready(chan))
			break;
		ide_dma_step(chan, d);
	}
	d->dma_pumping = false;
}

/* The command's data goes by DMA: BSY while it waits for the engine and while it moves. */
static void ide_dma_begin(struct ide_channel *chan, struct ide_drive *d)
{
	d->dma = 1;
	d->dma_pos = 0;
	d->xfer = IDE_XFER_DMA;
	d->status = ST_BSY | ST_READY;
	ide_dma_pump(chan, d);
}

/* READ/WRITE DMA (EXT) (ATA-6 clause 8): the range is checked, the engine does the rest. */
static void ide_cmd_dma(struct ide_channel *chan, struct ide_drive *d)
{
	d->buf_pos = d->buf_len = d->drq_end = 0;
	ide_dma_begin(chan, d);
}

/* A chunk's request is done. A read goes to memory now, unless the engine was stopped meanwhile:
 * then the chunk is read again once it restarts. */
static void ide_dma_io_done(struct ide_channel *chan, struct ide_drive *d, uint8_t *data)
{
	uint32_t len = (uint32_t)d->block * ide_unit(d);
	if (d->io_op == BLOCK_READ) {
		if (!ide_dma_ready(chan)) {
			d->xfer = IDE_XFER_DMA;
			return;
		}
		enum ide_dma_result res =
			chan->dma->rw(chan->dma_opaque, d->dma_pos, data, len, true);
		if (res != IDE_DMA_OK) {
			ide_dma_error(chan, d, res);
			return;
		}
	} else if (d->io_op == BLOCK_WRITE && !d->write_cache) {
		ide_submit(d, BLOCK_FLUSH); /* write through, then the chunk counts as done */
		return;
	}
	d->dma_pos += len;
	d->lba += d->block;
	d->remaining -= d->block;
	d->xfer = IDE_XFER_DMA;
	ide_dma_pump(chan, d);
}

void ide_channel_dma_start(struct ide_channel *chan)
{
	for (int i = 0; i < 2; i++) {
		struct ide_drive *d = &chan->drive[i];
		if (!ide_present(d) || !d->dma)
			continue;
		d->dma_pos = 0; /* a new table: the transfer goes on from its first byte */
		if (d->xfer == IDE_XFER_DMA)
			ide_dma_pump(chan, d);
	}
}

void ide_channel_set_dma(struct ide_channel *chan, const struct ide_dma_ops *ops, void *opaque)
{
	chan->dma = ops;
	chan->dma_opaque = opaque;
}

/* ---- request completion ---- */

static void ide_io_failed(struct ide_channel *chan, struct ide_drive *d, int ret)
{
	log_once(LOG_WARN, "ide: %s: %s failed: %s", d->bd->path, ide_cmds[d->cmd].name,
		 g_strerror(-ret));
	if (ide_is_cd(d)) {
		/* MEDIUM ERROR, UNRECOVERED READ ERROR */
		ide_atapi_fail(chan, d, ATAPI_SENSE_MEDIUM_ERROR, 0x11, 0x00, true);
		return;
	}
	/* READ error outputs: UNC; WRITE and FLUSH CACHE error outputs: ABRT */
	ide_fail(chan, d, d->io_op == BLOCK_READ ? ERR_UNC : ERR_ABRT);
}

static void ide_io_done(struct ide_channel *chan, struct ide_drive *d, int ret, uint8_t *data)
{
	if (ret < 0)
		ide_io_failed(chan, d, ret);
	else if (d->dma)
		ide_dma_io_done(chan, d, data);
	else if (ide_is_cd(d))
		ide_atapi_io_done(chan, d, data);
	else
		ide_ata_io_done(chan, d, data);
}

/* ---- the data port ---- */

/* The current DRQ block is read out. */
static void ide_in_drained(struct ide_channel *chan, struct ide_drive *d)
{
	if (d->cmd == ATA_PACKET)
		ide_atapi_in_drained(chan, d);
	else
		ide_ata_in_drained(d);
}

/* A word of the DRQ block; an odd ATAPI block ends with a padding byte (PACKET protocol). */
static uint16_t ide_data_read16(struct ide_channel *chan)
{
	struct ide_drive *d = ide_cur(chan);
	if (d->xfer != IDE_XFER_IN || d->buf_pos >= d->drq_end)
		return ide_channel_has_drive(chan) ? 0xFFFF : 0; /* no DRQ: nothing to read */
	uint16_t v = d->buf[d->buf_pos];
	if (d->buf_pos + 1 < d->drq_end)
		v |= d->buf[d->buf_pos + 1] << 8;
	d->buf_pos = d->buf_pos + 2 < d->drq_end ? d->buf_pos + 2 : d->drq_end;
	if (d->buf_pos >= d->drq_end)
		ide_in_drained(chan, d);
	return v;
}

/* The current data-out or packet block is complete. */
static void ide_out_filled(struct ide_channel *chan, struct ide_drive *d)
{
	if (d->xfer == IDE_XFER_PACKET)
		ide_atapi_packet_in(chan, d);
	else if (d->cmd == ATA_PACKET)
		ide_atapi_out_filled(chan, d);
	else
		ide_submit(d, BLOCK_WRITE);
}

static void ide_data_write16(struct ide_channel *chan, uint16_t v)
{
	struct ide_drive *d = ide_cur(chan);
	if ((d->xfer != IDE_XFER_OUT && d->xfer != IDE_XFER_PACKET) || d->buf_pos >= d->drq_end)
		return; /* no DRQ: the write goes nowhere */
	d->buf[d->buf_pos] = v;
	if (d->buf_pos + 1 < d->drq_end)
		d->buf[d->buf_pos + 1] = v >> 8;
	d->buf_pos = d->buf_pos + 2 < d->drq_end ? d->buf_pos + 2 : d->drq_end;
	if (d->buf_pos >= d->drq_end)
		ide_out_filled(chan, d);
}

/* ---- addressing ---- */

static uint64_t ide_lba48(const struct ide_channel *chan)
{
	return (uint64_t)chan->lba_low | (uint64_t)chan->lba_mid << 8 |
	       (uint64_t)chan->lba_high << 16 | (uint64_t)chan->hob_lba_low << 24 |
	       (uint64_t)chan->hob_lba_mid << 32 | (uint64_t)chan->hob_lba_high << 40;
}

/* LBA28 (Device bit 6 set) or CHS through the current translation. */
static bool ide_lba28(const struct ide_channel *chan, const struct ide_drive *d, uint64_t *lba)
{
	if (chan->select & DEV_LBA) {
		*lba = chan->lba_low | chan->lba_mid << 8 | chan->lba_high << 16 |
		       (uint32_t)(chan->select & 0x0F) << 24;
		return true;
	}
	unsigned cyl = chan->lba_mid | chan->lba_high << 8;
	unsigned head = chan->select & 0x0F;
	unsigned sector = chan->lba_low;
	if (sector == 0 || sector > d->spt || head >= d->heads || cyl >= d->cyls)
		return false;
	*lba = ((uint64_t)cyl * d->heads + head) * d->spt + sector - 1;
	return true;
}

/* Decodes and checks the address and count of a sector command (count 0 means 256 or
 * 65536); a range past the end of the medium is IDNF. */
static bool ide_setup_sectors(struct ide_channel *chan, struct ide_drive *d, unsigned flags)
{
	uint64_t lba;
	uint32_t count;
	if (flags & CF_LBA48) {
		lba = ide_lba48(chan);
		count = chan->nsector | chan->hob_nsector << 8;
		count = count ? count : 65536;
	} else {
		count = chan->nsector ? chan->nsector : 256;
		if (!ide_lba28(chan, d, &lba)) {
			ide_fail(chan, d, ERR_IDNF);
			return false;
		}
	}
	if ((flags & CF_MULTIPLE) && !d->mult) {
		ide_abort(chan, d); /* READ/WRITE MULTIPLE: aborted until SET MULTIPLE MODE */
		return false;
	}
	if (lba >= d->sectors || count > d->sectors - lba) {
		ide_fail(chan, d, ERR_IDNF);
		return false;
	}
	d->lba = lba;
	d->remaining = count;
	return true;
}

/* ---- IDENTIFY DEVICE and IDENTIFY PACKET DEVICE (ATA-6 clause 8, tables of words) ---- */

/* ATA strings: two characters a word, the first in the high byte, padded with spaces. */
static void ide_id_string(uint16_t *id, unsigned word, unsigned chars, const char *s)
{
	size_t n = strlen(s);
	for (unsigned i = 0; i < chars; i++) {
		uint8_t c = i < n ? (uint8_t)s[i] : ' ';
		id[word + i / 2] |= (i % 2) ? c : c << 8;
	}
}

/* A serial that stays the same from run to run: a hash of the image's name and position (a
 * CD drive's, which outlives its media, of the position alone). */
static void ide_make_serial(const struct ide_drive *d, char out[21])
{
	uint32_t h = 2166136261u; /* FNV-1a */
	const char *name = ide_is_cd(d) ? "cdrom" : d->bd->path;
	for (const char *p = name; *p; p++)
		h = (h ^ (uint8_t)*p) * 16777619u;
	h = (h ^ d->unit) * 16777619u;
	g_snprintf(out, 21, "PCVM%08X", h);
}

/* IDENTIFY word 93, the hardware reset result; device 0 also says whether it answers for an
 * absent device 1 (SeaBIOS then skips probing the slave). */
static uint16_t ide_reset_result(const struct ide_drive *d, bool other_present)
{
	if (d->unit == 1)
		return 0x4000 | 0x0100 | 0x0200 | 0x0800; /* device 1, jumper, PDIAG- asserted */
	uint16_t v = 0x4000 | 0x0001 | 0x0002 | 0x0008; /* device 0, jumper, passed diagnostics */
	return v | (other_present ? 0x0030 /* PDIAG-, DASP- seen */ : 0x0040);
}

/* Words both IDENTIFY variants share: strings, DMA and PIO modes, versions, reset result. */
static void ide_identify_common(struct ide_drive *d, bool other_present, const char *model)
{
	uint16_t *id = d->identify;
	char serial[21];
	ide_make_serial(d, serial);
	ide_id_string(id, 10, 20, serial);
	ide_id_string(id, 23, 8, "0.1");
	ide_id_string(id, 27, 40, model);
	id[49] = 0x0F00; /* IORDY, IORDY may be disabled, LBA, DMA */
	id[50] = 0x4000;
	id[63] = 0x0007; /* multiword DMA 0-2 supported; the selected mode is patched in */
	id[64] = 0x0003; /* PIO modes 3 and 4 */
	id[65] = 120;    /* multiword DMA and PIO cycle times, ns */
	id[66] = 120;
	id[67] = 120;
	id[68] = 120;
	id[80] = 0x007E; /* ATA-1 .. ATA/ATAPI-6 */
	id[84] = 0x4000;
	id[87] = 0x4000;
	id[88] = 0x003F; /* Ultra DMA 0-5 supported */
	id[93] = ide_reset_result(d, other_present);
}

static void ide_identify_disk_init(struct ide_drive *d, bool other_present)
{
	uint16_t *id = d->identify;
	uint32_t lba28 = d->sectors < IDE_LBA28_MAX ? d->sectors : IDE_LBA28_MAX;
	ide_identify_common(d, other_present, "PCVM HARDDISK");
	id[0] = 0x0040; /* ATA device, fixed medium */
	id[1] = d->cyls;
	id[3] = d->heads;
	id[6] = d->spt;
	id[47] = 0x8000 | IDE_MAX_MULT;
	id[51] = 0x0200; /* obsolete PIO timing: mode 2 */
	id[53] = 0x0007; /* words 54-58, 64-70 and 88 valid */
	id[60] = lba28;
	id[61] = lba28 >> 16;
	id[82] = 0x0028; /* write cache, power management */
	id[83] = 0x7400; /* FLUSH CACHE EXT, FLUSH CACHE, 48-bit address */
	id[85] = 0x0008; /* power management enabled; write cache bit set per command */
	id[86] = 0x3400;
	for (int i = 0; i < 4; i++)
		id[100 + i] = d->sectors >> (16 * i);
}

/* IDENTIFY PACKET DEVICE (ATA-6): a removable CD-ROM device speaking 12-byte packets, DRQ for
 * the packet within 50 us (word 0 bits 6:5 = 10b), PACKET and DEVICE RESET supported. */
static void ide_identify_cd_init(struct ide_drive *d, bool other_present)
{
	uint16_t *id = d->identify;
	ide_identify_common(d, other_present, "PCVM DVD-ROM");
	id[0] = 0x8000 | 0x0500 | 0x0080 | 0x0040;
	id[53] = 0x0006; /* words 64-70 and 88 valid */
	id[82] = 0x0210; /* PACKET, DEVICE RESET */
	id[83] = 0x4000;
	id[85] = 0x0210;
}

static void ide_identify_init(struct ide_drive *d, bool other_present)
{
	memset(d->identify, 0, sizeof(d->identify));
	if (ide_is_cd(d))
		ide_identify_cd_init(d, other_present);
	else
		ide_identify_disk_init(d, other_present);
}

/* The selected DMA mode in words 63 and 88: bit 8 + n of the mode set by SET FEATURES. */
static void ide_identify_dma_mode(const struct ide_drive *d, uint16_t *id)
{
	unsigned n = d->dma_mode & 0x07;
	if ((d->dma_mode & 0xF8) == 0x20)
		id[63] |= 0x0100 << n;
	else if ((d->dma_mode & 0xF8) == 0x40)
		id[88] |= 0x0100 << n;
}

/* The words that depend on what the guest set, then the integrity word 255 (A5h + checksum). */
static void ide_identify_current(const struct ide_drive *d, uint16_t *id)
{
	if (!ide_is_cd(d)) {
		uint32_t chs = (uint32_t)d->cyls * d->heads * d->spt;
		id[54] = d->cyls;
		id[55] = d->heads;
		id[56] = d->spt;
		id[57] = chs;
		id[58] = chs >> 16;
		id[59] = d->mult ? 0x0100 | d->mult : 0;
		if (d->write_cache)
			id[85] |= 0x0020;
	}
	ide_identify_dma_mode(d, id);
	uint8_t sum = 0xA5;
	for (int i = 0; i < 255; i++)
		sum += (id[i] & 0xFF) + (id[i] >> 8);
	id[255] = (uint16_t)(uint8_t)-sum << 8 | 0xA5;
}

static void ide_send_identify(struct ide_channel *chan, struct ide_drive *d)
{
	uint16_t id[256];
	memcpy(id, d->identify, sizeof(id));
	ide_identify_current(d, id);
	for (int i = 0; i < 256; i++) {
		d->buf[2 * i] = id[i];
		d->buf[2 * i + 1] = id[i] >> 8;
	}
	d->block = 1;
	d->remaining = 0;
	ide_in_ready(chan, d, BLOCK_SECTOR);
}

/* Sector Count, LBA Low/Mid/High as a device leaves them after a reset, diagnostics or an
 * aborted IDENTIFY DEVICE: its command set's signature (ATA-6; 14h/EBh for PACKET). */
static void ide_load_signature(struct ide_channel *chan, const struct ide_drive *d)
{
	chan->nsector = 1;
	chan->lba_low = 1;
	chan->lba_mid = ide_is_cd(d) ? 0x14 : 0;
	chan->lba_high = ide_is_cd(d) ? 0xEB : 0;
}

static void ide_cmd_identify(struct ide_channel *chan, struct ide_drive *d)
{
	if (ide_is_cd(d)) {
		ide_load_signature(chan, d);
		ide_abort(chan, d);
		return;
	}
	ide_send_identify(chan, d);
}

static void ide_cmd_identify_packet(struct ide_channel *chan, struct ide_drive *d)
{
	ide_send_identify(chan, d);
}

/* ---- the other command handlers ---- */

static void ide_cmd_read(struct ide_channel *chan, struct ide_drive *d)
{
	(void)chan;
	ide_read_block(d);
}

static void ide_cmd_write(struct ide_channel *chan, struct ide_drive *d)
{
	(void)chan;
	ide_out_open(d);
}

static void ide_cmd_flush(struct ide_channel *chan, struct ide_drive *d)
{
	(void)chan;
	d->block = 0;
	ide_submit(d, BLOCK_FLUSH);
}

/* RECALIBRATE, SEEK, READ VERIFY (range already checked), IDLE and STANDBY: nothing to move,
 * the medium is always ready. */
static void ide_cmd_done(struct ide_channel *chan, struct ide_drive *d)
{
	ide_complete(chan, d);
}

static void ide_cmd_check_power(struct ide_channel *chan, struct ide_drive *d)
{
	chan->nsector = 0xFF; /* CHECK POWER MODE: FFh = active or idle */
	ide_complete(chan, d);
}

/* SET MULTIPLE MODE: powers of two up to word 47's limit; 0 turns multiple mode off. */
static void ide_cmd_set_multiple(struct ide_channel *chan, struct ide_drive *d)
{
	unsigned n = chan->nsector;
	if (n > IDE_MAX_MULT || (n & (n - 1))) {
		ide_abort(chan, d);
		return;
	}
	d->mult = n;
	ide_complete(chan, d);
}

/* INITIALIZE DEVICE PARAMETERS: the host's CHS translation; cylinders follow from capacity. */
static void ide_cmd_init_params(struct ide_channel *chan, struct ide_drive *d)
{
	unsigned heads = (chan->select & 0x0F) + 1, spt = chan->nsector;
	if (spt == 0) {
		ide_abort(chan, d);
		return;
	}
	uint64_t cyls = d->sectors / (heads * spt);
	d->heads = heads;
	d->spt = spt;
	d->cyls = cyls > 0xFFFF ? 0xFFFF : cyls;
	ide_complete(chan, d);
}

/* The DMA modes IDENTIFY advertises (ATA-6 SET FEATURES 03h): multiword 0-2, Ultra 0-5. */
static bool ide_dma_mode_valid(uint8_t mode)
{
	return (mode >= 0x20 && mode <= 0x22) || (mode >= 0x40 && mode <= 0x45);
}

/* SET FEATURES 03h (set transfer mode): PIO default, PIO flow control 0-4, or a DMA mode,
 * which IDENTIFY then reports as selected. */
static bool ide_set_transfer_mode(struct ide_drive *d, uint8_t mode)
{
	if (mode <= 0x01 || (mode >= 0x08 && mode <= 0x0C))
		return true;
	if (!ide_dma_mode_valid(mode))
		return false;
	d->dma_mode = mode;
	return true;
}

static void ide_cmd_set_features(struct ide_channel *chan, struct ide_drive *d)
{
	bool ok = true;
	switch (chan->feature) {
	case 0x02: d->write_cache = true; break;
	case 0x82: d->write_cache = false; break;
	case 0x03: ok = ide_set_transfer_mode(d, chan->nsector); break;
	case 0x55: /* read look-ahead off/on: no cache to look ahead into */
	case 0xAA:
	case 0x66: /* revert to power-on defaults off/on: settings survive soft reset either way */
	case 0xCC: break;
	default: ok = false; break;
	}
	if (ok)
		ide_complete(chan, d);
	else
		ide_abort(chan, d);
}

/* The register values after reset and diagnostics: device 0's signature, which becomes device
 * 1's when the host selects it before writing anything (sig_latched). */
static void ide_set_signature(struct ide_channel *chan)
{
	chan->select = 0;
	chan->hob_nsector = chan->hob_lba_low = chan->hob_lba_mid = chan->hob_lba_high = 0;
	ide_load_signature(chan, &chan->drive[ide_present(&chan->drive[0]) ? 0 : 1]);
	chan->sig_latched = 1;
}

/* A drive after reset: no command; an ATA device ready, a PACKET device with DRDY clear until
 * a command sets it (ATA-6 reset protocols: "status 00h" in the PACKET signature). */
static void ide_drive_ready(struct ide_drive *d)
{
	d->io_gen++; /* a request still in flight now belongs to no one */
	d->xfer = IDE_XFER_IDLE;
	d->dma = 0;
	d->status = ide_is_cd(d) ? 0 : ST_READY;
	d->error = ERR_DIAG_PASSED;
	d->irq_pending = false;
}

/* Both drives back to "ready, diagnostics passed", without an interrupt. */
static void ide_drives_ready(struct ide_channel *chan)
{
	for (int i = 0; i < 2; i++)
		if (ide_present(&chan->drive[i]))
			ide_drive_ready(&chan->drive[i]);
	ide_set_signature(chan);
}

/* EXECUTE DEVICE DIAGNOSTIC: both devices run it; device 0 reports for both and interrupts. */
static void ide_cmd_diagnostic(struct ide_channel *chan, struct ide_drive *d)
{
	(void)d;
	ide_drives_ready(chan);
	ide_raise(chan, ide_present(&chan->drive[0]) ? &chan->drive[0] : &chan->drive[1]);
}

/* DEVICE RESET (ATA-6 clause 8): this drive alone, whatever it was doing; signature, no INTRQ. */
static void ide_cmd_device_reset(struct ide_channel *chan, struct ide_drive *d)
{
	ide_drive_ready(d);
	ide_load_signature(chan, d);
}

/* The one dispatcher: applies the rules every command shares, then the table's handler. */
static void ide_exec(struct ide_channel *chan, uint8_t op)
{
	const struct ide_cmd *c = &ide_cmds[op];
	struct ide_drive *d = ide_cur(chan);
	bool known = c->run && (c->kinds & (1u << d->kind));
	if (!ide_present(d) && !(c->flags & CF_BOTH))
		return; /* nobody answers for an absent device */
	if (!ide_channel_has_drive(chan))
		return;
	if ((d->status & ST_BSY) && !(known && (c->flags & CF_WHILE_BSY)))
		return; /* a command written while BSY is not accepted */
	chan->sig_latched = 0;
	d->irq_pending = false; /* writing Command clears the pending interrupt */
	ide_update_irq(chan);
	if (c->flags & CF_BOTH) {
		c->run(chan, d);
		return;
	}
	d->cmd = op;
	d->error = 0;
	d->xfer = IDE_XFER_IDLE;
	d->dma = 0;
	d->status = ST_READY;
	if (!known || ((c->flags & CF_DMA) && !chan->dma)) {
		log_once(LOG_DEBUG, "ide: command %#04x (%s) aborted", op, c->name ? c->name : "unknown");
		ide_abort(chan, d);
		return;
	}
	if ((c->flags & CF_SECTORS) && !ide_setup_sectors(chan, d, c->flags))
		return;
	c->run(chan, d);
}

/* ---- registers ---- */

/* Offsets 1-5 are FIFOs two deep: a write pushes the old value into the HOB copy, the LBA48
 * "previous content" that devctl HOB reads back. */
static const struct {
	size_t cur, hob;
} ide_pairs[6] = {
	[1] = { offsetof(struct ide_channel, feature), offsetof(struct ide_channel, hob_feature) },
	[2] = { offsetof(struct ide_channel, nsector), offsetof(struct ide_channel, hob_nsector) },
	[3] = { offsetof(struct ide_channel, lba_low), offsetof(struct ide_channel, hob_lba_low) },
	[4] = { offsetof(struct ide_channel, lba_mid), offsetof(struct ide_channel, hob_lba_mid) },
	[5] = { offsetof(struct ide_channel, lba_high), offsetof(struct ide_channel, hob_lba_high) },
};

static uint8_t *ide_chan_byte(struct ide_channel *chan, size_t off)
{
	return (uint8_t *)chan + off;
}

static uint8_t ide_status_read(struct ide_channel *chan, bool clear_irq)
{
	struct ide_drive *d = ide_cur(chan);
	if (!ide_present(d))
		return 0; /* device 0 answers 00h for an absent device 1 */
	if (clear_irq && d->irq_pending) {
		d->irq_pending = false; /* reading Status clears the interrupt */
		ide_update_irq(chan);
	}
	return d->status;
}

static uint8_t ide_reg_read(struct ide_channel *chan, unsigned reg)
{
	if (!ide_channel_has_drive(chan))
		return 0; /* pc-platform.md: an empty channel reads 0, not a floating bus */
	if (reg == 1)
		return ide_cur(chan)->error;
	if (reg <= 5) {
		bool hob = chan->devctl & DC_HOB;
		return *ide_chan_byte(chan, hob ? ide_pairs[reg].hob : ide_pairs[reg].cur);
	}
	if (reg == 6)
		return chan->select;
	return ide_status_read(chan, true);
}

static void ide_select(struct ide_channel *chan, uint8_t val)
{
	chan->select = val;
	if (chan->sig_latched && ide_present(ide_cur(chan)))
		ide_load_signature(chan, ide_cur(chan)); /* its registers still hold it */
	ide_update_irq(chan); /* the other device may own INTRQ now */
}

static void ide_reg_write(struct ide_channel *chan, unsigned reg, uint8_t val)
{
	chan->devctl &= ~DC_HOB; /* Device Control: any Command Block write clears HOB */
	if (reg >= 1 && reg <= 5) {
		uint8_t *cur = ide_chan_byte(chan, ide_pairs[reg].cur);
		*ide_chan_byte(chan, ide_pairs[reg].hob) = *cur;
		*cur = val;
		chan->sig_latched = 0;
	} else if (reg == 6) {
		ide_select(chan, val);
	} else if (reg == 7) {
		ide_exec(chan, val);
	}
}

static uint64_t ide_cmd_port_read(void *opaque, uint64_t off, unsigned size)
{
	struct ide_channel *chan = opaque;
	if (off == 0) {
		/* 8-bit reads still move a word; 32-bit reads move two (PIIX 32-bit PIO) */
		uint64_t v = ide_data_read16(chan);
		if (size == 4)
			v |= (uint64_t)ide_data_read16(chan) << 16;
		return v;
	}
	uint64_t v = 0;
	for (unsigned i = 0; i < size && off + i < 8; i++)
		v |= (uint64_t)ide_reg_read(chan, off + i) << (8 * i);
	return v;
}

static void ide_cmd_port_write(void *opaque, uint64_t off, uint64_t data, unsigned size)
{
	struct ide_channel *chan = opaque;
	if (off == 0) {
		ide_data_write16(chan, data);
		if (size == 4)
			ide_data_write16(chan, data >> 16);
		return;
	}
	for (unsigned i = 0; i < size && off + i < 8; i++)
		ide_reg_write(chan, off + i, data >> (8 * i));
}

const struct bus_ops ide_cmd_ops = {
	.read = ide_cmd_port_read,
	.write = ide_cmd_port_write,
	.min_size = 1,
	.max_size = 4,
};

/* ---- control block: alternate status and device control ---- */

static void ide_srst_begin(struct ide_channel *chan)
{
	for (int i = 0; i < 2; i++) {
		struct ide_drive *d = &chan->drive[i];
		if (!ide_present(d))
			continue;
		d->io_gen++;
		d->xfer = IDE_XFER_IDLE;
		d->dma = 0;
		d->status = ST_BSY; /* software reset: BSY for as long as SRST is held */
		d->irq_pending = false;
	}
}

static uint64_t ide_ctrl_port_read(void *opaque, uint64_t off, unsigned size)
{
	(void)off;
	(void)size;
	struct ide_channel *chan = opaque;
	if (!ide_channel_has_drive(chan))
		return 0;
	return ide_status_read(chan, false); /* Alternate Status leaves INTRQ alone */
}

static void ide_ctrl_port_write(void *opaque, uint64_t off, uint64_t data, unsigned size)
{
	(void)off;
	(void)size;
	struct ide_channel *chan = opaque;
	uint8_t old = chan->devctl;
	chan->devctl = data;
	if ((data & DC_SRST) && !(old & DC_SRST))
		ide_srst_begin(chan);
	else if (!(data & DC_SRST) && (old & DC_SRST))
		ide_drives_ready(chan); /* reset done: signature, no interrupt */
	ide_update_irq(chan);
}

const struct bus_ops ide_ctrl_ops = {
	.read = ide_ctrl_port_read,
	.write = ide_ctrl_port_write,
	.min_size = 1,
	.max_size = 1,
};

/* ---- setup, reset, media ---- */

static void ide_drive_power_on(struct ide_drive *d)
{
	uint64_t cyls = d->sectors / (IDE_DEFAULT_HEADS * IDE_DEFAULT_SPT);
	d->heads = IDE_DEFAULT_HEADS;
	d->spt = IDE_DEFAULT_SPT;
	/* IDENTIFY word 1: at most 16383 cylinders are reported; at least 1 for a tiny image */
	d->cyls = cyls > 16383 ? 16383 : cyls ? cyls : 1;
	d->mult = 0;
	d->write_cache = true;
	d->dma_mode = IDE_DEFAULT_DMA_MODE;
	d->cmd = 0;
	d->io_op = 0;
	d->lba = 0;
	d->remaining = 0;
	d->block = 0;
	d->buf_pos = d->buf_len = d->drq_end = 0;
	d->dma_pos = 0;
	d->byte_limit = 0;
	memset(d->buf, 0, sizeof(d->buf));
	atapi_reset(&d->atapi);
}

void ide_channel_reset(struct ide_channel *chan)
{
	chan->feature = chan->hob_feature = 0;
	chan->devctl = 0;
	for (int i = 0; i < 2; i++)
		if (ide_present(&chan->drive[i]))
			ide_drive_power_on(&chan->drive[i]);
	ide_drives_ready(chan);
	ide_update_irq(chan);
}

/* Capacity in the drive's own blocks; a CD image's partial last block is not addressable. */
static uint64_t ide_capacity(const struct ide_drive *d)
{
	return d->bd ? block_size(d->bd) / ide_unit(d) : 0;
}

static void ide_drive_init(struct ide_channel *chan, unsigned unit, enum ide_kind kind,
			   struct block_dev *bd)
{
	struct ide_drive *d = &chan->drive[unit];
	memset(d, 0, sizeof(*d));
	d->chan = chan;
	d->unit = unit;
	d->bd = bd;
	d->kind = kind;
	d->sectors = ide_capacity(d);
}

/* Power-on state of both drives and the IDENTIFY templates (word 93 depends on the other). */
static void ide_channel_power_on(struct ide_channel *chan)
{
	ide_channel_reset(chan);
	for (int i = 0; i < 2; i++)
		if (ide_present(&chan->drive[i]))
			ide_identify_init(&chan->drive[i], ide_present(&chan->drive[!i]));
}

void ide_channel_init(struct ide_channel *chan, const struct irq_line *irq,
		      struct block_dev *master, struct block_dev *slave)
{
	memset(chan, 0, sizeof(*chan));
	if (irq)
		chan->irq = *irq;
	ide_drive_init(chan, 0, master ? IDE_KIND_DISK : IDE_KIND_NONE, master);
	ide_drive_init(chan, 1, slave ? IDE_KIND_DISK : IDE_KIND_NONE, slave);
	ide_channel_power_on(chan);
}

int ide_channel_set_kind(struct ide_channel *chan, unsigned unit, enum ide_kind kind)
{
	if (unit > 1 || kind > IDE_KIND_CDROM)
		return -1;
	struct block_dev *bd = chan->drive[unit].bd;
	if (kind == IDE_KIND_DISK && !bd)
		return -1;
	ide_drive_init(chan, unit, kind, kind == IDE_KIND_NONE ? NULL : bd);
	ide_channel_power_on(chan);
	return 0;
}

void ide_channel_set_lock(struct ide_channel *chan, pthread_mutex_t *lock)
{
	chan->lock = lock;
}

void ide_channel_drain(struct ide_channel *chan)
{
	for (int i = 0; i < 2; i++)
		if (chan->drive[i].bd)
			block_drain(chan->drive[i].bd);
}

/* Whether the drive's command is reading the disc (or about to). */
static bool ide_reading_medium(const struct ide_drive *d)
{
	if (d->cmd != ATA_PACKET || d->xfer == IDE_XFER_IDLE || d->xfer == IDE_XFER_PACKET)
		return false;
	return d->xfer == IDE_XFER_IO || d->remaining;
}

int ide_channel_change_medium(struct ide_channel *chan, unsigned unit, struct block_dev *medium,
			      bool force, struct block_dev **old, char **error)
{
	struct ide_drive *d = &chan->drive[unit & 1];
	if (!ide_is_cd(d)) {
		*error = g_strdup("not a CD-ROM drive");
		return -1;
	}
	/* PREVENT ALLOW MEDIUM REMOVAL guards removal: it keeps a disc in, but does not stop
	 * one going into an empty drive */
	if (d->atapi.locked && d->bd && !force) {
		atapi_eject_requested(&d->atapi); /* a polling guest OS can unlock and eject */
		*error = g_strdup("the guest has locked the tray (force ejects anyway)");
		return -1;
	}
	if (ide_reading_medium(d)) {
		d->io_gen++; /* the old disc's request, if any, is no longer ours */
		/* NOT READY, MEDIUM NOT PRESENT - TRAY OPEN: the disc left mid-command */
		ide_atapi_fail(chan, d, ATAPI_SENSE_NOT_READY, 0x3A, 0x02, true);
	}
	*old = d->bd;
	d->bd = medium;
	d->sectors = ide_capacity(d);
	atapi_medium_changed(&d->atapi, medium != NULL);
	return 0;
}

/* ---- state ---- */

/* Sector state between blocks: the block inside the command, the command inside the medium. */
static bool ide_sectors_ok(const struct ide_drive *d)
{
	return d->block >= 1 && d->block <= d->remaining && d->lba < d->sectors &&
	       d->remaining <= d->sectors - d->lba;
}

/* Blocks in flight at once: a DRQ block's worth (PIO) or a chunk (DMA). */
static unsigned ide_block_max(const struct ide_drive *d)
{
	if (d->dma)
		return IDE_DMA_CHUNK / ide_unit(d);
	return ide_is_cd(d) ? IDE_BUF_SIZE / ATAPI_BLOCK : IDE_MAX_MULT;
}

/* An ATA DMA command's state: waiting (DMA) or a chunk in flight (IO). */
static const char *ide_disk_dma_check(const struct ide_drive *d, unsigned flags)
{
	if (!(flags & CF_DMA) || (d->xfer != IDE_XFER_DMA && d->xfer != IDE_XFER_IO) || d->buf_len)
		return "DMA state does not fit the command";
	bool in_disk = d->lba <= d->sectors && d->remaining <= d->sectors - d->lba;
	if (d->xfer == IDE_XFER_DMA)
		return in_disk ? NULL : "DMA range outside the disk";
	bool fits = d->io_op == BLOCK_READ ? flags & CF_IN : flags & CF_OUT;
	if (d->io_op > BLOCK_FLUSH || !fits)
		return "DMA request does not fit the command";
	if (!ide_sectors_ok(d) || d->block > ide_block_max(d))
		return "block outside the command or the disk";
	return NULL;
}

/* Whether the drive, in its transfer state, is in the middle of a PIO sector command. */
static bool ide_mid_sectors(const struct ide_drive *d, unsigned flags)
{
	switch (d->xfer) {
	case IDE_XFER_IN: return flags & CF_SECTORS;
	case IDE_XFER_OUT: return true;
	case IDE_XFER_IO: return d->io_op != BLOCK_FLUSH || (flags & CF_OUT);
	default: return false;
	}
}

/* The PIO transfer state fits the command: a request of a kind the command makes, a buffer
 * holding exactly the block where the protocol needs one. */
static bool ide_xfer_fits(const struct ide_drive *d, unsigned flags)
{
	bool whole_block = d->buf_len == d->block * BLOCK_SECTOR;
	if (d->xfer != IDE_XFER_IDLE && (flags & CF_MULTIPLE) && !d->mult)
		return false; /* the next block would be empty */
	if (flags & CF_DMA)
		return d->xfer == IDE_XFER_IDLE;
	switch (d->xfer) {
	case IDE_XFER_IN: return !(flags & CF_SECTORS) || whole_block;
	case IDE_XFER_OUT: return (flags & CF_OUT) && whole_block;
	case IDE_XFER_IO:
		if (d->io_op == BLOCK_READ)
			return flags & CF_IN;
		if (d->io_op == BLOCK_WRITE)
			return (flags & CF_OUT) && whole_block;
		return d->io_op == BLOCK_FLUSH;
	case IDE_XFER_PACKET:
	case IDE_XFER_DMA: return false;
	default: return true;
	}
}

static const char *ide_disk_check(const struct ide_drive *d)
{
	unsigned flags = ide_cmds[d->cmd].flags;
	if (d->mult > IDE_MAX_MULT || (d->mult & (d->mult - 1)) || !d->heads || !d->spt)
		return "bad multiple count or geometry";
	if ((d->buf_len | d->buf_pos) & 1 || d->drq_end != d->buf_len || d->remaining > 65536)
		return "buffer position or block size out of range";
	if (d->dma)
		return ide_disk_dma_check(d, flags);
	if (d->block > IDE_MAX_MULT || !ide_xfer_fits(d, flags))
		return "transfer state does not fit the command";
	if (ide_mid_sectors(d, flags) && !ide_sectors_ok(d))
		return "block outside the command or the disk";
	return NULL;
}

/* A CD's READ in progress: a command that reads, blocks inside the disc, a block in hand. */
static const char *ide_cd_read_check(const struct ide_drive *d)
{
	if (!atapi_cmd_reads(d->atapi.cdb[0]) || !d->bd)
		return "disc read without a disc or a read command";
	if (d->xfer == IDE_XFER_DMA)
		return d->remaining <= d->sectors && d->lba <= d->sectors - d->remaining
			       ? NULL
			       : "read outside the disc";
	if (!ide_sectors_ok(d) || d->block > ide_block_max(d))
		return "read outside the disc";
	if (d->xfer == IDE_XFER_IN && d->buf_len != d->block * ATAPI_BLOCK)
		return "read block does not fill the buffer";
	return NULL;
}

/* The PACKET protocol's states: packet DRQ, data DRQ (PIO), DMA or a read in flight. */
static const char *ide_cd_packet_check(const struct ide_drive *d)
{
	switch (d->xfer) {
	case IDE_XFER_PACKET:
		return d->buf_len == ATAPI_CDB_SIZE && d->drq_end == ATAPI_CDB_SIZE && !d->remaining
			       ? NULL
			       : "bad packet phase";
	case IDE_XFER_OUT:
		return !d->dma && !d->remaining && atapi_cmd_takes_data(d->atapi.cdb[0])
			       ? NULL
			       : "data-out phase without a command taking data";
	case IDE_XFER_IN:
		if (d->dma)
			return "PIO phase of a DMA command";
		return d->remaining ? ide_cd_read_check(d) : NULL;
	case IDE_XFER_IO:
		if (d->io_op != BLOCK_READ)
			return "CD request is no read";
		return ide_cd_read_check(d);
	case IDE_XFER_DMA:
		if (!d->dma)
			return "DMA phase of a PIO command";
		return d->remaining ? ide_cd_read_check(d) : NULL;
	default: return NULL;
	}
}

static const char *ide_cd_check(const struct ide_drive *d)
{
	const char *why = atapi_state_check(&d->atapi);
	if (why)
		return why;
	if (d->xfer == IDE_XFER_IDLE)
		return d->dma ? "DMA flag without a command" : NULL;
	if (d->cmd == ATA_IDENTIFY_PACKET)
		return d->xfer == IDE_XFER_IN && !d->dma && d->buf_len == BLOCK_SECTOR
			       ? NULL
			       : "bad IDENTIFY PACKET DEVICE state";
	if (d->cmd != ATA_PACKET)
		return "transfer state of a command without data";
	return ide_cd_packet_check(d);
}

/* Why a loaded drive state cannot be used, or NULL. */
static const char *ide_drive_check(const struct ide_drive *d)
{
	if (d->xfer > IDE_XFER_DMA)
		return "bad transfer state";
	if (!ide_present(d))
		return d->xfer || d->irq_pending || d->status ? "state for an absent drive" : NULL;
	if (d->irq_pending > 1 || d->write_cache > 1 || d->dma > 1)
		return "flag out of range";
	if (!ide_dma_mode_valid(d->dma_mode))
		return "bad DMA mode";
	if (d->buf_len > IDE_BUF_SIZE || d->drq_end > d->buf_len || d->buf_pos > d->drq_end)
		return "buffer position out of range";
	if (d->dma && d->xfer == IDE_XFER_IDLE)
		return "DMA flag without a command";
	return ide_is_cd(d) ? ide_cd_check(d) : ide_disk_check(d);
}

/* A request in flight when the state was saved never completed here: issue it again. A DMA
 * write takes its data from guest memory again, when the engine lets it. */
static void ide_reissue(struct ide_channel *chan, struct ide_drive *d)
{
	if (d->xfer == IDE_XFER_IO && d->dma && d->io_op == BLOCK_WRITE)
		d->xfer = IDE_XFER_DMA;
	if (d->xfer == IDE_XFER_IO)
		ide_submit(d, d->io_op);
	else if (d->xfer == IDE_XFER_DMA)
		ide_dma_pump(chan, d);
}

int ide_channel_post_load(struct ide_channel *chan, char **error)
{
	for (int i = 0; i < 2; i++) {
		const char *why = ide_drive_check(&chan->drive[i]);
		if (!why && chan->sig_latched > 1)
			why = "flag out of range";
		if (why) {
			*error = g_strdup_printf("ide: drive %d: %s", i, why);
			ide_channel_reset(chan);
			return -1;
		}
	}
	for (int i = 0; i < 2; i++) {
		struct ide_drive *d = &chan->drive[i];
		d->io_gen++; /* whatever was in flight before the load is not ours any more */
		ide_reissue(chan, d);
	}
	ide_update_irq(chan);
	return 0;
}
