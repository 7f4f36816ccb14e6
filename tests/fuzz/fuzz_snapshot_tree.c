/*
 * libFuzzer target for the snapshot tree file, DIR/snapshots/index.conf (src/snapshot/tree.c).
 * The input is the file's text, optionally followed by a NUL byte and operations, one a line,
 * as `pcvm snapshot` and the control socket do them on the loaded tree:
 *   t NAME                    take: a new snapshot below the current one
 *   d WHICH                   delete (an id or a name)
 *   g WHICH                   revert: the current node moves there
 *   r WHICH<TAB>NAME[<TAB>DESC]  rename (and describe)
 *   l                         list (the text `pcvm snapshot list` prints)
 * A tree the loader accepts, and every tree the operations make of it, must be whole: ids
 * that are unique and can name files, parents that exist and form no loop, a current node that
 * exists, and a new snapshot never taking an id that is in use. Saved and loaded again it must
 * be the same tree.
 *
 * Any crash, sanitizer report, leak or abort is a bug: a damaged or hand-edited file is
 * refused with a message naming it. Seeds: tests/fuzz/tree-seeds/.
 */
#include <glib.h>
#include <glib/gstdio.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz_glib.h"
#include "snapshot/tree.h"

#define MAX_OPS 64

static char *tmp_dir, *tmp_index;

static void fail(const char *what, const struct snapshot_tree *t, const char *detail)
{
	g_autofree char *list = snapshot_tree_format(t, NULL, NULL);
	fprintf(stderr, "fuzz_snapshot_tree: %s (%s)\n--- tree:\n%s---\n", what,
		detail ? detail : "", list);
	abort();
}

/* ---- what every tree must be ---- */

static bool id_can_name_files(const char *id)
{
	return *id && !strchr(id, '/') && strcmp(id, ".") && strcmp(id, "..");
}

static void check_whole(const struct snapshot_tree *t)
{
	for (guint i = 0; i < t->nodes->len; i++) {
		const struct snapshot_node *n = g_ptr_array_index(t->nodes, i);
		if (!n->id || !n->name || !id_can_name_files(n->id))
			fail("a snapshot id cannot name its files", t, n->id);
		if (snapshot_tree_find(t, n->id) != n)
			fail("two snapshots have the same id", t, n->id);
		const char *p = n->parent;
		for (guint steps = 0; p; steps++) {
			const struct snapshot_node *pn = snapshot_tree_find(t, p);
			if (!pn)
				fail("a parent does not exist", t, n->id);
			if (steps > t->nodes->len)
				fail("the parents form a loop", t, n->id);
			p = pn->parent;
		}
	}
	if (t->current && !snapshot_tree_find(t, t->current))
		fail("the current node does not exist", t, t->current);
}

/* An absent description saves as empty; GKeyFile does not escape a leading form feed and drops
 * it when it reads the file (a description may hold any text). */
static bool same_text(const char *a, const char *b)
{
	a = a ? a + strspn(a, "\f") : "";
	b = b ? b + strspn(b, "\f") : "";
	return !strcmp(a, b);
}

/* Saved and loaded again: the same tree. */
static void check_save_load(const struct snapshot_tree *t)
{
	char *error = NULL;
	if (snapshot_tree_save(t, tmp_index, &error) < 0)
		fail("the tree cannot be saved", t, error);
	struct snapshot_tree u;
	snapshot_tree_init(&u);
	if (snapshot_tree_load(&u, tmp_index, &error) < 0)
		fail("a saved tree does not load", t, error);
	if (u.nodes->len != t->nodes->len || g_strcmp0(u.current, t->current) ||
	    u.next_id != t->next_id)
		fail("save and load changed the tree", t, "nodes, current or next id");
	for (guint i = 0; i < t->nodes->len; i++) {
		const struct snapshot_node *a = g_ptr_array_index(t->nodes, i);
		const struct snapshot_node *b = g_ptr_array_index(u.nodes, i);
		if (strcmp(a->id, b->id) || g_strcmp0(a->parent, b->parent) ||
		    strcmp(a->name, b->name) || !same_text(a->description, b->description) ||
		    a->time != b->time || a->has_memory != b->has_memory)
			fail("save and load changed a snapshot", t, a->id);
	}
	snapshot_tree_clear(&u);
	g_unlink(tmp_index);
}

/* ---- operations ---- */

static void op_take(struct snapshot_tree *t, const char *name)
{
	g_autoptr(GHashTable) ids = g_hash_table_new(g_str_hash, g_str_equal);
	for (guint i = 0; i < t->nodes->len; i++)
		g_hash_table_add(ids, ((struct snapshot_node *)g_ptr_array_index(t->nodes, i))->id);
	struct snapshot_node *n = snapshot_tree_add(t, name, NULL, 1700000000, true);
	if (g_hash_table_contains(ids, n->id))
		fail("a new snapshot took an id in use", t, n->id);
}

static void op_delete(struct snapshot_tree *t, const char *which)
{
	struct snapshot_node *n = snapshot_tree_lookup(t, which);
	char *error = NULL;
	if (n) {
		g_autofree char *id = g_strdup(n->id); /* as pc_snapshot_delete: n goes */
		if (snapshot_tree_remove(t, id, &error) < 0)
			fail("a snapshot found cannot be deleted", t, error);
	}
}

static void op_goto(struct snapshot_tree *t, const char *which)
{
	struct snapshot_node *n = snapshot_tree_lookup(t, which);
	if (n) {
		g_free(t->current);
		t->current = g_strdup(n->id);
	}
}

static void op_rename(struct snapshot_tree *t, const char *args)
{
	g_auto(GStrv) f = g_strsplit(args, "\t", 3);
	if (!f[0] || !f[1])
		return;
	char *error = NULL;
	if (snapshot_tree_rename(t, f[0], f[1], f[2], &error) < 0) {
		if (!error)
			fail("a refused rename says nothing", t, args);
		g_free(error);
	}
}

static void run_op(struct snapshot_tree *t, const char *line)
{
	if (!line[0] || (line[1] && line[1] != ' '))
		return;
	const char *arg = line[1] ? line + 2 : "";
	switch (line[0]) {
	case 't': op_take(t, arg); break;
	case 'd': op_delete(t, arg); break;
	case 'g': op_goto(t, arg); break;
	case 'r': op_rename(t, arg); break;
	case 'l': g_free(snapshot_tree_format(t, tmp_dir, NULL)); break;
	}
}

/* ---- the target ---- */

static void cleanup(void)
{
	g_unlink(tmp_index);
	g_rmdir(tmp_dir);
	g_free(tmp_index);
	g_free(tmp_dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_glib_fatal_criticals();
	tmp_dir = g_dir_make_tmp("pcvm-fuzz-tree-XXXXXX", NULL);
	if (!tmp_dir)
		abort();
	tmp_index = g_build_filename(tmp_dir, "index.conf", NULL);
	atexit(cleanup);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nul = memchr(data, 0, size);
	size_t text_len = nul ? (size_t)(nul - data) : size;
	g_autofree char *ops = nul ? g_strndup((const char *)nul + 1, size - text_len - 1) : NULL;

	int fd = memfd_create("index.conf", MFD_CLOEXEC);
	if (fd < 0 || write(fd, data, text_len) != (ssize_t)text_len)
		abort();
	char path[64], *error = NULL;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	struct snapshot_tree t;
	snapshot_tree_init(&t);
	int ret = snapshot_tree_load(&t, path, &error);
	close(fd);
	if (ret < 0) {
		if (!error || (t.nodes && t.nodes->len) || t.current)
			fail("a refused file leaves a tree or says nothing", &t, error);
		g_free(error);
	} else {
		check_whole(&t);
		g_free(snapshot_tree_format(&t, NULL, NULL));
		check_save_load(&t);
		g_auto(GStrv) lines = g_strsplit(ops ? ops : "", "\n", MAX_OPS);
		for (int i = 0; lines[i]; i++) {
			run_op(&t, lines[i]);
			check_whole(&t);
		}
		check_save_load(&t);
	}
	snapshot_tree_clear(&t);
	return 0;
}
