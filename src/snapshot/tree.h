/*
 * The snapshot tree of a VM bundle (design.md, "Snapshots"): DIR/snapshots/index.conf holds one
 * group per snapshot (parent, name, description, time, whether memory was saved) and where the
 * current state hangs ("you are here"). VMware semantics: a new snapshot becomes a child of the
 * current node; revert moves the current node; deleting a node gives its children to its
 * parent. The file is replaced atomically (write, fsync, rename), so it is always a whole tree.
 */
#pragma once
#include <glib.h>
#include <json-glib/json-glib.h>
#include <stdbool.h>
#include <stdint.h>

struct snapshot_node {
	char *id;     /* "1", "2", ... never reused */
	char *parent; /* NULL for a root */
	char *name;
	char *description;
	int64_t time; /* seconds since the epoch */
	bool has_memory;
};

struct snapshot_tree {
	GPtrArray *nodes; /* struct snapshot_node *, in creation order */
	char *current;    /* the node the current state hangs below, NULL: none yet */
	unsigned next_id;
};

void snapshot_tree_init(struct snapshot_tree *t);
/* Frees what T holds (again after snapshot_tree_init, to use it once more). */
void snapshot_tree_clear(struct snapshot_tree *t);
/* Reads PATH (a missing file is an empty tree); refuses a damaged one with a message, T then
 * holding nothing. */
int snapshot_tree_load(struct snapshot_tree *t, const char *path, char **error);
int snapshot_tree_save(const struct snapshot_tree *t, const char *path, char **error);

struct snapshot_node *snapshot_tree_find(const struct snapshot_tree *t, const char *id);
/* By id, or else by name (names need not be unique: the newest wins); NULL if none. */
struct snapshot_node *snapshot_tree_lookup(const struct snapshot_tree *t, const char *id_or_name);
/* Whether T can take one more node and still be read back: at most 10,000 snapshots (what
 * snapshot_tree_load accepts) and ids that stay valid. Returns 0, or -1 with *error set: what a
 * take asks before it changes anything. */
int snapshot_tree_check_room(const struct snapshot_tree *t, char **error);
/* A new node below the current one, made current; returns it (the tree owns it). */
struct snapshot_node *snapshot_tree_add(struct snapshot_tree *t, const char *name,
					const char *description, int64_t time, bool has_memory);
/* Removes ID; its children now hang below its parent; if it was current, its parent is. */
int snapshot_tree_remove(struct snapshot_tree *t, const char *id, char **error);
/* Gives the snapshot WHICH (an id or a name) the name NAME and, unless DESCRIPTION is NULL,
 * that description; the names live only in the tree. NAME must be one line of UTF-8, not
 * empty; the description UTF-8 (it may have several lines). */
int snapshot_tree_rename(struct snapshot_tree *t, const char *which, const char *name,
			 const char *description, char **error);
/* Children of ID (NULL: the roots), in creation order; g_ptr_array_unref the result. */
GPtrArray *snapshot_tree_children(const struct snapshot_tree *t, const char *id);
/* Files a snapshot may have in the snapshots folder, by extension: ID.state, .ram, .vram, .png. */
extern const char *const snapshot_file_exts[4];
/* Space ID's files take in DIR (the snapshots folder), as allocated on disk; 0 without DIR. */
uint64_t snapshot_files_bytes(const char *dir, const char *id);

/* The tree as text for `pcvm snapshot list`: indented, "<- you are here" at the current node,
 * with the space each snapshot's files in DIR take ("memory 512 MiB"; DIR NULL: not shown)
 * and the disk space only it holds, from DISK_BYTES (id -> uint64_t *; "disk 36 MiB"; NULL or
 * no entry: not shown). */
char *snapshot_tree_format(const struct snapshot_tree *t, const char *dir, GHashTable *disk_bytes);
/* The same tree as data, for the control socket's snapshot-list: adds to B (inside an object)
 * "current" (an id or null) and "snapshots", an array in creation order of objects with "id",
 * "name", "description" ("" if none), "parent" (null for a root), "time" (seconds since the
 * epoch), "has-memory", "current" (bool), "thumbnail" (DIR's ID.png, absolute, or null),
 * "memory-bytes" (the snapshot's files in DIR, as the text shows) and "disk-bytes" (from
 * DISK_BYTES; null when not known). */
void snapshot_tree_json(const struct snapshot_tree *t, const char *dir, GHashTable *disk_bytes,
			JsonBuilder *b);
