/* The new-VM wizard's pages (wizard.h, data/wizard.ui). */
#include <glib/gstdio.h>
#include <string.h>

#include "app.h"
#include "host.h"
#include "wizard_private.h"

#define CHECK_DELAY_MS 300 /* after the last keystroke, the ISO or the location is looked at */

enum wizard_page {
	PAGE_TYPE,
	PAGE_INSTALLER,
	PAGE_NAME,
	PAGE_DISK,
	PAGE_HARDWARE, /* Custom only */
	PAGE_NETWORK,  /* Custom only */
	PAGE_SUMMARY,
	PAGE_PROGRESS,
};

/* Shared with the asynchronous work it starts (a reference each): `closed` tells late
 * answers that the window is gone. */
struct wizard {
	GtkBuilder *b;
	GtkAssistant *assistant;
	wizard_done done;
	gpointer data;
	bool closed;
	const struct guest_preset *preset;
	bool programmatic; /* the code, not the user, is changing an entry */
	bool name_edited;  /* then a new preset no longer renames the VM */
	bool location_edited;
	bool iso_ok;
	bool location_ok;
	bool net_supported; /* this pcvm has `create --net` */
	unsigned iso_serial, location_serial;
	guint iso_timer, location_timer;
	unsigned host_mib, host_cpus;
	struct wizard_spec spec; /* filled on the summary page */
};

static struct wizard *wizard_ref(struct wizard *w)
{
	return g_rc_box_acquire(w);
}

static void wizard_clear(gpointer data)
{
	struct wizard *w = data;
	g_object_unref(w->b);
	wizard_spec_clear(&w->spec);
}

static void wizard_unref(struct wizard *w)
{
	g_rc_box_release_full(w, wizard_clear);
}

static GtkWidget *W(struct wizard *w, const char *id)
{
	return GTK_WIDGET(gtk_builder_get_object(w->b, id));
}

static const char *entry_text(struct wizard *w, const char *id)
{
	return gtk_entry_get_text(GTK_ENTRY(W(w, id)));
}

static bool active(struct wizard *w, const char *id)
{
	return gtk_toggle_button_get_active(GTK_TOGGLE_BUTTON(W(w, id)));
}

static unsigned spin_value(struct wizard *w, const char *id)
{
	return gtk_spin_button_get_value_as_int(GTK_SPIN_BUTTON(W(w, id)));
}

static void set_entry(struct wizard *w, const char *id, const char *text)
{
	w->programmatic = true;
	gtk_entry_set_text(GTK_ENTRY(W(w, id)), text);
	w->programmatic = false;
}

static void page_complete(struct wizard *w, enum wizard_page page, bool complete)
{
	gtk_assistant_set_page_complete(w->assistant,
					gtk_assistant_get_nth_page(w->assistant, page), complete);
}

static void set_status(GtkWidget *label, bool error, const char *text)
{
	g_autofree char *markup =
	    error ? g_markup_printf_escaped("<span foreground='#c01c28'>%s</span>", text)
		  : g_markup_escape_text(text, -1);
	gtk_label_set_markup(GTK_LABEL(label), markup);
}

/* ---- name and location ---- */

static char *default_location(struct wizard *w, const char *name)
{
	g_autofree char *safe = g_strdelimit(g_strdup(*name ? name : "Virtual Machine"), "/", '-');
	g_autofree char *leaf = g_strconcat(safe, ".pcvm", NULL);
	return g_build_filename(app_env()->library_dir, leaf, NULL);
}

static void update_name_page(struct wizard *w)
{
	g_autofree char *name = g_strstrip(g_strdup(entry_text(w, "name_entry")));
	page_complete(w, PAGE_NAME, w->location_ok && *name);
}

struct location_check {
	struct wizard *w;
	unsigned serial;
	char *path;
	char *problem;
};

static void location_check_free(gpointer data)
{
	struct location_check *c = data;
	wizard_unref(c->w);
	g_free(c->path);
	g_free(c->problem);
	g_free(c);
}

static void location_thread(GTask *task, gpointer src, gpointer data, GCancellable *cancel)
{
	struct location_check *c = data;
	g_autofree char *parent = g_path_get_dirname(c->path);
	if (!g_path_is_absolute(c->path))
		c->problem = g_strdup("The location must be an absolute path.");
	else if (g_file_test(c->path, G_FILE_TEST_EXISTS))
		c->problem =
		    g_strdup_printf("%s already exists: choose another name or location.", c->path);
	else if (g_file_test(parent, G_FILE_TEST_EXISTS) && g_access(parent, W_OK) < 0)
		c->problem = g_strdup_printf("You may not write to %s.", parent);
	g_task_return_boolean(task, TRUE);
}

static void on_location_checked(GObject *src, GAsyncResult *res, gpointer data)
{
	struct location_check *c = g_task_get_task_data(G_TASK(res));
	struct wizard *w = c->w;
	if (w->closed || c->serial != w->location_serial)
		return;
	w->location_ok = !c->problem;
	g_autofree char *ok = g_strdup_printf("The VM's files will be in %s.", c->path);
	set_status(W(w, "name_status"), c->problem != NULL, c->problem ? c->problem : ok);
	update_name_page(w);
}

static gboolean check_location(gpointer data)
{
	struct wizard *w = data;
	w->location_timer = 0;
	struct location_check *c = g_new0(struct location_check, 1);
	c->w = wizard_ref(w);
	c->serial = ++w->location_serial;
	c->path = g_strdup(entry_text(w, "location_entry"));
	GTask *task = g_task_new(NULL, NULL, on_location_checked, NULL);
	g_task_set_task_data(task, c, location_check_free);
	g_task_run_in_thread(task, location_thread);
	g_object_unref(task);
	return G_SOURCE_REMOVE;
}

static void on_location_changed(GtkEditable *e, gpointer data)
{
	struct wizard *w = data;
	if (!w->programmatic)
		w->location_edited = true;
	w->location_ok = false;
	update_name_page(w);
	if (w->location_timer)
		g_source_remove(w->location_timer);
	w->location_timer = g_timeout_add(CHECK_DELAY_MS, check_location, w);
}

static void on_name_changed(GtkEditable *e, gpointer data)
{
	struct wizard *w = data;
	if (!w->programmatic)
		w->name_edited = true;
	if (!w->location_edited) {
		g_autofree char *loc = default_location(w, entry_text(w, "name_entry"));
		set_entry(w, "location_entry", loc);
	}
	update_name_page(w);
}

/* ---- the guest and its preset ---- */

static void apply_preset(struct wizard *w, const struct guest_preset *g)
{
	w->preset = g;
	gtk_spin_button_set_value(GTK_SPIN_BUTTON(W(w, "memory_spin")), g->memory_mib);
	gtk_spin_button_set_value(GTK_SPIN_BUTTON(W(w, "cpus_spin")), g->cpus);
	gtk_spin_button_set_value(GTK_SPIN_BUTTON(W(w, "disk_spin")), g->disk_gib);
	g_autofree char *note =
	    g_strdup_printf("Recommended for %s: %u GiB.", g->label, g->disk_gib);
	gtk_label_set_text(GTK_LABEL(W(w, "disk_note")), note);
	if (!w->name_edited) {
		w->programmatic = true;
		gtk_entry_set_text(GTK_ENTRY(W(w, "name_entry")),
				   strcmp(g->id, GUEST_GENERIC) ? g->label : "Virtual Machine");
		w->programmatic = false;
	}
}

static void on_guest_changed(GtkComboBox *combo, gpointer data)
{
	struct wizard *w = data;
	const struct guest_preset *g =
	    guest_presets_find(&app_env()->presets, gtk_combo_box_get_active_id(combo));
	if (g && g != w->preset)
		apply_preset(w, g);
}

static void choose_guest(struct wizard *w, const struct guest_preset *g)
{
	gtk_combo_box_set_active_id(GTK_COMBO_BOX(W(w, "guest_combo")), g->id);
}

/* ---- the installer ISO ---- */

static void update_installer_page(struct wizard *w)
{
	bool later = active(w, "src_later");
	gtk_widget_set_sensitive(W(w, "iso_entry"), !later);
	gtk_widget_set_sensitive(W(w, "iso_browse"), !later);
	page_complete(w, PAGE_INSTALLER, later || w->iso_ok);
}

struct iso_check {
	struct wizard *w;
	unsigned serial;
	char *path;
	struct iso_info info;
	char *error;
};

static void iso_check_free(gpointer data)
{
	struct iso_check *c = data;
	wizard_unref(c->w);
	iso_info_clear(&c->info);
	g_free(c->path);
	g_free(c->error);
	g_free(c);
}

static void iso_thread(GTask *task, gpointer src, gpointer data, GCancellable *cancel)
{
	struct iso_check *c = data;
	iso_probe(c->path, &c->info, &c->error);
	g_task_return_boolean(task, TRUE);
}

static void on_iso_checked(GObject *src, GAsyncResult *res, gpointer data)
{
	struct iso_check *c = g_task_get_task_data(G_TASK(res));
	struct wizard *w = c->w;
	if (w->closed || c->serial != w->iso_serial)
		return;
	w->iso_ok = !c->error;
	GtkWidget *status = W(w, "iso_status");
	if (c->error) {
		set_status(status, true, c->error);
	} else {
		const struct guest_preset *g = guest_presets_match(&app_env()->presets, &c->info);
		g_autofree char *text = g_strdup_printf(
		    "%s (volume “%s”).%s", g ? g->label : "Not recognised: choose the guest below",
		    c->info.volume_id,
		    c->info.bootable ? "" : " This disc is not bootable (no El Torito record).");
		g_autofree char *detected = g ? g_strconcat("Detected: ", text, NULL) : NULL;
		set_status(status, false, detected ? detected : text);
		choose_guest(w, g ? g : guest_presets_find(&app_env()->presets, GUEST_GENERIC));
	}
	update_installer_page(w);
}

static gboolean check_iso(gpointer data)
{
	struct wizard *w = data;
	w->iso_timer = 0;
	const char *path = entry_text(w, "iso_entry");
	if (!*path) {
		gtk_label_set_text(GTK_LABEL(W(w, "iso_status")), "");
		return G_SOURCE_REMOVE;
	}
	struct iso_check *c = g_new0(struct iso_check, 1);
	c->w = wizard_ref(w);
	c->serial = ++w->iso_serial;
	c->path = g_strdup(path);
	GTask *task = g_task_new(NULL, NULL, on_iso_checked, NULL);
	g_task_set_task_data(task, c, iso_check_free);
	g_task_run_in_thread(task, iso_thread);
	g_object_unref(task);
	return G_SOURCE_REMOVE;
}

static void on_iso_changed(GtkEditable *e, gpointer data)
{
	struct wizard *w = data;
	w->iso_ok = false;
	w->iso_serial++; /* an answer about the previous text no longer counts */
	update_installer_page(w);
	if (w->iso_timer)
		g_source_remove(w->iso_timer);
	w->iso_timer = g_timeout_add(CHECK_DELAY_MS, check_iso, w);
}

static void on_source_toggled(GtkToggleButton *b, gpointer data)
{
	update_installer_page(data);
}

/* ---- file choosers ---- */

static void on_iso_chosen(GtkNativeDialog *d, int response, gpointer data)
{
	struct wizard *w = data;
	g_autofree char *path = response == GTK_RESPONSE_ACCEPT
				    ? gtk_file_chooser_get_filename(GTK_FILE_CHOOSER(d))
				    : NULL;
	if (path && !w->closed)
		gtk_entry_set_text(GTK_ENTRY(W(w, "iso_entry")), path);
	g_object_unref(d);
	wizard_unref(w);
}

static void on_iso_browse(GtkButton *b, gpointer data)
{
	struct wizard *w = data;
	GtkFileChooserNative *d =
	    gtk_file_chooser_native_new("Choose an Installer Disc Image", GTK_WINDOW(w->assistant),
					GTK_FILE_CHOOSER_ACTION_OPEN, "_Choose", "_Cancel");
	GtkFileFilter *iso = gtk_file_filter_new();
	gtk_file_filter_set_name(iso, "Disc images (*.iso)");
	gtk_file_filter_add_pattern(iso, "*.iso");
	gtk_file_filter_add_pattern(iso, "*.ISO");
	gtk_file_chooser_add_filter(GTK_FILE_CHOOSER(d), iso);
	g_signal_connect(d, "response", G_CALLBACK(on_iso_chosen), wizard_ref(w));
	gtk_native_dialog_show(GTK_NATIVE_DIALOG(d));
}

static void on_folder_chosen(GtkNativeDialog *d, int response, gpointer data)
{
	struct wizard *w = data;
	g_autofree char *dir = response == GTK_RESPONSE_ACCEPT
				   ? gtk_file_chooser_get_filename(GTK_FILE_CHOOSER(d))
				   : NULL;
	if (dir && !w->closed) {
		g_autofree char *def = default_location(w, entry_text(w, "name_entry"));
		g_autofree char *leaf = g_path_get_basename(def);
		g_autofree char *loc = g_build_filename(dir, leaf, NULL);
		gtk_entry_set_text(GTK_ENTRY(W(w, "location_entry")), loc);
	}
	g_object_unref(d);
	wizard_unref(w);
}

static void on_location_browse(GtkButton *b, gpointer data)
{
	struct wizard *w = data;
	GtkFileChooserNative *d = gtk_file_chooser_native_new(
	    "Choose Where the VM Goes", GTK_WINDOW(w->assistant),
	    GTK_FILE_CHOOSER_ACTION_SELECT_FOLDER, "_Choose", "_Cancel");
	g_signal_connect(d, "response", G_CALLBACK(on_folder_chosen), wizard_ref(w));
	gtk_native_dialog_show(GTK_NATIVE_DIALOG(d));
}

/* ---- hardware and network ---- */

static void on_host_facts(GObject *src, GAsyncResult *res, gpointer data)
{
	struct wizard *w = data;
	struct wizard_host *h = wizard_host_finish(res);
	if (!w->closed && h) {
		w->host_mib = h->memory_mib;
		w->host_cpus = h->cpus;
		unsigned limit = host_vm_memory_limit(h->memory_mib);
		unsigned cpus = MIN(MAX(h->cpus, 1u), 32u);
		gtk_spin_button_set_range(GTK_SPIN_BUTTON(W(w, "memory_spin")), 16, limit);
		gtk_spin_button_set_range(GTK_SPIN_BUTTON(W(w, "cpus_spin")), 1, cpus);
		g_autofree char *note = g_strdup_printf(
		    "This computer has %u MiB of memory and %u logical processors: a VM may "
		    "have up to %u MiB and %u processors.",
		    h->memory_mib, h->cpus, limit, cpus);
		gtk_label_set_text(GTK_LABEL(W(w, "hardware_note")), note);
		for (char **b = h->bridges; b && *b; b++)
			gtk_combo_box_text_append(GTK_COMBO_BOX_TEXT(W(w, "bridge_combo")), *b, *b);
		if (h->bridges && h->bridges[0])
			gtk_combo_box_set_active(GTK_COMBO_BOX(W(w, "bridge_combo")), 0);
	}
	wizard_host_free(h);
	wizard_unref(w);
}

static void on_net_list(const char *out, gpointer data)
{
	struct wizard *w = data;
	g_auto(GStrv) names = wizard_parse_net_list(out);
	for (char **n = names; !w->closed && *n; n++)
		gtk_combo_box_text_append(GTK_COMBO_BOX_TEXT(W(w, "hostonly_combo")), *n, *n);
	if (!w->closed && names[0])
		gtk_combo_box_set_active(GTK_COMBO_BOX(W(w, "hostonly_combo")), 0);
	wizard_unref(w);
}

/* A bridge or network name is chosen beside its mode, and needed for it. */
static void update_network_page(struct wizard *w)
{
	static const struct {
		const char *radio, *combo;
	} named[] = { { "net_bridged", "bridge_combo" }, { "net_hostonly", "hostonly_combo" } };
	bool complete = true;
	for (size_t i = 0; i < G_N_ELEMENTS(named); i++) {
		bool on = active(w, named[i].radio);
		GtkWidget *combo = W(w, named[i].combo);
		gtk_widget_set_sensitive(combo, on);
		g_autofree char *name =
		    gtk_combo_box_text_get_active_text(GTK_COMBO_BOX_TEXT(combo));
		if (on && (!name || !*g_strstrip(name)))
			complete = false;
	}
	page_complete(w, PAGE_NETWORK, complete);
}

static void on_network_changed(GtkWidget *widget, gpointer data)
{
	update_network_page(data);
}

/* Whether this pcvm chooses networks at creation; if not, the page says so and offers NAT. */
static void on_create_help(const char *out, gpointer data)
{
	struct wizard *w = data;
	if (!w->closed) {
		w->net_supported = out && strstr(out, "--net");
		static const char *const others[] = { "net_bridged", "net_hostonly", "net_none" };
		for (size_t i = 0; i < G_N_ELEMENTS(others); i++)
			gtk_widget_set_sensitive(W(w, others[i]), w->net_supported);
		gtk_label_set_text(GTK_LABEL(W(w, "net_note")),
				   w->net_supported ? ""
						    : "This pcvm cannot choose the network when it "
						      "creates a VM yet: the VM gets NAT.");
	}
	wizard_unref(w);
}

static char *net_spec(struct wizard *w)
{
	static const struct {
		const char *radio;
		const char *prefix;
		const char *combo; /* where the bridge or network name is chosen */
	} modes[] = {
		{ "net_bridged", "bridged:", "bridge_combo" },
		{ "net_hostonly", "hostonly:", "hostonly_combo" },
		{ "net_none", "none", NULL },
	};
	if (!w->net_supported)
		return NULL;
	for (size_t i = 0; i < G_N_ELEMENTS(modes); i++) {
		if (!active(w, modes[i].radio))
			continue;
		g_autofree char *which = modes[i].combo
					     ? gtk_combo_box_text_get_active_text(
						   GTK_COMBO_BOX_TEXT(W(w, modes[i].combo)))
					     : NULL;
		return g_strconcat(modes[i].prefix, which ? g_strstrip(which) : "", NULL);
	}
	return active(w, "type_custom") ? g_strdup("nat") : NULL;
}

/* ---- the summary and the creation ---- */

static void fill_spec(struct wizard *w)
{
	struct wizard_spec *s = &w->spec;
	wizard_spec_clear(s);
	const struct guest_preset *g = w->preset;
	s->dir = g_strdup(entry_text(w, "location_entry"));
	s->name = g_strstrip(g_strdup(entry_text(w, "name_entry")));
	s->iso = active(w, "src_later") ? NULL : g_strdup(entry_text(w, "iso_entry"));
	s->guest = g_strdup(g->id);
	s->net = net_spec(w);
	s->display = g_strdup(g->display);
	s->nic = g_strdup(g->nic);
	s->disk_bus = g_strdup(g->disk_controller);
	bool custom = active(w, "type_custom");
	s->memory_mib = custom ? spin_value(w, "memory_spin") : g->memory_mib;
	s->cpus = custom ? spin_value(w, "cpus_spin") : g->cpus;
	s->disk_gib = spin_value(w, "disk_spin");
}

static void fill_summary(struct wizard *w)
{
	fill_spec(w);
	const struct wizard_spec *s = &w->spec;
	g_autofree char *markup = g_markup_printf_escaped(
	    "<b>Name:</b> %s\n<b>Location:</b> %s\n<b>Guest:</b> %s\n<b>Installer:</b> %s\n"
	    "<b>Disk:</b> %u GiB, qcow2 on %s, grows as used\n<b>Memory:</b> %u MiB\n"
	    "<b>Processors:</b> %u\n<b>Network:</b> %s (%s)\n<b>Display:</b> %s",
	    s->name, s->dir, w->preset->label, s->iso ? s->iso : "install later", s->disk_gib,
	    w->preset->disk_controller, s->memory_mib, s->cpus, s->net ? s->net : "nat", s->nic,
	    s->display);
	gtk_label_set_markup(GTK_LABEL(W(w, "summary_label")), markup);
}

static void on_created(GObject *src, GAsyncResult *res, gpointer data)
{
	struct wizard *w = data;
	g_autoptr(GError) err = NULL;
	bool ok = wizard_create_finish(res, &err);
	if (!w->closed) {
		gtk_spinner_stop(GTK_SPINNER(W(w, "create_spinner")));
		if (ok) {
			w->done(w->spec.dir, active(w, "power_on_check"), w->data);
			gtk_widget_destroy(GTK_WIDGET(w->assistant));
		} else {
			set_status(W(w, "create_error"), true, err->message);
			gtk_assistant_previous_page(w->assistant);
		}
	}
	wizard_unref(w);
}

static void on_apply(GtkAssistant *a, gpointer data)
{
	struct wizard *w = data;
	gtk_label_set_text(GTK_LABEL(W(w, "create_error")), "");
	gtk_spinner_start(GTK_SPINNER(W(w, "create_spinner")));
	wizard_create_async(&w->spec, on_created, wizard_ref(w));
}

/* GtkAssistant titles the window after the page; the window is the wizard, whatever page. */
static gboolean retitle(gpointer data)
{
	struct wizard *w = data;
	if (!w->closed) {
		int page = gtk_assistant_get_current_page(w->assistant);
		GtkWidget *child = gtk_assistant_get_nth_page(w->assistant, page);
		g_autofree char *title = g_strdup_printf(
		    "New Virtual Machine — %s", gtk_assistant_get_page_title(w->assistant, child));
		gtk_window_set_title(GTK_WINDOW(w->assistant), title);
	}
	wizard_unref(w);
	return G_SOURCE_REMOVE;
}

static void on_prepare(GtkAssistant *a, GtkWidget *page, gpointer data)
{
	struct wizard *w = data;
	if (gtk_assistant_get_current_page(a) == PAGE_SUMMARY)
		fill_summary(w);
	g_idle_add(retitle, wizard_ref(w));
}

static int forward(int current, gpointer data)
{
	struct wizard *w = data;
	if (current == PAGE_DISK && !active(w, "type_custom"))
		return PAGE_SUMMARY;
	return current + 1;
}

static void on_close(GtkAssistant *a, gpointer data)
{
	gtk_widget_destroy(GTK_WIDGET(a));
}

static void on_destroy(GtkWidget *widget, gpointer data)
{
	struct wizard *w = data;
	w->closed = true;
	if (w->iso_timer)
		g_source_remove(w->iso_timer);
	if (w->location_timer)
		g_source_remove(w->location_timer);
	w->iso_timer = w->location_timer = 0;
	wizard_unref(w);
}

static void connect_signals(struct wizard *w)
{
	g_signal_connect(W(w, "iso_entry"), "changed", G_CALLBACK(on_iso_changed), w);
	g_signal_connect(W(w, "src_later"), "toggled", G_CALLBACK(on_source_toggled), w);
	g_signal_connect(W(w, "iso_browse"), "clicked", G_CALLBACK(on_iso_browse), w);
	g_signal_connect(W(w, "guest_combo"), "changed", G_CALLBACK(on_guest_changed), w);
	g_signal_connect(W(w, "name_entry"), "changed", G_CALLBACK(on_name_changed), w);
	g_signal_connect(W(w, "location_entry"), "changed", G_CALLBACK(on_location_changed), w);
	g_signal_connect(W(w, "location_browse"), "clicked", G_CALLBACK(on_location_browse), w);
	static const char *const modes[] = { "net_nat", "net_bridged", "net_hostonly", "net_none" };
	for (size_t i = 0; i < G_N_ELEMENTS(modes); i++)
		g_signal_connect(W(w, modes[i]), "toggled", G_CALLBACK(on_network_changed), w);
	g_signal_connect(W(w, "bridge_combo"), "changed", G_CALLBACK(on_network_changed), w);
	g_signal_connect(W(w, "hostonly_combo"), "changed", G_CALLBACK(on_network_changed), w);
	g_signal_connect(w->assistant, "apply", G_CALLBACK(on_apply), w);
	g_signal_connect(w->assistant, "prepare", G_CALLBACK(on_prepare), w);
	g_signal_connect(w->assistant, "cancel", G_CALLBACK(on_close), w);
	g_signal_connect(w->assistant, "close", G_CALLBACK(on_close), w);
	g_signal_connect(w->assistant, "destroy", G_CALLBACK(on_destroy), w);
}

void wizard_show(GtkWindow *parent, wizard_done done, gpointer data)
{
	struct wizard *w = g_rc_box_new0(struct wizard);
	w->b = app_builder("wizard.ui");
	w->assistant = GTK_ASSISTANT(W(w, "assistant"));
	w->done = done;
	w->data = data;
	gtk_window_set_transient_for(GTK_WINDOW(w->assistant), parent);
	gtk_assistant_set_forward_page_func(w->assistant, forward, w, NULL);
	const struct guest_presets *p = &app_env()->presets;
	for (guint i = 0; i < p->list->len; i++) {
		const struct guest_preset *g = p->list->pdata[i];
		gtk_combo_box_text_append(GTK_COMBO_BOX_TEXT(W(w, "guest_combo")), g->id, g->label);
	}
	connect_signals(w);
	choose_guest(w, guest_presets_find(p, GUEST_GENERIC));
	wizard_host_async(NULL, on_host_facts, wizard_ref(w));
	wizard_query_pcvm((const char *[]){ "create", "--help", NULL }, on_create_help,
			  wizard_ref(w));
	wizard_query_pcvm((const char *[]){ "net", "list", NULL }, on_net_list, wizard_ref(w));
	update_installer_page(w);
	update_network_page(w);
	gtk_widget_show_all(GTK_WIDGET(w->assistant));
}
