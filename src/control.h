/*
 * The control socket (design.md): newline-delimited JSON over DIR/run/control.sock, served on
 * the main loop. A request is {"cmd": NAME, "args": {...}, "id": ANY}; every request gets one
 * reply {"id": ..., "ok": true, "result": {...}} or {"id": ..., "ok": false, "error": TEXT}.
 * Events are pushed to every client as {"event": NAME, "data": {...}}. Garbage gets an error
 * reply; a line longer than CONTROL_MAX_LINE closes that connection; nothing a client sends
 * can stop the VM except the commands that are meant to.
 */
#pragma once
#include <json-glib/json-glib.h>

#define CONTROL_MAX_LINE (64 * 1024)

/* Fills RESULT (an object builder already opened) and returns 0, or returns -1 with *error. */
typedef int (*control_handler)(void *opaque, JsonObject *args, JsonBuilder *result, char **error);

struct control_command {
	const char *name;
	control_handler handler;
	const char *help;
};

struct control_server;

struct control_server *control_server_new(const char *path, const struct control_command *cmds,
					  size_t ncmds, void *opaque, char **error);
void control_server_free(struct control_server *srv);
/* Pushes {"event": NAME, "data": DATA} to every client; takes DATA (may be NULL). */
void control_server_event(struct control_server *srv, const char *name, JsonNode *data);

/* Client side, for the CLI: connects to PATH, sends one request, returns its "result" object
 * (json_node_unref it) or NULL with *error (the server's error text, or why it could not ask). */
JsonNode *control_call(const char *path, const char *cmd, JsonNode *args, char **error);
