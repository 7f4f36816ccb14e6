/*
 * What the app reads back from pcvm: the space columns of `pcvm snapshot list`, the drives of
 * `pcvm disk info`, and the "progress" events of long control commands (src/control.h) as a
 * fraction and a line for a progress bar. No GTK: unit-tested in tests/gui/test_gtk_settings.c.
 */
#pragma once
#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

/* `pcvm snapshot list` (snapshot_tree_format): per snapshot, the space its memory files take
 * and the disk space only it holds, as printed ("1.0 MiB"); NULL where the line has none. */
struct snapshot_space {
	char *memory;
	char *disk;
};

/* id -> struct snapshot_space *, for every snapshot line of OUT (g_hash_table_unref it).
 * A name may hold anything but a newline: the columns are found from the line's end. */
GHashTable *snapshot_space_parse(const char *out);

/* One drive of `pcvm disk info DIR`. */
struct disk_entry {
	char *slot;	     /* "ide0:0" */
	bool cdrom;
	char *file;	     /* NULL: an empty CD drive */
	char *format;	     /* "qcow2", "raw"; NULL if the image could not be read */
	uint64_t size;	     /* virtual size, bytes */
	uint64_t allocated; /* bytes the image takes on the host */
};

/* The drives in OUT, in slot order (struct disk_entry *; g_ptr_array_unref it). */
GPtrArray *disk_info_parse(const char *out);

/* A progress event of command OP ("snapshot-take") in PHASE ("ram", "disks", "files"): DONE
 * of TOTAL as *FRACTION (0..1) and a line for people ("Saving memory: 120 of 512 MiB").
 * Unknown phases still get a line ("PHASE: 3 of 7"). */
void progress_describe(const char *op, const char *phase, uint64_t done, uint64_t total,
		       double *fraction, char **text);
