/*
 * qcow2 against independent oracles: what pcvm writes, qemu-io reads back with the same
 * pattern and `qemu-img check` finds clean, and the reverse; zero clusters, discard,
 * backing chains, compressed, encrypted and snapshotted images; refusals with messages;
 * hostile images (truncated, bit flips); and kill -9 at random moments while writing.
 * Tests that need qemu-img/qemu-io skip where they are missing.
 *
 * This program: all but the kills; test_qcow2_faults.c holds those and failing syncs.
 */
#include <glib.h>
#include <string.h>
#include <sys/stat.h>

#include "block/block.h"
#include "qcow2_fixtures.h"

/* ---- image kinds: who creates them, with which options ---- */

static const struct kind kinds[] = {
	{ "pcvm", NULL, 65536 },
	{ "qemu-default", "", 65536 },
	{ "qemu-v2", "-o compat=0.10", 65536 },
	{ "qemu-512", "-o cluster_size=512", 512 },
	{ "qemu-4k-rc1", "-o cluster_size=4096,refcount_bits=1", 4096 },
	{ "qemu-rc64", "-o refcount_bits=64", 65536 },
	{ "qemu-2m-rc8", "-o cluster_size=2M,refcount_bits=8", 2 << 20 },
};

/* Non-overlapping writes that cross sector, cluster and L2-table boundaries. */
struct region {
	uint64_t off;
	uint32_t len;
	uint8_t pat;
};

#define IMG_SIZE (1ull << 30)

static unsigned regions_for(const struct kind *k, struct region *r)
{
	uint64_t cs = k->cluster_size, l2span = cs * (cs / 8);
	unsigned n = 0;
	r[n++] = (struct region){ 0, 4096, 0x11 };
	r[n++] = (struct region){ 65536 - 512, 1024, 0x22 };
	r[n++] = (struct region){ 131072 + 3 * cs + 100, 300, 0x33 };
	r[n++] = (struct region){ 262144 + 5 * cs, (uint32_t)MIN(2 * cs, 1 << 20), 0x44 };
	if (l2span < IMG_SIZE - 8192)
		r[n++] = (struct region){ l2span - 2048, 4096, 0x55 };
	r[n++] = (struct region){ IMG_SIZE - 512, 512, 0x66 };
	r[n++] = (struct region){ IMG_SIZE / 2 + 12345, 70000, 0x77 };
	return n;
}

static void verify_with_qemu_io(const char *path, const struct region *r, unsigned n)
{
	g_autoptr(GPtrArray) cmds = g_ptr_array_new_with_free_func(g_free);
	for (unsigned i = 0; i < n; i++) {
		g_ptr_array_add(cmds, g_strdup_printf("read -P 0x%x %" G_GUINT64_FORMAT " %u",
						      r[i].pat, r[i].off, r[i].len));
		/* and the sector after it is still zero, unless something else is there */
		uint64_t after = r[i].off + r[i].len;
		bool used = after + 512 > IMG_SIZE;
		for (unsigned j = 0; j < n; j++)
			used |= r[j].off < after + 512 && r[j].off + r[j].len > after;
		if (!used)
			g_ptr_array_add(cmds, g_strdup_printf("read -P 0 %" G_GUINT64_FORMAT " 512",
							      after));
	}
	g_ptr_array_add(cmds, NULL);
	qemu_io_v(path, (const char *const *)cmds->pdata);
}

static void test_pcvm_writes_qemu_reads(void)
{
	if (!have_qemu())
		return;
	for (size_t k = 0; k < G_N_ELEMENTS(kinds); k++) {
		g_autofree char *path = make_image(&kinds[k], kinds[k].name, IMG_SIZE);
		struct region r[8];
		unsigned n = regions_for(&kinds[k], r);
		struct block_dev *bd = open_ok(path, false);
		for (unsigned i = 0; i < n; i++)
			write_pattern(bd, r[i].off, r[i].len, r[i].pat);
		/* rewrite the first in place, the same bytes */
		write_pattern(bd, r[0].off, r[0].len, r[0].pat);
		block_close(bd);
		check_image(path, false);
		verify_with_qemu_io(path, r, n);
	}
}

static void test_qemu_writes_pcvm_reads(void)
{
	if (!have_qemu())
		return;
	for (size_t k = 0; k < G_N_ELEMENTS(kinds); k++) {
		g_autofree char *path = make_image(&kinds[k], kinds[k].name, IMG_SIZE);
		struct region r[8];
		unsigned n = regions_for(&kinds[k], r);
		g_autoptr(GPtrArray) cmds = g_ptr_array_new_with_free_func(g_free);
		for (unsigned i = 0; i < n; i++)
			g_ptr_array_add(cmds,
					g_strdup_printf("write -P 0x%x %" G_GUINT64_FORMAT " %u",
							r[i].pat, r[i].off, r[i].len));
		g_ptr_array_add(cmds, NULL);
		qemu_io_v(path, (const char *const *)cmds->pdata);
		struct block_dev *bd = open_ok(path, true);
		g_assert_cmpuint(block_size(bd), ==, IMG_SIZE);
		for (unsigned i = 0; i < n; i++)
			expect_pattern(bd, r[i].off, r[i].len, r[i].pat);
		expect_pattern(bd, 1 << 20, 4096, 0); /* never written */
		block_close(bd);
		/* and pcvm writes over qemu's clusters, in place */
		bd = open_ok(path, false);
		write_pattern(bd, r[0].off + 512, 512, 0xee);
		block_close(bd);
		check_image(path, false);
		const char *cmd[] = { "read -P 0x11 0 512", "read -P 0xee 512 512",
				      "read -P 0x11 1024 3072", NULL };
		qemu_io_v(path, cmd);
	}
}

/* Small clusters: 12 MiB of data need the refcount table to grow several times. */
static void test_refcount_growth(void)
{
	if (!have_qemu())
		return;
	g_autofree char *path = tmp_path("growth.qcow2");
	g_assert_cmpint(sh(NULL, "qemu-img create -q -f qcow2 -o cluster_size=512 %s 64M", path),
			==, 0);
	uint64_t rt_before = be_field(path, 56, 4);
	struct block_dev *bd = open_ok(path, false);
	const unsigned chunk = 65536, chunks = 192;
	for (unsigned i = 0; i < chunks; i++)
		write_pattern(bd, (uint64_t)i * chunk, chunk, (i * 37 + 1) & 0xff);
	block_close(bd);
	g_assert_cmpuint(be_field(path, 56, 4), >, rt_before); /* it did grow */
	check_image(path, false);
	g_autoptr(GPtrArray) cmds = g_ptr_array_new_with_free_func(g_free);
	for (unsigned i = 0; i < chunks; i += 7)
		g_ptr_array_add(cmds, g_strdup_printf("read -P 0x%x %u %u", (i * 37 + 1) & 0xff,
						      i * chunk, chunk));
	g_ptr_array_add(cmds, NULL);
	qemu_io_v(path, (const char *const *)cmds->pdata);
	bd = open_ok(path, true);
	for (unsigned i = 0; i < chunks; i++)
		expect_pattern(bd, (uint64_t)i * chunk, chunk, (i * 37 + 1) & 0xff);
	block_close(bd);
}

/* ---- create, info, dirty bit ---- */

static void test_create_and_info(void)
{
	if (!have_qemu())
		return;
	g_autofree char *path = tmp_path("new.qcow2");
	char *error = NULL;
	g_assert_cmpint(block_create_qcow2(path, 10ull << 30, NULL, &error), ==, 0);
	g_assert_cmpint(block_create_qcow2(path, 1 << 20, NULL, &error), ==, -1);
	g_assert_nonnull(strstr(error, "exists"));
	g_clear_pointer(&error, g_free);
	check_image(path, false);
	g_autofree char *out = NULL;
	g_assert_cmpint(sh(&out, "qemu-img info %s", path), ==, 0);
	g_assert_nonnull(strstr(out, "virtual size: 10 GiB"));
	g_assert_nonnull(strstr(out, "compat: 1.1"));
	struct block_dev *bd = open_ok(path, false);
	struct block_info info;
	g_assert_cmpint(block_get_info(bd, &info), ==, 0);
	g_assert_cmpstr(info.format, ==, "qcow2");
	g_assert_cmpuint(info.virtual_size, ==, 10ull << 30);
	uint64_t before = info.allocated_bytes;
	g_assert_cmpuint(before, <, 1 << 20);
	g_assert_null(info.backing);
	block_info_clear(&info);
	write_pattern(bd, 5ull << 30, 4 << 20, 0x5a);
	g_assert_cmpint(block_flush(bd), ==, 0);
	g_assert_cmpint(block_get_info(bd, &info), ==, 0);
	g_assert_cmpuint(info.allocated_bytes, >=, before + (4 << 20));
	block_info_clear(&info);
	block_close(bd);
	check_image(path, false);
	/* odd sizes round up to a sector; zero is refused */
	g_autofree char *odd = tmp_path("odd.qcow2");
	g_assert_cmpint(block_create_qcow2(odd, 1000, NULL, &error), ==, 0);
	bd = open_ok(odd, true);
	g_assert_cmpuint(block_size(bd), ==, 1024);
	block_close(bd);
	g_autofree char *zero = tmp_path("zero.qcow2");
	g_assert_cmpint(block_create_qcow2(zero, 0, NULL, &error), ==, -1);
	g_clear_pointer(&error, g_free);
}

static void test_dirty_bit(void)
{
	if (!have_qemu())
		return;
	g_autofree char *path = tmp_path("dirty.qcow2");
	char *error = NULL;
	g_assert_cmpint(block_create_qcow2(path, 1 << 30, NULL, &error), ==, 0);
	struct block_dev *bd = open_ok(path, false);
	g_assert_cmpuint(be_field(path, 72, 8) & 1, ==, 0); /* opening alone changes nothing */
	write_pattern(bd, 0, 4096, 1);
	g_assert_cmpuint(be_field(path, 72, 8) & 1, ==, 1); /* set before the first write */
	block_close(bd);
	g_assert_cmpuint(be_field(path, 72, 8) & 1, ==, 0); /* cleared at a clean close */
	check_image(path, false);
	/* a dirty image without lazy refcounts (ours, after a crash) opens and is cleaned */
	set_be_field(path, 72, 8, 1);
	bd = open_ok(path, false);
	expect_pattern(bd, 0, 4096, 1);
	block_close(bd);
	g_assert_cmpuint(be_field(path, 72, 8) & 1, ==, 0);
	/* with lazy refcounts its refcounts cannot be trusted: read-only only */
	g_autofree char *lazy = tmp_path("lazy.qcow2");
	g_assert_cmpint(sh(NULL, "qemu-img create -q -f qcow2 -o lazy_refcounts=on %s 1M", lazy),
			==, 0);
	set_be_field(lazy, 72, 8, 1);
	expect_open_error(lazy, false, "qemu-img check -r all");
	block_close(open_ok(lazy, true));
}

/* ---- zero clusters and discard ---- */

static void test_zero_clusters(void)
{
	if (!have_qemu())
		return;
	g_autofree char *path = tmp_path("zero.qcow2");
	g_assert_cmpint(sh(NULL, "qemu-img create -q -f qcow2 %s 16M", path), ==, 0);
	const char *prep[] = { "write -P 0xaa 0 512k", "write -z 64k 64k", "write -z -u 256k 128k",
			       NULL };
	qemu_io_v(path, prep);
	struct block_dev *bd = open_ok(path, false);
	expect_pattern(bd, 0, 65536, 0xaa);
	expect_pattern(bd, 65536, 65536, 0);
	expect_pattern(bd, 131072, 131072, 0xaa);
	expect_pattern(bd, 262144, 131072, 0);
	expect_pattern(bd, 393216, 131072, 0xaa);
	/* a partial write into a zero cluster: the rest stays zero */
	write_pattern(bd, 65536 + 4096, 512, 0xbb);
	write_pattern(bd, 262144 + 512, 512, 0xcc);
	block_close(bd);
	check_image(path, false);
	const char *cmd[] = { "read -P 0 64k 4k",	    "read -P 0xbb 68k 512",
			      "read -P 0 70144 60928",	    "read -P 0 256k 512",
			      "read -P 0xcc 262656 512",    "read -P 0 263168 130048",
			      "read -P 0xaa 384k 128k",	    NULL };
	qemu_io_v(path, cmd);
}

static void test_discard(void)
{
	if (!have_qemu())
		return;
	g_autofree char *path = tmp_path("discard.qcow2");
	char *error = NULL;
	g_assert_cmpint(block_create_qcow2(path, 64 << 20, NULL, &error), ==, 0);
	struct block_dev *bd = open_ok(path, false);
	write_pattern(bd, 0, 8 * 65536, 0x42);
	block_close(bd);
	struct stat st_before;
	g_assert_cmpint(stat(path, &st_before), ==, 0);
	bd = open_ok(path, false);
	/* whole clusters 2..5 go; the partial clusters at the edges stay */
	g_assert_cmpint(block_discard(bd, 65536 + 512, 5 * 65536 - 512), ==, 0);
	expect_pattern(bd, 0, 2 * 65536, 0x42);
	expect_pattern(bd, 2 * 65536, 4 * 65536, 0);
	expect_pattern(bd, 6 * 65536, 2 * 65536, 0x42);
	/* freed clusters are reused: the file does not grow */
	write_pattern(bd, 32 << 20, 4 * 65536, 0x43);
	block_close(bd);
	struct stat st_after;
	g_assert_cmpint(stat(path, &st_after), ==, 0);
	g_assert_cmpint(st_after.st_size, <=, st_before.st_size);
	check_image(path, false);
	const char *cmd[] = { "read -P 0x42 0 128k", "read -P 0 128k 256k", "read -P 0x42 384k 128k",
			      "read -P 0x43 32M 256k", NULL };
	qemu_io_v(path, cmd);
	/* discard through the request interface, past the end refused */
	bd = open_ok(path, false);
	struct block_req r = { .op = BLOCK_DISCARD, .offset = 0, .len = 65 << 20 };
	g_assert_cmpint(block_exec(bd, &r), ==, -EINVAL);
	g_assert_cmpint(block_discard(bd, 0, 64 << 20), ==, 0);
	expect_pattern(bd, 0, 1 << 20, 0);
	block_close(bd);
	check_image(path, false);
}

/* ---- backing files ---- */

static void test_backing(void)
{
	if (!have_qemu())
		return;
	g_autofree char *base = tmp_path("base.qcow2");
	g_autofree char *top = tmp_path("top.qcow2");
	g_assert_cmpint(sh(NULL, "qemu-img create -q -f qcow2 %s 4M", base), ==, 0);
	const char *prep[] = { "write -P 0xa1 0 1M", "write -P 0xa2 2M 64k", NULL };
	qemu_io_v(base, prep);
	char *error = NULL;
	/* relative to the image's directory; size taken from the backing file */
	g_assert_cmpint(block_create_qcow2(top, 0, "base.qcow2", &error), ==, 0);
	check_image(top, false);
	g_autofree char *cwd = g_get_current_dir();
	g_assert_cmpint(chdir("/"), ==, 0);
	struct block_dev *bd = open_ok(top, false);
	g_assert_cmpint(chdir(cwd), ==, 0);
	g_assert_cmpuint(block_size(bd), ==, 4 << 20);
	struct block_info info;
	g_assert_cmpint(block_get_info(bd, &info), ==, 0);
	g_assert_cmpstr(info.backing, ==, "base.qcow2");
	block_info_clear(&info);
	expect_pattern(bd, 0, 1 << 20, 0xa1);
	expect_pattern(bd, 1 << 20, 1 << 20, 0);
	/* partial-cluster writes copy the rest of the cluster from the backing file */
	write_pattern(bd, 65536 + 512, 512, 0xb1);
	write_pattern(bd, (2 << 20) + 60000, 10000, 0xb2);
	/* discarding shows zeros, not the backing file's data */
	g_assert_cmpint(block_discard(bd, 4 * 65536, 65536), ==, 0);
	expect_pattern(bd, 4 * 65536, 65536, 0);
	block_close(bd);
	check_image(top, false);
	check_image(base, false);
	const char *cmd[] = { "read -P 0xa1 64k 512",	  "read -P 0xb1 66048 512",
			      "read -P 0xa1 66560 64000", "read -P 0xa2 2M 60000",
			      "read -P 0xb2 2157152 10000", "read -P 0 2167152 64k",
			      "read -P 0 256k 64k",	  "read -P 0xa1 320k 64k",
			      NULL };
	qemu_io_v(top, cmd);
	const char *base_cmd[] = { "read -P 0xa1 0 1M", NULL }; /* the base is untouched */
	qemu_io_v(base, base_cmd);
}

static void test_backing_chain(void)
{
	if (!have_qemu())
		return;
	/* raw at the bottom, qemu-made middle, pcvm top; the format ext names "raw" */
	g_autofree char *raw = tmp_path("chain0.img");
	g_assert_cmpint(sh(NULL, "qemu-img create -q -f raw %s 1M && qemu-io -f raw -c "
				 "'write -P 0xc1 0 1M' %s >/dev/null",
			   raw, raw),
			==, 0);
	g_autofree char *mid = tmp_path("chain1.qcow2");
	g_assert_cmpint(sh(NULL, "qemu-img create -q -f qcow2 -b chain0.img -F raw %s", mid), ==,
			0);
	const char *prep[] = { "write -P 0xc2 64k 64k", NULL };
	qemu_io_v(mid, prep);
	g_autofree char *top = tmp_path("chain2.qcow2");
	char *error = NULL;
	g_assert_cmpint(block_create_qcow2(top, 0, "chain1.qcow2", &error), ==, 0);
	struct block_dev *bd = open_ok(top, false);
	expect_pattern(bd, 0, 65536, 0xc1);
	expect_pattern(bd, 65536, 65536, 0xc2);
	write_pattern(bd, 131072, 512, 0xc3);
	block_close(bd);
	check_image(top, false);
	const char *cmd[] = { "read -P 0xc1 0 64k", "read -P 0xc2 64k 64k", "read -P 0xc3 128k 512",
			      "read -P 0xc1 131584 130560", NULL };
	qemu_io_v(top, cmd);

	/* too deep, and a loop (which is infinitely deep) */
	g_autofree char *prev = g_strdup("chain2.qcow2");
	for (int i = 3; i < 3 + BLOCK_MAX_BACKING_DEPTH; i++) {
		g_autofree char *name = g_strdup_printf("chain%d.qcow2", i);
		g_autofree char *p = tmp_path(name);
		g_assert_cmpint(sh(NULL, "qemu-img create -q -f qcow2 -u -b %s -F qcow2 %s 1M",
				   prev, p),
				==, 0);
		g_free(prev);
		prev = g_strdup(name);
	}
	g_autofree char *last = g_build_filename(tmp_dir(), prev, NULL);
	expect_open_error(last, true, "backing chain longer than");
	g_autofree char *a = tmp_path("loop-a.qcow2");
	g_autofree char *b = tmp_path("loop-b.qcow2");
	g_assert_cmpint(sh(NULL,
			   "qemu-img create -q -f qcow2 -u -b loop-b.qcow2 -F qcow2 %s 1M && "
			   "qemu-img create -q -f qcow2 -u -b loop-a.qcow2 -F qcow2 %s 1M",
			   a, b),
			==, 0);
	expect_open_error(a, true, "backing chain longer than");
	g_autofree char *orphan = tmp_path("orphan.qcow2");
	g_assert_cmpint(sh(NULL, "qemu-img create -q -f qcow2 -u -b gone.qcow2 -F qcow2 %s 1M",
			   orphan),
			==, 0);
	expect_open_error(orphan, true, "gone.qcow2: No such file");
}

/* ---- compressed, encrypted, snapshots ---- */

/* Compressed clusters (zlib) are read; writing into one moves it to a fresh cluster. */
static void test_compressed(void)
{
	if (!have_qemu())
		return;
	g_autofree char *raw = tmp_path("plain.img");
	g_autofree char *comp = tmp_path("comp.qcow2");
	g_assert_cmpint(sh(NULL,
			   "qemu-img create -q -f raw %s 1M && qemu-io -f raw -c 'write -P 0xd1 0 "
			   "256k' -c 'write -P 0xd2 300k 200k' %s >/dev/null && qemu-img convert "
			   "-c -O qcow2 -o cluster_size=4096 %s %s",
			   raw, raw, raw, comp),
			==, 0);
	g_autofree char *out = NULL;
	sh(&out, "qemu-img check %s", comp);
	g_assert_nonnull(strstr(out, "compressed clusters"));
	g_assert_null(strstr(out, " 0.00% compressed"));
	struct block_dev *bd = open_ok(comp, false);
	expect_pattern(bd, 0, 256 << 10, 0xd1);
	expect_pattern(bd, 256 << 10, 44 << 10, 0);
	expect_pattern(bd, 300 << 10, 200 << 10, 0xd2);
	write_pattern(bd, 8192 + 100, 200, 0xd3);
	g_assert_cmpint(block_discard(bd, 16384, 8192), ==, 0);
	block_close(bd);
	check_image(comp, false);
	const char *cmd[] = { "read -P 0xd1 0 8292",	  "read -P 0xd3 8292 200",
			      "read -P 0xd1 8492 7892",	  "read -P 0 16k 8k",
			      "read -P 0xd1 24k 232k",	  "read -P 0xd2 300k 200k",
			      NULL };
	qemu_io_v(comp, cmd);
}

static void test_encrypted_refused(void)
{
	if (!have_qemu())
		return;
	g_autofree char *path = tmp_path("luks.qcow2");
	/* qemu-img's PBKDF benchmark fails now and then on a loaded machine: retry */
	int rc = 1;
	for (int i = 0; i < 10 && rc; i++)
		rc = sh(NULL,
			"rm -f %s; qemu-img create -q -f qcow2 --object secret,id=s0,data=123456 "
			"-o encrypt.format=luks,encrypt.key-secret=s0,encrypt.iter-time=10 %s 1M",
			path, path);
	if (rc) {
		g_test_skip("qemu-img could not create a LUKS image here");
		return;
	}
	expect_open_error(path, true, "luks.qcow2: encrypted images (LUKS) are not supported");
}

/* zstd-compressed images (incompatible bit 3) are refused, naming the method. */
static void test_zstd_refused(void)
{
	if (!have_qemu())
		return;
	g_autofree char *path = tmp_path("zstd.qcow2");
	if (sh(NULL, "qemu-img create -q -f qcow2 -o compression_type=zstd %s 1M", path)) {
		g_test_skip("this qemu-img has no zstd");
		return;
	}
	expect_open_error(path, true, "zstd.qcow2: compressed with zstd, which is not supported");
}

/* Writes to an image with an internal snapshot copy shared clusters and tables, so the
 * snapshot keeps its contents and the refcounts stay right. */
static void test_snapshot_preserved(void)
{
	if (!have_qemu())
		return;
	g_autofree char *path = tmp_path("snap.qcow2");
	g_assert_cmpint(sh(NULL, "qemu-img create -q -f qcow2 %s 8M", path), ==, 0);
	const char *prep[] = { "write -P 0xe1 0 1M", NULL };
	qemu_io_v(path, prep);
	g_assert_cmpint(sh(NULL, "qemu-img snapshot -c before %s", path), ==, 0);
	struct block_dev *bd = open_ok(path, false);
	expect_pattern(bd, 0, 1 << 20, 0xe1);
	write_pattern(bd, 4096, 512, 0xe2);    /* a shared cluster: copied */
	write_pattern(bd, 65536, 65536, 0xe3); /* a whole shared cluster */
	write_pattern(bd, 4 << 20, 4096, 0xe4);
	g_assert_cmpint(block_discard(bd, 3 * 65536, 65536), ==, 0);
	block_close(bd);
	check_image(path, false);
	g_autofree char *out = NULL;
	g_assert_cmpint(sh(&out, "qemu-img snapshot -l %s", path), ==, 0);
	g_assert_nonnull(strstr(out, "before"));
	const char *now[] = { "read -P 0xe1 0 4096",	"read -P 0xe2 4096 512",
			      "read -P 0xe1 4608 60928", "read -P 0xe3 64k 64k",
			      "read -P 0 192k 64k",	"read -P 0xe4 4M 4k",
			      NULL };
	qemu_io_v(path, now);
	g_autofree char *old = tmp_path("snap-before.img");
	g_assert_cmpint(sh(NULL, "qemu-img convert -l before -O raw %s %s", path, old), ==, 0);
	g_autofree char *cmp = NULL;
	g_assert_cmpint(sh(&cmp, "qemu-io -f raw -c 'read -P 0xe1 0 1M' -c 'read -P 0 1M 7M' %s",
			   old),
			==, 0);
	g_assert_null(strstr(cmp, "failed"));
}

/* ---- refusals with messages ---- */

struct refusal {
	const char *what;
	unsigned off, width;
	uint64_t value;
	bool read_only;
	const char *message;
};

static const struct refusal refusals[] = {
	{ "version 1", 4, 4, 1, true, "unsupported qcow2 version 1" },
	{ "version 4", 4, 4, 4, true, "unsupported qcow2 version 4" },
	{ "cluster_bits 8", 20, 4, 8, true, "invalid cluster size" },
	{ "cluster_bits 22", 20, 4, 22, true, "invalid cluster size" },
	{ "header_length", 100, 4, 100, true, "invalid header length" },
	{ "header_length odd", 100, 4, 108, true, "invalid header length" },
	{ "AES", 32, 4, 1, true, "encrypted images (AES) are not supported" },
	{ "crypt 7", 32, 4, 7, true, "unknown encryption method 7" },
	{ "unknown feature", 72, 8, 1ull << 5, true, "unsupported qcow2 feature: bit 5" },
	{ "extended L2", 72, 8, 1ull << 4, true, "feature: bit 4 (extended L2 entries)" },
	{ "two features", 72, 8, (1ull << 2) | (1ull << 40), true,
	  "features: bit 2 (external data file), bit 40" },
	{ "compression type", 72, 8, 1ull << 3, true, "compressed with an unknown method" },
	{ "corrupt, writable", 72, 8, 2, false, "marked corrupt" },
	{ "refcount order", 96, 4, 7, true, "invalid refcount order 7" },
	{ "L1 past the end", 40, 8, 1ull << 40, true, "L1 table extends past the end of the file" },
	{ "L1 unaligned", 40, 8, 3 * 65536 + 8, true, "L1 table offset not cluster aligned" },
	{ "L1 in header", 40, 8, 0, true, "L1 table overlaps the header" },
	{ "L1 too small", 36, 4, 0, true, "L1 table too small for the virtual size" },
	{ "L1 too large", 36, 4, 1u << 30, true, "L1 table too large" },
	{ "size huge", 24, 8, 1ull << 62, true, "virtual size too large" },
	{ "reftable past the end", 48, 8, 1ull << 40, true,
	  "refcount table extends past the end of the file" },
	{ "reftable empty", 56, 4, 0, true, "empty refcount table" },
	{ "reftable huge", 56, 4, 1u << 20, true, "refcount table too large" },
	{ "backing name", 8, 8, 65530, true, "backing file name outside the header cluster" },
	{ "snapshots", 60, 4, 3, true, "snapshot table offset invalid" },
};

static void test_refusals(void)
{
	if (!have_qemu())
		return;
	g_autofree char *good = tmp_path("good.qcow2");
	char *error = NULL;
	g_assert_cmpint(block_create_qcow2(good, 1 << 30, NULL, &error), ==, 0);
	g_autofree char *contents = NULL;
	gsize len;
	g_assert_true(g_file_get_contents(good, &contents, &len, NULL));
	for (size_t i = 0; i < G_N_ELEMENTS(refusals); i++) {
		const struct refusal *r = &refusals[i];
		g_autofree char *path = tmp_path("bad.qcow2");
		g_assert_true(g_file_set_contents(path, contents, len, NULL));
		set_be_field(path, r->off, r->width, r->value);
		if (r->off == 8) /* a name offset needs a length */
			set_be_field(path, 16, 4, 100);
		struct block_dev *bd = block_open(path, r->read_only, &error);
		if (bd || !strstr(error, r->message) || !strstr(error, "bad.qcow2: "))
			g_error("%s: got '%s', want '%s'", r->what, bd ? "(opened)" : error,
				r->message);
		g_clear_pointer(&error, g_free);
	}
	/* the corrupt bit still allows reading */
	g_autofree char *path = tmp_path("corrupt.qcow2");
	g_assert_true(g_file_set_contents(path, contents, len, NULL));
	set_be_field(path, 72, 8, 2);
	block_close(open_ok(path, true));
	/* truncated headers */
	for (gsize cut = 0; cut < 104; cut += 13) {
		g_assert_true(g_file_set_contents(path, contents, cut, NULL));
		g_assert_null(block_open_format(path, "qcow2", true, &error));
		g_assert_true(strstr(error, "truncated qcow2 header") ||
			      strstr(error, "bad magic"));
		g_clear_pointer(&error, g_free);
	}
}

/* ---- hostile images ---- */

/* Opens PATH; if it opens, reads every sector (errors allowed) and closes. Returns whether
 * it opened. Under ASan/UBSan this proves no access outside the file or the buffers. */
static bool open_and_read_all(const char *path, bool write)
{
	char *error = NULL;
	struct block_dev *bd = block_open(path, !write, &error);
	if (!bd) {
		g_assert_nonnull(error);
		g_assert_true(g_str_has_prefix(error, path));
		g_free(error);
		return false;
	}
	static uint8_t buf[65536];
	uint64_t size = MIN(block_size(bd), 4 << 20);
	for (uint64_t off = 0; off < size; off += sizeof(buf))
		block_pread(bd, buf, MIN(sizeof(buf), size - off), off);
	if (write) {
		memset(buf, 0x99, 4096);
		block_pwrite(bd, buf, 4096, 8192);
		block_discard(bd, 0, 65536);
	}
	block_close(bd);
	return true;
}

/* An image with data, a backing-free v3 layout of small clusters: header, tables, L2s. */
static char *hostile_base(gsize *len, char **contents)
{
	g_autofree char *path = tmp_path("hostile-base.qcow2");
	g_assert_cmpint(sh(NULL, "qemu-img create -q -f qcow2 -o cluster_size=4096 %s 4M", path),
			==, 0);
	const char *prep[] = { "write -P 0x31 0 64k", "write -P 0x32 2M 8k", "write -z 3M 8k",
			       NULL };
	qemu_io_v(path, prep);
	g_assert_true(g_file_get_contents(path, contents, len, NULL));
	return g_steal_pointer(&path);
}

static void test_truncated(void)
{
	if (!have_qemu())
		return;
	g_autofree char *contents = NULL;
	gsize len;
	g_free(hostile_base(&len, &contents));
	g_autofree char *path = tmp_path("truncated.qcow2");
	unsigned opened = 0, refused = 0;
	for (gsize cut = 0; cut < len; cut += 512) {
		g_assert_true(g_file_set_contents(path, contents, cut, NULL));
		if (open_and_read_all(path, false))
			opened++;
		else
			refused++;
	}
	g_test_message("truncated: %u opened, %u refused", opened, refused);
	g_assert_cmpuint(refused, >, 0);
}

static void test_bit_flips(void)
{
	if (!have_qemu())
		return;
	g_autofree char *contents = NULL;
	gsize len;
	g_autofree char *base = hostile_base(&len, &contents);
	uint64_t l1 = be_field(base, 40, 8), rt = be_field(base, 48, 8);
	uint64_t l2 = be_field(base, l1, 8) & 0x00fffffffffffe00ull;
	uint64_t rb = be_field(base, rt, 8);
	/* where to flip: the header, the L1 table, the refcount table, an L2 table, a block */
	const struct file_area areas[] = { { 0, 512 }, { l1, 64 }, { rt, 64 }, { l2, 4096 },
					   { rb, 4096 } };
	g_autofree char *path = tmp_path("flipped.qcow2");
	GRand *rand = g_rand_new_with_seed(1234);
	unsigned opened = 0;
	for (int round = 0; round < 400; round++) {
		write_flipped(path, contents, len, areas, G_N_ELEMENTS(areas), 5, rand);
		opened += open_and_read_all(path, round % 2);
		struct stat st;
		g_assert_cmpint(stat(path, &st), ==, 0);
		g_assert_cmpint(st.st_size, <, 64 << 20); /* no runaway allocation */
	}
	g_rand_free(rand);
	g_test_message("bit flips: %u of 400 images opened", opened);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/qcow2/create-and-info", test_create_and_info);
	g_test_add_func("/qcow2/pcvm-writes-qemu-reads", test_pcvm_writes_qemu_reads);
	g_test_add_func("/qcow2/qemu-writes-pcvm-reads", test_qemu_writes_pcvm_reads);
	g_test_add_func("/qcow2/refcount-growth", test_refcount_growth);
	g_test_add_func("/qcow2/dirty-bit", test_dirty_bit);
	g_test_add_func("/qcow2/zero-clusters", test_zero_clusters);
	g_test_add_func("/qcow2/discard", test_discard);
	g_test_add_func("/qcow2/backing", test_backing);
	g_test_add_func("/qcow2/backing-chain", test_backing_chain);
	g_test_add_func("/qcow2/compressed", test_compressed);
	g_test_add_func("/qcow2/encrypted-refused", test_encrypted_refused);
	g_test_add_func("/qcow2/zstd-refused", test_zstd_refused);
	g_test_add_func("/qcow2/snapshot-preserved", test_snapshot_preserved);
	g_test_add_func("/qcow2/refusals", test_refusals);
	g_test_add_func("/qcow2/hostile/truncated", test_truncated);
	g_test_add_func("/qcow2/hostile/bit-flips", test_bit_flips);
	return run_tests();
}
