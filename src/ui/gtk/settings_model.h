/*
 * The part of a VM's settings dialog that is data: the settings it writes to vm.conf (through
 * `pcvm config DIR set`, never by itself) and what changed, and the boot order as a list of
 * devices. No GTK: unit-tested in tests/gui/test_gtk_settings.c.
 */
#pragma once
#include <glib.h>
#include <stdbool.h>

/* What the dialog edits that applies at the VM's next start. */
struct vm_settings {
	unsigned memory_mib;
	unsigned cpus;
	char *net_mode; /* "nat", "bridged", "hostonly", "none"; NULL: no [net0] at all */
	char *bridge;	/* bridged */
	char *network;	/* hostonly */
	char *boot;	/* [vm] boot=; NULL: the default */
};

#define BOOT_DEFAULT "disk,cdrom,network"

void vm_settings_clear(struct vm_settings *s);
/* The "GROUP.KEY=VALUE" assignments (char *) that make OLD into NEW: only what changed; a
 * bridged or host-only mode with its bridge or network. Empty: nothing to save. */
GPtrArray *vm_settings_diff(const struct vm_settings *old, const struct vm_settings *new);

enum boot_device { BOOT_DISK, BOOT_CDROM, BOOT_NETWORK, BOOT_DEVICES };

struct boot_entry {
	enum boot_device device;
	bool enabled;
};

/* BOOT (NULL: the default) as every device: those it names first, enabled, in its order,
 * then the others, disabled. Names it does not know are left out. */
void boot_order_parse(const char *boot, struct boot_entry out[BOOT_DEVICES]);
/* The enabled devices in order as a boot= value; NULL if none is. */
char *boot_order_format(const struct boot_entry e[BOOT_DEVICES]);
const char *boot_device_name(enum boot_device d);  /* "disk" */
const char *boot_device_label(enum boot_device d); /* "Hard disk" */
