/* placeholder: being written */
#include "devices/port92.h"

const struct device_class port92_class = { .name = "port92" };
