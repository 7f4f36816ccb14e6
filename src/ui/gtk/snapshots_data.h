/*
 * What the snapshot manager shows of a VM's snapshots, read off the GTK thread: the tree from
 * DIR/snapshots/index.conf (snapshot/tree.h) with each snapshot's thumbnail (ID.png) and the
 * space its memory files take; and the disk space only each holds, asked of the running VM
 * (snapshot-disk-usage) or of `pcvm snapshot list` while it is off.
 */
#pragma once
#include <gdk-pixbuf/gdk-pixbuf.h>
#include <gio/gio.h>
#include <stdbool.h>
#include <stdint.h>

#define SNAPSHOT_THUMB_W   64
#define SNAPSHOT_THUMB_H   48
#define SNAPSHOT_PREVIEW_W 320
#define SNAPSHOT_PREVIEW_H 240

struct snapshot_row {
	char *id, *parent, *name, *description;
	int64_t time; /* seconds since the epoch */
	bool has_memory;
	uint64_t file_bytes; /* its state, RAM, VRAM and thumbnail files on the host */
	GdkPixbuf *thumb;    /* NULL: no ID.png */
	GdkPixbuf *preview;
};

struct snapshot_view {
	GPtrArray *rows; /* struct snapshot_row *, in creation order */
	char *current;	 /* the node the current state hangs below; NULL: none */
	char *error;	 /* index.conf could not be read: why */
};

void snapshot_view_load_async(const char *dir, GCancellable *cancel,
			      GAsyncReadyCallback callback, gpointer data);
/* NULL only when cancelled. */
struct snapshot_view *snapshot_view_load_finish(GAsyncResult *res);
void snapshot_view_free(struct snapshot_view *v);
const struct snapshot_row *snapshot_view_find(const struct snapshot_view *v, const char *id);

/* id -> the disk space only it holds, as text ("36.0 MiB"); RUNNING: ask the VM, else the
 * command line. An empty table when neither answers. */
void snapshot_disk_usage_async(const char *dir, bool running, GCancellable *cancel,
			       GAsyncReadyCallback callback, gpointer data);
GHashTable *snapshot_disk_usage_finish(GAsyncResult *res);
