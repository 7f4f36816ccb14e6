/*
 * The desktop app's client of a VM's control socket, DIR/run/control.sock (src/control.h):
 * one JSON-lines request per connection, done with GIO's asynchronous calls so that the GTK
 * thread never waits on a VM. Event lines ({ "event": ... }) before the reply are skipped, or
 * handed to the caller (vmctl_call_events_async).
 */
#pragma once
#include <gio/gio.h>
#include <json-glib/json-glib.h>

#define VMCTL_ERROR (vmctl_error_quark())
GQuark vmctl_error_quark(void);

enum vmctl_error {
	VMCTL_ERROR_NOT_RUNNING, /* nothing listens on the socket: the VM is off */
	VMCTL_ERROR_FAILED,	 /* the VM answered with an error: the message is its text */
	VMCTL_ERROR_PROTOCOL,	 /* the connection closed, or the reply was not JSON */
	VMCTL_ERROR_TIMEOUT,	 /* no reply within the time given */
};

/* DIR/run/control.sock */
char *vmctl_socket_path(const char *dir);

/* Sends CMD with ARGS (a JSON object node, taken; NULL for none) to the VM in bundle DIR and
 * calls CALLBACK on the thread-default main context with the outcome. TIMEOUT_S (0: 30) is
 * how long the VM may stay silent: every line it sends (an event too) starts it again. */
void vmctl_call_async(const char *dir, const char *cmd, JsonNode *args, unsigned timeout_s,
		      GCancellable *cancel, GAsyncReadyCallback callback, gpointer data);
/* The same, passing each event line of this request before the reply (control.h: "progress"
 * events of long operations) to ON_EVENT, on the same context. */
typedef void (*vmctl_event_fn)(JsonObject *event, gpointer data);
void vmctl_call_events_async(const char *dir, const char *cmd, JsonNode *args,
			     unsigned timeout_s, GCancellable *cancel, vmctl_event_fn on_event,
			     gpointer event_data, GAsyncReadyCallback callback, gpointer data);
/* The reply's "result" object (json_node_unref it), or NULL with *error. */
JsonNode *vmctl_call_finish(GAsyncResult *res, GError **error);

/* { "KEY": VALUE } as a JSON object node, for the commands' one-string arguments. */
JsonNode *vmctl_args_string(const char *key, const char *value);
