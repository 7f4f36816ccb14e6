/*
 * Renaming snapshots (snapshot_tree_rename, snapshot_offline_rename: what `pcvm snapshot
 * rename` does with the VM off; the running VM's snapshot-rename uses the same tree call):
 * by id or by name, the description changed or kept, what a name may not be, and index.conf
 * written back whole with everything else of the node as it was.
 */
#include <glib.h>
#include <glib/gstdio.h>
#include <stdlib.h>
#include <string.h>

#include "bundle.h"
#include "snapshot/offline.h"
#include "snapshot/tree.h"

static void rename_ok(struct snapshot_tree *t, const char *which, const char *name,
		      const char *description)
{
	char *error = NULL;
	if (snapshot_tree_rename(t, which, name, description, &error) < 0)
		g_error("%s", error);
}

static void rename_refused(struct snapshot_tree *t, const char *which, const char *name,
			   const char *description, const char *text)
{
	char *error = NULL;
	g_assert_cmpint(snapshot_tree_rename(t, which, name, description, &error), ==, -1);
	if (!strstr(error, text))
		g_error("expected '%s' in: %s", text, error);
	g_free(error);
}

static void test_tree(void)
{
	struct snapshot_tree t;
	snapshot_tree_init(&t);
	struct snapshot_node *a = snapshot_tree_add(&t, "base", "the install", 100, true);
	struct snapshot_node *b = snapshot_tree_add(&t, "updates", NULL, 200, false);
	rename_ok(&t, "base", "  clean install  ", NULL); /* by name; trimmed; description kept */
	g_assert_cmpstr(a->name, ==, "clean install");
	g_assert_cmpstr(a->description, ==, "the install");
	rename_ok(&t, b->id, "SP3 ✓", "line one\nline two"); /* by id; UTF-8; two lines */
	g_assert_cmpstr(b->name, ==, "SP3 ✓");
	g_assert_cmpstr(b->description, ==, "line one\nline two");
	rename_ok(&t, a->id, "clean install", ""); /* an empty description clears it */
	g_assert_cmpstr(a->description, ==, "");
	g_assert_cmpint(a->time, ==, 100);
	g_assert_true(a->has_memory);
	g_assert_cmpstr(b->parent, ==, a->id);
	g_assert_cmpstr(t.current, ==, b->id);

	rename_refused(&t, "nope", "x", NULL, "no snapshot 'nope'");
	rename_refused(&t, a->id, "", NULL, "the new name is empty");
	rename_refused(&t, a->id, " \t ", NULL, "must be one line"); /* a tab is a control */
	rename_refused(&t, a->id, "   ", NULL, "the new name is empty");
	rename_refused(&t, a->id, "two\nlines", NULL, "must be one line");
	rename_refused(&t, a->id, "bad \xff byte", NULL, "is not valid UTF-8");
	rename_refused(&t, a->id, "ok", "bad \xc3", "the description is not valid UTF-8");
	g_autofree char *long_name = g_strnfill(5000, 'x');
	rename_refused(&t, a->id, long_name, NULL, "is too long");
	g_assert_cmpstr(a->name, ==, "clean install"); /* nothing changed by a refusal */
	snapshot_tree_clear(&t);
}

/* With the VM off: index.conf holds the new name; the rest of the tree is untouched. */
static void test_offline(void)
{
	g_autofree char *tmp = g_dir_make_tmp("pcvm-rename-XXXXXX", NULL);
	g_autofree char *dir = g_build_filename(tmp, "vm.pcvm", NULL);
	struct bundle_create_opts o = { .name = "rename test", .disk_size = 1 << 20 };
	char *error = NULL;
	g_assert_cmpint(bundle_create(dir, &o, &error), ==, 0);
	struct vm_config cfg;
	vm_config_init(&cfg);
	g_assert_cmpint(bundle_load_config(dir, &cfg, &error), ==, 0);
	g_autofree char *id1 = NULL, *id2 = NULL;
	g_assert_cmpint(snapshot_offline_take(dir, &cfg, "first", "one", &id1, &error), ==, 0);
	g_assert_cmpint(snapshot_offline_take(dir, &cfg, "second", NULL, &id2, &error), ==, 0);
	g_autofree char *index = g_build_filename(dir, "snapshots", "index.conf", NULL);
	struct snapshot_tree before;
	snapshot_tree_init(&before);
	g_assert_cmpint(snapshot_tree_load(&before, index, &error), ==, 0);

	g_assert_cmpint(snapshot_offline_rename(dir, &cfg, "first", "renamed", "new words",
						&error),
			==, 0);
	g_assert_cmpint(snapshot_offline_rename(dir, &cfg, "nope", "x", NULL, &error), ==, -1);
	g_assert_nonnull(strstr(error, "no snapshot 'nope'"));
	g_clear_pointer(&error, g_free);
	g_assert_cmpint(snapshot_offline_rename(dir, &cfg, id2, "", NULL, &error), ==, -1);
	g_clear_pointer(&error, g_free);

	struct snapshot_tree t;
	snapshot_tree_init(&t);
	g_assert_cmpint(snapshot_tree_load(&t, index, &error), ==, 0);
	const struct snapshot_node *n1 = snapshot_tree_find(&t, id1);
	const struct snapshot_node *n2 = snapshot_tree_find(&t, id2);
	const struct snapshot_node *o1 = snapshot_tree_find(&before, id1);
	g_assert_cmpstr(n1->name, ==, "renamed");
	g_assert_cmpstr(n1->description, ==, "new words");
	g_assert_cmpint(n1->time, ==, o1->time);
	g_assert_cmpint(n1->has_memory, ==, o1->has_memory);
	g_assert_cmpstr(n2->name, ==, "second");
	g_assert_cmpstr(n2->parent, ==, id1);
	g_assert_cmpstr(t.current, ==, before.current);
	g_assert_cmpuint(t.next_id, ==, before.next_id);
	/* "first" is no name any more: the old name finds nothing */
	g_assert_null(snapshot_tree_lookup(&t, "first"));
	snapshot_tree_clear(&t);
	snapshot_tree_clear(&before);
	vm_config_clear(&cfg);
	g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", tmp);
	g_assert_cmpint(system(cmd), ==, 0);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/snapshot-rename/tree", test_tree);
	g_test_add_func("/snapshot-rename/offline", test_offline);
	return g_test_run();
}
