/* The block layer: raw images, the request API, sizes, and refusals. */
#include <errno.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#include "block/block.h"

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

static void done_cb(struct block_req *req, int ret)
{
	*(int *)req->opaque = ret == 0 ? 1 : ret;
}

static void test_raw_create_and_io(void)
{
	g_autofree char *path = tmp_path("disk.img");
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
	int done = 0;
	struct block_req w = { BLOCK_WRITE, 4096, buf, sizeof(buf), done_cb, &done };
	block_submit(bd, &w);
	g_assert_cmpint(done, ==, 1);
	done = 0;
	struct block_req r = { BLOCK_READ, 4096, back, sizeof(back), done_cb, &done };
	block_submit(bd, &r);
	g_assert_cmpint(done, ==, 1);
	g_assert_cmpmem(buf, sizeof(buf), back, sizeof(back));
	/* past the end: an error, nothing touched */
	done = 0;
	struct block_req past = { BLOCK_READ, (1 << 20) - 512, back, 1024, done_cb, &done };
	block_submit(bd, &past);
	g_assert_cmpint(done, ==, -EINVAL);
	struct block_req huge = { BLOCK_WRITE, ~0ull - 10, buf, 512, done_cb, &done };
	block_submit(bd, &huge);
	g_assert_cmpint(done, ==, -EINVAL);
	struct block_req flush = { BLOCK_FLUSH, 0, NULL, 0, done_cb, &done };
	block_submit(bd, &flush);
	g_assert_cmpint(done, ==, 1);
	block_close(bd);

	/* what was written is in the file */
	g_autofree char *contents = NULL;
	gsize len;
	g_assert_true(g_file_get_contents(path, &contents, &len, NULL));
	g_assert_cmpmem(contents + 4096, sizeof(buf), buf, sizeof(buf));
	g_unlink(path);
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
	g_free(error);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/block/parse-size", test_parse_size);
	g_test_add_func("/block/raw-create-and-io", test_raw_create_and_io);
	g_test_add_func("/block/read-only", test_read_only);
	g_test_add_func("/block/open-errors", test_open_errors);
	return g_test_run();
}
