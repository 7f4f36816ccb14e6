/* PcvmVm: a VM's state through its control socket, and a thumbnail of its screen (vm.h). */
#include <gio/gio.h>
#include <json-glib/json-glib.h>
#include <string.h>

#include "app.h"
#include "bundle.h"
#include "vm_private.h"
#include "vmctl.h"

#define POLL_MS		     1000 /* the state, once a second */
#define THUMB_EVERY	     3	  /* a new thumbnail every third poll while running */
#define THUMB_W		     320
#define THUMB_H		     240
#define STATUS_TIMEOUT_S     5
#define SCREENSHOT_TIMEOUT_S 10
#define COMMAND_TIMEOUT_S    30

G_DEFINE_TYPE(PcvmVm, pcvm_vm, G_TYPE_OBJECT)

guint vm_signals[VM_N_SIGNALS];

static const struct {
	const char *label;
	const char *control; /* the "state" of a status reply, NULL: not a reply */
} vm_states[VM_STATE_COUNT] = {
	[VM_STATE_OFF] = { "Powered off", NULL },
	[VM_STATE_SUSPENDED] = { "Suspended", NULL },
	[VM_STATE_STARTING] = { "Starting…", NULL },
	[VM_STATE_RUNNING] = { "Running", "running" },
	[VM_STATE_PAUSED] = { "Paused", "paused" },
};

const char *vm_state_label(enum vm_state s)
{
	return s < VM_STATE_COUNT ? vm_states[s].label : "?";
}

static void pcvm_vm_dispose(GObject *obj)
{
	PcvmVm *vm = PCVM_VM(obj);
	pcvm_vm_stop(vm);
	g_clear_object(&vm->thumb);
	g_clear_object(&vm->proc);
	G_OBJECT_CLASS(pcvm_vm_parent_class)->dispose(obj);
}

static void pcvm_vm_finalize(GObject *obj)
{
	PcvmVm *vm = PCVM_VM(obj);
	g_object_unref(vm->cancel);
	g_free(vm->dir);
	g_free(vm->name);
	g_free(vm->guest);
	g_free(vm->activity);
	g_free(vm->progress_text);
	g_free(vm->stderr_path);
	G_OBJECT_CLASS(pcvm_vm_parent_class)->finalize(obj);
}

static void pcvm_vm_class_init(PcvmVmClass *klass)
{
	GObjectClass *oc = G_OBJECT_CLASS(klass);
	oc->dispose = pcvm_vm_dispose;
	oc->finalize = pcvm_vm_finalize;
	vm_signals[VM_SIGNAL_CHANGED] =
	    g_signal_new("changed", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
			 NULL, G_TYPE_NONE, 0);
	vm_signals[VM_SIGNAL_ERROR] =
	    g_signal_new("error", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
			 G_TYPE_NONE, 2, G_TYPE_STRING, G_TYPE_STRING);
	vm_signals[VM_SIGNAL_REMOVED] =
	    g_signal_new("removed", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
			 NULL, G_TYPE_NONE, 0);
	vm_signals[VM_SIGNAL_PROGRESS] =
	    g_signal_new("progress", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
			 NULL, G_TYPE_NONE, 2, G_TYPE_DOUBLE, G_TYPE_STRING);
	vm_signals[VM_SIGNAL_SNAPSHOTS] =
	    g_signal_new("snapshots-changed", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL,
			 NULL, NULL, G_TYPE_NONE, 0);
}

static void pcvm_vm_init(PcvmVm *vm)
{
	static unsigned serials;
	vm->serial = ++serials;
	vm->cancel = g_cancellable_new();
}

void vm_emit_changed(PcvmVm *vm)
{
	g_signal_emit(vm, vm_signals[VM_SIGNAL_CHANGED], 0);
}

void vm_report(PcvmVm *vm, const char *detail, const char *title_fmt, ...)
{
	va_list ap;
	va_start(ap, title_fmt);
	g_autofree char *title = g_strdup_vprintf(title_fmt, ap);
	va_end(ap);
	g_signal_emit(vm, vm_signals[VM_SIGNAL_ERROR], 0, title, detail ? detail : "");
}

void vm_set_activity(PcvmVm *vm, const char *activity)
{
	if (!g_strcmp0(vm->activity, activity))
		return;
	g_free(vm->activity);
	vm->activity = g_strdup(activity);
	vm_emit_changed(vm);
}

static void vm_set_state(PcvmVm *vm, enum vm_state s)
{
	if (vm->state == s)
		return;
	vm->state = s;
	if (s == VM_STATE_OFF)
		g_clear_object(&vm->thumb); /* the icon stands for a VM that is off */
	vm_emit_changed(vm);
}

const char *pcvm_vm_get_dir(PcvmVm *vm)
{
	return vm->dir;
}

const char *pcvm_vm_get_name(PcvmVm *vm)
{
	return vm->name;
}

const char *pcvm_vm_get_guest(PcvmVm *vm)
{
	return vm->guest;
}

enum vm_state pcvm_vm_get_state(PcvmVm *vm)
{
	return vm->state;
}

GdkPixbuf *pcvm_vm_get_thumbnail(PcvmVm *vm)
{
	return vm->thumb;
}

const char *pcvm_vm_get_activity(PcvmVm *vm)
{
	return vm->activity;
}

void pcvm_vm_set_info(PcvmVm *vm, const char *name, const char *guest)
{
	if (!g_strcmp0(vm->name, name) && !g_strcmp0(vm->guest, guest))
		return;
	g_free(vm->name);
	vm->name = g_strdup(name);
	g_free(vm->guest);
	vm->guest = g_strdup(guest);
	vm_emit_changed(vm);
}

/* ---- thumbnails: the VM writes a PNG, we load it scaled, neither on the GTK thread ---- */

static char *thumb_path(PcvmVm *vm)
{
	g_autofree char *name = g_strdup_printf("thumb-%u.png", vm->serial);
	return g_build_filename(app_env()->tmp_dir, name, NULL);
}

static void on_thumb_loaded(GObject *src, GAsyncResult *res, gpointer data)
{
	g_autoptr(PcvmVm) vm = data;
	g_autoptr(GError) err = NULL;
	GdkPixbuf *pix = gdk_pixbuf_new_from_stream_finish(res, &err);
	vm->thumb_busy = false;
	if (!pix || g_cancellable_is_cancelled(vm->cancel) || vm->state == VM_STATE_OFF) {
		g_clear_object(&pix);
		return;
	}
	g_clear_object(&vm->thumb);
	vm->thumb = pix;
	vm_emit_changed(vm);
}

static void on_thumb_opened(GObject *src, GAsyncResult *res, gpointer data)
{
	PcvmVm *vm = data;
	g_autoptr(GFileInputStream) in = g_file_read_finish(G_FILE(src), res, NULL);
	if (!in) {
		vm->thumb_busy = false;
		g_object_unref(vm);
		return;
	}
	gdk_pixbuf_new_from_stream_at_scale_async(G_INPUT_STREAM(in), THUMB_W, THUMB_H, TRUE,
						  vm->cancel, on_thumb_loaded, vm);
}

static void on_screenshot(GObject *src, GAsyncResult *res, gpointer data)
{
	PcvmVm *vm = data;
	g_autoptr(JsonNode) r = vmctl_call_finish(res, NULL);
	if (!r || g_cancellable_is_cancelled(vm->cancel)) {
		vm->thumb_busy = false; /* a VM that went off meanwhile: not an error */
		g_object_unref(vm);
		return;
	}
	g_autofree char *path = thumb_path(vm);
	g_autoptr(GFile) file = g_file_new_for_path(path);
	g_file_read_async(file, G_PRIORITY_LOW, vm->cancel, on_thumb_opened, vm);
}

static void thumb_refresh(PcvmVm *vm)
{
	if (vm->thumb_busy)
		return;
	vm->thumb_busy = true;
	g_autofree char *path = thumb_path(vm);
	vmctl_call_async(vm->dir, "screenshot", vmctl_args_string("file", path),
			 SCREENSHOT_TIMEOUT_S, vm->cancel, on_screenshot, g_object_ref(vm));
}

/* ---- state ---- */

static void on_suspend_file(GObject *src, GAsyncResult *res, gpointer data)
{
	g_autoptr(PcvmVm) vm = data;
	g_autoptr(GFileInfo) info = g_file_query_info_finish(G_FILE(src), res, NULL);
	vm->poll_busy = false;
	if (g_cancellable_is_cancelled(vm->cancel))
		return;
	if (vm->proc) /* our child is starting up (or resuming) */
		vm_set_state(vm, VM_STATE_STARTING);
	else
		vm_set_state(vm, info ? VM_STATE_SUSPENDED : VM_STATE_OFF);
}

/* Off, suspended or starting: the control socket did not answer. */
static void poll_off(PcvmVm *vm)
{
	g_autofree char *path = bundle_path(vm->dir, BUNDLE_SUSPENDED);
	g_autoptr(GFile) file = g_file_new_for_path(path);
	g_file_query_info_async(file, G_FILE_ATTRIBUTE_STANDARD_TYPE, G_FILE_QUERY_INFO_NONE,
				G_PRIORITY_DEFAULT, vm->cancel, on_suspend_file, g_object_ref(vm));
}

static void on_status(GObject *src, GAsyncResult *res, gpointer data)
{
	g_autoptr(PcvmVm) vm = data;
	g_autoptr(GError) err = NULL;
	g_autoptr(JsonNode) r = vmctl_call_finish(res, &err);
	if (g_cancellable_is_cancelled(vm->cancel)) {
		vm->poll_busy = false;
		return;
	}
	if (!r) {
		if (g_error_matches(err, VMCTL_ERROR, VMCTL_ERROR_NOT_RUNNING))
			return poll_off(vm); /* keeps poll_busy until it knows */
		vm->poll_busy = false;	     /* busy or hung: the state stays as it was */
		return;
	}
	vm->poll_busy = false;
	const char *state =
	    JSON_NODE_HOLDS_OBJECT(r)
		? json_object_get_string_member_with_default(json_node_get_object(r), "state", "")
		: "";
	for (int s = 0; s < VM_STATE_COUNT; s++)
		if (vm_states[s].control && !strcmp(vm_states[s].control, state))
			vm_set_state(vm, s);
	if (vm->state == VM_STATE_RUNNING && (vm->ticks % THUMB_EVERY == 1 || !vm->thumb))
		thumb_refresh(vm);
}

void pcvm_vm_poll_now(PcvmVm *vm)
{
	if (vm->poll_busy || g_cancellable_is_cancelled(vm->cancel))
		return;
	vm->poll_busy = true;
	vm->ticks++;
	vmctl_call_async(vm->dir, "status", NULL, STATUS_TIMEOUT_S, vm->cancel, on_status,
			 g_object_ref(vm));
}

static gboolean poll_tick(gpointer data)
{
	pcvm_vm_poll_now(data);
	return G_SOURCE_CONTINUE;
}

PcvmVm *pcvm_vm_new(const char *dir, const char *name, const char *guest)
{
	PcvmVm *vm = g_object_new(PCVM_TYPE_VM, NULL);
	vm->dir = g_strdup(dir);
	vm->name = g_strdup(name);
	vm->guest = g_strdup(guest);
	vm->poll_timer = g_timeout_add(POLL_MS, poll_tick, vm);
	pcvm_vm_poll_now(vm);
	return vm;
}

void pcvm_vm_stop(PcvmVm *vm)
{
	g_cancellable_cancel(vm->cancel);
	if (vm->poll_timer)
		g_source_remove(vm->poll_timer);
	vm->poll_timer = 0;
}

/* ---- control commands ---- */

struct command_call {
	PcvmVm *vm;
	char *verb;
	vm_command_done done;
	gpointer data;
};

static void on_command(GObject *src, GAsyncResult *res, gpointer data)
{
	struct command_call *c = data;
	g_autoptr(GError) err = NULL;
	g_autoptr(JsonNode) r = vmctl_call_finish(res, &err);
	if (err && !g_error_matches(err, G_IO_ERROR, G_IO_ERROR_CANCELLED))
		vm_report(c->vm, err->message, "Cannot %s “%s”", c->verb, c->vm->name);
	if (c->done)
		c->done(c->vm, r, err, c->data);
	pcvm_vm_poll_now(c->vm);
	g_object_unref(c->vm);
	g_free(c->verb);
	g_free(c);
}

void pcvm_vm_command_full(PcvmVm *vm, const char *cmd, JsonNode *args, const char *verb,
			  vm_command_done done, gpointer data)
{
	struct command_call *c = g_new0(struct command_call, 1);
	c->vm = g_object_ref(vm);
	c->verb = g_strdup(verb);
	c->done = done;
	c->data = data;
	vmctl_call_async(vm->dir, cmd, args, COMMAND_TIMEOUT_S, vm->cancel, on_command, c);
}

void pcvm_vm_command(PcvmVm *vm, const char *cmd, const char *verb)
{
	pcvm_vm_command_full(vm, cmd, NULL, verb, NULL, NULL);
}
