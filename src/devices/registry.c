/* Every device class pcvm knows, by name: the machine and the tests create devices from here. */
#include <string.h>

#include "devices/acpi_pm.h"
#include "devices/debugcon.h"
#include "devices/e1000.h"
#include "devices/fw_cfg.h"
#include "devices/i440fx.h"
#include "devices/i8042.h"
#include "devices/lsi53c895a.h"
#include "devices/piix3.h"
#include "devices/piix_ide.h"
#include "devices/port92.h"
#include "devices/rtc.h"
#include "devices/test_exit.h"
#include "devices/uart.h"
#include "devices/vga.h"

const struct device_class *const device_classes[] = {
	&i440fx_class,
	&piix3_class,
	&piix_ide_class,
	&acpi_pm_class,
	&rtc_class,
	&uart_class,
	&i8042_class,
	&fw_cfg_class,
	&port92_class,
	&debugcon_class,
	&test_exit_class,
	&vga_class,
	&e1000_class,
	&lsi53c895a_class,
	NULL,
};

const struct device_class *device_class_find(const char *name)
{
	for (const struct device_class *const *c = device_classes; *c; c++)
		if (!strcmp((*c)->name, name))
			return *c;
	return NULL;
}
