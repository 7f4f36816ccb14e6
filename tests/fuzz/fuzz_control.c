/*
 * libFuzzer target for the control socket's requests (src/control.c) and the commands a running
 * VM answers (src/vm_control.c), up to where they would act on the machine. The input is what
 * a client writes to DIR/run/control.sock: lines, each handled as the server handles a line it
 * reads (a line that is not UTF-8, or longer than CONTROL_MAX_LINE, ends the connection and so
 * the input). The commands run against a fake machine (the pc_* functions below) that answers
 * as src/pc*.c do, through the same parsers: key combinations (keymap_parse_combo), port
 * forwards (net_hostfwd_parse), the snapshot tree (an in-memory one), CD drive names.
 *
 * Every line gets one reply: an object with "id" and "ok", and a "result" object or an
 * "error" text; as the server writes it, it is one line of UTF-8 JSON that a client reads
 * back. Any crash, sanitizer report, leak or abort is a bug: nothing a client sends may stop
 * the VM except the commands meant to. Seeds: tests/fuzz/control-seeds/ (the requests the CLI
 * and tests/integration/control.py send).
 */
#include <glib.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "control.h"
#include "fuzz_glib.h"
#include "log.h"
#include "net/slirp.h"
#include "pc.h"
#include "snapshot/tree.h"
#include "ui/keymap.h"

#define FAKE_NICS 2	     /* net0: NAT; net1: bridged (no port forwards) */
#define FAKE_MAX_FORWARDS 16
#define FAKE_CDROM_SLOT 2    /* ide1:0, as pcvm create puts it */
#define MAX_LINES 64

/* What the commands change, reset for every input. */
struct pc {
	bool paused, off;
	unsigned resets;
	bool has_disc;
	struct snapshot_tree tree;
	GArray *forwards; /* struct net_hostfwd, of net0 */
};

static struct pc fake;
static struct control_server *server;
static char *sock_dir, *sock_path;

/* ---- the machine, as far as the commands see it ---- */

void pc_describe(const struct pc *pc, struct pc_status *st)
{
	*st = (struct pc_status){ .name = "fuzz", .state = pc_state(pc), .cpus = 1,
				  .memory_mib = 256, .uptime_s = 1.5 };
}

const char *pc_state(const struct pc *pc)
{
	return pc->paused ? "paused" : "running";
}

void pc_set_paused(struct pc *pc, bool paused) { pc->paused = paused; }
void pc_reset(struct pc *pc) { pc->resets++; }
void pc_poweroff(struct pc *pc) { pc->off = true; }
void pc_powerdown(struct pc *pc) { pc->off = true; }

int pc_change_media(struct pc *pc, const char *drive, const char *file, bool force,
		    char **error)
{
	if (strcmp(drive, "cdrom") && g_strcmp0(drive, vm_ide_slot_name(FAKE_CDROM_SLOT))) {
		*error = g_strdup_printf("%s: no such CD drive", drive);
		return -1;
	}
	if (file && !*file) { /* what block_open says of a path it cannot open */
		*error = g_strdup_printf("%s: No such file or directory", file);
		return -1;
	}
	pc->has_disc = file != NULL;
	return FAKE_CDROM_SLOT;
}

static int fake_nat(struct pc *pc, unsigned index, char **error)
{
	if (index >= FAKE_NICS) {
		*error = g_strdup_printf("the VM has no network card %u", index);
		return -1;
	}
	if (index != 0) {
		*error = g_strdup_printf("network card %u is not on NAT: no port forwards", index);
		return -1;
	}
	return 0;
}

static int forward_find(struct pc *pc, const struct net_hostfwd *f)
{
	for (guint i = 0; i < pc->forwards->len; i++) {
		const struct net_hostfwd *o = &g_array_index(pc->forwards, struct net_hostfwd, i);
		if (o->udp == f->udp && o->host_port == f->host_port &&
		    !strcmp(o->host_addr, f->host_addr))
			return i;
	}
	return -1;
}

int pc_portfwd(struct pc *pc, unsigned index, bool add, const char *rule, char **error)
{
	struct net_hostfwd fwd;
	if (fake_nat(pc, index, error) < 0 || net_hostfwd_parse(rule, &fwd, error) < 0)
		return -1;
	int at = forward_find(pc, &fwd);
	if (add && (at >= 0 || pc->forwards->len >= FAKE_MAX_FORWARDS)) {
		*error = g_strdup_printf("port forward '%s': host port %u is taken", rule,
					 fwd.host_port);
		return -1;
	}
	if (!add && at < 0) {
		*error = g_strdup_printf("port forward '%s': no such forward", rule);
		return -1;
	}
	if (add)
		g_array_append_val(pc->forwards, fwd);
	else
		g_array_remove_index(pc->forwards, at);
	return 0;
}

GPtrArray *pc_portfwd_list(struct pc *pc, unsigned index, char **error)
{
	if (fake_nat(pc, index, error) < 0)
		return NULL;
	GPtrArray *rules = g_ptr_array_new_with_free_func(g_free);
	for (guint i = 0; i < pc->forwards->len; i++)
		g_ptr_array_add(rules, net_hostfwd_format(&g_array_index(pc->forwards,
									 struct net_hostfwd, i)));
	return rules;
}

int pc_screenshot(struct pc *pc, const char *path, char **error)
{
	if (!g_path_is_absolute(path))
		abort(); /* vm_control.c lets only absolute paths through */
	return 0;    /* the PNG writer is not what this target is about */
}

int pc_send_keys(struct pc *pc, const char *combo, char **error)
{
	unsigned qnums[KEYMAP_COMBO_MAX];
	size_t n = 0;
	if (!keymap_parse_combo(combo, qnums, &n)) {
		*error = g_strdup_printf("'%s': not a key combination", combo);
		return -1;
	}
	if (n == 0 || n > KEYMAP_COMBO_MAX)
		abort();
	return 0;
}

size_t pc_text_screen(struct pc *pc, char *buf, size_t len)
{
	static const char screen[] = "Starting MS-DOS...\n\nC:\\>\xc3\xa9\n";
	if (buf && len)
		g_strlcpy(buf, screen, len);
	return sizeof(screen) - 1;
}

int pc_snapshot_take(struct pc *pc, const char *name, const char *description, char **id_out,
		     char **error)
{
	struct snapshot_node *n = snapshot_tree_add(&pc->tree, name, description, 1700000000, true);
	control_server_progress(server, "ram", 1, 2);
	*id_out = g_strdup(n->id);
	return 0;
}

int pc_snapshot_revert(struct pc *pc, const char *which, char **error)
{
	struct snapshot_node *n = snapshot_tree_lookup(&pc->tree, which);
	if (!n) {
		*error = g_strdup_printf("no snapshot '%s'", which);
		return -1;
	}
	g_free(pc->tree.current);
	pc->tree.current = g_strdup(n->id);
	return 0;
}

int pc_snapshot_delete(struct pc *pc, const char *which, char **error)
{
	struct snapshot_node *n = snapshot_tree_lookup(&pc->tree, which);
	if (!n) {
		*error = g_strdup_printf("no snapshot '%s'", which);
		return -1;
	}
	g_autofree char *id = g_strdup(n->id);
	return snapshot_tree_remove(&pc->tree, id, error);
}

int pc_snapshot_rename(struct pc *pc, const char *which, const char *name,
		       const char *description, char **error)
{
	return snapshot_tree_rename(&pc->tree, which, name, description, error);
}

GHashTable *pc_snapshot_disk_usage(struct pc *pc, char **error)
{
	GHashTable *h = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	for (guint i = 0; i < pc->tree.nodes->len; i++) {
		const struct snapshot_node *n = g_ptr_array_index(pc->tree.nodes, i);
		uint64_t bytes = (uint64_t)(i + 1) << 16;
		g_hash_table_insert(h, g_strdup(n->id), g_memdup2(&bytes, sizeof(bytes)));
	}
	return h;
}

int pc_snapshot_list(struct pc *pc, JsonBuilder *b, char **error)
{
	GHashTable *disk = pc_snapshot_disk_usage(pc, error);
	snapshot_tree_json(&pc->tree, NULL, disk, b); /* no files: no sizes of them, no thumbnails */
	g_hash_table_unref(disk);
	return 0;
}

int pc_suspend(struct pc *pc, char **error)
{
	pc->off = true;
	return 0;
}

/* ---- replies ---- */

static void fail(const char *what, const char *line, const char *reply)
{
	fprintf(stderr, "fuzz_control: %s\n--- request:\n%s\n--- reply:\n%s\n", what, line,
		reply ? reply : "(none)");
	abort();
}

/* The reply as the server writes it: one line of JSON a client reads back (control_call). */
static void check_reply(JsonNode *reply, const char *line)
{
	g_autofree char *text = reply ? json_to_string(reply, FALSE) : NULL;
	if (!reply || !JSON_NODE_HOLDS_OBJECT(reply))
		fail("no reply object", line, text);
	if (strchr(text, '\n') || !g_utf8_validate(text, -1, NULL))
		fail("the reply is not one line of UTF-8", line, text);
	g_autoptr(JsonParser) p = json_parser_new();
	if (!json_parser_load_from_data(p, text, -1, NULL))
		fail("the reply does not parse back", line, text);
	JsonObject *o = json_node_get_object(json_parser_get_root(p));
	JsonNode *ok = json_object_get_member(o, "ok");
	if (!json_object_has_member(o, "id") || !ok || !JSON_NODE_HOLDS_VALUE(ok) ||
	    json_node_get_value_type(ok) != G_TYPE_BOOLEAN)
		fail("the reply lacks \"id\" or \"ok\"", line, text);
	JsonNode *result = json_object_get_member(o, "result");
	const char *error = json_object_get_string_member_with_default(o, "error", NULL);
	if (json_node_get_boolean(ok) ? !result || !JSON_NODE_HOLDS_OBJECT(result) : !error || !*error)
		fail("the reply has no result object or no error text", line, text);
}

/* ---- the target ---- */

static void fake_reset(void)
{
	snapshot_tree_clear(&fake.tree);
	if (fake.forwards)
		g_array_unref(fake.forwards);
	memset(&fake, 0, sizeof(fake));
	snapshot_tree_init(&fake.tree);
	fake.forwards = g_array_new(FALSE, TRUE, sizeof(struct net_hostfwd));
}

static void cleanup(void)
{
	control_server_free(server); /* removes the socket */
	snapshot_tree_clear(&fake.tree);
	if (fake.forwards)
		g_array_unref(fake.forwards);
	g_rmdir(sock_dir);
	g_free(sock_path);
	g_free(sock_dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_glib_fatal_criticals();
	log_set_level(LOG_ERROR + 1);
	sock_dir = g_dir_make_tmp("pcvm-fuzz-control-XXXXXX", NULL);
	if (!sock_dir)
		abort();
	sock_path = g_build_filename(sock_dir, "control.sock", NULL);
	char *error = NULL;
	snapshot_tree_init(&fake.tree);
	server = vm_control_start(&fake, sock_path, &error);
	if (!server) {
		fprintf(stderr, "fuzz_control: %s\n", error);
		abort();
	}
	atexit(cleanup);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fake_reset();
	size_t pos = 0;
	for (unsigned n = 0; pos < size && n < MAX_LINES; n++) {
		const uint8_t *nl = memchr(data + pos, '\n', size - pos);
		size_t len = nl ? (size_t)(nl - data - pos) : size - pos;
		/* g_data_input_stream_read_line_utf8: a line that is not UTF-8 (a NUL byte
		 * included) drops the client, as does one too long (client_line_ready) */
		if (!g_utf8_validate((const char *)data + pos, len, NULL) || len > CONTROL_MAX_LINE)
			break;
		if (len) {
			g_autofree char *line = g_strndup((const char *)data + pos, len);
			JsonNode *reply = control_server_handle_line(server, line);
			check_reply(reply, line);
			json_node_unref(reply);
		}
		pos += len + 1;
	}
	return 0;
}
