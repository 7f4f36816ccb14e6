/*
 * PcvmVm's snapshot operations (vm.h): take, revert, delete and rename, each described once
 * in a table, run through the control socket while the VM runs (so that its progress events
 * reach the window) and through `pcvm snapshot` while it is off; and the current snapshot,
 * read from the tree on a worker thread.
 */
#include <gio/gio.h>
#include <string.h>

#include "app.h"
#include "cli.h"
#include "pcvm_output.h"
#include "snapshot/tree.h"
#include "vm_private.h"
#include "vmctl.h"

/* A snapshot operation's VM may stay silent this long (it sends progress while it works). */
#define SNAPSHOT_SILENCE_S 120

static const struct snapshot_op {
	const char *cli;     /* pcvm snapshot CLI ... */
	const char *control; /* the control command */
	const char *verb;    /* "Cannot VERB “NAME”" */
	const char *activity;
} snapshot_ops[VM_SNAPSHOT_OPS] = {
	[VM_SNAPSHOT_TAKE] = { "take", "snapshot-take", "take a snapshot of",
			       "Taking a snapshot…" },
	[VM_SNAPSHOT_REVERT] = { "revert", "snapshot-revert", "go to the snapshot of",
				 "Going to the snapshot…" },
	[VM_SNAPSHOT_DELETE] = { "delete", "snapshot-delete", "delete the snapshot of",
				 "Deleting the snapshot…" },
	[VM_SNAPSHOT_RENAME] = { "rename", "snapshot-rename", "rename the snapshot of",
				 "Renaming the snapshot…" },
};

double pcvm_vm_get_progress(PcvmVm *vm, const char **text)
{
	*text = vm->progress_text;
	return vm->progress;
}

static void vm_progress(PcvmVm *vm, double fraction, const char *text)
{
	vm->progress = fraction;
	g_free(vm->progress_text);
	vm->progress_text = g_strdup(text);
	g_signal_emit(vm, vm_signals[VM_SIGNAL_PROGRESS], 0, fraction, text);
}

/* One operation under way: the request (copied) and whom to tell. */
struct snapshot_call {
	PcvmVm *vm;
	enum vm_snapshot_op op;
	char *snapshot, *name, *description;
	vm_snapshot_done done;
	gpointer data;
};

static void call_free(struct snapshot_call *c)
{
	g_object_unref(c->vm);
	g_free(c->snapshot);
	g_free(c->name);
	g_free(c->description);
	g_free(c);
}

static void call_end(struct snapshot_call *c, const GError *err)
{
	PcvmVm *vm = c->vm;
	if (err && !g_error_matches(err, G_IO_ERROR, G_IO_ERROR_CANCELLED))
		vm_report(vm, err->message, "Cannot %s “%s”", snapshot_ops[c->op].verb, vm->name);
	g_clear_pointer(&vm->progress_text, g_free);
	vm_set_activity(vm, NULL);
	g_signal_emit(vm, vm_signals[VM_SIGNAL_SNAPSHOTS], 0);
	if (c->done)
		c->done(vm, err, c->data);
	pcvm_vm_poll_now(vm);
	call_free(c);
}

/* ---- with the VM off: pcvm snapshot ---- */

static void on_cli(GObject *src, GAsyncResult *res, gpointer data)
{
	g_autoptr(GError) err = NULL;
	g_free(cli_run_finish(res, NULL, &err)); /* the output: only success matters */
	call_end(data, err);
}

static void run_cli(struct snapshot_call *c)
{
	const char *argv[8] = { "snapshot", snapshot_ops[c->op].cli, c->vm->dir };
	int n = 3;
	if (c->op != VM_SNAPSHOT_TAKE)
		argv[n++] = c->snapshot;
	if (c->op == VM_SNAPSHOT_TAKE || c->op == VM_SNAPSHOT_RENAME)
		argv[n++] = c->name;
	if (c->description) {
		argv[n++] = "--description";
		argv[n++] = c->description;
	}
	argv[n] = NULL;
	cli_run_async(argv, NULL, on_cli, c);
}

/* ---- while it runs: the control socket ---- */

static void on_event(JsonObject *event, gpointer data)
{
	struct snapshot_call *c = data;
	JsonNode *node = json_object_get_member(event, "data");
	if (g_strcmp0(json_object_get_string_member_with_default(event, "event", ""), "progress") ||
	    !node || !JSON_NODE_HOLDS_OBJECT(node))
		return;
	JsonObject *d = json_node_get_object(node);
	double fraction;
	g_autofree char *text = NULL;
	progress_describe(json_object_get_string_member_with_default(d, "op", NULL),
			  json_object_get_string_member_with_default(d, "phase", NULL),
			  json_object_get_int_member_with_default(d, "done", 0),
			  json_object_get_int_member_with_default(d, "total", 0), &fraction, &text);
	vm_progress(c->vm, fraction, text);
}

static void on_control(GObject *src, GAsyncResult *res, gpointer data)
{
	struct snapshot_call *c = data;
	g_autoptr(GError) err = NULL;
	JsonNode *r = vmctl_call_finish(res, &err); /* the result: only success matters */
	if (r)
		json_node_unref(r);
	if (g_error_matches(err, VMCTL_ERROR, VMCTL_ERROR_NOT_RUNNING))
		return run_cli(c); /* it went off meanwhile: the command line does it */
	call_end(c, err);
}

static JsonNode *control_args(const struct snapshot_call *c)
{
	g_autoptr(JsonBuilder) b = json_builder_new();
	json_builder_begin_object(b);
	const struct {
		const char *key, *value;
	} members[] = {
		{ "snapshot", c->op == VM_SNAPSHOT_TAKE ? NULL : c->snapshot },
		{ "name", c->name },
		{ "description", c->description },
	};
	for (size_t i = 0; i < G_N_ELEMENTS(members); i++) {
		if (!members[i].value)
			continue;
		json_builder_set_member_name(b, members[i].key);
		json_builder_add_string_value(b, members[i].value);
	}
	json_builder_end_object(b);
	return json_builder_get_root(b);
}

void pcvm_vm_snapshot(PcvmVm *vm, const struct vm_snapshot_request *r, vm_snapshot_done done,
		      gpointer data)
{
	g_return_if_fail(r->op < VM_SNAPSHOT_OPS);
	struct snapshot_call *c = g_new0(struct snapshot_call, 1);
	c->vm = g_object_ref(vm);
	c->op = r->op;
	c->snapshot = g_strdup(r->snapshot);
	c->name = g_strdup(r->name);
	c->description = g_strdup(r->description);
	c->done = done;
	c->data = data;
	vm_set_activity(vm, snapshot_ops[r->op].activity);
	vm_progress(vm, -1, snapshot_ops[r->op].activity);
	if (VM_STATES_ON & VM_STATE_BIT(vm->state))
		vmctl_call_events_async(vm->dir, snapshot_ops[r->op].control, control_args(c),
					SNAPSHOT_SILENCE_S, NULL, on_event, c, on_control, c);
	else
		run_cli(c);
}

void pcvm_vm_take_snapshot(PcvmVm *vm, const char *name, const char *description)
{
	struct vm_snapshot_request r = { VM_SNAPSHOT_TAKE, NULL, name,
					 description ? description : "" };
	pcvm_vm_snapshot(vm, &r, NULL, NULL);
}

void pcvm_vm_revert_snapshot(PcvmVm *vm, const char *id)
{
	struct vm_snapshot_request r = { VM_SNAPSHOT_REVERT, id };
	pcvm_vm_snapshot(vm, &r, NULL, NULL);
}

/* ---- the current snapshot, read on a worker thread ---- */

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
