/*
 * One VM of the library: its bundle directory, name and guest preset, its state as polled
 * through the control socket ("status" once a second), a thumbnail of its screen while it
 * runs, and the actions on it. Outcomes that went wrong arrive as the "error" signal
 * (title, detail), so that a window shows them; "changed" says the state, name, activity
 * or thumbnail changed; "removed" that the bundle went to the trash; "progress" (fraction,
 * text) how a long operation advances; "snapshots-changed" that a snapshot operation ended.
 */
#pragma once
#include <gtk/gtk.h>
#include <json-glib/json-glib.h>

enum vm_state {
	VM_STATE_OFF,
	VM_STATE_SUSPENDED, /* off, with a saved machine that the next power-on resumes */
	VM_STATE_STARTING,  /* our `pcvm run` child lives, its control socket is not up yet */
	VM_STATE_RUNNING,
	VM_STATE_PAUSED,
	VM_STATE_COUNT,
};
#define VM_STATE_BIT(s) (1u << (s))
#define VM_STATES_ON	(VM_STATE_BIT(VM_STATE_RUNNING) | VM_STATE_BIT(VM_STATE_PAUSED))
#define VM_STATES_OFF	(VM_STATE_BIT(VM_STATE_OFF) | VM_STATE_BIT(VM_STATE_SUSPENDED))

/* "Powered off", "Running", ... as the library and the title bar show it */
const char *vm_state_label(enum vm_state s);

#define PCVM_TYPE_VM (pcvm_vm_get_type())
G_DECLARE_FINAL_TYPE(PcvmVm, pcvm_vm, PCVM, VM, GObject)

/* Starts polling at once. GUEST may be NULL. */
PcvmVm *pcvm_vm_new(const char *dir, const char *name, const char *guest);
const char *pcvm_vm_get_dir(PcvmVm *vm);
const char *pcvm_vm_get_name(PcvmVm *vm);
const char *pcvm_vm_get_guest(PcvmVm *vm);
/* After a rescan of vm.conf: emits "changed" if anything differs. */
void pcvm_vm_set_info(PcvmVm *vm, const char *name, const char *guest);
enum vm_state pcvm_vm_get_state(PcvmVm *vm);
/* The last screen while running or suspended, at most 320x240; NULL: none. */
GdkPixbuf *pcvm_vm_get_thumbnail(PcvmVm *vm);
/* What the app is doing to the VM ("Taking a snapshot…"); NULL: nothing. */
const char *pcvm_vm_get_activity(PcvmVm *vm);
/* How far that is, as the last "progress" signal said: a fraction (-1: no figures) and *TEXT
 * (NULL when no operation with progress is under way). */
double pcvm_vm_get_progress(PcvmVm *vm, const char **text);
/* Asks for the state now rather than at the next tick. */
void pcvm_vm_poll_now(PcvmVm *vm);
/* Stops polling, for a VM that left the library. */
void pcvm_vm_stop(PcvmVm *vm);

/* Spawns `pcvm run DIR` in a session of its own: the VM outlives the app. An exit with an
 * error is reported with its status, its stderr and the end of DIR/pcvm.log. */
void pcvm_vm_power_on(PcvmVm *vm);
/* A control command without arguments ("pause", "powerdown", ...); VERB for the message
 * ("Cannot VERB NAME"). */
void pcvm_vm_command(PcvmVm *vm, const char *cmd, const char *verb);
/* A control command with arguments (taken); calls DONE (may be NULL) with the result or the
 * error, after reporting the error. */
typedef void (*vm_command_done)(PcvmVm *vm, JsonNode *result, const GError *error, gpointer data);
void pcvm_vm_command_full(PcvmVm *vm, const char *cmd, JsonNode *args, const char *verb,
			  vm_command_done done, gpointer data);
/* ---- snapshots (vm_snapshot.c) ---- */

enum vm_snapshot_op {
	VM_SNAPSHOT_TAKE,   /* NAME, DESCRIPTION */
	VM_SNAPSHOT_REVERT, /* SNAPSHOT */
	VM_SNAPSHOT_DELETE, /* SNAPSHOT (its children stay) */
	VM_SNAPSHOT_RENAME, /* SNAPSHOT, NAME, DESCRIPTION (NULL: unchanged) */
	VM_SNAPSHOT_OPS,
};

struct vm_snapshot_request {
	enum vm_snapshot_op op;
	const char *snapshot; /* an id (or a name) */
	const char *name;
	const char *description;
};

/* How a snapshot operation ended: ERROR NULL on success (it was reported already). */
typedef void (*vm_snapshot_done)(PcvmVm *vm, const GError *error, gpointer data);
/*
 * Runs a snapshot operation: through the control socket while the VM runs, its progress
 * events passed on as the "progress" signal (fraction 0..1 and a line; fraction -1: under way,
 * no figures), else with `pcvm snapshot ...`. The VM's activity says what it does meanwhile;
 * at the end "snapshots-changed" is emitted (success or not), errors are reported, and DONE
 * (may be NULL) is called.
 */
void pcvm_vm_snapshot(PcvmVm *vm, const struct vm_snapshot_request *r, vm_snapshot_done done,
		      gpointer data);
/* The same for take (name, description) and revert (id), without a callback. */
void pcvm_vm_take_snapshot(PcvmVm *vm, const char *name, const char *description);
void pcvm_vm_revert_snapshot(PcvmVm *vm, const char *id);
/* The current snapshot (the node the current state hangs below), read from
 * DIR/snapshots/index.conf on a worker thread: DONE gets its id and name, or NULLs. */
typedef void (*vm_snapshot_found)(PcvmVm *vm, const char *id, const char *name, gpointer data);
void pcvm_vm_find_current_snapshot(PcvmVm *vm, vm_snapshot_found done, gpointer data);
/* Moves the bundle to the trash (g_file_trash); "removed" on success. */
void pcvm_vm_trash(PcvmVm *vm);
