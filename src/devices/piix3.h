/* Intel 82371SB PIIX3 PCI-to-ISA bridge, PCI 00:01.0: PIRQ routing and the reset control
 * register at 0xCF9. The ISA devices behind it (PIC, PIT, RTC...) are devices of their own. */
#pragma once
#include "devices/device.h"
#include "devices/pci.h"

#define PIIX3_ISA_IRQS 16

struct piix3 {
	pthread_mutex_t lock;
	struct pci_function pci;
	uint8_t rcr; /* reset control register, port 0xCF9 */
	uint8_t power_on[256];
	struct irq_line isa_irq[PIIX3_ISA_IRQS]; /* where each ISA IRQ goes (wired by the machine) */
	const struct machine_hooks *hooks;
};

extern const struct device_class piix3_class;

/* The machine's interrupt lines for IRQ 0-15, for PIRQ routing; and the 0xCF9 decoder. */
void piix3_set_isa_irqs(struct piix3 *p, const struct irq_line lines[PIIX3_ISA_IRQS]);
void piix3_rcr_write(void *piix3, uint8_t val);
uint8_t piix3_rcr_read(void *piix3);
