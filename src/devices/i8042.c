/* placeholder: being written */
#include "devices/i8042.h"

const struct device_class i8042_class = { .name = "i8042" };
