/*
 * Facts every SCSI command set and transport here shares (SPC-3, T10/1416-D r23): sense keys,
 * status bytes, the length of a command descriptor block by its group code, and the big-endian
 * fields commands and their data are made of. Used by atapi.c (ATAPI packets are SCSI
 * commands) and scsi_disk.c, and by the LSI 53C895A transport.
 */
#pragma once
#include <stddef.h>
#include <stdint.h>

/* Sense keys (SPC-3 table 27) */
enum {
	SCSI_SENSE_NONE = 0x0,
	SCSI_SENSE_RECOVERED_ERROR = 0x1,
	SCSI_SENSE_NOT_READY = 0x2,
	SCSI_SENSE_MEDIUM_ERROR = 0x3,
	SCSI_SENSE_HARDWARE_ERROR = 0x4,
	SCSI_SENSE_ILLEGAL_REQUEST = 0x5,
	SCSI_SENSE_UNIT_ATTENTION = 0x6,
	SCSI_SENSE_DATA_PROTECT = 0x7,
	SCSI_SENSE_ABORTED_COMMAND = 0xB,
};

/* Status byte values (SAM-3 table 22) */
enum {
	SCSI_STATUS_GOOD = 0x00,
	SCSI_STATUS_CHECK_CONDITION = 0x02,
	SCSI_STATUS_BUSY = 0x08,
};

/* The longest command descriptor block of SPC-3's fixed groups (group 4). */
#define SCSI_CDB_MAX 16

/*
 * Length of the CDB that starts with OPCODE, from its group code (bits 7:5, SPC-3 4.3.4.1):
 * 6 (group 0), 10 (groups 1, 2), 16 (group 4), 12 (group 5); -1 for the reserved group 3 and
 * the vendor-specific groups 6 and 7, whose length the transport cannot know (such an opcode
 * is not a command here: run it anyway and the command set answers INVALID COMMAND OPERATION
 * CODE).
 */
static inline int scsi_cdb_len(uint8_t opcode)
{
	static const int8_t len[8] = { 6, 10, 10, -1, 16, 12, -1, -1 };
	return len[opcode >> 5];
}

/* ---- big-endian fields (SPC-3 3.5.3: multi-byte fields are big-endian) ---- */

static inline void scsi_put_be16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = v;
}

static inline void scsi_put_be32(uint8_t *p, uint32_t v)
{
	scsi_put_be16(p, v >> 16);
	scsi_put_be16(p + 2, v);
}

static inline void scsi_put_be64(uint8_t *p, uint64_t v)
{
	scsi_put_be32(p, v >> 32);
	scsi_put_be32(p + 4, v);
}

static inline uint16_t scsi_get_be16(const uint8_t *p)
{
	return p[0] << 8 | p[1];
}

static inline uint32_t scsi_get_be32(const uint8_t *p)
{
	return (uint32_t)scsi_get_be16(p) << 16 | scsi_get_be16(p + 2);
}

static inline uint64_t scsi_get_be64(const uint8_t *p)
{
	return (uint64_t)scsi_get_be32(p) << 32 | scsi_get_be32(p + 4);
}

/* Space-padded ASCII field of N bytes (SPC-3 4.4.1: INQUIRY's vendor, product, revision). */
static inline void scsi_put_string(uint8_t *p, size_t n, const char *s)
{
	size_t i = 0;
	for (; i < n && s[i]; i++)
		p[i] = (uint8_t)s[i];
	for (; i < n; i++)
		p[i] = ' ';
}
