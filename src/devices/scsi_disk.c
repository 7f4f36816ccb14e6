/*
 * SCSI direct-access disk command set. References: SPC-3 (T10/1416-D r23) for TEST UNIT READY,
 * REQUEST SENSE, INQUIRY and its vital product data, MODE SELECT/SENSE, REPORT LUNS and the unit
 * attention condition; SBC-3 (T10/1799-D r16) for the block commands, READ CAPACITY and the
 * mode pages of a disk. One table lists the commands with the rules they share (unit attention
 * handling, write protection); one dispatcher applies those rules before a handler runs.
 */
#include "devices/scsi_disk.h"

#include <string.h>

/* Additional sense codes and qualifiers (SPC-3 annex D) */
#define ASC_INVALID_OPCODE 0x20, 0x00
#define ASC_LBA_OUT_OF_RANGE 0x21, 0x00
#define ASC_INVALID_FIELD 0x24, 0x00
#define ASC_LUN_NOT_SUPPORTED 0x25, 0x00
#define ASC_WRITE_PROTECTED 0x27, 0x00
#define ASC_POWER_ON_RESET 0x29, 0x00
#define ASC_SAVING_UNSUPPORTED 0x39, 0x00

#define SERIAL_MAX 20 /* characters of the serial number used (VPD page 80h) */
#define RESPONSE_MAX 256 /* the longest response here, INQUIRY's page 83h, is under 100 bytes */

struct sd_ctx {
	struct scsi_disk_state *st;
	const struct scsi_disk_medium *m;
	const uint8_t *cdb; /* SCSI_CDB_MAX bytes, zero past what the initiator sent */
	uint8_t *buf;	    /* RESPONSE_MAX bytes, zeroed */
	struct scsi_disk_result *res;
};

/* ---- small helpers ---- */

void scsi_disk_fail(struct scsi_disk_state *st, struct scsi_disk_result *res, uint8_t key,
		    uint8_t asc, uint8_t ascq)
{
	st->sense_key = key;
	st->asc = asc;
	st->ascq = ascq;
	*res = (struct scsi_disk_result){ .phase = SCSI_DISK_CHECK };
}

static void fail(struct sd_ctx *c, uint8_t key, uint8_t asc, uint8_t ascq)
{
	scsi_disk_fail(c->st, c->res, key, asc, ascq);
}

static void invalid_field(struct sd_ctx *c)
{
	fail(c, SCSI_SENSE_ILLEGAL_REQUEST, ASC_INVALID_FIELD);
}

/* LEN bytes of response are in the buffer; the initiator asked for at most ALLOC (SPC-3 4.3.4.6,
 * allocation length: it truncates, it never pads, and zero is not an error). */
static void data_in(struct sd_ctx *c, uint32_t len, uint32_t alloc)
{
	c->res->len = len < alloc ? len : alloc;
	c->res->phase = c->res->len ? SCSI_DISK_DATA_IN : SCSI_DISK_GOOD;
}

static const char *serial(const struct sd_ctx *c)
{
	return c->m->serial ? c->m->serial : "";
}

static size_t serial_len(const struct sd_ctx *c)
{
	return strnlen(serial(c), SERIAL_MAX);
}

/* Fixed-format sense data (SPC-3 4.5.3): current error, 10 additional bytes. */
static uint32_t put_sense(uint8_t *p, uint8_t key, uint8_t asc, uint8_t ascq)
{
	p[0] = 0x70;
	p[2] = key;
	p[7] = 10;
	p[12] = asc;
	p[13] = ascq;
	return 18;
}

/* ---- the range a block command addresses ---- */

/*
 * The LBA and the transfer length (or number of blocks) of a block command, where SBC-3 puts
 * them for the command's CDB length: 21 bits and byte 4 in a 6-byte CDB; LBA at byte 2 (32
 * bits) and a 16-bit length at byte 7 in a 10-byte one; a 32-bit length at byte 6 in a
 * 12-byte one; a 64-bit LBA and a 32-bit length at byte 10 in a 16-byte one.
 */
static void cdb_range(const uint8_t *cdb, uint64_t *lba, uint32_t *count)
{
	switch (scsi_cdb_len(cdb[0])) {
	case 6:
		*lba = (uint32_t)(cdb[1] & 0x1F) << 16 | scsi_get_be16(cdb + 2);
		*count = cdb[4];
		break;
	case 10:
		*lba = scsi_get_be32(cdb + 2);
		*count = scsi_get_be16(cdb + 7);
		break;
	case 12:
		*lba = scsi_get_be32(cdb + 2);
		*count = scsi_get_be32(cdb + 6);
		break;
	default:
		*lba = scsi_get_be64(cdb + 2);
		*count = scsi_get_be32(cdb + 10);
		break;
	}
}

/* Whether [LBA, LBA + COUNT) lies on the medium; fails the command if not (SBC-3: LOGICAL
 * BLOCK ADDRESS OUT OF RANGE). Written so that LBA + COUNT cannot overflow. */
static bool in_range(struct sd_ctx *c, uint64_t lba, uint64_t count)
{
	if (lba > c->m->blocks || count > c->m->blocks - lba) {
		fail(c, SCSI_SENSE_ILLEGAL_REQUEST, ASC_LBA_OUT_OF_RANGE);
		return false;
	}
	return true;
}

/* RDPROTECT/WRPROTECT/VRPROTECT (byte 1, bits 7:5 of the 10-, 12- and 16-byte commands): this
 * disk has no protection information, so anything but 0 is an invalid field (SBC-3 4.16). */
static bool protect_field_ok(struct sd_ctx *c)
{
	if (scsi_cdb_len(c->cdb[0]) != 6 && (c->cdb[1] >> 5)) {
		invalid_field(c);
		return false;
	}
	return true;
}

/* READ and WRITE (6/10/12/16): the blocks the transport moves. READ (6) and WRITE (6) read a
 * transfer length of 0 as 256 blocks; for the others it means no transfer, GOOD (SBC-3). */
static void transfer(struct sd_ctx *c, enum scsi_disk_phase phase)
{
	uint64_t lba;
	uint32_t count;
	cdb_range(c->cdb, &lba, &count);
	if (scsi_cdb_len(c->cdb[0]) == 6 && !count)
		count = 256;
	if (!protect_field_ok(c) || !in_range(c, lba, count) || !count)
		return;
	c->res->phase = phase;
	c->res->lba = lba;
	c->res->blocks = count;
}

static void cmd_read(struct sd_ctx *c)
{
	transfer(c, SCSI_DISK_READ);
}

/* WRITE, and WRITE AND VERIFY: an image reads back what was written, so verifying is moot. */
static void cmd_write(struct sd_ctx *c)
{
	transfer(c, SCSI_DISK_WRITE);
}

/* VERIFY (10/12/16): nothing to check on an image, only the range. BYTCHK would have the
 * initiator send data to compare, which is not supported. */
static void cmd_verify(struct sd_ctx *c)
{
	uint64_t lba;
	uint32_t count;
	if (c->cdb[1] & 0x02) {
		invalid_field(c);
		return;
	}
	cdb_range(c->cdb, &lba, &count);
	if (protect_field_ok(c))
		in_range(c, lba, count);
}

/* SYNCHRONIZE CACHE (10/16): a number of blocks of 0 means through the last block (SBC-3); the
 * whole image is flushed either way. */
static void cmd_sync_cache(struct sd_ctx *c)
{
	uint64_t lba;
	uint32_t count;
	cdb_range(c->cdb, &lba, &count);
	if (in_range(c, lba, count))
		c->res->phase = SCSI_DISK_FLUSH;
}

/* SEEK (6/10): only the range check has an effect (SBC-2; obsolete in SBC-3). */
static void cmd_seek(struct sd_ctx *c)
{
	uint64_t lba;
	uint32_t count;
	cdb_range(c->cdb, &lba, &count);
	if (lba >= c->m->blocks)
		fail(c, SCSI_SENSE_ILLEGAL_REQUEST, ASC_LBA_OUT_OF_RANGE);
}

/* ---- capacity ---- */

static uint64_t last_lba(const struct sd_ctx *c)
{
	return c->m->blocks ? c->m->blocks - 1 : 0;
}

/* READ CAPACITY (10) (SBC-3 5.12): a last LBA past 32 bits reads FFFFFFFFh, telling the
 * initiator to use READ CAPACITY (16). An LBA without PMI is an invalid field. */
static void cmd_read_capacity10(struct sd_ctx *c)
{
	uint64_t last = last_lba(c);
	if (!(c->cdb[8] & 0x01) && scsi_get_be32(c->cdb + 2)) {
		invalid_field(c);
		return;
	}
	scsi_put_be32(c->buf, last > 0xFFFFFFFFu ? 0xFFFFFFFFu : (uint32_t)last);
	scsi_put_be32(c->buf + 4, SCSI_DISK_BLOCK);
	data_in(c, 8, 8);
}

/* SERVICE ACTION IN (16): only READ CAPACITY (16) (service action 10h, SBC-3 5.13): no
 * protection, one logical block per physical block, no thin provisioning. */
static void cmd_service_action_in(struct sd_ctx *c)
{
	if ((c->cdb[1] & 0x1F) != 0x10 || (!(c->cdb[14] & 0x01) && scsi_get_be64(c->cdb + 2))) {
		invalid_field(c);
		return;
	}
	scsi_put_be64(c->buf, last_lba(c));
	scsi_put_be32(c->buf + 8, SCSI_DISK_BLOCK);
	data_in(c, 32, scsi_get_be32(c->cdb + 10));
}

/* ---- SPC-3 commands ---- */

static void cmd_good(struct sd_ctx *c)
{
	(void)c; /* TEST UNIT READY, START STOP UNIT, RESERVE, ...: the dispatcher did the checks */
}

/* REQUEST SENSE (SPC-3 6.27): fixed format only (DESC set is an invalid field). A pending unit
 * attention is reported (and so cleared) first; reporting clears the sense data. */
static void cmd_request_sense(struct sd_ctx *c)
{
	struct scsi_disk_state *st = c->st;
	if (c->cdb[1] & 0x01) {
		invalid_field(c);
		return;
	}
	uint32_t len;
	if (st->unit_attention)
		len = put_sense(c->buf, SCSI_SENSE_UNIT_ATTENTION, ASC_POWER_ON_RESET);
	else
		len = put_sense(c->buf, st->sense_key, st->asc, st->ascq);
	st->unit_attention = 0;
	st->sense_key = st->asc = st->ascq = 0;
	data_in(c, len, c->cdb[4]);
}

/* Standard INQUIRY data (SPC-3 6.4.2): a fixed disk, SPC-3, response format 2, 36 bytes. No
 * CmdQue (commands run one at a time), no Sync or Wide (asynchronous narrow transfers). */
static uint32_t inquiry_standard(struct sd_ctx *c, uint8_t *p)
{
	(void)c;
	p[2] = 0x05; /* version: SPC-3 */
	p[3] = 0x02; /* response data format 2 */
	p[4] = 36 - 5;
	scsi_put_string(p + 8, 8, "PCVM");
	scsi_put_string(p + 16, 16, "Virtual disk");
	scsi_put_string(p + 32, 4, "0.1");
	return 36;
}

static uint32_t vpd_supported(struct sd_ctx *c, uint8_t *p);

/* Unit Serial Number page (SPC-3 7.6.10) */
static uint32_t vpd_serial(struct sd_ctx *c, uint8_t *p)
{
	size_t n = serial_len(c);
	memcpy(p + 4, serial(c), n);
	return 4 + n;
}

/* A 60-bit value of the serial (FNV-1a), for the locally assigned NAA identifier. */
static uint64_t serial_hash(const struct sd_ctx *c)
{
	uint64_t h = 14695981039346656037ull;
	const char *s = serial(c);
	for (size_t i = 0; i < serial_len(c); i++)
		h = (h ^ (uint8_t)s[i]) * 1099511628211ull;
	return h & 0x0FFFFFFFFFFFFFFFull;
}

/* Device Identification page (SPC-3 7.6.4): two designators of the logical unit, an NAA
 * locally assigned identifier (NAA 3h, 7.6.4.6.4) and a T10 vendor ID based one, "PCVM"
 * followed by the serial (7.6.4.4). */
static uint32_t vpd_device_id(struct sd_ctx *c, uint8_t *p)
{
	uint8_t *d = p + 4;
	size_t n = serial_len(c);
	d[0] = 0x01; /* code set: binary */
	d[1] = 0x03; /* association: logical unit; designator type: NAA */
	d[3] = 8;
	scsi_put_be64(d + 4, 3ull << 60 | serial_hash(c));
	d += 12;
	d[0] = 0x02; /* code set: ASCII */
	d[1] = 0x01; /* association: logical unit; designator type: T10 vendor ID */
	d[3] = 8 + n;
	scsi_put_string(d + 4, 8, "PCVM");
	memcpy(d + 12, serial(c), n);
	return d + 12 + n - p;
}

/* Block Limits page (SBC-3 6.5.3): no limits to report; granularity one block. */
static uint32_t vpd_block_limits(struct sd_ctx *c, uint8_t *p)
{
	(void)c;
	scsi_put_be16(p + 6, 1);
	return 64;
}

/* Block Device Characteristics page (SBC-3 6.5.2): medium rotation rate 1, a non-rotating
 * medium: an image has no seek time to schedule around. */
static uint32_t vpd_block_characteristics(struct sd_ctx *c, uint8_t *p)
{
	(void)c;
	scsi_put_be16(p + 4, 1);
	return 64;
}

static const struct {
	uint8_t code;
	uint32_t (*fill)(struct sd_ctx *c, uint8_t *p);
} vpd_pages[] = {
	{ 0x00, vpd_supported },    { 0x80, vpd_serial },		 { 0x83, vpd_device_id },
	{ 0xB0, vpd_block_limits }, { 0xB1, vpd_block_characteristics },
};

/* Supported VPD Pages page (SPC-3 7.6.11): the table above, in ascending order. */
static uint32_t vpd_supported(struct sd_ctx *c, uint8_t *p)
{
	(void)c;
	for (size_t i = 0; i < sizeof(vpd_pages) / sizeof(vpd_pages[0]); i++)
		p[4 + i] = vpd_pages[i].code;
	return 4 + sizeof(vpd_pages) / sizeof(vpd_pages[0]);
}

/* INQUIRY (SPC-3 6.4): standard data, or the vital product data page asked for with EVPD. A
 * page code without EVPD, and the obsolete CmdDt, are invalid fields. */
static void cmd_inquiry(struct sd_ctx *c)
{
	uint8_t evpd = c->cdb[1] & 0x01, page = c->cdb[2];
	uint32_t len = 0;
	if (c->cdb[1] & 0x02 || (!evpd && page)) {
		invalid_field(c);
		return;
	}
	if (!evpd)
		len = inquiry_standard(c, c->buf);
	for (size_t i = 0; evpd && i < sizeof(vpd_pages) / sizeof(vpd_pages[0]); i++)
		if (vpd_pages[i].code == page)
			len = vpd_pages[i].fill(c, c->buf);
	if (!len) {
		invalid_field(c);
		return;
	}
	if (evpd) {
		c->buf[1] = page;
		scsi_put_be16(c->buf + 2, len - 4);
	}
	data_in(c, len, scsi_get_be16(c->cdb + 3));
}

/* REPORT LUNS (SPC-3 6.21): one logical unit, LUN 0, whichever of the three reports. */
static void cmd_report_luns(struct sd_ctx *c)
{
	if (c->cdb[2] > 2) {
		invalid_field(c);
		return;
	}
	scsi_put_be32(c->buf, 8); /* LUN list length: one 8-byte LUN, all zero */
	data_in(c, 16, scsi_get_be32(c->cdb + 6));
}

/* MODE SELECT (6/10) (SPC-3 6.9, 6.10): nothing is changeable (MODE SENSE's changeable values
 * are all zero), so the parameters are taken and dropped; saving pages (SP) is refused as
 * MODE SENSE refuses saved values. */
static void cmd_mode_select(struct sd_ctx *c)
{
	bool six = scsi_cdb_len(c->cdb[0]) == 6;
	uint32_t len = six ? c->cdb[4] : scsi_get_be16(c->cdb + 7);
	if (c->cdb[1] & 0x01) {
		invalid_field(c);
		return;
	}
	if (len) {
		c->res->phase = SCSI_DISK_DATA_OUT;
		c->res->len = len;
	}
}

/* SEND DIAGNOSTIC (SPC-3 6.28): the self-test passes at once; a parameter list is dropped. */
static void cmd_send_diagnostic(struct sd_ctx *c)
{
	uint32_t len = scsi_get_be16(c->cdb + 3);
	if (len) {
		c->res->phase = SCSI_DISK_DATA_OUT;
		c->res->len = len;
	}
}

/* FORMAT UNIT (SBC-3 5.2): an image needs no formatting. A parameter list (FMTDATA) would
 * carry defect lists and patterns this disk does not take. */
static void cmd_format_unit(struct sd_ctx *c)
{
	if (c->cdb[1] & 0x10)
		invalid_field(c);
}

/* ---- MODE SENSE (6/10) and the mode pages (SPC-3 6.11, 6.12; SBC-3 6.3) ---- */

/* Caching page (SBC-3 6.3.3): a write-back cache (WCE), flushed by SYNCHRONIZE CACHE.
 * CHANGEABLE: the changeable-values mask, all zero. */
static uint32_t page_caching(const struct sd_ctx *c, uint8_t *p, bool changeable)
{
	(void)c;
	p[0] = 0x08;
	p[1] = 0x12;
	if (!changeable)
		p[2] = 0x04; /* WCE */
	return 20;
}

/* Control page (SPC-3 7.4.6): every field 0 (one task set, descriptor sense off). */
static uint32_t page_control(const struct sd_ctx *c, uint8_t *p, bool changeable)
{
	(void)c;
	(void)changeable;
	p[0] = 0x0A;
	p[1] = 0x0A;
	return 12;
}

static const struct {
	uint8_t code;
	uint32_t (*fill)(const struct sd_ctx *c, uint8_t *p, bool changeable);
} mode_pages[] = {
	{ 0x08, page_caching },
	{ 0x0A, page_control },
};

/* Block descriptor (SBC-3 6.3.2): the short one (number of blocks, FFFFFFFFh when it does
 * not fit) or, with LONGLBA, the long one. */
static uint32_t block_descriptor(const struct sd_ctx *c, uint8_t *p, bool long_lba)
{
	if (long_lba) {
		scsi_put_be64(p, c->m->blocks);
		scsi_put_be32(p + 12, SCSI_DISK_BLOCK);
		return 16;
	}
	scsi_put_be32(p, c->m->blocks > 0xFFFFFFFFu ? 0xFFFFFFFFu : (uint32_t)c->m->blocks);
	scsi_put_be32(p + 4, SCSI_DISK_BLOCK); /* byte 4 is reserved, the length is 24 bits */
	return 8;
}

/* The mode parameter header of MODE SENSE (6) (4 bytes) or (10) (8 bytes), for LEN bytes of
 * data with a block descriptor of BD_LEN bytes. WP (bit 7 of the device-specific parameter)
 * tells a read-only disk. */
static void mode_header(const struct sd_ctx *c, bool six, uint32_t len, uint32_t bd_len)
{
	uint8_t *p = c->buf, dev = c->m->read_only ? 0x80 : 0;
	if (six) {
		p[0] = len - 1;
		p[2] = dev;
		p[3] = bd_len;
		return;
	}
	scsi_put_be16(p, len - 2);
	p[3] = dev;
	p[4] = bd_len == 16; /* LONGLBA */
	scsi_put_be16(p + 6, bd_len);
}

/* Pages 08h and 0Ah, or both for 3Fh (subpage 00h, or FFh: all subpages, which are none);
 * a block descriptor unless DBD. Saved values are not supported (SPC-3 6.11: page control 3),
 * default values are the current ones. */
static void cmd_mode_sense(struct sd_ctx *c)
{
	bool six = scsi_cdb_len(c->cdb[0]) == 6, dbd = c->cdb[1] & 0x08;
	bool long_lba = !six && (c->cdb[1] & 0x10);
	unsigned pc = c->cdb[2] >> 6, code = c->cdb[2] & 0x3F, sub = c->cdb[3];
	uint32_t len = six ? 4 : 8, bd_len = 0, pages;
	if (pc == 3) {
		fail(c, SCSI_SENSE_ILLEGAL_REQUEST, ASC_SAVING_UNSUPPORTED);
		return;
	}
	if (!dbd)
		len += bd_len = block_descriptor(c, c->buf + len, long_lba);
	pages = len;
	for (size_t i = 0; i < sizeof(mode_pages) / sizeof(mode_pages[0]); i++)
		if (code == 0x3F || code == mode_pages[i].code)
			len += mode_pages[i].fill(c, c->buf + len, pc == 1);
	if (len == pages || (sub && !(code == 0x3F && sub == 0xFF))) {
		invalid_field(c);
		return;
	}
	mode_header(c, six, len, bd_len);
	data_in(c, len, six ? c->cdb[4] : scsi_get_be16(c->cdb + 7));
}

/* ---- the table and the dispatcher ---- */

enum {
	SD_READS = 1 << 0,    /* may answer with the medium's blocks (READ result) */
	SD_TAKES = 1 << 1,    /* may take data from the initiator (WRITE or DATA_OUT result) */
	SD_MODIFIES = 1 << 2, /* changes the medium: refused on a read-only disk */
};

/* What a pending unit attention does to a command (SPC-3 5.9.7, unit attention condition). */
enum sd_ua {
	UA_REPORT, /* CHECK CONDITION 06/29/00 instead of running; that clears the attention */
	UA_PASS,   /* runs, the attention stays pending (INQUIRY, REPORT LUNS) */
	UA_CLEARS, /* runs and reports the attention as its data, clearing it (REQUEST SENSE) */
};

struct sd_cmd {
	const char *name;
	void (*run)(struct sd_ctx *c);
	uint8_t flags;
	uint8_t ua;
};

#define WR (SD_TAKES | SD_MODIFIES)

static const struct sd_cmd sd_cmds[256] = {
	[0x00] = { "TEST UNIT READY", cmd_good, 0, UA_REPORT },
	[0x01] = { "REZERO UNIT", cmd_good, 0, UA_REPORT },
	[0x03] = { "REQUEST SENSE", cmd_request_sense, 0, UA_CLEARS },
	[0x04] = { "FORMAT UNIT", cmd_format_unit, SD_MODIFIES, UA_REPORT },
	[0x08] = { "READ (6)", cmd_read, SD_READS, UA_REPORT },
	[0x0A] = { "WRITE (6)", cmd_write, WR, UA_REPORT },
	[0x0B] = { "SEEK (6)", cmd_seek, 0, UA_REPORT },
	[0x12] = { "INQUIRY", cmd_inquiry, 0, UA_PASS },
	[0x15] = { "MODE SELECT (6)", cmd_mode_select, SD_TAKES, UA_REPORT },
	[0x16] = { "RESERVE (6)", cmd_good, 0, UA_REPORT },
	[0x17] = { "RELEASE (6)", cmd_good, 0, UA_REPORT },
	[0x1A] = { "MODE SENSE (6)", cmd_mode_sense, 0, UA_REPORT },
	[0x1B] = { "START STOP UNIT", cmd_good, 0, UA_REPORT },
	[0x1D] = { "SEND DIAGNOSTIC", cmd_send_diagnostic, SD_TAKES, UA_REPORT },
	[0x1E] = { "PREVENT ALLOW MEDIUM REMOVAL", cmd_good, 0, UA_REPORT },
	[0x25] = { "READ CAPACITY (10)", cmd_read_capacity10, 0, UA_REPORT },
	[0x28] = { "READ (10)", cmd_read, SD_READS, UA_REPORT },
	[0x2A] = { "WRITE (10)", cmd_write, WR, UA_REPORT },
	[0x2B] = { "SEEK (10)", cmd_seek, 0, UA_REPORT },
	[0x2E] = { "WRITE AND VERIFY (10)", cmd_write, WR, UA_REPORT },
	[0x2F] = { "VERIFY (10)", cmd_verify, 0, UA_REPORT },
	[0x35] = { "SYNCHRONIZE CACHE (10)", cmd_sync_cache, 0, UA_REPORT },
	[0x55] = { "MODE SELECT (10)", cmd_mode_select, SD_TAKES, UA_REPORT },
	[0x5A] = { "MODE SENSE (10)", cmd_mode_sense, 0, UA_REPORT },
	[0x88] = { "READ (16)", cmd_read, SD_READS, UA_REPORT },
	[0x8A] = { "WRITE (16)", cmd_write, WR, UA_REPORT },
	[0x8E] = { "WRITE AND VERIFY (16)", cmd_write, WR, UA_REPORT },
	[0x8F] = { "VERIFY (16)", cmd_verify, 0, UA_REPORT },
	[0x91] = { "SYNCHRONIZE CACHE (16)", cmd_sync_cache, 0, UA_REPORT },
	[0x9E] = { "SERVICE ACTION IN (16)", cmd_service_action_in, 0, UA_REPORT },
	[0xA0] = { "REPORT LUNS", cmd_report_luns, 0, UA_PASS },
	[0xA8] = { "READ (12)", cmd_read, SD_READS, UA_REPORT },
	[0xAA] = { "WRITE (12)", cmd_write, WR, UA_REPORT },
	[0xAE] = { "WRITE AND VERIFY (12)", cmd_write, WR, UA_REPORT },
	[0xAF] = { "VERIFY (12)", cmd_verify, 0, UA_REPORT },
};

#undef WR

/* The CDB as the handlers read it: SCSI_CDB_MAX bytes, zero past what the transport took. */
static void copy_cdb(uint8_t *out, const uint8_t *cdb, size_t len)
{
	if (len)
		memcpy(out, cdb, len < SCSI_CDB_MAX ? len : SCSI_CDB_MAX);
}

/* Runs CMD on the zero-padded copy of the CDB, its response built in a scratch buffer that the
 * caller's BUF then receives, cut to SIZE. */
static void sd_run(const struct sd_cmd *cmd, struct sd_ctx *c, uint8_t *buf, size_t size)
{
	cmd->run(c);
	if (c->res->phase != SCSI_DISK_DATA_IN)
		return;
	if (c->res->len > size)
		c->res->len = size;
	if (!c->res->len)
		c->res->phase = SCSI_DISK_GOOD;
	else
		memcpy(buf, c->buf, c->res->len);
}

/*
 * The rules every command shares, in SPC-3's order: a pending unit attention first (unless the
 * command passes it), then the opcode, then write protection. A command other than REQUEST
 * SENSE starts with no sense data, so its sense describes it alone.
 */
void scsi_disk_exec(struct scsi_disk_state *st, const struct scsi_disk_medium *m,
		    const uint8_t *cdb, size_t cdb_len, uint8_t *buf, size_t size,
		    struct scsi_disk_result *res)
{
	uint8_t cmd_bytes[SCSI_CDB_MAX] = { 0 }, response[RESPONSE_MAX] = { 0 };
	copy_cdb(cmd_bytes, cdb, cdb_len);
	const struct sd_cmd *cmd = &sd_cmds[cmd_bytes[0]];
	struct sd_ctx c = { st, m, cmd_bytes, response, res };
	*res = (struct scsi_disk_result){ .phase = SCSI_DISK_GOOD };
	if (st->unit_attention && cmd->ua == UA_REPORT) {
		st->unit_attention = 0;
		fail(&c, SCSI_SENSE_UNIT_ATTENTION, ASC_POWER_ON_RESET);
		return;
	}
	if (!cmd->run) {
		fail(&c, SCSI_SENSE_ILLEGAL_REQUEST, ASC_INVALID_OPCODE);
		return;
	}
	if (cmd->ua != UA_CLEARS)
		st->sense_key = st->asc = st->ascq = 0;
	if ((cmd->flags & SD_MODIFIES) && m->read_only) {
		fail(&c, SCSI_SENSE_DATA_PROTECT, ASC_WRITE_PROTECTED);
		return;
	}
	sd_run(cmd, &c, buf, size);
}

/* ---- a logical unit with no disk ---- */

/* INQUIRY: peripheral qualifier 3, type 1Fh (SPC-3 6.4.2: no logical unit can be addressed
 * here); REQUEST SENSE: why. The rest fails with the same sense. */
static void no_lun_inquiry(struct sd_ctx *c)
{
	c->buf[0] = 0x7F;
	c->buf[3] = 0x02;
	c->buf[4] = 36 - 5;
	data_in(c, 36, scsi_get_be16(c->cdb + 3));
}

static void no_lun_request_sense(struct sd_ctx *c)
{
	data_in(c, put_sense(c->buf, SCSI_SENSE_ILLEGAL_REQUEST, ASC_LUN_NOT_SUPPORTED),
		c->cdb[4]);
}

static void no_lun_fail(struct sd_ctx *c)
{
	fail(c, SCSI_SENSE_ILLEGAL_REQUEST, ASC_LUN_NOT_SUPPORTED);
}

void scsi_disk_exec_no_lun(const uint8_t *cdb, size_t cdb_len, uint8_t *buf, size_t size,
			   struct scsi_disk_result *res)
{
	uint8_t cmd_bytes[SCSI_CDB_MAX] = { 0 }, response[RESPONSE_MAX] = { 0 };
	struct scsi_disk_state scratch = { 0 }; /* the sense is not kept: REQUEST SENSE says it */
	copy_cdb(cmd_bytes, cdb, cdb_len);
	struct sd_ctx c = { &scratch, NULL, cmd_bytes, response, res };
	struct sd_cmd cmd = { "no LUN", no_lun_fail, 0, UA_PASS };
	if (cmd_bytes[0] == 0x12)
		cmd.run = no_lun_inquiry;
	else if (cmd_bytes[0] == 0x03)
		cmd.run = no_lun_request_sense;
	*res = (struct scsi_disk_result){ .phase = SCSI_DISK_GOOD };
	sd_run(&cmd, &c, buf, size);
}

/* ---- state ---- */

void scsi_disk_reset(struct scsi_disk_state *st)
{
	memset(st, 0, sizeof(*st));
	st->unit_attention = 1;
}

bool scsi_disk_cmd_reads(uint8_t opcode)
{
	return sd_cmds[opcode].flags & SD_READS;
}

bool scsi_disk_cmd_takes_data(uint8_t opcode)
{
	return sd_cmds[opcode].flags & SD_TAKES;
}

const char *scsi_disk_state_check(const struct scsi_disk_state *st)
{
	if (st->unit_attention > 1)
		return "scsi-disk: flag out of range";
	if (st->sense_key > 0x0F)
		return "scsi-disk: bad sense key";
	return NULL;
}
