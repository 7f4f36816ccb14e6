/* The snapshot manager's data, read off the GTK thread (snapshots_data.h). */
#include "snapshots_data.h"

#include "cli.h"
#include "pcvm_output.h"
#include "snapshot/offline.h"
#include "snapshot/tree.h"
#include "vmctl.h"

#define USAGE_TIMEOUT_S 30

static void row_free(gpointer data)
{
	struct snapshot_row *r = data;
	g_free(r->id);
	g_free(r->parent);
	g_free(r->name);
	g_free(r->description);
	g_clear_object(&r->thumb);
	g_clear_object(&r->preview);
	g_free(r);
}

void snapshot_view_free(struct snapshot_view *v)
{
	if (!v)
		return;
	g_ptr_array_unref(v->rows);
	g_free(v->current);
	g_free(v->error);
	g_free(v);
}

const struct snapshot_row *snapshot_view_find(const struct snapshot_view *v, const char *id)
{
	for (guint i = 0; v && id && i < v->rows->len; i++) {
		const struct snapshot_row *r = v->rows->pdata[i];
		if (!g_strcmp0(r->id, id))
			return r;
	}
	return NULL;
}

static struct snapshot_row *row_read(const char *sdir, const struct snapshot_node *n)
{
	struct snapshot_row *r = g_new0(struct snapshot_row, 1);
	r->id = g_strdup(n->id);
	r->parent = g_strdup(n->parent);
	r->name = g_strdup(n->name);
	r->description = g_strdup(n->description ? n->description : "");
	r->time = n->time;
	r->has_memory = n->has_memory;
	r->file_bytes = snapshot_files_bytes(sdir, n->id);
	g_autofree char *png_name = g_strconcat(n->id, ".png", NULL);
	g_autofree char *png = g_build_filename(sdir, png_name, NULL);
	r->preview = gdk_pixbuf_new_from_file_at_scale(png, SNAPSHOT_PREVIEW_W, SNAPSHOT_PREVIEW_H,
						       TRUE, NULL);
	if (r->preview) {
		int w = gdk_pixbuf_get_width(r->preview), h = gdk_pixbuf_get_height(r->preview);
		double k = MIN((double)SNAPSHOT_THUMB_W / w, (double)SNAPSHOT_THUMB_H / h);
		r->thumb = gdk_pixbuf_scale_simple(r->preview, MAX(1, w * k), MAX(1, h * k),
						   GDK_INTERP_BILINEAR);
	}
	return r;
}

static void load_thread(GTask *task, gpointer src, gpointer data, GCancellable *cancel)
{
	g_autofree char *sdir = g_build_filename(data, "snapshots", NULL);
	g_autofree char *index = g_build_filename(sdir, "index.conf", NULL);
	struct snapshot_view *v = g_new0(struct snapshot_view, 1);
	v->rows = g_ptr_array_new_with_free_func(row_free);
	struct snapshot_tree t;
	snapshot_tree_init(&t);
	if (snapshot_tree_load(&t, index, &v->error) == 0) {
		for (guint i = 0; i < t.nodes->len && !g_cancellable_is_cancelled(cancel); i++)
			g_ptr_array_add(v->rows, row_read(sdir, t.nodes->pdata[i]));
		v->current = g_strdup(t.current);
	}
	snapshot_tree_clear(&t);
	g_task_return_pointer(task, v, (GDestroyNotify)snapshot_view_free);
}

void snapshot_view_load_async(const char *dir, GCancellable *cancel,
			      GAsyncReadyCallback callback, gpointer data)
{
	GTask *task = g_task_new(NULL, cancel, callback, data);
	g_task_set_task_data(task, g_strdup(dir), g_free);
	g_task_run_in_thread(task, load_thread);
	g_object_unref(task);
}

struct snapshot_view *snapshot_view_load_finish(GAsyncResult *res)
{
	return g_task_propagate_pointer(G_TASK(res), NULL);
}

/* ---- disk space ---- */

static GHashTable *usage_table(void)
{
	return g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
}

/* {"disk-bytes": {ID: BYTES}} of the running VM. */
static void on_usage_reply(GObject *src, GAsyncResult *res, gpointer data)
{
	GTask *task = data;
	GHashTable *h = usage_table();
	g_autoptr(JsonNode) r = vmctl_call_finish(res, NULL);
	JsonObject *o = r && JSON_NODE_HOLDS_OBJECT(r) ? json_node_get_object(r) : NULL;
	JsonNode *m = o ? json_object_get_member(o, "disk-bytes") : NULL;
	if (m && JSON_NODE_HOLDS_OBJECT(m)) {
		JsonObject *d = json_node_get_object(m);
		g_autoptr(GList) ids = json_object_get_members(d);
		for (GList *l = ids; l; l = l->next) {
			gint64 bytes = json_object_get_int_member_with_default(d, l->data, 0);
			g_hash_table_insert(h, g_strdup(l->data),
					    g_format_size_full(bytes, G_FORMAT_SIZE_IEC_UNITS));
		}
	}
	g_task_return_pointer(task, h, (GDestroyNotify)g_hash_table_unref);
	g_object_unref(task);
}

/* `pcvm snapshot list` of a VM that is off: its "disk" columns. */
static void on_usage_listed(GObject *src, GAsyncResult *res, gpointer data)
{
	GTask *task = data;
	GHashTable *h = usage_table();
	g_autofree char *out = cli_run_finish(res, NULL, NULL);
	g_autoptr(GHashTable) spaces = snapshot_space_parse(out);
	GHashTableIter it;
	gpointer id, value;
	g_hash_table_iter_init(&it, spaces);
	while (g_hash_table_iter_next(&it, &id, &value)) {
		const struct snapshot_space *s = value;
		if (s->disk)
			g_hash_table_insert(h, g_strdup(id), g_strdup(s->disk));
	}
	g_task_return_pointer(task, h, (GDestroyNotify)g_hash_table_unref);
	g_object_unref(task);
}

void snapshot_disk_usage_async(const char *dir, bool running, GCancellable *cancel,
			       GAsyncReadyCallback callback, gpointer data)
{
	GTask *task = g_task_new(NULL, cancel, callback, data);
	if (running) {
		vmctl_call_async(dir, "snapshot-disk-usage", NULL, USAGE_TIMEOUT_S, cancel,
				 on_usage_reply, task);
	} else {
		const char *argv[] = { "snapshot", "list", dir, NULL };
		cli_run_async(argv, cancel, on_usage_listed, task);
	}
}

GHashTable *snapshot_disk_usage_finish(GAsyncResult *res)
{
	return g_task_propagate_pointer(G_TASK(res), NULL);
}
