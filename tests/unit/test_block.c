/* The block layer: raw images, the asynchronous request API and requests served at once,
 * drain, sizes, and refusals. */
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
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

/* ---- serving at once (block_try_now) ---- */

static struct block_dev *open_raw(const char *name, uint64_t size)
{
	g_autofree char *path = tmp_path(name);
	char *error = NULL;
	g_unlink(path);
	g_assert_cmpint(block_create_raw(path, size, &error), ==, 0);
	struct block_dev *bd = block_open(path, false, &error);
	g_assert_nonnull(bd);
	return bd;
}

/* Reads and writes the page cache can take are done at once; errors, flushes and a device
 * that says no are left to block_submit. */
static void try_now_raw(const char *name)
{
	struct block_dev *bd = open_raw(name, 1 << 20);
	static uint8_t buf[65536], back[65536];
	fill(buf, sizeof(buf), 1);
	g_assert_cmpint(block_try_now(bd, BLOCK_WRITE, buf, sizeof(buf), 65536), ==, 0);
	g_assert_cmpint(block_try_now(bd, BLOCK_READ, back, sizeof(back), 65536), ==, 0);
	g_assert_cmpmem(back, sizeof(back), buf, sizeof(buf));
	g_assert_cmpint(block_try_now(bd, BLOCK_READ, back, 1024, (1 << 20) - 512), ==, -EAGAIN);
	uint8_t magic[512] = { 'Q', 'F', 'I', 0xfb }; /* refused by the sector 0 guard */
	g_assert_cmpint(block_try_now(bd, BLOCK_WRITE, magic, sizeof(magic), 0), ==, -EAGAIN);
	struct block_req guard = { BLOCK_WRITE, 0, magic, sizeof(magic) };
	g_assert_cmpint(submit_wait(bd, &guard), ==, -EPERM);
	g_assert_cmpint(block_try_now(bd, BLOCK_FLUSH, NULL, 0, 0), ==, -EAGAIN);
	block_set_inline(bd, false);
	g_assert_cmpint(block_try_now(bd, BLOCK_READ, back, sizeof(back), 65536), ==, -EAGAIN);
	block_set_inline(bd, true);
	/* beyond the end of a file that shrank under us: zeros, as the ordinary path gives */
	g_assert_cmpint(ftruncate(bd->fd, 65536 + 4096), ==, 0);
	g_assert_cmpint(block_try_now(bd, BLOCK_READ, back, sizeof(back), 65536), ==, 0);
	g_assert_cmpmem(back, 4096, buf, 4096);
	g_assert_cmpuint(back[4096], ==, 0);
	g_assert_cmpuint(back[sizeof(back) - 1], ==, 0);
	block_close(bd);
}

static void test_try_now_raw(void)
{
	try_now_raw("now-uring.img");
	block_set_io_uring(false);
	try_now_raw("now-thread.img");
	block_set_io_uring(true);
}

/* Nothing is overtaken: a device with a request in flight, or its driver lock taken, says no. */
static void test_try_now_waits_its_turn(void)
{
	block_set_io_uring(false); /* the worker runs requests under the driver lock */
	struct block_dev *bd = open_raw("turn.img", 1 << 20);
	block_set_io_uring(true);
	static uint8_t a[4096], b[4096], back[4096];
	int done = 0;
	fill(a, sizeof(a), 2);
	fill(b, sizeof(b), 3);
	block_aio_lock(bd); /* as a snapshot or a synchronous helper would */
	g_assert_cmpint(block_try_now(bd, BLOCK_WRITE, b, sizeof(b), 8192), ==, -EAGAIN);
	struct block_req w = { BLOCK_WRITE, 8192, a, sizeof(a), done_cb, &done };
	block_submit(bd, &w); /* in flight: it waits for the lock */
	g_assert_cmpint(block_try_now(bd, BLOCK_READ, back, sizeof(back), 8192), ==, -EAGAIN);
	block_aio_unlock(bd);
	/* the write is in flight (a no) or done (and the read sees it) */
	if (block_try_now(bd, BLOCK_READ, back, sizeof(back), 8192) == 0)
		g_assert_cmpmem(back, sizeof(back), a, sizeof(a));
	block_drain(bd);
	g_assert_cmpint(done, ==, 1);
	g_assert_cmpint(block_try_now(bd, BLOCK_READ, back, sizeof(back), 8192), ==, 0);
	g_assert_cmpmem(back, sizeof(back), a, sizeof(a));
	block_close(bd);
}

/* Whether the page cache holds any page of [OFF, OFF + LEN) of FD. */
static bool cached(int fd, off_t off, size_t len)
{
	void *map = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, off);
	g_assert_true(map != MAP_FAILED);
	size_t pages = (len + getpagesize() - 1) / getpagesize();
	g_autofree unsigned char *vec = g_malloc(pages);
	g_assert_cmpint(mincore(map, len, vec), ==, 0);
	munmap(map, len);
	for (size_t i = 0; i < pages; i++)
		if (vec[i] & 1)
			return true;
	return false;
}

/* A read the page cache cannot serve is left to block_submit, which reads the disk. */
static void test_try_now_cold_read(void)
{
	struct block_dev *bd = open_raw("cold.img", 1 << 20);
	static uint8_t buf[65536], back[65536];
	fill(buf, sizeof(buf), 4);
	g_assert_cmpint(block_pwrite(bd, buf, sizeof(buf), 131072), ==, 0);
	g_assert_cmpint(fdatasync(bd->fd), ==, 0);
	posix_fadvise(bd->fd, 131072, sizeof(buf), POSIX_FADV_DONTNEED);
	if (cached(bd->fd, 131072, sizeof(buf))) {
		g_test_skip("the file system keeps the pages cached (tmpfs?)");
		block_close(bd);
		return;
	}
	g_assert_cmpint(block_try_now(bd, BLOCK_READ, back, sizeof(back), 131072), ==, -EAGAIN);
	struct block_req r = { BLOCK_READ, 131072, back, sizeof(back) };
	g_assert_cmpint(submit_wait(bd, &r), ==, 1);
	g_assert_cmpmem(back, sizeof(back), buf, sizeof(buf));
	memset(back, 0, sizeof(back));
	g_assert_cmpint(block_try_now(bd, BLOCK_READ, back, sizeof(back), 131072), ==, 0);
	g_assert_cmpmem(back, sizeof(back), buf, sizeof(buf));
	block_close(bd);
}

/* A write through block_try_now, else block_submit; whether it was done at once. */
static bool write_now_or_later(struct block_dev *bd, void *buf, size_t len, uint64_t off)
{
	if (block_try_now(bd, BLOCK_WRITE, buf, len, off) == 0)
		return true;
	struct block_req w = { BLOCK_WRITE, off, buf, len };
	g_assert_cmpint(submit_wait(bd, &w), ==, 1);
	return false;
}

/*
 * qcow2: a write that needs a sync (the dirty bit, a new L2 table, a new reservation of
 * clusters) is refused; the rest, allocating writes included, are done at once, and so are
 * reads of mapped, unmapped and zero clusters with their tables cached. The next batch of
 * clusters is reserved ahead, its sync on a helper thread: once that sync is done (a flush
 * waits for it), writes go on into the new batch without waiting. The image is sound
 * afterwards.
 */
static void test_try_now_qcow2(void)
{
	const uint64_t size = 24 << 20, cluster = 65536;
	g_autofree char *path = tmp_path("now.qcow2");
	char *error = NULL;
	g_unlink(path);
	g_assert_cmpint(block_create_qcow2(path, size, NULL, &error), ==, 0);
	struct block_dev *bd = block_open(path, false, &error);
	g_assert_nonnull(bd);
	uint8_t *buf = g_malloc(cluster), *back = g_malloc(cluster);
	for (uint64_t off = 0; off < 20 << 20; off += cluster) {
		if (off == 6 << 20) { /* past half the first batch (8 MiB): the next is reserved */
			struct block_req f = { BLOCK_FLUSH, 0, NULL, 0 };
			g_assert_cmpint(submit_wait(bd, &f), ==, 1);
		}
		fill(buf, cluster, off / cluster);
		bool now = write_now_or_later(bd, buf, cluster, off);
		/* the first: dirty bit, L2 table, first reservation; from 8 MiB on: the batch
		 * reserved ahead */
		if (now != (off != 0))
			g_error("write at %" G_GUINT64_FORMAT ": %s", off, now ? "at once" : "later");
	}
	/* a partial write into a fresh cluster: the rest of it reads as zeros */
	fill(buf, 4096, 99);
	g_assert_true(write_now_or_later(bd, buf, 4096, (20 << 20) + 512));
	for (uint64_t off = 0; off < size; off += cluster) {
		g_assert_cmpint(block_try_now(bd, BLOCK_READ, back, cluster, off), ==, 0);
		if (off < 20 << 20)
			fill(buf, cluster, off / cluster);
		else
			memset(buf, 0, cluster);
		if (off == 20 << 20)
			fill(buf + 512, 4096, 99);
		g_assert_cmpmem(back, cluster, buf, cluster);
	}
	block_close(bd);
	/* what was written at once is what the ordinary path reads after a reopen */
	bd = block_open(path, true, &error);
	g_assert_nonnull(bd);
	fill(buf, cluster, 17);
	g_assert_cmpint(block_pread(bd, back, cluster, 17 * cluster), ==, 0);
	g_assert_cmpmem(back, cluster, buf, cluster);
	block_close(bd);
	g_free(buf);
	g_free(back);
	g_unlink(path);
}

/* ---- requests at once and queued ones mixed, from several threads ---- */

struct mix {
	struct block_dev *bd;
	GMainLoop *loop;
	GThread *joiner;
	struct block_req req[SLOTS];
	uint8_t *buf[SLOTS];
	int calls[SLOTS];
	int next;
	int now;
};

static void mix_done(struct block_req *req, int ret)
{
	struct mix *m = req->opaque;
	g_assert_cmpint(ret, ==, 0);
	g_assert_cmpint(g_atomic_int_add(&m->calls[req - m->req], 1), ==, 0);
}

/* Odd slots try block_try_now first; every fifth request is a flush, which the submitter
 * drains (so the device falls idle now and then, and block_try_now finds it so). */
static gpointer mix_worker(gpointer opaque)
{
	struct mix *m = opaque;
	for (int i; (i = g_atomic_int_add(&m->next, 1)) < SLOTS;) {
		bool flush = i % 5 == 4;
		if (i % 2 && !flush &&
		    block_try_now(m->bd, BLOCK_WRITE, m->buf[i], SLOT_LEN, i * SLOT_LEN) == 0) {
			g_atomic_int_inc(&m->calls[i]);
			g_atomic_int_inc(&m->now);
			continue;
		}
		m->req[i] = (struct block_req){ .op = flush ? BLOCK_FLUSH : BLOCK_WRITE,
						.offset = (uint64_t)i * SLOT_LEN,
						.buf = flush ? NULL : m->buf[i],
						.len = flush ? 0 : SLOT_LEN, .done = mix_done,
						.opaque = m };
		block_submit(m->bd, &m->req[i]);
		if (flush)
			block_drain(m->bd);
	}
	block_drain(m->bd);
	return NULL;
}

static gboolean mix_quit(gpointer opaque)
{
	g_main_loop_quit(((struct mix *)opaque)->loop);
	return G_SOURCE_REMOVE;
}

static gpointer mix_joiner(gpointer opaque)
{
	struct mix *m = opaque;
	GThread *t[WORKERS];
	for (int i = 0; i < WORKERS; i++)
		t[i] = g_thread_new("submitter", mix_worker, m);
	for (int i = 0; i < WORKERS; i++)
		g_thread_join(t[i]);
	g_idle_add(mix_quit, m);
	return NULL;
}

static gboolean mix_start(gpointer opaque)
{
	struct mix *m = opaque;
	m->joiner = g_thread_new("joiner", mix_joiner, m);
	return G_SOURCE_REMOVE;
}

/* Every request is done exactly once, the drains return, and the data is all there. */
static void mix_run(const char *name, bool qcow2)
{
	struct mix *m = g_new0(struct mix, 1);
	m->bd = stress_open(name, qcow2);
	m->loop = g_main_loop_new(NULL, FALSE);
	for (unsigned i = 0; i < SLOTS; i++) {
		m->buf[i] = g_malloc(SLOT_LEN);
		fill(m->buf[i], SLOT_LEN, i);
	}
	g_idle_add(mix_start, m);
	g_main_loop_run(m->loop);
	g_thread_join(m->joiner);
	uint8_t back[SLOT_LEN];
	for (unsigned i = 0; i < SLOTS; i++) {
		g_assert_cmpint(m->calls[i], ==, 1);
		if (i % 5 != 4) {
			g_assert_cmpint(block_pread(m->bd, back, SLOT_LEN, i * SLOT_LEN), ==, 0);
			g_assert_cmpmem(back, SLOT_LEN, m->buf[i], SLOT_LEN);
		}
		g_free(m->buf[i]);
	}
	g_test_message("%s: %d of %d requests done at once", name, m->now, SLOTS);
	block_close(m->bd);
	g_main_loop_unref(m->loop);
	g_free(m);
}

static void test_try_now_mixed(void)
{
	mix_run("mix.img", false);
	mix_run("mix.qcow2", true);
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
	g_test_add_func("/block/now/raw", test_try_now_raw);
	g_test_add_func("/block/now/waits-its-turn", test_try_now_waits_its_turn);
	g_test_add_func("/block/now/cold-read", test_try_now_cold_read);
	g_test_add_func("/block/now/qcow2", test_try_now_qcow2);
	g_test_add_func("/block/now/mixed-threads", test_try_now_mixed);
	return g_test_run();
}
