/*
 * PCI bus 0 and configuration mechanism #1 (PCI Local Bus Specification 3.0, §3.2.2.3.2).
 * A function's configuration space is 256 bytes plus masks: a generic write keeps read-only
 * bits and clears write-1-to-clear bits; BAR writes and command-register changes remap the
 * function's regions on the I/O or memory bus.
 */
#pragma once
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "devices/bus.h"
#include "devices/irq.h"

/* Standard header offsets */
#define PCI_VENDOR_ID 0x00
#define PCI_DEVICE_ID 0x02
#define PCI_COMMAND 0x04
#define PCI_STATUS 0x06
#define PCI_REVISION 0x08
#define PCI_PROG_IF 0x09
#define PCI_CLASS_SUB 0x0A
#define PCI_HEADER_TYPE 0x0E
#define PCI_BAR0 0x10
#define PCI_SUBSYS_VENDOR 0x2C
#define PCI_SUBSYS_ID 0x2E
#define PCI_ROM_BAR 0x30
#define PCI_INTERRUPT_LINE 0x3C
#define PCI_INTERRUPT_PIN 0x3D

#define PCI_COMMAND_IO 0x1
#define PCI_COMMAND_MEMORY 0x2
#define PCI_COMMAND_MASTER 0x4
#define PCI_COMMAND_INTX_DISABLE 0x400

#define PCI_NUM_BARS 6

struct pci_bus;

struct pci_bar {
	uint32_t size; /* power of two; 0 = not implemented */
	bool io;
	const struct bus_ops *ops;
	void *opaque;
	uint64_t mapped_at; /* derived: where it is registered now */
	bool mapped;
};

struct pci_function {
	uint8_t config[256];
	uint8_t wmask[256];   /* bits the guest may change */
	uint8_t w1cmask[256]; /* bits a guest write of 1 clears */
	const char *name;
	struct pci_bus *bus;
	unsigned devfn;
	pthread_mutex_t *lock; /* the device's lock, held around its BAR handlers */
	struct pci_bar bars[PCI_NUM_BARS];
	int irq_level; /* INTx as the device drives it, before INTX_DISABLE */
	/* Expansion ROM (pci_function_set_rom): pci's own copy, padded to rom_size */
	uint8_t *rom;
	uint32_t rom_size; /* power of two, >= 2 KiB; 0 = no ROM */
	uint64_t rom_mapped_at; /* derived: where it is registered now */
	bool rom_mapped;
	/* Called after the generic write, with the bus's config lock held. */
	void (*config_write)(struct pci_function *f, unsigned off, uint32_t val, unsigned size);
	void *opaque;
};

/* Sets up IDs, class, header type and the standard writable bits (command, status, line). */
void pci_function_init(struct pci_function *f, const char *name, uint16_t vendor,
		       uint16_t device, uint32_t class_code /* class<<16|sub<<8|prog_if */,
		       uint8_t revision, uint8_t header_type);
/* Declares BAR n; SIZE a power of two (>= 16 for memory, >= 4 for I/O). */
void pci_function_set_bar(struct pci_function *f, int n, uint32_t size, bool io,
			  const struct bus_ops *ops, void *opaque);
/*
 * Gives F an expansion ROM (PCI 3.0 §6.3.1): pci keeps its own copy of the SIZE bytes at DATA,
 * padded with 0xFF to a power of two of at least 2 KiB. The ROM BAR (config 0x30) then sizes
 * to it, and while its enable bit (bit 0) and memory decoding are both on, the image is mapped
 * read-only on the memory bus at the BAR's address. DATA NULL (or SIZE 0) removes the ROM.
 * Call it while the ROM BAR is not mapped (before the machine runs); the copy is freed by the
 * next call or by pci_function_release(). Returns -1 (logged, nothing changed) for an image
 * over 16 MiB.
 */
int pci_function_set_rom(struct pci_function *f, const void *data, size_t size);
/* Frees what pci allocated for F (the ROM copy) without touching any bus: for the device's
 * destroy, when the machine tears everything down. */
void pci_function_release(struct pci_function *f);
/* Restores the power-on configuration values that the device's init wrote. */
void pci_function_reset(struct pci_function *f, const uint8_t power_on_config[256]);
/* Brings the BAR mappings in line with the config bytes (after a load or a write). */
void pci_function_remap(struct pci_function *f);
/* INTx: level as the device drives it; routed through the bus's PIRQ router. */
void pci_function_set_irq(struct pci_function *f, int level);

static inline void pci_config_set16(struct pci_function *f, unsigned off, uint16_t v)
{
	f->config[off] = v;
	f->config[off + 1] = v >> 8;
}

static inline void pci_config_set32(struct pci_function *f, unsigned off, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		f->config[off + i] = v >> (8 * i);
}

static inline uint32_t pci_config_get32(const struct pci_function *f, unsigned off)
{
	return f->config[off] | f->config[off + 1] << 8 | f->config[off + 2] << 16 |
	       (uint32_t)f->config[off + 3] << 24;
}

static inline uint16_t pci_config_get16(const struct pci_function *f, unsigned off)
{
	return f->config[off] | f->config[off + 1] << 8;
}

/* ---- the bus ---- */

struct pci_bus *pci_bus_new(struct bus *io, struct bus *mmio);
void pci_bus_free(struct pci_bus *bus);
int pci_bus_attach(struct pci_bus *bus, unsigned slot, unsigned func, struct pci_function *f);
struct pci_function *pci_bus_function(struct pci_bus *bus, unsigned devfn);

/* Config space access by bus/device/function (bus must be 0), for the host bridge and tests.
 * Absent functions read all-ones (vendor 0xFFFF). */
uint32_t pci_config_read(struct pci_bus *bus, unsigned devfn, unsigned off, unsigned size);
void pci_config_write(struct pci_bus *bus, unsigned devfn, unsigned off, uint32_t val,
		      unsigned size);

/* INTA..INTD of slot s, pin p (1..4) reach PIRQ (s + p - 1) % 4; ROUTE maps a PIRQ to an
 * interrupt line (the PIIX3's 0x60-0x63 registers), or returns NULL while it is disabled. */
void pci_bus_set_router(struct pci_bus *bus,
			const struct irq_line *(*route)(void *opaque, unsigned pirq), void *opaque);
/* Re-evaluates all four PIRQ lines: after a routing register changed. */
void pci_bus_update_irqs(struct pci_bus *bus);

/* Configuration mechanism #1 on ports 0xCF8-0xCFF. Byte accesses to 0xCF9 go to RCR_WRITE
 * (the PIIX3 reset control register), which the host bridge does not decode itself. */
extern const struct bus_ops pci_host_ops; /* opaque: struct pci_bus */
void pci_bus_set_rcr(struct pci_bus *bus, void (*write)(void *opaque, uint8_t val),
		     uint8_t (*read)(void *opaque), void *opaque);
pthread_mutex_t *pci_bus_lock(struct pci_bus *bus);
/* The buses BARs land on: a function with a non-BAR decoder (PIIX4 PMBA) maps there itself. */
struct bus *pci_bus_io(struct pci_bus *bus);
struct bus *pci_bus_mmio(struct pci_bus *bus);
uint32_t pci_bus_config_address(struct pci_bus *bus);
void pci_bus_set_config_address(struct pci_bus *bus, uint32_t val);
