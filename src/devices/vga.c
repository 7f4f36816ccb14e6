/* placeholder: being written */
#include "devices/vga.h"

const struct device_class vga_class = { .name = "vga" };
