/*
 * qcow2 refcounts and cluster allocation ("Host cluster management").
 *
 * Crash safety. pcvm keeps the image consistent at every moment by ordering its writes, and
 * uses the dirty bit only as the signal that it was not closed cleanly (so a crashed image
 * may hold leaked clusters, which `qemu-img check -r leaks` reclaims). The rules:
 *
 *   1. A cluster's refcount is raised before anything points at it. Clusters are reserved
 *      in batches (reserve_run): the refcounts go to 1, the file is extended over them,
 *      and one fdatasync makes both durable; only then are the clusters handed out for data
 *      and tables. A crash leaves the unused part of a batch as leaks, nothing worse.
 *   2. A new L2 table, refcount block or refcount table is written and synced before the
 *      L1 entry, refcount table entry or header field that points at it.
 *   3. A reference is removed (L2/L1 entry rewritten) and synced before the old cluster's
 *      refcount drops (qcow2_release_now), so a freed cluster is never still referenced.
 *   4. Guest data is written before the L2 entry that maps it. Metadata is write-through
 *      (no dirty caches), so after kill -9 the file holds every update in program order.
 *   5. For a power cut, which keeps only what a sync covered and any part of what came
 *      after: a guest cluster reads its old data or its new, never anything else. A fresh
 *      cluster reads zeros until its data is on disk: clusters past the end of the file are
 *      holes, and clusters reused inside it are made holes when they are reserved
 *      (forget_contents). So an allocating write needs no sync of its own where the guest
 *      cluster's old contents are zeros; where they are not (copy on write from a backing
 *      file, a snapshot's cluster, a compressed one), the data is synced before the L2
 *      entry is written (qcow2_cluster.c).
 *
 * Why this and not lazy refcounts: refcounts that are never too low make a crashed image
 * safe to open and write again without a repair pass, cost one fdatasync per reservation
 * batch (not per write), and keep `qemu-img check` clean apart from leaks. What a power
 * failure can still lose is guest data not yet flushed, as with a disk's write cache; what
 * it shows is old data or new (rule 5). tests/unit/test_qcow2_powerloss.c checks all five.
 */
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <string.h>
#include <unistd.h>

#include "block/qcow2.h"
#include "log.h"

/* Clusters reserved per fdatasync: the first batch is small, and each following one twice as
 * large up to the cap, so a guest streaming writes into new clusters costs a sync every
 * 128 MiB rather than every 8 (made on a helper thread, see "Reserving ahead"). The sync also
 * writes back the guest data written so far, so it is the host disk's bandwidth either way.
 * What a crash can leak is at most two batches (the current one and the one reserved ahead),
 * as clusters past the data that were never written (holes: no host disk space), which
 * `qemu-img check -r leaks` reclaims. */
#define QCOW2_RESERVE_MIN (8ull << 20)
#define QCOW2_RESERVE_MAX (128ull << 20)

/* ---- refcount block entries ("Refcount block entry") ---- */

static unsigned rc_order(const struct qcow2 *s)
{
	return s->h.refcount_order;
}

/* Entry I of a refcount block: sub-byte widths count from bit 0 (the LSB), wider ones are
 * big-endian. */
static uint64_t rb_get(const struct qcow2 *s, const uint8_t *rb, uint64_t i)
{
	unsigned order = rc_order(s);
	if (order < 3) {
		unsigned bits = 1u << order;
		uint64_t bit = i * bits;
		return (rb[bit / 8] >> (bit % 8)) & ((1u << bits) - 1);
	}
	unsigned w = 1u << (order - 3);
	uint64_t v = 0;
	for (unsigned k = 0; k < w; k++)
		v = v << 8 | rb[i * w + k];
	return v;
}

/* Sets entry I; returns the byte it starts at (the bytes to write back: rb_bytes). */
static uint64_t rb_set(const struct qcow2 *s, uint8_t *rb, uint64_t i, uint64_t v)
{
	unsigned order = rc_order(s);
	if (order < 3) {
		unsigned bits = 1u << order;
		uint64_t bit = i * bits;
		uint8_t mask = ((1u << bits) - 1) << (bit % 8);
		rb[bit / 8] = (rb[bit / 8] & ~mask) | ((v << (bit % 8)) & mask);
		return bit / 8;
	}
	unsigned w = 1u << (order - 3);
	for (unsigned k = w; k-- > 0; v >>= 8)
		rb[i * w + k] = v;
	return i * w;
}

uint64_t qcow2_rb_get(const struct qcow2 *s, const uint8_t *rb, uint64_t i)
{
	return rb_get(s, rb, i);
}

void qcow2_rb_set(const struct qcow2 *s, uint8_t *rb, uint64_t i, uint64_t v)
{
	rb_set(s, rb, i, v);
}

/* The largest refcount an entry holds. */
uint64_t qcow2_refcount_max(const struct qcow2 *s)
{
	unsigned bits = 1u << rc_order(s);
	return bits == 64 ? UINT64_MAX : (1ull << bits) - 1;
}

/* Bytes of the block holding entries [first, first + n). */
static void rb_bytes(const struct qcow2 *s, uint64_t first, uint64_t n, uint64_t *at,
		     uint64_t *len)
{
	unsigned bits = 1u << rc_order(s);
	*at = first * bits / 8;
	*len = ((first + n) * bits + 7) / 8 - *at;
}

/* ---- refcount blocks ---- */

/* The refcount block for reftable entry I, or NULL with *err 0 if there is none. */
static uint8_t *rb_load(struct qcow2 *s, uint64_t i, int *err)
{
	*err = 0;
	uint64_t off = i < s->reftable_entries ? s->reftable[i] : 0;
	if (!off)
		return NULL;
	if ((off & QCOW2_REFT_RESERVED) || (off & (s->cluster_size - 1)) ||
	    off < s->cluster_size || off > s->file_end || s->file_end - off < s->cluster_size) {
		log_once(LOG_ERROR, "%s: invalid refcount table entry %" PRIu64 " (%#" PRIx64 ")",
			 s->bd->path, i, off);
		*err = -EIO;
		return NULL;
	}
	return qcow2_cache_get(s, &s->rb_cache, off, true, err);
}

int qcow2_refcount_get(struct qcow2 *s, uint64_t cluster, uint64_t *value)
{
	int err;
	uint64_t i = cluster >> s->rb_bits;
	uint8_t *rb = rb_load(s, i, &err);
	*value = rb ? rb_get(s, rb, cluster & ((1ull << s->rb_bits) - 1)) : 0;
	return err;
}

/* Sets N refcounts from FIRST (all in one existing block) to V, writing them through. */
static int rc_set_run(struct qcow2 *s, uint64_t first, uint64_t n, uint64_t v)
{
	int err;
	uint64_t i = first >> s->rb_bits, mask = (1ull << s->rb_bits) - 1;
	uint8_t *rb = rb_load(s, i, &err);
	if (!rb)
		return err ? err : -EIO;
	for (uint64_t k = 0; k < n; k++)
		rb_set(s, rb, (first + k) & mask, v);
	uint64_t at, len;
	rb_bytes(s, first & mask, n, &at, &len);
	err = qcow2_file_write(s, rb + at, len, s->reftable[i] + at);
	if (err < 0)
		qcow2_cache_drop(&s->rb_cache, s->reftable[i]);
	return err;
}

/* ---- refcount table growth ---- */

/* The layout of a grown table: TAB clusters of table, then NEW_RB new blocks, from FIRST. */
struct rt_plan {
	uint64_t first, tab, new_rb, entries;
};

static bool rt_missing(const struct qcow2 *s, uint64_t r)
{
	return r >= s->reftable_entries || !s->reftable[r];
}

/* Sizes the new table so that it covers NEED and its own clusters and blocks. */
static int rt_plan(struct qcow2 *s, uint64_t need, struct rt_plan *p)
{
	uint64_t per_cluster = s->cluster_size / 8;
	p->first = MAX((s->file_end + s->cluster_size - 1) >> s->cluster_bits, s->resv_end);
	p->entries = MAX(need + 1, s->reftable_entries * 2);
	p->new_rb = 0;
	for (;;) {
		p->tab = (p->entries + per_cluster - 1) / per_cluster;
		p->entries = p->tab * per_cluster;
		if (p->tab > QCOW2_MAX_REFTABLE_BYTES / s->cluster_size)
			return -EFBIG;
		uint64_t end = p->first + p->tab + p->new_rb, n = 0;
		uint64_t lo = p->first >> s->rb_bits, hi = (end - 1) >> s->rb_bits;
		if (hi >= p->entries) {
			p->entries = hi + 1;
			continue;
		}
		for (uint64_t r = lo; r <= hi; r++)
			n += rt_missing(s, r);
		if (n == p->new_rb)
			return 0;
		p->new_rb = n;
	}
}

/* Builds the new table and blocks in memory and sets the refcounts of their clusters. */
static int rt_build(struct qcow2 *s, const struct rt_plan *p, uint64_t *table, uint8_t *blocks)
{
	uint64_t end = p->first + p->tab + p->new_rb, k = 0, mask = (1ull << s->rb_bits) - 1;
	memcpy(table, s->reftable, s->reftable_entries * 8);
	for (uint64_t r = p->first >> s->rb_bits; r <= (end - 1) >> s->rb_bits; r++)
		if (rt_missing(s, r))
			table[r] = (p->first + p->tab + k++) << s->cluster_bits;
	for (uint64_t c = p->first; c < end; c++) {
		uint64_t r = c >> s->rb_bits;
		if (!rt_missing(s, r)) {
			int ret = rc_set_run(s, c, 1, 1);
			if (ret < 0)
				return ret;
			continue;
		}
		uint64_t b = (table[r] >> s->cluster_bits) - p->first - p->tab;
		rb_set(s, blocks + b * s->cluster_size, c & mask, 1);
	}
	return 0;
}

/* Writes table and blocks, syncs, then points the header at the new table (12 bytes, one
 * sector: atomic), syncs, and frees the old table. */
static int rt_switch(struct qcow2 *s, const struct rt_plan *p, uint64_t *table,
		     const uint8_t *blocks)
{
	uint64_t cs = s->cluster_size, off = p->first << s->cluster_bits;
	int ret = qcow2_file_write(s, blocks, p->new_rb * cs, off + p->tab * cs);
	for (uint64_t i = 0; i < p->entries; i++)
		table[i] = GUINT64_TO_BE(table[i]);
	if (ret == 0)
		ret = qcow2_file_write(s, table, p->tab * cs, off);
	for (uint64_t i = 0; i < p->entries; i++)
		table[i] = GUINT64_FROM_BE(table[i]);
	if (ret == 0)
		ret = qcow2_sync(s);
	uint8_t hdr[12];
	uint64_t be_off = GUINT64_TO_BE(off);
	uint32_t be_n = GUINT32_TO_BE((uint32_t)p->tab);
	memcpy(hdr, &be_off, 8);
	memcpy(hdr + 8, &be_n, 4);
	if (ret == 0)
		ret = qcow2_file_write(s, hdr, sizeof(hdr), 48); /* refcount_table_offset */
	if (ret == 0)
		ret = qcow2_sync(s);
	return ret;
}

static int rt_grow(struct qcow2 *s, uint64_t need)
{
	struct rt_plan p;
	int ret = rt_plan(s, need, &p);
	if (ret < 0) {
		log_error("%s: refcount table would exceed %u MiB", s->bd->path,
			  QCOW2_MAX_REFTABLE_BYTES >> 20);
		return ret;
	}
	uint64_t *table = g_new0(uint64_t, p.entries);
	uint8_t *blocks = g_malloc0(MAX(1, p.new_rb) * s->cluster_size);
	ret = rt_build(s, &p, table, blocks);
	if (ret == 0)
		ret = rt_switch(s, &p, table, blocks);
	g_free(blocks);
	if (ret < 0) {
		g_free(table);
		return ret;
	}
	uint64_t old = s->h.refcount_table_offset >> s->cluster_bits;
	uint64_t old_n = s->h.refcount_table_clusters;
	g_free(s->reftable);
	s->reftable = table;
	s->reftable_entries = p.entries;
	s->h.refcount_table_offset = p.first << s->cluster_bits;
	s->h.refcount_table_clusters = p.tab;
	for (uint64_t c = old; ret == 0 && c < old + old_n; c++)
		ret = rc_set_run(s, c, 1, 0); /* the header no longer points here */
	s->free_hint = MIN(s->free_hint, old);
	return ret;
}

/* A refcount block for reftable entry I, placed inside the range it covers (all of which
 * is free, having no block) and counting itself. Synced before the table points at it. */
static int rb_create(struct qcow2 *s, uint64_t i)
{
	int ret = i >= s->reftable_entries ? rt_grow(s, i) : 0;
	if (ret < 0 || s->reftable[i]) /* growing may have created it */
		return ret;
	uint64_t c = i << s->rb_bits, off = c << s->cluster_bits;
	if (!c) { /* the header's range always has a block in a valid image */
		log_once(LOG_ERROR, "%s: no refcount block for the header", s->bd->path);
		return -EIO;
	}
	uint8_t *rb = qcow2_cache_get(s, &s->rb_cache, off, false, &ret);
	memset(rb, 0, s->cluster_size);
	rb_set(s, rb, 0, 1);
	ret = qcow2_file_write(s, rb, s->cluster_size, off);
	if (ret == 0)
		ret = qcow2_sync(s);
	uint64_t be = GUINT64_TO_BE(off);
	if (ret == 0)
		ret = qcow2_file_write(s, &be, 8, s->h.refcount_table_offset + i * 8);
	if (ret < 0) {
		qcow2_cache_drop(&s->rb_cache, off);
		return ret;
	}
	s->reftable[i] = off;
	return 0;
}

/* ---- allocation ---- */

/* The first cluster at or after FROM whose refcount is 0. */
static int find_free(struct qcow2 *s, uint64_t from, uint64_t *found)
{
	uint64_t limit = QCOW2_MAX_HOST_OFFSET >> s->cluster_bits;
	for (uint64_t c = from; c < limit;) {
		int err;
		uint64_t i = c >> s->rb_bits, mask = (1ull << s->rb_bits) - 1;
		uint8_t *rb = rb_load(s, i, &err);
		if (err)
			return err;
		for (; rb && c <= (i << s->rb_bits | mask); c++)
			if (!rb_get(s, rb, c & mask))
				break;
		if (!rb || c <= (i << s->rb_bits | mask)) {
			*found = c;
			return 0;
		}
	}
	return -ENOSPC;
}

/*
 * Clusters [FIRST, END) of a new batch that lie inside the file held something once (data
 * the guest discarded, a table that was replaced). They become holes, before the batch's
 * sync: a write into one that a power cut leaves mapped without its data then reads zeros,
 * not what the cluster held before (rule 5). Where the file cannot have holes punched, they
 * are overwritten with zeros.
 */
static int forget_contents(struct qcow2 *s, uint64_t first, uint64_t end)
{
	uint64_t lo = first << s->cluster_bits, hi = MIN(end << s->cluster_bits, s->file_end);
	if (lo >= hi || fallocate(s->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, lo,
				  hi - lo) == 0)
		return 0;
	if (errno != EOPNOTSUPP && errno != ENOSYS && errno != ENODEV)
		return -errno;
	g_autofree uint8_t *zeros = g_malloc0(s->cluster_size);
	int ret = 0;
	for (uint64_t at = lo; ret == 0 && at < hi; at += s->cluster_size)
		ret = qcow2_file_write(s, zeros, MIN(s->cluster_size, hi - at), at);
	return ret;
}

/*
 * Raises the refcounts of a run of free clusters to 1 and extends the file over it: the next
 * batch, [*FIRST, *END). Not durable yet: the caller syncs before handing any of it out.
 */
static int reserve_run(struct qcow2 *s, uint64_t *first, uint64_t *end)
{
	s->resv_bytes = s->resv_bytes ? MIN(s->resv_bytes * 2, QCOW2_RESERVE_MAX) : QCOW2_RESERVE_MIN;
	uint64_t c, want = MAX(4, s->resv_bytes >> s->cluster_bits), n = 0;
	int ret = find_free(s, s->free_hint, &c);
	if (ret == 0 && rt_missing(s, c >> s->rb_bits)) {
		ret = rb_create(s, c >> s->rb_bits); /* takes the range's first cluster */
		if (ret == 0)
			ret = find_free(s, c, &c);
	}
	if (ret < 0)
		return ret;
	uint64_t i = c >> s->rb_bits, v;
	while (n < want && (c + n) >> s->rb_bits == i &&
	       (ret = qcow2_refcount_get(s, c + n, &v)) == 0 && !v)
		n++;
	if (ret == 0)
		ret = forget_contents(s, c, c + n);
	if (ret == 0)
		ret = rc_set_run(s, c, n, 1);
	uint64_t bytes = (c + n) << s->cluster_bits;
	if (ret == 0 && bytes > s->file_end)
		ret = ftruncate(s->fd, bytes) < 0 ? -errno : (s->file_end = bytes, 0);
	*first = c;
	*end = s->free_hint = c + n; /* [free_hint, c) was in use already */
	return ret;
}

/* Reserves the next batch and waits for its sync (rule 1 above). */
static int reserve_now(struct qcow2 *s)
{
	uint64_t first, end;
	int ret = reserve_run(s, &first, &end);
	if (ret == 0)
		ret = qcow2_sync(s);
	if (ret < 0)
		return ret;
	s->resv_next = first;
	s->resv_end = end;
	return 0;
}

/*
 * Reserving ahead. A guest streaming into new clusters would wait for each batch's
 * fdatasync, which also writes back all its data so far. So when half of the current batch
 * is used, the next one's refcounts are written and a helper thread syncs them while the
 * guest goes on writing into the current one. Its clusters are handed out only once that
 * sync has returned (rule 1 holds as before); a guest faster than the disk waits for it
 * then, in qcow2_alloc_cluster.
 */
static gpointer ahead_sync(gpointer opaque)
{
	struct qcow2 *s = opaque;
	s->ahead_ret = fdatasync(s->fd) < 0 ? -errno : 0;
	g_atomic_int_set(&s->ahead_done, 1); /* a full barrier: ahead_ret is visible first */
	return NULL;
}

/*
 * Whether the next batch can be reserved without reading the file or syncing: a free cluster
 * from free_hint on lies in a refcount block that exists and is cached. In a call that may not
 * wait (qcow2_write_nowait, on a vCPU thread) a batch that is not cheap is left for later;
 * when the current one runs out, the next is reserved the ordinary way, off the vCPU thread
 * (with 64 KiB clusters a new refcount block is due once every 2 GiB).
 */
static bool ahead_cheap(struct qcow2 *s)
{
	uint64_t i = s->free_hint >> s->rb_bits, mask = (1ull << s->rb_bits) - 1;
	uint8_t *rb = rt_missing(s, i) ? NULL : qcow2_cache_peek(&s->rb_cache, s->reftable[i]);
	for (uint64_t c = s->free_hint; rb && c <= (i << s->rb_bits | mask); c++)
		if (!rb_get(s, rb, c & mask))
			return true;
	return false;
}

static void reserve_ahead(struct qcow2 *s)
{
	uint64_t first, end;
	if (s->nowait && (s->ahead_refused || !ahead_cheap(s))) {
		s->ahead_refused = true; /* not looked at again by every write of this batch */
		return;
	}
	if (reserve_run(s, &first, &end) < 0)
		return; /* the next allocation tries again, synchronously, and reports */
	s->ahead_first = first;
	s->ahead_end = end;
	g_atomic_int_set(&s->ahead_done, 0);
	GError *err = NULL;
	s->ahead_thread = g_thread_try_new("qcow2-sync", ahead_sync, s, &err);
	if (!s->ahead_thread) { /* no thread: the batch is synced when it is needed */
		log_once(LOG_WARN, "%s: %s", s->bd->path, err->message);
		g_error_free(err);
		s->ahead_ret = -EAGAIN;
		g_atomic_int_set(&s->ahead_done, 1);
	}
}

/* Waits for the sync of the batch reserved ahead, if one runs. */
void qcow2_ahead_wait(struct qcow2 *s)
{
	if (s->ahead_thread)
		g_thread_join(s->ahead_thread);
	s->ahead_thread = NULL;
}

/* Fresh clusters that can be handed out without waiting for the disk. */
uint64_t qcow2_reserved_ready(struct qcow2 *s)
{
	uint64_t n = s->resv_end - s->resv_next;
	if (s->ahead_end && g_atomic_int_get(&s->ahead_done) && s->ahead_ret == 0)
		n += s->ahead_end - s->ahead_first;
	return n;
}

/* The next batch: the one reserved ahead once durable (its sync failed: synced again here),
 * else a new one. */
static int reserve_next(struct qcow2 *s)
{
	s->ahead_refused = false;
	if (!s->ahead_end)
		return reserve_now(s);
	qcow2_ahead_wait(s);
	if (s->ahead_ret < 0)
		s->ahead_ret = qcow2_sync(s);
	if (s->ahead_ret < 0)
		return s->ahead_ret; /* kept, never handed out unsynced: tried again next time */
	s->resv_next = s->ahead_first;
	s->resv_end = s->ahead_end;
	s->ahead_first = s->ahead_end = 0;
	return 0;
}

int qcow2_alloc_cluster(struct qcow2 *s, uint64_t *offset)
{
	if (s->resv_next == s->resv_end) {
		int ret = reserve_next(s);
		if (ret < 0) {
			log_error("%s: cannot allocate a cluster: %s", s->bd->path, strerror(-ret));
			return ret;
		}
	}
	*offset = s->resv_next++ << s->cluster_bits;
	uint64_t half = MAX(2, (s->resv_bytes >> s->cluster_bits) / 2);
	if (!s->ahead_end && s->resv_end - s->resv_next < half)
		reserve_ahead(s);
	return 0;
}

/* ---- contiguous runs (tables of several clusters) ---- */

/* How many refcount blocks a run of N clusters from FIRST, followed by those blocks, needs
 * that do not exist yet (the fixpoint rt_plan uses too). */
static uint64_t tail_missing(struct qcow2 *s, uint64_t first, uint64_t n)
{
	uint64_t m = 0;
	for (;;) {
		uint64_t end = first + n + m, k = 0;
		for (uint64_t r = first >> s->rb_bits; r <= (end - 1) >> s->rb_bits; r++)
			k += rt_missing(s, r);
		if (k == m)
			return m;
		m = k;
	}
}

/* Counts [c, c + n) (inside one range) in the refcount block B being built, or, where the
 * block exists, in place: those clusters lie past the end of the file and are free. */
static int tail_count(struct qcow2 *s, uint64_t c, uint64_t n, uint8_t *b)
{
	uint64_t mask = (1ull << s->rb_bits) - 1, v;
	for (uint64_t k = 0; k < n; k++) {
		if (b) {
			rb_set(s, b, (c + k) & mask, 1);
			continue;
		}
		int ret = qcow2_refcount_get(s, c + k, &v);
		if (ret == 0 && v)
			ret = -EIO; /* a refcount past the end of the file: damaged */
		if (ret < 0)
			return ret;
	}
	return b ? 0 : rc_set_run(s, c, n, 1);
}

/* Where a run of N clusters at the end of the file goes: from *FIRST, followed by *M new
 * refcount blocks; grows the refcount table first where it must cover more. */
static int tail_place(struct qcow2 *s, uint64_t n, uint64_t *first, uint64_t *m)
{
	for (;;) {
		*first = MAX((s->file_end + s->cluster_size - 1) >> s->cluster_bits, s->resv_end);
		*m = tail_missing(s, *first, n);
		uint64_t end = *first + n + *m;
		if (end > QCOW2_MAX_HOST_OFFSET >> s->cluster_bits)
			return -ENOSPC;
		if ((end - 1) >> s->rb_bits < s->reftable_entries)
			return 0;
		int ret = rt_grow(s, (end - 1) >> s->rb_bits);
		if (ret < 0)
			return ret;
	}
}

/* Links the M new blocks at BLOCKS_AT into the refcount table, after they are synced. */
static int tail_link(struct qcow2 *s, const uint64_t *where, uint64_t m, uint64_t blocks_at)
{
	int ret = 0;
	for (uint64_t k = 0; ret == 0 && k < m; k++) {
		uint64_t off = blocks_at + (k << s->cluster_bits), be = GUINT64_TO_BE(off);
		ret = qcow2_file_write(s, &be, 8, s->h.refcount_table_offset + where[k] * 8);
		if (ret == 0)
			s->reftable[where[k]] = off;
	}
	return ret == 0 && m ? qcow2_sync(s) : ret;
}

/*
 * N contiguous clusters at the end of the file, with the refcount blocks they need placed
 * right after them (a run longer than what one block covers cannot sit in fresh space
 * otherwise: rb_create puts a block at the start of its range). The file is extended and
 * the refcounts raised, then synced, before the new blocks are linked into the table.
 */
static int alloc_tail(struct qcow2 *s, uint64_t n, uint64_t *offset)
{
	uint64_t cs = s->cluster_size, first, m;
	int ret = tail_place(s, n, &first, &m);
	if (ret < 0)
		return ret;
	uint64_t end = first + n + m, k = 0;
	uint8_t *blocks = g_malloc0(MAX(m, 1) * cs);
	uint64_t *where = g_new(uint64_t, MAX(m, 1));
	ret = ftruncate(s->fd, end << s->cluster_bits) < 0 ? -errno : 0;
	if (ret == 0)
		s->file_end = MAX(s->file_end, end << s->cluster_bits);
	for (uint64_t r = first >> s->rb_bits; ret == 0 && r <= (end - 1) >> s->rb_bits; r++) {
		uint64_t lo = MAX(first, r << s->rb_bits), hi = MIN(end, (r + 1) << s->rb_bits);
		uint8_t *b = NULL;
		if (rt_missing(s, r)) {
			where[k] = r;
			b = blocks + k++ * cs;
		}
		ret = tail_count(s, lo, hi - lo, b);
	}
	if (ret == 0 && m)
		ret = qcow2_file_write(s, blocks, m * cs, (first + n) << s->cluster_bits);
	if (ret == 0)
		ret = qcow2_sync(s);
	if (ret == 0)
		ret = tail_link(s, where, m, (first + n) << s->cluster_bits);
	g_free(blocks);
	g_free(where);
	*offset = first << s->cluster_bits;
	return ret;
}

/* N contiguous clusters, refcount 1, unused: the caller points at them after writing them. */
int qcow2_alloc_run(struct qcow2 *s, uint64_t n, uint64_t *offset)
{
	int ret = n == 1 ? qcow2_alloc_cluster(s, offset) : alloc_tail(s, n, offset);
	if (ret < 0 && n != 1)
		log_error("%s: cannot allocate %" PRIu64 " clusters: %s", s->bd->path, n,
			  strerror(-ret));
	return ret;
}

/* Gives back the clusters of [FIRST, END); shortens the file when they end it. */
static int unreserve_run(struct qcow2 *s, uint64_t first, uint64_t end)
{
	int ret = 0;
	for (uint64_t c = first; ret == 0 && c < end;) {
		uint64_t run = MIN(end - c, (((c >> s->rb_bits) + 1) << s->rb_bits) - c);
		ret = rc_set_run(s, c, run, 0);
		c += run;
	}
	if (ret < 0 || first == end)
		return ret;
	s->free_hint = MIN(s->free_hint, first);
	uint64_t bytes = first << s->cluster_bits;
	if (end << s->cluster_bits == s->file_end && ftruncate(s->fd, bytes) == 0)
		s->file_end = bytes;
	return 0;
}

/* Gives back the reserved clusters not used yet, the batch reserved ahead last to first
 * (each may end the file); at a clean close. */
int qcow2_unreserve(struct qcow2 *s)
{
	qcow2_ahead_wait(s);
	int ret = unreserve_run(s, s->ahead_first, s->ahead_end);
	if (ret == 0)
		s->ahead_first = s->ahead_end = 0;
	if (ret == 0)
		ret = unreserve_run(s, s->resv_next, s->resv_end);
	if (ret == 0)
		s->resv_next = s->resv_end = 0;
	return ret;
}

/* ---- freeing (rule 3) ---- */

void qcow2_release_later(struct qcow2 *s, uint64_t entry)
{
	if (s->n_release == s->cap_release) {
		s->cap_release = MAX(16, s->cap_release * 2);
		s->release = g_renew(uint64_t, s->release, s->cap_release);
	}
	s->release[s->n_release++] = entry;
}

static int rc_decrement(struct qcow2 *s, uint64_t c)
{
	uint64_t v;
	int ret = qcow2_refcount_get(s, c, &v);
	if (ret == 0 && (v == 0 || rt_missing(s, c >> s->rb_bits))) {
		log_once(LOG_ERROR, "%s: refcount of cluster %#" PRIx64 " is already 0",
			 s->bd->path, c << s->cluster_bits);
		return -EIO;
	}
	if (ret == 0)
		ret = rc_set_run(s, c, 1, v - 1);
	if (ret == 0 && v == 1) {
		s->free_hint = MIN(s->free_hint, c);
		qcow2_cache_drop(&s->l2_cache, c << s->cluster_bits);
	}
	return ret;
}

/* Drops one reference from each of the N clusters at OFFSET; nothing points at them now. */
int qcow2_free_run(struct qcow2 *s, uint64_t offset, uint64_t n)
{
	int ret = 0;
	for (uint64_t c = offset >> s->cluster_bits; ret == 0 && n--; c++) {
		qcow2_cache_drop(&s->rb_cache, c << s->cluster_bits);
		ret = rc_decrement(s, c);
	}
	return ret;
}

/* Drops one reference held by ENTRY (an L2 entry or an L2 table's offset). */
static int release_entry(struct qcow2 *s, uint64_t entry)
{
	struct qcow2_map m;
	int ret = qcow2_classify(s, entry, &m);
	if (ret < 0 || !m.host)
		return ret;
	uint64_t first = m.host >> s->cluster_bits, last = first;
	if (m.type == QCOW2_COMPRESSED) {
		first = (m.host & ~511ull) >> s->cluster_bits;
		last = (m.host + m.csize - 1) >> s->cluster_bits;
		if (m.host == s->cbuf_host)
			s->cbuf_host = 0;
	}
	for (uint64_t c = first; ret == 0 && c <= last; c++)
		ret = rc_decrement(s, c);
	return ret;
}

/* The references queued are gone from the tables: sync, then lower the refcounts. */
int qcow2_release_now(struct qcow2 *s)
{
	if (!s->n_release)
		return 0;
	int ret = qcow2_sync(s);
	for (size_t i = 0; ret == 0 && i < s->n_release; i++)
		ret = release_entry(s, s->release[i]);
	s->n_release = 0;
	return ret;
}
