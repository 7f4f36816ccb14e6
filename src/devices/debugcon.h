#pragma once
#include "devices/device.h"

extern const struct device_class debugcon_class;
