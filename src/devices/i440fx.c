/* placeholder: being written */
#include "devices/i440fx.h"

const struct device_class i440fx_class = { .name = "i440fx" };
