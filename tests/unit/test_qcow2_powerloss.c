/*
 * qcow2 under power loss. The kill -9 tests (test_qcow2.c) keep the page cache, so every
 * pwrite that returned survives; a power cut keeps only what a completed fdatasync covered,
 * plus any subset of the changes made after it. This test records every change pcvm makes to
 * an image file (pwrite, ftruncate) and every sync, in order, by wrapping those calls at link
 * time (-Wl,--wrap, see tests/meson.build), while a workload streams allocating writes across
 * several reservation batches (the later ones reserved ahead and synced on the qcow2-sync
 * thread), overwrites clusters in place, flushes and closes.
 *
 * Then, for many cut points K along that log, it builds the image a power cut at K could
 * leave: the image as it was before the workload, every change covered by a sync that had
 * completed before K (a sync covers what was logged before it began), and an adversarial
 * subset of the changes after that (all, none, metadata only, random), and checks it:
 * `qemu-img check` finds no corruption (leaked clusters are allowed: exit 3), and every guest
 * cluster reads back, through pcvm's driver, as what the durable part of the log holds or as
 * a write issued after it; never another cluster's data, never garbage. Guest clusters hold
 * stamps (cluster number, generation) so that a read tells which write it came from.
 *
 * Two more workloads discard clusters, which the driver then reserves again (it punches
 * holes in them first: logged as writes of zeros), and replace a backing file's clusters
 * (copy on write, which syncs the data before the L2 entry). Two negative controls replay
 * the first log with one barrier taken away (a batch's refcounts, a flushed guest write) and
 * require the checks to fail.
 */
#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>

#include "block/block.h"
#include "qcow2_powerloss_util.h"

#define REQ_CHUNKS 4 /* guest clusters per streaming request (256 KiB) */

/* ---- the workload ---- */

/* 60 MiB: through the first reservation batch (8 MiB) and those reserved ahead (16, 32 MiB)
 * into a fourth; overwrites before and after a flush; a second L2 table. */
static const struct step stream_steps[] = {
	{ 0, 320 },	      /* into the second batch */
	{ 10, 8 },	      /* overwrites */
	{ 320, 200, true },   /* a flush in the middle */
	{ 8200, 4 },	      /* past 512 MiB: a second L2 table */
	{ 520, 260 },	      /* the fourth batch is reserved ahead */
	{ 100, 4 },	      /* overwrites of flushed clusters ... */
	{ 500, 30 },	      /* ... and across the flush */
	{ 780, 180 },	      /* into the fourth batch */
	{ 8201, 2 },
};

/* Clusters freed by a discard (rule 3) are reserved again for the next batch ahead, and
 * written with other guest clusters' data. */
static const struct step reuse_steps[] = {
	{ 0, 200, true },
	{ 100, 16, false, true }, /* freed after the sync that drops their L2 entries */
	{ 200, 240 },		  /* the batch reserved ahead: those 16 clusters */
	{ 100, 4 },		  /* discarded clusters written again */
};

/* Guest clusters that hold a backing file's data, replaced by allocating writes (copy on
 * write of whole clusters). */
static const struct step backing_steps[] = {
	{ 0, 128, true },
	{ 128, 128 },
};

static const struct workload workloads[] = {
	{ "stream", stream_steps, G_N_ELEMENTS(stream_steps), 48 },
	{ "reuse", reuse_steps, G_N_ELEMENTS(reuse_steps), 24 },
	{ "backing", backing_steps, G_N_ELEMENTS(backing_steps), 24, 256 },
};

/* Writes one run, each request as a device does: at once where the driver can (block_try_now:
 * no sync needed, the fresh clusters reserved and durable, the batch reserved ahead
 * included), else the ordinary way. */
static void write_run(struct recording *r, struct block_dev *bd, uint8_t *gen,
		      const struct step *st)
{
	g_autofree uint8_t *buf = g_malloc(REQ_CHUNKS * CLUSTER);
	for (uint32_t c = st->first; st->discard && c < st->first + st->n; c++) {
		size_t start = rec_len();
		g_assert_cmpint(block_discard(bd, (uint64_t)c * CLUSTER, CLUSTER), ==, 0);
		struct gwrite w = { c, 0, start, rec_len() };
		g_array_append_val(r->gw, w);
	}
	for (uint32_t c = st->first; !st->discard && c < st->first + st->n; c += REQ_CHUNKS) {
		uint32_t k = MIN(REQ_CHUNKS, st->first + st->n - c);
		for (uint32_t j = 0; j < k; j++) {
			g_assert_cmpint(checked_slot(c + j), >=, 0);
			stamp_fill(buf + j * CLUSTER, c + j, ++gen[c + j]);
		}
		size_t start = rec_len();
		uint64_t off = (uint64_t)c * CLUSTER;
		if (block_try_now(bd, BLOCK_WRITE, buf, k * CLUSTER, off) == 0)
			r->quick++;
		else
			g_assert_cmpint(block_pwrite(bd, buf, k * CLUSTER, off), ==, 0);
		size_t end = rec_len();
		for (uint32_t j = 0; j < k; j++) {
			struct gwrite w = { c + j, gen[c + j], start, end };
			g_array_append_val(r->gw, w);
		}
		r->requests++;
	}
	if (st->flush)
		g_assert_cmpint(block_flush(bd), ==, 0);
}

/* Runs the workload on R->work with the log on. */
static void run_workload(struct recording *r)
{
	char *error = NULL;
	struct block_dev *bd = block_open(r->work, false, &error);
	if (!bd)
		g_error("%s", error);
	block_set_inline(bd, true); /* whatever PCVM_NO_INLINE says: both paths are logged */
	g_autofree uint8_t *gen = g_malloc0(IMG_SIZE / CLUSTER);
	for (uint32_t c = 0; c < r->wl->backed; c++) {
		struct gwrite w = { c, gen[c] = 1, 0, 0 }; /* there before the log begins */
		g_array_append_val(r->gw, w);
	}
	g_mutex_lock(&rec.lock);
	rec.ops = g_array_new(FALSE, FALSE, sizeof(struct op));
	rec.workload = g_thread_self();
	rec.syncs = 0;
	rec.fd = bd->fd;
	g_mutex_unlock(&rec.lock);
	for (size_t i = 0; i < r->wl->n_steps; i++)
		write_run(r, bd, gen, &r->wl->steps[i]);
	int fd = bd->fd;
	block_close(bd); /* logged too: the reservations given back, the dirty bit cleared */
	g_mutex_lock(&rec.lock);
	g_assert_cmpint(rec.fd, ==, fd);
	rec.fd = -1;
	r->n_ops = rec.ops->len;
	r->ops = (struct op *)(void *)g_array_free(rec.ops, FALSE);
	rec.ops = NULL;
	r->syncs = rec.syncs;
	g_mutex_unlock(&rec.lock);
}

static bool op_is_data(const struct op *op)
{
	uint32_t chunk;
	unsigned gen;
	return op->kind == OP_WRITE && op->buf && op->len == CLUSTER && !(op->off % CLUSTER) &&
	       stamp_parse(op->buf, &chunk, &gen) && gen;
}

/* A backing file whose guest clusters [0, N) hold write #1 (written by pcvm, unlogged). */
static void make_backing(const char *path, const char *size, uint32_t n)
{
	const char *argv[] = { "qemu-img", "create", "-q", "-f", "qcow2", path, size, NULL };
	g_assert_cmpint(run_argv(argv, NULL), ==, 0);
	char *error = NULL;
	struct block_dev *bd = block_open(path, false, &error);
	if (!bd)
		g_error("%s", error);
	g_autofree uint8_t *buf = g_malloc(CLUSTER);
	for (uint32_t c = 0; c < n; c++) {
		stamp_fill(buf, c, 1);
		g_assert_cmpint(block_pwrite(bd, buf, CLUSTER, (uint64_t)c * CLUSTER), ==, 0);
	}
	block_close(bd);
}

/* Records workload WL on a new image. */
static struct recording *record(const struct workload *wl)
{
	struct recording *r = g_new0(struct recording, 1);
	r->wl = wl;
	g_autofree char *tmpl = g_strdup_printf("pcvm-powerloss-%s-XXXXXX", wl->name);
	r->dir = g_dir_make_tmp(tmpl, NULL);
	r->base = g_build_filename(r->dir, "base.qcow2", NULL);
	r->work = g_build_filename(r->dir, "work.qcow2", NULL);
	r->backing = g_build_filename(r->dir, "backing.qcow2", NULL);
	r->gw = g_array_new(FALSE, FALSE, sizeof(struct gwrite));
	g_autofree char *size = g_strdup_printf("%" G_GUINT64_FORMAT, (guint64)IMG_SIZE);
	if (wl->backed)
		make_backing(r->backing, size, wl->backed);
	const char *argv[] = { "qemu-img", "create", "-q", "-f", "qcow2", "-o",
			       "cluster_size=65536", r->base, size, NULL };
	const char *argv_b[] = { "qemu-img", "create", "-q", "-f", "qcow2", "-o",
				 "cluster_size=65536", "-b", "backing.qcow2", "-F", "qcow2",
				 r->base, size, NULL };
	g_assert_cmpint(run_argv(wl->backed ? argv_b : argv, NULL), ==, 0);
	copy_file(r->base, r->work);
	run_workload(r);
	for (size_t i = 0; i < r->n_ops; i++) {
		r->ops[i].data = op_is_data(&r->ops[i]);
		r->helper_syncs += r->ops[i].kind == OP_SYNC_BEGIN && r->ops[i].helper;
	}
	return r;
}

static void recording_free(struct recording *r)
{
	if (!r)
		return;
	if (!r->failed) {
		g_unlink(r->base);
		g_unlink(r->backing);
		g_unlink(r->work);
		g_rmdir(r->dir);
	}
	for (size_t i = 0; i < r->n_ops; i++)
		g_free(r->ops[i].buf);
	g_free(r->ops);
	g_array_free(r->gw, TRUE);
	g_free(r->dir);
	g_free(r->base);
	g_free(r->backing);
	g_free(r->work);
	g_free(r);
}

/* ---- the tests ---- */

static bool have_qemu_img(void)
{
	g_autofree char *img = g_find_program_in_path("qemu-img");
	if (!img)
		g_test_skip("qemu-img not installed (Debian: qemu-utils)");
	return img != NULL;
}

static struct recording *recordings[G_N_ELEMENTS(workloads)];

/* Workload I's log, recorded once for all the tests. */
static struct recording *recording(size_t i)
{
	if (!recordings[i])
		recordings[i] = record(&workloads[i]);
	return recordings[i];
}

/* Checks every crash state of R's log, at every cut point, in every subset. */
static void replay_all(struct replay *rp, struct recording *r)
{
	static const enum subset all[] = { SUB_ALL,	SUB_NONE,    SUB_METADATA,
					   SUB_RANDOM1, SUB_RANDOM2, SUB_RANDOM3 };
	*rp = (struct replay){ .subsets = all, .n_subsets = G_N_ELEMENTS(all) };
	g_autoptr(GArray) cuts = cut_points(r, 0);
	replay_log(rp, r, cuts);
	g_test_message("%s: %u guest writes (%u at once), %zu ops logged (%u syncs, %u by "
		       "qcow2-sync); %u cut points, %u crash states checked, %u with leaked "
		       "clusters",
		       r->wl->name, r->requests, r->quick, r->n_ops, r->syncs, r->helper_syncs,
		       rp->cuts, rp->states, rp->leaks);
	g_assert_cmpuint(rec.unmodelled, ==, 0);
	if (rp->failures)
		g_printerr("%u of %u crash states fail:\n%s", rp->failures, rp->states,
			   rp->report->str);
	g_string_free(rp->report, TRUE);
	g_assert_cmpuint(rp->failures, ==, 0);
}

static void test_stream(void)
{
	if (!have_qemu_img())
		return;
	struct recording *r = recording(0);
	/* the log holds what this test is about: batches reserved ahead, synced by a helper,
	 * and guest writes both at once and the ordinary way */
	g_assert_cmpuint(r->helper_syncs, >=, 3);
	g_assert_cmpuint(r->quick, >, 0);
	g_assert_cmpuint(r->quick, <, r->requests);
	struct replay rp;
	replay_all(&rp, r);
	g_assert_cmpuint(rp.cuts, >=, 50);
}

/* Data writes into host clusters that held another guest cluster's data before. */
static unsigned count_reused(const struct recording *r)
{
	g_autoptr(GHashTable) owner = g_hash_table_new(g_int64_hash, g_int64_equal);
	unsigned n = 0;
	for (size_t i = 0; i < r->n_ops; i++) {
		uint32_t chunk;
		unsigned gen;
		if (!r->ops[i].data || !stamp_parse(r->ops[i].buf, &chunk, &gen))
			continue;
		gpointer was = g_hash_table_lookup(owner, &r->ops[i].off);
		n += was && GPOINTER_TO_UINT(was) != chunk + 1;
		g_hash_table_insert(owner, (gpointer)&r->ops[i].off, GUINT_TO_POINTER(chunk + 1));
	}
	return n;
}

/*
 * Discarded clusters reserved again: a power cut that keeps the L2 entry of an unflushed
 * allocating write into one, but not its data, must not show the data the cluster held
 * before (another guest cluster's). The driver punches holes in reused clusters when it
 * reserves them, before the batch's sync; the log holds those as writes of zeros.
 */
static void test_reuse(void)
{
	if (!have_qemu_img())
		return;
	struct recording *r = recording(1);
	g_assert_cmpuint(count_reused(r), >, 0);
	struct replay rp;
	replay_all(&rp, r);
}

/*
 * Clusters of a backing file replaced by whole-cluster writes (copy on write): the new host
 * cluster must not be mapped before its data is on disk, or a power cut shows zeros where
 * the backing file's data (old) or the write's (new) is due. The driver syncs between the
 * two.
 */
static void test_backing(void)
{
	if (!have_qemu_img())
		return;
	struct recording *r = recording(2);
	struct replay rp;
	replay_all(&rp, r);
}

/* The refcount blocks of the image before the workload: [*LO, *HI) covers them all. */
static void refcount_blocks(const char *path, uint64_t *lo, uint64_t *hi)
{
	g_autofree uint8_t *img = NULL;
	gsize len;
	g_assert_true(g_file_get_contents(path, (char **)&img, &len, NULL));
	g_assert_cmpuint(len, >=, 64);
	uint64_t table = 0, clusters = 0;
	for (int i = 0; i < 8; i++)
		table = table << 8 | img[48 + i]; /* refcount_table_offset */
	for (int i = 0; i < 4; i++)
		clusters = clusters << 8 | img[56 + i]; /* refcount_table_clusters */
	*lo = UINT64_MAX;
	*hi = 0;
	for (uint64_t at = table; at < table + clusters * CLUSTER && at + 8 <= len; at += 8) {
		uint64_t e = 0;
		for (int i = 0; i < 8; i++)
			e = e << 8 | img[at + i];
		e &= ~0x1ffull;
		if (e) {
			*lo = MIN(*lo, e);
			*hi = MAX(*hi, e + CLUSTER);
		}
	}
	g_assert_cmpuint(*lo, <, *hi);
}

/*
 * Negative control: the first batch reserved ahead loses its barrier, as if its clusters
 * were handed out before the sync of their refcounts (rule 1 broken): the refcount write
 * stays pending for ever. The crash states with none of the pending changes then hold L2
 * entries pointing at clusters whose refcount is 0, and qemu-img check must say so.
 */
static void test_control_refcounts(void)
{
	if (!have_qemu_img())
		return;
	struct recording *r = recording(0);
	uint64_t lo, hi;
	refcount_blocks(r->base, &lo, &hi);
	size_t sync = 0;
	while (sync < r->n_ops && !(r->ops[sync].kind == OP_SYNC_BEGIN && r->ops[sync].helper))
		sync++;
	g_assert_cmpuint(sync, <, r->n_ops);
	size_t w = sync;
	while (w-- > 0 &&
	       !(r->ops[w].kind == OP_WRITE && r->ops[w].off >= lo && r->ops[w].off < hi))
		;
	g_assert_cmpuint(w, <, sync); /* the batch's refcounts, written before its sync */
	r->ops[w].late = true;
	static const enum subset none[] = { SUB_NONE };
	struct replay rp = { .subsets = none, .n_subsets = 1, .control = true };
	g_autoptr(GArray) cuts = cut_points(r, sync);
	replay_log(&rp, r, cuts);
	r->ops[w].late = false;
	g_test_message("refcount write at op %zu made late: %u of %u crash states corrupt", w,
		       rp.corrupt, rp.states);
	g_string_free(rp.report, TRUE);
	g_assert_cmpuint(rp.corrupt, >, 0);
}

/*
 * Negative control: one guest write from before the flush loses its data (the data write
 * stays pending for ever, while the L2 entry mapping it becomes durable); the data check
 * must see the cluster read as zeros where the flushed write is due.
 */
static void test_control_data(void)
{
	if (!have_qemu_img())
		return;
	struct recording *r = recording(0);
	const struct gwrite *w = NULL;
	for (guint i = 0; i < r->gw->len && !w; i++)
		if (g_array_index(r->gw, struct gwrite, i).chunk == 200)
			w = &g_array_index(r->gw, struct gwrite, i);
	g_assert_nonnull(w);
	size_t at = w->start;
	uint32_t chunk;
	unsigned gen;
	while (at < w->end && !(r->ops[at].data && stamp_parse(r->ops[at].buf, &chunk, &gen) &&
				chunk == w->chunk))
		at++;
	g_assert_cmpuint(at, <, w->end);
	r->ops[at].late = true;
	static const enum subset none[] = { SUB_NONE };
	struct replay rp = { .subsets = none, .n_subsets = 1, .control = true };
	g_autoptr(GArray) cuts = cut_points(r, w->end);
	replay_log(&rp, r, cuts);
	r->ops[at].late = false;
	g_test_message("data write at op %zu made late: %u of %u crash states with bad data", at,
		       rp.bad_data, rp.states);
	g_string_free(rp.report, TRUE);
	g_assert_cmpuint(rp.bad_data, >, 0);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/qcow2/power-loss/stream", test_stream);
	g_test_add_func("/qcow2/power-loss/reuse", test_reuse);
	g_test_add_func("/qcow2/power-loss/backing", test_backing);
	g_test_add_func("/qcow2/power-loss/control-refcount-barrier", test_control_refcounts);
	g_test_add_func("/qcow2/power-loss/control-lost-data", test_control_data);
	int ret = g_test_run();
	for (size_t i = 0; i < G_N_ELEMENTS(recordings); i++)
		recording_free(recordings[i]);
	return ret;
}
