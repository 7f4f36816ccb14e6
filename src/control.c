#include "control.h"

#include <gio/gio.h>
#include <gio/gunixsocketaddress.h>
#include <glib/gstdio.h>
#include <stdbool.h>
#include <string.h>

#include "log.h"

struct control_client {
	struct control_server *srv;
	GSocketConnection *conn;
	GDataInputStream *in;
	GOutputStream *out;
	GCancellable *cancel;
};

struct control_server {
	GSocketService *service;
	char *path;
	const struct control_command *cmds;
	size_t ncmds;
	void *opaque;
	GList *clients;
	/* while a handler runs: whose request it is (NULL once that client is gone) */
	struct control_client *active;
	const char *active_cmd;
	JsonNode *active_id;
};

static void client_read_next(struct control_client *c);

static void client_free(struct control_client *c)
{
	if (c->srv && c->srv->active == c)
		c->srv->active = NULL;
	if (c->srv)
		c->srv->clients = g_list_remove(c->srv->clients, c);
	g_io_stream_close(G_IO_STREAM(c->conn), NULL, NULL);
	g_object_unref(c->in);
	g_object_unref(c->conn);
	g_object_unref(c->cancel);
	g_free(c);
}

/* Writes one JSON line without blocking the main loop. Messages are small and the socket
 * buffer large, so a client whose buffer is full has stopped reading: it is dropped. */
static void client_send(struct control_client *c, JsonNode *msg)
{
	g_autofree char *text = json_to_string(msg, FALSE);
	g_autofree char *line = g_strconcat(text, "\n", NULL);
	GPollableOutputStream *out = G_POLLABLE_OUTPUT_STREAM(c->out);
	size_t len = strlen(line), done = 0;
	while (done < len) {
		gssize n = g_pollable_output_stream_write_nonblocking(out, line + done, len - done,
								       NULL, NULL);
		if (n <= 0) {
			g_cancellable_cancel(c->cancel);
			return;
		}
		done += n;
	}
}

static JsonNode *reply_new(JsonNode *id, bool ok, JsonNode *result, const char *error)
{
	g_autoptr(JsonBuilder) b = json_builder_new();
	json_builder_begin_object(b);
	json_builder_set_member_name(b, "id");
	json_builder_add_value(b, id ? json_node_copy(id) : json_node_new(JSON_NODE_NULL));
	json_builder_set_member_name(b, "ok");
	json_builder_add_boolean_value(b, ok);
	json_builder_set_member_name(b, ok ? "result" : "error");
	if (ok)
		json_builder_add_value(b, result);
	else
		json_builder_add_string_value(b, error);
	json_builder_end_object(b);
	return json_builder_get_root(b);
}

static const struct control_command *find_command(struct control_server *srv, const char *name)
{
	for (size_t i = 0; i < srv->ncmds; i++)
		if (!strcmp(srv->cmds[i].name, name))
			return &srv->cmds[i];
	return NULL;
}

/* Runs C for client CL's request ID (events from the handler go to CL). */
static int run_handler(struct control_server *srv, struct control_client *cl,
		       const struct control_command *c, JsonNode *id, JsonObject *args,
		       JsonBuilder *b, char **error)
{
	srv->active = cl;
	srv->active_cmd = c->name;
	srv->active_id = id;
	int ret = c->handler(srv->opaque, args, b, error);
	srv->active = NULL;
	srv->active_cmd = NULL;
	srv->active_id = NULL;
	return ret;
}

/* Deeper than any request (an object of arguments): json-glib parses recursively, and a line of
 * 64 KiB of '[' takes most of the stack. */
#define CONTROL_MAX_DEPTH 32

/* Where the JSON value at P ends; NULL for what this server does not take although json-glib
 * would: nesting deeper than CONTROL_MAX_DEPTH, or a string escape JSON does not have (RFC 8259
 * §7; json-glib also takes C's, whose octal ones make strings that are not UTF-8: the reply
 * that quotes one would not be either). The parser checks the rest. */
static const char *json_value_end(const char *p)
{
	int depth = 0;
	bool in_string = false, scalar = false;
	for (; *p; p++) {
		if (in_string) {
			if (*p == '\\') {
				if (!p[1] || !strchr("\"\\/bfnrtu", p[1]))
					return NULL;
				p++;
			} else if (*p == '"') {
				in_string = false;
				if (depth == 0)
					return p + 1;
			}
		} else if (scalar) { /* a number, true, false or null, at the top */
			if (strchr(" \t\r\n{}[]\"", *p))
				return p;
		} else if (*p == '"') {
			in_string = true;
		} else if (*p == '{' || *p == '[') {
			if (++depth > CONTROL_MAX_DEPTH)
				return NULL;
		} else if (*p == '}' || *p == ']') {
			if (--depth <= 0)
				return p + 1;
		} else if (depth == 0) {
			scalar = true;
		}
	}
	return p;
}

/* Whether LINE holds one JSON value this server takes and nothing after it (RFC 8259 §2: a JSON
 * text is one value): json-glib (1.6) reads "{...} {...}" as two statements and leaks every
 * value but the last, so such a line would make the VM process grow with every request. */
static bool one_json_value(const char *line)
{
	const char *end = json_value_end(line + strspn(line, " \t\r\n"));
	return end && end[strspn(end, " \t\r\n")] == '\0';
}

/* Parses and runs one request line from CL; returns the reply. */
static JsonNode *handle_line(struct control_server *srv, struct control_client *cl,
			     const char *line)
{
	g_autoptr(JsonParser) parser = json_parser_new();
	if (!one_json_value(line) || !json_parser_load_from_data(parser, line, -1, NULL))
		return reply_new(NULL, false, NULL, "not a JSON message");
	JsonNode *root = json_parser_get_root(parser); /* NULL for a line of white space */
	if (!root || !JSON_NODE_HOLDS_OBJECT(root))
		return reply_new(NULL, false, NULL, "a request is a JSON object");
	JsonObject *req = json_node_get_object(root);
	JsonNode *id = json_object_get_member(req, "id");
	JsonNode *cmd = json_object_get_member(req, "cmd");
	if (!cmd || !JSON_NODE_HOLDS_VALUE(cmd) || json_node_get_value_type(cmd) != G_TYPE_STRING)
		return reply_new(id, false, NULL, "a request needs \"cmd\": a command name");
	const struct control_command *c = find_command(srv, json_node_get_string(cmd));
	if (!c) {
		g_autofree char *msg = g_strdup_printf("unknown command '%s'", json_node_get_string(cmd));
		return reply_new(id, false, NULL, msg);
	}
	JsonNode *args = json_object_get_member(req, "args");
	if (args && !JSON_NODE_HOLDS_OBJECT(args) && !JSON_NODE_HOLDS_NULL(args))
		return reply_new(id, false, NULL, "\"args\" must be an object");
	g_autoptr(JsonObject) empty = json_object_new();
	JsonObject *a = args && JSON_NODE_HOLDS_OBJECT(args) ? json_node_get_object(args) : empty;
	g_autoptr(JsonBuilder) b = json_builder_new();
	json_builder_begin_object(b);
	char *error = NULL;
	if (run_handler(srv, cl, c, id, a, b, &error) < 0) {
		JsonNode *r = reply_new(id, false, NULL, error ? error : "failed");
		g_free(error);
		return r;
	}
	json_builder_end_object(b);
	return reply_new(id, true, json_builder_get_root(b), NULL);
}

/* ARGS' member NAME, or NULL when it is absent or null. */
static JsonNode *arg_node(JsonObject *args, const char *name)
{
	JsonNode *n = json_object_get_member(args, name);
	return n && !JSON_NODE_HOLDS_NULL(n) ? n : NULL;
}

/* The json_object_get_*_member_with_default functions return 0 or NULL for a value of another
 * type, and complain (g_critical) about an object or array: what a client sends is checked. */
static bool arg_of_type(JsonNode *n, GType type, const char *name, const char *what,
			char **error)
{
	if (JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == type)
		return true;
	*error = g_strdup_printf("\"%s\" must be %s", name, what);
	return false;
}

bool control_arg_string(JsonObject *args, const char *name, const char *dflt, const char **out,
			char **error)
{
	JsonNode *n = arg_node(args, name);
	if (n && !arg_of_type(n, G_TYPE_STRING, name, "a string", error))
		return false;
	*out = n ? json_node_get_string(n) : dflt;
	return true;
}

bool control_arg_int(JsonObject *args, const char *name, gint64 dflt, gint64 *out, char **error)
{
	JsonNode *n = arg_node(args, name);
	if (n && !arg_of_type(n, G_TYPE_INT64, name, "a whole number", error))
		return false;
	*out = n ? json_node_get_int(n) : dflt;
	return true;
}

bool control_arg_bool(JsonObject *args, const char *name, bool dflt, bool *out, char **error)
{
	JsonNode *n = arg_node(args, name);
	if (n && !arg_of_type(n, G_TYPE_BOOLEAN, name, "true or false", error))
		return false;
	*out = n ? json_node_get_boolean(n) : dflt;
	return true;
}

JsonNode *control_server_handle_line(struct control_server *srv, const char *line)
{
	return handle_line(srv, NULL, line);
}

static void client_line_ready(GObject *src, GAsyncResult *res, gpointer data)
{
	struct control_client *c = data;
	gsize len = 0;
	g_autoptr(GError) err = NULL;
	g_autofree char *line = g_data_input_stream_read_line_finish_utf8(c->in, res, &len, &err);
	if (!line || g_cancellable_is_cancelled(c->cancel)) {
		if (err && !g_error_matches(err, G_IO_ERROR, G_IO_ERROR_CANCELLED))
			log_info("control: client dropped: %s", err->message);
		client_free(c); /* end of stream, invalid UTF-8, or cancelled */
		return;
	}
	if (len > CONTROL_MAX_LINE) {
		log_warn("control: request of %zu bytes refused; closing", (size_t)len);
		client_free(c);
		return;
	}
	if (len) {
		JsonNode *reply = handle_line(c->srv, c, line);
		client_send(c, reply);
		json_node_unref(reply);
	}
	client_read_next(c);
}

static void client_read_next(struct control_client *c)
{
	g_data_input_stream_read_line_async(c->in, G_PRIORITY_DEFAULT, c->cancel, client_line_ready, c);
}

static gboolean on_incoming(GSocketService *service, GSocketConnection *conn, GObject *source,
			    gpointer data)
{
	struct control_server *srv = data;
	struct control_client *c = g_new0(struct control_client, 1);
	c->srv = srv;
	c->conn = g_object_ref(conn);
	c->in = g_data_input_stream_new(g_io_stream_get_input_stream(G_IO_STREAM(conn)));
	/* a client that never sends a newline must not make us buffer without bound */
	g_buffered_input_stream_set_buffer_size(G_BUFFERED_INPUT_STREAM(c->in), 4096);
	c->out = g_io_stream_get_output_stream(G_IO_STREAM(conn));
	c->cancel = g_cancellable_new();

	srv->clients = g_list_prepend(srv->clients, c);
	client_read_next(c);
	return TRUE;
}

struct control_server *control_server_new(const char *path, const struct control_command *cmds,
					  size_t ncmds, void *opaque, char **error)
{
	g_unlink(path); /* a stale socket of a VM that died; the bundle lock says we own it */
	g_autoptr(GSocketAddress) addr = g_unix_socket_address_new(path);
	GSocketService *service = g_socket_service_new();
	/* room for a burst of clients (a desktop app, scripts) while the main loop is busy */
	g_socket_listener_set_backlog(G_SOCKET_LISTENER(service), 128);
	g_autoptr(GError) err = NULL;
	if (!g_socket_listener_add_address(G_SOCKET_LISTENER(service), addr, G_SOCKET_TYPE_STREAM,
					   G_SOCKET_PROTOCOL_DEFAULT, NULL, NULL, &err)) {
		*error = g_strdup_printf("control socket %s: %s", path, err->message);
		g_object_unref(service);
		return NULL;
	}
	struct control_server *srv = g_new0(struct control_server, 1);
	srv->service = service;
	srv->path = g_strdup(path);
	srv->cmds = cmds;
	srv->ncmds = ncmds;
	srv->opaque = opaque;
	g_signal_connect(service, "incoming", G_CALLBACK(on_incoming), srv);
	g_socket_service_start(service);
	return srv;
}

void control_server_free(struct control_server *srv)
{
	if (!srv)
		return;
	g_socket_service_stop(srv->service);
	g_socket_listener_close(G_SOCKET_LISTENER(srv->service));
	/* each client's pending read completes as cancelled and frees the client */
	for (GList *l = srv->clients; l; l = l->next)
		g_cancellable_cancel(((struct control_client *)l->data)->cancel);
	for (int i = 0; srv->clients && i < 1000; i++)
		g_main_context_iteration(NULL, FALSE);
	for (GList *l = srv->clients; l; l = l->next)
		((struct control_client *)l->data)->srv = NULL;
	g_list_free(srv->clients);
	g_object_unref(srv->service);
	g_unlink(srv->path);
	g_free(srv->path);
	g_free(srv);
}

void control_server_event(struct control_server *srv, const char *name, JsonNode *data)
{
	g_autoptr(JsonBuilder) b = json_builder_new();
	json_builder_begin_object(b);
	json_builder_set_member_name(b, "event");
	json_builder_add_string_value(b, name);
	json_builder_set_member_name(b, "data");
	json_builder_add_value(b, data ? data : json_node_new(JSON_NODE_NULL));
	json_builder_end_object(b);
	JsonNode *msg = json_builder_get_root(b);
	for (GList *l = srv ? srv->clients : NULL; l; l = l->next)
		client_send(l->data, msg);
	json_node_unref(msg);
}

void control_server_reply_event(struct control_server *srv, const char *name, JsonNode *data)
{
	if (!srv || !srv->active) {
		if (data)
			json_node_unref(data);
		return;
	}
	g_autoptr(JsonBuilder) b = json_builder_new();
	json_builder_begin_object(b);
	json_builder_set_member_name(b, "event");
	json_builder_add_string_value(b, name);
	json_builder_set_member_name(b, "id");
	json_builder_add_value(b, srv->active_id ? json_node_copy(srv->active_id)
						 : json_node_new(JSON_NODE_NULL));
	json_builder_set_member_name(b, "data");
	json_builder_add_value(b, data ? data : json_node_new(JSON_NODE_NULL));
	json_builder_end_object(b);
	JsonNode *msg = json_builder_get_root(b);
	client_send(srv->active, msg);
	json_node_unref(msg);
}

void control_server_progress(struct control_server *srv, const char *phase, uint64_t done,
			     uint64_t total)
{
	if (!srv || !srv->active)
		return;
	g_autoptr(JsonBuilder) b = json_builder_new();
	json_builder_begin_object(b);
	json_builder_set_member_name(b, "op");
	json_builder_add_string_value(b, srv->active_cmd);
	json_builder_set_member_name(b, "phase");
	json_builder_add_string_value(b, phase);
	json_builder_set_member_name(b, "done");
	json_builder_add_int_value(b, (gint64)MIN(done, total));
	json_builder_set_member_name(b, "total");
	json_builder_add_int_value(b, (gint64)total);
	json_builder_end_object(b);
	control_server_reply_event(srv, "progress", json_builder_get_root(b));
}

/* ---- client ---- */

char *control_request_line(const char *cmd, JsonNode *args)
{
	g_autoptr(JsonBuilder) b = json_builder_new();
	json_builder_begin_object(b);
	json_builder_set_member_name(b, "cmd");
	json_builder_add_string_value(b, cmd);
	json_builder_set_member_name(b, "args");
	json_builder_add_value(b, args ? args : json_node_new(JSON_NODE_NULL));
	json_builder_set_member_name(b, "id");
	json_builder_add_int_value(b, 1);
	json_builder_end_object(b);
	g_autoptr(JsonNode) root = json_builder_get_root(b);
	g_autofree char *text = json_to_string(root, FALSE);
	return g_strconcat(text, "\n", NULL);
}

/* Reads lines until the reply (events may come first, passed to ON_EVENT); returns its
 * object node. */
static JsonNode *read_reply(GDataInputStream *in, control_event_fn on_event, void *opaque,
			    char **error)
{
	for (;;) {
		g_autoptr(GError) err = NULL;
		g_autofree char *line = g_data_input_stream_read_line_utf8(in, NULL, NULL, &err);
		if (!line) {
			*error = g_strdup(err ? err->message : "the VM closed the connection");
			return NULL;
		}
		g_autoptr(JsonParser) p = json_parser_new();
		if (!json_parser_load_from_data(p, line, -1, NULL) || !json_parser_get_root(p) ||
		    !JSON_NODE_HOLDS_OBJECT(json_parser_get_root(p)))
			continue;
		JsonObject *o = json_node_get_object(json_parser_get_root(p));
		if (json_object_has_member(o, "ok"))
			return json_node_copy(json_parser_get_root(p));
		if (on_event && json_object_has_member(o, "event"))
			on_event(opaque, o);
	}
}

JsonNode *control_call(const char *path, const char *cmd, JsonNode *args, char **error)
{
	return control_call_full(path, cmd, args, NULL, NULL, error);
}

/* A VM that does not answer within TIMEOUT_S seconds is reported, not waited for forever. */
static JsonNode *control_call_timed(const char *path, const char *cmd, JsonNode *args,
				    control_event_fn on_event, void *opaque, unsigned timeout_s,
				    char **error)
{
	g_autofree char *line = control_request_line(cmd, args); /* takes ARGS */
	/* json-glib writes a string's bytes as they are: a file name that is not UTF-8 (Linux
	 * allows any bytes) would make a line the VM cannot read */
	if (!g_utf8_validate(line, -1, NULL)) {
		*error = g_strdup("an argument is not UTF-8 text (a file name in another "
				  "encoding?), and requests to the VM are JSON, which is: rename it");
		return NULL;
	}
	g_autoptr(GSocketClient) client = g_socket_client_new();
	g_autoptr(GSocketAddress) addr = g_unix_socket_address_new(path);
	g_autoptr(GError) err = NULL;
	g_autoptr(GSocketConnection) conn =
		g_socket_client_connect(client, G_SOCKET_CONNECTABLE(addr), NULL, &err);
	if (!conn) {
		*error = g_strdup_printf("the VM is not running (%s: %s)", path, err->message);
		return NULL;
	}
	g_socket_set_timeout(g_socket_connection_get_socket(conn), timeout_s);
	GOutputStream *out = g_io_stream_get_output_stream(G_IO_STREAM(conn));
	if (!g_output_stream_write_all(out, line, strlen(line), NULL, NULL, &err)) {
		*error = g_strdup(err->message);
		return NULL;
	}
	g_autoptr(GDataInputStream) in =
		g_data_input_stream_new(g_io_stream_get_input_stream(G_IO_STREAM(conn)));
	JsonNode *reply = read_reply(in, on_event, opaque, error);
	if (!reply)
		return NULL;
	JsonObject *o = json_node_get_object(reply);
	if (!json_object_get_boolean_member_with_default(o, "ok", FALSE)) {
		*error = g_strdup(json_object_get_string_member_with_default(o, "error", "failed"));
		json_node_unref(reply);
		return NULL;
	}
	JsonNode *result = json_node_copy(json_object_get_member(o, "result"));
	json_node_unref(reply);
	return result;
}

JsonNode *control_call_full(const char *path, const char *cmd, JsonNode *args,
			    control_event_fn on_event, void *opaque, char **error)
{
	return control_call_timed(path, cmd, args, on_event, opaque, CONTROL_CALL_TIMEOUT_S, error);
}

JsonNode *control_call_within(const char *path, const char *cmd, JsonNode *args,
			      unsigned timeout_s, char **error)
{
	return control_call_timed(path, cmd, args, NULL, NULL, timeout_s, error);
}

void control_progress_show(void *opaque, JsonObject *event)
{
	struct control_progress *p = opaque;
	JsonNode *d = json_object_get_member(event, "data");
	if (g_strcmp0(json_object_get_string_member_with_default(event, "event", ""), "progress") ||
	    !d || !JSON_NODE_HOLDS_OBJECT(d))
		return;
	JsonObject *o = json_node_get_object(d);
	gint64 done = json_object_get_int_member_with_default(o, "done", 0);
	gint64 total = json_object_get_int_member_with_default(o, "total", 0);
	const char *phase = json_object_get_string_member_with_default(o, "phase", "");
	const char *op = json_object_get_string_member_with_default(o, "op", "");
	fprintf(p->out, "\r\033[K%s: %s %3d%%", op, phase,
		total > 0 ? (int)(done * 100 / total) : 100);
	fflush(p->out);
	p->shown = true;
}

void control_progress_end(struct control_progress *p)
{
	if (p->shown)
		fputs("\r\033[K", p->out);
	p->shown = false;
}
