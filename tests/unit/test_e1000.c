/*
 * The 82540EM (e1000) driven as a guest drives it: through its BARs on a PCI bus, with its
 * rings in fake guest RAM, frames going out to a capturing backend on a real net_port and
 * coming in through the port's NIC op, time from the virtual clock.
 */
#include <glib.h>
#include <string.h>
#include <zlib.h>

#include "devices/e1000.h"
#include "devices/e1000_regs.h"
#include "fakes.h"
#include "net/net.h"

#define MMIO_BASE 0xFEB80000u
#define IO_BASE 0xC000u
#define GSI 11
#define DEVFN (3 << 3)
#define TX_RING 0x10000u
#define TX_BUF 0x20000u
#define RX_RING 0x30000u
#define RX_BUF 0x40000u
#define RX_BUF_STRIDE 0x4000u
#define OUTSIDE_RAM 0x40000000u

static const uint8_t mac[6] = { 0x52, 0x54, 0x00, 0xAB, 0xCD, 0xEF };

/* ---- a backend that keeps what the NIC sends ---- */

struct cap_be {
	struct net_backend be;
	GPtrArray *frames; /* GByteArray */
};

static int cap_send(struct net_backend *be, const struct iovec *iov, int n)
{
	GByteArray *f = g_byte_array_new();
	for (int i = 0; i < n; i++)
		g_byte_array_append(f, iov[i].iov_base, iov[i].iov_len);
	g_ptr_array_add(((struct cap_be *)be)->frames, f);
	return 0;
}

static void cap_free(struct net_backend *be)
{
	g_ptr_array_free(((struct cap_be *)be)->frames, TRUE);
	g_free(be);
}

static const struct net_backend_ops cap_ops = { .name = "capture", .send = cap_send,
						.free = cap_free };

/* ---- fixture: the device on slot 3, BAR0 at MMIO_BASE, BAR1 at IO_BASE, INTA on GSI 11 ---- */

struct fx {
	struct fake_env *env;
	struct bus *mmio;
	struct pci_bus *bus;
	struct net_port *port;
	struct cap_be *cap;
	struct e1000 *d;
};

static const struct irq_line *route(void *opaque, unsigned pirq)
{
	struct fake_env *env = opaque;
	return pirq == 3 ? &env->ctx.irq[0] : NULL; /* slot 3 INTA -> PIRQD */
}

static void fx_attach(struct fx *f)
{
	g_assert_cmpint(pci_bus_attach(f->bus, 3, 0, e1000_pci(f->d)), ==, 0);
	pci_config_write(f->bus, DEVFN, PCI_BAR0, MMIO_BASE, 4);
	pci_config_write(f->bus, DEVFN, PCI_BAR0 + 4, IO_BASE, 4);
	pci_config_write(f->bus, DEVFN, PCI_COMMAND,
			 PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, 2);
}

static void fx_init(struct fx *f)
{
	memset(f, 0, sizeof(*f));
	f->env = fake_env_new(GSI, -1);
	f->mmio = bus_new("mmio");
	f->bus = pci_bus_new(f->env->io, f->mmio);
	pci_bus_set_router(f->bus, route, f->env);
	f->port = net_port_new(NULL);
	f->cap = g_new0(struct cap_be, 1);
	f->cap->be.ops = &cap_ops;
	f->cap->frames = g_ptr_array_new_with_free_func((GDestroyNotify)g_byte_array_unref);
	net_port_attach_backend(f->port, &f->cap->be);
	f->env->ctx.net = f->port;
	memcpy(f->env->ctx.mac, mac, 6);
	f->d = e1000_class.create(&f->env->ctx);
	e1000_class.reset(f->d);
	fx_attach(f);
}

static void fx_free(struct fx *f)
{
	e1000_class.destroy(f->d);
	net_port_free(f->port);
	pci_bus_free(f->bus);
	bus_free(f->mmio);
	fake_env_free(f->env);
}

static uint32_t rd(struct fx *f, unsigned off)
{
	uint64_t v = 0;
	g_assert_true(bus_read(f->mmio, MMIO_BASE + off, 4, &v));
	return v;
}

static void wr(struct fx *f, unsigned off, uint32_t v)
{
	g_assert_true(bus_write(f->mmio, MMIO_BASE + off, 4, v));
}

static int irq(struct fx *f)
{
	return f->env->irq_level[GSI];
}

static void put_le(uint8_t *p, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		p[i] = v >> (8 * i);
}

static uint16_t be16(const uint8_t *p)
{
	return p[0] << 8 | p[1];
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)be16(p) << 16 | be16(p + 2);
}

/* RFC 1071, written independently of the device's. */
static uint32_t sum16(uint32_t s, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		s += i & 1 ? p[i] : p[i] << 8;
	return s;
}

static uint16_t fold(uint32_t s)
{
	while (s >> 16)
		s = (s & 0xFFFF) + (s >> 16);
	return s;
}

static GByteArray *sent(struct fx *f, guint i)
{
	g_assert_cmpuint(f->cap->frames->len, >, i);
	return g_ptr_array_index(f->cap->frames, i);
}

/* ---- PCI, I/O BAR ---- */

static void test_pci_ids(void)
{
	struct fx f;
	fx_init(&f);
	g_assert_cmphex(pci_config_read(f.bus, DEVFN, PCI_VENDOR_ID, 4), ==, 0x100E8086);
	g_assert_cmphex(pci_config_read(f.bus, DEVFN, PCI_REVISION, 4), ==, 0x02000003);
	g_assert_cmphex(pci_config_read(f.bus, DEVFN, PCI_SUBSYS_VENDOR, 4), ==, 0x001E8086);
	g_assert_cmphex(pci_config_read(f.bus, DEVFN, PCI_INTERRUPT_PIN, 1), ==, 1);
	pci_config_write(f.bus, DEVFN, PCI_BAR0, 0xFFFFFFFF, 4);
	g_assert_cmphex(pci_config_read(f.bus, DEVFN, PCI_BAR0, 4), ==, 0xFFFE0000);
	pci_config_write(f.bus, DEVFN, PCI_BAR0 + 4, 0xFFFFFFFF, 4);
	g_assert_cmphex(pci_config_read(f.bus, DEVFN, PCI_BAR0 + 4, 4), ==, 0xFFFFFFC1);
	pci_config_write(f.bus, DEVFN, PCI_BAR0 + 8, 0xFFFFFFFF, 4);
	g_assert_cmphex(pci_config_read(f.bus, DEVFN, PCI_BAR0 + 8, 4), ==, 0);
	fx_free(&f);
}

static void test_io_bar(void)
{
	struct fx f;
	fx_init(&f);
	fake_outl(f.env, IO_BASE, E1000_STATUS);
	g_assert_cmphex(fake_inl(f.env, IO_BASE), ==, E1000_STATUS);
	g_assert_cmphex(fake_inl(f.env, IO_BASE + 4), ==, rd(&f, E1000_STATUS));
	fake_outl(f.env, IO_BASE, E1000_IMS);
	fake_outl(f.env, IO_BASE + 4, E1000_ICR_LSC | E1000_ICR_RXT0);
	g_assert_cmphex(rd(&f, E1000_IMS), ==, E1000_ICR_LSC | E1000_ICR_RXT0);
	/* the receive address registers through the window: MAC from the EEPROM */
	fake_outl(f.env, IO_BASE, E1000_RAL0);
	g_assert_cmphex(fake_inl(f.env, IO_BASE + 4), ==, 0xAB005452);
	fx_free(&f);
}

/* ---- EEPROM ---- */

static uint16_t eerd(struct fx *f, unsigned addr)
{
	wr(f, E1000_EERD, E1000_EERD_START | addr << 8);
	uint32_t v = rd(f, E1000_EERD);
	g_assert_true(v & E1000_EERD_DONE);
	return v >> 16;
}

static void test_eeprom_eerd(void)
{
	struct fx f;
	fx_init(&f);
	g_assert_cmphex(eerd(&f, 0), ==, 0x5452);
	g_assert_cmphex(eerd(&f, 1), ==, 0xAB00);
	g_assert_cmphex(eerd(&f, 2), ==, 0xEFCD);
	uint16_t sum = 0;
	for (unsigned i = 0; i < 64; i++)
		sum += eerd(&f, i);
	g_assert_cmphex(sum, ==, 0xBABA);
	g_assert_cmphex(eerd(&f, 0x0B), ==, 0x001E);
	g_assert_cmphex(eerd(&f, 0x0C), ==, 0x8086);
	g_assert_cmphex(eerd(&f, 0x0D), ==, 0x100E);
	fx_free(&f);
}

/* The Linux e1000 driver's Microwire read: request the EEPROM, raise CS, shift out 110b and
 * six address bits, shift in sixteen data bits, drop CS. */
static void ee_clock(struct fx *f, uint32_t *eecd)
{
	wr(f, E1000_EECD, *eecd | E1000_EECD_SK);
	*eecd = rd(f, E1000_EECD);
	wr(f, E1000_EECD, *eecd & ~E1000_EECD_SK);
}

static uint16_t ee_read(struct fx *f, unsigned addr)
{
	uint32_t eecd = rd(f, E1000_EECD) | E1000_EECD_REQ;
	wr(f, E1000_EECD, eecd);
	g_assert_true(rd(f, E1000_EECD) & E1000_EECD_GNT);
	eecd = (eecd & ~(E1000_EECD_SK | E1000_EECD_DI)) | E1000_EECD_CS;
	wr(f, E1000_EECD, eecd);
	uint32_t out = 0x6u << 6 | addr;
	for (int i = 8; i >= 0; i--) {
		eecd = (eecd & ~E1000_EECD_DI) | ((out >> i) & 1 ? E1000_EECD_DI : 0);
		wr(f, E1000_EECD, eecd);
		ee_clock(f, &eecd);
	}
	uint16_t data = 0;
	for (int i = 0; i < 16; i++) {
		wr(f, E1000_EECD, eecd | E1000_EECD_SK);
		uint32_t v = rd(f, E1000_EECD);
		data = data << 1 | !!(v & E1000_EECD_DO);
		wr(f, E1000_EECD, eecd & ~E1000_EECD_SK);
	}
	wr(f, E1000_EECD, eecd & ~(E1000_EECD_CS | E1000_EECD_REQ));
	return data;
}

static void test_eeprom_bitbang(void)
{
	struct fx f;
	fx_init(&f);
	g_assert_true(rd(&f, E1000_EECD) & E1000_EECD_PRES);
	g_assert_false(rd(&f, E1000_EECD) & E1000_EECD_GNT);
	uint16_t sum = 0;
	for (unsigned i = 0; i < 64; i++) {
		uint16_t w = ee_read(&f, i);
		g_assert_cmphex(w, ==, eerd(&f, i));
		sum += w;
	}
	g_assert_cmphex(sum, ==, 0xBABA);
	g_assert_cmphex(ee_read(&f, 1), ==, 0xAB00);
	fx_free(&f);
}

/* ---- PHY over MDIC ---- */

static uint32_t mdic(struct fx *f, unsigned phy, unsigned op, unsigned reg, uint16_t data)
{
	wr(f, E1000_MDIC, op << 26 | phy << 21 | reg << 16 | data);
	uint32_t v = rd(f, E1000_MDIC);
	g_assert_true(v & E1000_MDIC_READY);
	return v;
}

static void test_mdic(void)
{
	struct fx f;
	fx_init(&f);
	g_assert_cmphex(mdic(&f, 1, 2, 2, 0) & 0xFFFF, ==, 0x0141);
	g_assert_cmphex(mdic(&f, 1, 2, 3, 0) & 0xFFFF, ==, 0x0C20);
	uint32_t st = mdic(&f, 1, 2, 1, 0);
	g_assert_false(st & E1000_MDIC_ERROR);
	g_assert_cmphex(st & 0x0024, ==, 0x0024); /* link up, auto-negotiation complete */
	g_assert_true(mdic(&f, 2, 2, 1, 0) & E1000_MDIC_ERROR);
	mdic(&f, 1, 1, 4, 0x01E1);
	g_assert_cmphex(mdic(&f, 1, 2, 4, 0) & 0xFFFF, ==, 0x01E1);
	mdic(&f, 1, 1, 2, 0x1234); /* read-only */
	g_assert_cmphex(mdic(&f, 1, 2, 2, 0) & 0xFFFF, ==, 0x0141);
	/* a software reset keeps the settings and clears itself */
	mdic(&f, 1, 1, 0, 0x9140);
	g_assert_cmphex(mdic(&f, 1, 2, 0, 0) & 0xFFFF, ==, 0x1140);
	g_assert_cmphex(mdic(&f, 1, 2, 4, 0) & 0xFFFF, ==, 0x01E1);
	e1000_set_link(f.d, false);
	g_assert_false(mdic(&f, 1, 2, 1, 0) & 0x0004);
	/* MDIC with the interrupt bit raises MDAC */
	wr(&f, E1000_MDIC, E1000_MDIC_INT_EN | 2u << 26 | 1u << 21);
	g_assert_true(rd(&f, E1000_ICR) & E1000_ICR_MDAC);
	fx_free(&f);
}

/* ---- interrupts, link, reset ---- */

static void test_interrupts(void)
{
	struct fx f;
	fx_init(&f);
	wr(&f, E1000_ICS, E1000_ICR_TXDW);
	g_assert_cmpint(irq(&f), ==, 0); /* masked */
	wr(&f, E1000_IMS, E1000_ICR_TXDW | E1000_ICR_RXT0);
	g_assert_cmpint(irq(&f), ==, 1);
	g_assert_cmphex(rd(&f, E1000_IMS), ==, E1000_ICR_TXDW | E1000_ICR_RXT0);
	g_assert_cmphex(rd(&f, E1000_ICR), ==, E1000_ICR_TXDW);
	g_assert_cmpint(irq(&f), ==, 0);
	g_assert_cmphex(rd(&f, E1000_ICR), ==, 0);
	wr(&f, E1000_ICS, E1000_ICR_RXT0 | E1000_ICR_LSC);
	g_assert_cmpint(irq(&f), ==, 1);
	wr(&f, E1000_IMC, E1000_ICR_RXT0);
	g_assert_cmpint(irq(&f), ==, 0);
	g_assert_cmphex(rd(&f, E1000_IMS), ==, E1000_ICR_TXDW);
	wr(&f, E1000_IMS, E1000_ICR_LSC);
	g_assert_cmpint(irq(&f), ==, 1);
	wr(&f, E1000_ICR, E1000_ICR_LSC); /* write 1 to clear */
	g_assert_cmpint(irq(&f), ==, 0);
	g_assert_cmphex(rd(&f, E1000_ICR), ==, E1000_ICR_RXT0);
	fx_free(&f);
}

static void test_link(void)
{
	struct fx f;
	fx_init(&f);
	g_assert_false(rd(&f, E1000_STATUS) & E1000_STATUS_LU); /* until software sets SLU */
	wr(&f, E1000_IMS, E1000_ICR_LSC);
	wr(&f, E1000_CTRL, rd(&f, E1000_CTRL) | E1000_CTRL_SLU);
	uint32_t st = rd(&f, E1000_STATUS);
	g_assert_cmphex(st & (E1000_STATUS_LU | E1000_STATUS_FD | 0xC0), ==,
			E1000_STATUS_LU | E1000_STATUS_FD | E1000_STATUS_SPEED_1000);
	g_assert_cmpint(irq(&f), ==, 1);
	g_assert_cmphex(rd(&f, E1000_ICR), ==, E1000_ICR_LSC);
	e1000_set_link(f.d, false);
	g_assert_false(rd(&f, E1000_STATUS) & E1000_STATUS_LU);
	g_assert_cmphex(rd(&f, E1000_ICR), ==, E1000_ICR_LSC);
	e1000_set_link(f.d, true);
	g_assert_true(rd(&f, E1000_STATUS) & E1000_STATUS_LU);
	g_assert_cmphex(rd(&f, E1000_ICR), ==, E1000_ICR_LSC);
	fx_free(&f);
}

static void test_reset(void)
{
	struct fx f;
	fx_init(&f);
	uint32_t eecd = rd(&f, E1000_EECD);
	wr(&f, E1000_IMS, 0xFF);
	wr(&f, E1000_RCTL, E1000_RCTL_EN | E1000_RCTL_UPE);
	wr(&f, E1000_RAL0, 0x11223344);
	wr(&f, E1000_MTA + 8, 0xDEADBEEF);
	wr(&f, E1000_TDLEN, 0x12345);
	g_assert_cmphex(rd(&f, E1000_TDLEN), ==, 0x12300); /* multiple of 128 */
	wr(&f, E1000_CTRL, E1000_CTRL_SLU | E1000_CTRL_RST);
	g_assert_cmphex(rd(&f, E1000_CTRL) & (E1000_CTRL_RST | E1000_CTRL_SLU), ==, 0);
	g_assert_cmphex(rd(&f, E1000_IMS), ==, 0);
	g_assert_cmphex(rd(&f, E1000_RCTL), ==, 0);
	g_assert_cmphex(rd(&f, E1000_MTA + 8), ==, 0);
	g_assert_cmphex(rd(&f, E1000_TDLEN), ==, 0);
	g_assert_cmphex(rd(&f, E1000_RAL0), ==, 0xAB005452);
	g_assert_cmphex(rd(&f, E1000_RAH0), ==, 0x8000EFCD);
	g_assert_cmphex(rd(&f, E1000_EECD), ==, eecd);
	/* the PCI function keeps its BARs */
	g_assert_cmphex(pci_config_read(f.bus, DEVFN, PCI_BAR0, 4), ==, MMIO_BASE);
	fx_free(&f);
}

/* ---- transmit ---- */

static void put_txd(struct fx *f, unsigned idx, uint64_t addr, uint32_t lower, uint32_t upper)
{
	uint8_t *p = f->env->ram + TX_RING + 16 * idx;
	put_le(p, addr, 8);
	put_le(p + 8, lower, 4);
	put_le(p + 12, upper, 4);
}

static uint8_t txd_status(struct fx *f, unsigned idx)
{
	return f->env->ram[TX_RING + 16 * idx + 12];
}

/* Legacy descriptor: LEN bytes at ADDR with CMD. */
static void put_legacy(struct fx *f, unsigned idx, uint64_t addr, unsigned len, uint8_t cmd)
{
	put_txd(f, idx, addr, len | (uint32_t)cmd << 24, 0);
}

static void put_data(struct fx *f, unsigned idx, uint64_t addr, unsigned len, uint8_t dcmd,
		     uint8_t popts)
{
	put_txd(f, idx, addr, len | 1u << 20 | (uint32_t)(dcmd | E1000_TXD_CMD_DEXT) << 24,
		(uint32_t)popts << 8);
}

static void put_ctx(struct fx *f, unsigned idx, const uint8_t css[6], unsigned paylen,
		    uint8_t tucmd, unsigned hdrlen, unsigned mss)
{
	/* IPCSS, IPCSO, IPCSE (16), TUCSS, TUCSO, TUCSE (16) */
	uint64_t lo = css[0] | css[1] << 8 | (uint64_t)css[2] << 16 | (uint64_t)css[3] << 32 |
		      (uint64_t)css[4] << 40 | (uint64_t)css[5] << 48;
	put_txd(f, idx, lo, paylen | (uint32_t)(tucmd | E1000_TXD_CMD_DEXT) << 24,
		hdrlen << 8 | mss << 16);
}

static void tx_setup(struct fx *f, unsigned ndesc)
{
	wr(f, E1000_CTRL, E1000_CTRL_SLU);
	wr(f, E1000_TDBAL, TX_RING);
	wr(f, E1000_TDBAH, 0);
	wr(f, E1000_TDLEN, ndesc * 16);
	wr(f, E1000_TDH, 0);
	wr(f, E1000_TDT, 0);
	wr(f, E1000_TCTL, E1000_TCTL_EN);
}

static void fill(uint8_t *p, size_t n, uint8_t seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = seed + i * 7;
}

static void test_tx_legacy(void)
{
	struct fx f;
	fx_init(&f);
	tx_setup(&f, 8);
	wr(&f, E1000_IMS, E1000_ICR_TXDW);
	uint8_t *buf = f.env->ram + TX_BUF;
	fill(buf, 300, 1);
	put_legacy(&f, 0, TX_BUF, 60, E1000_TXD_CMD_EOP | E1000_TXD_CMD_IFCS | E1000_TXD_CMD_RS);
	/* a three-buffer frame, RS only on the last */
	put_legacy(&f, 1, TX_BUF + 100, 20, E1000_TXD_CMD_IFCS);
	put_legacy(&f, 2, TX_BUF + 120, 0, 0); /* no data */
	put_legacy(&f, 3, TX_BUF + 150, 100, E1000_TXD_CMD_EOP | E1000_TXD_CMD_RS);
	wr(&f, E1000_TDT, 1);
	g_assert_cmpuint(f.cap->frames->len, ==, 1);
	g_assert_cmpmem(sent(&f, 0)->data, sent(&f, 0)->len, buf, 60);
	g_assert_cmphex(txd_status(&f, 0), ==, E1000_TXD_STAT_DD);
	g_assert_cmphex(rd(&f, E1000_TDH), ==, 1);
	g_assert_cmpint(irq(&f), ==, 1);
	g_assert_true(rd(&f, E1000_ICR) & E1000_ICR_TXDW);
	/* TDT short of the EOP: nothing moves until the rest arrives */
	wr(&f, E1000_TDT, 3);
	g_assert_cmpuint(f.cap->frames->len, ==, 1);
	g_assert_cmphex(rd(&f, E1000_TDH), ==, 1);
	wr(&f, E1000_TDT, 4);
	g_assert_cmpuint(f.cap->frames->len, ==, 2);
	GByteArray *fr = sent(&f, 1);
	g_assert_cmpuint(fr->len, ==, 120);
	g_assert_cmpmem(fr->data, 20, buf + 100, 20);
	g_assert_cmpmem(fr->data + 20, 100, buf + 150, 100);
	g_assert_cmphex(txd_status(&f, 1), ==, 0);
	g_assert_cmphex(txd_status(&f, 3), ==, E1000_TXD_STAT_DD);
	g_assert_cmphex(rd(&f, E1000_TDH), ==, 4);
	/* statistics: two good frames, 64 + 124 octets on the wire; clear on read */
	g_assert_cmpuint(rd(&f, E1000_GPTC), ==, 2);
	g_assert_cmpuint(rd(&f, E1000_GPTC), ==, 0);
	g_assert_cmpuint(rd(&f, E1000_TPT), ==, 2);
	g_assert_cmpuint(rd(&f, E1000_GOTCL), ==, 188);
	g_assert_cmpuint(rd(&f, E1000_GOTCL), ==, 188); /* the low half alone does not clear */
	g_assert_cmpuint(rd(&f, E1000_GOTCH), ==, 0);
	g_assert_cmpuint(rd(&f, E1000_GOTCL), ==, 0);
	g_assert_cmpuint(rd(&f, E1000_PTC64), ==, 1);
	g_assert_cmpuint(rd(&f, E1000_PTC64 + 4), ==, 1);
	fx_free(&f);
}

/* Ethernet + IPv4 (20) + UDP (8) + payload, with the pseudo-header sum in the UDP checksum as
 * a driver leaves it for TXSM. */
static size_t build_udp(uint8_t *p, size_t payload)
{
	memset(p, 0, 42);
	memcpy(p, "\x52\x54\x00\x12\x34\x56\x52\x54\x00\xAB\xCD\xEF\x08\x00", 14);
	uint8_t *ip = p + 14, *udp = ip + 20;
	ip[0] = 0x45;
	ip[2] = (20 + 8 + payload) >> 8, ip[3] = 20 + 8 + payload;
	ip[8] = 64;
	ip[9] = 17;
	memcpy(ip + 12, "\x0A\x00\x02\x0F\x0A\x00\x02\x02", 8);
	udp[0] = 0x30, udp[1] = 0x39, udp[2] = 0x00, udp[3] = 0x35;
	udp[4] = (8 + payload) >> 8, udp[5] = 8 + payload;
	fill(udp + 8, payload, 3);
	uint16_t pseudo = fold(sum16(17 + 8 + payload, ip + 12, 8));
	udp[6] = pseudo >> 8, udp[7] = pseudo;
	return 42 + payload;
}

static void check_ip_and_udp(const uint8_t *p, size_t len)
{
	const uint8_t *ip = p + 14;
	g_assert_cmphex(fold(sum16(0, ip, 20)), ==, 0xFFFF);
	size_t l4 = len - 34;
	g_assert_cmphex(fold(sum16(sum16(17 + l4, ip + 12, 8), ip + 20, l4)), ==, 0xFFFF);
}

static void test_tx_checksum(void)
{
	struct fx f;
	fx_init(&f);
	tx_setup(&f, 8);
	uint8_t *buf = f.env->ram + TX_BUF;
	size_t len = build_udp(buf, 101);
	static const uint8_t css[6] = { 14, 24, 33, 34, 40, 0 };
	put_ctx(&f, 0, css, 0, E1000_TUCMD_IP, 0, 0);
	/* split across two data descriptors; POPTS counts on the first */
	put_data(&f, 1, TX_BUF, 30, 0, E1000_POPTS_IXSM | E1000_POPTS_TXSM);
	put_data(&f, 2, TX_BUF + 30, len - 30, E1000_TXD_CMD_EOP | E1000_TXD_CMD_RS, 0);
	wr(&f, E1000_TDT, 3);
	g_assert_cmpuint(f.cap->frames->len, ==, 1);
	GByteArray *fr = sent(&f, 0);
	g_assert_cmpuint(fr->len, ==, len);
	check_ip_and_udp(fr->data, fr->len);
	g_assert_cmpmem(fr->data + 42, 101, buf + 42, 101);
	/* legacy IC: the checksum from CSS to the end at CSO */
	put_legacy(&f, 3, TX_BUF, len, E1000_TXD_CMD_EOP | E1000_TXD_CMD_IC);
	f.env->ram[TX_RING + 3 * 16 + 10] = 40; /* CSO */
	f.env->ram[TX_RING + 3 * 16 + 13] = 34; /* CSS */
	wr(&f, E1000_TDT, 4);
	fr = sent(&f, 1);
	size_t l4 = len - 34;
	g_assert_cmphex(fold(sum16(sum16(17 + l4, buf + 26, 8), fr->data + 34, l4)), ==, 0xFFFF);
	fx_free(&f);
}

/* Ethernet + IPv4 + TCP (20) header with the driver's TSO preparation: IP checksum 0, TCP
 * checksum the pseudo-header sum without the length. */
#define TSO_HDR 54
static void build_tcp_hdr(uint8_t *p)
{
	memset(p, 0, TSO_HDR);
	memcpy(p, "\x52\x54\x00\x12\x34\x56\x52\x54\x00\xAB\xCD\xEF\x08\x00", 14);
	uint8_t *ip = p + 14, *tcp = ip + 20;
	ip[0] = 0x45;
	ip[4] = 0x12, ip[5] = 0x34; /* ID */
	ip[8] = 64;
	ip[9] = 6;
	memcpy(ip + 12, "\xC0\xA8\x01\x02\xC0\xA8\x01\x03", 8);
	tcp[0] = 0x04, tcp[1] = 0x00, tcp[2] = 0x00, tcp[3] = 0x50;
	tcp[4] = 0x00, tcp[5] = 0x00, tcp[6] = 0x03, tcp[7] = 0xE8; /* seq 1000 */
	tcp[12] = 0x50;
	tcp[13] = 0x19; /* FIN | PSH | ACK */
	tcp[14] = 0xFF;
	uint16_t pseudo = fold(sum16(6, ip + 12, 8));
	tcp[16] = pseudo >> 8, tcp[17] = pseudo;
}

static void test_tso(void)
{
	struct fx f;
	fx_init(&f);
	tx_setup(&f, 16);
	uint8_t *buf = f.env->ram + TX_BUF;
	build_tcp_hdr(buf);
	uint8_t *payload = f.env->ram + TX_BUF + 0x1000;
	fill(payload, 250, 9);
	static const uint8_t css[6] = { 14, 24, 33, 34, 50, 0 };
	put_ctx(&f, 0, css, 250, E1000_TUCMD_IP | E1000_TUCMD_TCP | E1000_TXD_CMD_TSE, TSO_HDR,
		100);
	uint8_t opts = E1000_POPTS_IXSM | E1000_POPTS_TXSM;
	put_data(&f, 1, TX_BUF, TSO_HDR, E1000_TXD_CMD_TSE, opts);
	put_data(&f, 2, TX_BUF + 0x1000, 130, E1000_TXD_CMD_TSE, 0);
	put_data(&f, 3, TX_BUF + 0x1000 + 130, 120,
		 E1000_TXD_CMD_TSE | E1000_TXD_CMD_EOP | E1000_TXD_CMD_RS, 0);
	wr(&f, E1000_TDT, 4);
	g_assert_cmpuint(f.cap->frames->len, ==, 3);
	static const size_t seg_len[3] = { 100, 100, 50 };
	size_t off = 0;
	for (unsigned i = 0; i < 3; i++) {
		GByteArray *fr = sent(&f, i);
		const uint8_t *ip = fr->data + 14, *tcp = ip + 20;
		g_assert_cmpuint(fr->len, ==, TSO_HDR + seg_len[i]);
		g_assert_cmpuint(be16(ip + 2), ==, 40 + seg_len[i]);
		g_assert_cmphex(be16(ip + 4), ==, 0x1234 + i);
		g_assert_cmphex(fold(sum16(0, ip, 20)), ==, 0xFFFF);
		g_assert_cmpuint(be32(tcp + 4), ==, 1000 + off);
		g_assert_cmphex(tcp[13], ==, i == 2 ? 0x19 : 0x10);
		size_t l4 = 20 + seg_len[i];
		g_assert_cmphex(fold(sum16(sum16(6 + l4, ip + 12, 8), tcp, l4)), ==, 0xFFFF);
		g_assert_cmpmem(tcp + 20, seg_len[i], payload + off, seg_len[i]);
		off += seg_len[i];
	}
	g_assert_cmphex(txd_status(&f, 3), ==, E1000_TXD_STAT_DD);
	g_assert_cmpuint(rd(&f, E1000_TSCTC), ==, 1);
	g_assert_cmpuint(rd(&f, E1000_GPTC), ==, 3);
	/* a context whose MSS is 0 cannot segment: dropped and counted */
	put_ctx(&f, 4, css, 250, E1000_TUCMD_IP | E1000_TUCMD_TCP | E1000_TXD_CMD_TSE, TSO_HDR,
		0);
	put_data(&f, 5, TX_BUF, TSO_HDR, E1000_TXD_CMD_TSE | E1000_TXD_CMD_EOP, opts);
	wr(&f, E1000_TDT, 6);
	g_assert_cmpuint(f.cap->frames->len, ==, 3);
	g_assert_cmpuint(rd(&f, E1000_TSCTFC), ==, 1);
	g_assert_cmphex(rd(&f, E1000_TDH), ==, 6);
	fx_free(&f);
}

/* ---- receive ---- */

static void rx_setup(struct fx *f, unsigned ndesc, uint32_t rctl)
{
	wr(f, E1000_CTRL, E1000_CTRL_SLU);
	for (unsigned i = 0; i < ndesc; i++) {
		uint8_t *p = f->env->ram + RX_RING + 16 * i;
		memset(p, 0, 16);
		put_le(p, RX_BUF + i * RX_BUF_STRIDE, 8);
	}
	wr(f, E1000_RDBAL, RX_RING);
	wr(f, E1000_RDLEN, ndesc * 16);
	wr(f, E1000_RDH, 0);
	wr(f, E1000_RDT, ndesc - 1);
	wr(f, E1000_RCTL, rctl | E1000_RCTL_EN);
}

static const uint8_t *rxd(struct fx *f, unsigned idx)
{
	return f->env->ram + RX_RING + 16 * idx;
}

static const uint8_t *rx_buf(struct fx *f, unsigned idx)
{
	return f->env->ram + RX_BUF + idx * RX_BUF_STRIDE;
}

static bool deliver(struct fx *f, const uint8_t *dst, size_t len, uint8_t seed)
{
	uint8_t frame[4096];
	g_assert_cmpuint(len, <=, sizeof(frame));
	fill(frame, len, seed);
	memcpy(frame, dst, 6);
	frame[12] = 0x08, frame[13] = 0x06;
	return e1000_nic_ops.receive(f->d, frame, len);
}

static void test_rx_basic(void)
{
	struct fx f;
	fx_init(&f);
	rx_setup(&f, 8, E1000_RCTL_SECRC);
	wr(&f, E1000_IMS, E1000_ICR_RXT0);
	g_assert_true(deliver(&f, mac, 100, 5));
	const uint8_t *d0 = rxd(&f, 0);
	g_assert_cmpuint(d0[8] | d0[9] << 8, ==, 100);
	g_assert_cmphex(d0[12] & 3, ==, E1000_RXD_STAT_DD | E1000_RXD_STAT_EOP);
	g_assert_cmphex(d0[13], ==, 0);
	g_assert_cmpmem(rx_buf(&f, 0), 6, mac, 6);
	g_assert_cmphex(rx_buf(&f, 0)[99], ==, (uint8_t)(5 + 99 * 7));
	g_assert_cmphex(rd(&f, E1000_RDH), ==, 1);
	g_assert_cmpint(irq(&f), ==, 1);
	g_assert_true(rd(&f, E1000_ICR) & E1000_ICR_RXT0);
	/* without SECRC the FCS follows the data; a short frame is padded to 60 */
	wr(&f, E1000_RCTL, rd(&f, E1000_RCTL) & ~E1000_RCTL_SECRC);
	g_assert_true(deliver(&f, mac, 42, 6));
	const uint8_t *d1 = rxd(&f, 1), *b1 = rx_buf(&f, 1);
	g_assert_cmpuint(d1[8] | d1[9] << 8, ==, 64);
	g_assert_cmphex(b1[50], ==, 0);
	uint32_t crc = crc32(0, b1, 60);
	g_assert_cmphex(b1[60] | b1[61] << 8 | b1[62] << 16 | (uint32_t)b1[63] << 24, ==, crc);
	g_assert_cmpuint(rd(&f, E1000_GPRC), ==, 2);
	g_assert_cmpuint(rd(&f, E1000_GORCL), ==, 104 + 64);
	fx_free(&f);
}

static void test_rx_wrap_and_multi(void)
{
	struct fx f;
	fx_init(&f);
	rx_setup(&f, 8, E1000_RCTL_SECRC | 3u << E1000_RCTL_BSIZE_SHIFT); /* 256-byte buffers */
	wr(&f, E1000_RDH, 6);
	wr(&f, E1000_RDT, 4); /* hardware owns 6, 7, 0, 1, 2, 3 */
	g_assert_true(deliver(&f, mac, 200, 1));
	g_assert_true(deliver(&f, mac, 600, 2)); /* 256 + 256 + 88: descriptors 7, 0, 1 */
	g_assert_cmphex(rd(&f, E1000_RDH), ==, 2);
	g_assert_cmphex(rxd(&f, 6)[12] & 3, ==, 3);
	g_assert_cmphex(rxd(&f, 7)[12] & 3, ==, E1000_RXD_STAT_DD);
	g_assert_cmphex(rxd(&f, 0)[12] & 3, ==, E1000_RXD_STAT_DD);
	g_assert_cmphex(rxd(&f, 1)[12] & 3, ==, 3);
	g_assert_cmpuint(rxd(&f, 7)[8] | rxd(&f, 7)[9] << 8, ==, 256);
	g_assert_cmpuint(rxd(&f, 1)[8] | rxd(&f, 1)[9] << 8, ==, 88);
	g_assert_cmphex(rx_buf(&f, 0)[0], ==, (uint8_t)(2 + 256 * 7));
	g_assert_cmphex(rx_buf(&f, 1)[87], ==, (uint8_t)(2 + 599 * 7));
	/* two descriptors left (2, 3): a three-buffer frame waits */
	g_assert_false(deliver(&f, mac, 600, 3));
	g_assert_cmpuint(rd(&f, E1000_RNBC), ==, 1);
	g_assert_true(deliver(&f, mac, 100, 4));
	fx_free(&f);
}

static void test_rx_filter(void)
{
	struct fx f;
	fx_init(&f);
	rx_setup(&f, 8, E1000_RCTL_SECRC);
	static const uint8_t other[6] = { 0x52, 0x54, 0x00, 0x00, 0x00, 0x01 };
	static const uint8_t bcast[6] = { 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF };
	static const uint8_t mcast[6] = { 0x01, 0x00, 0x5E, 0x00, 0x00, 0xFB };
	g_assert_true(deliver(&f, other, 64, 1));
	g_assert_true(deliver(&f, bcast, 64, 1));
	g_assert_true(deliver(&f, mcast, 64, 1));
	g_assert_cmphex(rd(&f, E1000_RDH), ==, 0); /* all three filtered */
	g_assert_cmpuint(rd(&f, E1000_TPR), ==, 3);
	wr(&f, E1000_RCTL, rd(&f, E1000_RCTL) | E1000_RCTL_BAM);
	g_assert_true(deliver(&f, bcast, 64, 1));
	g_assert_cmphex(rd(&f, E1000_RDH), ==, 1);
	/* MO 00b: the hash is address bits 47:36, dst[5] << 4 | dst[4] >> 4 = 0xFB0 */
	wr(&f, E1000_MTA + 4 * (0xFB0 >> 5), 1u << (0xFB0 & 31));
	g_assert_true(deliver(&f, mcast, 64, 1));
	g_assert_cmphex(rd(&f, E1000_RDH), ==, 2);
	wr(&f, E1000_RCTL, rd(&f, E1000_RCTL) | E1000_RCTL_UPE);
	g_assert_true(deliver(&f, other, 64, 1));
	g_assert_cmphex(rd(&f, E1000_RDH), ==, 3);
	/* a second receive address */
	wr(&f, E1000_RCTL, rd(&f, E1000_RCTL) & ~E1000_RCTL_UPE);
	wr(&f, E1000_RAL0 + 8, 0x00005452);
	wr(&f, E1000_RAH0 + 8, 0x80000100);
	g_assert_true(deliver(&f, other, 64, 1));
	g_assert_cmphex(rd(&f, E1000_RDH), ==, 4);
	g_assert_cmpuint(rd(&f, E1000_BPRC), ==, 1);
	g_assert_cmpuint(rd(&f, E1000_MPRC), ==, 1);
	/* receiver off, or cable out: dropped, not kept */
	wr(&f, E1000_RCTL, rd(&f, E1000_RCTL) & ~E1000_RCTL_EN);
	g_assert_true(deliver(&f, mac, 64, 1));
	wr(&f, E1000_RCTL, rd(&f, E1000_RCTL) | E1000_RCTL_EN);
	e1000_set_link(f.d, false);
	g_assert_true(deliver(&f, mac, 64, 1));
	g_assert_cmphex(rd(&f, E1000_RDH), ==, 4);
	fx_free(&f);
}

/* Through the port: a full ring keeps frames queued until RDT moves. */
static void test_rx_full_ring(void)
{
	struct fx f;
	fx_init(&f);
	rx_setup(&f, 8, E1000_RCTL_SECRC);
	wr(&f, E1000_RDT, 2); /* two descriptors */
	uint8_t frame[64];
	fill(frame, sizeof(frame), 0);
	memcpy(frame, mac, 6);
	for (int i = 0; i < 3; i++)
		g_assert_true(net_port_deliver(f.port, frame, sizeof(frame)));
	g_assert_cmpuint(net_port_flush(f.port), ==, 2);
	g_assert_cmpuint(net_port_flush(f.port), ==, 0);
	g_assert_false(e1000_nic_ops.receive(f.d, frame, sizeof(frame)));
	wr(&f, E1000_RDT, 3);
	g_assert_cmpuint(net_port_flush(f.port), ==, 1);
	g_assert_cmphex(rd(&f, E1000_RDH), ==, 3);
	fx_free(&f);
}

/* ---- interrupt mitigation ---- */

static void test_rx_delay(void)
{
	struct fx f;
	fx_init(&f);
	rx_setup(&f, 16, E1000_RCTL_SECRC);
	rd(&f, E1000_ICR); /* LSC from setting SLU */
	wr(&f, E1000_IMS, E1000_ICR_RXT0);
	wr(&f, E1000_RDTR, 10); /* 10.24 us after the last packet */
	wr(&f, E1000_RADV, 25); /* 25.6 us after the first */
	g_assert_true(deliver(&f, mac, 64, 1));
	clock_step(f.env->clock, 10000);
	g_assert_cmpint(irq(&f), ==, 0);
	clock_step(f.env->clock, 300);
	g_assert_cmpint(irq(&f), ==, 1);
	g_assert_cmphex(rd(&f, E1000_ICR), ==, E1000_ICR_RXT0);
	/* packets every 8 us keep restarting RDTR; RADV ends the wait */
	for (int i = 0; i < 3; i++) {
		g_assert_true(deliver(&f, mac, 64, 1));
		clock_step(f.env->clock, 8000);
		g_assert_cmpint(irq(&f), ==, 0);
	}
	clock_step(f.env->clock, 2000); /* 26 us after the first */
	g_assert_cmpint(irq(&f), ==, 1);
	g_assert_cmphex(rd(&f, E1000_ICR), ==, E1000_ICR_RXT0);
	/* FPD flushes a pending delay at once */
	g_assert_true(deliver(&f, mac, 64, 1));
	g_assert_cmpint(irq(&f), ==, 0);
	wr(&f, E1000_RDTR, 10 | E1000_RDTR_FPD);
	g_assert_cmpint(irq(&f), ==, 1);
	g_assert_cmphex(rd(&f, E1000_RDTR), ==, 10);
	rd(&f, E1000_ICR);
	/* without RADV only quiet ends the wait: the second packet restarts it */
	wr(&f, E1000_RADV, 0);
	g_assert_true(deliver(&f, mac, 64, 1));
	clock_step(f.env->clock, 8000);
	g_assert_true(deliver(&f, mac, 64, 1));
	clock_step(f.env->clock, 10000); /* 18 us after the first, 10 after the second */
	g_assert_cmpint(irq(&f), ==, 0);
	clock_step(f.env->clock, 300);
	g_assert_cmpint(irq(&f), ==, 1);
	fx_free(&f);
}

static void test_itr_and_tx_delay(void)
{
	struct fx f;
	fx_init(&f);
	wr(&f, E1000_IMS, E1000_ICR_TXDW | E1000_ICR_LSC);
	wr(&f, E1000_ITR, 1000); /* 256 us between interrupts */
	wr(&f, E1000_ICS, E1000_ICR_LSC);
	g_assert_cmpint(irq(&f), ==, 1);
	rd(&f, E1000_ICR);
	wr(&f, E1000_ICS, E1000_ICR_LSC);
	g_assert_cmpint(irq(&f), ==, 0); /* throttled */
	clock_step(f.env->clock, 255000);
	g_assert_cmpint(irq(&f), ==, 0);
	clock_step(f.env->clock, 1000);
	g_assert_cmpint(irq(&f), ==, 1);
	rd(&f, E1000_ICR);
	wr(&f, E1000_ITR, 0);
	wr(&f, E1000_IMC, E1000_ICR_LSC);
	/* TXDW for a descriptor with IDE waits TIDV */
	tx_setup(&f, 8);
	wr(&f, E1000_TIDV, 5);
	fill(f.env->ram + TX_BUF, 64, 0);
	put_legacy(&f, 0, TX_BUF, 64, E1000_TXD_CMD_EOP | E1000_TXD_CMD_RS | E1000_TXD_CMD_IDE);
	wr(&f, E1000_TDT, 1);
	g_assert_cmphex(txd_status(&f, 0), ==, E1000_TXD_STAT_DD); /* written back at once */
	g_assert_cmpint(irq(&f), ==, 0);
	clock_step(f.env->clock, 5200);
	g_assert_cmpint(irq(&f), ==, 1);
	g_assert_true(rd(&f, E1000_ICR) & E1000_ICR_TXDW);
	fx_free(&f);
}

/* ---- hostile rings ---- */

static void test_wild_descriptors(void)
{
	struct fx f;
	fx_init(&f);
	tx_setup(&f, 8);
	uint64_t errors = e1000_dma_errors(f.d);
	/* ring outside RAM: nothing read, TDH stays */
	wr(&f, E1000_TDBAL, OUTSIDE_RAM);
	wr(&f, E1000_TDT, 1);
	g_assert_cmphex(rd(&f, E1000_TDH), ==, 0);
	g_assert_cmpuint(e1000_dma_errors(f.d), ==, ++errors);
	wr(&f, E1000_TDBAH, 0xFFFFFFFF);
	wr(&f, E1000_TDBAL, 0xFFFFFFF0);
	wr(&f, E1000_TDT, 2);
	g_assert_cmpuint(e1000_dma_errors(f.d), ==, ++errors);
	/* buffer outside RAM: frame dropped, descriptor completed */
	tx_setup(&f, 8);
	put_data(&f, 0, OUTSIDE_RAM, 100, E1000_TXD_CMD_EOP | E1000_TXD_CMD_RS, E1000_POPTS_TXSM);
	put_legacy(&f, 1, (uint64_t)FAKE_RAM_SIZE - 10, 100, E1000_TXD_CMD_EOP | E1000_TXD_CMD_RS);
	wr(&f, E1000_TDT, 2);
	g_assert_cmpuint(f.cap->frames->len, ==, 0);
	g_assert_cmphex(txd_status(&f, 0), ==, E1000_TXD_STAT_DD);
	g_assert_cmphex(rd(&f, E1000_TDH), ==, 2);
	errors += 2;
	g_assert_cmpuint(e1000_dma_errors(f.d), ==, errors);
	/* TDT past the ring, a zero-length ring: refused, no loop */
	wr(&f, E1000_TDT, 100);
	g_assert_cmpuint(e1000_dma_errors(f.d), ==, ++errors);
	wr(&f, E1000_TDLEN, 0);
	wr(&f, E1000_TDT, 3);
	g_assert_cmpuint(e1000_dma_errors(f.d), ==, ++errors);
	/* a frame longer than any Ethernet frame (DTALEN is 20 bits wide): dropped */
	tx_setup(&f, 8);
	put_data(&f, 0, TX_BUF, 0xFFFFF, E1000_TXD_CMD_EOP, 0);
	wr(&f, E1000_TDT, 1);
	g_assert_cmphex(rd(&f, E1000_TDH), ==, 1);
	g_assert_cmpuint(f.cap->frames->len, ==, 0);
	/* receive: ring outside RAM, then a buffer outside RAM */
	rx_setup(&f, 8, E1000_RCTL_SECRC);
	wr(&f, E1000_RDBAL, OUTSIDE_RAM);
	g_assert_true(deliver(&f, mac, 64, 1));
	g_assert_cmpuint(e1000_dma_errors(f.d), ==, ++errors);
	wr(&f, E1000_RDBAL, RX_RING);
	put_le(f.env->ram + RX_RING, OUTSIDE_RAM, 8);
	g_assert_true(deliver(&f, mac, 64, 1));
	g_assert_cmpuint(e1000_dma_errors(f.d), ==, ++errors);
	g_assert_cmphex(rxd(&f, 0)[12], ==, E1000_RXD_STAT_DD | E1000_RXD_STAT_EOP);
	g_assert_cmphex(rxd(&f, 0)[13], ==, E1000_RXD_ERR_RXE);
	g_assert_cmpuint(rd(&f, E1000_RXERRC), ==, 1);
	wr(&f, E1000_RDLEN, 0);
	g_assert_true(deliver(&f, mac, 64, 1));
	g_assert_cmpuint(e1000_dma_errors(f.d), ==, ++errors);
	/* bus mastering off: no DMA at all */
	rx_setup(&f, 8, E1000_RCTL_SECRC);
	pci_config_write(f.bus, DEVFN, PCI_COMMAND, PCI_COMMAND_MEMORY, 2);
	g_assert_true(e1000_nic_ops.receive(f.d, (const uint8_t *)"\x52\x54\x00\xAB\xCD\xEF"
							      "xxxxxxxxxxxxxxxxxxxx", 26));
	pci_config_write(f.bus, DEVFN, PCI_COMMAND,
			 PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, 2);
	g_assert_cmphex(rd(&f, E1000_RDH), ==, 0);
	fx_free(&f);
}

/* ---- state ---- */

static void test_state_round_trip(void)
{
	struct fx f;
	fx_init(&f);
	tx_setup(&f, 8);
	wr(&f, E1000_IMS, E1000_ICR_TXDW);
	uint8_t *buf = f.env->ram + TX_BUF;
	size_t len = build_udp(buf, 50);
	static const uint8_t css[6] = { 14, 24, 33, 34, 40, 0 };
	put_ctx(&f, 0, css, 0, E1000_TUCMD_IP, 0, 0);
	put_legacy(&f, 1, TX_BUF, len, E1000_TXD_CMD_EOP | E1000_TXD_CMD_RS);
	wr(&f, E1000_TDT, 2);
	g_assert_cmpuint(f.cap->frames->len, ==, 1);
	GByteArray *saved = g_byte_array_new();
	state_save(e1000_class.state, f.d, saved);
	/* a fresh device on a fresh machine takes the state and goes on from descriptor 2 with
	 * the saved checksum context */
	struct fx g;
	fx_init(&g);
	memcpy(g.env->ram, f.env->ram, FAKE_RAM_SIZE);
	char *error = NULL;
	g_assert_cmpint(state_load(e1000_class.state, g.d, saved->data, saved->len, &error), ==, 0);
	g_assert_cmphex(rd(&g, E1000_TDH), ==, 2);
	g_assert_cmphex(rd(&g, E1000_IMS), ==, E1000_ICR_TXDW);
	g_assert_cmpint(irq(&g), ==, 1); /* TXDW pending from before */
	put_data(&g, 2, TX_BUF, len, E1000_TXD_CMD_EOP | E1000_TXD_CMD_RS,
		 E1000_POPTS_IXSM | E1000_POPTS_TXSM);
	wr(&g, E1000_TDT, 3);
	g_assert_cmpuint(g.cap->frames->len, ==, 1);
	check_ip_and_udp(sent(&g, 0)->data, sent(&g, 0)->len);
	g_assert_cmphex(rd(&g, E1000_TDH), ==, 3);
	/* a state whose PCI IDs were changed is refused */
	GByteArray *bad = g_byte_array_new();
	e1000_pci(f.d)->config[PCI_DEVICE_ID] ^= 1;
	state_save(e1000_class.state, f.d, bad);
	g_assert_cmpint(state_load(e1000_class.state, g.d, bad->data, bad->len, &error), ==, -1);
	g_assert_nonnull(error);
	g_free(error);
	e1000_pci(f.d)->config[PCI_DEVICE_ID] ^= 1;
	g_byte_array_free(bad, TRUE);
	g_byte_array_free(saved, TRUE);
	fx_free(&g);
	fx_free(&f);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/e1000/pci-ids-and-bars", test_pci_ids);
	g_test_add_func("/e1000/io-bar", test_io_bar);
	g_test_add_func("/e1000/eeprom-eerd", test_eeprom_eerd);
	g_test_add_func("/e1000/eeprom-bitbang", test_eeprom_bitbang);
	g_test_add_func("/e1000/mdic-phy", test_mdic);
	g_test_add_func("/e1000/interrupts", test_interrupts);
	g_test_add_func("/e1000/link", test_link);
	g_test_add_func("/e1000/reset", test_reset);
	g_test_add_func("/e1000/tx-legacy", test_tx_legacy);
	g_test_add_func("/e1000/tx-checksum", test_tx_checksum);
	g_test_add_func("/e1000/tso", test_tso);
	g_test_add_func("/e1000/rx-basic", test_rx_basic);
	g_test_add_func("/e1000/rx-wrap-and-multi-buffer", test_rx_wrap_and_multi);
	g_test_add_func("/e1000/rx-filter", test_rx_filter);
	g_test_add_func("/e1000/rx-full-ring", test_rx_full_ring);
	g_test_add_func("/e1000/rx-delay", test_rx_delay);
	g_test_add_func("/e1000/itr-and-tx-delay", test_itr_and_tx_delay);
	g_test_add_func("/e1000/wild-descriptors", test_wild_descriptors);
	g_test_add_func("/e1000/state-round-trip", test_state_round_trip);
	return g_test_run();
}
