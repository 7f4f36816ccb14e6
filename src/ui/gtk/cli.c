/* The pcvm command line as asynchronous child processes (cli.h). */
#include "cli.h"

#include <string.h>

#include "app.h"

G_DEFINE_QUARK(pcvm - cli - error - quark, cli_error)

struct cli_result {
	char *out;
	char *err;
	gboolean ok;
};

static void result_free(gpointer data)
{
	struct cli_result *r = data;
	g_free(r->out);
	g_free(r->err);
	g_free(r);
}

/* "pcvm: x\npcvm: y" as "x\ny": the app says who is speaking itself. */
static char *strip_prefixes(const char *err)
{
	g_auto(GStrv) lines = g_strsplit(err, "\n", -1);
	for (int i = 0; lines[i]; i++)
		if (g_str_has_prefix(lines[i], "pcvm: "))
			memmove(lines[i], lines[i] + 6, strlen(lines[i] + 6) + 1);
	char *joined = g_strjoinv("\n", lines);
	return g_strstrip(joined);
}

static void on_done(GObject *src, GAsyncResult *res, gpointer data)
{
	GTask *task = data;
	GSubprocess *proc = G_SUBPROCESS(src);
	struct cli_result *r = g_new0(struct cli_result, 1);
	GError *err = NULL;
	if (!g_subprocess_communicate_utf8_finish(proc, res, &r->out, &r->err, &err)) {
		result_free(r);
		g_task_return_error(task, err);
	} else {
		r->ok = g_subprocess_get_successful(proc);
		g_task_return_pointer(task, r, result_free);
	}
	g_object_unref(task);
}

void cli_run_async(const char *const *args, GCancellable *cancel, GAsyncReadyCallback callback,
		   gpointer data)
{
	GTask *task = g_task_new(NULL, cancel, callback, data);
	g_autoptr(GPtrArray) argv = g_ptr_array_new();
	g_ptr_array_add(argv, app_env()->pcvm);
	for (const char *const *a = args; *a; a++)
		g_ptr_array_add(argv, (gpointer)*a);
	g_ptr_array_add(argv, NULL);
	GError *err = NULL;
	g_autoptr(GSubprocess) proc = g_subprocess_newv(
	    (const char *const *)argv->pdata,
	    G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE |
		G_SUBPROCESS_FLAGS_STDERR_PIPE,
	    &err);
	if (!proc) {
		g_task_return_error(task, err);
		g_object_unref(task);
		return;
	}
	g_subprocess_communicate_utf8_async(proc, NULL, cancel, on_done, task);
}

char *cli_run_finish(GAsyncResult *res, char **output, GError **error)
{
	if (output)
		*output = NULL;
	struct cli_result *r = g_task_propagate_pointer(G_TASK(res), error);
	if (!r)
		return NULL;
	if (output)
		*output = g_strdup(r->out);
	char *out = NULL;
	if (r->ok) {
		out = g_steal_pointer(&r->out);
	} else {
		g_autofree char *msg = r->err && *r->err ? strip_prefixes(r->err) : NULL;
		g_set_error_literal(error, CLI_ERROR, 0, msg && *msg ? msg : "pcvm failed");
	}
	result_free(r);
	return out;
}
