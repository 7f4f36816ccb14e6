#include "devices/pci.h"

#include <glib.h>
#include <string.h>

#include "log.h"

struct pci_bus {
	struct bus *io, *mmio;
	pthread_mutex_t lock; /* config cycles: 0xCF8 latch and every function's config bytes */
	uint32_t config_address;
	struct pci_function *fns[256];
	const struct irq_line *(*route)(void *opaque, unsigned pirq);
	void *route_opaque;
	const struct irq_line *pirq_line[4]; /* where each PIRQ was last driven */
	int pirq_level[4];
	void (*rcr_write)(void *opaque, uint8_t val);
	uint8_t (*rcr_read)(void *opaque);
	void *rcr_opaque;
};

/* ---- expansion ROM ---- */

#define PCI_ROM_ENABLE 0x1u
#define PCI_ROM_ADDR_MASK 0xFFFFF800u
#define PCI_ROM_MIN 0x800u
#define PCI_ROM_MAX 0x1000000u

/* The ROM BAR's address bits above the size, and the enable bit, are writable (PCI 3.0
 * §6.2.5.2); without a ROM the whole register reads 0, which sizes it to nothing. */
static void pci_rom_set_wmask(struct pci_function *f)
{
	uint32_t mask = f->rom_size ? (~(f->rom_size - 1) & PCI_ROM_ADDR_MASK) | PCI_ROM_ENABLE : 0;
	for (int i = 0; i < 4; i++)
		f->wmask[PCI_ROM_BAR + i] = mask >> (8 * i);
}

static uint64_t pci_rom_read(void *opaque, uint64_t off, unsigned size)
{
	const struct pci_function *f = opaque;
	uint64_t v = 0;
	for (unsigned i = 0; i < size; i++) {
		uint8_t b = off + i < f->rom_size ? f->rom[off + i] : 0xFF;
		v |= (uint64_t)b << (8 * i);
	}
	return v;
}

/* Read-only: writes are ignored, as by a ROM. */
static const struct bus_ops pci_rom_ops = {
	.read = pci_rom_read,
	.min_size = 1,
	.max_size = 8,
};

int pci_function_set_rom(struct pci_function *f, const void *data, size_t size)
{
	if (data && size > PCI_ROM_MAX) {
		log_error("%s: option ROM of %zu bytes is over the 16 MiB a ROM BAR can map",
			  f->name, size);
		return -1;
	}
	g_assert(!f->rom_mapped);
	g_free(f->rom);
	f->rom = NULL;
	f->rom_size = 0;
	if (data && size) {
		uint32_t rounded = PCI_ROM_MIN;
		while (rounded < size)
			rounded <<= 1;
		f->rom = g_malloc(rounded);
		memcpy(f->rom, data, size);
		memset(f->rom + size, 0xFF, rounded - size);
		f->rom_size = rounded;
	}
	pci_config_set32(f, PCI_ROM_BAR, 0);
	pci_rom_set_wmask(f);
	return 0;
}

void pci_function_release(struct pci_function *f)
{
	g_free(f->rom);
	f->rom = NULL;
	f->rom_size = 0;
	f->rom_mapped = false;
}

/* Where the ROM should be mapped now, or false: no ROM, not enabled, memory decoding off, or
 * an address that is unassigned or the sizing pattern. */
static bool pci_rom_target(const struct pci_function *f, uint64_t *addr)
{
	uint32_t v = pci_config_get32(f, PCI_ROM_BAR);
	uint32_t mask = ~(f->rom_size - 1) & PCI_ROM_ADDR_MASK;
	if (!f->rom_size || !(v & PCI_ROM_ENABLE) ||
	    !(pci_config_get16(f, PCI_COMMAND) & PCI_COMMAND_MEMORY))
		return false;
	v &= mask;
	if (v == 0 || v == mask)
		return false;
	*addr = v;
	return true;
}

static void pci_rom_remap(struct pci_function *f)
{
	uint64_t addr = 0;
	bool want = pci_rom_target(f, &addr);
	if (f->rom_mapped && (!want || addr != f->rom_mapped_at)) {
		bus_unregister(f->bus->mmio, f->rom_mapped_at, f);
		f->rom_mapped = false;
	}
	if (want && !f->rom_mapped &&
	    bus_register(f->bus->mmio, addr, f->rom_size, &pci_rom_ops, f, NULL, f->name) == 0) {
		f->rom_mapped = true;
		f->rom_mapped_at = addr;
	}
}

void pci_function_init(struct pci_function *f, const char *name, uint16_t vendor,
		       uint16_t device, uint32_t class_code, uint8_t revision, uint8_t header_type)
{
	memset(f->config, 0, sizeof(f->config));
	memset(f->wmask, 0, sizeof(f->wmask));
	memset(f->w1cmask, 0, sizeof(f->w1cmask));
	f->name = name;
	pci_config_set16(f, PCI_VENDOR_ID, vendor);
	pci_config_set16(f, PCI_DEVICE_ID, device);
	f->config[PCI_REVISION] = revision;
	f->config[PCI_PROG_IF] = class_code;
	pci_config_set16(f, PCI_CLASS_SUB, class_code >> 8);
	f->config[PCI_HEADER_TYPE] = header_type;
	/* command: I/O, memory, bus master, SERR, INTx disable */
	f->wmask[PCI_COMMAND] = 0x07;
	f->wmask[PCI_COMMAND + 1] = 0x05;
	/* status: signalled/received aborts and parity errors are write-1-to-clear */
	f->w1cmask[PCI_STATUS + 1] = 0xF9;
	f->wmask[PCI_INTERRUPT_LINE] = 0xFF;
	f->wmask[0x0C] = 0xFF; /* cache line size */
	f->wmask[0x0D] = 0xFF; /* latency timer */
	pci_rom_set_wmask(f);
}

void pci_function_set_bar(struct pci_function *f, int n, uint32_t size, bool io,
			  const struct bus_ops *ops, void *opaque)
{
	g_assert(n >= 0 && n < PCI_NUM_BARS && size && !(size & (size - 1)));
	struct pci_bar *b = &f->bars[n];
	b->size = size;
	b->io = io;
	b->ops = ops;
	b->opaque = opaque;
	uint32_t mask = ~(size - 1) & (io ? ~0x3u : ~0xFu);
	unsigned off = PCI_BAR0 + 4 * n;
	pci_config_set32(f, off, io ? 0x1 : 0x0);
	for (int i = 0; i < 4; i++)
		f->wmask[off + i] = mask >> (8 * i);
}

void pci_function_reset(struct pci_function *f, const uint8_t power_on_config[256])
{
	memcpy(f->config, power_on_config, 256);
	f->irq_level = 0;
	pci_function_remap(f);
}

/* Where BAR n should be now, or false if disabled or unassigned. */
static bool pci_bar_target(const struct pci_function *f, int n, uint64_t *addr)
{
	const struct pci_bar *b = &f->bars[n];
	uint16_t cmd = pci_config_get16(f, PCI_COMMAND);
	if (!b->size || !(cmd & (b->io ? PCI_COMMAND_IO : PCI_COMMAND_MEMORY)))
		return false;
	uint32_t v = pci_config_get32(f, PCI_BAR0 + 4 * n) & ~(b->size - 1) & (b->io ? ~3u : ~0xFu);
	/* an address with all of the size bits set is a BAR being sized, not placed */
	if (v == 0 || (b->io && v >= 0x10000) || v == (~(b->size - 1) & (b->io ? ~3u : ~0xFu)))
		return false;
	*addr = v;
	return true;
}

void pci_function_remap(struct pci_function *f)
{
	if (!f->bus)
		return;
	for (int n = 0; n < PCI_NUM_BARS; n++) {
		struct pci_bar *b = &f->bars[n];
		if (!b->size)
			continue;
		uint64_t addr = 0;
		bool want = pci_bar_target(f, n, &addr);
		if (b->mapped && (!want || addr != b->mapped_at)) {
			bus_unregister(b->io ? f->bus->io : f->bus->mmio, b->mapped_at, b->opaque);
			b->mapped = false;
		}
		if (want && !b->mapped) {
			struct bus *target = b->io ? f->bus->io : f->bus->mmio;
			if (bus_register(target, addr, b->size, b->ops, b->opaque, f->lock, f->name) == 0) {
				b->mapped = true;
				b->mapped_at = addr;
			}
		}
	}
	pci_rom_remap(f);
}

/* ---- interrupts ---- */

static unsigned pci_pirq_of(const struct pci_function *f)
{
	unsigned pin = f->config[PCI_INTERRUPT_PIN];
	return ((f->devfn >> 3) + pin - 1) % 4;
}

static int pci_function_irq_out(const struct pci_function *f)
{
	return f->irq_level && f->config[PCI_INTERRUPT_PIN] &&
	       !(pci_config_get16(f, PCI_COMMAND) & PCI_COMMAND_INTX_DISABLE);
}

void pci_bus_update_irqs(struct pci_bus *bus)
{
	int level[4] = { 0 };
	for (int i = 0; i < 256; i++)
		if (bus->fns[i] && pci_function_irq_out(bus->fns[i]))
			level[pci_pirq_of(bus->fns[i])] = 1;
	for (unsigned p = 0; p < 4; p++) {
		const struct irq_line *line = bus->route ? bus->route(bus->route_opaque, p) : NULL;
		if (bus->pirq_line[p] && bus->pirq_line[p] != line && bus->pirq_level[p])
			irq_lower(bus->pirq_line[p]);
		if (line && (line != bus->pirq_line[p] || level[p] != bus->pirq_level[p]))
			irq_set_level(line, level[p]);
		bus->pirq_line[p] = line;
		bus->pirq_level[p] = level[p];
	}
}

void pci_function_set_irq(struct pci_function *f, int level)
{
	if (f->irq_level == !!level)
		return;
	f->irq_level = !!level;
	if (f->bus) {
		pthread_mutex_lock(&f->bus->lock);
		pci_bus_update_irqs(f->bus);
		pthread_mutex_unlock(&f->bus->lock);
	}
}

void pci_bus_set_router(struct pci_bus *bus,
			const struct irq_line *(*route)(void *opaque, unsigned pirq), void *opaque)
{
	bus->route = route;
	bus->route_opaque = opaque;
}

/* ---- the bus and config cycles ---- */

struct pci_bus *pci_bus_new(struct bus *io, struct bus *mmio)
{
	struct pci_bus *bus = g_new0(struct pci_bus, 1);
	bus->io = io;
	bus->mmio = mmio;
	pthread_mutexattr_t attr;
	/* a device's INTx change may arrive while its own config write holds the lock */
	pthread_mutexattr_init(&attr);
	pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
	pthread_mutex_init(&bus->lock, &attr);
	pthread_mutexattr_destroy(&attr);
	return bus;
}

void pci_bus_free(struct pci_bus *bus)
{
	if (!bus)
		return;
	pthread_mutex_destroy(&bus->lock);
	g_free(bus);
}

int pci_bus_attach(struct pci_bus *bus, unsigned slot, unsigned func, struct pci_function *f)
{
	unsigned devfn = slot << 3 | func;
	if (slot >= 32 || func >= 8 || bus->fns[devfn]) {
		log_error("pci: slot %02x.%x is taken or invalid (%s)", slot, func, f->name);
		return -1;
	}
	f->bus = bus;
	f->devfn = devfn;
	bus->fns[devfn] = f;
	return 0;
}

struct pci_function *pci_bus_function(struct pci_bus *bus, unsigned devfn)
{
	return devfn < 256 ? bus->fns[devfn] : NULL;
}

pthread_mutex_t *pci_bus_lock(struct pci_bus *bus)
{
	return &bus->lock;
}

uint32_t pci_config_read(struct pci_bus *bus, unsigned devfn, unsigned off, unsigned size)
{
	struct pci_function *f = pci_bus_function(bus, devfn);
	if (!f || off + size > 256)
		return size == 4 ? 0xFFFFFFFFu : (1u << (8 * size)) - 1;
	uint32_t v = 0;
	for (unsigned i = 0; i < size; i++)
		v |= (uint32_t)f->config[off + i] << (8 * i);
	return v;
}

/* A change to these bytes may move a region: the BARs, the ROM BAR, the command register. */
static bool pci_off_remaps(unsigned off)
{
	return (off >= PCI_BAR0 && off < PCI_BAR0 + 4 * PCI_NUM_BARS) || off == PCI_COMMAND ||
	       (off >= PCI_ROM_BAR && off < PCI_ROM_BAR + 4);
}

void pci_config_write(struct pci_bus *bus, unsigned devfn, unsigned off, uint32_t val,
		      unsigned size)
{
	struct pci_function *f = pci_bus_function(bus, devfn);
	if (!f || off + size > 256)
		return;
	bool remap = false;
	for (unsigned i = 0; i < size; i++) {
		unsigned o = off + i;
		uint8_t b = val >> (8 * i);
		uint8_t old = f->config[o];
		f->config[o] = (old & ~f->wmask[o]) | (b & f->wmask[o]);
		f->config[o] &= ~(b & f->w1cmask[o]);
		if (pci_off_remaps(o))
			remap |= f->config[o] != old;
	}
	if (remap)
		pci_function_remap(f);
	if (off <= PCI_COMMAND + 1 && off + size > PCI_COMMAND + 1)
		pci_bus_update_irqs(bus); /* INTx disable may have changed */
	if (f->config_write)
		f->config_write(f, off, val, size);
}

void pci_bus_set_rcr(struct pci_bus *bus, void (*write)(void *opaque, uint8_t val),
		     uint8_t (*read)(void *opaque), void *opaque)
{
	bus->rcr_write = write;
	bus->rcr_read = read;
	bus->rcr_opaque = opaque;
}

struct bus *pci_bus_io(struct pci_bus *bus)
{
	return bus->io;
}

struct bus *pci_bus_mmio(struct pci_bus *bus)
{
	return bus->mmio;
}

uint32_t pci_bus_config_address(struct pci_bus *bus)
{
	return bus->config_address;
}

void pci_bus_set_config_address(struct pci_bus *bus, uint32_t val)
{
	bus->config_address = val;
}

/* 0xCF8: CONFIG_ADDRESS, only a 32-bit access reaches it; 0xCFC-0xCFF: CONFIG_DATA. */
static uint64_t pci_host_read(void *opaque, uint64_t off, unsigned size)
{
	struct pci_bus *bus = opaque;
	uint64_t v = ~0ull;
	pthread_mutex_lock(&bus->lock);
	if (off == 0 && size == 4) {
		v = bus->config_address;
	} else if (off == 1 && size == 1 && bus->rcr_read) {
		v = bus->rcr_read(bus->rcr_opaque);
	} else if (off >= 4) {
		uint32_t a = bus->config_address;
		if ((a & 0x80000000u) && ((a >> 16) & 0xFF) == 0)
			v = pci_config_read(bus, (a >> 8) & 0xFF, (a & 0xFC) + (off - 4), size);
	}
	pthread_mutex_unlock(&bus->lock);
	return v;
}

static void pci_host_write(void *opaque, uint64_t off, uint64_t data, unsigned size)
{
	struct pci_bus *bus = opaque;
	pthread_mutex_lock(&bus->lock);
	if (off == 0 && size == 4) {
		bus->config_address = data & 0x80FFFFFCu;
	} else if (off == 1 && size == 1) {
		void (*rcr)(void *, uint8_t) = bus->rcr_write;
		void *rcr_opaque = bus->rcr_opaque;
		pthread_mutex_unlock(&bus->lock);
		if (rcr)
			rcr(rcr_opaque, data);
		return;
	} else if (off >= 4) {
		uint32_t a = bus->config_address;
		if ((a & 0x80000000u) && ((a >> 16) & 0xFF) == 0)
			pci_config_write(bus, (a >> 8) & 0xFF, (a & 0xFC) + (off - 4), data, size);
	}
	pthread_mutex_unlock(&bus->lock);
}

const struct bus_ops pci_host_ops = {
	.read = pci_host_read,
	.write = pci_host_write,
	.min_size = 1,
	.max_size = 4,
};
