/* The firmware debug console (port 0x402): SeaBIOS writes its log here; pcvm.log keeps it. */
#pragma once
#include "devices/device.h"

struct debugcon {
	pthread_mutex_t lock;
};

extern const struct device_class debugcon_class;
extern const struct bus_ops debugcon_ops;
