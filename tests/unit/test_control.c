/*
 * The control socket's request handling (control_server_handle_line, what a client's line gets):
 * replies to garbage, unknown commands and bad arguments, ids echoed, and one request per line.
 * tests/integration/control.py drives the same over the socket of a running VM.
 */
#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>

#include "control.h"

struct fx {
	char *dir, *path;
	struct control_server *srv;
	unsigned runs; /* handler calls */
};

static int cmd_echo(void *opaque, JsonObject *args, JsonBuilder *b, char **error)
{
	struct fx *fx = opaque;
	fx->runs++;
	json_builder_set_member_name(b, "text");
	json_builder_add_string_value(b, json_object_get_string_member_with_default(args, "t", ""));
	return 0;
}

static int cmd_fail(void *opaque, JsonObject *args, JsonBuilder *b, char **error)
{
	((struct fx *)opaque)->runs++;
	*error = g_strdup("it failed, as asked");
	return -1;
}

static const struct control_command cmds[] = {
	{ "echo", cmd_echo, "the argument t back" },
	{ "fail", cmd_fail, "an error" },
};

static void fx_open(struct fx *fx)
{
	memset(fx, 0, sizeof(*fx));
	fx->dir = g_dir_make_tmp("pcvm-control-XXXXXX", NULL);
	fx->path = g_build_filename(fx->dir, "control.sock", NULL);
	char *error = NULL;
	fx->srv = control_server_new(fx->path, cmds, G_N_ELEMENTS(cmds), fx, &error);
	g_assert_nonnull(fx->srv);
}

static void fx_close(struct fx *fx)
{
	control_server_free(fx->srv);
	g_rmdir(fx->dir);
	g_free(fx->path);
	g_free(fx->dir);
}

/* LINE's reply as text, as the server writes it. */
static char *ask(struct fx *fx, const char *line)
{
	JsonNode *reply = control_server_handle_line(fx->srv, line);
	g_assert_nonnull(reply);
	char *text = json_to_string(reply, FALSE);
	json_node_unref(reply);
	return text;
}

static void expect(struct fx *fx, const char *line, const char *reply)
{
	g_autofree char *got = ask(fx, line);
	g_assert_cmpstr(got, ==, reply);
}

static void test_replies(void)
{
	struct fx fx;
	fx_open(&fx);
	expect(&fx, "this is not json", "{\"id\":null,\"ok\":false,\"error\":\"not a JSON message\"}");
	expect(&fx, "[1,2]", "{\"id\":null,\"ok\":false,\"error\":\"a request is a JSON object\"}");
	/* white space parses as no value at all (json-glib: a NULL root, no error) */
	expect(&fx, " \t\r", "{\"id\":null,\"ok\":false,\"error\":\"a request is a JSON object\"}");
	expect(&fx, "{\"id\":7}",
	       "{\"id\":7,\"ok\":false,\"error\":\"a request needs \\\"cmd\\\": a command name\"}");
	expect(&fx, "{\"cmd\":\"nope\",\"id\":\"x\"}",
	       "{\"id\":\"x\",\"ok\":false,\"error\":\"unknown command 'nope'\"}");
	expect(&fx, "{\"cmd\":\"echo\",\"args\":[1],\"id\":1}",
	       "{\"id\":1,\"ok\":false,\"error\":\"\\\"args\\\" must be an object\"}");
	expect(&fx, "{\"cmd\":\"fail\",\"id\":2}",
	       "{\"id\":2,\"ok\":false,\"error\":\"it failed, as asked\"}");
	expect(&fx, "{\"cmd\":\"echo\",\"args\":{\"t\":\"hi\"},\"id\":[3]}",
	       "{\"id\":[3],\"ok\":true,\"result\":{\"text\":\"hi\"}}");
	g_assert_cmpuint(fx.runs, ==, 2);
	fx_close(&fx);
}

/* A line is one request: a second value after it is refused, not run (json-glib would read
 * both and leak the first: fuzz_control found it). Braces and quotes inside strings, and
 * white space around the value, are no second value. */
static void test_one_request_per_line(void)
{
	struct fx fx;
	fx_open(&fx);
	static const char *const two[] = {
		"{\"cmd\":\"echo\"} {\"cmd\":\"echo\"}",
		"{\"cmd\":\"echo\"}{\"cmd\":\"echo\"}",
		"1 {\"cmd\":\"echo\"}",
		"[1] [2]",
		"var a = {\"cmd\":\"echo\"}; var b = 2;",
	};
	for (size_t i = 0; i < G_N_ELEMENTS(two); i++) {
		g_autofree char *got = ask(&fx, two[i]);
		if (!strstr(got, "\"error\":\"not a JSON message\""))
			g_error("'%s' got %s", two[i], got);
	}
	g_assert_cmpuint(fx.runs, ==, 0);
	expect(&fx, " \t{\"cmd\":\"echo\",\"args\":{\"t\":\"}{\\\" [\\\\\"},\"id\":4} \r",
	       "{\"id\":4,\"ok\":true,\"result\":{\"text\":\"}{\\\" [\\\\\"}}");
	g_assert_cmpuint(fx.runs, ==, 1);
	fx_close(&fx);
}

/* What json-glib takes but JSON has not: C's string escapes (octal ones make text that is not
 * UTF-8, which a reply quoting it would then carry: fuzz_control found it) and nesting as deep as
 * a line allows (json-glib recurses once per level). JSON's own escapes work. */
static void test_json_glib_extras(void)
{
	struct fx fx;
	fx_open(&fx);
	static const char *const refused[] = {
		"{\"cmd\":\"echo\",\"args\":{\"t\":\"\\353\"},\"id\":1}",
		"{\"cmd\":\"echo\",\"args\":{\"t\":\"\\x41\"},\"id\":1}",
		"{\"cmd\":\"echo\",\"args\":{\"t\":\"\\",
	};
	for (size_t i = 0; i < G_N_ELEMENTS(refused); i++) {
		g_autofree char *got = ask(&fx, refused[i]);
		if (!strstr(got, "\"error\":\"not a JSON message\""))
			g_error("'%s' got %s", refused[i], got);
	}
	/* 32 levels are taken (the parser then finds no "cmd"), 33 are not */
	g_autofree char *opening = g_strnfill(31, '['), *closing = g_strnfill(31, ']');
	g_autofree char *deep = g_strconcat("{\"a\":", opening, closing, "}", NULL);
	g_autofree char *got = ask(&fx, deep);
	g_assert_nonnull(strstr(got, "a request needs"));
	g_autofree char *deeper = g_strconcat("[", deep, "]", NULL);
	g_autofree char *got2 = ask(&fx, deeper);
	g_assert_nonnull(strstr(got2, "not a JSON message"));
	g_autofree char *line = g_strnfill(CONTROL_MAX_LINE, '[');
	g_autofree char *got3 = ask(&fx, line);
	g_assert_nonnull(strstr(got3, "not a JSON message"));
	g_assert_cmpuint(fx.runs, ==, 0);
	expect(&fx, "{\"cmd\":\"echo\",\"args\":{\"t\":\"\\u00e9\\\"\\\\\\/\\t\"},\"id\":5}",
	       "{\"id\":5,\"ok\":true,\"result\":{\"text\":\"\xc3\xa9\\\"\\\\/\\t\"}}");
	fx_close(&fx);
}

static JsonObject *args_of(const char *text)
{
	g_autoptr(JsonParser) p = json_parser_new();
	g_assert_true(json_parser_load_from_data(p, text, -1, NULL));
	return json_object_ref(json_node_get_object(json_parser_get_root(p)));
}

/* Handlers' arguments: the type is checked, absent and null give the default. json-glib's
 * getters return NULL or 0 for another type (a NULL "drive" crashed the VM in strcmp) and
 * complain about objects and arrays, which GTest makes fatal here. */
static void test_args(void)
{
	g_autoptr(JsonObject) a = args_of("{\"s\":\"x\",\"n\":7,\"b\":true,\"z\":null,"
					  "\"o\":{},\"l\":[1],\"d\":1.5}");
	const char *s;
	gint64 n;
	bool b;
	char *error = NULL;
	g_assert_true(control_arg_string(a, "s", "dflt", &s, &error));
	g_assert_cmpstr(s, ==, "x");
	g_assert_true(control_arg_string(a, "absent", "dflt", &s, &error));
	g_assert_cmpstr(s, ==, "dflt");
	g_assert_true(control_arg_string(a, "z", "dflt", &s, &error));
	g_assert_cmpstr(s, ==, "dflt");
	g_assert_true(control_arg_int(a, "n", 0, &n, &error));
	g_assert_cmpint(n, ==, 7);
	g_assert_true(control_arg_bool(a, "b", false, &b, &error));
	g_assert_true(b);
	g_assert_true(control_arg_bool(a, "absent", true, &b, &error));
	g_assert_true(b);
	static const char *const wrong[] = { "n", "b", "o", "l", "d" };
	for (size_t i = 0; i < G_N_ELEMENTS(wrong); i++) {
		g_assert_false(control_arg_string(a, wrong[i], "dflt", &s, &error));
		g_assert_nonnull(strstr(error, "must be a string"));
		g_clear_pointer(&error, g_free);
	}
	g_assert_false(control_arg_int(a, "d", 0, &n, &error));
	g_assert_cmpstr(error, ==, "\"d\" must be a whole number");
	g_clear_pointer(&error, g_free);
	g_assert_false(control_arg_int(a, "s", 0, &n, &error));
	g_clear_pointer(&error, g_free);
	g_assert_false(control_arg_bool(a, "o", false, &b, &error));
	g_assert_cmpstr(error, ==, "\"o\" must be true or false");
	g_clear_pointer(&error, g_free);
}

/* A client's argument that is not UTF-8 (a Latin-1 file name) is refused before anything is
 * sent, with a message saying so, rather than sent as a line the VM cannot parse. No VM
 * listens at the path: a request that went out would be told the VM is not running. */
static void test_client_not_utf8(void)
{
	g_autofree char *dir = g_dir_make_tmp("pcvm-control-XXXXXX", NULL);
	g_autofree char *path = g_build_filename(dir, "control.sock", NULL);
	char *error = NULL;
	JsonNode *args = json_from_string("{\"file\":\"x\"}", NULL);
	json_object_set_string_member(json_node_get_object(args), "file", "/iso/caf\xe9.iso");
	g_assert_null(control_call(path, "media-change", args, &error));
	g_assert_nonnull(strstr(error, "not UTF-8"));
	g_clear_pointer(&error, g_free);
	/* the same in UTF-8 goes out */
	args = json_from_string("{\"file\":\"/iso/caf\u00e9.iso\"}", NULL);
	g_assert_null(control_call(path, "media-change", args, &error));
	g_assert_nonnull(strstr(error, "not running"));
	g_free(error);
	g_rmdir(dir);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/control/replies", test_replies);
	g_test_add_func("/control/one-request-per-line", test_one_request_per_line);
	g_test_add_func("/control/json-glib-extras", test_json_glib_extras);
	g_test_add_func("/control/args", test_args);
	g_test_add_func("/control/client-not-utf8", test_client_not_utf8);
	return g_test_run();
}
