/*
 * vm.conf: a VM's hardware and settings, a GKeyFile with one group per device, as design.md
 * sketches. Keys are described once in a table; unknown groups and keys are warned about and
 * kept, so a newer pcvm's settings survive an older one.
 */
#pragma once
#include <stdbool.h>
#include <stdint.h>

#define VM_IDE_SLOTS 4	/* ide0:0 ide0:1 ide1:0 ide1:1 */
#define VM_SCSI_SLOTS 7 /* scsi0:0 .. scsi0:6: the LSI controller's target IDs (7 is its own) */
#define VM_DRIVE_SLOTS (VM_IDE_SLOTS + VM_SCSI_SLOTS)
#define VM_MAX_CPUS 32
#define VM_MAX_MEMORY_MIB (1024u * 1024u)

struct vm_drive {
	char *type; /* "disk" (the default) or "cdrom" (IDE only) */
	char *file; /* as written: absolute, or relative to the bundle; NULL: empty CD drive */
	bool read_only;
};

enum vm_bus { VM_BUS_IDE, VM_BUS_SCSI };

/* A place for a drive. Slots are numbered IDE first, then SCSI: the number indexes
 * vm_drive_slots[] and cfg->drives[], so that one loop covers every drive. */
struct vm_drive_slot {
	const char *name; /* its vm.conf group: "ide1:0", "scsi0:3" */
	enum vm_bus bus;
	unsigned index; /* on its bus: IDE channel * 2 + unit; the SCSI target ID */
};

extern const struct vm_drive_slot vm_drive_slots[VM_DRIVE_SLOTS];

#define VM_MAX_NICS 4 /* net0 .. net3 */

/* [netN]: a NIC and the network it is plugged into. */
struct vm_nic {
	bool present;	/* the group exists: all keys have defaults */
	char *model;	/* "e1000" (the default and only model) */
	char *mode;	/* "nat" (default), "bridged", "hostonly", or "none" (cable unplugged) */
	char *mac;	/* NULL: derived from the VM's uuid (vm_nic_mac) */
	char **forward; /* NAT port forwards, "tcp:127.0.0.1:2222-:22" */
	char *bridge;	/* bridged: the host bridge to attach a new tap to */
	char *tap;	/* bridged: a tap the administrator prepared, used instead of a new one */
	char *network;	/* hostonly: the network's name (`pcvm net create`) */
	char *rom;	/* option ROM file; "none": no ROM; NULL: Debian's iPXE ROM when installed */
	char *tftp;	/* NAT: a directory served by TFTP (network boot) */
	char *bootfile; /* NAT: the file DHCP names for network boot */
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
	union {
		struct vm_drive drives[VM_DRIVE_SLOTS]; /* every slot, numbered as vm_drive_slots */
		struct {
			struct vm_drive ide[VM_IDE_SLOTS];
			struct vm_drive scsi[VM_SCSI_SLOTS];
		};
	};
	/* [display] */
	char *adapter;	    /* "stdvga" */
	char *vnc_password; /* needed to listen on anything but loopback */
	char *keyboard;	    /* VNC keysym layout: "en-us" or "de" */
	struct vm_nic net[VM_MAX_NICS];
};

void vm_config_init(struct vm_config *cfg); /* defaults */
void vm_config_clear(struct vm_config *cfg);
/* Parses PATH. Errors name the file and line: "DIR/vm.conf:7: memory-mib: not a number". */
int vm_config_load(struct vm_config *cfg, const char *path, char **error);
int vm_config_save(const struct vm_config *cfg, const char *path, char **error);
/* Parses TEXT (NAME is used in messages); for tests. */
int vm_config_parse(struct vm_config *cfg, const char *text, const char *name, char **error);
const char *vm_ide_slot_name(unsigned slot); /* an IDE slot's group; NULL past them */
const char *vm_drive_slot_name(unsigned slot); /* any slot's group; NULL past them */
bool vm_drive_present(const struct vm_drive *d);
bool vm_drive_is_cdrom(const struct vm_drive *d);
/* 0 if TEXT is a unicast MAC address "52:54:00:12:34:56", else -1. */
int vm_mac_parse(const char *text, uint8_t mac[6]);
/* NIC INDEX's MAC: [netN] mac=, or one derived from the uuid (stable for the VM's lifetime,
 * locally administered: 52:54:00 as QEMU and libvirt use, then a hash of uuid and index). */
void vm_nic_mac(const struct vm_config *cfg, unsigned index, uint8_t mac[6]);
const char *vm_nic_group(unsigned index); /* "net0" */
/* The slot NAME says: "ide1:0", "scsi0:2", or "cdrom" / "disk" for the first drive of that kind
 * in slot order; -1 if none. */
int vm_drive_slot_find(const struct vm_config *cfg, const char *name);
/* The same among the IDE slots alone (where CD drives are). */
int vm_ide_slot_find(const struct vm_config *cfg, const char *name);

/* Whether [GROUP] KEY= is a setting vm.conf knows ([vm], [display], a drive slot, a NIC). */
bool vm_config_key_known(const char *group, const char *key);
/*
 * Edits vm.conf's text TEXT (NAME for messages): each of SETS ("GROUP.KEY=VALUE", e.g.
 * "vm.memory-mib=512", "net0.mode=nat") sets a key, each of UNSETS ("GROUP.KEY", or "GROUP"
 * for a whole group such as a drive slot) removes it; comments and every other line stay.
 * Keys vm.conf does not know are refused, and so is a result that vm_config_parse refuses
 * (its message names the line). Returns the new text, or NULL with *error. Either list may
 * be NULL.
 */
char *vm_config_edit_text(const char *text, const char *name, const char *const *sets,
			  const char *const *unsets, char **error);
/* The same on the file PATH, which is replaced atomically (write, fsync, rename) only when the
 * whole edit is valid. */
int vm_config_edit(const char *path, const char *const *sets, const char *const *unsets,
		   char **error);
