/*
 * What the qcow2 snapshot test programs share (qcow2_snapshot_util.c), beside qcow2_fixtures:
 * snapshot operations that must succeed, a file's size, the kinds of image and making one.
 *   test_qcow2_snapshot.c        the API, contents, qemu-img interop, trees, many, space
 *   test_qcow2_snapshot_crash.c  hostile snapshot tables, kill -9 during operations
 */
#pragma once

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "block/block.h"
#include "qcow2_fixtures.h"

/* An operation's RET and *ERROR: a failure ends the test. Snapshot ID (tagged NAME) taken,
 * gone to, deleted on BD, likewise. */
void snap_ok(int ret, char **error);
void create_ok(struct block_dev *bd, const char *id, const char *name);
void goto_ok(struct block_dev *bd, const char *id);
void delete_ok(struct block_dev *bd, const char *id);

uint64_t file_size(const char *path);

/* The image kinds of the snapshot tests (struct kind: qcow2_fixtures.h); kinds[0] is
 * pcvm's own. */
extern const struct kind kinds[8];

#define IMG_SIZE (64ull << 20)


