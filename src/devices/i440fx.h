#pragma once
#include "devices/device.h"

extern const struct device_class i440fx_class;
