/*
 * qcow2 guest clusters ("Cluster mapping"): the L1/L2 lookup, the table caches, and read,
 * write and discard. Requests arrive one at a time (the block layer's driver lock serializes
 * a device), so nothing here locks. The nowait variants (block.h, block_try_now) do the
 * same with the tables in the cache and the data in the page cache, or answer -EAGAIN.
 */
#include <errno.h>
#include <glib.h>
#include <string.h>
#include <zlib.h>

#include "block/qcow2.h"
#include "log.h"

/* ---- the table caches ---- */

int qcow2_cache_init(struct qcow2_cache *c, unsigned n, uint64_t cluster_size)
{
	c->n = n;
	c->tick = 0;
	c->offset = g_new0(uint64_t, n);
	c->used = g_new0(uint64_t, n);
	c->data = g_new0(uint8_t *, n);
	for (unsigned i = 0; i < n; i++)
		c->data[i] = g_malloc(cluster_size);
	return 0;
}

void qcow2_cache_free(struct qcow2_cache *c)
{
	for (unsigned i = 0; c->data && i < c->n; i++)
		g_free(c->data[i]);
	g_free(c->data);
	g_free(c->offset);
	g_free(c->used);
	memset(c, 0, sizeof(*c));
}

/*
 * The table at OFF (validated by the caller), read from the file if READ, else left for the
 * caller to fill (a new table). The pointer stays valid until the next get on this cache.
 */
uint8_t *qcow2_cache_get(struct qcow2 *s, struct qcow2_cache *c, uint64_t off, bool read,
			 int *err)
{
	unsigned victim = 0;
	for (unsigned i = 0; i < c->n; i++) {
		if (c->offset[i] == off) {
			c->used[i] = ++c->tick;
			return c->data[i];
		}
		if (c->used[i] < c->used[victim])
			victim = i;
	}
	c->offset[victim] = 0;
	if (read && (*err = qcow2_file_read(s, c->data[victim], s->cluster_size, off)) < 0)
		return NULL;
	c->offset[victim] = off;
	c->used[victim] = ++c->tick;
	return c->data[victim];
}

/* The table at OFF if the cache holds it, else NULL; reads nothing. */
uint8_t *qcow2_cache_peek(struct qcow2_cache *c, uint64_t off)
{
	for (unsigned i = 0; i < c->n; i++)
		if (c->offset[i] == off) {
			c->used[i] = ++c->tick;
			return c->data[i];
		}
	return NULL;
}

void qcow2_cache_drop(struct qcow2_cache *c, uint64_t off)
{
	for (unsigned i = 0; i < c->n; i++)
		if (c->offset[i] == off)
			c->offset[i] = 0, c->used[i] = 0;
}

/* Forgets every table (they are on the file: the caches are write-through). */
void qcow2_cache_clear(struct qcow2_cache *c)
{
	for (unsigned i = 0; i < c->n; i++)
		c->offset[i] = 0, c->used[i] = 0;
}

/* ---- entries ---- */

/* Logs a damaged table once per image-open (rate-limited by log_once per call site). */
#define qcow2_bad(s, ...)                                                                          \
	({                                                                                         \
		log_once(LOG_ERROR, __VA_ARGS__);                                                  \
		-EIO;                                                                              \
	})

/* "Compressed Clusters Descriptor" */
static int qcow2_classify_compressed(struct qcow2 *s, uint64_t entry, struct qcow2_map *m)
{
	unsigned x = 62 - (s->cluster_bits - 8);
	uint64_t off = entry & ((1ull << x) - 1);
	uint64_t sectors = ((entry & ~QCOW2_OFLAG_COPIED & ~QCOW2_OFLAG_COMPRESSED) >> x) + 1;
	if (off >= QCOW2_MAX_HOST_OFFSET || off >= s->file_end)
		return qcow2_bad(s, "%s: compressed cluster at %#" PRIx64 " outside the file",
				 s->bd->path, off);
	m->type = QCOW2_COMPRESSED;
	m->host = off;
	m->csize = (off & ~511ull) + sectors * 512 - off;
	m->copied = false;
	return 0;
}

/* What ENTRY (an L2 entry) says; -EIO for an entry no valid image holds. */
int qcow2_classify(struct qcow2 *s, uint64_t entry, struct qcow2_map *m)
{
	if (entry & QCOW2_OFLAG_COMPRESSED)
		return qcow2_classify_compressed(s, entry, m);
	uint64_t host = entry & QCOW2_OFFSET_MASK;
	bool zero = entry & QCOW2_OFLAG_ZERO;
	*m = (struct qcow2_map){ .host = host, .copied = entry & QCOW2_OFLAG_COPIED };
	if ((entry & QCOW2_L2_RESERVED) || (zero && s->h.version < 3) ||
	    (host & (s->cluster_size - 1)))
		return qcow2_bad(s, "%s: invalid L2 entry %#" PRIx64, s->bd->path, entry);
	if (host && host >= s->file_end)
		return qcow2_bad(s, "%s: cluster at %#" PRIx64 " is past the end of the file",
				 s->bd->path, host);
	if (!host && m->copied && !zero)
		return qcow2_bad(s, "%s: invalid L2 entry %#" PRIx64, s->bd->path, entry);
	m->type = zero ? QCOW2_ZERO : host ? QCOW2_NORMAL : QCOW2_UNALLOCATED;
	return 0;
}

/* The L2 table offset in L1 entry ENTRY (of any L1 table), checked: -EIO for one that no
 * valid image holds. 0 if unallocated. */
int qcow2_l1_entry_check(struct qcow2 *s, uint64_t e, uint64_t *l2off)
{
	*l2off = e & QCOW2_OFFSET_MASK;
	if ((e & QCOW2_L1_RESERVED) || (*l2off & (s->cluster_size - 1)) ||
	    (*l2off && (*l2off < s->cluster_size || s->file_end < s->cluster_size ||
			*l2off > s->file_end - s->cluster_size)))
		return -EIO;
	return 0;
}

/* The L2 table offset in active L1 entry I, checked; 0 if unallocated. */
static int qcow2_l2_offset(struct qcow2 *s, uint64_t i, uint64_t *l2off)
{
	uint64_t e = s->l1[i];
	if (qcow2_l1_entry_check(s, e, l2off) < 0)
		return qcow2_bad(s, "%s: invalid L1 entry %" PRIu64 " (%#" PRIx64 ")", s->bd->path,
				 i, e);
	return 0;
}

static uint64_t qcow2_l1_index(const struct qcow2 *s, uint64_t voff)
{
	return voff >> (s->cluster_bits + s->l2_bits);
}

static uint64_t qcow2_l2_index(const struct qcow2 *s, uint64_t voff)
{
	return (voff >> s->cluster_bits) & ((1ull << s->l2_bits) - 1);
}

/* The L2 entry for guest offset VOFF (0 where no L2 table is allocated). NOWAIT: -EAGAIN if
 * the table is not in the cache. */
static int qcow2_lookup(struct qcow2 *s, uint64_t voff, uint64_t *entry, bool nowait)
{
	uint64_t l2off;
	int ret = qcow2_l2_offset(s, qcow2_l1_index(s, voff), &l2off);
	*entry = 0;
	if (ret < 0 || !l2off)
		return ret;
	uint8_t *t = nowait ? qcow2_cache_peek(&s->l2_cache, l2off)
			    : qcow2_cache_get(s, &s->l2_cache, l2off, true, &ret);
	if (!t)
		return nowait ? -EAGAIN : ret;
	uint64_t be;
	memcpy(&be, t + qcow2_l2_index(s, voff) * 8, 8);
	*entry = GUINT64_FROM_BE(be);
	return 0;
}

static int qcow2_get_entry(struct qcow2 *s, uint64_t voff, uint64_t *entry)
{
	return qcow2_lookup(s, voff, entry, false);
}

/* ---- reading ---- */

static int qcow2_read_backing(struct qcow2 *s, uint8_t *buf, size_t len, uint64_t voff,
			      bool nowait)
{
	uint64_t bsize = s->backing ? block_size(s->backing) : 0;
	size_t n = voff >= bsize ? 0 : MIN(len, bsize - voff);
	memset(buf + n, 0, len - n);
	if (!n)
		return 0;
	const struct block_driver *drv = s->backing->drv;
	if (nowait)
		return drv->pread_nowait ? drv->pread_nowait(s->backing, buf, n, voff) : -EAGAIN;
	return drv->pread(s->backing, buf, n, voff);
}

/* Inflates the compressed cluster M into s->cbuf (kept for the next read of it). */
static int qcow2_inflate(struct qcow2 *s, const struct qcow2_map *m)
{
	if (s->cbuf_host == m->host)
		return 0;
	size_t len = MIN(m->csize, s->file_end - m->host);
	g_autofree uint8_t *in = g_malloc(len);
	int ret = qcow2_file_read(s, in, len, m->host);
	if (ret < 0)
		return ret;
	z_stream z = { .next_in = in, .avail_in = len, .next_out = s->cbuf,
		       .avail_out = s->cluster_size };
	if (inflateInit2(&z, -15) != Z_OK) /* raw deflate, as QEMU writes it */
		return -ENOMEM;
	ret = inflate(&z, Z_FINISH);
	bool full = z.avail_out == 0 && (ret == Z_STREAM_END || ret == Z_OK || ret == Z_BUF_ERROR);
	inflateEnd(&z);
	s->cbuf_host = full ? m->host : 0;
	return full ? 0 : qcow2_bad(s, "%s: compressed cluster at %#" PRIx64 " does not inflate",
				    s->bd->path, m->host);
}

/* Reads LEN bytes at VOFF, all inside one guest cluster mapped by M. NOWAIT: from the page
 * cache (and a cluster inflated already) or -EAGAIN. */
static int qcow2_read_in(struct qcow2 *s, const struct qcow2_map *m, uint8_t *buf, size_t len,
			 uint64_t voff, bool nowait)
{
	uint64_t in = voff & (s->cluster_size - 1);
	int ret;
	switch (m->type) {
	case QCOW2_UNALLOCATED: return qcow2_read_backing(s, buf, len, voff, nowait);
	case QCOW2_ZERO: memset(buf, 0, len); return 0;
	case QCOW2_NORMAL:
		if (nowait)
			return block_fd_read_nowait(s->fd, buf, len, m->host + in);
		return qcow2_file_read(s, buf, len, m->host + in);
	case QCOW2_COMPRESSED:
		if (nowait && s->cbuf_host != m->host)
			return -EAGAIN;
		if ((ret = qcow2_inflate(s, m)) < 0)
			return ret;
		memcpy(buf, s->cbuf + in, len);
		return 0;
	}
	return -EIO;
}

static int qcow2_read_mapped(struct qcow2 *s, const struct qcow2_map *m, uint8_t *buf, size_t len,
			     uint64_t voff)
{
	return qcow2_read_in(s, m, buf, len, voff, false);
}

static int qcow2_read_at(struct block_dev *bd, uint8_t *p, size_t len, uint64_t off, bool nowait)
{
	struct qcow2 *s = bd->priv;
	while (len) {
		size_t n = MIN(len, s->cluster_size - (off & (s->cluster_size - 1)));
		uint64_t entry;
		struct qcow2_map m;
		int ret = qcow2_lookup(s, off, &entry, nowait);
		if (ret == 0)
			ret = qcow2_classify(s, entry, &m);
		if (ret == 0)
			ret = qcow2_read_in(s, &m, p, n, off, nowait);
		if (ret < 0)
			return ret;
		p += n;
		off += n;
		len -= n;
	}
	return 0;
}

int qcow2_read(struct block_dev *bd, void *buf, size_t len, uint64_t off)
{
	return qcow2_read_at(bd, buf, len, off, false);
}

int qcow2_read_nowait(struct block_dev *bd, void *buf, size_t len, uint64_t off)
{
	return qcow2_read_at(bd, buf, len, off, true) < 0 ? -EAGAIN : 0;
}

/* ---- L1 and L2 updates ---- */

static int qcow2_set_l1(struct qcow2 *s, uint64_t i, uint64_t entry)
{
	uint64_t be = GUINT64_TO_BE(entry);
	int ret = qcow2_file_write(s, &be, 8, s->h.l1_table_offset + i * 8);
	if (ret == 0)
		s->l1[i] = entry;
	return ret;
}

/*
 * A new L2 table for L1 entry I at a fresh cluster, holding OLD's entries (or none). It is
 * on stable storage before the L1 entry points at it, so a crash leaves either the old
 * table or the complete new one.
 */
static int qcow2_new_l2(struct qcow2 *s, uint64_t i, const uint8_t *old)
{
	uint64_t off;
	int ret = qcow2_alloc_cluster(s, &off);
	if (ret < 0)
		return ret;
	uint8_t *t = qcow2_cache_get(s, &s->l2_cache, off, false, &ret);
	if (old)
		memcpy(t, old, s->cluster_size);
	else
		memset(t, 0, s->cluster_size);
	ret = qcow2_file_write(s, t, s->cluster_size, off);
	if (ret == 0)
		ret = qcow2_sync(s);
	if (ret == 0)
		ret = qcow2_set_l1(s, i, off | QCOW2_OFLAG_COPIED);
	if (ret < 0)
		qcow2_cache_drop(&s->l2_cache, off);
	return ret;
}

/*
 * Makes the L2 table covering VOFF writable: allocated, and ours alone (refcount 1, the
 * COPIED flag of "L1 table entry"); a table shared with a snapshot is copied first.
 */
static int qcow2_l2_writable(struct qcow2 *s, uint64_t voff)
{
	uint64_t i = qcow2_l1_index(s, voff), l2off;
	int ret = qcow2_l2_offset(s, i, &l2off);
	if (ret < 0)
		return ret;
	if (!l2off)
		return qcow2_new_l2(s, i, NULL);
	if (s->l1[i] & QCOW2_OFLAG_COPIED)
		return 0;
	uint8_t *t = qcow2_cache_get(s, &s->l2_cache, l2off, true, &ret);
	if (!t)
		return ret;
	g_autofree uint8_t *copy = g_memdup2(t, s->cluster_size);
	ret = qcow2_new_l2(s, i, copy);
	if (ret == 0)
		qcow2_release_later(s, l2off | QCOW2_OFLAG_COPIED);
	return ret;
}

/* Points guest cluster VOFF at ENTRY; its L2 table is writable (qcow2_l2_writable). */
static int qcow2_set_entry(struct qcow2 *s, uint64_t voff, uint64_t entry)
{
	uint64_t l2off = s->l1[qcow2_l1_index(s, voff)] & QCOW2_OFFSET_MASK;
	int ret;
	uint8_t *t = qcow2_cache_get(s, &s->l2_cache, l2off, true, &ret);
	if (!t)
		return ret;
	uint64_t be = GUINT64_TO_BE(entry), at = qcow2_l2_index(s, voff) * 8;
	memcpy(t + at, &be, 8);
	ret = qcow2_file_write(s, &be, 8, l2off + at);
	if (ret < 0)
		qcow2_cache_drop(&s->l2_cache, l2off);
	return ret;
}

/* ---- writing ---- */

/* Whether guest cluster M may read as something other than zeros before it is written:
 * then a fresh cluster mapped before its data is on disk would show neither old nor new. */
static bool qcow2_old_contents(const struct qcow2 *s, const struct qcow2_map *m)
{
	return m->host || m->type == QCOW2_COMPRESSED ||
	       (m->type == QCOW2_UNALLOCATED && s->backing);
}

/* The clusters of one request copied on write: their L2 entries wait until one sync has
 * made all their data durable (rule 5 of qcow2_refcount.c). */
struct cow_batch {
	size_t n, cap; /* CAP: the request's clusters */
	struct cow_entry {
		uint64_t voff, host, old;
		bool release; /* OLD holds a reference to drop */
	} *e;
};

/* Syncs the batch's data, then points each guest cluster at its copy. */
static int qcow2_cow_commit(struct qcow2 *s, struct cow_batch *b)
{
	int ret = b->n ? qcow2_sync(s) : 0;
	for (size_t i = 0; ret == 0 && i < b->n; i++) {
		ret = qcow2_set_entry(s, b->e[i].voff, b->e[i].host | QCOW2_OFLAG_COPIED);
		if (ret == 0 && b->e[i].release)
			qcow2_release_later(s, b->e[i].old);
	}
	g_free(b->e);
	return ret;
}

/*
 * Writes into a fresh cluster: the part of the guest cluster that the write does not cover
 * is copied from what the cluster held (backing file, zeros, compressed or shared data).
 * Data first, then the L2 entry; where the old contents were not zeros, the entry waits in
 * COW for the sync after the request's data. The old cluster is freed after the next barrier.
 */
static int qcow2_write_new(struct qcow2 *s, uint64_t entry, const uint8_t *buf, size_t len,
			   uint64_t voff, struct cow_batch *cow)
{
	struct qcow2_map m;
	uint64_t base = voff & ~(s->cluster_size - 1), host;
	int ret = qcow2_classify(s, entry, &m);
	if (ret == 0)
		ret = qcow2_alloc_cluster(s, &host);
	if (ret < 0)
		return ret;
	if (len == s->cluster_size) {
		ret = qcow2_file_write(s, buf, len, host);
	} else {
		g_autofree uint8_t *c = g_malloc(s->cluster_size);
		ret = qcow2_read_mapped(s, &m, c, s->cluster_size, base);
		memcpy(c + (voff - base), buf, len);
		if (ret == 0)
			ret = qcow2_file_write(s, c, s->cluster_size, host);
	}
	bool release = m.host || m.type == QCOW2_COMPRESSED;
	if (ret == 0 && qcow2_old_contents(s, &m)) {
		if (!cow->e)
			cow->e = g_new(struct cow_entry, cow->cap);
		cow->e[cow->n++] = (struct cow_entry){ voff, host, entry, release };
		return 0;
	}
	if (ret == 0)
		ret = qcow2_set_entry(s, voff, host | QCOW2_OFLAG_COPIED);
	if (ret == 0 && release)
		qcow2_release_later(s, entry);
	return ret;
}

static int qcow2_write_cluster(struct qcow2 *s, const uint8_t *buf, size_t len, uint64_t voff,
			       struct cow_batch *cow)
{
	uint64_t entry;
	struct qcow2_map m;
	int ret = qcow2_l2_writable(s, voff);
	if (ret == 0)
		ret = qcow2_get_entry(s, voff, &entry);
	if (ret == 0)
		ret = qcow2_classify(s, entry, &m);
	if (ret < 0)
		return ret;
	if (m.type == QCOW2_NORMAL && m.copied) /* ours alone: in place */
		return qcow2_file_write(s, buf, len, m.host + (voff & (s->cluster_size - 1)));
	return qcow2_write_new(s, entry, buf, len, voff, cow);
}

int qcow2_write(struct block_dev *bd, const void *buf, size_t len, uint64_t off)
{
	struct qcow2 *s = bd->priv;
	const uint8_t *p = buf;
	struct cow_batch cow = { .cap = (len + (off & (s->cluster_size - 1)) +
					 s->cluster_size - 1) >> s->cluster_bits };
	int ret = qcow2_mark_dirty(s);
	while (ret == 0 && len) {
		size_t n = MIN(len, s->cluster_size - (off & (s->cluster_size - 1)));
		ret = qcow2_write_cluster(s, p, n, off, &cow);
		p += n;
		off += n;
		len -= n;
	}
	int commit = qcow2_cow_commit(s, &cow); /* a failed request maps what it did write */
	int rel = qcow2_release_now(s);
	return ret < 0 ? ret : commit < 0 ? commit : rel;
}

/*
 * Whether guest cluster VOFF (N bytes of it written) can be written with the tables as they
 * are: its L2 table ours alone and cached, and the cluster either ours alone (in place) or
 * reading as zeros so far, with nothing to free, read or sync (a fresh cluster: *FRESH).
 */
static bool qcow2_cluster_quick(struct qcow2 *s, size_t n, uint64_t voff, uint64_t *fresh)
{
	uint64_t l1e = s->l1[qcow2_l1_index(s, voff)], entry;
	struct qcow2_map m;
	if (!(l1e & QCOW2_OFLAG_COPIED) || !(l1e & QCOW2_OFFSET_MASK) ||
	    qcow2_lookup(s, voff, &entry, true) < 0 || qcow2_classify(s, entry, &m) < 0)
		return false;
	if (m.type == QCOW2_NORMAL && m.copied)
		return true;
	if (qcow2_old_contents(s, &m))
		return false; /* a sync between data and L2 entry, maybe a read */
	++*fresh;
	return true;
}

/*
 * A write that needs no fdatasync and no metadata read: the dirty bit is set already,
 * nothing waits to be released, every table is cached, and the fresh clusters come from the
 * current reservation. Then qcow2_write only writes data and L2 entries, through the page
 * cache.
 */
static bool qcow2_write_quick(struct qcow2 *s, size_t len, uint64_t off)
{
	uint64_t fresh = 0;
	if (!s->dirty || s->n_release)
		return false;
	while (len) {
		size_t n = MIN(len, s->cluster_size - (off & (s->cluster_size - 1)));
		if (!qcow2_cluster_quick(s, n, off, &fresh))
			return false;
		off += n;
		len -= n;
	}
	return fresh <= qcow2_reserved_ready(s);
}

int qcow2_write_nowait(struct block_dev *bd, const void *buf, size_t len, uint64_t off)
{
	struct qcow2 *s = bd->priv;
	if (!qcow2_write_quick(s, len, off))
		return -EAGAIN;
	s->nowait = true;
	int ret = qcow2_write(bd, buf, len, off);
	s->nowait = false;
	return ret < 0 ? -EAGAIN : 0;
}

/* ---- discard ---- */

/*
 * Drops guest cluster VOFF's data. Without a backing file it becomes unallocated; with one,
 * v3 marks it zero (so the backing data does not show through) and v2 unallocates it.
 */
static int qcow2_discard_cluster(struct qcow2 *s, uint64_t voff)
{
	bool zero = s->backing && s->h.version >= 3;
	uint64_t entry, l2off, want = zero ? QCOW2_OFLAG_ZERO : 0;
	int ret = qcow2_l2_offset(s, qcow2_l1_index(s, voff), &l2off);
	if (ret < 0 || (!l2off && !zero))
		return ret; /* no L2 table: unallocated already */
	struct qcow2_map m;
	ret = qcow2_get_entry(s, voff, &entry);
	if (ret == 0)
		ret = qcow2_classify(s, entry, &m);
	if (ret < 0 || entry == want)
		return ret;
	if ((ret = qcow2_l2_writable(s, voff)) < 0 || (ret = qcow2_set_entry(s, voff, want)) < 0)
		return ret;
	if (m.host || m.type == QCOW2_COMPRESSED)
		qcow2_release_later(s, entry);
	return 0;
}

int qcow2_discard(struct block_dev *bd, uint64_t off, uint64_t len)
{
	struct qcow2 *s = bd->priv;
	uint64_t cs = s->cluster_size;
	uint64_t start = (off + cs - 1) & ~(cs - 1), end = off + len;
	if (end != bd->size) /* the last cluster counts as whole when the range reaches the end */
		end &= ~(cs - 1);
	if (start >= end)
		return 0;
	int ret = qcow2_mark_dirty(s);
	for (uint64_t v = start; ret == 0 && v < end; v += cs)
		ret = qcow2_discard_cluster(s, v);
	int rel = qcow2_release_now(s);
	return ret < 0 ? ret : rel;
}
