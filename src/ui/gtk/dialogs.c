/* Small dialogs and the error bar (dialogs.h). */
#include "dialogs.h"

#include <string.h>

#include "app.h"

/* ---- a snapshot's name and description: take, rename ---- */

struct snapshot_ask {
	GtkBuilder *builder;
	snapshot_dialog_done done;
	gpointer data;
	GDestroyNotify destroy;
};

static void on_snapshot_response(GtkDialog *dialog, int response, gpointer data)
{
	struct snapshot_ask *a = data;
	GtkEntry *name = GTK_ENTRY(gtk_builder_get_object(a->builder, "name"));
	GtkTextView *view = GTK_TEXT_VIEW(gtk_builder_get_object(a->builder, "description"));
	if (response == GTK_RESPONSE_OK) {
		GtkTextBuffer *buf = gtk_text_view_get_buffer(view);
		GtkTextIter start, end;
		gtk_text_buffer_get_bounds(buf, &start, &end);
		g_autofree char *desc = gtk_text_buffer_get_text(buf, &start, &end, FALSE);
		g_autofree char *text = g_strstrip(g_strdup(gtk_entry_get_text(name)));
		a->done(text, desc, a->data);
	}
	gtk_widget_destroy(GTK_WIDGET(dialog));
}

/* On the dialog's "destroy": also when its parent takes it along without an answer. */
static void snapshot_ask_free(gpointer data)
{
	struct snapshot_ask *a = data;
	if (a->destroy)
		a->destroy(a->data);
	g_object_unref(a->builder);
	g_free(a);
}

static void on_snapshot_name_changed(GtkEditable *entry, gpointer data)
{
	g_autofree char *text = g_strstrip(g_strdup(gtk_entry_get_text(GTK_ENTRY(entry))));
	gtk_dialog_set_response_sensitive(data, GTK_RESPONSE_OK, *text != 0);
}

static void name_widget(GtkWidget *w, const char *name)
{
	atk_object_set_name(gtk_widget_get_accessible(w), name);
}

/* "_Save" as "Save": a button's accessible name. */
static char *without_mnemonic(const char *label)
{
	char *plain = g_strdup(label);
	char *u = strchr(plain, '_');
	if (u)
		memmove(u, u + 1, strlen(u));
	return plain;
}

/* The dialog of snapshot-dialog.ui with TITLE, INTRO (NULL: the file's), the ACCEPT button,
 * and NAME and DESCRIPTION filled in. */
static void snapshot_dialog(GtkWindow *parent, const char *title, const char *intro,
			    const char *accept, const char *name, const char *description,
			    snapshot_dialog_done done, gpointer data, GDestroyNotify destroy)
{
	struct snapshot_ask *a = g_new0(struct snapshot_ask, 1);
	a->builder = app_builder("snapshot-dialog.ui");
	a->done = done;
	a->data = data;
	a->destroy = destroy;
	GtkDialog *dialog = GTK_DIALOG(gtk_builder_get_object(a->builder, "dialog"));
	GtkEntry *entry = GTK_ENTRY(gtk_builder_get_object(a->builder, "name"));
	GtkTextView *view = GTK_TEXT_VIEW(gtk_builder_get_object(a->builder, "description"));
	GtkButton *ok = GTK_BUTTON(gtk_builder_get_object(a->builder, "take"));
	g_autofree char *plain = without_mnemonic(accept);
	gtk_window_set_title(GTK_WINDOW(dialog), title);
	gtk_window_set_transient_for(GTK_WINDOW(dialog), parent);
	if (intro)
		gtk_label_set_text(GTK_LABEL(gtk_builder_get_object(a->builder, "intro")), intro);
	gtk_button_set_label(ok, accept);
	name_widget(GTK_WIDGET(ok), plain);
	gtk_entry_set_text(entry, name ? name : "");
	gtk_text_buffer_set_text(gtk_text_view_get_buffer(view), description ? description : "", -1);
	g_signal_connect(entry, "changed", G_CALLBACK(on_snapshot_name_changed), dialog);
	on_snapshot_name_changed(GTK_EDITABLE(entry), dialog);
	g_signal_connect(dialog, "response", G_CALLBACK(on_snapshot_response), a);
	g_signal_connect_swapped(dialog, "destroy", G_CALLBACK(snapshot_ask_free), a);
	gtk_dialog_set_default_response(dialog, GTK_RESPONSE_OK);
	gtk_widget_show_all(GTK_WIDGET(dialog));
}

void dialog_take_snapshot(GtkWindow *parent, const char *vm_name, snapshot_dialog_done done,
			  gpointer data, GDestroyNotify destroy)
{
	g_autofree char *title = g_strdup_printf("Take a Snapshot of “%s”", vm_name);
	g_autoptr(GDateTime) now = g_date_time_new_now_local();
	g_autofree char *when = g_date_time_format(now, "Snapshot %Y-%m-%d %H:%M:%S");
	snapshot_dialog(parent, title, NULL, "_Take Snapshot", when, "", done, data, destroy);
}

void dialog_edit_snapshot(GtkWindow *parent, const char *name, const char *description,
			  snapshot_dialog_done done, gpointer data, GDestroyNotify destroy)
{
	g_autofree char *title = g_strdup_printf("Rename Snapshot “%s”", name);
	snapshot_dialog(parent, title,
			"The name and the description are only words about the snapshot: what "
			"it holds stays as it is.",
			"_Save", name, description, done, data, destroy);
}

/* ---- a size ---- */

struct size_ask {
	GtkSpinButton *spin;
	size_dialog_done done;
	gpointer data;
	GDestroyNotify destroy;
};

static void on_size_response(GtkDialog *dialog, int response, gpointer data)
{
	struct size_ask *a = data;
	if (response == GTK_RESPONSE_OK)
		a->done(gtk_spin_button_get_value_as_int(a->spin), a->data);
	gtk_widget_destroy(GTK_WIDGET(dialog));
}

static void size_ask_free(gpointer data)
{
	struct size_ask *a = data;
	if (a->destroy)
		a->destroy(a->data);
	g_free(a);
}

void dialog_ask_size(GtkWindow *parent, const char *title, const char *detail, const char *accept,
		     unsigned min, unsigned max, unsigned value, size_dialog_done done,
		     gpointer data, GDestroyNotify destroy)
{
	GtkWidget *d = gtk_dialog_new_with_buttons(title, parent,
						   GTK_DIALOG_MODAL | GTK_DIALOG_DESTROY_WITH_PARENT,
						   NULL, NULL);
	g_autofree char *plain = without_mnemonic(accept);
	name_widget(gtk_dialog_add_button(GTK_DIALOG(d), "_Cancel", GTK_RESPONSE_CANCEL), "Cancel");
	name_widget(gtk_dialog_add_button(GTK_DIALOG(d), accept, GTK_RESPONSE_OK), plain);
	gtk_dialog_set_default_response(GTK_DIALOG(d), GTK_RESPONSE_OK);
	GtkWidget *box = gtk_box_new(GTK_ORIENTATION_VERTICAL, 8);
	GtkWidget *label = gtk_label_new(detail);
	GtkWidget *row = gtk_box_new(GTK_ORIENTATION_HORIZONTAL, 6);
	GtkWidget *spin = gtk_spin_button_new_with_range(min, max, 1);
	g_object_set(box, "margin", 12, NULL);
	gtk_label_set_line_wrap(GTK_LABEL(label), TRUE);
	gtk_label_set_max_width_chars(GTK_LABEL(label), 50);
	gtk_label_set_xalign(GTK_LABEL(label), 0);
	gtk_spin_button_set_value(GTK_SPIN_BUTTON(spin), value);
	gtk_entry_set_activates_default(GTK_ENTRY(spin), TRUE);
	name_widget(spin, "Size in GiB");
	gtk_box_pack_start(GTK_BOX(row), spin, FALSE, FALSE, 0);
	gtk_box_pack_start(GTK_BOX(row), gtk_label_new("GiB"), FALSE, FALSE, 0);
	gtk_box_pack_start(GTK_BOX(box), label, FALSE, FALSE, 0);
	gtk_box_pack_start(GTK_BOX(box), row, FALSE, FALSE, 0);
	gtk_container_add(GTK_CONTAINER(gtk_dialog_get_content_area(GTK_DIALOG(d))), box);
	name_widget(d, title);
	struct size_ask *a = g_new0(struct size_ask, 1);
	*a = (struct size_ask){ GTK_SPIN_BUTTON(spin), done, data, destroy };
	g_signal_connect(d, "response", G_CALLBACK(on_size_response), a);
	g_signal_connect_swapped(d, "destroy", G_CALLBACK(size_ask_free), a);
	gtk_widget_show_all(d);
}

/* ---- confirm ---- */

struct confirm {
	void (*done)(gpointer data);
	gpointer data;
	GDestroyNotify destroy;
};

static void on_confirm_response(GtkDialog *dialog, int response, gpointer data)
{
	struct confirm *c = data;
	if (response == GTK_RESPONSE_ACCEPT)
		c->done(c->data);
	gtk_widget_destroy(GTK_WIDGET(dialog));
}

static void confirm_free(gpointer data)
{
	struct confirm *c = data;
	if (c->destroy)
		c->destroy(c->data);
	g_free(c);
}

/* The question dialog of dialog_confirm, not shown yet. */
static GtkWidget *confirm_new(GtkWindow *parent, const char *title, const char *detail,
			      const char *accept, bool destructive, GCallback done, gpointer data,
			      GDestroyNotify destroy)
{
	GtkWidget *d =
	    gtk_message_dialog_new(parent, GTK_DIALOG_MODAL | GTK_DIALOG_DESTROY_WITH_PARENT,
				   GTK_MESSAGE_QUESTION, GTK_BUTTONS_NONE, "%s", title);
	gtk_message_dialog_format_secondary_text(GTK_MESSAGE_DIALOG(d), "%s", detail);
	gtk_window_set_title(GTK_WINDOW(d), title);
	name_widget(d, title); /* GTK names message dialogs after their type ("Question") */
	name_widget(gtk_dialog_add_button(GTK_DIALOG(d), "_Cancel", GTK_RESPONSE_CANCEL), "Cancel");
	GtkWidget *ok = gtk_dialog_add_button(GTK_DIALOG(d), accept, GTK_RESPONSE_ACCEPT);
	g_autofree char *plain = without_mnemonic(accept);
	name_widget(ok, plain);
	if (destructive)
		gtk_style_context_add_class(gtk_widget_get_style_context(ok),
					    GTK_STYLE_CLASS_DESTRUCTIVE_ACTION);
	gtk_dialog_set_default_response(GTK_DIALOG(d), GTK_RESPONSE_CANCEL);
	struct confirm *c = g_new0(struct confirm, 1);
	c->done = (void (*)(gpointer))done;
	c->data = data;
	c->destroy = destroy;
	g_signal_connect(d, "response", G_CALLBACK(on_confirm_response), c);
	g_signal_connect_swapped(d, "destroy", G_CALLBACK(confirm_free), c);
	return d;
}

void dialog_confirm(GtkWindow *parent, const char *title, const char *detail, const char *accept,
		    bool destructive, GCallback done, gpointer data, GDestroyNotify destroy)
{
	gtk_widget_show(confirm_new(parent, title, detail, accept, destructive, done, data, destroy));
}

struct confirm_option {
	GtkToggleButton *check;
	confirm_option_done done;
	gpointer data;
	GDestroyNotify destroy;
};

static void on_option_accepted(gpointer data)
{
	struct confirm_option *c = data;
	c->done(gtk_toggle_button_get_active(c->check), c->data);
}

static void confirm_option_free(gpointer data)
{
	struct confirm_option *c = data;
	if (c->destroy)
		c->destroy(c->data);
	g_free(c);
}

void dialog_confirm_option(GtkWindow *parent, const char *title, const char *detail,
			   const char *accept, const char *option, confirm_option_done done,
			   gpointer data, GDestroyNotify destroy)
{
	GtkWidget *check = gtk_check_button_new_with_mnemonic(option);
	g_autofree char *plain = without_mnemonic(option);
	name_widget(check, plain);
	struct confirm_option *c = g_new0(struct confirm_option, 1);
	*c = (struct confirm_option){ GTK_TOGGLE_BUTTON(check), done, data, destroy };
	GtkWidget *d = confirm_new(parent, title, detail, accept, true,
				   G_CALLBACK(on_option_accepted), c, confirm_option_free);
	GtkWidget *area = gtk_message_dialog_get_message_area(GTK_MESSAGE_DIALOG(d));
	gtk_box_pack_start(GTK_BOX(area), check, FALSE, FALSE, 6);
	gtk_widget_show(check);
	gtk_widget_show(d);
}

void dialog_message(GtkWindow *parent, GtkMessageType type, const char *title, const char *detail)
{
	GtkWidget *d = gtk_message_dialog_new(parent, GTK_DIALOG_DESTROY_WITH_PARENT, type,
					      GTK_BUTTONS_NONE, "%s", title);
	if (detail && *detail)
		gtk_message_dialog_format_secondary_text(GTK_MESSAGE_DIALOG(d), "%s", detail);
	gtk_window_set_title(GTK_WINDOW(d), title);
	name_widget(d, title); /* GTK names message dialogs after their type ("Question") */
	name_widget(gtk_dialog_add_button(GTK_DIALOG(d), "_Close", GTK_RESPONSE_CLOSE), "Close");
	g_signal_connect(d, "response", G_CALLBACK(gtk_widget_destroy), NULL);
	gtk_widget_show(d);
}

void dialog_host_check(GtkWindow *parent, const struct host_report *r)
{
	if (!r->title)
		return;
	dialog_message(parent, r->fatal ? GTK_MESSAGE_ERROR : GTK_MESSAGE_WARNING, r->title,
		       r->detail);
}

void dialog_about(GtkWindow *parent)
{
	const char *authors[] = { "The pcvm developers", NULL };
	gtk_show_about_dialog(parent, "program-name", "pcvm", "version", PCVM_VERSION, "comments",
			      "A desktop virtual machine monitor on KVM", "logo-icon-name", APP_ID,
			      "license-type", GTK_LICENSE_GPL_2_0, "authors", authors, NULL);
}

/* ---- the error bar ---- */

/* The detail (a log's end can be long) scrolls beyond a few lines rather than growing the
 * window; labels get a width to wrap at, or GTK sizes them for their narrowest. */
GtkWidget *error_bar_new(void)
{
	GtkWidget *bar = gtk_info_bar_new();
	GtkWidget *box = gtk_box_new(GTK_ORIENTATION_VERTICAL, 4);
	GtkWidget *title = gtk_label_new(NULL);
	GtkWidget *detail = gtk_label_new(NULL);
	GtkWidget *scroll = gtk_scrolled_window_new(NULL, NULL);
	GtkLabel *labels[] = { GTK_LABEL(title), GTK_LABEL(detail) };
	for (size_t i = 0; i < G_N_ELEMENTS(labels); i++) {
		gtk_label_set_xalign(labels[i], 0);
		gtk_label_set_line_wrap(labels[i], TRUE);
		gtk_label_set_line_wrap_mode(labels[i], PANGO_WRAP_WORD_CHAR);
		gtk_label_set_selectable(labels[i], TRUE);
		gtk_label_set_width_chars(labels[i], 60);
		gtk_label_set_max_width_chars(labels[i], 110);
	}
	gtk_scrolled_window_set_policy(GTK_SCROLLED_WINDOW(scroll), GTK_POLICY_NEVER,
				       GTK_POLICY_AUTOMATIC);
	gtk_scrolled_window_set_max_content_height(GTK_SCROLLED_WINDOW(scroll), 140);
	gtk_scrolled_window_set_propagate_natural_height(GTK_SCROLLED_WINDOW(scroll), TRUE);
	gtk_scrolled_window_set_propagate_natural_width(GTK_SCROLLED_WINDOW(scroll), TRUE);
	gtk_widget_set_hexpand(box, TRUE);
	gtk_container_add(GTK_CONTAINER(scroll), detail);
	gtk_box_pack_start(GTK_BOX(box), title, FALSE, FALSE, 0);
	gtk_box_pack_start(GTK_BOX(box), scroll, FALSE, FALSE, 0);
	gtk_container_add(GTK_CONTAINER(gtk_info_bar_get_content_area(GTK_INFO_BAR(bar))), box);
	gtk_info_bar_set_show_close_button(GTK_INFO_BAR(bar), TRUE);
	g_autoptr(GList) buttons = gtk_container_get_children(
	    GTK_CONTAINER(gtk_info_bar_get_action_area(GTK_INFO_BAR(bar))));
	for (GList *l = buttons; l; l = l->next)
		name_widget(l->data, "Close");
	g_signal_connect(bar, "response", G_CALLBACK(gtk_widget_hide), NULL);
	g_object_set_data(G_OBJECT(bar), "title", title);
	g_object_set_data(G_OBJECT(bar), "detail", detail);
	g_object_set_data(G_OBJECT(bar), "scroll", scroll);
	name_widget(bar, "Error");
	gtk_widget_set_no_show_all(bar, TRUE);
	gtk_widget_show_all(box);
	return bar;
}

void error_bar_show(GtkWidget *bar, GtkMessageType type, const char *title, const char *detail)
{
	g_autofree char *markup = g_markup_printf_escaped("<b>%s</b>", title);
	gtk_label_set_markup(g_object_get_data(G_OBJECT(bar), "title"), markup);
	GtkWidget *d = g_object_get_data(G_OBJECT(bar), "detail");
	gtk_label_set_text(GTK_LABEL(d), detail ? detail : "");
	gtk_widget_set_visible(g_object_get_data(G_OBJECT(bar), "scroll"), detail && *detail);
	gtk_info_bar_set_message_type(GTK_INFO_BAR(bar), type);
	gtk_widget_show(bar);
}
