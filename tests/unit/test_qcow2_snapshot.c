/*
 * qcow2 internal snapshots (block_snapshot_*) against qemu-img and qemu-io as oracles:
 * `qemu-img snapshot -l` lists what pcvm takes and `qemu-img check` finds the image clean
 * after every operation; snapshots keep their contents while the disk changes (read back
 * by pcvm and by qemu-io after `qemu-img snapshot -a`); qemu-img's snapshots work in pcvm
 * and pcvm's in qemu-img; many snapshots; a tree; kill -9 at random moments and before
 * every single write of an operation; hostile snapshot tables.
 * Tests that need qemu-img/qemu-io (and strace) skip where they are missing.
 */
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "block/block.h"
#include "block/qcow2.h"
#include "qcow2_fixtures.h"

static char *self_exe;

/* ---- helpers ---- */

/* Applies snapshot ID to a copy of PATH with qemu-img, then runs qemu-io COMMANDS on it. */
#define qemu_io_snapshot(path, id, ...)                                                         \
	do {                                                                                    \
		g_autofree char *copy_ = tmp_path("qemu-applied.qcow2");                        \
		g_assert_cmpint(                                                                \
		    sh(NULL, "cp %s %s && qemu-img snapshot -a %s %s", path, copy_, id, copy_), \
		    ==, 0);                                                                     \
		check_image(copy_, false);                                                      \
		qemu_io(copy_, __VA_ARGS__);                                                    \
	} while (0)

static void snap_ok(int ret, char **error)
{
	if (ret < 0)
		g_error("%s (%s)", *error, strerror(-ret));
}

static void create_ok(struct block_dev *bd, const char *id, const char *name)
{
	char *error = NULL;
	snap_ok(block_snapshot_create(bd, id, name, 0, &error), &error);
}

static void goto_ok(struct block_dev *bd, const char *id)
{
	char *error = NULL;
	snap_ok(block_snapshot_goto(bd, id, &error), &error);
}

static void delete_ok(struct block_dev *bd, const char *id)
{
	char *error = NULL;
	snap_ok(block_snapshot_delete(bd, id, &error), &error);
}

/* The operation fails with RET and a message containing WHAT. */
static void expect_refusal(int got, char **error, int ret, const char *what)
{
	if (got != ret || !*error || !strstr(*error, what))
		g_error("got %d '%s', want %d '%s'", got, *error ? *error : "(none)", ret, what);
	g_clear_pointer(error, g_free);
}

static uint64_t file_size(const char *path)
{
	struct stat st;
	g_assert_cmpint(stat(path, &st), ==, 0);
	return st.st_size;
}

/* `qemu-img snapshot -l`: the ID and tag of each snapshot, "ID TAG" per line. */
static char *qemu_list(const char *path)
{
	g_autofree char *out = NULL;
	g_assert_cmpint(sh(&out, "qemu-img snapshot -l %s", path), ==, 0);
	GString *ids = g_string_new(NULL);
	g_auto(GStrv) lines = g_strsplit(out, "\n", -1);
	for (char **l = lines; *l; l++) {
		g_auto(GStrv) w = g_strsplit_set(*l, " \t", -1);
		char *tok[2] = { NULL, NULL };
		int n = 0;
		for (char **x = w; *x && n < 2; x++)
			if (**x)
				tok[n++] = *x;
		if (n < 2 || !strcmp(tok[0], "Snapshot") || !strcmp(tok[0], "ID"))
			continue;
		g_string_append_printf(ids, "%s %s\n", tok[0], tok[1]);
	}
	return g_string_free(ids, FALSE);
}

/* ---- image kinds ---- */

struct kind {
	const char *name;
	const char *qemu_opts; /* NULL: block_create_qcow2 */
	unsigned cluster_size;
	bool no_snapshots; /* refcounts too narrow to share a cluster */
};

static const struct kind kinds[] = {
	{ "pcvm", NULL, 65536 },
	{ "qemu-default", "", 65536 },
	{ "qemu-v2", "-o compat=0.10", 65536 },
	{ "qemu-512", "-o cluster_size=512", 512 },
	{ "qemu-4k-rc2", "-o cluster_size=4096,refcount_bits=2", 4096 },
	{ "qemu-rc64", "-o refcount_bits=64", 65536 },
	{ "qemu-2m-rc8", "-o cluster_size=2M,refcount_bits=8", 2 << 20 },
	{ "qemu-4k-rc1", "-o cluster_size=4096,refcount_bits=1", 4096, true },
};

#define IMG_SIZE (64ull << 20)

static char *make_image(const struct kind *k, const char *name, uint64_t size)
{
	char *path = tmp_path(name);
	if (!k->qemu_opts) {
		char *error = NULL;
		g_assert_cmpint(block_create_qcow2(path, size, NULL, &error), ==, 0);
	} else {
		g_assert_cmpint(sh(NULL, "qemu-img create -q -f qcow2 %s %s %" G_GUINT64_FORMAT,
				   k->qemu_opts, path, size),
				==, 0);
	}
	return path;
}

/* ---- the API, its refusals ---- */

static void test_create_list(void)
{
	if (!have_qemu())
		return;
	g_autofree char *path = make_image(&kinds[0], "list.qcow2", IMG_SIZE);
	struct block_dev *bd = open_ok(path, false);
	write_pattern(bd, 0, 65536, 0x11);
	gint64 before = g_get_real_time() / G_USEC_PER_SEC;
	char *error = NULL;
	snap_ok(block_snapshot_create(bd, "7", "before SP3", 123456789, &error), &error);
	snap_ok(block_snapshot_create(bd, "8", NULL, 5, &error), &error);
	expect_refusal(block_snapshot_create(bd, "7", "again", 0, &error), &error, -EEXIST,
		       "list.qcow2: snapshot '7': a snapshot with this ID exists");
	expect_refusal(block_snapshot_create(bd, "", "x", 0, &error), &error, -EINVAL, "ID empty");
	expect_refusal(block_snapshot_goto(bd, "9", &error), &error, -ENOENT, "no such snapshot");
	expect_refusal(block_snapshot_delete(bd, "9", &error), &error, -ENOENT, "no such snapshot");
	struct block_snapshot_info *list;
	size_t n;
	g_assert_cmpint(block_snapshot_list(bd, &list, &n), ==, 0);
	g_assert_cmpuint(n, ==, 2);
	g_assert_cmpstr(list[0].id, ==, "7");
	g_assert_cmpstr(list[0].name, ==, "before SP3");
	g_assert_cmpuint(list[0].vm_clock_ns, ==, 123456789);
	g_assert_cmpuint(list[0].disk_size, ==, IMG_SIZE);
	g_assert_cmpuint(list[0].vm_state_size, ==, 0);
	g_assert_cmpuint(list[0].date_sec, >=, before);
	g_assert_cmpuint(list[0].date_sec, <=, before + 60);
	g_assert_cmpuint(list[0].date_nsec, <, 1000000000);
	g_assert_cmpstr(list[1].id, ==, "8");
	g_assert_cmpstr(list[1].name, ==, "");
	block_snapshot_list_free(list, n);
	block_close(bd);
	check_image(path, false);
	g_autofree char *ids = qemu_list(path);
	g_assert_cmpstr(ids, ==, "7 before\n8 0\n"); /* the tag column of "8" is empty */
	g_autofree char *out = NULL;
	g_assert_cmpint(sh(&out, "qemu-img snapshot -l %s", path), ==, 0);
	g_assert_nonnull(strstr(out, "before SP3"));
	g_assert_nonnull(strstr(out, "00:00:00.123")); /* the VM clock */

	/* read-only: listing works, changes are refused */
	bd = open_ok(path, true);
	g_assert_cmpint(block_snapshot_list(bd, &list, &n), ==, 0);
	g_assert_cmpuint(n, ==, 2);
	block_snapshot_list_free(list, n);
	expect_refusal(block_snapshot_create(bd, "9", NULL, 0, &error), &error, -EROFS,
		       "read-only");
	expect_refusal(block_snapshot_goto(bd, "7", &error), &error, -EROFS, "read-only");
	block_close(bd);

	/* raw disks and memory disks cannot hold snapshots */
	g_autofree char *raw = tmp_path("plain.img");
	g_assert_cmpint(block_create_raw(raw, 1 << 20, &error), ==, 0);
	bd = open_ok(raw, false);
	expect_refusal(block_snapshot_create(bd, "1", NULL, 0, &error), &error, -ENOTSUP,
		       "plain.img: a raw disk cannot hold snapshots; convert it to qcow2");
	expect_refusal(block_snapshot_goto(bd, "1", &error), &error, -ENOTSUP, "qemu-img convert");
	expect_refusal(block_snapshot_delete(bd, "1", &error), &error, -ENOTSUP, "convert it");
	g_assert_cmpint(block_snapshot_list(bd, &list, &n), ==, -ENOTSUP);
	g_assert_cmpuint(n, ==, 0);
	block_close(bd);
	bd = block_open_memory(1 << 20);
	expect_refusal(block_snapshot_create(bd, "1", NULL, 0, &error), &error, -ENOTSUP,
		       "cannot hold snapshots");
	block_close(bd);
}

/* ---- contents: the snapshot keeps what the disk had, for every kind of image ---- */

struct region {
	uint64_t off;
	uint32_t len;
};

static unsigned regions_for(const struct kind *k, struct region *r)
{
	uint64_t cs = k->cluster_size;
	unsigned n = 0;
	r[n++] = (struct region){ 0, 4096 };
	r[n++] = (struct region){ 16 * cs - 512, 1024 }; /* across a cluster boundary */
	r[n++] = (struct region){ IMG_SIZE / 2 + 12345, 70000 };
	r[n++] = (struct region){ IMG_SIZE - 512, 512 };
	return n;
}

static char *io_read(uint8_t pat, uint64_t off, uint64_t len)
{
	return g_strdup_printf("read -P 0x%x %" G_GUINT64_FORMAT " %" G_GUINT64_FORMAT, pat, off,
			       len);
}

/* qemu-io commands: regions R[0..N) hold PATS[i]; then ZERO_OFF+ZERO_LEN reads zero. */
static void verify_qemu(const char *path, const char *snap, const struct region *r, unsigned n,
			const uint8_t *pats, uint64_t zero_off, uint64_t zero_len)
{
	g_autoptr(GPtrArray) cmds = g_ptr_array_new_with_free_func(g_free);
	for (unsigned i = 0; i < n; i++)
		g_ptr_array_add(cmds, io_read(pats[i], r[i].off, r[i].len));
	g_ptr_array_add(cmds, io_read(0, zero_off, zero_len));
	g_ptr_array_add(cmds, NULL);
	if (!snap) {
		qemu_io_v(path, (const char *const *)cmds->pdata);
		return;
	}
	g_autofree char *copy = tmp_path("qemu-applied.qcow2");
	g_assert_cmpint(sh(NULL, "cp %s %s && qemu-img snapshot -a %s %s", path, copy, snap, copy),
			==, 0);
	check_image(copy, false);
	qemu_io_v(copy, (const char *const *)cmds->pdata);
}

static void test_contents_kind(const struct kind *k)
{
	g_autofree char *path = make_image(k, k->name, IMG_SIZE);
	struct region r[8];
	unsigned n = regions_for(k, r);
	const uint64_t fresh = IMG_SIZE / 4; /* written only after the snapshot */
	struct block_dev *bd = open_ok(path, false);
	for (unsigned i = 0; i < n; i++)
		write_pattern(bd, r[i].off, r[i].len, 0x10 + i);
	char *error = NULL;
	int ret = block_snapshot_create(bd, "s1", "first", 0, &error);
	if (k->no_snapshots) {
		expect_refusal(ret, &error, -ERANGE, "refcount_bits 1");
		block_close(bd);
		check_image(path, false);
		g_autofree char *ids = qemu_list(path);
		g_assert_cmpstr(ids, ==, "");
		return;
	}
	snap_ok(ret, &error);
	/* change shared clusters in part and whole, discard one, write a fresh one */
	write_pattern(bd, r[0].off + 512, 1024, 0x20);
	write_pattern(bd, r[2].off, r[2].len, 0x22);
	g_assert_cmpint(
	    block_discard(bd, r[1].off & ~(uint64_t)(k->cluster_size - 1), k->cluster_size), ==, 0);
	write_pattern(bd, fresh, 8192, 0x25);
	expect_pattern(bd, r[0].off, 512, 0x10);
	expect_pattern(bd, r[0].off + 512, 1024, 0x20);
	expect_pattern(bd, r[1].off, 512, 0); /* discarded */
	expect_pattern(bd, r[1].off + 512, 512, 0x11);
	expect_pattern(bd, r[2].off, r[2].len, 0x22);
	block_close(bd);
	check_image(path, false);
	const uint8_t snap_pats[] = { 0x10, 0x11, 0x12, 0x13 };
	verify_qemu(path, "s1", r, n, snap_pats, fresh, 8192);

	/* pcvm reverts: the old contents, through pcvm and qemu-io */
	bd = open_ok(path, false);
	goto_ok(bd, "s1");
	for (unsigned i = 0; i < n; i++)
		expect_pattern(bd, r[i].off, r[i].len, 0x10 + i);
	expect_pattern(bd, fresh, 8192, 0);
	block_close(bd);
	check_image(path, false);
	verify_qemu(path, NULL, r, n, snap_pats, fresh, 8192);

	/* write after reverting, revert again, then delete: the disk keeps what it has */
	bd = open_ok(path, false);
	write_pattern(bd, r[3].off, r[3].len, 0x33);
	write_pattern(bd, fresh, 4096, 0x34);
	goto_ok(bd, "s1");
	expect_pattern(bd, r[3].off, r[3].len, 0x13);
	write_pattern(bd, r[0].off, 4096, 0x35);
	delete_ok(bd, "s1");
	expect_pattern(bd, r[0].off, 4096, 0x35);
	expect_pattern(bd, r[2].off, r[2].len, 0x12);
	write_pattern(bd, r[2].off, 512, 0x36); /* ours alone again: written in place */
	block_close(bd);
	check_image(path, false);
	qemu_io(path, "read -P 0x35 0 4096", "read -P 0x36 33566777 512");
	g_autofree char *ids = qemu_list(path);
	g_assert_cmpstr(ids, ==, "");
}

static void test_contents(void)
{
	if (!have_qemu())
		return;
	for (size_t k = 0; k < G_N_ELEMENTS(kinds); k++) {
		g_test_message("kind %s", kinds[k].name);
		test_contents_kind(&kinds[k]);
	}
}

/* Compressed clusters and a backing file are shared like any others. */
static void test_compressed_backing(void)
{
	if (!have_qemu())
		return;
	g_autofree char *raw = tmp_path("src.img");
	g_autofree char *comp = tmp_path("comp.qcow2");
	g_assert_cmpint(sh(NULL,
			   "qemu-img create -q -f raw %s 1M && qemu-io -f raw -c 'write -P 0xd1 0 "
			   "256k' %s >/dev/null && qemu-img convert -c -O qcow2 -o "
			   "cluster_size=4096 %s %s",
			   raw, raw, raw, comp),
			==, 0);
	struct block_dev *bd = open_ok(comp, false);
	create_ok(bd, "c", NULL);
	write_pattern(bd, 8192 + 100, 200, 0xd3);
	expect_pattern(bd, 8192 + 100, 200, 0xd3);
	block_close(bd);
	check_image(comp, false);
	qemu_io_snapshot(comp, "c", "read -P 0xd1 0 256k");
	bd = open_ok(comp, false);
	goto_ok(bd, "c");
	expect_pattern(bd, 0, 256 << 10, 0xd1);
	delete_ok(bd, "c");
	block_close(bd);
	check_image(comp, false);

	g_autofree char *top = tmp_path("top.qcow2");
	char *error = NULL;
	g_assert_cmpint(block_create_qcow2(top, 0, "comp.qcow2", &error), ==, 0);
	bd = open_ok(top, false);
	write_pattern(bd, 65536, 4096, 0xb1);
	create_ok(bd, "b", NULL);
	write_pattern(bd, 0, 4096, 0xb2);
	write_pattern(bd, 65536, 4096, 0xb3);
	goto_ok(bd, "b");
	expect_pattern(bd, 0, 4096, 0xd1); /* from the backing file again */
	expect_pattern(bd, 65536, 4096, 0xb1);
	block_close(bd);
	check_image(top, false);
	qemu_io(top, "read -P 0xd1 0 4k", "read -P 0xb1 64k 4k");
}

/* ---- with qemu-img ---- */

static void test_qemu_interop(void)
{
	if (!have_qemu())
		return;
	g_autofree char *path = tmp_path("interop.qcow2");
	g_assert_cmpint(sh(NULL, "qemu-img create -q -f qcow2 %s 16M", path), ==, 0);
	qemu_io(path, "write -P 0xa1 0 1M");
	g_assert_cmpint(sh(NULL, "qemu-img snapshot -c qsnap %s", path), ==, 0);
	qemu_io(path, "write -P 0xa2 0 64k", "write -P 0xa3 8M 64k");
	/* qemu-img's snapshot in pcvm: listed, reverted to, deleted */
	struct block_dev *bd = open_ok(path, false);
	struct block_snapshot_info *list;
	size_t n;
	g_assert_cmpint(block_snapshot_list(bd, &list, &n), ==, 0);
	g_assert_cmpuint(n, ==, 1);
	g_assert_cmpstr(list[0].id, ==, "1");
	g_assert_cmpstr(list[0].name, ==, "qsnap");
	g_assert_cmpuint(list[0].disk_size, ==, 16 << 20);
	block_snapshot_list_free(list, n);
	expect_pattern(bd, 0, 65536, 0xa2);
	goto_ok(bd, "1");
	expect_pattern(bd, 0, 1 << 20, 0xa1);
	expect_pattern(bd, 8 << 20, 65536, 0);
	block_close(bd);
	check_image(path, false);
	qemu_io(path, "read -P 0xa1 0 1M", "read -P 0 8M 64k");

	/* pcvm's snapshot next to it, applied by qemu-img */
	bd = open_ok(path, false);
	write_pattern(bd, 2 << 20, 65536, 0xa4);
	create_ok(bd, "2", "pcvm");
	write_pattern(bd, 2 << 20, 4096, 0xa5);
	block_close(bd);
	check_image(path, false);
	g_autofree char *ids = qemu_list(path);
	g_assert_cmpstr(ids, ==, "1 qsnap\n2 pcvm\n");
	qemu_io_snapshot(path, "2", "read -P 0xa1 0 1M", "read -P 0xa4 2M 64k");
	qemu_io_snapshot(path, "1", "read -P 0xa1 0 1M", "read -P 0 2M 64k");

	/* pcvm deletes qemu's, qemu-img deletes pcvm's */
	bd = open_ok(path, false);
	delete_ok(bd, "1");
	block_close(bd);
	check_image(path, false);
	g_free(ids);
	ids = qemu_list(path);
	g_assert_cmpstr(ids, ==, "2 pcvm\n");
	qemu_io(path, "read -P 0xa5 2M 4k", "read -P 0xa4 2101248 61440");
	g_assert_cmpint(sh(NULL, "qemu-img snapshot -d pcvm %s", path), ==, 0); /* by tag */
	check_image(path, false);
	/* and qemu-img takes one after pcvm's changes, which pcvm reverts to */
	g_assert_cmpint(sh(NULL, "qemu-img snapshot -c later %s", path), ==, 0);
	bd = open_ok(path, false);
	write_pattern(bd, 0, 1 << 20, 0xa6);
	g_assert_cmpint(block_snapshot_list(bd, &list, &n), ==, 0);
	g_assert_cmpuint(n, ==, 1);
	g_autofree char *qid = g_strdup(list[0].id);
	block_snapshot_list_free(list, n);
	goto_ok(bd, qid);
	expect_pattern(bd, 0, 1 << 20, 0xa1);
	expect_pattern(bd, 2 << 20, 4096, 0xa5);
	block_close(bd);
	check_image(path, false);
}

/* Reverting to a snapshot taken at another disk size brings that size back. */
static void test_resize(void)
{
	if (!have_qemu())
		return;
	g_autofree char *path = tmp_path("resize.qcow2");
	g_assert_cmpint(sh(NULL, "qemu-img create -q -f qcow2 %s 8M", path), ==, 0);
	qemu_io(path, "write -P 0xc1 0 64k");
	g_assert_cmpint(
	    sh(NULL, "qemu-img snapshot -c small %s && qemu-img resize -q %s 1G", path, path), ==,
	    0);
	struct block_dev *bd = open_ok(path, false);
	g_assert_cmpuint(block_size(bd), ==, 1 << 30);
	write_pattern(bd, 512 << 20, 65536, 0xc2);
	create_ok(bd, "big", NULL);
	goto_ok(bd, "1");
	g_assert_cmpuint(block_size(bd), ==, 8 << 20);
	expect_pattern(bd, 0, 65536, 0xc1);
	block_close(bd);
	check_image(path, false);
	g_autofree char *out = NULL;
	g_assert_cmpint(sh(&out, "qemu-img info %s", path), ==, 0);
	g_assert_nonnull(strstr(out, "virtual size: 8 MiB"));
	bd = open_ok(path, false);
	g_assert_cmpuint(block_size(bd), ==, 8 << 20);
	goto_ok(bd, "big");
	g_assert_cmpuint(block_size(bd), ==, 1 << 30);
	expect_pattern(bd, 512 << 20, 65536, 0xc2);
	block_close(bd);
	check_image(path, false);
}

/* ---- a tree: A, write, B, revert to A, write, C, delete A ---- */

static void test_tree(void)
{
	if (!have_qemu())
		return;
	g_autofree char *path = make_image(&kinds[0], "tree.qcow2", IMG_SIZE);
	struct block_dev *bd = open_ok(path, false);
	write_pattern(bd, 0, 1 << 20, 0x0a);
	create_ok(bd, "A", "root");
	write_pattern(bd, 0, 65536, 0x0b);
	write_pattern(bd, 4 << 20, 65536, 0x1b);
	create_ok(bd, "B", "branch 1");
	goto_ok(bd, "A");
	expect_pattern(bd, 0, 1 << 20, 0x0a);
	write_pattern(bd, 65536, 65536, 0x0c);
	write_pattern(bd, 8 << 20, 4096, 0x1c);
	create_ok(bd, "C", "branch 2");
	block_close(bd);
	check_image(path, false);
	bd = open_ok(path, false);
	delete_ok(bd, "A");
	block_close(bd);
	check_image(path, false);
	g_autofree char *ids = qemu_list(path);
	g_assert_cmpstr(ids, ==, "B branch\nC branch\n");
	qemu_io_snapshot(path, "B", "read -P 0x0b 0 64k", "read -P 0x0a 64k 960k",
			 "read -P 0x1b 4M 64k", "read -P 0 8M 4k");
	qemu_io_snapshot(path, "C", "read -P 0x0a 0 64k", "read -P 0x0c 64k 64k",
			 "read -P 0x0a 128k 896k", "read -P 0 4M 64k", "read -P 0x1c 8M 4k");
	bd = open_ok(path, false);
	write_pattern(bd, 0, 1 << 20, 0xff); /* the current state after C */
	goto_ok(bd, "B");
	expect_pattern(bd, 0, 65536, 0x0b);
	expect_pattern(bd, 65536, (1 << 20) - 65536, 0x0a);
	expect_pattern(bd, 4 << 20, 65536, 0x1b);
	goto_ok(bd, "C");
	expect_pattern(bd, 65536, 65536, 0x0c);
	expect_pattern(bd, 8 << 20, 4096, 0x1c);
	expect_pattern(bd, 4 << 20, 65536, 0);
	delete_ok(bd, "C");
	delete_ok(bd, "B");
	expect_pattern(bd, 65536, 65536, 0x0c); /* the disk keeps C's contents */
	block_close(bd);
	check_image(path, false);
	qemu_io(path, "read -P 0x0a 0 64k", "read -P 0x0c 64k 64k", "read -P 0x1c 8M 4k");
}

/* ---- many snapshots: the table grows over many clusters ---- */

static void test_many(void)
{
	if (!have_qemu())
		return;
	g_autofree char *path = tmp_path("many.qcow2");
	g_assert_cmpint(sh(NULL, "qemu-img create -q -f qcow2 -o cluster_size=512 %s 16M", path),
			==, 0);
	const unsigned count = 300;
	struct block_dev *bd = open_ok(path, false);
	for (unsigned i = 0; i < count; i++) {
		/* snapshot i sees sectors 0..i written with their number */
		write_pattern(bd, (uint64_t)i * 4096, 512, i & 0xff);
		g_autofree char *id = g_strdup_printf("%u", 1000 + i);
		g_autofree char *name = g_strdup_printf("snapshot number %u", i);
		create_ok(bd, id, name);
	}
	block_close(bd);
	check_image(path, false);
	g_assert_cmpuint(be_field(path, 60, 4), ==, count);
	g_autofree char *ids = qemu_list(path);
	g_auto(GStrv) lines = g_strsplit(ids, "\n", -1);
	g_assert_cmpuint(g_strv_length(lines) - 1, ==, count);
	g_assert_nonnull(strstr(ids, "1299 snapshot\n"));
	bd = open_ok(path, false);
	struct block_snapshot_info *list;
	size_t n;
	g_assert_cmpint(block_snapshot_list(bd, &list, &n), ==, 0);
	g_assert_cmpuint(n, ==, count);
	for (unsigned i = 0; i < count; i++) {
		g_autofree char *id = g_strdup_printf("%u", 1000 + i);
		g_autofree char *name = g_strdup_printf("snapshot number %u", i);
		g_assert_cmpstr(list[i].id, ==, id);
		g_assert_cmpstr(list[i].name, ==, name);
	}
	block_snapshot_list_free(list, n);
	/* every other one goes; the rest keep their contents */
	for (unsigned i = 0; i < count; i += 2) {
		g_autofree char *id = g_strdup_printf("%u", 1000 + i);
		delete_ok(bd, id);
	}
	block_close(bd);
	check_image(path, false);
	bd = open_ok(path, false);
	for (unsigned i = 1; i < count; i += 38) { /* the odd ones are left */
		g_autofree char *id = g_strdup_printf("%u", 1000 + i);
		goto_ok(bd, id);
		expect_pattern(bd, (uint64_t)i * 4096, 512, i & 0xff);
		expect_pattern(bd, (uint64_t)(i - 1) * 4096, 512, (i - 1) & 0xff);
		expect_pattern(bd, (uint64_t)(i + 1) * 4096, 512, 0);
	}
	block_close(bd);
	check_image(path, false);
	qemu_io_snapshot(path, "1297", "read -P 0x29 1216512 512", "read -P 0 1220608 512");
	/* all of them go: no clusters are left behind */
	bd = open_ok(path, false);
	for (unsigned i = 1; i < count; i += 2) {
		g_autofree char *id = g_strdup_printf("%u", 1000 + i);
		delete_ok(bd, id);
	}
	g_assert_cmpint(block_snapshot_list(bd, &list, &n), ==, 0);
	g_assert_cmpuint(n, ==, 0);
	block_snapshot_list_free(list, n);
	block_close(bd);
	check_image(path, false);
	g_assert_cmpuint(be_field(path, 60, 4), ==, 0);
}

/* ---- deleting frees what only the snapshot held ---- */

static void test_delete_frees(void)
{
	if (!have_qemu())
		return;
	g_autofree char *path = make_image(&kinds[0], "frees.qcow2", IMG_SIZE);
	const size_t len = 8 << 20;
	struct block_dev *bd = open_ok(path, false);
	write_pattern(bd, 0, len, 0x41);
	create_ok(bd, "1", NULL);
	write_pattern(bd, 0, len, 0x42); /* every cluster copied */
	block_close(bd);
	uint64_t with_snapshot = file_size(path);
	bd = open_ok(path, false);
	delete_ok(bd, "1");
	block_close(bd);
	check_image(path, false); /* no leaks: the snapshot's clusters are free */
	bd = open_ok(path, false);
	create_ok(bd, "2", NULL);
	write_pattern(bd, 0, len, 0x43); /* reuses the freed clusters */
	delete_ok(bd, "2");
	block_close(bd);
	check_image(path, false);
	g_assert_cmpuint(file_size(path), <=, with_snapshot + (1 << 20));
	qemu_io(path, "read -P 0x43 0 8M");
}

/* ---- the space only a snapshot holds ---- */

static uint64_t exclusive_ok(struct block_dev *bd, const char *id)
{
	char *error = NULL;
	uint64_t bytes = 0;
	if (qcow2_snapshot_exclusive_bytes(bd, id, &bytes, &error) < 0)
		g_error("%s", error);
	return bytes;
}

static uint64_t allocated_bytes(const char *path)
{
	struct stat st;
	g_assert_cmpint(stat(path, &st), ==, 0);
	return (uint64_t)st.st_blocks * 512;
}

/* Snapshots taken by qemu-img, data written by qemu-io: what each holds alone is what the
 * writes after it replaced, and QEMU frees about that much when it deletes it. */
static void test_exclusive_bytes(void)
{
	if (!have_qemu())
		return;
	const uint64_t cl = 64 << 10; /* qemu-img's default cluster size */
	g_autofree char *path = tmp_path("excl.qcow2");
	g_assert_cmpint(sh(NULL, "qemu-img create -q -f qcow2 %s 64M", path), ==, 0);
	qemu_io(path, "write -P 0x11 0 1M");
	g_assert_cmpint(sh(NULL, "qemu-img snapshot -c one %s", path), ==, 0);
	/* half of it replaced; a cluster the snapshot never had */
	qemu_io(path, "write -P 0x22 0 512k", "write -P 0x33 8M 64k");
	g_assert_cmpint(sh(NULL, "qemu-img snapshot -c two %s", path), ==, 0);
	qemu_io(path, "write -P 0x44 16M 64k"); /* the current state's alone */

	struct block_dev *bd = open_ok(path, true);
	/* one: the 8 replaced clusters, the L2 table the first write copied, its L1 table */
	uint64_t one = exclusive_ok(bd, "1");
	/* two: every data cluster it maps the current state maps too; its L1 table and the L2
	 * table the last write copied */
	uint64_t two = exclusive_ok(bd, "2");
	g_test_message("exclusive: one %" G_GUINT64_FORMAT " KiB, two %" G_GUINT64_FORMAT " KiB",
		       one >> 10, two >> 10);
	g_assert_cmpuint(one, ==, 10 * cl);
	g_assert_cmpuint(two, ==, 2 * cl);
	char *error = NULL;
	uint64_t bytes;
	g_assert_cmpint(qcow2_snapshot_exclusive_bytes(bd, "3", &bytes, &error), ==, -ENOENT);
	g_assert_nonnull(strstr(error, "no such snapshot"));
	g_free(error);
	block_close(bd);

	/* QEMU punches the clusters it frees: the data and the L2 table whole, the L1 table's
	 * few bytes (the rest of its cluster was never written) */
	uint64_t before = allocated_bytes(path);
	g_assert_cmpint(sh(NULL, "qemu-img snapshot -d one %s", path), ==, 0);
	uint64_t freed = before - allocated_bytes(path);
	g_test_message("qemu-img snapshot -d freed %" G_GUINT64_FORMAT " KiB", freed >> 10);
	g_assert_cmpuint(freed, >=, 9 * cl);
	g_assert_cmpuint(freed, <=, one);
	check_image(path, false);

	/* pcvm's own snapshot and writes: the same accounting. pcvm gives the current state
	 * copies of the L2 tables when it takes a snapshot (qcow2_commit.c), so the snapshot
	 * keeps its L2 table to itself from the start. */
	bd = open_ok(path, false);
	create_ok(bd, "3", NULL);
	g_assert_cmpuint(exclusive_ok(bd, "3"), ==, 2 * cl);
	/* a cluster only 3 and the current state had (16M), one new */
	write_pattern(bd, 16 << 20, 2 * cl, 0x55);
	g_assert_cmpuint(exclusive_ok(bd, "3"), ==, 3 * cl);
	/* a cluster 2 and 3 share (8M): replaced, but still not either's alone */
	write_pattern(bd, 8 << 20, cl, 0x66);
	g_assert_cmpuint(exclusive_ok(bd, "3"), ==, 3 * cl);
	g_assert_cmpuint(exclusive_ok(bd, "2"), ==, 2 * cl);
	block_close(bd);
	check_image(path, false);
}

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
		int ret = block_snapshot_goto(bd, list[i].id, &error);
		if (ret < 0) {
			g_assert_true(g_str_has_prefix(error, path));
			g_clear_pointer(&error, g_free);
		}
		static uint8_t buf[65536];
		block_pread(bd, buf, MIN(sizeof(buf), block_size(bd)), 0);
		ret = block_snapshot_create(bd, "new", NULL, 0, &error);
		if (ret < 0) {
			g_assert_true(g_str_has_prefix(error, path));
			g_clear_pointer(&error, g_free);
		}
		uint64_t bytes;
		if (qcow2_snapshot_exclusive_bytes(bd, list[i].id, &bytes, &error) < 0) {
			g_assert_true(g_str_has_prefix(error, path));
			g_clear_pointer(&error, g_free);
		}
		ret = block_snapshot_delete(bd, list[i].id, &error);
		if (ret < 0) {
			g_assert_true(g_str_has_prefix(error, path));
			g_clear_pointer(&error, g_free);
		}
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
	const struct {
		uint64_t off, len;
	} areas[] = { { 60, 12 }, { table, 160 }, { sl1, 64 }, { sl2, 4096 } };
	GRand *rand = g_rand_new_with_seed(4321);
	unsigned opened = 0;
	for (int round = 0; round < 300; round++) {
		g_autofree char *copy = g_memdup2(contents, len);
		int flips = g_rand_int_range(rand, 1, 4);
		for (int f = 0; f < flips; f++) {
			unsigned a = g_rand_int_range(rand, 0, G_N_ELEMENTS(areas));
			uint64_t at = areas[a].off + g_rand_int_range(rand, 0, areas[a].len);
			if (at < len)
				copy[at] ^= 1u << g_rand_int_range(rand, 0, 8);
		}
		g_assert_true(g_file_set_contents(path, copy, len, NULL));
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

static void crash_collect(int fd, GByteArray *acc)
{
	uint8_t buf[4096];
	ssize_t n;
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		g_byte_array_append(acc, buf, n);
}

/* Runs the child for a random while, kills it, brings the model up to date. */
static unsigned crash_round(const char *path, uint32_t seed, struct crash_state *st, GRand *rand)
{
	g_autofree char *seed_s = g_strdup_printf("%u", seed);
	char *argv[] = { self_exe, "--crash-child", (char *)path, seed_s, NULL };
	GPid pid;
	int out;
	g_assert_true(g_spawn_async_with_pipes(NULL, argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD, NULL,
					       NULL, &pid, NULL, &out, NULL, NULL));
	g_assert_cmpint(fcntl(out, F_SETFL, O_NONBLOCK), ==, 0);
	GByteArray *acc = g_byte_array_new();
	gint64 deadline = g_get_monotonic_time() + g_rand_int_range(rand, 50, 400) * 1000;
	while (g_get_monotonic_time() < deadline) {
		crash_collect(out, acc);
		g_usleep(1000);
	}
	kill(pid, SIGKILL);
	int status;
	waitpid(pid, &status, 0);
	g_assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL); /* not a failure */
	g_assert_cmpint(fcntl(out, F_SETFL, 0), ==, 0);
	crash_collect(out, acc);
	close(out);
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
	g_test_add_func("/qcow2-snapshot/create-list", test_create_list);
	g_test_add_func("/qcow2-snapshot/contents", test_contents);
	g_test_add_func("/qcow2-snapshot/compressed-backing", test_compressed_backing);
	g_test_add_func("/qcow2-snapshot/qemu-interop", test_qemu_interop);
	g_test_add_func("/qcow2-snapshot/resize", test_resize);
	g_test_add_func("/qcow2-snapshot/tree", test_tree);
	g_test_add_func("/qcow2-snapshot/many", test_many);
	g_test_add_func("/qcow2-snapshot/delete-frees", test_delete_frees);
	g_test_add_func("/qcow2-snapshot/exclusive-bytes", test_exclusive_bytes);
	g_test_add_func("/qcow2-snapshot/hostile/table", test_hostile_tables);
	g_test_add_func("/qcow2-snapshot/hostile/snapshot-tables", test_hostile_snapshot_tables);
	g_test_add_func("/qcow2-snapshot/crash/random", test_crash_random);
	g_test_add_func("/qcow2-snapshot/crash/points", test_crash_points);
	return run_tests();
}
