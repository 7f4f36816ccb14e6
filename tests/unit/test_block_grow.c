/*
 * Growing disk images (block/grow.h): raw and qcow2, the data kept, the new area reading as
 * zeros and writable, the size kept across a reopen; qcow2 within the L1 table's reach and
 * beyond it (a new, larger L1 table), with snapshots (a revert gives the old size back), and
 * `qemu-img check` / `qemu-img info` / `qemu-io` as independent checks where installed.
 * Refusals: shrinking, read-only, in-memory, beyond qcow2's limits.
 */
#include <errno.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>

#include "block/block.h"
#include "block/grow.h"
#include "block/qcow2.h"
#include "qcow2_fixtures.h"

#define MiB (1ull << 20)
#define GiB (1ull << 30)

static bool have_qemu_img(void)
{
	g_autofree char *img = g_find_program_in_path("qemu-img");
	g_autofree char *io = g_find_program_in_path("qemu-io");
	return img && io;
}

/* qemu-img agrees: the image is clean and has SIZE bytes. */
static void qemu_check(const char *path, uint64_t size)
{
	if (!have_qemu_img())
		return;
	g_autofree char *out = NULL, *info = NULL;
	int rc = sh(&out, "qemu-img check %s", path);
	if (rc != 0)
		g_error("qemu-img check %s: exit %d\n%s", path, rc, out);
	g_assert_cmpint(sh(&info, "qemu-img info %s", path), ==, 0);
	g_autofree char *want = g_strdup_printf("(%" G_GUINT64_FORMAT " bytes)", size);
	if (!strstr(info, want))
		g_error("qemu-img info %s: expected %s\n%s", path, want, info);
}

static void fill(struct block_dev *bd, uint64_t off, uint8_t pat)
{
	uint8_t buf[4096];
	memset(buf, pat, sizeof(buf));
	g_assert_cmpint(block_pwrite(bd, buf, sizeof(buf), off), ==, 0);
}

static void expect(struct block_dev *bd, uint64_t off, uint8_t pat)
{
	uint8_t buf[4096], want[4096];
	memset(want, pat, sizeof(want));
	g_assert_cmpint(block_pread(bd, buf, sizeof(buf), off), ==, 0);
	g_assert_cmpmem(buf, sizeof(buf), want, sizeof(want));
}

static void grow_ok(struct block_dev *bd, uint64_t size)
{
	char *error = NULL;
	int ret = block_grow(bd, size, &error);
	if (ret < 0)
		g_error("block_grow: %s", error);
	g_assert_cmpuint(block_size(bd), ==, size);
}

static uint64_t l1_entries(const char *path)
{
	g_autofree char *data = NULL;
	gsize len;
	g_assert_true(g_file_get_contents(path, &data, &len, NULL));
	const uint8_t *p = (const uint8_t *)data + 36; /* "Header": l1_size, 4 bytes */
	return (uint64_t)p[0] << 24 | p[1] << 16 | p[2] << 8 | p[3];
}

static char *new_qcow2(const char *name, uint64_t size)
{
	char *path = tmp_path(name);
	char *error = NULL;
	if (block_create_qcow2(path, size, NULL, &error) < 0)
		g_error("%s", error);
	return path;
}

/* Grow in place and across a larger L1 table; the data, the zeros, the new end. */
static void test_qcow2(void)
{
	static const uint64_t sizes[] = { 96 * MiB, 70 * GiB };
	for (size_t i = 0; i < G_N_ELEMENTS(sizes); i++) {
		g_autofree char *path = new_qcow2("grow.qcow2", 64 * MiB);
		struct block_dev *bd = open_ok(path, false);
		uint64_t l1_before = l1_entries(path);
		fill(bd, 0, 0xa1);
		fill(bd, 64 * MiB - 4096, 0xa2);
		grow_ok(bd, sizes[i]);
		expect(bd, 0, 0xa1);
		expect(bd, 64 * MiB - 4096, 0xa2);
		expect(bd, 64 * MiB, 0);	      /* the new area reads as zeros */
		fill(bd, sizes[i] - 4096, 0xa3); /* and is there to be written */
		block_close(bd);
		/* 64 KiB clusters: one L1 entry maps 512 MiB */
		g_assert_cmpuint(l1_entries(path), ==, i == 0 ? l1_before : 140);
		bd = open_ok(path, true);
		g_assert_cmpuint(block_size(bd), ==, sizes[i]);
		expect(bd, 0, 0xa1);
		expect(bd, sizes[i] - 4096, 0xa3);
		block_close(bd);
		qemu_check(path, sizes[i]);
		if (have_qemu_img()) { /* qemu-io reads pcvm's data at the new end */
			g_autofree char *out = NULL;
			int rc = sh(&out, "qemu-io -r -f qcow2 -c 'read -P 0xa3 %" G_GUINT64_FORMAT
				    " 4096' %s", sizes[i] - 4096, path);
			g_assert_cmpint(rc, ==, 0);
			g_assert_null(strstr(out, "Pattern verification failed"));
		}
	}
}

/* Snapshots keep their size: the disk goes back to it on a revert, and forward again. */
static void test_qcow2_snapshots(void)
{
	g_autofree char *path = new_qcow2("snap.qcow2", 32 * MiB);
	struct block_dev *bd = open_ok(path, false);
	char *error = NULL;
	fill(bd, MiB, 0xb1);
	g_assert_cmpint(block_snapshot_create(bd, "1", "before", 0, &error), ==, 0);
	grow_ok(bd, 2 * GiB);
	fill(bd, 2 * GiB - 4096, 0xb2);
	g_assert_cmpint(block_snapshot_create(bd, "2", "after", 0, &error), ==, 0);
	g_assert_cmpint(block_snapshot_goto(bd, "1", &error), ==, 0);
	g_assert_cmpuint(block_size(bd), ==, 32 * MiB);
	expect(bd, MiB, 0xb1);
	g_assert_cmpint(block_snapshot_goto(bd, "2", &error), ==, 0);
	g_assert_cmpuint(block_size(bd), ==, 2 * GiB);
	expect(bd, 2 * GiB - 4096, 0xb2);
	block_close(bd);
	qemu_check(path, 2 * GiB);
	if (have_qemu_img()) {
		g_autofree char *out = NULL;
		g_assert_cmpint(sh(&out, "qemu-img snapshot -l %s", path), ==, 0);
		g_assert_nonnull(strstr(out, "before"));
		g_assert_nonnull(strstr(out, "after"));
	}
}

static void test_raw(void)
{
	g_autofree char *path = tmp_path("grow.raw");
	char *error = NULL;
	g_assert_cmpint(block_create_raw(path, MiB, &error), ==, 0);
	struct block_dev *bd = open_ok(path, false);
	fill(bd, MiB - 4096, 0xc1);
	g_assert_cmpint(block_grow(bd, 3 * MiB + 100, &error), ==, 0);
	g_assert_cmpuint(block_size(bd), ==, 3 * MiB + 512); /* rounded up to a sector */
	expect(bd, MiB - 4096, 0xc1);
	expect(bd, 2 * MiB, 0);
	block_close(bd);
	struct stat st;
	g_assert_cmpint(g_stat(path, &st), ==, 0);
	g_assert_cmpint(st.st_size, ==, 3 * MiB + 512);
	g_assert_cmpint(st.st_blocks * 512, <, 2 * MiB); /* the new end is a hole */
}

static void expect_refusal(struct block_dev *bd, uint64_t size, int want, const char *text)
{
	char *error = NULL;
	uint64_t before = block_size(bd);
	g_assert_cmpint(block_grow(bd, size, &error), ==, want);
	g_assert_nonnull(error);
	if (!strstr(error, text))
		g_error("expected '%s' in: %s", text, error);
	g_assert_cmpuint(block_size(bd), ==, before);
	g_free(error);
}

static void test_refusals(void)
{
	g_autofree char *path = new_qcow2("refuse.qcow2", 64 * MiB);
	struct block_dev *bd = open_ok(path, false);
	expect_refusal(bd, 32 * MiB, -EINVAL, "disks only grow");
	expect_refusal(bd, QCOW2_MAX_HOST_OFFSET + MiB, -EINVAL, "beyond qcow2's limit");
	char *error = NULL;
	g_assert_cmpint(block_grow(bd, 64 * MiB, &error), ==, 0); /* the same size: nothing */
	g_assert_null(error);
	block_close(bd);
	qemu_check(path, 64 * MiB);
	bd = open_ok(path, true);
	expect_refusal(bd, 128 * MiB, -EROFS, "read-only");
	block_close(bd);
	bd = block_open_memory(MiB);
	expect_refusal(bd, 2 * MiB, -ENOTSUP, "cannot grow");
	block_close(bd);
}

/* Grown many times in small steps: each step a commit, the image stays clean and compact. */
static void test_qcow2_steps(void)
{
	g_autofree char *path = new_qcow2("steps.qcow2", MiB);
	struct block_dev *bd = open_ok(path, false);
	uint8_t pat = 0x10;
	for (uint64_t size = MiB; size <= 2 * GiB; size *= 2) {
		grow_ok(bd, size);
		fill(bd, size - 4096, pat++);
	}
	pat = 0x10;
	for (uint64_t size = MiB; size <= 2 * GiB; size *= 2)
		expect(bd, size - 4096, pat++);
	block_close(bd);
	qemu_check(path, 2 * GiB);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/block-grow/qcow2", test_qcow2);
	g_test_add_func("/block-grow/qcow2-snapshots", test_qcow2_snapshots);
	g_test_add_func("/block-grow/qcow2-steps", test_qcow2_steps);
	g_test_add_func("/block-grow/raw", test_raw);
	g_test_add_func("/block-grow/refusals", test_refusals);
	return run_tests();
}
