/*
 * The VM library (design.md, "Processes"): the folder of bundles, $XDG_DATA_HOME/pcvm/vms by
 * default, plus the bundles the desktop app opened from elsewhere ($XDG_CONFIG_HOME/pcvm/
 * gtk.conf, [library] bundles=). Shared by `pcvm list` / `pcvm start` and pcvm-gtk, as is the
 * way both start a VM: `pcvm run DIR` in a session of its own, so that it outlives its parent.
 */
#pragma once
#include <gio/gio.h>
#include <stdbool.h>

/* What a scan found of one bundle, from its vm.conf read leniently (a vm.conf that does not
 * parse still makes a bundle: `pcvm run` will say what is wrong with it). */
struct bundle_info {
	char *dir;     /* canonical path */
	char *name;    /* [vm] name=, or the directory's name without .pcvm */
	char *guest;   /* [vm] guest=, NULL if unset */
	bool has_conf; /* false: no vm.conf (kept only by scans with KEEP_BROKEN) */
};

void bundle_info_free(gpointer info);

/* $XDG_DATA_HOME/pcvm/vms (~/.local/share/pcvm/vms). */
char *vm_library_default_dir(void);
/* $XDG_CONFIG_HOME/pcvm/gtk.conf, where pcvm-gtk keeps the bundles opened from elsewhere. */
char *vm_library_gui_config(void);
/* Those bundles ([library] bundles=); an empty list if the file is missing or unreadable. */
char **vm_library_extra_load(const char *config_file);

/* DIR as a bundle: NULL if it has no vm.conf, unless KEEP_BROKEN, which keeps it (has_conf
 * false) so that a caller can say what is wrong with it. */
struct bundle_info *vm_library_read(const char *dir, bool keep_broken);
/* The bundles in LIBRARY_DIR (each subdirectory with a vm.conf; with KEEP_BROKEN also each
 * *.pcvm one without) and the directories EXTRA (NULL-terminated; those without vm.conf are
 * left out unless KEEP_BROKEN), each once, sorted by name: struct bundle_info *s, to
 * g_ptr_array_unref. A LIBRARY_DIR that cannot be opened adds nothing. Blocks on the disk. */
GPtrArray *vm_library_scan(const char *library_dir, char *const *extra, bool keep_broken);

/* Starts `PCVM run DIR RUN_ARGS...` (RUN_ARGS NULL-terminated, may be NULL) detached: a session
 * of its own (setsid), stdin from /dev/null, stdout silenced, stderr into STDERR_PATH (appended
 * to if APPEND, else truncated). */
GSubprocess *vm_spawn_run(const char *pcvm, const char *dir, const char *const *run_args,
			  const char *stderr_path, bool append, GError **error);
/* "exited with status 1", "was killed by signal 9 (Killed)", or NULL for an exit with 0, of
 * PROC that has ended. */
char *vm_spawn_exit_text(GSubprocess *proc);
/* The last N lines of PATH's text from byte FROM on (made valid UTF-8), or NULL if unreadable
 * or empty. */
char *vm_text_tail(const char *path, goffset from, unsigned n);
