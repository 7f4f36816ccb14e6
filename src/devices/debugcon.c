/* placeholder: being written */
#include "devices/debugcon.h"

const struct device_class debugcon_class = { .name = "debugcon" };
