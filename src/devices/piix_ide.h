/*
 * PIIX3 IDE function (PCI 8086:7010, Intel 82371SB datasheet): two legacy IDE
 * channels and the bus-master IDE register file behind BAR4.
 *
 * The machine attaches .pci (pci_bus_attach(bus, 1, 1, &ide->pci)) and maps the legacy ports
 * itself, all under .lock:
 *   chan[0]: ide_cmd_ops at 0x1F0 (8 ports), ide_ctrl_ops at 0x3F6 (1 port), IRQ ctx->irq[0]
 *   chan[1]: ide_cmd_ops at 0x170 (8 ports), ide_ctrl_ops at 0x376 (1 port), IRQ ctx->irq[1]
 * Disks come from ctx->disks[channel * 2 + unit]; the device never closes them.
 */
#pragma once
#include <pthread.h>
#include <stdint.h>

#include "devices/device.h"
#include "devices/ide.h"
#include "devices/pci.h"

/* Bus-master IDE registers of one channel, at BAR4 + 0 (primary) and + 8 (secondary). */
#define PIIX_BM_CMD 0    /* BMICX: bit 0 start/stop, bit 3 read/write control */
#define PIIX_BM_STATUS 2 /* BMISX: 0 active, 1 error, 2 interrupt (W1C), 5/6 DMA capable */
#define PIIX_BM_PRD 4    /* BMIDTPX: descriptor table address, dword aligned */

struct piix_ide {
	/* Recursive: a block request may complete inside block_submit() while it is held. */
	pthread_mutex_t lock;
	struct pci_function pci;
	struct ide_channel chan[2];
	uint8_t bmdma[16]; /* the BAR4 register file, byte for byte */

	/* not guest state */
	uint8_t power_on_config[256];
	struct irq_line out_irq[2];  /* GSI 14 and 15, from the machine */
	struct irq_line chan_irq[2]; /* what each channel drives: through the bus-master status */
	int irq_level[2];            /* last level passed on, to see rising edges */
};

extern const struct device_class piix_ide_class;
