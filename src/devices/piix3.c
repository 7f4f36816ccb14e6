/*
 * PIIX3 function 0 (82371SB datasheet §2.2): the PIRQx route control registers 0x60-0x63 send
 * PCI INTA-D to an ISA IRQ (bit 7 disables the route), and the reset control register at 0xCF9
 * resets the machine when bit 2 (RST_CPU) goes from 0 to 1. The header type is 0x80: the bridge
 * is multi-function, or SeaBIOS would never probe IDE (00:01.1) and PM (00:01.3).
 */
#include "devices/piix3.h"

#include <glib.h>
#include <string.h>

#include "log.h"

#define PIIX3_PIRQRC 0x60
#define PIIX3_PIRQ_DISABLED 0x80
#define PIIX3_RCR_SYS_RST 0x02
#define PIIX3_RCR_RST_CPU 0x04

/* IRQs the PIRQ router may select (datasheet: 3-7, 9-12, 14, 15). */
static bool piix3_pirq_irq_valid(unsigned irq)
{
	return irq < 16 && ((1u << irq) & 0xDEF8u);
}

static const struct irq_line *piix3_route(void *opaque, unsigned pirq)
{
	struct piix3 *p = opaque;
	uint8_t v = p->pci.config[PIIX3_PIRQRC + pirq];
	if (v & PIIX3_PIRQ_DISABLED || !piix3_pirq_irq_valid(v & 0x0F))
		return NULL;
	return &p->isa_irq[v & 0x0F];
}

static void piix3_config_write(struct pci_function *f, unsigned off, uint32_t val, unsigned size)
{
	(void)val;
	if (off < PIIX3_PIRQRC + 4 && off + size > PIIX3_PIRQRC)
		pci_bus_update_irqs(f->bus);
}

static void *piix3_create(const struct dev_ctx *ctx)
{
	struct piix3 *p = g_new0(struct piix3, 1);
	pthread_mutex_init(&p->lock, NULL);
	p->hooks = ctx->hooks;
	pci_function_init(&p->pci, "piix3", 0x8086, 0x7000, 0x060100, 0x00, 0x80);
	p->pci.lock = &p->lock;
	p->pci.config_write = piix3_config_write;
	p->pci.opaque = p;
	for (int i = 0; i < 4; i++) {
		p->pci.config[PIIX3_PIRQRC + i] = PIIX3_PIRQ_DISABLED;
		p->pci.wmask[PIIX3_PIRQRC + i] = 0x8F;
	}
	memcpy(p->power_on, p->pci.config, sizeof(p->power_on));
	if (ctx->pci)
		pci_bus_set_router(ctx->pci, piix3_route, p);
	return p;
}

void piix3_set_isa_irqs(struct piix3 *p, const struct irq_line lines[PIIX3_ISA_IRQS])
{
	memcpy(p->isa_irq, lines, sizeof(p->isa_irq));
}

static void piix3_destroy(void *dev)
{
	struct piix3 *p = dev;
	pthread_mutex_destroy(&p->lock);
	g_free(p);
}

static void piix3_reset(void *dev)
{
	struct piix3 *p = dev;
	pci_function_reset(&p->pci, p->power_on);
	p->rcr = 0;
}

static pthread_mutex_t *piix3_lock(void *dev)
{
	return &((struct piix3 *)dev)->lock;
}

void piix3_rcr_write(void *opaque, uint8_t val)
{
	struct piix3 *p = opaque;
	pthread_mutex_lock(&p->lock);
	bool reset = (val & PIIX3_RCR_RST_CPU) && !(p->rcr & PIIX3_RCR_RST_CPU);
	p->rcr = val & (PIIX3_RCR_SYS_RST | PIIX3_RCR_RST_CPU | 0x08);
	pthread_mutex_unlock(&p->lock);
	if (reset)
		machine_request_reset(p->hooks, "reset control register (0xCF9)");
}

uint8_t piix3_rcr_read(void *opaque)
{
	struct piix3 *p = opaque;
	pthread_mutex_lock(&p->lock);
	uint8_t v = p->rcr;
	pthread_mutex_unlock(&p->lock);
	return v;
}

static int piix3_post_load(void *obj, char **error)
{
	(void)error;
	struct piix3 *p = obj;
	if (p->pci.bus)
		pci_bus_update_irqs(p->pci.bus);
	return 0;
}

static const struct state_field piix3_fields[] = {
	STATE_U8_ARRAY(struct piix3, pci.config),
	STATE_U8(struct piix3, rcr),
};

static const struct state_desc piix3_state =
	STATE_DESC("piix3", 1, struct piix3, piix3_fields, .post_load = piix3_post_load);

const struct device_class piix3_class = {
	.name = "piix3",
	.state = &piix3_state,
	.create = piix3_create,
	.destroy = piix3_destroy,
	.reset = piix3_reset,
	.lock = piix3_lock,
};
