/*
 * The VM bundle (design.md): a directory NAME.pcvm/ holding vm.conf, the disks, run/ (lock and
 * pid while the VM runs) and pcvm.log. It can be copied or moved as a whole.
 */
#pragma once
#include <stdbool.h>
#include <stdint.h>

#include "config.h"

#define BUNDLE_CONF "vm.conf"
#define BUNDLE_LOG "pcvm.log"
#define BUNDLE_CONTROL_SOCK "run/control.sock" /* a running VM's control socket */
#define BUNDLE_VNC_SOCK "run/vnc.sock"	       /* and its console's */
#define BUNDLE_SUSPENDED "snapshots/suspend.state" /* there while the VM is suspended */
#define BUNDLE_DEFAULT_DISK_SIZE (8ull << 30)

struct bundle_create_opts {
	const char *name;   /* NULL: the directory's name without .pcvm */
	unsigned memory_mib; /* 0: default */
	unsigned cpus;       /* 0: default */
	const char *disk;   /* an existing image to use; NULL: create disk0.qcow2 */
	const char *cdrom;  /* an ISO for the CD drive (ide1:0); NULL: no CD drive */
	uint64_t disk_size; /* for a new disk; 0: default */
	bool disk_scsi;	    /* the disk goes in [scsi0:0] (an LSI SCSI controller), not [ide0:0] */
	const char *net;    /* "nat" (NULL), "none", "bridged:BRIDGE", "hostonly:NETWORK" */
	bool test_exit;
};

/* Sets up NIC from a --net value (see bundle_create_opts.net); "none" leaves it absent. */
int bundle_nic_from_spec(struct vm_nic *nic, const char *spec, char **error);
/* DIR/NAME; FILE as written in vm.conf, resolved against DIR when relative. */
char *bundle_path(const char *dir, const char *name);
int bundle_create(const char *dir, const struct bundle_create_opts *opts, char **error);
int bundle_load_config(const char *dir, struct vm_config *cfg, char **error);
/* Takes DIR/run/lock (flock) and writes run/pid; fails if another pcvm runs this bundle. */
int bundle_lock(const char *dir, int *lock_fd, char **error);
void bundle_unlock(const char *dir, int lock_fd);
/* Sets [GROUP] KEY= in DIR/vm.conf to the string list LIST (empty or NULL: removes the key),
 * keeping every other line and comment. */
int bundle_set_string_list(const char *dir, const char *group, const char *key,
			   const char *const *list, char **error);
/* Sets [SLOT] file= in DIR/vm.conf (NULL: empty), keeping every other line and comment. */
int bundle_set_drive_file(const char *dir, const char *slot, const char *file, char **error);
