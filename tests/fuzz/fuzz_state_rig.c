/*
 * One device of a registered class, wired as src/pc.c wires it (ports, PCI slot, IRQs, disks,
 * a network port), on the fakes of tests/unit/fakes.h, and what a guest and the host do with
 * it: the steps a guest takes (to make seeds of states in the middle of something: a PIO
 * transfer half read, a receive FIFO holding bytes, descriptors handed to the NIC) and a sweep
 * over every register, time and host input that a device which loaded a state must survive.
 */
#include <string.h>

#include "block/block.h"
#include "devices/acpi_pm.h"
#include "devices/debugcon.h"
#include "devices/e1000.h"
#include "devices/e1000_regs.h"
#include "devices/fw_cfg.h"
#include "devices/i440fx.h"
#include "devices/i8042.h"
#include "devices/ide.h"
#include "devices/pci.h"
#include "devices/piix3.h"
#include "devices/piix_ide.h"
#include "devices/port92.h"
#include "devices/rtc.h"
#include "devices/test_exit.h"
#include "devices/uart.h"
#include "devices/vga.h"
#include "fuzz_state.h"
#include "net/net.h"

#define MAX_PIO 6
#define MAX_RENDERS 2
#define DISK_SECTORS 256 /* 128 KiB */
#define DISC_BLOCKS 32
#define DEVFN(slot, fn) ((slot) << 3 | (fn))

/* Where the firmware puts things (SeaBIOS on QEMU's pc, near enough). */
#define IDE_BM 0xC000
#define PM_BASE 0x0600
#define E1000_IO 0xC040
#define E1000_MMIO 0xFEBC0000u
#define VGA_LFB 0xFD000000u
#define VGA_MMIO 0xFEBF0000u

/* Guest RAM the steps use: descriptor rings, PRD tables, buffers. */
#define RAM_PRD 0x3000
#define RAM_DMA_BUF 0x4000
#define RAM_FWCFG_DMA 0x5000
#define RAM_RX_RING 0x10000
#define RAM_TX_RING 0x11000
#define RAM_RX_BUFS 0x20000
#define RAM_TX_BUF 0x30000

struct pio_region {
	uint16_t base, len;
};

/* What a rig knows of its device beyond the class: its regions and PCI function. */
struct rig_priv {
	struct rig r;
	struct pio_region pio[MAX_PIO];
	unsigned npio;
	struct pci_function *fn;
	bool disc_in;
};

static struct rig_priv *priv(struct rig *r)
{
	return (struct rig_priv *)r;
}

static void map_pio(struct rig *r, uint16_t base, uint16_t len, const struct bus_ops *ops,
		    void *opaque)
{
	fake_map(r->env, base, len, ops, opaque, r->cls->lock(r->dev));
	struct rig_priv *p = priv(r);
	if (p->npio < MAX_PIO)
		p->pio[p->npio++] = (struct pio_region){ base, len };
}

static void outb(struct rig *r, uint16_t port, uint8_t v) { fake_outb(r->env, port, v); }
static void outw(struct rig *r, uint16_t port, uint16_t v) { fake_outw(r->env, port, v); }
static void outl(struct rig *r, uint16_t port, uint32_t v) { fake_outl(r->env, port, v); }
static uint8_t inb(struct rig *r, uint16_t port) { return fake_inb(r->env, port); }
static uint16_t inw(struct rig *r, uint16_t port) { return fake_inw(r->env, port); }

static void cfg_write(struct rig *r, unsigned off, uint32_t v, unsigned size)
{
	pci_config_write(r->pci, r->rd->devfn, off, v, size);
}

static void ram_put(struct rig *r, uint32_t addr, const void *data, size_t len)
{
	memcpy(r->env->ram + addr, data, len);
}

static void ram_put32(struct rig *r, uint32_t addr, uint32_t v)
{
	ram_put(r, addr, &v, 4);
}

/* ---- the 16550A at COM1 ---- */

static void uart_wire(struct rig *r) { map_pio(r, 0x3F8, 8, &uart_ops, r->dev); }

static void uart_init_line(struct rig *r)
{
	outb(r, 0x3FB, 0x80); /* DLAB: 115200 baud */
	outb(r, 0x3F8, 1);
	outb(r, 0x3F9, 0);
	outb(r, 0x3FB, 0x03); /* 8N1 */
	outb(r, 0x3FA, 0x07); /* FIFOs on and cleared */
	outb(r, 0x3F9, 0x0F);
	outb(r, 0x3FC, 0x0B);
}

static void uart_talk(struct rig *r)
{
	for (const char *s = "hello\r\n"; *s; s++)
		outb(r, 0x3F8, *s);
	uart_receive(r->dev, (const uint8_t *)"login: root\r", 12);
}

static void uart_read_some(struct rig *r)
{
	(void)inb(r, 0x3FA);
	for (int i = 0; i < 3; i++)
		(void)inb(r, 0x3F8);
	(void)inb(r, 0x3FD);
	(void)inb(r, 0x3FE);
}

static void uart_host(struct rig *r)
{
	uart_receive(r->dev, (const uint8_t *)"0123456789abcdefXYZ", 19);
	for (int i = 0; i < 20; i++)
		(void)inb(r, 0x3F8);
}

/* ---- the MC146818 RTC and CMOS ---- */

static void rtc_wire(struct rig *r)
{
	rtc_set_base(r->dev, 1700000000);
	map_pio(r, 0x70, 2, &rtc_ops, r->dev);
}

static uint8_t cmos_read(struct rig *r, uint8_t i)
{
	outb(r, 0x70, i);
	return inb(r, 0x71);
}

static void cmos_write(struct rig *r, uint8_t i, uint8_t v)
{
	outb(r, 0x70, i);
	outb(r, 0x71, v);
}

static void rtc_read_time(struct rig *r)
{
	for (uint8_t i = 0; i < 14; i++)
		(void)cmos_read(r, i);
}

static void rtc_alarm_periodic(struct rig *r)
{
	cmos_write(r, 0x01, 0x30);
	cmos_write(r, 0x03, 0xFF); /* "don't care": every hour */
	cmos_write(r, 0x05, 0xFF);
	cmos_write(r, 0x0A, 0x26);
	cmos_write(r, 0x0B, 0x02 | 0x20 | 0x40 | 0x10); /* 24h, AIE, PIE, UIE */
	clock_step(r->env->clock, 1500 * 1000 * 1000ull);
}

static void rtc_ram(struct rig *r)
{
	(void)cmos_read(r, 0x0C);
	for (uint8_t i = 0x10; i < 0x40; i++)
		cmos_write(r, i, i * 7);
}

/* ---- the i8042 and its PS/2 keyboard and mouse ---- */

static void kbc_wire(struct rig *r)
{
	map_pio(r, 0x60, 1, &i8042_data_ops, r->dev);
	map_pio(r, 0x64, 1, &i8042_cmd_ops, r->dev);
}

static void kbc_setup(struct rig *r)
{
	outb(r, 0x64, 0x20);
	(void)inb(r, 0x60);
	outb(r, 0x64, 0x60);
	outb(r, 0x60, 0x47); /* IRQs, translation, system flag */
	outb(r, 0x64, 0xAE);
	outb(r, 0x64, 0xA8);
}

static void kbc_devices(struct rig *r)
{
	outb(r, 0x60, 0xF4); /* keyboard: scan */
	outb(r, 0x60, 0xED); /* LEDs: the ACK waits unread */
	outb(r, 0x64, 0xD4);
	outb(r, 0x60, 0xF4); /* mouse: stream */
}

static void kbc_host(struct rig *r)
{
	static const uint8_t keys[] = { 0x1C, 0xF0, 0x1C, 0xE0, 0x75, 0xE0, 0xF0, 0x75 };
	for (size_t i = 0; i < sizeof(keys); i += 2)
		i8042_kbd_put_scancode(r->dev, keys + i, 2);
	i8042_mouse_event(r->dev, 24, -16, 1, 1);
	(void)inb(r, 0x64);
}

static void kbc_drain(struct rig *r)
{
	for (int i = 0; i < 80; i++)
		(void)inb(r, 0x60);
}

/* ---- fw_cfg ---- */

static void fwcfg_wire(struct rig *r)
{
	static const char order[] = "/pci@i0cf8/ide@1,1/drive@0/disk@0\n";
	fw_cfg_add_u16(r->dev, 0x05, 1);	/* FW_CFG_NB_CPUS */
	fw_cfg_add_u64(r->dev, 0x03, 1 << 20); /* FW_CFG_RAM_SIZE */
	fw_cfg_add_file(r->dev, "bootorder", order, sizeof(order));
	fw_cfg_add_file(r->dev, "etc/e820", (const uint8_t[20]){ [8] = 0x10, [16] = 1 }, 20);
	map_pio(r, 0x510, FW_CFG_IO_LEN, &fw_cfg_io_ops, r->dev);
}

static void fwcfg_read(struct rig *r, uint16_t key, unsigned n)
{
	outw(r, 0x510, key);
	for (unsigned i = 0; i < n; i++)
		(void)inb(r, 0x511);
}

static void fwcfg_signature(struct rig *r)
{
	fwcfg_read(r, FW_CFG_SIGNATURE, 4);
	fwcfg_read(r, FW_CFG_FILE_DIR, 4 + 64);
}

static void fwcfg_half_file(struct rig *r)
{
	int key = fw_cfg_find_file(r->dev, "bootorder");
	fwcfg_read(r, key < 0 ? FW_CFG_ID : key, 10);
}

/* A DMA read of the e820 file (fw_cfg.h: FWCfgDmaAccess, big-endian). */
static void fwcfg_dma(struct rig *r)
{
	int key = fw_cfg_find_file(r->dev, "etc/e820");
	uint32_t ctl = (uint32_t)(key < 0 ? 0 : key) << 16 | FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_READ;
	ram_put32(r, RAM_FWCFG_DMA, GUINT32_TO_BE(ctl));
	ram_put32(r, RAM_FWCFG_DMA + 4, GUINT32_TO_BE(20));
	ram_put32(r, RAM_FWCFG_DMA + 8, 0);
	ram_put32(r, RAM_FWCFG_DMA + 12, GUINT32_TO_BE(RAM_DMA_BUF));
	outl(r, 0x514, 0);
	outl(r, 0x518, GUINT32_TO_BE(RAM_FWCFG_DMA));
}

/* ---- the small ones ---- */

static void port92_wire(struct rig *r) { map_pio(r, 0x92, 1, &port92_ops, r->dev); }
static void port92_a20(struct rig *r) { outb(r, 0x92, inb(r, 0x92) | 0x02); }
static void debugcon_wire(struct rig *r) { map_pio(r, 0x402, 1, &debugcon_ops, r->dev); }
static void debugcon_say(struct rig *r)
{
	for (const char *s = "SeaBIOS\n"; *s; s++)
		outb(r, 0x402, *s);
}
static void test_exit_wire(struct rig *r) { map_pio(r, 0xF4, 4, &test_exit_ops, r->dev); }
static void test_exit_write(struct rig *r) { outb(r, 0xF4, 0x10); }

/* ---- PCI: the host bridge and the ISA bridge ---- */

static void i440fx_wire(struct rig *r)
{
	struct i440fx *d = r->dev;
	pci_bus_attach(r->pci, 0, 0, &d->pci);
	priv(r)->fn = &d->pci;
}

static void i440fx_shadow(struct rig *r)
{
	for (unsigned i = 0x59; i <= 0x5F; i++)
		cfg_write(r, i, 0x33, 1); /* PAM: BIOS shadow read/write */
	cfg_write(r, 0x72, 0x0A, 1);	  /* SMRAM open */
}

static void piix3_wire(struct rig *r)
{
	struct piix3 *p = r->dev;
	struct irq_line isa[PIIX3_ISA_IRQS]; /* to the fake's recorder, which irq[0] uses */
	for (unsigned i = 0; i < PIIX3_ISA_IRQS; i++)
		isa[i] = (struct irq_line){ r->env->ctx.irq[0].set, r->env, i };
	piix3_set_isa_irqs(p, isa);
	pci_bus_attach(r->pci, 1, 0, &p->pci);
	pci_bus_set_rcr(r->pci, piix3_rcr_write, piix3_rcr_read, p);
	priv(r)->fn = &p->pci;
}

static void piix3_route(struct rig *r)
{
	cfg_write(r, 0x60, 0x0B0B0A0A, 4); /* PIRQA-D -> IRQ 10, 10, 11, 11 */
}

static void piix3_reroute(struct rig *r)
{
	cfg_write(r, 0x60, 0x80050B09, 4);
	(void)inb(r, 0xCF9);
}

/* ---- PIIX IDE: a disk as primary master, a CD as secondary master ---- */

static void ide_wire(struct rig *r)
{
	struct piix_ide *d = r->dev;
	piix_ide_set_drive_kind(d, 1, 0, IDE_KIND_CDROM);
	priv(r)->disc_in = true;
	pci_bus_attach(r->pci, 1, 1, &d->pci);
	priv(r)->fn = &d->pci;
	map_pio(r, 0x1F0, 8, &ide_cmd_ops, &d->chan[0]);
	map_pio(r, 0x3F6, 1, &ide_ctrl_ops, &d->chan[0]);
	map_pio(r, 0x170, 8, &ide_cmd_ops, &d->chan[1]);
	map_pio(r, 0x376, 1, &ide_ctrl_ops, &d->chan[1]);
}

static void ide_firmware(struct rig *r)
{
	cfg_write(r, PCI_BAR0 + 16, IDE_BM, 4);
	cfg_write(r, 0x40, 0x80008000, 4); /* IDETIM: both channels decode */
	cfg_write(r, PCI_COMMAND, PCI_COMMAND_IO | PCI_COMMAND_MASTER, 2);
}

static void ata_cmd(struct rig *r, uint16_t base, uint8_t cmd, uint8_t count, uint32_t lba)
{
	outb(r, base + 2, count);
	outb(r, base + 3, lba);
	outb(r, base + 4, lba >> 8);
	outb(r, base + 5, lba >> 16);
	outb(r, base + 6, 0xE0 | (lba >> 24 & 0x0F));
	outb(r, base + 7, cmd);
}

/* IDENTIFY half read; then READ SECTORS of 2 with a sector and a half read. */
static void ide_pio_in(struct rig *r)
{
	outb(r, 0x1F6, 0xA0);
	outb(r, 0x1F7, 0xEC);
	for (int i = 0; i < 128; i++)
		(void)inw(r, 0x1F0);
	ata_cmd(r, 0x1F0, 0x20, 2, 1);
	for (int i = 0; i < 384; i++)
		(void)inw(r, 0x1F0);
}

/* READ DMA through a PRD table, then WRITE SECTORS with half a sector written. */
static void ide_dma_out(struct rig *r)
{
	ram_put32(r, RAM_PRD, RAM_DMA_BUF);
	ram_put32(r, RAM_PRD + 4, 0x80000000u | 1024);
	outl(r, IDE_BM + 4, RAM_PRD);
	ata_cmd(r, 0x1F0, 0xC8, 2, 4);
	outb(r, IDE_BM, 0x09); /* start, to memory */
	outb(r, IDE_BM + 2, 0x04);
	outb(r, IDE_BM, 0x00);
	ata_cmd(r, 0x1F0, 0x30, 1, 8);
	for (int i = 0; i < 128; i++)
		outw(r, 0x1F0, 0xA55A);
}

/* The CD: READ(10) of block 16 by PACKET, half read. */
static void ide_atapi(struct rig *r)
{
	static const uint8_t read10[12] = { 0x28, 0, 0, 0, 0, 16, 0, 0, 1 };
	outb(r, 0x176, 0xA0);
	outb(r, 0x171, 0);
	outb(r, 0x174, 0x00);
	outb(r, 0x175, 0x08);
	outb(r, 0x177, 0xA0);
	for (int i = 0; i < 12; i += 2)
		outw(r, 0x170, read10[i] | read10[i + 1] << 8);
	for (int i = 0; i < 512; i++)
		(void)inw(r, 0x170);
}

static void ide_host(struct rig *r)
{
	struct rig_priv *p = priv(r);
	struct block_dev *old = NULL;
	char *error = NULL;
	if (ide_cdrom_change_media(r->dev, 1, 0, p->disc_in ? NULL : r->disc, true, &old,
				   &error) == 0)
		p->disc_in = !p->disc_in;
	g_free(error);
}

/* The data ports where a loaded transfer stands: read on, write on. */
static void ide_data(struct rig *r)
{
	static const uint16_t chans[] = { 0x1F0, 0x170 };
	for (size_t c = 0; c < G_N_ELEMENTS(chans); c++) {
		for (int i = 0; i < 1100; i++)
			(void)inw(r, chans[c]);
		for (int i = 0; i < 300; i++)
			outw(r, chans[c], i);
		outb(r, IDE_BM + 8 * c, 0x09); /* a DMA command the state left waiting */
		outb(r, IDE_BM + 8 * c, 0x01);
		outb(r, IDE_BM + 8 * c, 0x00);
	}
}

/* ---- the PIIX4 power management function ---- */

static void pm_wire(struct rig *r)
{
	struct acpi_pm *pm = r->dev;
	pci_bus_attach(r->pci, 1, 3, &pm->pci);
	priv(r)->fn = &pm->pci;
	map_pio(r, 0xAFE0, 4, &acpi_pm_gpe_ops, pm);
	map_pio(r, 0xB2, 2, &acpi_pm_apm_ops, pm);
	map_pio(r, 0xAE00, 16, &acpi_pm_hotplug_ops, pm);
}

static void pm_firmware(struct rig *r)
{
	cfg_write(r, 0x40, PM_BASE | 1, 4);
	cfg_write(r, 0x80, 1, 1); /* PMIOSE */
	cfg_write(r, PCI_COMMAND, PCI_COMMAND_IO, 2);
}

static void pm_enable(struct rig *r)
{
	outb(r, 0xB2, 0xF1); /* ACPI enable, as SeaBIOS's FADT says */
	outw(r, PM_BASE + 2, 0x0121);
	outw(r, 0xAFE2, 0x000F);
}

static void pm_timer(struct rig *r)
{
	clock_step(r->env->clock, 3 * 1000 * 1000ull);
	for (int i = 0; i < 4; i++)
		(void)fake_inl(r->env, PM_BASE + 8);
}

static void pm_button(struct rig *r)
{
	acpi_pm_power_button(r->dev);
	acpi_pm_gpe_raise(r->dev, 1);
}

/* ---- the standard VGA (4 MiB of VRAM, as the fuzz targets keep it small) ---- */

static void vga_wire(struct rig *r)
{
	vga_set_vram_mib(r->dev, 4);
	pci_bus_attach(r->pci, 2, 0, vga_pci(r->dev));
	priv(r)->fn = vga_pci(r->dev);
	map_pio(r, 0x3B0, 0x30, &vga_ioport_ops, r->dev);
	map_pio(r, 0x1CE, VGA_VBE_PORT_LEN, &vga_vbe_ops, r->dev);
	bus_register(r->mmio, 0xA0000, 0x20000, &vga_legacy_mem_ops, r->dev, vga_lock(r->dev), "vga");
}

static void vga_firmware(struct rig *r)
{
	cfg_write(r, PCI_BAR0, VGA_LFB, 4);
	cfg_write(r, PCI_BAR0 + 8, VGA_MMIO, 4);
	cfg_write(r, PCI_COMMAND, PCI_COMMAND_IO | PCI_COMMAND_MEMORY, 2);
}

static void vbe(struct rig *r, uint16_t index, uint16_t value)
{
	outw(r, 0x1CE, index);
	outw(r, 0x1CF, value);
}

static void vga_render_some(struct rig *r)
{
	struct vga_dirty dirty;
	char text[256];
	if (r->renders++ >= MAX_RENDERS)
		return;
	vga_render(r->dev, &dirty);
	vga_text_snapshot(r->dev, text, sizeof(text));
}

static void vga_vbe_mode(struct rig *r, uint16_t x, uint16_t y, uint16_t bpp)
{
	vbe(r, 4, 0);
	vbe(r, 1, x);
	vbe(r, 2, y);
	vbe(r, 3, bpp);
	vbe(r, 4, 0x41); /* enabled, linear framebuffer */
}

static void vga_lfb32(struct rig *r)
{
	vga_vbe_mode(r, 640, 480, 32);
	for (uint32_t i = 0; i < 2048; i++)
		bus_write(r->mmio, VGA_LFB + i * 4, 4, 0x00FF8040u + i);
	vga_render_some(r);
}

static void vga_pan8(struct rig *r)
{
	vga_vbe_mode(r, 800, 600, 8);
	vbe(r, 6, 1024); /* virtual width */
	vbe(r, 8, 16);	 /* x offset */
	vbe(r, 9, 4);
	outb(r, 0x3C8, 0);
	for (int i = 0; i < 48; i++)
		outb(r, 0x3C9, i);
}

static void vga_text(struct rig *r)
{
	vbe(r, 4, 0);
	for (uint32_t i = 0; i < 160; i += 2)
		bus_write(r->mmio, 0xB8000 + i, 2, 0x0700 | ('A' + i / 2 % 26));
	outb(r, 0x3D4, 0x0E);
	outb(r, 0x3D5, 0x00);
	outb(r, 0x3D4, 0x0F);
	outb(r, 0x3D5, 0x28);
	vga_render_some(r);
}

static void nic_wire(struct rig *r)
{
	pci_bus_attach(r->pci, 3, 0, e1000_pci(r->dev));
	priv(r)->fn = e1000_pci(r->dev);
}

static void nic_firmware(struct rig *r)
{
	cfg_write(r, PCI_BAR0, E1000_MMIO, 4);
	cfg_write(r, PCI_BAR0 + 4, E1000_IO, 4);
	cfg_write(r, PCI_INTERRUPT_LINE, 11, 1);
	cfg_write(r, PCI_COMMAND, PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, 2);
}

/* A register, where BAR0 is now. */
static void nic_wr(struct rig *r, uint32_t reg, uint32_t v)
{
	struct pci_bar *b = &e1000_pci(r->dev)->bars[0];
	bus_write(r->mmio, (b->mapped ? b->mapped_at : E1000_MMIO) + reg, 4, v);
}

static void nic_rx_ring(struct rig *r)
{
	nic_wr(r, E1000_CTRL, E1000_CTRL_SLU);
	nic_wr(r, E1000_EERD, E1000_EERD_START);
	nic_wr(r, E1000_MDIC, 2u << 26 | 1u << 21 | 1u << 16); /* read PHY status */
	for (uint32_t i = 0; i < 8; i++) {
		uint8_t d[16] = { 0 };
		uint32_t buf = RAM_RX_BUFS + i * 2048;
		memcpy(d, &buf, 4);
		ram_put(r, RAM_RX_RING + i * 16, d, 16);
	}
	nic_wr(r, E1000_RDBAL, RAM_RX_RING);
	nic_wr(r, E1000_RDBAH, 0);
	nic_wr(r, E1000_RDLEN, 8 * 16);
	nic_wr(r, E1000_RDH, 0);
	nic_wr(r, E1000_RDT, 7);
	nic_wr(r, E1000_RDTR, 50);
	nic_wr(r, E1000_IMS, 0x9D);
	nic_wr(r, E1000_RCTL, E1000_RCTL_EN | E1000_RCTL_UPE | E1000_RCTL_BAM);
}

static void nic_send(struct rig *r)
{
	static const uint8_t frame[60] = { 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x52, 0x54, 0,
					   0x12, 0x34, 0x56, 0x08, 0x06 };
	ram_put(r, RAM_TX_BUF, frame, sizeof(frame));
	for (uint32_t i = 0; i < 2; i++) {
		uint8_t d[16] = { 0 };
		uint32_t buf = RAM_TX_BUF;
		memcpy(d, &buf, 4);
		d[8] = sizeof(frame);
		d[11] = E1000_TXD_CMD_EOP | E1000_TXD_CMD_RS | 0x02; /* IFCS */
		ram_put(r, RAM_TX_RING + i * 16, d, 16);
	}
	nic_wr(r, E1000_TDBAL, RAM_TX_RING);
	nic_wr(r, E1000_TDLEN, 8 * 16);
	nic_wr(r, E1000_TDH, 0);
	nic_wr(r, E1000_TDT, 0);
	nic_wr(r, E1000_TIDV, 20);
	nic_wr(r, E1000_TCTL, E1000_TCTL_EN);
	nic_wr(r, E1000_TDT, 2);
	net_port_flush(r->port);
}

static void nic_host(struct rig *r)
{
	static const uint8_t frame[64] = { 0x52, 0x54, 0, 0x12, 0x34, 0x56, 2, 0, 0, 0, 0, 1, 8, 0 };
	net_port_deliver(r->port, frame, sizeof(frame));
	net_port_flush(r->port);
	e1000_set_link(r->dev, false);
	e1000_set_link(r->dev, true);
}

/* Rings where the loaded state has them: hand the NIC more descriptors. */
static void nic_kick(struct rig *r)
{
	nic_wr(r, E1000_TDT, 5);
	nic_wr(r, E1000_RDT, 3);
	nic_wr(r, E1000_ICR, 0xFFFFFFFF);
	net_port_flush(r->port);
}

/* ---- the table ---- */

static const struct rig_device rig_devices[] = {
	{ "i440fx", -1, -1, DEVFN(0, 0), i440fx_wire, NULL, { i440fx_shadow } },
	{ "piix3", 0, -1, DEVFN(1, 0), piix3_wire, piix3_route, { piix3_reroute } },
	{ "piix-ide", 14, 15, DEVFN(1, 1), ide_wire, ide_firmware,
	  { ide_pio_in, ide_dma_out, ide_atapi }, ide_host, ide_data },
	{ "piix4-pm", 9, -1, DEVFN(1, 3), pm_wire, pm_firmware, { pm_enable, pm_timer, pm_button },
	  pm_button },
	{ "rtc", 8, -1, 0, rtc_wire, NULL, { rtc_read_time, rtc_alarm_periodic, rtc_ram } },
	{ "uart16550a", 4, -1, 0, uart_wire, NULL, { uart_init_line, uart_talk, uart_read_some },
	  uart_host },
	{ "i8042", 1, 12, 0, kbc_wire, NULL, { kbc_setup, kbc_devices, kbc_host }, kbc_host,
	  kbc_drain },
	{ "fw-cfg", -1, -1, 0, fwcfg_wire, NULL, { fwcfg_signature, fwcfg_half_file, fwcfg_dma } },
	{ "port92", -1, -1, 0, port92_wire, NULL, { port92_a20 } },
	{ "debugcon", -1, -1, 0, debugcon_wire, NULL, { debugcon_say } },
	{ "test-exit", -1, -1, 0, test_exit_wire, NULL, { test_exit_write } },
	{ "vga", -1, -1, DEVFN(2, 0), vga_wire, vga_firmware, { vga_lfb32, vga_pan8, vga_text },
	  vga_render_some },
	{ "e1000", 11, -1, DEVFN(3, 0), nic_wire, nic_firmware, { nic_rx_ring, nic_send, nic_host },
	  nic_host, nic_kick },
};

/* A class this table does not know yet gets no ports: it still loads, runs time and resets. */
static const struct rig_device rig_unknown = { NULL, -1, -1, 0 };

static const struct rig_device *rig_device_find(const char *name)
{
	for (size_t i = 0; i < G_N_ELEMENTS(rig_devices); i++)
		if (!strcmp(rig_devices[i].name, name))
			return &rig_devices[i];
	return &rig_unknown;
}

/* ---- the rig ---- */

struct rig *rig_new(const struct device_class *cls)
{
	if (!cls->state || !cls->create)
		return NULL;
	struct rig_priv *p = g_new0(struct rig_priv, 1);
	struct rig *r = &p->r;
	r->cls = cls;
	r->rd = rig_device_find(cls->name);
	r->env = fake_env_new(r->rd->irq0, r->rd->irq1);
	r->mmio = bus_new("fuzz-mmio");
	r->pci = pci_bus_new(r->env->io, r->mmio);
	fake_map(r->env, 0xCF8, 8, &pci_host_ops, r->pci, NULL);
	r->disk = block_open_memory(DISK_SECTORS * 512ull);
	r->disc = block_open_memory(DISC_BLOCKS * 2048ull);
	r->disc->read_only = true;
	r->port = fake_loopback_port();
	struct dev_ctx ctx = r->env->ctx;
	ctx.pci = r->pci;
	ctx.disks[0] = r->disk;
	ctx.disks[2] = r->disc;
	ctx.net = r->port;
	memcpy(ctx.mac, (const uint8_t[]){ 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 }, 6);
	r->dev = cls->create(&ctx);
	if (!r->dev)
		g_error("fuzz_state: %s: create failed", cls->name);
	if (r->rd->wire)
		r->rd->wire(r);
	cls->reset(r->dev);
	if (r->rd->firmware)
		r->rd->firmware(r);
	return r;
}

void rig_free(struct rig *r)
{
	r->cls->destroy(r->dev);
	net_port_free(r->port); /* after the NIC let go of it */
	pci_bus_free(r->pci);
	bus_free(r->mmio);
	fake_env_free(r->env);
	block_close(r->disk);
	block_close(r->disc);
	g_free(priv(r));
}

void rig_use(struct rig *r, unsigned from, unsigned to)
{
	for (unsigned i = from; i < to && i < RIG_STEPS; i++)
		if (r->rd->steps[i])
			r->rd->steps[i](r);
}

static void sweep_pci(struct rig *r)
{
	struct pci_function *f = priv(r)->fn;
	if (!f)
		return;
	for (unsigned off = 0; off < 256; off += 4)
		(void)pci_config_read(r->pci, r->rd->devfn, off, 4);
	for (int n = 0; n < PCI_NUM_BARS; n++) {
		const struct pci_bar *b = &f->bars[n];
		if (!b->mapped || !b->size)
			continue;
		uint64_t v, step = b->io ? 1 : MAX(4, b->size / 1024);
		for (uint64_t off = 0; off < MIN(b->size, b->io ? 64 : b->size); off += step)
			bus_read(b->io ? r->env->io : r->mmio, b->mapped_at + off, b->io ? 1 : 4, &v);
	}
}

void rig_sweep(struct rig *r)
{
	struct rig_priv *p = priv(r);
	for (unsigned i = 0; i < p->npio; i++) {
		for (unsigned off = 0; off < p->pio[i].len; off++)
			(void)inb(r, p->pio[i].base + off);
		(void)inw(r, p->pio[i].base);
		(void)fake_inl(r->env, p->pio[i].base);
	}
	sweep_pci(r);
	if (r->rd->extra_sweep)
		r->rd->extra_sweep(r);
	static const uint64_t steps_ns[] = { 1000000, 50000000, 1000000000 };
	for (size_t i = 0; i < G_N_ELEMENTS(steps_ns); i++) {
		clock_step(r->env->clock, steps_ns[i]);
		net_port_flush(r->port);
	}
	if (r->rd->host)
		r->rd->host(r);
}
