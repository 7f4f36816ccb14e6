#pragma once
#include "devices/device.h"

extern const struct device_class fw_cfg_class;
