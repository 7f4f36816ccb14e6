/* The commands a running VM answers on its control socket (design.md, "Control protocol"). */
#include <limits.h>
#include <unistd.h>

#include "config.h"
#include "control.h"
#include "pc.h"

static int cmd_status(void *opaque, JsonObject *args, JsonBuilder *b, char **error)
{
	struct pc_status st;
	pc_describe(opaque, &st);
	json_builder_set_member_name(b, "name");
	json_builder_add_string_value(b, st.name);
	json_builder_set_member_name(b, "state");
	json_builder_add_string_value(b, st.state);
	json_builder_set_member_name(b, "cpus");
	json_builder_add_int_value(b, st.cpus);
	json_builder_set_member_name(b, "memory-mib");
	json_builder_add_int_value(b, st.memory_mib);
	json_builder_set_member_name(b, "uptime-s");
	json_builder_add_double_value(b, st.uptime_s);
	json_builder_set_member_name(b, "pid");
	json_builder_add_int_value(b, getpid());
	return 0;
}

static int cmd_pause(void *opaque, JsonObject *args, JsonBuilder *b, char **error)
{
	pc_set_paused(opaque, true);
	return 0;
}

static int cmd_resume(void *opaque, JsonObject *args, JsonBuilder *b, char **error)
{
	pc_set_paused(opaque, false);
	return 0;
}

static int cmd_reset(void *opaque, JsonObject *args, JsonBuilder *b, char **error)
{
	pc_reset(opaque);
	return 0;
}

static int cmd_poweroff(void *opaque, JsonObject *args, JsonBuilder *b, char **error)
{
	pc_poweroff(opaque);
	return 0;
}

static int cmd_powerdown(void *opaque, JsonObject *args, JsonBuilder *b, char **error)
{
	pc_powerdown(opaque);
	return 0;
}

/* args: drive ("cdrom" or "ide1:0"), file (a path; absent or null ejects), force (bool) */
static int cmd_media_change(void *opaque, JsonObject *args, JsonBuilder *b, char **error)
{
	const char *drive, *file;
	bool force;
	/* what the client sends is checked: a "drive" of another type was NULL here, and
	 * pc_change_media's strcmp crashed the VM (fuzz_control found it) */
	if (!control_arg_string(args, "drive", "cdrom", &drive, error) ||
	    !control_arg_string(args, "file", NULL, &file, error) ||
	    !control_arg_bool(args, "force", false, &force, error))
		return -1;
	int slot = pc_change_media(opaque, drive, file, force, error);
	if (slot < 0)
		return -1;
	json_builder_set_member_name(b, "drive");
	json_builder_add_string_value(b, vm_ide_slot_name(slot));
	return 0;
}

/* args: file (an absolute path the VM process writes the PNG to) */
static int cmd_screenshot(void *opaque, JsonObject *args, JsonBuilder *b, char **error)
{
	const char *file;
	if (!control_arg_string(args, "file", NULL, &file, error))
		return -1;
	if (!file || !g_path_is_absolute(file)) {
		*error = g_strdup("screenshot needs \"file\": an absolute path");
		return -1;
	}
	if (pc_screenshot(opaque, file, error) < 0)
		return -1;
	json_builder_set_member_name(b, "file");
	json_builder_add_string_value(b, file);
	return 0;
}

/* args: keys (a combination such as "ctrl-alt-delete") */
static int cmd_send_keys(void *opaque, JsonObject *args, JsonBuilder *b, char **error)
{
	const char *keys;
	if (!control_arg_string(args, "keys", NULL, &keys, error))
		return -1;
	if (!keys) {
		*error = g_strdup("send-keys needs \"keys\", e.g. \"ctrl-alt-delete\"");
		return -1;
	}
	return pc_send_keys(opaque, keys, error);
}

/* The text screen (text modes), for scripts and tests. */
static int cmd_text_screen(void *opaque, JsonObject *args, JsonBuilder *b, char **error)
{
	size_t need = pc_text_screen(opaque, NULL, 0);
	g_autofree char *text = g_malloc(need + 1);
	pc_text_screen(opaque, text, need + 1);
	json_builder_set_member_name(b, "text");
	json_builder_add_string_value(b, text);
	return 0;
}

/* args: nic, a NIC's index (default 0): UINT_MAX, which no NIC has, for one out of range */
static bool arg_nic(JsonObject *args, unsigned *nic, char **error)
{
	gint64 v;
	if (!control_arg_int(args, "nic", 0, &v, error))
		return false;
	*nic = v < 0 || v > UINT_MAX ? UINT_MAX : (unsigned)v;
	return true;
}

/* args: nic, rule ("tcp:127.0.0.1:2222-:22") */
static int portfwd_change(void *opaque, JsonObject *args, bool add, char **error)
{
	unsigned nic;
	const char *rule;
	if (!arg_nic(args, &nic, error) || !control_arg_string(args, "rule", NULL, &rule, error))
		return -1;
	if (!rule) {
		*error = g_strdup("needs \"rule\", e.g. \"tcp:127.0.0.1:2222-:22\"");
		return -1;
	}
	return pc_portfwd(opaque, nic, add, rule, error);
}

static int cmd_portfwd_add(void *opaque, JsonObject *args, JsonBuilder *b, char **error)
{
	return portfwd_change(opaque, args, true, error);
}

static int cmd_portfwd_remove(void *opaque, JsonObject *args, JsonBuilder *b, char **error)
{
	return portfwd_change(opaque, args, false, error);
}

/* args: nic (default 0); result: rules, the active forwards */
static int cmd_portfwd_list(void *opaque, JsonObject *args, JsonBuilder *b, char **error)
{
	unsigned nic;
	if (!arg_nic(args, &nic, error))
		return -1;
	g_autoptr(GPtrArray) rules = pc_portfwd_list(opaque, nic, error);
	if (!rules)
		return -1;
	json_builder_set_member_name(b, "rules");
	json_builder_begin_array(b);
	for (guint i = 0; i < rules->len; i++)
		json_builder_add_string_value(b, g_ptr_array_index(rules, i));
	json_builder_end_array(b);
	return 0;
}

static const char *arg_snapshot(JsonObject *args, char **error)
{
	const char *which;
	if (!control_arg_string(args, "snapshot", NULL, &which, error))
		return NULL;
	if (!which)
		*error = g_strdup("needs \"snapshot\": an id or a name");
	return which;
}

/* args: name, description */
static int cmd_snapshot_take(void *opaque, JsonObject *args, JsonBuilder *b, char **error)
{
	const char *name, *desc;
	g_autofree char *id = NULL;
	if (!control_arg_string(args, "name", NULL, &name, error) ||
	    !control_arg_string(args, "description", NULL, &desc, error) ||
	    pc_snapshot_take(opaque, name, desc, &id, error) < 0)
		return -1;
	json_builder_set_member_name(b, "id");
	json_builder_add_string_value(b, id);
	return 0;
}

/* result: current (an id or null), snapshots (snapshot_tree_json) */
static int cmd_snapshot_list(void *opaque, JsonObject *args, JsonBuilder *b, char **error)
{
	return pc_snapshot_list(opaque, b, error);
}

/* args: snapshot (an id or a name); snapshot-restore and snapshot-revert both */
static int cmd_snapshot_revert(void *opaque, JsonObject *args, JsonBuilder *b, char **error)
{
	const char *which = arg_snapshot(args, error);
	return which ? pc_snapshot_revert(opaque, which, error) : -1;
}

static int cmd_snapshot_delete(void *opaque, JsonObject *args, JsonBuilder *b, char **error)
{
	const char *which = arg_snapshot(args, error);
	return which ? pc_snapshot_delete(opaque, which, error) : -1;
}

/* args: snapshot, name, description (absent or null: unchanged) */
static int cmd_snapshot_rename(void *opaque, JsonObject *args, JsonBuilder *b, char **error)
{
	const char *which = arg_snapshot(args, error), *name = NULL, *desc = NULL;
	char *ignored = NULL;
	if (!which)
		return -1;
	if (!control_arg_string(args, "name", NULL, &name, &ignored) || !name ||
	    !control_arg_string(args, "description", NULL, &desc, &ignored)) {
		g_free(ignored);
		*error = g_strdup("needs \"name\" (a string) and an optional \"description\" "
				  "(a string or null)");
		return -1;
	}
	return pc_snapshot_rename(opaque, which, name, desc, error);
}

/* {"disk-bytes": {ID: BYTES, ...}}: the disk space only each snapshot holds */
static int cmd_snapshot_disk_usage(void *opaque, JsonObject *args, JsonBuilder *b, char **error)
{
	GHashTable *h = pc_snapshot_disk_usage(opaque, error);
	if (!h)
		return -1;
	json_builder_set_member_name(b, "disk-bytes");
	json_builder_begin_object(b);
	GHashTableIter it;
	gpointer id, bytes;
	g_hash_table_iter_init(&it, h);
	while (g_hash_table_iter_next(&it, &id, &bytes)) {
		json_builder_set_member_name(b, id);
		json_builder_add_int_value(b, (gint64) * (uint64_t *)bytes);
	}
	json_builder_end_object(b);
	g_hash_table_unref(h);
	return 0;
}

static int cmd_suspend(void *opaque, JsonObject *args, JsonBuilder *b, char **error)
{
	return pc_suspend(opaque, error);
}

static const struct control_command vm_commands[] = {
	{ "suspend", cmd_suspend, "save the machine to disk and power off; the next start resumes" },
	{ "snapshot-take", cmd_snapshot_take, "disks, memory and devices; name, description" },
	{ "snapshot-list", cmd_snapshot_list,
	  "the tree: each snapshot's id, name, parent, time, sizes; which is current" },
	{ "snapshot-restore", cmd_snapshot_revert,
	  "go to a snapshot (id or name); the same as snapshot-revert" },
	{ "snapshot-revert", cmd_snapshot_revert,
	  "go to a snapshot (id or name); the same as snapshot-restore" },
	{ "snapshot-delete", cmd_snapshot_delete, "delete a snapshot; its children stay" },
	{ "snapshot-rename", cmd_snapshot_rename,
	  "rename a snapshot or change its description; snapshot, name, description" },
	{ "snapshot-disk-usage", cmd_snapshot_disk_usage,
	  "disk space only each snapshot holds (what deleting it frees)" },
	{ "screenshot", cmd_screenshot, "write the screen to a PNG file" },
	{ "send-keys", cmd_send_keys, "press and release a key combination" },
	{ "text-screen", cmd_text_screen, "the text-mode screen as UTF-8 lines" },
	{ "media-change", cmd_media_change, "insert (file) or eject (no file) a CD; force" },
	{ "portfwd-add", cmd_portfwd_add, "forward a host port to the guest (NAT); nic, rule" },
	{ "portfwd-remove", cmd_portfwd_remove, "stop forwarding a host port; nic, rule" },
	{ "portfwd-list", cmd_portfwd_list, "the active port forwards of a NAT card; nic" },
	{ "status", cmd_status, "name, state, CPUs, memory, uptime, pid" },
	{ "pause", cmd_pause, "stop the vCPUs" },
	{ "resume", cmd_resume, "let the vCPUs run again" },
	{ "reset", cmd_reset, "hard reset" },
	{ "poweroff", cmd_poweroff, "power off at once (the VM process exits with 0)" },
	{ "powerdown", cmd_powerdown, "press the ACPI power button: the guest shuts down" },
};

struct control_server *vm_control_start(struct pc *pc, const char *path, char **error)
{
	return control_server_new(path, vm_commands, G_N_ELEMENTS(vm_commands), pc, error);
}
