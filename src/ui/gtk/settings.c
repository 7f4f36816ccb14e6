/* A VM's settings window (settings.h): reading vm.conf, the power-off fields (memory, processors,
 * boot order; the network in settings_devices.c) and Save. */
#include <string.h>

#include "app.h"
#include "bundle.h"
#include "cli.h"
#include "dialogs.h"
#include "host.h"
#include "pcvm_output.h"
#include "settings_private.h"

enum { BOOT_COL_ON, BOOT_COL_LABEL, BOOT_COL_DEVICE };

GtkWidget *settings_widget(struct settings *s, const char *id)
{
	return GTK_WIDGET(gtk_builder_get_object(s->builder, id));
}

#define W(id) settings_widget(s, id)

bool settings_vm_on(struct settings *s)
{
	enum vm_state st = pcvm_vm_get_state(s->vm);
	return (VM_STATES_ON | VM_STATE_BIT(VM_STATE_STARTING)) & VM_STATE_BIT(st);
}

/* ---- reading vm.conf and the disks ---- */

struct config_read {
	char *dir;
	struct vm_config cfg;
	char *error;
};

static void config_read_free(gpointer data)
{
	struct config_read *r = data;
	g_free(r->dir);
	vm_config_clear(&r->cfg);
	g_free(r->error);
	g_free(r);
}

static void config_thread(GTask *task, gpointer src, gpointer data, GCancellable *cancel)
{
	struct config_read *r = data;
	bundle_load_config(r->dir, &r->cfg, &r->error);
	g_task_return_boolean(task, TRUE);
}

/* The power-off fields from vm.conf, once: later reads leave what the user typed. */
static void fill_fields(struct settings *s)
{
	const struct vm_config *c = &s->cfg;
	struct vm_settings *v = &s->saved;
	vm_settings_clear(v);
	v->memory_mib = c->memory_mib;
	v->cpus = c->cpus;
	v->boot = g_strdup(c->boot);
	if (c->net[0].present) {
		v->net_mode = g_strdup(c->net[0].mode ? c->net[0].mode : "nat");
		v->bridge = g_strdup(c->net[0].bridge);
		v->network = g_strdup(c->net[0].network);
	}
	GtkAdjustment *mem = gtk_spin_button_get_adjustment(GTK_SPIN_BUTTON(W("memory")));
	gtk_adjustment_set_upper(mem, MAX(gtk_adjustment_get_upper(mem), c->memory_mib));
	gtk_spin_button_set_value(GTK_SPIN_BUTTON(W("memory")), c->memory_mib);
	GtkAdjustment *cpus = gtk_spin_button_get_adjustment(GTK_SPIN_BUTTON(W("cpus")));
	gtk_adjustment_set_upper(cpus, MAX(gtk_adjustment_get_upper(cpus), c->cpus));
	gtk_spin_button_set_value(GTK_SPIN_BUTTON(W("cpus")), c->cpus);
	struct boot_entry order[BOOT_DEVICES];
	boot_order_parse(c->boot, order);
	GtkListStore *store = GTK_LIST_STORE(gtk_builder_get_object(s->builder, "boot_store"));
	gtk_list_store_clear(store);
	for (int i = 0; i < BOOT_DEVICES; i++)
		gtk_list_store_insert_with_values(store, NULL, -1, BOOT_COL_ON, order[i].enabled,
						  BOOT_COL_LABEL, boot_device_label(order[i].device),
						  BOOT_COL_DEVICE, order[i].device, -1);
}

static void on_config_read(GObject *src, GAsyncResult *res, gpointer data)
{
	if (!g_task_propagate_boolean(G_TASK(res), NULL))
		return; /* cancelled: the window is gone */
	struct settings *s = data;
	struct config_read *r = g_task_get_task_data(G_TASK(res));
	if (r->error) {
		error_bar_show(s->error_bar, GTK_MESSAGE_ERROR, "Cannot read the VM's settings",
			       r->error);
		return;
	}
	bool first = !s->loaded;
	vm_config_clear(&s->cfg);
	s->cfg = r->cfg;
	vm_config_init(&r->cfg); /* taken */
	s->loaded = true;
	if (first)
		fill_fields(s);
	settings_devices_fill(s, first);
	settings_update(s);
}

static void on_disk_info(GObject *src, GAsyncResult *res, gpointer data)
{
	g_autoptr(GError) err = NULL;
	g_autofree char *out = NULL;
	g_free(cli_run_finish(res, &out, &err)); /* what it printed is in OUT */
	if (g_error_matches(err, G_IO_ERROR, G_IO_ERROR_CANCELLED))
		return;
	struct settings *s = data;
	if (s->disks)
		g_ptr_array_unref(s->disks);
	s->disks = disk_info_parse(out); /* an unreadable image (a lost ISO) fails it, the rest
					    is still there */
	settings_devices_fill(s, false);
	settings_update(s);
}

static void load(struct settings *s)
{
	struct config_read *r = g_new0(struct config_read, 1);
	r->dir = g_strdup(pcvm_vm_get_dir(s->vm));
	vm_config_init(&r->cfg);
	GTask *task = g_task_new(NULL, s->cancel, on_config_read, s);
	g_task_set_task_data(task, r, config_read_free);
	g_task_run_in_thread(task, config_thread);
	g_object_unref(task);
	const char *argv[] = { "disk", "info", pcvm_vm_get_dir(s->vm), NULL };
	cli_run_async(argv, s->cancel, on_disk_info, s);
}

/* The host's memory and CPUs bound the spin buttons, as in the wizard. */
static void on_host(GObject *src, GAsyncResult *res, gpointer data)
{
	struct wizard_host *h = wizard_host_finish(res);
	if (!h)
		return; /* cancelled */
	struct settings *s = data;
	s->host = h;
	unsigned mem_max = h->memory_mib ? host_vm_memory_limit(h->memory_mib) : 4096;
	unsigned cpu_max = MIN(MAX(h->cpus, 1), VM_MAX_CPUS);
	GtkSpinButton *mem = GTK_SPIN_BUTTON(W("memory")), *cpus = GTK_SPIN_BUTTON(W("cpus"));
	gtk_adjustment_set_upper(gtk_spin_button_get_adjustment(mem),
				 MAX((int)mem_max, gtk_spin_button_get_value_as_int(mem)));
	gtk_adjustment_set_upper(gtk_spin_button_get_adjustment(cpus),
				 MAX((int)cpu_max, gtk_spin_button_get_value_as_int(cpus)));
	g_autofree char *mem_hint = g_strdup_printf(
	    "This host has %u MiB; a VM gets at most %u MiB, so that the host keeps enough.",
	    h->memory_mib, mem_max);
	g_autofree char *cpu_hint = g_strdup_printf("This host has %u CPUs.", h->cpus);
	gtk_label_set_text(GTK_LABEL(W("memory_hint")), h->memory_mib ? mem_hint : "");
	gtk_label_set_text(GTK_LABEL(W("cpus_hint")), cpu_hint);
	settings_devices_fill(s, false); /* the bridges */
}

/* ---- commands ---- */

struct run_call {
	struct settings *s;
	char *what;
};

static void on_run_done(GObject *src, GAsyncResult *res, gpointer data)
{
	struct run_call *c = data;
	g_autoptr(GError) err = NULL;
	g_free(cli_run_finish(res, NULL, &err)); /* the output: only success matters */
	if (!g_error_matches(err, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
		struct settings *s = c->s;
		s->busy--;
		if (err) {
			g_autofree char *title = g_strdup_printf("Cannot %s", c->what);
			error_bar_show(s->error_bar, GTK_MESSAGE_ERROR, title, err->message);
		} else {
			gtk_widget_hide(s->error_bar); /* an earlier failure is past */
		}
		load(s); /* a failure may have changed something too */
		settings_update(s);
	}
	g_free(c->what);
	g_free(c);
}

void settings_run(struct settings *s, const char *what, const char *const *args)
{
	struct run_call *c = g_new0(struct run_call, 1);
	c->s = s;
	c->what = g_strdup(what);
	s->busy++;
	settings_update(s);
	cli_run_async(args, s->cancel, on_run_done, c);
}

/* ---- the power-off fields and Save ---- */

static void on_boot_toggled(GtkCellRendererToggle *cell, char *path, gpointer data)
{
	struct settings *s = data;
	GtkTreeModel *model = GTK_TREE_MODEL(gtk_builder_get_object(s->builder, "boot_store"));
	GtkTreeIter it;
	gboolean on;
	if (!gtk_tree_model_get_iter_from_string(model, &it, path))
		return;
	gtk_tree_model_get(model, &it, BOOT_COL_ON, &on, -1);
	gtk_list_store_set(GTK_LIST_STORE(model), &it, BOOT_COL_ON, !on, -1);
}

/* Moves the selected boot device one place up (UP) or down. */
static void boot_move(struct settings *s, bool up)
{
	GtkTreeModel *model;
	GtkTreeIter it, other;
	GtkTreeSelection *sel = gtk_tree_view_get_selection(GTK_TREE_VIEW(W("boot_list")));
	if (!gtk_tree_selection_get_selected(sel, &model, &it))
		return;
	other = it;
	if (up ? gtk_tree_model_iter_previous(model, &other) : gtk_tree_model_iter_next(model, &other))
		gtk_list_store_swap(GTK_LIST_STORE(model), &it, &other);
}

static void on_boot_up(GtkButton *b, gpointer data)
{
	boot_move(data, true);
}

static void on_boot_down(GtkButton *b, gpointer data)
{
	boot_move(data, false);
}

/* What the power-off fields say now; false (and a message) if they cannot be saved. */
static bool collect(struct settings *s, struct vm_settings *new)
{
	GtkTreeModel *model = GTK_TREE_MODEL(gtk_builder_get_object(s->builder, "boot_store"));
	struct boot_entry order[BOOT_DEVICES] = { 0 };
	GtkTreeIter it;
	int n = 0;
	for (bool ok = gtk_tree_model_get_iter_first(model, &it); ok && n < BOOT_DEVICES;
	     ok = gtk_tree_model_iter_next(model, &it), n++) {
		gboolean on;
		int dev;
		gtk_tree_model_get(model, &it, BOOT_COL_ON, &on, BOOT_COL_DEVICE, &dev, -1);
		order[n] = (struct boot_entry){ dev, on };
	}
	new->memory_mib = gtk_spin_button_get_value_as_int(GTK_SPIN_BUTTON(W("memory")));
	new->cpus = gtk_spin_button_get_value_as_int(GTK_SPIN_BUTTON(W("cpus")));
	new->boot = boot_order_format(order);
	settings_devices_collect(s, new);
	if (!new->boot)
		error_bar_show(s->error_bar, GTK_MESSAGE_ERROR, "Cannot save the settings",
			       "Tick at least one device in the boot order.");
	return new->boot != NULL;
}

static void on_saved(GObject *src, GAsyncResult *res, gpointer data)
{
	g_autoptr(GError) err = NULL;
	g_free(cli_run_finish(res, NULL, &err)); /* the output: only success matters */
	if (g_error_matches(err, G_IO_ERROR, G_IO_ERROR_CANCELLED))
		return;
	struct settings *s = data;
	s->busy--;
	settings_update(s);
	if (err)
		error_bar_show(s->error_bar, GTK_MESSAGE_ERROR, "Cannot save the settings",
			       err->message);
	else
		gtk_widget_destroy(GTK_WIDGET(s->window));
}

static void on_save(GtkButton *b, gpointer data)
{
	struct settings *s = data;
	struct vm_settings new = { 0 };
	if (!s->loaded || !collect(s, &new)) {
		vm_settings_clear(&new);
		return;
	}
	g_autoptr(GPtrArray) sets = vm_settings_diff(&s->saved, &new);
	vm_settings_clear(&new);
	if (!sets->len) {
		gtk_widget_destroy(GTK_WIDGET(s->window));
		return;
	}
	g_autoptr(GPtrArray) argv = g_ptr_array_new();
	const char *head[] = { "config", pcvm_vm_get_dir(s->vm), "set" };
	for (size_t i = 0; i < G_N_ELEMENTS(head); i++)
		g_ptr_array_add(argv, (gpointer)head[i]);
	for (guint i = 0; i < sets->len; i++)
		g_ptr_array_add(argv, sets->pdata[i]);
	g_ptr_array_add(argv, NULL);
	s->busy++;
	settings_update(s);
	cli_run_async((const char *const *)argv->pdata, s->cancel, on_saved, s);
}

void settings_update(struct settings *s)
{
	bool on = settings_vm_on(s);
	g_autofree char *title = g_strdup_printf("Settings — %s", pcvm_vm_get_name(s->vm));
	gtk_window_set_title(s->window, title);
	g_autofree char *note = g_strdup_printf(
	    "“%s” is running: what is marked “Applies at the next power-on” waits for it. The "
	    "CD/DVD and the port forwards change at once.",
	    pcvm_vm_get_name(s->vm));
	gtk_label_set_text(GTK_LABEL(W("running_note")), note);
	static const char *const notes[] = { "running_note", "memory_note", "cpus_note",
					     "net_note", "boot_note" };
	for (size_t i = 0; i < G_N_ELEMENTS(notes); i++)
		gtk_widget_set_visible(W(notes[i]), on);
	gtk_widget_set_sensitive(W("save"), s->loaded && !s->busy);
	settings_devices_update(s);
}

/* ---- the window ---- */

static void on_vm_changed(PcvmVm *vm, gpointer data)
{
	settings_update(data);
}

static void on_vm_removed(PcvmVm *vm, gpointer data)
{
	struct settings *s = data;
	gtk_widget_destroy(GTK_WIDGET(s->window));
}

static void settings_free(gpointer data)
{
	struct settings *s = data;
	if (s->chooser) {
		g_signal_handlers_disconnect_by_data(s->chooser, s);
		gtk_native_dialog_destroy(GTK_NATIVE_DIALOG(s->chooser));
		g_clear_object(&s->chooser);
	}
	g_cancellable_cancel(s->cancel);
	g_object_unref(s->cancel);
	g_signal_handlers_disconnect_by_data(s->vm, s);
	g_object_set_data(G_OBJECT(s->vm), "settings", NULL);
	g_object_unref(s->vm);
	vm_config_clear(&s->cfg);
	vm_settings_clear(&s->saved);
	if (s->host)
		wizard_host_free(s->host);
	if (s->disks)
		g_ptr_array_unref(s->disks);
	g_object_unref(s->builder);
	g_free(s);
}

static void connect_fields(struct settings *s)
{
	g_signal_connect_swapped(W("cancel"), "clicked", G_CALLBACK(gtk_widget_destroy), s->window);
	g_signal_connect(W("save"), "clicked", G_CALLBACK(on_save), s);
	g_signal_connect(gtk_builder_get_object(s->builder, "boot_list_toggle"), "toggled",
			 G_CALLBACK(on_boot_toggled), s);
	g_signal_connect(W("boot_up"), "clicked", G_CALLBACK(on_boot_up), s);
	g_signal_connect(W("boot_down"), "clicked", G_CALLBACK(on_boot_down), s);
}

GtkWindow *settings_show(GtkWindow *parent, PcvmVm *vm)
{
	GtkWindow *existing = g_object_get_data(G_OBJECT(vm), "settings");
	if (existing) {
		gtk_window_present(existing);
		return existing;
	}
	struct settings *s = g_new0(struct settings, 1);
	s->builder = app_builder("settings.ui");
	s->window = GTK_WINDOW(W("window"));
	s->vm = g_object_ref(vm);
	s->cancel = g_cancellable_new();
	vm_config_init(&s->cfg);
	gtk_window_set_transient_for(s->window, parent);
	gtk_window_set_application(s->window, gtk_window_get_application(parent));
	s->error_bar = error_bar_new();
	gtk_box_pack_start(GTK_BOX(W("main_box")), s->error_bar, FALSE, FALSE, 0);
	gtk_box_reorder_child(GTK_BOX(W("main_box")), s->error_bar, 0);
	connect_fields(s);
	settings_devices_init(s);
	g_signal_connect_swapped(s->window, "destroy", G_CALLBACK(settings_free), s);
	g_object_set_data(G_OBJECT(vm), "settings", s->window);
	g_signal_connect(vm, "changed", G_CALLBACK(on_vm_changed), s);
	g_signal_connect(vm, "removed", G_CALLBACK(on_vm_removed), s);
	wizard_host_async(s->cancel, on_host, s);
	load(s);
	settings_update(s);
	gtk_widget_show_all(GTK_WIDGET(s->window));
	return s->window;
}
