/*
 * The control socket (design.md): newline-delimited JSON over DIR/run/control.sock, served on
 * the main loop. A request is {"cmd": NAME, "args": {...}, "id": ANY}; every request gets one
 * reply {"id": ..., "ok": true, "result": {...}} or {"id": ..., "ok": false, "error": TEXT}.
 * Garbage gets an error reply; a line longer than CONTROL_MAX_LINE closes that connection;
 * nothing a client sends can stop the VM except the commands that are meant to.
 *
 * Events are lines with an "event" member and no "ok":
 *   - pushed to every client: {"event": NAME, "data": {...}}, e.g. "state" changes;
 *   - sent only to the client whose request is running, before its reply, with that
 *     request's "id": {"event": NAME, "id": ..., "data": {...}}. Long operations
 *     (snapshot-take, snapshot-revert, snapshot-delete, suspend) send "progress" events:
 *       {"event": "progress", "id": ..., "data": {"op": "snapshot-take", "phase": "ram",
 *        "done": N, "total": M}}
 *     op is the command; phase what it is doing now ("ram": guest RAM written, in bytes;
 *     "disks": disk images done, of how many; "files": snapshot files removed); done only
 *     grows within a phase and never exceeds total. The reply follows the last one.
 * A client reads lines until the one with "ok" and may skip every line that has none: events
 * never change what the reply says, and new kinds may appear.
 */
#pragma once
#include <json-glib/json-glib.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define CONTROL_MAX_LINE (64 * 1024)

/* Fills RESULT (an object builder already opened) and returns 0, or returns -1 with *error. */
typedef int (*control_handler)(void *opaque, JsonObject *args, JsonBuilder *result, char **error);

/* A handler's argument NAME: true with *OUT set (to DFLT when ARGS lacks it or it is null), or
 * false with *error set ("\"drive\" must be a string") when it has another JSON type. */
bool control_arg_string(JsonObject *args, const char *name, const char *dflt, const char **out,
			char **error);
bool control_arg_int(JsonObject *args, const char *name, gint64 dflt, gint64 *out, char **error);
bool control_arg_bool(JsonObject *args, const char *name, bool dflt, bool *out, char **error);

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
/* From inside a command handler: sends {"event": NAME, "id": ..., "data": DATA} to the client
 * whose request it handles. Takes DATA. Does nothing outside a handler (e.g. a revert the VM
 * makes by itself when it starts) or for SRV NULL. */
void control_server_reply_event(struct control_server *srv, const char *name, JsonNode *data);
/* Answers LINE (one request, without its newline) as if a client had sent it, and returns the
 * reply (json_node_unref it); events of the handler reach no one. For tests. */
JsonNode *control_server_handle_line(struct control_server *srv, const char *line);
/* A "progress" event (above) for the running command: DONE of TOTAL in PHASE. */
void control_server_progress(struct control_server *srv, const char *phase, uint64_t done,
			     uint64_t total);

/* Client side, for the CLI: connects to PATH, sends one request, returns its "result" object
 * (json_node_unref it) or NULL with *error (the server's error text, or why it could not ask).
 * A VM that does not answer within CONTROL_CALL_TIMEOUT_S is an error. */
#define CONTROL_CALL_TIMEOUT_S 30
JsonNode *control_call(const char *path, const char *cmd, JsonNode *args, char **error);
/* The same with a timeout of TIMEOUT_S seconds: for a quick look (pcvm list). */
JsonNode *control_call_within(const char *path, const char *cmd, JsonNode *args,
			      unsigned timeout_s, char **error);

/* A request as it goes on the socket: {"cmd":CMD,"args":ARGS,"id":1} and a newline (ARGS is
 * taken over; NULL: null). */
char *control_request_line(const char *cmd, JsonNode *args);
/* The same, passing each event line that comes before the reply to ON_EVENT (may be NULL). */
typedef void (*control_event_fn)(void *opaque, JsonObject *event);
JsonNode *control_call_full(const char *path, const char *cmd, JsonNode *args,
			    control_event_fn on_event, void *opaque, char **error);

/* An ON_EVENT for a terminal: progress events as one line on OUT, rewritten in place;
 * control_progress_end finishes that line (if one was shown). */
struct control_progress {
	FILE *out;
	bool shown;
};
void control_progress_show(void *opaque, JsonObject *event);
void control_progress_end(struct control_progress *p);
