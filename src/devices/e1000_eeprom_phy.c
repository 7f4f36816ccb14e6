/*
 * The 82540EM's two serial companions: the 93C46 EEPROM (SDM 5; EERD and EECD bit-banging,
 * 13.4.3-4) and the integrated PHY reached through MDIC (13.4.7, PHY registers 13.5).
 */
#include <string.h>

#include "devices/e1000_regs.h"

/* ---- EEPROM (SDM 5, 93C46: 64 x 16 bits, Microwire) ---- */

/* ICW1: signature 01b, full duplex, load subsystem IDs, load vendor/device IDs */
#define EE_ICW1_VALUE 0x4403
/* ICW2: advertise symmetric and asymmetric PAUSE */
#define EE_ICW2_VALUE 0x3000
#define EE_READ_OPCODE 0x6 /* start bit 1, opcode 10b */

void e1000_eeprom_init(struct e1000 *d)
{
	uint16_t *w = d->eeprom;
	memset(w, 0, sizeof(d->eeprom));
	for (int i = 0; i < 3; i++)
		w[i] = d->mac[2 * i] | d->mac[2 * i + 1] << 8;
	w[E1000_EE_ICW1] = EE_ICW1_VALUE;
	w[E1000_EE_SUBSYS_ID] = E1000_SUBSYS_ID;
	w[E1000_EE_SUBSYS_VENDOR] = E1000_SUBSYS_VENDOR;
	w[E1000_EE_DEVICE_ID] = E1000_DEVICE;
	w[E1000_EE_VENDOR_ID] = E1000_VENDOR;
	w[E1000_EE_ICW2] = EE_ICW2_VALUE;
	uint16_t sum = 0;
	for (int i = 0; i < E1000_EE_CHECKSUM; i++)
		sum += w[i];
	w[E1000_EE_CHECKSUM] = E1000_EE_SUM - sum;
}

/* RAL0/RAH0 are loaded from EEPROM words 0-2, address valid (13.5.2). */
void e1000_load_mac(struct e1000 *d)
{
	const uint16_t *w = d->eeprom;
	E1000_REG(d, E1000_RAL0) = w[0] | (uint32_t)w[1] << 16;
	E1000_REG(d, E1000_RAH0) = w[2] | E1000_RAH_AV;
}

void e1000_ee_idle(struct e1000 *d)
{
	d->ee_in = 0;
	d->ee_nbits = 0;
	d->ee_pos = 0;
	d->ee_reading = false;
}

/* The level the EEPROM drives on DO: a read's dummy 0, then data bits MSB first, words in
 * sequence; high (ready) otherwise. */
static bool e1000_ee_do(const struct e1000 *d)
{
	if (!d->ee_reading)
		return true;
	if (d->ee_pos == 0)
		return false;
	uint32_t bit = d->ee_pos - 1;
	uint16_t word = d->eeprom[((d->ee_in & 0x3F) + bit / 16) % E1000_EEPROM_WORDS];
	return (word >> (15 - bit % 16)) & 1;
}

/* A rising SK edge with CS high: shift DI in, or the next data bit out. Leading zeros before
 * the start bit are ignored. Only READ is implemented: the other commands (EWEN, WRITE,
 * ERASE...) are taken in and ignored, as by a write-protected part. */
static void e1000_ee_clock(struct e1000 *d, bool di)
{
	if (d->ee_reading) {
		d->ee_pos++;
		return;
	}
	if ((d->ee_nbits == 0 && !di) || d->ee_nbits >= E1000_EE_CMD_BITS)
		return;
	d->ee_in = d->ee_in << 1 | di;
	if (++d->ee_nbits == E1000_EE_CMD_BITS && (d->ee_in >> 6) == EE_READ_OPCODE) {
		d->ee_reading = true;
		d->ee_pos = 0;
	}
}

/* EECD (13.4.3): software owns the pins once EE_REQ is granted (at once here). */
void e1000_eecd_write(struct e1000 *d, unsigned off, uint32_t val)
{
	uint32_t old = E1000_REG(d, off);
	uint32_t wm = E1000_EECD_SK | E1000_EECD_CS | E1000_EECD_DI | E1000_EECD_FWE |
		      E1000_EECD_REQ;
	uint32_t v = (old & ~wm) | (val & wm);
	v = (v & E1000_EECD_REQ) ? v | E1000_EECD_GNT : v & ~E1000_EECD_GNT;
	if (!(v & E1000_EECD_CS))
		e1000_ee_idle(d);
	else if ((v & E1000_EECD_SK) && !(old & E1000_EECD_SK))
		e1000_ee_clock(d, v & E1000_EECD_DI);
	v = e1000_ee_do(d) ? v | E1000_EECD_DO : v & ~E1000_EECD_DO;
	E1000_REG(d, off) = v | E1000_EECD_PRES;
}

/* EERD (13.4.4): a read completes at once. */
void e1000_eerd_write(struct e1000 *d, unsigned off, uint32_t val)
{
	if (!(val & E1000_EERD_START)) {
		E1000_REG(d, off) = val & 0xFF00;
		return;
	}
	uint32_t addr = (val >> E1000_EERD_ADDR_SHIFT) & 0xFF;
	uint16_t data = d->eeprom[addr % E1000_EEPROM_WORDS];
	E1000_REG(d, off) = addr << E1000_EERD_ADDR_SHIFT | E1000_EERD_DONE |
			    (uint32_t)data << E1000_EERD_DATA_SHIFT;
}

/* ---- PHY (SDM 13.5, the M88E1011-compatible integrated PHY at address 1) ---- */

#define PHY_CTRL 0
#define PHY_STATUS 1
#define PHY_CTRL_RESTART_AN 0x0200
#define PHY_CTRL_POWER_DOWN 0x0800
#define PHY_CTRL_RESET 0x8000

static const uint16_t e1000_phy_defaults[E1000_PHY_REGS] = {
	[PHY_CTRL] = 0x1140, /* auto-negotiation on, full duplex, 1000 Mb/s */
	[4] = 0x0DE1,	     /* advertise 10/100 half/full, PAUSE */
	[7] = 0x2001,	     /* next page transmit */
	[9] = 0x0300,	     /* 1000BASE-T control: advertise 1000 half/full */
	[16] = 0x0068,	     /* PHY specific control: auto MDI/MDI-X */
	[20] = 0x0C60,	     /* extended PHY specific control */
};

void e1000_phy_reset(struct e1000 *d)
{
	memcpy(d->phy, e1000_phy_defaults, sizeof(d->phy));
}

/* The PHY has link: the cable is in and the PHY is not powered down. */
bool e1000_phy_link(const struct e1000 *d)
{
	return d->link_up && !(d->phy[PHY_CTRL] & PHY_CTRL_POWER_DOWN);
}

/* Read-only registers, with and without link: status (link up, auto-negotiation complete), the
 * PHY identifier (M88E1011), link partner ability (10/100 half/full, PAUSE, acknowledge),
 * auto-negotiation expansion, 1000BASE-T status (partner 1000 half/full, receivers OK),
 * extended status (1000BASE-T half/full), PHY specific status (1000 Mb/s, full duplex,
 * resolved, link). The others are storage. */
static const struct {
	bool ro;
	uint16_t up, down;
} e1000_phy_ro[E1000_PHY_REGS] = {
	[PHY_STATUS] = { true, 0x796D, 0x7949 },
	[2] = { true, 0x0141, 0x0141 },
	[3] = { true, 0x0C20, 0x0C20 },
	[5] = { true, 0x45E1, 0 },
	[6] = { true, 0x0001, 0 },
	[8] = { true, 0, 0 },
	[10] = { true, 0x3C00, 0 },
	[15] = { true, 0x3000, 0x3000 },
	[17] = { true, 0xAC00, 0 },
	[19] = { true, 0, 0 }, /* interrupt status: no PHY interrupts */
	[21] = { true, 0, 0 }, /* receive error counter */
};

static uint16_t e1000_phy_read(const struct e1000 *d, unsigned reg)
{
	if (!e1000_phy_ro[reg].ro)
		return d->phy[reg];
	return e1000_phy_link(d) ? e1000_phy_ro[reg].up : e1000_phy_ro[reg].down;
}

static void e1000_phy_write(struct e1000 *d, unsigned reg, uint16_t val)
{
	if (e1000_phy_ro[reg].ro)
		return;
	/* reset and restart auto-negotiation complete at once and clear themselves; a software
	 * reset keeps the register values (it makes them take effect) */
	if (reg == PHY_CTRL)
		val &= ~(PHY_CTRL_RESET | PHY_CTRL_RESTART_AN);
	d->phy[reg] = val;
	if (reg == PHY_CTRL)
		e1000_link_update(d);
}

/* MDIC (13.4.7): the access completes at once; another PHY address reports an error. */
void e1000_mdic_write(struct e1000 *d, unsigned off, uint32_t val)
{
	unsigned reg = (val >> E1000_MDIC_REG_SHIFT) & 31, phy = (val >> E1000_MDIC_PHY_SHIFT) & 31;
	unsigned op = (val >> E1000_MDIC_OP_SHIFT) & 3;
	uint32_t res = val & ~(E1000_MDIC_READY | E1000_MDIC_ERROR);
	if (phy != E1000_PHY_ADDR || (op != E1000_MDIC_OP_READ && op != E1000_MDIC_OP_WRITE))
		res |= E1000_MDIC_ERROR;
	else if (op == E1000_MDIC_OP_READ)
		res = (res & ~E1000_MDIC_DATA) | e1000_phy_read(d, reg);
	else
		e1000_phy_write(d, reg, val & E1000_MDIC_DATA);
	E1000_REG(d, off) = res | E1000_MDIC_READY;
	if (val & E1000_MDIC_INT_EN)
		e1000_set_cause(d, E1000_ICR_MDAC);
}

