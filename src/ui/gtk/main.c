/* pcvm-gtk: the application, its options and environment, the host check (app.h). */
#include <glib/gstdio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app.h"
#include "dialogs.h"
#include "host.h"
#include "library.h"
#include "vm_actions.h"
#include "vm_library.h"

static struct app_env env;
static GHashTable *icon_cache; /* "family@size" -> GdkPixbuf */

const struct app_env *app_env(void)
{
	return &env;
}

GtkBuilder *app_builder(const char *resource)
{
	g_autofree char *path = g_strconcat(APP_RESOURCES, resource, NULL);
	return gtk_builder_new_from_resource(path);
}

GdkPixbuf *app_guest_icon(const char *guest, int size)
{
	const struct guest_preset *g = guest_presets_find(&env.presets, guest);
	const char *family = g ? g->icon : "generic";
	g_autofree char *key = g_strdup_printf("%s@%d", family, size);
	GdkPixbuf *pix = g_hash_table_lookup(icon_cache, key);
	if (!pix) {
		g_autofree char *path = g_strdup_printf(APP_RESOURCES "guests/%s.svg", family);
		pix = gdk_pixbuf_new_from_resource_at_scale(path, size, size, TRUE, NULL);
		if (!pix) /* an icon family without a picture: the generic one */
			pix = gdk_pixbuf_new_from_resource_at_scale(
			    APP_RESOURCES "guests/generic.svg", size, size, TRUE, NULL);
		if (!pix)
			return NULL;
		g_hash_table_insert(icon_cache, g_steal_pointer(&key), pix);
	}
	return g_object_ref(pix);
}

/* The pcvm beside this binary (installed side by side), the build tree's when running from
 * it, or the first on PATH. $PCVM_BINARY overrides all of them. */
static char *find_pcvm(void)
{
	const char *over = g_getenv("PCVM_BINARY");
	if (over && *over)
		return g_strdup(over);
	g_autofree char *self = g_file_read_link("/proc/self/exe", NULL);
	g_autofree char *dir = self ? g_path_get_dirname(self) : NULL;
	g_autofree char *beside = dir ? g_build_filename(dir, "pcvm", NULL) : NULL;
	if (beside && g_file_test(beside, G_FILE_TEST_IS_EXECUTABLE))
		return g_steal_pointer(&beside);
#ifdef PCVM_BUILD_ROOT
	if (self && g_str_has_prefix(self, PCVM_BUILD_ROOT "/")) {
		char *built = g_build_filename(PCVM_BUILD_ROOT, "pcvm", NULL);
		if (g_file_test(built, G_FILE_TEST_IS_EXECUTABLE))
			return built;
		g_free(built);
	}
#endif
	char *on_path = g_find_program_in_path("pcvm");
	return on_path ? on_path : g_strdup("pcvm"); /* the spawn error will say it is missing */
}

static void load_presets(void)
{
	g_autoptr(GBytes) data = g_resources_lookup_data(APP_RESOURCES "guest-presets.conf",
							 G_RESOURCE_LOOKUP_FLAGS_NONE, NULL);
	char *error = NULL;
	gsize len = 0;
	const char *text = data ? g_bytes_get_data(data, &len) : "";
	if (guest_presets_parse(&env.presets, text, len, "guest-presets.conf", &error) < 0)
		g_error("%s", error); /* bundled at build time: a broken one is a build error */
}

static void env_init(const char *library)
{
	env.pcvm = find_pcvm();
	env.library_dir = library ? g_canonicalize_filename(library, NULL)
				  : vm_library_default_dir();
	env.config_file = vm_library_gui_config();
	g_autoptr(GError) err = NULL;
	env.tmp_dir = g_dir_make_tmp("pcvm-gtk-XXXXXX", &err);
	if (!env.tmp_dir)
		g_error("a temporary folder: %s", err->message);
	icon_cache = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_object_unref);
	load_presets();
}

/* The temp dir holds only files: thumbnails and the VMs' stderr (they keep theirs open). */
static void env_clear(void)
{
	g_autoptr(GDir) d = env.tmp_dir ? g_dir_open(env.tmp_dir, 0, NULL) : NULL;
	const char *name;
	while (d && (name = g_dir_read_name(d))) {
		g_autofree char *path = g_build_filename(env.tmp_dir, name, NULL);
		g_unlink(path);
	}
	if (env.tmp_dir)
		g_rmdir(env.tmp_dir);
	g_clear_pointer(&icon_cache, g_hash_table_unref);
	guest_presets_clear(&env.presets);
	g_free(env.pcvm);
	g_free(env.library_dir);
	g_free(env.config_file);
	g_free(env.tmp_dir);
	memset(&env, 0, sizeof(env));
}

/* ---- the host check, on a worker thread ---- */

static void host_check_thread(GTask *task, gpointer src, gpointer data, GCancellable *cancel)
{
	struct host_report *r = g_new0(struct host_report, 1);
	host_check_default(r);
	g_task_return_pointer(task, r, NULL);
}

static void on_host_checked(GObject *src, GAsyncResult *res, gpointer data)
{
	GtkWindow *window = data;
	struct host_report *r = g_task_propagate_pointer(G_TASK(res), NULL);
	library_show_host_report(window, r);
	host_report_clear(r);
	g_free(r);
	g_object_unref(window);
}

/* ---- the application ---- */

static void on_quit(GSimpleAction *a, GVariant *p, gpointer app)
{
	g_application_quit(app);
}

static void on_about(GSimpleAction *a, GVariant *p, gpointer app)
{
	dialog_about(gtk_application_get_active_window(app));
}

static const GActionEntry app_actions[] = {
	{ "quit", on_quit },
	{ "about", on_about },
};

static void on_startup(GApplication *app, gpointer data)
{
	g_action_map_add_action_entries(G_ACTION_MAP(app), app_actions, G_N_ELEMENTS(app_actions),
					app);
	vm_actions_set_accels(GTK_APPLICATION(app));
	gtk_window_set_default_icon_name(APP_ID);
}

static void on_activate(GApplication *app, gpointer data)
{
	GtkWindow *existing = gtk_application_get_active_window(GTK_APPLICATION(app));
	if (existing) {
		gtk_window_present(existing);
		return;
	}
	GtkWindow *window = library_window_new(GTK_APPLICATION(app));
	GTask *task = g_task_new(NULL, NULL, on_host_checked, g_object_ref(window));
	g_task_run_in_thread(task, host_check_thread);
	g_object_unref(task);
}

static const GOptionEntry options[] = {
	{ "library", 'l', 0, G_OPTION_ARG_FILENAME, NULL,
	  "The folder of the VM library (default: $XDG_DATA_HOME/pcvm/vms)", "DIR" },
	{ "version", 0, 0, G_OPTION_ARG_NONE, NULL, "Print the version and exit", NULL },
	{ NULL },
};

/* Before "startup": the environment needs --library. */
static int on_local_options(GApplication *app, GVariantDict *opts, gpointer data)
{
	if (g_variant_dict_contains(opts, "version")) {
		printf("pcvm-gtk %s\n", PCVM_VERSION);
		return 0;
	}
	const char *library = NULL;
	g_variant_dict_lookup(opts, "library", "^&ay", &library);
	env_init(library);
	return -1; /* go on */
}

int main(int argc, char **argv)
{
	g_set_application_name("pcvm");
	/* one process per window set: a second pcvm-gtk may look at another library */
	GtkApplication *app = gtk_application_new(APP_ID, G_APPLICATION_NON_UNIQUE);
	g_application_add_main_option_entries(G_APPLICATION(app), options);
	g_signal_connect(app, "handle-local-options", G_CALLBACK(on_local_options), NULL);
	g_signal_connect(app, "startup", G_CALLBACK(on_startup), NULL);
	g_signal_connect(app, "activate", G_CALLBACK(on_activate), NULL);
	int status = g_application_run(G_APPLICATION(app), argc, argv);
	g_object_unref(app);
	env_clear();
	return status;
}
