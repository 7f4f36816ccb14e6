/* The VM library folder, its scan, and starting `pcvm run` detached (vm_library.h). */
#include "vm_library.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "bundle.h"

void bundle_info_free(gpointer data)
{
	struct bundle_info *b = data;
	g_free(b->dir);
	g_free(b->name);
	g_free(b->guest);
	g_free(b);
}

char *vm_library_default_dir(void)
{
	return g_build_filename(g_get_user_data_dir(), "pcvm", "vms", NULL);
}

char *vm_library_gui_config(void)
{
	return g_build_filename(g_get_user_config_dir(), "pcvm", "gtk.conf", NULL);
}

char **vm_library_extra_load(const char *config_file)
{
	g_autoptr(GKeyFile) kf = g_key_file_new();
	if (!g_key_file_load_from_file(kf, config_file, G_KEY_FILE_NONE, NULL))
		return g_new0(char *, 1);
	char **list = g_key_file_get_string_list(kf, "library", "bundles", NULL, NULL);
	return list ? list : g_new0(char *, 1);
}

struct bundle_info *vm_library_read(const char *dir, bool keep_broken)
{
	g_autofree char *conf = g_build_filename(dir, BUNDLE_CONF, NULL);
	bool has_conf = g_file_test(conf, G_FILE_TEST_IS_REGULAR);
	if (!has_conf && !keep_broken)
		return NULL;
	struct bundle_info *b = g_new0(struct bundle_info, 1);
	b->dir = g_canonicalize_filename(dir, NULL);
	b->has_conf = has_conf;
	g_autoptr(GKeyFile) kf = g_key_file_new();
	if (has_conf && g_key_file_load_from_file(kf, conf, G_KEY_FILE_NONE, NULL)) {
		b->name = g_key_file_get_string(kf, "vm", "name", NULL);
		b->guest = g_key_file_get_string(kf, "vm", "guest", NULL);
	}
	if (!b->name || !*b->name) {
		g_free(b->name);
		b->name = g_filename_display_basename(b->dir); /* UTF-8: a label, not a path */
		if (g_str_has_suffix(b->name, ".pcvm"))
			b->name[strlen(b->name) - 5] = '\0';
	}
	return b;
}

static int compare_bundles(gconstpointer a, gconstpointer b)
{
	const struct bundle_info *x = *(struct bundle_info *const *)a;
	const struct bundle_info *y = *(struct bundle_info *const *)b;
	g_autofree char *kx = g_utf8_collate_key(x->name, -1);
	g_autofree char *ky = g_utf8_collate_key(y->name, -1);
	int c = strcmp(kx, ky);
	return c ? c : strcmp(x->dir, y->dir);
}

static void add_bundle(GPtrArray *found, GHashTable *seen, const char *dir, bool keep_broken)
{
	struct bundle_info *b = vm_library_read(dir, keep_broken);
	if (!b)
		return;
	if (g_hash_table_contains(seen, b->dir)) {
		bundle_info_free(b);
		return;
	}
	g_hash_table_add(seen, g_strdup(b->dir));
	g_ptr_array_add(found, b);
}

GPtrArray *vm_library_scan(const char *library_dir, char *const *extra, bool keep_broken)
{
	GPtrArray *found = g_ptr_array_new_with_free_func(bundle_info_free);
	g_autoptr(GHashTable) seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	g_autoptr(GDir) d = library_dir ? g_dir_open(library_dir, 0, NULL) : NULL;
	const char *entry;
	while (d && (entry = g_dir_read_name(d))) {
		g_autofree char *path = g_build_filename(library_dir, entry, NULL);
		/* other folders and files may live beside the bundles: only *.pcvm ones are
		 * bundles that lost their vm.conf */
		bool named =
		    g_str_has_suffix(entry, ".pcvm") && g_file_test(path, G_FILE_TEST_IS_DIR);
		add_bundle(found, seen, path, keep_broken && named);
	}
	for (char *const *e = extra; e && *e; e++)
		add_bundle(found, seen, *e, keep_broken);
	g_ptr_array_sort(found, compare_bundles);
	return found;
}

/* ---- starting `pcvm run` ---- */

/* In the child between fork and exec: a session of its own, so that the VM keeps running
 * when its parent, its terminal or its session leader goes (setsid is async-signal-safe). */
static void child_detach(gpointer data)
{
	setsid();
}

GSubprocess *vm_spawn_run(const char *pcvm, const char *dir, const char *const *run_args,
			  const char *stderr_path, bool append, GError **error)
{
	int flags = O_WRONLY | O_CREAT | O_CLOEXEC | (append ? O_APPEND : O_TRUNC);
	int fd = open(stderr_path, flags, 0644);
	if (fd < 0) {
		int e = errno;
		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(e), "%s: %s", stderr_path,
			    g_strerror(e));
		return NULL;
	}
	g_autoptr(GSubprocessLauncher) l =
	    g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDOUT_SILENCE);
	g_subprocess_launcher_take_stderr_fd(l, fd);
	g_subprocess_launcher_set_child_setup(l, child_detach, NULL, NULL);
	g_autoptr(GPtrArray) argv = g_ptr_array_new();
	g_ptr_array_add(argv, (char *)pcvm);
	g_ptr_array_add(argv, "run");
	g_ptr_array_add(argv, (char *)dir);
	for (const char *const *a = run_args; a && *a; a++)
		g_ptr_array_add(argv, (char *)*a);
	g_ptr_array_add(argv, NULL);
	return g_subprocess_launcher_spawnv(l, (const char *const *)argv->pdata, error);
}

char *vm_spawn_exit_text(GSubprocess *proc)
{
	if (g_subprocess_get_if_exited(proc))
		return g_subprocess_get_exit_status(proc)
			   ? g_strdup_printf("exited with status %d",
					     g_subprocess_get_exit_status(proc))
			   : NULL;
	int sig = g_subprocess_get_term_sig(proc);
	return g_strdup_printf("was killed by signal %d (%s)", sig, g_strsignal(sig));
}

char *vm_text_tail(const char *path, goffset from, unsigned n)
{
	g_autofree char *all = NULL;
	gsize len;
	if (!g_file_get_contents(path, &all, &len, NULL) || from < 0 || (gsize)from > len)
		return NULL;
	char *text = all + from;
	g_strchomp(text);
	if (!*text || !n)
		return NULL;
	const char *start = text + strlen(text);
	for (unsigned lines = 0; start > text && lines < n;)
		if (*--start == '\n' && ++lines == n)
			start++;
	return g_utf8_make_valid(start, -1);
}
