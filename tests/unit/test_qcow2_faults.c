/*
 * qcow2 when things go wrong while writing (see test_qcow2.c): the writer killed with -9 at
 * random moments, the image then checked by `qemu-img check` and read back; and the helper
 * thread's fdatasync failing (this program is linked with -Wl,--wrap=fdatasync). Tests that
 * need qemu-img skip where it is missing.
 */
#include <errno.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "block/block.h"
#include "qcow2_fixtures.h"

static char *self_exe;

/* ---- crash safety ---- */

/*
 * The child: writes and discards through the asynchronous interface, each followed by a
 * flush, reporting on stdout "intent" before and "done" after each, until killed.
 */
#define CRASH_SLOTS	 2048
#define CRASH_SLOT_SPAN	 (40 * 1024)
#define CRASH_WRITE_LEN	 (24 * 1024)
#define CRASH_IMG_SIZE	 ((uint64_t)CRASH_SLOTS * CRASH_SLOT_SPAN)

struct crash_record {
	uint32_t slot, seq;
	uint8_t op; /* 'W' write, 'D' discard */
	uint8_t done;
	uint8_t pad[6];
};

static void crash_fill(uint8_t *buf, uint32_t seq)
{
	for (size_t i = 0; i < CRASH_WRITE_LEN; i++)
		buf[i] = (seq * 29 + i / 512) | 1;
}

static void crash_cb(struct block_req *req, int ret)
{
	g_assert_cmpint(ret, ==, 0);
	*(int *)req->opaque = 1;
}

static void crash_do(struct block_dev *bd, struct block_req *req)
{
	int done = 0;
	req->done = crash_cb;
	req->opaque = &done;
	block_submit(bd, req);
	while (!done)
		g_main_context_iteration(NULL, TRUE);
}

static void crash_report(struct crash_record *r, uint8_t done)
{
	r->done = done;
	g_assert_cmpint(write(STDOUT_FILENO, r, sizeof(*r)), ==, sizeof(*r));
}

static G_GNUC_NORETURN int crash_child(const char *path, uint32_t seed)
{
	struct block_dev *bd = open_ok(path, false);
	GRand *rand = g_rand_new_with_seed(seed);
	static uint8_t buf[CRASH_WRITE_LEN];
	for (uint32_t seq = seed * 100000;; seq++) {
		struct crash_record r = { .slot = g_rand_int_range(rand, 0, CRASH_SLOTS),
					  .seq = seq,
					  .op = g_rand_int_range(rand, 0, 8) ? 'W' : 'D' };
		uint64_t off = (uint64_t)r.slot * CRASH_SLOT_SPAN;
		crash_report(&r, 0);
		struct block_req req = { .op = BLOCK_DISCARD, .offset = off, .len = CRASH_SLOT_SPAN };
		if (r.op == 'W') {
			crash_fill(buf, seq);
			req = (struct block_req){ .op = BLOCK_WRITE, .offset = off, .buf = buf,
						  .len = CRASH_WRITE_LEN };
		}
		crash_do(bd, &req);
		struct block_req flush = { .op = BLOCK_FLUSH };
		crash_do(bd, &flush);
		crash_report(&r, 1);
	}
}

/* What the parent knows of each slot: 0 unknown (an operation was cut short), else the
 * last completed write's seq, or UINT32_MAX for "discarded" (reads zeros or... see below). */
#define SLOT_UNKNOWN   0
#define SLOT_NEVER     1
#define SLOT_DISCARDED 2

static void crash_apply(uint32_t *model, const struct crash_record *r)
{
	if (!r->done)
		model[r->slot] = SLOT_UNKNOWN;
	else
		model[r->slot] = r->op == 'W' ? r->seq : SLOT_DISCARDED;
}

/* Checks every slot whose last operation completed. A discard frees only whole clusters,
 * so after one a slot's bytes are zeros or what was there before: only zero-or-seq checks. */
static void crash_verify(const char *path, const uint32_t *model)
{
	struct block_dev *bd = open_ok(path, true);
	static uint8_t got[CRASH_WRITE_LEN], want[CRASH_WRITE_LEN];
	unsigned checked = 0;
	for (uint32_t s = 0; s < CRASH_SLOTS; s++) {
		if (model[s] == SLOT_UNKNOWN || model[s] == SLOT_DISCARDED)
			continue;
		g_assert_cmpint(block_pread(bd, got, sizeof(got), (uint64_t)s * CRASH_SLOT_SPAN),
				==, 0);
		if (model[s] == SLOT_NEVER)
			memset(want, 0, sizeof(want));
		else
			crash_fill(want, model[s]);
		g_assert_cmpmem(got, sizeof(got), want, sizeof(want));
		checked++;
	}
	block_close(bd);
	g_test_message("crash: %u slots verified", checked);
}

static unsigned crash_round(const char *path, uint32_t seed, uint32_t *model, GRand *rand)
{
	g_autofree char *seed_s = g_strdup_printf("%u", seed);
	char *argv[] = { self_exe, "--crash-child", (char *)path, seed_s, NULL };
	GByteArray *acc = run_killed(argv, rand, 100, 700);
	unsigned n = 0;
	for (guint i = 0; i + sizeof(struct crash_record) <= acc->len; i += sizeof(struct crash_record)) {
		struct crash_record r;
		memcpy(&r, acc->data + i, sizeof(r));
		crash_apply(model, &r);
		n += r.done;
	}
	g_byte_array_free(acc, TRUE);
	return n;
}

static void crash_test(const char *path, int rounds)
{
	uint32_t *model = g_new(uint32_t, CRASH_SLOTS);
	for (uint32_t s = 0; s < CRASH_SLOTS; s++)
		model[s] = SLOT_NEVER;
	GRand *rand = g_rand_new_with_seed(99);
	for (int i = 0; i < rounds; i++) {
		unsigned ops = crash_round(path, i + 1, model, rand);
		g_test_message("crash round %d: %u operations completed before kill -9", i, ops);
		g_assert_cmpuint(ops, >, 0);
		check_image(path, true); /* leaks allowed, corruption not */
		crash_verify(path, model);
	}
	g_rand_free(rand);
	g_free(model);
	/* a clean open and close afterwards, and the image still checks */
	block_close(open_ok(path, false));
	check_image(path, true);
}

static void test_crash_safety(void)
{
	if (!have_qemu())
		return;
	g_autofree char *path = tmp_path("crash.qcow2");
	char *error = NULL;
	g_assert_cmpint(block_create_qcow2(path, CRASH_IMG_SIZE, NULL, &error), ==, 0);
	crash_test(path, 4);
	/* small clusters: allocations, L2 tables and refcount growth all the time */
	g_autofree char *small = tmp_path("crash-small.qcow2");
	g_assert_cmpint(sh(NULL, "qemu-img create -q -f qcow2 -o cluster_size=512 %s %" G_GUINT64_FORMAT,
			   small, CRASH_IMG_SIZE),
			==, 0);
	crash_test(small, 4);
}

/* ---- a failing sync of the batch reserved ahead ---- */

/*
 * Fault injection (this test is linked with -Wl,--wrap=fdatasync): the fdatasync of the
 * helper thread that makes a batch reserved ahead durable ("qcow2-sync") fails with EIO,
 * once, or that one and every fdatasync after it (a disk gone bad), while ahead_fail says so.
 */
enum { AHEAD_OK, AHEAD_FAIL_ONCE, AHEAD_FAIL_ALWAYS };
static gint ahead_fail;
static gint ahead_failed;
static __thread bool in_try_now; /* this thread is in block_try_now */
static gint inline_syncs;	  /* fdatasync calls made from inside block_try_now */

int __real_fdatasync(int fd);
int __wrap_fdatasync(int fd);
int __wrap_fdatasync(int fd)
{
	char name[17] = "";
	prctl(PR_GET_NAME, name);
	if (in_try_now)
		g_atomic_int_inc(&inline_syncs);
	int mode = g_atomic_int_get(&ahead_fail);
	bool helper = !strcmp(name, "qcow2-sync");
	if ((mode == AHEAD_FAIL_ONCE && helper) ||
	    (mode == AHEAD_FAIL_ALWAYS && (helper || g_atomic_int_get(&ahead_failed)))) {
		if (mode == AHEAD_FAIL_ONCE)
			g_atomic_int_set(&ahead_fail, AHEAD_OK);
		g_atomic_int_inc(&ahead_failed);
		errno = EIO;
		return -1;
	}
	return __real_fdatasync(fd);
}

#define STREAM_CHUNKS (40 * 16) /* 40 MiB: four batches of clusters (8, 16, 32 MiB...) */

static void stream_fill(uint8_t *buf, uint32_t chunk)
{
	memset(buf, (chunk * 7) | 1, 65536);
	memcpy(buf, &chunk, sizeof(chunk));
	memcpy(buf + 65536 - 4, &chunk, sizeof(chunk));
}

/* Writes STREAM_CHUNKS 64 KiB chunks into fresh clusters with fdatasync failing as MODE
 * says; how many succeeded before the first failure. The image is closed. */
static unsigned stream_writes(const char *path, int mode)
{
	struct block_dev *bd = open_ok(path, false);
	static uint8_t buf[65536];
	g_atomic_int_set(&ahead_failed, 0);
	g_atomic_int_set(&ahead_fail, mode);
	unsigned n = 0;
	for (; n < STREAM_CHUNKS; n++) {
		stream_fill(buf, n);
		if (block_pwrite(bd, buf, sizeof(buf), (uint64_t)n << 16) < 0)
			break;
	}
	block_close(bd);
	g_atomic_int_set(&ahead_fail, AHEAD_OK);
	g_assert_cmpint(g_atomic_int_get(&ahead_failed), >, 0); /* the fault did happen */
	return n;
}

/* The first N chunks read back as written, the rest as zeros (never another's data). */
static void stream_verify(const char *path, unsigned n)
{
	struct block_dev *bd = open_ok(path, true);
	static uint8_t got[65536], want[65536];
	for (uint32_t c = 0; c < STREAM_CHUNKS; c++) {
		g_assert_cmpint(block_pread(bd, got, sizeof(got), (uint64_t)c << 16), ==, 0);
		stream_fill(want, c);
		if (c >= n)
			memset(want, 0, sizeof(want));
		if (memcmp(got, want, sizeof(got)))
			g_error("chunk %u (of %u written) reads wrong", c, n);
	}
	block_close(bd);
}

/*
 * The next batch of clusters is reserved ahead and synced on a helper thread. That sync
 * failing once: it is done again before the batch is used, and every write succeeds. Every
 * sync failing from then on: the writes that need the batch fail (the guest sees the error),
 * and the image stays sound with every write that succeeded in it.
 */
static void test_ahead_sync_failure(void)
{
	if (!have_qemu())
		return;
	g_autofree char *path = tmp_path("ahead.qcow2");
	char *error = NULL;
	g_assert_cmpint(block_create_qcow2(path, 64 << 20, NULL, &error), ==, 0);
	unsigned n = stream_writes(path, AHEAD_FAIL_ONCE);
	g_assert_cmpuint(n, ==, STREAM_CHUNKS);
	check_image(path, false);
	stream_verify(path, n);

	g_unlink(path);
	g_assert_cmpint(block_create_qcow2(path, 64 << 20, NULL, &error), ==, 0);
	n = stream_writes(path, AHEAD_FAIL_ALWAYS);
	g_test_message("the helper's fdatasync failing: %u of %u writes succeeded", n,
		       STREAM_CHUNKS);
	g_assert_cmpuint(n, >, 0);		 /* the first batch was synced on this thread */
	g_assert_cmpuint(n, <, STREAM_CHUNKS); /* the failure reached the writer */
	check_image(path, true);
	stream_verify(path, n);
}

/*
 * A write done at once (block_try_now, as on a vCPU thread) never waits for the disk: no
 * fdatasync on the caller's thread, also where reserving the next batch of clusters needs a
 * new refcount block (4 KiB clusters: one block covers 8 MiB), which is then left to the
 * ordinary path.
 */
static void test_inline_never_syncs(void)
{
	if (!have_qemu())
		return;
	g_autofree char *path = tmp_path("inline.qcow2");
	g_assert_cmpint(sh(NULL, "qemu-img create -q -f qcow2 -o cluster_size=4096 %s 64M", path),
			==, 0);
	struct block_dev *bd = open_ok(path, false);
	static uint8_t buf[65536];
	unsigned now = 0, later = 0;
	g_atomic_int_set(&inline_syncs, 0);
	for (uint32_t c = 0; c < STREAM_CHUNKS; c++) {
		stream_fill(buf, c);
		in_try_now = true;
		int ret = block_try_now(bd, BLOCK_WRITE, buf, sizeof(buf), (uint64_t)c << 16);
		in_try_now = false;
		if (ret == 0) {
			now++;
			continue;
		}
		struct block_req w = { .op = BLOCK_WRITE, .offset = (uint64_t)c << 16, .buf = buf,
				       .len = sizeof(buf) };
		crash_do(bd, &w);
		later++;
	}
	block_close(bd);
	g_test_message("%u writes done at once, %u the ordinary way", now, later);
	g_assert_cmpint(g_atomic_int_get(&inline_syncs), ==, 0);
	g_assert_cmpuint(now, >, later);
	check_image(path, false);
	stream_verify(path, STREAM_CHUNKS);
}

int main(int argc, char **argv)
{
	self_exe = g_file_read_link("/proc/self/exe", NULL);
	if (argc == 4 && !strcmp(argv[1], "--crash-child"))
		return crash_child(argv[2], atoi(argv[3]));
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/qcow2/crash-safety", test_crash_safety);
	g_test_add_func("/qcow2/ahead-sync-failure", test_ahead_sync_failure);
	g_test_add_func("/qcow2/inline-never-syncs", test_inline_never_syncs);
	return run_tests();
}
