/* The snapshot tree: VMware semantics for add, revert and delete, its file, its text and JSON. */
#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>

#include "snapshot/tree.h"

static void test_add_and_branch(void)
{
	struct snapshot_tree t;
	snapshot_tree_init(&t);
	struct snapshot_node *a = snapshot_tree_add(&t, "base", NULL, 100, true);
	struct snapshot_node *b = snapshot_tree_add(&t, "before SP3", "d", 200, true);
	g_assert_cmpstr(b->parent, ==, a->id);
	g_assert_cmpstr(t.current, ==, b->id);
	/* revert to a, then a new snapshot branches off a */
	g_free(t.current);
	t.current = g_strdup(a->id);
	struct snapshot_node *c = snapshot_tree_add(&t, "other branch", NULL, 300, false);
	g_assert_cmpstr(c->parent, ==, a->id);
	g_autoptr(GPtrArray) kids = snapshot_tree_children(&t, a->id);
	g_assert_cmpuint(kids->len, ==, 2);
	g_assert_true(snapshot_tree_lookup(&t, "before SP3") == b);
	g_assert_true(snapshot_tree_lookup(&t, c->id) == c);
	g_assert_null(snapshot_tree_lookup(&t, "nope"));
	g_autofree char *text = snapshot_tree_format(&t, NULL, NULL);
	g_assert_nonnull(strstr(text, "other branch  [disk]"));
	g_assert_nonnull(strstr(text, "<- you are here"));
	snapshot_tree_clear(&t);
}

static void test_delete_middle_keeps_children(void)
{
	struct snapshot_tree t;
	snapshot_tree_init(&t);
	struct snapshot_node *a = snapshot_tree_add(&t, "a", NULL, 1, true);
	g_autofree char *a_id = g_strdup(a->id);
	struct snapshot_node *b = snapshot_tree_add(&t, "b", NULL, 2, true);
	g_autofree char *b_id = g_strdup(b->id);
	struct snapshot_node *c = snapshot_tree_add(&t, "c", NULL, 3, true);
	struct snapshot_node *d = snapshot_tree_add(&t, "d", NULL, 4, true);
	(void)d;
	g_free(t.current);
	t.current = g_strdup(b_id);
	char *error = NULL;
	g_assert_cmpint(snapshot_tree_remove(&t, b_id, &error), ==, 0);
	g_assert_cmpstr(c->parent, ==, a_id); /* b's child now hangs below a */
	g_assert_cmpstr(t.current, ==, a_id); /* you were at b: now at its parent */
	g_assert_cmpint(snapshot_tree_remove(&t, "42", &error), ==, -1);
	g_assert_nonnull(strstr(error, "no snapshot"));
	g_free(error);
	/* deleting the root leaves its children as roots */
	g_assert_cmpint(snapshot_tree_remove(&t, a_id, &error), ==, 0);
	g_assert_null(c->parent);
	g_assert_null(t.current);
	snapshot_tree_clear(&t);
}

static void test_file_round_trip_and_ids_not_reused(void)
{
	g_autofree char *dir = g_dir_make_tmp("pcvm-tree-XXXXXX", NULL);
	g_autofree char *path = g_build_filename(dir, "index.conf", NULL);
	struct snapshot_tree t;
	snapshot_tree_init(&t);
	snapshot_tree_add(&t, "one", "first; with = signs", 10, true);
	struct snapshot_node *two = snapshot_tree_add(&t, "two", NULL, 20, false);
	char *error = NULL;
	g_assert_cmpint(snapshot_tree_remove(&t, two->id, &error), ==, 0);
	g_assert_cmpint(snapshot_tree_save(&t, path, &error), ==, 0);
	struct snapshot_tree u;
	snapshot_tree_init(&u);
	g_assert_cmpint(snapshot_tree_load(&u, path, &error), ==, 0);
	g_assert_cmpuint(u.nodes->len, ==, 1);
	struct snapshot_node *one = snapshot_tree_lookup(&u, "one");
	g_assert_cmpstr(one->description, ==, "first; with = signs");
	g_assert_true(one->has_memory);
	g_assert_cmpint(one->time, ==, 10);
	g_assert_cmpstr(u.current, ==, one->id);
	struct snapshot_node *three = snapshot_tree_add(&u, "three", NULL, 30, true);
	g_assert_cmpstr(three->id, ==, "3"); /* "2" was deleted: ids are never reused */
	snapshot_tree_clear(&t);
	snapshot_tree_clear(&u);
	g_unlink(path);
	g_rmdir(dir);
}

static void test_sizes_in_list(void)
{
	g_autofree char *dir = g_dir_make_tmp("pcvm-tree-XXXXXX", NULL);
	struct snapshot_tree t;
	snapshot_tree_init(&t);
	struct snapshot_node *n = snapshot_tree_add(&t, "with files", NULL, 1, true);
	g_autofree char *ram = g_strdup_printf("%s/%s.ram", dir, n->id);
	g_autofree char *big = g_malloc0(64 * 1024);
	memset(big, 0x5A, 64 * 1024);
	g_assert_true(g_file_set_contents(ram, big, 64 * 1024, NULL));
	g_autofree char *text = snapshot_tree_format(&t, dir, NULL);
	g_assert_nonnull(strstr(text, "memory 64")); /* 64 KiB written, as allocated on disk */
	g_assert_nonnull(strstr(text, "KiB"));
	g_assert_null(strstr(text, "disk 36"));
	/* and the disk space only it holds, when known; a disk-only snapshot shows only that */
	struct snapshot_node *d = snapshot_tree_add(&t, "disk only", NULL, 2, false);
	g_autoptr(GHashTable) disk = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	uint64_t v = 36ull << 20, w = 0;
	g_hash_table_insert(disk, g_strdup(n->id), g_memdup2(&v, sizeof(v)));
	g_hash_table_insert(disk, g_strdup(d->id), g_memdup2(&w, sizeof(w)));
	g_autofree char *both = snapshot_tree_format(&t, dir, disk);
	g_autofree char *line1 = g_strdup_printf("%s  with files  [memory+disk]", n->id);
	g_autofree char *line2 = g_strdup_printf("%s  disk only  [disk]", d->id);
	g_assert_nonnull(strstr(both, line1));
	g_assert_nonnull(strstr(both, line2));
	g_assert_nonnull(strstr(both, "KiB, disk 36.0"));
	g_assert_null(strstr(strstr(both, line2), "memory"));
	g_assert_nonnull(strstr(strstr(both, line2), "disk 0"));
	g_autofree char *bare = snapshot_tree_format(&t, NULL, NULL);
	g_assert_null(strstr(bare, "KiB"));
	g_unlink(ram);
	g_rmdir(dir);
	snapshot_tree_clear(&t);
}

static void test_damaged_files(void)
{
	g_autofree char *dir = g_dir_make_tmp("pcvm-tree-XXXXXX", NULL);
	g_autofree char *path = g_build_filename(dir, "index.conf", NULL);
	static const char *const bad[] = {
		"[snapshot 1]\nparent=9\nname=x\n",			     /* missing parent */
		"[snapshot 1]\nparent=2\n[snapshot 2]\nparent=1\n",	     /* a loop */
		"[tree]\ncurrent=5\n",					     /* no such current */
		"this is not a key file\n",
	};
	for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
		g_assert_true(g_file_set_contents(path, bad[i], -1, NULL));
		struct snapshot_tree t;
		snapshot_tree_init(&t);
		char *error = NULL;
		g_assert_cmpint(snapshot_tree_load(&t, path, &error), ==, -1);
		g_assert_nonnull(error);
		g_free(error);
		snapshot_tree_clear(&t);
	}
	/* no file: an empty tree */
	g_unlink(path);
	struct snapshot_tree t;
	snapshot_tree_init(&t);
	char *error = NULL;
	g_assert_cmpint(snapshot_tree_load(&t, path, &error), ==, 0);
	g_assert_cmpuint(t.nodes->len, ==, 0);
	snapshot_tree_clear(&t);
	g_rmdir(dir);
}

/* Ids name the snapshot's files and disk snapshots: a hand-edited id that is not one pcvm
 * gives, or a next-id that would wrap, is refused (fuzz_snapshot_tree found both). */
static void test_bad_ids(void)
{
	g_autofree char *dir = g_dir_make_tmp("pcvm-tree-XXXXXX", NULL);
	g_autofree char *path = g_build_filename(dir, "index.conf", NULL);
	static const struct {
		const char *text, *message;
	} bad[] = {
		{ "[tree]\ncurrent=../../x\n[snapshot ../../x]\nname=a\n",
		  "[snapshot ../../x]: not a snapshot id" },
		{ "[snapshot 01]\nname=a\n", "[snapshot 01]: not a snapshot id" },
		{ "[snapshot 4294967297]\nname=a\n", "[snapshot 4294967297]: not a snapshot id" },
		{ "[tree]\nnext-id=4294967295\n[snapshot 1]\nname=a\n",
		  "next-id=4294967295 is out of range" },
	};
	for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
		g_assert_true(g_file_set_contents(path, bad[i].text, -1, NULL));
		struct snapshot_tree t;
		snapshot_tree_init(&t);
		char *error = NULL;
		g_assert_cmpint(snapshot_tree_load(&t, path, &error), ==, -1);
		if (!strstr(error, bad[i].message) || !strstr(error, "index.conf"))
			g_error("expected '%s' in: %s", bad[i].message, error);
		g_free(error);
		g_assert_null(t.nodes); /* a refused file leaves nothing held */
		snapshot_tree_clear(&t);
	}
	g_unlink(path);
	g_rmdir(dir);
}

/* A long chain (hand-made: each snapshot the child of the one before) loads and lists in time
 * linear in its length (the checks walked every chain from every node: hours for this one);
 * a file with more snapshots than pcvm keeps is refused. */
static void test_long_chain(void)
{
	g_autofree char *dir = g_dir_make_tmp("pcvm-tree-XXXXXX", NULL);
	g_autofree char *path = g_build_filename(dir, "index.conf", NULL);
	GString *text = g_string_new("[tree]\ncurrent=4000\nnext-id=4001\n");
	for (unsigned i = 1; i <= 4000; i++) {
		g_string_append_printf(text, "[snapshot %u]\nparent=", i);
		if (i > 1)
			g_string_append_printf(text, "%u", i - 1);
		g_string_append_printf(text, "\nname=s%u\n", i);
	}
	g_assert_true(g_file_set_contents(path, text->str, text->len, NULL));
	struct snapshot_tree t;
	snapshot_tree_init(&t);
	char *error = NULL;
	g_assert_cmpint(snapshot_tree_load(&t, path, &error), ==, 0);
	g_assert_cmpuint(t.nodes->len, ==, 4000);
	g_autofree char *list = snapshot_tree_format(&t, NULL, NULL);
	g_assert_nonnull(strstr(list, "4000  s4000  [disk]"));
	snapshot_tree_clear(&t);

	g_string_assign(text, "");
	for (unsigned i = 1; i <= 10001; i++)
		g_string_append_printf(text, "[snapshot %u]\n", i);
	g_assert_true(g_file_set_contents(path, text->str, text->len, NULL));
	snapshot_tree_init(&t);
	g_assert_cmpint(snapshot_tree_load(&t, path, &error), ==, -1);
	g_assert_nonnull(strstr(error, "10001 snapshots: more than pcvm keeps (10000)"));
	g_free(error);
	snapshot_tree_clear(&t);
	g_string_free(text, TRUE);
	g_unlink(path);
	g_rmdir(dir);
}

/* A take is refused up front when the tree holds the most snapshots a file may hold when read,
 * or when the new id would leave the file a next-id it refuses: a tree written past either
 * could not be read back. */
static void test_full_tree(void)
{
	g_autofree char *dir = g_dir_make_tmp("pcvm-tree-XXXXXX", NULL);
	g_autofree char *path = g_build_filename(dir, "index.conf", NULL);
	struct snapshot_tree t;
	snapshot_tree_init(&t);
	char *error = NULL;
	for (unsigned i = 0; i < 10000; i++) {
		g_assert_cmpint(snapshot_tree_check_room(&t, &error), ==, 0);
		snapshot_tree_add(&t, "s", NULL, i, false);
	}
	g_assert_cmpint(snapshot_tree_save(&t, path, &error), ==, 0);
	g_assert_cmpint(snapshot_tree_load(&t, path, &error), ==, 0); /* the most: still read */
	g_assert_cmpuint(t.nodes->len, ==, 10000);
	g_assert_cmpint(snapshot_tree_check_room(&t, &error), ==, -1);
	g_assert_nonnull(strstr(error, "there are 10000 snapshots, the most pcvm keeps"));
	g_clear_pointer(&error, g_free);
	/* one more would have made a file that cannot be read */
	snapshot_tree_add(&t, "s", NULL, 0, false);
	g_assert_cmpint(snapshot_tree_save(&t, path, &error), ==, 0);
	g_assert_cmpint(snapshot_tree_load(&t, path, &error), ==, -1);
	g_clear_pointer(&error, g_free);
	snapshot_tree_clear(&t);

	/* the last id a file may name in next-id */
	g_assert_true(g_file_set_contents(path, "[tree]\nnext-id=999999998\n", -1, NULL));
	snapshot_tree_init(&t);
	g_assert_cmpint(snapshot_tree_load(&t, path, &error), ==, 0);
	g_assert_cmpint(snapshot_tree_check_room(&t, &error), ==, 0);
	snapshot_tree_add(&t, "last", NULL, 1, false);
	g_assert_cmpint(snapshot_tree_save(&t, path, &error), ==, 0);
	g_assert_cmpint(snapshot_tree_load(&t, path, &error), ==, 0);
	g_assert_nonnull(snapshot_tree_find(&t, "999999998"));
	g_assert_cmpint(snapshot_tree_check_room(&t, &error), ==, -1);
	g_assert_nonnull(strstr(error, "no snapshot id is left"));
	g_clear_pointer(&error, g_free);
	snapshot_tree_add(&t, "past", NULL, 2, false);
	g_assert_cmpint(snapshot_tree_save(&t, path, &error), ==, 0);
	g_assert_cmpint(snapshot_tree_load(&t, path, &error), ==, -1);
	g_clear_pointer(&error, g_free);
	snapshot_tree_clear(&t);
	g_unlink(path);
	g_rmdir(dir);
}

/* A name in another encoding (a Latin-1 terminal) or with control characters must not read
 * back as no name at all; and clear frees the tree (no array left behind for nobody to free). */
static void test_name_not_utf8_and_clear(void)
{
	g_autofree char *dir = g_dir_make_tmp("pcvm-tree-XXXXXX", NULL);
	g_autofree char *path = g_build_filename(dir, "index.conf", NULL);
	struct snapshot_tree t;
	snapshot_tree_init(&t);
	snapshot_tree_add(&t, "caf\xe9", "d\xe9j\xe0", 1, false);
	char *error = NULL;
	g_assert_cmpint(snapshot_tree_save(&t, path, &error), ==, 0);
	snapshot_tree_clear(&t);
	g_assert_null(t.nodes);
	g_assert_null(t.current);
	snapshot_tree_init(&t);
	g_assert_cmpint(snapshot_tree_load(&t, path, &error), ==, 0);
	struct snapshot_node *n = g_ptr_array_index(t.nodes, 0);
	g_assert_cmpstr(n->name, ==, "caf\xef\xbf\xbd"); /* U+FFFD for the byte */
	/* a name is one line, trimmed, as rename makes it: a leading form feed, which GKeyFile
	 * writes as it is and drops when it reads, left the name empty */
	struct snapshot_node *ff = snapshot_tree_add(&t, "\f", NULL, 2, false);
	g_assert_cmpstr(ff->name, ==, ff->id);
	struct snapshot_node *tab = snapshot_tree_add(&t, " two\tlines\n", NULL, 3, false);
	g_assert_cmpstr(tab->name, ==, "two lines");
	g_assert_cmpstr(n->description, ==, "d\xef\xbf\xbdj\xef\xbf\xbd");
	snapshot_tree_clear(&t);
	g_unlink(path);
	g_rmdir(dir);
}

/* A member of snapshot-list's JSON for node ID. */
static JsonObject *json_node_of(JsonArray *a, const char *id)
{
	for (guint i = 0; i < json_array_get_length(a); i++) {
		JsonObject *o = json_array_get_object_element(a, i);
		if (!g_strcmp0(json_object_get_string_member(o, "id"), id))
			return o;
	}
	g_assert_not_reached();
}

static JsonNode *tree_json(const struct snapshot_tree *t, const char *dir, GHashTable *disk)
{
	g_autoptr(JsonBuilder) b = json_builder_new();
	json_builder_begin_object(b);
	snapshot_tree_json(t, dir, disk, b);
	json_builder_end_object(b);
	return json_builder_get_root(b);
}

/* take A, take B, back to A, take C: what the control socket's snapshot-list answers */
static void test_json(void)
{
	g_autofree char *dir = g_dir_make_tmp("pcvm-tree-XXXXXX", NULL);
	struct snapshot_tree t;
	snapshot_tree_init(&t);
	g_autoptr(JsonNode) empty = tree_json(&t, dir, NULL);
	g_assert_true(json_object_get_null_member(json_node_get_object(empty), "current"));
	struct snapshot_node *a = snapshot_tree_add(&t, "A", "first", 1700000000, true);
	struct snapshot_node *b = snapshot_tree_add(&t, "B", NULL, 1700000100, true);
	g_free(t.current);
	t.current = g_strdup(a->id);
	struct snapshot_node *c = snapshot_tree_add(&t, "C", NULL, 1700000200, false);
	g_autofree char *png = g_strdup_printf("%s/%s.png", dir, a->id);
	g_autofree char *ram = g_strdup_printf("%s/%s.ram", dir, a->id);
	g_autofree char *big = g_malloc0(64 * 1024);
	memset(big, 0x5A, 64 * 1024);
	g_assert_true(g_file_set_contents(ram, big, 64 * 1024, NULL));
	g_assert_true(g_file_set_contents(png, "png", 3, NULL));
	g_autoptr(GHashTable) disk = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	uint64_t v = 36ull << 20;
	g_hash_table_insert(disk, g_strdup(b->id), g_memdup2(&v, sizeof(v)));

	g_autoptr(JsonNode) root = tree_json(&t, dir, disk);
	JsonObject *o = json_node_get_object(root);
	g_assert_cmpstr(json_object_get_string_member(o, "current"), ==, c->id);
	JsonArray *snaps = json_object_get_array_member(o, "snapshots");
	g_assert_cmpuint(json_array_get_length(snaps), ==, 3);
	JsonObject *ja = json_node_of(snaps, a->id), *jb = json_node_of(snaps, b->id),
		   *jc = json_node_of(snaps, c->id);
	g_assert_true(json_object_get_null_member(ja, "parent"));
	g_assert_cmpstr(json_object_get_string_member(jb, "parent"), ==, a->id);
	g_assert_cmpstr(json_object_get_string_member(jc, "parent"), ==, a->id);
	g_assert_cmpstr(json_object_get_string_member(ja, "name"), ==, "A");
	g_assert_cmpstr(json_object_get_string_member(ja, "description"), ==, "first");
	g_assert_cmpstr(json_object_get_string_member(jb, "description"), ==, "");
	g_assert_cmpint(json_object_get_int_member(jb, "time"), ==, 1700000100);
	g_assert_true(json_object_get_boolean_member(jb, "has-memory"));
	g_assert_false(json_object_get_boolean_member(jc, "has-memory"));
	g_assert_true(json_object_get_boolean_member(jc, "current"));
	g_assert_false(json_object_get_boolean_member(ja, "current"));
	/* the sizes the text list shows: A's files (64 KiB written, as allocated), B's disk */
	g_assert_cmpint(json_object_get_int_member(ja, "memory-bytes"), >=, 64 * 1024);
	g_assert_cmpint(json_object_get_int_member(jb, "memory-bytes"), ==, 0);
	g_assert_cmpint(json_object_get_int_member(jb, "disk-bytes"), ==, 36 << 20);
	g_assert_true(json_object_get_null_member(ja, "disk-bytes"));
	/* a thumbnail only where the PNG exists, as an absolute path */
	const char *thumb = json_object_get_string_member(ja, "thumbnail");
	g_assert_true(g_path_is_absolute(thumb));
	g_assert_true(g_str_has_suffix(thumb, "/1.png"));
	g_assert_true(json_object_get_null_member(jb, "thumbnail"));
	/* no folder: no file sizes, no thumbnails */
	g_autoptr(JsonNode) bare = tree_json(&t, NULL, NULL);
	JsonObject *bare_a = json_node_of(json_object_get_array_member(json_node_get_object(bare),
								       "snapshots"), a->id);
	g_assert_cmpint(json_object_get_int_member(bare_a, "memory-bytes"), ==, 0);
	g_assert_true(json_object_get_null_member(bare_a, "thumbnail"));
	g_unlink(png);
	g_unlink(ram);
	g_rmdir(dir);
	snapshot_tree_clear(&t);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/snapshot-tree/add-and-branch", test_add_and_branch);
	g_test_add_func("/snapshot-tree/delete-middle-keeps-children", test_delete_middle_keeps_children);
	g_test_add_func("/snapshot-tree/file-round-trip", test_file_round_trip_and_ids_not_reused);
	g_test_add_func("/snapshot-tree/damaged-files", test_damaged_files);
	g_test_add_func("/snapshot-tree/sizes-in-list", test_sizes_in_list);
	g_test_add_func("/snapshot-tree/bad-ids", test_bad_ids);
	g_test_add_func("/snapshot-tree/long-chain", test_long_chain);
	g_test_add_func("/snapshot-tree/full-tree", test_full_tree);
	g_test_add_func("/snapshot-tree/name-not-utf8-and-clear", test_name_not_utf8_and_clear);
	g_test_add_func("/snapshot-tree/json", test_json);
	return g_test_run();
}
