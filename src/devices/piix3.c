/* placeholder: being written */
#include "devices/piix3.h"

const struct device_class piix3_class = { .name = "piix3" };
