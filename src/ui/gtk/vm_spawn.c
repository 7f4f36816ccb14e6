/* PcvmVm's actions through processes and files: `pcvm run` as a detached child and its exit
 * report, `pcvm snapshot take|revert`, the snapshot tree, the trash (vm.h). */
#include <gio/gio.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "app.h"
#include "snapshot/tree.h"
#include "vm_private.h"

#define REPORT_STDERR_LINES 12
#define REPORT_LOG_LINES    8

/* The last N lines of PATH's text, or NULL if it cannot be read or is empty. */
static char *tail_lines(const char *path, unsigned n)
{
	g_autofree char *text = NULL;
	if (!g_file_get_contents(path, &text, NULL, NULL))
		return NULL;
	g_strchomp(text);
	if (!*text)
		return NULL;
	const char *start = text + strlen(text);
	for (unsigned lines = 0; start > text && lines < n;)
		if (*--start == '\n' && ++lines == n)
			start++;
	return g_utf8_make_valid(start, -1);
}

/* What went wrong with a `pcvm run` that ended: its exit, stderr and log (worker thread). */
struct exit_report {
	char *dir;
	char *stderr_path;
	char *status; /* "exited with status 1" */
};

static void exit_report_free(gpointer data)
{
	struct exit_report *r = data;
	g_free(r->dir);
	g_free(r->stderr_path);
	g_free(r->status);
	g_free(r);
}

static void exit_report_thread(GTask *task, gpointer src, gpointer data, GCancellable *cancel)
{
	struct exit_report *r = data;
	g_autofree char *log_path = g_build_filename(r->dir, "pcvm.log", NULL);
	g_autofree char *err = tail_lines(r->stderr_path, REPORT_STDERR_LINES);
	g_autofree char *log = tail_lines(log_path, REPORT_LOG_LINES);
	GString *s = g_string_new(NULL);
	g_string_append_printf(s, "pcvm run %s.", r->status);
	if (err)
		g_string_append_printf(s, "\n\n%s", err);
	if (log)
		g_string_append_printf(s, "\n\nThe end of %s:\n%s", log_path, log);
	g_task_return_pointer(task, g_string_free(s, FALSE), g_free);
}

static void on_exit_report(GObject *src, GAsyncResult *res, gpointer data)
{
	g_autoptr(PcvmVm) vm = PCVM_VM(src);
	g_autofree char *detail = g_task_propagate_pointer(G_TASK(res), NULL);
	vm_report(vm, detail, "“%s” stopped with an error", vm->name);
}

static char *exit_status_text(GSubprocess *proc)
{
	if (g_subprocess_get_if_exited(proc))
		return g_subprocess_get_exit_status(proc)
			   ? g_strdup_printf("exited with status %d",
					     g_subprocess_get_exit_status(proc))
			   : NULL;
	int sig = g_subprocess_get_term_sig(proc);
	return g_strdup_printf("was killed by signal %d (%s)", sig, g_strsignal(sig));
}

static void on_run_exit(GObject *src, GAsyncResult *res, gpointer data)
{
	g_autoptr(PcvmVm) vm = data;
	GSubprocess *proc = G_SUBPROCESS(src);
	if (!g_subprocess_wait_finish(proc, res, NULL))
		return; /* cancelled: the app is going away, the VM stays */
	g_autofree char *status = exit_status_text(proc);
	if (vm->proc == proc)
		g_clear_object(&vm->proc);
	pcvm_vm_poll_now(vm);
	if (!status)
		return; /* a power-off, a shutdown or a suspend */
	struct exit_report *r = g_new0(struct exit_report, 1);
	r->dir = g_strdup(vm->dir);
	r->stderr_path = g_strdup(vm->stderr_path);
	r->status = g_steal_pointer(&status);
	GTask *task = g_task_new(g_object_ref(vm), NULL, on_exit_report, NULL);
	g_task_set_task_data(task, r, exit_report_free);
	g_task_run_in_thread(task, exit_report_thread);
	g_object_unref(task);
}

/* In the child between fork and exec: a session of its own, so that the VM keeps running
 * when the app, its terminal or its session leader goes (setsid is async-signal-safe). */
static void child_detach(gpointer data)
{
	setsid();
}

void pcvm_vm_power_on(PcvmVm *vm)
{
	if (vm->proc || !(VM_STATES_OFF & VM_STATE_BIT(vm->state)))
		return;
	g_autofree char *name = g_strdup_printf("vm-%u.stderr", vm->serial);
	g_free(vm->stderr_path);
	vm->stderr_path = g_build_filename(app_env()->tmp_dir, name, NULL);
	g_autoptr(GSubprocessLauncher) l =
	    g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDOUT_SILENCE);
	g_subprocess_launcher_set_stderr_file_path(l, vm->stderr_path);
	g_subprocess_launcher_set_child_setup(l, child_detach, NULL, NULL);
	g_autoptr(GError) err = NULL;
	vm->proc = g_subprocess_launcher_spawn(l, &err, app_env()->pcvm, "run", vm->dir, NULL);
	if (!vm->proc) {
		vm_report(vm, err->message, "Cannot power on “%s”", vm->name);
		return;
	}
	vm->state = VM_STATE_STARTING;
	vm_emit_changed(vm);
	g_subprocess_wait_async(vm->proc, NULL, on_run_exit, g_object_ref(vm));
}

/* ---- the pcvm command line ---- */

struct cli_call {
	PcvmVm *vm;
	char *verb;
};

static void on_cli_done(GObject *src, GAsyncResult *res, gpointer data)
{
	struct cli_call *c = data;
	GSubprocess *proc = G_SUBPROCESS(src);
	g_autofree char *out = NULL, *errout = NULL;
	g_autoptr(GError) err = NULL;
	if (!g_subprocess_communicate_utf8_finish(proc, res, &out, &errout, &err))
		vm_report(c->vm, err->message, "Cannot %s “%s”", c->verb, c->vm->name);
	else if (!g_subprocess_get_successful(proc))
		vm_report(c->vm, errout && *errout ? g_strstrip(errout) : "pcvm failed",
			  "Cannot %s “%s”", c->verb, c->vm->name);
	vm_set_activity(c->vm, NULL);
	pcvm_vm_poll_now(c->vm);
	g_object_unref(c->vm);
	g_free(c->verb);
	g_free(c);
}

/* Runs pcvm with ARGV (NULL-terminated, after the binary); ACTIVITY while it runs. */
static void vm_cli(PcvmVm *vm, const char *verb, const char *activity, const char *const *argv)
{
	g_autoptr(GPtrArray) args = g_ptr_array_new();
	g_ptr_array_add(args, app_env()->pcvm);
	for (const char *const *a = argv; *a; a++)
		g_ptr_array_add(args, (gpointer)*a);
	g_ptr_array_add(args, NULL);
	g_autoptr(GError) err = NULL;
	GSubprocess *proc = g_subprocess_newv(
	    (const char *const *)args->pdata,
	    G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE, &err);
	if (!proc) {
		vm_report(vm, err->message, "Cannot %s “%s”", verb, vm->name);
		return;
	}
	struct cli_call *c = g_new0(struct cli_call, 1);
	c->vm = g_object_ref(vm);
	c->verb = g_strdup(verb);
	vm_set_activity(vm, activity);
	g_subprocess_communicate_utf8_async(proc, NULL, NULL, on_cli_done, c);
	g_object_unref(proc);
}

void pcvm_vm_take_snapshot(PcvmVm *vm, const char *name, const char *description)
{
	const char *argv[] = { "snapshot", "take",	   vm->dir,
			      name,	  "--description", description ? description : "",
			      NULL };
	vm_cli(vm, "take a snapshot of", "Taking a snapshot…", argv);
}

void pcvm_vm_revert_snapshot(PcvmVm *vm, const char *id)
{
	const char *argv[] = { "snapshot", "revert", vm->dir, id, NULL };
	vm_cli(vm, "revert", "Reverting to the snapshot…", argv);
}

/* ---- the snapshot tree, read on a worker thread ---- */

struct snapshot_find {
	vm_snapshot_found done;
	gpointer data;
	char *id;
	char *name;
};

static void snapshot_find_thread(GTask *task, gpointer src, gpointer data, GCancellable *cancel)
{
	struct snapshot_find *f = data;
	g_autofree char *index =
	    g_build_filename(PCVM_VM(src)->dir, "snapshots", "index.conf", NULL);
	struct snapshot_tree t;
	snapshot_tree_init(&t);
	char *error = NULL;
	if (snapshot_tree_load(&t, index, &error) == 0 && t.current) {
		const struct snapshot_node *n = snapshot_tree_find(&t, t.current);
		f->id = g_strdup(t.current);
		f->name = g_strdup(n && n->name ? n->name : t.current);
	}
	g_free(error);
	snapshot_tree_clear(&t);
	g_task_return_boolean(task, TRUE);
}

static void snapshot_find_free(gpointer data)
{
	struct snapshot_find *f = data;
	g_free(f->id);
	g_free(f->name);
	g_free(f);
}

static void on_snapshot_found(GObject *src, GAsyncResult *res, gpointer data)
{
	struct snapshot_find *f = g_task_get_task_data(G_TASK(res));
	f->done(PCVM_VM(src), f->id, f->name, f->data);
}

void pcvm_vm_find_current_snapshot(PcvmVm *vm, vm_snapshot_found done, gpointer data)
{
	struct snapshot_find *f = g_new0(struct snapshot_find, 1);
	f->done = done;
	f->data = data;
	GTask *task = g_task_new(vm, NULL, on_snapshot_found, NULL);
	g_task_set_task_data(task, f, snapshot_find_free);
	g_task_run_in_thread(task, snapshot_find_thread);
	g_object_unref(task);
}

/* ---- the trash ---- */

static void on_trashed(GObject *src, GAsyncResult *res, gpointer data)
{
	g_autoptr(PcvmVm) vm = data;
	g_autoptr(GError) err = NULL;
	vm_set_activity(vm, NULL);
	if (!g_file_trash_finish(G_FILE(src), res, &err)) {
		vm_report(vm, err->message, "Cannot move “%s” to the trash", vm->name);
		return;
	}
	pcvm_vm_stop(vm);
	g_signal_emit(vm, vm_signals[VM_SIGNAL_REMOVED], 0);
}

void pcvm_vm_trash(PcvmVm *vm)
{
	if (vm->proc || !(VM_STATES_OFF & VM_STATE_BIT(vm->state))) {
		vm_report(vm, "Power it off first.", "Cannot delete “%s” while it runs", vm->name);
		return;
	}
	g_autoptr(GFile) file = g_file_new_for_path(vm->dir);
	vm_set_activity(vm, "Moving to the trash…");
	g_file_trash_async(file, G_PRIORITY_DEFAULT, NULL, on_trashed, g_object_ref(vm));
}
