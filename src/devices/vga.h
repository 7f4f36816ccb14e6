#pragma once
/* placeholder: the standard VGA (being written) */
#include "devices/device.h"

extern const struct device_class vga_class;
