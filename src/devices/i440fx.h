/* Intel 82441FX PCI and memory controller (i440FX host bridge), PCI 00:00.0. */
#pragma once
#include "devices/device.h"
#include "devices/pci.h"

struct i440fx {
	pthread_mutex_t lock;
	struct pci_function pci;
	uint8_t power_on[256];
};

extern const struct device_class i440fx_class;
