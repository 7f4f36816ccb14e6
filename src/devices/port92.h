/* System control port A (port 0x92): fast A20 gate and fast reset. */
#pragma once
#include "devices/device.h"

struct port92 {
	pthread_mutex_t lock;
	uint8_t value;
	const struct machine_hooks *hooks;
};

extern const struct device_class port92_class;
extern const struct bus_ops port92_ops;
