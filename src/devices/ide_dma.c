/*
 * IDE channel: commands whose data moves by bus-master DMA (ATA-6 DMA protocol, and the PACKET
 * commands that chose DMA). The engine is the PIIX's (piix_ide.c), reached through
 * struct ide_dma_ops; the data goes in chunks of at most IDE_DMA_CHUNK bytes.
 */
#include "devices/ide_internal.h"

#include <glib.h>

#include "log.h"

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
void ide_dma_pump(struct ide_channel *chan, struct ide_drive *d)
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
void ide_dma_begin(struct ide_channel *chan, struct ide_drive *d)
{
	d->dma = 1;
	d->dma_pos = 0;
	d->xfer = IDE_XFER_DMA;
	d->status = ST_BSY | ST_READY;
	ide_dma_pump(chan, d);
}

/* READ/WRITE DMA (EXT) (ATA-6 clause 8): the range is checked, the engine does the rest. */
void ide_cmd_dma(struct ide_channel *chan, struct ide_drive *d)
{
	d->buf_pos = d->buf_len = d->drq_end = 0;
	ide_dma_begin(chan, d);
}

/* A chunk's request is done. A read goes to memory now, unless the engine was stopped meanwhile:
 * then the chunk is read again once it restarts. */
void ide_dma_io_done(struct ide_channel *chan, struct ide_drive *d, uint8_t *data)
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
