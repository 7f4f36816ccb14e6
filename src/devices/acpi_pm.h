/*
 * PIIX4 power management function (Intel 82371AB PIIX4 datasheet, function 3) as the ACPI
 * fixed hardware that SeaBIOS's tables describe: PM1 event and control registers and the PM
 * timer in a 64-byte I/O block at PMBA (config 0x40, enabled by PMREGMISC 0x80 bit 0), plus
 * the fixed-address blocks of QEMU's "pc" machine that SeaBIOS's FADT and DSDT use.
 *
 * The machine:
 *   pm = create(ctx)  with ctx->clock, ctx->hooks (S5 power-off) and ctx->irq[0] = GSI 9 (SCI)
 *   pci_bus_attach(bus, 1, 3, &pm->pci)   the PM region then maps itself on pci_bus_io(bus)
 *   bus_register(io, 0xAFE0, 4,  &acpi_pm_gpe_ops,     pm, &pm->lock, ...)   GPE0 block
 *   bus_register(io, 0xB2,   2,  &acpi_pm_apm_ops,     pm, &pm->lock, ...)   APM control
 *   bus_register(io, 0xAE00, 16, &acpi_pm_hotplug_ops, pm, &pm->lock, ...)   PCI hotplug
 * Destroy the device before the buses it was mapped on.
 */
#pragma once
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "devices/bus.h"
#include "devices/device.h"
#include "devices/pci.h"

#define ACPI_PM_IO_SIZE 64

struct acpi_pm {
	pthread_mutex_t lock;
	struct pci_function pci; /* config bytes are saved with the device */
	uint8_t power_on_config[256];

	/* wiring */
	struct clock *clock;
	struct timer *tmr_timer; /* fires at the next PM timer bit-23 toggle while TMR_EN */
	struct irq_line sci;
	const struct machine_hooks *hooks;

	/* guest-visible registers */
	uint16_t pm1_sts, pm1_en, pm1_cnt;
	uint16_t gpe_sts, gpe_en;
	uint8_t apm_cnt, apm_sts;

	/* derived */
	uint64_t tmr_period; /* PM timer count >> 23 when TMR_STS was last brought up to date */
	bool io_mapped;
	uint16_t io_base; /* where the PM region is registered while io_mapped */
	int sci_level;    /* -1 = unknown */
};

extern const struct device_class acpi_pm_class;
extern const struct bus_ops acpi_pm_io_ops;      /* PMBA, 64 bytes; maps itself */
extern const struct bus_ops acpi_pm_gpe_ops;     /* 0xAFE0, 4 bytes */
extern const struct bus_ops acpi_pm_apm_ops;     /* 0xB2, 2 bytes */
extern const struct bus_ops acpi_pm_hotplug_ops; /* 0xAE00, 16 bytes */

/* The power button was pressed (control socket "powerdown"): PWRBTN_STS, and the SCI when
 * the guest enabled it. Takes the lock. */
void acpi_pm_power_button(struct acpi_pm *pm);

/* A general-purpose event (GPE0 status bit BIT, 0-15): for hotplug sources later. Takes the
 * lock. */
void acpi_pm_gpe_raise(struct acpi_pm *pm, unsigned bit);
