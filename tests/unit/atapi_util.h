/*
 * What the ATAPI test programs share (atapi_util.c): an ATAPI drive on the PIIX secondary
 * channel on a fake bus, discs in memory, its ports, and commands run the way a driver runs
 * them, their endings and sense data checked.
 *   test_atapi.c        signatures, IDENTIFY, reset, SeaBIOS, the PACKET protocol, commands
 *   test_atapi_media.c  media changes, the tray, events, hostile packets, state
 */
#pragma once

#include <glib.h>
#include <stdint.h>

#include "block/block.h"
#include "devices/atapi.h"
#include "devices/ide.h"
#include "devices/piix_ide.h"
#include "fakes.h"

#define CMD 0x170
#define CTRL 0x376
#define GSI 15
#define BLOCKS 1000u

/* Status, error, interrupt reason */
#define BSY 0x80
#define DRDY 0x40
#define DF 0x20
#define DSC 0x10
#define DRQ 0x08
#define ERR 0x01
#define ABRT 0x04
#define COD 0x01
#define IO 0x02

/* An ISO-like image in memory: every byte of block N derived from N and SEED. */
struct block_dev *disc(uint32_t blocks, unsigned seed);

struct cd {
	struct fake_env *env;
	struct piix_ide *dev;
	struct block_dev *medium; /* the disc the test still has to close */
	struct block_dev *disk;
};

/* A CD-ROM drive as secondary master holding MEDIUM (NULL: empty); DISK as secondary slave.
 * cd_new: holding a disc of BLOCKS blocks (0: empty). */
struct cd *cd_new_with(struct block_dev *medium, struct block_dev *disk);
struct cd *cd_new(uint32_t blocks);
void cd_free(struct cd *c);

/* The command block registers (REG 0-7), status, the interrupt, reason and byte count. */
uint8_t in8(struct cd *c, unsigned reg);
void out8(struct cd *c, unsigned reg, uint8_t v);
uint8_t status(struct cd *c);
uint8_t altstatus(struct cd *c);
int irq_level(struct cd *c);
unsigned irq_raises(struct cd *c);
unsigned ireason(struct cd *c);
unsigned byte_count(struct cd *c);

/* PACKET with the byte count limit, then the command packet (the packet phase checked). */
void send_packet(struct cd *c, const uint8_t cdb[12], uint16_t limit);

/* What a command did: its data (up to the caller's buffer), DRQ block sizes, ending. */
struct reply {
	uint8_t status, error;
	size_t len;
	unsigned nblocks;
	unsigned block[64];
};

/* Moves every DRQ block as a driver that honours byte counts does (data in: into BUF). */
void read_blocks(struct cd *c, uint8_t *buf, size_t max, struct reply *rep);
/* Runs CDB; the data in BUF (at most MAX bytes kept); returns the final status. */
uint8_t run(struct cd *c, const uint8_t cdb[12], uint16_t limit, uint8_t *buf, size_t max,
	    struct reply *rep);
/* REQUEST SENSE: the sense key, ASC and ASCQ. */
void sense(struct cd *c, uint8_t out[3]);
/* CDB ends in CHECK CONDITION with this sense, reported in Error and by REQUEST SENSE. */
void expect_sense(struct cd *c, const uint8_t cdb[12], uint8_t key, uint8_t asc, uint8_t ascq);
/* CDB succeeds with LEN bytes (limit large, buffer large). */
void expect_good(struct cd *c, const uint8_t cdb[12], uint8_t *buf, size_t len);

uint32_t be32(const uint8_t *p);
uint16_t be16(const uint8_t *p);

extern const uint8_t TUR[12];
extern const uint8_t EJECT[12];
extern const uint8_t LOCK[12];
extern const uint8_t UNLOCK[12];
