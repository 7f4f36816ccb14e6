/*
 * ATAPI CD/DVD-ROM drive on the PIIX secondary channel, driven through the ports a guest uses:
 * the PACKET protocol (phases, interrupt reason, byte counts), the command table against
 * expected responses and sense data, media changes and the tray, SeaBIOS's probe, state.
 *
 * This program: signatures, IDENTIFY, reset, SeaBIOS's probe, the PACKET protocol and the
 * command table with its responses; test_atapi_media.c holds media changes, the tray, events,
 * hostile packets and state; what they share is in atapi_util.c.
 */
#include <glib.h>
#include <string.h>

#include "atapi_util.h"

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
	return g_test_run();
}
