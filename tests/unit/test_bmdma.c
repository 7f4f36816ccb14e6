/*
 * PIIX bus-master IDE DMA, driven through the same ports a guest uses: the BAR4 register file,
 * physical region descriptor tables in fake guest RAM, ATA DMA commands against a memory disk
 * (inline completions) and a raw file (completions later, on the main loop, or at once when the
 * host page cache serves them), ATAPI DMA.
 */
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#include "block/block.h"
#include "devices/ide.h"
#include "devices/pci.h"
#include "devices/piix_ide.h"
#include "fakes.h"

#define CMD0 0x1F0
#define CTRL0 0x3F6
#define CMD1 0x170
#define BM 0xC000
#define DEVFN (1 << 3 | 1)
#define DISK_SECTORS 8192u /* 4 MiB */
#define CD_BLOCKS 300u

/* ATA status and error bits; bus-master command and status bits (82371SB §2.7) */
#define BSY 0x80
#define DRDY 0x40
#define DSC 0x10
#define DRQ 0x08
#define ERR 0x01
#define ABRT 0x04
#define UNC 0x40
#define BM_START 0x01
#define BM_TO_MEM 0x08
#define BM_ACTIVE 0x01
#define BM_ERROR 0x02
#define BM_IRQ 0x04
#define EOT 0x80000000u

struct rig {
	struct fake_env *env;
	struct piix_ide *dev;
	struct bus *mmio;
	struct pci_bus *pci;
	struct block_dev *disk, *cd;
};

/* A PIIX IDE with DISK as primary master and, if CD, a CD-ROM drive as secondary master
 * holding CD (NULL: empty), BAR4 at 0xC000 and bus mastering on. */
static struct rig *rig_new_with(struct block_dev *disk, struct block_dev *cd, bool with_cd)
{
	struct rig *r = g_new0(struct rig, 1);
	r->env = fake_env_new(14, 15);
	r->disk = disk;
	r->cd = cd;
	r->env->ctx.disks[0] = disk;
	r->env->ctx.disks[2] = cd;
	r->dev = piix_ide_class.create(&r->env->ctx);
	if (with_cd)
		g_assert_cmpint(piix_ide_set_drive_kind(r->dev, 1, 0, IDE_KIND_CDROM), ==, 0);
	piix_ide_class.reset(r->dev);
	fake_map(r->env, CMD0, 8, &ide_cmd_ops, &r->dev->chan[0], &r->dev->lock);
	fake_map(r->env, CTRL0, 1, &ide_ctrl_ops, &r->dev->chan[0], &r->dev->lock);
	fake_map(r->env, CMD1, 8, &ide_cmd_ops, &r->dev->chan[1], &r->dev->lock);
	r->mmio = bus_new("mmio");
	r->pci = pci_bus_new(r->env->io, r->mmio);
	g_assert_cmpint(pci_bus_attach(r->pci, 1, 1, &r->dev->pci), ==, 0);
	pci_config_write(r->pci, DEVFN, 0x20, BM, 4);
	pci_config_write(r->pci, DEVFN, PCI_COMMAND, PCI_COMMAND_IO | PCI_COMMAND_MASTER, 2);
	return r;
}

static struct rig *rig_new(void)
{
	return rig_new_with(block_open_memory(DISK_SECTORS * 512ull), NULL, false);
}

static void rig_free(struct rig *r)
{
	pci_bus_free(r->pci);
	bus_free(r->mmio);
	piix_ide_class.destroy(r->dev);
	fake_env_free(r->env);
	block_close(r->disk);
	block_close(r->cd);
	g_free(r);
}

static void fill_pattern(uint8_t *buf, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)(i * 7 + seed * 13 + (i >> 9));
}

/* Disk sectors [LBA, LBA + COUNT) get a pattern; REF receives it. */
static void disk_pattern(struct block_dev *bd, uint32_t lba, uint32_t count, uint8_t *ref,
			 unsigned seed)
{
	fill_pattern(ref, count * 512ull, seed);
	g_assert_cmpint(block_pwrite(bd, ref, count * 512ull, lba * 512ull), ==, 0);
}

/* ---- registers ---- */

static uint8_t ide_status(struct rig *r)
{
	return fake_inb(r->env, CMD0 + 7);
}

static uint8_t bm_status(struct rig *r, unsigned ch)
{
	return fake_inb(r->env, BM + 8 * ch + 2);
}

/* Descriptor I of the table at TABLE: region at ADDR, COUNT bytes (0 = 64 KiB), EOT. */
static void prd(struct rig *r, uint32_t table, unsigned i, uint32_t addr, uint32_t count,
		bool eot)
{
	uint32_t e[2] = { GUINT32_TO_LE(addr), GUINT32_TO_LE((count & 0xFFFF) | (eot ? EOT : 0)) };
	memcpy(r->env->ram + table + 8 * i, e, sizeof(e));
}

/* The table address and direction, interrupt and error cleared; not started. */
static void bm_setup(struct rig *r, unsigned ch, uint32_t table, bool to_mem)
{
	fake_outl(r->env, BM + 8 * ch + 4, table);
	fake_outb(r->env, BM + 8 * ch, to_mem ? BM_TO_MEM : 0);
	fake_outb(r->env, BM + 8 * ch + 2, BM_IRQ | BM_ERROR);
}

static void bm_start(struct rig *r, unsigned ch, bool to_mem)
{
	fake_outb(r->env, BM + 8 * ch, (to_mem ? BM_TO_MEM : 0) | BM_START);
}

static void bm_stop(struct rig *r, unsigned ch)
{
	fake_outb(r->env, BM + 8 * ch, 0);
}

static void issue28(struct rig *r, uint8_t cmd, uint32_t lba, uint8_t count)
{
	fake_outb(r->env, CMD0 + 6, 0xE0 | ((lba >> 24) & 0x0F));
	fake_outb(r->env, CMD0 + 2, count);
	fake_outb(r->env, CMD0 + 3, lba);
	fake_outb(r->env, CMD0 + 4, lba >> 8);
	fake_outb(r->env, CMD0 + 5, lba >> 16);
	fake_outb(r->env, CMD0 + 7, cmd);
}

static void issue48(struct rig *r, uint8_t cmd, uint64_t lba, uint16_t count)
{
	fake_outb(r->env, CMD0 + 6, 0x40);
	fake_outb(r->env, CMD0 + 2, count >> 8);
	fake_outb(r->env, CMD0 + 3, lba >> 24);
	fake_outb(r->env, CMD0 + 4, lba >> 32);
	fake_outb(r->env, CMD0 + 5, lba >> 40);
	fake_outb(r->env, CMD0 + 2, count);
	fake_outb(r->env, CMD0 + 3, lba);
	fake_outb(r->env, CMD0 + 4, lba >> 8);
	fake_outb(r->env, CMD0 + 5, lba >> 16);
	fake_outb(r->env, CMD0 + 7, cmd);
}

/* ---- ATA DMA data integrity ---- */

/* READ DMA into two regions of odd-looking (but even) sizes, the order SeaBIOS uses: command,
 * then start. Exactly as long a table: Interrupt set, Active clear (SeaBIOS's success test). */
static void test_read_dma(void)
{
	struct rig *r = rig_new();
	uint8_t ref[8 * 512];
	disk_pattern(r->disk, 100, 8, ref, 1);
	prd(r, 0x1000, 0, 0x20000, 0x0602, false);
	prd(r, 0x1000, 1, 0x30000, 8 * 512 - 0x0602, true);
	bm_setup(r, 0, 0x1000, true);
	issue28(r, 0xC8, 100, 8);
	g_assert_cmphex(fake_inb(r->env, CTRL0), ==, BSY | DRDY | DSC); /* waits for the engine */
	g_assert_cmpuint(r->env->irq_raises[14], ==, 0);
	bm_start(r, 0, true);
	g_assert_cmphex(bm_status(r, 0), ==, BM_IRQ);
	g_assert_cmpint(r->env->irq_level[14], ==, 1);
	g_assert_cmphex(ide_status(r), ==, DRDY | DSC);
	g_assert_cmpint(r->env->irq_level[14], ==, 0);
	g_assert_cmpmem(r->env->ram + 0x20000, 0x602, ref, 0x602);
	size_t rest = sizeof(ref) - 0x602;
	g_assert_cmpmem(r->env->ram + 0x30000, rest, ref + 0x602, rest);
	bm_stop(r, 0);
	fake_outb(r->env, BM + 2, BM_IRQ);
	g_assert_cmphex(bm_status(r, 0), ==, 0);
	rig_free(r);
}

/* WRITE DMA with the engine started first (the other order drivers use). */
static void test_write_dma(void)
{
	struct rig *r = rig_new();
	uint8_t got[5 * 512];
	fill_pattern(r->env->ram + 0x40000, sizeof(got), 2);
	prd(r, 0x1000, 0, 0x40000, sizeof(got), true);
	bm_setup(r, 0, 0x1000, false);
	bm_start(r, 0, false);
	g_assert_cmphex(bm_status(r, 0), ==, BM_ACTIVE);
	issue28(r, 0xCA, 7, 5);
	g_assert_cmphex(bm_status(r, 0), ==, BM_IRQ);
	g_assert_cmphex(ide_status(r), ==, DRDY | DSC);
	block_pread(r->disk, got, sizeof(got), 7 * 512);
	g_assert_cmpmem(got, sizeof(got), r->env->ram + 0x40000, sizeof(got));
	rig_free(r);
}

/* READ/WRITE DMA EXT over more than one chunk (300 sectors: 256 + 44) and 64 KiB regions
 * given as count 0. */
static void test_dma_ext_and_64k_regions(void)
{
	struct rig *r = rig_new();
	const uint32_t n = 300, bytes = n * 512;
	uint8_t *ref = g_malloc(bytes), *got = g_malloc(bytes);
	disk_pattern(r->disk, 5000, n, ref, 3);
	for (unsigned i = 0; i < 2; i++) /* 2 x 64 KiB and the rest */
		prd(r, 0x1000, i, 0x10000 * (i + 2), 0, false);
	prd(r, 0x1000, 2, 0x50000, bytes - 2 * 0x10000, true);
	bm_setup(r, 0, 0x1000, true);
	issue48(r, 0x25, 5000, n);
	bm_start(r, 0, true);
	g_assert_cmphex(bm_status(r, 0), ==, BM_IRQ);
	g_assert_cmphex(ide_status(r), ==, DRDY | DSC);
	for (unsigned i = 0; i < 2; i++)
		g_assert_cmpmem(r->env->ram + 0x10000 * (i + 2), 0x10000, ref + 0x10000 * i,
				0x10000);
	g_assert_cmpmem(r->env->ram + 0x50000, bytes - 0x20000, ref + 0x20000, bytes - 0x20000);

	/* and back: the same memory written to sectors 7000.. */
	bm_stop(r, 0);
	bm_setup(r, 0, 0x1000, false);
	issue48(r, 0x35, 7000, n);
	bm_start(r, 0, false);
	g_assert_cmphex(bm_status(r, 0), ==, BM_IRQ);
	g_assert_cmphex(ide_status(r), ==, DRDY | DSC);
	block_pread(r->disk, got, bytes, 7000 * 512ull);
	g_assert_cmpmem(got, bytes, ref, bytes);
	g_free(ref);
	g_free(got);
	rig_free(r);
}

/* Regions of 2, 510, 4094 ... bytes: every byte lands where its region says. */
static void test_odd_region_sizes(void)
{
	struct rig *r = rig_new();
	static const uint32_t sizes[] = { 2, 510, 4094, 1000, 36, 8192 - 5642 };
	uint8_t ref[16 * 512];
	disk_pattern(r->disk, 64, 16, ref, 4);
	uint32_t addr = 0x60001 & ~1u, off = 0;
	for (unsigned i = 0; i < G_N_ELEMENTS(sizes); i++) {
		prd(r, 0x1000, i, addr + 0x3000 * i, sizes[i], i + 1 == G_N_ELEMENTS(sizes));
		off += sizes[i];
	}
	g_assert_cmpuint(off, ==, sizeof(ref));
	bm_setup(r, 0, 0x1000, true);
	issue28(r, 0xC8, 64, 16);
	bm_start(r, 0, true);
	g_assert_cmphex(bm_status(r, 0), ==, BM_IRQ);
	off = 0;
	for (unsigned i = 0; i < G_N_ELEMENTS(sizes); i++) {
		g_assert_cmpmem(r->env->ram + addr + 0x3000 * i, sizes[i], ref + off, sizes[i]);
		g_assert_cmpuint(r->env->ram[addr + 0x3000 * i + sizes[i]], ==, 0); /* not beyond */
		off += sizes[i];
	}
	rig_free(r);
}

/* A table across a 4 KiB page works; descriptors after EOT are never read. */
static void test_table_across_page_and_eot(void)
{
	struct rig *r = rig_new();
	uint8_t ref[2 * 512];
	disk_pattern(r->disk, 9, 2, ref, 5);
	prd(r, 0x1FF8, 0, 0x70000, 512, false); /* entry 1 starts on the next page */
	prd(r, 0x1FF8, 1, 0x71000, 512, true);
	prd(r, 0x1FF8, 2, 0x72000, 512, true); /* after EOT: ignored */
	bm_setup(r, 0, 0x1FF8, true);
	issue28(r, 0xC8, 9, 2);
	bm_start(r, 0, true);
	g_assert_cmphex(bm_status(r, 0), ==, BM_IRQ);
	g_assert_cmpmem(r->env->ram + 0x70000, 512, ref, 512);
	g_assert_cmpmem(r->env->ram + 0x71000, 512, ref + 512, 512);
	g_assert_cmpuint(r->env->ram[0x72000], ==, 0);
	rig_free(r);
}

/* A longer table than the transfer: a valid completion with Interrupt and Active both set
 * (SFF-8038i); a shorter one: neither set, the drive gives up without an interrupt. */
static void test_table_longer_and_shorter(void)
{
	struct rig *r = rig_new();
	uint8_t ref[4 * 512];
	disk_pattern(r->disk, 20, 4, ref, 6);
	prd(r, 0x1000, 0, 0x20000, 8 * 512, true);
	bm_setup(r, 0, 0x1000, true);
	issue28(r, 0xC8, 20, 4);
	bm_start(r, 0, true);
	g_assert_cmphex(bm_status(r, 0), ==, BM_IRQ | BM_ACTIVE);
	g_assert_cmphex(ide_status(r), ==, DRDY | DSC);
	g_assert_cmpmem(r->env->ram + 0x20000, sizeof(ref), ref, sizeof(ref));
	bm_stop(r, 0);

	unsigned raises = r->env->irq_raises[14];
	memset(r->env->ram + 0x20000, 0, sizeof(ref));
	prd(r, 0x1000, 0, 0x20000, 3 * 512, true);
	bm_setup(r, 0, 0x1000, true);
	issue28(r, 0xC8, 20, 4);
	bm_start(r, 0, true);
	g_assert_cmphex(bm_status(r, 0), ==, 0);
	g_assert_cmpuint(r->env->irq_raises[14], ==, raises);
	g_assert_cmphex(ide_status(r), ==, DRDY | DSC | ERR);
	g_assert_cmphex(fake_inb(r->env, CMD0 + 1), ==, ABRT);
	/* what the table had room for arrived, nothing beyond it */
	g_assert_cmpmem(r->env->ram + 0x20000, 3 * 512, ref, 3 * 512);
	g_assert_cmpuint(r->env->ram[0x20000 + 3 * 512], ==, 0);
	rig_free(r);
}

/* Descriptor tables and regions outside RAM, across its end, off their 64 KiB: Error and
 * Interrupt set, the command aborted — and no access outside guest RAM (ASan watches). */
static void test_outside_ram(void)
{
	static const struct {
		uint32_t table, addr, count;
	} cases[] = {
		{ 0x00F00000, 0x1000, 512 },       /* table beyond the 1 MiB of RAM */
		{ 0xFFFFFFF8, 0x1000, 512 },       /* table at the top of the address space */
		{ 0x000FFFFC, 0x1000, 512 },       /* descriptor straddling the end of RAM */
		{ 0x1000, 0x000FFF00, 512 },       /* region running off the end of RAM */
		{ 0x1000, 0xFFFFFF00, 0 },         /* 64 KiB region wrapping past 4 GiB */
		{ 0x1000, 0x00A00000, 512 },       /* region far outside */
	};
	for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
		for (int write = 0; write < 2; write++) {
			struct rig *r = rig_new();
			if (cases[i].table < 0x100000 - 8)
				prd(r, cases[i].table, 0, cases[i].addr, cases[i].count, true);
			bm_setup(r, 0, cases[i].table, !write);
			issue28(r, write ? 0xCA : 0xC8, 3, 1);
			bm_start(r, 0, !write);
			g_assert_cmphex(bm_status(r, 0), ==, BM_IRQ | BM_ERROR);
			g_assert_cmpint(r->env->irq_level[14], ==, 1);
			g_assert_cmphex(ide_status(r), ==, DRDY | DSC | ERR);
			g_assert_cmphex(fake_inb(r->env, CMD0 + 1), ==, ABRT);
			/* the error bit clears by writing 1, like the interrupt bit */
			fake_outb(r->env, BM + 2, BM_ERROR | BM_IRQ);
			g_assert_cmphex(bm_status(r, 0), ==, 0);
			rig_free(r);
		}
	}
	/* a table that runs over its 64 KiB boundary without an EOT */
	struct rig *r = rig_new();
	prd(r, 0xFFF8, 0, 0x20000, 512, false);
	bm_setup(r, 0, 0xFFF8, true);
	issue28(r, 0xC8, 0, 2);
	bm_start(r, 0, true);
	g_assert_cmphex(bm_status(r, 0), ==, BM_IRQ | BM_ERROR);
	rig_free(r);
}

/* ---- status and command register behaviour ---- */

static void test_status_bits(void)
{
	struct rig *r = rig_new();
	/* drive-capable bits are plain storage; active is read-only; reserved bytes read 0 */
	fake_outb(r->env, BM + 2, 0xFF);
	g_assert_cmphex(bm_status(r, 0), ==, 0x60);
	fake_outb(r->env, BM + 2, 0x00);
	g_assert_cmphex(bm_status(r, 0), ==, 0x00);
	g_assert_cmphex(fake_inb(r->env, BM + 1), ==, 0);
	g_assert_cmphex(fake_inb(r->env, BM + 3), ==, 0);
	/* the table address is dword aligned */
	fake_outl(r->env, BM + 4, 0x12345677);
	g_assert_cmphex(fake_inl(r->env, BM + 4), ==, 0x12345674);
	/* nIEN: the drive does not interrupt, so the interrupt bit stays clear */
	fake_outb(r->env, CTRL0, 0x02);
	prd(r, 0x1000, 0, 0x20000, 512, true);
	bm_setup(r, 0, 0x1000, true);
	issue28(r, 0xC8, 0, 1);
	bm_start(r, 0, true);
	g_assert_cmphex(bm_status(r, 0), ==, 0);
	g_assert_cmphex(ide_status(r), ==, DRDY | DSC);
	/* channels are independent */
	g_assert_cmphex(bm_status(r, 1), ==, 0);
	/* without bus mastering in PCI command the engine cannot move data: the drive waits */
	pci_config_write(r->pci, DEVFN, PCI_COMMAND, PCI_COMMAND_IO, 2);
	fake_outb(r->env, CTRL0, 0x00);
	bm_stop(r, 0);
	bm_setup(r, 0, 0x1000, true);
	bm_start(r, 0, true);
	issue28(r, 0xC8, 0, 1);
	g_assert_cmphex(ide_status(r), ==, BSY | DRDY | DSC);
	fake_outb(r->env, CTRL0, 0x04); /* software reset gets the drive back */
	fake_outb(r->env, CTRL0, 0x00);
	g_assert_cmphex(ide_status(r), ==, DRDY | DSC);
	rig_free(r);
}

/* A DMA command on a channel whose engine never starts stays BSY; stopping the engine is an
 * abort of the engine only: a later start, with a new table, moves the data from its top. */
static void test_stop_and_restart(void)
{
	struct rig *r = rig_new();
	uint8_t ref[2 * 512];
	disk_pattern(r->disk, 30, 2, ref, 7);
	prd(r, 0x1000, 0, 0x20000, 512, true); /* too short: the engine runs dry */
	bm_setup(r, 0, 0x1000, true);
	bm_start(r, 0, true);
	bm_stop(r, 0);
	g_assert_cmphex(bm_status(r, 0), ==, 0);
	issue28(r, 0xC8, 30, 2);
	g_assert_cmphex(ide_status(r), ==, BSY | DRDY | DSC);
	fake_outb(r->env, CMD0 + 7, 0xEC); /* ignored while BSY */
	g_assert_cmphex(ide_status(r), ==, BSY | DRDY | DSC);
	prd(r, 0x1100, 0, 0x30000, 2 * 512, true);
	bm_setup(r, 0, 0x1100, true);
	bm_start(r, 0, true);
	g_assert_cmphex(bm_status(r, 0), ==, BM_IRQ);
	g_assert_cmphex(ide_status(r), ==, DRDY | DSC);
	g_assert_cmpmem(r->env->ram + 0x30000, sizeof(ref), ref, sizeof(ref));
	g_assert_cmpuint(r->env->ram[0x20000], ==, 0);
	rig_free(r);
}

/* ---- completions on the main loop: a raw file through the asynchronous block layer ---- */

/* A raw file of BYTES, never served at once (these tests are of the path through the main
 * loop). */
static struct block_dev *temp_disk(char **path, uint64_t bytes)
{
	GError *gerr = NULL;
	int fd = g_file_open_tmp("pcvm-bmdma-XXXXXX", path, &gerr);
	g_assert_no_error(gerr);
	g_assert_cmpint(ftruncate(fd, bytes), ==, 0);
	close(fd);
	char *error = NULL;
	struct block_dev *bd = block_open(*path, false, &error);
	g_assert_null(error);
	block_set_inline(bd, false);
	return bd;
}

/* On a temporary disk whose requests go through the I/O thread: one sector at LBA (pattern
 * SEED, also in REF) and a one-entry table reading it to 0x20000; the engine set up, not
 * started. async_rig_free removes the disk. */
static struct rig *async_sector_rig(char **path, uint32_t lba, uint8_t seed, uint8_t ref[512])
{
	struct rig *r = rig_new_with(temp_disk(path, DISK_SECTORS * 512ull), NULL, false);
	disk_pattern(r->disk, lba, 1, ref, seed);
	prd(r, 0x1000, 0, 0x20000, 512, true);
	bm_setup(r, 0, 0x1000, true);
	return r;
}

static void async_rig_free(struct rig *r, char *path)
{
	rig_free(r);
	g_unlink(path);
	g_free(path);
}

/* BSY and Active while a request is in flight, the interrupt only once it completed. */
static void test_async_busy_until_done(void)
{
	char *path;
	struct block_dev *disk = temp_disk(&path, DISK_SECTORS * 512ull);
	struct rig *r = rig_new_with(disk, NULL, false);
	const uint32_t n = 600; /* three chunks */
	uint8_t *ref = g_malloc(n * 512);
	disk_pattern(disk, 40, n, ref, 8);
	prd(r, 0x1000, 0, 0x20000, 0, false);
	prd(r, 0x1000, 1, 0x30000, 0, false);
	prd(r, 0x1000, 2, 0x40000, 0, false);
	prd(r, 0x1000, 3, 0x50000, 0, false);
	prd(r, 0x1000, 4, 0x60000, n * 512 - 4 * 0x10000, true);
	bm_setup(r, 0, 0x1000, true);
	issue28(r, 0xC8, 40, 0); /* count 0 = 256 sectors: only the first 256 */
	bm_start(r, 0, true);
	g_assert_cmphex(fake_inb(r->env, CTRL0), ==, BSY | DRDY | DSC);
	g_assert_cmphex(bm_status(r, 0), ==, BM_ACTIVE);
	g_assert_cmpuint(r->env->irq_raises[14], ==, 0);
	block_drain(disk);
	g_assert_cmphex(bm_status(r, 0), ==, BM_IRQ | BM_ACTIVE); /* the table is longer */
	g_assert_cmphex(ide_status(r), ==, DRDY | DSC);
	g_assert_cmpmem(r->env->ram + 0x20000, 256 * 512, ref, 256 * 512);
	bm_stop(r, 0);

	/* the whole 600 sectors, stopped after the first chunk, finished from a new table */
	memset(r->env->ram + 0x20000, 0, 0x50000);
	bm_setup(r, 0, 0x1000, true);
	issue48(r, 0x25, 40, n);
	bm_start(r, 0, true);
	bm_stop(r, 0);
	block_drain(disk); /* chunk 1 completes with the engine stopped: dropped, re-read later */
	g_assert_cmphex(fake_inb(r->env, CTRL0), ==, BSY | DRDY | DSC);
	g_assert_cmpuint(r->env->ram[0x20000 + 1], ==, 0);
	bm_setup(r, 0, 0x1000, true);
	bm_start(r, 0, true);
	block_drain(disk);
	g_assert_cmphex(bm_status(r, 0), ==, BM_IRQ);
	g_assert_cmphex(ide_status(r), ==, DRDY | DSC);
	for (unsigned i = 0; i < 4; i++)
		g_assert_cmpmem(r->env->ram + 0x20000 + 0x10000 * i, 0x10000, ref + 0x10000 * i,
				0x10000);
	g_assert_cmpmem(r->env->ram + 0x60000, n * 512 - 0x40000, ref + 0x40000, n * 512 - 0x40000);
	g_free(ref);
	rig_free(r);
	g_unlink(path);
	g_free(path);
}

/*
 * The guest's write-one-to-clear of the Interrupt bit is posted (KVM queues it without an
 * exit) and, here, made while a request is in flight. The completion on the main loop must
 * hand it to the device before it sets the bit: landing at the guest's next exit instead, it
 * would clear an interrupt the guest has not seen. The task-file writes of the command are
 * posted too and reach the drive when the command register's write exits.
 */
static void test_async_posted_clear(void)
{
	char *path;
	uint8_t ref[512];
	struct rig *r = async_sector_rig(&path, 7, 11, ref);
	fake_post_outb(r->env, CMD0 + 6, 0xE0);
	fake_post_outb(r->env, CMD0 + 2, 1);
	fake_post_outb(r->env, CMD0 + 3, 7);
	fake_post_outb(r->env, CMD0 + 4, 0);
	fake_post_outb(r->env, CMD0 + 5, 0);
	fake_flush_posted(r->env); /* the command write exits: the vCPU hands them over first */
	fake_outb(r->env, CMD0 + 7, 0xC8);
	bm_start(r, 0, true);
	fake_post_outb(r->env, BM + 2, BM_IRQ);
	unsigned before = r->env->flushes;
	block_drain(r->disk);
	g_assert_cmpuint(r->env->flushes, >, before);
	g_assert_cmpuint(r->env->n_posted, ==, 0);
	fake_flush_posted(r->env); /* the guest's next exit */
	g_assert_cmphex(bm_status(r, 0), ==, BM_IRQ);
	g_assert_cmpuint(r->env->irq_raises[14], ==, 1);
	g_assert_cmpmem(r->env->ram + 0x20000, 512, ref, 512);
	async_rig_free(r, path);
}

/*
 * The guest's stop (a write of 08h or 00h to the command register) is posted too. Made while a
 * chunk is in flight, it must land before that chunk's completion, which would otherwise move
 * the data into memory the guest just took back and raise an interrupt for a transfer it
 * aborted: the stop is an abort, as when it exits.
 */
static void test_async_posted_stop(void)
{
	char *path;
	uint8_t ref[512];
	struct rig *r = async_sector_rig(&path, 3, 5, ref);
	issue28(r, 0xC8, 3, 1);
	bm_start(r, 0, true);
	fake_post_outb(r->env, BM, BM_TO_MEM);
	block_drain(r->disk);
	g_assert_cmpuint(r->env->n_posted, ==, 0);
	g_assert_cmphex(bm_status(r, 0), ==, 0);
	g_assert_cmpuint(r->env->ram[0x20000 + 1], ==, 0);
	g_assert_cmpuint(r->env->irq_raises[14], ==, 0);
	g_assert_cmphex(fake_inb(r->env, CTRL0), ==, BSY | DRDY | DSC); /* waits for a restart */
	bm_start(r, 0, true);
	block_drain(r->disk);
	g_assert_cmphex(bm_status(r, 0), ==, BM_IRQ);
	g_assert_cmpmem(r->env->ram + 0x20000, 512, ref, 512);
	async_rig_free(r, path);
}

/* A software reset while a chunk is in flight: the completion finds nobody and touches
 * neither the drive nor guest memory. */
static void test_async_reset_disowns(void)
{
	char *path;
	uint8_t ref[512];
	struct rig *r = async_sector_rig(&path, 1, 9, ref);
	issue28(r, 0xC8, 1, 1);
	bm_start(r, 0, true);
	fake_outb(r->env, CTRL0, 0x04);
	fake_outb(r->env, CTRL0, 0x00);
	block_drain(r->disk);
	g_assert_cmphex(ide_status(r), ==, DRDY | DSC);
	g_assert_cmpuint(r->env->ram[0x20000 + 1], ==, 0);
	g_assert_cmpuint(r->env->irq_raises[14], ==, 0);
	async_rig_free(r, path);
}

/*
 * A raw file whose data the host page cache holds: a DMA read or write is done before the
 * write that started the engine returns, so the guest's first status poll sees it complete,
 * whether the table has the chunk in one piece (moved in place) or not (through a buffer); a
 * PIO read has its block ready at once. FLUSH CACHE, and a read the page cache cannot serve,
 * wait for the main loop.
 */
static void test_at_once(void)
{
	char *path;
	struct block_dev *disk = temp_disk(&path, DISK_SECTORS * 512ull);
	block_set_inline(disk, true);
	struct rig *r = rig_new_with(disk, NULL, false);
	uint8_t *ref = g_malloc(0x10000), *got = g_malloc(0x10000);
	disk_pattern(disk, 40, 128, ref, 15);
	prd(r, 0x1000, 0, 0x20000, 0, true);
	bm_setup(r, 0, 0x1000, true);
	issue28(r, 0xC8, 40, 128);
	bm_start(r, 0, true);
	g_assert_cmphex(bm_status(r, 0), ==, BM_IRQ);
	g_assert_cmpint(r->env->irq_level[14], ==, 1);
	g_assert_cmphex(ide_status(r), ==, DRDY | DSC);
	g_assert_cmpmem(r->env->ram + 0x20000, 0x10000, ref, 0x10000);
	bm_stop(r, 0);

	prd(r, 0x1000, 0, 0x40000, 0x0602, false); /* two pieces */
	prd(r, 0x1000, 1, 0x50000, 0x10000 - 0x0602, true);
	bm_setup(r, 0, 0x1000, true);
	issue28(r, 0xC8, 40, 128);
	bm_start(r, 0, true);
	g_assert_cmphex(bm_status(r, 0), ==, BM_IRQ);
	g_assert_cmphex(ide_status(r), ==, DRDY | DSC);
	g_assert_cmpmem(r->env->ram + 0x40000, 0x602, ref, 0x602);
	g_assert_cmpmem(r->env->ram + 0x50000, 0x10000 - 0x602, ref + 0x602, 0x10000 - 0x602);
	bm_stop(r, 0);

	fill_pattern(r->env->ram + 0x30000, 0x10000, 16);
	prd(r, 0x1000, 0, 0x30000, 0, true);
	bm_setup(r, 0, 0x1000, false);
	issue28(r, 0xCA, 300, 128);
	bm_start(r, 0, false);
	g_assert_cmphex(bm_status(r, 0), ==, BM_IRQ);
	g_assert_cmphex(ide_status(r), ==, DRDY | DSC);
	g_assert_cmpint(block_pread(disk, got, 0x10000, 300 * 512), ==, 0);
	g_assert_cmpmem(got, 0x10000, r->env->ram + 0x30000, 0x10000);
	bm_stop(r, 0);

	issue28(r, 0x20, 41, 1); /* READ SECTORS: DRQ at once */
	g_assert_cmphex(fake_inb(r->env, CTRL0), ==, DRDY | DSC | DRQ);
	for (unsigned i = 0; i < 256; i++)
		g_assert_cmphex(fake_inw(r->env, CMD0), ==, ref[512 + 2 * i] | ref[513 + 2 * i] << 8);
	g_assert_cmphex(ide_status(r), ==, DRDY | DSC);

	fake_outb(r->env, CMD0 + 7, 0xE7); /* FLUSH CACHE: on the main loop */
	g_assert_cmphex(fake_inb(r->env, CTRL0), ==, BSY | DRDY | DSC);
	block_drain(disk);
	g_assert_cmphex(ide_status(r), ==, DRDY | DSC);

	/* out of the page cache: the main loop, then the data all the same */
	g_assert_cmpint(fdatasync(disk->fd), ==, 0);
	posix_fadvise(disk->fd, 40 * 512, 0x10000, POSIX_FADV_DONTNEED);
	memset(r->env->ram + 0x20000, 0, 0x10000);
	prd(r, 0x1000, 0, 0x20000, 0, true);
	bm_setup(r, 0, 0x1000, true);
	issue28(r, 0xC8, 40, 128);
	bm_start(r, 0, true);
	if (bm_status(r, 0) == BM_ACTIVE)
		block_drain(disk);
	else
		g_test_message("the host kept the pages cached: served at once");
	g_assert_cmphex(bm_status(r, 0), ==, BM_IRQ);
	g_assert_cmphex(ide_status(r), ==, DRDY | DSC);
	g_assert_cmpmem(r->env->ram + 0x20000, 0x10000, ref, 0x10000);
	g_free(ref);
	g_free(got);
	rig_free(r);
	g_unlink(path);
	g_free(path);
}

/* ---- ATAPI DMA ---- */

static void cd_packet(struct rig *r, const uint8_t cdb[12], bool dma, uint16_t limit)
{
	fake_outb(r->env, CMD1 + 6, 0xA0);
	fake_outb(r->env, CMD1 + 1, dma ? 0x01 : 0x00);
	fake_outb(r->env, CMD1 + 4, limit);
	fake_outb(r->env, CMD1 + 5, limit >> 8);
	fake_outb(r->env, CMD1 + 7, 0xA0);
	g_assert_cmphex(fake_inb(r->env, CMD1 + 7), ==, DRDY | DSC | DRQ);
	for (int i = 0; i < 12; i += 2)
		fake_outw(r->env, CMD1, cdb[i] | cdb[i + 1] << 8);
}

static struct block_dev *iso_image(uint32_t blocks)
{
	struct block_dev *bd = block_open_memory(blocks * 2048ull);
	uint8_t *data = g_malloc(blocks * 2048ull);
	fill_pattern(data, blocks * 2048ull, 11);
	block_pwrite(bd, data, blocks * 2048ull, 0);
	g_free(data);
	return bd;
}

static void test_atapi_dma(void)
{
	struct block_dev *iso = iso_image(CD_BLOCKS);
	struct rig *r = rig_new_with(block_open_memory(DISK_SECTORS * 512ull), iso, true);
	const uint32_t n = 100; /* two chunks of at most 64 blocks */
	uint8_t *ref = g_malloc(n * 2048);
	block_pread(iso, ref, n * 2048, 150 * 2048);
	for (unsigned i = 0; i < 4; i++)
		prd(r, 0x2000, i, 0x20000 + 0x10000 * i, 0, i == 3);
	bm_setup(r, 1, 0x2000, true);
	uint8_t read10[12] = { 0x28, 0, 0, 0, 0, 150, 0, 0, n };
	cd_packet(r, read10, true, 0);
	bm_start(r, 1, true);
	g_assert_cmphex(bm_status(r, 1), ==, BM_IRQ | BM_ACTIVE); /* 256 KiB of table, 200 used */
	g_assert_cmpint(r->env->irq_level[15], ==, 1);
	g_assert_cmphex(fake_inb(r->env, CMD1 + 2), ==, 0x03); /* IO | CoD: command complete */
	g_assert_cmphex(fake_inb(r->env, CMD1 + 7), ==, DRDY | DSC);
	g_assert_cmpmem(r->env->ram + 0x20000, n * 2048, ref, n * 2048);
	bm_stop(r, 1);

	/* a response from the drive's buffer (INQUIRY), by DMA */
	prd(r, 0x2000, 0, 0x70000, 36, true);
	bm_setup(r, 1, 0x2000, true);
	uint8_t inquiry[12] = { 0x12, 0, 0, 0, 36 };
	cd_packet(r, inquiry, true, 0);
	bm_start(r, 1, true);
	g_assert_cmphex(bm_status(r, 1), ==, BM_IRQ);
	g_assert_cmphex(r->env->ram[0x70000], ==, 0x05);
	g_assert_cmpmem(r->env->ram + 0x70000 + 16, 12, "PCVM DVD-ROM", 12);
	bm_stop(r, 1);

	/* parameter data to the drive (MODE SELECT) by DMA, and a table that runs short: an
	 * aborted command, no interrupt */
	prd(r, 0x2000, 0, 0x70000, 16, true);
	bm_setup(r, 1, 0x2000, false);
	uint8_t select[12] = { 0x55, 0x10, 0, 0, 0, 0, 0, 0, 16 };
	cd_packet(r, select, true, 0);
	bm_start(r, 1, false);
	g_assert_cmphex(bm_status(r, 1), ==, BM_IRQ);
	g_assert_cmphex(fake_inb(r->env, CMD1 + 7), ==, DRDY | DSC);
	bm_stop(r, 1);
	unsigned raises = r->env->irq_raises[15];
	prd(r, 0x2000, 0, 0x20000, 2048, true);
	bm_setup(r, 1, 0x2000, true);
	read10[8] = 2;
	cd_packet(r, read10, true, 0);
	bm_start(r, 1, true);
	g_assert_cmphex(bm_status(r, 1), ==, 0);
	g_assert_cmpuint(r->env->irq_raises[15], ==, raises);
	g_assert_cmphex(fake_inb(r->env, CMD1 + 7), ==, DRDY | DSC | ERR);
	g_assert_cmphex(fake_inb(r->env, CMD1 + 1), ==, 0xB4); /* ABORTED COMMAND, ABRT */
	g_free(ref);
	rig_free(r);
}

/* ---- state ---- */

static GByteArray *save(struct piix_ide *dev)
{
	GByteArray *out = g_byte_array_new();
	pthread_mutex_lock(&dev->lock);
	state_save(piix_ide_class.state, dev, out);
	pthread_mutex_unlock(&dev->lock);
	return out;
}

static int load(struct piix_ide *dev, GByteArray *s, char **error)
{
	pthread_mutex_lock(&dev->lock);
	int ret = state_load(piix_ide_class.state, dev, s->data, s->len, error);
	pthread_mutex_unlock(&dev->lock);
	return ret;
}

/* A DMA command waiting for its engine survives a save and load; started afterwards, it moves
 * the data on the loaded device. */
static void test_save_load_waiting(void)
{
	struct block_dev *disk = block_open_memory(DISK_SECTORS * 512ull);
	uint8_t ref[3 * 512];
	disk_pattern(disk, 50, 3, ref, 12);
	struct rig *a = rig_new_with(disk, NULL, false);
	prd(a, 0x1000, 0, 0x20000, sizeof(ref), true);
	bm_setup(a, 0, 0x1000, true);
	issue28(a, 0xC8, 50, 3);
	GByteArray *s = save(a->dev);
	a->disk = NULL;
	rig_free(a);

	struct rig *b = rig_new_with(disk, NULL, false);
	prd(b, 0x1000, 0, 0x20000, sizeof(ref), true);
	char *error = NULL;
	g_assert_cmpint(load(b->dev, s, &error), ==, 0);
	g_assert_null(error);
	g_assert_cmphex(fake_inb(b->env, CTRL0), ==, BSY | DRDY | DSC);
	bm_start(b, 0, true);
	g_assert_cmphex(bm_status(b, 0), ==, BM_IRQ);
	g_assert_cmpmem(b->env->ram + 0x20000, sizeof(ref), ref, sizeof(ref));
	g_byte_array_free(s, TRUE);
	rig_free(b);
}

/* A chunk in flight at the save is issued again by the load: a read lands in memory, a write
 * takes its data from memory again. */
static void test_save_load_in_flight(void)
{
	char *path;
	struct block_dev *disk = temp_disk(&path, DISK_SECTORS * 512ull);
	uint8_t ref[4 * 512], got[4 * 512];
	disk_pattern(disk, 60, 4, ref, 13);
	struct rig *a = rig_new_with(disk, NULL, false);
	prd(a, 0x1000, 0, 0x20000, sizeof(ref), true);
	bm_setup(a, 0, 0x1000, true);
	issue28(a, 0xC8, 60, 4);
	bm_start(a, 0, true);
	g_assert_cmphex(fake_inb(a->env, CTRL0), ==, BSY | DRDY | DSC); /* in flight */
	GByteArray *s = save(a->dev);
	a->disk = NULL;
	rig_free(a); /* drains: that completion belongs to the old device */

	struct rig *b = rig_new_with(disk, NULL, false);
	prd(b, 0x1000, 0, 0x20000, sizeof(ref), true);
	g_assert_cmpint(load(b->dev, s, NULL), ==, 0);
	g_assert_cmphex(bm_status(b, 0), ==, BM_ACTIVE);
	block_drain(disk);
	g_assert_cmphex(bm_status(b, 0), ==, BM_IRQ);
	g_assert_cmphex(ide_status(b), ==, DRDY | DSC);
	g_assert_cmpmem(b->env->ram + 0x20000, sizeof(ref), ref, sizeof(ref));
	g_byte_array_free(s, TRUE);
	bm_stop(b, 0);

	/* a write in flight */
	fill_pattern(b->env->ram + 0x30000, sizeof(got), 14);
	prd(b, 0x1000, 0, 0x30000, sizeof(got), true);
	bm_setup(b, 0, 0x1000, false);
	issue28(b, 0xCA, 70, 4);
	bm_start(b, 0, false);
	s = save(b->dev);
	b->disk = NULL;
	struct fake_env *keep = b->env;
	b->env = fake_env_new(14, 15); /* RAM survives in KEEP, as a snapshot's would */
	rig_free(b);
	block_pwrite(disk, ref, sizeof(ref), 70 * 512); /* whatever the old device wrote: gone */
	struct rig *c = rig_new_with(disk, NULL, false);
	memcpy(c->env->ram, keep->ram, FAKE_RAM_SIZE);
	fake_env_free(keep);
	g_assert_cmpint(load(c->dev, s, NULL), ==, 0);
	block_drain(disk);
	g_assert_cmphex(ide_status(c), ==, DRDY | DSC);
	block_pread(disk, got, sizeof(got), 70 * 512);
	g_assert_cmpmem(got, sizeof(got), c->env->ram + 0x30000, sizeof(got));
	g_byte_array_free(s, TRUE);
	rig_free(c);
	g_unlink(path);
	g_free(path);
}

/* A DMA command done with chunks longer than a PIO block (here 64 sectors) leaves a state that
 * loads: found by fuzz_devices, the idle drive's last chunk size was checked as a PIO block. */
static void test_save_load_after_long_dma(void)
{
	struct rig *a = rig_new(), *b = rig_new();
	prd(a, 0x1000, 0, 0x20000, 64 * 512, true);
	bm_setup(a, 0, 0x1000, true);
	issue28(a, 0xC8, 0, 64);
	bm_start(a, 0, true);
	g_assert_cmphex(ide_status(a), ==, DRDY | DSC);
	GByteArray *s = save(a->dev);
	char *error = NULL;
	g_assert_cmpint(load(b->dev, s, &error), ==, 0);
	g_assert_null(error);
	g_assert_cmphex(ide_status(b), ==, DRDY | DSC);
	g_byte_array_free(s, TRUE);
	rig_free(a);
	rig_free(b);
}

/* Random bus-master registers and DMA fields in a state: refused, or harmless afterwards. */
static void test_hostile_state(void)
{
	struct rig *src = rig_new(), *dst = rig_new();
	GRand *rnd = g_rand_new_with_seed(7);
	unsigned refused = 0, accepted = 0;
	for (int iter = 0; iter < 300; iter++) {
		struct ide_drive *d = &src->dev->chan[0].drive[0];
		for (int i = 0; i < 16; i++)
			src->dev->bmdma[i] = g_rand_boolean(rnd) ? 0 : g_rand_int(rnd);
		if (g_rand_boolean(rnd)) { /* often consistent: started and active */
			static const uint8_t regs[8] = { 0x09, 0, 0x01, 0, 0x00, 0x10 };
			memcpy(src->dev->bmdma, regs, 8);
			memset(src->dev->bmdma + 8, 0, 8);
		}
		d->cmd = (uint8_t[]){ 0xC8, 0xCA, 0x25, 0x35, 0x20 }[g_rand_int_range(rnd, 0, 5)];
		d->xfer = g_rand_int_range(rnd, 0, 7);
		d->dma = g_rand_int_range(rnd, 0, 3);
		d->io_op = g_rand_int_range(rnd, 0, 5);
		d->dma_pos = g_rand_boolean(rnd) ? g_rand_int(rnd) : 0;
		d->lba = g_rand_int_range(rnd, 0, DISK_SECTORS + 2);
		d->remaining = g_rand_int_range(rnd, 0, 600);
		d->block = g_rand_int_range(rnd, 0, 300);
		d->status = BSY | DRDY;
		GByteArray *st = save(src->dev);
		char *error = NULL;
		if (load(dst->dev, st, &error) < 0) {
			refused++;
			g_free(error);
		} else {
			accepted++;
		}
		bm_start(dst, 0, true);
		fake_outb(dst->env, CTRL0, 0x04);
		fake_outb(dst->env, CTRL0, 0x00);
		g_assert_cmphex(ide_status(dst), ==, DRDY | DSC);
		g_byte_array_free(st, TRUE);
		piix_ide_class.reset(src->dev);
	}
	g_assert_cmpuint(refused, >, 0);
	g_assert_cmpuint(accepted, >, 0);
	g_rand_free(rnd);
	rig_free(src);
	rig_free(dst);
}

/* ---- errors from the disk ---- */

static void test_disk_errors(void)
{
	struct rig *r = rig_new();
	r->disk->read_only = true;
	prd(r, 0x1000, 0, 0x20000, 512, true);
	bm_setup(r, 0, 0x1000, false);
	issue28(r, 0xCA, 0, 1);
	bm_start(r, 0, false);
	g_assert_cmphex(ide_status(r), ==, DRDY | DSC | ERR);
	g_assert_cmphex(fake_inb(r->env, CMD0 + 1), ==, ABRT);
	g_assert_cmpuint(r->env->irq_raises[14], ==, 1);
	/* a range past the disk: IDNF before any DMA */
	bm_stop(r, 0);
	issue28(r, 0xC8, DISK_SECTORS - 1, 2);
	g_assert_cmphex(ide_status(r), ==, DRDY | DSC | ERR);
	g_assert_cmphex(fake_inb(r->env, CMD0 + 1), ==, 0x10);
	rig_free(r);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/bmdma/read-dma", test_read_dma);
	g_test_add_func("/bmdma/write-dma", test_write_dma);
	g_test_add_func("/bmdma/dma-ext-and-64k-regions", test_dma_ext_and_64k_regions);
	g_test_add_func("/bmdma/prd/odd-region-sizes", test_odd_region_sizes);
	g_test_add_func("/bmdma/prd/table-across-page-and-eot", test_table_across_page_and_eot);
	g_test_add_func("/bmdma/prd/table-longer-and-shorter", test_table_longer_and_shorter);
	g_test_add_func("/bmdma/prd/outside-ram", test_outside_ram);
	g_test_add_func("/bmdma/status-bits", test_status_bits);
	g_test_add_func("/bmdma/stop-and-restart", test_stop_and_restart);
	g_test_add_func("/bmdma/async/busy-until-done", test_async_busy_until_done);
	g_test_add_func("/bmdma/async/reset-disowns", test_async_reset_disowns);
	g_test_add_func("/bmdma/async/posted-clear", test_async_posted_clear);
	g_test_add_func("/bmdma/async/posted-stop", test_async_posted_stop);
	g_test_add_func("/bmdma/at-once", test_at_once);
	g_test_add_func("/bmdma/atapi-dma", test_atapi_dma);
	g_test_add_func("/bmdma/state/waiting", test_save_load_waiting);
	g_test_add_func("/bmdma/state/in-flight", test_save_load_in_flight);
	g_test_add_func("/bmdma/state/after-long-dma", test_save_load_after_long_dma);
	g_test_add_func("/bmdma/state/hostile", test_hostile_state);
	g_test_add_func("/bmdma/disk-errors", test_disk_errors);
	return g_test_run();
}
