/*
 * qcow2 internal snapshots (see test_qcow2_snapshot.c) under attack: hostile snapshot tables,
 * each operation failing with a message or working, never crashing; kill -9 at random moments
 * and before every single write of an operation, the image then clean and every snapshot
 * complete. Tests that need qemu-img/qemu-io (and strace) skip where they are missing.
 */
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "block/block.h"
#include "block/qcow2.h"
#include "qcow2_fixtures.h"
#include "qcow2_snapshot_util.h"

static char *self_exe;

/* ---- hostile snapshot tables ---- */

/* A 4 KiB-cluster image with two snapshots taken by qemu-img. */
static char *hostile_base(char **contents, gsize *len)
{
	g_autofree char *path = tmp_path("hbase.qcow2");
	g_assert_cmpint(sh(NULL, "qemu-img create -q -f qcow2 -o cluster_size=4096 %s 4M", path),
			==, 0);
	qemu_io(path, "write -P 0x31 0 64k");
	g_assert_cmpint(sh(NULL, "qemu-img snapshot -c one %s", path), ==, 0);
	qemu_io(path, "write -P 0x32 0 8k", "write -P 0x33 2M 8k");
	g_assert_cmpint(sh(NULL, "qemu-img snapshot -c two %s", path), ==, 0);
	qemu_io(path, "write -P 0x34 0 4k");
	g_assert_true(g_file_get_contents(path, contents, len, NULL));
	return g_steal_pointer(&path);
}

/* An operation's RET on the image PATH: if it failed, *ERROR names the image (and is freed). */
static void fails_naming(int ret, char **error, const char *path)
{
	if (ret >= 0)
		return;
	g_assert_true(g_str_has_prefix(*error, path));
	g_clear_pointer(error, g_free);
}

/* Opens PATH writable and runs every snapshot operation on it; each fails with a message
 * naming the image or succeeds. Returns whether it opened. Under ASan this proves that a
 * damaged table is never read outside the file or a buffer. */
static bool hostile_exercise(const char *path, char **open_error)
{
	char *error = NULL;
	struct block_dev *bd = block_open(path, false, &error);
	if (!bd) {
		g_assert_true(g_str_has_prefix(error, path));
		if (open_error)
			*open_error = error;
		else
			g_free(error);
		return false;
	}
	struct block_snapshot_info *list;
	size_t n;
	g_assert_cmpint(block_snapshot_list(bd, &list, &n), ==, 0);
	for (size_t i = 0; i < n; i++) {
		fails_naming(block_snapshot_goto(bd, list[i].id, &error), &error, path);
		static uint8_t buf[65536];
		block_pread(bd, buf, MIN(sizeof(buf), block_size(bd)), 0);
		fails_naming(block_snapshot_create(bd, "new", NULL, 0, &error), &error, path);
		uint64_t bytes;
		fails_naming(qcow2_snapshot_exclusive_bytes(bd, list[i].id, &bytes, &error), &error,
			     path);
		fails_naming(block_snapshot_delete(bd, list[i].id, &error), &error, path);
	}
	block_snapshot_list_free(list, n);
	block_close(bd);
	return true;
}

struct table_damage {
	const char *what;
	int where; /* 0: header field; 1: first table entry; 2: second entry */
	unsigned off, width;
	uint64_t value;
	const char *open_msg; /* NULL: opens; the damage shows at use (use_msg) */
	const char *use_msg;
};

static const struct table_damage table_damages[] = {
	{ "count over the limit", 0, 60, 4, 65537, "too many snapshots" },
	{ "count huge", 0, 60, 4, 65536, "snapshot 2: invalid entry" },
	{ "count one more", 0, 60, 4, 3, "snapshot 2: invalid entry" },
	{ "offset unaligned", 0, 64, 8, 0x3008, "snapshot table offset invalid" },
	{ "offset past the end", 0, 64, 8, 1ull << 40,
	  "snapshot table extends past the end of the file" },
	{ "offset in the header", 0, 64, 8, 0, "snapshot table offset invalid" },
	{ "L1 unaligned", 1, 0, 8, 0x3010, "snapshot 0: L1 table invalid" },
	{ "L1 past the end", 1, 0, 8, 1ull << 40, "snapshot 0: L1 table invalid" },
	{ "L1 in the header", 1, 0, 8, 0, "snapshot 0: L1 table invalid" },
	{ "L1 huge", 2, 8, 4, 0x7fffffff, "snapshot 1: L1 table invalid" },
	{ "extra data huge", 1, 36, 4, 100000, "snapshot 0: invalid entry" },
	{ "extra data short", 1, 36, 4, 8, "snapshot 0: invalid entry" },
	{ "ID empty", 2, 12, 2, 0, "snapshot 1: invalid entry" },
	{ "ID long", 2, 12, 2, 65535, "snapshot table extends past the end of the file" },
	{ "disk size zero", 1, 48, 8, 0, NULL, "invalid disk size" },
	{ "disk size odd", 1, 48, 8, 12345, NULL, "invalid disk size" },
	{ "disk size huge", 1, 48, 8, 1ull << 62, NULL, "invalid disk size" },
	{ "disk size too large", 1, 48, 8, 1ull << 55, NULL, "disk size too large" },
};

static void test_hostile_tables(void)
{
	if (!have_qemu())
		return;
	g_autofree char *contents = NULL;
	gsize len;
	g_autofree char *base = hostile_base(&contents, &len);
	uint64_t table = be_field(base, 64, 8);
	uint64_t e0_len = 40 + be_field(base, table + 36, 4) + be_field(base, table + 12, 2) +
			  be_field(base, table + 14, 2);
	uint64_t entry[3] = { 0, table, table + ((e0_len + 7) & ~7ull) };
	g_autofree char *path = tmp_path("htable.qcow2");
	for (size_t i = 0; i < G_N_ELEMENTS(table_damages); i++) {
		const struct table_damage *d = &table_damages[i];
		g_assert_true(g_file_set_contents(path, contents, len, NULL));
		set_be_field(path, entry[d->where] + d->off, d->width, d->value);
		char *error = NULL;
		struct block_dev *bd = block_open(path, false, &error);
		if (d->open_msg) {
			if (bd || !strstr(error, d->open_msg) || !g_str_has_prefix(error, path))
				g_error("%s: got '%s', want '%s'", d->what, bd ? "(opened)" : error,
					d->open_msg);
			g_free(error);
			continue;
		}
		if (!bd)
			g_error("%s: %s", d->what, error);
		g_autofree char *before = NULL;
		gsize before_len;
		g_assert_true(g_file_get_contents(path, &before, &before_len, NULL));
		int ret = block_snapshot_goto(bd, "1", &error);
		if (ret >= 0 || !strstr(error, d->use_msg) || !g_str_has_prefix(error, path))
			g_error("%s: got %d '%s', want '%s'", d->what, ret, error, d->use_msg);
		g_free(error);
		block_close(bd);
		/* refused before anything was written */
		g_autofree char *after = NULL;
		gsize after_len;
		g_assert_true(g_file_get_contents(path, &after, &after_len, NULL));
		g_assert_cmpmem(before, before_len, after, after_len);
	}

	/* truncated anywhere in the table or the tables after it */
	for (gsize cut = table; cut < len; cut += 24) {
		g_assert_true(g_file_set_contents(path, contents, cut, NULL));
		hostile_exercise(path, NULL);
	}
}

/* Damage in what only a snapshot references (its L1 table, its L2 tables, refcounts): the
 * image opens, the snapshot operations refuse with a message and change nothing. */
static void test_hostile_snapshot_tables(void)
{
	if (!have_qemu())
		return;
	g_autofree char *contents = NULL;
	gsize len;
	g_autofree char *base = hostile_base(&contents, &len);
	uint64_t table = be_field(base, 64, 8);
	uint64_t sl1 = be_field(base, table, 8); /* snapshot "1"'s L1 table */
	uint64_t sl2 = be_field(base, sl1, 8) & 0x00fffffffffffe00ull;
	/* a data cluster both snapshots and the disk share (guest cluster 2) */
	uint64_t data = be_field(base, sl2 + 16, 8) & 0x00fffffffffffe00ull;
	uint64_t rt = be_field(base, 48, 8), rb = be_field(base, rt, 8);
	const struct {
		const char *what;
		uint64_t off;
		uint64_t value;
		const char *op, *msg;
	} damages[] = {
		{ "L1 entry past the end", sl1, 1ull << 40, "goto", "invalid L1 entry 0" },
		{ "L1 entry reserved bits", sl1, sl2 | 1, "delete", "invalid L1 entry 0" },
		{ "L2 table twice", sl1 + 8, be_field(base, sl1, 8), "goto", "appears twice" },
		{ "L2 entry reserved bits", sl2 + 16, data | 2, "goto", "invalid L2 entry" },
		{ "L2 entry past the end", sl2 + 16, 1ull << 40, "delete", "invalid L2 entry" },
		{ "refcount too low", rb + 2 * (data >> 12), 1, "delete", "(damaged image)" },
		{ "refcount zero", rb + 2 * (data >> 12), 0, "goto", "(damaged image)" },
	};
	g_autofree char *path = tmp_path("hsnap.qcow2");
	for (size_t i = 0; i < G_N_ELEMENTS(damages); i++) {
		g_assert_true(g_file_set_contents(path, contents, len, NULL));
		unsigned width = strstr(damages[i].what, "refcount") ? 2 : 8;
		set_be_field(path, damages[i].off, width, damages[i].value);
		g_autofree char *before = NULL;
		gsize before_len;
		g_assert_true(g_file_get_contents(path, &before, &before_len, NULL));
		struct block_dev *bd = open_ok(path, false);
		char *error = NULL;
		int ret = !strcmp(damages[i].op, "goto") ? block_snapshot_goto(bd, "1", &error)
							 : block_snapshot_delete(bd, "1", &error);
		if (ret >= 0 || !strstr(error, damages[i].msg) || !g_str_has_prefix(error, path))
			g_error("%s: got %d '%s', want '%s'", damages[i].what, ret, error,
				damages[i].msg);
		g_free(error);
		block_close(bd);
		g_autofree char *after = NULL;
		gsize after_len;
		g_assert_true(g_file_get_contents(path, &after, &after_len, NULL));
		/* unchanged, but for the dirty bit set and cleared again */
		g_assert_cmpmem(before, before_len, after, after_len);
	}

	/* random bit flips in the table and the snapshot's tables */
	const struct file_area areas[] = { { 60, 12 }, { table, 160 }, { sl1, 64 }, { sl2, 4096 } };
	GRand *rand = g_rand_new_with_seed(4321);
	unsigned opened = 0;
	for (int round = 0; round < 300; round++) {
		write_flipped(path, contents, len, areas, G_N_ELEMENTS(areas), 4, rand);
		opened += hostile_exercise(path, NULL);
		g_assert_cmpuint(file_size(path), <, 64 << 20); /* no runaway allocation */
	}
	g_rand_free(rand);
	g_test_message("bit flips: %u of 300 images opened", opened);
}

/* ---- crash safety ---- */

/*
 * A model of the disk: SLOTS slots, each holding the seq of the write that filled it (0:
 * never written, SLOT_UNKNOWN: a write was cut short). Snapshots are copies of it.
 */
#define SLOTS	     24
#define SLOT_SPAN    (256 * 1024)
#define SLOT_WRITE   (12 * 1024)
#define CRASH_SIZE   ((uint64_t)SLOTS * SLOT_SPAN)
#define SLOT_UNKNOWN UINT32_MAX
#define MAX_SNAPS    6

struct model {
	uint32_t slot[SLOTS];
};

static void slot_fill(uint8_t *buf, uint32_t seq)
{
	for (size_t i = 0; i < SLOT_WRITE; i++)
		buf[i] = seq ? ((seq * 13 + i / 512) | 1) : 0;
}

/* Whether the disk's contents match M (slots cut short are skipped). */
static bool model_matches(struct block_dev *bd, const struct model *m)
{
	static uint8_t got[SLOT_WRITE], want[SLOT_WRITE];
	for (unsigned s = 0; s < SLOTS; s++) {
		if (m->slot[s] == SLOT_UNKNOWN)
			continue;
		g_assert_cmpint(block_pread(bd, got, sizeof(got), (uint64_t)s * SLOT_SPAN), ==, 0);
		slot_fill(want, m->slot[s]);
		if (memcmp(got, want, sizeof(got)))
			return false;
	}
	return true;
}

/* What the child reports, before ('intent') and after ('done') each operation. */
struct crash_record {
	uint32_t seq, arg; /* write: slot; goto, delete: the snapshot's ID (a seq) */
	uint8_t op;	   /* 'W', 'C', 'G', 'D' */
	uint8_t done;
	uint8_t pad[6];
};

static void crash_report(struct crash_record *r, uint8_t done)
{
	r->done = done;
	g_assert_cmpint(write(STDOUT_FILENO, r, sizeof(*r)), ==, sizeof(*r));
}

/* The IDs of the snapshots on BD, as numbers. */
static GArray *snap_ids(struct block_dev *bd)
{
	struct block_snapshot_info *list;
	size_t n;
	g_assert_cmpint(block_snapshot_list(bd, &list, &n), ==, 0);
	GArray *ids = g_array_new(false, false, sizeof(uint32_t));
	for (size_t i = 0; i < n; i++) {
		uint32_t id = atoi(list[i].id);
		g_array_append_val(ids, id);
	}
	block_snapshot_list_free(list, n);
	return ids;
}

static void crash_op(struct block_dev *bd, const struct crash_record *r)
{
	static uint8_t buf[SLOT_WRITE];
	g_autofree char *id = g_strdup_printf("%u", r->op == 'C' ? r->seq : r->arg);
	switch (r->op) {
	case 'W':
		slot_fill(buf, r->seq);
		g_assert_cmpint(block_pwrite(bd, buf, sizeof(buf), (uint64_t)r->arg * SLOT_SPAN),
				==, 0);
		g_assert_cmpint(block_flush(bd), ==, 0);
		break;
	case 'C':
		create_ok(bd, id, "crash");
		break;
	case 'G':
		goto_ok(bd, id);
		break;
	case 'D':
		delete_ok(bd, id);
		break;
	}
}

/* The child: random writes and snapshot operations until killed. */
static G_GNUC_NORETURN int crash_child(const char *path, uint32_t seed)
{
	struct block_dev *bd = open_ok(path, false);
	GRand *rand = g_rand_new_with_seed(seed);
	for (uint32_t seq = seed * 100000;; seq++) {
		g_autoptr(GArray) ids = snap_ids(bd);
		unsigned n = ids->len, dice = g_rand_int_range(rand, 0, 100);
		struct crash_record r = { .seq = seq, .op = 'W' };
		if (n && (dice < 15 || n >= MAX_SNAPS))
			r.op = 'D';
		else if (n && dice < 35)
			r.op = 'G';
		else if (dice < 60)
			r.op = 'C';
		if (r.op == 'W')
			r.arg = g_rand_int_range(rand, 0, SLOTS);
		else if (r.op != 'C')
			r.arg = g_array_index(ids, uint32_t, g_rand_int_range(rand, 0, n));
		crash_report(&r, 0);
		crash_op(bd, &r);
		crash_report(&r, 1);
	}
}

/* What the parent knows: the disk and each snapshot. */
struct crash_state {
	struct model disk;
	GHashTable *snaps; /* id -> struct model * */
};

static void state_apply(struct crash_state *st, const struct crash_record *r)
{
	switch (r->op) {
	case 'W':
		st->disk.slot[r->arg] = r->seq;
		break;
	case 'C':
		g_hash_table_insert(st->snaps, GUINT_TO_POINTER(r->seq),
				    g_memdup2(&st->disk, sizeof(st->disk)));
		break;
	case 'G':
		st->disk =
		    *(struct model *)g_hash_table_lookup(st->snaps, GUINT_TO_POINTER(r->arg));
		break;
	case 'D':
		g_hash_table_remove(st->snaps, GUINT_TO_POINTER(r->arg));
		break;
	}
}

/* Every snapshot on PATH is a complete one the model knows, with the right contents (read
 * through pcvm on a copy, and one through qemu-img convert). */
static void crash_verify(const char *path, struct crash_state *st, GRand *rand)
{
	g_autofree char *copy = tmp_path("crash-copy.qcow2");
	g_assert_cmpint(sh(NULL, "cp %s %s", path, copy), ==, 0);
	struct block_dev *bd = open_ok(copy, false);
	g_autoptr(GArray) ids = snap_ids(bd);
	g_assert_cmpuint(ids->len, ==, g_hash_table_size(st->snaps));
	g_assert_true(model_matches(bd, &st->disk));
	for (guint i = 0; i < ids->len; i++) {
		uint32_t id = g_array_index(ids, uint32_t, i);
		struct model *m = g_hash_table_lookup(st->snaps, GUINT_TO_POINTER(id));
		g_assert_nonnull(m);
		g_autofree char *ids_s = g_strdup_printf("%u", id);
		goto_ok(bd, ids_s);
		g_assert_true(model_matches(bd, m));
	}
	block_close(bd);
	check_image(copy, true);
	if (!ids->len)
		return;
	/* qemu-img's view of one of them */
	uint32_t id = g_array_index(ids, uint32_t, g_rand_int_range(rand, 0, ids->len));
	g_autofree char *raw = tmp_path("crash-snap.raw");
	g_assert_cmpint(sh(NULL, "qemu-img convert -l %u -O raw %s %s", id, path, raw), ==, 0);
	g_autofree char *rawdev_err = NULL;
	struct block_dev *rd = block_open_format(raw, "raw", true, &rawdev_err);
	g_assert_nonnull(rd);
	g_assert_true(model_matches(rd, g_hash_table_lookup(st->snaps, GUINT_TO_POINTER(id))));
	block_close(rd);
}

/*
 * Resolves the operation that was cut short by looking at the image: it happened or it did
 * not, nothing in between (a write cut short leaves its slot unknown).
 */
static void crash_resolve(const char *path, struct crash_state *st, const struct crash_record *r)
{
	struct block_dev *bd = open_ok(path, true);
	g_autoptr(GArray) ids = snap_ids(bd);
	bool listed = false;
	uint32_t want = r->op == 'C' ? r->seq : r->arg;
	for (guint i = 0; i < ids->len; i++)
		listed |= g_array_index(ids, uint32_t, i) == want;
	bool done = false;
	switch (r->op) {
	case 'W':
		st->disk.slot[r->arg] = SLOT_UNKNOWN;
		break;
	case 'C':
		done = listed;
		break;
	case 'D':
		done = !listed;
		break;
	case 'G': {
		struct model *m = g_hash_table_lookup(st->snaps, GUINT_TO_POINTER(r->arg));
		done = !model_matches(bd, &st->disk);
		g_assert_true(!done || model_matches(bd, m)); /* the revert happened whole */
		break;
	}
	}
	if (done)
		state_apply(st, r);
	block_close(bd);
	g_test_message("operation %c cut short: %s", r->op,
		       r->op == 'W' ? "slot unknown"
		       : done	    ? "done"
				    : "not done");
}

/* Runs the child for a random while, kills it, brings the model up to date. */
static unsigned crash_round(const char *path, uint32_t seed, struct crash_state *st, GRand *rand)
{
	g_autofree char *seed_s = g_strdup_printf("%u", seed);
	char *argv[] = { self_exe, "--crash-child", (char *)path, seed_s, NULL };
	GByteArray *acc = run_killed(argv, rand, 50, 400);
	unsigned ops = 0;
	struct crash_record last = { 0 };
	bool open_op = false;
	for (guint i = 0; i + sizeof(last) <= acc->len; i += sizeof(last)) {
		memcpy(&last, acc->data + i, sizeof(last));
		open_op = !last.done;
		if (last.done) {
			state_apply(st, &last);
			ops += last.op != 'W';
		}
	}
	g_byte_array_free(acc, TRUE);
	check_image(path, true); /* leaks allowed, corruption not */
	if (open_op)
		crash_resolve(path, st, &last);
	return ops;
}

static void crash_test(const char *path, int rounds)
{
	struct crash_state st = { .snaps = g_hash_table_new_full(NULL, NULL, NULL, g_free) };
	GRand *rand = g_rand_new_with_seed(77);
	unsigned total = 0;
	for (int i = 0; i < rounds; i++) {
		unsigned ops = crash_round(path, i + 1, &st, rand);
		total += ops;
		g_test_message("crash round %d: %u snapshot operations completed, %u snapshots", i,
			       ops, g_hash_table_size(st.snaps));
		crash_verify(path, &st, rand);
	}
	g_assert_cmpuint(total, >, 0);
	g_rand_free(rand);
	g_hash_table_destroy(st.snaps);
	block_close(open_ok(path, false));
	check_image(path, true);
}

static void test_crash_random(void)
{
	if (!have_qemu())
		return;
	g_autofree char *path = make_image(&kinds[0], "crash.qcow2", CRASH_SIZE);
	crash_test(path, 8);
	/* small clusters: multi-cluster L1 tables, many refcount blocks */
	g_autofree char *small = tmp_path("crash-small.qcow2");
	g_assert_cmpint(sh(NULL,
			   "qemu-img create -q -f qcow2 -o cluster_size=512 %s %" G_GUINT64_FORMAT,
			   small, CRASH_SIZE),
			==, 0);
	crash_test(small, 8);
}

/*
 * Deterministic crash points: strace kills the child just before its Nth pwrite (or
 * ftruncate), for every N until the operation completes, so the image is seen in every
 * state the operation passes through.
 */
static G_GNUC_NORETURN int op_child(const char *path, const char *op)
{
	struct block_dev *bd = open_ok(path, false);
	if (!strcmp(op, "create"))
		create_ok(bd, "3", "third");
	else if (!strcmp(op, "goto"))
		goto_ok(bd, "1");
	else
		delete_ok(bd, "1");
	block_close(bd);
	exit(0);
}

static void points_base(const char *path, const char *qemu_opts, struct model *m)
{
	g_assert_cmpint(sh(NULL, "qemu-img create -q -f qcow2 %s %s %" G_GUINT64_FORMAT, qemu_opts,
			   path, CRASH_SIZE),
			==, 0);
	struct block_dev *bd = open_ok(path, false);
	static uint8_t buf[SLOT_WRITE];
	for (unsigned step = 0; step < 3; step++) {
		for (unsigned s = step; s < SLOTS; s += 2 + step) {
			m[step].slot[s] = 100 * (step + 1) + s;
			slot_fill(buf, m[step].slot[s]);
			g_assert_cmpint(block_pwrite(bd, buf, sizeof(buf), (uint64_t)s * SLOT_SPAN),
					==, 0);
		}
		if (step < 2) {
			g_autofree char *id = g_strdup_printf("%u", step + 1);
			create_ok(bd, id, NULL);
		}
		if (step < 2)
			m[step + 1] = m[step];
	}
	block_close(bd);
	check_image(path, false);
}

/* One crash point: kill before the Nth call of SYSCALL; false once the child finishes. */
static bool crash_point(const char *base, const char *path, const char *op, const char *sc,
			unsigned n, const struct model *m)
{
	g_assert_cmpint(sh(NULL, "cp %s %s", base, path), ==, 0);
	/* LeakSanitizer cannot run under ptrace: off for the traced child */
	int rc = sh(NULL,
		    "ASAN_OPTIONS=$ASAN_OPTIONS:detect_leaks=0 strace -f -qq -o /dev/null "
		    "-e trace=%s -e inject=%s:signal=SIGKILL:when=%u %s --op-child %s %s",
		    sc, sc, n, self_exe, path, op);
	if (rc != 0 && rc != 128 + SIGKILL)
		g_error("%s, crash point %s %u: child exit status %d", op, sc, n, rc);
	bool killed = rc != 0;
	check_image(path, true);
	struct block_dev *bd = open_ok(path, true);
	g_autoptr(GArray) ids = snap_ids(bd);
	/* before: snapshots 1 (m[0]) and 2 (m[1]), disk m[2] */
	bool done;
	if (!strcmp(op, "create")) {
		done = ids->len == 3;
		g_assert_cmpuint(ids->len, ==, done ? 3 : 2);
		g_assert_true(model_matches(bd, &m[2]));
	} else if (!strcmp(op, "delete")) {
		done = ids->len == 1;
		g_assert_cmpuint(ids->len, ==, done ? 1 : 2);
		g_assert_true(model_matches(bd, &m[2]));
	} else {
		done = !model_matches(bd, &m[2]);
		g_assert_cmpuint(ids->len, ==, 2);
		g_assert_true(model_matches(bd, done ? &m[0] : &m[2]));
	}
	block_close(bd);
	g_assert_true(killed || done);
	/* the snapshots left are whole */
	bd = open_ok(path, false);
	for (guint i = 0; i < ids->len; i++) {
		uint32_t id = g_array_index(ids, uint32_t, i);
		g_autofree char *ids_s = g_strdup_printf("%u", id);
		goto_ok(bd, ids_s);
		g_assert_true(model_matches(bd, &m[id - 1]));
	}
	block_close(bd);
	check_image(path, true);
	return killed;
}

static void test_crash_points(void)
{
	if (!have_qemu())
		return;
	g_autofree char *strace = g_find_program_in_path("strace");
	if (!strace || sh(NULL, "strace -qq -o /dev/null -e inject=getpid:error=EPERM true")) {
		g_test_skip("strace with fault injection is not available");
		return;
	}
	const char *opts[] = { "", "-o cluster_size=512" };
	for (size_t o = 0; o < G_N_ELEMENTS(opts); o++) {
		g_autofree char *base = tmp_path("points-base.qcow2");
		g_autofree char *path = tmp_path("points.qcow2");
		struct model m[3] = { 0 };
		points_base(base, opts[o], m);
		const char *ops[] = { "create", "goto", "delete" };
		for (size_t i = 0; i < G_N_ELEMENTS(ops); i++) {
			unsigned points = 0;
			for (unsigned n = 1; crash_point(base, path, ops[i], "pwrite64", n, m); n++)
				g_assert_cmpuint(++points, <, 1000);
			for (unsigned n = 1; crash_point(base, path, ops[i], "ftruncate", n, m);
			     n++)
				g_assert_cmpuint(++points, <, 1000);
			g_test_message("%s %s: %u crash points", opts[o], ops[i], points);
			g_assert_cmpuint(points, >, 5);
		}
	}
}

int main(int argc, char **argv)
{
	self_exe = g_file_read_link("/proc/self/exe", NULL);
	if (argc == 4 && !strcmp(argv[1], "--crash-child"))
		return crash_child(argv[2], atoi(argv[3]));
	if (argc == 4 && !strcmp(argv[1], "--op-child"))
		return op_child(argv[2], argv[3]);
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/qcow2-snapshot/hostile/table", test_hostile_tables);
	g_test_add_func("/qcow2-snapshot/hostile/snapshot-tables", test_hostile_snapshot_tables);
	g_test_add_func("/qcow2-snapshot/crash/random", test_crash_random);
	g_test_add_func("/qcow2-snapshot/crash/points", test_crash_points);
	return run_tests();
}
