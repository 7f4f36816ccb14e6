/*
 * LSI53C895A: the operating registers (Technical Manual chapter 4), interrupts and their stack
 * (2.2.16), the PCI function and the device class. The SCRIPTS processor is lsi_scripts.c, the
 * SCSI bus and its targets lsi_bus.c.
 */
#include "devices/lsi53c895a.h"

#include <glib.h>
#include <stdio.h>
#include <string.h>

#include "block/block.h"
#include "clock.h"
#include "devices/lsi_internal.h"
#include "log.h"

#define LSI_CLASS_CODE 0x010000 /* mass storage, SCSI */
#define LSI_REVISION 0x00
#define LSI_STEST4_VALUE 0xE0 /* SMODE: LVD bus; LCKFRQ: the clock quadrupler is locked */

uint32_t lsi_get32(const struct lsi *d, unsigned off)
{
	const uint8_t *r = &d->regs[off];
	return r[0] | r[1] << 8 | r[2] << 16 | (uint32_t)r[3] << 24;
}

void lsi_set32(struct lsi *d, unsigned off, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		d->regs[off + i] = v >> (8 * i);
}

static bool lsi_bar_at(const struct lsi *d, int bar, uint64_t *base)
{
	const struct pci_bar *b = &d->pci.bars[bar];
	*base = b->mapped_at;
	return b->mapped;
}

bool lsi_ram_at(const struct lsi *d, uint64_t *base)
{
	return lsi_bar_at(d, 2, base);
}

bool lsi_regs_at(const struct lsi *d, uint64_t *base)
{
	return lsi_bar_at(d, 1, base);
}

/* ---- interrupts (2.2.16) ---- */

static uint16_t lsi_sist(const struct lsi *d)
{
	return d->regs[LSI_SIST0] | d->regs[LSI_SIST1] << 8;
}

static void lsi_set_sist(struct lsi *d, uint16_t v)
{
	d->regs[LSI_SIST0] = v;
	d->regs[LSI_SIST1] = v >> 8;
}

/* The first level of the stack holds an interrupt: ISTAT SIP or DIP. */
static bool lsi_irq_pending(const struct lsi *d)
{
	return d->sist_sip || (d->regs[LSI_DSTAT] & LSI_DSTAT_IRQS);
}

/*
 * INTA/: a pending interrupt whose enable bit is set (a masked fatal one sets SIP or DIP but
 * not the pin), or INTF; DCNTL IRQD holds the pin off, ISTAT1 SI keeps it from rising anew.
 */
void lsi_update_irq(struct lsi *d)
{
	uint16_t sien = d->regs[LSI_SIEN0] | d->regs[LSI_SIEN1] << 8;
	bool level = (d->regs[LSI_DSTAT] & d->regs[LSI_DIEN] & LSI_DSTAT_IRQS) ||
		     (d->sist_sip & sien) || (d->regs[LSI_ISTAT] & LSI_ISTAT_INTF);
	if (d->regs[LSI_DCNTL] & LSI_DCNTL_IRQD)
		level = false;
	if ((d->regs[LSI_ISTAT1] & LSI_ISTAT1_SI) && !d->irq_out)
		level = false;
	d->irq_out = level;
	pci_function_set_irq(&d->pci, level);
}

/* The first level emptied: what was stacked behind it moves in (2.2.16.5). */
static void lsi_irq_unstack(struct lsi *d)
{
	if (lsi_irq_pending(d) || !(d->stk_dstat || d->stk_sist))
		return;
	d->regs[LSI_DSTAT] |= d->stk_dstat;
	lsi_set_sist(d, lsi_sist(d) | d->stk_sist);
	d->sist_sip |= d->stk_sist_sip;
	d->stk_dstat = 0;
	d->stk_sist = d->stk_sist_sip = 0;
}

void lsi_dma_irq(struct lsi *d, uint8_t dstat)
{
	if (lsi_irq_pending(d))
		d->stk_dstat |= dstat;
	else
		d->regs[LSI_DSTAT] |= dstat;
	lsi_scripts_halt(d);
	lsi_update_irq(d);
}

/* A masked non-fatal interrupt only sets its bit: no SIP, no stacking, SCRIPTS go on. */
void lsi_scsi_irq(struct lsi *d, uint16_t sist)
{
	uint16_t sien = d->regs[LSI_SIEN0] | d->regs[LSI_SIEN1] << 8;
	uint16_t sip = sist & (~LSI_SIST_NONFATAL | sien);
	if (sip && lsi_irq_pending(d)) {
		d->stk_sist |= sist;
		d->stk_sist_sip |= sip;
	} else {
		lsi_set_sist(d, lsi_sist(d) | sist);
		d->sist_sip |= sip;
	}
	if (sip)
		lsi_scripts_halt(d);
	lsi_update_irq(d);
}

/* ---- reset ---- */

static const struct {
	uint8_t off, value;
} lsi_power_on[] = {
	{ LSI_SCNTL0, 0xC0 }, /* full arbitration and selection */
	{ LSI_GPCNTL, 0x0F }, /* GPIO0-3 inputs */
	{ LSI_STEST0, 0x02 }, /* SOZ: synchronous offset zero */
	{ LSI_CTEST1, 0xF0 }, /* FMT: every byte lane of the DMA FIFO empty */
};

/* Every register to its power-on value, SCRIPTS stopped, the bus let go: ISTAT SRST and a
 * machine reset alike (SRST does not reset the SCSI bus). */
static void lsi_chip_reset(struct lsi *d)
{
	memset(d->regs, 0, sizeof(d->regs));
	for (size_t i = 0; i < G_N_ELEMENTS(lsi_power_on); i++)
		d->regs[lsi_power_on[i].off] = lsi_power_on[i].value;
	d->sist_sip = d->stk_sist = d->stk_sist_sip = 0;
	d->stk_dstat = 0;
	lsi_scripts_halt(d);
	d->carry = d->sel_timeout = false;
	d->atn = d->ack = false;
	lsi_gen_stop(d);
	lsi_bus_abandon(d);
	lsi_update_irq(d);
}

/* ---- the register file (chapter 4) ---- */

typedef uint8_t (*lsi_read_fn)(struct lsi *d, unsigned off);
typedef void (*lsi_write_fn)(struct lsi *d, unsigned off, uint8_t val);

static uint8_t lsi_scntl1_read(struct lsi *d, unsigned off)
{
	return d->regs[off] | (lsi_bus_connected(d) ? LSI_SCNTL1_CON : 0);
}

/* RST asserts SCSI RST/ for as long as it is set; the chip sees its own reset (SIST0 RST). */
static void lsi_scntl1_write(struct lsi *d, unsigned off, uint8_t val)
{
	bool rise = (val & LSI_SCNTL1_RST) && !(d->regs[off] & LSI_SCNTL1_RST);
	d->regs[off] = val & ~LSI_SCNTL1_CON;
	if (rise) {
		lsi_bus_reset(d);
		lsi_scsi_irq(d, LSI_SIST_RST);
	}
}

static uint8_t lsi_gpreg_read(struct lsi *d, unsigned off)
{
	uint8_t in = d->regs[LSI_GPCNTL] & 0x1F; /* inputs read high: nothing drives them */
	return (d->regs[off] & ~in & 0x1F) | in;
}

static uint8_t lsi_socl_read(struct lsi *d, unsigned off)
{
	return (d->regs[off] & ~LSI_SOCL_ATN) | (d->atn ? LSI_SOCL_ATN : 0);
}

/* Drivers raise ATN here to send a message after an error (Linux's sym_int_par). */
static void lsi_socl_write(struct lsi *d, unsigned off, uint8_t val)
{
	d->regs[off] = val & ~LSI_SOCL_ATN;
	lsi_bus_set_atn(d, val & LSI_SOCL_ATN);
}

static uint8_t lsi_sbcl_read(struct lsi *d, unsigned off)
{
	(void)off;
	if (!lsi_bus_connected(d))
		return d->atn ? LSI_SBCL_ATN : 0;
	return LSI_SBCL_BSY | d->conn.phase | (lsi_bus_ready(d) ? LSI_SBCL_REQ : 0) |
	       (d->atn ? LSI_SBCL_ATN : 0) | (d->ack ? LSI_SBCL_ACK : 0);
}

/* Reading DSTAT, SIST0 or SIST1 clears what it returns (DFE is status only). */
static uint8_t lsi_dstat_read(struct lsi *d, unsigned off)
{
	uint8_t v = d->regs[off] | LSI_DSTAT_DFE;
	d->regs[off] = 0;
	lsi_irq_unstack(d);
	lsi_update_irq(d);
	return v;
}

static uint8_t lsi_sist_read(struct lsi *d, unsigned off)
{
	uint8_t v = d->regs[off];
	d->regs[off] = 0;
	d->sist_sip &= off == LSI_SIST0 ? 0xFF00 : 0x00FF;
	lsi_irq_unstack(d);
	lsi_update_irq(d);
	return v;
}

static uint8_t lsi_sstat0_read(struct lsi *d, unsigned off)
{
	return d->regs[off] | (d->regs[LSI_SCNTL1] & LSI_SCNTL1_RST ? LSI_SSTAT0_RST : 0);
}

static uint8_t lsi_sstat1_read(struct lsi *d, unsigned off)
{
	(void)off;
	return lsi_bus_connected(d) ? d->conn.phase : 0; /* the FIFOs are empty */
}

static uint8_t lsi_sstat2_read(struct lsi *d, unsigned off)
{
	(void)off;
	return lsi_bus_connected(d) ? 0 : LSI_SSTAT2_LDSC;
}

static uint8_t lsi_istat_read(struct lsi *d, unsigned off)
{
	uint8_t v = d->regs[off];
	if (lsi_bus_connected(d))
		v |= LSI_ISTAT_CON;
	if (d->sist_sip)
		v |= LSI_ISTAT_SIP;
	if (d->regs[LSI_DSTAT] & LSI_DSTAT_IRQS)
		v |= LSI_ISTAT_DIP;
	return v;
}

/*
 * ABRT aborts what the chip does with an ABRT interrupt, running or not, and stays set until
 * written 0; SIGP wakes WAIT RESELECT; INTF is written one to clear. SRST is taken as a pulse:
 * SeaBIOS sets it and never clears it.
 */
static void lsi_istat_write(struct lsi *d, unsigned off, uint8_t val)
{
	uint8_t old = d->regs[off];
	if (val & LSI_ISTAT_SRST) {
		lsi_chip_reset(d);
		return;
	}
	d->regs[off] = (old & LSI_ISTAT_INTF & ~val) |
		       (val & (LSI_ISTAT_ABRT | LSI_ISTAT_SIGP | LSI_ISTAT_SEM));
	if ((val & LSI_ISTAT_ABRT) && !(old & LSI_ISTAT_ABRT))
		lsi_dma_irq(d, LSI_DSTAT_ABRT);
	if (val & LSI_ISTAT_SIGP)
		lsi_scripts_kick(d);
	lsi_update_irq(d);
}

static uint8_t lsi_istat1_read(struct lsi *d, unsigned off)
{
	return (d->regs[off] & LSI_ISTAT1_SI) | (d->running ? LSI_ISTAT1_SRUN : 0);
}

static uint8_t lsi_ctest2_read(struct lsi *d, unsigned off)
{
	uint16_t cmd = pci_config_get16(&d->pci, PCI_COMMAND);
	uint8_t v = LSI_CTEST2_DACK | (d->regs[off] & LSI_CTEST2_SRTCH);
	if (cmd & PCI_COMMAND_IO)
		v |= LSI_CTEST2_CIO;
	if (cmd & PCI_COMMAND_MEMORY)
		v |= LSI_CTEST2_CM;
	if (d->regs[LSI_ISTAT] & LSI_ISTAT_SIGP) { /* reading CTEST2 clears SIGP */
		d->regs[LSI_ISTAT] &= ~LSI_ISTAT_SIGP;
		v |= LSI_CTEST2_SIGP;
	}
	return v;
}

/* With CTEST2 SRTCH set SCRATCHB reads the SCRIPTS RAM base (2.2.2). */
static uint8_t lsi_scratchb_read(struct lsi *d, unsigned off)
{
	uint64_t base = 0;
	if (!(d->regs[LSI_CTEST2] & LSI_CTEST2_SRTCH))
		return d->regs[off];
	lsi_ram_at(d, &base);
	return (uint32_t)base >> (8 * (off - LSI_SCRATCHB));
}

static uint8_t lsi_stest4_read(struct lsi *d, unsigned off)
{
	(void)d;
	(void)off;
	return LSI_STEST4_VALUE;
}

/* DSP's top byte completes the address: SCRIPTS start there unless DMODE MAN says wait. */
static void lsi_dsp_write(struct lsi *d, unsigned off, uint8_t val)
{
	d->regs[off] = val;
	if (!(d->regs[LSI_DMODE] & LSI_DMODE_MAN))
		lsi_scripts_start(d);
}

/* STD starts SCRIPTS (manual start, single step); PFF flushes the prefetch (none here). */
static void lsi_dcntl_write(struct lsi *d, unsigned off, uint8_t val)
{
	d->regs[off] = val & ~(LSI_DCNTL_STD | 0x40);
	lsi_update_irq(d);
	if (val & LSI_DCNTL_STD)
		lsi_scripts_start(d);
}

static void lsi_irq_reg_write(struct lsi *d, unsigned off, uint8_t val)
{
	d->regs[off] = val;
	lsi_update_irq(d);
}

static uint8_t lsi_zero_read(struct lsi *d, unsigned off)
{
	(void)d;
	(void)off;
	return 0;
}

static void lsi_ignore_write(struct lsi *d, unsigned off, uint8_t val)
{
	(void)d;
	(void)off;
	(void)val;
}

enum lsi_reg_kind {
	RK_RES, /* reserved: reads 0, writes ignored */
	RK_RW,  /* stored: the write mask's bits */
	RK_RO,  /* stored by the chip: writes ignored */
	RK_SCNTL1,
	RK_GPREG,
	RK_SOCL,
	RK_SBCL,
	RK_DSTAT,
	RK_SSTAT0,
	RK_SSTAT1,
	RK_SSTAT2,
	RK_ISTAT,
	RK_ISTAT1,
	RK_CTEST2,
	RK_DSP3,
	RK_DCNTL,
	RK_IRQ_REG, /* DIEN, SIEN0/1: the pin follows */
	RK_SIST,
	RK_STEST4,
	RK_SCRATCHB,
	RK_STIME1,
};

static const struct {
	lsi_read_fn read;   /* NULL: the stored byte */
	lsi_write_fn write; /* NULL: store the write mask's bits */
} lsi_kinds[] = {
	[RK_RES] = { lsi_zero_read, lsi_ignore_write },
	[RK_RW] = { NULL, NULL },
	[RK_RO] = { NULL, lsi_ignore_write },
	[RK_SCNTL1] = { lsi_scntl1_read, lsi_scntl1_write },
	[RK_GPREG] = { lsi_gpreg_read, NULL },
	[RK_SOCL] = { lsi_socl_read, lsi_socl_write },
	[RK_SBCL] = { lsi_sbcl_read, lsi_ignore_write },
	[RK_DSTAT] = { lsi_dstat_read, lsi_ignore_write },
	[RK_SSTAT0] = { lsi_sstat0_read, lsi_ignore_write },
	[RK_SSTAT1] = { lsi_sstat1_read, lsi_ignore_write },
	[RK_SSTAT2] = { lsi_sstat2_read, lsi_ignore_write },
	[RK_ISTAT] = { lsi_istat_read, lsi_istat_write },
	[RK_ISTAT1] = { lsi_istat1_read, lsi_irq_reg_write },
	[RK_CTEST2] = { lsi_ctest2_read, NULL },
	[RK_DSP3] = { NULL, lsi_dsp_write },
	[RK_DCNTL] = { NULL, lsi_dcntl_write },
	[RK_IRQ_REG] = { NULL, lsi_irq_reg_write },
	[RK_SIST] = { lsi_sist_read, lsi_ignore_write },
	[RK_STEST4] = { lsi_stest4_read, lsi_ignore_write },
	[RK_SCRATCHB] = { lsi_scratchb_read, NULL },
	[RK_STIME1] = { NULL, lsi_stime1_write },
};

/* Each offset's kind and write mask (unlisted offsets are reserved). */
static const struct {
	uint8_t kind, wmask;
} lsi_regs[LSI_REGS_SIZE] = {
	[LSI_SCNTL0] = { RK_RW, 0xFB },
	[LSI_SCNTL1] = { RK_SCNTL1, 0 },
	[LSI_SCNTL2] = { RK_RW, 0xF6 }, /* WSS, WSR: wide residue status, never set here */
	[LSI_SCNTL3] = { RK_RW, 0xFF },
	[LSI_SCID] = { RK_RW, 0x6F },
	[LSI_SXFER] = { RK_RW, 0xFF },
	[LSI_SDID] = { RK_RW, 0x0F },
	[LSI_GPREG] = { RK_GPREG, 0x1F },
	[LSI_SFBR] = { RK_RW, 0xFF },
	[LSI_SOCL] = { RK_SOCL, 0 },
	[LSI_SSID] = { RK_RO, 0 },
	[LSI_SBCL] = { RK_SBCL, 0 },
	[LSI_DSTAT] = { RK_DSTAT, 0 },
	[LSI_SSTAT0] = { RK_SSTAT0, 0 },
	[LSI_SSTAT1] = { RK_SSTAT1, 0 },
	[LSI_SSTAT2] = { RK_SSTAT2, 0 },
	[LSI_DSA ... LSI_DSA + 3] = { RK_RW, 0xFF },
	[LSI_ISTAT] = { RK_ISTAT, 0 },
	[LSI_ISTAT1] = { RK_ISTAT1, 0 },
	[LSI_MBOX0] = { RK_RW, 0xFF },
	[LSI_MBOX1] = { RK_RW, 0xFF },
	[LSI_CTEST0] = { RK_RW, 0xFF },
	[LSI_CTEST1] = { RK_RO, 0 },
	[LSI_CTEST2] = { RK_CTEST2, LSI_CTEST2_SRTCH },
	[LSI_CTEST3] = { RK_RW, 0x03 }, /* FM, WRIE; FLF and CLF act at once; revision 0 */
	[LSI_TEMP ... LSI_TEMP + 3] = { RK_RW, 0xFF },
	[LSI_DFIFO] = { RK_RW, 0xFF },
	[LSI_CTEST4] = { RK_RW, 0xFF },
	[LSI_CTEST5] = { RK_RW, 0xFC }, /* BO9, BO8: the byte offset counter's top */
	[LSI_DBC ... LSI_DCMD] = { RK_RW, 0xFF },
	[LSI_DNAD ... LSI_DNAD + 3] = { RK_RW, 0xFF },
	[LSI_DSP ... LSI_DSP + 2] = { RK_RW, 0xFF },
	[LSI_DSP + 3] = { RK_DSP3, 0xFF },
	[LSI_DSPS ... LSI_DSPS + 3] = { RK_RW, 0xFF },
	[LSI_SCRATCHA ... LSI_SCRATCHA + 3] = { RK_RW, 0xFF },
	[LSI_DMODE] = { RK_RW, 0xFF },
	[LSI_DIEN] = { RK_IRQ_REG, LSI_DSTAT_IRQS },
	[LSI_SBR] = { RK_RW, 0xFF },
	[LSI_DCNTL] = { RK_DCNTL, 0 },
	[LSI_ADDER ... LSI_ADDER + 3] = { RK_RO, 0 },
	[LSI_SIEN0] = { RK_IRQ_REG, 0xFF },
	[LSI_SIEN1] = { RK_IRQ_REG, LSI_SIST_BITS >> 8 },
	[LSI_SIST0] = { RK_SIST, 0 },
	[LSI_SIST1] = { RK_SIST, 0 },
	[LSI_SLPAR] = { RK_RW, 0xFF },
	[LSI_SWIDE] = { RK_RO, 0 },
	[LSI_MACNTL] = { RK_RW, 0x0F },
	[LSI_GPCNTL] = { RK_RW, 0xFF },
	[LSI_STIME0] = { RK_RW, 0xFF },
	[LSI_STIME1] = { RK_STIME1, 0x7F },
	[LSI_RESPID0] = { RK_RW, 0xFF },
	[LSI_RESPID1] = { RK_RW, 0xFF },
	[LSI_STEST0] = { RK_RO, 0 },
	[LSI_STEST1] = { RK_RW, 0xCC },
	[LSI_STEST2] = { RK_RW, 0xBF }, /* ROF acts at once */
	[LSI_STEST3] = { RK_RW, 0xFD }, /* CSF acts at once */
	[LSI_SIDL ... LSI_SIDL + 1] = { RK_RO, 0 },
	[LSI_STEST4] = { RK_STEST4, 0 },
	[LSI_SODL ... LSI_SODL + 1] = { RK_RW, 0xFF },
	[LSI_CCNTL0] = { RK_RW, 0xFF },
	[LSI_CCNTL1] = { RK_RW, 0xFF },
	[LSI_SBDL ... LSI_SBDL + 1] = { RK_RO, 0 },
	[LSI_SCRATCHB ... LSI_SCRATCHB + 3] = { RK_SCRATCHB, 0xFF },
	[LSI_SCRATCHC ... LSI_MMRS - 1] = { RK_RW, 0xFF },
	[LSI_MMRS ... LSI_DNAD64 + 3] = { RK_RW, 0xFF },
	[LSI_PMJAD1 ... LSI_PMJAD1 + 7] = { RK_RW, 0xFF },
	[LSI_PMJAD1 + 8 ... LSI_CSBC - 1] = { RK_RO, 0 }, /* RBC, UA, ESA, IA, SBC */
	[LSI_CSBC ... LSI_CSBC + 3] = { RK_RW, 0xFF },
};

uint8_t lsi_reg_read(struct lsi *d, unsigned off)
{
	off &= LSI_REGS_SIZE - 1;
	lsi_read_fn read = lsi_kinds[lsi_regs[off].kind].read;
	return read ? read(d, off) : d->regs[off];
}

void lsi_reg_write(struct lsi *d, unsigned off, uint8_t val)
{
	off &= LSI_REGS_SIZE - 1;
	unsigned kind = lsi_regs[off].kind;
	uint8_t mask = lsi_regs[off].wmask;
	if (lsi_kinds[kind].write)
		lsi_kinds[kind].write(d, off, val);
	else
		d->regs[off] = (d->regs[off] & ~mask) | (val & mask);
}

/* A slice cut short with no clock to continue it goes on at the guest's next access. */
static void lsi_catch_up(struct lsi *d)
{
	if (!d->clock && d->running && d->wait == LSI_WAIT_LATER) {
		d->wait = LSI_WAIT_NONE;
		lsi_scripts_run(d);
	}
}

/* BAR0 and BAR1: the bus holds the lock; bytes in ascending order, as a wider access is. */
static uint64_t lsi_reg_bar_read(void *opaque, uint64_t off, unsigned size)
{
	struct lsi *d = opaque;
	uint64_t v = 0;
	lsi_catch_up(d);
	for (unsigned i = 0; i < size && off + i < LSI_REGS_SIZE; i++)
		v |= (uint64_t)lsi_reg_read(d, off + i) << (8 * i);
	return v;
}

static void lsi_reg_bar_write(void *opaque, uint64_t off, uint64_t data, unsigned size)
{
	struct lsi *d = opaque;
	for (unsigned i = 0; i < size && off + i < LSI_REGS_SIZE; i++)
		lsi_reg_write(d, off + i, data >> (8 * i));
	lsi_catch_up(d);
}

const struct bus_ops lsi_reg_ops = {
	.read = lsi_reg_bar_read,
	.write = lsi_reg_bar_write,
	.min_size = 1,
	.max_size = 4,
};

static uint64_t lsi_ram_bar_read(void *opaque, uint64_t off, unsigned size)
{
	struct lsi *d = opaque;
	uint64_t v = 0;
	for (unsigned i = 0; i < size && off + i < LSI_RAM_SIZE; i++)
		v |= (uint64_t)d->ram[off + i] << (8 * i);
	return v;
}

static void lsi_ram_bar_write(void *opaque, uint64_t off, uint64_t data, unsigned size)
{
	struct lsi *d = opaque;
	for (unsigned i = 0; i < size && off + i < LSI_RAM_SIZE; i++)
		d->ram[off + i] = data >> (8 * i);
}

const struct bus_ops lsi_ram_ops = {
	.read = lsi_ram_bar_read,
	.write = lsi_ram_bar_write,
	.min_size = 1,
	.max_size = 4,
};

/* ---- PCI function ---- */

static void lsi_pci_init(struct lsi *d)
{
	struct pci_function *f = &d->pci;
	pci_function_init(f, "lsi53c895a", LSI_VENDOR, LSI_DEVICE, LSI_CLASS_CODE, LSI_REVISION,
			  0x00);
	pci_function_set_bar(f, 0, LSI_IO_SIZE, true, &lsi_reg_ops, d);
	pci_function_set_bar(f, 1, LSI_MMIO_SIZE, false, &lsi_reg_ops, d);
	pci_function_set_bar(f, 2, LSI_RAM_SIZE, false, &lsi_ram_ops, d);
	pci_config_set16(f, PCI_SUBSYS_VENDOR, LSI_SUBSYS_VENDOR);
	pci_config_set16(f, PCI_SUBSYS_ID, LSI_SUBSYS_ID);
	f->config[PCI_INTERRUPT_PIN] = 1;
	f->config[0x3E] = 0x11; /* Min_Gnt */
	f->config[0x3F] = 0x40; /* Max_Lat */
	f->lock = &d->lock;
	f->opaque = d;
	memcpy(d->power_on_config, f->config, sizeof(d->power_on_config));
}

struct pci_function *lsi_pci(struct lsi *d)
{
	return &d->pci;
}

bool lsi_io_in_flight(struct lsi *d)
{
	pthread_mutex_lock(&d->lock);
	bool busy = d->conn.io != LSI_IO_NONE;
	pthread_mutex_unlock(&d->lock);
	return busy;
}

/* ---- device class ---- */

static void lsi_io_timer(void *opaque)
{
	struct lsi *d = opaque;
	pthread_mutex_lock(&d->lock);
	lsi_bus_reissue(d);
	pthread_mutex_unlock(&d->lock);
}

static void *lsi_create(const struct dev_ctx *ctx)
{
	struct lsi *d = g_new0(struct lsi, 1);
	pthread_mutexattr_t attr;
	pthread_mutexattr_init(&attr);
	pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
	pthread_mutex_init(&d->lock, &attr);
	pthread_mutexattr_destroy(&attr);
	d->mem = ctx->mem;
	d->clock = ctx->clock;
	for (unsigned i = 0; i < LSI_MAX_TARGETS && i < DEV_MAX_DISKS; i++) {
		d->bd[i] = ctx->disks[i];
		snprintf(d->serial[i], sizeof(d->serial[i]), "PCVM-SCSI-%u", i);
	}
	if (d->clock) {
		d->run_timer = timer_new(d->clock, lsi_scripts_timer, d);
		d->io_timer = timer_new(d->clock, lsi_io_timer, d);
		d->gen_timer = timer_new(d->clock, lsi_gen_expired, d);
	}
	lsi_pci_init(d);
	for (unsigned i = 0; i < LSI_MAX_TARGETS; i++)
		scsi_disk_reset(&d->disk[i]);
	lsi_chip_reset(d);
	return d;
}

static void lsi_destroy(void *opaque)
{
	struct lsi *d = opaque;
	for (unsigned i = 0; i < LSI_MAX_TARGETS; i++)
		if (d->bd[i])
			block_drain(d->bd[i]); /* completions still take the lock */
	timer_free(d->run_timer);
	timer_free(d->io_timer);
	timer_free(d->gen_timer);
	pci_function_release(&d->pci);
	pthread_mutex_destroy(&d->lock);
	g_free(d);
}

static void lsi_reset(void *opaque)
{
	struct lsi *d = opaque;
	pthread_mutex_lock(&d->lock);
	pci_function_reset(&d->pci, d->power_on_config);
	memset(d->ram, 0, sizeof(d->ram));
	for (unsigned i = 0; i < LSI_MAX_TARGETS; i++)
		scsi_disk_reset(&d->disk[i]);
	lsi_chip_reset(d);
	pthread_mutex_unlock(&d->lock);
}

static pthread_mutex_t *lsi_lock(void *opaque)
{
	return &((struct lsi *)opaque)->lock;
}

static const char *lsi_check(const struct lsi *d)
{
	const struct pci_function *f = &d->pci;
	for (unsigned i = 0; i < sizeof(f->config); i++)
		if ((f->config[i] ^ d->power_on_config[i]) & ~(f->wmask[i] | f->w1cmask[i]))
			return "a read-only configuration byte differs";
	if (d->wait >= LSI_WAIT_COUNT || (!d->running && (d->wait || d->in_move)))
		return "SCRIPTS processor state out of range";
	if (d->gen_running && !(d->regs[LSI_STIME1] & LSI_STIME1_GEN))
		return "general purpose timer running while disabled";
	if ((d->regs[LSI_DSTAT] | d->stk_dstat) & ~LSI_DSTAT_IRQS)
		return "reserved DSTAT bit set";
	uint16_t sist = d->regs[LSI_SIST0] | d->regs[LSI_SIST1] << 8;
	if (((sist | d->stk_sist) & ~LSI_SIST_BITS) || (d->sist_sip & ~sist) ||
	    (d->stk_sist_sip & ~d->stk_sist))
		return "interrupt status out of range";
	for (unsigned i = 0; i < LSI_MAX_TARGETS; i++)
		if (scsi_disk_state_check(&d->disk[i]))
			return "bad disk sense state";
	return lsi_bus_check(d);
}

/* The state_desc check hook: pure, as state_check runs it on a scratch copy. */
static int lsi_state_check(const void *obj, char **error)
{
	const char *bad = lsi_check(obj);
	if (bad)
		*error = g_strdup_printf("lsi53c895a: %s", bad);
	return bad ? -1 : 0;
}

/*
 * Rebuilds what is not saved: BAR mappings, the pin. A block request the saved state had in
 * flight is issued again and a running processor goes on, both from the main loop, so that
 * the state right after a load is the one saved.
 */
static int lsi_post_load(void *obj, char **error)
{
	struct lsi *d = obj;
	if (lsi_state_check(d, error) < 0) {
		lsi_reset(d);
		return -1;
	}
	pthread_mutex_lock(&d->lock);
	pci_function_remap(&d->pci);
	d->io_gen++;
	d->irq_out = false;
	if (d->clock) {
		timer_del(d->run_timer);
		timer_del(d->io_timer);
		timer_del(d->gen_timer);
		uint64_t now = clock_ns(d->clock);
		if (d->conn.io != LSI_IO_NONE)
			timer_mod(d->io_timer, now);
		if (d->running)
			timer_mod(d->run_timer, now);
		if (d->gen_running) /* it counts its whole period again */
			lsi_gen_start(d);
	}
	lsi_update_irq(d);
	pthread_mutex_unlock(&d->lock);
	return 0;
}

#define LSI_DISK_FIELDS(i) SCSI_DISK_STATE_FIELDS(struct lsi, disk[i])

static const struct state_field lsi_fields[] = {
	STATE_U8_ARRAY(struct lsi, pci.config),
	STATE_U8_ARRAY(struct lsi, regs),
	STATE_U8_ARRAY(struct lsi, ram),
	STATE_U16(struct lsi, sist_sip),
	STATE_U8(struct lsi, stk_dstat),
	STATE_U16(struct lsi, stk_sist),
	STATE_U16(struct lsi, stk_sist_sip),
	STATE_BOOL(struct lsi, running),
	STATE_U8(struct lsi, wait),
	STATE_BOOL(struct lsi, in_move),
	STATE_BOOL(struct lsi, move_first),
	STATE_BOOL(struct lsi, carry),
	STATE_BOOL(struct lsi, sel_timeout),
	STATE_BOOL(struct lsi, atn),
	STATE_BOOL(struct lsi, ack),
	STATE_BOOL(struct lsi, gen_running),
	STATE_U8(struct lsi, conn.state),
	STATE_U8(struct lsi, conn.target),
	STATE_U8(struct lsi, conn.lun),
	STATE_U8(struct lsi, conn.phase),
	STATE_U8(struct lsi, conn.resume),
	STATE_BOOL(struct lsi, conn.have_cmd),
	STATE_U8(struct lsi, conn.status),
	STATE_U8_ARRAY(struct lsi, conn.msg_out),
	STATE_U8(struct lsi, conn.msg_out_len),
	STATE_U8_ARRAY(struct lsi, conn.msg_in),
	STATE_U8(struct lsi, conn.msg_in_len),
	STATE_U8(struct lsi, conn.msg_in_pos),
	STATE_U8_ARRAY(struct lsi, conn.cdb),
	STATE_U8(struct lsi, conn.cdb_len),
	STATE_U8(struct lsi, conn.xfer),
	STATE_U8(struct lsi, conn.io),
	STATE_U64(struct lsi, conn.lba),
	STATE_U32(struct lsi, conn.blocks),
	STATE_U32(struct lsi, conn.param_left),
	STATE_U32(struct lsi, conn.buf_len),
	STATE_U32(struct lsi, conn.buf_pos),
	STATE_U8_ARRAY(struct lsi, conn.buf),
	LSI_DISK_FIELDS(0),
	LSI_DISK_FIELDS(1),
	LSI_DISK_FIELDS(2),
	LSI_DISK_FIELDS(3),
	LSI_DISK_FIELDS(4),
	LSI_DISK_FIELDS(5),
	LSI_DISK_FIELDS(6),
};

static const struct state_desc lsi_state =
	STATE_DESC("lsi53c895a", 1, struct lsi, lsi_fields, .post_load = lsi_post_load,
		   .check = lsi_state_check);

const struct device_class lsi53c895a_class = {
	.name = "lsi53c895a",
	.state = &lsi_state,
	.create = lsi_create,
	.destroy = lsi_destroy,
	.reset = lsi_reset,
	.lock = lsi_lock,
};
