/*
 * IDE channel: how data moves by PIO (ATA/ATAPI-6 clause 9, PIO data-in and data-out, the
 * PACKET protocol) and how the block requests behind it are made and completed. The DMA side is
 * ide_dma.c; the command table and the registers are ide.c.
 */
#include "devices/ide_internal.h"

#include <glib.h>
#include <string.h>

#include "log.h"

/* Interrupt reason, the Sector Count register of a PACKET device (ATA-6 PACKET protocol) */
#define IR_COD 0x01 /* command packet, or status at the end */
#define IR_IO 0x02  /* towards the host */
/* Features register of PACKET */
#define PKT_DMA 0x01
#define PKT_OVL 0x02

/* ---- small helpers ---- */

bool ide_channel_irq_asserted(const struct ide_channel *chan)
{
	const struct ide_drive *d = &chan->drive[(chan->select & DEV_DEV) ? 1 : 0];
	/* ATA-6 INTRQ: only the selected device drives it, and only while nIEN is clear */
	return ide_present(d) && d->irq_pending && !(chan->devctl & DC_NIEN);
}

void ide_update_irq(struct ide_channel *chan)
{
	irq_set_level(&chan->irq, ide_channel_irq_asserted(chan));
}

void ide_raise(struct ide_channel *chan, struct ide_drive *d)
{
	d->irq_pending = true;
	ide_update_irq(chan);
}

/* Command completed without data (or after its last data-out block): INTRQ (non-data protocol). */
void ide_complete(struct ide_channel *chan, struct ide_drive *d)
{
	d->xfer = IDE_XFER_IDLE;
	d->dma = 0;
	d->status = ST_READY;
	ide_raise(chan, d);
}

/* The command ends in error; INTRQ unless the protocol has nobody waiting for one. */
void ide_fail_irq(struct ide_channel *chan, struct ide_drive *d, uint8_t error, bool irq)
{
	d->xfer = IDE_XFER_IDLE;
	d->dma = 0;
	d->error = error;
	d->status = ST_READY | ST_ERR;
	if (irq)
		ide_raise(chan, d);
}

void ide_fail(struct ide_channel *chan, struct ide_drive *d, uint8_t error)
{
	ide_fail_irq(chan, d, error, true);
}

void ide_abort(struct ide_channel *chan, struct ide_drive *d)
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

static void ide_io_done(struct ide_channel *chan, struct ide_drive *d, int ret, uint8_t *data);

static void ide_request_done(struct block_req *req, int ret)
{
	struct ide_request *r = req->opaque;
	struct ide_drive *d = r->drive;
	pthread_mutex_t *lock = d->chan->lock;
	/* a clear of the bus-master Interrupt bit the guest posted before this completion must
	 * not land after the completion sets it */
	machine_flush_posted(d->chan->hooks);
	if (lock)
		pthread_mutex_lock(lock);
	if (r->gen == d->io_gen && d->xfer == IDE_XFER_IO)
		ide_io_done(d->chan, d, ret, r->data);
	if (lock)
		pthread_mutex_unlock(lock);
	g_free(r);
}

/* A request for OP on the current block (d->block units at d->lba), its buffer not filled. */
struct ide_request *ide_request_new(struct ide_drive *d, enum block_op op)
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
void ide_request_send(struct ide_drive *d, struct ide_request *r, bool now)
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
void ide_submit(struct ide_drive *d, enum block_op op)
{
	struct ide_request *r = ide_request_new(d, op);
	if (op == BLOCK_WRITE)
		memcpy(r->data, d->buf, r->req.len);
	ide_request_send(d, r, op != BLOCK_FLUSH);
}

/* ---- PIO data-in and data-out protocols (ATA commands) ---- */

/* A block of LEN bytes is in buf: DRQ, and INTRQ for each block (PIO data-in). */
void ide_in_ready(struct ide_channel *chan, struct ide_drive *d, uint16_t len)
{
	d->buf_pos = 0;
	d->buf_len = d->drq_end = len;
	d->xfer = IDE_XFER_IN;
	d->status = ST_READY | ST_DRQ;
	ide_raise(chan, d);
}

void ide_read_block(struct ide_drive *d)
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
void ide_out_open(struct ide_drive *d)
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

/* The ATAPI command ends: status, interrupt reason "command complete" (IO and CoD), INTRQ. */
void ide_atapi_end(struct ide_channel *chan, struct ide_drive *d, bool irq)
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
void ide_atapi_fail(struct ide_channel *chan, struct ide_drive *d, uint8_t key, uint8_t asc,
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
void ide_cmd_packet(struct ide_channel *chan, struct ide_drive *d)
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
uint16_t ide_data_read16(struct ide_channel *chan)
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

void ide_data_write16(struct ide_channel *chan, uint16_t v)
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
