/* The VM action table and its handlers (vm_actions.h). */
#include "vm_actions.h"

#include <stdbool.h>

#include "dialogs.h"
#include "settings.h"
#include "snapshots.h"

struct vm_action {
	const char *name;
	unsigned states; /* VM_STATE_BIT()s in which it is enabled */
	void (*run)(const struct vm_action_host *host, PcvmVm *vm);
	bool busy_ok;	 /* enabled while an action is in progress too (it opens a window) */
};

static void run_power_on(const struct vm_action_host *host, PcvmVm *vm)
{
	pcvm_vm_power_on(vm);
	if (host->powered_on)
		host->powered_on(host->owner, vm);
}

static void run_shutdown(const struct vm_action_host *host, PcvmVm *vm)
{
	pcvm_vm_command(vm, "powerdown", "shut down");
}

static void run_power_off(const struct vm_action_host *host, PcvmVm *vm)
{
	pcvm_vm_command(vm, "poweroff", "power off");
}

static void run_reset(const struct vm_action_host *host, PcvmVm *vm)
{
	pcvm_vm_command(vm, "reset", "reset");
}

static void run_suspend(const struct vm_action_host *host, PcvmVm *vm)
{
	pcvm_vm_command(vm, "suspend", "suspend");
}

static void run_pause(const struct vm_action_host *host, PcvmVm *vm)
{
	pcvm_vm_command(vm, "pause", "pause");
}

/* A paused VM continues; a suspended one is started, which resumes it. */
static void run_resume(const struct vm_action_host *host, PcvmVm *vm)
{
	if (pcvm_vm_get_state(vm) == VM_STATE_SUSPENDED)
		run_power_on(host, vm);
	else
		pcvm_vm_command(vm, "resume", "resume");
}

static void on_snapshot_named(const char *name, const char *description, gpointer data)
{
	pcvm_vm_take_snapshot(data, name, description);
}

static void run_snapshot_take(const struct vm_action_host *host, PcvmVm *vm)
{
	dialog_take_snapshot(host->window, pcvm_vm_get_name(vm), on_snapshot_named,
			     g_object_ref(vm), g_object_unref);
}

struct revert {
	PcvmVm *vm;
	char *id;
	GtkWindow *window;
};

static void revert_free(gpointer data)
{
	struct revert *r = data;
	g_object_unref(r->vm);
	g_object_unref(r->window);
	g_free(r->id);
	g_free(r);
}

static void on_revert_confirmed(gpointer data)
{
	struct revert *r = data;
	pcvm_vm_revert_snapshot(r->vm, r->id);
}

static void on_current_snapshot(PcvmVm *vm, const char *id, const char *name, gpointer data)
{
	GtkWindow *window = data;
	if (!id) {
		dialog_message(window, GTK_MESSAGE_INFO, "There is no snapshot to revert to",
			       "Take a snapshot first.");
		g_object_unref(window);
		return;
	}
	struct revert *r = g_new0(struct revert, 1);
	r->vm = g_object_ref(vm);
	r->id = g_strdup(id);
	r->window = window;
	g_autofree char *title =
	    g_strdup_printf("Revert “%s” to snapshot “%s”?", pcvm_vm_get_name(vm), name);
	dialog_confirm(window, title,
		       "The current state of the virtual machine will be lost: its disks, and "
		       "its memory if it runs, go back to the snapshot.",
		       "_Revert", true, G_CALLBACK(on_revert_confirmed), r, revert_free);
}

static void run_snapshot_revert(const struct vm_action_host *host, PcvmVm *vm)
{
	pcvm_vm_find_current_snapshot(vm, on_current_snapshot, g_object_ref(host->window));
}

static void run_snapshots(const struct vm_action_host *host, PcvmVm *vm)
{
	snapshots_show(gtk_window_get_application(host->window), vm);
}

static void run_settings(const struct vm_action_host *host, PcvmVm *vm)
{
	settings_show(host->window, vm);
}

static void on_delete_confirmed(gpointer data)
{
	pcvm_vm_trash(data);
}

static void run_delete(const struct vm_action_host *host, PcvmVm *vm)
{
	g_autofree char *title = g_strdup_printf("Move “%s” to the trash?", pcvm_vm_get_name(vm));
	g_autofree char *detail = g_strdup_printf(
	    "%s — its disks, snapshots and settings — goes to the trash, from where it can "
	    "still be restored.",
	    pcvm_vm_get_dir(vm));
	dialog_confirm(host->window, title, detail, "_Move to Trash", true,
		       G_CALLBACK(on_delete_confirmed), g_object_ref(vm), g_object_unref);
}

#define ON  VM_STATES_ON
#define OFF VM_STATES_OFF
#define BIT VM_STATE_BIT
#define ALL (ON | OFF | BIT(VM_STATE_STARTING))

static const struct vm_action vm_actions[] = {
	{ "power-on", OFF, run_power_on },
	{ "shutdown", BIT(VM_STATE_RUNNING), run_shutdown },
	{ "power-off", ON, run_power_off },
	{ "reset", ON, run_reset },
	{ "suspend", ON, run_suspend },
	{ "resume", BIT(VM_STATE_PAUSED) | BIT(VM_STATE_SUSPENDED), run_resume },
	{ "pause", BIT(VM_STATE_RUNNING), run_pause },
	{ "snapshot-take", ON | OFF, run_snapshot_take },
	{ "snapshot-revert", ON | OFF, run_snapshot_revert },
	{ "delete", OFF, run_delete },
	{ "snapshots", ALL, run_snapshots, true },
	{ "settings", ALL, run_settings, true },
};

/* Shortcuts, as VMware Workstation has most of them. */
static const struct {
	const char *action;
	const char *accel;
} accels[] = {
	{ "win.power-on", "<Primary>b" },
	{ "win.shutdown", "<Primary><Shift>e" },
	{ "win.power-off", "<Primary>e" },
	{ "win.reset", "<Primary>r" },
	{ "win.suspend", "<Primary>z" },
	{ "win.resume", "<Primary><Shift>b" },
	{ "win.pause", "<Primary><Shift>p" },
	{ "win.snapshot-take", "<Primary>m" },
	{ "win.snapshot-revert", "<Primary><Shift>m" },
	{ "win.delete", "Delete" },
	{ "win.snapshots", "<Primary><Alt>m" },
	{ "win.settings", "<Primary>d" },
	{ "win.snapshot-goto", "<Primary>g" },
	{ "win.snapshot-rename", "F2" },
	{ "win.snapshot-delete", "Delete" },
	{ "win.new-vm", "<Primary>n" },
	{ "win.open", "<Primary>o" },
	{ "win.console", "<Primary>l" },
	{ "win.fullscreen", "F11" },
	{ "win.scale", "<Primary><Shift>f" },
	{ "win.screenshot", "<Primary><Shift>s" },
	{ "win.close", "<Primary>w" },
	{ "app.quit", "<Primary>q" },
};

static void on_action(GSimpleAction *action, GVariant *param, gpointer data)
{
	const struct vm_action_host *host = data;
	const char *name = g_action_get_name(G_ACTION(action));
	PcvmVm *vm = host->current(host->owner);
	if (!vm)
		return;
	for (size_t i = 0; i < G_N_ELEMENTS(vm_actions); i++)
		if (!g_strcmp0(vm_actions[i].name, name) &&
		    (vm_actions[i].states & VM_STATE_BIT(pcvm_vm_get_state(vm))))
			vm_actions[i].run(host, vm);
}

void vm_actions_add(const struct vm_action_host *host)
{
	for (size_t i = 0; i < G_N_ELEMENTS(vm_actions); i++) {
		GSimpleAction *a = g_simple_action_new(vm_actions[i].name, NULL);
		g_signal_connect(a, "activate", G_CALLBACK(on_action), (gpointer)host);
		g_simple_action_set_enabled(a, FALSE);
		g_action_map_add_action(G_ACTION_MAP(host->window), G_ACTION(a));
		g_object_unref(a);
	}
}

void vm_actions_update(GtkWindow *window, PcvmVm *vm)
{
	/* an action in progress (a snapshot, the trash) holds the others back */
	bool idle = vm && !pcvm_vm_get_activity(vm);
	unsigned bit = vm ? VM_STATE_BIT(pcvm_vm_get_state(vm)) : 0;
	for (size_t i = 0; i < G_N_ELEMENTS(vm_actions); i++) {
		GAction *a = g_action_map_lookup_action(G_ACTION_MAP(window), vm_actions[i].name);
		if (a)
			g_simple_action_set_enabled(G_SIMPLE_ACTION(a),
						    (idle || (vm && vm_actions[i].busy_ok)) &&
							(vm_actions[i].states & bit));
	}
}

void vm_actions_set_accels(GtkApplication *app)
{
	for (size_t i = 0; i < G_N_ELEMENTS(accels); i++) {
		const char *list[] = { accels[i].accel, NULL };
		gtk_application_set_accels_for_action(app, accels[i].action, list);
	}
}
