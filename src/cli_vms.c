/* pcvm list and pcvm start (cli_vms.h): what `virsh list --all` and `virsh start` are to
 * libvirt, over the library of vm_library.h and each VM's control socket. */
#include "cli_vms.h"

#include <glib.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "bundle.h"
#include "control.h"
#include "vm_library.h"

#define START_POLL_MS	100
#define START_TIMEOUT_S 60 /* a VM's control socket is up before its firmware runs */
#define START_LOG_LINES 10

static int vms_fail(char *error)
{
	fprintf(stderr, "pcvm: %s\n", error);
	g_free(error);
	return 1;
}

/* ---- pcvm list ---- */

/* One line of the listing. Numbers are -1 where unknown. */
struct vm_row {
	char *name, *dir;
	char *state; /* the VM's own word while it runs; else off, suspended or missing */
	gint64 memory_mib, cpus, pid;
	char *error; /* why the bundle cannot be read (or its VM asked), NULL if it can */
};

static void vm_row_free(gpointer data)
{
	struct vm_row *r = data;
	g_free(r->name);
	g_free(r->dir);
	g_free(r->state);
	g_free(r->error);
	g_free(r);
}

/* Asks the VM in R->dir for its state; a VM that is not running is off or suspended. */
static void row_probe(struct vm_row *r)
{
	g_autofree char *sock = bundle_path(r->dir, BUNDLE_CONTROL_SOCK);
	char *error = NULL;
	/* a listing does not wait long for one VM: a busy one shows as unknown */
	JsonNode *st = control_call_within(sock, "status", NULL, 5, &error);
	if (st && JSON_NODE_HOLDS_OBJECT(st)) {
		JsonObject *o = json_node_get_object(st);
		r->state = g_strdup(json_object_get_string_member_with_default(o, "state", "?"));
		r->memory_mib = json_object_get_int_member_with_default(o, "memory-mib", -1);
		r->cpus = json_object_get_int_member_with_default(o, "cpus", -1);
		r->pid = json_object_get_int_member_with_default(o, "pid", -1);
	} else if (error && !strstr(error, "not running")) {
		/* a socket that accepts but does not answer: a VM busy or hung */
		r->state = g_strdup("unknown");
		if (!r->error)
			r->error = g_strdup_printf("%s: %s", r->dir, error);
	} else {
		g_autofree char *susp = bundle_path(r->dir, BUNDLE_SUSPENDED);
		r->state = g_strdup(g_file_test(susp, G_FILE_TEST_EXISTS) ? "suspended" : "off");
	}
	if (st)
		json_node_unref(st);
	g_free(error);
}

static struct vm_row *row_new(const struct bundle_info *b)
{
	struct vm_row *r = g_new0(struct vm_row, 1);
	r->name = g_strdup(b->name);
	r->dir = g_strdup(b->dir);
	r->memory_mib = r->cpus = r->pid = -1;
	struct vm_config cfg;
	vm_config_init(&cfg);
	if (bundle_load_config(b->dir, &cfg, &r->error) == 0) {
		r->memory_mib = cfg.memory_mib;
		r->cpus = cfg.cpus;
	}
	vm_config_clear(&cfg);
	if (!g_file_test(b->dir, G_FILE_TEST_IS_DIR))
		r->state = g_strdup("missing");
	else
		row_probe(r); /* a running VM's own numbers win over vm.conf's */
	return r;
}

static void rows_add(GPtrArray *rows, GPtrArray *found)
{
	for (guint i = 0; i < found->len; i++)
		g_ptr_array_add(rows, row_new(found->pdata[i]));
}

/* ARG names a bundle (it has a vm.conf or is called *.pcvm) or a folder of them. */
static void rows_add_arg(GPtrArray *rows, const char *arg)
{
	g_autofree char *conf = g_build_filename(arg, BUNDLE_CONF, NULL);
	if (g_file_test(arg, G_FILE_TEST_IS_DIR) && !g_file_test(conf, G_FILE_TEST_EXISTS) &&
	    !g_str_has_suffix(arg, ".pcvm") && !g_str_has_suffix(arg, ".pcvm/")) {
		g_autoptr(GPtrArray) found = vm_library_scan(arg, NULL, true);
		rows_add(rows, found);
		return;
	}
	struct bundle_info *b = vm_library_read(arg, true);
	g_ptr_array_add(rows, row_new(b));
	bundle_info_free(b);
}

static char *number_text(gint64 n, const char *unit)
{
	return n < 0 ? g_strdup("-") : g_strdup_printf("%" G_GINT64_FORMAT "%s", n, unit);
}

/* TEXT as a terminal may show it: valid UTF-8 (a file name may be any bytes), control
 * characters (a name's escaped newline) as '?'. */
static char *shown(const char *text)
{
	char *s = g_utf8_make_valid(text ? text : "", -1);
	for (char *p = s; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7F)
			*p = '?';
	return s;
}

/* TEXT and spaces up to WIDTH characters (not bytes: names may be any UTF-8). */
static void print_padded(const char *text, glong width)
{
	g_autofree char *s = shown(text);
	printf("%s%*s", s, (int)MAX(width - g_utf8_strlen(s, -1), 0), "");
}

static void print_table(GPtrArray *rows)
{
	glong name_w = 4, state_w = 5;
	for (guint i = 0; i < rows->len; i++) {
		struct vm_row *r = rows->pdata[i];
		g_autofree char *name = shown(r->name), *state = shown(r->state);
		name_w = MAX(name_w, g_utf8_strlen(name, -1));
		state_w = MAX(state_w, g_utf8_strlen(state, -1));
	}
	print_padded("NAME", name_w + 2);
	print_padded("STATE", state_w + 2);
	printf("%-9s %-5s %s\n", "MEMORY", "CPUS", "PATH");
	for (guint i = 0; i < rows->len; i++) {
		struct vm_row *r = rows->pdata[i];
		g_autofree char *mem = number_text(r->memory_mib, " MiB");
		g_autofree char *cpus = number_text(r->cpus, "");
		print_padded(r->name, name_w + 2);
		print_padded(r->state, state_w + 2);
		g_autofree char *dir = shown(r->dir), *error = r->error ? shown(r->error) : NULL;
		printf("%-9s %-5s %s\n", mem, cpus, dir);
		if (error)
			printf("  error: %s\n", error);
	}
}

static void json_add_number(JsonBuilder *b, const char *name, gint64 n)
{
	json_builder_set_member_name(b, name);
	n < 0 ? json_builder_add_null_value(b) : json_builder_add_int_value(b, n);
}

/* S as a JSON string: JSON is UTF-8, a path need not be (bytes that are not show as U+FFFD). */
static void json_add_string(JsonBuilder *b, const char *name, const char *s)
{
	json_builder_set_member_name(b, name);
	g_autofree char *valid = s ? g_utf8_make_valid(s, -1) : NULL;
	valid ? json_builder_add_string_value(b, valid) : json_builder_add_null_value(b);
}

/* [{"name", "state", "memory-mib", "cpus", "pid", "path", "error"}, ...]: numbers null where
 * unknown, pid null unless it runs, error null unless the bundle cannot be read. */
static void print_json(GPtrArray *rows)
{
	g_autoptr(JsonBuilder) b = json_builder_new();
	json_builder_begin_array(b);
	for (guint i = 0; i < rows->len; i++) {
		struct vm_row *r = rows->pdata[i];
		json_builder_begin_object(b);
		json_add_string(b, "name", r->name);
		json_add_string(b, "state", r->state);
		json_add_number(b, "memory-mib", r->memory_mib);
		json_add_number(b, "cpus", r->cpus);
		json_add_number(b, "pid", r->pid);
		json_add_string(b, "path", r->dir);
		json_add_string(b, "error", r->error);
		json_builder_end_object(b);
	}
	json_builder_end_array(b);
	g_autoptr(JsonGenerator) gen = json_generator_new();
	g_autoptr(JsonNode) root = json_builder_get_root(b);
	json_generator_set_root(gen, root);
	json_generator_set_pretty(gen, TRUE);
	g_autofree char *text = json_generator_to_data(gen, NULL);
	printf("%s\n", text);
}

/* The library folder and the bundles pcvm-gtk opened from elsewhere. */
static GPtrArray *library_rows(char **where)
{
	g_autofree char *config = vm_library_gui_config();
	g_auto(GStrv) extra = vm_library_extra_load(config);
	*where = vm_library_default_dir();
	g_autoptr(GPtrArray) found = vm_library_scan(*where, extra, true);
	GPtrArray *rows = g_ptr_array_new_with_free_func(vm_row_free);
	rows_add(rows, found);
	return rows;
}

int cli_list(int argc, char **argv)
{
	gboolean json = FALSE;
	const GOptionEntry entries[] = {
		{ "json", 0, 0, G_OPTION_ARG_NONE, &json, "A JSON array, for scripts", NULL },
		{ NULL },
	};
	g_autoptr(GOptionContext) ctx = g_option_context_new(
	    "[DIR...] - the VMs of the library ($XDG_DATA_HOME/pcvm/vms), or of DIR (a bundle "
	    "or a folder of bundles)");
	g_option_context_add_main_entries(ctx, entries, NULL);
	g_autoptr(GError) err = NULL;
	if (!g_option_context_parse(ctx, &argc, &argv, &err))
		return vms_fail(g_strdup_printf("%s (see --help)", err->message));
	g_autofree char *where = NULL;
	g_autoptr(GPtrArray) rows = NULL;
	if (argc < 2) {
		rows = library_rows(&where);
	} else {
		rows = g_ptr_array_new_with_free_func(vm_row_free);
		for (int i = 1; i < argc; i++)
			rows_add_arg(rows, argv[i]);
	}
	if (json)
		print_json(rows);
	else if (rows->len)
		print_table(rows);
	else if (where)
		printf("No VMs in the library %s%s (pcvm create %s/NAME.pcvm makes one)\n", where,
		       g_file_test(where, G_FILE_TEST_IS_DIR) ? "" : ", which does not exist yet",
		       where);
	else
		printf("No VMs in %s\n", argc == 2 ? argv[1] : "those folders");
	for (guint i = 0; i < rows->len; i++)
		if (((struct vm_row *)rows->pdata[i])->error)
			return 1;
	return 0;
}

/* ---- pcvm start ---- */

static const char start_usage[] =
    "usage: pcvm start DIR [run options: --test-exit, --bios FILE, --vnc HOST:N, "
    "--keyboard LAYOUT, --serial none|FILE]";

struct start_wait {
	GMainLoop *loop;
	GSubprocess *proc;
	char *sock;
	char *pid; /* the child's */
	gint64 deadline;
	guint poll; /* on_start_poll's source while it runs */
	bool exited, answered;
};

static void on_start_exit(GObject *src, GAsyncResult *res, gpointer data)
{
	struct start_wait *w = data;
	g_subprocess_wait_finish(G_SUBPROCESS(src), res, NULL);
	w->exited = true;
	g_main_loop_quit(w->loop);
}

/* The VM is up once the control socket answers, with the pid of our child (not of another
 * pcvm that won a race for the bundle: ours will then exit). */
static gboolean on_start_poll(gpointer data)
{
	struct start_wait *w = data;
	char *error = NULL;
	/* a socket that accepts but does not answer must not hold the exit and the deadline */
	JsonNode *st = control_call_within(w->sock, "status", NULL, 1, &error);
	g_free(error);
	if (st && JSON_NODE_HOLDS_OBJECT(st)) {
		gint64 pid =
		    json_object_get_int_member_with_default(json_node_get_object(st), "pid", -1);
		w->answered = pid == g_ascii_strtoll(w->pid, NULL, 10);
	}
	if (st)
		json_node_unref(st);
	if (w->answered || g_get_monotonic_time() > w->deadline) {
		g_main_loop_quit(w->loop);
		w->poll = 0;
		return G_SOURCE_REMOVE;
	}
	return G_SOURCE_CONTINUE;
}

/* Waits for the VM W->proc to answer or end; prints the outcome. */
static int start_wait(struct start_wait *w, const char *dir, const char *log, goffset log_from)
{
	w->loop = g_main_loop_new(NULL, FALSE);
	w->deadline = g_get_monotonic_time() + START_TIMEOUT_S * G_USEC_PER_SEC;
	g_subprocess_wait_async(w->proc, NULL, on_start_exit, w);
	w->poll = g_timeout_add(START_POLL_MS, on_start_poll, w);
	g_main_loop_run(w->loop);
	/* the exit or the poll ended the loop (both, in one pass, can): the poll still there? */
	if (w->poll)
		g_source_remove(w->poll);
	if (w->answered) {
		printf("%s: running (pid %s)\n", dir, w->pid);
		return 0;
	}
	if (!w->exited)
		return vms_fail(g_strdup_printf(
		    "%s: pcvm run (pid %s) has not answered on its control socket within %d s; it "
		    "may still be starting (see %s, pcvm status, pcvm stop)",
		    dir, w->pid, START_TIMEOUT_S, log));
	g_autofree char *how = vm_spawn_exit_text(w->proc);
	g_autofree char *tail = vm_text_tail(log, log_from, START_LOG_LINES);
	fprintf(stderr, "pcvm: %s: pcvm run %s before the VM came up", dir,
		how ? how : "exited with status 0");
	if (tail)
		fprintf(stderr, "; the end of %s:\n%s\n", log, tail);
	else
		fprintf(stderr, " (%s says nothing more)\n", log);
	return 1;
}

/* `--serial stdio` needs the terminal that a detached VM does not have. */
static bool wants_stdio(char **args)
{
	for (int i = 0; args[i]; i++)
		if (!strcmp(args[i], "--serial=stdio") ||
		    (!strcmp(args[i], "--serial") && args[i + 1] && !strcmp(args[i + 1], "stdio")))
			return true;
	return false;
}

int cli_start(int argc, char **argv)
{
	if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		printf("%s\n\nStarts `pcvm run DIR` in the background (its errors go to "
		       "DIR/pcvm.log) and returns once the VM answers.\n",
		       start_usage);
		return 0;
	}
	if (argc < 2 || argv[1][0] == '-')
		return vms_fail(g_strdup(start_usage));
	const char *dir = argv[1];
	if (wants_stdio(argv + 2))
		return vms_fail(
		    g_strdup("start: --serial stdio needs a terminal; use --serial FILE "
			     "or pcvm run"));
	char *error = NULL;
	struct vm_config cfg;
	vm_config_init(&cfg);
	int ret = bundle_load_config(dir, &cfg, &error);
	vm_config_clear(&cfg);
	int lock_fd;
	if (ret < 0 || bundle_lock(dir, &lock_fd, &error) < 0)
		return vms_fail(error); /* "DIR is already running (pid N)" */
	bundle_unlock(dir, lock_fd);
	g_autofree char *self = g_file_read_link("/proc/self/exe", NULL);
	g_autofree char *log = bundle_path(dir, BUNDLE_LOG);
	struct stat st;
	goffset log_from = stat(log, &st) == 0 ? st.st_size : 0;
	g_autoptr(GError) err = NULL;
	struct start_wait w = {0};
	w.proc =
	    vm_spawn_run(self ? self : "pcvm", dir, (const char *const *)argv + 2, log, true, &err);
	if (!w.proc)
		return vms_fail(
		    g_strdup_printf("%s: cannot start pcvm run: %s", dir, err->message));
	w.pid = g_strdup(g_subprocess_get_identifier(w.proc));
	w.sock = bundle_path(dir, BUNDLE_CONTROL_SOCK);
	ret = start_wait(&w, dir, log, log_from);
	g_main_loop_unref(w.loop);
	g_object_unref(w.proc);
	g_free(w.sock);
	g_free(w.pid);
	return ret;
}
