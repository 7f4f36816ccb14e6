/*
 * The app's control-socket client (vmctl.h) against VMs of its own making on a socket in a
 * temporary bundle: pcvm's real control server (control.h) whose command sends progress
 * events before its reply (the events reach the caller, in order, and the reply after them);
 * and a scripted server that sends a line now and then: the timeout counts silence, not the
 * whole call, and a server that never answers times out.
 */
#include <gio/gio.h>
#include <gio/gunixsocketaddress.h>
#include <glib/gstdio.h>
#include <string.h>

#include "control.h"
#include "vmctl.h"

struct bundle {
	char *dir, *sock;
};

static void bundle_make(struct bundle *b)
{
	b->dir = g_dir_make_tmp("pcvm-vmctl-XXXXXX", NULL);
	g_autofree char *run = g_build_filename(b->dir, "run", NULL);
	g_assert_cmpint(g_mkdir(run, 0755), ==, 0);
	b->sock = vmctl_socket_path(b->dir);
}

static void bundle_clear(struct bundle *b)
{
	g_unlink(b->sock);
	g_autofree char *run = g_build_filename(b->dir, "run", NULL);
	g_rmdir(run);
	g_rmdir(b->dir);
	g_free(b->dir);
	g_free(b->sock);
}

/* What a call brought: its events and its outcome. */
struct outcome {
	GPtrArray *events; /* "phase done/total" */
	JsonNode *result;
	GError *error;
	bool done;
};

static void on_event(JsonObject *event, gpointer data)
{
	struct outcome *o = data;
	JsonObject *d = json_object_get_object_member(event, "data");
	g_ptr_array_add(o->events,
			g_strdup_printf("%s %" G_GINT64_FORMAT "/%" G_GINT64_FORMAT,
					json_object_get_string_member(d, "phase"),
					json_object_get_int_member(d, "done"),
					json_object_get_int_member(d, "total")));
}

static void on_reply(GObject *src, GAsyncResult *res, gpointer data)
{
	struct outcome *o = data;
	o->result = vmctl_call_finish(res, &o->error);
	o->done = true;
}

static void call(const char *dir, const char *cmd, unsigned timeout_s, struct outcome *o)
{
	memset(o, 0, sizeof(*o));
	o->events = g_ptr_array_new_with_free_func(g_free);
	vmctl_call_events_async(dir, cmd, NULL, timeout_s, NULL, on_event, o, on_reply, o);
	while (!o->done)
		g_main_context_iteration(NULL, TRUE);
}

static void outcome_clear(struct outcome *o)
{
	g_ptr_array_unref(o->events);
	if (o->result)
		json_node_unref(o->result);
	g_clear_error(&o->error);
}

/* ---- pcvm's own server ---- */

static struct control_server *server;

static int cmd_work(void *opaque, JsonObject *args, JsonBuilder *b, char **error)
{
	for (unsigned i = 1; i <= 3; i++)
		control_server_progress(server, "ram", i * 100, 300);
	control_server_progress(server, "disks", 1, 1);
	json_builder_set_member_name(b, "id");
	json_builder_add_string_value(b, "7");
	return 0;
}

static int cmd_fail(void *opaque, JsonObject *args, JsonBuilder *b, char **error)
{
	control_server_progress(server, "ram", 1, 2);
	*error = g_strdup("the disk is full");
	return -1;
}

static const struct control_command commands[] = {
	{ "work", cmd_work, "progress, then a result" },
	{ "fail", cmd_fail, "progress, then an error" },
};

static void test_progress_events(void)
{
	struct bundle b;
	bundle_make(&b);
	char *error = NULL;
	server = control_server_new(b.sock, commands, G_N_ELEMENTS(commands), NULL, &error);
	g_assert_nonnull(server);
	struct outcome o;
	call(b.dir, "work", 5, &o);
	g_assert_no_error(o.error);
	g_assert_cmpuint(o.events->len, ==, 4);
	const char *want[] = { "ram 100/300", "ram 200/300", "ram 300/300", "disks 1/1" };
	for (size_t i = 0; i < G_N_ELEMENTS(want); i++)
		g_assert_cmpstr(o.events->pdata[i], ==, want[i]);
	g_assert_cmpstr(json_object_get_string_member(json_node_get_object(o.result), "id"), ==,
			"7");
	outcome_clear(&o);
	call(b.dir, "fail", 5, &o);
	g_assert_error(o.error, VMCTL_ERROR, VMCTL_ERROR_FAILED);
	g_assert_cmpstr(o.error->message, ==, "the disk is full");
	g_assert_cmpuint(o.events->len, ==, 1);
	outcome_clear(&o);
	control_server_free(server);
	call(b.dir, "work", 5, &o); /* nobody listens: the VM is off */
	g_assert_error(o.error, VMCTL_ERROR, VMCTL_ERROR_NOT_RUNNING);
	outcome_clear(&o);
	bundle_clear(&b);
}

/* ---- a scripted server: LINES lines, one every GAP_MS, on the first connection ---- */

struct script {
	GSocketConnection *conn;
	const char *const *lines;
	unsigned gap_ms, next;
};

static gboolean script_step(gpointer data)
{
	struct script *s = data;
	const char *line = s->lines[s->next];
	if (!line)
		return G_SOURCE_REMOVE; /* the rest is silence */
	GOutputStream *out = g_io_stream_get_output_stream(G_IO_STREAM(s->conn));
	g_assert_true(g_output_stream_write_all(out, line, strlen(line), NULL, NULL, NULL));
	s->next++;
	return G_SOURCE_CONTINUE;
}

static gboolean on_incoming(GSocketService *svc, GSocketConnection *conn, GObject *src,
			    gpointer data)
{
	struct script *s = data;
	s->conn = g_object_ref(conn);
	g_timeout_add(s->gap_ms, script_step, s);
	return TRUE;
}

static void scripted(const char *const *lines, unsigned gap_ms, unsigned timeout_s,
		     struct outcome *o)
{
	struct bundle b;
	bundle_make(&b);
	struct script s = { NULL, lines, gap_ms, 0 };
	g_autoptr(GSocketService) svc = g_socket_service_new();
	g_autoptr(GSocketAddress) addr = g_unix_socket_address_new(b.sock);
	g_assert_true(g_socket_listener_add_address(G_SOCKET_LISTENER(svc), addr,
						    G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_DEFAULT,
						    NULL, NULL, NULL));
	g_signal_connect(svc, "incoming", G_CALLBACK(on_incoming), &s);
	call(b.dir, "slow", timeout_s, o);
	g_socket_service_stop(svc);
	g_source_remove_by_user_data(&s);
	g_clear_object(&s.conn);
	bundle_clear(&b);
}

#define EVENT "{\"event\":\"progress\",\"id\":1,\"data\":{\"phase\":\"ram\",\"done\":1,\"total\":2}}\n"

static void test_silence_timeout(void)
{
	/* nine events 0.3 s apart, then the reply: 3 s in all against a 2 s timeout, never
	 * 2 s of silence (server and client share this thread: a stall of up to 1.7 s is no
	 * timeout) */
	const char *const talk[] = { EVENT, EVENT, EVENT, EVENT, EVENT,
				     EVENT, EVENT, EVENT, EVENT,
				     "{\"id\":1,\"ok\":true,\"result\":{}}\n", NULL };
	struct outcome o;
	scripted(talk, 300, 2, &o);
	g_assert_no_error(o.error);
	g_assert_cmpuint(o.events->len, ==, 9);
	outcome_clear(&o);
	/* one event, then silence: the call ends two seconds after the last line */
	const char *const quiet[] = { EVENT, NULL };
	gint64 t0 = g_get_monotonic_time();
	scripted(quiet, 200, 2, &o);
	g_assert_error(o.error, VMCTL_ERROR, VMCTL_ERROR_TIMEOUT);
	g_assert_cmpuint(o.events->len, ==, 1);
	g_assert_cmpint(g_get_monotonic_time() - t0, >=, 2100 * 1000);
	outcome_clear(&o);
	/* garbage and a line without "ok" or "event" are no reply; the server hangs up */
	const char *const junk[] = { "not json\n", "{\"id\":1}\n", NULL };
	scripted(junk, 50, 1, &o);
	g_assert_nonnull(o.error); /* a timeout: it kept the connection but said nothing useful */
	g_assert_cmpuint(o.events->len, ==, 0);
	outcome_clear(&o);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/vmctl/progress-events", test_progress_events);
	g_test_add_func("/vmctl/silence-timeout", test_silence_timeout);
	return g_test_run();
}
