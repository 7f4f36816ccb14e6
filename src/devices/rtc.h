#pragma once
#include "devices/device.h"

extern const struct device_class rtc_class;
