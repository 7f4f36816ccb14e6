#pragma once
#include "devices/device.h"

extern const struct device_class port92_class;
