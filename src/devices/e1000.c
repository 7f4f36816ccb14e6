/*
 * Intel 82540EM (e1000): registers, EEPROM, PHY, interrupts, PCI function and device class.
 * Section numbers are those of the 8254x Software Developer's Manual (rev. 4.0); the transmit
 * and receive rings live in e1000_tx.c and e1000_rx.c.
 */
#include "devices/e1000.h"

#include <glib.h>
#include <string.h>

#include "clock.h"
#include "devices/e1000_regs.h"
#include "log.h"

#define E1000_CLASS_CODE 0x020000 /* network, Ethernet */
#define E1000_REVISION 0x03

/* ---- link ---- */

/* STATUS.LU: the PHY has link and software set CTRL.SLU, without which the MAC does not
 * recognize the PHY's link signal (8.6.2.1). A change raises LSC. */
void e1000_link_update(struct e1000 *d)
{
	bool lu = e1000_phy_link(d) && (E1000_REG(d, E1000_CTRL) & E1000_CTRL_SLU);
	uint32_t st = E1000_REG(d, E1000_STATUS);
	uint32_t nst = lu ? st | E1000_STATUS_LU : st & ~E1000_STATUS_LU;
	if (nst != st) {
		E1000_REG(d, E1000_STATUS) = nst;
		e1000_set_cause(d, E1000_ICR_LSC);
	}
}

void e1000_set_link(struct e1000 *d, bool up)
{
	pthread_mutex_lock(&d->lock);
	d->link_up = up;
	e1000_link_update(d);
	pthread_mutex_unlock(&d->lock);
}

/* ---- interrupts and their mitigation (13.4.17-21, 13.4.30-31, 3.4.3, 3.2.7) ---- */

/* INTA# follows ICR & IMS, but a new assertion waits until ITR intervals have passed since
 * the last one. */
void e1000_update_irq(struct e1000 *d)
{
	if (!(E1000_REG(d, E1000_ICR) & E1000_REG(d, E1000_IMS))) {
		pci_function_set_irq(&d->pci, 0);
		return;
	}
	if (d->pci.irq_level)
		return;
	uint32_t itr = E1000_REG(d, E1000_ITR) & 0xFFFF;
	if (itr && d->clock) {
		uint64_t now = clock_ns(d->clock);
		if (now < d->itr_next) {
			if (!timer_pending(d->itr_timer))
				timer_mod(d->itr_timer, d->itr_next);
			return;
		}
		d->itr_next = now + (uint64_t)itr * E1000_ITR_UNIT_NS;
	}
	pci_function_set_irq(&d->pci, 1);
}

void e1000_set_cause(struct e1000 *d, uint32_t cause)
{
	E1000_REG(d, E1000_ICR) |= cause;
	e1000_update_irq(d);
}

/* Raises the delayed cause now: both of its timers stop. */
static void e1000_delay_fire(struct e1000 *d, struct e1000_delay *dl, bool *pending,
			     uint32_t cause)
{
	if (d->clock) {
		timer_del(dl->packet);
		timer_del(dl->absolute);
	}
	*pending = false;
	e1000_set_cause(d, cause);
}

/*
 * (Re)starts the packet timer (DELAY_REG units from now) and, unless running, the absolute
 * timer (ABS_REG, 0 = none); false when there is no delay to wait for. The packet timer moves
 * lazily: only its deadline is pushed back here, and the timer, when it goes off early, waits
 * for the rest, so a busy ring costs no timer reprogramming (and no main loop wakeup) per
 * packet.
 */
static bool e1000_delay_start(struct e1000 *d, struct e1000_delay *dl, unsigned delay_reg,
			      unsigned abs_reg)
{
	uint32_t delay = E1000_REG(d, delay_reg) & 0xFFFF, abs = E1000_REG(d, abs_reg) & 0xFFFF;
	if (!delay || !d->clock)
		return false;
	uint64_t now = clock_ns(d->clock);
	dl->deadline = now + (uint64_t)delay * E1000_DELAY_UNIT_NS;
	if (!timer_pending(dl->packet) || timer_deadline(dl->packet) > dl->deadline)
		timer_mod(dl->packet, dl->deadline);
	if (abs && !timer_pending(dl->absolute))
		timer_mod(dl->absolute, now + (uint64_t)abs * E1000_DELAY_UNIT_NS);
	return true;
}

/* RXT0 after RDTR of quiet since the last packet, or RADV after the first (3.2.7). */
void e1000_rx_done_irq(struct e1000 *d)
{
	if (e1000_delay_start(d, &d->rx_delay, E1000_RDTR, E1000_RADV))
		d->rx_delayed = true;
	else
		e1000_delay_fire(d, &d->rx_delay, &d->rx_delayed, E1000_ICR_RXT0);
}

/* TXDW at once, or for a descriptor with IDE after TIDV / TADV (3.4.3). */
void e1000_tx_done_irq(struct e1000 *d, bool ide)
{
	if (ide && e1000_delay_start(d, &d->tx_delay, E1000_TIDV, E1000_TADV))
		d->tx_delayed = true;
	else
		e1000_delay_fire(d, &d->tx_delay, &d->tx_delayed, E1000_ICR_TXDW);
}

/* Timer callbacks run on the main loop without the lock; a timer that was cancelled meanwhile
 * finds nothing pending, one whose deadline moved waits again. */
static void e1000_itr_expired(void *opaque)
{
	struct e1000 *d = opaque;
	pthread_mutex_lock(&d->lock);
	e1000_update_irq(d);
	pthread_mutex_unlock(&d->lock);
}

static void e1000_delay_expired(struct e1000 *d, struct e1000_delay *dl, bool *pending,
				uint32_t cause, bool packet)
{
	pthread_mutex_lock(&d->lock);
	if (*pending && packet && clock_ns(d->clock) < dl->deadline)
		timer_mod(dl->packet, dl->deadline);
	else if (*pending)
		e1000_delay_fire(d, dl, pending, cause);
	pthread_mutex_unlock(&d->lock);
}

static void e1000_rdtr_expired(void *opaque)
{
	struct e1000 *d = opaque;
	e1000_delay_expired(d, &d->rx_delay, &d->rx_delayed, E1000_ICR_RXT0, true);
}

static void e1000_radv_expired(void *opaque)
{
	struct e1000 *d = opaque;
	e1000_delay_expired(d, &d->rx_delay, &d->rx_delayed, E1000_ICR_RXT0, false);
}

static void e1000_tidv_expired(void *opaque)
{
	struct e1000 *d = opaque;
	e1000_delay_expired(d, &d->tx_delay, &d->tx_delayed, E1000_ICR_TXDW, true);
}

static void e1000_tadv_expired(void *opaque)
{
	struct e1000 *d = opaque;
	e1000_delay_expired(d, &d->tx_delay, &d->tx_delayed, E1000_ICR_TXDW, false);
}

/* ---- statistics (13.7) ---- */

void e1000_stat_add(struct e1000 *d, unsigned reg, uint32_t n)
{
	uint32_t *r = &E1000_REG(d, reg);
	*r = *r > UINT32_MAX - n ? UINT32_MAX : *r + n;
}

void e1000_stat_add64(struct e1000 *d, unsigned lo_reg, uint64_t n)
{
	uint32_t *lo = &E1000_REG(d, lo_reg), *hi = &E1000_REG(d, lo_reg + 4);
	uint64_t v = (uint64_t)*hi << 32 | *lo;
	v = v > UINT64_MAX - n ? UINT64_MAX : v + n;
	*lo = v;
	*hi = v >> 32;
}

/* LEN is the frame as on the wire: FCS included, at least 64 bytes. Buckets 64, 65-127,
 * 128-255, 256-511, 512-1023, 1024-1522 follow each other from BUCKET64. */
void e1000_stat_frame(struct e1000 *d, unsigned bucket64, const uint8_t *dst, size_t len)
{
	static const size_t bucket_max[] = { 64, 127, 255, 511, 1023, 1522 };
	for (unsigned i = 0; i < G_N_ELEMENTS(bucket_max); i++) {
		if (len <= bucket_max[i]) {
			e1000_stat_add(d, bucket64 + 4 * i, 1);
			break;
		}
	}
	bool bcast = (dst[0] & dst[1] & dst[2] & dst[3] & dst[4] & dst[5]) == 0xFF;
	bool rx = bucket64 == E1000_PRC64;
	if (bcast)
		e1000_stat_add(d, rx ? E1000_BPRC : E1000_BPTC, 1);
	else if (dst[0] & 1)
		e1000_stat_add(d, rx ? E1000_MPRC : E1000_MPTC, 1);
}

bool e1000_bus_master(const struct e1000 *d)
{
	return d->mem && (pci_config_get16(&d->pci, PCI_COMMAND) & PCI_COMMAND_MASTER);
}

uint64_t e1000_dma_errors(struct e1000 *d)
{
	pthread_mutex_lock(&d->lock);
	uint64_t n = d->dma_errors;
	pthread_mutex_unlock(&d->lock);
	return n;
}

/* ---- reset ---- */

static const struct {
	unsigned off;
	uint32_t value;
} e1000_power_on[] = {
	{ E1000_CTRL, E1000_CTRL_FD },
	{ E1000_STATUS, E1000_STATUS_FD | E1000_STATUS_SPEED_1000 | E1000_STATUS_ASDV_1000 },
	{ E1000_EECD, E1000_EECD_PRES | 0x10 /* FWE: flash writes disabled */ | E1000_EECD_DO },
	{ E1000_VET, 0x8100 },
	{ E1000_LEDCTL, 0x07068302 },
	{ E1000_PBA, 0x0030 }, /* 48 KiB receive, 16 KiB transmit */
	{ E1000_RXCSUM, E1000_RXCSUM_IPOFL | E1000_RXCSUM_TUOFL },
};

static void e1000_timers_stop(struct e1000 *d)
{
	if (!d->clock)
		return;
	timer_del(d->itr_timer);
	timer_del(d->rx_delay.packet);
	timer_del(d->rx_delay.absolute);
	timer_del(d->tx_delay.packet);
	timer_del(d->tx_delay.absolute);
}

/* Every register to its power-on value, the MAC address reloaded from the EEPROM, the PHY
 * reset: CTRL.RST and a machine reset (which also resets the PCI function) alike. */
static void e1000_regs_reset(struct e1000 *d)
{
	memset(d->regs, 0, sizeof(d->regs));
	for (size_t i = 0; i < G_N_ELEMENTS(e1000_power_on); i++)
		E1000_REG(d, e1000_power_on[i].off) = e1000_power_on[i].value;
	e1000_load_mac(d);
	e1000_phy_reset(d);
	memset(d->tx_ctx, 0, sizeof(d->tx_ctx));
	e1000_ee_idle(d);
	d->ioaddr = 0;
	d->rx_delayed = d->tx_delayed = false;
	d->rx_blocked = true; /* the port may hold frames: offer them at the first RDT write */
	d->itr_next = 0;
	e1000_timers_stop(d);
	e1000_update_irq(d);
}

/* ---- the register file ---- */

typedef uint32_t (*e1000_read_fn)(struct e1000 *d, unsigned off);
typedef void (*e1000_write_fn)(struct e1000 *d, unsigned off, uint32_t val);

static void e1000_store(struct e1000 *d, unsigned off, uint32_t val, uint32_t mask)
{
	E1000_REG(d, off) = (E1000_REG(d, off) & ~mask) | (val & mask);
}

static void e1000_ctrl_write(struct e1000 *d, unsigned off, uint32_t val)
{
	if (val & E1000_CTRL_RST) {
		e1000_regs_reset(d); /* self-clearing; the other bits of this write are lost */
		return;
	}
	uint32_t old = E1000_REG(d, off);
	E1000_REG(d, off) = val;
	if ((val & E1000_CTRL_PHY_RST) && !(old & E1000_CTRL_PHY_RST))
		e1000_phy_reset(d);
	e1000_link_update(d);
}

static void e1000_ctrl_ext_write(struct e1000 *d, unsigned off, uint32_t val)
{
	E1000_REG(d, off) = val & ~E1000_CTRL_EXT_EE_RST;
	if (val & E1000_CTRL_EXT_EE_RST)
		e1000_load_mac(d);
}

/* ICR is clear-on-read (13.4.17); writing 1s clears bits too. */
static uint32_t e1000_icr_read(struct e1000 *d, unsigned off)
{
	uint32_t v = E1000_REG(d, off);
	E1000_REG(d, off) = 0;
	e1000_update_irq(d);
	return v;
}

static void e1000_icr_write(struct e1000 *d, unsigned off, uint32_t val)
{
	E1000_REG(d, off) &= ~val;
	e1000_update_irq(d);
}

static void e1000_ics_write(struct e1000 *d, unsigned off, uint32_t val)
{
	(void)off;
	e1000_set_cause(d, val & E1000_ICR_ALL);
}

static void e1000_ims_write(struct e1000 *d, unsigned off, uint32_t val)
{
	(void)off;
	E1000_REG(d, E1000_IMS) |= val & E1000_ICR_ALL;
	e1000_update_irq(d);
}

static void e1000_imc_write(struct e1000 *d, unsigned off, uint32_t val)
{
	(void)off;
	E1000_REG(d, E1000_IMS) &= ~val;
	e1000_update_irq(d);
}

static void e1000_rctl_write(struct e1000 *d, unsigned off, uint32_t val)
{
	E1000_REG(d, off) = val;
	if ((val & E1000_RCTL_EN) && d->net)
		net_port_nic_ready(d->net);
}

/* New receive buffers: frames the port kept back (only after a refusal) are offered again. */
static void e1000_rdt_write(struct e1000 *d, unsigned off, uint32_t val)
{
	E1000_REG(d, off) = val & 0xFFFF;
	if (d->net && d->rx_blocked)
		net_port_nic_ready(d->net);
}

static void e1000_tx_kick_write(struct e1000 *d, unsigned off, uint32_t val)
{
	E1000_REG(d, off) = off == E1000_TDT ? val & 0xFFFF : val;
	e1000_tx_run(d);
}

/* RDTR.FPD flushes: a pending delayed RXT0 fires now; the bit is not stored. */
static void e1000_rdtr_write(struct e1000 *d, unsigned off, uint32_t val)
{
	E1000_REG(d, off) = val & 0xFFFF;
	if ((val & E1000_RDTR_FPD) && d->rx_delayed)
		e1000_delay_fire(d, &d->rx_delay, &d->rx_delayed, E1000_ICR_RXT0);
}

static void e1000_unimplemented_write(struct e1000 *d, unsigned off, uint32_t val)
{
	(void)d;
	log_once(LOG_DEBUG, "e1000: write %#x to unimplemented register %#x ignored", val, off);
}

/* Statistics clear when read; a 64-bit pair when its high half is read. */
static uint32_t e1000_stat_read(struct e1000 *d, unsigned off)
{
	uint32_t v = E1000_REG(d, off);
	E1000_REG(d, off) = 0;
	return v;
}

static uint32_t e1000_stat_hi_read(struct e1000 *d, unsigned off)
{
	E1000_REG(d, off - 4) = 0;
	return e1000_stat_read(d, off);
}

enum e1000_reg_kind {
	RK_NONE, /* not modelled: reads 0, writes ignored */
	RK_RW,
	RK_RO,
	RK_MASK16,
	RK_BASE_LO,
	RK_RING_LEN,
	RK_RAH,
	RK_RXCSUM,
	RK_STAT,
	RK_STAT_HI,
	RK_CTRL,
	RK_EECD,
	RK_EERD,
	RK_CTRL_EXT,
	RK_MDIC,
	RK_ICR,
	RK_ICS,
	RK_IMS,
	RK_IMC,
	RK_RCTL,
	RK_RDT,
	RK_TX_KICK,
	RK_RDTR,
};

static const struct {
	e1000_read_fn read;   /* NULL: the stored value */
	e1000_write_fn write; /* NULL: store the WMASK bits */
	uint32_t wmask;
} e1000_kinds[] = {
	[RK_NONE] = { .write = e1000_unimplemented_write },
	[RK_RW] = { .wmask = 0xFFFFFFFF },
	[RK_RO] = { .wmask = 0 },
	[RK_MASK16] = { .wmask = 0xFFFF },
	[RK_BASE_LO] = { .wmask = 0xFFFFFFF0 }, /* descriptor rings are 16-byte aligned */
	[RK_RING_LEN] = { .wmask = 0x000FFF80 }, /* a multiple of 128 bytes */
	[RK_RAH] = { .wmask = 0x8003FFFF },
	[RK_RXCSUM] = { .wmask = 0x3FF },
	[RK_STAT] = { .read = e1000_stat_read },
	[RK_STAT_HI] = { .read = e1000_stat_hi_read },
	[RK_CTRL] = { .write = e1000_ctrl_write },
	[RK_EECD] = { .write = e1000_eecd_write },
	[RK_EERD] = { .write = e1000_eerd_write },
	[RK_CTRL_EXT] = { .write = e1000_ctrl_ext_write },
	[RK_MDIC] = { .write = e1000_mdic_write },
	[RK_ICR] = { .read = e1000_icr_read, .write = e1000_icr_write },
	[RK_ICS] = { .write = e1000_ics_write },
	[RK_IMS] = { .write = e1000_ims_write },
	[RK_IMC] = { .write = e1000_imc_write },
	[RK_RCTL] = { .write = e1000_rctl_write },
	[RK_RDT] = { .write = e1000_rdt_write },
	[RK_TX_KICK] = { .write = e1000_tx_kick_write },
	[RK_RDTR] = { .write = e1000_rdtr_write },
};

#define R(off) ((off) >> 2)
#define RANGE(off, n) R(off)... R(off) + (n)-1

/* Register offsets (SDM table 13-2) by kind; the rest is RK_NONE. */
static const uint8_t e1000_reg_kind[E1000_NREGS] = {
	[R(E1000_CTRL)] = RK_CTRL,	   [R(E1000_STATUS)] = RK_RO,
	[R(E1000_EECD)] = RK_EECD,	   [R(E1000_EERD)] = RK_EERD,
	[R(E1000_CTRL_EXT)] = RK_CTRL_EXT, [R(E1000_MDIC)] = RK_MDIC,
	[R(E1000_FCAL)] = RK_RW,	   [R(E1000_FCAH)] = RK_MASK16,
	[R(E1000_FCT)] = RK_MASK16,	   [R(E1000_VET)] = RK_MASK16,
	[R(E1000_ICR)] = RK_ICR,	   [R(E1000_ITR)] = RK_MASK16,
	[R(E1000_ICS)] = RK_ICS,	   [R(E1000_IMS)] = RK_IMS,
	[R(E1000_IMC)] = RK_IMC,	   [R(E1000_RCTL)] = RK_RCTL,
	[R(E1000_FCTTV)] = RK_MASK16,	   [R(E1000_TXCW)] = RK_RW,
	[R(E1000_RXCW)] = RK_RO,	   [R(E1000_TCTL)] = RK_TX_KICK,
	[R(E1000_TIPG)] = RK_RW,	   [R(E1000_AIT)] = RK_MASK16,
	[R(E1000_LEDCTL)] = RK_RW,	   [R(E1000_PBA)] = RK_MASK16,
	[R(E1000_FCRTL)] = RK_RW,	   [R(E1000_FCRTH)] = RK_RW,
	[RANGE(E1000_RDFH, 9)] = RK_RW,	   [R(E1000_RDBAL)] = RK_BASE_LO,
	[R(E1000_RDBAH)] = RK_RW,	   [R(E1000_RDLEN)] = RK_RING_LEN,
	[R(E1000_RDH)] = RK_MASK16,	   [R(E1000_RDT)] = RK_RDT,
	[R(E1000_RDTR)] = RK_RDTR,	   [R(E1000_RXDCTL)] = RK_RW,
	[R(E1000_RADV)] = RK_MASK16,	   [R(E1000_RSRPD)] = RK_MASK16,
	[R(E1000_TXDMAC)] = RK_RW,	   [RANGE(E1000_TDFH, 9)] = RK_RW,
	[R(E1000_TDBAL)] = RK_BASE_LO,	   [R(E1000_TDBAH)] = RK_RW,
	[R(E1000_TDLEN)] = RK_RING_LEN,	   [R(E1000_TDH)] = RK_MASK16,
	[R(E1000_TDT)] = RK_TX_KICK,	   [R(E1000_TIDV)] = RK_MASK16,
	[R(E1000_TXDCTL)] = RK_RW,	   [R(E1000_TADV)] = RK_MASK16,
	[R(E1000_TSPMT)] = RK_RW,	   [RANGE(E1000_STATS_FIRST, 64)] = RK_STAT,
	[R(E1000_RXCSUM)] = RK_RXCSUM,	   [RANGE(E1000_MTA, 128)] = RK_RW,
	[RANGE(E1000_VFTA, 128)] = RK_RW,  [R(E1000_WUC)] = RK_RW,
	[R(E1000_WUFC)] = RK_RW,	   [R(E1000_WUS)] = RK_RW,
	[R(E1000_MANC)] = RK_RW,	   [R(E1000_IPAV)] = RK_RW,
	[RANGE(E1000_IP4AT, 8)] = RK_RW,   [RANGE(E1000_IP6AT, 4)] = RK_RW,
	[R(E1000_WUPL)] = RK_RW,	   [RANGE(E1000_WUPM, 32)] = RK_RW,
	[RANGE(E1000_FFLT, 8)] = RK_RW,
#define RA(i) [R(E1000_RAL0 + 8 * (i))] = RK_RW, [R(E1000_RAH0 + 8 * (i))] = RK_RAH
	RA(0), RA(1), RA(2),  RA(3),  RA(4),  RA(5),  RA(6),  RA(7),
	RA(8), RA(9), RA(10), RA(11), RA(12), RA(13), RA(14), RA(15),
#undef RA
};

/* The 64-bit counters' low halves do not clear when read; the high halves clear both. */
static unsigned e1000_kind_of(unsigned off)
{
	switch (off) {
	case E1000_GORCL: case E1000_GOTCL: case E1000_TORL: case E1000_TOTL: return RK_RO;
	case E1000_GORCH: case E1000_GOTCH: case E1000_TORH: case E1000_TOTH: return RK_STAT_HI;
	default: return e1000_reg_kind[R(off)];
	}
}

static uint32_t e1000_reg_read(struct e1000 *d, unsigned off)
{
	if (off >= 4 * E1000_NREGS)
		return 0;
	e1000_read_fn read = e1000_kinds[e1000_kind_of(off)].read;
	return read ? read(d, off) : E1000_REG(d, off);
}

static void e1000_reg_write(struct e1000 *d, unsigned off, uint32_t val)
{
	if (off >= 4 * E1000_NREGS)
		return;
	unsigned kind = e1000_kind_of(off);
	if (e1000_kinds[kind].write)
		e1000_kinds[kind].write(d, off, val);
	else
		e1000_store(d, off, val, e1000_kinds[kind].wmask);
}

/* BAR0: the bus hands over aligned 32-bit accesses only, with the lock held. */
static uint64_t e1000_mmio_read(void *opaque, uint64_t off, unsigned size)
{
	(void)size;
	return e1000_reg_read(opaque, off);
}

static void e1000_mmio_write(void *opaque, uint64_t off, uint64_t data, unsigned size)
{
	(void)size;
	e1000_reg_write(opaque, off, data);
}

const struct bus_ops e1000_mmio_ops = {
	.read = e1000_mmio_read,
	.write = e1000_mmio_write,
	.min_size = 4,
	.max_size = 4,
};

/* BAR1 (13.1.1): IOADDR at 0 selects a register, IODATA at 4 reaches it; the rest of the
 * window reads 0. */
#define E1000_IOADDR 0
#define E1000_IODATA 4

static uint64_t e1000_io_read(void *opaque, uint64_t off, unsigned size)
{
	struct e1000 *d = opaque;
	(void)size;
	if (off == E1000_IOADDR)
		return d->ioaddr;
	if (off == E1000_IODATA && d->ioaddr < E1000_MMIO_SIZE)
		return e1000_reg_read(d, d->ioaddr & ~3u);
	return 0;
}

static void e1000_io_write(void *opaque, uint64_t off, uint64_t data, unsigned size)
{
	struct e1000 *d = opaque;
	(void)size;
	if (off == E1000_IOADDR)
		d->ioaddr = data;
	else if (off == E1000_IODATA && d->ioaddr < E1000_MMIO_SIZE)
		e1000_reg_write(d, d->ioaddr & ~3u, data);
}

const struct bus_ops e1000_io_ops = {
	.read = e1000_io_read,
	.write = e1000_io_write,
	.min_size = 4,
	.max_size = 4,
};

/* ---- PCI function ---- */

static void e1000_pci_init(struct e1000 *d)
{
	struct pci_function *f = &d->pci;
	pci_function_init(f, "e1000", E1000_VENDOR, E1000_DEVICE, E1000_CLASS_CODE, E1000_REVISION,
			  0x00);
	pci_function_set_bar(f, 0, E1000_MMIO_SIZE, false, &e1000_mmio_ops, d);
	pci_function_set_bar(f, 1, E1000_IO_SIZE, true, &e1000_io_ops, d);
	/* loaded from the EEPROM (ICW1 says so) at power-on */
	pci_config_set16(f, PCI_SUBSYS_VENDOR, d->eeprom[E1000_EE_SUBSYS_VENDOR]);
	pci_config_set16(f, PCI_SUBSYS_ID, d->eeprom[E1000_EE_SUBSYS_ID]);
	f->config[PCI_INTERRUPT_PIN] = 1;
	f->config[0x3E] = 0xFF; /* Min_Grant */
	f->lock = &d->lock;
	f->opaque = d;
	memcpy(d->power_on_config, f->config, sizeof(d->power_on_config));
}

struct pci_function *e1000_pci(struct e1000 *d)
{
	return &d->pci;
}

/* ---- device class ---- */

const struct net_nic_ops e1000_nic_ops = { .receive = e1000_rx_receive };

static void *e1000_create(const struct dev_ctx *ctx)
{
	static const uint8_t zero_mac[6], default_mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
	struct e1000 *d = g_new0(struct e1000, 1);
	pthread_mutexattr_t attr;
	pthread_mutexattr_init(&attr);
	pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
	pthread_mutex_init(&d->lock, &attr);
	pthread_mutexattr_destroy(&attr);
	d->mem = ctx->mem;
	d->clock = ctx->clock;
	d->net = ctx->net;
	memcpy(d->mac, memcmp(ctx->mac, zero_mac, 6) ? ctx->mac : default_mac, 6);
	d->link_up = true;
	d->txq = g_new(struct e1000_txd, E1000_TX_MAX_DESC);
	if (d->clock) {
		d->itr_timer = timer_new(d->clock, e1000_itr_expired, d);
		d->rx_delay.packet = timer_new(d->clock, e1000_rdtr_expired, d);
		d->rx_delay.absolute = timer_new(d->clock, e1000_radv_expired, d);
		d->tx_delay.packet = timer_new(d->clock, e1000_tidv_expired, d);
		d->tx_delay.absolute = timer_new(d->clock, e1000_tadv_expired, d);
	}
	e1000_eeprom_init(d);
	e1000_pci_init(d);
	e1000_regs_reset(d);
	if (d->net)
		net_port_attach_nic(d->net, &e1000_nic_ops, d);
	return d;
}

static void e1000_destroy(void *opaque)
{
	struct e1000 *d = opaque;
	if (d->net)
		net_port_attach_nic(d->net, NULL, NULL); /* waits for a flush in progress */
	timer_free(d->itr_timer);
	timer_free(d->rx_delay.packet);
	timer_free(d->rx_delay.absolute);
	timer_free(d->tx_delay.packet);
	timer_free(d->tx_delay.absolute);
	pci_function_release(&d->pci);
	g_free(d->txq);
	pthread_mutex_destroy(&d->lock);
	g_free(d);
}

static void e1000_reset(void *opaque)
{
	struct e1000 *d = opaque;
	pthread_mutex_lock(&d->lock);
	pci_function_reset(&d->pci, d->power_on_config);
	e1000_regs_reset(d);
	pthread_mutex_unlock(&d->lock);
}

static pthread_mutex_t *e1000_lock(void *opaque)
{
	return &((struct e1000 *)opaque)->lock;
}

/* Read-only configuration bytes must match the power-on image, and the EEPROM interface must
 * be somewhere a guest can bring it. */
static const char *e1000_check(const struct e1000 *d)
{
	const struct pci_function *f = &d->pci;
	for (unsigned i = 0; i < sizeof(f->config); i++)
		if ((f->config[i] ^ d->power_on_config[i]) & ~(f->wmask[i] | f->w1cmask[i]))
			return "a read-only configuration byte differs";
	if (d->ee_nbits > E1000_EE_CMD_BITS || (d->ee_reading && d->ee_nbits != E1000_EE_CMD_BITS))
		return "EEPROM interface state out of range";
	return NULL;
}

/* The state_desc check hook: pure, as state_check runs it on a scratch copy. */
static int e1000_state_check(const void *obj, char **error)
{
	const char *bad = e1000_check(obj);
	if (bad)
		*error = g_strdup_printf("e1000: %s", bad);
	return bad ? -1 : 0;
}

static uint64_t e1000_delay_ns(struct e1000 *d, unsigned reg)
{
	return (uint64_t)MAX(E1000_REG(d, reg) & 0xFFFF, 1) * E1000_DELAY_UNIT_NS;
}

/* Rebuilds what is not saved: BAR mappings, the IRQ level (no throttling carried over), the
 * delay timers of pending interrupts (restarted), and a chance for the port to deliver. */
static int e1000_post_load(void *obj, char **error)
{
	struct e1000 *d = obj;
	if (e1000_state_check(d, error) < 0) {
		e1000_reset(d);
		return -1;
	}
	pthread_mutex_lock(&d->lock);
	pci_function_remap(&d->pci);
	d->itr_next = 0;
	d->rx_blocked = true;
	e1000_timers_stop(d);
	if (d->clock) {
		/* a pending delayed interrupt waits its packet delay (at least one unit) again */
		uint64_t now = clock_ns(d->clock);
		d->rx_delay.deadline = now + e1000_delay_ns(d, E1000_RDTR);
		d->tx_delay.deadline = now + e1000_delay_ns(d, E1000_TIDV);
		if (d->rx_delayed)
			timer_mod(d->rx_delay.packet, d->rx_delay.deadline);
		if (d->tx_delayed)
			timer_mod(d->tx_delay.packet, d->tx_delay.deadline);
	} else {
		if (d->rx_delayed)
			e1000_delay_fire(d, &d->rx_delay, &d->rx_delayed, E1000_ICR_RXT0);
		if (d->tx_delayed)
			e1000_delay_fire(d, &d->tx_delay, &d->tx_delayed, E1000_ICR_TXDW);
	}
	e1000_update_irq(d);
	pthread_mutex_unlock(&d->lock);
	if (d->net)
		net_port_nic_ready(d->net);
	return 0;
}

static const struct state_field e1000_fields[] = {
	STATE_U8_ARRAY(struct e1000, pci.config),
	STATE_U32_ARRAY(struct e1000, regs),
	STATE_U16_ARRAY(struct e1000, eeprom),
	STATE_U16_ARRAY(struct e1000, phy),
	STATE_U8_ARRAY(struct e1000, tx_ctx),
	STATE_U32(struct e1000, ioaddr),
	STATE_U32(struct e1000, ee_in),
	STATE_U32(struct e1000, ee_pos),
	STATE_U8(struct e1000, ee_nbits),
	STATE_BOOL(struct e1000, ee_reading),
	STATE_BOOL(struct e1000, rx_delayed),
	STATE_BOOL(struct e1000, tx_delayed),
};

static const struct state_desc e1000_state =
	STATE_DESC("e1000", 1, struct e1000, e1000_fields, .post_load = e1000_post_load,
		   .check = e1000_state_check);

const struct device_class e1000_class = {
	.name = "e1000",
	.state = &e1000_state,
	.create = e1000_create,
	.destroy = e1000_destroy,
	.reset = e1000_reset,
	.lock = e1000_lock,
};
