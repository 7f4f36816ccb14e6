/* Asynchronous control-socket calls (vmctl.h): connect, write one line, read lines until the
 * reply. A timer cancels a call whose VM stays silent longer than its timeout. */
#include "vmctl.h"

#include <gio/gunixsocketaddress.h>
#include <string.h>

#include "bundle.h"
#include "control.h"

G_DEFINE_QUARK(pcvm - vmctl - error - quark, vmctl_error)

#define VMCTL_MAX_REPLY (1024 * 1024) /* a longer line is not a reply of ours */

struct vmctl_call {
	char *cmd;
	char *path;
	char *line;
	GSocketConnection *conn;
	GDataInputStream *in;
	GCancellable *cancel; /* ours: cancelled by the timer or by the caller's */
	GCancellable *caller;
	gulong caller_handler;
	guint timer;
	unsigned timeout_s;
	gboolean timed_out;
	vmctl_event_fn on_event;
	gpointer event_data;
};

static void call_free(gpointer data)
{
	struct vmctl_call *c = data;
	if (c->timer)
		g_source_remove(c->timer);
	if (c->caller)
		g_cancellable_disconnect(c->caller, c->caller_handler);
	g_clear_object(&c->caller);
	g_clear_object(&c->in);
	if (c->conn)
		g_io_stream_close(G_IO_STREAM(c->conn), NULL, NULL);
	g_clear_object(&c->conn);
	g_object_unref(c->cancel);
	g_free(c->cmd);
	g_free(c->path);
	g_free(c->line);
	g_free(c);
}

char *vmctl_socket_path(const char *dir)
{
	return bundle_path(dir, BUNDLE_CONTROL_SOCK);
}

static gboolean call_timed_out(gpointer data)
{
	struct vmctl_call *c = g_task_get_task_data(data);
	c->timer = 0;
	c->timed_out = TRUE;
	g_cancellable_cancel(c->cancel);
	return G_SOURCE_REMOVE;
}

/* (Re)starts the silence timer of TASK's call. */
static void timer_start(GTask *task)
{
	struct vmctl_call *c = g_task_get_task_data(task);
	if (c->timer)
		g_source_remove(c->timer);
	/* not g_timeout_add_seconds: that one may fire up to a second early */
	c->timer = g_timeout_add(c->timeout_s * 1000u, call_timed_out, task);
}

static void caller_cancelled(GCancellable *caller, gpointer data)
{
	g_cancellable_cancel(data);
}

/* Ends the call with ERR (taken), naming a timeout as such. */
static void call_fail(GTask *task, GError *err)
{
	struct vmctl_call *c = g_task_get_task_data(task);
	if (c->timed_out && g_error_matches(err, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
		g_error_free(err);
		err = g_error_new(VMCTL_ERROR, VMCTL_ERROR_TIMEOUT,
				  "the VM did not answer '%s' in time", c->cmd);
	}
	g_task_return_error(task, err);
	g_object_unref(task);
}

static void on_line(GObject *src, GAsyncResult *res, gpointer data);

static void read_next(GTask *task)
{
	struct vmctl_call *c = g_task_get_task_data(task);
	g_data_input_stream_read_line_async(c->in, G_PRIORITY_DEFAULT, c->cancel, on_line, task);
}

/* Returns TRUE when LINE was the reply and the task has been completed. */
static gboolean take_reply(GTask *task, const char *line)
{
	struct vmctl_call *c = g_task_get_task_data(task);
	g_autoptr(JsonParser) p = json_parser_new();
	if (!json_parser_load_from_data(p, line, -1, NULL) ||
	    !JSON_NODE_HOLDS_OBJECT(json_parser_get_root(p)))
		return FALSE;
	JsonObject *o = json_node_get_object(json_parser_get_root(p));
	if (!json_object_has_member(o, "ok")) { /* an event */
		if (c->on_event && json_object_has_member(o, "event"))
			c->on_event(o, c->event_data);
		return FALSE;
	}
	if (!json_object_get_boolean_member_with_default(o, "ok", FALSE)) {
		const char *msg = json_object_get_string_member_with_default(o, "error", "failed");
		call_fail(task, g_error_new_literal(VMCTL_ERROR, VMCTL_ERROR_FAILED, msg));
		return TRUE;
	}
	JsonNode *result = json_object_get_member(o, "result");
	g_task_return_pointer(task, result ? json_node_copy(result) : json_node_new(JSON_NODE_NULL),
			      (GDestroyNotify)json_node_unref);
	g_object_unref(task);
	return TRUE;
}

static void on_line(GObject *src, GAsyncResult *res, gpointer data)
{
	GTask *task = data;
	struct vmctl_call *c = g_task_get_task_data(task);
	GError *err = NULL;
	gsize len = 0;
	g_autofree char *line = g_data_input_stream_read_line_finish_utf8(c->in, res, &len, &err);
	if (err)
		return call_fail(task, err);
	if (!line)
		return call_fail(task,
				 g_error_new(VMCTL_ERROR, VMCTL_ERROR_PROTOCOL,
					     "the VM closed the connection before answering"));
	if (len > VMCTL_MAX_REPLY)
		return call_fail(task, g_error_new(VMCTL_ERROR, VMCTL_ERROR_PROTOCOL,
						   "a reply of %zu bytes", (size_t)len));
	timer_start(task); /* the VM is alive: it may take its time again */
	if (!take_reply(task, line))
		read_next(task);
}

static void on_written(GObject *src, GAsyncResult *res, gpointer data)
{
	GTask *task = data;
	struct vmctl_call *c = g_task_get_task_data(task);
	GError *err = NULL;
	if (!g_output_stream_write_all_finish(G_OUTPUT_STREAM(src), res, NULL, &err))
		return call_fail(task, err);
	c->in = g_data_input_stream_new(g_io_stream_get_input_stream(G_IO_STREAM(c->conn)));
	g_data_input_stream_set_newline_type(c->in, G_DATA_STREAM_NEWLINE_TYPE_LF);
	read_next(task);
}

static void on_connected(GObject *src, GAsyncResult *res, gpointer data)
{
	GTask *task = data;
	struct vmctl_call *c = g_task_get_task_data(task);
	GError *err = NULL;
	c->conn = g_socket_client_connect_finish(G_SOCKET_CLIENT(src), res, &err);
	if (!c->conn) {
		if (g_error_matches(err, G_IO_ERROR, G_IO_ERROR_CANCELLED))
			return call_fail(task, err);
		GError *off = g_error_new(VMCTL_ERROR, VMCTL_ERROR_NOT_RUNNING,
					  "the VM is not running (%s: %s)", c->path, err->message);
		g_error_free(err);
		return call_fail(task, off);
	}
	GOutputStream *out = g_io_stream_get_output_stream(G_IO_STREAM(c->conn));
	g_output_stream_write_all_async(out, c->line, strlen(c->line), G_PRIORITY_DEFAULT,
					c->cancel, on_written, task);
}

void vmctl_call_async(const char *dir, const char *cmd, JsonNode *args, unsigned timeout_s,
		      GCancellable *cancel, GAsyncReadyCallback callback, gpointer data)
{
	vmctl_call_events_async(dir, cmd, args, timeout_s, cancel, NULL, NULL, callback, data);
}

void vmctl_call_events_async(const char *dir, const char *cmd, JsonNode *args,
			     unsigned timeout_s, GCancellable *cancel, vmctl_event_fn on_event,
			     gpointer event_data, GAsyncReadyCallback callback, gpointer data)
{
	GTask *task = g_task_new(NULL, cancel, callback, data);
	struct vmctl_call *c = g_new0(struct vmctl_call, 1);
	c->cmd = g_strdup(cmd);
	c->path = vmctl_socket_path(dir);
	c->line = control_request_line(cmd, args);
	c->cancel = g_cancellable_new();
	if (cancel) {
		c->caller = g_object_ref(cancel);
		c->caller_handler =
		    g_cancellable_connect(cancel, G_CALLBACK(caller_cancelled), c->cancel, NULL);
	}
	c->on_event = on_event;
	c->event_data = event_data;
	c->timeout_s = timeout_s ? timeout_s : 30;
	g_task_set_task_data(task, c, call_free);
	timer_start(task);
	g_autoptr(GSocketClient) client = g_socket_client_new();
	g_autoptr(GSocketAddress) addr = g_unix_socket_address_new(c->path);
	g_socket_client_connect_async(client, G_SOCKET_CONNECTABLE(addr), c->cancel, on_connected,
				      task);
}

JsonNode *vmctl_call_finish(GAsyncResult *res, GError **error)
{
	return g_task_propagate_pointer(G_TASK(res), error);
}

JsonNode *vmctl_args_string(const char *key, const char *value)
{
	g_autoptr(JsonBuilder) b = json_builder_new();
	json_builder_begin_object(b);
	json_builder_set_member_name(b, key);
	json_builder_add_string_value(b, value);
	json_builder_end_object(b);
	return json_builder_get_root(b);
}
