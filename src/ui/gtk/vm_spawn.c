/* PcvmVm's actions through processes and files: `pcvm run` as a detached child and its exit
 * report, the trash (vm.h). Snapshots are in vm_snapshot.c. */
#include <gio/gio.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "app.h"
#include "vm_library.h"
#include "vm_private.h"

#define REPORT_STDERR_LINES 12
#define REPORT_LOG_LINES    8

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
	g_autofree char *err = vm_text_tail(r->stderr_path, 0, REPORT_STDERR_LINES);
	g_autofree char *log = vm_text_tail(log_path, 0, REPORT_LOG_LINES);
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

static void on_run_exit(GObject *src, GAsyncResult *res, gpointer data)
{
	g_autoptr(PcvmVm) vm = data;
	GSubprocess *proc = G_SUBPROCESS(src);
	if (!g_subprocess_wait_finish(proc, res, NULL))
		return; /* cancelled: the app is going away, the VM stays */
	g_autofree char *status = vm_spawn_exit_text(proc);
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

void pcvm_vm_power_on(PcvmVm *vm)
{
	if (vm->proc || !(VM_STATES_OFF & VM_STATE_BIT(vm->state)))
		return;
	g_autofree char *name = g_strdup_printf("vm-%u.stderr", vm->serial);
	g_free(vm->stderr_path);
	vm->stderr_path = g_build_filename(app_env()->tmp_dir, name, NULL);
	g_autoptr(GError) err = NULL;
	vm->proc = vm_spawn_run(app_env()->pcvm, vm->dir, NULL, vm->stderr_path, false, &err);
	if (!vm->proc) {
		vm_report(vm, err->message, "Cannot power on “%s”", vm->name);
		return;
	}
	vm->state = VM_STATE_STARTING;
	vm_emit_changed(vm);
	g_subprocess_wait_async(vm->proc, NULL, on_run_exit, g_object_ref(vm));
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
