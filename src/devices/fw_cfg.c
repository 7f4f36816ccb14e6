/* placeholder: being written */
#include "devices/fw_cfg.h"

const struct device_class fw_cfg_class = { .name = "fw-cfg" };
