/*
 * The command set of a SCSI direct-access disk (SPC-3 for the common commands, SBC-3 for the
 * block commands): what a command descriptor block means for a disk of 512-byte blocks.
 *
 * This file knows nothing of bus phases, SCRIPTS or the image: the transport (the LSI 53C895A
 * in lsi53c895a.c) takes the CDB from the initiator, hands it to scsi_disk_exec() and does what
 * the result asks (send a response, read or write blocks of the image, flush), then sends the
 * status byte: SCSI_STATUS_CHECK_CONDITION for SCSI_DISK_CHECK, SCSI_STATUS_GOOD for every
 * other phase once its data has moved. The disk's sense data and unit attention live in struct
 * scsi_disk_state, which the transport keeps (one per target) and saves with its own state.
 *
 * There is no autosense: after CHECK CONDITION the initiator asks with REQUEST SENSE, which
 * returns the sense data kept in the state and clears it.
 */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "devices/scsi.h"

#define SCSI_DISK_BLOCK 512 /* logical block length */

/* Guest-visible disk state, saved. Flags are bytes that scsi_disk_state_check() keeps 0 or 1. */
struct scsi_disk_state {
	uint8_t sense_key, asc, ascq; /* sense data of the last command, for REQUEST SENSE */
	uint8_t unit_attention;       /* power-on or reset not yet reported (06/29/00) */
};

/* Its fields for a state_desc table (src/state.h), for the member M of TYPE, e.g.
 * SCSI_DISK_STATE_FIELDS(struct lsi, disk_state[0]). The user includes state.h. */
#define SCSI_DISK_STATE_FIELDS(type, m)                                                            \
	STATE_U8(type, m.sense_key), STATE_U8(type, m.asc), STATE_U8(type, m.ascq),                \
		STATE_U8(type, m.unit_attention)

/* The disk as the command set sees it: the image is the transport's business. */
struct scsi_disk_medium {
	uint64_t blocks;    /* capacity in 512-byte blocks */
	bool read_only;     /* writes end in DATA PROTECT, WRITE PROTECTED (07/27/00) */
	const char *serial; /* unit serial number (VPD page 80h) and the base of the device
			     * identifiers (83h): printable ASCII, at most 20 characters used;
			     * NULL reads as "" */
};

/* What a command asks the transport to do next. */
enum scsi_disk_phase {
	SCSI_DISK_GOOD,     /* done, no data: status GOOD */
	SCSI_DISK_CHECK,    /* done, CHECK CONDITION: the sense data is in the state */
	SCSI_DISK_DATA_IN,  /* send LEN bytes of BUF to the initiator, then GOOD */
	SCSI_DISK_READ,     /* send BLOCKS blocks of the image from LBA, then GOOD */
	SCSI_DISK_WRITE,    /* take BLOCKS * 512 bytes from the initiator, write them at LBA, GOOD */
	SCSI_DISK_DATA_OUT, /* take LEN parameter bytes from the initiator, drop them, then GOOD */
	SCSI_DISK_FLUSH,    /* flush the image's cache (SYNCHRONIZE CACHE), then GOOD */
};

struct scsi_disk_result {
	enum scsi_disk_phase phase;
	uint32_t len;    /* DATA_IN (allocation length applied, at most SIZE), DATA_OUT: at least
			  * 1 (an allocation length of 0 is GOOD) */
	uint64_t lba;    /* READ, WRITE: the range is inside the medium */
	uint32_t blocks; /* READ, WRITE: at least 1 (a zero transfer length is GOOD) */
};

/* Power-on (and bus or target reset): no sense data, unit attention 29/00 pending. */
void scsi_disk_reset(struct scsi_disk_state *st);
/*
 * Runs the command in CDB (CDB_LEN bytes; bytes past CDB_LEN read as zero, bytes past
 * SCSI_CDB_MAX are ignored). BUF (SIZE bytes; 256 hold every response) receives DATA_IN
 * responses, truncated to SIZE. Never touches the medium's data: a READ or WRITE result says
 * which blocks to move.
 */
void scsi_disk_exec(struct scsi_disk_state *st, const struct scsi_disk_medium *m,
		    const uint8_t *cdb, size_t cdb_len, uint8_t *buf, size_t size,
		    struct scsi_disk_result *res);
/*
 * The same for a logical unit with no disk behind it (a LUN other than 0 of a present target):
 * INQUIRY answers peripheral qualifier 3 (SPC-3: not connectable), REQUEST SENSE answers and
 * every other command fails with ILLEGAL REQUEST, LOGICAL UNIT NOT SUPPORTED (05/25/00), with
 * no state kept. REPORT LUNS goes to LUN 0's disk (it lists the target's units).
 */
void scsi_disk_exec_no_lun(const uint8_t *cdb, size_t cdb_len, uint8_t *buf, size_t size,
			   struct scsi_disk_result *res);
/*
 * Ends the command with CHECK CONDITION and the given sense: the transport's own errors, e.g.
 * an I/O error of the image, MEDIUM ERROR 03/11/00 (unrecovered read error) on a read,
 * 03/0C/00 (write error) on a write.
 */
void scsi_disk_fail(struct scsi_disk_state *st, struct scsi_disk_result *res, uint8_t key,
		    uint8_t asc, uint8_t ascq);
/* Whether a command may end in a READ result, or in a WRITE or DATA_OUT one (takes data from
 * the initiator): for checking a loaded transport state against the command it was running. */
bool scsi_disk_cmd_reads(uint8_t opcode);
bool scsi_disk_cmd_takes_data(uint8_t opcode);
/* Why a loaded state cannot be right, or NULL. */
const char *scsi_disk_state_check(const struct scsi_disk_state *st);
