/* What the ATAPI test programs share (atapi_util.h). */
#include "atapi_util.h"

#include <string.h>

/* An ISO-like image in memory: every byte of block N derived from N and SEED. */
struct block_dev *disc(uint32_t blocks, unsigned seed)
{
	struct block_dev *bd = block_open_memory(blocks * 2048ull);
	uint8_t *data = g_malloc(blocks * 2048ull);
	for (size_t i = 0; i < blocks * 2048ull; i++)
		data[i] = (uint8_t)(i * 31 + seed * 101 + (i >> 11) * 7);
	block_pwrite(bd, data, blocks * 2048ull, 0);
	bd->read_only = true;
	g_free(data);
	return bd;
}

/* ---- the drive on a fake bus ---- */

/* A CD-ROM drive as secondary master holding MEDIUM (NULL: empty); DISK as secondary slave. */
struct cd *cd_new_with(struct block_dev *medium, struct block_dev *disk)
{
	struct cd *c = g_new0(struct cd, 1);
	c->env = fake_env_new(14, 15);
	c->medium = medium;
	c->disk = disk;
	c->env->ctx.disks[2] = medium;
	c->env->ctx.disks[3] = disk;
	c->dev = piix_ide_class.create(&c->env->ctx);
	g_assert_cmpint(piix_ide_set_drive_kind(c->dev, 1, 0, IDE_KIND_CDROM), ==, 0);
	piix_ide_class.reset(c->dev);
	fake_map(c->env, CMD, 8, &ide_cmd_ops, &c->dev->chan[1], &c->dev->lock);
	fake_map(c->env, CTRL, 1, &ide_ctrl_ops, &c->dev->chan[1], &c->dev->lock);
	return c;
}

struct cd *cd_new(uint32_t blocks)
{
	return cd_new_with(blocks ? disc(blocks, 1) : NULL, NULL);
}

void cd_free(struct cd *c)
{
	piix_ide_class.destroy(c->dev);
	fake_env_free(c->env);
	block_close(c->medium);
	block_close(c->disk);
	g_free(c);
}

uint8_t in8(struct cd *c, unsigned reg) { return fake_inb(c->env, CMD + reg); }
void out8(struct cd *c, unsigned reg, uint8_t v) { fake_outb(c->env, CMD + reg, v); }
uint8_t status(struct cd *c) { return in8(c, 7); }
uint8_t altstatus(struct cd *c) { return fake_inb(c->env, CTRL); }
int irq_level(struct cd *c) { return c->env->irq_level[GSI]; }
unsigned irq_raises(struct cd *c) { return c->env->irq_raises[GSI]; }
unsigned ireason(struct cd *c) { return in8(c, 2) & 3; }
unsigned byte_count(struct cd *c) { return in8(c, 4) | in8(c, 5) << 8; }

/* PACKET with the byte count limit, then the command packet; the packet phase checked on the
 * way: DRQ, CoD set, IO clear, no interrupt. */
void send_packet(struct cd *c, const uint8_t cdb[12], uint16_t limit)
{
	out8(c, 6, 0xA0);
	out8(c, 1, 0);
	out8(c, 4, limit);
	out8(c, 5, limit >> 8);
	unsigned raises = irq_raises(c);
	out8(c, 7, 0xA0);
	g_assert_cmphex(altstatus(c), ==, DRDY | DSC | DRQ);
	g_assert_cmphex(ireason(c), ==, COD);
	g_assert_cmpuint(irq_raises(c), ==, raises);
	for (int i = 0; i < 12; i += 2)
		fake_outw(c->env, CMD, cdb[i] | cdb[i + 1] << 8);
}

/* Moves every DRQ block the way a driver that honours byte counts does: status first
 * (acknowledging the interrupt each block raised), the interrupt reason, then the words: read
 * into BUF (data in), or zeros written (data out). */
void read_blocks(struct cd *c, uint8_t *buf, size_t max, struct reply *rep)
{
	for (int guard = 0; guard < 100000; guard++) {
		uint8_t st = altstatus(c);
		g_assert_false(st & BSY); /* memory discs complete inline */
		if (!(st & DRQ))
			return;
		g_assert_cmpint(irq_level(c), ==, 1);
		g_assert_cmphex(status(c), ==, DRDY | DSC | DRQ);
		unsigned n = byte_count(c);
		g_assert_cmpuint(n, >, 0);
		if (rep->nblocks < G_N_ELEMENTS(rep->block))
			rep->block[rep->nblocks] = n;
		rep->nblocks++;
		if (ireason(c) == 0) {
			for (unsigned i = 0; i < n; i += 2)
				fake_outw(c->env, CMD, 0);
			continue;
		}
		g_assert_cmphex(ireason(c), ==, IO);
		for (unsigned i = 0; i < n; i += 2) {
			uint16_t w = fake_inw(c->env, CMD);
			for (unsigned b = 0; b < 2 && i + b < n; b++, rep->len++)
				if (rep->len < max)
					buf[rep->len] = w >> (8 * b);
		}
	}
	g_assert_not_reached();
}

/* Runs CDB; the data in BUF (at most MAX bytes kept); returns the final status. The ending is
 * checked: interrupt reason IO|CoD, an interrupt, no DRQ. */
uint8_t run(struct cd *c, const uint8_t cdb[12], uint16_t limit, uint8_t *buf, size_t max,
	    struct reply *rep)
{
	struct reply local;
	rep = rep ? rep : &local;
	memset(rep, 0, sizeof(*rep));
	send_packet(c, cdb, limit);
	read_blocks(c, buf, max, rep);
	g_assert_cmpint(irq_level(c), ==, 1);
	g_assert_cmphex(ireason(c), ==, IO | COD);
	rep->error = in8(c, 1);
	rep->status = status(c);
	g_assert_cmpint(irq_level(c), ==, 0);
	return rep->status;
}

void sense(struct cd *c, uint8_t out[3])
{
	static const uint8_t req[12] = { 0x03, 0, 0, 0, 18 };
	uint8_t data[18];
	struct reply rep;
	g_assert_cmphex(run(c, req, 18, data, sizeof(data), &rep), ==, DRDY | DSC);
	g_assert_cmpuint(rep.len, ==, 18);
	g_assert_cmphex(data[0], ==, 0x70);
	g_assert_cmpuint(data[7], ==, 10);
	out[0] = data[2];
	out[1] = data[12];
	out[2] = data[13];
}

/* CDB ends in CHECK CONDITION with this sense, reported in Error and by REQUEST SENSE. */
void expect_sense(struct cd *c, const uint8_t cdb[12], uint8_t key, uint8_t asc,
		  uint8_t ascq)
{
	uint8_t buf[64], s[3];
	struct reply rep;
	g_assert_cmphex(run(c, cdb, 0xFFFE, buf, sizeof(buf), &rep), ==, DRDY | DSC | ERR);
	g_assert_cmphex(rep.error, ==, key << 4);
	g_assert_cmpuint(rep.len, ==, 0);
	sense(c, s);
	g_assert_cmphex(s[0], ==, key);
	g_assert_cmphex(s[1], ==, asc);
	g_assert_cmphex(s[2], ==, ascq);
	sense(c, s); /* reported once */
	g_assert_cmphex(s[0], ==, 0);
}

/* CDB succeeds with LEN bytes (limit large, buffer large). */
void expect_good(struct cd *c, const uint8_t cdb[12], uint8_t *buf, size_t len)
{
	uint8_t local[8192];
	struct reply rep;
	buf = buf ? buf : local;
	g_assert_cmphex(run(c, cdb, 0xFFFE, buf, sizeof(local), &rep), ==, DRDY | DSC);
	g_assert_cmpuint(rep.len, ==, len);
}

uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | p[1] << 16 | p[2] << 8 | p[3];
}

uint16_t be16(const uint8_t *p)
{
	return p[0] << 8 | p[1];
}

const uint8_t TUR[12] = { 0x00 };
const uint8_t EJECT[12] = { 0x1B, 0, 0, 0, 0x02 };
const uint8_t LOCK[12] = { 0x1E, 0, 0, 0, 0x01 };
const uint8_t UNLOCK[12] = { 0x1E, 0, 0, 0, 0x00 };
