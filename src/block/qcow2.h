/*
 * qcow2 inside the block layer: the driver's state and what its three files share.
 * Section names ("Header", "Cluster mapping", ...) are those of QEMU's
 * docs/interop/qcow2.txt, the format's specification.
 *
 *   qcow2.c           header parsing and validation, open/close, create, info
 *   qcow2_cluster.c   L1/L2 mapping, the table caches, read, write, discard
 *   qcow2_refcount.c  refcounts, cluster allocation, refcount table growth
 *   qcow2_snapshot.c  the snapshot table, internal snapshots (create, goto, delete, list)
 *   qcow2_commit.c    the shadow update that snapshots commit through one header write
 */
#pragma once
#include <glib.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>

#include "block/block.h"

/* "Header" */
#define QCOW2_MAGIC		 0x514649fbu /* "QFI\xfb" */
#define QCOW2_V2_HEADER_LEN	 72
#define QCOW2_V3_HEADER_LEN	 104
#define QCOW2_MIN_CLUSTER_BITS	 9
#define QCOW2_MAX_CLUSTER_BITS	 21	     /* QEMU's limit: 2 MiB */
#define QCOW2_MAX_L1_BYTES	 (32u << 20) /* QEMU's limit */
#define QCOW2_MAX_REFTABLE_BYTES (8u << 20)  /* QEMU's limit */
#define QCOW2_MAX_BACKING_NAME	 1023
#define QCOW2_MAX_SNAPSHOTS	 65536
#define QCOW2_MAX_SNAPSHOT_EXTRA 1024
#define QCOW2_MAX_SNAPSHOT_TABLE (64u << 20) /* QEMU's limit */
#define QCOW2_MAX_HOST_OFFSET	 (1ull << 56) /* "Cluster mapping": offsets below 64 PB */

/* incompatible_features / compatible_features bits */
#define QCOW2_INCOMPAT_DIRTY	   (1ull << 0)
#define QCOW2_INCOMPAT_CORRUPT	   (1ull << 1)
#define QCOW2_INCOMPAT_DATA_FILE   (1ull << 2)
#define QCOW2_INCOMPAT_COMPRESSION (1ull << 3)
#define QCOW2_INCOMPAT_EXTL2	   (1ull << 4)
#define QCOW2_INCOMPAT_SUPPORTED   (QCOW2_INCOMPAT_DIRTY | QCOW2_INCOMPAT_CORRUPT)
#define QCOW2_COMPAT_LAZY_REFCOUNTS (1ull << 0)

/* "Cluster mapping": L1 and L2 entries */
#define QCOW2_OFLAG_COPIED     (1ull << 63)
#define QCOW2_OFLAG_COMPRESSED (1ull << 62)
#define QCOW2_OFLAG_ZERO       (1ull << 0)
#define QCOW2_OFFSET_MASK      0x00fffffffffffe00ull /* bits 9-55 */
#define QCOW2_L1_RESERVED      0x7f000000000001ffull /* bits 0-8 and 56-62 */
#define QCOW2_L2_RESERVED      0x3f000000000001feull /* bits 1-8 and 56-61 */
/* "Host cluster management": refcount table entries */
#define QCOW2_REFT_RESERVED 0x1ffull

/* The fixed header, host-endian; every field widened to 64 bits. */
struct qcow2_header {
	uint64_t magic, version, backing_file_offset, backing_file_size, cluster_bits, size;
	uint64_t crypt_method, l1_size, l1_table_offset, refcount_table_offset;
	uint64_t refcount_table_clusters, nb_snapshots, snapshots_offset;
	uint64_t incompatible, compatible, autoclear, refcount_order, header_length;
};

/* A few tables (L2 or refcount blocks) of one cluster each, least recently used out.
 * Write-through: what is in the cache is on the file too, so eviction is free. */
struct qcow2_cache {
	unsigned n;
	uint64_t tick;
	uint64_t *offset; /* 0: empty slot (no table lives in the header cluster) */
	uint64_t *used;
	uint8_t **data;
};

/* "Snapshots": one snapshot table entry, host-endian. */
struct qcow2_snapshot {
	uint64_t l1_offset, l1_size;
	char *id, *name; /* NUL-terminated copies; the lengths keep embedded NULs */
	uint16_t id_len, name_len;
	uint32_t date_sec, date_nsec;
	uint64_t vm_clock_ns;
	uint64_t vm_state_size;
	uint64_t disk_size; /* from the extra data, else the image's size at open */
	uint64_t icount;    /* UINT64_MAX: none */
	uint8_t *extra_more; /* extra data past the fields pcvm knows, kept as read */
	uint32_t extra_more_len;
};

/* What an L2 entry says about one guest cluster. */
enum qcow2_ctype { QCOW2_UNALLOCATED, QCOW2_ZERO, QCOW2_NORMAL, QCOW2_COMPRESSED };

struct qcow2_map {
	enum qcow2_ctype type;
	uint64_t host;	/* normal, zero: cluster offset (0: none); compressed: byte offset */
	uint64_t csize; /* compressed: bytes from host */
	bool copied;	/* refcount is exactly one: writable in place */
};

struct qcow2 {
	struct block_dev *bd;
	int fd;
	struct qcow2_header h;
	unsigned cluster_bits;
	uint64_t cluster_size;
	unsigned l2_bits; /* log2 of entries per L2 table */
	uint64_t *l1;	  /* host-endian copy of the active L1 table */
	uint64_t *reftable;
	uint64_t reftable_entries;
	unsigned rb_bits; /* log2 of entries per refcount block */
	uint64_t file_end; /* bytes; grows as we allocate */
	struct qcow2_cache l2_cache, rb_cache;
	uint64_t resv_next, resv_end; /* reserved clusters (refcount 1, not used yet) */
	uint64_t resv_bytes;	      /* size of the next reservation: grows while writes stream */
	uint64_t ahead_first, ahead_end; /* the next batch, reserved ahead (0, 0: none) */
	GThread *ahead_thread;		 /* syncing it */
	gint ahead_done;		 /* that sync has returned ... */
	int ahead_ret;			 /* ... with this (0 or -errno) */
	bool ahead_refused;		 /* not cheap from qcow2_write_nowait (this batch) */
	uint64_t free_hint;	      /* no free cluster below this index */
	uint64_t *release;	      /* entries to free after the next barrier */
	size_t n_release, cap_release;
	uint64_t cbuf_host; /* the compressed cluster decompressed in cbuf (0: none) */
	uint8_t *cbuf;
	struct block_dev *backing;
	char *backing_name;
	char *backing_format;
	bool dirty; /* changed since open (v3: the dirty bit is set); cleaned up at close */
	bool nowait; /* in qcow2_write_nowait: nothing may be read from the file or synced */
	struct qcow2_snapshot *snaps; /* the snapshot table, as on disk */
	size_t n_snaps;
	uint64_t snap_table_bytes; /* its size on disk (0: none) */
};

/* qcow2.c */
int qcow2_file_read(struct qcow2 *s, void *buf, size_t len, uint64_t off);
int qcow2_file_write(struct qcow2 *s, const void *buf, size_t len, uint64_t off);
int qcow2_sync(struct qcow2 *s);
int qcow2_mark_dirty(struct qcow2 *s);
int qcow2_write_header_tables(struct qcow2 *s, const struct qcow2_header *h);

/* qcow2_cluster.c */
int qcow2_cache_init(struct qcow2_cache *c, unsigned n, uint64_t cluster_size);
void qcow2_cache_free(struct qcow2_cache *c);
uint8_t *qcow2_cache_get(struct qcow2 *s, struct qcow2_cache *c, uint64_t off, bool read,
			 int *err);
uint8_t *qcow2_cache_peek(struct qcow2_cache *c, uint64_t off);
void qcow2_cache_drop(struct qcow2_cache *c, uint64_t off);
void qcow2_cache_clear(struct qcow2_cache *c);
int qcow2_l1_entry_check(struct qcow2 *s, uint64_t entry, uint64_t *l2off);
int qcow2_classify(struct qcow2 *s, uint64_t entry, struct qcow2_map *m);
int qcow2_read(struct block_dev *bd, void *buf, size_t len, uint64_t off);
int qcow2_write(struct block_dev *bd, const void *buf, size_t len, uint64_t off);
int qcow2_read_nowait(struct block_dev *bd, void *buf, size_t len, uint64_t off);
int qcow2_write_nowait(struct block_dev *bd, const void *buf, size_t len, uint64_t off);
int qcow2_discard(struct block_dev *bd, uint64_t off, uint64_t len);

/* qcow2_refcount.c */
int qcow2_refcount_get(struct qcow2 *s, uint64_t cluster, uint64_t *value);
int qcow2_alloc_cluster(struct qcow2 *s, uint64_t *offset);
int qcow2_alloc_run(struct qcow2 *s, uint64_t n, uint64_t *offset);
int qcow2_free_run(struct qcow2 *s, uint64_t offset, uint64_t n);
uint64_t qcow2_refcount_max(const struct qcow2 *s);
uint64_t qcow2_rb_get(const struct qcow2 *s, const uint8_t *rb, uint64_t i);
void qcow2_rb_set(const struct qcow2 *s, uint8_t *rb, uint64_t i, uint64_t v);
void qcow2_release_later(struct qcow2 *s, uint64_t entry);
int qcow2_release_now(struct qcow2 *s);
int qcow2_unreserve(struct qcow2 *s);
void qcow2_ahead_wait(struct qcow2 *s);
uint64_t qcow2_reserved_ready(struct qcow2 *s);

/* qcow2_snapshot.c */
int qcow2_snapshots_load(struct qcow2 *s, char **msg);
void qcow2_snapshots_free(struct qcow2_snapshot *sn, size_t n);
uint64_t qcow2_snapshot_table_bytes(const struct qcow2_snapshot *sn, size_t n);
void qcow2_snapshot_table_build(const struct qcow2_snapshot *sn, size_t n, uint8_t *buf);
int qcow2_snapshot_create(struct block_dev *bd, const char *id, const char *name,
			  uint64_t vm_clock_ns, char **error);
int qcow2_snapshot_goto(struct block_dev *bd, const char *id, char **error);
int qcow2_snapshot_delete(struct block_dev *bd, const char *id, char **error);
int qcow2_snapshot_list(struct block_dev *bd, struct block_snapshot_info **out, size_t *n);
/* Bytes of the image that only snapshot ID holds (its L1 and L2 tables and data clusters with
 * refcount 1): what deleting it would free. Takes the device's lock; any thread. */
int qcow2_snapshot_exclusive_bytes(struct block_dev *bd, const char *id, uint64_t *bytes,
				   char **error);

/* qcow2_commit.c: a new state built in free clusters, switched to by one header write */
struct qcow2_commit;
struct qcow2_commit *qcow2_commit_new(struct qcow2 *s);
void qcow2_commit_free(struct qcow2_commit *c);
void qcow2_commit_add_range(struct qcow2_commit *c, uint64_t off, uint64_t bytes, int sign);
int qcow2_commit_add_l1(struct qcow2_commit *c, const uint64_t *l1, uint64_t n, int sign);
void qcow2_commit_set_active(struct qcow2_commit *c, uint64_t *l1, uint64_t n, bool keep,
			     uint64_t size);
void qcow2_commit_set_snapshots(struct qcow2_commit *c, struct qcow2_snapshot *sn, size_t n);
int qcow2_commit_run(struct qcow2_commit *c, char **msg);
