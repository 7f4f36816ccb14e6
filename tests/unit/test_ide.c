/* IDE channel and PIIX3 IDE function, driven through the same ports a guest uses. */
#include <errno.h>
#include <glib.h>
#include <string.h>

#include "block/block.h"
#include "devices/ide.h"
#include "devices/pci.h"
#include "devices/piix_ide.h"
#include "fakes.h"

#define CMD 0x1F0
#define CTRL 0x3F6
#define GSI 14
#define DISK_SECTORS 8192u /* 4 MiB: 8 cylinders of 16 heads x 63 sectors */

/* Status and error bits (ATA-6 Error and Status registers) */
#define BSY 0x80
#define DRDY 0x40
#define DSC 0x10
#define DRQ 0x08
#define ERR 0x01
#define ABRT 0x04
#define IDNF 0x10
#define UNC 0x40

/* ---- a synthetic disk: any size, sector N holds N; writes recorded, failures injected ---- */

struct synth {
	uint64_t last_write_off;
	size_t last_write_len;
	uint8_t last_write_first;
	unsigned flushes;
	bool fail_reads, fail_writes;
};

static int synth_pread(struct block_dev *bd, void *buf, size_t len, uint64_t off)
{
	struct synth *s = bd->priv;
	if (s->fail_reads)
		return -EIO;
	for (size_t i = 0; i < len; i += 8) {
		uint64_t lba = (off + i) / BLOCK_SECTOR;
		memcpy((uint8_t *)buf + i, &lba, 8);
	}
	return 0;
}

static int synth_pwrite(struct block_dev *bd, const void *buf, size_t len, uint64_t off)
{
	struct synth *s = bd->priv;
	if (s->fail_writes)
		return -EIO;
	s->last_write_off = off;
	s->last_write_len = len;
	s->last_write_first = len ? *(const uint8_t *)buf : 0;
	return 0;
}

static int synth_flush(struct block_dev *bd)
{
	((struct synth *)bd->priv)->flushes++;
	return 0;
}

static const struct block_driver synth_driver = {
	.name = "synth", .pread = synth_pread, .pwrite = synth_pwrite, .flush = synth_flush,
};

static struct block_dev *synth_open(uint64_t sectors, struct synth *s)
{
	struct block_dev *bd = g_new0(struct block_dev, 1);
	bd->drv = &synth_driver;
	bd->path = g_strdup("(synth)");
	bd->fd = -1;
	bd->size = sectors * BLOCK_SECTOR;
	bd->priv = s;
	return bd;
}

/* ---- a channel on a fake bus ---- */

struct rig {
	struct fake_env *env;
	struct ide_channel *chan;
	struct block_dev *disk[2];
};

static struct rig *rig_new_with(struct block_dev *master, struct block_dev *slave)
{
	struct rig *r = g_new0(struct rig, 1);
	r->env = fake_env_new(GSI, 15);
	r->chan = g_new0(struct ide_channel, 1);
	r->disk[0] = master;
	r->disk[1] = slave;
	ide_channel_init(r->chan, &r->env->ctx.irq[0], master, slave);
	fake_map(r->env, CMD, 8, &ide_cmd_ops, r->chan, NULL);
	fake_map(r->env, CTRL, 1, &ide_ctrl_ops, r->chan, NULL);
	return r;
}

static struct rig *rig_new(uint64_t master_sectors, uint64_t slave_sectors)
{
	return rig_new_with(master_sectors ? block_open_memory(master_sectors * BLOCK_SECTOR) : NULL,
			    slave_sectors ? block_open_memory(slave_sectors * BLOCK_SECTOR) : NULL);
}

static void rig_free(struct rig *r)
{
	for (int i = 0; i < 2; i++)
		block_close(r->disk[i]);
	g_free(r->chan);
	fake_env_free(r->env);
	g_free(r);
}

static uint8_t in8(struct rig *r, unsigned reg) { return fake_inb(r->env, CMD + reg); }
static void out8(struct rig *r, unsigned reg, uint8_t v) { fake_outb(r->env, CMD + reg, v); }
static uint8_t status(struct rig *r) { return in8(r, 7); }
static uint8_t altstatus(struct rig *r) { return fake_inb(r->env, CTRL); }
static int irq_level(struct rig *r) { return r->env->irq_level[GSI]; }
static unsigned irq_raises(struct rig *r) { return r->env->irq_raises[GSI]; }

static void issue28(struct rig *r, uint8_t cmd, uint32_t lba, uint8_t count)
{
	out8(r, 6, 0xE0 | ((lba >> 24) & 0x0F));
	out8(r, 2, count);
	out8(r, 3, lba);
	out8(r, 4, lba >> 8);
	out8(r, 5, lba >> 16);
	out8(r, 7, cmd);
}

/* LBA48: the high bytes first, then the low ones, into the two-deep registers. */
static void issue48(struct rig *r, uint8_t cmd, uint64_t lba, uint16_t count)
{
	out8(r, 6, 0x40);
	out8(r, 2, count >> 8);
	out8(r, 3, lba >> 24);
	out8(r, 4, lba >> 32);
	out8(r, 5, lba >> 40);
	out8(r, 2, count);
	out8(r, 3, lba);
	out8(r, 4, lba >> 8);
	out8(r, 5, lba >> 16);
	out8(r, 7, cmd);
}

static void issue_chs(struct rig *r, uint8_t cmd, unsigned cyl, unsigned head, unsigned sec,
		      uint8_t count)
{
	out8(r, 6, 0xA0 | head);
	out8(r, 2, count);
	out8(r, 3, sec);
	out8(r, 4, cyl);
	out8(r, 5, cyl >> 8);
	out8(r, 7, cmd);
}

static void pio_in(struct rig *r, uint8_t *buf, size_t bytes)
{
	for (size_t i = 0; i < bytes; i += 2) {
		uint16_t w = fake_inw(r->env, CMD);
		buf[i] = w;
		buf[i + 1] = w >> 8;
	}
}

static void pio_out(struct rig *r, const uint8_t *buf, size_t bytes)
{
	for (size_t i = 0; i < bytes; i += 2)
		fake_outw(r->env, CMD, buf[i] | buf[i + 1] << 8);
}

static void fill_pattern(uint8_t *buf, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)(i * 7 + seed * 13 + (i >> 9));
}

static void identify(struct rig *r, uint16_t id[256])
{
	out8(r, 7, 0xEC);
	g_assert_cmphex(status(r), ==, DRDY | DSC | DRQ);
	for (int i = 0; i < 256; i++)
		id[i] = fake_inw(r->env, CMD);
	g_assert_cmphex(status(r), ==, DRDY | DSC);
}

/* ---- register protocol and the hang traps of pc-platform.md ---- */

static void test_probe_echo(void)
{
	struct rig *r = rig_new(DISK_SECTORS, 0);
	for (uint8_t dh = 0xA0; dh <= 0xB0; dh += 0x10) {
		out8(r, 6, dh);
		out8(r, 2, 0x55);
		out8(r, 3, 0xAA);
		out8(r, 2, 0xAA);
		out8(r, 3, 0x55);
		out8(r, 2, 0x55);
		out8(r, 3, 0xAA);
		g_assert_cmphex(in8(r, 2), ==, 0x55);
		g_assert_cmphex(in8(r, 3), ==, 0xAA);
		g_assert_cmphex(in8(r, 6), ==, dh); /* SeaBIOS compares the Device register exactly */
		out8(r, 4, 0x12);
		out8(r, 5, 0x34);
		g_assert_cmphex(in8(r, 4), ==, 0x12);
		g_assert_cmphex(in8(r, 5), ==, 0x34);
	}
	rig_free(r);
}

static void test_absent_slave_status_zero(void)
{
	struct rig *r = rig_new(DISK_SECTORS, 0);
	out8(r, 6, 0xB0);
	g_assert_cmphex(status(r), ==, 0);
	g_assert_cmphex(altstatus(r), ==, 0);
	out8(r, 7, 0xEC); /* ignored: nobody there */
	g_assert_cmphex(status(r), ==, 0);
	g_assert_cmpuint(irq_raises(r), ==, 0);
	out8(r, 6, 0xA0);
	g_assert_cmphex(status(r), ==, DRDY | DSC);
	rig_free(r);
}

static void test_empty_channel_reads_zero(void)
{
	struct rig *r = rig_new(0, 0);
	out8(r, 2, 0x55);
	out8(r, 3, 0xAA);
	out8(r, 6, 0xA0);
	for (unsigned reg = 1; reg < 8; reg++)
		g_assert_cmphex(in8(r, reg), ==, 0);
	g_assert_cmphex(fake_inw(r->env, CMD), ==, 0);
	g_assert_cmphex(altstatus(r), ==, 0);
	out8(r, 7, 0x90);
	out8(r, 7, 0xEC);
	g_assert_cmphex(status(r), ==, 0);
	g_assert_cmpuint(irq_raises(r), ==, 0);
	rig_free(r);
}

static void test_software_reset_signature(void)
{
	struct rig *r = rig_new(DISK_SECTORS, DISK_SECTORS);
	out8(r, 6, 0xB0);
	out8(r, 2, 0x55);
	out8(r, 4, 0x77);
	out8(r, 7, 0xEC); /* leave a transfer pending */
	g_assert_cmpint(irq_level(r), ==, 1);
	fake_outb(r->env, CTRL, 0x0E); /* HD15 | nIEN | SRST, as SeaBIOS */
	g_assert_cmpint(irq_level(r), ==, 0);
	g_assert_cmphex(altstatus(r), ==, BSY);
	out8(r, 7, 0xEC); /* ignored while BSY */
	g_assert_cmphex(altstatus(r), ==, BSY);
	fake_outb(r->env, CTRL, 0x0A);
	g_assert_cmphex(status(r), ==, DRDY | DSC);
	g_assert_cmphex(in8(r, 1), ==, 0x01); /* diagnostic code: passed */
	g_assert_cmphex(in8(r, 2), ==, 0x01);
	g_assert_cmphex(in8(r, 3), ==, 0x01);
	g_assert_cmphex(in8(r, 4), ==, 0x00);
	g_assert_cmphex(in8(r, 5), ==, 0x00);
	g_assert_cmphex(in8(r, 6), ==, 0x00);
	g_assert_cmphex(fake_inw(r->env, CMD), ==, 0xFFFF); /* the IDENTIFY block is gone */
	out8(r, 6, 0xB0);
	g_assert_cmphex(status(r), ==, DRDY | DSC);
	fake_outb(r->env, CTRL, 0x08); /* interrupts on: reset left none pending */
	g_assert_cmpuint(irq_raises(r), ==, 1);
	g_assert_cmpint(irq_level(r), ==, 0);
	rig_free(r);
}

/* The probe SeaBIOS 1.16 runs (src/hw/ata.c ata_detect), as port accesses. */
static void test_seabios_style_probe(void)
{
	struct rig *r = rig_new(DISK_SECTORS, 0);
	uint16_t id[256];
	out8(r, 6, 0xA0);
	g_assert_false(status(r) & BSY);
	fake_outb(r->env, CTRL, 0x0E);
	fake_outb(r->env, CTRL, 0x0A);
	g_assert_false(status(r) & BSY);
	out8(r, 7, 0xA1); /* IDENTIFY PACKET DEVICE: must abort on a disk */
	g_assert_cmphex(status(r), ==, DRDY | DSC | ERR);
	g_assert_cmphex(in8(r, 1), ==, ABRT);
	identify(r, id);
	g_assert_cmphex(id[93] & 0xDF61, ==, 0x4041); /* "device 1 absent": slave probe skipped */
	/* Had it probed: the slave echoes the pattern but answers nothing */
	out8(r, 6, 0xB0);
	out8(r, 7, 0xA1);
	g_assert_cmphex(status(r), ==, 0);
	rig_free(r);
}

static void test_identify(void)
{
	struct rig *r = rig_new(DISK_SECTORS, 0);
	uint16_t id[256];
	out8(r, 6, 0xA0);
	identify(r, id);
	g_assert_cmpuint(irq_raises(r), ==, 1);
	g_assert_cmphex(id[0], ==, 0x0040);
	g_assert_cmpuint(id[1], ==, DISK_SECTORS / (16 * 63));
	g_assert_cmpuint(id[3], ==, 16);
	g_assert_cmpuint(id[6], ==, 63);
	g_assert_cmphex(id[27], ==, 'P' << 8 | 'C'); /* ATA strings: first character high */
	g_assert_cmphex(id[28], ==, 'V' << 8 | 'M');
	char model[41] = { 0 };
	for (int i = 0; i < 20; i++) {
		model[2 * i] = id[27 + i] >> 8;
		model[2 * i + 1] = id[27 + i];
	}
	g_assert_cmpstr(g_strchomp(model), ==, "PCVM HARDDISK");
	g_assert_cmphex(id[23], ==, '0' << 8 | '.');
	g_assert_cmphex(id[24], ==, '1' << 8 | ' ');
	g_assert_cmphex(id[10], ==, 'P' << 8 | 'C'); /* serial "PCVM..." */
	g_assert_cmphex(id[47] & 0xFF, ==, 16);
	g_assert_cmphex(id[49] & 0x0200, ==, 0x0200); /* LBA */
	g_assert_cmphex(id[49] & 0x0100, ==, 0x0100); /* DMA */
	g_assert_cmphex(id[53] & 0x0004, ==, 0x0004); /* word 88 valid */
	g_assert_cmphex(id[63], ==, 0x0407);          /* MW DMA 0-2, mode 2 selected at power-on */
	g_assert_cmphex(id[88], ==, 0x003F);          /* Ultra DMA 0-5, none selected */
	g_assert_cmphex(id[64], ==, 0x0003); /* PIO 3 and 4 */
	g_assert_cmpuint(id[60] | (uint32_t)id[61] << 16, ==, DISK_SECTORS);
	g_assert_cmphex(id[83] & 0x0400, ==, 0x0400); /* LBA48 */
	uint64_t cap48 = 0;
	for (int i = 0; i < 4; i++)
		cap48 |= (uint64_t)id[100 + i] << (16 * i);
	g_assert_cmpuint(cap48, ==, DISK_SECTORS);
	g_assert_cmphex(id[80] & 0x0040, ==, 0x0040); /* ATA/ATAPI-6 */
	g_assert_cmphex(id[255] & 0xFF, ==, 0xA5);
	uint8_t sum = 0;
	for (int i = 0; i < 256; i++)
		sum += (id[i] & 0xFF) + (id[i] >> 8);
	g_assert_cmpuint(sum, ==, 0);
	/* the serial is stable: a second channel on the same image says the same */
	struct ide_channel *again = g_new0(struct ide_channel, 1);
	ide_channel_init(again, NULL, r->disk[0], NULL);
	g_assert_cmpmem(&again->drive[0].identify[10], 20, &id[10], 20);
	g_free(again);
	rig_free(r);
}

static void test_atapi_only_commands_abort(void)
{
	struct rig *r = rig_new(DISK_SECTORS, 0);
	/* READ DMA too: this channel has no bus master behind it */
	static const uint8_t ops[] = { 0xA1, 0xA0, 0x08, 0x00, 0xC8, 0xFF };
	for (size_t i = 0; i < G_N_ELEMENTS(ops); i++) {
		out8(r, 6, 0xA0);
		out8(r, 7, ops[i]);
		g_assert_cmphex(status(r), ==, DRDY | DSC | ERR);
		g_assert_cmphex(in8(r, 1), ==, ABRT);
	}
	rig_free(r);
}

/* ---- data transfers ---- */

static void test_read_write_lba28(void)
{
	struct rig *r = rig_new(DISK_SECTORS, 0);
	uint8_t out[3 * 512], in[3 * 512], disk[3 * 512];
	fill_pattern(out, sizeof(out), 1);
	issue28(r, 0x30, 5, 3);
	g_assert_cmphex(status(r), ==, DRDY | DSC | DRQ);
	pio_out(r, out, sizeof(out));
	g_assert_cmphex(status(r), ==, DRDY | DSC);
	g_assert_cmpint(block_pread(r->disk[0], disk, sizeof(disk), 5 * 512), ==, 0);
	g_assert_cmpmem(disk, sizeof(disk), out, sizeof(out));

	fill_pattern(disk, sizeof(disk), 2);
	g_assert_cmpint(block_pwrite(r->disk[0], disk, sizeof(disk), 1000 * 512), ==, 0);
	issue28(r, 0x20, 1000, 3);
	pio_in(r, in, sizeof(in));
	g_assert_cmphex(status(r), ==, DRDY | DSC);
	g_assert_cmpmem(in, sizeof(in), disk, sizeof(disk));
	rig_free(r);
}

static void test_chs_addressing(void)
{
	struct rig *r = rig_new(DISK_SECTORS, 0);
	uint8_t mark[512], in[512];
	fill_pattern(mark, sizeof(mark), 3);
	/* default translation 16 heads, 63 sectors: C/H/S 1/2/3 is LBA (1*16+2)*63+2 */
	block_pwrite(r->disk[0], mark, 512, 1136 * 512);
	issue_chs(r, 0x20, 1, 2, 3, 1);
	pio_in(r, in, 512);
	g_assert_cmpmem(in, 512, mark, 512);
	issue_chs(r, 0x20, 1, 2, 0, 1); /* sectors count from 1 */
	g_assert_cmphex(status(r), ==, DRDY | DSC | ERR);
	g_assert_cmphex(in8(r, 1), ==, IDNF);
	issue_chs(r, 0x20, 8, 0, 1, 1); /* cylinder 8 does not exist */
	g_assert_cmphex(in8(r, 1), ==, IDNF);

	/* INITIALIZE DEVICE PARAMETERS: 4 heads, 17 sectors; 2/1/5 is (2*4+1)*17+4 */
	out8(r, 6, 0xA0 | 3);
	out8(r, 2, 17);
	out8(r, 7, 0x91);
	g_assert_cmphex(status(r), ==, DRDY | DSC);
	fill_pattern(mark, sizeof(mark), 4);
	issue_chs(r, 0x30, 2, 1, 5, 1);
	pio_out(r, mark, 512);
	block_pread(r->disk[0], in, 512, 157 * 512);
	g_assert_cmpmem(in, 512, mark, 512);
	out8(r, 6, 0xA0);
	uint16_t id[256];
	identify(r, id);
	g_assert_cmpuint(id[55], ==, 4);
	g_assert_cmpuint(id[56], ==, 17);
	g_assert_cmpuint(id[54], ==, DISK_SECTORS / (4 * 17));
	out8(r, 2, 0); /* 0 sectors per track: aborted */
	out8(r, 7, 0x91);
	g_assert_cmphex(in8(r, 1), ==, ABRT);
	rig_free(r);
}

static void drain_irq(struct rig *r)
{
	(void)status(r);
	g_assert_cmpint(irq_level(r), ==, 0);
}

static void test_multiple(void)
{
	struct rig *r = rig_new(DISK_SECTORS, 0);
	uint8_t out[10 * 512], in[10 * 512];
	issue28(r, 0xC4, 0, 4);
	g_assert_cmphex(in8(r, 1), ==, ABRT); /* multiple mode off */
	out8(r, 2, 3);
	out8(r, 7, 0xC6);
	g_assert_cmphex(in8(r, 1), ==, ABRT); /* not a power of two */
	out8(r, 2, 32);
	out8(r, 7, 0xC6);
	g_assert_cmphex(in8(r, 1), ==, ABRT); /* beyond word 47 */
	out8(r, 2, 4);
	out8(r, 7, 0xC6);
	g_assert_cmphex(status(r), ==, DRDY | DSC);
	uint16_t id[256];
	identify(r, id);
	g_assert_cmphex(id[59], ==, 0x0104);

	fill_pattern(out, sizeof(out), 5);
	drain_irq(r);
	unsigned raises = irq_raises(r);
	issue28(r, 0xC5, 20, 10); /* blocks of 4, 4, 2 */
	for (int blk = 0; blk < 3; blk++) {
		size_t n = blk < 2 ? 4 * 512 : 2 * 512;
		g_assert_cmphex(altstatus(r), ==, DRDY | DSC | DRQ);
		g_assert_cmpuint(irq_raises(r), ==, raises + blk); /* none before the first block */
		pio_out(r, out + blk * 4 * 512, n);
		g_assert_cmpint(irq_level(r), ==, 1);
		drain_irq(r);
	}
	g_assert_cmphex(status(r), ==, DRDY | DSC);
	block_pread(r->disk[0], in, sizeof(in), 20 * 512);
	g_assert_cmpmem(in, sizeof(in), out, sizeof(out));

	memset(in, 0, sizeof(in));
	raises = irq_raises(r);
	issue28(r, 0xC4, 20, 10);
	for (int blk = 0; blk < 3; blk++) {
		size_t n = blk < 2 ? 4 * 512 : 2 * 512;
		g_assert_cmpuint(irq_raises(r), ==, raises + blk + 1); /* one per block ready */
		g_assert_cmphex(status(r), ==, DRDY | DSC | DRQ);
		pio_in(r, in + blk * 4 * 512, n);
	}
	g_assert_cmphex(status(r), ==, DRDY | DSC);
	g_assert_cmpmem(in, sizeof(in), out, sizeof(out));
	rig_free(r);
}

static void test_lba48_beyond_lba28(void)
{
	struct synth s = { 0 };
	uint64_t sectors = 1ull << 33; /* 4 TiB, synthesised */
	struct rig *r = rig_new_with(synth_open(sectors, &s), NULL);
	uint8_t in[2 * 512];
	uint64_t lba = 0x0123456789ull; /* every HOB byte matters */
	issue48(r, 0x24, lba, 2);
	g_assert_cmphex(status(r), ==, DRDY | DSC | DRQ);
	pio_in(r, in, sizeof(in));
	uint64_t got0, got1;
	memcpy(&got0, in, 8);
	memcpy(&got1, in + 512, 8);
	g_assert_cmphex(got0, ==, lba);
	g_assert_cmphex(got1, ==, lba + 1);

	/* devctl HOB reads the previous ("high order") bytes back */
	fake_outb(r->env, CTRL, 0x80);
	g_assert_cmphex(in8(r, 3), ==, (lba >> 24) & 0xFF);
	g_assert_cmphex(in8(r, 4), ==, (lba >> 32) & 0xFF);
	g_assert_cmphex(in8(r, 5), ==, (lba >> 40) & 0xFF);
	fake_outb(r->env, CTRL, 0x00);
	g_assert_cmphex(in8(r, 3), ==, lba & 0xFF);

	issue48(r, 0x34, 0x1C0000001ull, 1);
	uint8_t out[512];
	fill_pattern(out, sizeof(out), 6);
	pio_out(r, out, sizeof(out));
	g_assert_cmphex(s.last_write_off, ==, 0x1C0000001ull * 512);
	g_assert_cmpuint(s.last_write_first, ==, out[0]);

	uint16_t id[256];
	out8(r, 6, 0xA0);
	identify(r, id);
	g_assert_cmphex(id[60] | (uint32_t)id[61] << 16, ==, 0x0FFFFFFF);
	g_assert_cmphex(id[102], ==, 2); /* 2^33 */

	issue48(r, 0x24, sectors, 1); /* just past the end */
	g_assert_cmphex(status(r), ==, DRDY | DSC | ERR);
	g_assert_cmphex(in8(r, 1), ==, IDNF);
	/* count 0 is 65536 sectors in LBA48 */
	issue48(r, 0x42, sectors - 65536, 0);
	g_assert_cmphex(status(r), ==, DRDY | DSC);
	issue48(r, 0x42, sectors - 65535, 0);
	g_assert_cmphex(in8(r, 1), ==, IDNF);
	rig_free(r);
}

static void test_lba48_small_disk_range(void)
{
	struct rig *r = rig_new(DISK_SECTORS, 0);
	issue48(r, 0x24, 1ull << 24, 1); /* a HOB byte set: past a 4 MiB disk */
	g_assert_cmphex(in8(r, 1), ==, IDNF);
	uint8_t mark[512], in[512];
	fill_pattern(mark, 512, 7);
	block_pwrite(r->disk[0], mark, 512, (DISK_SECTORS - 1) * 512ull);
	issue48(r, 0x24, DISK_SECTORS - 1, 1);
	pio_in(r, in, 512);
	g_assert_cmpmem(in, 512, mark, 512);
	issue48(r, 0x24, DISK_SECTORS - 1, 2); /* runs off the end */
	g_assert_cmphex(in8(r, 1), ==, IDNF);
	rig_free(r);
}

static void test_count_zero_is_256(void)
{
	struct rig *r = rig_new(DISK_SECTORS, 0);
	uint8_t sec[512];
	issue28(r, 0x20, 100, 0);
	unsigned blocks = 0;
	while (status(r) & DRQ) {
		pio_in(r, sec, 512);
		blocks++;
		g_assert_cmpuint(blocks, <=, 256);
	}
	g_assert_cmpuint(blocks, ==, 256);
	g_assert_cmphex(status(r), ==, DRDY | DSC);
	issue28(r, 0x40, DISK_SECTORS - 256, 0); /* READ VERIFY: exactly to the end */
	g_assert_cmphex(status(r), ==, DRDY | DSC);
	issue28(r, 0x40, DISK_SECTORS - 255, 0);
	g_assert_cmphex(in8(r, 1), ==, IDNF);
	rig_free(r);
}

static void test_data_port_32bit(void)
{
	struct rig *r = rig_new(DISK_SECTORS, 0);
	uint8_t out[2 * 512], in[2 * 512];
	fill_pattern(out, sizeof(out), 8);
	issue28(r, 0x30, 40, 2);
	for (size_t i = 0; i < sizeof(out); i += 4) {
		uint32_t v;
		memcpy(&v, out + i, 4);
		fake_outl(r->env, CMD, GUINT32_FROM_LE(v));
	}
	g_assert_cmphex(status(r), ==, DRDY | DSC);
	issue28(r, 0x20, 40, 2);
	for (size_t i = 0; i < sizeof(in); i += 4) {
		uint32_t v = GUINT32_TO_LE(fake_inl(r->env, CMD));
		memcpy(in + i, &v, 4);
	}
	g_assert_cmphex(status(r), ==, DRDY | DSC);
	g_assert_cmpmem(in, sizeof(in), out, sizeof(out));
	rig_free(r);
}

static void test_flush_and_write_cache(void)
{
	struct synth s = { 0 };
	struct rig *r = rig_new_with(synth_open(DISK_SECTORS, &s), NULL);
	uint8_t sec[512] = { 0 };
	out8(r, 6, 0xA0);
	out8(r, 7, 0xE7);
	g_assert_cmphex(status(r), ==, DRDY | DSC);
	g_assert_cmpuint(s.flushes, ==, 1);
	g_assert_cmpuint(irq_raises(r), ==, 1);
	out8(r, 7, 0xEA);
	g_assert_cmpuint(s.flushes, ==, 2);
	g_assert_cmpuint(irq_raises(r), ==, 2);

	issue28(r, 0x30, 1, 2); /* write cache on (power-on default): no flushes */
	pio_out(r, sec, 512);
	pio_out(r, sec, 512);
	g_assert_cmpuint(s.flushes, ==, 2);
	out8(r, 1, 0x82); /* SET FEATURES: disable write cache -> write through */
	out8(r, 7, 0xEF);
	g_assert_cmphex(status(r), ==, DRDY | DSC);
	uint16_t id[256];
	identify(r, id);
	g_assert_cmphex(id[85] & 0x20, ==, 0);
	issue28(r, 0x30, 1, 2);
	pio_out(r, sec, 512);
	pio_out(r, sec, 512);
	g_assert_cmpuint(s.flushes, ==, 4);
	g_assert_cmphex(status(r), ==, DRDY | DSC);

	out8(r, 1, 0x03); /* transfer mode: PIO 4 and UDMA 5 fine, UDMA 6 refused */
	out8(r, 2, 0x0C);
	out8(r, 7, 0xEF);
	g_assert_cmphex(status(r), ==, DRDY | DSC);
	out8(r, 1, 0x03);
	out8(r, 2, 0x45);
	out8(r, 7, 0xEF);
	g_assert_cmphex(status(r), ==, DRDY | DSC);
	identify(r, id);
	g_assert_cmphex(id[88], ==, 0x203F); /* UDMA 5 selected */
	g_assert_cmphex(id[63], ==, 0x0007); /* no multiword mode selected any more */
	out8(r, 1, 0x03);
	out8(r, 2, 0x21);
	out8(r, 7, 0xEF);
	identify(r, id);
	g_assert_cmphex(id[63], ==, 0x0207);
	g_assert_cmphex(id[88], ==, 0x003F);
	out8(r, 1, 0x03);
	out8(r, 2, 0x46);
	out8(r, 7, 0xEF);
	g_assert_cmphex(in8(r, 1), ==, ABRT);
	out8(r, 1, 0x99); /* unknown subcommand */
	out8(r, 7, 0xEF);
	g_assert_cmphex(in8(r, 1), ==, ABRT);
	rig_free(r);
}

static void test_nondata_commands(void)
{
	struct rig *r = rig_new(DISK_SECTORS, DISK_SECTORS);
	static const uint8_t ops[] = { 0x10, 0x1F, 0x70, 0x7F, 0xE0, 0xE1, 0xE2, 0xE3, 0xE5 };
	for (size_t i = 0; i < G_N_ELEMENTS(ops); i++) {
		unsigned raises = irq_raises(r);
		out8(r, 6, 0xA0);
		out8(r, 7, ops[i]);
		g_assert_cmphex(status(r), ==, DRDY | DSC);
		g_assert_cmpuint(irq_raises(r), ==, raises + 1);
	}
	out8(r, 7, 0xE5);
	g_assert_cmphex(in8(r, 2), ==, 0xFF); /* CHECK POWER MODE: active */
	/* EXECUTE DEVICE DIAGNOSTIC: both report passed, signature, device 0 selected */
	out8(r, 6, 0xB0);
	out8(r, 7, 0x90);
	g_assert_cmphex(in8(r, 6), ==, 0);
	g_assert_cmphex(in8(r, 1), ==, 0x01);
	g_assert_cmphex(in8(r, 2), ==, 0x01);
	g_assert_cmpint(irq_level(r), ==, 1);
	g_assert_cmphex(status(r), ==, DRDY | DSC);
	/* slave identify says "device 1" */
	out8(r, 6, 0xB0);
	uint16_t id[256];
	identify(r, id);
	g_assert_cmphex(id[93] & 0x0100, ==, 0x0100);
	rig_free(r);
}

/* ---- interrupts ---- */

static void test_interrupts(void)
{
	struct rig *r = rig_new(DISK_SECTORS, 0);
	uint8_t sec[512];
	issue28(r, 0x20, 0, 3);
	for (int blk = 0; blk < 3; blk++) {
		g_assert_cmpint(irq_level(r), ==, 1);
		g_assert_cmpuint(irq_raises(r), ==, blk + 1);
		(void)altstatus(r); /* alternate status leaves INTRQ alone */
		g_assert_cmpint(irq_level(r), ==, 1);
		g_assert_cmphex(status(r), ==, DRDY | DSC | DRQ);
		g_assert_cmpint(irq_level(r), ==, 0);
		pio_in(r, sec, 512);
	}
	g_assert_cmpint(irq_level(r), ==, 0); /* none after the last data-in block */

	/* nIEN holds the line low; the condition stays pending until read or nIEN clears */
	fake_outb(r->env, CTRL, 0x02);
	out8(r, 7, 0xE1);
	g_assert_cmpint(irq_level(r), ==, 0);
	fake_outb(r->env, CTRL, 0x00);
	g_assert_cmpint(irq_level(r), ==, 1);
	(void)status(r);
	g_assert_cmpint(irq_level(r), ==, 0);

	/* a command write clears a pending interrupt too */
	fake_outb(r->env, CTRL, 0x02);
	out8(r, 7, 0xE1);
	issue28(r, 0x30, 0, 1);
	fake_outb(r->env, CTRL, 0x00);
	g_assert_cmpint(irq_level(r), ==, 0);
	pio_out(r, sec, 512);
	g_assert_cmpint(irq_level(r), ==, 1); /* data-out: at completion */

	/* only the selected device drives INTRQ */
	out8(r, 6, 0xB0);
	g_assert_cmpint(irq_level(r), ==, 0);
	(void)status(r); /* absent slave: does not clear the master's condition */
	out8(r, 6, 0xA0);
	g_assert_cmpint(irq_level(r), ==, 1);
	rig_free(r);
}

/* ---- hostile guests ---- */

static void test_absurd_addresses(void)
{
	struct rig *r = rig_new(DISK_SECTORS, 0);
	issue28(r, 0x20, 0x0FFFFFFF, 0xFF);
	g_assert_cmphex(status(r), ==, DRDY | DSC | ERR);
	g_assert_cmphex(in8(r, 1), ==, IDNF);
	issue28(r, 0x30, DISK_SECTORS - 1, 2);
	g_assert_cmphex(in8(r, 1), ==, IDNF);
	g_assert_false(status(r) & DRQ);
	issue48(r, 0x34, 0xFFFFFFFFFFFFull, 0xFFFF);
	g_assert_cmphex(in8(r, 1), ==, IDNF);
	issue48(r, 0x24, DISK_SECTORS, 0);
	g_assert_cmphex(in8(r, 1), ==, IDNF);
	rig_free(r);
}

static void test_data_port_without_drq(void)
{
	struct rig *r = rig_new(DISK_SECTORS, 0);
	uint8_t zero[512] = { 0 }, disk[512];
	for (int i = 0; i < 600; i++) {
		g_assert_cmphex(fake_inw(r->env, CMD), ==, 0xFFFF);
		fake_outw(r->env, CMD, 0x1234);
		fake_outl(r->env, CMD, 0x56789ABC);
	}
	block_pread(r->disk[0], disk, 512, 0);
	g_assert_cmpmem(disk, 512, zero, 512);
	g_assert_cmphex(status(r), ==, DRDY | DSC);
	/* odd sizes and offsets: split into byte registers, never past the region */
	out8(r, 6, 0xA0);
	fake_outw(r->env, CMD + 2, 0xAA55);
	g_assert_cmphex(in8(r, 2), ==, 0x55);
	g_assert_cmphex(in8(r, 3), ==, 0xAA);
	g_assert_cmphex(fake_inw(r->env, CMD + 2), ==, 0xAA55);
	g_assert_cmphex(fake_inl(r->env, CMD + 4) & 0xFFFF, ==, 0);
	(void)fake_inw(r->env, CMD + 7);
	(void)fake_inb(r->env, CMD + 0);
	(void)fake_inw(r->env, CTRL);
	rig_free(r);
}

/* Drains whatever a command left in DRQ, in either direction, within a bound. */
static void drain_drq(struct rig *r)
{
	for (int i = 0; i < 300 * 256 && (altstatus(r) & DRQ); i++) {
		fake_outw(r->env, CMD, 0xDEAD);
		(void)fake_inw(r->env, CMD);
	}
}

static void test_every_opcode(void)
{
	struct rig *r = rig_new(DISK_SECTORS, 0);
	GRand *rnd = g_rand_new_with_seed(1234);
	for (unsigned round = 0; round < 4; round++) {
		for (unsigned op = 0; op < 256; op++) {
			out8(r, 6, 0xA0 | (g_rand_int(rnd) & 0x4F));
			for (unsigned reg = 1; reg <= 5; reg++)
				out8(r, reg, round == 0 ? 0 : (uint8_t)g_rand_int(rnd));
			out8(r, 7, op);
			uint8_t st = altstatus(r);
			g_assert_false(st & BSY); /* inline backend: never left busy */
			drain_drq(r);
			g_assert_false(altstatus(r) & (BSY | DRQ));
			/* the absent slave ignores all of it; EXECUTE DEVICE DIAGNOSTIC goes to
			 * both devices and leaves device 0 selected */
			out8(r, 6, 0xB0);
			out8(r, 7, op);
			g_assert_cmphex(status(r), ==, op == 0x90 ? DRDY | DSC : 0);
			fake_outw(r->env, CMD, 0xBEEF);
		}
	}
	g_rand_free(rnd);
	rig_free(r);

	r = rig_new(0, 0);
	for (unsigned op = 0; op < 256; op++) {
		out8(r, 7, op);
		g_assert_cmphex(status(r), ==, 0);
	}
	g_assert_cmpuint(irq_raises(r), ==, 0);
	rig_free(r);
}

static void test_read_only_disk(void)
{
	struct rig *r = rig_new(DISK_SECTORS, 0);
	r->disk[0]->read_only = true;
	uint8_t out[512], disk[512], zero[512] = { 0 };
	fill_pattern(out, 512, 9);
	issue28(r, 0x30, 3, 2);
	pio_out(r, out, 512);
	g_assert_cmphex(status(r), ==, DRDY | DSC | ERR);
	g_assert_cmphex(in8(r, 1), ==, ABRT);
	g_assert_false(status(r) & DRQ);
	pio_out(r, out, 512); /* the rest of the guest's data goes nowhere */
	block_pread(r->disk[0], disk, 512, 3 * 512);
	g_assert_cmpmem(disk, 512, zero, 512);
	rig_free(r);
}

static void test_io_errors(void)
{
	struct synth s = { .fail_reads = true, .fail_writes = true };
	struct rig *r = rig_new_with(synth_open(DISK_SECTORS, &s), NULL);
	uint8_t sec[512] = { 0 };
	issue28(r, 0x20, 7, 1);
	g_assert_cmphex(status(r), ==, DRDY | DSC | ERR);
	g_assert_cmphex(in8(r, 1), ==, UNC);
	g_assert_cmpuint(irq_raises(r), ==, 1);
	issue28(r, 0x30, 7, 1);
	pio_out(r, sec, 512);
	g_assert_cmphex(status(r), ==, DRDY | DSC | ERR);
	g_assert_cmphex(in8(r, 1), ==, ABRT);
	rig_free(r);
}

/* ---- the PIIX3 function, its state, save/load mid-transfer ---- */

struct piix_rig {
	struct fake_env *env;
	struct piix_ide *dev;
};

static struct piix_rig piix_new(struct block_dev *disk0)
{
	struct piix_rig p = { fake_env_new(14, 15), NULL };
	p.env->ctx.disks[0] = disk0;
	p.dev = piix_ide_class.create(&p.env->ctx);
	piix_ide_class.reset(p.dev);
	fake_map(p.env, 0x1F0, 8, &ide_cmd_ops, &p.dev->chan[0], &p.dev->lock);
	fake_map(p.env, 0x3F6, 1, &ide_ctrl_ops, &p.dev->chan[0], &p.dev->lock);
	fake_map(p.env, 0x170, 8, &ide_cmd_ops, &p.dev->chan[1], &p.dev->lock);
	fake_map(p.env, 0x376, 1, &ide_ctrl_ops, &p.dev->chan[1], &p.dev->lock);
	return p;
}

static void piix_free(struct piix_rig *p)
{
	piix_ide_class.destroy(p->dev);
	fake_env_free(p->env);
}

static GByteArray *piix_save(struct piix_rig *p)
{
	GByteArray *out = g_byte_array_new();
	pthread_mutex_lock(&p->dev->lock);
	state_save(piix_ide_class.state, p->dev, out);
	pthread_mutex_unlock(&p->dev->lock);
	return out;
}

static int piix_load(struct piix_rig *p, GByteArray *s, char **error)
{
	pthread_mutex_lock(&p->dev->lock);
	int ret = state_load(piix_ide_class.state, p->dev, s->data, s->len, error);
	pthread_mutex_unlock(&p->dev->lock);
	return ret;
}

static void pin(struct fake_env *env, uint8_t *buf, size_t bytes)
{
	for (size_t i = 0; i < bytes; i += 2) {
		uint16_t w = fake_inw(env, 0x1F0);
		buf[i] = w;
		buf[i + 1] = w >> 8;
	}
}

static void pout(struct fake_env *env, const uint8_t *buf, size_t bytes)
{
	for (size_t i = 0; i < bytes; i += 2)
		fake_outw(env, 0x1F0, buf[i] | buf[i + 1] << 8);
}

static void pissue(struct fake_env *env, uint8_t cmd, uint32_t lba, uint8_t count)
{
	fake_outb(env, 0x1F6, 0xE0);
	fake_outb(env, 0x1F2, count);
	fake_outb(env, 0x1F3, lba);
	fake_outb(env, 0x1F4, lba >> 8);
	fake_outb(env, 0x1F5, lba >> 16);
	fake_outb(env, 0x1F7, cmd);
}

static void test_piix_save_load_write(void)
{
	struct block_dev *disk = block_open_memory(DISK_SECTORS * BLOCK_SECTOR);
	struct piix_rig a = piix_new(disk);
	uint8_t out[4 * 512], got[4 * 512];
	fill_pattern(out, sizeof(out), 10);
	pissue(a.env, 0x30, 10, 4);
	pout(a.env, out, 512 + 256); /* one sector and a half */
	GByteArray *s = piix_save(&a);
	piix_free(&a);

	struct piix_rig b = piix_new(disk);
	char *error = NULL;
	g_assert_cmpint(piix_load(&b, s, &error), ==, 0);
	g_assert_null(error);
	g_assert_cmphex(fake_inb(b.env, 0x1F7), ==, DRDY | DSC | DRQ);
	pout(b.env, out + 512 + 256, sizeof(out) - 512 - 256);
	g_assert_cmphex(fake_inb(b.env, 0x1F7), ==, DRDY | DSC);
	block_pread(disk, got, sizeof(got), 10 * 512);
	g_assert_cmpmem(got, sizeof(got), out, sizeof(out));
	g_byte_array_free(s, TRUE);
	piix_free(&b);
	block_close(disk);
}

static void test_piix_save_load_read(void)
{
	struct block_dev *disk = block_open_memory(DISK_SECTORS * BLOCK_SECTOR);
	uint8_t ref[5 * 512], got[5 * 512];
	fill_pattern(ref, sizeof(ref), 11);
	block_pwrite(disk, ref, sizeof(ref), 300 * 512);

	struct piix_rig a = piix_new(disk);
	fake_outb(a.env, 0x1F2, 2); /* multiple mode 2: blocks of 2, 2, 1 */
	fake_outb(a.env, 0x1F7, 0xC6);
	pissue(a.env, 0xC4, 300, 5);
	(void)fake_inb(a.env, 0x1F7); /* acknowledge the first block's interrupt */
	pin(a.env, got, 3 * 512 + 100); /* block 2 ready: its interrupt still pending */
	g_assert_cmpuint(a.env->irq_raises[14], ==, 3); /* SET MULTIPLE, blocks 1 and 2 */
	g_assert_cmpint(a.env->irq_level[14], ==, 1);
	GByteArray *s = piix_save(&a);
	piix_free(&a);

	struct piix_rig b = piix_new(disk);
	g_assert_cmpint(piix_load(&b, s, NULL), ==, 0);
	g_assert_cmpint(b.env->irq_level[14], ==, 1); /* the pending interrupt came along */
	g_assert_cmphex(fake_inb(b.env, 0x1F7), ==, DRDY | DSC | DRQ);
	g_assert_cmpint(b.env->irq_level[14], ==, 0);
	pin(b.env, got + 3 * 512 + 100, sizeof(got) - 3 * 512 - 100);
	g_assert_cmpuint(b.env->irq_raises[14], ==, 2); /* the load's, then block 3's */
	g_assert_cmphex(fake_inb(b.env, 0x1F7), ==, DRDY | DSC);
	g_assert_cmpmem(got, sizeof(got), ref, sizeof(ref));

	/* a saved buffer position past the buffer is refused and leaves a sane device */
	b.dev->chan[0].drive[0].xfer = IDE_XFER_IN;
	b.dev->chan[0].drive[0].buf_pos = 0;
	b.dev->chan[0].drive[0].buf_len = 60000;
	GByteArray *bad = piix_save(&b);
	char *error = NULL;
	g_assert_cmpint(piix_load(&b, bad, &error), ==, -1);
	g_assert_nonnull(error);
	g_free(error);
	for (int i = 0; i < 40000; i++)
		(void)fake_inw(b.env, 0x1F0);
	g_assert_cmphex(fake_inb(b.env, 0x1F7), ==, DRDY | DSC);
	g_byte_array_free(bad, TRUE);
	g_byte_array_free(s, TRUE);
	piix_free(&b);
	block_close(disk);
}

/* A request in flight when the state was saved is issued again by the load. */
static void test_piix_load_reissues_request(void)
{
	struct block_dev *disk = block_open_memory(DISK_SECTORS * BLOCK_SECTOR);
	uint8_t ref[512], got[512];
	fill_pattern(ref, sizeof(ref), 12);
	block_pwrite(disk, ref, 512, 77 * 512);
	struct piix_rig a = piix_new(disk);
	struct ide_drive *d = &a.dev->chan[0].drive[0];
	/* what a slow backend would leave: READ SECTORS at 77, BSY, request outstanding */
	d->cmd = 0x20;
	d->xfer = IDE_XFER_IO;
	d->io_op = BLOCK_READ;
	d->lba = 77;
	d->remaining = 1;
	d->block = 1;
	d->status = BSY | DRDY;
	GByteArray *s = piix_save(&a);
	piix_free(&a);
	struct piix_rig b = piix_new(disk);
	g_assert_cmpint(piix_load(&b, s, NULL), ==, 0);
	g_assert_cmphex(fake_inb(b.env, 0x1F7), ==, DRDY | DSC | DRQ);
	pin(b.env, got, 512);
	g_assert_cmpmem(got, 512, ref, 512);
	g_byte_array_free(s, TRUE);
	piix_free(&b);
	block_close(disk);
}

/* Loaded states with random transfer fields: refused or harmless, never out of bounds. */
static void test_piix_hostile_state(void)
{
	struct block_dev *disk = block_open_memory(DISK_SECTORS * BLOCK_SECTOR);
	struct piix_rig src = piix_new(disk), dst = piix_new(disk);
	GRand *rnd = g_rand_new_with_seed(99);
	unsigned refused = 0;
	for (int iter = 0; iter < 400; iter++) {
		struct ide_drive *d = &src.dev->chan[0].drive[g_rand_int_range(rnd, 0, 2)];
		d->xfer = g_rand_int_range(rnd, 0, 5);
		d->cmd = g_rand_int(rnd);
		d->io_op = g_rand_int_range(rnd, 0, 4);
		d->lba = g_rand_boolean(rnd) ? (uint32_t)g_rand_int_range(rnd, 0, DISK_SECTORS + 2)
					 : g_rand_int(rnd);
		d->remaining = g_rand_int_range(rnd, 0, 70000);
		d->block = g_rand_int_range(rnd, 0, 20);
		d->buf_len = g_rand_int_range(rnd, 0, IDE_BUF_SIZE + 600);
		d->buf_pos = g_rand_int_range(rnd, 0, IDE_BUF_SIZE + 600);
		d->mult = g_rand_int_range(rnd, 0, 20);
		d->status = g_rand_int(rnd);
		GByteArray *st = piix_save(&src);
		char *error = NULL;
		if (piix_load(&dst, st, &error) < 0) {
			refused++;
			g_free(error);
		}
		for (int i = 0; i < 3000; i++) {
			(void)fake_inl(dst.env, 0x1F0);
			fake_outl(dst.env, 0x1F0, i);
		}
		fake_outb(dst.env, 0x1F6, g_rand_boolean(rnd) ? 0xB0 : 0xA0);
		(void)fake_inb(dst.env, 0x1F7);
		g_byte_array_free(st, TRUE);
		piix_ide_class.reset(src.dev);
	}
	g_assert_cmpuint(refused, >, 0);

	/* read-only configuration bytes and reserved bus-master bits are not the file's to set */
	src.dev->pci.config[PCI_DEVICE_ID] = 0x11;
	GByteArray *st = piix_save(&src);
	char *error = NULL;
	g_assert_cmpint(piix_load(&dst, st, &error), ==, -1);
	g_free(error);
	g_byte_array_free(st, TRUE);
	piix_ide_class.reset(src.dev);
	src.dev->bmdma[PIIX_BM_STATUS] = 0x01; /* "active" while not started: no guest gets there */
	st = piix_save(&src);
	g_assert_cmpint(piix_load(&dst, st, &error), ==, -1);
	g_free(error);
	g_byte_array_free(st, TRUE);
	g_assert_cmphex(pci_config_get16(&dst.dev->pci, PCI_DEVICE_ID), ==, 0x7010);
	g_rand_free(rnd);
	piix_free(&src);
	piix_free(&dst);
	block_close(disk);
}

static void test_piix_pci_config(void)
{
	struct block_dev *disk = block_open_memory(DISK_SECTORS * BLOCK_SECTOR);
	struct piix_rig p = piix_new(disk);
	struct bus *mmio = bus_new("mmio");
	struct pci_bus *bus = pci_bus_new(p.env->io, mmio);
	unsigned devfn = 1 << 3 | 1;
	g_assert_cmpint(pci_bus_attach(bus, 1, 1, &p.dev->pci), ==, 0);
	g_assert_cmphex(pci_config_read(bus, devfn, 0, 4), ==, 0x70108086);
	g_assert_cmphex(pci_config_read(bus, devfn, 0x08, 4), ==, 0x01018000);
	g_assert_cmphex(pci_config_read(bus, devfn, 0x0E, 1), ==, 0x00);
	g_assert_cmphex(pci_config_read(bus, devfn, 0x06, 2), ==, 0x0280);
	/* only BAR4, 16 I/O ports */
	for (int n = 0; n < 6; n++) {
		pci_config_write(bus, devfn, 0x10 + 4 * n, 0xFFFFFFFF, 4);
		uint32_t v = pci_config_read(bus, devfn, 0x10 + 4 * n, 4);
		g_assert_cmphex(v, ==, n == 4 ? 0xFFFFFFF1 : 0);
	}
	pci_config_write(bus, devfn, 0x20, 0xC000, 4);
	pci_config_write(bus, devfn, 0x04, 0x0005, 2);
	g_assert_cmphex(pci_config_read(bus, devfn, 0x04, 2), ==, 0x0005);
	/* IDETIM: SeaBIOS's decode enables stick; reserved bits 11:10 do not */
	pci_config_write(bus, devfn, 0x40, 0xFFFFFFFF, 4);
	g_assert_cmphex(pci_config_read(bus, devfn, 0x40, 4), ==, 0xF3FFF3FF);

	/* bus-master registers at 0xC000 */
	fake_outb(p.env, 0xC000, 0xFF);
	g_assert_cmphex(fake_inb(p.env, 0xC000), ==, 0x09);
	g_assert_cmphex(fake_inb(p.env, 0xC002), ==, 0x01); /* started: active */
	fake_outb(p.env, 0xC002, 0x01);                     /* active is read-only */
	g_assert_cmphex(fake_inb(p.env, 0xC002), ==, 0x01);
	fake_outb(p.env, 0xC000, 0x08); /* stopped: no longer active */
	g_assert_cmphex(fake_inb(p.env, 0xC002), ==, 0x00);
	fake_outb(p.env, 0xC002, 0x60);
	g_assert_cmphex(fake_inb(p.env, 0xC002), ==, 0x60);
	fake_outl(p.env, 0xC004, 0x12345677);
	g_assert_cmphex(fake_inl(p.env, 0xC004), ==, 0x12345674);
	fake_outl(p.env, 0xC00C, 0xABCDEF00);
	g_assert_cmphex(fake_inl(p.env, 0xC00C), ==, 0xABCDEF00);
	g_assert_cmphex(fake_inb(p.env, 0xC001), ==, 0);

	/* IDE interrupt status latches each rising edge of INTRQ; writing 1 clears it */
	g_assert_cmphex(fake_inb(p.env, 0xC002) & 0x04, ==, 0);
	fake_outb(p.env, 0x1F7, 0xE1);
	g_assert_cmpint(p.env->irq_level[14], ==, 1);
	g_assert_cmphex(fake_inb(p.env, 0xC002), ==, 0x64);
	fake_outb(p.env, 0xC002, 0x64); /* clears bit 2, keeps the capable bits */
	g_assert_cmphex(fake_inb(p.env, 0xC002), ==, 0x60);
	(void)fake_inb(p.env, 0x1F7);
	g_assert_cmpint(p.env->irq_level[14], ==, 0);
	g_assert_cmphex(fake_inb(p.env, 0xC002), ==, 0x60); /* a falling edge sets nothing */
	fake_outb(p.env, 0x176, 0xA0); /* secondary: no drives, no edge on channel 1's bit */
	g_assert_cmphex(fake_inb(p.env, 0xC00A), ==, 0);

	/* reset: power-on configuration, register file cleared, BAR unmapped */
	piix_ide_class.reset(p.dev);
	g_assert_cmphex(p.dev->bmdma[2], ==, 0);
	g_assert_cmphex(pci_config_read(bus, devfn, 0x20, 4), ==, 0x00000001);
	g_assert_cmphex(pci_config_read(bus, devfn, 0x40, 4), ==, 0);
	g_assert_cmphex(fake_inb(p.env, 0xC002), ==, 0xFF); /* nothing decodes there now */
	pci_bus_free(bus);
	bus_free(mmio);
	piix_free(&p);
	block_close(disk);
}

static void test_piix_class(void)
{
	g_assert_true(device_class_find("piix-ide") == &piix_ide_class);
	g_assert_nonnull(piix_ide_class.state);
	g_assert_nonnull(piix_ide_class.lock);
	struct block_dev *disk = block_open_memory(DISK_SECTORS * BLOCK_SECTOR);
	struct piix_rig a = piix_new(disk);
	/* a reset device saves, loads and saves the same bytes again */
	GByteArray *s1 = piix_save(&a);
	struct piix_rig b = piix_new(disk);
	g_assert_cmpint(piix_load(&b, s1, NULL), ==, 0);
	GByteArray *s2 = piix_save(&b);
	g_assert_cmpmem(s1->data, s1->len, s2->data, s2->len);
	/* the secondary channel answers at 0x170 with no drives: zeros */
	g_assert_cmphex(fake_inb(b.env, 0x177), ==, 0);
	g_assert_cmphex(fake_inb(b.env, 0x376), ==, 0);
	g_byte_array_free(s1, TRUE);
	g_byte_array_free(s2, TRUE);
	piix_free(&a);
	piix_free(&b);
	block_close(disk);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/ide/probe-echo", test_probe_echo);
	g_test_add_func("/ide/absent-slave-status-zero", test_absent_slave_status_zero);
	g_test_add_func("/ide/empty-channel-reads-zero", test_empty_channel_reads_zero);
	g_test_add_func("/ide/software-reset-signature", test_software_reset_signature);
	g_test_add_func("/ide/seabios-style-probe", test_seabios_style_probe);
	g_test_add_func("/ide/identify", test_identify);
	g_test_add_func("/ide/atapi-only-commands-abort", test_atapi_only_commands_abort);
	g_test_add_func("/ide/read-write-lba28", test_read_write_lba28);
	g_test_add_func("/ide/chs-addressing", test_chs_addressing);
	g_test_add_func("/ide/multiple", test_multiple);
	g_test_add_func("/ide/lba48-beyond-lba28", test_lba48_beyond_lba28);
	g_test_add_func("/ide/lba48-small-disk-range", test_lba48_small_disk_range);
	g_test_add_func("/ide/count-zero-is-256", test_count_zero_is_256);
	g_test_add_func("/ide/data-port-32bit", test_data_port_32bit);
	g_test_add_func("/ide/flush-and-write-cache", test_flush_and_write_cache);
	g_test_add_func("/ide/nondata-commands", test_nondata_commands);
	g_test_add_func("/ide/interrupts", test_interrupts);
	g_test_add_func("/ide/hostile/absurd-addresses", test_absurd_addresses);
	g_test_add_func("/ide/hostile/data-port-without-drq", test_data_port_without_drq);
	g_test_add_func("/ide/hostile/every-opcode", test_every_opcode);
	g_test_add_func("/ide/hostile/read-only-disk", test_read_only_disk);
	g_test_add_func("/ide/hostile/io-errors", test_io_errors);
	g_test_add_func("/piix-ide/save-load-mid-write", test_piix_save_load_write);
	g_test_add_func("/piix-ide/save-load-mid-read", test_piix_save_load_read);
	g_test_add_func("/piix-ide/load-reissues-request", test_piix_load_reissues_request);
	g_test_add_func("/piix-ide/hostile-state", test_piix_hostile_state);
	g_test_add_func("/piix-ide/pci-config", test_piix_pci_config);
	g_test_add_func("/piix-ide/class", test_piix_class);
	return g_test_run();
}
