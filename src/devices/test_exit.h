/* The test-exit port (0xF4), QEMU's isa-debug-exit convention: a write of V ends the VM process
 * with exit code (V << 1) | 1. Only present when the VM's configuration enables it. */
#pragma once
#include "devices/device.h"

struct test_exit {
	pthread_mutex_t lock;
	const struct machine_hooks *hooks;
};

extern const struct device_class test_exit_class;
extern const struct bus_ops test_exit_ops;
