/*
 * qcow2 internal snapshots (block_snapshot_*) against qemu-img and qemu-io as oracles:
 * `qemu-img snapshot -l` lists what pcvm takes and `qemu-img check` finds the image clean
 * after every operation; snapshots keep their contents while the disk changes (read back
 * by pcvm and by qemu-io after `qemu-img snapshot -a`); qemu-img's snapshots work in pcvm
 * and pcvm's in qemu-img; many snapshots; a tree; kill -9 at random moments and before
 * every single write of an operation; hostile snapshot tables.
 * Tests that need qemu-img/qemu-io (and strace) skip where they are missing.
 *
 * This program: all but the hostile tables and the kills, which test_qcow2_snapshot_crash.c
 * holds; what they share is in qcow2_snapshot_util.c.
 */
#include <errno.h>
#include <glib.h>
#include <string.h>
#include <sys/stat.h>

#include "block/block.h"
#include "block/qcow2.h"
#include "qcow2_fixtures.h"
#include "qcow2_snapshot_util.h"

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

/* The operation fails with RET and a message containing WHAT. */
static void expect_refusal(int got, char **error, int ret, const char *what)
{
	if (got != ret || !*error || !strstr(*error, what))
		g_error("got %d '%s', want %d '%s'", got, *error ? *error : "(none)", ret, what);
	g_clear_pointer(error, g_free);
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

int main(int argc, char **argv)
{
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
	return run_tests();
}
