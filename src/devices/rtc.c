/* placeholder: being written */
#include "devices/rtc.h"

const struct device_class rtc_class = { .name = "rtc" };
