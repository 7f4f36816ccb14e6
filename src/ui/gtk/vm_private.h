/* The insides of PcvmVm, shared by vm.c (state, polling, thumbnails), vm_spawn.c (power on,
 * the trash) and vm_snapshot.c (snapshot operations). */
#pragma once
#include <json-glib/json-glib.h>
#include <stdbool.h>

#include "vm.h"

struct _PcvmVm {
	GObject parent;
	char *dir;
	char *name;
	char *guest;
	enum vm_state state;
	GdkPixbuf *thumb;
	char *activity;
	double progress;     /* of the activity: 0..1, or -1 (no figures) */
	char *progress_text; /* NULL: no activity with progress */
	GCancellable *cancel; /* cancelled when the VM leaves the library */
	guint poll_timer;
	bool poll_busy;
	bool thumb_busy;
	unsigned ticks;
	unsigned serial;   /* names this VM's files in the app's temp dir */
	GSubprocess *proc; /* our `pcvm run` child, until it exits */
	char *stderr_path; /* where that child's stderr goes */
};

enum {
	VM_SIGNAL_CHANGED,
	VM_SIGNAL_ERROR,
	VM_SIGNAL_REMOVED,
	VM_SIGNAL_PROGRESS,
	VM_SIGNAL_SNAPSHOTS,
	VM_N_SIGNALS
};
extern guint vm_signals[VM_N_SIGNALS];

void vm_emit_changed(PcvmVm *vm);
/* Emits "error" with a title (printf-style) and DETAIL. */
void vm_report(PcvmVm *vm, const char *detail, const char *title_fmt, ...) G_GNUC_PRINTF(3, 4);
void vm_set_activity(PcvmVm *vm, const char *activity);
