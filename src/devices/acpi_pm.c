/* placeholder: being written */
#include "devices/acpi_pm.h"

const struct device_class acpi_pm_class = { .name = "piix4-pm" };
