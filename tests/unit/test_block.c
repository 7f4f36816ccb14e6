/* The block layer: raw images, the asynchronous request API, drain, sizes, and refusals. */
#include <errno.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "block/block.h"

static GThread *main_thread;

static char *tmp_path(const char *name)
{
	static char *dir;
	if (!dir)
		dir = g_dir_make_tmp("pcvm-block-XXXXXX", NULL);
	return g_build_filename(dir, name, NULL);
}

static void test_parse_size(void)
{
	g_assert_cmpuint(block_parse_size("8G"), ==, 8ull << 30);
	g_assert_cmpuint(block_parse_size("512M"), ==, 512ull << 20);
	g_assert_cmpuint(block_parse_size("100k"), ==, 100ull << 10);
	g_assert_cmpuint(block_parse_size("1TiB"), ==, 1ull << 40);
	g_assert_cmpuint(block_parse_size("2GB"), ==, 2ull << 30);
	g_assert_cmpuint(block_parse_size("4096"), ==, 4096);
	g_assert_cmpuint(block_parse_size("-1G"), ==, 0);
	g_assert_cmpuint(block_parse_size("8X"), ==, 0);
	g_assert_cmpuint(block_parse_size("G"), ==, 0);
	g_assert_cmpuint(block_parse_size("99999999999999T"), ==, 0);
}

/* ---- one request at a time ---- */

static __thread bool in_submit; /* set around block_submit on the submitting thread */

static void done_cb(struct block_req *req, int ret)
{
	g_assert_false(in_submit); /* never inside block_submit */
	g_assert_true(g_thread_self() == main_thread);
	*(int *)req->opaque = ret == 0 ? 1 : ret;
}

/* Submits REQ, checks it did not complete inline, drains, returns the result. */
static int submit_wait(struct block_dev *bd, struct block_req *req)
{
	int done = 0;
	req->opaque = &done;
	req->done = done_cb;
	in_submit = true;
	block_submit(bd, req);
	in_submit = false;
	g_assert_cmpint(done, ==, 0);
	block_drain(bd);
	g_assert_cmpint(done, !=, 0);
	return done;
}

static void raw_create_and_io(const char *name)
{
	g_autofree char *path = tmp_path(name);
	char *error = NULL;
	g_assert_cmpint(block_create_raw(path, 1 << 20, &error), ==, 0);
	/* creating over an existing file is refused */
	g_assert_cmpint(block_create_raw(path, 1 << 20, &error), ==, -1);
	g_assert_nonnull(error);
	g_clear_pointer(&error, g_free);

	struct block_dev *bd = block_open(path, false, &error);
	g_assert_nonnull(bd);
	g_assert_cmpstr(bd->drv->name, ==, "raw");
	g_assert_cmpuint(block_size(bd), ==, 1 << 20);
	uint8_t buf[1024], back[1024];
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = i * 7;
	struct block_req w = { BLOCK_WRITE, 4096, buf, sizeof(buf) };
	g_assert_cmpint(submit_wait(bd, &w), ==, 1);
	struct block_req r = { BLOCK_READ, 4096, back, sizeof(back) };
	g_assert_cmpint(submit_wait(bd, &r), ==, 1);
	g_assert_cmpmem(buf, sizeof(buf), back, sizeof(back));
	/* past the end: an error, still delivered asynchronously, nothing touched */
	struct block_req past = { BLOCK_READ, (1 << 20) - 512, back, 1024 };
	g_assert_cmpint(submit_wait(bd, &past), ==, -EINVAL);
	struct block_req huge = { BLOCK_WRITE, ~0ull - 10, buf, 512 };
	g_assert_cmpint(submit_wait(bd, &huge), ==, -EINVAL);
	struct block_req flush = { BLOCK_FLUSH, 0, NULL, 0 };
	g_assert_cmpint(submit_wait(bd, &flush), ==, 1);
	struct block_req discard = { BLOCK_DISCARD, 65536, NULL, 65536 };
	g_assert_cmpint(submit_wait(bd, &discard), ==, 1);
	block_close(bd);

	/* what was written is in the file */
	g_autofree char *contents = NULL;
	gsize len;
	g_assert_true(g_file_get_contents(path, &contents, &len, NULL));
	g_assert_cmpmem(contents + 4096, sizeof(buf), buf, sizeof(buf));
	g_unlink(path);
}

static void test_raw_create_and_io(void)
{
	block_set_io_uring(true);
	raw_create_and_io("disk.img");
	block_set_io_uring(false);
	raw_create_and_io("disk-thread.img");
	block_set_io_uring(true);
}

static void test_read_only(void)
{
	g_autofree char *path = tmp_path("ro.img");
	char *error = NULL;
	g_assert_cmpint(block_create_raw(path, 65536, &error), ==, 0);
	struct block_dev *bd = block_open(path, true, &error);
	g_assert_nonnull(bd);
	uint8_t buf[512] = { 1 };
	g_assert_cmpint(block_pwrite(bd, buf, sizeof(buf), 0), ==, -EROFS);
	struct block_req w = { BLOCK_WRITE, 0, buf, sizeof(buf) };
	g_assert_cmpint(submit_wait(bd, &w), ==, -EROFS);
	block_close(bd);
	g_unlink(path);
}

static void test_open_errors(void)
{
	char *error = NULL;
	g_assert_null(block_open("/nonexistent/disk.img", false, &error));
	g_assert_nonnull(strstr(error, "No such file"));
	g_clear_pointer(&error, g_free);
	g_autofree char *tiny = tmp_path("tiny.img");
	g_assert_true(g_file_set_contents(tiny, "x", 1, NULL));
	g_assert_null(block_open(tiny, false, &error));
	g_assert_nonnull(strstr(error, "smaller than one sector"));
	g_clear_pointer(&error, g_free);
	g_unlink(tiny);
	g_autofree char *dir = tmp_path("");
	g_assert_null(block_open(dir, true, &error));
	g_assert_nonnull(error);
	g_clear_pointer(&error, g_free);
	/* a format named by the caller is checked, never assumed */
	g_autofree char *raw = tmp_path("notqcow.qcow2");
	g_assert_cmpint(block_create_raw(raw, 65536, &error), ==, 0);
	g_assert_null(block_open_format(raw, "qcow2", true, &error));
	g_assert_nonnull(strstr(error, "notqcow.qcow2: not a qcow2 image (bad magic)"));
	g_clear_pointer(&error, g_free);
	g_assert_null(block_open_format(raw, "vmdk", true, &error));
	g_assert_nonnull(strstr(error, "unknown disk format 'vmdk'"));
	g_clear_pointer(&error, g_free);
	struct block_dev *bd = block_open(raw, true, &error); /* detected: raw, by contents */
	g_assert_cmpstr(bd->drv->name, ==, "raw");
	block_close(bd);
	g_unlink(raw);
}

/* A guest must not turn its raw disk into a qcow2 image by writing a header to sector 0. */
static void test_raw_sector0_guard(void)
{
	g_autofree char *path = tmp_path("guard.img");
	char *error = NULL;
	g_assert_cmpint(block_create_raw(path, 65536, &error), ==, 0);
	struct block_dev *bd = block_open(path, false, &error);
	uint8_t sector[512] = { 'Q', 'F', 'I', 0xfb };
	g_assert_cmpint(block_pwrite(bd, sector, sizeof(sector), 0), ==, -EPERM);
	struct block_req w = { BLOCK_WRITE, 0, sector, sizeof(sector) };
	g_assert_cmpint(submit_wait(bd, &w), ==, -EPERM);
	uint8_t tail[3] = { 'F', 'I', 0xfb }, head = 'Q';
	g_assert_cmpint(block_pwrite(bd, tail, 3, 1), ==, 0); /* harmless alone */
	g_assert_cmpint(block_pwrite(bd, &head, 1, 0), ==, -EPERM);
	sector[0] = 'X';
	g_assert_cmpint(block_pwrite(bd, sector, sizeof(sector), 0), ==, 0);
	g_assert_cmpint(block_pwrite(bd, sector, sizeof(sector), 512), ==, 0);
	block_close(bd);
	bd = block_open(path, true, &error);
	g_assert_cmpstr(bd->drv->name, ==, "raw");
	block_close(bd);
	g_unlink(path);
}

/* The in-memory test disk completes inline, on the caller's thread. */
static void test_memory_inline(void)
{
	struct block_dev *bd = block_open_memory(65536);
	uint8_t buf[512];
	memset(buf, 0x5a, sizeof(buf));
	int done = 0;
	struct block_req w = { BLOCK_WRITE, 512, buf, sizeof(buf), done_cb, &done };
	block_submit(bd, &w);
	g_assert_cmpint(done, ==, 1);
	block_drain(bd); /* nothing to wait for */
	struct block_info info;
	g_assert_cmpint(block_get_info(bd, &info), ==, 0);
	g_assert_cmpstr(info.format, ==, "memory");
	g_assert_cmpuint(info.virtual_size, ==, 65536);
	block_info_clear(&info);
	block_close(bd);
}

/* ---- many requests at once ---- */

#define SLOTS	 256
#define SLOT_LEN 4096
#define WORKERS	 4

struct stress {
	struct block_dev *bd;
	GMainLoop *loop;
	struct block_req req[SLOTS];
	uint8_t *buf[SLOTS];
	int calls[SLOTS];
	unsigned done, expected;
	bool reading;
	int next; /* the next slot a submitter takes */
};

static void fill(uint8_t *buf, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (seed * 131 + i * 7 + (i >> 8)) & 0xff;
}

static void stress_done(struct block_req *req, int ret)
{
	struct stress *st = req->opaque;
	unsigned i = req - st->req;
	g_assert_false(in_submit);
	g_assert_true(g_thread_self() == main_thread);
	g_assert_cmpint(ret, ==, 0);
	g_assert_cmpint(++st->calls[i], ==, 1); /* exactly once */
	if (st->reading) {
		uint8_t want[SLOT_LEN];
		fill(want, sizeof(want), i);
		g_assert_cmpmem(st->buf[i], SLOT_LEN, want, SLOT_LEN);
	}
	if (++st->done == st->expected)
		g_main_loop_quit(st->loop);
}

static void stress_submit(struct stress *st, unsigned i, enum block_op op)
{
	/* slots interleave so that concurrent requests hit neighbouring clusters */
	st->req[i] = (struct block_req){ .op = op, .offset = (uint64_t)i * 3 * SLOT_LEN + 512,
					 .buf = st->buf[i], .len = SLOT_LEN, .done = stress_done,
					 .opaque = st };
	in_submit = true;
	block_submit(st->bd, &st->req[i]);
	in_submit = false;
}

static gpointer stress_worker(gpointer opaque)
{
	struct stress *st = opaque;
	for (int i; (i = g_atomic_int_add(&st->next, 1)) < SLOTS;)
		stress_submit(st, i, BLOCK_WRITE);
	return NULL;
}

static void stress_run(struct block_dev *bd)
{
	struct stress *st = g_new0(struct stress, 1);
	st->bd = bd;
	st->loop = g_main_loop_new(NULL, FALSE);
	st->expected = SLOTS;
	for (unsigned i = 0; i < SLOTS; i++) {
		st->buf[i] = g_malloc(SLOT_LEN);
		fill(st->buf[i], SLOT_LEN, i);
	}
	/* writes from several "vCPU" threads at once, completions on the main loop */
	GThread *t[WORKERS];
	for (int i = 0; i < WORKERS; i++)
		t[i] = g_thread_new("submitter", stress_worker, st);
	g_main_loop_run(st->loop);
	for (int i = 0; i < WORKERS; i++)
		g_thread_join(t[i]);
	/* then read everything back, all submitted before any completes */
	st->reading = true;
	st->done = 0;
	memset(st->calls, 0, sizeof(st->calls));
	for (unsigned i = 0; i < SLOTS; i++) {
		memset(st->buf[i], 0, SLOT_LEN);
		stress_submit(st, i, BLOCK_READ);
	}
	g_main_loop_run(st->loop);
	block_drain(bd);
	for (unsigned i = 0; i < SLOTS; i++) {
		g_assert_cmpint(st->calls[i], ==, 1);
		g_free(st->buf[i]);
	}
	g_main_loop_unref(st->loop);
	g_free(st);
}

static struct block_dev *stress_open(const char *name, bool qcow2)
{
	g_autofree char *path = tmp_path(name);
	char *error = NULL;
	g_unlink(path);
	int ret = qcow2 ? block_create_qcow2(path, 8 << 20, NULL, &error)
			: block_create_raw(path, 8 << 20, &error);
	g_assert_cmpint(ret, ==, 0);
	struct block_dev *bd = block_open(path, false, &error);
	g_assert_nonnull(bd);
	return bd;
}

static void test_async_raw(void)
{
	struct block_dev *bd = stress_open("stress-uring.img", false);
#ifdef HAVE_LIBURING
	if (!block_uses_io_uring(bd))
		g_test_message("io_uring is not available here: the worker thread serves raw");
#endif
	stress_run(bd);
	block_close(bd);
	block_set_io_uring(false);
	bd = stress_open("stress-thread.img", false);
	g_assert_false(block_uses_io_uring(bd));
	stress_run(bd);
	block_close(bd);
	block_set_io_uring(true);
}

static void test_async_qcow2(void)
{
	struct block_dev *bd = stress_open("stress.qcow2", true);
	g_assert_false(block_uses_io_uring(bd));
	stress_run(bd);
	block_close(bd);
}

/* ---- drain and flush ordering ---- */

struct order {
	int seq[64];
	int n;
};

static void order_done(struct block_req *req, int ret)
{
	struct order *o = req->opaque;
	g_assert_cmpint(ret, ==, 0);
	g_assert_true(g_thread_self() == main_thread);
	o->seq[o->n++] = req->op;
}

/* Drained from the main thread with no loop running: block_drain runs the callbacks. A
 * flush completes after every write submitted before it. */
static void drain_and_flush(const char *name, bool qcow2)
{
	struct block_dev *bd = stress_open(name, qcow2);
	struct order o = { 0 };
	static uint8_t buf[32][65536];
	struct block_req req[33];
	for (int i = 0; i < 33; i++) {
		bool flush = i == 32;
		req[i] = (struct block_req){ .op = flush ? BLOCK_FLUSH : BLOCK_WRITE,
					     .offset = i * 65536ull, .buf = flush ? NULL : buf[i],
					     .len = flush ? 0 : 65536, .done = order_done,
					     .opaque = &o };
		block_submit(bd, &req[i]);
	}
	block_drain(bd);
	g_assert_cmpint(o.n, ==, 33);
	g_assert_cmpint(o.seq[32], ==, BLOCK_FLUSH);
	block_close(bd);
}

static void test_drain_flush(void)
{
	drain_and_flush("drain.img", false);
	drain_and_flush("drain.qcow2", true);
}

struct drainer {
	struct block_dev *bd;
	GMainLoop *loop;
	int calls;
	bool drained;
	GThread *thread;
};

static void drainer_done(struct block_req *req, int ret)
{
	struct drainer *d = req->opaque;
	g_assert_true(g_thread_self() == main_thread);
	g_atomic_int_inc(&d->calls);
	g_free(req);
}

static gboolean drainer_quit(gpointer opaque)
{
	g_main_loop_quit(((struct drainer *)opaque)->loop);
	return G_SOURCE_REMOVE;
}

/* A thread that is not the main loop's submits, then drains while the loop runs: when the
 * drain returns, every callback has run (on the main thread). */
static gpointer drainer_thread(gpointer opaque)
{
	struct drainer *d = opaque;
	static uint8_t buf[4096];
	for (int i = 0; i < 40; i++) {
		struct block_req *req = g_new0(struct block_req, 1);
		*req = (struct block_req){ .op = i % 2 ? BLOCK_READ : BLOCK_WRITE,
					   .offset = i * 4096ull, .buf = buf, .len = sizeof(buf),
					   .done = drainer_done, .opaque = d };
		block_submit(d->bd, req);
	}
	block_drain(d->bd);
	g_assert_cmpint(g_atomic_int_get(&d->calls), ==, 40);
	d->drained = true;
	g_idle_add(drainer_quit, d);
	return NULL;
}

/* Started from inside the running loop: a thread started before g_main_loop_run could find
 * the default context unowned and, rightly, run the callbacks itself. */
static gboolean drainer_start(gpointer opaque)
{
	struct drainer *d = opaque;
	d->thread = g_thread_new("drainer", drainer_thread, d);
	return G_SOURCE_REMOVE;
}

static void test_drain_other_thread(void)
{
	for (int qcow2 = 0; qcow2 < 2; qcow2++) {
		struct drainer d = { .bd = stress_open(qcow2 ? "d2.qcow2" : "d2.img", qcow2) };
		d.loop = g_main_loop_new(NULL, FALSE);
		g_idle_add(drainer_start, &d);
		g_main_loop_run(d.loop);
		g_thread_join(d.thread);
		g_assert_true(d.drained);
		g_main_loop_unref(d.loop);
		block_close(d.bd);
	}
}

/* block_close drains: requests still queued complete (their callbacks run) first. */
static void test_close_drains(void)
{
	struct block_dev *bd = stress_open("close.qcow2", true);
	struct order o = { 0 };
	static uint8_t buf[8][4096];
	struct block_req req[8];
	for (int i = 0; i < 8; i++) {
		req[i] = (struct block_req){ .op = BLOCK_WRITE, .offset = i * 4096ull,
					     .buf = buf[i], .len = 4096, .done = order_done,
					     .opaque = &o };
		block_submit(bd, &req[i]);
	}
	block_close(bd);
	g_assert_cmpint(o.n, ==, 8);
}

static void test_info_raw(void)
{
	g_autofree char *path = tmp_path("info.img");
	char *error = NULL;
	g_unlink(path);
	g_assert_cmpint(block_create_raw(path, 1 << 20, &error), ==, 0);
	struct block_dev *bd = block_open(path, false, &error);
	uint8_t buf[8192] = { 1 };
	g_assert_cmpint(block_pwrite(bd, buf, sizeof(buf), 0), ==, 0);
	g_assert_cmpint(block_flush(bd), ==, 0);
	struct block_info info;
	g_assert_cmpint(block_get_info(bd, &info), ==, 0);
	g_assert_cmpstr(info.format, ==, "raw");
	g_assert_cmpuint(info.virtual_size, ==, 1 << 20);
	g_assert_cmpuint(info.allocated_bytes, >=, 8192);
	g_assert_cmpuint(info.allocated_bytes, <, 1 << 20); /* sparse */
	g_assert_null(info.backing);
	block_info_clear(&info);
	block_close(bd);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	main_thread = g_thread_self();
	g_test_add_func("/block/parse-size", test_parse_size);
	g_test_add_func("/block/raw-create-and-io", test_raw_create_and_io);
	g_test_add_func("/block/read-only", test_read_only);
	g_test_add_func("/block/open-errors", test_open_errors);
	g_test_add_func("/block/raw-sector0-guard", test_raw_sector0_guard);
	g_test_add_func("/block/memory-inline", test_memory_inline);
	g_test_add_func("/block/async/raw", test_async_raw);
	g_test_add_func("/block/async/qcow2", test_async_qcow2);
	g_test_add_func("/block/async/drain-and-flush-order", test_drain_flush);
	g_test_add_func("/block/async/drain-other-thread", test_drain_other_thread);
	g_test_add_func("/block/async/close-drains", test_close_drains);
	g_test_add_func("/block/info-raw", test_info_raw);
	return g_test_run();
}
