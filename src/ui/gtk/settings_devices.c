/* The settings window's device pages (settings_private.h): hard disks (`pcvm disk`, VM off),
 * the CD/DVD drive (`pcvm media`, at once) and the network: its connection (at the next
 * power-on, saved with the rest) and NAT port forwards (`pcvm portfwd`, at once). */
#include <string.h>

#include "app.h"
#include "cli.h"
#include "dialogs.h"
#include "net/slirp.h"
#include "pcvm_output.h"
#include "settings_private.h"

#define W(id) settings_widget(s, id)

enum { DISK_COL_SLOT, DISK_COL_FILE, DISK_COL_FORMAT, DISK_COL_SIZE, DISK_COL_USED };
enum { FWD_COL_PROTO, FWD_COL_ADDR, FWD_COL_HOST, FWD_COL_GUEST, FWD_COL_RULE };

#define DISK_MAX_GIB 16384

static GtkListStore *store(struct settings *s, const char *id)
{
	return GTK_LIST_STORE(gtk_builder_get_object(s->builder, id));
}

/* Column COL of the row selected in tree view VIEW, or NULL. */
static char *selected_text(struct settings *s, const char *view, int col)
{
	GtkTreeModel *model;
	GtkTreeIter it;
	char *text = NULL;
	GtkTreeSelection *sel = gtk_tree_view_get_selection(GTK_TREE_VIEW(W(view)));
	if (gtk_tree_selection_get_selected(sel, &model, &it))
		gtk_tree_model_get(model, &it, col, &text, -1);
	return text;
}

static const struct disk_entry *disk_find(struct settings *s, const char *slot)
{
	for (guint i = 0; s->disks && slot && i < s->disks->len; i++) {
		const struct disk_entry *d = s->disks->pdata[i];
		if (!strcmp(d->slot, slot))
			return d;
	}
	return NULL;
}

static char *size_text(uint64_t bytes)
{
	return bytes ? g_format_size_full(bytes, G_FORMAT_SIZE_IEC_UNITS) : g_strdup("…");
}

/* ---- hard disks ---- */

static void fill_disks(struct settings *s)
{
	g_autofree char *keep = selected_text(s, "disk_list", DISK_COL_SLOT);
	GtkListStore *st = store(s, "disk_store");
	gtk_list_store_clear(st);
	for (unsigned i = 0; i < VM_DRIVE_SLOTS; i++) {
		const struct vm_drive *d = &s->cfg.drives[i];
		if (!vm_drive_present(d) || vm_drive_is_cdrom(d))
			continue;
		const struct disk_entry *e = disk_find(s, vm_drive_slot_name(i));
		g_autofree char *size = size_text(e ? e->size : 0);
		g_autofree char *used = size_text(e ? e->allocated : 0);
		GtkTreeIter it;
		gtk_list_store_insert_with_values(st, &it, -1, DISK_COL_SLOT, vm_drive_slot_name(i),
						  DISK_COL_FILE, d->file, DISK_COL_FORMAT,
						  e && e->format ? e->format : "…", DISK_COL_SIZE,
						  size, DISK_COL_USED, used, -1);
		if (!g_strcmp0(keep, vm_drive_slot_name(i)))
			gtk_tree_selection_select_iter(
			    gtk_tree_view_get_selection(GTK_TREE_VIEW(W("disk_list"))), &it);
	}
}

static void on_disk_size(unsigned gib, gpointer data)
{
	struct settings *s = data;
	g_autofree char *size = g_strdup_printf("%uG", gib);
	g_autofree char *slot = g_object_steal_data(G_OBJECT(s->window), "grow-slot");
	const char *add[] = { "disk", "add", pcvm_vm_get_dir(s->vm), "--size", size, NULL };
	const char *grow[] = { "disk", "grow", pcvm_vm_get_dir(s->vm), slot, size, NULL };
	settings_run(s, slot ? "grow the disk" : "add a disk", slot ? grow : add);
}

static void on_disk_add(GtkButton *b, gpointer data)
{
	struct settings *s = data;
	g_object_set_data(G_OBJECT(s->window), "grow-slot", NULL);
	dialog_ask_size(s->window, "Add a Hard Disk",
			"A new qcow2 disk in the VM's folder, in the first free IDE slot. It takes "
			"host space only as the guest writes to it.",
			"_Add", 1, DISK_MAX_GIB, 8, on_disk_size, s, NULL);
}

static void on_disk_grow(GtkButton *b, gpointer data)
{
	struct settings *s = data;
	g_autofree char *slot = selected_text(s, "disk_list", DISK_COL_SLOT);
	const struct disk_entry *e = disk_find(s, slot);
	if (!slot)
		return;
	uint64_t gib = (1ull << 30), now = e ? e->size : 0;
	unsigned min = now / gib + 1; /* the next whole GiB above the size it has */
	g_autofree char *title = g_strdup_printf("Grow the Disk in %s", slot);
	g_autofree char *cur = size_text(now);
	g_autofree char *detail = g_strdup_printf(
	    "The disk has %s. It grows to the size below; its partitions stay as they are: grow "
	    "them with the guest's own tools. Snapshots keep the size they had.",
	    cur);
	g_object_set_data_full(G_OBJECT(s->window), "grow-slot", g_steal_pointer(&slot), g_free);
	dialog_ask_size(s->window, title, detail, "_Grow", min, DISK_MAX_GIB, min, on_disk_size, s,
			NULL);
}

static void on_disk_removed(gboolean delete_file, gpointer data)
{
	struct settings *s = data;
	g_autofree char *slot = selected_text(s, "disk_list", DISK_COL_SLOT);
	const char *argv[] = { "disk", "remove", pcvm_vm_get_dir(s->vm), slot,
			       delete_file ? "--delete-file" : NULL, NULL };
	if (slot)
		settings_run(s, "remove the disk", argv);
}

static void on_disk_remove(GtkButton *b, gpointer data)
{
	struct settings *s = data;
	g_autofree char *slot = selected_text(s, "disk_list", DISK_COL_SLOT);
	g_autofree char *file = selected_text(s, "disk_list", DISK_COL_FILE);
	if (!slot)
		return;
	g_autofree char *title = g_strdup_printf("Remove the disk in %s?", slot);
	g_autofree char *detail = g_strdup_printf(
	    "The virtual machine no longer has the disk %s. The file stays where it is unless "
	    "you tick the box.",
	    file);
	dialog_confirm_option(s->window, title, detail, "_Remove", "Also _delete the disk's file",
			      on_disk_removed, s, NULL);
}

/* ---- the CD/DVD drive ---- */

static int cd_slot(struct settings *s)
{
	return s->loaded ? vm_ide_slot_find(&s->cfg, "cdrom") : -1;
}

static void fill_cd(struct settings *s)
{
	int slot = cd_slot(s);
	const char *file = slot >= 0 ? s->cfg.ide[slot].file : NULL;
	g_autofree char *where =
	    slot >= 0 ? g_strdup_printf("A CD/DVD drive on %s.", vm_ide_slot_name(slot))
		      : g_strdup("This virtual machine has no CD/DVD drive.");
	gtk_label_set_text(GTK_LABEL(W("cd_drive")), where);
	gtk_entry_set_text(GTK_ENTRY(W("cd_file")), file ? file : "");
	gtk_widget_set_visible(W("cd_add"), s->loaded && slot < 0);
}

static void on_iso_chosen(GtkNativeDialog *d, int response, gpointer data)
{
	struct settings *s = data;
	g_autofree char *path = response == GTK_RESPONSE_ACCEPT
				    ? gtk_file_chooser_get_filename(GTK_FILE_CHOOSER(d))
				    : NULL;
	g_clear_object(&s->chooser);
	int slot = cd_slot(s);
	const char *argv[] = { "media", pcvm_vm_get_dir(s->vm), vm_ide_slot_name(slot), "--insert",
			       path, NULL };
	if (path && slot >= 0)
		settings_run(s, "change the disc", argv);
}

static void on_cd_choose(GtkButton *b, gpointer data)
{
	struct settings *s = data;
	if (s->chooser)
		return;
	GtkFileChooserNative *d = gtk_file_chooser_native_new(
	    "Choose a Disc Image", s->window, GTK_FILE_CHOOSER_ACTION_OPEN, "_Insert", "_Cancel");
	GtkFileFilter *iso = gtk_file_filter_new();
	gtk_file_filter_set_name(iso, "Disc images (*.iso)");
	gtk_file_filter_add_pattern(iso, "*.iso");
	gtk_file_filter_add_pattern(iso, "*.ISO");
	gtk_file_chooser_add_filter(GTK_FILE_CHOOSER(d), iso);
	GtkFileFilter *all = gtk_file_filter_new();
	gtk_file_filter_set_name(all, "All files");
	gtk_file_filter_add_pattern(all, "*");
	gtk_file_chooser_add_filter(GTK_FILE_CHOOSER(d), all);
	int slot = cd_slot(s);
	const char *now = slot >= 0 ? s->cfg.ide[slot].file : NULL;
	if (now)
		gtk_file_chooser_set_filename(GTK_FILE_CHOOSER(d), now);
	g_signal_connect(d, "response", G_CALLBACK(on_iso_chosen), s);
	s->chooser = d; /* settings_free takes it along if the window goes first */
	gtk_native_dialog_set_modal(GTK_NATIVE_DIALOG(d), TRUE);
	gtk_native_dialog_show(GTK_NATIVE_DIALOG(d));
}

static void on_cd_eject(GtkButton *b, gpointer data)
{
	struct settings *s = data;
	int slot = cd_slot(s);
	const char *argv[] = { "media", pcvm_vm_get_dir(s->vm), vm_ide_slot_name(slot), "--eject",
			       NULL };
	if (slot >= 0)
		settings_run(s, "eject the disc", argv);
}

/* A drive in the first free slot of the secondary channel, else of the primary. */
static void on_cd_add(GtkButton *b, gpointer data)
{
	struct settings *s = data;
	static const unsigned order[] = { 2, 3, 1, 0 };
	for (size_t i = 0; i < G_N_ELEMENTS(order); i++) {
		if (vm_drive_present(&s->cfg.ide[order[i]]))
			continue;
		g_autofree char *set = g_strdup_printf("%s.type=cdrom", vm_ide_slot_name(order[i]));
		const char *argv[] = { "config", pcvm_vm_get_dir(s->vm), "set", set, NULL };
		settings_run(s, "add a CD/DVD drive", argv);
		return;
	}
	error_bar_show(s->error_bar, GTK_MESSAGE_ERROR, "Cannot add a CD/DVD drive",
		       "All four IDE slots are in use: remove a disk first.");
}

/* ---- the network ---- */

static bool nat_now(struct settings *s)
{
	const struct vm_nic *n = &s->cfg.net[0];
	return s->loaded && n->present && (!n->mode || !strcmp(n->mode, "nat"));
}

static void fill_forwards(struct settings *s)
{
	GtkListStore *st = store(s, "fwd_store");
	gtk_list_store_clear(st);
	for (char **r = s->cfg.net[0].forward; r && *r; r++) {
		struct net_hostfwd f;
		char *error = NULL;
		if (net_hostfwd_parse(*r, &f, &error) < 0) {
			g_free(error);
			continue;
		}
		g_autofree char *host = g_strdup_printf("%u", f.host_port);
		g_autofree char *guest = g_strdup_printf("%u", f.guest_port);
		gtk_list_store_insert_with_values(st, NULL, -1, FWD_COL_PROTO, f.udp ? "UDP" : "TCP",
						  FWD_COL_ADDR, f.host_addr, FWD_COL_HOST, host,
						  FWD_COL_GUEST, guest, FWD_COL_RULE, *r, -1);
	}
}

static void on_fwd_add(GtkButton *b, gpointer data)
{
	struct settings *s = data;
	const char *proto = gtk_combo_box_get_active_id(GTK_COMBO_BOX(W("fwd_proto")));
	g_autofree char *addr = g_strstrip(g_strdup(gtk_entry_get_text(GTK_ENTRY(W("fwd_addr")))));
	int host = gtk_spin_button_get_value_as_int(GTK_SPIN_BUTTON(W("fwd_host")));
	int guest = gtk_spin_button_get_value_as_int(GTK_SPIN_BUTTON(W("fwd_guest")));
	g_autofree char *from = g_strdup_printf("%s:%d", *addr ? addr : "127.0.0.1", host);
	g_autofree char *to = g_strdup_printf("%d", guest);
	const char *argv[] = { "portfwd", pcvm_vm_get_dir(s->vm), "add", proto ? proto : "tcp",
			       from, to, NULL };
	settings_run(s, "add the port forward", argv);
}

static void on_fwd_remove(GtkButton *b, gpointer data)
{
	struct settings *s = data;
	g_autofree char *rule = selected_text(s, "fwd_list", FWD_COL_RULE);
	struct net_hostfwd f;
	char *error = NULL;
	if (!rule || net_hostfwd_parse(rule, &f, &error) < 0) {
		g_free(error);
		return;
	}
	g_autofree char *from = g_strdup_printf("%s:%u", f.host_addr, f.host_port);
	const char *argv[] = { "portfwd", pcvm_vm_get_dir(s->vm), "remove", f.udp ? "udp" : "tcp",
			       from, NULL };
	settings_run(s, "remove the port forward", argv);
}

/* COMBO (with an entry) lists ITEMS, keeping what its entry says. */
static void combo_items(GtkComboBoxText *combo, char **items)
{
	GtkEntry *entry = GTK_ENTRY(gtk_bin_get_child(GTK_BIN(combo)));
	g_autofree char *text = g_strdup(gtk_entry_get_text(entry));
	gtk_combo_box_text_remove_all(combo);
	for (char **i = items; i && *i; i++)
		gtk_combo_box_text_append_text(combo, *i);
	gtk_entry_set_text(entry, text);
}

static void combo_set_text(struct settings *s, const char *id, const char *text)
{
	gtk_entry_set_text(GTK_ENTRY(gtk_bin_get_child(GTK_BIN(W(id)))), text ? text : "");
}

static char *combo_text(struct settings *s, const char *id)
{
	const char *t = gtk_entry_get_text(GTK_ENTRY(gtk_bin_get_child(GTK_BIN(W(id)))));
	g_autofree char *text = g_strstrip(g_strdup(t));
	return *text ? g_steal_pointer(&text) : NULL;
}

static void on_net_list(GObject *src, GAsyncResult *res, gpointer data)
{
	g_autoptr(GError) err = NULL;
	g_autofree char *out = cli_run_finish(res, NULL, &err);
	if (g_error_matches(err, G_IO_ERROR, G_IO_ERROR_CANCELLED))
		return;
	struct settings *s = data;
	g_auto(GStrv) names = wizard_parse_net_list(out);
	combo_items(GTK_COMBO_BOX_TEXT(W("net_network")), names);
}

void settings_devices_collect(struct settings *s, struct vm_settings *new)
{
	const char *mode = gtk_combo_box_get_active_id(GTK_COMBO_BOX(W("net_mode")));
	/* "Not connected" on a VM without a network card leaves it without one */
	if (!s->saved.net_mode && !g_strcmp0(mode, "none"))
		mode = NULL;
	new->net_mode = g_strdup(mode);
	new->bridge = combo_text(s, "net_bridge");
	new->network = combo_text(s, "net_network");
}

static void on_net_mode(GtkComboBox *combo, gpointer data)
{
	settings_devices_update(data);
}

/* ---- the pages together ---- */

void settings_devices_fill(struct settings *s, bool first)
{
	if (!s->loaded)
		return;
	fill_disks(s);
	fill_cd(s);
	fill_forwards(s);
	if (s->host)
		combo_items(GTK_COMBO_BOX_TEXT(W("net_bridge")), s->host->bridges);
	if (first) {
		const struct vm_nic *n = &s->cfg.net[0];
		gtk_combo_box_set_active_id(GTK_COMBO_BOX(W("net_mode")),
					    !n->present ? "none" : n->mode ? n->mode : "nat");
		combo_set_text(s, "net_bridge", n->bridge);
		combo_set_text(s, "net_network", n->network);
	}
	settings_devices_update(s);
}

void settings_devices_update(struct settings *s)
{
	bool on = settings_vm_on(s), idle = s->loaded && !s->busy;
	g_autofree char *disk = selected_text(s, "disk_list", DISK_COL_SLOT);
	bool free_slot = false;
	for (unsigned i = 0; i < VM_IDE_SLOTS; i++)
		free_slot |= s->loaded && !vm_drive_present(&s->cfg.ide[i]);
	gtk_widget_set_sensitive(W("disk_add"), idle && !on && free_slot);
	gtk_widget_set_sensitive(W("disk_grow"), idle && !on && disk);
	gtk_widget_set_sensitive(W("disk_remove"), idle && !on && disk);
	gtk_label_set_text(GTK_LABEL(W("disk_hint")),
			   on ? "Power the virtual machine off to add, grow or remove disks."
			      : "Disks change at once. A VM with snapshots keeps its disks: delete "
				"the snapshots to add or remove one.");
	int cd = cd_slot(s);
	gtk_widget_set_sensitive(W("cd_choose"), idle && cd >= 0);
	gtk_widget_set_sensitive(W("cd_eject"), idle && cd >= 0 && s->cfg.ide[cd].file);
	gtk_widget_set_sensitive(W("cd_add"), idle);
	const char *mode = gtk_combo_box_get_active_id(GTK_COMBO_BOX(W("net_mode")));
	gtk_widget_set_sensitive(W("net_bridge"), !g_strcmp0(mode, "bridged"));
	gtk_widget_set_sensitive(W("net_network"), !g_strcmp0(mode, "hostonly"));
	bool nat = nat_now(s);
	g_autofree char *fwd = selected_text(s, "fwd_list", FWD_COL_RULE);
	static const char *const fwd_widgets[] = { "fwd_proto", "fwd_addr", "fwd_host", "fwd_guest",
						   "fwd_add" };
	for (size_t i = 0; i < G_N_ELEMENTS(fwd_widgets); i++)
		gtk_widget_set_sensitive(W(fwd_widgets[i]), idle && nat);
	gtk_widget_set_sensitive(W("fwd_remove"), idle && nat && fwd);
	gtk_label_set_text(GTK_LABEL(W("fwd_hint")),
			   nat ? "Forwards change at once, running or not: a connection to the host "
				 "address and port reaches the guest's port."
			       : "Port forwarding is for NAT: choose NAT above and save first.");
}

static void on_selection(GtkTreeSelection *sel, gpointer data)
{
	settings_devices_update(data);
}

void settings_devices_init(struct settings *s)
{
	static const struct {
		const char *id;
		GCallback cb;
	} buttons[] = {
		{ "disk_add", G_CALLBACK(on_disk_add) },
		{ "disk_grow", G_CALLBACK(on_disk_grow) },
		{ "disk_remove", G_CALLBACK(on_disk_remove) },
		{ "cd_choose", G_CALLBACK(on_cd_choose) },
		{ "cd_eject", G_CALLBACK(on_cd_eject) },
		{ "cd_add", G_CALLBACK(on_cd_add) },
		{ "fwd_add", G_CALLBACK(on_fwd_add) },
		{ "fwd_remove", G_CALLBACK(on_fwd_remove) },
	};
	for (size_t i = 0; i < G_N_ELEMENTS(buttons); i++)
		g_signal_connect(W(buttons[i].id), "clicked", buttons[i].cb, s);
	static const char *const lists[] = { "disk_list", "fwd_list" };
	for (size_t i = 0; i < G_N_ELEMENTS(lists); i++)
		g_signal_connect(gtk_tree_view_get_selection(GTK_TREE_VIEW(W(lists[i]))), "changed",
				 G_CALLBACK(on_selection), s);
	g_signal_connect(W("net_mode"), "changed", G_CALLBACK(on_net_mode), s);
	gtk_combo_box_set_active_id(GTK_COMBO_BOX(W("fwd_proto")), "tcp");
	const char *argv[] = { "net", "list", NULL };
	cli_run_async(argv, s->cancel, on_net_list, s);
}
