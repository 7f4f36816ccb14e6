/*
 * IDE channel: ATA/ATAPI-6 (T13/1410D rev 3b) register protocol, PIO data transfers.
 * Section numbers below cite that standard. Each drive is a small state machine (enum
 * ide_xfer): a command either finishes at once, or moves DRQ blocks through the data port
 * with block requests in between, during which the drive is BSY.
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

/* Default CHS translation, reported in IDENTIFY words 1/3/6: 16 heads, 63 sectors. */
#define IDE_DEFAULT_HEADS 16
#define IDE_DEFAULT_SPT 63
#define IDE_LBA28_MAX 0x0FFFFFFFu

/* ---- the command table ---- */

/* Drive kinds that accept a command. ATAPI-only commands (DEVICE RESET, PACKET, IDENTIFY
 * PACKET DEVICE) carry no kind until the CD-ROM exists, so a hard disk aborts them — which is
 * how SeaBIOS tells a disk from a CD drive. */
#define K_DISK (1u << IDE_KIND_DISK)
#define K_ATAPI 0u

enum {
	CF_SECTORS = 1 << 0,  /* address and count from the task file, range-checked first */
	CF_LBA48 = 1 << 1,    /* 48-bit address and 16-bit count from the HOB register pairs */
	CF_IN = 1 << 2,       /* PIO data-in protocol */
	CF_OUT = 1 << 3,      /* PIO data-out protocol */
	CF_MULTIPLE = 1 << 4, /* blocks of the SET MULTIPLE MODE size; aborts while that is 0 */
	CF_BOTH = 1 << 5,     /* addressed to both devices: runs even if the selected one is absent */
};

struct ide_cmd {
	const char *name;
	void (*run)(struct ide_channel *chan, struct ide_drive *d);
	uint8_t kinds;
	uint8_t flags;
};

static void ide_cmd_identify(struct ide_channel *chan, struct ide_drive *d);
static void ide_cmd_read(struct ide_channel *chan, struct ide_drive *d);
static void ide_cmd_write(struct ide_channel *chan, struct ide_drive *d);
static void ide_cmd_flush(struct ide_channel *chan, struct ide_drive *d);
static void ide_cmd_done(struct ide_channel *chan, struct ide_drive *d);
static void ide_cmd_check_power(struct ide_channel *chan, struct ide_drive *d);
static void ide_cmd_set_multiple(struct ide_channel *chan, struct ide_drive *d);
static void ide_cmd_init_params(struct ide_channel *chan, struct ide_drive *d);
static void ide_cmd_set_features(struct ide_channel *chan, struct ide_drive *d);
static void ide_cmd_diagnostic(struct ide_channel *chan, struct ide_drive *d);

#define RD (CF_SECTORS | CF_IN)
#define WR (CF_SECTORS | CF_OUT)

/* ATA-6 clause 8, one entry per command; opcodes without an entry abort. */
static const struct ide_cmd ide_cmds[256] = {
	[0x08] = { "DEVICE RESET", NULL, K_ATAPI, 0 },
	[0x10 ... 0x1F] = { "RECALIBRATE", ide_cmd_done, K_DISK, 0 },
	[0x20] = { "READ SECTORS", ide_cmd_read, K_DISK, RD },
	[0x21] = { "READ SECTORS (no retry)", ide_cmd_read, K_DISK, RD },
	[0x24] = { "READ SECTORS EXT", ide_cmd_read, K_DISK, RD | CF_LBA48 },
	[0x29] = { "READ MULTIPLE EXT", ide_cmd_read, K_DISK, RD | CF_LBA48 | CF_MULTIPLE },
	[0x30] = { "WRITE SECTORS", ide_cmd_write, K_DISK, WR },
	[0x31] = { "WRITE SECTORS (no retry)", ide_cmd_write, K_DISK, WR },
	[0x34] = { "WRITE SECTORS EXT", ide_cmd_write, K_DISK, WR | CF_LBA48 },
	[0x39] = { "WRITE MULTIPLE EXT", ide_cmd_write, K_DISK, WR | CF_LBA48 | CF_MULTIPLE },
	[0x40] = { "READ VERIFY SECTORS", ide_cmd_done, K_DISK, CF_SECTORS },
	[0x41] = { "READ VERIFY SECTORS (no retry)", ide_cmd_done, K_DISK, CF_SECTORS },
	[0x42] = { "READ VERIFY SECTORS EXT", ide_cmd_done, K_DISK, CF_SECTORS | CF_LBA48 },
	[0x70 ... 0x7F] = { "SEEK", ide_cmd_done, K_DISK, 0 },
	[0x90] = { "EXECUTE DEVICE DIAGNOSTIC", ide_cmd_diagnostic, K_DISK, CF_BOTH },
	[0x91] = { "INITIALIZE DEVICE PARAMETERS", ide_cmd_init_params, K_DISK, 0 },
	[0xA0] = { "PACKET", NULL, K_ATAPI, 0 },
	[0xA1] = { "IDENTIFY PACKET DEVICE", NULL, K_ATAPI, 0 },
	[0xC4] = { "READ MULTIPLE", ide_cmd_read, K_DISK, RD | CF_MULTIPLE },
	[0xC5] = { "WRITE MULTIPLE", ide_cmd_write, K_DISK, WR | CF_MULTIPLE },
	[0xC6] = { "SET MULTIPLE MODE", ide_cmd_set_multiple, K_DISK, 0 },
	[0xE0] = { "STANDBY IMMEDIATE", ide_cmd_done, K_DISK, 0 },
	[0xE1] = { "IDLE IMMEDIATE", ide_cmd_done, K_DISK, 0 },
	[0xE2] = { "STANDBY", ide_cmd_done, K_DISK, 0 },
	[0xE3] = { "IDLE", ide_cmd_done, K_DISK, 0 },
	[0xE5] = { "CHECK POWER MODE", ide_cmd_check_power, K_DISK, 0 },
	[0xE7] = { "FLUSH CACHE", ide_cmd_flush, K_DISK, 0 },
	[0xEA] = { "FLUSH CACHE EXT", ide_cmd_flush, K_DISK, 0 },
	[0xEC] = { "IDENTIFY DEVICE", ide_cmd_identify, K_DISK, 0 },
	[0xEF] = { "SET FEATURES", ide_cmd_set_features, K_DISK, 0 },
};

#undef RD
#undef WR

/* ---- small helpers ---- */

static struct ide_drive *ide_cur(struct ide_channel *chan)
{
	return &chan->drive[(chan->select & DEV_DEV) ? 1 : 0];
}

static bool ide_present(const struct ide_drive *d)
{
	return d->kind != IDE_KIND_NONE;
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
	d->status = ST_READY;
	ide_raise(chan, d);
}

static void ide_fail(struct ide_channel *chan, struct ide_drive *d, uint8_t error)
{
	d->xfer = IDE_XFER_IDLE;
	d->error = error;
	d->status = ST_READY | ST_ERR;
	ide_raise(chan, d);
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

/* A request owns a bounce buffer, so a request that a reset or a load disowned (io_gen moved
 * on) can finish later without touching the drive's buffer. */
struct ide_request {
	struct block_req req;
	struct ide_drive *drive;
	uint32_t gen;
	uint8_t data[];
};

static void ide_io_done(struct ide_channel *chan, struct ide_drive *d, int ret,
			const uint8_t *data);

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

/* Starts OP on the current block; BSY until ide_io_done. The backend may complete inline. */
static void ide_submit(struct ide_drive *d, enum block_op op)
{
	size_t len = op == BLOCK_FLUSH ? 0 : (size_t)d->block * BLOCK_SECTOR;
	struct ide_request *r = g_malloc(sizeof(*r) + len);
	r->drive = d;
	r->gen = d->io_gen;
	r->req = (struct block_req){
		.op = op,
		.offset = d->lba * BLOCK_SECTOR,
		.buf = r->data,
		.len = len,
		.done = ide_request_done,
		.opaque = r,
	};
	if (op == BLOCK_WRITE)
		memcpy(r->data, d->buf, len);
	d->xfer = IDE_XFER_IO;
	d->io_op = op;
	d->status = ST_BSY | ST_READY;
	block_submit(d->bd, &r->req);
}

/* ---- PIO data-in and data-out protocols ---- */

/* A block of LEN bytes is in buf: DRQ, and INTRQ for each block (PIO data-in). */
static void ide_in_ready(struct ide_channel *chan, struct ide_drive *d, uint16_t len)
{
	d->buf_pos = 0;
	d->buf_len = len;
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
static void ide_in_drained(struct ide_drive *d)
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
	d->buf_len = d->block * BLOCK_SECTOR;
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

static void ide_io_done(struct ide_channel *chan, struct ide_drive *d, int ret,
			const uint8_t *data)
{
	if (ret < 0) {
		log_once(LOG_WARN, "ide: %s: %s failed: %s", d->bd->path, ide_cmds[d->cmd].name,
			 g_strerror(-ret));
		/* READ error outputs: UNC; WRITE and FLUSH CACHE error outputs: ABRT */
		ide_fail(chan, d, d->io_op == BLOCK_READ ? ERR_UNC : ERR_ABRT);
		return;
	}
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

static uint16_t ide_data_read16(struct ide_channel *chan)
{
	struct ide_drive *d = ide_cur(chan);
	if (d->xfer != IDE_XFER_IN || d->buf_pos + 2 > d->buf_len)
		return ide_channel_has_drive(chan) ? 0xFFFF : 0; /* no DRQ: nothing to read */
	uint16_t v = d->buf[d->buf_pos] | d->buf[d->buf_pos + 1] << 8;
	d->buf_pos += 2;
	if (d->buf_pos >= d->buf_len)
		ide_in_drained(d);
	return v;
}

static void ide_data_write16(struct ide_channel *chan, uint16_t v)
{
	struct ide_drive *d = ide_cur(chan);
	if (d->xfer != IDE_XFER_OUT || d->buf_pos + 2 > d->buf_len)
		return; /* no DRQ: the write goes nowhere */
	d->buf[d->buf_pos] = v;
	d->buf[d->buf_pos + 1] = v >> 8;
	d->buf_pos += 2;
	if (d->buf_pos >= d->buf_len)
		ide_submit(d, BLOCK_WRITE);
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

/* ---- IDENTIFY DEVICE (ATA-6 clause 8, table of IDENTIFY words) ---- */

/* ATA strings: two characters a word, the first in the high byte, padded with spaces. */
static void ide_id_string(uint16_t *id, unsigned word, unsigned chars, const char *s)
{
	size_t n = strlen(s);
	for (unsigned i = 0; i < chars; i++) {
		uint8_t c = i < n ? (uint8_t)s[i] : ' ';
		id[word + i / 2] |= (i % 2) ? c : c << 8;
	}
}

/* A serial that stays the same from run to run: a hash of the image's name and position. */
static void ide_make_serial(const struct ide_drive *d, char out[21])
{
	uint32_t h = 2166136261u; /* FNV-1a */
	for (const char *p = d->bd->path; *p; p++)
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

static void ide_identify_init(struct ide_drive *d, bool other_present)
{
	uint16_t *id = d->identify;
	uint32_t lba28 = d->sectors < IDE_LBA28_MAX ? d->sectors : IDE_LBA28_MAX;
	char serial[21];
	memset(d->identify, 0, sizeof(d->identify));
	ide_make_serial(d, serial);
	id[0] = 0x0040; /* ATA device, fixed medium */
	id[1] = d->cyls;
	id[3] = d->heads;
	id[6] = d->spt;
	ide_id_string(id, 10, 20, serial);
	ide_id_string(id, 23, 8, "0.1");
	ide_id_string(id, 27, 40, "PCVM HARDDISK");
	id[47] = 0x8000 | IDE_MAX_MULT;
	id[49] = 0x0E00; /* IORDY, IORDY may be disabled, LBA; no DMA until bus-master DMA exists */
	id[50] = 0x4000;
	id[51] = 0x0200; /* obsolete PIO timing: mode 2 */
	id[53] = 0x0003; /* words 54-58 and 64-70 valid */
	id[60] = lba28;
	id[61] = lba28 >> 16;
	id[64] = 0x0003; /* PIO modes 3 and 4 */
	id[67] = 120;    /* PIO cycle times, ns */
	id[68] = 120;
	id[80] = 0x007E; /* ATA-1 .. ATA/ATAPI-6 */
	id[82] = 0x0028; /* write cache, power management */
	id[83] = 0x7400; /* FLUSH CACHE EXT, FLUSH CACHE, 48-bit address */
	id[84] = 0x4000;
	id[85] = 0x0008; /* power management enabled; write cache bit set per command */
	id[86] = 0x3400;
	id[87] = 0x4000;
	id[93] = ide_reset_result(d, other_present);
	for (int i = 0; i < 4; i++)
		id[100 + i] = d->sectors >> (16 * i);
}

/* The words that depend on what the guest set, then the integrity word 255 (A5h + checksum). */
static void ide_identify_current(const struct ide_drive *d, uint16_t *id)
{
	uint32_t chs = (uint32_t)d->cyls * d->heads * d->spt;
	id[54] = d->cyls;
	id[55] = d->heads;
	id[56] = d->spt;
	id[57] = chs;
	id[58] = chs >> 16;
	id[59] = d->mult ? 0x0100 | d->mult : 0;
	if (d->write_cache)
		id[85] |= 0x0020;
	uint8_t sum = 0xA5;
	for (int i = 0; i < 255; i++)
		sum += (id[i] & 0xFF) + (id[i] >> 8);
	id[255] = (uint16_t)(uint8_t)-sum << 8 | 0xA5;
}

static void ide_cmd_identify(struct ide_channel *chan, struct ide_drive *d)
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

/* SET FEATURES 03h (set transfer mode): PIO default or PIO flow-control modes 0-4. DMA modes abort:
 * IDENTIFY advertises none yet. */
static bool ide_transfer_mode_ok(uint8_t mode)
{
	return mode <= 0x01 || (mode >= 0x08 && mode <= 0x0C);
}

static void ide_cmd_set_features(struct ide_channel *chan, struct ide_drive *d)
{
	bool ok = true;
	switch (chan->feature) {
	case 0x02: d->write_cache = true; break;
	case 0x82: d->write_cache = false; break;
	case 0x03: ok = ide_transfer_mode_ok(chan->nsector); break;
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

/* The register values a device leaves after reset and diagnostics (the ATA signature). */
static void ide_set_signature(struct ide_channel *chan)
{
	chan->nsector = 1;
	chan->lba_low = 1;
	chan->lba_mid = 0;
	chan->lba_high = 0;
	chan->select = 0;
	chan->hob_nsector = chan->hob_lba_low = chan->hob_lba_mid = chan->hob_lba_high = 0;
}

/* Both drives back to "ready, diagnostics passed", without an interrupt. */
static void ide_drives_ready(struct ide_channel *chan)
{
	for (int i = 0; i < 2; i++) {
		struct ide_drive *d = &chan->drive[i];
		if (!ide_present(d))
			continue;
		d->io_gen++; /* a request still in flight now belongs to no one */
		d->xfer = IDE_XFER_IDLE;
		d->status = ST_READY;
		d->error = ERR_DIAG_PASSED;
		d->irq_pending = false;
	}
	ide_set_signature(chan);
}

/* EXECUTE DEVICE DIAGNOSTIC: both devices run it; device 0 reports for both and interrupts. */
static void ide_cmd_diagnostic(struct ide_channel *chan, struct ide_drive *d)
{
	(void)d;
	ide_drives_ready(chan);
	ide_raise(chan, ide_present(&chan->drive[0]) ? &chan->drive[0] : &chan->drive[1]);
}

/* The one dispatcher: applies the rules every command shares, then the table's handler. */
static void ide_exec(struct ide_channel *chan, uint8_t op)
{
	const struct ide_cmd *c = &ide_cmds[op];
	struct ide_drive *d = ide_cur(chan);
	if (!ide_present(d) && !(c->flags & CF_BOTH))
		return; /* nobody answers for an absent device */
	if (!ide_channel_has_drive(chan) || (d->status & ST_BSY))
		return; /* a command written while BSY is not accepted */
	d->irq_pending = false; /* writing Command clears the pending interrupt */
	ide_update_irq(chan);
	if (c->flags & CF_BOTH) {
		c->run(chan, d);
		return;
	}
	d->cmd = op;
	d->error = 0;
	d->xfer = IDE_XFER_IDLE;
	d->status = ST_READY;
	if (!c->run || !(c->kinds & (1u << d->kind))) {
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

static void ide_reg_write(struct ide_channel *chan, unsigned reg, uint8_t val)
{
	chan->devctl &= ~DC_HOB; /* Device Control: any Command Block write clears HOB */
	if (reg >= 1 && reg <= 5) {
		uint8_t *cur = ide_chan_byte(chan, ide_pairs[reg].cur);
		*ide_chan_byte(chan, ide_pairs[reg].hob) = *cur;
		*cur = val;
	} else if (reg == 6) {
		chan->select = val;
		ide_update_irq(chan); /* the other device may own INTRQ now */
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

/* ---- setup, reset, state ---- */

static void ide_drive_power_on(struct ide_drive *d)
{
	uint64_t cyls = d->sectors / (IDE_DEFAULT_HEADS * IDE_DEFAULT_SPT);
	d->heads = IDE_DEFAULT_HEADS;
	d->spt = IDE_DEFAULT_SPT;
	/* IDENTIFY word 1: at most 16383 cylinders are reported; at least 1 for a tiny image */
	d->cyls = cyls > 16383 ? 16383 : cyls ? cyls : 1;
	d->mult = 0;
	d->write_cache = true;
	d->cmd = 0;
	d->io_op = 0;
	d->lba = 0;
	d->remaining = 0;
	d->block = 0;
	d->buf_pos = d->buf_len = 0;
	memset(d->buf, 0, sizeof(d->buf));
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

static void ide_drive_init(struct ide_channel *chan, unsigned unit, struct block_dev *bd)
{
	struct ide_drive *d = &chan->drive[unit];
	memset(d, 0, sizeof(*d));
	d->chan = chan;
	d->unit = unit;
	d->bd = bd;
	d->kind = bd ? IDE_KIND_DISK : IDE_KIND_NONE;
	d->sectors = bd ? block_size(bd) / BLOCK_SECTOR : 0;
}

void ide_channel_init(struct ide_channel *chan, const struct irq_line *irq,
		      struct block_dev *master, struct block_dev *slave)
{
	memset(chan, 0, sizeof(*chan));
	if (irq)
		chan->irq = *irq;
	ide_drive_init(chan, 0, master);
	ide_drive_init(chan, 1, slave);
	ide_channel_reset(chan);
	for (int i = 0; i < 2; i++)
		if (ide_present(&chan->drive[i]))
			ide_identify_init(&chan->drive[i], ide_present(&chan->drive[!i]));
}

void ide_channel_set_lock(struct ide_channel *chan, pthread_mutex_t *lock)
{
	chan->lock = lock;
}

/* Sector state of a drive between blocks: block inside the command, command inside the disk. */
static bool ide_sectors_ok(const struct ide_drive *d)
{
	return d->block >= 1 && d->block <= d->remaining && d->lba < d->sectors &&
	       d->remaining <= d->sectors - d->lba;
}

/* Whether the drive, in its transfer state, is in the middle of a sector command. */
static bool ide_mid_sectors(const struct ide_drive *d, unsigned flags)
{
	switch (d->xfer) {
	case IDE_XFER_IN: return flags & CF_SECTORS;
	case IDE_XFER_OUT: return true;
	case IDE_XFER_IO: return d->io_op != BLOCK_FLUSH || (flags & CF_OUT);
	default: return false;
	}
}

/* The transfer state fits the command: a request of a kind the command makes, a buffer
 * holding exactly the block where the protocol needs one. */
static bool ide_xfer_fits(const struct ide_drive *d, unsigned flags)
{
	bool whole_block = d->buf_len == d->block * BLOCK_SECTOR;
	if (d->xfer != IDE_XFER_IDLE && (flags & CF_MULTIPLE) && !d->mult)
		return false; /* the next block would be empty */
	switch (d->xfer) {
	case IDE_XFER_IN: return !(flags & CF_SECTORS) || whole_block;
	case IDE_XFER_OUT: return (flags & CF_OUT) && whole_block;
	case IDE_XFER_IO:
		if (d->io_op == BLOCK_READ)
			return flags & CF_IN;
		if (d->io_op == BLOCK_WRITE)
			return (flags & CF_OUT) && whole_block;
		return d->io_op == BLOCK_FLUSH;
	default: return true;
	}
}

/* Why a loaded drive state cannot be used, or NULL. */
static const char *ide_drive_check(const struct ide_drive *d)
{
	unsigned flags = ide_cmds[d->cmd].flags;
	if (d->xfer > IDE_XFER_IO)
		return "bad transfer state";
	if (!ide_present(d))
		return d->xfer || d->irq_pending || d->status ? "state for an absent drive" : NULL;
	if (d->irq_pending > 1 || d->write_cache > 1)
		return "flag out of range";
	if (d->mult > IDE_MAX_MULT || (d->mult & (d->mult - 1)) || !d->heads || !d->spt)
		return "bad multiple count or geometry";
	if (d->buf_len > IDE_BUF_SIZE || d->buf_pos > d->buf_len || (d->buf_len | d->buf_pos) & 1 ||
	    d->block > IDE_MAX_MULT || d->remaining > 65536)
		return "buffer position or block size out of range";
	if (!ide_xfer_fits(d, flags))
		return "transfer state does not fit the command";
	if (ide_mid_sectors(d, flags) && !ide_sectors_ok(d))
		return "block outside the command or the disk";
	return NULL;
}

int ide_channel_post_load(struct ide_channel *chan, char **error)
{
	for (int i = 0; i < 2; i++) {
		const char *why = ide_drive_check(&chan->drive[i]);
		if (why) {
			*error = g_strdup_printf("ide: drive %d: %s", i, why);
			ide_channel_reset(chan);
			return -1;
		}
	}
	for (int i = 0; i < 2; i++) {
		struct ide_drive *d = &chan->drive[i];
		d->io_gen++; /* whatever was in flight before the load is not ours any more */
		if (d->xfer == IDE_XFER_IO)
			ide_submit(d, d->io_op); /* the saved request never completed: run it again */
	}
	ide_update_irq(chan);
	return 0;
}
