/*
 * PIIX3 IDE function, after the Intel 82371SB (PIIX3) datasheet: the PCI configuration
 * registers of function 1 and the bus-master IDE engine ("Bus Master IDE Registers" and the
 * physical region descriptor table, and SFF-8038i r1.0 for the status bit combinations).
 * Legacy mode only (prog-if 80h): the channels sit at the ISA addresses the machine maps,
 * IRQ 14/15, and the PCI function adds the timing registers and the bus-master register file.
 */
#include "devices/piix_ide.h"

#include <glib.h>
#include <string.h>

#include "log.h"

#define PIIX_IDE_VENDOR 0x8086
#define PIIX_IDE_DEVICE 0x7010
#define PIIX_IDE_CLASS 0x010180 /* mass storage, IDE, prog-if 80h: legacy, bus-master capable */
#define PIIX_IDETIM 0x40        /* IDETIM: 40-41h primary, 42-43h secondary */
#define PIIX_SIDETIM 0x44       /* SIDETIM: slave timing */
#define PIIX_BM_BAR 4
#define PIIX_BM_SIZE 16

/* BMICX, BMISX, BMIDTPX register bits */
#define BM_CMD_START 0x01
#define BM_CMD_TO_MEM 0x08   /* read/write control: 1 = the engine writes memory (a read) */
#define BM_CMD_BITS 0x09     /* start/stop (0), read/write control (3); the rest reads 0 */
#define BM_ST_ACTIVE 0x01    /* read-only: set by start, cleared by stop or the end of the table */
#define BM_ST_ERROR 0x02     /* write 1 to clear */
#define BM_ST_IRQ 0x04       /* write 1 to clear */
#define BM_ST_CAPABLE 0x60   /* drive 0/1 DMA capable: plain read/write, for the BIOS */
#define BM_ST_BITS (BM_ST_ACTIVE | BM_ST_ERROR | BM_ST_IRQ | BM_ST_CAPABLE)
/* Physical region descriptor: byte count in bits 15:1 (0 = 64 KiB), end of table in bit 31 */
#define PRD_COUNT_MASK 0xFFFEu
#define PRD_EOT 0x80000000u
#define PRD_MAX_REGION 0x10000u

/* ---- the bus-master engine: descriptor table walk ---- */

static uint8_t *piix_bm_regs(const struct piix_bm *bm)
{
	return &bm->dev->bmdma[8 * bm->ch];
}

static uint32_t piix_bm_table(const struct piix_bm *bm)
{
	const uint8_t *r = piix_bm_regs(bm) + PIIX_BM_PRD;
	return r[0] | r[1] << 8 | r[2] << 16 | (uint32_t)r[3] << 24;
}

/* Back to the first descriptor of the table. */
static void piix_bm_rewind(struct piix_bm *bm)
{
	bm->cur = (struct piix_bm_cursor){ .valid = true, .next = piix_bm_table(bm) };
}

/* Loads the next descriptor: base address (bit 0 reserved), byte count, EOT. The table must
 * not cross a 64 KiB boundary (82371SB, BMIDTPX); a guest's table that runs off its 64 KiB, or
 * out of RAM, is a bus error rather than a walk through all of memory. */
static bool piix_bm_load(struct piix_bm *bm)
{
	struct piix_bm_cursor *c = &bm->cur;
	uint32_t prd[2];
	if (((c->next + 7) ^ piix_bm_table(bm)) & ~0xFFFFu)
		return false;
	if (!bm->dev->mem || guest_mem_read(bm->dev->mem, c->next, prd, sizeof(prd)) < 0)
		return false;
	uint32_t base = GUINT32_FROM_LE(prd[0]), count = GUINT32_FROM_LE(prd[1]);
	c->addr = base & ~1u;
	c->left = count & PRD_COUNT_MASK ? count & PRD_COUNT_MASK : PRD_MAX_REGION;
	c->last = count & PRD_EOT;
	c->next += 8;
	return true;
}

static bool piix_bm_copy(struct piix_bm *bm, uint32_t addr, uint8_t *buf, uint32_t n, bool to_mem)
{
	if (to_mem)
		return guest_mem_write(bm->dev->mem, addr, buf, n) == 0;
	return guest_mem_read(bm->dev->mem, addr, buf, n) == 0;
}

/* Moves the cursor over LEN bytes, copying them between BUF and memory when BUF is set. */
static enum ide_dma_result piix_bm_walk(struct piix_bm *bm, uint8_t *buf, uint32_t len,
					bool to_mem)
{
	struct piix_bm_cursor *c = &bm->cur;
	for (uint32_t moved = 0; moved < len;) {
		if (!c->left) {
			if (c->last)
				return IDE_DMA_SHORT; /* the table ended first */
			if (!piix_bm_load(bm))
				return IDE_DMA_FAULT;
			continue;
		}
		uint32_t n = c->left < len - moved ? c->left : len - moved;
		if (buf && !piix_bm_copy(bm, c->addr, buf + moved, n, to_mem))
			return IDE_DMA_FAULT;
		c->addr += n;
		c->left -= n;
		c->pos += n;
		moved += n;
	}
	return IDE_DMA_OK;
}

/*
 * Status after a move (SFF-8038i, Bus Master IDE Status register): a bus error sets Error; the
 * engine stops being Active at a bus error, when the table ran short, and when the last region
 * (EOT) is used up — so a table exactly as long as the transfer ends with Interrupt set and
 * Active clear, a longer one with both set.
 */
static enum ide_dma_result piix_bm_end(struct piix_bm *bm, enum ide_dma_result res)
{
	uint8_t *st = piix_bm_regs(bm) + PIIX_BM_STATUS;
	if (res == IDE_DMA_FAULT) {
		*st |= BM_ST_ERROR;
		bm->cur.valid = false;
	}
	if (res != IDE_DMA_OK || (bm->cur.last && !bm->cur.left))
		*st &= ~BM_ST_ACTIVE;
	return res;
}

/* Started (and allowed to master the bus). A started engine that is no longer Active has used
 * up its table: asked for more, it answers SHORT rather than leaving the drive waiting. */
static bool piix_bm_ready(void *opaque)
{
	const struct piix_bm *bm = opaque;
	bool master = pci_config_get16(&bm->dev->pci, PCI_COMMAND) & PCI_COMMAND_MASTER;
	return master && (piix_bm_regs(bm)[PIIX_BM_CMD] & BM_CMD_START);
}

/* The drive moves LEN bytes at POS of the table: from the cursor when it is there, else after
 * walking from the start (a state load, a retried chunk). */
static enum ide_dma_result piix_bm_rw(void *opaque, uint32_t pos, uint8_t *buf, uint32_t len,
				     bool to_mem)
{
	struct piix_bm *bm = opaque;
	if (!(piix_bm_regs(bm)[PIIX_BM_CMD] & BM_CMD_TO_MEM) != !to_mem)
		log_once(LOG_DEBUG, "piix-ide: bus-master direction differs from the command's");
	if (!bm->cur.valid || bm->cur.pos != pos) {
		piix_bm_rewind(bm);
		enum ide_dma_result res = piix_bm_walk(bm, NULL, pos, to_mem);
		if (res != IDE_DMA_OK)
			return piix_bm_end(bm, res);
	}
	return piix_bm_end(bm, piix_bm_walk(bm, buf, len, to_mem));
}

/* The LEN bytes at POS in one piece of guest RAM: the drive reads or writes them in place. The
 * cursor is only positioned (it is a cache); errors show when rw walks the same way. */
static void *piix_bm_map(void *opaque, uint32_t pos, uint32_t len)
{
	struct piix_bm *bm = opaque;
	struct piix_bm_cursor *c = &bm->cur;
	if (!c->valid || c->pos != pos) {
		piix_bm_rewind(bm);
		if (piix_bm_walk(bm, NULL, pos, false) != IDE_DMA_OK) {
			c->valid = false;
			return NULL;
		}
	}
	if (!c->left && (c->last || !piix_bm_load(bm)))
		return NULL;
	return c->left >= len ? guest_mem_ptr(bm->dev->mem, c->addr, len) : NULL;
}

static const struct ide_dma_ops piix_bm_dma_ops = {
	.ready = piix_bm_ready,
	.rw = piix_bm_rw,
	.map = piix_bm_map,
};

/* ---- bus-master IDE registers (BAR4) ---- */

/* BMICX: starting sets Active and runs a drive waiting for DMA from the top of the table;
 * stopping clears Active, and the engine forgets where it was (a stop is an abort). */
static void piix_bm_cmd_write(struct piix_ide *dev, unsigned ch, uint8_t val)
{
	uint8_t *r = &dev->bmdma[8 * ch];
	uint8_t old = r[PIIX_BM_CMD];
	r[PIIX_BM_CMD] = val & BM_CMD_BITS;
	if ((val ^ old) & BM_CMD_START)
		dev->bm[ch].cur.valid = false;
	if ((val & BM_CMD_START) && !(old & BM_CMD_START)) {
		r[PIIX_BM_STATUS] |= BM_ST_ACTIVE;
		ide_channel_dma_start(&dev->chan[ch]);
	} else if (!(val & BM_CMD_START) && (old & BM_CMD_START)) {
		r[PIIX_BM_STATUS] &= ~BM_ST_ACTIVE;
	}
}

static void piix_bm_write_byte(struct piix_ide *dev, unsigned off, uint8_t val)
{
	unsigned ch = off / 8, reg = off & 7;
	uint8_t *r = &dev->bmdma[8 * ch];
	if (reg == PIIX_BM_CMD) {
		piix_bm_cmd_write(dev, ch, val);
	} else if (reg == PIIX_BM_STATUS) {
		r[reg] = (r[reg] & ~BM_ST_CAPABLE) | (val & BM_ST_CAPABLE);
		r[reg] &= ~(val & (BM_ST_ERROR | BM_ST_IRQ));
	} else if (reg >= PIIX_BM_PRD) {
		r[reg] = reg == PIIX_BM_PRD ? val & 0xFC : val; /* bits 1:0 reserved (0) */
		dev->bm[ch].cur.valid = false;
	}
	/* offsets 1 and 3 are reserved: writes ignored, reads 0 */
}

static uint64_t piix_bm_read(void *opaque, uint64_t off, unsigned size)
{
	struct piix_ide *dev = opaque;
	uint64_t v = 0;
	for (unsigned i = 0; i < size && off + i < PIIX_BM_SIZE; i++)
		v |= (uint64_t)dev->bmdma[off + i] << (8 * i);
	return v;
}

static void piix_bm_write(void *opaque, uint64_t off, uint64_t data, unsigned size)
{
	struct piix_ide *dev = opaque;
	for (unsigned i = 0; i < size && off + i < PIIX_BM_SIZE; i++)
		piix_bm_write_byte(dev, off + i, data >> (8 * i));
}

static const struct bus_ops piix_bm_ops = {
	.read = piix_bm_read,
	.write = piix_bm_write,
	.min_size = 1,
	.max_size = 4,
	/* BMISX of each channel: write one to clear Error and Interrupt, and the two capable
	 * bits, which nothing reads but a BIOS. A guest clears the status before each command. */
	.posted = { { 8 * 0 + PIIX_BM_STATUS, 1 }, { 8 * 1 + PIIX_BM_STATUS, 1 } },
	/* BMICX stop, in either direction: what a guest writes before it programs a command
	 * and after one completes, the engine then idle. Stopping an engine still moving data
	 * aborts it, and lands before that transfer's completion (which flushes first) or the
	 * guest's next exit, which is all a guest can tell apart. Both stops with no exit between
	 * leave the direction of the second listed here. */
	.posted_values = { { 8 * 0 + PIIX_BM_CMD, 1, BM_CMD_TO_MEM },
			   { 8 * 0 + PIIX_BM_CMD, 1, 0 },
			   { 8 * 1 + PIIX_BM_CMD, 1, BM_CMD_TO_MEM },
			   { 8 * 1 + PIIX_BM_CMD, 1, 0 } },
};

/* Whether a loaded register file holds only values a guest could have produced: Active only
 * while started. */
static bool piix_bm_valid(const struct piix_ide *dev)
{
	for (unsigned base = 0; base < PIIX_BM_SIZE; base += 8) {
		const uint8_t *r = &dev->bmdma[base];
		if ((r[PIIX_BM_CMD] & ~BM_CMD_BITS) || (r[PIIX_BM_STATUS] & ~BM_ST_BITS) || r[1] ||
		    r[3] || (r[PIIX_BM_PRD] & 0x03))
			return false;
		if ((r[PIIX_BM_STATUS] & BM_ST_ACTIVE) && !(r[PIIX_BM_CMD] & BM_CMD_START))
			return false;
	}
	return true;
}

/* ---- interrupts ---- */

/*
 * Each channel's INTRQ passes through here on its way to GSI 14/15. BMISX bit 2 (IDEINTS)
 * latches every rising edge of the channel's interrupt, DMA or not. The line's gsi field
 * carries the channel number. Only changes go on: the channel recomputes its level at every
 * command and select, and each KVM_IRQ_LINE costs the guest time.
 */
static void piix_ide_irq_set(void *opaque, unsigned ch, int level)
{
	struct piix_ide *dev = opaque;
	level = !!level;
	if (level == dev->irq_level[ch])
		return;
	if (level)
		dev->bmdma[8 * ch + PIIX_BM_STATUS] |= BM_ST_IRQ;
	dev->irq_level[ch] = level;
	irq_set_level(&dev->out_irq[ch], level);
}

/* ---- configuration space ---- */

static void piix_ide_pci_init(struct piix_ide *dev)
{
	struct pci_function *f = &dev->pci;
	pci_function_init(f, "piix-ide", PIIX_IDE_VENDOR, PIIX_IDE_DEVICE, PIIX_IDE_CLASS, 0x00,
			  0x00);
	pci_config_set16(f, PCI_STATUS, 0x0280); /* PCISTS: fast back-to-back, medium DEVSEL */
	f->wmask[PCI_COMMAND] = PCI_COMMAND_IO | PCI_COMMAND_MASTER; /* PCICMD: nothing else */
	f->wmask[PCI_COMMAND + 1] = 0;
	f->wmask[0x0C] = 0;    /* no cache line size register */
	f->wmask[0x0D] = 0xF0; /* MLT: latency timer bits 7:4 */
	pci_function_set_bar(f, PIIX_BM_BAR, PIIX_BM_SIZE, true, &piix_bm_ops, dev);
	/* IDETIM: SeaBIOS sets the decode-enable bits (15); the legacy ports are mapped by the
	 * machine and stay decoded either way, as on QEMU's pc. Bits 11:10 are reserved. */
	for (unsigned ch = 0; ch < 2; ch++) {
		f->wmask[PIIX_IDETIM + 2 * ch] = 0xFF;
		f->wmask[PIIX_IDETIM + 2 * ch + 1] = 0xF3;
	}
	f->wmask[PIIX_SIDETIM] = 0xFF;
	f->lock = &dev->lock;
	f->opaque = dev;
	memcpy(dev->power_on_config, f->config, sizeof(dev->power_on_config));
}

/* Read-only configuration bytes must match the power-on image: a state file cannot turn this
 * function into another one. */
static bool piix_ide_config_valid(const struct piix_ide *dev)
{
	const struct pci_function *f = &dev->pci;
	for (unsigned i = 0; i < sizeof(f->config); i++) {
		uint8_t guest = f->wmask[i] | f->w1cmask[i];
		if ((f->config[i] ^ dev->power_on_config[i]) & ~guest)
			return false;
	}
	return true;
}

/* ---- the device ---- */

static void *piix_ide_create(const struct dev_ctx *ctx)
{
	struct piix_ide *dev = g_new0(struct piix_ide, 1);
	pthread_mutexattr_t attr;
	pthread_mutexattr_init(&attr);
	pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
	pthread_mutex_init(&dev->lock, &attr);
	pthread_mutexattr_destroy(&attr);
	dev->mem = ctx->mem;
	for (unsigned ch = 0; ch < 2; ch++) {
		dev->out_irq[ch] = ctx->irq[ch];
		dev->chan_irq[ch] = (struct irq_line){ piix_ide_irq_set, dev, ch };
		dev->bm[ch] = (struct piix_bm){ .dev = dev, .ch = ch };
		ide_channel_init(&dev->chan[ch], &dev->chan_irq[ch], ctx->disks[2 * ch],
				 ctx->disks[2 * ch + 1]);
		ide_channel_set_lock(&dev->chan[ch], &dev->lock);
		dev->chan[ch].hooks = ctx->hooks;
		ide_channel_set_dma(&dev->chan[ch], &piix_bm_dma_ops, &dev->bm[ch]);
	}
	piix_ide_pci_init(dev);
	return dev;
}

/* The machine tears down the buses (pci.h has no detach) and closes the block devices; requests
 * still in flight must complete first, while the channels exist. */
static void piix_ide_destroy(void *opaque)
{
	struct piix_ide *dev = opaque;
	for (unsigned ch = 0; ch < 2; ch++)
		ide_channel_drain(&dev->chan[ch]);
	pthread_mutex_destroy(&dev->lock);
	g_free(dev);
}

static void piix_ide_reset(void *opaque)
{
	struct piix_ide *dev = opaque;
	pci_function_reset(&dev->pci, dev->power_on_config);
	memset(dev->bmdma, 0, sizeof(dev->bmdma));
	for (unsigned ch = 0; ch < 2; ch++) {
		dev->bm[ch].cur.valid = false;
		ide_channel_reset(&dev->chan[ch]);
	}
}

static pthread_mutex_t *piix_ide_lock(void *opaque)
{
	return &((struct piix_ide *)opaque)->lock;
}

int piix_ide_set_drive_kind(struct piix_ide *dev, unsigned channel, unsigned unit,
			    enum ide_kind kind)
{
	if (channel > 1 || unit > 1)
		return -1;
	pthread_mutex_lock(&dev->lock);
	int ret = ide_channel_set_kind(&dev->chan[channel], unit, kind);
	pthread_mutex_unlock(&dev->lock);
	return ret;
}

int ide_cdrom_change_media(struct piix_ide *dev, unsigned channel, unsigned unit,
			   struct block_dev *medium, bool force, struct block_dev **old,
			   char **error)
{
	if (channel > 1 || unit > 1) {
		*error = g_strdup_printf("no IDE position %u:%u", channel, unit);
		return -1;
	}
	pthread_mutex_lock(&dev->lock);
	int ret = ide_channel_change_medium(&dev->chan[channel], unit, medium, force, old, error);
	pthread_mutex_unlock(&dev->lock);
	return ret;
}

static int piix_ide_regs_check(const struct piix_ide *dev, char **error)
{
	if (piix_ide_config_valid(dev) && piix_bm_valid(dev))
		return 0;
	*error = g_strdup("piix-ide: read-only configuration or bus-master bits differ");
	return -1;
}

/* The state_desc check hook: pure, as state_check runs it on a scratch copy. */
static int piix_ide_state_check(const void *obj, char **error)
{
	const struct piix_ide *dev = obj;
	if (piix_ide_regs_check(dev, error) < 0)
		return -1;
	for (unsigned ch = 0; ch < 2; ch++) {
		char *why = NULL;
		if (ide_channel_check(&dev->chan[ch], &why) < 0) {
			*error = g_strdup_printf("piix-ide: channel %u: %s", ch, why);
			g_free(why);
			return -1;
		}
	}
	return 0;
}

static int piix_ide_post_load(void *obj, char **error)
{
	struct piix_ide *dev = obj;
	if (piix_ide_regs_check(dev, error) < 0) {
		piix_ide_reset(dev); /* leave a usable device behind the refusal */
		return -1;
	}
	pci_function_remap(&dev->pci);
	for (unsigned ch = 0; ch < 2; ch++) {
		dev->bm[ch].cur.valid = false; /* rebuilt from the table on the next move */
		/* the loaded level is not an edge: BMISX bit 2 was saved as it was; the line may
		 * have been either way before the load */
		dev->irq_level[ch] = ide_channel_irq_asserted(&dev->chan[ch]);
		irq_set_level(&dev->out_irq[ch], dev->irq_level[ch]);
		if (ide_channel_post_load(&dev->chan[ch], error) < 0)
			return -1;
	}
	return 0;
}

static const struct state_field piix_ide_fields[] = {
	STATE_U8_ARRAY(struct piix_ide, pci.config),
	STATE_U8_ARRAY(struct piix_ide, bmdma),
	IDE_CHANNEL_STATE_FIELDS(struct piix_ide, chan[0]),
	IDE_CHANNEL_STATE_FIELDS(struct piix_ide, chan[1]),
};

/* Version 2: ATAPI drive state, DMA position and mode, the DRQ block end, sig_latched. */
static const struct state_desc piix_ide_state =
	STATE_DESC("piix-ide", 2, struct piix_ide, piix_ide_fields, .post_load = piix_ide_post_load,
		   .check = piix_ide_state_check);

const struct device_class piix_ide_class = {
	.name = "piix-ide",
	.state = &piix_ide_state,
	.create = piix_ide_create,
	.destroy = piix_ide_destroy,
	.reset = piix_ide_reset,
	.lock = piix_ide_lock,
};
