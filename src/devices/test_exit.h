#pragma once
#include "devices/device.h"

extern const struct device_class test_exit_class;
