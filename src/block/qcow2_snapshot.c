/*
 * qcow2 internal snapshots ("Snapshots" in QEMU's docs/interop/qcow2.txt): the snapshot
 * table, and taking, reverting to, deleting and listing snapshots. The changes themselves
 * go through qcow2_commit.c, which switches to the new state with one header write.
 *
 * A snapshot is an L1 table of its own plus a table entry. Its clusters are shared with the
 * current state and other snapshots; each cluster's refcount counts the L1 tables that
 * reach it (through a shared L2 table too), so a write to a shared cluster copies it first
 * (qcow2_cluster.c: COPIED flag clear).
 */
#include <errno.h>
#include <glib.h>
#include <string.h>

#include "block/qcow2.h"

/* "Snapshot table entry": the fixed part, and the extra data pcvm writes (vm_state_size
 * 64-bit, disk size, icount). */
#define SNAP_FIXED 40
#define SNAP_EXTRA 24

static uint64_t get_be(const uint8_t *p, unsigned width)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < width; i++)
		v = v << 8 | p[i];
	return v;
}

static void put_be(uint8_t *p, unsigned width, uint64_t v)
{
	for (unsigned i = width; i-- > 0; v >>= 8)
		p[i] = v;
}

static char *dup_bytes(const uint8_t *p, size_t len)
{
	char *s = g_malloc(len + 1);
	memcpy(s, p, len);
	s[len] = 0;
	return s;
}

void qcow2_snapshots_free(struct qcow2_snapshot *sn, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		g_free(sn[i].id);
		g_free(sn[i].name);
		g_free(sn[i].extra_more);
	}
	g_free(sn);
}

/* ---- reading the table ---- */

/* Fills SN from the entry whose fixed part is E and whose variable part is V. */
static void snap_parse(struct qcow2 *s, struct qcow2_snapshot *sn, const uint8_t *e,
		       const uint8_t *v)
{
	uint32_t extra = get_be(e + 36, 4);
	sn->l1_offset = get_be(e, 8);
	sn->l1_size = get_be(e + 8, 4);
	sn->id_len = get_be(e + 12, 2);
	sn->name_len = get_be(e + 14, 2);
	sn->date_sec = get_be(e + 16, 4);
	sn->date_nsec = get_be(e + 20, 4);
	sn->vm_clock_ns = get_be(e + 24, 8);
	sn->vm_state_size = extra >= 8 ? get_be(v, 8) : get_be(e + 32, 4);
	sn->disk_size = extra >= 16 ? get_be(v + 8, 8) : s->h.size; /* as QEMU assumes */
	sn->icount = extra >= 24 ? get_be(v + 16, 8) : UINT64_MAX;
	if (extra > SNAP_EXTRA) {
		sn->extra_more_len = extra - SNAP_EXTRA;
		sn->extra_more = g_memdup2(v + SNAP_EXTRA, sn->extra_more_len);
	}
	sn->id = dup_bytes(v + extra, sn->id_len);
	sn->name = dup_bytes(v + extra + sn->id_len, sn->name_len);
}

/* Entry I at POS (relative to the table, whose LIMIT bytes may be read): parsed into SN,
 * *END just past it. A message for an entry no valid image holds. */
static char *snap_read(struct qcow2 *s, uint64_t i, uint64_t pos, uint64_t limit,
		       struct qcow2_snapshot *sn, uint64_t *end)
{
	uint64_t base = s->h.snapshots_offset;
	uint8_t e[SNAP_FIXED];
	if (pos > limit || limit - pos < SNAP_FIXED)
		return g_strdup("snapshot table extends past the end of the file");
	if (qcow2_file_read(s, e, sizeof(e), base + pos) < 0)
		return g_strdup("cannot read the snapshot table");
	/* version 3 entries carry the VM state size and disk size; every entry has an ID */
	uint32_t extra = get_be(e + 36, 4), min_extra = s->h.version >= 3 ? 16 : 0;
	if (extra > QCOW2_MAX_SNAPSHOT_EXTRA || extra < min_extra || !get_be(e + 12, 2))
		return g_strdup_printf("snapshot %" PRIu64 ": invalid entry", i);
	uint64_t var = extra + get_be(e + 12, 2) + get_be(e + 14, 2);
	if (limit - pos - SNAP_FIXED < var)
		return g_strdup("snapshot table extends past the end of the file");
	g_autofree uint8_t *v = g_malloc(var + 1);
	if (qcow2_file_read(s, v, var, base + pos + SNAP_FIXED) < 0)
		return g_strdup("cannot read the snapshot table");
	uint64_t l1_off = get_be(e, 8), l1_size = get_be(e + 8, 4);
	if (l1_size > QCOW2_MAX_L1_BYTES / 8 || (l1_off & (s->cluster_size - 1)) ||
	    (l1_size && l1_off < s->cluster_size) || l1_off > s->file_end ||
	    l1_size * 8 > s->file_end - l1_off)
		return g_strdup_printf("snapshot %" PRIu64 ": L1 table invalid", i);
	snap_parse(s, sn, e, v);
	*end = pos + SNAP_FIXED + var;
	return NULL;
}

/* Reads and checks the snapshot table at open ("Snapshots"); *MSG says what is wrong. */
int qcow2_snapshots_load(struct qcow2 *s, char **msg)
{
	const struct qcow2_header *h = &s->h;
	if (!h->nb_snapshots)
		return 0;
	/* the header checks made sure the table starts inside the file */
	uint64_t limit = MIN(s->file_end - h->snapshots_offset, QCOW2_MAX_SNAPSHOT_TABLE);
	s->snaps = g_new0(struct qcow2_snapshot, h->nb_snapshots);
	uint64_t pos = 0, end = 0;
	for (uint64_t i = 0; i < h->nb_snapshots; i++) {
		*msg = snap_read(s, i, pos, limit, &s->snaps[s->n_snaps], &end);
		if (*msg)
			return -1;
		s->n_snaps++;
		pos = (end + 7) & ~7ull; /* the last entry's padding may be missing */
	}
	s->snap_table_bytes = end;
	return 0;
}

/* ---- writing the table ---- */

static uint64_t snap_bytes(const struct qcow2_snapshot *sn)
{
	return (SNAP_FIXED + SNAP_EXTRA + sn->extra_more_len + sn->id_len + sn->name_len + 7) &
	       ~7ull;
}

uint64_t qcow2_snapshot_table_bytes(const struct qcow2_snapshot *sn, size_t n)
{
	uint64_t bytes = 0;
	for (size_t i = 0; i < n; i++)
		bytes += snap_bytes(&sn[i]);
	return bytes;
}

/* The table for SN[0..N) into BUF (qcow2_snapshot_table_bytes, zeroed). Extra data: the
 * fields pcvm knows, then what was there past them, kept. */
void qcow2_snapshot_table_build(const struct qcow2_snapshot *sn, size_t n, uint8_t *buf)
{
	for (size_t i = 0; i < n; buf += snap_bytes(&sn[i]), i++) {
		uint32_t extra = SNAP_EXTRA + sn[i].extra_more_len;
		put_be(buf, 8, sn[i].l1_offset);
		put_be(buf + 8, 4, sn[i].l1_size);
		put_be(buf + 12, 2, sn[i].id_len);
		put_be(buf + 14, 2, sn[i].name_len);
		put_be(buf + 16, 4, sn[i].date_sec);
		put_be(buf + 20, 4, sn[i].date_nsec);
		put_be(buf + 24, 8, sn[i].vm_clock_ns);
		put_be(buf + 32, 4, MIN(sn[i].vm_state_size, UINT32_MAX));
		put_be(buf + 36, 4, extra);
		uint8_t *x = buf + SNAP_FIXED;
		put_be(x, 8, sn[i].vm_state_size);
		put_be(x + 8, 8, sn[i].disk_size);
		put_be(x + 16, 8, sn[i].icount);
		if (sn[i].extra_more_len)
			memcpy(x + SNAP_EXTRA, sn[i].extra_more, sn[i].extra_more_len);
		memcpy(x + extra, sn[i].id, sn[i].id_len);
		memcpy(x + extra + sn[i].id_len, sn[i].name, sn[i].name_len);
	}
}

/* A deep copy of SN[0..N), leaving out entry SKIP (or none: N), with ROOM entries more. */
static struct qcow2_snapshot *snaps_copy(const struct qcow2_snapshot *sn, size_t n, size_t skip,
					 size_t room)
{
	struct qcow2_snapshot *c = g_new0(struct qcow2_snapshot, n + room + 1);
	for (size_t i = 0, k = 0; i < n; i++) {
		if (i == skip)
			continue;
		c[k] = sn[i];
		c[k].id = dup_bytes((const uint8_t *)sn[i].id, sn[i].id_len);
		c[k].name = dup_bytes((const uint8_t *)sn[i].name, sn[i].name_len);
		c[k].extra_more = g_memdup2(sn[i].extra_more, sn[i].extra_more_len);
		k++;
	}
	return c;
}

/* ---- operations ---- */

static struct qcow2_snapshot *snap_find(struct qcow2 *s, const char *id, size_t *index)
{
	size_t len = strlen(id);
	for (size_t i = 0; i < s->n_snaps; i++)
		if (s->snaps[i].id_len == len && !memcmp(s->snaps[i].id, id, len)) {
			*index = i;
			return &s->snaps[i];
		}
	return NULL;
}

static int snap_fail(struct block_dev *bd, char **error, int ret, const char *id, const char *what)
{
	*error = g_strdup_printf("%s: snapshot '%s': %s", bd->path, id, what);
	return ret;
}

/* Loads snapshot SN's L1 table (host-endian, N entries, zeros past its own). */
static int snap_load_l1(struct qcow2 *s, const struct qcow2_snapshot *sn, uint64_t n,
			uint64_t **out)
{
	uint64_t *t = g_new0(uint64_t, MAX(n, 1));
	int ret = sn->l1_size ? qcow2_file_read(s, t, sn->l1_size * 8, sn->l1_offset) : 0;
	if (ret < 0) {
		g_free(t);
		return ret;
	}
	for (uint64_t i = 0; i < sn->l1_size; i++)
		t[i] = GUINT64_FROM_BE(t[i]);
	*out = t;
	return 0;
}

/* Runs C; *ERROR names the image and the snapshot on failure. */
static int snap_commit(struct block_dev *bd, struct qcow2_commit *c, const char *id, char **error)
{
	g_autofree char *msg = NULL;
	int ret = qcow2_commit_run(c, &msg);
	qcow2_commit_free(c);
	return ret < 0 ? snap_fail(bd, error, ret, id, msg) : 0;
}

int qcow2_snapshot_create(struct block_dev *bd, const char *id, const char *name,
			  uint64_t vm_clock_ns, char **error)
{
	struct qcow2 *s = bd->priv;
	size_t idx;
	name = name ? name : "";
	if (!*id || strlen(id) > UINT16_MAX || strlen(name) > UINT16_MAX)
		return snap_fail(bd, error, -EINVAL, id, "ID empty, or ID or name too long");
	if (snap_find(s, id, &idx))
		return snap_fail(bd, error, -EEXIST, id, "a snapshot with this ID exists");
	if (s->n_snaps >= QCOW2_MAX_SNAPSHOTS)
		return snap_fail(bd, error, -ENOSPC, id, "too many snapshots");
	struct qcow2_snapshot *sn = snaps_copy(s->snaps, s->n_snaps, s->n_snaps, 1);
	gint64 now = g_get_real_time();
	sn[s->n_snaps] = (struct qcow2_snapshot){
		/* the current L1 table becomes the snapshot's; the disk gets a copy */
		.l1_offset = s->h.l1_size ? s->h.l1_table_offset : 0,
		.l1_size = s->h.l1_size,
		.id = g_strdup(id),
		.name = g_strdup(name),
		.id_len = strlen(id),
		.name_len = strlen(name),
		.date_sec = now / G_USEC_PER_SEC,
		.date_nsec = now % G_USEC_PER_SEC * 1000,
		.vm_clock_ns = vm_clock_ns,
		.disk_size = s->h.size,
		.icount = UINT64_MAX,
	};
	if (qcow2_snapshot_table_bytes(sn, s->n_snaps + 1) > QCOW2_MAX_SNAPSHOT_TABLE) {
		qcow2_snapshots_free(sn, s->n_snaps + 1);
		return snap_fail(bd, error, -ENOSPC, id, "the snapshot table is full");
	}
	struct qcow2_commit *c = qcow2_commit_new(s);
	qcow2_commit_set_snapshots(c, sn, s->n_snaps + 1);
	qcow2_commit_set_active(c, g_memdup2(s->l1, MAX(s->h.l1_size, 1) * 8), s->h.l1_size, false,
				s->h.size);
	qcow2_commit_add_l1(c, s->l1, s->h.l1_size, 1); /* the disk's new L1 table */
	return snap_commit(bd, c, id, error);
}

int qcow2_snapshot_goto(struct block_dev *bd, const char *id, char **error)
{
	struct qcow2 *s = bd->priv;
	size_t idx;
	const struct qcow2_snapshot *sn = snap_find(s, id, &idx);
	if (!sn)
		return snap_fail(bd, error, -ENOENT, id, "no such snapshot");
	/* an L1 table large enough for the snapshot's disk ("Header": size) */
	uint64_t per_l1 = 1ull << (s->cluster_bits + s->l2_bits);
	if (!sn->disk_size || sn->disk_size % BLOCK_SECTOR || sn->disk_size > QCOW2_MAX_HOST_OFFSET)
		return snap_fail(bd, error, -EINVAL, id, "invalid disk size");
	uint64_t n = MAX(sn->l1_size, (sn->disk_size + per_l1 - 1) / per_l1);
	if (n > QCOW2_MAX_L1_BYTES / 8)
		return snap_fail(bd, error, -EINVAL, id, "disk size too large");
	uint64_t *l1;
	int ret = snap_load_l1(s, sn, n, &l1);
	if (ret < 0)
		return snap_fail(bd, error, ret, id, strerror(-ret));
	struct qcow2_commit *c = qcow2_commit_new(s);
	qcow2_commit_add_l1(c, l1, sn->l1_size, 1);	 /* now the disk's too */
	qcow2_commit_add_l1(c, s->l1, s->h.l1_size, -1); /* the disk's old state goes */
	qcow2_commit_add_range(c, s->h.l1_table_offset, s->h.l1_size * 8, -1);
	qcow2_commit_set_active(c, l1, n, false, sn->disk_size);
	return snap_commit(bd, c, id, error);
}

int qcow2_snapshot_delete(struct block_dev *bd, const char *id, char **error)
{
	struct qcow2 *s = bd->priv;
	size_t idx;
	const struct qcow2_snapshot *sn = snap_find(s, id, &idx);
	if (!sn)
		return snap_fail(bd, error, -ENOENT, id, "no such snapshot");
	g_autofree uint64_t *l1 = NULL;
	int ret = snap_load_l1(s, sn, sn->l1_size, &l1);
	if (ret < 0)
		return snap_fail(bd, error, ret, id, strerror(-ret));
	struct qcow2_commit *c = qcow2_commit_new(s);
	qcow2_commit_add_l1(c, l1, sn->l1_size, -1);
	qcow2_commit_add_range(c, sn->l1_offset, sn->l1_size * 8, -1);
	qcow2_commit_set_snapshots(c, snaps_copy(s->snaps, s->n_snaps, idx, 0), s->n_snaps - 1);
	qcow2_commit_set_active(c, g_memdup2(s->l1, MAX(s->h.l1_size, 1) * 8), s->h.l1_size, true,
				s->h.size);
	return snap_commit(bd, c, id, error);
}

int qcow2_snapshot_list(struct block_dev *bd, struct block_snapshot_info **out, size_t *n)
{
	struct qcow2 *s = bd->priv;
	*out = g_new0(struct block_snapshot_info, MAX(s->n_snaps, 1));
	*n = s->n_snaps;
	for (size_t i = 0; i < s->n_snaps; i++) {
		const struct qcow2_snapshot *sn = &s->snaps[i];
		(*out)[i] = (struct block_snapshot_info){
			.id = g_strdup(sn->id),
			.name = g_strdup(sn->name),
			.date_sec = sn->date_sec,
			.date_nsec = sn->date_nsec,
			.vm_clock_ns = sn->vm_clock_ns,
			.disk_size = sn->disk_size,
			.vm_state_size = sn->vm_state_size,
		};
	}
	return 0;
}

/* ---- space ---- */

/* Whether the cluster at byte offset OFF has refcount 1 (counted in *ONE). */
static int count_if_single(struct qcow2 *s, uint64_t off, uint64_t *one)
{
	uint64_t rc;
	int ret = qcow2_refcount_get(s, off >> s->cluster_bits, &rc);
	if (ret == 0 && rc == 1)
		(*one)++;
	return ret;
}

/* The clusters of one L2 table (T, read from the file) that no other table reaches. The host
 * clusters of compressed clusters are counted once (SEEN), several may share one. */
static int count_l2(struct qcow2 *s, const uint64_t *t, GHashTable *seen, uint64_t *one)
{
	for (uint64_t j = 0; j < (1ull << s->l2_bits); j++) {
		uint64_t e = GUINT64_FROM_BE(t[j]);
		struct qcow2_map m;
		if (!e)
			continue;
		int ret = qcow2_classify(s, e, &m);
		if (ret < 0)
			return ret;
		if (m.type == QCOW2_COMPRESSED) {
			uint64_t first = m.host >> s->cluster_bits;
			uint64_t last = (m.host + m.csize - 1) >> s->cluster_bits;
			for (uint64_t k = first; k <= last && ret == 0; k++)
				if (g_hash_table_add(seen, GSIZE_TO_POINTER(k + 1)))
					ret = count_if_single(s, k << s->cluster_bits, one);
		} else if (m.host) {
			ret = count_if_single(s, m.host, one);
		}
		if (ret < 0)
			return ret;
	}
	return 0;
}

/*
 * A cluster's refcount counts the L1 tables that reach it (qcow2_commit_add_l1), so the
 * clusters snapshot SN reaches with refcount 1 are its alone: neither the current state nor
 * another snapshot uses them, and deleting SN frees them. An L2 table with a refcount above 1
 * is shared, and so is everything it maps.
 */
static int snap_exclusive_clusters(struct qcow2 *s, const struct qcow2_snapshot *sn, uint64_t *one)
{
	g_autofree uint64_t *l1 = NULL;
	int ret = snap_load_l1(s, sn, sn->l1_size, &l1);
	uint64_t l1_clusters = (sn->l1_size * 8 + s->cluster_size - 1) >> s->cluster_bits;
	for (uint64_t k = 0; ret == 0 && k < l1_clusters; k++)
		ret = count_if_single(s, sn->l1_offset + (k << s->cluster_bits), one);
	g_autofree uint64_t *t = g_malloc(s->cluster_size);
	g_autoptr(GHashTable) seen = g_hash_table_new(NULL, NULL);
	for (uint64_t i = 0; ret == 0 && i < sn->l1_size; i++) {
		uint64_t l2off, rc;
		if (qcow2_l1_entry_check(s, l1[i], &l2off) < 0)
			return -EIO;
		if (!l2off)
			continue;
		ret = qcow2_refcount_get(s, l2off >> s->cluster_bits, &rc);
		if (ret < 0 || rc != 1)
			continue;
		(*one)++;
		ret = qcow2_file_read(s, t, s->cluster_size, l2off);
		if (ret == 0)
			ret = count_l2(s, t, seen, one);
	}
	return ret;
}

int qcow2_snapshot_exclusive_bytes(struct block_dev *bd, const char *id, uint64_t *bytes,
				   char **error)
{
	struct qcow2 *s = bd->priv;
	size_t idx;
	uint64_t one = 0;
	if (bd->aio)
		block_aio_lock(bd);
	const struct qcow2_snapshot *sn = snap_find(s, id, &idx);
	int ret = sn ? snap_exclusive_clusters(s, sn, &one) : -ENOENT;
	if (bd->aio)
		block_aio_unlock(bd);
	if (ret < 0)
		return snap_fail(bd, error, ret, id,
				 ret == -ENOENT ? "no such snapshot" : "cannot read its tables");
	*bytes = one << s->cluster_bits;
	return 0;
}
