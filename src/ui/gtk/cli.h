/*
 * The pcvm command line, run from the app: `pcvm ARGS...` as a child process, its output read
 * asynchronously, so that the GTK thread never waits for it. What changes a VM's files
 * (vm.conf, disks, snapshots) goes through here or through the control socket, never through
 * the app's own writes.
 */
#pragma once
#include <gio/gio.h>

#define CLI_ERROR (cli_error_quark())
GQuark cli_error_quark(void);

/* Runs app_env()->pcvm with ARGS (NULL-terminated, after the binary); CALLBACK gets the result
 * on the thread-default main context. */
void cli_run_async(const char *const *args, GCancellable *cancel, GAsyncReadyCallback callback,
		   gpointer data);
/* pcvm's standard output if it exited with 0. Otherwise NULL and *error: its standard error
 * (the "pcvm: " prefixes removed), or why it could not run. OUTPUT (may be NULL) gets the
 * standard output in either case: some commands print what they could before failing. */
char *cli_run_finish(GAsyncResult *res, char **output, GError **error);
