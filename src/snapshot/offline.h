/*
 * Snapshot operations on a VM that is not running (pcvm snapshot ... with the VM off): its
 * disks' qcow2 snapshots and the tree, nothing else. Taking one gives a powered-off (disk-only)
 * snapshot. Reverting to one taken while the VM ran brings its disks back and leaves
 * snapshots/resume naming it: the next `pcvm run` resumes the VM there.
 *
 * Also what the running VM's snapshot operations (pc_snapshot.c) share with these: the
 * markers in snapshots/ and crash recovery.
 *
 *   index.conf   the tree (tree.h); a snapshot exists once it lists it
 *   reverting    "ID": a revert to ID is under way; its disks may be partly reverted
 *   resume       "ID": the next start resumes at snapshot ID (has memory)
 *
 * Crash safety (kill -9 or a power cut at any point of take, revert or delete):
 *   - take: files and disk snapshots first, index.conf last. An interrupted take leaves
 *     files and disk snapshots of an id the tree does not list.
 *   - delete: index.conf first, then the disk snapshots, then the files. An interrupted
 *     delete leaves the same kind of leftovers.
 *   - revert: "reverting" is written (durably) before any disk changes and removed after
 *     index.conf points at the snapshot. An interrupted revert is completed by the next
 *     operation or start: every disk reverted again (idempotent), index.conf updated, and for a
 *     snapshot with memory "resume" written, so the VM resumes there. Before "reverting"
 *     exists nothing has changed.
 * snapshot_recover, run before every operation with the VM off and when the VM starts,
 * completes a revert under way and removes the leftovers (a running VM removes leftovers
 * before each operation too): so a snapshot either exists completely (in the tree, on every
 * disk, with its files) or not at all.
 */
#pragma once

#include <stddef.h>

#include "block/block.h"
#include "config.h"
#include "snapshot/tree.h"

int snapshot_offline_take(const char *dir, const struct vm_config *cfg, const char *name,
			  const char *description, char **id_out, char **error);
int snapshot_offline_revert(const char *dir, const struct vm_config *cfg, const char *which,
			    char **error);
int snapshot_offline_delete(const char *dir, const struct vm_config *cfg, const char *which,
			    char **error);
/* Renames snapshot WHICH (snapshot_tree_rename); index.conf is replaced atomically. */
int snapshot_offline_rename(const char *dir, const struct vm_config *cfg, const char *which,
			    const char *name, const char *description, char **error);

/* The id a revert left for the next start to resume at, or NULL. The mark stays until
 * snapshot_resume_mark_clear (the revert to it completed, or failed). */
char *snapshot_resume_mark(const char *dir);
void snapshot_resume_mark_clear(const char *dir);

/* Marks a revert to ID as under way (written to stable storage before it returns). */
int snapshot_intent_begin(const char *dir, const char *id, char **error);
void snapshot_intent_end(const char *dir);

/* Completes an interrupted revert and removes leftovers (above), with the VM off or before it
 * runs (the disks may change). T: the tree as loaded from DIR/snapshots/index.conf, saved
 * again if recovery changes it. DISKS: the VM's NDISKS disk slots (NULL entries are skipped),
 * each open read-write. */
int snapshot_recover(const char *dir, struct snapshot_tree *t, struct block_dev *const *disks,
		     size_t ndisks, char **error);
/* Only the removal of leftovers: what a running VM does before each operation (files and disk
 * snapshots of ids T does not list; the current state is not touched). */
void snapshot_tidy(const char *dir, const struct snapshot_tree *t, struct block_dev *const *disks,
		   size_t ndisks);

/* The text of `pcvm snapshot list DIR`: the tree (snapshot_tree_format) with each snapshot's
 * memory files and the disk space only it holds, read from the images when the VM is off, or
 * asked of the running VM (snapshot-disk-usage). */
char *snapshot_list_text(const char *dir, char **error);
/* The disk space only each snapshot of T holds, summed over the NDISKS DISKS (NULL entries
 * skipped): id -> uint64_t *, for snapshot_tree_format. */
GHashTable *snapshot_disk_usage(const struct snapshot_tree *t, struct block_dev *const *disks,
				size_t ndisks);

/*
 * For the crash tests: when the environment variable PCVM_SNAPSHOT_TEST_STALL names POINT
 * (e.g. "revert-disks"), prints "pcvm: test point POINT" on stderr and sleeps a minute (or
 * PCVM_SNAPSHOT_TEST_STALL_MS milliseconds: the desktop test's slow operation), so that a
 * test can kill the process exactly there. Unset (always, outside tests): nothing.
 */
void snapshot_test_point(const char *point);
