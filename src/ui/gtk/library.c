/* The library window (library.h, data/library.ui) and the scan of the library folder. */
#include "library.h"

#include <gio/gio.h>
#include <glib/gstdio.h>
#include <string.h>

#include "app.h"
#include "console.h"
#include "dialogs.h"
#include "host.h"
#include "vm_actions.h"
#include "wizard.h"

#define ICON_SIZE	48
#define ROW_THUMB_W	96
#define ROW_THUMB_H	72
#define RESCAN_DELAY_MS 500

struct library {
	GtkApplicationWindow *window;
	GtkBuilder *builder;
	GListStore *vms; /* PcvmVm, sorted by name */
	GtkListBox *list;
	GtkWidget *error_bar;
	struct vm_action_host host;
	char **extra; /* bundles opened from outside the library folder */
	GFileMonitor *monitor;
	guint rescan_timer;
	GCancellable *cancel;
	char *power_on_dir; /* made by the wizard: power it on once the scan has it */
};

static GtkWidget *widget(struct library *lib, const char *id)
{
	return GTK_WIDGET(gtk_builder_get_object(lib->builder, id));
}

static PcvmVm *library_selected(gpointer data)
{
	struct library *lib = data;
	GtkListBoxRow *row = gtk_list_box_get_selected_row(lib->list);
	if (!row)
		return NULL;
	return g_list_model_get_item(G_LIST_MODEL(lib->vms), gtk_list_box_row_get_index(row));
}

/* The selected VM without a new reference (the store holds one). */
static PcvmVm *selected_peek(struct library *lib)
{
	PcvmVm *vm = library_selected(lib);
	if (vm)
		g_object_unref(vm);
	return vm;
}

/* The VM the actions act on (vm_action_host.current). */
static PcvmVm *library_current(gpointer data)
{
	return selected_peek(data);
}

static PcvmVm *find_vm(struct library *lib, const char *dir, guint *pos)
{
	guint n = g_list_model_get_n_items(G_LIST_MODEL(lib->vms));
	for (guint i = 0; i < n; i++) {
		g_autoptr(PcvmVm) vm = g_list_model_get_item(G_LIST_MODEL(lib->vms), i);
		if (!strcmp(pcvm_vm_get_dir(vm), dir)) {
			if (pos)
				*pos = i;
			return vm; /* the store keeps it alive */
		}
	}
	return NULL;
}

static char *state_text(PcvmVm *vm)
{
	const char *activity = pcvm_vm_get_activity(vm);
	if (activity)
		return g_strdup_printf("%s — %s", vm_state_label(pcvm_vm_get_state(vm)), activity);
	return g_strdup(vm_state_label(pcvm_vm_get_state(vm)));
}

static const char *guest_label(PcvmVm *vm)
{
	const struct guest_preset *g =
	    guest_presets_find(&app_env()->presets, pcvm_vm_get_guest(vm));
	return g ? g->label : "Other";
}

/* ---- finding the bundles and reading their vm.conf, on a worker thread ---- */

struct scan {
	char *library_dir;
	char **extra;
};

static void scan_free(gpointer data)
{
	struct scan *s = data;
	g_free(s->library_dir);
	g_strfreev(s->extra);
	g_free(s);
}

static void scan_thread(GTask *task, gpointer src, gpointer data, GCancellable *cancel)
{
	struct scan *s = data;
	g_mkdir_with_parents(s->library_dir, 0755);
	GPtrArray *found = vm_library_scan(s->library_dir, s->extra, false);
	g_task_return_pointer(task, found, (GDestroyNotify)g_ptr_array_unref);
}

void library_scan_async(const char *library_dir, char **extra, GCancellable *cancel,
			GAsyncReadyCallback callback, gpointer data)
{
	struct scan *s = g_new0(struct scan, 1);
	s->library_dir = g_strdup(library_dir);
	s->extra = g_strdupv(extra);
	GTask *task = g_task_new(NULL, cancel, callback, data);
	g_task_set_task_data(task, s, scan_free);
	g_task_run_in_thread(task, scan_thread);
	g_object_unref(task);
}

GPtrArray *library_scan_finish(GAsyncResult *res, GError **error)
{
	return g_task_propagate_pointer(G_TASK(res), error);
}

static void on_extra_saved(GObject *src, GAsyncResult *res, gpointer data)
{
	g_autoptr(GError) err = NULL;
	if (!g_file_replace_contents_finish(G_FILE(src), res, NULL, &err))
		g_warning("%s",
			  err->message); /* the bundles stay in the library for this session */
}

void library_extra_save(const char *config_file, char **extra)
{
	g_autoptr(GKeyFile) kf = g_key_file_new();
	g_key_file_set_comment(
	    kf, NULL, NULL, " pcvm-gtk: VM bundles opened from outside the library folder", NULL);
	g_key_file_set_string_list(kf, "library", "bundles", (const char *const *)extra,
				   g_strv_length(extra));
	gsize len;
	g_autofree char *text = g_key_file_to_data(kf, &len, NULL);
	g_autoptr(GBytes) bytes = g_bytes_new_take(g_steal_pointer(&text), len);
	g_autoptr(GFile) file = g_file_new_for_path(config_file);
	g_autoptr(GFile) parent = g_file_get_parent(file);
	g_file_make_directory_with_parents(parent, NULL, NULL); /* one mkdir, first time only */
	g_file_replace_contents_bytes_async(file, bytes, NULL, FALSE, G_FILE_CREATE_NONE, NULL,
					    on_extra_saved, NULL);
}

/* ---- the details of the selected VM ---- */

static void detail_update(struct library *lib)
{
	PcvmVm *vm = selected_peek(lib);
	gtk_stack_set_visible_child_name(GTK_STACK(widget(lib, "detail_stack")),
					 vm ? "vm" : "empty");
	vm_actions_update(GTK_WINDOW(lib->window), vm);
	GAction *console = g_action_map_lookup_action(G_ACTION_MAP(lib->window), "console");
	g_simple_action_set_enabled(G_SIMPLE_ACTION(console), vm != NULL);
	if (!vm)
		return;
	g_autofree char *state = state_text(vm);
	gtk_label_set_text(GTK_LABEL(widget(lib, "detail_name")), pcvm_vm_get_name(vm));
	gtk_label_set_text(GTK_LABEL(widget(lib, "detail_state")), state);
	gtk_label_set_text(GTK_LABEL(widget(lib, "detail_guest")), guest_label(vm));
	gtk_label_set_text(GTK_LABEL(widget(lib, "detail_dir")), pcvm_vm_get_dir(vm));
	GtkImage *screen = GTK_IMAGE(widget(lib, "detail_screen"));
	GdkPixbuf *thumb = pcvm_vm_get_thumbnail(vm);
	g_autoptr(GdkPixbuf) icon = thumb ? NULL : app_guest_icon(pcvm_vm_get_guest(vm), 128);
	gtk_image_set_from_pixbuf(screen, thumb ? thumb : icon);
}

/* ---- rows ---- */

static void row_update(PcvmVm *vm, GtkWidget *row)
{
	GtkWidget *name = g_object_get_data(G_OBJECT(row), "name");
	GtkWidget *state = g_object_get_data(G_OBJECT(row), "state");
	GtkWidget *thumb = g_object_get_data(G_OBJECT(row), "thumb");
	GtkWidget *icon = g_object_get_data(G_OBJECT(row), "icon");
	g_autofree char *text = state_text(vm);
	gtk_label_set_text(GTK_LABEL(name), pcvm_vm_get_name(vm));
	gtk_label_set_text(GTK_LABEL(state), text);
	g_autoptr(GdkPixbuf) pix = app_guest_icon(pcvm_vm_get_guest(vm), ICON_SIZE);
	gtk_image_set_from_pixbuf(GTK_IMAGE(icon), pix);
	GdkPixbuf *t = pcvm_vm_get_thumbnail(vm);
	g_autoptr(GdkPixbuf) small = NULL;
	if (t) {
		double k = MIN((double)ROW_THUMB_W / gdk_pixbuf_get_width(t),
			       (double)ROW_THUMB_H / gdk_pixbuf_get_height(t));
		small = gdk_pixbuf_scale_simple(t, MAX(1, gdk_pixbuf_get_width(t) * k),
						MAX(1, gdk_pixbuf_get_height(t) * k),
						GDK_INTERP_BILINEAR);
	}
	gtk_image_set_from_pixbuf(GTK_IMAGE(thumb), small);
	gtk_widget_set_visible(thumb, small != NULL);
	atk_object_set_name(gtk_widget_get_accessible(row), pcvm_vm_get_name(vm));
	atk_object_set_description(gtk_widget_get_accessible(row), text);
	g_autofree char *thumb_name = g_strdup_printf("Screen of %s", pcvm_vm_get_name(vm));
	atk_object_set_name(gtk_widget_get_accessible(thumb), thumb_name);
}

static GtkWidget *row_new(gpointer item, gpointer data)
{
	PcvmVm *vm = item;
	GtkWidget *row = gtk_list_box_row_new();
	GtkWidget *box = gtk_box_new(GTK_ORIENTATION_HORIZONTAL, 10);
	GtkWidget *text = gtk_box_new(GTK_ORIENTATION_VERTICAL, 2);
	GtkWidget *icon = gtk_image_new();
	GtkWidget *name = gtk_label_new(NULL);
	GtkWidget *state = gtk_label_new(NULL);
	GtkWidget *thumb = gtk_image_new();
	g_object_set(box, "margin", 6, NULL);
	gtk_label_set_xalign(GTK_LABEL(name), 0);
	gtk_label_set_ellipsize(GTK_LABEL(name), PANGO_ELLIPSIZE_END);
	gtk_label_set_xalign(GTK_LABEL(state), 0);
	gtk_style_context_add_class(gtk_widget_get_style_context(state), "dim-label");
	PangoAttrList *bold = pango_attr_list_new();
	pango_attr_list_insert(bold, pango_attr_weight_new(PANGO_WEIGHT_BOLD));
	gtk_label_set_attributes(GTK_LABEL(name), bold);
	pango_attr_list_unref(bold);
	gtk_box_pack_start(GTK_BOX(text), name, FALSE, FALSE, 0);
	gtk_box_pack_start(GTK_BOX(text), state, FALSE, FALSE, 0);
	gtk_widget_set_valign(text, GTK_ALIGN_CENTER);
	gtk_box_pack_start(GTK_BOX(box), icon, FALSE, FALSE, 0);
	gtk_box_pack_start(GTK_BOX(box), text, TRUE, TRUE, 0);
	gtk_box_pack_end(GTK_BOX(box), thumb, FALSE, FALSE, 0);
	gtk_container_add(GTK_CONTAINER(row), box);
	g_object_set_data(G_OBJECT(row), "name", name);
	g_object_set_data(G_OBJECT(row), "state", state);
	g_object_set_data(G_OBJECT(row), "thumb", thumb);
	g_object_set_data(G_OBJECT(row), "icon", icon);
	gtk_widget_show_all(row);
	row_update(vm, row);
	g_signal_connect_object(vm, "changed", G_CALLBACK(row_update), row, 0);
	return row;
}

/* ---- VMs in and out ---- */

static void on_vm_changed(PcvmVm *vm, gpointer data)
{
	struct library *lib = data;
	if (vm == selected_peek(lib))
		detail_update(lib);
}

static void on_vm_error(PcvmVm *vm, const char *title, const char *detail, gpointer data)
{
	struct library *lib = data;
	error_bar_show(lib->error_bar, GTK_MESSAGE_ERROR, title, detail);
}

static void remove_extra(struct library *lib, const char *dir)
{
	bool changed = false;
	char **keep = lib->extra;
	for (char **e = lib->extra; *e; e++) {
		if (strcmp(*e, dir))
			*keep++ = *e;
		else
			g_free(*e), changed = true;
	}
	*keep = NULL;
	if (changed)
		library_extra_save(app_env()->config_file, lib->extra);
}

/* Takes the VM at POS out of the library; a console may keep it a while, unheard by us. */
static void forget_vm(struct library *lib, guint pos)
{
	g_autoptr(PcvmVm) vm = g_list_model_get_item(G_LIST_MODEL(lib->vms), pos);
	g_signal_handlers_disconnect_by_data(vm, lib);
	pcvm_vm_stop(vm);
	g_list_store_remove(lib->vms, pos);
}

static void on_vm_removed(PcvmVm *vm, gpointer data)
{
	struct library *lib = data;
	guint pos;
	g_autofree char *dir = g_strdup(pcvm_vm_get_dir(vm));
	if (find_vm(lib, dir, &pos))
		forget_vm(lib, pos);
	remove_extra(lib, dir);
	detail_update(lib);
}

static int compare_vms(gconstpointer a, gconstpointer b, gpointer data)
{
	g_autofree char *ka = g_utf8_collate_key(pcvm_vm_get_name((PcvmVm *)a), -1);
	g_autofree char *kb = g_utf8_collate_key(pcvm_vm_get_name((PcvmVm *)b), -1);
	return strcmp(ka, kb);
}

static void add_vm(struct library *lib, const struct bundle_info *b)
{
	g_autoptr(PcvmVm) vm = pcvm_vm_new(b->dir, b->name, b->guest);
	g_signal_connect(vm, "changed", G_CALLBACK(on_vm_changed), lib);
	g_signal_connect(vm, "error", G_CALLBACK(on_vm_error), lib);
	g_signal_connect(vm, "removed", G_CALLBACK(on_vm_removed), lib);
	g_list_store_insert_sorted(lib->vms, vm, compare_vms, NULL);
}

static void update_status(struct library *lib)
{
	guint n = g_list_model_get_n_items(G_LIST_MODEL(lib->vms));
	g_autofree char *text = g_strdup_printf(n == 1 ? "%u virtual machine — library %s"
						       : "%u virtual machines — library %s",
						n, app_env()->library_dir);
	GtkStatusbar *bar = GTK_STATUSBAR(widget(lib, "statusbar"));
	gtk_statusbar_remove_all(bar, 1);
	gtk_statusbar_push(bar, 1, text);
}

/* Makes the store follow a scan: new bundles in, gone ones out, renamed ones renamed. */
static void merge(struct library *lib, GPtrArray *found)
{
	g_autoptr(GHashTable) present = g_hash_table_new(g_str_hash, g_str_equal);
	for (guint i = 0; i < found->len; i++) {
		const struct bundle_info *b = found->pdata[i];
		g_hash_table_add(present, b->dir);
		PcvmVm *vm = find_vm(lib, b->dir, NULL);
		if (vm)
			pcvm_vm_set_info(vm, b->name, b->guest);
		else
			add_vm(lib, b);
	}
	for (guint i = g_list_model_get_n_items(G_LIST_MODEL(lib->vms)); i-- > 0;) {
		g_autoptr(PcvmVm) vm = g_list_model_get_item(G_LIST_MODEL(lib->vms), i);
		if (!g_hash_table_contains(present, pcvm_vm_get_dir(vm)))
			forget_vm(lib, i);
	}
	if (!gtk_list_box_get_selected_row(lib->list) && found->len)
		gtk_list_box_select_row(lib->list, gtk_list_box_get_row_at_index(lib->list, 0));
	update_status(lib);
	detail_update(lib);
}

static void power_on_new(struct library *lib)
{
	PcvmVm *vm = lib->power_on_dir ? find_vm(lib, lib->power_on_dir, NULL) : NULL;
	if (!vm)
		return;
	g_clear_pointer(&lib->power_on_dir, g_free);
	guint pos;
	if (g_list_store_find(lib->vms, vm, &pos))
		gtk_list_box_select_row(lib->list, gtk_list_box_get_row_at_index(lib->list, pos));
	pcvm_vm_power_on(vm);
	console_show(gtk_window_get_application(GTK_WINDOW(lib->window)), vm);
}

static void on_scanned(GObject *src, GAsyncResult *res, gpointer data)
{
	g_autoptr(GError) err = NULL;
	g_autoptr(GPtrArray) found = library_scan_finish(res, &err);
	if (!found)
		return; /* cancelled: the window is gone */
	struct library *lib = data;
	merge(lib, found);
	power_on_new(lib);
}

static void rescan(struct library *lib)
{
	library_scan_async(app_env()->library_dir, lib->extra, lib->cancel, on_scanned, lib);
}

static gboolean rescan_later(gpointer data)
{
	struct library *lib = data;
	lib->rescan_timer = 0;
	rescan(lib);
	return G_SOURCE_REMOVE;
}

/* Bundles made or removed by the command line or a file manager show up by themselves. */
static void on_library_changed(GFileMonitor *m, GFile *file, GFile *other, GFileMonitorEvent event,
			       gpointer data)
{
	struct library *lib = data;
	if (!lib->rescan_timer)
		lib->rescan_timer = g_timeout_add(RESCAN_DELAY_MS, rescan_later, lib);
}

/* ---- window actions ---- */

static void add_extra(struct library *lib, const char *dir)
{
	if (g_strv_contains((const char *const *)lib->extra, dir))
		return;
	g_autofree char *lib_dir = g_canonicalize_filename(app_env()->library_dir, NULL);
	g_autofree char *parent = g_path_get_dirname(dir);
	if (!strcmp(parent, lib_dir))
		return; /* the scan finds it anyway */
	guint n = g_strv_length(lib->extra);
	lib->extra = g_renew(char *, lib->extra, n + 2);
	lib->extra[n] = g_strdup(dir);
	lib->extra[n + 1] = NULL;
	library_extra_save(app_env()->config_file, lib->extra);
}

static void on_wizard_done(const char *dir, bool power_on, gpointer data)
{
	struct library *lib = data;
	g_autofree char *canon = g_canonicalize_filename(dir, NULL);
	add_extra(lib, canon);
	if (power_on) {
		g_free(lib->power_on_dir);
		lib->power_on_dir = g_strdup(canon);
	}
	rescan(lib);
}

static void on_new_vm(GSimpleAction *a, GVariant *p, gpointer data)
{
	struct library *lib = data;
	wizard_show(GTK_WINDOW(lib->window), on_wizard_done, lib);
}

static void on_open_response(GtkNativeDialog *dialog, int response, gpointer data)
{
	struct library *lib = data;
	g_autoptr(GFile) file = response == GTK_RESPONSE_ACCEPT
				    ? gtk_file_chooser_get_file(GTK_FILE_CHOOSER(dialog))
				    : NULL;
	g_object_unref(dialog);
	g_autofree char *path = file ? g_file_get_path(file) : NULL;
	if (!path)
		return;
	g_autofree char *canon = g_canonicalize_filename(path, NULL);
	g_autofree char *conf = g_build_filename(canon, "vm.conf", NULL);
	if (!g_file_test(conf, G_FILE_TEST_IS_REGULAR)) { /* one stat of a folder just chosen */
		g_autofree char *title = g_strdup_printf("%s is not a virtual machine", canon);
		error_bar_show(lib->error_bar, GTK_MESSAGE_ERROR, title,
			       "A VM bundle is a folder with a vm.conf file, such as NAME.pcvm.");
		return;
	}
	add_extra(lib, canon);
	rescan(lib);
}

static void on_open(GSimpleAction *a, GVariant *p, gpointer data)
{
	struct library *lib = data;
	GtkFileChooserNative *d =
	    gtk_file_chooser_native_new("Open a Virtual Machine", GTK_WINDOW(lib->window),
					GTK_FILE_CHOOSER_ACTION_SELECT_FOLDER, "_Open", "_Cancel");
	g_signal_connect(d, "response", G_CALLBACK(on_open_response), lib);
	gtk_native_dialog_show(GTK_NATIVE_DIALOG(d));
}

static void on_console(GSimpleAction *a, GVariant *p, gpointer data)
{
	struct library *lib = data;
	PcvmVm *vm = selected_peek(lib);
	if (vm)
		console_show(gtk_window_get_application(GTK_WINDOW(lib->window)), vm);
}

static void on_row_activated(GtkListBox *list, GtkListBoxRow *row, gpointer data)
{
	on_console(NULL, NULL, data);
}

static void on_powered_on(gpointer owner, PcvmVm *vm)
{
	struct library *lib = owner;
	console_show(gtk_window_get_application(GTK_WINDOW(lib->window)), vm);
}

static void library_free(gpointer data)
{
	struct library *lib = data;
	g_object_set_data(G_OBJECT(lib->window), "library", NULL);
	g_cancellable_cancel(lib->cancel);
	g_object_unref(lib->cancel);
	if (lib->rescan_timer)
		g_source_remove(lib->rescan_timer);
	g_clear_object(&lib->monitor);
	guint n = g_list_model_get_n_items(G_LIST_MODEL(lib->vms));
	for (guint i = 0; i < n; i++) {
		g_autoptr(PcvmVm) vm = g_list_model_get_item(G_LIST_MODEL(lib->vms), i);
		g_signal_handlers_disconnect_by_data(vm, lib);
	}
	g_object_unref(lib->vms);
	g_object_unref(lib->builder);
	g_strfreev(lib->extra);
	g_free(lib->power_on_dir);
	g_free(lib);
}

static const GActionEntry library_actions[] = {
	{ "new-vm", on_new_vm },
	{ "open", on_open },
	{ "console", on_console },
};

GtkWindow *library_window_new(GtkApplication *app)
{
	struct library *lib = g_new0(struct library, 1);
	lib->builder = app_builder("library.ui");
	lib->window = GTK_APPLICATION_WINDOW(widget(lib, "window"));
	lib->list = GTK_LIST_BOX(widget(lib, "list"));
	lib->vms = g_list_store_new(PCVM_TYPE_VM);
	lib->cancel = g_cancellable_new();
	lib->extra = vm_library_extra_load(app_env()->config_file);
	gtk_window_set_application(GTK_WINDOW(lib->window), app);
	g_object_set_data(G_OBJECT(lib->window), "library", lib);
	g_signal_connect_swapped(lib->window, "destroy", G_CALLBACK(library_free), lib);

	GtkBox *main_box = GTK_BOX(widget(lib, "main_box"));
	g_autoptr(GtkBuilder) menus = app_builder("menus.ui");
	GtkWidget *menubar = gtk_menu_bar_new_from_model(
	    G_MENU_MODEL(gtk_builder_get_object(menus, "library-menubar")));
	gtk_box_pack_start(main_box, menubar, FALSE, FALSE, 0);
	gtk_box_reorder_child(main_box, menubar, 0);
	lib->error_bar = error_bar_new();
	gtk_box_pack_start(main_box, lib->error_bar, FALSE, FALSE, 0);
	gtk_box_reorder_child(main_box, lib->error_bar, 2);

	g_action_map_add_action_entries(G_ACTION_MAP(lib->window), library_actions,
					G_N_ELEMENTS(library_actions), lib);
	lib->host =
		(struct vm_action_host){ GTK_WINDOW(lib->window), library_current, on_powered_on, lib };
	vm_actions_add(&lib->host);

	gtk_list_box_bind_model(lib->list, G_LIST_MODEL(lib->vms), row_new, lib, NULL);
	g_signal_connect_swapped(lib->list, "selected-rows-changed", G_CALLBACK(detail_update),
				 lib);
	g_signal_connect(lib->list, "row-activated", G_CALLBACK(on_row_activated), lib);

	g_autoptr(GFile) dir = g_file_new_for_path(app_env()->library_dir);
	lib->monitor = g_file_monitor_directory(dir, G_FILE_MONITOR_NONE, NULL, NULL);
	if (lib->monitor)
		g_signal_connect(lib->monitor, "changed", G_CALLBACK(on_library_changed), lib);
	detail_update(lib);
	rescan(lib);
	gtk_widget_show_all(GTK_WIDGET(lib->window));
	return GTK_WINDOW(lib->window);
}

/* A host that can run VMs, only slowly (no VT-x/AMD-V), gets the dialog once per user, then
 * the warning bar: it says which and how to fix it without stopping every start. */
static bool host_warning_seen(const struct host_report *r)
{
	g_autofree char *dir = g_build_filename(g_get_user_config_dir(), "pcvm", NULL);
	g_autofree char *path = g_build_filename(dir, "pcvm-gtk.conf", NULL);
	g_autoptr(GKeyFile) kf = g_key_file_new();
	g_key_file_load_from_file(kf, path, G_KEY_FILE_KEEP_COMMENTS, NULL);
	g_autofree char *seen = g_key_file_get_string(kf, "host", "warned", NULL);
	if (seen && !strcmp(seen, r->title))
		return true;
	g_key_file_set_string(kf, "host", "warned", r->title);
	g_mkdir_with_parents(dir, 0755);
	g_key_file_save_to_file(kf, path, NULL);
	return false;
}

void library_show_host_report(GtkWindow *window, const struct host_report *r)
{
	struct library *lib = g_object_get_data(G_OBJECT(window), "library");
	if (!lib || !r->title) /* a window closed before the check ended */
		return;
	if (r->fatal || !host_warning_seen(r))
		dialog_host_check(window, r);
	if (!r->fatal)
		error_bar_show(lib->error_bar, GTK_MESSAGE_WARNING, r->title, r->detail);
}
