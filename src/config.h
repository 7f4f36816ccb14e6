/*
 * vm.conf: a VM's hardware and settings, a GKeyFile with one group per device, as design.md
 * sketches. Keys are described once in a table; unknown groups and keys are warned about and
 * kept, so a newer pcvm's settings survive an older one.
 */
#pragma once
#include <stdbool.h>
#include <stdint.h>

#define VM_IDE_SLOTS 4 /* ide0:0 ide0:1 ide1:0 ide1:1 */
#define VM_MAX_CPUS 32
#define VM_MAX_MEMORY_MIB (1024u * 1024u)

struct vm_drive {
	char *type; /* "disk" (the default) or "cdrom" */
	char *file; /* as written: absolute, or relative to the bundle; NULL: empty CD drive */
	bool read_only;
};

struct vm_config {
	char *name;
	char *uuid;
	char *guest;
	unsigned memory_mib;
	unsigned cpus;
	bool test_exit;
	char *bios;
	char *boot;
	struct vm_drive ide[VM_IDE_SLOTS];
	/* [display] */
	char *adapter;	    /* "stdvga" */
	char *vnc_password; /* needed to listen on anything but loopback */
	char *keyboard;	    /* VNC keysym layout: "en-us" or "de" */
};

void vm_config_init(struct vm_config *cfg); /* defaults */
void vm_config_clear(struct vm_config *cfg);
/* Parses PATH. Errors name the file and line: "DIR/vm.conf:7: memory-mib: not a number". */
int vm_config_load(struct vm_config *cfg, const char *path, char **error);
int vm_config_save(const struct vm_config *cfg, const char *path, char **error);
/* Parses TEXT (NAME is used in messages); for tests. */
int vm_config_parse(struct vm_config *cfg, const char *text, const char *name, char **error);
const char *vm_ide_slot_name(unsigned slot);
bool vm_drive_present(const struct vm_drive *d);
bool vm_drive_is_cdrom(const struct vm_drive *d);
/* "ide1:0", or "cdrom" / "disk" for the first drive of that kind; -1 if none. */
int vm_ide_slot_find(const struct vm_config *cfg, const char *name);
