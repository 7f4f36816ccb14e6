/*
 * The i440FX host bridge as a configuration-space device. Guest RAM is always plain RAM in
 * pcvm, so the PAM registers (0x59-0x5F, which would steer 0xC0000-0xFFFFF between ROM and RAM)
 * and SMRAM (0x72) are stored for the guest to read back and otherwise ignored: the BIOS area
 * is refilled from the image on every reset instead (pc-platform.md).
 */
#include "devices/i440fx.h"

#include <glib.h>
#include <string.h>

#define I440FX_PAM0 0x59
#define I440FX_PAM_COUNT 7
#define I440FX_SMRAM 0x72

static void *i440fx_create(const struct dev_ctx *ctx)
{
	(void)ctx;
	struct i440fx *d = g_new0(struct i440fx, 1);
	pthread_mutex_init(&d->lock, NULL);
	pci_function_init(&d->pci, "i440fx", 0x8086, 0x1237, 0x060000, 0x02, 0x00);
	d->pci.lock = &d->lock;
	/* SeaBIOS recognises a QEMU-compatible board by the host bridge's subsystem IDs */
	pci_config_set16(&d->pci, PCI_SUBSYS_VENDOR, 0x1AF4);
	pci_config_set16(&d->pci, PCI_SUBSYS_ID, 0x1100);
	for (int i = 0; i < I440FX_PAM_COUNT; i++)
		d->pci.wmask[I440FX_PAM0 + i] = i == 0 ? 0x70 : 0x77;
	d->pci.config[I440FX_SMRAM] = 0x02; /* C_BASE_SEG: SMRAM at 0xA0000, closed */
	d->pci.wmask[I440FX_SMRAM] = 0x78;
	memcpy(d->power_on, d->pci.config, sizeof(d->power_on));
	return d;
}

static void i440fx_destroy(void *dev)
{
	struct i440fx *d = dev;
	pthread_mutex_destroy(&d->lock);
	g_free(d);
}

static void i440fx_reset(void *dev)
{
	struct i440fx *d = dev;
	pci_function_reset(&d->pci, d->power_on);
}

static pthread_mutex_t *i440fx_lock(void *dev)
{
	return &((struct i440fx *)dev)->lock;
}

static const struct state_field i440fx_fields[] = {
	STATE_U8_ARRAY(struct i440fx, pci.config),
};

static const struct state_desc i440fx_state =
	STATE_DESC("i440fx", 1, struct i440fx, i440fx_fields);

const struct device_class i440fx_class = {
	.name = "i440fx",
	.state = &i440fx_state,
	.create = i440fx_create,
	.destroy = i440fx_destroy,
	.reset = i440fx_reset,
	.lock = i440fx_lock,
};
