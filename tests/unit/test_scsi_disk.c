/*
 * The SCSI disk command set (scsi_disk.c) called the way the LSI transport calls it: a table of
 * CDBs against the phase, length, range and sense each must give (every error included), then
 * the responses byte by byte: INQUIRY and its VPD pages, MODE SENSE, READ CAPACITY past 2 TiB,
 * REQUEST SENSE, REPORT LUNS; the unit attention rule, allocation lengths, short buffers and
 * CDBs, the logical unit with no disk, and the state check.
 */
#include <glib.h>
#include <string.h>

#include "devices/scsi_disk.h"

#define BLOCKS 2048ull /* a 1 MiB disk */
#define TB2 (1ull << 32) /* blocks of a 2 TiB disk: READ CAPACITY (10) can no longer say it */

struct disk {
	struct scsi_disk_state st;
	struct scsi_disk_medium m;
	struct scsi_disk_result res;
	uint8_t buf[512];
};

/* A disk past its power-on unit attention (a fresh state has one pending). */
static void disk_init(struct disk *d, uint64_t blocks, bool read_only)
{
	memset(d, 0, sizeof(*d));
	scsi_disk_reset(&d->st);
	d->st.unit_attention = 0;
	d->m = (struct scsi_disk_medium){ blocks, read_only, "PCVM0123ABCD" };
}

static void run(struct disk *d, const uint8_t *cdb, size_t cdb_len)
{
	memset(d->buf, 0xEE, sizeof(d->buf));
	scsi_disk_exec(&d->st, &d->m, cdb, cdb_len, d->buf, sizeof(d->buf), &d->res);
}

#define RUN(d, ...)                                                                                \
	run(d, (const uint8_t[]){ __VA_ARGS__ }, sizeof((const uint8_t[]){ __VA_ARGS__ }))

static void assert_sense(const struct disk *d, uint8_t key, uint8_t asc, uint8_t ascq)
{
	g_assert_cmpint(d->res.phase, ==, SCSI_DISK_CHECK);
	g_assert_cmphex(d->st.sense_key, ==, key);
	g_assert_cmphex(d->st.asc, ==, asc);
	g_assert_cmphex(d->st.ascq, ==, ascq);
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | p[1] << 16 | p[2] << 8 | p[3];
}

static uint64_t be64(const uint8_t *p)
{
	return (uint64_t)be32(p) << 32 | be32(p + 4);
}

/* ---- the command table ---- */

enum { RW = 0, RO = 1 };

struct cmd_case {
	const char *what;
	uint8_t cdb[16];
	uint64_t blocks;
	uint8_t read_only;
	enum scsi_disk_phase phase;
	uint32_t len;	    /* DATA_IN, DATA_OUT */
	uint64_t lba;	    /* READ, WRITE */
	uint32_t nblocks;   /* READ, WRITE */
	uint8_t key, asc;   /* CHECK (ascq is 0 for every error here) */
};

#define GOOD(w, b, ro, ...) { w, { __VA_ARGS__ }, b, ro, SCSI_DISK_GOOD, 0, 0, 0, 0, 0 }
#define CHECK(w, b, ro, k, a, ...) { w, { __VA_ARGS__ }, b, ro, SCSI_DISK_CHECK, 0, 0, 0, k, a }
#define IN(w, b, len, ...) { w, { __VA_ARGS__ }, b, RW, SCSI_DISK_DATA_IN, len, 0, 0, 0, 0 }
#define OUT(w, b, len, ...) { w, { __VA_ARGS__ }, b, RW, SCSI_DISK_DATA_OUT, len, 0, 0, 0, 0 }
#define XFER(w, b, ph, lba, n, ...) { w, { __VA_ARGS__ }, b, RW, ph, 0, lba, n, 0, 0 }
#define READ_(w, b, lba, n, ...) XFER(w, b, SCSI_DISK_READ, lba, n, __VA_ARGS__)
#define WRITE_(w, b, lba, n, ...) XFER(w, b, SCSI_DISK_WRITE, lba, n, __VA_ARGS__)

#define ILL 0x05
#define BAD_OP 0x20
#define BAD_LBA 0x21
#define BAD_FIELD 0x24

static const struct cmd_case cmd_cases[] = {
	GOOD("TEST UNIT READY", BLOCKS, RW, 0x00),
	GOOD("REZERO UNIT", BLOCKS, RW, 0x01),
	IN("REQUEST SENSE", BLOCKS, 18, 0x03, 0, 0, 0, 252),
	IN("REQUEST SENSE, short allocation", BLOCKS, 8, 0x03, 0, 0, 0, 8),
	GOOD("REQUEST SENSE, allocation 0", BLOCKS, RW, 0x03),
	CHECK("REQUEST SENSE, descriptor format", BLOCKS, RW, ILL, BAD_FIELD, 0x03, 1, 0, 0, 252),
	GOOD("FORMAT UNIT", BLOCKS, RW, 0x04),
	CHECK("FORMAT UNIT with a parameter list", BLOCKS, RW, ILL, BAD_FIELD, 0x04, 0x10),
	CHECK("FORMAT UNIT, read-only", BLOCKS, RO, 0x07, 0x27, 0x04),
	IN("INQUIRY", BLOCKS, 36, 0x12, 0, 0, 0, 96),
	IN("INQUIRY, short allocation", BLOCKS, 5, 0x12, 0, 0, 0, 5),
	CHECK("INQUIRY page without EVPD", BLOCKS, RW, ILL, BAD_FIELD, 0x12, 0, 0x80, 0, 96),
	CHECK("INQUIRY CmdDt", BLOCKS, RW, ILL, BAD_FIELD, 0x12, 2, 0, 0, 96),
	IN("INQUIRY VPD 00h", BLOCKS, 9, 0x12, 1, 0x00, 0, 96),
	IN("INQUIRY VPD 80h", BLOCKS, 16, 0x12, 1, 0x80, 0, 96),
	IN("INQUIRY VPD 83h", BLOCKS, 4 + 12 + 4 + 8 + 12, 0x12, 1, 0x83, 0, 96),
	IN("INQUIRY VPD B0h", BLOCKS, 64, 0x12, 1, 0xB0, 0, 96),
	IN("INQUIRY VPD B1h", BLOCKS, 64, 0x12, 1, 0xB1, 0, 96),
	CHECK("INQUIRY VPD 81h", BLOCKS, RW, ILL, BAD_FIELD, 0x12, 1, 0x81, 0, 96),
	READ_("READ (6)", BLOCKS, 0x123, 8, 0x08, 0, 0x01, 0x23, 8),
	READ_("READ (6), 0 is 256 blocks", BLOCKS, 0, 256, 0x08, 0, 0, 0, 0),
	READ_("READ (6), 21-bit LBA", 1u << 21, 0x1FFF00, 256, 0x08, 0x1F, 0xFF, 0x00, 0),
	CHECK("READ (6) past the end", BLOCKS, RW, ILL, BAD_LBA, 0x08, 0, 0x07, 0xFF, 2),
	WRITE_("WRITE (6)", BLOCKS, 7, 1, 0x0A, 0, 0, 7, 1),
	CHECK("WRITE (6), read-only", BLOCKS, RO, 0x07, 0x27, 0x0A, 0, 0, 7, 1),
	GOOD("SEEK (6)", BLOCKS, RW, 0x0B, 0, 0x07, 0xFF),
	CHECK("SEEK (6) past the end", BLOCKS, RW, ILL, BAD_LBA, 0x0B, 0, 0x08, 0x00),
	OUT("MODE SELECT (6)", BLOCKS, 24, 0x15, 0x10, 0, 0, 24),
	GOOD("MODE SELECT (6), no parameters", BLOCKS, RW, 0x15, 0x10),
	CHECK("MODE SELECT (6), save pages", BLOCKS, RW, ILL, BAD_FIELD, 0x15, 0x11, 0, 0, 24),
	GOOD("RESERVE (6)", BLOCKS, RW, 0x16),
	GOOD("RELEASE (6)", BLOCKS, RW, 0x17),
	IN("MODE SENSE (6) all", BLOCKS, 4 + 8 + 20 + 12, 0x1A, 0, 0x3F, 0, 255),
	IN("MODE SENSE (6) DBD", BLOCKS, 4 + 20 + 12, 0x1A, 0x08, 0x3F, 0, 255),
	IN("MODE SENSE (6) caching", BLOCKS, 4 + 8 + 20, 0x1A, 0, 0x08, 0, 255),
	IN("MODE SENSE (6) control, DBD", BLOCKS, 4 + 12, 0x1A, 0x08, 0x0A, 0, 255),
	IN("MODE SENSE (6) header only", BLOCKS, 4, 0x1A, 0, 0x3F, 0, 4),
	IN("MODE SENSE (6) all subpages", BLOCKS, 44, 0x1A, 0, 0x3F, 0xFF, 255),
	IN("MODE SENSE (6) changeable", BLOCKS, 44, 0x1A, 0, 0x7F, 0, 255),
	IN("MODE SENSE (6) default", BLOCKS, 44, 0x1A, 0, 0xBF, 0, 255),
	CHECK("MODE SENSE (6) saved", BLOCKS, RW, ILL, 0x39, 0x1A, 0, 0xFF, 0, 255),
	CHECK("MODE SENSE (6) page 04h", BLOCKS, RW, ILL, BAD_FIELD, 0x1A, 0, 0x04, 0, 255),
	CHECK("MODE SENSE (6) a subpage", BLOCKS, RW, ILL, BAD_FIELD, 0x1A, 0, 0x08, 0x01, 255),
	IN("MODE SENSE (10)", BLOCKS, 8 + 8 + 20 + 12, 0x5A, 0, 0x3F, 0, 0, 0, 0, 1, 0),
	IN("MODE SENSE (10) LLBAA", BLOCKS, 8 + 16 + 20, 0x5A, 0x10, 0x08, 0, 0, 0, 0, 1, 0),
	IN("MODE SENSE (10) LLBAA, DBD", BLOCKS, 8 + 12, 0x5A, 0x18, 0x0A, 0, 0, 0, 0, 1, 0),
	CHECK("MODE SENSE (10) saved", BLOCKS, RW, ILL, 0x39, 0x5A, 0, 0xC8, 0, 0, 0, 0, 1, 0),
	GOOD("START STOP UNIT", BLOCKS, RW, 0x1B, 0, 0, 0, 0x01),
	GOOD("SEND DIAGNOSTIC, self-test", BLOCKS, RW, 0x1D, 0x04),
	OUT("SEND DIAGNOSTIC, parameters", BLOCKS, 0x104, 0x1D, 0x10, 0, 0x01, 0x04),
	GOOD("PREVENT ALLOW MEDIUM REMOVAL", BLOCKS, RW, 0x1E, 0, 0, 0, 1),
	IN("READ CAPACITY (10)", BLOCKS, 8, 0x25),
	IN("READ CAPACITY (10) PMI", BLOCKS, 8, 0x25, 0, 0, 0, 0, 5, 0, 0, 1),
	CHECK("READ CAPACITY (10) LBA, no PMI", BLOCKS, RW, ILL, BAD_FIELD, 0x25, 0, 0, 0, 0, 5),
	READ_("READ (10)", BLOCKS, 2040, 8, 0x28, 0, 0, 0, 0x07, 0xF8, 0, 0, 8),
	GOOD("READ (10), length 0", BLOCKS, RW, 0x28, 0, 0, 0, 0x07, 0xF8),
	GOOD("READ (10), length 0 at the end", BLOCKS, RW, 0x28, 0, 0, 0, 0x08, 0x00),
	READ_("READ (10), DPO FUA", BLOCKS, 1, 1, 0x28, 0x18, 0, 0, 0, 1, 0, 0, 1),
	CHECK("READ (10) one past the end", BLOCKS, RW, ILL, BAD_LBA, 0x28, 0, 0, 0, 0x07, 0xF8,
	      0, 0, 9),
	CHECK("READ (10) at the end", BLOCKS, RW, ILL, BAD_LBA, 0x28, 0, 0, 0, 0x08, 0x00, 0, 0, 1),
	CHECK("READ (10) LBA FFFFFFFF", BLOCKS, RW, ILL, BAD_LBA, 0x28, 0, 0xFF, 0xFF, 0xFF, 0xFF,
	      0, 0, 1),
	CHECK("READ (10) RDPROTECT", BLOCKS, RW, ILL, BAD_FIELD, 0x28, 0x20, 0, 0, 0, 0, 0, 0, 1),
	WRITE_("WRITE (10), the last 65535 blocks", 0x10010, 0x11, 0xFFFF, 0x2A, 0, 0, 0, 0, 0x11,
	       0, 0xFF, 0xFF),
	CHECK("WRITE (10) past the end", BLOCKS, RW, ILL, BAD_LBA, 0x2A, 0, 0, 0, 0x07, 0xFF, 0, 0,
	      2),
	CHECK("WRITE (10) WRPROTECT", BLOCKS, RW, ILL, BAD_FIELD, 0x2A, 0x40, 0, 0, 0, 0, 0, 0, 1),
	CHECK("WRITE (10), read-only", BLOCKS, RO, 0x07, 0x27, 0x2A, 0, 0, 0, 0, 0, 0, 0, 1),
	GOOD("WRITE (10), length 0", BLOCKS, RW, 0x2A),
	GOOD("SEEK (10)", BLOCKS, RW, 0x2B, 0, 0, 0, 0x07, 0xFF),
	CHECK("SEEK (10) past the end", BLOCKS, RW, ILL, BAD_LBA, 0x2B, 0, 0, 0, 0x08, 0),
	WRITE_("WRITE AND VERIFY (10)", BLOCKS, 3, 2, 0x2E, 0x02, 0, 0, 0, 3, 0, 0, 2),
	CHECK("WRITE AND VERIFY (10), read-only", BLOCKS, RO, 0x07, 0x27, 0x2E, 0, 0, 0, 0, 3, 0, 0,
	      2),
	GOOD("VERIFY (10)", BLOCKS, RW, 0x2F, 0, 0, 0, 0, 0, 0, 0x08, 0x00),
	GOOD("VERIFY (10), read-only", BLOCKS, RO, 0x2F, 0, 0, 0, 0, 0, 0, 0x08, 0x00),
	CHECK("VERIFY (10) past the end", BLOCKS, RW, ILL, BAD_LBA, 0x2F, 0, 0, 0, 0, 1, 0, 0x08,
	      0x00),
	CHECK("VERIFY (10) BYTCHK", BLOCKS, RW, ILL, BAD_FIELD, 0x2F, 0x02, 0, 0, 0, 0, 0, 0, 1),
	{ "SYNCHRONIZE CACHE (10)", { 0x35 }, BLOCKS, RO, SCSI_DISK_FLUSH, 0, 0, 0, 0, 0 },
	{ "SYNCHRONIZE CACHE (10) range", { 0x35, 0, 0, 0, 0x07, 0, 0, 1, 0 }, BLOCKS, RW,
	  SCSI_DISK_FLUSH, 0, 0, 0, 0, 0 },
	CHECK("SYNCHRONIZE CACHE (10) past the end", BLOCKS, RW, ILL, BAD_LBA, 0x35, 0, 0, 0, 0x08,
	      0x01),
	OUT("MODE SELECT (10)", BLOCKS, 0x1234, 0x55, 0x10, 0, 0, 0, 0, 0, 0x12, 0x34),
	CHECK("MODE SELECT (10), save pages", BLOCKS, RW, ILL, BAD_FIELD, 0x55, 0x01, 0, 0, 0, 0, 0,
	      0, 8),
	READ_("READ (16)", TB2 + 16, TB2 + 8, 8, 0x88, 0, 0, 0, 0, 1, 0, 0, 0, 8, 0, 0, 0, 8),
	CHECK("READ (16) LBA + length overflows", BLOCKS, RW, ILL, BAD_LBA, 0x88, 0, 0xFF, 0xFF,
	      0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 2),
	CHECK("READ (16) huge length", BLOCKS, RW, ILL, BAD_LBA, 0x88, 0, 0, 0, 0, 0, 0, 0, 0, 1,
	      0xFF, 0xFF, 0xFF, 0xFF),
	WRITE_("WRITE (16)", TB2 + 16, TB2 + 15, 1, 0x8A, 0, 0, 0, 0, 1, 0, 0, 0, 15, 0, 0, 0, 1),
	CHECK("WRITE (16) LBA + length overflows", BLOCKS, RW, ILL, BAD_LBA, 0x8A, 0, 0xFF, 0xFF,
	      0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xF0, 0, 0, 0, 0x20),
	WRITE_("WRITE AND VERIFY (16)", BLOCKS, 0, 1, 0x8E, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1),
	GOOD("VERIFY (16)", TB2 + 16, RW, 0x8F, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 16),
	CHECK("VERIFY (16) past the end", TB2 + 16, RW, ILL, BAD_LBA, 0x8F, 0, 0, 0, 0, 1, 0, 0, 0,
	      1, 0, 0, 0, 16),
	{ "SYNCHRONIZE CACHE (16)", { 0x91, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x08, 0 }, BLOCKS, RW,
	  SCSI_DISK_FLUSH, 0, 0, 0, 0, 0 },
	CHECK("SYNCHRONIZE CACHE (16) overflow", BLOCKS, RW, ILL, BAD_LBA, 0x91, 0, 0xFF, 0xFF,
	      0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 2),
	IN("READ CAPACITY (16)", BLOCKS, 32, 0x9E, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 32),
	IN("READ CAPACITY (16), short allocation", BLOCKS, 12, 0x9E, 0x10, 0, 0, 0, 0, 0, 0, 0, 0,
	   0, 0, 0, 12),
	CHECK("SERVICE ACTION IN (16), another action", BLOCKS, RW, ILL, BAD_FIELD, 0x9E, 0x11, 0,
	      0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 32),
	IN("REPORT LUNS", BLOCKS, 16, 0xA0, 0, 0, 0, 0, 0, 0, 0, 1, 0),
	IN("REPORT LUNS, short allocation", BLOCKS, 4, 0xA0, 0, 2, 0, 0, 0, 0, 0, 0, 4),
	CHECK("REPORT LUNS, select report 3", BLOCKS, RW, ILL, BAD_FIELD, 0xA0, 0, 3, 0, 0, 0, 0, 0,
	      1, 0),
	READ_("READ (12)", BLOCKS, 1, 2047, 0xA8, 0, 0, 0, 0, 1, 0, 0, 0x07, 0xFF),
	CHECK("READ (12) past the end", BLOCKS, RW, ILL, BAD_LBA, 0xA8, 0, 0, 0, 0, 1, 0, 0, 0x08,
	      0x00),
	WRITE_("WRITE (12)", BLOCKS, 0, BLOCKS, 0xAA, 0, 0, 0, 0, 0, 0, 0, 0x08, 0x00),
	CHECK("WRITE (12), read-only", BLOCKS, RO, 0x07, 0x27, 0xAA, 0, 0, 0, 0, 0, 0, 0, 0, 1),
	WRITE_("WRITE AND VERIFY (12)", BLOCKS, 9, 1, 0xAE, 0, 0, 0, 0, 9, 0, 0, 0, 1),
	GOOD("VERIFY (12)", BLOCKS, RW, 0xAF, 0, 0, 0, 0, 9, 0, 0, 0, 1),
	CHECK("unknown opcode 02h", BLOCKS, RW, ILL, BAD_OP, 0x02),
	CHECK("unknown opcode (LOG SENSE)", BLOCKS, RW, ILL, BAD_OP, 0x4D),
	CHECK("unknown opcode (ATA PASS-THROUGH)", BLOCKS, RW, ILL, BAD_OP, 0x85),
	CHECK("unknown opcode (REPORT OPCODES)", BLOCKS, RW, ILL, BAD_OP, 0xA3, 0x0C),
	CHECK("unknown opcode (vendor group)", BLOCKS, RW, ILL, BAD_OP, 0xC0),
	CHECK("unknown opcode (reserved group)", BLOCKS, RW, ILL, BAD_OP, 0x7F),
};

static void test_command_table(void)
{
	for (size_t i = 0; i < G_N_ELEMENTS(cmd_cases); i++) {
		const struct cmd_case *t = &cmd_cases[i];
		struct disk d;
		g_test_message("%s", t->what);
		disk_init(&d, t->blocks, t->read_only);
		d.st.sense_key = 0x0B; /* a stale sense: any command but REQUEST SENSE drops it */
		run(&d, t->cdb, sizeof(t->cdb));
		g_assert_cmpint(d.res.phase, ==, t->phase);
		if (t->phase == SCSI_DISK_CHECK) {
			assert_sense(&d, t->key, t->asc, 0);
			continue;
		}
		if (t->cdb[0] != 0x03)
			g_assert_cmphex(d.st.sense_key, ==, 0);
		if (t->phase == SCSI_DISK_DATA_IN || t->phase == SCSI_DISK_DATA_OUT)
			g_assert_cmpuint(d.res.len, ==, t->len);
		if (t->phase == SCSI_DISK_READ || t->phase == SCSI_DISK_WRITE) {
			g_assert_cmpuint(d.res.lba, ==, t->lba);
			g_assert_cmpuint(d.res.blocks, ==, t->nblocks);
		}
	}
}

/* Every opcode the table does not list fails, and each listed one with a read or write result
 * says so through the flags the transport checks a loaded state against. */
static void test_opcode_flags(void)
{
	g_assert_true(scsi_disk_cmd_reads(0x28));
	g_assert_true(scsi_disk_cmd_reads(0x08));
	g_assert_false(scsi_disk_cmd_reads(0x2A));
	g_assert_false(scsi_disk_cmd_reads(0x12));
	g_assert_true(scsi_disk_cmd_takes_data(0x2A));
	g_assert_true(scsi_disk_cmd_takes_data(0x8A));
	g_assert_true(scsi_disk_cmd_takes_data(0x55));
	g_assert_false(scsi_disk_cmd_takes_data(0x28));
	g_assert_false(scsi_disk_cmd_takes_data(0xFF));
	g_assert_cmpint(scsi_cdb_len(0x00), ==, 6);
	g_assert_cmpint(scsi_cdb_len(0x28), ==, 10);
	g_assert_cmpint(scsi_cdb_len(0x5A), ==, 10);
	g_assert_cmpint(scsi_cdb_len(0x7F), ==, -1);
	g_assert_cmpint(scsi_cdb_len(0x88), ==, 16);
	g_assert_cmpint(scsi_cdb_len(0xA8), ==, 12);
	g_assert_cmpint(scsi_cdb_len(0xC0), ==, -1);
	g_assert_cmpint(scsi_cdb_len(0xFF), ==, -1);
}

/* ---- responses ---- */

static void test_inquiry(void)
{
	struct disk d;
	disk_init(&d, BLOCKS, false);
	RUN(&d, 0x12, 0, 0, 0, 255, 0);
	g_assert_cmpuint(d.res.len, ==, 36);
	g_assert_cmphex(d.buf[0], ==, 0x00); /* connected direct-access device */
	g_assert_cmphex(d.buf[1], ==, 0x00); /* not removable */
	g_assert_cmphex(d.buf[2], ==, 0x05);
	g_assert_cmphex(d.buf[3] & 0x0F, ==, 0x02);
	g_assert_cmpuint(d.buf[4], ==, 31);
	g_assert_cmpmem(d.buf + 8, 28, "PCVM    Virtual disk    0.1 ", 28);
	g_assert_cmphex(d.buf[36], ==, 0xEE); /* nothing past the data */

	RUN(&d, 0x12, 1, 0x00, 0, 255, 0);
	static const uint8_t supported[] = { 0, 0, 0, 5, 0x00, 0x80, 0x83, 0xB0, 0xB1 };
	g_assert_cmpmem(d.buf, d.res.len, supported, sizeof(supported));

	RUN(&d, 0x12, 1, 0x80, 0, 255, 0);
	g_assert_cmpmem(d.buf, d.res.len, "\0\x80\0\x0cPCVM0123ABCD", 16);

	/* device identification: NAA 3h then T10 vendor ID + serial */
	RUN(&d, 0x12, 1, 0x83, 0, 255, 0);
	g_assert_cmphex(d.buf[1], ==, 0x83);
	g_assert_cmpuint(d.buf[3], ==, d.res.len - 4);
	g_assert_cmphex(d.buf[4], ==, 0x01);
	g_assert_cmphex(d.buf[5], ==, 0x03);
	g_assert_cmpuint(d.buf[7], ==, 8);
	g_assert_cmphex(d.buf[8] >> 4, ==, 0x3);
	uint64_t naa = be64(d.buf + 8);
	g_assert_cmphex(d.buf[16], ==, 0x02);
	g_assert_cmphex(d.buf[17], ==, 0x01);
	g_assert_cmpuint(d.buf[19], ==, 20);
	g_assert_cmpmem(d.buf + 20, 20, "PCVM    PCVM0123ABCD", 20);
	/* another serial, another identifier; the same one, the same */
	d.m.serial = "PCVM0123ABCE";
	RUN(&d, 0x12, 1, 0x83, 0, 255, 0);
	g_assert_cmphex(be64(d.buf + 8), !=, naa);
	d.m.serial = "PCVM0123ABCD";
	RUN(&d, 0x12, 1, 0x83, 0, 255, 0);
	g_assert_cmphex(be64(d.buf + 8), ==, naa);

	/* no serial: empty page 80h, a designator of the vendor alone */
	d.m.serial = NULL;
	RUN(&d, 0x12, 1, 0x80, 0, 255, 0);
	g_assert_cmpuint(d.res.len, ==, 4);
	g_assert_cmpuint(d.buf[3], ==, 0);
	/* a serial longer than 20 characters is cut */
	d.m.serial = "0123456789012345678901234";
	RUN(&d, 0x12, 1, 0x80, 0, 255, 0);
	g_assert_cmpmem(d.buf + 4, d.res.len - 4, "01234567890123456789", 20);

	RUN(&d, 0x12, 1, 0xB1, 0, 255, 0);
	g_assert_cmphex(d.buf[1], ==, 0xB1);
	g_assert_cmpuint(d.buf[3], ==, 0x3C);
	g_assert_cmpuint(d.buf[5], ==, 1); /* non-rotating */
	RUN(&d, 0x12, 1, 0xB0, 0, 255, 0);
	g_assert_cmpuint(d.buf[3], ==, 0x3C);
}

static void test_read_capacity(void)
{
	static const struct {
		uint64_t blocks;
		uint32_t rc10;
	} sizes[] = {
		{ BLOCKS, BLOCKS - 1 },
		{ TB2 - 1, 0xFFFFFFFE },
		{ TB2, 0xFFFFFFFF },	  /* last LBA FFFFFFFFh: only READ CAPACITY (16) can say it */
		{ TB2 + 1, 0xFFFFFFFF },  /* 2 TiB + 512 bytes */
		{ 1ull << 40, 0xFFFFFFFF }, /* 512 TiB */
	};
	for (size_t i = 0; i < G_N_ELEMENTS(sizes); i++) {
		struct disk d;
		disk_init(&d, sizes[i].blocks, false);
		RUN(&d, 0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0);
		g_assert_cmpuint(d.res.len, ==, 8);
		g_assert_cmphex(be32(d.buf), ==, sizes[i].rc10);
		g_assert_cmpuint(be32(d.buf + 4), ==, 512);
		RUN(&d, 0x9E, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 32, 0, 0);
		g_assert_cmpuint(d.res.len, ==, 32);
		g_assert_cmphex(be64(d.buf), ==, sizes[i].blocks - 1);
		g_assert_cmpuint(be32(d.buf + 8), ==, 512);
		for (int b = 12; b < 32; b++)
			g_assert_cmphex(d.buf[b], ==, 0); /* no protection, no thin provisioning */
		/* the last block of a disk past 2 TiB is readable with READ (16) */
		uint64_t last = sizes[i].blocks - 1;
		RUN(&d, 0x88, 0, last >> 56, last >> 48, last >> 40, last >> 32, last >> 24,
		    last >> 16, last >> 8, last, 0, 0, 0, 1, 0, 0);
		g_assert_cmpint(d.res.phase, ==, SCSI_DISK_READ);
		g_assert_cmpuint(d.res.lba, ==, last);
	}
}

/* MODE SENSE (6) and (10): headers, block descriptors, the caching page's WCE, write protect,
 * changeable values. */
static void test_mode_sense(void)
{
	struct disk d;
	disk_init(&d, TB2 + 5, false);
	RUN(&d, 0x1A, 0, 0x3F, 0, 255, 0);
	g_assert_cmpuint(d.buf[0], ==, 44 - 1);
	g_assert_cmphex(d.buf[2], ==, 0x00); /* writable */
	g_assert_cmpuint(d.buf[3], ==, 8);
	g_assert_cmphex(be32(d.buf + 4), ==, 0xFFFFFFFF); /* too many blocks for 32 bits */
	g_assert_cmpuint(be32(d.buf + 8), ==, 512);
	g_assert_cmpmem(d.buf + 12, 4, "\x08\x12\x04\x00", 4); /* caching page, WCE */
	g_assert_cmpmem(d.buf + 32, 2, "\x0a\x0a", 2);	   /* control page */

	RUN(&d, 0x1A, 0, 0x7F, 0, 255, 0); /* changeable values: nothing */
	g_assert_cmpmem(d.buf + 12, 4, "\x08\x12\x00\x00", 4);

	d.m.read_only = true;
	RUN(&d, 0x5A, 0x10, 0x08, 0, 0, 0, 0, 0, 255, 0); /* long LBA descriptor */
	g_assert_cmpuint(d.buf[0] << 8 | d.buf[1], ==, 8 + 16 + 20 - 2);
	g_assert_cmphex(d.buf[3], ==, 0x80); /* WP */
	g_assert_cmphex(d.buf[4], ==, 0x01); /* LONGLBA */
	g_assert_cmpuint(d.buf[6] << 8 | d.buf[7], ==, 16);
	g_assert_cmphex(be64(d.buf + 8), ==, TB2 + 5);
	g_assert_cmpuint(be32(d.buf + 20), ==, 512);
	g_assert_cmphex(d.buf[24], ==, 0x08);

	RUN(&d, 0x5A, 0x08, 0x0A, 0, 0, 0, 0, 0, 6, 0); /* DBD, truncated */
	g_assert_cmpuint(d.res.len, ==, 6);
	g_assert_cmpuint(d.buf[0] << 8 | d.buf[1], ==, 8 + 12 - 2);
	g_assert_cmphex(d.buf[6], ==, 0xEE);
}

static void test_request_sense_and_luns(void)
{
	struct disk d;
	disk_init(&d, BLOCKS, false);
	RUN(&d, 0x28, 0, 0, 0, 0x10, 0, 0, 0, 1, 0); /* out of range */
	RUN(&d, 0x03, 0, 0, 0, 252, 0);
	g_assert_cmpuint(d.res.len, ==, 18);
	static const uint8_t lba_sense[18] = { 0x70, 0, 0x05, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0x21 };
	g_assert_cmpmem(d.buf, 18, lba_sense, 18);
	/* reported, so cleared */
	RUN(&d, 0x03, 0, 0, 0, 252, 0);
	static const uint8_t no_sense[18] = { 0x70, 0, 0, 0, 0, 0, 0, 10 };
	g_assert_cmpmem(d.buf, 18, no_sense, 18);
	/* a command that succeeds clears the sense too */
	RUN(&d, 0x99);
	RUN(&d, 0x00, 0, 0, 0, 0, 0);
	RUN(&d, 0x03, 0, 0, 0, 252, 0);
	g_assert_cmpmem(d.buf, 18, no_sense, 18);
	/* an allocation shorter than the data gets the start of it and loses the rest */
	RUN(&d, 0x99);
	RUN(&d, 0x03, 0, 0, 0, 3, 0);
	g_assert_cmpuint(d.res.len, ==, 3);
	g_assert_cmpmem(d.buf, 4, "\x70\x00\x05\xee", 4);
	g_assert_cmphex(d.st.sense_key, ==, 0);

	RUN(&d, 0xA0, 0, 0, 0, 0, 0, 0, 0, 0x10, 0, 0, 0);
	static const uint8_t luns[16] = { 0, 0, 0, 8 };
	g_assert_cmpmem(d.buf, d.res.len, luns, 16);
}

/* SPC-3 5.9.7: after power-on or reset, every command but INQUIRY, REPORT LUNS and REQUEST
 * SENSE ends once in CHECK CONDITION, UNIT ATTENTION, POWER ON, RESET (06/29/00) without
 * running; REQUEST SENSE reports it as its data. Either way it is reported once. */
static void test_unit_attention(void)
{
	struct disk d;
	disk_init(&d, BLOCKS, false);
	scsi_disk_reset(&d.st);
	RUN(&d, 0x12, 0, 0, 0, 36, 0);
	g_assert_cmpint(d.res.phase, ==, SCSI_DISK_DATA_IN);
	RUN(&d, 0xA0, 0, 0, 0, 0, 0, 0, 0, 0x10, 0, 0, 0);
	g_assert_cmpint(d.res.phase, ==, SCSI_DISK_DATA_IN);
	RUN(&d, 0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0); /* a READ does not run */
	assert_sense(&d, 0x06, 0x29, 0x00);
	RUN(&d, 0x03, 0, 0, 0, 18, 0); /* its sense, then nothing */
	g_assert_cmphex(d.buf[2], ==, 0x06);
	g_assert_cmphex(d.buf[12], ==, 0x29);
	RUN(&d, 0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0);
	g_assert_cmpint(d.res.phase, ==, SCSI_DISK_READ);

	/* an unknown opcode reports the attention first */
	scsi_disk_reset(&d.st);
	RUN(&d, 0xC0);
	assert_sense(&d, 0x06, 0x29, 0x00);
	RUN(&d, 0xC0);
	assert_sense(&d, 0x05, 0x20, 0x00);

	/* REQUEST SENSE takes the attention in place of the sense, and clears both */
	scsi_disk_reset(&d.st);
	RUN(&d, 0x03, 0, 0, 0, 18, 0);
	g_assert_cmpint(d.res.phase, ==, SCSI_DISK_DATA_IN);
	g_assert_cmphex(d.buf[2], ==, 0x06);
	g_assert_cmphex(d.buf[12], ==, 0x29);
	g_assert_cmphex(d.buf[13], ==, 0x00);
	RUN(&d, 0x00, 0, 0, 0, 0, 0);
	g_assert_cmpint(d.res.phase, ==, SCSI_DISK_GOOD);
	g_assert_null(scsi_disk_state_check(&d.st));
}

/* What the transport hands over need not be well formed: short CDBs read as zero past their
 * end, longer ones are cut at 16 bytes, a small buffer cuts the response. */
static void test_hostile_input(void)
{
	struct disk d;
	disk_init(&d, BLOCKS, false);
	RUN(&d, 0x28); /* READ (10) of 1 byte: LBA 0, length 0 */
	g_assert_cmpint(d.res.phase, ==, SCSI_DISK_GOOD);
	RUN(&d, 0x12); /* INQUIRY, allocation 0: no data, GOOD */
	g_assert_cmpint(d.res.phase, ==, SCSI_DISK_GOOD);
	run(&d, NULL, 0); /* nothing at all reads as TEST UNIT READY */
	g_assert_cmpint(d.res.phase, ==, SCSI_DISK_GOOD);
	uint8_t long_cdb[64];
	memset(long_cdb, 0xFF, sizeof(long_cdb));
	long_cdb[0] = 0x88;
	long_cdb[1] = 0;
	run(&d, long_cdb, sizeof(long_cdb));
	assert_sense(&d, 0x05, 0x21, 0x00);

	uint8_t small[10];
	memset(small, 0xEE, sizeof(small));
	scsi_disk_exec(&d.st, &d.m, (const uint8_t[6]){ 0x12, 0, 0, 0, 255, 0 }, 6, small,
		       sizeof(small) - 2, &d.res);
	g_assert_cmpuint(d.res.len, ==, 8);
	g_assert_cmphex(small[8], ==, 0xEE);

	/* every opcode, every group, a CDB of all-ones: an answer, sane lengths */
	for (unsigned op = 0; op < 256; op++) {
		uint8_t cdb[16];
		memset(cdb, 0xFF, sizeof(cdb));
		cdb[0] = op;
		run(&d, cdb, sizeof(cdb));
		if (d.res.phase == SCSI_DISK_DATA_IN)
			g_assert_cmpuint(d.res.len, <=, sizeof(d.buf));
		if (d.res.phase == SCSI_DISK_READ || d.res.phase == SCSI_DISK_WRITE)
			g_assert_cmpuint(d.res.lba + d.res.blocks, <=, BLOCKS);
		g_assert_null(scsi_disk_state_check(&d.st));
	}
}

/* A LUN with no disk: qualifier 3 to INQUIRY, 05/25/00 to anything else and from REQUEST
 * SENSE. */
static void test_no_lun(void)
{
	uint8_t buf[64];
	struct scsi_disk_result res;
	memset(buf, 0xEE, sizeof(buf));
	scsi_disk_exec_no_lun((const uint8_t[6]){ 0x12, 0, 0, 0, 64, 0 }, 6, buf, 64, &res);
	g_assert_cmpint(res.phase, ==, SCSI_DISK_DATA_IN);
	g_assert_cmpuint(res.len, ==, 36);
	g_assert_cmphex(buf[0], ==, 0x7F);
	scsi_disk_exec_no_lun((const uint8_t[10]){ 0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0 }, 10, buf, 64,
			      &res);
	g_assert_cmpint(res.phase, ==, SCSI_DISK_CHECK);
	scsi_disk_exec_no_lun((const uint8_t[6]){ 0x03, 0, 0, 0, 18, 0 }, 6, buf, 64, &res);
	g_assert_cmpint(res.phase, ==, SCSI_DISK_DATA_IN);
	g_assert_cmpuint(res.len, ==, 18);
	g_assert_cmphex(buf[2], ==, 0x05);
	g_assert_cmphex(buf[12], ==, 0x25);
}

/* The transport's own errors, and the check of a loaded state. */
static void test_fail_and_state(void)
{
	struct disk d;
	disk_init(&d, BLOCKS, false);
	scsi_disk_fail(&d.st, &d.res, SCSI_SENSE_MEDIUM_ERROR, 0x11, 0x00);
	assert_sense(&d, 0x03, 0x11, 0x00);
	RUN(&d, 0x03, 0, 0, 0, 18, 0);
	g_assert_cmphex(d.buf[2], ==, 0x03);
	g_assert_cmphex(d.buf[12], ==, 0x11);

	struct scsi_disk_state st;
	scsi_disk_reset(&st);
	g_assert_cmpuint(st.unit_attention, ==, 1);
	g_assert_cmpuint(st.sense_key, ==, 0);
	g_assert_null(scsi_disk_state_check(&st));
	st.unit_attention = 2;
	g_assert_nonnull(scsi_disk_state_check(&st));
	st.unit_attention = 0;
	st.sense_key = 0x10;
	g_assert_nonnull(scsi_disk_state_check(&st));
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/scsi-disk/commands/table", test_command_table);
	g_test_add_func("/scsi-disk/commands/flags", test_opcode_flags);
	g_test_add_func("/scsi-disk/inquiry", test_inquiry);
	g_test_add_func("/scsi-disk/read-capacity", test_read_capacity);
	g_test_add_func("/scsi-disk/mode-sense", test_mode_sense);
	g_test_add_func("/scsi-disk/request-sense-and-luns", test_request_sense_and_luns);
	g_test_add_func("/scsi-disk/unit-attention", test_unit_attention);
	g_test_add_func("/scsi-disk/hostile-input", test_hostile_input);
	g_test_add_func("/scsi-disk/no-lun", test_no_lun);
	g_test_add_func("/scsi-disk/fail-and-state", test_fail_and_state);
	return g_test_run();
}
