/*
 * Snapshot operations on a VM that is not running (pcvm snapshot ... with the VM off): its
 * disks' qcow2 snapshots and the tree, nothing else. Taking one gives a powered-off (disk-only)
 * snapshot. Reverting to one taken while the VM ran brings its disks back and leaves
 * snapshots/resume naming it: the next `pcvm run` resumes the VM there.
 */
#pragma once

#include "config.h"

int snapshot_offline_take(const char *dir, const struct vm_config *cfg, const char *name,
			  const char *description, char **id_out, char **error);
int snapshot_offline_revert(const char *dir, const struct vm_config *cfg, const char *which,
			    char **error);
int snapshot_offline_delete(const char *dir, const struct vm_config *cfg, const char *which,
			    char **error);
/* The id a revert left for the next start to resume, or NULL; consumes the mark. */
char *snapshot_take_resume_mark(const char *dir);
