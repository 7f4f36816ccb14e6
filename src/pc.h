/*
 * The machine: an i440FX/PIIX PC ("pcvm-pc", pc-platform.md). It owns guest RAM, the BIOS image,
 * the KVM VM and its vCPUs, the I/O buses and every device, decides where each device sits and
 * what fw_cfg and CMOS tell the firmware, and runs the main loop until the guest powers off.
 */
#pragma once
#include <glib.h>
#include <json-glib/json-glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

#define PC_DEFAULT_BIOS "/usr/share/seabios/bios-256k.bin"
#define PC_DEFAULT_KVM "/dev/kvm"

struct pc_options {
	const char *bundle_dir; /* relative disk paths resolve here */
	const char *serial;     /* "stdio", "none" or a file; NULL = "none" */
	const char *bios;       /* NULL: vm.conf's, else PC_DEFAULT_BIOS */
	const char *kvm_path;   /* NULL: PC_DEFAULT_KVM */
	bool test_exit;         /* in addition to vm.conf's test-exit */
	const char *vnc;        /* also listen on TCP: "127.0.0.1:1" (display 1, port 5901) */
	const char *vnc_password;
	const char *keyboard;   /* VNC keysym layout: "en-us" (default) or "de" */
};

struct pc;

/* Builds the machine. On failure returns NULL with a message a person can act on. */
struct pc *pc_new(const struct vm_config *cfg, const struct pc_options *opts, char **error);
/* Powers on and runs until the guest powers off, writes the test-exit port, fails, or a signal
 * asks pcvm to stop. Returns the process exit code. */
int pc_run(struct pc *pc);
void pc_free(struct pc *pc);

/* Control of a running machine, on the main thread (src/vm_control.c serves them). */
struct pc_status {
	const char *name;
	const char *state; /* "running" or "paused" */
	unsigned cpus;
	uint64_t memory_mib;
	double uptime_s;
};

void pc_describe(const struct pc *pc, struct pc_status *st);
const char *pc_state(const struct pc *pc);
void pc_set_paused(struct pc *pc, bool paused);
void pc_reset(struct pc *pc);
void pc_poweroff(struct pc *pc);
void pc_powerdown(struct pc *pc); /* the ACPI power button */
/* Inserts FILE (NULL: ejects) in DRIVE ("cdrom" or a slot such as "ide1:0"). Refused while
 * the guest locks the tray, unless FORCE. Returns the slot, or -1 with *error. */
int pc_change_media(struct pc *pc, const char *drive, const char *file, bool force,
		    char **error);

/* NAT port forwards of network card INDEX while the VM runs (pc_net.c): RULE as in vm.conf's
 * forward= ("tcp:127.0.0.1:2222-:22"). The list holds such strings. */
int pc_portfwd(struct pc *pc, unsigned index, bool add, const char *rule, char **error);
GPtrArray *pc_portfwd_list(struct pc *pc, unsigned index, char **error);

/* The screen as a PNG file; a key combination ("ctrl-alt-delete") pressed and released; the
 * text screen as UTF-8 lines. */
int pc_screenshot(struct pc *pc, const char *path, char **error);
int pc_send_keys(struct pc *pc, const char *combo, char **error);
size_t pc_text_screen(struct pc *pc, char *buf, size_t len);
struct display_ops;
const struct display_ops *pc_display_ops(struct pc *pc);

/* Snapshots of the running machine (pc_snapshot.c): take returns the new id in *ID_OUT. */
int pc_snapshot_take(struct pc *pc, const char *name, const char *description, char **id_out,
		     char **error);
int pc_snapshot_revert(struct pc *pc, const char *which, char **error);
int pc_snapshot_delete(struct pc *pc, const char *which, char **error);
/* New name and, unless DESCRIPTION is NULL, description (snapshot_tree_rename). */
int pc_snapshot_rename(struct pc *pc, const char *which, const char *name,
		       const char *description, char **error);
/* The disk space only each snapshot holds (what deleting it frees): id -> uint64_t * bytes;
 * NULL with *error if the tree cannot be read. */
GHashTable *pc_snapshot_disk_usage(struct pc *pc, char **error);
/* The tree for the control socket's snapshot-list (snapshot_tree_json: every snapshot with the
 * sizes `pcvm snapshot list` shows), added to B; -1 with *error if the tree cannot be read. */
int pc_snapshot_list(struct pc *pc, JsonBuilder *b, char **error);
/* Suspend to disk: the machine's state saved (disks as they are), then power off. The next
 * start resumes: pc_resume_suspended() says whether there was one (false: boot normally) and
 * sets *error if resuming it failed. */
int pc_suspend(struct pc *pc, char **error);
bool pc_resume_suspended(struct pc *pc, char **error);

/* src/vm_control.c: the control socket's commands for this machine. */
struct control_server;
struct control_server *vm_control_start(struct pc *pc, const char *path, char **error);
