/*
 * The LSI 53C895A driven as drivers drive it: registers through its I/O BAR on a PCI bus,
 * SCRIPTS programs and their data in fake guest RAM (SeaBIOS's lsi-scsi sequence, Linux-like
 * table indirect programs, single instructions), disks in memory (they complete inline) or in
 * a file whose requests wait for block_drain.
 */
#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#include "block/block.h"
#include "devices/lsi53c895a.h"
#include "devices/lsi_internal.h"
#include "fakes.h"

#define IO_BASE 0xC100u
#define MMIO_BASE 0xFEB00000u
#define RAM_BASE 0xFEB02000u
#define SLOT 4
#define DEVFN (SLOT << 3)
#define GSI 10
#define DISK_BLOCKS 2048 /* 1 MiB */
#define OUTSIDE_RAM 0x40000000u

/* Where things are in guest RAM */
#define SCRIPT 0x1000u
#define SCRIPT2 0x1800u
#define MSGOUT 0x2000u
#define CDB 0x2100u
#define STATUS 0x2200u
#define MSGIN 0x2210u
#define TABLE 0x3000u
#define SCRATCH 0x5000u
#define DATA 0x10000u

/* SCRIPTS (chapter 5) */
#define PH_DO 0
#define PH_DI 1
#define PH_CMD 2
#define PH_ST 3
#define PH_MO 6
#define PH_MI 7
#define MOVE(ph, n) (0x08000000u | (uint32_t)(ph) << 24 | (n))
#define MOVE_TBL(ph) (0x18000000u | (uint32_t)(ph) << 24)
#define MOVE_IND(ph, n) (0x28000000u | (uint32_t)(ph) << 24 | (n))
#define SELECT(id) (0x40000000u | (uint32_t)(id) << 16)
#define SELECT_ATN(id) (0x41000000u | (uint32_t)(id) << 16)
#define SELECT_TBL_ATN(off) (0x43000000u | (off))
#define WAIT_DISC 0x48000000u
#define WAIT_RESEL 0x50000000u
#define SET(bits) (0x58000000u | (bits))
#define CLEAR(bits) (0x60000000u | (bits))
#define ATN 0x008u
#define ACK 0x040u
#define CARRY 0x400u
#define RMW(op, reg, data) (0x78000000u | (op) << 24 | (uint32_t)(reg) << 16 | (data) << 8)
#define TO_SFBR(op, reg, data) (0x70000000u | (op) << 24 | (uint32_t)(reg) << 16 | (data) << 8)
#define FROM_SFBR(op, reg, data) (0x68000000u | (op) << 24 | (uint32_t)(reg) << 16 | (data) << 8)
#define OP_MOV 0
#define OP_SHL 1
#define OP_OR 2
#define OP_XOR 3
#define OP_AND 4
#define OP_SHR 5
#define OP_ADD 6
#define OP_ADDC 7
#define JUMP 0x80080000u
#define JUMP_REL 0x80880000u
#define IF_PHASE(ph) (0x000A0000u | (uint32_t)(ph) << 24)
#define WHEN_PHASE(ph) (0x000B0000u | (uint32_t)(ph) << 24)
#define IF_NOT_PHASE(ph) (0x00020000u | (uint32_t)(ph) << 24)
#define IF_CARRY 0x00280000u
#define JUMP_IF(cond) (0x80000000u | (cond))
#define CALL 0x88080000u
#define RETURN 0x90080000u
#define INT 0x98080000u
#define INTFLY 0x98180000u
#define MEMMOVE(n) (0xC0000000u | (n))
#define LOAD(reg, n) (0xE1000000u | (uint32_t)(reg) << 16 | (n))
#define STORE(reg, n) (0xE0000000u | (uint32_t)(reg) << 16 | (n))
#define DSA_REL 0x10000000u

struct fx {
	struct fake_env *env;
	struct bus *mmio;
	struct pci_bus *pci;
	struct lsi *d;
	struct block_dev *disk[LSI_MAX_TARGETS];
	uint32_t pc; /* where emit() writes */
};

static const struct irq_line *route(void *opaque, unsigned pirq)
{
	struct fake_env *env = opaque;
	return pirq == 0 ? &env->ctx.irq[0] : NULL; /* slot 4 INTA -> PIRQA */
}

static void fx_attach(struct fx *f)
{
	g_assert_cmpint(pci_bus_attach(f->pci, SLOT, 0, lsi_pci(f->d)), ==, 0);
	pci_config_write(f->pci, DEVFN, PCI_BAR0, IO_BASE, 4);
	pci_config_write(f->pci, DEVFN, PCI_BAR0 + 4, MMIO_BASE, 4);
	pci_config_write(f->pci, DEVFN, PCI_BAR0 + 8, RAM_BASE, 4);
	pci_config_write(f->pci, DEVFN, PCI_COMMAND,
			 PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, 2);
}

/* The controller on slot 4 with the given disks (NULL: no target at that ID). */
static void fx_init_disks(struct fx *f, struct block_dev *const disk[LSI_MAX_TARGETS],
			  bool attach)
{
	memset(f, 0, sizeof(*f));
	f->env = fake_env_new(GSI, -1);
	f->mmio = bus_new("mmio");
	f->pci = pci_bus_new(f->env->io, f->mmio);
	pci_bus_set_router(f->pci, route, f->env);
	for (unsigned i = 0; i < LSI_MAX_TARGETS; i++)
		f->env->ctx.disks[i] = f->disk[i] = disk[i];
	f->d = lsi53c895a_class.create(&f->env->ctx);
	lsi53c895a_class.reset(f->d);
	if (attach)
		fx_attach(f);
}

/* Targets 0 and 2: 1 MiB disks in memory, block N filled with N ^ byte offset. */
static void fx_init(struct fx *f)
{
	struct block_dev *disk[LSI_MAX_TARGETS] = { 0 };
	uint8_t block[512];
	for (unsigned t = 0; t < 3; t += 2) {
		disk[t] = block_open_memory(DISK_BLOCKS * 512ull);
		for (unsigned b = 0; b < DISK_BLOCKS; b++) {
			for (unsigned i = 0; i < 512; i++)
				block[i] = (b + t) ^ i;
			block_pwrite(disk[t], block, 512, b * 512ull);
		}
	}
	fx_init_disks(f, disk, true);
}

static void fx_free_keep_disks(struct fx *f)
{
	lsi53c895a_class.destroy(f->d);
	pci_bus_free(f->pci);
	bus_free(f->mmio);
	fake_env_free(f->env);
}

static void fx_free(struct fx *f)
{
	struct block_dev *disk[LSI_MAX_TARGETS];
	memcpy(disk, f->disk, sizeof(disk));
	fx_free_keep_disks(f);
	for (unsigned i = 0; i < LSI_MAX_TARGETS; i++)
		block_close(disk[i]);
}

static uint8_t rb(struct fx *f, unsigned reg)
{
	return fake_inb(f->env, IO_BASE + reg);
}

static void wb(struct fx *f, unsigned reg, uint8_t v)
{
	fake_outb(f->env, IO_BASE + reg, v);
}

static uint32_t rl(struct fx *f, unsigned reg)
{
	return fake_inl(f->env, IO_BASE + reg);
}

static void wl(struct fx *f, unsigned reg, uint32_t v)
{
	fake_outl(f->env, IO_BASE + reg, v);
}

static int irq(struct fx *f)
{
	return f->env->irq_level[GSI];
}

static void put32(struct fx *f, uint32_t addr, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		f->env->ram[addr + i] = v >> (8 * i);
}

static uint32_t get32(struct fx *f, uint32_t addr)
{
	const uint8_t *p = &f->env->ram[addr];
	return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put(struct fx *f, uint32_t addr, const void *data, size_t len)
{
	memcpy(&f->env->ram[addr], data, len);
}

static void org(struct fx *f, uint32_t addr)
{
	f->pc = addr;
}

/* One instruction of two dwords at the program counter. */
static void emit(struct fx *f, uint32_t a, uint32_t b)
{
	put32(f, f->pc, a);
	put32(f, f->pc + 4, b);
	f->pc += 8;
}

static void emit3(struct fx *f, uint32_t a, uint32_t b, uint32_t c)
{
	emit(f, a, b);
	put32(f, f->pc, c);
	f->pc += 4;
}

/* Starts SCRIPTS at ADDR as SeaBIOS does: DSP one byte at a time, the top byte last. */
static void start(struct fx *f, uint32_t addr)
{
	for (int i = 0; i < 4; i++)
		wb(f, LSI_DSP + i, addr >> (8 * i));
}

/* The SCRIPTS halted on INT CODE: DIP with SIR only, no SCSI interrupt. */
static void assert_int(struct fx *f, uint32_t code)
{
	g_assert_cmphex(rb(f, LSI_ISTAT) & (LSI_ISTAT_DIP | LSI_ISTAT_SIP), ==, LSI_ISTAT_DIP);
	g_assert_cmphex(rl(f, LSI_DSPS), ==, code);
	g_assert_cmphex(rb(f, LSI_DSTAT), ==, LSI_DSTAT_DFE | LSI_DSTAT_SIR);
	g_assert_cmphex(rb(f, LSI_ISTAT) & LSI_ISTAT_DIP, ==, 0);
}

/*
 * SeaBIOS's lsi-scsi program (src/hw/lsi-scsi.c): select without ATN, IDENTIFY, a 16-byte
 * COMMAND move, the disconnect check, the data (a zero count when there is none), STATUS,
 * MESSAGE IN, INT. Returns the status byte, after checking COMMAND COMPLETE.
 */
static int seabios_cmd(struct fx *f, unsigned id, unsigned lun, const uint8_t *cdb, size_t len,
		       bool in, uint32_t count, uint32_t buf)
{
	uint8_t cdb16[16] = { 0 };
	memcpy(cdb16, cdb, len);
	put(f, CDB, cdb16, 16);
	f->env->ram[MSGOUT] = 0x80 | lun;
	f->env->ram[STATUS] = f->env->ram[MSGIN] = 0xFF;
	org(f, SCRIPT);
	emit(f, SELECT(id), 0);
	emit(f, 0x06000001, MSGOUT);
	emit(f, 0x02000010, CDB);
	emit(f, 0x87820000, 0x18);
	emit(f, 0x07000002, MSGIN + 8);
	emit(f, WAIT_RESEL, 0);
	emit(f, 0x07000002, MSGIN + 8);
	emit(f, (in ? 0x01000000 : 0) | count, count ? buf : 0);
	emit(f, 0x03000001, STATUS);
	emit(f, 0x07000001, MSGIN);
	emit(f, INT, 0);
	start(f, SCRIPT);
	/* SeaBIOS's poll: a SCSI interrupt fails the command, SIR ends it */
	uint8_t dstat = rb(f, LSI_DSTAT), sist0 = rb(f, LSI_SIST0), sist1 = rb(f, LSI_SIST1);
	if (sist0 || sist1)
		return -1;
	g_assert_cmphex(dstat, ==, LSI_DSTAT_DFE | LSI_DSTAT_SIR);
	g_assert_cmphex(rl(f, LSI_DSPS), ==, 0);
	g_assert_cmphex(f->env->ram[MSGIN], ==, 0x00);
	return f->env->ram[STATUS];
}

static int read10(struct fx *f, unsigned id, uint32_t lba, uint16_t blocks, uint32_t buf)
{
	uint8_t cdb[10] = { 0x28, 0, lba >> 24, lba >> 16, lba >> 8, lba, 0, blocks >> 8, blocks };
	return seabios_cmd(f, id, 0, cdb, sizeof(cdb), true, blocks * 512u, buf);
}

static int write10(struct fx *f, unsigned id, uint32_t lba, uint16_t blocks, uint32_t buf)
{
	uint8_t cdb[10] = { 0x2A, 0, lba >> 24, lba >> 16, lba >> 8, lba, 0, blocks >> 8, blocks };
	return seabios_cmd(f, id, 0, cdb, sizeof(cdb), false, blocks * 512u, buf);
}

/* TEST UNIT READY until the power-on unit attention has been reported. */
static void clear_ua(struct fx *f, unsigned id)
{
	static const uint8_t tur[6] = { 0 };
	g_assert_cmpint(seabios_cmd(f, id, 0, tur, 6, false, 0, 0), ==, 2);
	g_assert_cmpint(seabios_cmd(f, id, 0, tur, 6, false, 0, 0), ==, 0);
}

static bool block_ok(struct fx *f, uint32_t addr, unsigned target, uint32_t lba)
{
	for (unsigned i = 0; i < 512; i++)
		if (f->env->ram[addr + i] != (uint8_t)((lba + target) ^ i))
			return false;
	return true;
}

/* ---- PCI function ---- */

static void test_pci_ids(void)
{
	struct fx f;
	fx_init(&f);
	g_assert_cmphex(pci_config_read(f.pci, DEVFN, PCI_VENDOR_ID, 2), ==, 0x1000);
	g_assert_cmphex(pci_config_read(f.pci, DEVFN, PCI_DEVICE_ID, 2), ==, 0x0012);
	g_assert_cmphex(pci_config_read(f.pci, DEVFN, PCI_REVISION, 4) >> 8, ==, 0x010000);
	g_assert_cmphex(pci_config_read(f.pci, DEVFN, PCI_SUBSYS_VENDOR, 2), ==, 0x1000);
	g_assert_cmphex(pci_config_read(f.pci, DEVFN, PCI_SUBSYS_ID, 2), ==, 0x1000);
	g_assert_cmphex(pci_config_read(f.pci, DEVFN, PCI_INTERRUPT_PIN, 1), ==, 1);
	/* BAR sizing: 256 bytes of I/O, 1 KiB and 8 KiB of 32-bit memory */
	static const struct {
		unsigned bar;
		uint32_t mask;
	} bars[] = { { 0, 0xFFFFFF01 }, { 1, 0xFFFFFC00 }, { 2, 0xFFFFE000 } };
	for (size_t i = 0; i < G_N_ELEMENTS(bars); i++) {
		unsigned off = PCI_BAR0 + 4 * bars[i].bar;
		uint32_t old = pci_config_read(f.pci, DEVFN, off, 4);
		pci_config_write(f.pci, DEVFN, off, 0xFFFFFFFF, 4);
		g_assert_cmphex(pci_config_read(f.pci, DEVFN, off, 4), ==, bars[i].mask);
		pci_config_write(f.pci, DEVFN, off, old, 4);
	}
	/* the memory BAR reaches the same registers; BAR2 is RAM */
	uint64_t v = 0;
	wl(&f, LSI_SCRATCHA, 0x12345678);
	g_assert_true(bus_read(f.mmio, MMIO_BASE + LSI_SCRATCHA, 4, &v));
	g_assert_cmphex(v, ==, 0x12345678);
	g_assert_true(bus_write(f.mmio, RAM_BASE + 0x1FFC, 4, 0xCAFEF00D));
	g_assert_true(bus_read(f.mmio, RAM_BASE + 0x1FFC, 4, &v));
	g_assert_cmphex(v, ==, 0xCAFEF00D);
	/* power-on values */
	g_assert_cmphex(rb(&f, LSI_SCNTL0), ==, 0xC0);
	g_assert_cmphex(rb(&f, LSI_DSTAT), ==, LSI_DSTAT_DFE);
	g_assert_cmphex(rb(&f, LSI_CTEST1), ==, 0xF0); /* the DMA FIFO is empty */
	g_assert_cmphex(rb(&f, LSI_STEST4) & 0x20, ==, 0x20); /* LCKFRQ for Linux's clock setup */
	fx_free(&f);
}

/* ---- commands through SeaBIOS's program ---- */

static void test_inquiry(void)
{
	struct fx f;
	fx_init(&f);
	static const uint8_t inquiry[6] = { 0x12, 0, 0, 0, 36, 0 };
	memset(&f.env->ram[DATA], 0xAA, 64);
	g_assert_cmpint(seabios_cmd(&f, 0, 0, inquiry, 6, true, 36, DATA), ==, 0);
	g_assert_cmphex(f.env->ram[DATA], ==, 0x00); /* direct-access device, connected */
	g_assert_cmpmem(&f.env->ram[DATA + 8], 4, "PCVM", 4);
	g_assert_cmphex(f.env->ram[DATA + 36], ==, 0xAA);
	g_assert_cmphex(rb(&f, LSI_SFBR), ==, 0x00); /* first byte of the last move in: MSG IN */
	/* LUN 1 of a present target: peripheral qualifier 3 */
	g_assert_cmpint(seabios_cmd(&f, 2, 1, inquiry, 6, true, 36, DATA), ==, 0);
	g_assert_cmphex(f.env->ram[DATA], ==, 0x7F);
	fx_free(&f);
}

static void test_read_pattern(void)
{
	struct fx f;
	fx_init(&f);
	clear_ua(&f, 2);
	g_assert_cmpint(read10(&f, 2, 100, 4, DATA), ==, 0);
	for (unsigned b = 0; b < 4; b++)
		g_assert_true(block_ok(&f, DATA + 512 * b, 2, 100 + b));
	/* READ past the end: CHECK CONDITION with no data phase, a phase mismatch for
	 * SeaBIOS's data move; its next command (REQUEST SENSE) works and says why */
	g_assert_cmpint(read10(&f, 2, DISK_BLOCKS, 1, DATA), ==, -1);
	static const uint8_t sense[6] = { 0x03, 0, 0, 0, 18, 0 };
	g_assert_cmpint(seabios_cmd(&f, 2, 0, sense, 6, true, 18, DATA), ==, 0);
	g_assert_cmphex(f.env->ram[DATA + 2] & 0xF, ==, SCSI_SENSE_ILLEGAL_REQUEST);
	fx_free(&f);
}

static void test_write_read_back(void)
{
	struct fx f;
	fx_init(&f);
	clear_ua(&f, 0);
	for (unsigned i = 0; i < 3 * 512; i++)
		f.env->ram[DATA + i] = i * 7 + 3;
	g_assert_cmpint(write10(&f, 0, 500, 3, DATA), ==, 0);
	uint8_t disk[3 * 512];
	g_assert_cmpint(block_pread(f.disk[0], disk, sizeof(disk), 500 * 512), ==, 0);
	g_assert_cmpmem(disk, sizeof(disk), &f.env->ram[DATA], sizeof(disk));
	memset(&f.env->ram[DATA + 0x8000], 0, sizeof(disk));
	g_assert_cmpint(read10(&f, 0, 500, 3, DATA + 0x8000), ==, 0);
	g_assert_cmpmem(&f.env->ram[DATA + 0x8000], sizeof(disk), &f.env->ram[DATA], sizeof(disk));
	fx_free(&f);
}

/* 200 KiB in one move: the target reads it 64 KiB at a time. */
static void test_large_read(void)
{
	struct fx f;
	fx_init(&f);
	clear_ua(&f, 0);
	g_assert_cmpint(read10(&f, 0, 7, 400, DATA), ==, 0);
	for (unsigned b = 0; b < 400; b++)
		g_assert_true(block_ok(&f, DATA + 512 * b, 0, 7 + b));
	/* and the same written back elsewhere, then compared */
	clear_ua(&f, 2);
	g_assert_cmpint(write10(&f, 2, 1000, 400, DATA), ==, 0);
	uint8_t *disk = g_malloc(400 * 512);
	g_assert_cmpint(block_pread(f.disk[2], disk, 400 * 512, 1000 * 512), ==, 0);
	g_assert_cmpmem(disk, 400 * 512, &f.env->ram[DATA], 400 * 512);
	g_free(disk);
	fx_free(&f);
}

/* ---- bus conditions ---- */

/* No disk at ID 5: the selection times out, seen at the next instruction needing the bus. */
static void test_selection_timeout(void)
{
	struct fx f;
	fx_init(&f);
	wb(&f, LSI_SIEN1, 0x04);
	org(&f, SCRIPT);
	emit(&f, SELECT_ATN(5), 0);
	emit(&f, RMW(OP_MOV, LSI_SCRATCHA, 0x42), 0); /* runs: needs no bus */
	emit(&f, MOVE(PH_MO, 1), MSGOUT);
	emit(&f, INT, 0xBAD);
	start(&f, SCRIPT);
	g_assert_cmphex(rb(&f, LSI_ISTAT) & (LSI_ISTAT_SIP | LSI_ISTAT_DIP), ==, LSI_ISTAT_SIP);
	g_assert_cmpint(irq(&f), ==, 1);
	g_assert_cmphex(rb(&f, LSI_SCRATCHA), ==, 0x42);
	g_assert_cmphex(rl(&f, LSI_DSP), ==, SCRIPT + 24);
	g_assert_cmphex(rb(&f, LSI_SIST0), ==, 0);
	g_assert_cmphex(rb(&f, LSI_SIST1), ==, 0x04); /* STO */
	g_assert_cmpint(irq(&f), ==, 0);
	g_assert_cmphex(rb(&f, LSI_ISTAT) & (LSI_ISTAT_SIP | LSI_ISTAT_CON), ==, 0);
	g_assert_cmphex(rb(&f, LSI_SDID), ==, 5);
	fx_free(&f);
}

/* A DATA IN move longer than the data: MA with what is left in DBC and DFIFO. */
static void test_phase_mismatch(void)
{
	struct fx f;
	fx_init(&f);
	clear_ua(&f, 0);
	wb(&f, LSI_SIEN0, 0x80);
	static const uint8_t cdb[10] = { 0x28, 0, 0, 0, 0, 9, 0, 0, 1 };
	put(&f, CDB, cdb, 10);
	f.env->ram[MSGOUT] = 0x80;
	org(&f, SCRIPT);
	emit(&f, SELECT_ATN(0), 0);
	emit(&f, MOVE(PH_MO, 1), MSGOUT);
	emit(&f, MOVE(PH_CMD, 10), CDB);
	emit(&f, MOVE(PH_DI, 1000), DATA);
	emit(&f, MOVE(PH_ST, 1), STATUS);
	emit(&f, MOVE(PH_MI, 1), MSGIN);
	emit(&f, CLEAR(ACK), 0);
	emit(&f, WAIT_DISC, 0);
	emit(&f, INT, 0x600D);
	start(&f, SCRIPT);
	g_assert_cmphex(rb(&f, LSI_ISTAT) & LSI_ISTAT_SIP, ==, LSI_ISTAT_SIP);
	g_assert_cmphex(rb(&f, LSI_SIST0), ==, 0x80);
	g_assert_cmphex(rl(&f, LSI_DSP), ==, SCRIPT + 32);
	g_assert_cmphex(rl(&f, LSI_DBC), ==, 0x09000000u | (1000 - 512));
	g_assert_cmphex(rl(&f, LSI_DNAD), ==, DATA + 512);
	g_assert_cmphex(rb(&f, LSI_DFIFO), ==, (1000 - 512) & 0xFF);
	g_assert_cmphex(rb(&f, LSI_CTEST5) & 3, ==, (1000 - 512) >> 8);
	g_assert_cmphex(rb(&f, LSI_SBCL) & 0x27, ==, LSI_SBCL_BSY | PH_ST);
	g_assert_true(block_ok(&f, DATA, 0, 9));
	/* the driver goes on at the status phase */
	start(&f, SCRIPT + 32);
	assert_int(&f, 0x600D);
	g_assert_cmphex(f.env->ram[STATUS], ==, 0);
	g_assert_cmphex(rb(&f, LSI_ISTAT) & LSI_ISTAT_CON, ==, 0);
	fx_free(&f);
}

/* Messages: SDTR and WDTR answered asynchronous and narrow, others rejected. */
static void test_messages(void)
{
	struct fx f;
	fx_init(&f);
	static const uint8_t msgs[] = { 0xC0, 0x01, 0x03, 0x01, 0x0C, 0x1F,
					0x01, 0x02, 0x03, 0x01, 0x02 /* SAVE DATA POINTER */ };
	put(&f, MSGOUT, msgs, sizeof(msgs));
	static const uint8_t tur[6] = { 0 };
	put(&f, CDB, tur, 6);
	org(&f, SCRIPT);
	emit(&f, SELECT_ATN(0), 0);
	emit(&f, MOVE(PH_MO, sizeof(msgs)), MSGOUT);
	emit(&f, JUMP_IF(IF_NOT_PHASE(PH_MI)), 0xBAD0);
	emit(&f, MOVE(PH_MI, 10), DATA);
	emit(&f, CLEAR(ACK), 0);
	emit(&f, JUMP_IF(WHEN_PHASE(PH_CMD) ^ 0x00080000), 0xBAD1); /* jump if not COMMAND */
	emit(&f, MOVE(PH_CMD, 6), CDB);
	emit(&f, MOVE(PH_ST, 1), STATUS);
	emit(&f, MOVE(PH_MI, 1), MSGIN);
	emit(&f, CLEAR(ACK), 0);
	emit(&f, WAIT_DISC, 0);
	emit(&f, INT, 0x600D);
	start(&f, SCRIPT);
	assert_int(&f, 0x600D);
	static const uint8_t replies[10] = { 0x01, 0x03, 0x01, 0x0C, 0x00,
					     0x01, 0x02, 0x03, 0x00, 0x07 };
	g_assert_cmpmem(&f.env->ram[DATA], 10, replies, 10);
	g_assert_cmphex(f.env->ram[STATUS], ==, 2); /* the power-on unit attention */
	g_assert_cmphex(f.env->ram[MSGIN], ==, 0);
	fx_free(&f);
}

/* SCSI bus reset from SCNTL1: SIST0 RST, and the targets report a unit attention. */
static void test_bus_reset(void)
{
	struct fx f;
	fx_init(&f);
	clear_ua(&f, 0);
	wb(&f, LSI_SIEN0, 0x02);
	wb(&f, LSI_SCNTL1, LSI_SCNTL1_RST);
	g_assert_cmphex(rb(&f, LSI_SSTAT0) & LSI_SSTAT0_RST, ==, LSI_SSTAT0_RST);
	wb(&f, LSI_SCNTL1, 0);
	g_assert_cmpint(irq(&f), ==, 1);
	g_assert_cmphex(rb(&f, LSI_SIST0), ==, 0x02);
	g_assert_cmpint(irq(&f), ==, 0);
	static const uint8_t tur[6] = { 0 }, sense[6] = { 0x03, 0, 0, 0, 18, 0 };
	g_assert_cmpint(seabios_cmd(&f, 0, 0, tur, 6, false, 0, 0), ==, 2);
	g_assert_cmpint(seabios_cmd(&f, 0, 0, sense, 6, true, 18, DATA), ==, 0);
	g_assert_cmphex(f.env->ram[DATA + 2] & 0xF, ==, SCSI_SENSE_UNIT_ATTENTION);
	g_assert_cmphex(f.env->ram[DATA + 12], ==, 0x29);
	fx_free(&f);
}

/* ---- addressing modes ---- */

/* A Linux-like program: select and every move through a table at DSA. */
static void test_table_indirect(void)
{
	struct fx f;
	fx_init(&f);
	clear_ua(&f, 2);
	static const uint8_t cdb[10] = { 0x28, 0, 0, 0, 0, 33, 0, 0, 2 };
	put(&f, CDB, cdb, 10);
	f.env->ram[MSGOUT] = 0xC0;
	uint32_t table[] = {
		0x00000000 | 2u << 16 | 0x00 << 8, 0, /* select: ID 2, SXFER 0, SCNTL3 0 */
		1, MSGOUT, 10, CDB, 1024, DATA, 1, STATUS, 1, MSGIN,
	};
	table[0] |= 0x33u << 24; /* SCNTL3 from the table */
	for (size_t i = 0; i < G_N_ELEMENTS(table); i++)
		put32(&f, TABLE + 4 * i, table[i]);
	wl(&f, LSI_DSA, TABLE);
	org(&f, SCRIPT);
	emit(&f, SELECT_TBL_ATN(0), 0);
	emit(&f, MOVE_TBL(PH_MO), 8);
	emit(&f, MOVE_TBL(PH_CMD), 16);
	emit(&f, MOVE_TBL(PH_DI), 24);
	emit(&f, MOVE_TBL(PH_ST), 32);
	emit(&f, MOVE_TBL(PH_MI), 40);
	emit(&f, CLEAR(ACK), 0);
	emit(&f, WAIT_DISC, 0);
	emit(&f, INT, 0x600D);
	start(&f, SCRIPT);
	assert_int(&f, 0x600D);
	g_assert_cmphex(rb(&f, LSI_SCNTL3), ==, 0x33);
	g_assert_true(block_ok(&f, DATA, 2, 33));
	g_assert_true(block_ok(&f, DATA + 512, 2, 34));
	g_assert_cmphex(f.env->ram[STATUS], ==, 0);
	/* an indirect move: the address is read from memory */
	put32(&f, SCRATCH, DATA + 0x4000);
	org(&f, SCRIPT);
	emit(&f, SELECT_ATN(2), 0);
	emit(&f, MOVE(PH_MO, 1), MSGOUT);
	emit(&f, MOVE(PH_CMD, 10), CDB);
	emit(&f, MOVE_IND(PH_DI, 1024), SCRATCH);
	emit(&f, MOVE(PH_ST, 1), STATUS);
	emit(&f, MOVE(PH_MI, 1), MSGIN);
	emit(&f, INT, 0x600E);
	start(&f, SCRIPT);
	assert_int(&f, 0x600E);
	g_assert_true(block_ok(&f, DATA + 0x4000 + 512, 2, 34));
	fx_free(&f);
}

static void test_memory_move_load_store(void)
{
	struct fx f;
	fx_init(&f);
	for (unsigned i = 0; i < 32; i++)
		f.env->ram[SCRATCH + i] = 0x40 + i;
	wl(&f, LSI_DSA, SCRATCH + 0x100);
	org(&f, SCRIPT);
	emit3(&f, MEMMOVE(32), SCRATCH, SCRATCH + 0x40);
	/* into the chip's own registers through the memory BAR, as Linux's scripts do */
	emit3(&f, MEMMOVE(4), SCRATCH + 4, MMIO_BASE + LSI_SCRATCHB);
	/* and out of the SCRIPTS RAM */
	emit3(&f, MEMMOVE(4), RAM_BASE + 0x10, SCRATCH + 0x80);
	emit(&f, LOAD(LSI_SCRATCHA, 4), SCRATCH + 8);
	emit(&f, STORE(LSI_SCRATCHA, 2) | DSA_REL, 0xFFFFF0); /* DSA - 16 */
	emit(&f, LOAD(LSI_TEMP, 4) | DSA_REL, 0xFFFF00);      /* DSA - 256 */
	emit(&f, INT, 0x600D);
	put32(&f, SCRATCH + 0x100 - 16, 0);
	g_assert_true(bus_write(f.mmio, RAM_BASE + 0x10, 4, 0xFEEDBEEF));
	start(&f, SCRIPT);
	assert_int(&f, 0x600D);
	g_assert_cmpmem(&f.env->ram[SCRATCH + 0x40], 32, &f.env->ram[SCRATCH], 32);
	g_assert_cmphex(rl(&f, LSI_SCRATCHB), ==, get32(&f, SCRATCH + 4));
	g_assert_cmphex(get32(&f, SCRATCH + 0x80), ==, 0xFEEDBEEF);
	g_assert_cmphex(rl(&f, LSI_SCRATCHA), ==, get32(&f, SCRATCH + 8));
	g_assert_cmphex(get32(&f, SCRATCH + 0x100 - 16), ==, get32(&f, SCRATCH + 8) & 0xFFFF);
	g_assert_cmphex(rl(&f, LSI_TEMP), ==, get32(&f, SCRATCH));
	fx_free(&f);
}

/* Register arithmetic: the ALU's operators, the carry, SFBR as source and destination. */
static void test_register_arithmetic(void)
{
	struct fx f;
	fx_init(&f);
	org(&f, SCRIPT);
	emit(&f, RMW(OP_MOV, LSI_SCRATCHA, 0xF0), 0);
	emit(&f, RMW(OP_ADD, LSI_SCRATCHA, 0x20), 0);      /* 0x10, carry */
	emit(&f, RMW(OP_MOV, LSI_SCRATCHA + 1, 0x01), 0);
	emit(&f, RMW(OP_ADDC, LSI_SCRATCHA + 1, 0x00), 0); /* 0x02, no carry */
	emit(&f, JUMP_IF(IF_CARRY), 0xBAD0);
	emit(&f, RMW(OP_MOV, LSI_SCRATCHA + 2, 0x81), 0);
	emit(&f, RMW(OP_SHL, LSI_SCRATCHA + 2, 0), 0);     /* 0x02, carry */
	emit(&f, JUMP_IF(IF_CARRY ^ 0x00080000), 0xBAD1);   /* jump if no carry */
	emit(&f, RMW(OP_SHR, LSI_SCRATCHA + 2, 0), 0);     /* 0x81 (carry in), carry 0 */
	emit(&f, TO_SFBR(OP_OR, LSI_SCRATCHA, 0x0F), 0);   /* SFBR = 0x1F */
	emit(&f, FROM_SFBR(OP_ADD, LSI_SCRATCHB, 0x05), 0); /* SCRATCHB0 = 0x24 */
	emit(&f, RMW(OP_MOV, LSI_SCRATCHB + 1, 0xF5), 0);
	emit(&f, RMW(OP_AND, LSI_SCRATCHB + 1, 0x3C), 0);  /* 0x34 */
	emit(&f, RMW(OP_XOR, LSI_SCRATCHB + 1, 0xFF), 0);  /* 0xCB */
	emit(&f, 0x7F000000u | (LSI_SCRATCHB + 2) << 16 | 0x800000, 0); /* ADDC SFBR: 0x1F */
	emit(&f, SET(CARRY), 0);
	emit(&f, JUMP_IF(IF_CARRY), SCRIPT2);
	emit(&f, INT, 0xBAD2);
	org(&f, SCRIPT2);
	emit(&f, 0x800C0000u | 0x1F, SCRIPT2 + 24); /* JUMP IF DATA 0x1F */
	emit(&f, INT, 0xBAD3);
	emit(&f, INT, 0xBAD4);
	emit(&f, 0x800C0000u | 0xF0 << 8 | 0x0F, SCRIPT2 + 40); /* low nibble only */
	emit(&f, INT, 0xBAD5);
	emit(&f, INT, 0x600D);
	start(&f, SCRIPT);
	assert_int(&f, 0x600D);
	g_assert_cmphex(rl(&f, LSI_SCRATCHA) & 0xFFFFFF, ==, 0x810210);
	g_assert_cmphex(rl(&f, LSI_SCRATCHB) & 0xFFFFFF, ==, 0x1FCB24);
	g_assert_cmphex(rb(&f, LSI_SFBR), ==, 0x1F);
	fx_free(&f);
}

static void test_call_return(void)
{
	struct fx f;
	fx_init(&f);
	org(&f, SCRIPT);
	emit(&f, CALL, SCRIPT2);
	emit(&f, RMW(OP_ADD, LSI_SCRATCHA, 1), 0);
	emit(&f, 0x88880000u, (SCRIPT2 - (SCRIPT + 24)) & 0xFFFFFF); /* CALL REL */
	emit(&f, INT, 0x600D);
	org(&f, SCRIPT2);
	emit(&f, RMW(OP_ADD, LSI_SCRATCHA, 0x10), 0);
	emit(&f, RETURN, 0);
	start(&f, SCRIPT);
	assert_int(&f, 0x600D);
	g_assert_cmphex(rb(&f, LSI_SCRATCHA), ==, 0x21);
	g_assert_cmphex(rl(&f, LSI_TEMP), ==, SCRIPT + 24);
	fx_free(&f);
}

/* ---- interrupts ---- */

static void test_int_and_intfly(void)
{
	struct fx f;
	fx_init(&f);
	wb(&f, LSI_DIEN, LSI_DSTAT_SIR);
	org(&f, SCRIPT);
	emit(&f, INTFLY, 0x1111);
	emit(&f, RMW(OP_MOV, LSI_SCRATCHA, 0x77), 0);
	emit(&f, INT, 0x2222);
	start(&f, SCRIPT);
	g_assert_cmphex(rb(&f, LSI_SCRATCHA), ==, 0x77); /* INTFLY did not stop SCRIPTS */
	g_assert_cmphex(rb(&f, LSI_ISTAT) & (LSI_ISTAT_INTF | LSI_ISTAT_DIP), ==,
			LSI_ISTAT_INTF | LSI_ISTAT_DIP);
	g_assert_cmpint(irq(&f), ==, 1);
	wb(&f, LSI_ISTAT, LSI_ISTAT_INTF); /* write one to clear */
	g_assert_cmphex(rb(&f, LSI_ISTAT) & LSI_ISTAT_INTF, ==, 0);
	g_assert_cmpint(irq(&f), ==, 1); /* SIR still pending */
	assert_int(&f, 0x2222);
	g_assert_cmpint(irq(&f), ==, 0);
	/* INTFLY alone asserts the pin whatever DIEN says */
	wb(&f, LSI_DIEN, 0);
	start(&f, SCRIPT);
	g_assert_cmpint(irq(&f), ==, 1);
	wb(&f, LSI_ISTAT, LSI_ISTAT_INTF);
	g_assert_cmpint(irq(&f), ==, 0);
	assert_int(&f, 0x2222);
	fx_free(&f);
}

/* The pin follows DIEN and SIEN; DCNTL IRQD holds it off; a masked fatal interrupt still
 * sets DIP/SIP. */
static void test_irq_enables(void)
{
	struct fx f;
	fx_init(&f);
	org(&f, SCRIPT);
	emit(&f, INT, 0x1);
	start(&f, SCRIPT);
	g_assert_cmphex(rb(&f, LSI_ISTAT) & LSI_ISTAT_DIP, ==, LSI_ISTAT_DIP);
	g_assert_cmpint(irq(&f), ==, 0);
	wb(&f, LSI_DIEN, LSI_DSTAT_SIR);
	g_assert_cmpint(irq(&f), ==, 1);
	wb(&f, LSI_DCNTL, LSI_DCNTL_IRQD);
	g_assert_cmpint(irq(&f), ==, 0);
	wb(&f, LSI_DCNTL, 0);
	g_assert_cmpint(irq(&f), ==, 1);
	g_assert_cmphex(rb(&f, LSI_DSTAT), ==, LSI_DSTAT_DFE | LSI_DSTAT_SIR);
	g_assert_cmpint(irq(&f), ==, 0);
	/* SCSI: a selection time-out with SIEN1 STO off, then on */
	org(&f, SCRIPT);
	emit(&f, SELECT_ATN(6), 0);
	emit(&f, JUMP_IF(WHEN_PHASE(PH_MO)), 0);
	start(&f, SCRIPT);
	g_assert_cmphex(rb(&f, LSI_ISTAT) & LSI_ISTAT_SIP, ==, LSI_ISTAT_SIP);
	g_assert_cmpint(irq(&f), ==, 0);
	wb(&f, LSI_SIEN1, 0x04);
	g_assert_cmpint(irq(&f), ==, 1);
	g_assert_cmphex(rb(&f, LSI_SIST1), ==, 0x04);
	g_assert_cmpint(irq(&f), ==, 0);
	fx_free(&f);
}

/* Interrupts stack: one that comes while another is pending shows after that one is read. */
static void test_stacked_interrupts(void)
{
	struct fx f;
	fx_init(&f);
	wb(&f, LSI_DIEN, 0x7D);
	wb(&f, LSI_SIEN0, 0xFF);
	org(&f, SCRIPT);
	emit(&f, INT, 0x1);
	start(&f, SCRIPT);
	wb(&f, LSI_SCNTL1, LSI_SCNTL1_RST);
	wb(&f, LSI_SCNTL1, 0);
	g_assert_cmphex(rb(&f, LSI_ISTAT) & 3, ==, LSI_ISTAT_DIP);
	g_assert_cmphex(rb(&f, LSI_SIST0), ==, 0); /* behind the first level */
	g_assert_cmphex(rb(&f, LSI_DSTAT), ==, LSI_DSTAT_DFE | LSI_DSTAT_SIR);
	g_assert_cmphex(rb(&f, LSI_ISTAT) & 3, ==, LSI_ISTAT_SIP);
	g_assert_cmpint(irq(&f), ==, 1);
	g_assert_cmphex(rb(&f, LSI_SIST0), ==, 0x02);
	g_assert_cmphex(rb(&f, LSI_ISTAT) & 3, ==, 0);
	g_assert_cmpint(irq(&f), ==, 0);
	fx_free(&f);
}

/* The general purpose timer: GEN after its period; masked, it is non-fatal: no SIP. */
static void test_gen_timer(void)
{
	struct fx f;
	fx_init(&f);
	wb(&f, LSI_STIME1, 0x01); /* 125 us */
	clock_step(f.env->clock, 100000);
	wb(&f, LSI_STIME1, 0x01); /* the same value again does not restart it */
	clock_step(f.env->clock, 30000);
	g_assert_cmphex(rb(&f, LSI_ISTAT) & LSI_ISTAT_SIP, ==, 0);
	g_assert_cmphex(rb(&f, LSI_SIST1), ==, 0x02);
	g_assert_cmphex(rb(&f, LSI_SIST1), ==, 0);
	wb(&f, LSI_SIEN1, 0x02);
	wb(&f, LSI_STIME1, 0);
	wb(&f, LSI_STIME1, 0x23); /* 500 us, scaled by 16: 8 ms */
	clock_step(f.env->clock, 7900000);
	g_assert_cmpint(irq(&f), ==, 0);
	clock_step(f.env->clock, 200000);
	g_assert_cmpint(irq(&f), ==, 1);
	g_assert_cmphex(rb(&f, LSI_ISTAT) & LSI_ISTAT_SIP, ==, LSI_ISTAT_SIP);
	g_assert_cmphex(rb(&f, LSI_SIST1), ==, 0x02);
	g_assert_cmpint(irq(&f), ==, 0);
	clock_step(f.env->clock, 100000000); /* one shot */
	g_assert_cmphex(rb(&f, LSI_SIST1), ==, 0);
	fx_free(&f);
}

static void test_illegal_and_bus_fault(void)
{
	struct fx f;
	fx_init(&f);
	static const uint32_t illegal[][2] = {
		{ 0xA0080000, 0 },   /* transfer control opcode 4 */
		{ 0xE1340000, 0 },   /* LOAD of 0 bytes */
		{ 0xE1340005, 0 },   /* LOAD of 5 bytes */
		{ 0x80680000, 0 },   /* JUMP with reserved bit 22 */
		{ MOVE(PH_DI, 4), DATA }, /* a move while not connected */
		{ LOAD(LSI_SCRATCHA, 4), MMIO_BASE + LSI_TEMP }, /* load from the registers */
	};
	for (size_t i = 0; i < G_N_ELEMENTS(illegal); i++) {
		org(&f, SCRIPT);
		emit(&f, illegal[i][0], illegal[i][1]);
		emit(&f, INT, 0xBAD);
		start(&f, SCRIPT);
		g_assert_cmphex(rb(&f, LSI_DSTAT), ==, LSI_DSTAT_DFE | LSI_DSTAT_IID);
	}
	/* addresses outside RAM: a data move, a memory move, a fetch */
	clear_ua(&f, 0);
	static const uint8_t cdb[10] = { 0x28, 0, 0, 0, 0, 1, 0, 0, 1 };
	put(&f, CDB, cdb, 10);
	f.env->ram[MSGOUT] = 0x80;
	org(&f, SCRIPT);
	emit(&f, SELECT_ATN(0), 0);
	emit(&f, MOVE(PH_MO, 1), MSGOUT);
	emit(&f, MOVE(PH_CMD, 10), CDB);
	emit(&f, MOVE(PH_DI, 512), OUTSIDE_RAM);
	start(&f, SCRIPT);
	g_assert_cmphex(rb(&f, LSI_DSTAT), ==, LSI_DSTAT_DFE | LSI_DSTAT_BF);
	wb(&f, LSI_ISTAT, LSI_ISTAT_SRST); /* the driver resets after a bus fault */
	org(&f, SCRIPT);
	emit3(&f, MEMMOVE(16), SCRATCH, FAKE_RAM_SIZE - 8);
	start(&f, SCRIPT);
	g_assert_cmphex(rb(&f, LSI_DSTAT), ==, LSI_DSTAT_DFE | LSI_DSTAT_BF);
	start(&f, OUTSIDE_RAM);
	g_assert_cmphex(rb(&f, LSI_DSTAT), ==, LSI_DSTAT_DFE | LSI_DSTAT_BF);
	/* without bus mastering the chip reaches nothing but itself */
	pci_config_write(f.pci, DEVFN, PCI_COMMAND, PCI_COMMAND_IO | PCI_COMMAND_MEMORY, 2);
	start(&f, SCRIPT);
	g_assert_cmphex(rb(&f, LSI_DSTAT), ==, LSI_DSTAT_DFE | LSI_DSTAT_BF);
	fx_free(&f);
}

/* An endless SCRIPTS loop returns to the caller, goes on from the timer, and stops at ABRT. */
static void test_endless_loop(void)
{
	struct fx f;
	fx_init(&f);
	org(&f, SCRIPT);
	emit(&f, RMW(OP_ADD, LSI_SCRATCHA, 1), 0);
	emit(&f, RMW(OP_ADDC, LSI_SCRATCHA + 1, 0), 0);
	emit(&f, JUMP, SCRIPT);
	start(&f, SCRIPT);
	g_assert_cmphex(rb(&f, LSI_ISTAT1) & LSI_ISTAT1_SRUN, ==, LSI_ISTAT1_SRUN);
	uint16_t count = rl(&f, LSI_SCRATCHA);
	g_assert_cmpuint(count, >, 0);
	clock_step(f.env->clock, 1000000);
	g_assert_cmpuint((uint16_t)rl(&f, LSI_SCRATCHA), !=, count);
	wb(&f, LSI_DIEN, LSI_DSTAT_ABRT);
	wb(&f, LSI_ISTAT, LSI_ISTAT_ABRT);
	g_assert_cmpint(irq(&f), ==, 1);
	g_assert_cmphex(rb(&f, LSI_ISTAT1) & LSI_ISTAT1_SRUN, ==, 0);
	wb(&f, LSI_ISTAT, 0);
	g_assert_cmphex(rb(&f, LSI_DSTAT), ==, LSI_DSTAT_DFE | LSI_DSTAT_ABRT);
	count = rl(&f, LSI_SCRATCHA);
	clock_step(f.env->clock, 1000000);
	g_assert_cmpuint((uint16_t)rl(&f, LSI_SCRATCHA), ==, count);
	fx_free(&f);
}

/* More than a slice of data: the vCPU's access returns, the main loop finishes at once. */
static void test_data_slices(void)
{
	struct fx f;
	fx_init(&f);
	clear_ua(&f, 0);
	static const uint8_t cdb[10] = { 0x28, 0, 0, 0, 0, 0, 0, 1600 >> 8, 1600 & 0xFF };
	put(&f, CDB, cdb, 10);
	f.env->ram[MSGOUT] = 0x80;
	org(&f, SCRIPT);
	emit(&f, SELECT_ATN(0), 0);
	emit(&f, MOVE(PH_MO, 1), MSGOUT);
	emit(&f, MOVE(PH_CMD, 10), CDB);
	emit(&f, MOVE(PH_DI, 1600 * 512), DATA); /* 800 KiB */
	emit(&f, MOVE(PH_ST, 1), STATUS);
	emit(&f, MOVE(PH_MI, 1), MSGIN);
	emit3(&f, MEMMOVE(0x27000), DATA, 0xD8000);   /* 156 KiB */
	emit3(&f, MEMMOVE(0x27000), 0xD8000, 0xD8000); /* past the slice's 1 MiB */
	emit(&f, INT, 0x600D);
	start(&f, SCRIPT);
	g_assert_cmphex(rb(&f, LSI_ISTAT) & 3, ==, 0);
	g_assert_cmphex(rb(&f, LSI_ISTAT1) & LSI_ISTAT1_SRUN, ==, LSI_ISTAT1_SRUN);
	clock_step(f.env->clock, 0);
	assert_int(&f, 0x600D);
	g_assert_true(block_ok(&f, DATA + 1599 * 512, 0, 1599));
	g_assert_true(block_ok(&f, 0xD8000 + 0x26E00, 0, 0x26E00 / 512));
	fx_free(&f);
}

/* WAIT RESELECT waits for SIGP, then goes to its alternate address; CTEST2 clears SIGP. */
static void test_wait_reselect_sigp(void)
{
	struct fx f;
	fx_init(&f);
	org(&f, SCRIPT);
	emit(&f, WAIT_RESEL, SCRIPT2);
	emit(&f, INT, 0xBAD);
	org(&f, SCRIPT2);
	emit(&f, TO_SFBR(OP_OR, LSI_CTEST2, 0), 0);
	emit(&f, INT, 0x600D);
	start(&f, SCRIPT);
	g_assert_cmphex(rb(&f, LSI_ISTAT) & 3, ==, 0);
	g_assert_cmphex(rb(&f, LSI_ISTAT1) & LSI_ISTAT1_SRUN, ==, LSI_ISTAT1_SRUN);
	wb(&f, LSI_ISTAT, LSI_ISTAT_SIGP);
	assert_int(&f, 0x600D);
	g_assert_cmphex(rb(&f, LSI_SFBR) & LSI_CTEST2_SIGP, ==, LSI_CTEST2_SIGP);
	g_assert_cmphex(rb(&f, LSI_ISTAT) & LSI_ISTAT_SIGP, ==, 0);
	/* a program polling CTEST2 instead: spinning for long, it still sees SIGP at once */
	org(&f, SCRIPT);
	emit(&f, TO_SFBR(OP_OR, LSI_CTEST2, 0), 0);
	emit(&f, 0x800C0000u | 0xBF << 8 | LSI_CTEST2_SIGP, SCRIPT2); /* JUMP IF DATA 40 MASK */
	emit(&f, JUMP, SCRIPT);
	start(&f, SCRIPT);
	clock_step(f.env->clock, 1000000000); /* a second of spinning */
	g_assert_cmphex(rb(&f, LSI_ISTAT) & 3, ==, 0);
	wb(&f, LSI_ISTAT, LSI_ISTAT_SIGP);
	clock_step(f.env->clock, 0);
	assert_int(&f, 0x600D);
	fx_free(&f);
}

static void test_single_step(void)
{
	struct fx f;
	fx_init(&f);
	org(&f, SCRIPT);
	emit(&f, RMW(OP_MOV, LSI_SCRATCHA, 1), 0);
	emit(&f, RMW(OP_MOV, LSI_SCRATCHA, 2), 0);
	emit(&f, INT, 0x600D);
	wb(&f, LSI_DCNTL, LSI_DCNTL_SSM);
	start(&f, SCRIPT);
	g_assert_cmphex(rb(&f, LSI_DSTAT), ==, LSI_DSTAT_DFE | LSI_DSTAT_SSI);
	g_assert_cmphex(rb(&f, LSI_SCRATCHA), ==, 1);
	wb(&f, LSI_DCNTL, LSI_DCNTL_SSM | LSI_DCNTL_STD);
	g_assert_cmphex(rb(&f, LSI_DSTAT), ==, LSI_DSTAT_DFE | LSI_DSTAT_SSI);
	g_assert_cmphex(rb(&f, LSI_SCRATCHA), ==, 2);
	wb(&f, LSI_DCNTL, LSI_DCNTL_STD);
	assert_int(&f, 0x600D);
	fx_free(&f);
}

static void test_srst(void)
{
	struct fx f;
	fx_init(&f);
	wl(&f, LSI_DSA, 0x1234);
	wb(&f, LSI_DIEN, 0x7D);
	wb(&f, LSI_SCNTL0, 0x08);
	org(&f, SCRIPT);
	emit(&f, JUMP, SCRIPT);
	start(&f, SCRIPT);
	g_assert_cmphex(rb(&f, LSI_ISTAT1) & LSI_ISTAT1_SRUN, ==, LSI_ISTAT1_SRUN);
	wb(&f, LSI_ISTAT, LSI_ISTAT_SRST); /* as SeaBIOS: set, never cleared */
	g_assert_cmphex(rb(&f, LSI_ISTAT1) & LSI_ISTAT1_SRUN, ==, 0);
	g_assert_cmphex(rl(&f, LSI_DSA), ==, 0);
	g_assert_cmphex(rb(&f, LSI_DIEN), ==, 0);
	g_assert_cmphex(rb(&f, LSI_SCNTL0), ==, 0xC0);
	g_assert_cmphex(rb(&f, LSI_ISTAT), ==, 0);
	/* and the chip works after it */
	static const uint8_t inquiry[6] = { 0x12, 0, 0, 0, 36, 0 };
	g_assert_cmpint(seabios_cmd(&f, 0, 0, inquiry, 6, true, 36, DATA), ==, 0);
	fx_free(&f);
}

/* ---- asynchronous disks and snapshots ---- */

static struct block_dev *file_disk(char **path)
{
	char *error = NULL;
	int fd = g_file_open_tmp("lsi-XXXXXX", path, NULL);
	g_assert_cmpint(fd, >=, 0);
	g_assert_cmpint(ftruncate(fd, DISK_BLOCKS * 512ll), ==, 0);
	close(fd);
	struct block_dev *bd = block_open_format(*path, "raw", false, &error);
	g_assert_nonnull(bd);
	block_set_inline(bd, false);
	uint8_t block[512];
	for (unsigned b = 0; b < 300; b++) {
		for (unsigned i = 0; i < 512; i++)
			block[i] = (b + 1) ^ i;
		block_pwrite(bd, block, 512, b * 512ull);
	}
	return bd;
}

/* A disk whose requests wait for the main loop: SCRIPTS stall in the data phase until then. */
static void test_async_disk(void)
{
	struct fx f;
	char *path;
	struct block_dev *disk[LSI_MAX_TARGETS] = { [1] = file_disk(&path) };
	fx_init_disks(&f, disk, true);
	static const uint8_t tur[6] = { 0 };
	put(&f, CDB, tur, 6);
	f.env->ram[MSGOUT] = 0x80;
	org(&f, SCRIPT);
	emit(&f, SELECT_ATN(1), 0);
	emit(&f, MOVE(PH_MO, 1), MSGOUT);
	emit(&f, MOVE(PH_CMD, 6), CDB);
	emit(&f, MOVE(PH_ST, 1), STATUS);
	emit(&f, MOVE(PH_MI, 1), MSGIN);
	emit(&f, INT, 0x1);
	start(&f, SCRIPT);
	assert_int(&f, 0x1); /* the unit attention: no I/O */
	static const uint8_t cdb[10] = { 0x28, 0, 0, 0, 0, 10, 0, 0, 200 };
	put(&f, CDB, cdb, 10);
	org(&f, SCRIPT);
	emit(&f, SELECT_ATN(1), 0);
	emit(&f, MOVE(PH_MO, 1), MSGOUT);
	emit(&f, MOVE(PH_CMD, 10), CDB);
	emit(&f, JUMP_IF(WHEN_PHASE(PH_DI) ^ 0x00080000), 0xBAD);
	emit(&f, MOVE(PH_DI, 200 * 512), DATA);
	emit(&f, MOVE(PH_ST, 1), STATUS);
	emit(&f, MOVE(PH_MI, 1), MSGIN);
	emit(&f, INT, 0x600D);
	start(&f, SCRIPT);
	unsigned drains = 0;
	while (!(rb(&f, LSI_ISTAT) & LSI_ISTAT_DIP)) {
		g_assert_true(lsi_io_in_flight(f.d));
		g_assert_cmphex(rb(&f, LSI_ISTAT1) & LSI_ISTAT1_SRUN, ==, LSI_ISTAT1_SRUN);
		block_drain(disk[1]);
		g_assert_cmpuint(++drains, <, 10);
	}
	g_assert_cmpuint(drains, >=, 1); /* it waited for the disk */
	assert_int(&f, 0x600D);
	for (unsigned b = 0; b < 200; b++)
		g_assert_true(block_ok(&f, DATA + 512 * b, 1, 10 + b));
	fx_free(&f);
	g_unlink(path);
	g_free(path);
}

static GByteArray *save_state(struct lsi *d)
{
	GByteArray *saved = g_byte_array_new();
	pthread_mutex_lock(lsi53c895a_class.lock(d));
	state_save(lsi53c895a_class.state, d, saved);
	pthread_mutex_unlock(lsi53c895a_class.lock(d));
	return saved;
}

/* A fresh controller B with A's disks, RAM and saved state; A is gone. */
static void move_to(struct fx *a, struct fx *b, struct block_dev *const disk[LSI_MAX_TARGETS])
{
	GByteArray *saved = save_state(a->d);
	char *error = NULL;
	fx_init_disks(b, disk, false);
	g_assert_cmpint(pci_bus_attach(b->pci, SLOT, 0, lsi_pci(b->d)), ==, 0);
	memcpy(b->env->ram, a->env->ram, FAKE_RAM_SIZE);
	fx_free_keep_disks(a); /* drains: A's request lands in A, which no longer counts */
	g_assert_cmpint(state_load(lsi53c895a_class.state, b->d, saved->data, saved->len, &error),
			==, 0);
	g_assert_null(error);
	g_byte_array_free(saved, TRUE);
}

static void drain_until_int(struct fx *f, struct block_dev *bd)
{
	clock_step(f->env->clock, 0); /* a load goes on from the main loop */
	for (unsigned i = 0; !(rb(f, LSI_ISTAT) & LSI_ISTAT_DIP); i++) {
		g_assert_cmpuint(i, <, 10);
		block_drain(bd);
	}
}

/*
 * Snapshots in a data phase: one with the read of a chunk in flight (the load issues it
 * again), one with SCRIPTS halted in the middle of a chunk (the rest of the buffer is state).
 * Each loads into a fresh controller with a copy of RAM, which finishes the command: the data
 * is whole.
 */
static void test_save_load_mid_transfer(void)
{
	struct fx a, b, c;
	char *path;
	struct block_dev *disk[LSI_MAX_TARGETS] = { [1] = file_disk(&path) };
	fx_init_disks(&a, disk, true);
	static const uint8_t tur[6] = { 0 };
	static const uint8_t cdb[10] = { 0x28, 0, 0, 0, 0, 20, 0, 0, 160 }; /* 80 KiB */
	put(&a, CDB, tur, 6);
	put(&a, CDB + 16, cdb, 10);
	a.env->ram[MSGOUT] = 0x80;
	org(&a, SCRIPT);
	emit(&a, SELECT_ATN(1), 0);
	emit(&a, MOVE(PH_MO, 1), MSGOUT);
	emit(&a, MOVE(PH_CMD, 6), CDB);
	emit(&a, MOVE(PH_ST, 1), STATUS); /* the unit attention first */
	emit(&a, MOVE(PH_MI, 1), MSGIN);
	emit(&a, CLEAR(ACK), 0);
	emit(&a, SELECT_ATN(1), 0);
	emit(&a, MOVE(PH_MO, 1), MSGOUT);
	emit(&a, MOVE(PH_CMD, 10), CDB + 16);
	emit(&a, MOVE(PH_DI, 40000), DATA);
	emit(&a, INT, 0x1);
	uint32_t rest = a.pc;
	emit(&a, MOVE(PH_DI, 160 * 512 - 40000), DATA + 40000);
	emit(&a, MOVE(PH_ST, 1), STATUS);
	emit(&a, MOVE(PH_MI, 1), MSGIN);
	emit(&a, INT, 0x600D);
	start(&a, SCRIPT);
	g_assert_true(lsi_io_in_flight(a.d));
	g_assert_cmphex(rb(&a, LSI_ISTAT) & 3, ==, 0);

	move_to(&a, &b, disk);
	g_assert_true(lsi_io_in_flight(b.d));
	drain_until_int(&b, disk[1]);
	assert_int(&b, 0x1);

	move_to(&b, &c, disk);
	start(&c, rest);
	drain_until_int(&c, disk[1]);
	assert_int(&c, 0x600D);
	g_assert_cmphex(c.env->ram[STATUS], ==, 0);
	for (unsigned blk = 0; blk < 160; blk++)
		g_assert_true(block_ok(&c, DATA + 512 * blk, 1, 20 + blk));
	fx_free(&c);
	g_unlink(path);
	g_free(path);
}

/* A state a guest cannot produce is refused before anything changes. */
static void test_load_refuses(void)
{
	struct fx f;
	fx_init(&f);
	GByteArray *saved = g_byte_array_new();
	struct lsi *copy = g_memdup2(f.d, sizeof(struct lsi));
	copy->conn.state = LSI_BUS_CONNECTED;
	copy->conn.target = 1; /* no disk there */
	state_save(lsi53c895a_class.state, copy, saved);
	char *error = NULL;
	pthread_mutex_lock(lsi53c895a_class.lock(f.d));
	g_assert_cmpint(state_check(lsi53c895a_class.state, f.d, saved->data, saved->len, &error),
			==, -1);
	pthread_mutex_unlock(lsi53c895a_class.lock(f.d));
	g_assert_nonnull(strstr(error, "lsi53c895a"));
	g_free(error);
	g_free(copy);
	g_byte_array_free(saved, TRUE);
	fx_free(&f);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/lsi/pci-ids-bars", test_pci_ids);
	g_test_add_func("/lsi/inquiry", test_inquiry);
	g_test_add_func("/lsi/read-pattern", test_read_pattern);
	g_test_add_func("/lsi/write-read-back", test_write_read_back);
	g_test_add_func("/lsi/large-read-in-chunks", test_large_read);
	g_test_add_func("/lsi/selection-timeout", test_selection_timeout);
	g_test_add_func("/lsi/phase-mismatch", test_phase_mismatch);
	g_test_add_func("/lsi/messages", test_messages);
	g_test_add_func("/lsi/bus-reset", test_bus_reset);
	g_test_add_func("/lsi/table-indirect", test_table_indirect);
	g_test_add_func("/lsi/memory-move-load-store", test_memory_move_load_store);
	g_test_add_func("/lsi/register-arithmetic", test_register_arithmetic);
	g_test_add_func("/lsi/call-return", test_call_return);
	g_test_add_func("/lsi/int-intfly", test_int_and_intfly);
	g_test_add_func("/lsi/irq-enables", test_irq_enables);
	g_test_add_func("/lsi/stacked-interrupts", test_stacked_interrupts);
	g_test_add_func("/lsi/gen-timer", test_gen_timer);
	g_test_add_func("/lsi/illegal-and-bus-fault", test_illegal_and_bus_fault);
	g_test_add_func("/lsi/endless-loop", test_endless_loop);
	g_test_add_func("/lsi/data-slices", test_data_slices);
	g_test_add_func("/lsi/wait-reselect-sigp", test_wait_reselect_sigp);
	g_test_add_func("/lsi/single-step", test_single_step);
	g_test_add_func("/lsi/srst", test_srst);
	g_test_add_func("/lsi/async-disk", test_async_disk);
	g_test_add_func("/lsi/save-load-mid-transfer", test_save_load_mid_transfer);
	g_test_add_func("/lsi/load-refuses", test_load_refuses);
	return g_test_run();
}
