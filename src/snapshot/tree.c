#include "snapshot/tree.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <string.h>

#define TREE_GROUP "tree"
#define NODE_PREFIX "snapshot "

static void node_free(gpointer p)
{
	struct snapshot_node *n = p;
	g_free(n->id);
	g_free(n->parent);
	g_free(n->name);
	g_free(n->description);
	g_free(n);
}

void snapshot_tree_init(struct snapshot_tree *t)
{
	t->nodes = g_ptr_array_new_with_free_func(node_free);
	t->current = NULL;
	t->next_id = 1;
}

void snapshot_tree_clear(struct snapshot_tree *t)
{
	g_clear_pointer(&t->nodes, g_ptr_array_unref);
	g_clear_pointer(&t->current, g_free);
	t->next_id = 1;
}

struct snapshot_node *snapshot_tree_find(const struct snapshot_tree *t, const char *id)
{
	for (guint i = 0; id && i < t->nodes->len; i++) {
		struct snapshot_node *n = g_ptr_array_index(t->nodes, i);
		if (!strcmp(n->id, id))
			return n;
	}
	return NULL;
}

struct snapshot_node *snapshot_tree_lookup(const struct snapshot_tree *t, const char *id_or_name)
{
	struct snapshot_node *n = snapshot_tree_find(t, id_or_name);
	for (guint i = t->nodes->len; !n && i-- > 0;) {
		struct snapshot_node *c = g_ptr_array_index(t->nodes, i);
		if (!strcmp(c->name, id_or_name))
			n = c;
	}
	return n;
}

/* Ids are what snapshot_tree_add gives: decimal numbers from 1, without leading zeros. They
 * name the snapshot's files (ID.state, ...) and disk snapshots, so an id such as "../x" must
 * not get that far, and one too large for next_id would make a new snapshot reuse an id. */
#define SNAPSHOT_MAX_ID 999999999u
#define SNAPSHOT_MAX_ID_DIGITS 9
/* A bound on what a file may hold: listing walks the tree recursively, and a hand-made chain of
 * a million snapshots would overflow the stack. */
#define SNAPSHOT_MAX_NODES 10000u

static bool id_valid(const char *id)
{
	size_t n = strspn(id, "0123456789");
	return n && !id[n] && n <= SNAPSHOT_MAX_ID_DIGITS && id[0] != '0';
}

/* Ids are valid, every parent exists and no chain loops: what a damaged or hand-edited file may
 * break. Each chain is walked once (ROOTED: the nodes seen to hang below a root), so that a
 * long one costs no more than its length. */
static int tree_check(const struct snapshot_tree *t, char **error)
{
	g_autoptr(GHashTable) by_id = g_hash_table_new(g_str_hash, g_str_equal);
	g_autoptr(GHashTable) rooted = g_hash_table_new(NULL, NULL);
	for (guint i = 0; i < t->nodes->len; i++) {
		struct snapshot_node *n = g_ptr_array_index(t->nodes, i);
		if (!id_valid(n->id)) {
			*error = g_strdup_printf("[snapshot %s]: not a snapshot id (a number from 1 "
						 "to %u)",
						 n->id, SNAPSHOT_MAX_ID);
			return -1;
		}
		g_hash_table_insert(by_id, n->id, n);
	}
	for (guint i = 0; i < t->nodes->len; i++) {
		const struct snapshot_node *n = g_ptr_array_index(t->nodes, i), *p = n;
		for (guint steps = 0; p->parent && !g_hash_table_contains(rooted, p); steps++) {
			const struct snapshot_node *pn = g_hash_table_lookup(by_id, p->parent);
			if (!pn || steps > t->nodes->len) {
				*error = g_strdup_printf("snapshot %s: %s", n->id,
							 pn ? "its parents form a loop"
							    : "its parent does not exist");
				return -1;
			}
			p = pn;
		}
		for (p = n; p && !g_hash_table_contains(rooted, p);
		     p = p->parent ? g_hash_table_lookup(by_id, p->parent) : NULL)
			g_hash_table_add(rooted, (gpointer)p);
	}
	if (t->current && !g_hash_table_contains(by_id, t->current)) {
		*error = g_strdup_printf("the current snapshot %s does not exist", t->current);
		return -1;
	}
	return 0;
}

static struct snapshot_node *node_read(GKeyFile *kf, const char *group, const char *id)
{
	struct snapshot_node *n = g_new0(struct snapshot_node, 1);
	n->id = g_strdup(id);
	n->parent = g_key_file_get_string(kf, group, "parent", NULL);
	if (n->parent && !*n->parent)
		g_clear_pointer(&n->parent, g_free);
	n->name = g_key_file_get_string(kf, group, "name", NULL);
	if (n->name && !*n->name)
		g_clear_pointer(&n->name, g_free);
	if (!n->name)
		n->name = g_strdup(id);
	n->description = g_key_file_get_string(kf, group, "description", NULL);
	n->time = g_key_file_get_int64(kf, group, "time", NULL);
	n->has_memory = g_key_file_get_boolean(kf, group, "has-memory", NULL);
	return n;
}

int snapshot_tree_load(struct snapshot_tree *t, const char *path, char **error)
{
	snapshot_tree_clear(t);
	snapshot_tree_init(t);
	if (!g_file_test(path, G_FILE_TEST_EXISTS))
		return 0;
	g_autoptr(GKeyFile) kf = g_key_file_new();
	g_autoptr(GError) err = NULL;
	if (!g_key_file_load_from_file(kf, path, G_KEY_FILE_NONE, &err)) {
		*error = g_strdup_printf("%s: %s", path, err->message);
		snapshot_tree_clear(t);
		return -1;
	}
	g_auto(GStrv) groups = g_key_file_get_groups(kf, NULL);
	unsigned nsnapshots = 0;
	for (int i = 0; groups[i]; i++)
		nsnapshots += g_str_has_prefix(groups[i], NODE_PREFIX);
	if (nsnapshots > SNAPSHOT_MAX_NODES) {
		*error = g_strdup_printf("%s: %u snapshots: more than pcvm keeps (%u)", path,
					 nsnapshots, SNAPSHOT_MAX_NODES);
		snapshot_tree_clear(t);
		return -1;
	}
	for (int i = 0; groups[i]; i++) {
		if (!g_str_has_prefix(groups[i], NODE_PREFIX))
			continue;
		const char *id = groups[i] + strlen(NODE_PREFIX);
		if (!*id || snapshot_tree_find(t, id))
			continue;
		g_ptr_array_add(t->nodes, node_read(kf, groups[i], id));
	}
	t->current = g_key_file_get_string(kf, TREE_GROUP, "current", NULL);
	if (t->current && !*t->current)
		g_clear_pointer(&t->current, g_free);
	guint64 next_id = g_key_file_get_uint64(kf, TREE_GROUP, "next-id", NULL);
	g_autofree char *why = NULL;
	if (next_id > SNAPSHOT_MAX_ID)
		why = g_strdup_printf("[tree] next-id=%" G_GUINT64_FORMAT " is out of range (at "
				      "most %u)",
				      next_id, SNAPSHOT_MAX_ID);
	if (why || tree_check(t, &why) < 0) {
		*error = g_strdup_printf("%s: %s", path, why);
		snapshot_tree_clear(t);
		return -1;
	}
	t->next_id = MAX(1, next_id);
	for (guint i = 0; i < t->nodes->len; i++) {
		const struct snapshot_node *n = g_ptr_array_index(t->nodes, i);
		t->next_id = MAX(t->next_id, (unsigned)g_ascii_strtoull(n->id, NULL, 10) + 1);
	}
	return 0;
}

int snapshot_tree_save(const struct snapshot_tree *t, const char *path, char **error)
{
	g_autoptr(GKeyFile) kf = g_key_file_new();
	g_key_file_set_string(kf, TREE_GROUP, "current", t->current ? t->current : "");
	g_key_file_set_uint64(kf, TREE_GROUP, "next-id", t->next_id);
	for (guint i = 0; i < t->nodes->len; i++) {
		const struct snapshot_node *n = g_ptr_array_index(t->nodes, i);
		g_autofree char *group = g_strconcat(NODE_PREFIX, n->id, NULL);
		g_key_file_set_string(kf, group, "parent", n->parent ? n->parent : "");
		g_key_file_set_string(kf, group, "name", n->name);
		g_key_file_set_string(kf, group, "description", n->description ? n->description : "");
		g_key_file_set_int64(kf, group, "time", n->time);
		g_key_file_set_boolean(kf, group, "has-memory", n->has_memory);
	}
	gsize len;
	g_autofree char *text = g_key_file_to_data(kf, &len, NULL);
	g_autoptr(GError) err = NULL;
	/* g_file_set_contents writes a temporary file, fsyncs it and renames it into place */
	if (!g_file_set_contents(path, text, len, &err)) {
		*error = g_strdup_printf("%s: %s", path, err->message);
		return -1;
	}
	return 0;
}

/* NAME as snapshot_tree_rename takes names: UTF-8 (the file holds UTF-8: bytes in another
 * encoding, a name typed on a Latin-1 terminal, would read back as no name at all), one line
 * without control characters (GKeyFile does not escape a leading form feed, and drops it when
 * it reads the file), trimmed; the id when nothing is left. */
static char *name_clean(const char *name, const char *id)
{
	char *s = g_utf8_make_valid(name ? name : "", -1);
	for (char *p = s; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = ' ';
	if (*g_strstrip(s))
		return s;
	g_free(s);
	return g_strdup(id);
}

int snapshot_tree_check_room(const struct snapshot_tree *t, char **error)
{
	if (t->nodes->len >= SNAPSHOT_MAX_NODES) {
		*error = g_strdup_printf("there are %u snapshots, the most pcvm keeps: delete one "
					 "before taking another",
					 t->nodes->len);
		return -1;
	}
	/* the file keeps the id after the new one, which must be one too */
	if (t->next_id >= SNAPSHOT_MAX_ID) {
		*error = g_strdup_printf("no snapshot id is left (ids go up to %u and are never "
					 "reused)",
					 SNAPSHOT_MAX_ID);
		return -1;
	}
	return 0;
}

struct snapshot_node *snapshot_tree_add(struct snapshot_tree *t, const char *name,
					const char *description, int64_t time, bool has_memory)
{
	struct snapshot_node *n = g_new0(struct snapshot_node, 1);
	n->id = g_strdup_printf("%u", t->next_id++);
	n->parent = g_strdup(t->current);
	n->name = name_clean(name, n->id);
	n->description = description ? g_utf8_make_valid(description, -1) : NULL;
	n->time = time;
	n->has_memory = has_memory;
	g_ptr_array_add(t->nodes, n);
	g_free(t->current);
	t->current = g_strdup(n->id);
	return n;
}

int snapshot_tree_remove(struct snapshot_tree *t, const char *id, char **error)
{
	struct snapshot_node *n = snapshot_tree_find(t, id);
	if (!n) {
		*error = g_strdup_printf("no snapshot '%s'", id);
		return -1;
	}
	for (guint i = 0; i < t->nodes->len; i++) {
		struct snapshot_node *c = g_ptr_array_index(t->nodes, i);
		if (c->parent && !strcmp(c->parent, id)) {
			g_free(c->parent);
			c->parent = g_strdup(n->parent);
		}
	}
	if (t->current && !strcmp(t->current, id)) {
		g_free(t->current);
		t->current = g_strdup(n->parent);
	}
	g_ptr_array_remove(t->nodes, n);
	return 0;
}

#define SNAPSHOT_MAX_TEXT 4096 /* bytes of a name or description: text, not a file */

/* Why TEXT cannot be a name (ONE_LINE) or description, or NULL if it can. */
static const char *text_problem(const char *text, bool one_line)
{
	if (!g_utf8_validate(text, -1, NULL))
		return "is not valid UTF-8";
	if (strlen(text) > SNAPSHOT_MAX_TEXT)
		return "is too long (at most 4096 bytes)";
	for (const char *p = text; one_line && *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return "must be one line, without control characters";
	return NULL;
}

int snapshot_tree_rename(struct snapshot_tree *t, const char *which, const char *name,
			 const char *description, char **error)
{
	struct snapshot_node *n = snapshot_tree_lookup(t, which);
	g_autofree char *trimmed = g_strstrip(g_strdup(name));
	const char *problem = text_problem(name, true);
	if (!n) {
		*error = g_strdup_printf("no snapshot '%s'", which);
		return -1;
	}
	if (problem || !*trimmed) {
		*error = g_strdup_printf("the new name %s", problem ? problem : "is empty");
		return -1;
	}
	if (description && (problem = text_problem(description, false))) {
		*error = g_strdup_printf("the description %s", problem);
		return -1;
	}
	g_free(n->name);
	n->name = g_steal_pointer(&trimmed);
	if (description) {
		g_free(n->description);
		n->description = g_strdup(description);
	}
	return 0;
}

GPtrArray *snapshot_tree_children(const struct snapshot_tree *t, const char *id)
{
	GPtrArray *out = g_ptr_array_new();
	for (guint i = 0; i < t->nodes->len; i++) {
		struct snapshot_node *c = g_ptr_array_index(t->nodes, i);
		if (g_strcmp0(c->parent, id) == 0)
			g_ptr_array_add(out, c);
	}
	return out;
}

const char *const snapshot_file_exts[4] = { ".state", ".ram", ".vram", ".png" };

uint64_t snapshot_files_bytes(const char *dir, const char *id)
{
	uint64_t total = 0;
	for (size_t i = 0; dir && i < G_N_ELEMENTS(snapshot_file_exts); i++) {
		g_autofree char *file = g_strconcat(id, snapshot_file_exts[i], NULL);
		g_autofree char *path = g_build_filename(dir, file, NULL);
		GStatBuf st;
		if (g_stat(path, &st) == 0)
			total += (uint64_t)st.st_blocks * 512;
	}
	return total;
}

/* "memory 120 MiB, disk 36 MiB": the snapshot's own files, and the disk space only it holds
 * (DISK_BYTES: id -> uint64_t *); NULL when neither is known. */
static char *format_space(const struct snapshot_node *n, const char *dir, GHashTable *disk_bytes)
{
	GString *s = g_string_new(NULL);
	uint64_t files = snapshot_files_bytes(dir, n->id);
	if (dir && (n->has_memory || files)) {
		g_autofree char *size = g_format_size_full(files, G_FORMAT_SIZE_IEC_UNITS);
		g_string_append_printf(s, "memory %s", size);
	}
	const uint64_t *disk = disk_bytes ? g_hash_table_lookup(disk_bytes, n->id) : NULL;
	if (disk) {
		g_autofree char *size = g_format_size_full(*disk, G_FORMAT_SIZE_IEC_UNITS);
		g_string_append_printf(s, "%sdisk %s", s->len ? ", " : "", size);
	}
	return g_string_free(s, s->len == 0);
}

static void format_level(const struct snapshot_tree *t, const char *dir, GHashTable *disk_bytes,
			 const char *id, int depth, GString *s)
{
	g_autoptr(GPtrArray) kids = snapshot_tree_children(t, id);
	for (guint i = 0; i < kids->len; i++) {
		const struct snapshot_node *n = g_ptr_array_index(kids, i);
		g_autoptr(GDateTime) when = g_date_time_new_from_unix_local(n->time);
		g_autofree char *date = when ? g_date_time_format(when, "%Y-%m-%d %H:%M") : g_strdup("?");
		g_autofree char *space = format_space(n, dir, disk_bytes);
		g_string_append_printf(s, "%*s%s  %s  [%s]  %s%s%s%s\n", depth * 2, "", n->id,
				       n->name, n->has_memory ? "memory+disk" : "disk", date,
				       space ? "  " : "", space ? space : "",
				       g_strcmp0(t->current, n->id) ? "" : "  <- you are here");
		format_level(t, dir, disk_bytes, n->id, depth + 1, s);
	}
}

char *snapshot_tree_format(const struct snapshot_tree *t, const char *dir, GHashTable *disk_bytes)
{
	GString *s = g_string_new(NULL);
	if (!t->current)
		g_string_append(s, "(the current state has no snapshot above it)  <- you are here\n");
	format_level(t, dir, disk_bytes, NULL, 0, s);
	return g_string_free(s, FALSE);
}

static void json_nullable_string(JsonBuilder *b, const char *member, const char *value)
{
	json_builder_set_member_name(b, member);
	if (value)
		json_builder_add_string_value(b, value);
	else
		json_builder_add_null_value(b);
}

/* DIR/ID.png as an absolute path (the client's working directory is not the VM's), or NULL. */
static char *node_thumbnail(const char *dir, const char *id)
{
	if (!dir)
		return NULL;
	g_autofree char *file = g_strconcat(id, ".png", NULL);
	g_autofree char *path = g_build_filename(dir, file, NULL);
	return g_file_test(path, G_FILE_TEST_IS_REGULAR) ? g_canonicalize_filename(path, NULL)
							 : NULL;
}

static void node_json(const struct snapshot_tree *t, const struct snapshot_node *n, const char *dir,
		      GHashTable *disk_bytes, JsonBuilder *b)
{
	g_autofree char *thumb = node_thumbnail(dir, n->id);
	const uint64_t *disk = disk_bytes ? g_hash_table_lookup(disk_bytes, n->id) : NULL;
	json_builder_begin_object(b);
	json_nullable_string(b, "id", n->id);
	json_nullable_string(b, "name", n->name);
	json_nullable_string(b, "description", n->description ? n->description : "");
	json_nullable_string(b, "parent", n->parent);
	json_builder_set_member_name(b, "time");
	json_builder_add_int_value(b, n->time);
	json_builder_set_member_name(b, "has-memory");
	json_builder_add_boolean_value(b, n->has_memory);
	json_builder_set_member_name(b, "current");
	json_builder_add_boolean_value(b, g_strcmp0(t->current, n->id) == 0);
	json_nullable_string(b, "thumbnail", thumb);
	json_builder_set_member_name(b, "memory-bytes");
	json_builder_add_int_value(b, (gint64)snapshot_files_bytes(dir, n->id));
	json_builder_set_member_name(b, "disk-bytes");
	if (disk)
		json_builder_add_int_value(b, (gint64)*disk);
	else
		json_builder_add_null_value(b);
	json_builder_end_object(b);
}

void snapshot_tree_json(const struct snapshot_tree *t, const char *dir, GHashTable *disk_bytes,
			JsonBuilder *b)
{
	json_nullable_string(b, "current", t->current);
	json_builder_set_member_name(b, "snapshots");
	json_builder_begin_array(b);
	for (guint i = 0; i < t->nodes->len; i++)
		node_json(t, g_ptr_array_index(t->nodes, i), dir, disk_bytes, b);
	json_builder_end_array(b);
}
