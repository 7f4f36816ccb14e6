/*
 * RAM files: zero pages as holes, copy-on-write revert that leaves the file alone, revert of
 * 4 GiB in milliseconds, bad files refused with RAM untouched, the file complete or absent
 * after kill -9 during a save, live saving with dirty bitmaps.
 */
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <stdbool.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "snapshot/ram.h"

#define PAGE RAM_PAGE_SIZE
#define MIB (1ull << 20)
#define GIB_PAGES_OFFSET (1ull << 30) /* 1 GiB: a hole of the test pattern */

static uint8_t *ram_new(uint64_t size)
{
	uint8_t *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	g_assert_true(p != MAP_FAILED);
	return p;
}

/* Non-zero content in a third of the first 4 MiB, the last byte of one page, the last page. */
static uint64_t fill_pattern(uint8_t *ram, uint64_t size, uint8_t seed)
{
	uint64_t pages = 0;
	for (uint64_t p = 0; p < 4 * MIB / PAGE; p += 3, pages++)
		for (unsigned i = 0; i < PAGE; i += 8)
			ram[p * PAGE + i] = seed + p + i / 8;
	ram[(size / 2) + PAGE - 1] = 0x77; /* a page whose only non-zero byte is its last */
	memset(ram + size - PAGE, seed, PAGE);
	return pages + 2;
}

static uint8_t *read_file(const char *path, uint64_t *len)
{
	gchar *data;
	gsize n;
	g_assert_true(g_file_get_contents(path, &data, &n, NULL));
	*len = n;
	return (uint8_t *)data;
}

static void assert_file_equals(const char *path, const uint8_t *ram, uint64_t size)
{
	uint64_t len;
	uint8_t *data = read_file(path, &len);
	g_assert_cmpuint(len, ==, size);
	g_assert_true(memcmp(data, ram, size) == 0);
	g_free(data);
}

struct tmpdir {
	char *dir;
};

static char *tmp_path(struct tmpdir *t, const char *name)
{
	if (!t->dir)
		t->dir = g_dir_make_tmp("pcvm-ram-XXXXXX", NULL);
	return g_build_filename(t->dir, name, NULL);
}

static void tmpdir_free(struct tmpdir *t)
{
	GDir *d = g_dir_open(t->dir, 0, NULL);
	const char *name;
	while ((name = g_dir_read_name(d))) {
		char *p = g_build_filename(t->dir, name, NULL);
		if (g_remove(p) < 0)
			rmdir(p);
		g_free(p);
	}
	g_dir_close(d);
	g_rmdir(t->dir);
	g_free(t->dir);
}

static void test_save_sparse(void)
{
	struct tmpdir t = { 0 };
	const uint64_t size = 64 * MIB;
	uint8_t *ram = ram_new(size);
	uint64_t pages = fill_pattern(ram, size, 1);
	char *path = tmp_path(&t, "1.ram");
	char *error = NULL;
	g_assert_cmpint(ram_save(ram, size, path, &error), ==, 0);
	g_assert_null(error);
	struct stat st;
	g_assert_cmpint(stat(path, &st), ==, 0);
	g_assert_cmpuint(st.st_size, ==, size);
	g_assert_cmpuint(st.st_mode & 0777, ==, 0600);
	/* holes: the file occupies about its non-zero pages, far less than its size */
	g_test_message("%" G_GUINT64_FORMAT " non-zero pages, %" G_GUINT64_FORMAT
		       " KiB allocated of %" G_GUINT64_FORMAT " KiB",
		       pages, (uint64_t)st.st_blocks / 2, size / 1024);
	g_assert_cmpuint((uint64_t)st.st_blocks * 512, <, size / 4);
	g_assert_cmpuint((uint64_t)st.st_blocks * 512, <=, pages * PAGE + 256 * 1024);
	int fd = open(path, O_RDONLY);
	g_assert_cmpint(lseek(fd, size / 4, SEEK_HOLE), ==, (off_t)(size / 4));
	g_assert_cmpint(lseek(fd, 8 * MIB, SEEK_DATA), ==, (off_t)(size / 2));
	close(fd);
	assert_file_equals(path, ram, size);
	char *tmp = g_strdup_printf("%s.tmp", path);
	g_assert_false(g_file_test(tmp, G_FILE_TEST_EXISTS));
	g_free(tmp);
	munmap(ram, size);
	g_free(path);
	tmpdir_free(&t);
}

/* Revert maps the file copy-on-write: same contents, writes stay private, the file may go. */
static void test_restore_cow(void)
{
	struct tmpdir t = { 0 };
	const uint64_t size = 32 * MIB;
	uint8_t *orig = ram_new(size);
	fill_pattern(orig, size, 5);
	char *path = tmp_path(&t, "a.ram");
	char *error = NULL;
	g_assert_cmpint(ram_save(orig, size, path, &error), ==, 0);

	uint8_t *ram = ram_new(size);
	memset(ram, 0xEE, size); /* what the guest had before the revert */
	g_assert_cmpint(ram_restore_map(ram, size, path, NULL, &error), ==, 0);
	g_assert_null(error);
	g_assert_cmphex(ram[0], ==, orig[0]);
	g_assert_cmphex(ram[20 * MIB], ==, 0);

	/* the guest writes after the revert: a data page, a hole page; the file stays as it was */
	memset(ram, 0xAB, PAGE);
	memset(ram + 20 * MIB, 0xCD, PAGE);
	assert_file_equals(path, orig, size);

	/* the file may be deleted once mapped: pages not touched yet still read from it */
	g_assert_cmpint(unlink(path), ==, 0);
	g_assert_true(memcmp(ram + PAGE, orig + PAGE, 20 * MIB - PAGE) == 0);
	g_assert_true(memcmp(ram + 20 * MIB + PAGE, orig + 20 * MIB + PAGE,
			     size - 20 * MIB - PAGE) == 0);
	g_assert_cmphex(ram[0], ==, 0xAB);
	g_assert_cmphex(ram[20 * MIB], ==, 0xCD);

	/* a snapshot of RAM that is such a mapping: touched pages from memory, the rest from
	 * the old (now unlinked) file; to a new path and to the same path again */
	uint8_t *expect = g_malloc(size);
	memcpy(expect, orig, size);
	memset(expect, 0xAB, PAGE);
	memset(expect + 20 * MIB, 0xCD, PAGE);
	char *path2 = tmp_path(&t, "b.ram");
	g_assert_cmpint(ram_save(ram, size, path2, &error), ==, 0);
	assert_file_equals(path2, expect, size);
	g_assert_cmpint(ram_restore_map(ram, size, path2, NULL, &error), ==, 0);
	ram[PAGE] = 0x42;
	expect[PAGE] = 0x42;
	g_assert_cmpint(ram_save(ram, size, path2, &error), ==, 0); /* over the mapped file */
	assert_file_equals(path2, expect, size);
	g_assert_true(memcmp(ram, expect, size) == 0);

	g_free(expect);
	munmap(ram, size);
	munmap(orig, size);
	g_free(path);
	g_free(path2);
	tmpdir_free(&t);
}

static double now_s(void)
{
	return g_get_monotonic_time() / 1e6;
}

/* Revert time does not grow with RAM size: 4 GiB are mapped from the file, not read. */
static void test_restore_4g_fast(void)
{
	struct tmpdir t = { 0 };
	const uint64_t size = 4096 * MIB;
	uint8_t *ram = ram_new(size);
	for (uint64_t off = 0; off < size; off += 256 * MIB)
		memset(ram + off + PAGE, (uint8_t)(off >> 28) + 1, PAGE);
	char *path = tmp_path(&t, "big.ram");
	char *error = NULL;
	double t0 = now_s();
	g_assert_cmpint(ram_save(ram, size, path, &error), ==, 0);
	double t1 = now_s();
	struct stat st;
	g_assert_cmpint(stat(path, &st), ==, 0);
	g_assert_cmpuint(st.st_size, ==, size);
	g_assert_cmpuint((uint64_t)st.st_blocks * 512, <, 4 * MIB);

	/* the VM's RAM has been written all over since */
	for (uint64_t off = 0; off < size; off += 64 * MIB)
		ram[off] = 0x99;
	double t2 = now_s();
	g_assert_cmpint(ram_restore_map(ram, size, path, NULL, &error), ==, 0);
	double t3 = now_s();
	g_test_message("4 GiB: save %.0f ms (mostly zero pages), revert %.2f ms", (t1 - t0) * 1e3,
		       (t3 - t2) * 1e3);
	/* not a copy: the guest's RAM is now the file itself, mapped copy-on-write (what keeps
	 * the revert's time independent of the RAM size; the time above is for information) */
	g_autofree char *maps = NULL;
	g_assert_true(g_file_get_contents("/proc/self/maps", &maps, NULL, NULL));
	g_autofree char *start = g_strdup_printf("%" G_GINT64_MODIFIER "x-", (guint64)(uintptr_t)ram);
	const char *line = strstr(maps, start);
	g_assert_nonnull(line);
	g_autofree char *l = g_strndup(line, strcspn(line, "\n"));
	if (!strstr(l, "big.ram"))
		g_error("guest RAM is not mapped from the snapshot file: %s", l);
	for (uint64_t off = 0; off < size; off += 256 * MIB) {
		g_assert_cmphex(ram[off], ==, 0);
		g_assert_cmphex(ram[off + PAGE], ==, (uint8_t)(off >> 28) + 1);
	}
	munmap(ram, size);
	g_free(path);
	tmpdir_free(&t);
}

/* Pages of RAM [RAM, RAM + SIZE) that are present (mapped) now, from /proc/self/pagemap. */
static uint64_t pages_present(const uint8_t *ram, uint64_t size)
{
	int fd = open("/proc/self/pagemap", O_RDONLY);
	g_assert_cmpint(fd, >=, 0);
	const uint64_t batch = 4096;
	uint64_t *ent = g_new(uint64_t, batch), present = 0, first = (uintptr_t)ram / PAGE;
	for (uint64_t p = 0; p < size / PAGE; p += batch) {
		uint64_t n = MIN(batch, size / PAGE - p);
		g_assert_cmpint(pread(fd, ent, n * 8, (first + p) * 8), ==, (ssize_t)(n * 8));
		for (uint64_t i = 0; i < n; i++)
			present += ent[i] >> 63;
	}
	g_free(ent);
	close(fd);
	return present;
}

/* The RAM a revert replaces, handed back filled: the revert only moves it away (the new
 * mapping in place, the old pages untouched and still counted), ram_retired_free gives it
 * back on a thread; and with nothing moved (OLD NULL) the old behaviour. */
static void test_restore_retires_old(void)
{
	struct tmpdir t = { 0 };
	const uint64_t size = 256 * MIB;
	uint8_t *orig = ram_new(size);
	fill_pattern(orig, size, 9);
	char *path = tmp_path(&t, "r.ram");
	char *error = NULL;
	g_assert_cmpint(ram_save(orig, size, path, &error), ==, 0);

	uint8_t *ram = ram_new(size);
	memset(ram, 0x5C, size); /* every page written: a lot to free */
	g_assert_cmpuint(ram_retired_pending(), ==, 0);
	struct ram_retired *old = NULL;
	double t0 = g_get_monotonic_time() / 1e3;
	ram_restore_prepare(ram, size);
	g_assert_cmpint(ram_restore_map(ram, size, path, &old, &error), ==, 0);
	double ms = g_get_monotonic_time() / 1e3 - t0;
	g_test_message("revert over 256 MiB written: %.2f ms%s", ms,
		       old ? "" : " (the kernel cannot move pages: freed in the call)");
	g_assert_true(memcmp(ram, orig, size) == 0);
	if (old) {
		g_assert_cmpuint(ram_retired_pending(), ==, size);
		ram_retired_free(old);
		for (int i = 0; i < 500 && ram_retired_pending(); i++)
			g_usleep(10000);
		g_assert_cmpuint(ram_retired_pending(), ==, 0);
	}
	/* the guest goes on writing; a second revert, without retiring */
	memset(ram + PAGE, 0x77, 8 * PAGE);
	g_assert_cmpint(ram_restore_map(ram, size, path, NULL, &error), ==, 0);
	g_assert_true(memcmp(ram, orig, size) == 0);
	munmap(ram, size);
	munmap(orig, size);
	g_free(path);
	tmpdir_free(&t);
}

/* A save of RAM mapped from a RAM file reads only the pages the guest wrote since: the rest
 * is copied from the file, or skipped where it has holes. 4 GiB of RAM, a few MiB of data:
 * the save leaves almost every page of the mapping unmapped (reading them would map them all)
 * and the new file as sparse as the data. The same for anonymous RAM never written. */
static void test_save_reads_only_own_pages(void)
{
	struct tmpdir t = { 0 };
	const uint64_t size = 4096 * MIB;
	uint8_t *ram = ram_new(size);
	uint64_t data = fill_pattern(ram, size, 3);
	char *first = tmp_path(&t, "first.ram");
	char *error = NULL;
	uint64_t before = pages_present(ram, size);
	g_assert_cmpint(ram_save(ram, size, first, &error), ==, 0);
	g_assert_cmpuint(pages_present(ram, size), <=, before + 16); /* anonymous: no new page */

	uint8_t *expect = ram_new(size);
	fill_pattern(expect, size, 3);
	g_assert_cmpint(ram_restore_map(ram, size, first, NULL, &error), ==, 0);
	g_assert_cmpint(unlink(first), ==, 0); /* the save must read it all the same */
	/* the guest writes: in the file's data, in a hole, a page back to zeros */
	memset(ram + 3 * PAGE, 0xE1, PAGE);
	memset(expect + 3 * PAGE, 0xE1, PAGE);
	memset(ram + 3 * GIB_PAGES_OFFSET, 0xE2, 2 * PAGE);
	memset(expect + 3 * GIB_PAGES_OFFSET, 0xE2, 2 * PAGE);
	memset(ram, 0, PAGE);
	memset(expect, 0, PAGE);
	uint64_t own = pages_present(ram, size);
	char *second = tmp_path(&t, "second.ram");
	double t0 = g_get_monotonic_time() / 1e3;
	g_assert_cmpint(ram_save(ram, size, second, &error), ==, 0);
	double ms = g_get_monotonic_time() / 1e3 - t0;
	uint64_t after = pages_present(ram, size);
	g_test_message("save of 4 GiB mapped from a file, %" G_GUINT64_FORMAT " pages of data: "
		       "%.0f ms, pages mapped %" G_GUINT64_FORMAT " -> %" G_GUINT64_FORMAT,
		       data, ms, own, after);
	g_assert_cmpuint(after, <=, own + 16);
	struct stat st;
	g_assert_cmpint(stat(second, &st), ==, 0);
	g_assert_cmpuint((uint64_t)st.st_blocks * 512, <=, (data + 8) * PAGE + 2 * MIB);
	/* the file as expected: every extent with data, and every region where EXPECT has any
	 * (fill_pattern's and the writes above; holes read as zeros) */
	int fd = open(second, O_RDONLY);
	uint8_t *buf = g_malloc(8 * MIB);
	for (off_t d = lseek(fd, 0, SEEK_DATA); d >= 0 && (uint64_t)d < size;
	     d = lseek(fd, d, SEEK_DATA)) {
		off_t h = lseek(fd, d, SEEK_HOLE);
		for (; d < h; d += MIN((off_t)(8 * MIB), h - d)) {
			size_t n = MIN((off_t)(8 * MIB), h - d);
			g_assert_cmpint(pread(fd, buf, n, d), ==, (ssize_t)n);
			g_assert_true(memcmp(buf, expect + d, n) == 0);
		}
	}
	const uint64_t regions[][2] = {
		{ 0, 8 * MIB }, { size / 2 - MIB, 2 * MIB }, { size - MIB, MIB },
		{ GIB_PAGES_OFFSET * 3 - MIB, 2 * MIB },
	};
	for (size_t i = 0; i < G_N_ELEMENTS(regions); i++) {
		g_assert_cmpint(pread(fd, buf, regions[i][1], regions[i][0]), ==,
				(ssize_t)regions[i][1]);
		g_assert_true(memcmp(buf, expect + regions[i][0], regions[i][1]) == 0);
	}
	close(fd);
	g_free(buf);
	munmap(expect, size);
	munmap(ram, size);
	g_free(first);
	g_free(second);
	tmpdir_free(&t);
}

static void test_restore_refused(void)
{
	struct tmpdir t = { 0 };
	const uint64_t size = 8 * MIB;
	uint8_t *ram = ram_new(size);
	memset(ram, 0x3C, size);
	char *error = NULL;
	char *missing = tmp_path(&t, "missing.ram");
	g_assert_cmpint(ram_restore_map(ram, size, missing, NULL, &error), ==, -1);
	g_assert_nonnull(strstr(error, g_strerror(ENOENT)));
	g_assert_nonnull(strstr(error, "missing.ram"));
	g_clear_pointer(&error, g_free);

	char *shorter = tmp_path(&t, "short.ram");
	int fd = open(shorter, O_WRONLY | O_CREAT, 0600);
	g_assert_cmpint(ftruncate(fd, size - PAGE), ==, 0);
	close(fd);
	g_assert_cmpint(ram_restore_map(ram, size, shorter, NULL, &error), ==, -1);
	g_assert_nonnull(strstr(error, "truncated"));
	g_test_message("%s", error);
	g_clear_pointer(&error, g_free);

	char *longer = tmp_path(&t, "long.ram");
	fd = open(longer, O_WRONLY | O_CREAT, 0600);
	g_assert_cmpint(ftruncate(fd, size + PAGE), ==, 0);
	close(fd);
	g_assert_cmpint(ram_restore_map(ram, size, longer, NULL, &error), ==, -1);
	g_assert_nonnull(strstr(error, "more memory"));
	g_clear_pointer(&error, g_free);

	g_assert_cmpint(ram_restore_map(ram, size, t.dir, NULL, &error), ==, -1); /* a directory */
	g_clear_pointer(&error, g_free);
	g_assert_cmpint(ram_restore_map(ram + 1, size - PAGE, longer, NULL, &error), ==, -1);
	g_clear_pointer(&error, g_free);

	for (uint64_t off = 0; off < size; off += PAGE)
		g_assert_cmphex(ram[off], ==, 0x3C); /* untouched */
	munmap(ram, size);
	g_free(missing);
	g_free(shorter);
	g_free(longer);
	tmpdir_free(&t);
}

/* A save that fails or is killed leaves PATH as it was; one that completes replaces it. */
static void test_save_crash_safety(void)
{
	struct tmpdir t = { 0 };
	const uint64_t size = 64 * MIB;
	uint8_t *a = ram_new(size), *b = ram_new(size);
	memset(a, 0xAA, size);
	memset(b, 0xBB, size / 2);
	char *path = tmp_path(&t, "s.ram");
	char *tmp = g_strdup_printf("%s.tmp", path);
	char *error = NULL;

	/* killed before anything existed: nothing or all of it */
	pid_t pid = fork();
	if (pid == 0) {
		char *e = NULL;
		_exit(ram_save(b, size, path, &e) == 0 ? 0 : 1);
	}
	g_usleep(2000);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	if (g_file_test(path, G_FILE_TEST_EXISTS))
		assert_file_equals(path, b, size);

	g_assert_cmpint(ram_save(a, size, path, &error), ==, 0);

	/* a save that cannot write its temporary file fails and leaves the old one */
	g_assert_cmpint(mkdir(tmp, 0700), ==, 0);
	g_assert_cmpint(ram_save(b, size, path, &error), ==, -1);
	g_test_message("%s", error);
	g_clear_pointer(&error, g_free);
	assert_file_equals(path, a, size);
	g_assert_cmpint(rmdir(tmp), ==, 0);

	/* kill -9 at various moments of a save: PATH is the old image or the new one, whole */
	unsigned old_seen = 0, new_seen = 0;
	for (unsigned delay_us = 0; delay_us <= 200000; delay_us = delay_us * 2 + 500) {
		g_assert_cmpint(ram_save(a, size, path, &error), ==, 0);
		pid = fork();
		if (pid == 0) {
			char *e = NULL;
			_exit(ram_save(b, size, path, &e) == 0 ? 0 : 1);
		}
		g_usleep(delay_us);
		kill(pid, SIGKILL);
		int status;
		waitpid(pid, &status, 0);
		uint64_t len;
		uint8_t *data = read_file(path, &len);
		g_assert_cmpuint(len, ==, size);
		if (memcmp(data, a, size) == 0) {
			old_seen++;
		} else {
			g_assert_true(memcmp(data, b, size) == 0);
			new_seen++;
		}
		g_free(data);
	}
	g_test_message("after kill -9: old image %u times, new image %u times", old_seen,
		       new_seen);
	/* a stale PATH.tmp from a killed save does not stop the next one */
	g_assert_cmpint(ram_save(b, size, path, &error), ==, 0);
	assert_file_equals(path, b, size);
	g_assert_false(g_file_test(tmp, G_FILE_TEST_EXISTS));

	munmap(a, size);
	munmap(b, size);
	g_free(path);
	g_free(tmp);
	tmpdir_free(&t);
}

static void bitmap_set(uint64_t *bm, uint64_t page)
{
	bm[page / 64] |= 1ull << (page % 64);
}

/* Live saving: a full pass, then passes over the pages the bitmap marks. */
static void test_live_saver(void)
{
	struct tmpdir t = { 0 };
	const uint64_t size = 16 * MIB, npages = size / PAGE;
	uint8_t *ram = ram_new(size);
	fill_pattern(ram, size, 9);
	char *path = tmp_path(&t, "live.ram");
	char *error = NULL;
	struct ram_saver *s = ram_saver_begin(path, ram, size, &error);
	g_assert_nonnull(s);
	g_assert_cmpint(ram_saver_pass(s, NULL, &error), ==, (int64_t)npages);
	g_assert_false(g_file_test(path, G_FILE_TEST_EXISTS)); /* not before finish */

	uint8_t *expect = g_malloc(size);
	memcpy(expect, ram, size);
	memset(ram + 3 * PAGE, 0, PAGE);	    /* non-zero → zero */
	memset(ram + 1000 * PAGE, 0x61, PAGE);	    /* zero → non-zero */
	ram[6 * PAGE + 17] ^= 0xFF;		    /* changed */
	memset(ram + 3000 * PAGE, 0x62, 3 * PAGE);  /* a run across a bitmap word */
	ram[2000 * PAGE] = 0x55;		    /* changed but not marked: stays old */
	uint64_t *bm = g_new0(uint64_t, ram_bitmap_words(size));
	uint64_t marked[] = { 3, 1000, 6, 3000, 3001, 3002, 4095 };
	for (size_t i = 0; i < G_N_ELEMENTS(marked); i++) {
		bitmap_set(bm, marked[i]);
		memcpy(expect + marked[i] * PAGE, ram + marked[i] * PAGE, PAGE);
	}
	g_assert_cmpint(ram_saver_pass(s, bm, &error), ==, (int64_t)G_N_ELEMENTS(marked));
	g_assert_cmpint(ram_saver_finish(s, &error), ==, 0);
	g_assert_null(error);
	assert_file_equals(path, expect, size);
	int fd = open(path, O_RDONLY);
	g_assert_cmpint(lseek(fd, 3 * PAGE, SEEK_HOLE), ==, (off_t)(3 * PAGE)); /* punched */
	close(fd);

	/* abort leaves nothing behind */
	s = ram_saver_begin(path, ram, size, &error);
	g_assert_cmpint(ram_saver_pass(s, NULL, &error), ==, (int64_t)npages);
	ram_saver_abort(s);
	assert_file_equals(path, expect, size);
	char *tmp = g_strdup_printf("%s.tmp", path);
	g_assert_false(g_file_test(tmp, G_FILE_TEST_EXISTS));

	g_free(tmp);
	g_free(bm);
	g_free(expect);
	munmap(ram, size);
	g_free(path);
	tmpdir_free(&t);
}

/* Slot dirty logs merged into the RAM-wide bitmap at any page offset. */
static void test_bitmap_merge(void)
{
	g_assert_cmpuint(ram_bitmap_words(64 * PAGE), ==, 1);
	g_assert_cmpuint(ram_bitmap_words(65 * PAGE), ==, 2);
	const uint64_t total = 300;
	uint64_t *dst = g_new0(uint64_t, (total + 63) / 64); /* exact size: ASan sees overruns */
	uint64_t src[2] = { 0x8000000000000001ull, 0xFFFFFFFFFFFFFFFFull };
	/* 70 pages at page 192 (aligned), the bits past 70 ignored */
	ram_bitmap_merge(dst, 192, src, 70);
	g_assert_cmphex(dst[3], ==, 0x8000000000000001ull);
	g_assert_cmphex(dst[4], ==, 0x3F);
	memset(dst, 0, (total + 63) / 64 * 8);
	/* unaligned: 70 pages at page 5, and a slot ending exactly at the bitmap's end */
	ram_bitmap_merge(dst, 5, src, 70);
	for (uint64_t p = 0; p < total; p++) {
		bool want = p == 5 || (p >= 5 + 63 && p < 5 + 70);
		g_assert_cmpint(!!(dst[p / 64] >> (p % 64) & 1), ==, want);
	}
	ram_bitmap_merge(dst, total - 60, src, 60);
	g_assert_true(dst[(total - 60) / 64] >> ((total - 60) % 64) & 1);
	g_free(dst);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/ram/save_sparse", test_save_sparse);
	g_test_add_func("/ram/restore_cow", test_restore_cow);
	g_test_add_func("/ram/restore_4g_fast", test_restore_4g_fast);
	g_test_add_func("/ram/restore_retires_old", test_restore_retires_old);
	g_test_add_func("/ram/save_reads_only_own_pages", test_save_reads_only_own_pages);
	g_test_add_func("/ram/restore_refused", test_restore_refused);
	g_test_add_func("/ram/save_crash_safety", test_save_crash_safety);
	g_test_add_func("/ram/live_saver", test_live_saver);
	g_test_add_func("/ram/bitmap_merge", test_bitmap_merge);
	return g_test_run();
}
