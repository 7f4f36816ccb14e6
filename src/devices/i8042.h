#pragma once
#include "devices/device.h"

extern const struct device_class i8042_class;
