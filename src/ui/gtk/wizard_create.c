/* What the wizard does with its answers: `pcvm create`, then the preset's keys (`pcvm config`);
 * and what it asks the host and pcvm before (wizard_private.h). */
#include <gio/gio.h>
#include <string.h>

#include "app.h"
#include "cli.h"
#include "host.h"
#include "wizard_private.h"

void wizard_spec_clear(struct wizard_spec *s)
{
	g_free(s->dir);
	g_free(s->name);
	g_free(s->iso);
	g_free(s->guest);
	g_free(s->net);
	g_free(s->display);
	g_free(s->nic);
	g_free(s->disk_bus);
	memset(s, 0, sizeof(*s));
}

static void spec_free(gpointer data)
{
	wizard_spec_clear(data);
	g_free(data);
}

static struct wizard_spec *spec_copy(const struct wizard_spec *s)
{
	struct wizard_spec *c = g_new0(struct wizard_spec, 1);
	*c = *s;
	c->dir = g_strdup(s->dir);
	c->name = g_strdup(s->name);
	c->iso = g_strdup(s->iso);
	c->guest = g_strdup(s->guest);
	c->net = g_strdup(s->net);
	c->display = g_strdup(s->display);
	c->nic = g_strdup(s->nic);
	c->disk_bus = g_strdup(s->disk_bus);
	return c;
}

/* The preset's keys that `pcvm create` has no option for, set with `pcvm config DIR set`
 * (which keeps vm.conf's comments and checks the values). The adapter and NIC model are set
 * only where they differ from what pcvm chooses anyway. */
static void on_configured(GObject *src, GAsyncResult *res, gpointer data)
{
	GTask *task = data;
	GError *err = NULL;
	g_free(cli_run_finish(res, NULL, &err)); /* the output: only success matters */
	if (err)
		g_task_return_error(task, err);
	else
		g_task_return_boolean(task, TRUE);
	g_object_unref(task);
}

static void configure(GTask *task)
{
	const struct wizard_spec *s = g_task_get_task_data(task);
	g_autofree char *guest = g_strdup_printf("vm.guest=%s", s->guest);
	g_autofree char *display = g_strdup_printf("display.adapter=%s", s->display);
	g_autofree char *nic = g_strdup_printf("net0.model=%s", s->nic);
	const char *argv[7] = { "config", s->dir, "set", guest };
	int n = 4;
	if (s->display && strcmp(s->display, "stdvga"))
		argv[n++] = display;
	if (s->nic && strcmp(s->nic, "e1000") && g_strcmp0(s->net, "none"))
		argv[n++] = nic;
	argv[n] = NULL;
	cli_run_async(argv, NULL, on_configured, task);
}

static void on_created(GObject *src, GAsyncResult *res, gpointer data)
{
	GTask *task = data;
	GSubprocess *proc = G_SUBPROCESS(src);
	g_autofree char *out = NULL, *errout = NULL;
	GError *err = NULL;
	if (!g_subprocess_communicate_utf8_finish(proc, res, &out, &errout, &err)) {
		g_task_return_error(task, err);
	} else if (!g_subprocess_get_successful(proc)) {
		g_task_return_new_error(task, G_IO_ERROR, G_IO_ERROR_FAILED, "%s",
					errout && *errout ? g_strstrip(errout)
							  : "pcvm create failed");
	} else {
		configure(task); /* it holds the task now */
		return;
	}
	g_object_unref(task);
}

void wizard_create_async(const struct wizard_spec *s, GAsyncReadyCallback callback, gpointer data)
{
	GTask *task = g_task_new(NULL, NULL, callback, data);
	struct wizard_spec *copy = spec_copy(s);
	g_task_set_task_data(task, copy, spec_free);
	g_autofree char *memory = g_strdup_printf("%u", s->memory_mib);
	g_autofree char *cpus = g_strdup_printf("%u", s->cpus);
	g_autofree char *disk = g_strdup_printf("%uG", s->disk_gib);
	g_autoptr(GPtrArray) argv = g_ptr_array_new();
	const char *fixed[] = {
	    app_env()->pcvm, "create", s->dir, "--name",      s->name, "--memory",
		memory,	     "--cpus", cpus,   "--disk-size", disk };
	for (size_t i = 0; i < G_N_ELEMENTS(fixed); i++)
		g_ptr_array_add(argv, (gpointer)fixed[i]);
	if (s->iso) {
		g_ptr_array_add(argv, "--cdrom");
		g_ptr_array_add(argv, s->iso);
	}
	if (s->net) {
		g_ptr_array_add(argv, "--net");
		g_ptr_array_add(argv, s->net);
	}
	if (s->disk_bus && strcmp(s->disk_bus, "ide")) { /* IDE is create's default */
		g_ptr_array_add(argv, "--disk-bus");
		g_ptr_array_add(argv, s->disk_bus);
	}
	g_ptr_array_add(argv, NULL);
	GError *err = NULL;
	GSubprocess *proc = g_subprocess_newv(
	    (const char *const *)argv->pdata,
	    G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE, &err);
	if (!proc) {
		g_task_return_error(task, err);
		g_object_unref(task);
		return;
	}
	g_subprocess_communicate_utf8_async(proc, NULL, NULL, on_created, task);
	g_object_unref(proc);
}

gboolean wizard_create_finish(GAsyncResult *res, GError **error)
{
	return g_task_propagate_boolean(G_TASK(res), error);
}

/* ---- what the host and pcvm offer ---- */

static void host_facts_free(gpointer data)
{
	struct wizard_host *h = data;
	g_strfreev(h->bridges);
	g_free(h);
}

static void host_facts_thread(GTask *task, gpointer src, gpointer data, GCancellable *cancel)
{
	struct wizard_host *h = g_new0(struct wizard_host, 1);
	h->memory_mib = host_memory_mib("/proc/meminfo");
	h->cpus = g_get_num_processors();
	h->bridges = host_bridges("/sys/class/net");
	g_task_return_pointer(task, h, host_facts_free);
}

void wizard_host_async(GCancellable *cancel, GAsyncReadyCallback callback, gpointer data)
{
	GTask *task = g_task_new(NULL, cancel, callback, data);
	g_task_run_in_thread(task, host_facts_thread);
	g_object_unref(task);
}

struct wizard_host *wizard_host_finish(GAsyncResult *res)
{
	return g_task_propagate_pointer(G_TASK(res), NULL);
}

void wizard_host_free(struct wizard_host *h)
{
	if (h)
		host_facts_free(h);
}

/* `pcvm ARGS...` and its standard output, to DONE (NULL output if it failed). */
struct pcvm_query {
	void (*done)(const char *out, gpointer data);
	gpointer data;
};

static void on_query_done(GObject *src, GAsyncResult *res, gpointer data)
{
	struct pcvm_query *q = data;
	g_autofree char *out = NULL;
	GSubprocess *proc = G_SUBPROCESS(src);
	bool ok = g_subprocess_communicate_utf8_finish(proc, res, &out, NULL, NULL) &&
		  g_subprocess_get_successful(proc);
	q->done(ok ? out : NULL, q->data);
	g_free(q);
}

void wizard_query_pcvm(const char *const *args, void (*done)(const char *out, gpointer data),
		       gpointer data)
{
	g_autoptr(GPtrArray) argv = g_ptr_array_new();
	g_ptr_array_add(argv, app_env()->pcvm);
	for (const char *const *a = args; *a; a++)
		g_ptr_array_add(argv, (gpointer)*a);
	g_ptr_array_add(argv, NULL);
	GSubprocess *proc = g_subprocess_newv(
	    (const char *const *)argv->pdata,
	    G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_SILENCE, NULL);
	if (!proc) {
		done(NULL, data);
		return;
	}
	struct pcvm_query *q = g_new0(struct pcvm_query, 1);
	q->done = done;
	q->data = data;
	g_subprocess_communicate_utf8_async(proc, NULL, NULL, on_query_done, q);
	g_object_unref(proc);
}

char **wizard_parse_net_list(const char *out)
{
	GPtrArray *names = g_ptr_array_new();
	g_auto(GStrv) lines = g_strsplit(out ? out : "", "\n", -1);
	/* a header line "NAME  BRIDGE  SUBNET ..." and one line per network, or one sentence
	 * ("no host-only networks ...") when there is none */
	for (guint i = 1; lines[0] && g_str_has_prefix(lines[0], "NAME") && lines[i]; i++) {
		g_auto(GStrv) words = g_strsplit_set(g_strstrip(lines[i]), " \t", 2);
		if (words[0] && *words[0])
			g_ptr_array_add(names, g_strdup(words[0]));
	}
	g_ptr_array_add(names, NULL);
	return (char **)g_ptr_array_free(names, FALSE);
}
