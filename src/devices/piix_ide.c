/*
 * PIIX3 IDE function, after the Intel 82371SB (PIIX3) datasheet: the PCI configuration
 * registers of function 1 and the bus-master IDE I/O registers. Legacy mode only (prog-if 80h):
 * the channels sit at the ISA addresses the machine maps, IRQ 14/15, and the PCI function adds
 * the timing registers and the bus-master register file.
 */
#include "devices/piix_ide.h"

#include <glib.h>
#include <string.h>

#define PIIX_IDE_VENDOR 0x8086
#define PIIX_IDE_DEVICE 0x7010
#define PIIX_IDE_CLASS 0x010180 /* mass storage, IDE, prog-if 80h: legacy, bus-master capable */
#define PIIX_IDETIM 0x40        /* IDETIM: 40-41h primary, 42-43h secondary */
#define PIIX_SIDETIM 0x44       /* SIDETIM: slave timing */
#define PIIX_BM_BAR 4
#define PIIX_BM_SIZE 16

/* BMICX, BMISX, BMIDTPX register bits */
#define BM_CMD_BITS 0x09     /* start/stop (0), read/write control (3); the rest reads 0 */
#define BM_ST_ERROR 0x02     /* write 1 to clear */
#define BM_ST_IRQ 0x04       /* write 1 to clear */
#define BM_ST_CAPABLE 0x60   /* drive 0/1 DMA capable: plain read/write, for the BIOS */
#define BM_ST_BITS (0x01 | BM_ST_ERROR | BM_ST_IRQ | BM_ST_CAPABLE)

/* ---- bus-master IDE registers (BAR4) ---- */

/*
 * Registers only for now: a start bit is stored and reads back, but PRD transfers (and the
 * active bit they set) arrive with the install-from-ISO issue. IDENTIFY advertises no DMA
 * mode meanwhile, so no guest driver starts one.
 */
static void piix_bm_write_byte(struct piix_ide *dev, unsigned off, uint8_t val)
{
	uint8_t *r = &dev->bmdma[off & ~7u];
	unsigned reg = off & 7;
	if (reg == PIIX_BM_CMD) {
		r[reg] = val & BM_CMD_BITS;
	} else if (reg == PIIX_BM_STATUS) {
		r[reg] = (r[reg] & ~BM_ST_CAPABLE) | (val & BM_ST_CAPABLE);
		r[reg] &= ~(val & (BM_ST_ERROR | BM_ST_IRQ));
	} else if (reg == PIIX_BM_PRD) {
		r[reg] = val & 0xFC; /* bits 1:0 of the table address are reserved (0) */
	} else if (reg > PIIX_BM_PRD) {
		r[reg] = val;
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
};

/* Whether a loaded register file holds only values a guest could have written (nothing is
 * ever active: there are no transfers yet). */
static bool piix_bm_valid(const struct piix_ide *dev)
{
	for (unsigned base = 0; base < PIIX_BM_SIZE; base += 8) {
		const uint8_t *r = &dev->bmdma[base];
		if ((r[PIIX_BM_CMD] & ~BM_CMD_BITS) || (r[PIIX_BM_STATUS] & ~(BM_ST_BITS & ~0x01)) ||
		    r[1] || r[3] || (r[PIIX_BM_PRD] & 0x03))
			return false;
	}
	return true;
}

/* ---- interrupts ---- */

/*
 * Each channel's INTRQ passes through here on its way to GSI 14/15. BMISX bit 2 (IDEINTS)
 * latches every rising edge of the channel's interrupt, DMA or not. The line's gsi field
 * carries the channel number.
 */
static void piix_ide_irq_set(void *opaque, unsigned ch, int level)
{
	struct piix_ide *dev = opaque;
	if (level && !dev->irq_level[ch])
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
	for (unsigned ch = 0; ch < 2; ch++) {
		dev->out_irq[ch] = ctx->irq[ch];
		dev->chan_irq[ch] = (struct irq_line){ piix_ide_irq_set, dev, ch };
		ide_channel_init(&dev->chan[ch], &dev->chan_irq[ch], ctx->disks[2 * ch],
				 ctx->disks[2 * ch + 1]);
		ide_channel_set_lock(&dev->chan[ch], &dev->lock);
	}
	piix_ide_pci_init(dev);
	return dev;
}

/*
 * The machine tears down the buses (pci.h has no detach) and closes the disks. Block requests
 * must be drained first: with today's inline backend none is ever outstanding here.
 */
static void piix_ide_destroy(void *opaque)
{
	struct piix_ide *dev = opaque;
	pthread_mutex_destroy(&dev->lock);
	g_free(dev);
}

static void piix_ide_reset(void *opaque)
{
	struct piix_ide *dev = opaque;
	pci_function_reset(&dev->pci, dev->power_on_config);
	memset(dev->bmdma, 0, sizeof(dev->bmdma));
	for (unsigned ch = 0; ch < 2; ch++)
		ide_channel_reset(&dev->chan[ch]);
}

static pthread_mutex_t *piix_ide_lock(void *opaque)
{
	return &((struct piix_ide *)opaque)->lock;
}

static int piix_ide_post_load(void *obj, char **error)
{
	struct piix_ide *dev = obj;
	if (!piix_ide_config_valid(dev) || !piix_bm_valid(dev)) {
		*error = g_strdup("piix-ide: read-only configuration or bus-master bits differ");
		piix_ide_reset(dev); /* leave a usable device behind the refusal */
		return -1;
	}
	pci_function_remap(&dev->pci);
	for (unsigned ch = 0; ch < 2; ch++) {
		/* the loaded level is not an edge: BMISX bit 2 was saved as it was */
		dev->irq_level[ch] = ide_channel_irq_asserted(&dev->chan[ch]);
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

static const struct state_desc piix_ide_state =
	STATE_DESC("piix-ide", 1, piix_ide_fields, .post_load = piix_ide_post_load);

const struct device_class piix_ide_class = {
	.name = "piix-ide",
	.state = &piix_ide_state,
	.create = piix_ide_create,
	.destroy = piix_ide_destroy,
	.reset = piix_ide_reset,
	.lock = piix_ide_lock,
};
