/*
 * The command set of an ATAPI CD/DVD-ROM drive: what a 12-byte command packet means (SPC-3 for
 * the common commands, MMC-3 for the multimedia ones, SFF-8020i for ATAPI details).
 *
 * This file knows nothing of registers, DRQ blocks or DMA: src/devices/ide.c runs the PACKET
 * protocol, hands the packet to atapi_exec() and moves whatever data the result asks for. The
 * drive's sense data, unit attention and tray live in struct atapi_state, saved with the drive.
 */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "devices/scsi.h"

#define ATAPI_CDB_SIZE 12
#define ATAPI_BLOCK 2048 /* logical block of a CD/DVD data track (MMC-3) */

/* Sense keys (SPC-3, sense key descriptions): scsi.h's, under the names the IDE code uses */
enum {
	ATAPI_SENSE_NONE = SCSI_SENSE_NONE,
	ATAPI_SENSE_NOT_READY = SCSI_SENSE_NOT_READY,
	ATAPI_SENSE_MEDIUM_ERROR = SCSI_SENSE_MEDIUM_ERROR,
	ATAPI_SENSE_ILLEGAL_REQUEST = SCSI_SENSE_ILLEGAL_REQUEST,
	ATAPI_SENSE_UNIT_ATTENTION = SCSI_SENSE_UNIT_ATTENTION,
	ATAPI_SENSE_ABORTED_COMMAND = SCSI_SENSE_ABORTED_COMMAND,
};

/* Media class event codes of GET EVENT STATUS NOTIFICATION (MMC-3) */
enum {
	ATAPI_EVENT_NONE = 0,
	ATAPI_EVENT_EJECT_REQUEST = 1, /* the user pressed eject: the guest should unlock */
	ATAPI_EVENT_NEW_MEDIA = 2,
	ATAPI_EVENT_MEDIA_REMOVAL = 3,
};

/* Guest-visible drive state, saved. Flags are bytes that atapi_state_check() keeps 0 or 1. */
struct atapi_state {
	uint8_t sense_key, asc, ascq; /* sense data of the last command, for REQUEST SENSE */
	uint8_t unit_attention;       /* a medium became ready, not yet reported (06/28/00) */
	uint8_t tray_open;
	uint8_t locked;      /* PREVENT ALLOW MEDIUM REMOVAL: the guest forbids ejecting */
	uint8_t media_event; /* GESN media event not yet reported (ATAPI_EVENT_*) */
	uint8_t cdb[ATAPI_CDB_SIZE]; /* the command packet in progress */
};

/* The disc as the command set sees it: the image is ide.c's business. */
struct atapi_medium {
	bool inserted;   /* a disc sits in the drive (it is readable only with the tray closed) */
	uint64_t blocks; /* its capacity in 2048-byte blocks */
};

/* What a command asks the transport to do next. */
enum atapi_phase {
	ATAPI_GOOD,     /* done, no data: status GOOD */
	ATAPI_CHECK,    /* done, CHECK CONDITION: the sense data is in the state */
	ATAPI_DATA_IN,  /* send LEN bytes from the buffer to the host, then GOOD */
	ATAPI_READ,     /* send BLOCKS blocks of the medium from LBA, then GOOD */
	ATAPI_DATA_OUT, /* take LEN parameter bytes from the host (and drop them), then GOOD */
};

struct atapi_result {
	enum atapi_phase phase;
	uint32_t len;    /* DATA_IN, allocation length applied; DATA_OUT */
	uint64_t lba;    /* READ */
	uint32_t blocks; /* READ: at least 1 (a zero-length read is GOOD) */
};

/* Power-on state: no sense, tray closed and unlocked, nothing to report. */
void atapi_reset(struct atapi_state *st);
/*
 * Runs the command packet in st->cdb. BUF (SIZE bytes, at least 4 KiB) receives DATA_IN
 * responses. Never touches the medium's data: a READ result says which blocks to send.
 */
void atapi_exec(struct atapi_state *st, const struct atapi_medium *m, uint8_t *buf, size_t size,
		struct atapi_result *res);
/* Ends the command with CHECK CONDITION and the given sense (the transport's own errors). */
void atapi_fail(struct atapi_state *st, struct atapi_result *res, uint8_t key, uint8_t asc,
		uint8_t ascq);
/* The host inserted a disc (INSERTED) or took it away: tray closed with the new disc and a unit
 * attention, or tray open and empty; a media event for GESN either way. */
void atapi_medium_changed(struct atapi_state *st, bool inserted);
/* The host asked for the disc while the guest locks the tray: an eject request for GESN. */
void atapi_eject_requested(struct atapi_state *st);
/* Whether an opcode sends the medium's blocks (READ result) or takes data (DATA_OUT result):
 * for checking a loaded state against the command it claims to be running. */
bool atapi_cmd_reads(uint8_t opcode);
bool atapi_cmd_takes_data(uint8_t opcode);
/* Why a loaded state cannot be right, or NULL. */
const char *atapi_state_check(const struct atapi_state *st);
