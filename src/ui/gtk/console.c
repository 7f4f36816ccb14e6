/* A VM's console window (console.h, data/console.ui). */
#include "console.h"

#include <gio/gunixsocketaddress.h>
#include <string.h>
#include <vncdisplay.h>

#include "app.h"
#include "bundle.h"
#include "dialogs.h"
#include "vm_actions.h"
#include "vmctl.h"

#define RECONNECT_MS 1000
#define MAX_COMBO    3

struct console {
	GtkApplicationWindow *window;
	GtkBuilder *builder;
	PcvmVm *vm;
	VncDisplay *display;
	GtkWidget *error_bar;
	struct vm_action_host host;
	bool open;    /* a connection is being made or stands */
	bool ready;   /* the VNC session is initialised: the screen shows */
	bool grabbed; /* keyboard grabbed */
	guint reconnect;
};

/* The Send Key menu (menus.ui): the target names are also `pcvm send-keys` combinations,
 * used when the screen is not connected. */
#define CTRL_ALT(k) { GDK_KEY_Control_L, GDK_KEY_Alt_L, (k) }
static const struct {
	const char *id;
	guint keys[MAX_COMBO];
} send_keys[] = {
	{ "ctrl-alt-delete", CTRL_ALT(GDK_KEY_Delete) },
	{ "ctrl-alt-backspace", CTRL_ALT(GDK_KEY_BackSpace) },
	{ "print", { GDK_KEY_Print } },
	{ "ctrl-alt-f1", CTRL_ALT(GDK_KEY_F1) },
	{ "ctrl-alt-f2", CTRL_ALT(GDK_KEY_F2) },
	{ "ctrl-alt-f3", CTRL_ALT(GDK_KEY_F3) },
	{ "ctrl-alt-f4", CTRL_ALT(GDK_KEY_F4) },
	{ "ctrl-alt-f5", CTRL_ALT(GDK_KEY_F5) },
	{ "ctrl-alt-f6", CTRL_ALT(GDK_KEY_F6) },
	{ "ctrl-alt-f7", CTRL_ALT(GDK_KEY_F7) },
	{ "ctrl-alt-f8", CTRL_ALT(GDK_KEY_F8) },
	{ "ctrl-alt-f9", CTRL_ALT(GDK_KEY_F9) },
	{ "ctrl-alt-f10", CTRL_ALT(GDK_KEY_F10) },
	{ "ctrl-alt-f11", CTRL_ALT(GDK_KEY_F11) },
	{ "ctrl-alt-f12", CTRL_ALT(GDK_KEY_F12) },
};
#undef CTRL_ALT

static GtkWidget *widget(struct console *c, const char *id)
{
	return GTK_WIDGET(gtk_builder_get_object(c->builder, id));
}

static void action_enable(struct console *c, const char *name, bool on)
{
	GAction *a = g_action_map_lookup_action(G_ACTION_MAP(c->window), name);
	g_simple_action_set_enabled(G_SIMPLE_ACTION(a), on);
}

static void update_grab_label(struct console *c)
{
	const char *text = !c->ready ? ""
			   : c->grabbed
			       ? "The keyboard and mouse belong to the guest: press "
				 "Ctrl+Alt to release them."
			       : "Click into the screen to give the guest the keyboard and "
				 "mouse; Ctrl+Alt releases them.";
	gtk_label_set_text(GTK_LABEL(widget(c, "grab_label")), text);
}

static void update_view(struct console *c)
{
	enum vm_state s = pcvm_vm_get_state(c->vm);
	bool on = VM_STATES_ON & VM_STATE_BIT(s);
	const char *page = c->ready ? "screen" : on || s == VM_STATE_STARTING ? "wait" : "off";
	gtk_stack_set_visible_child_name(GTK_STACK(widget(c, "stack")), page);
	g_autofree char *title =
	    g_strdup_printf("%s — %s — pcvm", pcvm_vm_get_name(c->vm), vm_state_label(s));
	gtk_window_set_title(GTK_WINDOW(c->window), title);
	gtk_label_set_text(GTK_LABEL(widget(c, "state_label")), vm_state_label(s));
	g_autofree char *off = g_strdup_printf(s == VM_STATE_SUSPENDED
						   ? "“%s” is suspended. Powering it on resumes it."
						   : "“%s” is powered off.",
					       pcvm_vm_get_name(c->vm));
	gtk_label_set_text(GTK_LABEL(widget(c, "off_label")), off);
	g_autoptr(GdkPixbuf) icon = app_guest_icon(pcvm_vm_get_guest(c->vm), 128);
	gtk_image_set_from_pixbuf(GTK_IMAGE(widget(c, "off_icon")), icon);
	gtk_label_set_text(GTK_LABEL(widget(c, "wait_label")), s == VM_STATE_STARTING
								   ? "Starting the virtual machine…"
								   : "Connecting to the console…");
	vm_actions_update(GTK_WINDOW(c->window), c->vm);
	action_enable(c, "send-key", on);
	action_enable(c, "screenshot", c->ready);
	update_grab_label(c);
}

/* ---- the VNC connection ---- */

static void console_connect(struct console *c)
{
	if (c->open)
		return;
	g_autofree char *path = bundle_path(pcvm_vm_get_dir(c->vm), BUNDLE_VNC_SOCK);
	g_autoptr(GSocketAddress) addr = g_unix_socket_address_new(path);
	c->open = vnc_display_open_addr(c->display, addr, NULL);
}

static gboolean reconnect_now(gpointer data)
{
	struct console *c = data;
	c->reconnect = 0;
	if (VM_STATES_ON & VM_STATE_BIT(pcvm_vm_get_state(c->vm)))
		console_connect(c);
	return G_SOURCE_REMOVE;
}

static void on_vnc_initialized(VncDisplay *d, gpointer data)
{
	struct console *c = data;
	c->ready = true;
	update_view(c);
	gtk_widget_grab_focus(GTK_WIDGET(d));
}

static void on_vnc_disconnected(VncDisplay *d, gpointer data)
{
	struct console *c = data;
	c->open = c->ready = c->grabbed = false;
	update_view(c);
	/* the VNC socket comes up just after the control socket; or the VM went off */
	if (!c->reconnect)
		c->reconnect = g_timeout_add(RECONNECT_MS, reconnect_now, c);
}

static void on_vnc_grab(VncDisplay *d, gpointer data)
{
	struct console *c = data;
	c->grabbed = true;
	update_grab_label(c);
}

static void on_vnc_ungrab(VncDisplay *d, gpointer data)
{
	struct console *c = data;
	c->grabbed = false;
	update_grab_label(c);
}

/* A click into the screen grabs keyboard and mouse; gtk-vnc releases them on Ctrl+Alt. */
static gboolean on_display_press(GtkWidget *w, GdkEventButton *ev, gpointer data)
{
	struct console *c = data;
	if (c->ready && !c->grabbed && ev->type == GDK_BUTTON_PRESS)
		vnc_display_force_grab(c->display, TRUE);
	return FALSE; /* the click goes on to the guest */
}

/* While the screen has the focus, keys are the guest's: the window's shortcuts and
 * mnemonics must not see them (Ctrl+R would reset the VM). */
static gboolean on_window_key(GtkWidget *w, GdkEventKey *ev, gpointer data)
{
	struct console *c = data;
	if (!c->ready || gtk_window_get_focus(GTK_WINDOW(w)) != GTK_WIDGET(c->display))
		return FALSE;
	gtk_widget_event(GTK_WIDGET(c->display), (GdkEvent *)ev);
	return TRUE;
}

static void on_vm_changed(PcvmVm *vm, gpointer data)
{
	struct console *c = data;
	bool on = VM_STATES_ON & VM_STATE_BIT(pcvm_vm_get_state(vm));
	if (on && !c->open)
		console_connect(c);
	if (!on && c->open)
		vnc_display_close(c->display);
	update_view(c);
}

static void on_vm_error(PcvmVm *vm, const char *title, const char *detail, gpointer data)
{
	struct console *c = data;
	error_bar_show(c->error_bar, GTK_MESSAGE_ERROR, title, detail);
}

static gboolean close_now(gpointer window);

/* The VM went to the trash: nothing is left to show. */
static void on_vm_removed(PcvmVm *vm, gpointer data)
{
	struct console *c = data;
	g_idle_add(close_now, g_object_ref(c->window));
}

/* ---- window actions ---- */

static void on_send_key(GSimpleAction *a, GVariant *param, gpointer data)
{
	struct console *c = data;
	const char *id = g_variant_get_string(param, NULL);
	for (size_t i = 0; i < G_N_ELEMENTS(send_keys); i++) {
		if (strcmp(send_keys[i].id, id))
			continue;
		if (!c->ready) { /* through the control socket */
			pcvm_vm_command_full(c->vm, "send-keys", vmctl_args_string("keys", id),
					     "send keys to", NULL, NULL);
			return;
		}
		int n = 0;
		while (n < MAX_COMBO && send_keys[i].keys[n])
			n++;
		vnc_display_send_keys(c->display, send_keys[i].keys, n);
		return;
	}
}

static void on_fullscreen(GSimpleAction *a, GVariant *state, gpointer data)
{
	struct console *c = data;
	g_simple_action_set_state(a, state); /* the window-state event confirms or corrects it */
	if (g_variant_get_boolean(state))
		gtk_window_fullscreen(GTK_WINDOW(c->window));
	else
		gtk_window_unfullscreen(GTK_WINDOW(c->window));
}

static gboolean on_window_state(GtkWidget *w, GdkEventWindowState *ev, gpointer data)
{
	struct console *c = data;
	bool full = ev->new_window_state & GDK_WINDOW_STATE_FULLSCREEN;
	GAction *a = g_action_map_lookup_action(G_ACTION_MAP(c->window), "fullscreen");
	g_simple_action_set_state(G_SIMPLE_ACTION(a), g_variant_new_boolean(full));
	/* full screen keeps the toolbar (the way out) but drops the menu and status lines */
	gtk_widget_set_visible(g_object_get_data(G_OBJECT(c->window), "menubar"), !full);
	gtk_widget_set_visible(widget(c, "status_box"), !full);
	return FALSE;
}

static void on_scale(GSimpleAction *a, GVariant *state, gpointer data)
{
	struct console *c = data;
	g_simple_action_set_state(a, state);
	vnc_display_set_scaling(c->display, g_variant_get_boolean(state));
}

/* A screenshot being written: where errors go and the file's stream (the save's source
 * object is the picture, not the stream). */
struct shot_save {
	GtkWidget *bar;
	GOutputStream *out;
};

static void on_saved(GObject *src, GAsyncResult *res, gpointer data)
{
	struct shot_save *s = data;
	g_autoptr(GError) err = NULL;
	if (!gdk_pixbuf_save_to_stream_finish(res, &err) ||
	    !g_output_stream_close(s->out, NULL, &err))
		error_bar_show(s->bar, GTK_MESSAGE_ERROR, "Cannot save the screenshot", err->message);
	g_object_unref(s->bar);
	g_object_unref(s->out);
	g_free(s);
}

static void on_file_replaced(GObject *src, GAsyncResult *res, gpointer data)
{
	GdkPixbuf *pix = data;
	GtkWidget *bar = g_object_get_data(G_OBJECT(pix), "error-bar");
	g_autoptr(GError) err = NULL;
	g_autoptr(GFileOutputStream) out = g_file_replace_finish(G_FILE(src), res, &err);
	if (!out)
		error_bar_show(bar, GTK_MESSAGE_ERROR, "Cannot save the screenshot", err->message);
	else {
		struct shot_save *s = g_new0(struct shot_save, 1);
		s->bar = g_object_ref(bar);
		s->out = G_OUTPUT_STREAM(g_object_ref(out));
		gdk_pixbuf_save_to_stream_async(pix, s->out, "png", NULL, on_saved, s, NULL);
	}
	g_object_unref(bar);
	g_object_unref(pix);
}

static void on_screenshot_response(GtkNativeDialog *dialog, int response, gpointer data)
{
	GdkPixbuf *pix = data;
	g_autoptr(GFile) file = response == GTK_RESPONSE_ACCEPT
				    ? gtk_file_chooser_get_file(GTK_FILE_CHOOSER(dialog))
				    : NULL;
	g_object_unref(dialog);
	if (!file) {
		g_object_unref(g_object_get_data(G_OBJECT(pix), "error-bar"));
		g_object_unref(pix);
		return;
	}
	g_file_replace_async(file, NULL, FALSE, G_FILE_CREATE_NONE, G_PRIORITY_DEFAULT, NULL,
			     on_file_replaced, pix);
}

static void on_screenshot(GSimpleAction *a, GVariant *p, gpointer data)
{
	struct console *c = data;
	GdkPixbuf *pix = c->ready ? vnc_display_get_pixbuf(c->display) : NULL;
	if (!pix)
		return;
	g_object_set_data(G_OBJECT(pix), "error-bar", g_object_ref(c->error_bar));
	GtkFileChooserNative *d =
	    gtk_file_chooser_native_new("Save Screenshot", GTK_WINDOW(c->window),
					GTK_FILE_CHOOSER_ACTION_SAVE, "_Save", "_Cancel");
	g_autoptr(GDateTime) now = g_date_time_new_now_local();
	g_autofree char *when = g_date_time_format(now, "%Y-%m-%d %H-%M-%S");
	g_autofree char *name = g_strdup_printf("%s %s.png", pcvm_vm_get_name(c->vm), when);
	const char *pictures = g_get_user_special_dir(G_USER_DIRECTORY_PICTURES);
	gtk_file_chooser_set_current_folder(GTK_FILE_CHOOSER(d),
					    pictures ? pictures : g_get_home_dir());
	gtk_file_chooser_set_current_name(GTK_FILE_CHOOSER(d), name);
	gtk_file_chooser_set_do_overwrite_confirmation(GTK_FILE_CHOOSER(d), TRUE);
	g_signal_connect(d, "response", G_CALLBACK(on_screenshot_response), pix);
	gtk_native_dialog_show(GTK_NATIVE_DIALOG(d));
}

static gboolean close_now(gpointer window)
{
	gtk_widget_destroy(window);
	g_object_unref(window);
	return G_SOURCE_REMOVE;
}

/* From an idle: the menu item that asked must not be destroyed under its own activation. */
static void on_close(GSimpleAction *a, GVariant *p, gpointer data)
{
	struct console *c = data;
	g_idle_add(close_now, g_object_ref(c->window));
}

static const GActionEntry console_actions[] = {
	{ "send-key", on_send_key, "s" },
	{ "fullscreen", NULL, NULL, "false", on_fullscreen },
	{ "scale", NULL, NULL, "true", on_scale },
	{ "screenshot", on_screenshot },
	{ "close", on_close },
};

/* ---- the window ---- */

static PcvmVm *console_current(gpointer data)
{
	return ((struct console *)data)->vm;
}

/* On the window's "destroy", while its widgets still exist. */
static void console_free(gpointer data)
{
	struct console *c = data;
	if (c->reconnect)
		g_source_remove(c->reconnect);
	g_signal_handlers_disconnect_by_data(c->vm, c);
	g_signal_handlers_disconnect_by_data(c->display, c);
	g_signal_handlers_disconnect_by_data(c->window, c);
	vnc_display_close(c->display);
	g_object_set_data(G_OBJECT(c->vm), "console", NULL);
	g_object_unref(c->vm);
	g_object_unref(c->builder);
	g_free(c);
}

static void add_display(struct console *c)
{
	c->display = VNC_DISPLAY(vnc_display_new());
	GtkWidget *d = GTK_WIDGET(c->display);
	gtk_widget_set_hexpand(d, TRUE);
	gtk_widget_set_vexpand(d, TRUE);
	gtk_widget_set_can_focus(d, TRUE);
	atk_object_set_name(gtk_widget_get_accessible(d), "Screen");
	vnc_display_set_keyboard_grab(c->display, FALSE); /* grabbed on a click, not on entry */
	vnc_display_set_pointer_grab(c->display, TRUE);
	vnc_display_set_scaling(c->display, TRUE);
	vnc_display_set_keep_aspect_ratio(c->display, TRUE);
	vnc_display_set_shared_flag(c->display, TRUE); /* other viewers stay connected */
	gtk_box_pack_start(GTK_BOX(widget(c, "screen_box")), d, TRUE, TRUE, 0);
	g_signal_connect(d, "vnc-initialized", G_CALLBACK(on_vnc_initialized), c);
	g_signal_connect(d, "vnc-disconnected", G_CALLBACK(on_vnc_disconnected), c);
	g_signal_connect(d, "vnc-keyboard-grab", G_CALLBACK(on_vnc_grab), c);
	g_signal_connect(d, "vnc-keyboard-ungrab", G_CALLBACK(on_vnc_ungrab), c);
	g_signal_connect(d, "button-press-event", G_CALLBACK(on_display_press), c);
}

static void add_bars(struct console *c)
{
	GtkBox *main_box = GTK_BOX(widget(c, "main_box"));
	g_autoptr(GtkBuilder) menus = app_builder("menus.ui");
	GtkWidget *menubar = gtk_menu_bar_new_from_model(
	    G_MENU_MODEL(gtk_builder_get_object(menus, "console-menubar")));
	gtk_box_pack_start(main_box, menubar, FALSE, FALSE, 0);
	gtk_box_reorder_child(main_box, menubar, 0);
	g_object_set_data(G_OBJECT(c->window), "menubar", menubar);
	c->error_bar = error_bar_new();
	gtk_box_pack_start(main_box, c->error_bar, FALSE, FALSE, 0);
	gtk_box_reorder_child(main_box, c->error_bar, 2);
}

GtkWindow *console_show(GtkApplication *app, PcvmVm *vm)
{
	GtkWindow *existing = g_object_get_data(G_OBJECT(vm), "console");
	if (existing) {
		gtk_window_present(existing);
		return existing;
	}
	struct console *c = g_new0(struct console, 1);
	c->builder = app_builder("console.ui");
	c->window = GTK_APPLICATION_WINDOW(widget(c, "window"));
	c->vm = g_object_ref(vm);
	gtk_window_set_application(GTK_WINDOW(c->window), app);
	add_bars(c);
	add_display(c);
	g_action_map_add_action_entries(G_ACTION_MAP(c->window), console_actions,
					G_N_ELEMENTS(console_actions), c);
	c->host = (struct vm_action_host){ GTK_WINDOW(c->window), console_current, NULL, c };
	vm_actions_add(&c->host);
	g_action_map_remove_action(G_ACTION_MAP(c->window), "delete"); /* the library's */
	g_signal_connect_swapped(c->window, "destroy", G_CALLBACK(console_free), c);
	g_object_set_data(G_OBJECT(vm), "console", c->window);
	g_signal_connect(vm, "changed", G_CALLBACK(on_vm_changed), c);
	g_signal_connect(vm, "error", G_CALLBACK(on_vm_error), c);
	g_signal_connect(vm, "removed", G_CALLBACK(on_vm_removed), c);
	g_signal_connect(c->window, "key-press-event", G_CALLBACK(on_window_key), c);
	g_signal_connect(c->window, "key-release-event", G_CALLBACK(on_window_key), c);
	g_signal_connect(c->window, "window-state-event", G_CALLBACK(on_window_state), c);
	on_vm_changed(vm, c);
	gtk_widget_show_all(GTK_WIDGET(c->window));
	return GTK_WINDOW(c->window);
}
