/*
 * ATAPI CD/DVD-ROM drive on the PIIX secondary channel, driven through the ports a guest uses:
 * the PACKET protocol (phases, interrupt reason, byte counts), the command table against
 * expected responses and sense data, media changes and the tray, SeaBIOS's probe, state.
 */
#include <glib.h>
#include <string.h>

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

/* ---- a synthetic disc: any size, block N starts with N; no memory behind it ---- */

static int synth_pread(struct block_dev *bd, void *buf, size_t len, uint64_t off)
{
	(void)bd;
	memset(buf, 0xCD, len);
	for (size_t i = 0; i < len; i += 2048) {
		uint64_t lba = (off + i) / 2048;
		memcpy((uint8_t *)buf + i, &lba, 8);
	}
	return 0;
}

static int synth_flush(struct block_dev *bd)
{
	(void)bd;
	return 0;
}

static const struct block_driver synth_driver = {
	.name = "synth", .pread = synth_pread, .flush = synth_flush,
};

static struct block_dev *synth_disc(uint64_t blocks)
{
	struct block_dev *bd = g_new0(struct block_dev, 1);
	bd->drv = &synth_driver;
	bd->path = g_strdup("(synth)");
	bd->fd = -1;
	bd->size = blocks * 2048;
	bd->read_only = true;
	return bd;
}

/* An ISO-like image in memory: every byte of block N derived from N and SEED. */
static struct block_dev *disc(uint32_t blocks, unsigned seed)
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

struct cd {
	struct fake_env *env;
	struct piix_ide *dev;
	struct block_dev *medium; /* the disc the test still has to close */
	struct block_dev *disk;
};

/* A CD-ROM drive as secondary master holding MEDIUM (NULL: empty); DISK as secondary slave. */
static struct cd *cd_new_with(struct block_dev *medium, struct block_dev *disk)
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

static struct cd *cd_new(uint32_t blocks)
{
	return cd_new_with(blocks ? disc(blocks, 1) : NULL, NULL);
}

static void cd_free(struct cd *c)
{
	piix_ide_class.destroy(c->dev);
	fake_env_free(c->env);
	block_close(c->medium);
	block_close(c->disk);
	g_free(c);
}

static uint8_t in8(struct cd *c, unsigned reg) { return fake_inb(c->env, CMD + reg); }
static void out8(struct cd *c, unsigned reg, uint8_t v) { fake_outb(c->env, CMD + reg, v); }
static uint8_t status(struct cd *c) { return in8(c, 7); }
static uint8_t altstatus(struct cd *c) { return fake_inb(c->env, CTRL); }
static int irq_level(struct cd *c) { return c->env->irq_level[GSI]; }
static unsigned irq_raises(struct cd *c) { return c->env->irq_raises[GSI]; }
static unsigned ireason(struct cd *c) { return in8(c, 2) & 3; }
static unsigned byte_count(struct cd *c) { return in8(c, 4) | in8(c, 5) << 8; }

/* PACKET with the byte count limit, then the command packet; the packet phase checked on the
 * way: DRQ, CoD set, IO clear, no interrupt. */
static void send_packet(struct cd *c, const uint8_t cdb[12], uint16_t limit)
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

/* What a command did: its data (up to the caller's buffer), DRQ block sizes, ending. */
struct reply {
	uint8_t status, error;
	size_t len;
	unsigned nblocks;
	unsigned block[64];
};

/* Moves every DRQ block the way a driver that honours byte counts does: status first
 * (acknowledging the interrupt each block raised), the interrupt reason, then the words: read
 * into BUF (data in), or zeros written (data out). */
static void read_blocks(struct cd *c, uint8_t *buf, size_t max, struct reply *rep)
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
static uint8_t run(struct cd *c, const uint8_t cdb[12], uint16_t limit, uint8_t *buf, size_t max,
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

static void sense(struct cd *c, uint8_t out[3])
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
static void expect_sense(struct cd *c, const uint8_t cdb[12], uint8_t key, uint8_t asc,
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
static void expect_good(struct cd *c, const uint8_t cdb[12], uint8_t *buf, size_t len)
{
	uint8_t local[8192];
	struct reply rep;
	buf = buf ? buf : local;
	g_assert_cmphex(run(c, cdb, 0xFFFE, buf, sizeof(local), &rep), ==, DRDY | DSC);
	g_assert_cmpuint(rep.len, ==, len);
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | p[1] << 16 | p[2] << 8 | p[3];
}

static uint16_t be16(const uint8_t *p)
{
	return p[0] << 8 | p[1];
}

static const uint8_t TUR[12] = { 0x00 };
static const uint8_t EJECT[12] = { 0x1B, 0, 0, 0, 0x02 };
static const uint8_t LOAD[12] = { 0x1B, 0, 0, 0, 0x03 };
static const uint8_t LOCK[12] = { 0x1E, 0, 0, 0, 0x01 };
static const uint8_t UNLOCK[12] = { 0x1E, 0, 0, 0, 0x00 };
static const uint8_t GESN[12] = { 0x4A, 0x01, 0, 0, 0x10, 0, 0, 0, 8 };

/* ---- signature, IDENTIFY, reset ---- */

static void test_signature_and_identify(void)
{
	struct cd *c = cd_new(BLOCKS);
	out8(c, 6, 0xA0);
	g_assert_cmphex(in8(c, 2), ==, 0x01);
	g_assert_cmphex(in8(c, 3), ==, 0x01);
	g_assert_cmphex(in8(c, 4), ==, 0x14);
	g_assert_cmphex(in8(c, 5), ==, 0xEB);
	g_assert_cmphex(status(c), ==, 0x00); /* a PACKET device leaves DRDY clear after reset */

	/* IDENTIFY DEVICE: aborted, with the signature in place */
	out8(c, 4, 0);
	out8(c, 5, 0);
	out8(c, 7, 0xEC);
	g_assert_cmpint(irq_level(c), ==, 1);
	g_assert_cmphex(status(c), ==, DRDY | DSC | ERR);
	g_assert_cmphex(in8(c, 1), ==, ABRT);
	g_assert_cmphex(in8(c, 4), ==, 0x14);
	g_assert_cmphex(in8(c, 5), ==, 0xEB);
	g_assert_cmphex(fake_inw(c->env, CMD), ==, 0xFFFF);

	out8(c, 7, 0xA1);
	g_assert_cmphex(status(c), ==, DRDY | DSC | DRQ);
	uint16_t id[256];
	for (int i = 0; i < 256; i++)
		id[i] = fake_inw(c->env, CMD);
	g_assert_cmphex(status(c), ==, DRDY | DSC);
	g_assert_cmphex(id[0], ==, 0x85C0); /* ATAPI, CD-ROM, removable, 50 us DRQ, 12 bytes */
	char model[41] = { 0 };
	for (int i = 0; i < 20; i++) {
		model[2 * i] = id[27 + i] >> 8;
		model[2 * i + 1] = id[27 + i];
	}
	g_assert_cmpstr(g_strchomp(model), ==, "PCVM DVD-ROM");
	g_assert_cmphex(id[49] & 0x0300, ==, 0x0300); /* LBA, DMA */
	g_assert_cmphex(id[53] & 0x0006, ==, 0x0006);
	g_assert_cmphex(id[63], ==, 0x0407);
	g_assert_cmphex(id[88], ==, 0x003F);
	g_assert_cmphex(id[82] & 0x0210, ==, 0x0210); /* PACKET, DEVICE RESET */
	g_assert_cmphex(id[93] & 0xDF61, ==, 0x4041); /* no device 1 */
	g_assert_cmphex(id[80] & 0x0040, ==, 0x0040);
	uint8_t sum = 0;
	for (int i = 0; i < 256; i++)
		sum += (id[i] & 0xFF) + (id[i] >> 8);
	g_assert_cmpuint(sum, ==, 0);
	/* ATA commands of the PACKET feature set work; disk commands abort */
	out8(c, 7, 0xE5);
	g_assert_cmphex(status(c), ==, DRDY | DSC);
	g_assert_cmphex(in8(c, 2), ==, 0xFF);
	static const uint8_t disk_only[] = { 0x20, 0x30, 0xC8, 0xCA, 0x25, 0xE7, 0x91, 0xC6 };
	for (size_t i = 0; i < G_N_ELEMENTS(disk_only); i++) {
		out8(c, 7, disk_only[i]);
		g_assert_cmphex(status(c), ==, DRDY | DSC | ERR);
		g_assert_cmphex(in8(c, 1), ==, ABRT);
	}
	cd_free(c);
}

/* Each device keeps its own signature until the host writes a register: CD master, disk
 * slave. */
static void test_signatures_per_device(void)
{
	struct cd *c = cd_new_with(disc(BLOCKS, 1), block_open_memory(1 << 20));
	fake_outb(c->env, CTRL, 0x04);
	fake_outb(c->env, CTRL, 0x00);
	g_assert_cmphex(in8(c, 4), ==, 0x14);
	out8(c, 6, 0xB0);
	g_assert_cmphex(in8(c, 4), ==, 0x00);
	g_assert_cmphex(in8(c, 5), ==, 0x00);
	g_assert_cmphex(status(c), ==, DRDY | DSC);
	out8(c, 6, 0xA0);
	g_assert_cmphex(in8(c, 4), ==, 0x14);
	g_assert_cmphex(in8(c, 5), ==, 0xEB);
	g_assert_cmphex(status(c), ==, 0);
	out8(c, 4, 0x55); /* a write goes to both devices: the signatures are gone */
	out8(c, 6, 0xB0);
	g_assert_cmphex(in8(c, 4), ==, 0x55);
	/* the disk's IDENTIFY says a device 0 is there; EXECUTE DEVICE DIAGNOSTIC: signatures */
	out8(c, 7, 0x90);
	g_assert_cmphex(in8(c, 6), ==, 0x00);
	g_assert_cmphex(in8(c, 4), ==, 0x14);
	g_assert_cmphex(in8(c, 1), ==, 0x01);
	cd_free(c);
}

/* DEVICE RESET: accepted in any phase, even BSY; signature, status 0, no interrupt. */
static void test_device_reset(void)
{
	struct cd *c = cd_new(BLOCKS);
	out8(c, 6, 0xA0);
	out8(c, 7, 0xA0);
	fake_outw(c->env, CMD, 0x0028); /* half a packet */
	unsigned raises = irq_raises(c);
	out8(c, 7, 0x08);
	g_assert_cmphex(status(c), ==, 0x00);
	g_assert_cmphex(in8(c, 1), ==, 0x01);
	g_assert_cmphex(in8(c, 4), ==, 0x14);
	g_assert_cmphex(in8(c, 5), ==, 0xEB);
	g_assert_cmpuint(irq_raises(c), ==, raises);
	g_assert_cmphex(fake_inw(c->env, CMD), ==, 0xFFFF);
	/* BSY: a DMA read waiting for a bus master that never starts */
	out8(c, 1, 0x01);
	out8(c, 7, 0xA0);
	static const uint8_t read10[12] = { 0x28, 0, 0, 0, 0, 0, 0, 0, 1 };
	for (int i = 0; i < 12; i += 2)
		fake_outw(c->env, CMD, read10[i] | read10[i + 1] << 8);
	g_assert_cmphex(altstatus(c), ==, BSY | DRDY | DSC);
	out8(c, 7, 0xA1); /* an ordinary command is ignored while BSY */
	g_assert_cmphex(altstatus(c), ==, BSY | DRDY | DSC);
	out8(c, 7, 0x08);
	g_assert_cmphex(status(c), ==, 0x00);
	/* and the drive works afterwards */
	static const uint8_t cap[12] = { 0x25 };
	uint8_t buf[8];
	expect_good(c, cap, buf, 8);
	g_assert_cmpuint(be32(buf), ==, BLOCKS - 1);
	cd_free(c);
}

/* ---- SeaBIOS 1.16 (src/hw/ata.c ata_detect, ata_atapi_process_op) as port accesses ---- */

static int await_not_bsy(struct cd *c)
{
	for (int i = 0; i < 1000; i++) {
		uint8_t st = status(c);
		if (!(st & BSY))
			return st;
	}
	return -1;
}

/* ata_atapi_process_op: byte count = block size, DRQ for the packet, then COUNT blocks. */
static int seabios_packet(struct cd *c, const uint8_t cdb[12], unsigned blocksize, unsigned count,
			  uint8_t *buf)
{
	fake_outb(c->env, CTRL, 0x0A); /* nIEN */
	g_assert_cmpint(await_not_bsy(c), >=, 0);
	out8(c, 6, 0xA0);
	out8(c, 1, 0);
	out8(c, 2, 0);
	out8(c, 3, 0);
	out8(c, 4, blocksize);
	out8(c, 5, blocksize >> 8);
	out8(c, 7, 0xA0);
	int st = await_not_bsy(c);
	if (st < 0 || (st & ERR) || !(st & DRQ))
		return -1;
	for (int i = 0; i < 12; i += 2)
		fake_outw(c->env, CMD, cdb[i] | cdb[i + 1] << 8);
	(void)altstatus(c);
	st = await_not_bsy(c);
	int ret = 0;
	if (st & ERR) {
		ret = -2;
	} else if (blocksize) {
		for (unsigned n = 0; n < count; n++) {
			if ((st & (BSY | DRQ | ERR)) != DRQ)
				return -6;
			for (unsigned i = 0; i < blocksize; i += 2) {
				uint16_t w = fake_inw(c->env, CMD); /* insw: no byte count read */
				buf[n * blocksize + i] = w;
				buf[n * blocksize + i + 1] = w >> 8;
			}
			(void)altstatus(c);
			st = await_not_bsy(c);
		}
		if (st & (BSY | DF | DRQ | ERR))
			ret = -7;
	}
	fake_outb(c->env, CTRL, 0x08);
	return ret;
}

static void test_seabios_probe_and_boot(void)
{
	struct cd *c = cd_new(BLOCKS);
	/* ata_detect, slave 0: probe pattern, reset, IDENTIFY PACKET DEVICE */
	g_assert_cmpint(await_not_bsy(c), >=, 0);
	out8(c, 6, 0xA0);
	uint8_t dh = in8(c, 6);
	out8(c, 2, 0x55);
	out8(c, 3, 0xAA);
	g_assert_cmphex(in8(c, 2), ==, 0x55);
	g_assert_cmphex(in8(c, 3), ==, 0xAA);
	g_assert_cmphex(dh, ==, 0xA0);
	fake_outb(c->env, CTRL, 0x0E);
	fake_outb(c->env, CTRL, 0x0A);
	g_assert_cmpint(await_not_bsy(c), >=, 0);
	out8(c, 6, 0xA0);
	fake_outb(c->env, CTRL, 0x08);
	fake_outb(c->env, CTRL, 0x0A);
	for (int reg = 1; reg <= 5; reg++)
		out8(c, reg, 0);
	out8(c, 7, 0xA1);
	int st = await_not_bsy(c);
	g_assert_cmphex(st & (ERR | DRQ), ==, DRQ);
	uint16_t id[256];
	for (int i = 0; i < 256; i++)
		id[i] = fake_inw(c->env, CMD);
	g_assert_cmphex(status(c) & (BSY | DF | DRQ | ERR), ==, 0);
	g_assert_cmphex((id[0] >> 8) & 0x1F, ==, 0x05); /* "iscd" */
	g_assert_cmphex(id[93] & 0xDF61, ==, 0x4041);  /* slave detection skipped */
	g_assert_cmpuint(irq_raises(c), ==, 0);        /* nIEN throughout */

	/* cdrom boot: TEST UNIT READY, READ CAPACITY, READ(10) of the boot catalog and more */
	uint8_t buf[4 * 2048], ref[4 * 2048];
	g_assert_cmpint(seabios_packet(c, TUR, 0, 0, buf), ==, 0);
	static const uint8_t cap[12] = { 0x25 };
	g_assert_cmpint(seabios_packet(c, cap, 8, 1, buf), ==, 0);
	g_assert_cmpuint(be32(buf), ==, BLOCKS - 1);
	g_assert_cmpuint(be32(buf + 4), ==, 2048);
	static const uint8_t read10[12] = { 0x28, 0, 0, 0, 0, 17, 0, 0, 4 };
	g_assert_cmpint(seabios_packet(c, read10, 2048, 4, buf), ==, 0);
	block_pread(c->medium, ref, sizeof(ref), 17 * 2048);
	g_assert_cmpmem(buf, sizeof(buf), ref, sizeof(ref));
	cd_free(c);

	/* an empty drive: TEST UNIT READY fails with Error 20h (NOT READY), as SeaBIOS expects */
	c = cd_new(0);
	g_assert_cmpint(seabios_packet(c, TUR, 0, 0, buf), ==, -2);
	g_assert_cmphex(in8(c, 1), ==, 0x20);
	cd_free(c);
}

/* ---- the PACKET protocol ---- */

static void test_packet_phases(void)
{
	struct cd *c = cd_new(BLOCKS);
	static const uint8_t inquiry[12] = { 0x12, 0, 0, 0, 36 };
	out8(c, 6, 0xA0);
	send_packet(c, inquiry, 0xFFFE);
	/* data phase: DRQ, IO set, CoD clear, the byte count, an interrupt */
	g_assert_cmpint(irq_level(c), ==, 1);
	g_assert_cmphex(status(c), ==, DRDY | DSC | DRQ);
	g_assert_cmpint(irq_level(c), ==, 0);
	g_assert_cmphex(ireason(c), ==, IO);
	g_assert_cmpuint(byte_count(c), ==, 36);
	for (int i = 0; i < 18; i++)
		(void)fake_inw(c->env, CMD);
	/* status phase: IO and CoD, an interrupt, DRQ clear */
	g_assert_cmpint(irq_level(c), ==, 1);
	g_assert_cmphex(ireason(c), ==, IO | COD);
	g_assert_cmphex(status(c), ==, DRDY | DSC);

	/* no data: straight to the status phase */
	send_packet(c, TUR, 0);
	g_assert_cmpint(irq_level(c), ==, 1);
	g_assert_cmphex(ireason(c), ==, IO | COD);
	g_assert_cmphex(status(c), ==, DRDY | DSC);

	/* data out (MODE SELECT, 20 bytes of parameters, limit 8): IO clear, blocks 8, 8, 4 */
	static const uint8_t select[12] = { 0x55, 0x10, 0, 0, 0, 0, 0, 0, 20 };
	send_packet(c, select, 8);
	static const unsigned expect[] = { 8, 8, 4 };
	for (int b = 0; b < 3; b++) {
		g_assert_cmpint(irq_level(c), ==, 1);
		g_assert_cmphex(status(c), ==, DRDY | DSC | DRQ);
		g_assert_cmphex(ireason(c), ==, 0);
		g_assert_cmpuint(byte_count(c), ==, expect[b]);
		for (unsigned i = 0; i < expect[b]; i += 2)
			fake_outw(c->env, CMD, 0);
	}
	g_assert_cmphex(ireason(c), ==, IO | COD);
	g_assert_cmphex(status(c), ==, DRDY | DSC);

	/* nIEN: the same phases without the line */
	fake_outb(c->env, CTRL, 0x02);
	unsigned raises = irq_raises(c);
	send_packet(c, inquiry, 0xFFFE);
	g_assert_cmphex(altstatus(c), ==, DRDY | DSC | DRQ);
	for (int i = 0; i < 18; i++)
		(void)fake_inw(c->env, CMD);
	g_assert_cmphex(status(c), ==, DRDY | DSC);
	g_assert_cmpuint(irq_raises(c), ==, raises);
	fake_outb(c->env, CTRL, 0x00);

	/* overlapped PACKET is not supported: the ATA command aborts */
	out8(c, 1, 0x02);
	out8(c, 7, 0xA0);
	g_assert_cmphex(status(c), ==, DRDY | DSC | ERR);
	g_assert_cmphex(in8(c, 1), ==, ABRT);
	/* a data word during the packet phase beyond 12 bytes goes nowhere */
	send_packet(c, TUR, 0);
	fake_outw(c->env, CMD, 0xFFFF);
	g_assert_cmphex(status(c), ==, DRDY | DSC);
	cd_free(c);
}

static void test_byte_count_limit(void)
{
	struct cd *c = cd_new(BLOCKS);
	static const uint8_t inquiry[12] = { 0x12, 0, 0, 0, 36 };
	static const struct {
		uint16_t limit;
		unsigned n, sizes[8];
	} inq[] = {
		{ 10, 4, { 10, 10, 10, 6 } },
		{ 7, 6, { 6, 6, 6, 6, 6, 6 } }, /* odd limits are rounded down */
		{ 1, 18, { 2, 2, 2 } },
		{ 0, 1, { 36 } },               /* 0: no limit */
		{ 36, 1, { 36 } },
	};
	uint8_t ref[36], buf[8 * 2048], want[8 * 2048];
	struct reply rep;
	run(c, inquiry, 0xFFFE, ref, sizeof(ref), NULL);
	for (size_t i = 0; i < G_N_ELEMENTS(inq); i++) {
		uint8_t st = run(c, inquiry, inq[i].limit, buf, sizeof(buf), &rep);
		g_assert_cmphex(st, ==, DRDY | DSC);
		g_assert_cmpuint(rep.nblocks, ==, inq[i].n);
		for (unsigned b = 0; b < inq[i].n && b < 8 && inq[i].sizes[b]; b++)
			g_assert_cmpuint(rep.block[b], ==, inq[i].sizes[b]);
		g_assert_cmpmem(buf, rep.len, ref, sizeof(ref));
	}
	/* READ (10): blocks of the medium split by the limit, refilled as they drain */
	static const struct {
		uint16_t limit;
		uint8_t count;
		unsigned n, sizes[8];
	} rd[] = {
		{ 2048, 3, 3, { 2048, 2048, 2048 } },
		{ 0, 8, 2, { 8192, 8192 } },       /* the drive's buffer holds 4 blocks */
		{ 0xFFFF, 3, 1, { 6144 } },
		{ 6144, 5, 2, { 6144, 4096 } },
		{ 1000, 2, 6, { 1000, 1000, 48, 1000, 1000, 48 } },
		{ 3000, 2, 2, { 2048, 2048 } },
	};
	for (size_t i = 0; i < G_N_ELEMENTS(rd); i++) {
		uint8_t read10[12] = { 0x28, 0, 0, 0, 0, 40, 0, 0, rd[i].count };
		uint8_t st = run(c, read10, rd[i].limit, buf, sizeof(buf), &rep);
		g_assert_cmphex(st, ==, DRDY | DSC);
		g_assert_cmpuint(rep.nblocks, ==, rd[i].n);
		for (unsigned b = 0; b < rd[i].n; b++)
			g_assert_cmpuint(rep.block[b], ==, rd[i].sizes[b]);
		g_assert_cmpuint(rep.len, ==, rd[i].count * 2048u);
		block_pread(c->medium, want, rep.len, 40 * 2048);
		g_assert_cmpmem(buf, rep.len, want, rep.len);
	}
	cd_free(c);
}

/* Odd allocation lengths end in an odd DRQ block; the last word carries one padding byte. */
static void test_odd_byte_counts(void)
{
	struct cd *c = cd_new(BLOCKS);
	static const uint8_t inquiry35[12] = { 0x12, 0, 0, 0, 35 };
	uint8_t ref[36];
	run(c, (const uint8_t[12]){ 0x12, 0, 0, 0, 36 }, 0xFFFE, ref, sizeof(ref), NULL);
	send_packet(c, inquiry35, 0xFFFE);
	g_assert_cmphex(status(c), ==, DRDY | DSC | DRQ);
	g_assert_cmpuint(byte_count(c), ==, 35);
	uint8_t got[36];
	for (int i = 0; i < 18; i++) {
		uint16_t w = fake_inw(c->env, CMD);
		got[2 * i] = w;
		got[2 * i + 1] = w >> 8;
	}
	g_assert_cmpmem(got, 35, ref, 35);
	g_assert_cmpuint(got[35], ==, 0);
	g_assert_cmphex(status(c), ==, DRDY | DSC);
	g_assert_cmphex(fake_inw(c->env, CMD), ==, 0xFFFF); /* no more data */

	/* odd total and odd limit: 8, 8, 8, 8, 3 */
	struct reply rep;
	uint8_t buf[64];
	g_assert_cmphex(run(c, inquiry35, 9, buf, sizeof(buf), &rep), ==, DRDY | DSC);
	g_assert_cmpuint(rep.nblocks, ==, 5);
	g_assert_cmpuint(rep.block[4], ==, 3);
	g_assert_cmpmem(buf, 35, ref, 35);
	/* 32-bit reads of an odd block: the drive stops at the block's end */
	static const uint8_t sense17[12] = { 0x03, 0, 0, 0, 17 };
	send_packet(c, sense17, 0xFFFE);
	g_assert_cmpuint(byte_count(c), ==, 17);
	for (int i = 0; i < 5; i++)
		(void)fake_inl(c->env, CMD);
	g_assert_cmphex(status(c), ==, DRDY | DSC);
	cd_free(c);
}

/* ---- the command table: each command with a disc, without, with the tray open ---- */

static void test_command_table(void)
{
	static const struct {
		const char *name;
		uint8_t cdb[12];
		bool needs_medium;
		unsigned len; /* with a disc */
	} cmds[] = {
		{ "TEST UNIT READY", { 0x00 }, true, 0 },
		{ "REQUEST SENSE", { 0x03, 0, 0, 0, 18 }, false, 18 },
		{ "INQUIRY", { 0x12, 0, 0, 0, 36 }, false, 36 },
		{ "START STOP UNIT (spin up)", { 0x1B, 0, 0, 0, 0x01 }, false, 0 },
		{ "PREVENT ALLOW (allow)", { 0x1E }, false, 0 },
		{ "READ CAPACITY", { 0x25 }, true, 8 },
		{ "READ (10)", { 0x28, 0, 0, 0, 0, 0, 0, 0, 1 }, true, 2048 },
		{ "SEEK (10)", { 0x2B, 0, 0, 0, 0, 5 }, true, 0 },
		{ "READ TOC", { 0x43, 0, 0, 0, 0, 0, 0, 0x03, 0x24 }, true, 20 },
		{ "GET CONFIGURATION", { 0x46, 0, 0, 0, 0, 0, 0, 0x10, 0x00 }, false, 72 },
		{ "GET EVENT STATUS NOTIFICATION", { 0x4A, 1, 0, 0, 0x10, 0, 0, 0, 8 }, false, 8 },
		{ "READ DISC INFORMATION", { 0x51, 0, 0, 0, 0, 0, 0, 0, 34 }, true, 34 },
		{ "MODE SELECT (10), empty", { 0x55, 0x10 }, false, 0 },
		{ "MODE SENSE (10) 2Ah", { 0x5A, 0, 0x2A, 0, 0, 0, 0, 0, 64 }, false, 30 },
		{ "READ (12)", { 0xA8, 0, 0, 0, 0, 1, 0, 0, 0, 2 }, true, 4096 },
		{ "SET CD SPEED", { 0xBB, 0, 0xFF, 0xFF, 0xFF, 0xFF }, false, 0 },
		{ "MECHANISM STATUS", { 0xBD, 0, 0, 0, 0, 0, 0, 0, 0, 8 }, false, 8 },
		{ "READ CD", { 0xBE, 0, 0, 0, 0, 3, 0, 0, 1, 0x10 }, true, 2048 },
	};
	for (int state = 0; state < 3; state++) { /* disc, empty (closed), tray open */
		struct cd *c = cd_new(state == 0 ? BLOCKS : 0);
		if (state == 2)
			expect_good(c, EJECT, NULL, 0);
		for (size_t i = 0; i < G_N_ELEMENTS(cmds); i++) {
			if (g_test_verbose())
				g_test_message("%s, state %d", cmds[i].name, state);
			if (state && cmds[i].needs_medium)
				expect_sense(c, cmds[i].cdb, 0x02, 0x3A, state == 1 ? 0x01 : 0x02);
			else
				expect_good(c, cmds[i].cdb, NULL, cmds[i].len);
		}
		/* unknown opcodes: INVALID COMMAND OPERATION CODE */
		static const uint8_t unknown[] = { 0x01, 0x04, 0x2A, 0xAD, 0xA4, 0xFF };
		for (size_t i = 0; i < G_N_ELEMENTS(unknown); i++)
			expect_sense(c, (const uint8_t[12]){ unknown[i] }, 0x05, 0x20, 0x00);
		cd_free(c);
	}
}

/* ---- responses ---- */

static void test_inquiry_and_sense_data(void)
{
	struct cd *c = cd_new(BLOCKS);
	uint8_t buf[64];
	expect_good(c, (const uint8_t[12]){ 0x12, 0, 0, 0, 64 }, buf, 36);
	g_assert_cmphex(buf[0], ==, 0x05);
	g_assert_cmphex(buf[1], ==, 0x80);
	g_assert_cmpuint(buf[4], ==, 31);
	g_assert_cmpmem(buf + 8, 8, "PCVM    ", 8);
	g_assert_cmpmem(buf + 16, 16, "PCVM DVD-ROM    ", 16);
	expect_good(c, (const uint8_t[12]){ 0x12, 0, 0, 0, 5 }, buf, 5); /* truncated */
	expect_sense(c, (const uint8_t[12]){ 0x12, 0x01, 0x80, 0, 64 }, 0x05, 0x24, 0x00);
	expect_sense(c, (const uint8_t[12]){ 0x12, 0, 0x80, 0, 64 }, 0x05, 0x24, 0x00);
	/* REQUEST SENSE with no error: NO SENSE */
	uint8_t s[3];
	sense(c, s);
	g_assert_cmphex(s[0] | s[1] | s[2], ==, 0);
	cd_free(c);
}

static void test_read_edges(void)
{
	struct cd *c = cd_new(BLOCKS);
	uint8_t buf[2 * 2048], ref[2048];
	block_pread(c->medium, ref, 2048, (BLOCKS - 1) * 2048ull);
	uint8_t r10[12] = { 0x28, 0, 0, 0, (BLOCKS - 1) >> 8, (BLOCKS - 1) & 0xFF, 0, 0, 1 };
	expect_good(c, r10, buf, 2048);
	g_assert_cmpmem(buf, 2048, ref, 2048);
	r10[5]++; /* one past the end */
	expect_sense(c, r10, 0x05, 0x21, 0x00);
	r10[5] -= 1;
	r10[8] = 2; /* the last block and one past */
	expect_sense(c, r10, 0x05, 0x21, 0x00);
	r10[8] = 0; /* zero blocks: GOOD, no data */
	expect_good(c, r10, buf, 0);
	uint8_t r12[12] = { 0xA8, 0, 0, 0, (BLOCKS - 1) >> 8, (BLOCKS - 1) & 0xFF, 0, 0, 0, 1 };
	expect_good(c, r12, buf, 2048);
	g_assert_cmpmem(buf, 2048, ref, 2048);
	r12[6] = r12[7] = r12[8] = r12[9] = 0xFF; /* 4 G blocks */
	expect_sense(c, r12, 0x05, 0x21, 0x00);
	expect_sense(c, (const uint8_t[12]){ 0x28, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 1 }, 0x05, 0x21,
		     0x00);
	/* READ CD: user data only; other fields or sector types refused */
	uint8_t rcd[12] = { 0xBE, 0, 0, 0, 0, 9, 0, 0, 1, 0x10 };
	block_pread(c->medium, ref, 2048, 9 * 2048);
	expect_good(c, rcd, buf, 2048);
	g_assert_cmpmem(buf, 2048, ref, 2048);
	rcd[9] = 0xF8;
	expect_sense(c, rcd, 0x05, 0x24, 0x00);
	rcd[9] = 0x00; /* no fields: nothing to send */
	expect_good(c, rcd, buf, 0);
	rcd[9] = 0x10;
	rcd[1] = 1 << 2; /* CD-DA */
	expect_sense(c, rcd, 0x05, 0x64, 0x00);
	/* SEEK */
	expect_good(c, (const uint8_t[12]){ 0x2B, 0, 0, 0, (BLOCKS - 1) >> 8, (BLOCKS - 1) & 0xFF },
		    buf, 0);
	expect_sense(c, (const uint8_t[12]){ 0x2B, 0, 0, 0, BLOCKS >> 8, BLOCKS & 0xFF }, 5, 0x21,
		     0);
	cd_free(c);
}

static void test_read_toc(void)
{
	struct cd *c = cd_new(BLOCKS);
	uint8_t buf[64];
	/* format 0, LBA: track 1 at 0, lead-out at the capacity */
	expect_good(c, (const uint8_t[12]){ 0x43, 0, 0, 0, 0, 0, 0, 0, 64 }, buf, 20);
	g_assert_cmpuint(be16(buf), ==, 18);
	g_assert_cmpuint(buf[2], ==, 1);
	g_assert_cmpuint(buf[3], ==, 1);
	g_assert_cmphex(buf[5], ==, 0x14);
	g_assert_cmpuint(buf[6], ==, 1);
	g_assert_cmpuint(be32(buf + 8), ==, 0);
	g_assert_cmphex(buf[14], ==, 0xAA);
	g_assert_cmpuint(be32(buf + 16), ==, BLOCKS);
	/* MSF: 00:02:00 and the lead-out at BLOCKS + 150 frames */
	expect_good(c, (const uint8_t[12]){ 0x43, 0x02, 0, 0, 0, 0, 0, 0, 64 }, buf, 20);
	g_assert_cmpmem(buf + 8, 4, ((uint8_t[]){ 0, 0, 2, 0 }), 4);
	unsigned f = BLOCKS + 150;
	g_assert_cmpmem(buf + 16, 4, ((uint8_t[]){ 0, f / 4500, f / 75 % 60, f % 75 }), 4);
	/* from the lead-out only; a track that does not exist */
	expect_good(c, (const uint8_t[12]){ 0x43, 0, 0, 0, 0, 0, 0xAA, 0, 64 }, buf, 12);
	g_assert_cmphex(buf[6], ==, 0xAA);
	expect_sense(c, (const uint8_t[12]){ 0x43, 0, 0, 0, 0, 0, 2, 0, 64 }, 0x05, 0x24, 0x00);
	/* allocation length truncates, the length field does not change */
	expect_good(c, (const uint8_t[12]){ 0x43, 0, 0, 0, 0, 0, 0, 0, 12 }, buf, 12);
	g_assert_cmpuint(be16(buf), ==, 18);
	/* format 1: the session; in byte 9 the old way too */
	expect_good(c, (const uint8_t[12]){ 0x43, 0, 1, 0, 0, 0, 0, 0, 64 }, buf, 12);
	g_assert_cmpuint(be16(buf), ==, 10);
	g_assert_cmpuint(buf[6], ==, 1);
	expect_good(c, (const uint8_t[12]){ 0x43, 0, 0, 0, 0, 0, 0, 0, 64, 0x40 }, buf, 12);
	/* format 2: A0, A1, A2, track 1 */
	expect_good(c, (const uint8_t[12]){ 0x43, 0, 2, 0, 0, 0, 1, 0, 64 }, buf, 48);
	g_assert_cmpuint(be16(buf), ==, 46);
	g_assert_cmphex(buf[4 + 3], ==, 0xA0);
	g_assert_cmpuint(buf[4 + 8], ==, 1);
	g_assert_cmphex(buf[15 + 3], ==, 0xA1);
	g_assert_cmphex(buf[26 + 3], ==, 0xA2);
	g_assert_cmpmem(buf + 26 + 8, 3, ((uint8_t[]){ f / 4500, f / 75 % 60, f % 75 }), 3);
	g_assert_cmpuint(buf[37 + 3], ==, 1);
	g_assert_cmpuint(buf[37 + 9], ==, 2);
	/* formats 3-5 (PMA, ATIP, CD-TEXT) are not there */
	expect_sense(c, (const uint8_t[12]){ 0x43, 0, 3, 0, 0, 0, 0, 0, 64 }, 0x05, 0x24, 0x00);
	cd_free(c);
}

/* Walks the feature descriptors after the 8-byte header: code, flags byte, next. */
static const uint8_t *find_feature(const uint8_t *buf, size_t len, uint16_t code)
{
	for (size_t off = 8; off + 4 <= len; off += 4 + buf[off + 3])
		if (be16(buf + off) == code)
			return buf + off;
	return NULL;
}

static void test_get_configuration(void)
{
	struct cd *c = cd_new(BLOCKS);
	uint8_t buf[256];
	const uint8_t all[12] = { 0x46, 0, 0, 0, 0, 0, 0, 0, 255 };
	expect_good(c, all, buf, 72);
	g_assert_cmpuint(be32(buf), ==, 68);
	g_assert_cmphex(be16(buf + 6), ==, 0x0008); /* CD-ROM */
	const uint8_t *p = find_feature(buf, 72, 0x0000);
	g_assert_nonnull(p);
	g_assert_cmphex(p[2] & 0x03, ==, 0x03);
	g_assert_cmphex(be16(p + 4), ==, 0x0010);
	g_assert_cmpuint(p[6] & 1, ==, 0);
	g_assert_cmphex(be16(p + 8), ==, 0x0008);
	g_assert_cmpuint(p[10] & 1, ==, 1);
	g_assert_cmpuint(be32(find_feature(buf, 72, 0x0001) + 4), ==, 2); /* ATAPI */
	g_assert_cmpuint(find_feature(buf, 72, 0x0002)[4] & 1, ==, 0);  /* polled GESN */
	g_assert_cmphex(find_feature(buf, 72, 0x0003)[4], ==, 0x29);
	g_assert_cmpuint(find_feature(buf, 72, 0x0010)[2] & 1, ==, 1);
	g_assert_cmpuint(be32(find_feature(buf, 72, 0x0010) + 4), ==, 2048);
	g_assert_cmpuint(find_feature(buf, 72, 0x001E)[2] & 1, ==, 1);
	g_assert_cmpuint(find_feature(buf, 72, 0x001F)[2] & 1, ==, 0);
	/* RT 2: one feature; RT 1: current ones from 0010h on; RT 3: invalid */
	expect_good(c, (const uint8_t[12]){ 0x46, 2, 0, 3, 0, 0, 0, 0, 255 }, buf, 16);
	g_assert_cmphex(be16(buf + 8), ==, 0x0003);
	expect_good(c, (const uint8_t[12]){ 0x46, 1, 0, 0x10, 0, 0, 0, 0, 255 }, buf, 28);
	g_assert_cmphex(be16(buf + 8), ==, 0x0010);
	g_assert_cmphex(be16(buf + 20), ==, 0x001E);
	expect_sense(c, (const uint8_t[12]){ 0x46, 3, 0, 0, 0, 0, 0, 0, 255 }, 0x05, 0x24, 0x00);
	/* no disc: no current profile, Random Readable not current */
	struct block_dev *old = NULL;
	char *error = NULL;
	g_assert_cmpint(ide_cdrom_change_media(c->dev, 1, 0, NULL, false, &old, &error), ==, 0);
	expect_good(c, all, buf, 72);
	g_assert_cmphex(be16(buf + 6), ==, 0x0000);
	g_assert_cmpuint(find_feature(buf, 72, 0x0010)[2] & 1, ==, 0);
	/* a DVD-sized disc: DVD-ROM profile, blocking 16 */
	struct block_dev *dvd = synth_disc(4700000000ull / 2048);
	g_assert_cmpint(ide_cdrom_change_media(c->dev, 1, 0, dvd, false, &old, &error), ==, 0);
	expect_good(c, all, buf, 72);
	g_assert_cmphex(be16(buf + 6), ==, 0x0010);
	g_assert_cmpuint(be16(find_feature(buf, 72, 0x0010) + 8), ==, 16);
	g_assert_cmpuint(find_feature(buf, 72, 0x001F)[2] & 1, ==, 1);
	/* its last block reads back (no memory behind this disc) */
	uint8_t cap[8], blk[2048];
	expect_sense(c, TUR, 0x06, 0x28, 0x00);
	expect_good(c, (const uint8_t[12]){ 0x25 }, cap, 8);
	uint32_t last = be32(cap);
	g_assert_cmpuint(last, ==, 4700000000ull / 2048 - 1);
	uint8_t r10[12] = { 0x28, 0, last >> 24, last >> 16, last >> 8, last, 0, 0, 1 };
	expect_good(c, r10, blk, 2048);
	uint64_t lba;
	memcpy(&lba, blk, 8);
	g_assert_cmpuint(lba, ==, last);
	g_assert_cmpint(ide_cdrom_change_media(c->dev, 1, 0, NULL, false, &old, &error), ==, 0);
	g_assert_true(old == dvd);
	block_close(dvd);
	cd_free(c);
}

static void test_mode_sense(void)
{
	struct cd *c = cd_new(BLOCKS);
	uint8_t buf[128];
	expect_good(c, (const uint8_t[12]){ 0x5A, 0, 0x2A, 0, 0, 0, 0, 0, 128 }, buf, 30);
	g_assert_cmpuint(be16(buf), ==, 28);
	g_assert_cmphex(buf[2], ==, 0x01); /* CD data disc, door closed */
	g_assert_cmpuint(be16(buf + 6), ==, 0); /* no block descriptors */
	g_assert_cmphex(buf[8], ==, 0x2A);
	g_assert_cmphex(buf[9], ==, 0x14);
	g_assert_cmphex(buf[8 + 6], ==, 0x29); /* tray, eject, lock; unlocked */
	expect_good(c, LOCK, NULL, 0);
	expect_good(c, (const uint8_t[12]){ 0x5A, 0, 0x2A, 0, 0, 0, 0, 0, 128 }, buf, 30);
	g_assert_cmphex(buf[8 + 6], ==, 0x2B); /* lock state */
	expect_good(c, UNLOCK, NULL, 0);
	expect_good(c, (const uint8_t[12]){ 0x5A, 0, 0x01, 0, 0, 0, 0, 0, 128 }, buf, 20);
	g_assert_cmphex(buf[8], ==, 0x01);
	g_assert_cmphex(buf[9], ==, 0x0A);
	expect_good(c, (const uint8_t[12]){ 0x5A, 0, 0x3F, 0, 0, 0, 0, 0, 128 }, buf, 42);
	g_assert_cmphex(buf[8], ==, 0x01);
	g_assert_cmphex(buf[20], ==, 0x2A);
	expect_good(c, (const uint8_t[12]){ 0x5A, 0, 0x7F, 0, 0, 0, 0, 0, 128 }, buf, 42);
	g_assert_cmphex(buf[20 + 6], ==, 0); /* changeable values: none */
	expect_sense(c, (const uint8_t[12]){ 0x5A, 0, 0xEA, 0, 0, 0, 0, 0, 128 }, 0x05, 0x39, 0x00);
	expect_sense(c, (const uint8_t[12]){ 0x5A, 0, 0x0E, 0, 0, 0, 0, 0, 128 }, 0x05, 0x24, 0x00);
	expect_good(c, EJECT, NULL, 0);
	expect_good(c, (const uint8_t[12]){ 0x5A, 0, 0x2A, 0, 0, 0, 0, 0, 8 }, buf, 8);
	g_assert_cmphex(buf[2], ==, 0x71); /* door open */
	/* MODE SELECT: parameters taken and dropped; saving refused; a list too long */
	expect_good(c, (const uint8_t[12]){ 0x55, 0x10, 0, 0, 0, 0, 0, 0, 24 }, NULL, 0);
	expect_sense(c, (const uint8_t[12]){ 0x55, 0x11, 0, 0, 0, 0, 0, 0, 24 }, 0x05, 0x24, 0x00);
	expect_sense(c, (const uint8_t[12]){ 0x55, 0x10, 0, 0, 0, 0, 0, 0x10 }, 0x05, 0x1A, 0x00);
	cd_free(c);
}

static void test_disc_info_and_mechanism(void)
{
	struct cd *c = cd_new(BLOCKS);
	uint8_t buf[64];
	expect_good(c, (const uint8_t[12]){ 0x51, 0, 0, 0, 0, 0, 0, 0, 64 }, buf, 34);
	g_assert_cmpuint(be16(buf), ==, 32);
	g_assert_cmphex(buf[2], ==, 0x0E);
	g_assert_cmpuint(buf[3], ==, 1);
	g_assert_cmpuint(buf[4], ==, 1);
	expect_sense(c, (const uint8_t[12]){ 0x51, 1, 0, 0, 0, 0, 0, 0, 64 }, 0x05, 0x24, 0x00);
	expect_good(c, (const uint8_t[12]){ 0xBD, 0, 0, 0, 0, 0, 0, 0, 0, 64 }, buf, 8);
	g_assert_cmphex(buf[1], ==, 0x00);
	g_assert_cmpuint(buf[5], ==, 0);
	expect_good(c, EJECT, NULL, 0);
	expect_good(c, (const uint8_t[12]){ 0xBD, 0, 0, 0, 0, 0, 0, 0, 0, 64 }, buf, 8);
	g_assert_cmphex(buf[1], ==, 0x10); /* door open */
	cd_free(c);
}

/* ---- media changes, unit attention, GESN, the tray ---- */

static void gesn(struct cd *c, uint8_t *event, uint8_t *media_status)
{
	uint8_t buf[8];
	expect_good(c, GESN, buf, 8);
	g_assert_cmpuint(be16(buf), ==, 6);
	g_assert_cmphex(buf[2], ==, 0x04); /* media class, NEA clear */
	g_assert_cmphex(buf[3], ==, 0x10);
	*event = buf[4] & 0x0F;
	*media_status = buf[5];
}

static void test_media_change(void)
{
	struct cd *c = cd_new(BLOCKS);
	uint8_t ev, ms, s[3], buf[2048], ref[2048];
	gesn(c, &ev, &ms);
	g_assert_cmpuint(ev, ==, 0);
	g_assert_cmphex(ms, ==, 0x02); /* present, closed */

	struct block_dev *b = disc(50, 2), *old = NULL;
	char *error = NULL;
	g_assert_cmpint(ide_cdrom_change_media(c->dev, 1, 0, b, false, &old, &error), ==, 0);
	g_assert_true(old == c->medium);
	block_close(old);
	c->medium = b;
	gesn(c, &ev, &ms); /* GESN is not held up by the unit attention */
	g_assert_cmpuint(ev, ==, 2);
	g_assert_cmphex(ms, ==, 0x02);
	gesn(c, &ev, &ms);
	g_assert_cmpuint(ev, ==, 0); /* reported once */
	expect_good(c, (const uint8_t[12]){ 0x12, 0, 0, 0, 36 }, NULL, 36); /* INQUIRY passes */
	expect_sense(c, TUR, 0x06, 0x28, 0x00);
	expect_good(c, TUR, NULL, 0);
	uint8_t r10[12] = { 0x28, 0, 0, 0, 0, 49, 0, 0, 1 };
	expect_good(c, r10, buf, 2048);
	block_pread(b, ref, 2048, 49 * 2048);
	g_assert_cmpmem(buf, 2048, ref, 2048);
	r10[5] = 50;
	expect_sense(c, r10, 0x05, 0x21, 0x00); /* the new capacity */

	/* REQUEST SENSE reports a pending unit attention and clears it */
	g_assert_cmpint(ide_cdrom_change_media(c->dev, 1, 0, b, false, &old, &error), ==, 0);
	sense(c, s);
	g_assert_cmphex(s[0], ==, 0x06);
	g_assert_cmphex(s[1], ==, 0x28);
	expect_good(c, TUR, NULL, 0);

	/* eject from the host: media removal, tray open, NOT READY */
	g_assert_cmpint(ide_cdrom_change_media(c->dev, 1, 0, NULL, false, &old, &error), ==, 0);
	g_assert_true(old == b);
	gesn(c, &ev, &ms);
	g_assert_cmpuint(ev, ==, 3);
	g_assert_cmphex(ms, ==, 0x01);
	expect_sense(c, TUR, 0x02, 0x3A, 0x02);
	expect_sense(c, (const uint8_t[12]){ 0x25 }, 0x02, 0x3A, 0x02);
	g_assert_cmpint(ide_cdrom_change_media(c->dev, 1, 0, b, false, &old, &error), ==, 0);
	g_assert_null(old);
	expect_sense(c, TUR, 0x06, 0x28, 0x00);
	expect_good(c, TUR, NULL, 0);

	/* a position without a CD-ROM drive */
	g_assert_cmpint(ide_cdrom_change_media(c->dev, 0, 0, b, false, &old, &error), ==, -1);
	g_assert_nonnull(error);
	g_clear_pointer(&error, g_free);
	g_assert_cmpint(ide_cdrom_change_media(c->dev, 2, 0, b, false, &old, &error), ==, -1);
	g_clear_pointer(&error, g_free);
	cd_free(c);
}

static void test_tray_and_lock(void)
{
	struct cd *c = cd_new(BLOCKS);
	uint8_t ev, ms;
	struct block_dev *old = NULL, *b = disc(20, 3);
	char *error = NULL;
	expect_good(c, LOCK, NULL, 0);
	expect_sense(c, EJECT, 0x05, 0x53, 0x02);
	g_assert_cmpint(ide_cdrom_change_media(c->dev, 1, 0, b, false, &old, &error), ==, -1);
	g_assert_nonnull(strstr(error, "locked"));
	g_clear_pointer(&error, g_free);
	expect_good(c, TUR, NULL, 0); /* the disc stays... */
	gesn(c, &ev, &ms);
	g_assert_cmpuint(ev, ==, 1); /* ...and the guest hears of an eject request */
	gesn(c, &ev, &ms);
	g_assert_cmpuint(ev, ==, 0); /* reported once */
	/* forced: the change happens, the lock stays */
	g_assert_cmpint(ide_cdrom_change_media(c->dev, 1, 0, b, true, &old, &error), ==, 0);
	g_assert_true(old == c->medium);
	block_close(old);
	c->medium = b;
	expect_sense(c, TUR, 0x06, 0x28, 0x00);
	expect_sense(c, EJECT, 0x05, 0x53, 0x02);
	/* unlocked: the guest opens the tray, then closes it on the same disc */
	expect_good(c, UNLOCK, NULL, 0);
	expect_good(c, EJECT, NULL, 0);
	gesn(c, &ev, &ms);
	g_assert_cmpuint(ev, ==, 3);
	g_assert_cmphex(ms, ==, 0x01);
	expect_sense(c, TUR, 0x02, 0x3A, 0x02);
	expect_good(c, EJECT, NULL, 0); /* already open */
	expect_good(c, LOAD, NULL, 0);
	gesn(c, &ev, &ms);
	g_assert_cmpuint(ev, ==, 2);
	g_assert_cmphex(ms, ==, 0x02);
	expect_sense(c, TUR, 0x06, 0x28, 0x00);
	expect_good(c, TUR, NULL, 0);
	/* closing an empty tray: NOT READY, tray closed */
	g_assert_cmpint(ide_cdrom_change_media(c->dev, 1, 0, NULL, false, &old, &error), ==, 0);
	expect_good(c, LOAD, NULL, 0);
	expect_sense(c, TUR, 0x02, 0x3A, 0x01);
	cd_free(c);
}

/* A disc changed in the middle of a PIO READ: that command ends in CHECK CONDITION. */
static void test_change_mid_read(void)
{
	struct cd *c = cd_new(BLOCKS);
	static const uint8_t r10[12] = { 0x28, 0, 0, 0, 0, 0, 0, 0, 3 };
	send_packet(c, r10, 2048);
	g_assert_cmphex(status(c), ==, DRDY | DSC | DRQ);
	for (int i = 0; i < 1024; i++)
		(void)fake_inw(c->env, CMD);
	g_assert_cmphex(status(c), ==, DRDY | DSC | DRQ); /* block 2 */
	struct block_dev *old = NULL, *b = disc(20, 4);
	char *error = NULL;
	g_assert_cmpint(ide_cdrom_change_media(c->dev, 1, 0, b, false, &old, &error), ==, 0);
	block_close(old);
	c->medium = b;
	g_assert_cmpint(irq_level(c), ==, 1);
	g_assert_cmphex(ireason(c), ==, IO | COD);
	g_assert_cmphex(status(c), ==, DRDY | DSC | ERR);
	g_assert_cmphex(in8(c, 1), ==, 0x20);
	g_assert_cmphex(fake_inw(c->env, CMD), ==, 0xFFFF);
	expect_sense(c, TUR, 0x06, 0x28, 0x00);
	expect_good(c, TUR, NULL, 0);
	cd_free(c);
}

/* ---- hostile guests ---- */

/* Every opcode with random fields and limits: always an ending, never BSY, never stuck. */
static void test_random_packets(void)
{
	struct cd *c = cd_new(BLOCKS);
	GRand *rnd = g_rand_new_with_seed(4321);
	for (int round = 0; round < 6; round++) {
		for (unsigned op = 0; op < 256; op++) {
			uint8_t cdb[12] = { op };
			for (int i = 1; i < 12; i++)
				cdb[i] = round == 0 ? 0 : g_rand_int(rnd);
			if (op == 0x1B && (cdb[4] & 3) == 2)
				cdb[4] = 0; /* keep the disc in for the next commands */
			static const uint16_t limits[] = { 0, 1, 2, 3, 511, 2048, 0xFFFF };
			uint16_t limit = limits[g_rand_int_range(rnd, 0, G_N_ELEMENTS(limits))];
			send_packet(c, cdb, limit);
			for (int guard = 0; guard < 300000 && (altstatus(c) & DRQ); guard++) {
				g_assert_false(altstatus(c) & BSY);
				if (ireason(c) & IO)
					(void)fake_inw(c->env, CMD);
				else
					fake_outw(c->env, CMD, g_rand_int(rnd));
			}
			uint8_t st = status(c);
			g_assert_cmphex(st & (BSY | DRQ), ==, 0);
			g_assert_cmphex(ireason(c), ==, IO | COD);
		}
	}
	/* garbage on the data port outside any phase */
	for (int i = 0; i < 1000; i++) {
		fake_outw(c->env, CMD, g_rand_int(rnd));
		(void)fake_inl(c->env, CMD);
	}
	uint8_t s[3];
	sense(c, s); /* whatever unit attention the commands left */
	expect_good(c, UNLOCK, NULL, 0);
	expect_good(c, LOAD, NULL, 0);
	sense(c, s);
	expect_good(c, TUR, NULL, 0);
	g_rand_free(rnd);
	cd_free(c);
}

/* ---- state ---- */

static GByteArray *save(struct cd *c)
{
	GByteArray *out = g_byte_array_new();
	pthread_mutex_lock(&c->dev->lock);
	state_save(piix_ide_class.state, c->dev, out);
	pthread_mutex_unlock(&c->dev->lock);
	return out;
}

static int load(struct cd *c, GByteArray *s, char **error)
{
	pthread_mutex_lock(&c->dev->lock);
	int ret = state_load(piix_ide_class.state, c->dev, s->data, s->len, error);
	pthread_mutex_unlock(&c->dev->lock);
	return ret;
}

/* Mid-READ and mid-packet states travel with the lock, the sense data and the interrupt. */
static void test_state_round_trip(void)
{
	struct cd *a = cd_new(BLOCKS);
	expect_good(a, LOCK, NULL, 0);
	static const uint8_t r10[12] = { 0x28, 0, 0, 0, 0, 7, 0, 0, 3 };
	uint8_t got[3 * 2048], ref[3 * 2048];
	block_pread(a->medium, ref, sizeof(ref), 7 * 2048);
	send_packet(a, r10, 1000);
	(void)status(a);
	for (int i = 0; i < 200; i++) { /* 400 of the first DRQ block's 1000 bytes */
		uint16_t w = fake_inw(a->env, CMD);
		got[2 * i] = w;
		got[2 * i + 1] = w >> 8;
	}
	GByteArray *s = save(a);
	struct cd *b = cd_new_with(a->medium, NULL);
	a->medium = NULL;
	cd_free(a);
	char *error = NULL;
	g_assert_cmpint(load(b, s, &error), ==, 0);
	g_assert_null(error);
	GByteArray *again = save(b); /* exact round trip */
	g_assert_cmpmem(s->data, s->len, again->data, again->len);
	g_byte_array_free(again, TRUE);
	for (int i = 200; i < 500; i++) { /* the rest of that block */
		uint16_t w = fake_inw(b->env, CMD);
		got[2 * i] = w;
		got[2 * i + 1] = w >> 8;
	}
	struct reply rest = { 0 };
	read_blocks(b, got + 1000, sizeof(got) - 1000, &rest);
	g_assert_cmpuint(rest.len, ==, sizeof(got) - 1000);
	g_assert_cmpmem(got, sizeof(got), ref, sizeof(ref));
	g_assert_cmphex(status(b), ==, DRDY | DSC);
	expect_sense(b, EJECT, 0x05, 0x53, 0x02); /* the lock came along */
	g_byte_array_free(s, TRUE);

	/* the packet phase, half a packet in */
	send_packet(b, TUR, 0);
	out8(b, 7, 0xA0);
	fake_outw(b->env, CMD, 0x0025); /* READ CAPACITY ... */
	s = save(b);
	struct cd *c = cd_new_with(b->medium, NULL);
	b->medium = NULL;
	cd_free(b);
	g_assert_cmpint(load(c, s, NULL), ==, 0);
	for (int i = 0; i < 5; i++)
		fake_outw(c->env, CMD, 0);
	uint8_t cap[8];
	read_blocks(c, cap, sizeof(cap), &(struct reply){ 0 });
	g_assert_cmpuint(be32(cap), ==, BLOCKS - 1);
	g_assert_cmphex(status(c), ==, DRDY | DSC);
	g_byte_array_free(s, TRUE);
	cd_free(c);
}

/* A unit attention and a media event still to report survive a save and load. */
static void test_state_unit_attention(void)
{
	struct cd *a = cd_new(BLOCKS);
	struct block_dev *old = NULL;
	char *error = NULL;
	int ret = ide_cdrom_change_media(a->dev, 1, 0, a->medium, false, &old, &error);
	g_assert_cmpint(ret, ==, 0);
	GByteArray *s = save(a);
	struct cd *b = cd_new_with(a->medium, NULL);
	a->medium = NULL;
	cd_free(a);
	g_assert_cmpint(load(b, s, NULL), ==, 0);
	uint8_t ev, ms;
	gesn(b, &ev, &ms);
	g_assert_cmpuint(ev, ==, 2);
	expect_sense(b, TUR, 0x06, 0x28, 0x00);
	g_byte_array_free(s, TRUE);
	cd_free(b);
}

/* Random drive fields: refused, or a device that still behaves. */
static void test_state_hostile(void)
{
	struct cd *src = cd_new(BLOCKS);
	struct cd *dst = cd_new_with(src->medium, NULL);
	GRand *rnd = g_rand_new_with_seed(77);
	unsigned refused = 0, accepted = 0;
	for (int iter = 0; iter < 500; iter++) {
		struct ide_drive *d = &src->dev->chan[1].drive[0];
		static const uint8_t ops[] = { 0x28, 0xA8, 0xBE, 0x55, 0x12, 0x00, 0x03, 0xFF };
		d->xfer = g_rand_int_range(rnd, 0, 7);
		d->cmd = g_rand_boolean(rnd) ? 0xA0 : g_rand_int(rnd);
		d->atapi.cdb[0] = ops[g_rand_int_range(rnd, 0, G_N_ELEMENTS(ops))];
		d->dma = g_rand_int_range(rnd, 0, 2);
		d->io_op = g_rand_int_range(rnd, 0, 3);
		d->lba = g_rand_int_range(rnd, 0, BLOCKS + 3);
		d->remaining = g_rand_int_range(rnd, 0, 10);
		d->block = g_rand_int_range(rnd, 0, 70);
		d->buf_len = g_rand_int_range(rnd, 0, IDE_BUF_SIZE + 10);
		d->drq_end = g_rand_int_range(rnd, 0, d->buf_len + 2);
		d->buf_pos = g_rand_int_range(rnd, 0, d->drq_end + 2);
		d->byte_limit = g_rand_int(rnd);
		d->atapi.tray_open = g_rand_int_range(rnd, 0, 3) == 0;
		d->atapi.sense_key = g_rand_int_range(rnd, 0, 17);
		d->atapi.media_event = g_rand_int_range(rnd, 0, 5);
		d->status = DRDY | DSC;
		GByteArray *st = save(src);
		char *error = NULL;
		if (load(dst, st, &error) < 0) {
			refused++;
			g_free(error);
		} else {
			accepted++;
		}
		for (int i = 0; i < 20000 && (altstatus(dst) & DRQ); i++) {
			(void)fake_inw(dst->env, CMD);
			fake_outw(dst->env, CMD, i);
		}
		out8(dst, 6, 0xA0);
		out8(dst, 7, 0x08); /* DEVICE RESET brings any state back */
		g_assert_cmphex(status(dst), ==, 0);
		g_byte_array_free(st, TRUE);
		piix_ide_class.reset(src->dev);
	}
	g_assert_cmpuint(refused, >, 0);
	g_assert_cmpuint(accepted, >, 0);
	piix_ide_class.reset(dst->dev);
	expect_good(dst, TUR, NULL, 0);
	g_rand_free(rnd);
	dst->medium = NULL;
	cd_free(dst);
	cd_free(src);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/atapi/signature-and-identify", test_signature_and_identify);
	g_test_add_func("/atapi/signatures-per-device", test_signatures_per_device);
	g_test_add_func("/atapi/device-reset", test_device_reset);
	g_test_add_func("/atapi/seabios-probe-and-boot", test_seabios_probe_and_boot);
	g_test_add_func("/atapi/packet/phases", test_packet_phases);
	g_test_add_func("/atapi/packet/byte-count-limit", test_byte_count_limit);
	g_test_add_func("/atapi/packet/odd-byte-counts", test_odd_byte_counts);
	g_test_add_func("/atapi/commands/table", test_command_table);
	g_test_add_func("/atapi/commands/inquiry-and-sense", test_inquiry_and_sense_data);
	g_test_add_func("/atapi/commands/read-edges", test_read_edges);
	g_test_add_func("/atapi/commands/read-toc", test_read_toc);
	g_test_add_func("/atapi/commands/get-configuration", test_get_configuration);
	g_test_add_func("/atapi/commands/mode-sense-select", test_mode_sense);
	g_test_add_func("/atapi/commands/disc-info-mechanism", test_disc_info_and_mechanism);
	g_test_add_func("/atapi/media/change", test_media_change);
	g_test_add_func("/atapi/media/tray-and-lock", test_tray_and_lock);
	g_test_add_func("/atapi/media/change-mid-read", test_change_mid_read);
	g_test_add_func("/atapi/hostile/random-packets", test_random_packets);
	g_test_add_func("/atapi/state/round-trip", test_state_round_trip);
	g_test_add_func("/atapi/state/unit-attention", test_state_unit_attention);
	g_test_add_func("/atapi/state/hostile", test_state_hostile);
	return g_test_run();
}
