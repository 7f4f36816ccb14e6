/* The snapshot manager (snapshots.h, data/snapshots.ui). */
#include "snapshots.h"

#include <string.h>

#include "app.h"
#include "dialogs.h"
#include "snapshots_data.h"

#define REFRESH_DELAY_MS 300 /* index.conf changed: it is written by rename, so once */
#define PULSE_MS	 120

enum {
	COL_ID,
	COL_THUMB,
	COL_NAME,
	COL_DESCRIPTION,
	COL_DATE,
	COL_MEMORY,
	COL_DISK,
	COL_WEIGHT,
};

struct manager {
	GtkApplicationWindow *window;
	GtkBuilder *builder;
	PcvmVm *vm;
	GtkTreeStore *store;
	GtkTreeView *tree;
	GtkWidget *error_bar;
	struct snapshot_view *view; /* what the tree shows */
	GHashTable *disk;	    /* id -> disk space text, NULL until known */
	GCancellable *cancel;	    /* the window's reads; cancelled when it closes */
	GdkPixbuf *no_thumb, *here; /* icons of a snapshot without a thumbnail, of "You are here" */
	GFileMonitor *monitor;
	guint refresh_timer, pulse_timer;
	bool loading, reload;
	bool was_on;
};

static GtkWidget *widget(struct manager *m, const char *id)
{
	return GTK_WIDGET(gtk_builder_get_object(m->builder, id));
}

static void refresh(struct manager *m);

/* ---- the selection ---- */

/* The selected row's snapshot id, or NULL (none, or the "You are here" row). */
static char *selected_id(struct manager *m)
{
	GtkTreeModel *model;
	GtkTreeIter it;
	char *id = NULL;
	if (gtk_tree_selection_get_selected(gtk_tree_view_get_selection(m->tree), &model, &it))
		gtk_tree_model_get(model, &it, COL_ID, &id, -1);
	return id;
}

static const struct snapshot_row *selected(struct manager *m)
{
	g_autofree char *id = selected_id(m);
	return snapshot_view_find(m->view, id);
}

static gboolean select_id(GtkTreeModel *model, GtkTreePath *path, GtkTreeIter *it, gpointer data)
{
	struct manager *m = g_object_get_data(G_OBJECT(model), "manager");
	g_autofree char *id = NULL;
	gtk_tree_model_get(model, it, COL_ID, &id, -1);
	if (g_strcmp0(id, data))
		return FALSE;
	gtk_tree_selection_select_iter(gtk_tree_view_get_selection(m->tree), it);
	gtk_tree_view_scroll_to_cell(m->tree, path, NULL, FALSE, 0, 0);
	return TRUE;
}

/* ---- what the window shows besides the tree ---- */

static void action_enable(struct manager *m, const char *name, bool on)
{
	GAction *a = g_action_map_lookup_action(G_ACTION_MAP(m->window), name);
	g_simple_action_set_enabled(G_SIMPLE_ACTION(a), on);
}

static void update_actions(struct manager *m)
{
	const struct snapshot_row *r = selected(m);
	enum vm_state s = pcvm_vm_get_state(m->vm);
	bool idle = !pcvm_vm_get_activity(m->vm) && s != VM_STATE_STARTING;
	bool on = VM_STATES_ON & VM_STATE_BIT(s);
	action_enable(m, "snapshot-take", idle);
	/* a running VM goes only to snapshots with memory: pc_snapshot.c refuses the others */
	action_enable(m, "snapshot-goto", idle && r && (!on || r->has_memory));
	action_enable(m, "snapshot-rename", idle && r);
	action_enable(m, "snapshot-delete", idle && r);
}

static char *memory_text(const struct snapshot_row *r)
{
	if (!r->has_memory)
		return g_strdup("No");
	g_autofree char *size = g_format_size_full(r->file_bytes, G_FORMAT_SIZE_IEC_UNITS);
	return g_strdup_printf("Yes, %s", size);
}

static char *date_text(int64_t t)
{
	g_autoptr(GDateTime) when = g_date_time_new_from_unix_local(t);
	return when ? g_date_time_format(when, "%Y-%m-%d %H:%M") : g_strdup("?");
}

/* The details of the selected snapshot, or of the current state. */
static void update_details(struct manager *m)
{
	const struct snapshot_row *r = selected(m);
	const struct snapshot_row *cur =
	    snapshot_view_find(m->view, m->view ? m->view->current : NULL);
	GtkImage *preview = GTK_IMAGE(widget(m, "preview"));
	bool on = VM_STATES_ON & VM_STATE_BIT(pcvm_vm_get_state(m->vm));
	if (r && r->preview)
		gtk_image_set_from_pixbuf(preview, r->preview);
	else
		gtk_image_set_from_icon_name(
		    preview, r ? "camera-photo-symbolic" : "go-jump-symbolic", GTK_ICON_SIZE_DIALOG);
	g_autofree char *info = NULL, *name = NULL;
	if (r) {
		g_autofree char *date = date_text(r->time);
		g_autofree char *mem = memory_text(r);
		const char *disk = m->disk ? g_hash_table_lookup(m->disk, r->id) : NULL;
		name = g_strdup(r->name);
		info = g_strdup_printf("Taken %s\nMemory: %s\nDisk space only it holds: %s%s%s", date,
				       mem, disk ? disk : "…",
				       r == cur ? "\nThe VM's current state hangs below it." : "",
				       on && !r->has_memory ? "\nTaken with the VM off: power the VM "
							      "off to go to it."
							    : "");
	} else {
		name = g_strdup("You are here");
		info = cur ? g_strdup_printf("The VM's current state, which changed since “%s”.",
					     cur->name)
			   : g_strdup("The VM's current state; no snapshot lies behind it.");
	}
	gtk_label_set_text(GTK_LABEL(widget(m, "detail_name")), name);
	gtk_label_set_text(GTK_LABEL(widget(m, "detail_info")), info);
	gtk_label_set_text(GTK_LABEL(widget(m, "detail_description")), r ? r->description : "");
	g_autofree char *screen = g_strdup_printf("Screen of %s", name);
	atk_object_set_name(gtk_widget_get_accessible(GTK_WIDGET(preview)), screen);
}

static void update_status(struct manager *m)
{
	const char *text = NULL;
	double fraction = pcvm_vm_get_progress(m->vm, &text);
	GtkProgressBar *bar = GTK_PROGRESS_BAR(widget(m, "progress"));
	bool busy = pcvm_vm_get_activity(m->vm) != NULL;
	gtk_widget_set_visible(GTK_WIDGET(bar), busy);
	if (busy && fraction >= 0)
		gtk_progress_bar_set_fraction(bar, fraction);
	if (!busy || fraction >= 0)
		g_clear_handle_id(&m->pulse_timer, g_source_remove);
	g_autofree char *idle = NULL;
	if (!busy) {
		guint n = m->view ? m->view->rows->len : 0;
		const struct snapshot_row *cur =
		    snapshot_view_find(m->view, m->view ? m->view->current : NULL);
		idle = m->view && m->view->error
			   ? g_strdup(m->view->error)
			   : g_strdup_printf(n == 1 ? "%u snapshot%s%s%s" : "%u snapshots%s%s%s", n,
					     cur ? " — you are here: after “" : "",
					     cur ? cur->name : "", cur ? "”" : "");
	}
	gtk_label_set_text(GTK_LABEL(widget(m, "status_label")),
			   busy ? (text ? text : pcvm_vm_get_activity(m->vm)) : idle);
	atk_object_set_description(gtk_widget_get_accessible(GTK_WIDGET(bar)), text ? text : "");
}

static void on_selection(GtkTreeSelection *sel, gpointer data)
{
	struct manager *m = data;
	update_actions(m);
	update_details(m);
}

/* ---- filling the tree ---- */

static void add_here(struct manager *m, GtkTreeIter *parent)
{
	GtkTreeIter it;
	gtk_tree_store_append(m->store, &it, parent);
	gtk_tree_store_set(m->store, &it, COL_NAME, "You are here", COL_THUMB, m->here, COL_WEIGHT,
			   PANGO_WEIGHT_NORMAL, -1);
}

static void add_level(struct manager *m, GtkTreeIter *parent, const char *parent_id)
{
	for (guint i = 0; i < m->view->rows->len; i++) {
		const struct snapshot_row *r = m->view->rows->pdata[i];
		if (g_strcmp0(r->parent, parent_id))
			continue;
		GtkTreeIter it;
		bool current = !g_strcmp0(m->view->current, r->id);
		g_autofree char *date = date_text(r->time);
		g_autofree char *mem = memory_text(r);
		g_autofree char *line = g_strndup(r->description, strcspn(r->description, "\n"));
		const char *disk = m->disk ? g_hash_table_lookup(m->disk, r->id) : NULL;
		gtk_tree_store_append(m->store, &it, parent);
		gtk_tree_store_set(m->store, &it, COL_ID, r->id, COL_THUMB,
				   r->thumb ? r->thumb : m->no_thumb, COL_NAME, r->name,
				   COL_DESCRIPTION, line, COL_DATE, date, COL_MEMORY, mem, COL_DISK,
				   disk ? disk : "", COL_WEIGHT,
				   current ? PANGO_WEIGHT_BOLD : PANGO_WEIGHT_NORMAL, -1);
		add_level(m, &it, r->id);
		if (current)
			add_here(m, &it);
	}
}

/* Rebuilds the tree from m->view, keeping the selection where it still exists (else the
 * current snapshot's row is selected). */
static void fill(struct manager *m)
{
	g_autofree char *keep = selected_id(m);
	bool had_selection = gtk_tree_selection_count_selected_rows(
				 gtk_tree_view_get_selection(m->tree)) > 0;
	gtk_tree_store_clear(m->store);
	add_level(m, NULL, NULL);
	if (!m->view->current)
		add_here(m, NULL);
	gtk_tree_view_expand_all(m->tree);
	const char *want = snapshot_view_find(m->view, keep) ? keep
			   : had_selection && !keep  ? NULL /* it was "You are here" */
						     : m->view->current;
	gtk_tree_model_foreach(GTK_TREE_MODEL(m->store), select_id, (gpointer)want);
	update_actions(m);
	update_details(m);
	update_status(m);
}

static gboolean set_disk(GtkTreeModel *model, GtkTreePath *path, GtkTreeIter *it, gpointer data)
{
	struct manager *m = data;
	g_autofree char *id = NULL;
	gtk_tree_model_get(model, it, COL_ID, &id, -1);
	const char *disk = id ? g_hash_table_lookup(m->disk, id) : NULL;
	if (id)
		gtk_tree_store_set(m->store, it, COL_DISK, disk ? disk : "", -1);
	return FALSE;
}

static void on_disk_usage(GObject *src, GAsyncResult *res, gpointer data)
{
	GHashTable *disk = snapshot_disk_usage_finish(res);
	if (!disk)
		return; /* cancelled: the window is gone */
	struct manager *m = data;
	if (m->disk)
		g_hash_table_unref(m->disk);
	m->disk = disk;
	gtk_tree_model_foreach(GTK_TREE_MODEL(m->store), set_disk, m);
	update_details(m);
}

static void on_loaded(GObject *src, GAsyncResult *res, gpointer data)
{
	struct snapshot_view *v = snapshot_view_load_finish(res);
	if (!v)
		return; /* cancelled */
	struct manager *m = data;
	snapshot_view_free(m->view);
	m->view = v;
	m->loading = false;
	fill(m);
	if (m->reload)
		return refresh(m);
	if (v->rows->len && pcvm_vm_get_state(m->vm) != VM_STATE_STARTING)
		snapshot_disk_usage_async(pcvm_vm_get_dir(m->vm),
					  VM_STATES_ON & VM_STATE_BIT(pcvm_vm_get_state(m->vm)),
					  m->cancel, on_disk_usage, m);
}

static void refresh(struct manager *m)
{
	m->reload = m->loading;
	if (m->loading)
		return;
	m->loading = true;
	snapshot_view_load_async(pcvm_vm_get_dir(m->vm), m->cancel, on_loaded, m);
}

static gboolean refresh_later(gpointer data)
{
	struct manager *m = data;
	m->refresh_timer = 0;
	refresh(m);
	return G_SOURCE_REMOVE;
}

/* index.conf changed: another window, the command line, or the VM by itself. */
static void on_index_changed(GFileMonitor *mon, GFile *f, GFile *o, GFileMonitorEvent e,
			     gpointer data)
{
	struct manager *m = data;
	if (!m->refresh_timer)
		m->refresh_timer = g_timeout_add(REFRESH_DELAY_MS, refresh_later, m);
}

/* ---- the VM ---- */

static void on_vm_changed(PcvmVm *vm, gpointer data)
{
	struct manager *m = data;
	bool on = VM_STATES_ON & VM_STATE_BIT(pcvm_vm_get_state(vm));
	g_autofree char *title = g_strdup_printf("Snapshots — %s", pcvm_vm_get_name(vm));
	gtk_window_set_title(GTK_WINDOW(m->window), title);
	if (on != m->was_on) { /* disk space comes from elsewhere; a revert may have happened */
		m->was_on = on;
		refresh(m);
	}
	update_actions(m);
	update_status(m);
}

static gboolean pulse(gpointer data)
{
	struct manager *m = data;
	gtk_progress_bar_pulse(GTK_PROGRESS_BAR(widget(m, "progress")));
	return G_SOURCE_CONTINUE;
}

static void on_vm_progress(PcvmVm *vm, double fraction, const char *text, gpointer data)
{
	struct manager *m = data;
	if (fraction < 0 && !m->pulse_timer)
		m->pulse_timer = g_timeout_add(PULSE_MS, pulse, m);
	update_status(m);
}

static void on_vm_error(PcvmVm *vm, const char *title, const char *detail, gpointer data)
{
	struct manager *m = data;
	error_bar_show(m->error_bar, GTK_MESSAGE_ERROR, title, detail);
}

static gboolean close_now(gpointer window)
{
	gtk_widget_destroy(window);
	g_object_unref(window);
	return G_SOURCE_REMOVE;
}

static void on_vm_removed(PcvmVm *vm, gpointer data)
{
	struct manager *m = data;
	g_idle_add(close_now, g_object_ref(m->window));
}

/* ---- the operations ---- */

/* What a confirmed operation acts on: the VM (a reference) and the snapshot. */
struct target {
	PcvmVm *vm;
	char *id;
};

static struct target *target_new(PcvmVm *vm, const char *id)
{
	struct target *t = g_new0(struct target, 1);
	t->vm = g_object_ref(vm);
	t->id = g_strdup(id);
	return t;
}

static void target_free(gpointer data)
{
	struct target *t = data;
	g_object_unref(t->vm);
	g_free(t->id);
	g_free(t);
}

static void on_take_named(const char *name, const char *description, gpointer data)
{
	pcvm_vm_take_snapshot(data, name, description);
}

static void on_take(GSimpleAction *a, GVariant *p, gpointer data)
{
	struct manager *m = data;
	dialog_take_snapshot(GTK_WINDOW(m->window), pcvm_vm_get_name(m->vm), on_take_named,
			     g_object_ref(m->vm), g_object_unref);
}

static void on_goto_confirmed(gpointer data)
{
	struct target *t = data;
	pcvm_vm_revert_snapshot(t->vm, t->id);
}

static void on_goto(GSimpleAction *a, GVariant *p, gpointer data)
{
	struct manager *m = data;
	const struct snapshot_row *r = selected(m);
	if (!r)
		return;
	bool on = VM_STATES_ON & VM_STATE_BIT(pcvm_vm_get_state(m->vm));
	g_autofree char *title = g_strdup_printf("Go to snapshot “%s”?", r->name);
	const char *detail =
	    on ? "The current state of the virtual machine is lost: its disks and its memory go "
		 "back to the snapshot, and it runs on from there."
	    : r->has_memory ? "The current state of the disks is lost: they go back to the "
			      "snapshot, and the next power-on resumes the virtual machine as it "
			      "was then."
			    : "The current state of the disks is lost: they go back to the snapshot.";
	dialog_confirm(GTK_WINDOW(m->window), title, detail, "_Go To", true,
		       G_CALLBACK(on_goto_confirmed), target_new(m->vm, r->id), target_free);
}

static void on_delete_confirmed(gpointer data)
{
	struct target *t = data;
	struct vm_snapshot_request req = { VM_SNAPSHOT_DELETE, t->id };
	pcvm_vm_snapshot(t->vm, &req, NULL, NULL);
}

static void on_delete(GSimpleAction *a, GVariant *p, gpointer data)
{
	struct manager *m = data;
	const struct snapshot_row *r = selected(m);
	if (!r)
		return;
	g_autofree char *title = g_strdup_printf("Delete snapshot “%s”?", r->name);
	const char *disk = m->disk ? g_hash_table_lookup(m->disk, r->id) : NULL;
	g_autofree char *detail = g_strdup_printf(
	    "The snapshot can no longer be gone to; %s%s%sthe snapshots taken after it stay, and "
	    "so does the current state of the virtual machine.",
	    disk ? "the disk space only it holds (" : "", disk ? disk : "",
	    disk ? ") is freed; " : "");
	dialog_confirm(GTK_WINDOW(m->window), title, detail, "_Delete", true,
		       G_CALLBACK(on_delete_confirmed), target_new(m->vm, r->id), target_free);
}

static void on_renamed(const char *name, const char *description, gpointer data)
{
	struct target *t = data;
	struct vm_snapshot_request req = { VM_SNAPSHOT_RENAME, t->id, name, description };
	pcvm_vm_snapshot(t->vm, &req, NULL, NULL);
}

static void on_rename(GSimpleAction *a, GVariant *p, gpointer data)
{
	struct manager *m = data;
	const struct snapshot_row *r = selected(m);
	if (r)
		dialog_edit_snapshot(GTK_WINDOW(m->window), r->name, r->description, on_renamed,
				     target_new(m->vm, r->id), target_free);
}

static void on_row_activated(GtkTreeView *tree, GtkTreePath *path, GtkTreeViewColumn *col,
			     gpointer data)
{
	struct manager *m = data;
	GAction *a = g_action_map_lookup_action(G_ACTION_MAP(m->window), "snapshot-goto");
	if (g_action_get_enabled(a))
		g_action_activate(a, NULL);
}

static void on_close(GSimpleAction *a, GVariant *p, gpointer data)
{
	struct manager *m = data;
	g_idle_add(close_now, g_object_ref(m->window));
}

static const GActionEntry manager_actions[] = {
	{ "snapshot-take", on_take },
	{ "snapshot-goto", on_goto },
	{ "snapshot-delete", on_delete },
	{ "snapshot-rename", on_rename },
	{ "close", on_close },
};

/* ---- the window ---- */

/* On the window's "destroy", while its widgets still exist. */
static void manager_free(gpointer data)
{
	struct manager *m = data;
	g_cancellable_cancel(m->cancel);
	g_object_unref(m->cancel);
	g_clear_handle_id(&m->refresh_timer, g_source_remove);
	g_clear_handle_id(&m->pulse_timer, g_source_remove);
	if (m->monitor)
		g_file_monitor_cancel(m->monitor);
	g_clear_object(&m->monitor);
	g_signal_handlers_disconnect_by_data(m->vm, m);
	g_object_set_data(G_OBJECT(m->vm), "snapshots", NULL);
	g_object_unref(m->vm);
	snapshot_view_free(m->view);
	if (m->disk)
		g_hash_table_unref(m->disk);
	g_clear_object(&m->no_thumb);
	g_clear_object(&m->here);
	g_object_unref(m->builder);
	g_free(m);
}

static void watch_index(struct manager *m)
{
	g_autofree char *path =
	    g_build_filename(pcvm_vm_get_dir(m->vm), "snapshots", "index.conf", NULL);
	g_autoptr(GFile) file = g_file_new_for_path(path);
	m->monitor = g_file_monitor_file(file, G_FILE_MONITOR_WATCH_MOVES, NULL, NULL);
	if (m->monitor)
		g_signal_connect(m->monitor, "changed", G_CALLBACK(on_index_changed), m);
}

GtkWindow *snapshots_show(GtkApplication *app, PcvmVm *vm)
{
	GtkWindow *existing = g_object_get_data(G_OBJECT(vm), "snapshots");
	if (existing) {
		gtk_window_present(existing);
		return existing;
	}
	struct manager *m = g_new0(struct manager, 1);
	m->builder = app_builder("snapshots.ui");
	m->window = GTK_APPLICATION_WINDOW(widget(m, "window"));
	m->store = GTK_TREE_STORE(gtk_builder_get_object(m->builder, "store"));
	m->tree = GTK_TREE_VIEW(widget(m, "tree"));
	m->vm = g_object_ref(vm);
	m->cancel = g_cancellable_new();
	m->was_on = VM_STATES_ON & VM_STATE_BIT(pcvm_vm_get_state(vm));
	GtkIconTheme *theme = gtk_icon_theme_get_default();
	m->no_thumb = gtk_icon_theme_load_icon(theme, "camera-photo-symbolic", 32, 0, NULL);
	m->here = gtk_icon_theme_load_icon(theme, "go-jump-symbolic", 24, 0, NULL);
	g_object_set_data(G_OBJECT(m->store), "manager", m);
	gtk_window_set_application(GTK_WINDOW(m->window), app);
	m->error_bar = error_bar_new();
	gtk_box_pack_start(GTK_BOX(widget(m, "main_box")), m->error_bar, FALSE, FALSE, 0);
	gtk_box_reorder_child(GTK_BOX(widget(m, "main_box")), m->error_bar, 0);
	g_action_map_add_action_entries(G_ACTION_MAP(m->window), manager_actions,
					G_N_ELEMENTS(manager_actions), m);
	g_signal_connect(gtk_tree_view_get_selection(m->tree), "changed",
			 G_CALLBACK(on_selection), m);
	g_signal_connect(m->tree, "row-activated", G_CALLBACK(on_row_activated), m);
	g_signal_connect_swapped(m->window, "destroy", G_CALLBACK(manager_free), m);
	g_object_set_data(G_OBJECT(vm), "snapshots", m->window);
	g_signal_connect(vm, "changed", G_CALLBACK(on_vm_changed), m);
	g_signal_connect(vm, "progress", G_CALLBACK(on_vm_progress), m);
	g_signal_connect(vm, "error", G_CALLBACK(on_vm_error), m);
	g_signal_connect(vm, "removed", G_CALLBACK(on_vm_removed), m);
	g_signal_connect_swapped(vm, "snapshots-changed", G_CALLBACK(refresh), m);
	watch_index(m);
	on_vm_changed(vm, m);
	const char *text;
	if (pcvm_vm_get_progress(vm, &text) < 0 && text) /* an operation is under way */
		on_vm_progress(vm, -1, text, m);
	refresh(m);
	gtk_widget_show_all(GTK_WIDGET(m->window));
	return GTK_WINDOW(m->window);
}
