/*
 * Growing a disk image (`pcvm disk grow`): the virtual disk gets larger, what it holds stays.
 * A raw image is extended (ftruncate: the new end reads as zeros, taking no space); a qcow2
 * image gets a larger size in its header and, where the L1 table no longer covers it, a
 * larger L1 table ("Header": size; "Cluster mapping": l1_size). The new area is unallocated:
 * it reads as zeros (or as the backing file's data where that reaches). Snapshots keep their
 * own sizes: reverting to one taken before the growth makes the disk its old size again,
 * as `qemu-img snapshot -a` does.
 *
 * The guest's partitions and filesystems do not change: it sees a larger disk at its next
 * boot and its own tools grow them.
 */
#pragma once
#include <stdint.h>

#include "block/block.h"

/* Grows BD (open read-write, no request in flight) to SIZE bytes, rounded up to a sector.
 * 0, or -errno with *ERROR naming the image: -EINVAL for a size below the current one (no
 * image shrinks: the data there would be lost) or beyond the format's limit, -ENOTSUP for
 * what cannot grow (a block device, an in-memory disk), -EROFS for a read-only one. The
 * qcow2 change is crash safe as snapshots are (qcow2_commit.c): one header write switches
 * size and L1 table together, so a kill leaves the old or the new image, at worst with
 * leaked clusters. */
int block_grow(struct block_dev *bd, uint64_t size, char **error);
