/* placeholder: being written */
#include "devices/piix_ide.h"

const struct device_class piix_ide_class = { .name = "piix-ide" };
