/*
 * ATAPI CD/DVD-ROM command set. References: SPC-3 (T10/1416-D r23) for TEST UNIT READY,
 * REQUEST SENSE, INQUIRY, MODE SELECT/SENSE and sense data; MMC-3 (T10/1363-D r10g) for the
 * multimedia commands, features and mode pages; SFF-8020i r2.6 for ATAPI conventions. One table
 * lists the commands with the rules they share (medium needed, unit attention handling); one
 * dispatcher applies those rules before a command's handler runs.
 */
#include "devices/atapi.h"
#include "devices/scsi.h"

#include <string.h>

/* Additional sense codes and qualifiers (SPC-3 annex D) */
#define ASC_PARAM_LIST_LENGTH 0x1A, 0x00
#define ASC_INVALID_OPCODE 0x20, 0x00
#define ASC_LBA_OUT_OF_RANGE 0x21, 0x00
#define ASC_INVALID_FIELD 0x24, 0x00
#define ASC_MEDIUM_CHANGED 0x28, 0x00 /* NOT READY TO READY CHANGE, MEDIUM MAY HAVE CHANGED */
#define ASC_SAVING_UNSUPPORTED 0x39, 0x00
#define ASC_NO_MEDIUM_TRAY_CLOSED 0x3A, 0x01
#define ASC_NO_MEDIUM_TRAY_OPEN 0x3A, 0x02
#define ASC_ILLEGAL_MODE 0x64, 0x00
#define ASC_REMOVAL_PREVENTED 0x53, 0x02

/* Profiles (MMC-3 GET CONFIGURATION, profile list) */
#define PROFILE_NONE 0x0000
#define PROFILE_CDROM 0x0008
#define PROFILE_DVDROM 0x0010
/* An 80-minute CD holds 80 * 60 * 75 blocks; anything larger is reported as a DVD. */
#define CD_MAX_BLOCKS (80u * 60 * 75)

/* The response buffer a handler may fill: the largest response here is well under this. */
#define ATAPI_RESPONSE_MAX 512

struct atapi_ctx {
	struct atapi_state *st;
	const struct atapi_medium *m;
	const uint8_t *cdb;
	uint8_t *buf;
	struct atapi_result *res;
};

/* ---- small helpers ---- */

static bool medium_present(const struct atapi_ctx *c)
{
	return c->m->inserted && !c->st->tray_open;
}

static uint16_t current_profile(const struct atapi_ctx *c)
{
	if (!medium_present(c))
		return PROFILE_NONE;
	return c->m->blocks > CD_MAX_BLOCKS ? PROFILE_DVDROM : PROFILE_CDROM;
}

/* Last addressable block; capacities past 32 bits are clamped (READ CAPACITY(10) semantics). */
static uint32_t last_lba(const struct atapi_ctx *c)
{
	uint64_t last = c->m->blocks ? c->m->blocks - 1 : 0;
	return last > 0xFFFFFFFEu ? 0xFFFFFFFEu : (uint32_t)last;
}

void atapi_fail(struct atapi_state *st, struct atapi_result *res, uint8_t key, uint8_t asc,
		uint8_t ascq)
{
	st->sense_key = key;
	st->asc = asc;
	st->ascq = ascq;
	*res = (struct atapi_result){ .phase = ATAPI_CHECK };
}

static void fail(struct atapi_ctx *c, uint8_t key, uint8_t asc, uint8_t ascq)
{
	atapi_fail(c->st, c->res, key, asc, ascq);
}

static void invalid_field(struct atapi_ctx *c)
{
	fail(c, ATAPI_SENSE_ILLEGAL_REQUEST, ASC_INVALID_FIELD);
}

/* LEN bytes of response are in the buffer; the host asked for at most ALLOC (SPC-3, allocation
 * length: it truncates, it never pads). */
static void data_in(struct atapi_ctx *c, uint32_t len, uint32_t alloc)
{
	c->res->phase = ATAPI_DATA_IN;
	c->res->len = len < alloc ? len : alloc;
}

/* Blocks [LBA, LBA + COUNT) of the medium, range-checked (MMC-3 READ (10)). */
static void read_blocks(struct atapi_ctx *c, uint64_t lba, uint64_t count)
{
	if (lba > c->m->blocks || count > c->m->blocks - lba) {
		fail(c, ATAPI_SENSE_ILLEGAL_REQUEST, ASC_LBA_OUT_OF_RANGE);
		return;
	}
	if (!count)
		return; /* a zero transfer length is not an error: GOOD, no data */
	c->res->phase = ATAPI_READ;
	c->res->lba = lba;
	c->res->blocks = count;
}

/* LBA (or MSF when MSF is set: minute, second, frame of LBA + 150, MMC-3 MSF addressing) at P. */
static void put_address(uint8_t *p, uint64_t lba, bool msf)
{
	if (!msf) {
		scsi_put_be32(p, lba > 0xFFFFFFFFu ? 0xFFFFFFFFu : (uint32_t)lba);
		return;
	}
	uint64_t f = lba + 150;
	uint64_t min = f / (60 * 75);
	p[0] = 0;
	p[1] = min > 0xFF ? 0xFF : (uint8_t)min;
	p[2] = f / 75 % 60;
	p[3] = f % 75;
}

/* ---- SPC-3 commands ---- */

static void cmd_good(struct atapi_ctx *c)
{
	(void)c; /* TEST UNIT READY, SET CD SPEED: the dispatcher did the checking */
}

/* REQUEST SENSE (SPC-3): fixed-format sense data; a pending unit attention is reported
 * (and so cleared) first. Reporting clears the sense data. */
static void cmd_request_sense(struct atapi_ctx *c)
{
	struct atapi_state *st = c->st;
	uint8_t *p = c->buf;
	p[0] = 0x70; /* current error, fixed format */
	if (st->unit_attention) {
		st->unit_attention = 0;
		p[2] = ATAPI_SENSE_UNIT_ATTENTION;
		p[12] = 0x28;
	} else {
		p[2] = st->sense_key;
		p[12] = st->asc;
		p[13] = st->ascq;
	}
	p[7] = 10; /* additional sense length: bytes 8-17 */
	st->sense_key = st->asc = st->ascq = 0;
	data_in(c, 18, c->cdb[4]);
}

/* INQUIRY (SPC-3): standard data only; vital product data pages are not implemented. */
static void cmd_inquiry(struct atapi_ctx *c)
{
	uint8_t *p = c->buf;
	if ((c->cdb[1] & 0x01) || c->cdb[2]) {
		invalid_field(c);
		return;
	}
	p[0] = 0x05; /* peripheral device type: CD/DVD device */
	p[1] = 0x80; /* RMB: removable medium */
	p[2] = 0x05; /* version: SPC-3 */
	p[3] = 0x02; /* response data format 2 */
	p[4] = 36 - 5;
	scsi_put_string(p + 8, 8, "PCVM");
	scsi_put_string(p + 16, 16, "PCVM DVD-ROM");
	scsi_put_string(p + 32, 4, "0.1");
	data_in(c, 36, scsi_get_be16(c->cdb + 3));
}

/* MODE SELECT (10) (SPC-3): nothing here is changeable, so the parameters are taken and
 * dropped; saving pages (SP) is refused as MODE SENSE refuses saved values. */
static void cmd_mode_select(struct atapi_ctx *c)
{
	uint32_t len = scsi_get_be16(c->cdb + 7);
	if (c->cdb[1] & 0x01) {
		invalid_field(c);
		return;
	}
	if (len > ATAPI_RESPONSE_MAX) {
		fail(c, ATAPI_SENSE_ILLEGAL_REQUEST, ASC_PARAM_LIST_LENGTH);
		return;
	}
	if (len) {
		c->res->phase = ATAPI_DATA_OUT;
		c->res->len = len;
	}
}

/* Read/Write Error Recovery page (MMC-3 mode page 01h). CHANGEABLE: the changeable-values mask. */
static unsigned page_error_recovery(const struct atapi_ctx *c, uint8_t *p, bool changeable)
{
	(void)c;
	p[0] = 0x01;
	p[1] = 0x0A;
	if (!changeable)
		p[3] = 5; /* read retry count */
	return 12;
}

/* CD/DVD Capabilities and Mechanical Status page (MMC-3 mode page 2Ah, its 20-byte layout). */
static unsigned page_capabilities(const struct atapi_ctx *c, uint8_t *p, bool changeable)
{
	p[0] = 0x2A;
	p[1] = 0x14;
	if (changeable)
		return 22;
	p[2] = 0x3B; /* reads CD-R, CD-RW, DVD-ROM, DVD-R, DVD-RAM */
	p[4] = 0x70; /* mode 2 form 1 and 2, multi-session */
	/* tray loading mechanism, eject, lock; the lock state */
	p[6] = 0x20 | 0x08 | 0x01 | (c->st->locked ? 0x02 : 0);
	scsi_put_be16(p + 8, 8448);  /* maximum read speed, kB/s (48x) */
	scsi_put_be16(p + 12, 512);  /* buffer size, KiB */
	scsi_put_be16(p + 14, 8448); /* current read speed */
	return 22;
}

static const struct {
	uint8_t code;
	unsigned (*fill)(const struct atapi_ctx *c, uint8_t *p, bool changeable);
} mode_pages[] = {
	{ 0x01, page_error_recovery },
	{ 0x2A, page_capabilities },
};

/* Medium type of the mode parameter header (SFF-8020i): CD data disc, no disc, or door open. */
static uint8_t mode_medium_type(const struct atapi_ctx *c)
{
	if (c->st->tray_open)
		return 0x71;
	return c->m->inserted ? 0x01 : 0x70;
}

/* MODE SENSE (10) (SPC-3): pages 01h and 2Ah, or both for 3Fh; no block descriptors. */
static void cmd_mode_sense(struct atapi_ctx *c)
{
	unsigned pc = c->cdb[2] >> 6, code = c->cdb[2] & 0x3F, len = 8;
	if (pc == 3) {
		fail(c, ATAPI_SENSE_ILLEGAL_REQUEST, ASC_SAVING_UNSUPPORTED);
		return;
	}
	for (size_t i = 0; i < sizeof(mode_pages) / sizeof(mode_pages[0]); i++)
		if (code == 0x3F || code == mode_pages[i].code)
			len += mode_pages[i].fill(c, c->buf + len, pc == 1);
	if (len == 8) {
		invalid_field(c);
		return;
	}
	scsi_put_be16(c->buf, len - 2);
	c->buf[2] = mode_medium_type(c);
	data_in(c, len, scsi_get_be16(c->cdb + 7));
}

/* ---- MMC-3 commands ---- */

/* START STOP UNIT (MMC-3): LoEj with Start clear ejects, with Start set loads. */
static void cmd_start_stop(struct atapi_ctx *c)
{
	struct atapi_state *st = c->st;
	bool loej = c->cdb[4] & 0x02, start = c->cdb[4] & 0x01;
	if (!loej || (c->cdb[4] & 0xF0))
		return; /* spin up/down, power conditions: nothing to do */
	if (!start) {
		if (st->locked) {
			fail(c, ATAPI_SENSE_ILLEGAL_REQUEST, ASC_REMOVAL_PREVENTED);
			return;
		}
		if (!st->tray_open && c->m->inserted)
			st->media_event = ATAPI_EVENT_MEDIA_REMOVAL;
		st->tray_open = 1;
	} else if (st->tray_open) {
		st->tray_open = 0;
		if (c->m->inserted) { /* the disc in the tray becomes ready again */
			st->unit_attention = 1;
			st->media_event = ATAPI_EVENT_NEW_MEDIA;
		}
	}
}

/* PREVENT ALLOW MEDIUM REMOVAL (MMC-3): bit 0 of the Prevent field locks the tray. */
static void cmd_prevent_allow(struct atapi_ctx *c)
{
	c->st->locked = c->cdb[4] & 0x01;
}

/* READ CAPACITY (MMC-3) */
static void cmd_read_capacity(struct atapi_ctx *c)
{
	scsi_put_be32(c->buf, last_lba(c));
	scsi_put_be32(c->buf + 4, ATAPI_BLOCK);
	data_in(c, 8, 8);
}

static void cmd_read10(struct atapi_ctx *c)
{
	read_blocks(c, scsi_get_be32(c->cdb + 2), scsi_get_be16(c->cdb + 7));
}

static void cmd_read12(struct atapi_ctx *c)
{
	read_blocks(c, scsi_get_be32(c->cdb + 2), scsi_get_be32(c->cdb + 6));
}

/* READ CD (MMC-3): user data of data sectors only. Byte 9 selects the fields; 10h is
 * user data alone, 00h no data at all. */
static void cmd_read_cd(struct atapi_ctx *c)
{
	unsigned type = (c->cdb[1] >> 2) & 7, fields = c->cdb[9];
	uint32_t count = c->cdb[6] << 16 | c->cdb[7] << 8 | c->cdb[8];
	if (type != 0 && type != 2) { /* any type, or mode 1: what an ISO image holds */
		fail(c, ATAPI_SENSE_ILLEGAL_REQUEST, ASC_ILLEGAL_MODE);
		return;
	}
	if ((fields != 0x10 && fields != 0) || (c->cdb[10] & 0x07)) {
		invalid_field(c);
		return;
	}
	read_blocks(c, scsi_get_be32(c->cdb + 2), fields ? count : 0);
}

/* SEEK (10) (SBC-2, in MMC-3's list of CD/DVD commands): only the range check has an effect. */
static void cmd_seek(struct atapi_ctx *c)
{
	if (scsi_get_be32(c->cdb + 2) >= c->m->blocks)
		fail(c, ATAPI_SENSE_ILLEGAL_REQUEST, ASC_LBA_OUT_OF_RANGE);
}

/* TOC format 0 (MMC-3 READ TOC format 0000b): track 1 and the lead-out, from START_TRACK on. */
static unsigned toc_tracks(struct atapi_ctx *c, bool msf, unsigned start_track)
{
	uint8_t *p = c->buf + 4;
	if (start_track > 1 && start_track != 0xAA)
		return 0;
	if (start_track <= 1) {
		p[1] = 0x14; /* ADR 1 (Q sub-channel position), control 4 (data track) */
		p[2] = 1;
		put_address(p + 4, 0, msf);
		p += 8;
	}
	p[1] = 0x14;
	p[2] = 0xAA; /* lead-out */
	put_address(p + 4, c->m->blocks, msf);
	return p + 8 - c->buf;
}

/* TOC format 1 (MMC-3 format 0001b): one complete session starting with track 1. */
static unsigned toc_session(struct atapi_ctx *c, bool msf)
{
	c->buf[5] = 0x14;
	c->buf[6] = 1;
	put_address(c->buf + 8, 0, msf);
	return 12;
}

/* One raw TOC descriptor of session 1 (MMC-3 format 0010b): POINT and its PMSF. */
static uint8_t *toc_raw_entry(uint8_t *p, uint8_t point, uint8_t pm, uint8_t ps, uint8_t pf)
{
	p[0] = 1;
	p[1] = 0x14;
	p[3] = point;
	p[8] = pm;
	p[9] = ps;
	p[10] = pf;
	return p + 11;
}

/* TOC format 2, the raw TOC: A0 (first track, disc type CD-ROM), A1 (last track), A2 (lead-out)
 * and track 1. Addresses are always MSF here. */
static unsigned toc_full(struct atapi_ctx *c)
{
	uint8_t msf[4], *p = c->buf + 4;
	put_address(msf, c->m->blocks, true);
	p = toc_raw_entry(p, 0xA0, 1, 0x00, 0);
	p = toc_raw_entry(p, 0xA1, 1, 0, 0);
	p = toc_raw_entry(p, 0xA2, msf[1], msf[2], msf[3]);
	p = toc_raw_entry(p, 1, 0, 2, 0);
	return p - c->buf;
}

/* READ TOC/PMA/ATIP (MMC-3). The format sits in byte 2; SFF-8020i drivers put it in
 * bits 7:6 of byte 9 instead. */
static void cmd_read_toc(struct atapi_ctx *c)
{
	bool msf = c->cdb[1] & 0x02;
	unsigned format = c->cdb[2] & 0x0F, len = 0;
	if (!format)
		format = c->cdb[9] >> 6;
	switch (format) {
	case 0: len = toc_tracks(c, msf, c->cdb[6]); break;
	case 1: len = toc_session(c, msf); break;
	case 2: len = toc_full(c); break;
	}
	if (!len) {
		invalid_field(c);
		return;
	}
	scsi_put_be16(c->buf, len - 2);
	c->buf[2] = 1; /* first track (format 0) or session (1, 2) */
	c->buf[3] = 1; /* last */
	data_in(c, len, scsi_get_be16(c->cdb + 7));
}

/* ---- GET CONFIGURATION (MMC-3) and its features (MMC-3 clause 5) ---- */

/* Feature descriptor header (MMC-3): code, version, persistent, current, additional length. */
static uint8_t *feature(uint8_t *p, uint16_t code, unsigned version, bool persistent,
		       bool current, unsigned len)
{
	scsi_put_be16(p, code);
	p[2] = version << 2 | (persistent ? 0x02 : 0) | (current ? 0x01 : 0);
	p[3] = len;
	return p + 4;
}

/* Profile List (feature 0000h): DVD-ROM and CD-ROM, the current one marked. */
static unsigned feat_profiles(const struct atapi_ctx *c, uint8_t *p)
{
	static const uint16_t profiles[] = { PROFILE_DVDROM, PROFILE_CDROM };
	uint8_t *d = feature(p, 0x0000, 0, true, true, 4 * 2);
	for (unsigned i = 0; i < 2; i++, d += 4) {
		scsi_put_be16(d, profiles[i]);
		d[2] = profiles[i] == current_profile(c);
	}
	return d - p;
}

/* Core (0001h): the physical interface is ATAPI (2). */
static unsigned feat_core(const struct atapi_ctx *c, uint8_t *p)
{
	(void)c;
	uint8_t *d = feature(p, 0x0001, 0, true, true, 8);
	scsi_put_be32(d, 2);
	return 12;
}

/* Morphing (0002h): Async clear, so the host polls GET EVENT STATUS NOTIFICATION. */
static unsigned feat_morphing(const struct atapi_ctx *c, uint8_t *p)
{
	(void)c;
	feature(p, 0x0002, 1, true, true, 4);
	return 8;
}

/* Removable Medium (0003h): tray loader, eject, lock. */
static unsigned feat_removable(const struct atapi_ctx *c, uint8_t *p)
{
	(void)c;
	uint8_t *d = feature(p, 0x0003, 0, true, true, 4);
	d[0] = 0x20 | 0x08 | 0x01;
	return 8;
}

/* Random Readable (0010h): 2048-byte blocks, blocking 1 (CD) or 16 (DVD ECC block). */
static unsigned feat_random_read(const struct atapi_ctx *c, uint8_t *p)
{
	uint8_t *d = feature(p, 0x0010, 0, false, medium_present(c), 8);
	scsi_put_be32(d, ATAPI_BLOCK);
	scsi_put_be16(d + 4, current_profile(c) == PROFILE_DVDROM ? 16 : 1);
	return 12;
}

/* CD Read (001Eh) and DVD Read (001Fh): current with a disc of that kind. */
static unsigned feat_cd_read(const struct atapi_ctx *c, uint8_t *p)
{
	feature(p, 0x001E, 0, false, current_profile(c) == PROFILE_CDROM, 4);
	return 8;
}

static unsigned feat_dvd_read(const struct atapi_ctx *c, uint8_t *p)
{
	feature(p, 0x001F, 0, false, current_profile(c) == PROFILE_DVDROM, 0);
	return 4;
}

static const struct {
	uint16_t code;
	unsigned (*fill)(const struct atapi_ctx *c, uint8_t *p);
} features[] = {
	{ 0x0000, feat_profiles },    { 0x0001, feat_core },	 { 0x0002, feat_morphing },
	{ 0x0003, feat_removable },   { 0x0010, feat_random_read }, { 0x001E, feat_cd_read },
	{ 0x001F, feat_dvd_read },
};

/* RT 0: every feature from the starting one on; 1: only current ones; 2: that one feature. */
static void cmd_get_configuration(struct atapi_ctx *c)
{
	unsigned rt = c->cdb[1] & 0x03, start = scsi_get_be16(c->cdb + 2), len = 8;
	if (rt == 3) {
		invalid_field(c);
		return;
	}
	for (size_t i = 0; i < sizeof(features) / sizeof(features[0]); i++) {
		if (features[i].code < start || (rt == 2 && features[i].code != start))
			continue;
		uint8_t *p = c->buf + len;
		unsigned n = features[i].fill(c, p);
		if (rt != 1 || (p[2] & 0x01))
			len += n;
		else
			memset(p, 0, n);
	}
	scsi_put_be32(c->buf, len - 4);
	scsi_put_be16(c->buf + 6, current_profile(c));
	data_in(c, len, scsi_get_be16(c->cdb + 7));
}

/* GET EVENT STATUS NOTIFICATION (MMC-3), polled only: the media class (4), whose event
 * is reported once and then cleared. Other classes: "no event available". */
static void cmd_get_event_status(struct atapi_ctx *c)
{
	struct atapi_state *st = c->st;
	uint8_t *p = c->buf;
	if (!(c->cdb[1] & 0x01)) {
		invalid_field(c); /* asynchronous notification is not supported */
		return;
	}
	p[3] = 0x10; /* supported classes: media */
	if (!(c->cdb[4] & 0x10)) {
		scsi_put_be16(p, 2);
		p[2] = 0x80; /* NEA */
		data_in(c, 4, scsi_get_be16(c->cdb + 7));
		return;
	}
	scsi_put_be16(p, 6);
	p[2] = 4; /* media class */
	p[4] = st->media_event;
	p[5] = (medium_present(c) ? 0x02 : 0) | (st->tray_open ? 0x01 : 0);
	st->media_event = ATAPI_EVENT_NONE;
	data_in(c, 8, scsi_get_be16(c->cdb + 7));
}

/* READ DISC INFORMATION (MMC-3): one complete session of one track, finalized. */
static void cmd_read_disc_info(struct atapi_ctx *c)
{
	uint8_t *p = c->buf;
	if (c->cdb[1] & 0x07) {
		invalid_field(c); /* only the standard disc information block */
		return;
	}
	scsi_put_be16(p, 32);
	p[2] = 0x0E; /* last session complete, disc complete */
	p[3] = 1;    /* first track */
	p[4] = 1;    /* sessions */
	p[5] = 1;    /* first track of the last session */
	p[6] = 1;    /* last track of the last session */
	scsi_put_be32(p + 16, 0xFFFFFFFFu); /* no next session: lead-in and lead-out unknown */
	scsi_put_be32(p + 20, 0xFFFFFFFFu);
	data_in(c, 34, scsi_get_be16(c->cdb + 7));
}

/* MECHANISM STATUS (MMC-3): no changer, idle, the door bit. */
static void cmd_mechanism_status(struct atapi_ctx *c)
{
	c->buf[1] = c->st->tray_open ? 0x10 : 0;
	data_in(c, 8, scsi_get_be16(c->cdb + 8));
}

/* ---- the table and the dispatcher ---- */

enum {
	AF_NO_MEDIUM = 1 << 0, /* runs without a readable disc; else NOT READY, NO MEDIUM */
	AF_READS = 1 << 1,     /* may answer with the medium's blocks (READ result) */
	AF_DATA_OUT = 1 << 2,  /* may take parameter data from the host */
};

/* What a pending unit attention does to a command (SPC-3, unit attention condition; MMC-3 for GET
 * EVENT STATUS NOTIFICATION and GET CONFIGURATION). */
enum atapi_ua {
	UA_REPORT, /* CHECK CONDITION 06/28/00 instead of running; that clears the attention */
	UA_PASS,   /* runs, the attention stays pending (INQUIRY, GESN, GET CONFIGURATION) */
	UA_CLEARS, /* runs and reports the attention as its data, clearing it (REQUEST SENSE) */
};

struct atapi_cmd {
	const char *name;
	void (*run)(struct atapi_ctx *c);
	uint8_t flags;
	uint8_t ua;
};

#define NM AF_NO_MEDIUM

static const struct atapi_cmd atapi_cmds[256] = {
	[0x00] = { "TEST UNIT READY", cmd_good, 0, UA_REPORT },
	[0x03] = { "REQUEST SENSE", cmd_request_sense, NM, UA_CLEARS },
	[0x12] = { "INQUIRY", cmd_inquiry, NM, UA_PASS },
	[0x1B] = { "START STOP UNIT", cmd_start_stop, NM, UA_REPORT },
	[0x1E] = { "PREVENT ALLOW MEDIUM REMOVAL", cmd_prevent_allow, NM, UA_REPORT },
	[0x25] = { "READ CAPACITY", cmd_read_capacity, 0, UA_REPORT },
	[0x28] = { "READ (10)", cmd_read10, AF_READS, UA_REPORT },
	[0x2B] = { "SEEK (10)", cmd_seek, 0, UA_REPORT },
	[0x43] = { "READ TOC/PMA/ATIP", cmd_read_toc, 0, UA_REPORT },
	[0x46] = { "GET CONFIGURATION", cmd_get_configuration, NM, UA_PASS },
	[0x4A] = { "GET EVENT STATUS NOTIFICATION", cmd_get_event_status, NM, UA_PASS },
	[0x51] = { "READ DISC INFORMATION", cmd_read_disc_info, 0, UA_REPORT },
	[0x55] = { "MODE SELECT (10)", cmd_mode_select, NM | AF_DATA_OUT, UA_REPORT },
	[0x5A] = { "MODE SENSE (10)", cmd_mode_sense, NM, UA_REPORT },
	[0xA8] = { "READ (12)", cmd_read12, AF_READS, UA_REPORT },
	[0xBB] = { "SET CD SPEED", cmd_good, NM, UA_REPORT },
	[0xBD] = { "MECHANISM STATUS", cmd_mechanism_status, NM, UA_REPORT },
	[0xBE] = { "READ CD", cmd_read_cd, AF_READS, UA_REPORT },
};

#undef NM

/*
 * The rules every command shares, in SPC-3's order: a pending unit attention first (unless the
 * command passes it), then the opcode, then the medium. A command other than REQUEST SENSE
 * starts with no sense data, so its sense describes it alone.
 */
void atapi_exec(struct atapi_state *st, const struct atapi_medium *m, uint8_t *buf, size_t size,
		struct atapi_result *res)
{
	const struct atapi_cmd *cmd = &atapi_cmds[st->cdb[0]];
	struct atapi_ctx c = { st, m, st->cdb, buf, res };
	*res = (struct atapi_result){ .phase = ATAPI_GOOD };
	memset(buf, 0, size < ATAPI_RESPONSE_MAX ? size : ATAPI_RESPONSE_MAX);
	if (st->unit_attention && cmd->ua == UA_REPORT) {
		st->unit_attention = 0;
		fail(&c, ATAPI_SENSE_UNIT_ATTENTION, ASC_MEDIUM_CHANGED);
		return;
	}
	if (!cmd->run) {
		fail(&c, ATAPI_SENSE_ILLEGAL_REQUEST, ASC_INVALID_OPCODE);
		return;
	}
	if (cmd->ua != UA_CLEARS)
		st->sense_key = st->asc = st->ascq = 0;
	if (!(cmd->flags & AF_NO_MEDIUM) && !medium_present(&c)) {
		if (st->tray_open)
			fail(&c, ATAPI_SENSE_NOT_READY, ASC_NO_MEDIUM_TRAY_OPEN);
		else
			fail(&c, ATAPI_SENSE_NOT_READY, ASC_NO_MEDIUM_TRAY_CLOSED);
		return;
	}
	cmd->run(&c);
}

void atapi_reset(struct atapi_state *st)
{
	memset(st, 0, sizeof(*st));
}

void atapi_eject_requested(struct atapi_state *st)
{
	if (st->media_event == ATAPI_EVENT_NONE)
		st->media_event = ATAPI_EVENT_EJECT_REQUEST;
}

void atapi_medium_changed(struct atapi_state *st, bool inserted)
{
	st->tray_open = !inserted;
	st->unit_attention = inserted;
	st->media_event = inserted ? ATAPI_EVENT_NEW_MEDIA : ATAPI_EVENT_MEDIA_REMOVAL;
}

bool atapi_cmd_reads(uint8_t opcode)
{
	return atapi_cmds[opcode].flags & AF_READS;
}

bool atapi_cmd_takes_data(uint8_t opcode)
{
	return atapi_cmds[opcode].flags & AF_DATA_OUT;
}

const char *atapi_state_check(const struct atapi_state *st)
{
	if (st->unit_attention > 1 || st->tray_open > 1 || st->locked > 1)
		return "atapi: flag out of range";
	if (st->sense_key > 0x0F)
		return "atapi: bad sense key";
	if (st->media_event != ATAPI_EVENT_NONE && st->media_event != ATAPI_EVENT_NEW_MEDIA &&
	    st->media_event != ATAPI_EVENT_MEDIA_REMOVAL &&
	    st->media_event != ATAPI_EVENT_EJECT_REQUEST)
		return "atapi: bad media event";
	return NULL;
}
