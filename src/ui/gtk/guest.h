/*
 * Guest presets and installer recognition for the new-VM wizard. data/guest-presets.conf
 * (a GKeyFile bundled as a resource) describes each guest once: its label, icon, hardware
 * and how to recognise its installer disc. An ISO is recognised from its ISO 9660 primary
 * volume descriptor (volume id) and the names in its root directory, read here directly.
 * No GTK: iso_probe blocks on file I/O, so the app calls it from a worker thread.
 */
#pragma once
#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#define ISO_SECTOR     2048
#define ISO_PVD_SECTOR 16	    /* ECMA-119 §6.2.1: the volume descriptor set starts here */
#define ISO_MAX_ROOT   (256 * 1024) /* root directories larger than this are read partly */

struct iso_info {
	char volume_id[33]; /* ECMA-119 §8.4.6 (PVD bytes 40-71), trailing spaces removed */
	bool bootable;	    /* an El Torito boot record volume descriptor is present */
	char **root_names;  /* the root directory: upper case, ";1" and a trailing dot removed */
};

/* Reads PATH's volume descriptors and root directory. -1 with *error for a file that is not
 * ISO 9660 ("x.iso: not an ISO 9660 image (no CD001 descriptor at sector 16)"). */
int iso_probe(const char *path, struct iso_info *info, char **error);
/* The same on an image in memory (for tests and fuzzing). */
int iso_probe_data(const uint8_t *data, size_t len, struct iso_info *info, char **error);
void iso_info_clear(struct iso_info *info);

struct guest_preset {
	char *id;	     /* the group name, written to vm.conf as [vm] guest= */
	char *label;	     /* "Windows XP" */
	char *icon;	     /* family icon: windows, debian, ubuntu, dos, generic */
	unsigned memory_mib; /* recommended */
	unsigned cpus;
	unsigned disk_gib;
	char *disk_controller; /* "ide" or "scsi": where the new disk goes ([ide0:0], [scsi0:0]) */
	char *nic;	       /* vm.conf [net0] model= */
	char *display;	       /* vm.conf [display] adapter= */
	GRegex *volume_id;     /* matches the ISO's volume id; NULL: none */
	char **root_files;     /* any of these names in the ISO's root; NULL: none */
};

struct guest_presets {
	GPtrArray *list; /* struct guest_preset *, in file order */
};

#define GUEST_GENERIC "generic" /* the preset for anything not recognised: must exist */

/* Parses the presets file TEXT (NAME for messages). Errors name the group and key. */
int guest_presets_parse(struct guest_presets *p, const char *text, size_t len, const char *name,
			char **error);
void guest_presets_clear(struct guest_presets *p);
/* By id; NULL if there is none. */
const struct guest_preset *guest_presets_find(const struct guest_presets *p, const char *id);
/* The preset an installer disc is for: the first whose root-files name a file in the ISO's
 * root, else the first whose volume-id matches; NULL if none (the caller uses generic). */
const struct guest_preset *guest_presets_match(const struct guest_presets *p,
					       const struct iso_info *iso);
