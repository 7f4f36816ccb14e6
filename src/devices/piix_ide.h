#pragma once
#include "devices/device.h"

extern const struct device_class piix_ide_class;
