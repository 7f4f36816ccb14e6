/* The recorder and the replayer of test_qcow2_powerloss.c (qcow2_powerloss_util.h). */
#include "qcow2_powerloss_util.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "block/block.h"

#define MAX_REPORT 8 /* failing crash states described in full */

/* ---- the log: every change to the image file, and the syncs, in order ---- */

struct recorder rec = { .fd = -1 };

static void rec_write(int fd, const void *buf, size_t len, uint64_t off)
{
	g_mutex_lock(&rec.lock);
	if (fd >= 0 && fd == rec.fd) {
		struct op op = { .kind = OP_WRITE, .off = off, .len = len };
		op.buf = buf ? g_memdup2(buf, len) : NULL;
		g_array_append_val(rec.ops, op);
	}
	g_mutex_unlock(&rec.lock);
}

static void rec_truncate(int fd, uint64_t len)
{
	g_mutex_lock(&rec.lock);
	if (fd >= 0 && fd == rec.fd) {
		struct op op = { .kind = OP_TRUNCATE, .off = len };
		g_array_append_val(rec.ops, op);
	}
	g_mutex_unlock(&rec.lock);
}

/* A sync of FD begins: its id, or -1 if FD is not recorded. */
static int rec_sync_begin(int fd)
{
	int id = -1;
	g_mutex_lock(&rec.lock);
	if (fd >= 0 && fd == rec.fd) {
		id = rec.syncs++;
		struct op op = { .kind = OP_SYNC_BEGIN, .sync = id };
		op.helper = g_thread_self() != rec.workload;
		g_array_append_val(rec.ops, op);
	}
	g_mutex_unlock(&rec.lock);
	return id;
}

static void rec_sync_end(int id, int ret)
{
	if (id < 0)
		return;
	g_mutex_lock(&rec.lock);
	struct op op = { .kind = OP_SYNC_END, .sync = id, .ret = ret };
	op.helper = g_thread_self() != rec.workload;
	g_array_append_val(rec.ops, op);
	g_mutex_unlock(&rec.lock);
}

/* The calls src/block makes that change a file (nm on its objects: glibc's 64-bit names). A
 * change is logged once it has completed, a sync's begin before it starts. */
ssize_t __real_pwrite64(int fd, const void *buf, size_t len, off_t off);
ssize_t __wrap_pwrite64(int fd, const void *buf, size_t len, off_t off);
ssize_t __real_pwritev64v2(int fd, const struct iovec *iov, int cnt, off_t off, int flags);
ssize_t __wrap_pwritev64v2(int fd, const struct iovec *iov, int cnt, off_t off, int flags);
int __real_ftruncate64(int fd, off_t len);
int __wrap_ftruncate64(int fd, off_t len);
int __real_fallocate64(int fd, int mode, off_t off, off_t len);
int __wrap_fallocate64(int fd, int mode, off_t off, off_t len);
int __real_fdatasync(int fd);
int __wrap_fdatasync(int fd);
int __real_fsync(int fd);
int __wrap_fsync(int fd);

ssize_t __wrap_pwrite64(int fd, const void *buf, size_t len, off_t off)
{
	ssize_t n = __real_pwrite64(fd, buf, len, off);
	int e = errno;
	if (n > 0)
		rec_write(fd, buf, n, off);
	errno = e;
	return n;
}

ssize_t __wrap_pwritev64v2(int fd, const struct iovec *iov, int cnt, off_t off, int flags)
{
	ssize_t n = __real_pwritev64v2(fd, iov, cnt, off, flags);
	int e = errno;
	size_t left = n > 0 ? n : 0;
	for (int i = 0; left && i < cnt; i++) {
		size_t k = MIN(left, iov[i].iov_len);
		rec_write(fd, iov[i].iov_base, k, off);
		off += k;
		left -= k;
	}
	errno = e;
	return n;
}

int __wrap_ftruncate64(int fd, off_t len)
{
	int r = __real_ftruncate64(fd, len);
	int e = errno;
	if (r == 0)
		rec_truncate(fd, len);
	errno = e;
	return r;
}

int __wrap_fallocate64(int fd, int mode, off_t off, off_t len)
{
	int r = __real_fallocate64(fd, mode, off, len);
	int e = errno;
	if (r == 0 && mode == (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE)) {
		rec_write(fd, NULL, len, off); /* reads as zeros from now on */
	} else {
		g_mutex_lock(&rec.lock);
		rec.unmodelled += r == 0 && fd >= 0 && fd == rec.fd;
		g_mutex_unlock(&rec.lock);
	}
	errno = e;
	return r;
}

/* A sync through REAL, logged around it. */
static int rec_sync(int fd, int (*real)(int))
{
	int id = rec_sync_begin(fd);
	int r = real(fd);
	int e = errno;
	rec_sync_end(id, r < 0 ? -e : 0);
	errno = e;
	return r;
}

int __wrap_fdatasync(int fd)
{
	return rec_sync(fd, __real_fdatasync);
}

int __wrap_fsync(int fd)
{
	return rec_sync(fd, __real_fsync);
}

size_t rec_len(void)
{
	g_mutex_lock(&rec.lock);
	size_t n = rec.ops->len;
	g_mutex_unlock(&rec.lock);
	return n;
}

/* ---- stamps: a guest cluster's contents say which write they came from ---- */

#define STAMP_MAGIC 0x5043ull /* "PC" */

/* Word I of generation GEN (1..255) of guest cluster CHUNK; generation 0 is zeros. */
static uint64_t stamp_word(uint32_t chunk, unsigned gen, unsigned i)
{
	return STAMP_MAGIC << 48 | (uint64_t)chunk << 24 | (uint64_t)gen << 16 | i;
}

void stamp_fill(uint8_t *buf, uint32_t chunk, unsigned gen)
{
	for (unsigned i = 0; i < CLUSTER / 8; i++) {
		uint64_t w = stamp_word(chunk, gen, i);
		memcpy(buf + i * 8, &w, 8);
	}
}

/* Which stamp BUF holds (*GEN 0: zeros); false for anything else (garbage, a torn mix). */
bool stamp_parse(const uint8_t *buf, uint32_t *chunk, unsigned *gen)
{
	uint64_t w0;
	memcpy(&w0, buf, 8);
	bool zero = w0 == 0;
	*chunk = (w0 >> 24) & 0xffffff;
	*gen = zero ? 0 : (w0 >> 16) & 0xff;
	if (!zero && (w0 >> 48 != STAMP_MAGIC || !*gen))
		return false;
	for (unsigned i = 0; i < CLUSTER / 8; i++) {
		uint64_t w;
		memcpy(&w, buf + i * 8, 8);
		if (w != (zero ? 0 : stamp_word(*chunk, *gen, i)))
			return false;
	}
	return true;
}

/* The guest clusters checked in each crash state: all those written, and some never written
 * next to them (they must read as zeros). */
static const struct {
	uint32_t first, n;
} checked[] = { { 0, 1024 }, { 8192, 16 } };

int checked_slot(uint32_t chunk)
{
	int base = 0;
	for (size_t i = 0; i < G_N_ELEMENTS(checked); base += checked[i++].n)
		if (chunk - checked[i].first < checked[i].n)
			return base + (chunk - checked[i].first);
	return -1;
}

static int n_checked(void)
{
	return checked_slot(checked[G_N_ELEMENTS(checked) - 1].first) +
	       checked[G_N_ELEMENTS(checked) - 1].n;
}

int run_argv(const char *const *argv, char **out)
{
	g_autofree char *o = NULL, *e = NULL;
	int status;
	g_assert_true(g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, &o,
				   &e, &status, NULL));
	if (out)
		*out = g_strconcat(o, e, NULL);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

void copy_file(const char *from, const char *to)
{
	const char *argv[] = { "cp", "--sparse=always", from, to, NULL };
	g_assert_cmpint(run_argv(argv, NULL), ==, 0);
}

/* durable[K]: the ops before this index are on disk after a power cut at K, i.e. before the
 * begin of some sync whose end precedes K (the qcow2-sync thread's overlap the others'). */
static size_t *durable_points(const struct recording *r)
{
	size_t *d = g_new0(size_t, r->n_ops + 1), cur = 0;
	g_autofree size_t *begin = g_new0(size_t, MAX(r->syncs, 1));
	for (size_t i = 0; i < r->n_ops; i++) {
		const struct op *op = &r->ops[i];
		if (op->kind == OP_SYNC_BEGIN)
			begin[op->sync] = i;
		if (op->kind == OP_SYNC_END && !op->ret)
			cur = MAX(cur, begin[op->sync]);
		d[i + 1] = cur;
	}
	return d;
}

/* ---- building a crash state: in place, undone after the checks ---- */

struct undo {
	uint64_t off;
	size_t len;
	uint8_t *old; /* the bytes to put back at OFF; NULL: truncate to OFF */
};

struct crash_img {
	char *path;
	int fd;
	size_t durable; /* ops [0, durable) applied for good, but for late ones */
	uint64_t size;	/* the length before the subset */
	GArray *undo;	/* struct undo, newest last */
};

static uint64_t file_len(int fd)
{
	struct stat st;
	g_assert_cmpint(fstat(fd, &st), ==, 0);
	return st.st_size;
}

static void pread_full(int fd, void *buf, size_t len, uint64_t off)
{
	ssize_t n = pread(fd, buf, len, off);
	g_assert_cmpint(n, >=, 0);
	memset((uint8_t *)buf + n, 0, len - n); /* past the end: zeros */
}

static void op_apply(int fd, const struct op *op)
{
	if (op->kind == OP_WRITE && op->buf)
		g_assert_cmpint(pwrite(fd, op->buf, op->len, op->off), ==, op->len);
	else if (op->kind == OP_WRITE)
		g_assert_cmpint(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, op->off,
					  op->len),
				==, 0);
	else if (op->kind == OP_TRUNCATE)
		g_assert_cmpint(ftruncate(fd, op->off), ==, 0);
}

static void undo_push(struct crash_img *ci, uint64_t off, size_t len, uint8_t *old)
{
	struct undo u = { off, len, old };
	g_array_append_val(ci->undo, u);
}

/* Applies OP on top of the durable state, remembering what it changes. */
static void crash_apply(struct crash_img *ci, const struct op *op)
{
	if (op->kind == OP_WRITE) {
		uint8_t *old = g_malloc(op->len);
		pread_full(ci->fd, old, op->len, op->off);
		undo_push(ci, op->off, op->len, old);
	} else if (op->kind == OP_TRUNCATE) {
		uint64_t cur = file_len(ci->fd);
		for (uint64_t at = op->off; at < cur; at += CLUSTER) { /* what a shrink cuts off */
			size_t n = MIN(CLUSTER, cur - at);
			uint8_t *old = g_malloc(n);
			pread_full(ci->fd, old, n, at);
			if (!old[0] && !memcmp(old, old + 1, n - 1))
				g_free(old); /* zeros come back with the length */
			else
				undo_push(ci, at, n, old);
		}
		undo_push(ci, cur, 0, NULL); /* undone first: the length back */
	}
	op_apply(ci->fd, op);
}

static void crash_undo(struct crash_img *ci)
{
	for (guint i = ci->undo->len; i-- > 0;) {
		struct undo *u = &g_array_index(ci->undo, struct undo, i);
		if (u->old)
			g_assert_cmpint(pwrite(ci->fd, u->old, u->len, u->off), ==, u->len);
		else
			g_assert_cmpint(ftruncate(ci->fd, u->off), ==, 0);
		g_free(u->old);
	}
	g_array_set_size(ci->undo, 0);
	g_assert_cmpint(ftruncate(ci->fd, ci->size), ==, 0);
}

static void crash_open(struct crash_img *ci, const struct recording *r)
{
	ci->path = g_build_filename(r->dir, "crash.qcow2", NULL);
	g_unlink(ci->path);
	copy_file(r->base, ci->path);
	ci->fd = open(ci->path, O_RDWR | O_CLOEXEC);
	g_assert_cmpint(ci->fd, >=, 0);
	ci->durable = 0;
	ci->undo = g_array_new(FALSE, FALSE, sizeof(struct undo));
}

static void crash_close(struct crash_img *ci)
{
	close(ci->fd);
	g_unlink(ci->path);
	g_free(ci->path);
	g_array_free(ci->undo, TRUE);
}

/* Moves the durable state on to D (never back: durable points only grow with K). */
static void crash_advance(struct crash_img *ci, const struct recording *r, size_t d)
{
	g_assert_cmpuint(d, >=, ci->durable);
	for (; ci->durable < d; ci->durable++)
		if (!r->ops[ci->durable].late)
			op_apply(ci->fd, &r->ops[ci->durable]);
	ci->size = file_len(ci->fd);
}

/* ---- checking a crash state ---- */

struct verdict {
	int check_rc; /* qemu-img check: 0 clean, 3 leaks, 2 corruption, 1 not checked */
	char *check_out;
	unsigned bad; /* guest clusters holding what they may not */
	char *first_bad;
};

static void verdict_clear(struct verdict *v)
{
	g_free(v->check_out);
	g_free(v->first_bad);
}

/* What a checked guest cluster may hold at a cut. */
struct expect {
	uint64_t allowed;  /* generations (bit 0: zeros) */
	unsigned req;	   /* the last write that completed before the durable point */
	bool from_backing; /* REQ is the backing file's */
	bool pending;	   /* a write issued since */
	bool freed;	   /* a discard issued before the cut */
};

/* At cut K with ops [0, D) durable: the last write that completed before D, or any write
 * issued since. */
static struct expect *expectations(const struct recording *r, size_t k, size_t d)
{
	struct expect *e = g_new0(struct expect, n_checked());
	for (guint i = 0; i < r->gw->len; i++) {
		const struct gwrite *w = &g_array_index(r->gw, struct gwrite, i);
		struct expect *x = &e[checked_slot(w->chunk)];
		if (w->end <= d) {
			x->req = w->gen;
			x->from_backing = !w->end;
		} else if (w->start < k) {
			x->allowed |= 1ull << w->gen;
			x->pending = true;
		}
		x->freed |= !w->gen && w->start < k;
	}
	for (int s = 0; s < n_checked(); s++)
		e[s].allowed |= 1ull << e[s].req;
	return e;
}

static char *describe_bad(uint32_t chunk, const uint8_t *buf, uint64_t allowed)
{
	uint32_t c;
	unsigned g;
	GString *s = g_string_new(NULL);
	g_string_printf(s, "guest cluster %u (offset %#" G_GINT64_MODIFIER "x) holds ", chunk,
			(uint64_t)chunk * CLUSTER);
	if (!stamp_parse(buf, &c, &g))
		g_string_append(s, "garbage (no whole stamp)");
	else if (!g)
		g_string_append(s, "zeros");
	else
		g_string_append_printf(s, "cluster %u's write #%u", c, g);
	g_string_append(s, "; allowed: write #");
	for (unsigned i = 0; i < 64; i++)
		if (allowed & (1ull << i))
			g_string_append_printf(s, "%u ", i);
	g_string_append(s, "(#0: zeros)");
	return g_string_free(s, FALSE);
}

/* Reads every checked guest cluster of PATH through pcvm's driver, read-only. */
static void check_data(const struct recording *r, const char *path, size_t k, size_t d,
		       struct verdict *v)
{
	char *error = NULL;
	struct block_dev *bd = block_open(path, true, &error);
	if (!bd) {
		v->bad++;
		v->first_bad = g_strdup_printf("pcvm cannot open it: %s", error);
		g_free(error);
		return;
	}
	g_autofree struct expect *e = expectations(r, k, d);
	g_autofree uint8_t *buf = g_malloc(CLUSTER);
	for (size_t i = 0; i < G_N_ELEMENTS(checked); i++) {
		for (uint32_t c = checked[i].first; c < checked[i].first + checked[i].n; c++) {
			const struct expect *x = &e[checked_slot(c)];
			uint64_t ok = x->allowed;
			uint32_t sc;
			unsigned sg;
			int ret = block_pread(bd, buf, CLUSTER, (uint64_t)c * CLUSTER);
			bool whole = ret == 0 && stamp_parse(buf, &sc, &sg);
			if (whole && (sc == c || !sg) && (ok & (1ull << sg)))
				continue;
			if (!v->bad++)
				v->first_bad = ret ? g_strdup_printf("guest cluster %u: read: %s",
								     c, g_strerror(-ret))
						   : describe_bad(c, buf, ok);
		}
	}
	block_close(bd);
}

static void check_state(const struct recording *r, const char *path, size_t k, size_t d,
			struct verdict *v)
{
	const char *argv[] = { "qemu-img", "check", "-f", "qcow2", path, NULL };
	*v = (struct verdict){ 0 };
	v->check_rc = run_argv(argv, &v->check_out);
	check_data(r, path, k, d, v);
}

/* ---- replaying the log ---- */

static const char *const subset_names[] = {
	[SUB_ALL] = "all",	     [SUB_NONE] = "none",	   [SUB_METADATA] = "metadata only",
	[SUB_RANDOM1] = "random #1", [SUB_RANDOM2] = "random #2", [SUB_RANDOM3] = "random #3",
};

/* Whether pending op OP reaches the disk before the cut, in subset SUB. */
static bool subset_takes(enum subset sub, const struct op *op, GRand *rand)
{
	switch (sub) {
	case SUB_ALL: return true;
	case SUB_NONE: return false;
	case SUB_METADATA: return !op->data;
	default: return g_rand_boolean(rand);
	}
}

/* The gist of qemu-img check's output: its first errors and its totals. */
static void append_check_summary(GString *to, const char *out)
{
	g_auto(GStrv) lines = g_strsplit(out, "\n", -1);
	unsigned errors = 0;
	for (char **l = lines; *l; l++) {
		bool error = g_str_has_prefix(*l, "ERROR") || g_str_has_prefix(*l, "qemu-img:");
		errors += error;
		if ((error && errors <= 6) || strstr(*l, " were found"))
			g_string_append_printf(to, "    %s\n", *l);
	}
	if (errors > 6)
		g_string_append_printf(to, "    (%u error lines in all)\n", errors);
}

static char *describe_state(const struct recording *r, size_t k, size_t d, enum subset sub,
			    GArray *taken, const struct verdict *v)
{
	return g_strdup_printf("cut K=%zu of %zu ops, durable up to op %zu, subset '%s': %u of "
			       "the pending changes applied; qemu-img check exit %d",
			       k, r->n_ops, d, subset_names[sub], taken->len, v->check_rc);
}

static void report_state(struct replay *rp, struct recording *r, const struct crash_img *ci,
			 size_t k, size_t d, enum subset sub, GArray *taken,
			 const struct verdict *v)
{
	rp->failures++;
	if (rp->failures > MAX_REPORT)
		return;
	g_autofree char *state = describe_state(r, k, d, sub, taken, v);
	g_string_append_printf(rp->report, "%s; %u bad guest clusters%s%s\n", state, v->bad,
			       v->bad ? ": " : "", v->bad ? v->first_bad : "");
	if (v->check_rc != 0 && v->check_rc != 3)
		append_check_summary(rp->report, v->check_out);
	if (rp->failures == 1 && !rp->control) {
		g_autofree char *keep = g_build_filename(r->dir, "first-failure.qcow2", NULL);
		copy_file(ci->path, keep);
		g_string_append_printf(rp->report, "(kept as %s)\n", keep);
		r->failed = true;
	}
}

/* One crash state at K: subset SUB of the changes in PENDING on top of the durable ones. */
static void replay_state(struct replay *rp, struct recording *r, struct crash_img *ci, size_t k,
			 size_t d, GArray *pending, enum subset sub)
{
	g_autoptr(GRand) rand = g_rand_new_with_seed(k * 8 + sub);
	g_autoptr(GArray) taken = g_array_new(FALSE, FALSE, sizeof(size_t));
	GString *key = g_string_new(NULL);
	g_string_printf(key, "%zu:", d);
	for (guint i = 0; i < pending->len; i++) {
		size_t at = g_array_index(pending, size_t, i);
		if (subset_takes(sub, &r->ops[at], rand)) {
			g_array_append_val(taken, at);
			g_string_append_printf(key, "%zu,", at);
		}
	}
	if (g_hash_table_contains(rp->seen, key->str)) {
		g_string_free(key, TRUE);
		return;
	}
	g_hash_table_add(rp->seen, g_string_free(key, FALSE));
	for (guint i = 0; i < taken->len; i++)
		crash_apply(ci, &r->ops[g_array_index(taken, size_t, i)]);
	struct verdict v;
	check_state(r, ci->path, k, d, &v);
	rp->states++;
	rp->leaks += v.check_rc == 3;
	rp->corrupt += v.check_rc != 0 && v.check_rc != 3;
	rp->bad_data += v.bad != 0;
	if ((v.check_rc != 0 && v.check_rc != 3) || v.bad) {
		report_state(rp, r, ci, k, d, sub, taken, &v);
	}
	verdict_clear(&v);
	crash_undo(ci);
}

/* Checks the crash states at each cut point of CUTS (ascending). */
void replay_log(struct replay *rp, struct recording *r, GArray *cuts)
{
	g_autofree size_t *durable = durable_points(r);
	struct crash_img ci;
	crash_open(&ci, r);
	rp->report = g_string_new(NULL);
	rp->seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	g_autoptr(GArray) pending = g_array_new(FALSE, FALSE, sizeof(size_t));
	for (guint c = 0; c < cuts->len; c++) {
		size_t k = g_array_index(cuts, size_t, c), d = durable[k];
		crash_advance(&ci, r, d);
		g_array_set_size(pending, 0);
		for (size_t i = 0; i < k; i++) {
			const struct op *op = &r->ops[i];
			bool change = op->kind == OP_WRITE || op->kind == OP_TRUNCATE;
			if (change && (i >= d || op->late))
				g_array_append_val(pending, i);
		}
		for (size_t s = 0; s < rp->n_subsets; s++)
			replay_state(rp, r, &ci, k, d, pending, rp->subsets[s]);
		rp->cuts++;
	}
	crash_close(&ci);
	g_hash_table_destroy(rp->seen);
}

static int cmp_size(gconstpointer a, gconstpointer b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;
	return x < y ? -1 : x > y;
}

/* Where to cut, from FROM on: while each sync runs and just after it returns, and the
 * workload's samples spread evenly in between. Ascending, each once. */
GArray *cut_points(const struct recording *r, size_t from)
{
	GArray *cuts = g_array_new(FALSE, FALSE, sizeof(size_t));
	for (size_t i = 0; i < r->n_ops; i++) {
		if (r->ops[i].kind != OP_SYNC_END)
			continue;
		size_t during = i, after = i + 1;
		g_array_append_val(cuts, during);
		g_array_append_val(cuts, after);
	}
	for (size_t j = 1; j <= r->wl->samples; j++) {
		size_t k = r->n_ops * j / r->wl->samples;
		g_array_append_val(cuts, k);
	}
	g_array_sort(cuts, cmp_size);
	guint n = 0;
	for (guint i = 0; i < cuts->len; i++) {
		size_t k = g_array_index(cuts, size_t, i);
		if (k > from && (!n || k != g_array_index(cuts, size_t, n - 1)))
			g_array_index(cuts, size_t, n++) = k;
	}
	g_array_set_size(cuts, n);
	return cuts;
}
