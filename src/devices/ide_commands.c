/*
 * IDE channel: the handlers the command table (ide.c) points at — IDENTIFY DEVICE and IDENTIFY
 * PACKET DEVICE, the non-data commands, SET FEATURES, diagnostics and DEVICE RESET. The data
 * commands' protocols are ide_transfer.c and ide_dma.c.
 */
#include "devices/ide_internal.h"

#include <glib.h>
#include <string.h>

/* IDENTIFY words 60-61 hold at most what 28-bit LBA addresses. */
#define IDE_LBA28_MAX 0x0FFFFFFFu

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

void ide_identify_init(struct ide_drive *d, bool other_present)
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
void ide_load_signature(struct ide_channel *chan, const struct ide_drive *d)
{
	chan->nsector = 1;
	chan->lba_low = 1;
	chan->lba_mid = ide_is_cd(d) ? 0x14 : 0;
	chan->lba_high = ide_is_cd(d) ? 0xEB : 0;
}

void ide_cmd_identify(struct ide_channel *chan, struct ide_drive *d)
{
	if (ide_is_cd(d)) {
		ide_load_signature(chan, d);
		ide_abort(chan, d);
		return;
	}
	ide_send_identify(chan, d);
}

void ide_cmd_identify_packet(struct ide_channel *chan, struct ide_drive *d)
{
	ide_send_identify(chan, d);
}

/* ---- the other command handlers ---- */

void ide_cmd_read(struct ide_channel *chan, struct ide_drive *d)
{
	(void)chan;
	ide_read_block(d);
}

void ide_cmd_write(struct ide_channel *chan, struct ide_drive *d)
{
	(void)chan;
	ide_out_open(d);
}

void ide_cmd_flush(struct ide_channel *chan, struct ide_drive *d)
{
	(void)chan;
	d->block = 0;
	ide_submit(d, BLOCK_FLUSH);
}

/* RECALIBRATE, SEEK, READ VERIFY (range already checked), IDLE and STANDBY: nothing to move,
 * the medium is always ready. */
void ide_cmd_done(struct ide_channel *chan, struct ide_drive *d)
{
	ide_complete(chan, d);
}

void ide_cmd_check_power(struct ide_channel *chan, struct ide_drive *d)
{
	chan->nsector = 0xFF; /* CHECK POWER MODE: FFh = active or idle */
	ide_complete(chan, d);
}

/* SET MULTIPLE MODE: powers of two up to word 47's limit; 0 turns multiple mode off. */
void ide_cmd_set_multiple(struct ide_channel *chan, struct ide_drive *d)
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
void ide_cmd_init_params(struct ide_channel *chan, struct ide_drive *d)
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
bool ide_dma_mode_valid(uint8_t mode)
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

void ide_cmd_set_features(struct ide_channel *chan, struct ide_drive *d)
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
void ide_drives_ready(struct ide_channel *chan)
{
	for (int i = 0; i < 2; i++)
		if (ide_present(&chan->drive[i]))
			ide_drive_ready(&chan->drive[i]);
	ide_set_signature(chan);
}

/* EXECUTE DEVICE DIAGNOSTIC: both devices run it; device 0 reports for both and interrupts. */
void ide_cmd_diagnostic(struct ide_channel *chan, struct ide_drive *d)
{
	(void)d;
	ide_drives_ready(chan);
	ide_raise(chan, ide_present(&chan->drive[0]) ? &chan->drive[0] : &chan->drive[1]);
}

/* DEVICE RESET (ATA-6 clause 8): this drive alone, whatever it was doing; signature, no INTRQ. */
void ide_cmd_device_reset(struct ide_channel *chan, struct ide_drive *d)
{
	ide_drive_ready(d);
	ide_load_signature(chan, d);
}
