/*
 * qcow2 shadow updates: a new image state (active L1 table, snapshot table, refcounts) built
 * in free clusters and switched to by one header write. Snapshot create, goto and delete go
 * through here (qcow2_snapshot.c).
 *
 * Why not update the tables in place, as QEMU does: `qemu-img check` counts an active L1 or
 * L2 entry whose COPIED flag disagrees with its cluster's refcount ("Cluster mapping": set
 * exactly when the refcount is 1) as corruption, not as a leak. Taking a snapshot raises
 * the refcount of every cluster the disk uses and must clear their COPIED flags; the two
 * live in different clusters, so no order of in-place writes avoids a moment where a kill
 * leaves them disagreeing. Here the old state stays untouched until the header switches:
 *
 *   1. Compute the refcount changes (path counting, as `qemu-img check` counts: every L1
 *      table holding an L2 table adds one reference to it and to each cluster it maps).
 *   2. Fix the active tables' COPIED flags for the new refcounts: an active L2 table whose
 *      flags must change is copied to a new cluster ("shadowed"); the active L1 table is
 *      written anew where any entry changes.
 *   3. Allocate the new clusters (their refcounts go to 1 in place: until the switch they
 *      are leaks), copy each refcount block that changes with the changes applied, copy the
 *      refcount table pointing at the copies, write the shadowed L2 tables, the L1 table
 *      and the snapshot table; fdatasync.
 *   4. One header write (qcow2_write_header_tables) switches size, L1 table, refcount table
 *      and snapshot table at once; fdatasync.
 *   5. Free the old refcount table and the replaced refcount blocks, in place (a kill
 *      before this finishes leaks them, nothing worse).
 *
 * Before 4 the image is the old one plus leaked clusters; after it, the new one.
 */
#include <errno.h>
#include <glib.h>
#include <stdarg.h>
#include <string.h>

#include "block/qcow2.h"
#include "log.h"

/* Refcount changes are kept per chunk of a refcount block: int64 per cluster. */
#define COMMIT_CHUNK_BITS 12

struct commit_shadow {
	uint64_t index; /* L1 entry */
	uint8_t *table; /* the L2 table with its flags fixed */
	uint64_t offset;
};

struct commit_run {
	uint64_t offset, n;
};

struct qcow2_commit {
	struct qcow2 *s;
	unsigned chunk_bits;
	GHashTable *delta; /* chunk index + 1 -> int64_t[1 << chunk_bits] */
	uint64_t last_key; /* the chunk delta_chunk found last (walks go in cluster order) */
	int64_t *last;
	/* the new state */
	uint64_t *l1;
	uint64_t l1_size;
	bool l1_keep; /* the current active L1 table may stay where it is if unchanged */
	uint64_t size;
	bool new_snaps;
	struct qcow2_snapshot *snaps;
	size_t n_snaps;
	/* worked out by qcow2_commit_run */
	GArray *shadows; /* struct commit_shadow */
	bool *shadowed;	 /* per entry of the new L1: its L2 table is in shadows */
	GArray *runs;	 /* struct commit_run: clusters allocated, for the error path */
	bool l1_new;
	uint64_t l1_offset, snap_offset, snap_bytes, rt_offset;
	uint64_t *rbs, n_rbs; /* refcount blocks that change (reftable indices), sorted */
	uint64_t *rb_new;     /* and where their copies go */
	uint64_t min_freed;   /* lowest cluster the new state frees */
	int err;	      /* the first failure, kept for qcow2_commit_run */
	char *msg;
};

struct qcow2_commit *qcow2_commit_new(struct qcow2 *s)
{
	struct qcow2_commit *c = g_new0(struct qcow2_commit, 1);
	c->s = s;
	c->chunk_bits = MIN(COMMIT_CHUNK_BITS, s->rb_bits);
	c->delta = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL, g_free);
	c->shadows = g_array_new(false, true, sizeof(struct commit_shadow));
	c->runs = g_array_new(false, true, sizeof(struct commit_run));
	c->size = s->h.size;
	c->min_freed = UINT64_MAX;
	return c;
}

void qcow2_commit_free(struct qcow2_commit *c)
{
	if (!c)
		return;
	g_hash_table_destroy(c->delta);
	for (guint i = 0; i < c->shadows->len; i++)
		g_free(g_array_index(c->shadows, struct commit_shadow, i).table);
	g_array_free(c->shadows, true);
	g_free(c->shadowed);
	g_array_free(c->runs, true);
	g_free(c->l1);
	qcow2_snapshots_free(c->snaps, c->n_snaps);
	g_free(c->rbs);
	g_free(c->rb_new);
	g_free(c->msg);
	g_free(c);
}

/* Sets the message of the first failure; returns RET. */
static int G_GNUC_PRINTF(3, 4) commit_fail(struct qcow2_commit *c, int ret, const char *fmt, ...)
{
	if (!c->err) {
		c->err = ret;
		va_list ap;
		va_start(ap, fmt);
		c->msg = g_strdup_vprintf(fmt, ap);
		va_end(ap);
	}
	return ret;
}

/* ---- refcount changes ---- */

static int64_t *delta_chunk(struct qcow2_commit *c, uint64_t cluster, bool create)
{
	uint64_t k = (cluster >> c->chunk_bits) + 1;
	if (k == c->last_key)
		return c->last;
	int64_t *d = g_hash_table_lookup(c->delta, GSIZE_TO_POINTER(k));
	if (!d && create) {
		d = g_new0(int64_t, 1ull << c->chunk_bits);
		g_hash_table_insert(c->delta, GSIZE_TO_POINTER(k), d);
	}
	if (d) {
		c->last_key = k;
		c->last = d;
	}
	return d;
}

static void delta_add(struct qcow2_commit *c, uint64_t cluster, int64_t v)
{
	delta_chunk(c, cluster, true)[cluster & ((1ull << c->chunk_bits) - 1)] += v;
}

static int64_t delta_get(struct qcow2_commit *c, uint64_t cluster)
{
	int64_t *d = delta_chunk(c, cluster, false);
	return d ? d[cluster & ((1ull << c->chunk_bits) - 1)] : 0;
}

/* The refcount of CLUSTER in the new state. */
static int rc_new(struct qcow2_commit *c, uint64_t cluster, int64_t *v)
{
	uint64_t old;
	int ret = qcow2_refcount_get(c->s, cluster, &old);
	*v = (int64_t)old + delta_get(c, cluster);
	return ret;
}

/* The bytes [OFF, OFF + BYTES) (a table) gain or lose one reference per cluster. */
void qcow2_commit_add_range(struct qcow2_commit *c, uint64_t off, uint64_t bytes, int sign)
{
	struct qcow2 *s = c->s;
	if (!bytes)
		return;
	for (uint64_t k = off >> s->cluster_bits; k <= (off + bytes - 1) >> s->cluster_bits; k++)
		delta_add(c, k, sign);
}

static int read_l2(struct qcow2_commit *c, uint64_t off, uint8_t *buf)
{
	int ret = qcow2_file_read(c->s, buf, c->s->cluster_size, off);
	if (ret < 0)
		return commit_fail(c, ret, "cannot read the L2 table at %#" PRIx64 ": %s", off,
				   strerror(-ret));
	return 0;
}

static uint64_t l2_get(const uint8_t *t, uint64_t j)
{
	uint64_t be;
	memcpy(&be, t + j * 8, 8);
	return GUINT64_FROM_BE(be);
}

static void l2_put(uint8_t *t, uint64_t j, uint64_t v)
{
	uint64_t be = GUINT64_TO_BE(v);
	memcpy(t + j * 8, &be, 8);
}

/* The clusters entry E of an L2 table references: [*first, *last], or none (false). */
static int l2_clusters(struct qcow2_commit *c, uint64_t e, uint64_t *first, uint64_t *last,
		       bool *any)
{
	struct qcow2 *s = c->s;
	struct qcow2_map m;
	*first = *last = 0;
	*any = false;
	if (qcow2_classify(s, e, &m) < 0)
		return commit_fail(c, -EIO, "invalid L2 entry %#" PRIx64, e);
	*any = m.host != 0;
	*first = *last = m.host >> s->cluster_bits;
	if (m.type == QCOW2_COMPRESSED) { /* "Compressed Clusters Descriptor": whole sectors */
		*first = (m.host & ~511ull) >> s->cluster_bits;
		*last = (m.host + m.csize - 1) >> s->cluster_bits;
	}
	return 0;
}

/* Checks the N entries of L1: valid, and no L2 table twice (no image QEMU or pcvm writes
 * has that; a hostile one would make every walk read one table millions of times). */
static int check_l1(struct qcow2_commit *c, const uint64_t *l1, uint64_t n)
{
	g_autoptr(GHashTable) seen = g_hash_table_new(g_direct_hash, g_direct_equal);
	for (uint64_t i = 0; i < n; i++) {
		uint64_t l2off;
		if (qcow2_l1_entry_check(c->s, l1[i], &l2off) < 0)
			return commit_fail(c, -EIO, "invalid L1 entry %" PRIu64 " (%#" PRIx64 ")",
					   i, l1[i]);
		if (l2off && !g_hash_table_add(seen, GSIZE_TO_POINTER(l2off)))
			return commit_fail(c, -EIO,
					   "L2 table %#" PRIx64 " appears twice in one L1 table "
					   "(damaged image)",
					   l2off);
	}
	return 0;
}

/*
 * The L1 table L1 (N entries) gains (SIGN 1) or loses (-1) its place in the image: one
 * reference more or less for each L2 table it holds and each cluster those map. Its own
 * clusters are the caller's (qcow2_commit_add_range).
 */
int qcow2_commit_add_l1(struct qcow2_commit *c, const uint64_t *l1, uint64_t n, int sign)
{
	struct qcow2 *s = c->s;
	g_autofree uint8_t *t = g_malloc(s->cluster_size);
	int ret = check_l1(c, l1, n);
	for (uint64_t i = 0; ret == 0 && i < n; i++) {
		uint64_t l2off = l1[i] & QCOW2_OFFSET_MASK;
		if (!l2off)
			continue;
		ret = read_l2(c, l2off, t);
		if (ret < 0)
			return ret;
		delta_add(c, l2off >> s->cluster_bits, sign);
		for (uint64_t j = 0; j < (1ull << s->l2_bits); j++) {
			uint64_t first, last, e = l2_get(t, j);
			bool any;
			if (!e) /* unallocated: most entries of a sparse disk */
				continue;
			if ((ret = l2_clusters(c, e, &first, &last, &any)) < 0)
				return ret;
			for (uint64_t k = first; any && k <= last; k++)
				delta_add(c, k, sign);
		}
	}
	return ret;
}

/* The new active L1 table: N entries (taken). KEEP: the current table's clusters stay the
 * active one's, rewritten only if an entry changes; else a new table is written and the
 * caller accounts for the old one. SIZE: the new virtual disk size. */
void qcow2_commit_set_active(struct qcow2_commit *c, uint64_t *l1, uint64_t n, bool keep,
			     uint64_t size)
{
	g_free(c->l1);
	c->l1 = l1;
	c->l1_size = n;
	c->l1_keep = keep;
	c->size = size;
}

/* The new snapshot table (taken); the old one is freed. */
void qcow2_commit_set_snapshots(struct qcow2_commit *c, struct qcow2_snapshot *sn, size_t n)
{
	qcow2_snapshots_free(c->snaps, c->n_snaps);
	c->snaps = sn;
	c->n_snaps = n;
	c->new_snaps = true;
	qcow2_commit_add_range(c, c->s->h.snapshots_offset, c->s->snap_table_bytes, -1);
}

/* ---- step 2: the active tables' COPIED flags ---- */

/* Entry E of an active L2 table with its COPIED flag as the new refcounts want it. */
static int want_entry(struct qcow2_commit *c, uint64_t e, uint64_t *want)
{
	struct qcow2_map m;
	*want = e;
	if (qcow2_classify(c->s, e, &m) < 0)
		return commit_fail(c, -EIO, "invalid L2 entry %#" PRIx64, e);
	if (!m.host || m.type == QCOW2_COMPRESSED)
		return 0; /* the flag is only kept for clusters with an offset of their own */
	int64_t v;
	int ret = rc_new(c, m.host >> c->s->cluster_bits, &v);
	if (ret < 0)
		return commit_fail(c, ret, "cannot read a refcount: %s", strerror(-ret));
	if (v < 1) /* the disk maps it: it has a reference at least */
		return commit_fail(c, -EIO,
				   "refcount of cluster %#" PRIx64 " is too low for its "
				   "references (damaged image)",
				   m.host);
	*want = (e & ~QCOW2_OFLAG_COPIED) | (v == 1 ? QCOW2_OFLAG_COPIED : 0);
	return 0;
}

/* Active L1 entry I: shadows its L2 table if any of the table's flags must change. */
static int normalize_l2(struct qcow2_commit *c, uint64_t i, uint64_t l2off)
{
	struct qcow2 *s = c->s;
	uint8_t *t = g_malloc(s->cluster_size);
	bool change = false;
	int ret = read_l2(c, l2off, t);
	for (uint64_t j = 0; ret == 0 && j < (1ull << s->l2_bits); j++) {
		uint64_t e = l2_get(t, j), want;
		if (!e)
			continue;
		ret = want_entry(c, e, &want);
		if (ret == 0 && want != e) {
			l2_put(t, j, want);
			change = true;
		}
	}
	if (ret < 0 || !change) {
		g_free(t);
		return ret;
	}
	struct commit_shadow sh = { .index = i, .table = t };
	g_array_append_val(c->shadows, sh);
	c->shadowed[i] = true;
	delta_add(c, l2off >> s->cluster_bits, -1); /* the active path now goes through the copy */
	return 0;
}

/* Fixes the flags of the new active L1 and its L2 tables (shadow copies get theirs later). */
static int normalize(struct qcow2_commit *c)
{
	struct qcow2 *s = c->s;
	c->shadowed = g_new0(bool, MAX(c->l1_size, 1));
	int ret = check_l1(c, c->l1, c->l1_size);
	for (uint64_t i = 0; ret == 0 && i < c->l1_size; i++) {
		uint64_t l2off = c->l1[i] & QCOW2_OFFSET_MASK;
		ret = l2off ? normalize_l2(c, i, l2off) : 0;
	}
	if (ret < 0)
		return ret;
	c->l1_new = !c->l1_keep || c->shadows->len || c->l1_size != s->h.l1_size;
	for (uint64_t i = 0; i < c->l1_size; i++) {
		uint64_t l2off = c->l1[i] & QCOW2_OFFSET_MASK;
		int64_t v;
		if (!l2off || c->shadowed[i])
			continue;
		if ((ret = rc_new(c, l2off >> s->cluster_bits, &v)) < 0)
			return commit_fail(c, ret, "cannot read a refcount: %s", strerror(-ret));
		c->l1[i] = (c->l1[i] & ~QCOW2_OFLAG_COPIED) | (v == 1 ? QCOW2_OFLAG_COPIED : 0);
		if (!c->l1_new && c->l1[i] != s->l1[i]) /* same size here: s->l1[i] exists */
			c->l1_new = true;
	}
	if (c->l1_keep && c->l1_new)
		qcow2_commit_add_range(c, s->h.l1_table_offset, s->h.l1_size * 8, -1);
	return 0;
}

/* ---- step 3: checks, allocation, the new tables ---- */

static gint cmp_u64(gconstpointer a, gconstpointer b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* The change D to CLUSTER keeps its refcount in range. */
static int check_delta(struct qcow2_commit *c, uint64_t cluster, int64_t d)
{
	struct qcow2 *s = c->s;
	uint64_t old, max = qcow2_refcount_max(s), at = cluster << s->cluster_bits;
	int ret = qcow2_refcount_get(s, cluster, &old);
	if (ret < 0)
		return commit_fail(c, ret, "cannot read a refcount: %s", strerror(-ret));
	if (d > 0 && !old) /* a new reference to a cluster in use: it has one already */
		return commit_fail(c, -EIO,
				   "cluster %#" PRIx64 " is in use but has refcount 0 "
				   "(damaged image)",
				   at);
	if (d < 0 && old < (uint64_t)-d)
		return commit_fail(c, -EIO,
				   "refcount of cluster %#" PRIx64 " is %" PRIu64 ", too "
				   "low for its references (damaged image)",
				   at, old);
	if (d > 0 && max - old < (uint64_t)d)
		return commit_fail(c, -ERANGE,
				   "refcount of cluster %#" PRIx64 " would exceed %" PRIu64
				   " (refcount_bits %u)",
				   at, max, 1u << s->h.refcount_order);
	return 0;
}

/* Every changed refcount stays in range; lists the refcount blocks that change, sorted. */
static int check_deltas(struct qcow2_commit *c)
{
	uint64_t per = 1ull << c->chunk_bits;
	GArray *rbs = g_array_new(false, false, sizeof(uint64_t));
	GHashTableIter it;
	gpointer key, value;
	int ret = 0;
	g_hash_table_iter_init(&it, c->delta);
	while (ret == 0 && g_hash_table_iter_next(&it, &key, &value)) {
		uint64_t base = (GPOINTER_TO_SIZE(key) - 1) << c->chunk_bits;
		const int64_t *d = value;
		bool any = false;
		for (uint64_t k = 0; ret == 0 && k < per; k++)
			if (d[k] && (any = true))
				ret = check_delta(c, base + k, d[k]);
		uint64_t r = base >> c->s->rb_bits;
		if (any)
			g_array_append_val(rbs, r);
	}
	g_array_sort(rbs, cmp_u64);
	c->n_rbs = 0;
	c->rbs = g_new(uint64_t, MAX(rbs->len, 1));
	for (guint k = 0; k < rbs->len; k++) /* several chunks of one block: once */
		if (!k || g_array_index(rbs, uint64_t, k) != c->rbs[c->n_rbs - 1])
			c->rbs[c->n_rbs++] = g_array_index(rbs, uint64_t, k);
	g_array_free(rbs, true);
	return ret;
}

static int alloc(struct qcow2_commit *c, uint64_t bytes, uint64_t *offset)
{
	uint64_t n = (bytes + c->s->cluster_size - 1) >> c->s->cluster_bits;
	int ret = qcow2_alloc_run(c->s, n, offset);
	if (ret < 0)
		return commit_fail(c, ret, "cannot allocate clusters: %s", strerror(-ret));
	struct commit_run r = { *offset, n };
	g_array_append_val(c->runs, r);
	return 0;
}

/* Allocates every new cluster. The refcount table last: allocating may grow the current
 * one, and its copy must be as large. */
static int allocate(struct qcow2_commit *c)
{
	struct qcow2 *s = c->s;
	int ret = 0;
	for (guint k = 0; ret == 0 && k < c->shadows->len; k++)
		ret = alloc(c, s->cluster_size,
			    &g_array_index(c->shadows, struct commit_shadow, k).offset);
	if (ret == 0 && c->l1_new && c->l1_size)
		ret = alloc(c, c->l1_size * 8, &c->l1_offset);
	c->snap_bytes = c->new_snaps ? qcow2_snapshot_table_bytes(c->snaps, c->n_snaps) : 0;
	if (ret == 0 && c->snap_bytes)
		ret = alloc(c, c->snap_bytes, &c->snap_offset);
	c->rb_new = g_new0(uint64_t, MAX(c->n_rbs, 1));
	for (uint64_t k = 0; ret == 0 && k < c->n_rbs; k++)
		ret = alloc(c, s->cluster_size, &c->rb_new[k]);
	while (ret == 0) {
		uint64_t n = s->h.refcount_table_clusters;
		if ((ret = alloc(c, n << s->cluster_bits, &c->rt_offset)) < 0)
			break;
		if (s->h.refcount_table_clusters == n)
			return 0;
		g_array_set_size(c->runs, c->runs->len - 1); /* the table grew meanwhile */
		ret = qcow2_free_run(s, c->rt_offset, n);
	}
	return ret;
}

static int write_be_table(struct qcow2_commit *c, const uint64_t *t, uint64_t n, uint64_t off)
{
	g_autofree uint64_t *be = g_new(uint64_t, MAX(n, 1));
	for (uint64_t i = 0; i < n; i++)
		be[i] = GUINT64_TO_BE(t[i]);
	int ret = qcow2_file_write(c->s, be, n * 8, off);
	return ret < 0 ? commit_fail(c, ret, "cannot write a table: %s", strerror(-ret)) : 0;
}

/* The copy of refcount block R (reftable index) with the changes applied, written to AT. */
static int write_refblock(struct qcow2_commit *c, uint64_t r, uint64_t at)
{
	struct qcow2 *s = c->s;
	g_autofree uint8_t *b = g_malloc(s->cluster_size);
	uint64_t first = r << s->rb_bits, per = 1ull << s->rb_bits, max = qcow2_refcount_max(s);
	uint64_t chunk = 1ull << c->chunk_bits; /* a block holds whole chunks */
	int ret = qcow2_file_read(s, b, s->cluster_size, s->reftable[r]);
	for (uint64_t base = 0; ret == 0 && base < per; base += chunk) {
		const int64_t *d = delta_chunk(c, first + base, false);
		for (uint64_t k = base; d && k < base + chunk; k++) {
			int64_t dk = d[k - base];
			uint64_t v = qcow2_rb_get(s, b, k);
			if (!dk)
				continue;
			if ((dk < 0 && v < (uint64_t)-dk) || (dk > 0 && max - v < (uint64_t)dk))
				return commit_fail(c, -EIO,
						   "refcount of cluster %#" PRIx64 " changed",
						   (first + k) << s->cluster_bits);
			qcow2_rb_set(s, b, k, v + dk);
			if (v + dk == 0)
				c->min_freed = MIN(c->min_freed, first + k);
		}
	}
	if (ret == 0)
		ret = qcow2_file_write(s, b, s->cluster_size, at);
	return ret < 0 ? commit_fail(c, ret, "cannot write a refcount block: %s", strerror(-ret))
		       : 0;
}

static int write_tables(struct qcow2_commit *c)
{
	struct qcow2 *s = c->s;
	int ret = 0;
	for (guint k = 0; ret == 0 && k < c->shadows->len; k++) {
		struct commit_shadow *sh = &g_array_index(c->shadows, struct commit_shadow, k);
		c->l1[sh->index] = sh->offset | QCOW2_OFLAG_COPIED;
		ret = qcow2_file_write(s, sh->table, s->cluster_size, sh->offset);
		if (ret < 0)
			return commit_fail(c, ret, "cannot write an L2 table: %s", strerror(-ret));
	}
	if (c->l1_new && c->l1_size)
		ret = write_be_table(c, c->l1, c->l1_size, c->l1_offset);
	if (ret == 0 && c->snap_bytes) {
		g_autofree uint8_t *t = g_malloc0(c->snap_bytes);
		qcow2_snapshot_table_build(c->snaps, c->n_snaps, t);
		if ((ret = qcow2_file_write(s, t, c->snap_bytes, c->snap_offset)) < 0)
			return commit_fail(c, ret, "cannot write the snapshot table: %s",
					   strerror(-ret));
	}
	for (uint64_t k = 0; ret == 0 && k < c->n_rbs; k++) {
		if (c->rbs[k] >= s->reftable_entries || !s->reftable[c->rbs[k]])
			return commit_fail(c, -EIO, "a refcount block is missing (damaged image)");
		ret = write_refblock(c, c->rbs[k], c->rb_new[k]);
	}
	if (ret < 0)
		return ret;
	g_autofree uint64_t *rt = g_memdup2(s->reftable, s->reftable_entries * 8);
	for (uint64_t k = 0; k < c->n_rbs; k++)
		rt[c->rbs[k]] = c->rb_new[k];
	ret = write_be_table(c, rt, s->reftable_entries, c->rt_offset);
	if (ret == 0 && (ret = qcow2_sync(s)) < 0)
		return commit_fail(c, ret, "fdatasync: %s", strerror(-ret));
	return ret;
}

/* ---- steps 4 and 5 ---- */

static int switch_header(struct qcow2_commit *c)
{
	struct qcow2 *s = c->s;
	struct qcow2_header h = s->h;
	h.size = c->size;
	if (c->l1_new) {
		h.l1_size = c->l1_size;
		h.l1_table_offset = c->l1_size ? c->l1_offset : 0;
	}
	h.refcount_table_offset = c->rt_offset;
	if (c->new_snaps) {
		h.nb_snapshots = c->n_snaps;
		h.snapshots_offset = c->n_snaps ? c->snap_offset : 0;
	}
	int ret = qcow2_write_header_tables(s, &h);
	if (ret < 0)
		return commit_fail(c, ret, "cannot write the header: %s", strerror(-ret));
	s->h = h;
	return 0;
}

/* The new state is the image's: the driver's copies follow, the old tables go. */
static void adopt(struct qcow2_commit *c, uint64_t old_rt, uint64_t old_rt_n)
{
	struct qcow2 *s = c->s;
	g_autofree uint64_t *old_rbs = g_new(uint64_t, MAX(c->n_rbs, 1));
	for (uint64_t k = 0; k < c->n_rbs; k++) {
		old_rbs[k] = s->reftable[c->rbs[k]];
		s->reftable[c->rbs[k]] = c->rb_new[k];
	}
	if (c->l1_new) {
		g_free(s->l1);
		s->l1 = g_steal_pointer(&c->l1);
		if (!s->l1)
			s->l1 = g_new0(uint64_t, 1);
	}
	if (c->new_snaps) {
		qcow2_snapshots_free(s->snaps, s->n_snaps);
		s->snaps = g_steal_pointer(&c->snaps);
		s->n_snaps = c->n_snaps;
		c->n_snaps = 0;
		s->snap_table_bytes = c->snap_bytes;
	}
	s->bd->size = c->size;
	qcow2_cache_clear(&s->l2_cache);
	qcow2_cache_clear(&s->rb_cache);
	s->cbuf_host = 0;
	s->free_hint = MIN(s->free_hint, c->min_freed);
	int ret = qcow2_free_run(s, old_rt, old_rt_n);
	for (uint64_t k = 0; ret == 0 && k < c->n_rbs; k++)
		ret = qcow2_free_run(s, old_rbs[k], 1);
	if (ret < 0)
		log_warn("%s: freeing the old refcount tables: %s (they stay allocated)",
			 s->bd->path, strerror(-ret));
}

/* Gives back what allocate() took; nothing points at it. */
static void unwind(struct qcow2_commit *c)
{
	for (guint k = 0; k < c->runs->len; k++) {
		struct commit_run *r = &g_array_index(c->runs, struct commit_run, k);
		qcow2_free_run(c->s, r->offset, r->n);
	}
	qcow2_cache_clear(&c->s->l2_cache);
	qcow2_cache_clear(&c->s->rb_cache);
}

/* Builds and switches to the new state. 0, or -errno with *MSG (the image is unchanged,
 * but for leaked clusters where even giving them back failed). */
int qcow2_commit_run(struct qcow2_commit *c, char **msg)
{
	struct qcow2 *s = c->s;
	uint64_t old_rt;
	int ret = c->err; /* from qcow2_commit_add_l1 */
	if (ret == 0)
		ret = qcow2_release_now(s);
	if (ret == 0)
		ret = qcow2_mark_dirty(s);
	if (ret < 0)
		commit_fail(c, ret, "%s", strerror(-ret)); /* keeps an earlier message */
	if (ret == 0)
		ret = normalize(c);
	if (ret == 0)
		ret = check_deltas(c);
	if (ret == 0)
		ret = allocate(c);
	/* allocating may have grown and moved the table: free the one the switch replaces */
	old_rt = s->h.refcount_table_offset;
	uint64_t old_rt_n = s->h.refcount_table_clusters;
	if (ret == 0)
		ret = write_tables(c);
	if (ret < 0) {
		unwind(c);
	} else if ((ret = switch_header(c)) == 0) {
		adopt(c, old_rt, old_rt_n);
	}
	if (ret < 0)
		*msg = g_strdup(c->msg ? c->msg : strerror(-ret));
	return ret;
}
