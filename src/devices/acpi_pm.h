#pragma once
#include "devices/device.h"

extern const struct device_class acpi_pm_class;
