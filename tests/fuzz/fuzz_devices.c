/*
 * libFuzzer target for the devices a guest drives directly. Per input it builds a small PC out
 * of the real device classes on fake buses (tests/unit/fakes.h): the i440FX and PIIX3 with
 * their PCI host ports, the PIIX IDE function (ATA disks as primary master and slave, ATAPI
 * CD-ROM drives holding small discs as secondary master and slave, the bus-master BAR), the
 * PIIX4 PM function, the RTC, a 16550A, the i8042 with its PS/2 keyboard and mouse, fw_cfg,
 * port 92, the debug console, the test-exit port, the standard VGA, an e1000 whose frames
 * loop back to it and an LSI 53C895A SCSI controller with disks at IDs 0 (in memory) and 1
 * (a file, like the IDE slaves'). The PCI BARs are programmed as the firmware would. The
 * masters' media are in memory and complete at once; the slaves' are raw files (memfd) whose
 * requests stay in flight until time passes (TIME drains them), so the guest can act while
 * they are. The input's first byte may leave slaves out: bit 0 the disk, bit 1 the second
 * CD-ROM drive.
 *
 * The rest of the input is a sequence of operations, each an op byte and a few argument bytes
 * (little-endian; missing bytes read as 0), the kind picked by op_table[op % 32]:
 *   PIO_OUT   region, offset u16, size, value u32     port write (1, 2 or 4 bytes)
 *   PIO_IN    region, offset u16, size                port read
 *   PIO_OUTS  region, offset u16, size, count u16, addr u24    rep outs from guest RAM
 *   PIO_INS   region, offset u16, size, count u16, addr u24    rep ins into guest RAM
 *   MEM       addr u24, len, len bytes                guest RAM write (PRDs, descriptors)
 *   MMIO_W    region, offset u32, size, value u32     (1, 2, 4 or 8 bytes; 8 repeats value)
 *   MMIO_R    region, offset u32, size
 *   TIME      shift, mult                             clock += (mult + 1) << (shift % 28) ns
 *   RESET     which                                   one device, or the machine
 *   SAVE_LOAD which                                   state_save then state_load, as snapshots
 *   FIRMWARE  -                                       the BARs and decoders programmed again
 *   RENDER    -                                       the display refreshed (a few per input)
 *   HOST      kind, ...                               host-side input (see host_ops)
 * A region is an index into PIO_REGIONS / MMIO_REGIONS (taken modulo their count); the offset
 * is taken modulo the region's length, but for the last region, which is the whole space. The
 * regions behind BARs follow the BARs where the guest moved them. An input ends after
 * MAX_OPS operations or MAX_ACCESSES accesses. tests/fuzz/device-seeds.py writes the seeds in
 * this encoding.
 *
 * Any crash, sanitizer report, leak or hang is a bug: nothing the guest does may crash the
 * VMM or reach host memory outside guest RAM (1 MiB here; DMA past it must be refused). A
 * device state the guest can reach must also save and load back unchanged (but for a block
 * request in flight, which the load issues again).
 */
#include <glib.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "block/block.h"
#include "devices/acpi_pm.h"
#include "devices/debugcon.h"
#include "devices/e1000.h"
#include "devices/fw_cfg.h"
#include "devices/i440fx.h"
#include "devices/i8042.h"
#include "devices/lsi53c895a.h"
#include "devices/pci.h"
#include "devices/piix3.h"
#include "devices/piix_ide.h"
#include "devices/port92.h"
#include "devices/rtc.h"
#include "devices/test_exit.h"
#include "devices/uart.h"
#include "devices/vga.h"
#include "fakes.h"
#include "log.h"
#include "net/net.h"

#define MAX_OPS 1024
#define MAX_ACCESSES 16384 /* port and MMIO accesses of one input: what bounds its DMA work */
#define MAX_REP 4096   /* accesses of one rep ins/outs */
#define MAX_RENDERS 4  /* a large VBE mode makes a render cost milliseconds */
#define MAX_DEVICES 16
#define DISK_SECTORS 2048 /* 1 MiB */
#define DISC_BLOCKS 300   /* 600 KiB */
#define RTC_EPOCH 1700000000

/* Where the firmware puts the BARs (what SeaBIOS picks on QEMU's pc, near enough). */
#define IDE_BM_BASE 0xC000
#define E1000_IO_BASE 0xC040
#define PM_BASE 0x0600
#define VGA_LFB_BASE 0xFD000000u
#define VGA_MMIO_BASE 0xFEBF0000u
#define E1000_MMIO_BASE 0xFEBC0000u
#define LSI_IO_BASE 0xC100
#define LSI_MMIO_BASE 0xFEBF1000u
#define LSI_RAM_BASE 0xFEBF2000u
#define SCSI_SECTORS 2048 /* 1 MiB */
#define VGA_VRAM_MIB 4

#define RIG_NO_DISK_SLAVE 0x01 /* the input's first byte */
#define RIG_NO_CD_SLAVE 0x02

#define DEVFN(slot, fn) ((slot) << 3 | (fn))
#define IDE_DEVFN DEVFN(1, 1)
#define PM_DEVFN DEVFN(1, 3)
#define VGA_DEVFN DEVFN(2, 0)
#define E1000_DEVFN DEVFN(3, 0)
#define LSI_DEVFN DEVFN(4, 0)

struct machine {
	struct fake_env *env;
	void (*irq_set)(void *opaque, unsigned gsi, int level); /* the fake's recorder */
	struct bus *mmio;
	struct pci_bus *pci;
	struct net_port *port;
	struct block_dev *media[DEV_MAX_DISKS]; /* as ctx.disks: channel * 2 + unit */
	struct block_dev *scsi_media[2];        /* SCSI IDs 0 and 1 */
	bool disc_in[2]; /* a CD drive's disc is in it (else it is ours, out of the tray) */
	unsigned resets_seen;
	unsigned accesses;
	unsigned renders;
	struct {
		const struct device_class *cls;
		void *dev;
	} devs[MAX_DEVICES];
	unsigned ndevs;
	struct piix3 *piix3;
	struct piix_ide *ide;
	struct acpi_pm *pm;
	struct uart *uart;
	struct i8042 *kbc;
	struct fw_cfg *fw;
	struct vga *vga;
	struct e1000 *nic;
	struct lsi *scsi;
};

/* ---- the input ---- */

struct cursor {
	const uint8_t *p;
	size_t left;
};

static uint32_t take(struct cursor *c, unsigned bytes)
{
	uint32_t v = 0;
	for (unsigned i = 0; i < bytes && c->left; i++, c->left--)
		v |= (uint32_t)*c->p++ << (8 * i);
	return v;
}

/* ---- the machine ---- */

static struct dev_ctx machine_ctx(struct machine *m, int irq0, int irq1)
{
	struct dev_ctx ctx = m->env->ctx;
	ctx.pci = m->pci;
	ctx.irq[0] = irq0 < 0 ? (struct irq_line){ 0 } : (struct irq_line){ m->irq_set, m->env, irq0 };
	ctx.irq[1] = irq1 < 0 ? (struct irq_line){ 0 } : (struct irq_line){ m->irq_set, m->env, irq1 };
	return ctx;
}

static void *add_device(struct machine *m, const struct device_class *cls,
			const struct dev_ctx *ctx)
{
	void *dev = cls->create(ctx);
	if (!dev)
		abort();
	m->devs[m->ndevs].cls = cls;
	m->devs[m->ndevs].dev = dev;
	m->ndevs++;
	return dev;
}

static void map_io(struct machine *m, uint16_t base, uint16_t len, const struct bus_ops *ops,
		   void *opaque, pthread_mutex_t *lock)
{
	if (bus_register(m->env->io, base, len, ops, opaque, lock, "fuzz") < 0)
		abort();
}

/* What SeaBIOS leaves behind: BARs placed and decoding, PIRQs routed, the PM block on. */
static void machine_firmware(struct machine *m)
{
	static const struct {
		unsigned devfn, off, size;
		uint32_t val;
	} writes[] = {
		{ DEVFN(1, 0), 0x60, 4, 0x0B0B0A0A }, /* PIRQA-D -> IRQ 10, 10, 11, 11 */
		{ IDE_DEVFN, PCI_BAR0 + 16, 4, IDE_BM_BASE },
		{ IDE_DEVFN, 0x40, 4, 0x80008000 }, /* IDETIM: decode both channels */
		{ IDE_DEVFN, PCI_COMMAND, 2, PCI_COMMAND_IO | PCI_COMMAND_MASTER },
		{ PM_DEVFN, 0x40, 4, PM_BASE },
		{ PM_DEVFN, 0x80, 1, 1 },
		{ PM_DEVFN, PCI_COMMAND, 2, PCI_COMMAND_IO },
		{ VGA_DEVFN, PCI_BAR0, 4, VGA_LFB_BASE },
		{ VGA_DEVFN, PCI_BAR0 + 8, 4, VGA_MMIO_BASE },
		{ VGA_DEVFN, PCI_COMMAND, 2, PCI_COMMAND_IO | PCI_COMMAND_MEMORY },
		{ E1000_DEVFN, PCI_BAR0, 4, E1000_MMIO_BASE },
		{ E1000_DEVFN, PCI_BAR0 + 4, 4, E1000_IO_BASE },
		{ E1000_DEVFN, PCI_INTERRUPT_LINE, 1, 11 },
		{ E1000_DEVFN, PCI_COMMAND, 2,
		  PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER },
		{ LSI_DEVFN, PCI_BAR0, 4, LSI_IO_BASE },
		{ LSI_DEVFN, PCI_BAR0 + 4, 4, LSI_MMIO_BASE },
		{ LSI_DEVFN, PCI_BAR0 + 8, 4, LSI_RAM_BASE },
		{ LSI_DEVFN, PCI_INTERRUPT_LINE, 1, 10 },
		{ LSI_DEVFN, PCI_COMMAND, 2,
		  PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER },
	};
	for (size_t i = 0; i < G_N_ELEMENTS(writes); i++)
		pci_config_write(m->pci, writes[i].devfn, writes[i].off, writes[i].val,
				 writes[i].size);
}

static void machine_add_pci(struct machine *m)
{
	struct dev_ctx ctx = machine_ctx(m, -1, -1);
	struct i440fx *host = add_device(m, &i440fx_class, &ctx);
	pci_bus_attach(m->pci, 0, 0, &host->pci);

	m->piix3 = add_device(m, &piix3_class, &ctx);
	struct irq_line isa[PIIX3_ISA_IRQS];
	for (unsigned i = 0; i < PIIX3_ISA_IRQS; i++)
		isa[i] = (struct irq_line){ m->irq_set, m->env, i };
	piix3_set_isa_irqs(m->piix3, isa);
	pci_bus_attach(m->pci, 1, 0, &m->piix3->pci);
	pci_bus_set_rcr(m->pci, piix3_rcr_write, piix3_rcr_read, m->piix3);

	ctx = machine_ctx(m, 14, 15);
	memcpy(ctx.disks, m->media, sizeof(ctx.disks));
	m->ide = add_device(m, &piix_ide_class, &ctx);
	for (unsigned unit = 0; unit < 2 && m->media[2 + unit]; unit++) {
		if (piix_ide_set_drive_kind(m->ide, 1, unit, IDE_KIND_CDROM) < 0)
			abort();
		m->disc_in[unit] = true;
	}
	pci_bus_attach(m->pci, 1, 1, &m->ide->pci);
	map_io(m, 0x1F0, 8, &ide_cmd_ops, &m->ide->chan[0], &m->ide->lock);
	map_io(m, 0x3F6, 1, &ide_ctrl_ops, &m->ide->chan[0], &m->ide->lock);
	map_io(m, 0x170, 8, &ide_cmd_ops, &m->ide->chan[1], &m->ide->lock);
	map_io(m, 0x376, 1, &ide_ctrl_ops, &m->ide->chan[1], &m->ide->lock);

	ctx = machine_ctx(m, 9, -1);
	m->pm = add_device(m, &acpi_pm_class, &ctx);
	pci_bus_attach(m->pci, 1, 3, &m->pm->pci);
	map_io(m, 0xAFE0, 4, &acpi_pm_gpe_ops, m->pm, &m->pm->lock);
	map_io(m, 0xB2, 2, &acpi_pm_apm_ops, m->pm, &m->pm->lock);
	map_io(m, 0xAE00, 16, &acpi_pm_hotplug_ops, m->pm, &m->pm->lock);

	ctx = machine_ctx(m, -1, -1);
	m->vga = add_device(m, &vga_class, &ctx);
	if (vga_set_vram_mib(m->vga, VGA_VRAM_MIB) < 0)
		abort();
	pci_bus_attach(m->pci, 2, 0, vga_pci(m->vga));
	pthread_mutex_t *lock = vga_lock(m->vga);
	map_io(m, 0x3B0, 0x30, &vga_ioport_ops, m->vga, lock);
	map_io(m, 0x1CE, VGA_VBE_PORT_LEN, &vga_vbe_ops, m->vga, lock);
	if (bus_register(m->mmio, 0xA0000, 0x20000, &vga_legacy_mem_ops, m->vga, lock, "vga") < 0)
		abort();

	m->port = fake_loopback_port();
	ctx.net = m->port;
	memcpy(ctx.mac, (const uint8_t[]){ 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 }, 6);
	m->nic = add_device(m, &e1000_class, &ctx);
	uint8_t rom[2048] = { 0x55, 0xAA, sizeof(rom) / 512 }; /* an option ROM's header */
	pci_function_set_rom(e1000_pci(m->nic), rom, sizeof(rom));
	pci_bus_attach(m->pci, 3, 0, e1000_pci(m->nic));
}

static void machine_add_isa(struct machine *m)
{
	struct dev_ctx ctx = machine_ctx(m, 8, -1);
	struct rtc *rtc = add_device(m, &rtc_class, &ctx);
	rtc_set_base(rtc, RTC_EPOCH);
	map_io(m, 0x70, 2, &rtc_ops, rtc, &rtc->lock);

	ctx = machine_ctx(m, 4, -1);
	m->uart = add_device(m, &uart_class, &ctx);
	map_io(m, 0x3F8, 8, &uart_ops, m->uart, &m->uart->lock);

	ctx = machine_ctx(m, 1, 12);
	m->kbc = add_device(m, &i8042_class, &ctx);
	map_io(m, 0x60, 1, &i8042_data_ops, m->kbc, &m->kbc->lock);
	map_io(m, 0x64, 1, &i8042_cmd_ops, m->kbc, &m->kbc->lock);

	ctx = machine_ctx(m, -1, -1);
	m->fw = add_device(m, &fw_cfg_class, &ctx);
	static const char boot_order[] = "/pci@i0cf8/ide@1,1/drive@0/disk@0\n";
	fw_cfg_add_u16(m->fw, 0x05, 1);           /* FW_CFG_NB_CPUS */
	fw_cfg_add_u64(m->fw, 0x03, 1 << 20);     /* FW_CFG_RAM_SIZE */
	fw_cfg_add_file(m->fw, "bootorder", boot_order, sizeof(boot_order));
	fw_cfg_add_file(m->fw, "etc/e820", (const uint8_t[20]){ [8] = 0x10, [16] = 1 }, 20);
	map_io(m, 0x510, FW_CFG_IO_LEN, &fw_cfg_io_ops, m->fw, &m->fw->lock);

	struct port92 *p92 = add_device(m, &port92_class, &ctx);
	map_io(m, 0x92, 1, &port92_ops, p92, &p92->lock);
	struct debugcon *dbg = add_device(m, &debugcon_class, &ctx);
	map_io(m, 0x402, 1, &debugcon_ops, dbg, &dbg->lock);
	struct test_exit *tx = add_device(m, &test_exit_class, &ctx);
	map_io(m, 0xF4, 4, &test_exit_ops, tx, &tx->lock);
}

/* Created last: the devices' order is the seeds' encoding. */
static void machine_add_scsi(struct machine *m)
{
	struct dev_ctx ctx = machine_ctx(m, -1, -1);
	ctx.disks[0] = m->scsi_media[0];
	ctx.disks[1] = m->scsi_media[1];
	m->scsi = add_device(m, &lsi53c895a_class, &ctx);
	pci_bus_attach(m->pci, 4, 0, lsi_pci(m->scsi));
}

static void device_reset(struct machine *m, unsigned i)
{
	pthread_mutex_t *lock = m->devs[i].cls->lock(m->devs[i].dev);
	pthread_mutex_lock(lock);
	m->devs[i].cls->reset(m->devs[i].dev);
	pthread_mutex_unlock(lock);
}

/* A machine reset, as src/pc.c does it: every device in creation order. */
static void machine_reset(struct machine *m)
{
	for (unsigned i = 0; i < m->ndevs; i++)
		device_reset(m, i);
}

/* An ISO-like image: zeros but for a primary volume descriptor in block 16. */
static const uint8_t disc_pvd[2048] = { 1, 'C', 'D', '0', '0', '1', 1 };

/* A raw image in a memfd, opened through /proc as a file: requests go to the block layer's
 * worker (or io_uring) and complete when drained, never at once. */
static struct block_dev *file_medium(uint64_t size, bool disc)
{
	char path[64], *error = NULL;
	int fd = memfd_create("fuzz-disk", MFD_CLOEXEC);
	if (fd < 0 || ftruncate(fd, size) < 0 ||
	    (disc && pwrite(fd, disc_pvd, sizeof(disc_pvd), 16 * 2048) < 0))
		abort();
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	struct block_dev *bd = block_open_format(path, "raw", disc, &error);
	close(fd);
	if (!bd) {
		fprintf(stderr, "fuzz_devices: %s\n", error);
		abort();
	}
	block_set_inline(bd, false);
	return bd;
}

static void machine_media(struct machine *m, unsigned config)
{
	m->media[0] = block_open_memory(DISK_SECTORS * 512ull);
	if (!(config & RIG_NO_DISK_SLAVE))
		m->media[1] = file_medium(DISK_SECTORS * 512ull, false);
	m->media[2] = block_open_memory(DISC_BLOCKS * 2048ull);
	block_pwrite(m->media[2], disc_pvd, sizeof(disc_pvd), 16 * 2048);
	m->media[2]->read_only = true;
	if (!(config & RIG_NO_CD_SLAVE))
		m->media[3] = file_medium(DISC_BLOCKS * 2048ull, true);
	m->scsi_media[0] = block_open_memory(SCSI_SECTORS * 512ull);
	m->scsi_media[1] = file_medium(SCSI_SECTORS * 512ull, false);
}

/* Time passes on the main loop: the block requests in flight complete, the NIC takes frames. */
static void machine_main_loop(struct machine *m)
{
	for (unsigned i = 0; i < DEV_MAX_DISKS; i++)
		if (m->media[i])
			block_drain(m->media[i]);
	for (unsigned i = 0; i < G_N_ELEMENTS(m->scsi_media); i++)
		block_drain(m->scsi_media[i]);
	net_port_flush(m->port);
}

static struct machine *machine_new(unsigned config)
{
	struct machine *m = g_new0(struct machine, 1);
	m->env = fake_env_new(0, -1);
	m->irq_set = m->env->ctx.irq[0].set;
	m->env->ctx.irq[0] = (struct irq_line){ 0 };
	m->mmio = bus_new("fuzz-mmio");
	m->pci = pci_bus_new(m->env->io, m->mmio);
	map_io(m, 0xCF8, 8, &pci_host_ops, m->pci, NULL);
	machine_media(m, config);
	machine_add_pci(m);
	machine_add_isa(m);
	machine_add_scsi(m);
	machine_reset(m);
	machine_firmware(m);
	return m;
}

static void machine_free(struct machine *m)
{
	for (unsigned i = m->ndevs; i-- > 0;)
		m->devs[i].cls->destroy(m->devs[i].dev);
	net_port_free(m->port); /* after the e1000 let go of it */
	pci_bus_free(m->pci);
	bus_free(m->mmio);
	fake_env_free(m->env);
	for (unsigned i = 0; i < DEV_MAX_DISKS; i++)
		block_close(m->media[i]);
	for (unsigned i = 0; i < G_N_ELEMENTS(m->scsi_media); i++)
		block_close(m->scsi_media[i]);
	g_free(m);
}

/* ---- where accesses go ---- */

/* Where BAR of F is mapped now, or DFLT while it is not. */
static uint64_t bar_base(struct pci_function *f, int bar, uint64_t dflt)
{
	return f->bars[bar].mapped ? f->bars[bar].mapped_at : dflt;
}

static uint64_t ide_bm_at(struct machine *m)
{
	return bar_base(&m->ide->pci, 4, IDE_BM_BASE);
}

static uint64_t nic_io_at(struct machine *m)
{
	return bar_base(e1000_pci(m->nic), 1, E1000_IO_BASE);
}

static uint64_t pm_at(struct machine *m)
{
	return m->pm->io_mapped ? m->pm->io_base : PM_BASE; /* PMBA maps itself: no BAR */
}

static uint64_t lsi_io_at(struct machine *m)
{
	return bar_base(lsi_pci(m->scsi), 0, LSI_IO_BASE);
}

static uint64_t lsi_mmio_at(struct machine *m)
{
	return bar_base(lsi_pci(m->scsi), 1, LSI_MMIO_BASE);
}

static uint64_t lsi_ram_at(struct machine *m)
{
	return bar_base(lsi_pci(m->scsi), 2, LSI_RAM_BASE);
}

static uint64_t nic_mmio_at(struct machine *m)
{
	return bar_base(e1000_pci(m->nic), 0, E1000_MMIO_BASE);
}

static uint64_t vga_mmio_at(struct machine *m)
{
	return bar_base(vga_pci(m->vga), 2, VGA_MMIO_BASE);
}

static uint64_t vga_lfb_at(struct machine *m)
{
	return bar_base(vga_pci(m->vga), 0, VGA_LFB_BASE);
}

struct region {
	uint64_t base;
	uint64_t (*at)(struct machine *m); /* a BAR: where it is now */
	uint32_t len;
};

/* The order is the encoding (device-seeds.py knows it): append, never reorder. */
static const struct region pio_regions[] = {
	{ 0x1F0, NULL, 8 },   /* 0 IDE primary command block */
	{ 0x3F6, NULL, 1 },   /* 1 IDE primary control */
	{ 0x170, NULL, 8 },   /* 2 IDE secondary command block */
	{ 0x376, NULL, 1 },   /* 3 IDE secondary control */
	{ 0, ide_bm_at, 16 }, /* 4 bus-master IDE (BAR4) */
	{ 0x3F8, NULL, 8 },   /* 5 COM1 */
	{ 0x70, NULL, 2 },    /* 6 RTC */
	{ 0x60, NULL, 1 },    /* 7 i8042 data */
	{ 0x64, NULL, 1 },    /* 8 i8042 command/status */
	{ 0x510, NULL, FW_CFG_IO_LEN }, /* 9 fw_cfg */
	{ 0xCF8, NULL, 8 },   /* 10 PCI configuration mechanism #1 */
	{ 0x3B0, NULL, 0x30 }, /* 11 VGA */
	{ 0x1CE, NULL, VGA_VBE_PORT_LEN }, /* 12 VBE DISPI */
	{ 0, nic_io_at, 8 },  /* 13 e1000 IOADDR/IODATA (BAR1) */
	{ 0, pm_at, ACPI_PM_IO_SIZE }, /* 14 PIIX4 PM (PMBA) */
	{ 0xAFE0, NULL, 4 },  /* 15 GPE0 */
	{ 0xB2, NULL, 2 },    /* 16 APM */
	{ 0xAE00, NULL, 16 }, /* 17 PCI hotplug */
	{ 0x92, NULL, 1 },    /* 18 port 92 */
	{ 0x402, NULL, 1 },   /* 19 debug console */
	{ 0xF4, NULL, 4 },    /* 20 test exit */
	{ 0, NULL, 0x10000 }, /* 21 any port */
	{ 0, lsi_io_at, LSI_IO_SIZE }, /* 22 LSI 53C895A registers (BAR0) */
};

static const struct region mmio_regions[] = {
	{ 0, nic_mmio_at, E1000_MMIO_SIZE },     /* 0 e1000 registers (BAR0) */
	{ 0, vga_mmio_at, 0x1000 },              /* 1 VGA MMIO (BAR2) */
	{ 0, vga_lfb_at, VGA_VRAM_MIB << 20 },   /* 2 VGA linear framebuffer (BAR0) */
	{ 0xA0000, NULL, 0x20000 },              /* 3 VGA window */
	{ 0, NULL, 0 },                          /* 4 any address (32-bit) */
	{ 0, lsi_mmio_at, LSI_MMIO_SIZE },       /* 5 LSI 53C895A registers (BAR1) */
	{ 0, lsi_ram_at, LSI_RAM_SIZE },         /* 6 LSI 53C895A SCRIPTS RAM (BAR2) */
};

static uint64_t region_addr(struct machine *m, const struct region *r, uint32_t off)
{
	if (!r->len)
		return off;
	return (r->at ? r->at(m) : r->base) + off % r->len;
}

/* Region, offset, size of a port access: the port and size. */
static uint16_t take_port(struct machine *m, struct cursor *c, unsigned *size)
{
	const struct region *r = &pio_regions[take(c, 1) % G_N_ELEMENTS(pio_regions)];
	uint16_t port = region_addr(m, r, take(c, 2));
	*size = 1u << (take(c, 1) % 3);
	return port;
}

/* A span of guest RAM for rep ins/outs and frames: ADDR moved down so LEN bytes fit. */
static uint8_t *ram_span(struct machine *m, uint32_t addr, size_t len)
{
	addr %= FAKE_RAM_SIZE;
	return m->env->ram + (addr + len > FAKE_RAM_SIZE ? FAKE_RAM_SIZE - len : addr);
}

/* ---- operations ---- */

static void op_pio_out(struct machine *m, struct cursor *c)
{
	unsigned size;
	uint16_t port = take_port(m, c, &size);
	bus_write(m->env->io, port, size, take(c, 4));
	m->accesses++;
}

static void op_pio_in(struct machine *m, struct cursor *c)
{
	unsigned size;
	uint16_t port = take_port(m, c, &size);
	uint64_t v;
	bus_read(m->env->io, port, size, &v);
	m->accesses++;
}

/* rep outs / rep ins: COUNT accesses of SIZE bytes between the port and guest RAM. */
static void pio_rep(struct machine *m, struct cursor *c, bool out)
{
	unsigned size;
	uint16_t port = take_port(m, c, &size);
	unsigned count = take(c, 2) % (MAX_REP + 1);
	count = MIN(count, MAX_ACCESSES - m->accesses);
	m->accesses += count;
	uint8_t *p = ram_span(m, take(c, 3), (size_t)count * size);
	for (unsigned i = 0; i < count; i++, p += size) {
		uint64_t v = 0;
		if (out) {
			memcpy(&v, p, size);
			bus_write(m->env->io, port, size, v);
		} else {
			bus_read(m->env->io, port, size, &v);
			memcpy(p, &v, size);
		}
	}
}

static void op_pio_outs(struct machine *m, struct cursor *c) { pio_rep(m, c, true); }
static void op_pio_ins(struct machine *m, struct cursor *c) { pio_rep(m, c, false); }

static void op_mem(struct machine *m, struct cursor *c)
{
	uint32_t addr = take(c, 3) % FAKE_RAM_SIZE;
	size_t len = take(c, 1);
	len = MIN(len, c->left);
	memcpy(ram_span(m, addr, len), c->p, len);
	c->p += len;
	c->left -= len;
}

static uint64_t take_mmio(struct machine *m, struct cursor *c, unsigned *size)
{
	const struct region *r = &mmio_regions[take(c, 1) % G_N_ELEMENTS(mmio_regions)];
	uint64_t addr = region_addr(m, r, take(c, 4));
	*size = 1u << (take(c, 1) % 4);
	return addr;
}

static void op_mmio_w(struct machine *m, struct cursor *c)
{
	unsigned size;
	uint64_t addr = take_mmio(m, c, &size);
	uint64_t v = take(c, 4);
	bus_write(m->mmio, addr, size, v | v << 32);
	m->accesses++;
}

static void op_mmio_r(struct machine *m, struct cursor *c)
{
	unsigned size;
	uint64_t addr = take_mmio(m, c, &size);
	uint64_t v;
	bus_read(m->mmio, addr, size, &v);
	m->accesses++;
}

/* Time passes: the timers that fall due fire, the main loop runs. */
static void op_time(struct machine *m, struct cursor *c)
{
	unsigned shift = take(c, 1) % 28;
	uint64_t ns = (uint64_t)(take(c, 1) + 1) << shift;
	clock_step(m->env->clock, ns);
	machine_main_loop(m);
}

static void op_reset(struct machine *m, struct cursor *c)
{
	unsigned which = take(c, 1) % (m->ndevs + 1);
	if (which == m->ndevs)
		machine_reset(m);
	else
		device_reset(m, which);
}

/* A block request of the IDE function in flight: a load issues it again, and a DMA write
 * takes its data from guest memory again, through whatever table the guest points at now. */
static bool ide_busy(struct machine *m, void *dev)
{
	if (dev != m->ide)
		return false;
	for (unsigned i = 0; i < 4; i++)
		if (m->ide->chan[i / 2].drive[i % 2].xfer == IDE_XFER_IO)
			return true;
	return false;
}

/* A snapshot of one device and its revert: what the guest made of it must load (a refusal
 * would make a snapshot of this guest impossible to revert to), and load back as it was saved
 * unless a request in flight was issued again. */
static void op_save_load(struct machine *m, struct cursor *c)
{
	unsigned i = take(c, 1) % m->ndevs;
	const struct device_class *cls = m->devs[i].cls;
	pthread_mutex_t *lock = cls->lock(m->devs[i].dev);
	GByteArray *saved = g_byte_array_new(), *again = g_byte_array_new();
	char *error = NULL;
	pthread_mutex_lock(lock);
	bool reissues = ide_busy(m, m->devs[i].dev);
	state_save(cls->state, m->devs[i].dev, saved);
	int ret = state_load(cls->state, m->devs[i].dev, saved->data, saved->len, &error);
	state_save(cls->state, m->devs[i].dev, again);
	pthread_mutex_unlock(lock);
	bool same = saved->len == again->len &&
		    (!saved->len || !memcmp(saved->data, again->data, saved->len));
	if (ret < 0 || (!same && !reissues)) {
		fprintf(stderr, "fuzz_devices: %s: saved state does not load back: %s\n",
			cls->name, error ? error : "different after the load");
		abort();
	}
	g_byte_array_free(saved, TRUE);
	g_byte_array_free(again, TRUE);
}

static void op_firmware(struct machine *m, struct cursor *c)
{
	machine_firmware(m);
}

static void op_render(struct machine *m, struct cursor *c)
{
	if (m->renders++ >= MAX_RENDERS)
		return;
	struct vga_dirty dirty;
	char text[256];
	vga_render(m->vga, &dirty);
	vga_text_snapshot(m->vga, text, sizeof(text));
}

/* ---- host-side input: what the console, the network and the user hand the devices ---- */

static void host_serial(struct machine *m, struct cursor *c)
{
	uint8_t buf[UART_FIFO_SIZE + 1];
	size_t len = take(c, 1) % sizeof(buf);
	for (size_t i = 0; i < len; i++)
		buf[i] = take(c, 1);
	uart_receive(m->uart, buf, len);
}

static void host_key(struct machine *m, struct cursor *c)
{
	uint8_t code[3];
	size_t len = 1 + take(c, 1) % 3;
	for (size_t i = 0; i < len; i++)
		code[i] = take(c, 1);
	i8042_kbd_put_scancode(m->kbc, code, len);
}

static void host_mouse(struct machine *m, struct cursor *c)
{
	int dx = (int8_t)take(c, 1), dy = (int8_t)take(c, 1), dz = (int8_t)take(c, 1);
	i8042_mouse_event(m->kbc, dx * 8, dy * 8, dz, take(c, 1) & 7);
}

static void host_power_button(struct machine *m, struct cursor *c)
{
	acpi_pm_power_button(m->pm);
}

/* The user ejects a disc or puts it back: bit 0 forces it past the guest's lock, bit 1 picks
 * the drive. The disc stays ours: a read in flight on it, disowned, is drained as pc.c's
 * block_close() of the old disc does, while the drive is there to ignore it. */
static void host_media(struct machine *m, struct cursor *c)
{
	unsigned how = take(c, 1), unit = how >> 1 & 1;
	struct block_dev *old = NULL;
	char *error = NULL;
	struct block_dev *medium = m->disc_in[unit] ? NULL : m->media[2 + unit];
	if (!m->media[2 + unit])
		return; /* no drive */
	if (ide_cdrom_change_media(m->ide, 1, unit, medium, how & 1, &old, &error) == 0)
		m->disc_in[unit] = !m->disc_in[unit];
	if (old)
		block_drain(old);
	g_free(error);
}

static void host_link(struct machine *m, struct cursor *c)
{
	e1000_set_link(m->nic, take(c, 1) & 1);
}

/* A frame from the network: LEN bytes of guest RAM at ADDR (any bytes will do). */
static void host_frame(struct machine *m, struct cursor *c)
{
	size_t len = take(c, 2) % 2048;
	net_port_deliver(m->port, ram_span(m, take(c, 3), len), len);
	machine_main_loop(m);
}

typedef void (*op_fn)(struct machine *m, struct cursor *c);

static const op_fn host_ops[] = {
	host_serial, host_key, host_mouse, host_power_button, host_media, host_link, host_frame,
};

static void op_host(struct machine *m, struct cursor *c)
{
	host_ops[take(c, 1) % G_N_ELEMENTS(host_ops)](m, c);
}

/* Op byte % 32 -> kind: port writes and reads most often. device-seeds.py knows the first
 * index of each kind. */
static const op_fn op_table[32] = {
	op_pio_out, op_pio_out, op_pio_out, op_pio_out,         /* 0-3 */
	op_pio_out, op_pio_out, op_pio_out, op_pio_out,         /* 4-7 */
	op_pio_in, op_pio_in, op_pio_in, op_pio_in, op_pio_in,  /* 8-12 */
	op_pio_outs, op_pio_outs, op_pio_ins, op_pio_ins,       /* 13-16 */
	op_mem, op_mem, op_mem, op_mem,                         /* 17-20 */
	op_mmio_w, op_mmio_w, op_mmio_w, op_mmio_r, op_mmio_r,  /* 21-25 */
	op_time, op_reset, op_save_load, op_firmware, op_render, /* 26-30 */
	op_host,                                                /* 31 */
};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	log_set_level(LOG_ERROR + 1); /* quiet: hostile guests are logged by design */
	log_open("/dev/null");         /* and so is what they write to the debug console */
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cursor c = { data, size };
	struct machine *m = machine_new(take(&c, 1));
	for (unsigned n = 0; n < MAX_OPS && m->accesses < MAX_ACCESSES && c.left; n++) {
		op_table[take(&c, 1) % G_N_ELEMENTS(op_table)](m, &c);
		/* the machine answers a reset request (0xCF9, port 92, the i8042) as pc.c does */
		if (m->env->resets != m->resets_seen) {
			m->resets_seen = m->env->resets;
			machine_reset(m);
		}
	}
	machine_free(m);
	return 0;
}
