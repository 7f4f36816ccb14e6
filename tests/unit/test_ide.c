/*
 * IDE channel and PIIX3 IDE function, driven through the same ports a guest uses.
 *
 * This program: the channel (register protocol, transfers, interrupts, hostile guests);
 * test_ide_piix.c holds the PIIX3 function; what they share is in ide_util.c.
 */
#include <glib.h>
#include <string.h>

#include "ide_util.h"

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
	return g_test_run();
}
