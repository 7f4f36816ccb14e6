/*
 * IDE channel: ATA/ATAPI-6 (T13/1410D rev 3b) register protocol, PIO and bus-master DMA data
 * transfers, and the PACKET protocol of ATAPI drives. Section numbers below cite that standard.
 * Each drive is a small state machine (enum ide_xfer): a command either finishes at once, or
 * moves DRQ blocks through the data port (or DMA chunks through the bus master) with block
 * requests in between, during which the drive is BSY. Requests may complete inline or later on
 * the main thread; either way the completion runs under the channel's lock.
 * This file: the command table and its dispatcher, the registers, reset, media and state; the
 * protocols are in ide_transfer.c and ide_dma.c, the command handlers in ide_commands.c.
 */
#include "devices/ide_internal.h"

#include <glib.h>
#include <stddef.h>
#include <string.h>

#include "log.h"

/* Default CHS translation, reported in IDENTIFY words 1/3/6: 16 heads, 63 sectors. */
#define IDE_DEFAULT_HEADS 16
#define IDE_DEFAULT_SPT 63
/* Transfer mode selected at power-on (SET FEATURES 03h value): multiword DMA mode 2, the
 * fastest the PIIX3 does. */
#define IDE_DEFAULT_DMA_MODE 0x22

/* ---- the command table ---- */

/* Drive kinds that accept a command. A hard disk aborts the ATAPI-only commands (DEVICE RESET,
 * PACKET, IDENTIFY PACKET DEVICE) — which is how SeaBIOS tells a disk from a CD drive — and a
 * PACKET device only has the few ATA commands of the PACKET command feature set. */
#define K_DISK (1u << IDE_KIND_DISK)
#define K_CD (1u << IDE_KIND_CDROM)

#define RD (CF_SECTORS | CF_IN)
#define WR (CF_SECTORS | CF_OUT)
#define KB (K_DISK | K_CD)

/* ATA-6 clause 8, one entry per command; opcodes without an entry abort. */
const struct ide_cmd ide_cmds[256] = {
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

/* ---- the dispatcher ---- */

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
	/* Features, Sector Count, LBA Low/Mid/High, Device: a guest writes all six for each
	 * command, which the Command register write (7) then acts on */
	.posted = { { 1, 6 } },
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
	/* an idle drive's block is the last one of its command, up to a DMA chunk: unused */
	if ((d->xfer != IDE_XFER_IDLE && d->block > IDE_MAX_MULT) || !ide_xfer_fits(d, flags))
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

int ide_channel_check(const struct ide_channel *chan, char **error)
{
	for (int i = 0; i < 2; i++) {
		const char *why = ide_drive_check(&chan->drive[i]);
		if (!why && chan->sig_latched > 1)
			why = "flag out of range";
		if (why) {
			*error = g_strdup_printf("ide: drive %d: %s", i, why);
			return -1;
		}
	}
	return 0;
}

int ide_channel_post_load(struct ide_channel *chan, char **error)
{
	if (ide_channel_check(chan, error) < 0) {
		ide_channel_reset(chan);
		return -1;
	}
	for (int i = 0; i < 2; i++) {
		struct ide_drive *d = &chan->drive[i];
		d->io_gen++; /* whatever was in flight before the load is not ours any more */
		ide_reissue(chan, d);
	}
	ide_update_irq(chan);
	return 0;
}
