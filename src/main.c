/* pcvm: the command line. `pcvm run DIR` is the VM process; the other commands manage bundles. */
#include <glib.h>
#include <langinfo.h>
#include <locale.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "block/block.h"
#include "bundle.h"
#include "control.h"
#include "cli_net.h"
#include "cli_settings.h"
#include "cli_vms.h"
#include "log.h"
#include "net/slirp.h"
#include "pc.h"
#include "snapshot/offline.h"
#include "snapshot/tree.h"

static int fail(char *error)
{
	fprintf(stderr, "pcvm: %s\n", error);
	g_free(error);
	return 1;
}

/* Parses ARGV with ENTRIES; returns the positional arguments left, or -1 after an error. */
static int parse_options(int *argc, char ***argv, const char *usage, const GOptionEntry *entries)
{
	g_autoptr(GOptionContext) ctx = g_option_context_new(usage);
	g_option_context_add_main_entries(ctx, entries, NULL);
	g_autoptr(GError) err = NULL;
	if (!g_option_context_parse(ctx, argc, argv, &err)) {
		fprintf(stderr, "pcvm: %s (see --help)\n", err->message);
		return -1;
	}
	return *argc - 1;
}

static int cmd_create(int argc, char **argv)
{
	g_autofree char *name = NULL, *disk = NULL, *disk_size = NULL, *cdrom = NULL, *net = NULL,
			*disk_bus = NULL;
	int memory = 0, cpus = 0;
	gboolean test_exit = FALSE;
	const GOptionEntry entries[] = {
		{ "name", 0, 0, G_OPTION_ARG_STRING, &name, "Display name", "NAME" },
		{ "memory", 'm', 0, G_OPTION_ARG_INT, &memory, "Memory in MiB (default 256)", "MIB" },
		{ "cpus", 'c', 0, G_OPTION_ARG_INT, &cpus, "Virtual CPUs (default 1)", "N" },
		{ "disk-size", 0, 0, G_OPTION_ARG_STRING, &disk_size,
		  "Size of a new disk, e.g. 8G (default 8G)", "SIZE" },
		{ "disk", 0, 0, G_OPTION_ARG_FILENAME, &disk,
		  "Use an existing disk image (qcow2 or raw)", "FILE" },
		{ "disk-bus", 0, 0, G_OPTION_ARG_STRING, &disk_bus,
		  "Where the disk goes: ide (default, [ide0:0]) or scsi ([scsi0:0] of an LSI "
		  "53C895A controller)",
		  "BUS" },
		{ "cdrom", 0, 0, G_OPTION_ARG_FILENAME, &cdrom, "An installer ISO in the CD drive",
		  "ISO" },
		{ "net", 0, 0, G_OPTION_ARG_STRING, &net,
		  "Network: nat (default), bridged:BRIDGE, hostonly:NETWORK or none", "MODE" },
		{ "test-exit", 0, 0, G_OPTION_ARG_NONE, &test_exit,
		  "Enable the test-exit port 0xf4", NULL },
		{ NULL },
	};
	if (parse_options(&argc, &argv, "DIR - create a VM bundle", entries) != 1)
		return fail(g_strdup("usage: pcvm create DIR [--name NAME] [--memory MIB] [--cpus N] "
				     "[--disk-size SIZE | --disk FILE] [--disk-bus ide|scsi] [--cdrom ISO] "
				     "[--net MODE]"));
	struct bundle_create_opts o = {
		.name = name, .disk = disk, .cdrom = cdrom, .net = net, .test_exit = test_exit,
	};
	if (memory < 0 || memory > (int)VM_MAX_MEMORY_MIB || (memory && memory < 16))
		return fail(g_strdup_printf("--memory %d: must be 16 to %u MiB", memory,
					    VM_MAX_MEMORY_MIB));
	if (cpus < 0 || cpus > VM_MAX_CPUS)
		return fail(g_strdup_printf("--cpus %d: must be 1 to %d", cpus, VM_MAX_CPUS));
	o.memory_mib = memory;
	o.cpus = cpus;
	if (disk && disk_size)
		return fail(g_strdup("--disk and --disk-size exclude each other"));
	if (disk_bus && strcmp(disk_bus, "ide") && strcmp(disk_bus, "scsi"))
		return fail(g_strdup_printf("--disk-bus %s: expected ide or scsi", disk_bus));
	o.disk_scsi = disk_bus && !strcmp(disk_bus, "scsi");
	if (disk_size && (o.disk_size = block_parse_size(disk_size)) < BLOCK_SECTOR)
		return fail(g_strdup_printf("--disk-size %s: expected a size such as 8G or 512M",
					    disk_size));
	char *error = NULL;
	if (bundle_create(argv[1], &o, &error) < 0)
		return fail(error);
	printf("created %s\n", argv[1]);
	return 0;
}

static int cmd_run(int argc, char **argv)
{
	g_autofree char *serial = NULL, *bios = NULL, *vnc = NULL, *keyboard = NULL;
	gboolean test_exit = FALSE;
	const GOptionEntry entries[] = {
		{ "serial", 0, 0, G_OPTION_ARG_STRING, &serial,
		  "Where COM1 goes: stdio, none or a file (appended)", "WHERE" },
		{ "test-exit", 0, 0, G_OPTION_ARG_NONE, &test_exit,
		  "Enable the test-exit port 0xf4", NULL },
		{ "bios", 0, 0, G_OPTION_ARG_FILENAME, &bios, "BIOS image (default SeaBIOS)", "FILE" },
		{ "vnc", 0, 0, G_OPTION_ARG_STRING, &vnc,
		  "Also serve the console over TCP: HOST:N is port 5900+N (a password from "
		  "[display] vnc-password= is needed beyond loopback)",
		  "HOST:N" },
		{ "keyboard", 0, 0, G_OPTION_ARG_STRING, &keyboard,
		  "Keyboard layout of VNC viewers: en-us (default) or de", "LAYOUT" },
		{ NULL },
	};
	if (parse_options(&argc, &argv, "DIR - run a VM", entries) != 1)
		return fail(g_strdup("usage: pcvm run DIR [--serial stdio|none|FILE] [--test-exit]"));
	const char *dir = argv[1];
	char *error = NULL;
	struct vm_config cfg;
	vm_config_init(&cfg);
	/* the log opens first, so that warnings about vm.conf land in it */
	g_autofree char *log_path = bundle_path(dir, BUNDLE_LOG);
	if (g_file_test(dir, G_FILE_TEST_IS_DIR) && log_open(log_path) < 0)
		fprintf(stderr, "pcvm: warning: cannot write %s; logging to stderr\n", log_path);
	int lock_fd;
	if (bundle_load_config(dir, &cfg, &error) < 0) {
		log_error("%s", error);
		vm_config_clear(&cfg); /* what it read before the error */
		return fail(error);
	}
	if (bundle_lock(dir, &lock_fd, &error) < 0) {
		vm_config_clear(&cfg);
		return fail(error);
	}
	log_info("pcvm %s: running %s (%s)", PCVM_VERSION, dir, cfg.name ? cfg.name : "");
	struct pc_options opts = {
		.bundle_dir = dir,
		.serial = serial,
		.bios = bios,
		.kvm_path = g_getenv("PCVM_KVM_DEVICE"),
		.test_exit = test_exit,
		.vnc = vnc,
		.keyboard = keyboard,
	};
	int code;
	struct pc *pc = pc_new(&cfg, &opts, &error);
	if (!pc) {
		log_error("%s", error);
		code = fail(error);
	} else {
		code = pc_run(pc);
		pc_free(pc);
	}
	log_close();
	bundle_unlock(dir, lock_fd);
	vm_config_clear(&cfg);
	return code;
}

/* Sends CMD to the VM running DIR; prints nothing but errors. Returns the result or NULL. */
static JsonNode *ask_vm(const char *dir, const char *cmd, JsonNode *args)
{
	if (!g_file_test(dir, G_FILE_TEST_IS_DIR)) {
		fail(g_strdup_printf("%s: no such VM bundle", dir));
		return NULL;
	}
	g_autofree char *sock = bundle_path(dir, BUNDLE_CONTROL_SOCK);
	char *error = NULL;
	JsonNode *result = control_call(sock, cmd, args, &error);
	if (!result)
		fail(g_strdup_printf("%s: %s", dir, error)), g_free(error);
	return result;
}

static int cmd_status(int argc, char **argv)
{
	if (argc != 2)
		return fail(g_strdup("usage: pcvm status DIR"));
	g_autofree char *sock = bundle_path(argv[1], BUNDLE_CONTROL_SOCK);
	char *error = NULL;
	JsonNode *r = control_call(sock, "status", NULL, &error);
	if (!r) {
		g_free(error);
		if (!g_file_test(argv[1], G_FILE_TEST_IS_DIR))
			return fail(g_strdup_printf("%s: no such VM bundle", argv[1]));
		printf("state: off\n");
		return 0;
	}
	JsonObject *o = json_node_get_object(r);
	printf("name: %s\nstate: %s\ncpus: %" G_GINT64_FORMAT "\nmemory: %" G_GINT64_FORMAT
	       " MiB\nuptime: %.0f s\npid: %" G_GINT64_FORMAT "\n",
	       json_object_get_string_member_with_default(o, "name", ""),
	       json_object_get_string_member_with_default(o, "state", "?"),
	       json_object_get_int_member_with_default(o, "cpus", 0),
	       json_object_get_int_member_with_default(o, "memory-mib", 0),
	       json_object_get_double_member_with_default(o, "uptime-s", 0),
	       json_object_get_int_member_with_default(o, "pid", 0));
	json_node_unref(r);
	return 0;
}

static int cmd_screenshot(int argc, char **argv)
{
	if (argc != 3)
		return fail(g_strdup("usage: pcvm screenshot DIR FILE.png"));
	g_autofree char *file = g_canonicalize_filename(argv[2], NULL);
	JsonBuilder *b = json_builder_new();
	json_builder_begin_object(b);
	json_builder_set_member_name(b, "file");
	json_builder_add_string_value(b, file);
	json_builder_end_object(b);
	JsonNode *r = ask_vm(argv[1], "screenshot", json_builder_get_root(b));
	g_object_unref(b);
	if (!r)
		return 1;
	json_node_unref(r);
	return 0;
}

/* pcvm send-keys DIR COMBO... : each combination pressed and released in turn */
static int cmd_send_keys(int argc, char **argv)
{
	if (argc < 3)
		return fail(g_strdup("usage: pcvm send-keys DIR ctrl-alt-delete [COMBO...]"));
	for (int i = 2; i < argc; i++) {
		JsonBuilder *b = json_builder_new();
		json_builder_begin_object(b);
		json_builder_set_member_name(b, "keys");
		json_builder_add_string_value(b, argv[i]);
		json_builder_end_object(b);
		JsonNode *r = ask_vm(argv[1], "send-keys", json_builder_get_root(b));
		g_object_unref(b);
		if (!r)
			return 1;
		json_node_unref(r);
	}
	return 0;
}

/* pause, resume, reset, powerdown, stop: one control command each, no arguments */
static const struct {
	const char *name, *control;
} simple_commands[] = {
	{ "pause", "pause" },	{ "resume", "resume" },	      { "reset", "reset" },
	{ "stop", "poweroff" }, { "powerdown", "powerdown" }, { "suspend", "suspend" },
};

static int cmd_simple(int argc, char **argv)
{
	if (argc != 2)
		return fail(g_strdup_printf("usage: pcvm %s DIR", argv[0]));
	for (size_t i = 0; i < G_N_ELEMENTS(simple_commands); i++) {
		if (strcmp(argv[0], simple_commands[i].name))
			continue;
		JsonNode *r = ask_vm(argv[1], simple_commands[i].control, NULL);
		if (!r)
			return 1;
		json_node_unref(r);
		return 0;
	}
	return 1;
}

/* pcvm media DIR DRIVE --eject | --insert FILE [--force]: the change is made in the running
 * VM (if it runs) and recorded in vm.conf either way. */
static int cmd_media(int argc, char **argv)
{
	g_autofree char *insert = NULL;
	gboolean eject = FALSE, force = FALSE;
	const GOptionEntry entries[] = {
		{ "insert", 0, 0, G_OPTION_ARG_FILENAME, &insert, "Insert this ISO", "FILE" },
		{ "eject", 0, 0, G_OPTION_ARG_NONE, &eject, "Eject the disc", NULL },
		{ "force", 0, 0, G_OPTION_ARG_NONE, &force, "Even if the guest locked the tray",
		  NULL },
		{ NULL },
	};
	if (parse_options(&argc, &argv, "DIR DRIVE - change the CD", entries) != 2 ||
	    !!insert == !!eject)
		return fail(g_strdup("usage: pcvm media DIR cdrom --eject | --insert FILE [--force]"));
	const char *dir = argv[1], *drive = argv[2];
	char *error = NULL;
	struct vm_config cfg;
	vm_config_init(&cfg);
	if (bundle_load_config(dir, &cfg, &error) < 0)
		return fail(error);
	int slot = vm_ide_slot_find(&cfg, drive);
	bool is_cd = slot >= 0 && vm_drive_is_cdrom(&cfg.ide[slot]);
	vm_config_clear(&cfg);
	if (!is_cd)
		return fail(g_strdup_printf("%s: no CD drive '%s' in this VM", dir, drive));
	g_autofree char *file = insert ? g_canonicalize_filename(insert, NULL) : NULL;
	struct block_dev *probe = file ? block_open(file, true, &error) : NULL;
	if (file && !probe)
		return fail(error);
	block_close(probe);
	g_autofree char *sock = bundle_path(dir, BUNDLE_CONTROL_SOCK);
	if (g_file_test(sock, G_FILE_TEST_EXISTS)) {
		JsonBuilder *b = json_builder_new();
		json_builder_begin_object(b);
		json_builder_set_member_name(b, "drive");
		json_builder_add_string_value(b, vm_ide_slot_name(slot));
		json_builder_set_member_name(b, "file");
		file ? json_builder_add_string_value(b, file) : json_builder_add_null_value(b);
		json_builder_set_member_name(b, "force");
		json_builder_add_boolean_value(b, force);
		json_builder_end_object(b);
		JsonNode *r = control_call(sock, "media-change", json_builder_get_root(b), &error);
		g_object_unref(b);
		if (!r && !strstr(error, "not running"))
			return fail(error);
		g_clear_pointer(&error, g_free);
		if (r)
			json_node_unref(r);
	}
	if (bundle_set_drive_file(dir, vm_ide_slot_name(slot), file, &error) < 0)
		return fail(error);
	printf("%s: %s\n", vm_ide_slot_name(slot), file ? file : "ejected");
	return 0;
}

/* Asks the VM running DIR (if it runs) to do CMD on port-forward RULE of card NIC. Returns 0 if
 * it did or the VM is off, -1 after printing the VM's refusal. */
static int portfwd_live(const char *dir, const char *cmd, unsigned nic, const char *rule)
{
	g_autofree char *sock = bundle_path(dir, BUNDLE_CONTROL_SOCK);
	if (!g_file_test(sock, G_FILE_TEST_EXISTS))
		return 0;
	JsonBuilder *b = json_builder_new();
	json_builder_begin_object(b);
	json_builder_set_member_name(b, "nic");
	json_builder_add_int_value(b, nic);
	json_builder_set_member_name(b, "rule");
	json_builder_add_string_value(b, rule);
	json_builder_end_object(b);
	char *error = NULL;
	JsonNode *r = control_call(sock, cmd, json_builder_get_root(b), &error);
	g_object_unref(b);
	if (r) {
		json_node_unref(r);
		return 0;
	}
	if (strstr(error, "not running")) {
		g_free(error);
		return 0;
	}
	fail(g_strdup_printf("%s: %s", dir, error));
	g_free(error);
	return -1;
}

/* Index in LIST of the rule forwarding the same host protocol, address and port as F. */
static int portfwd_find(char **list, const struct net_hostfwd *f)
{
	for (int i = 0; list && list[i]; i++) {
		struct net_hostfwd g;
		char *error = NULL;
		if (net_hostfwd_parse(list[i], &g, &error) < 0) {
			g_free(error);
			continue;
		}
		if (g.udp == f->udp && g.host_port == f->host_port &&
		    !strcmp(g.host_addr, f->host_addr))
			return i;
	}
	return -1;
}

/*
 * pcvm portfwd DIR add tcp|udp [ADDR:]HOSTPORT GUESTPORT | remove tcp|udp [ADDR:]HOSTPORT |
 * list: NAT port forwards, recorded in vm.conf and applied at once to a running VM.
 */
static int cmd_portfwd(int argc, char **argv)
{
	int nic = 0;
	const GOptionEntry entries[] = {
		{ "nic", 0, 0, G_OPTION_ARG_INT, &nic, "The network card (default 0: net0)", "N" },
		{ NULL },
	};
	int n = parse_options(&argc, &argv, "DIR add|remove|list ... - NAT port forwarding",
			      entries);
	const char *op = n >= 2 ? argv[2] : "";
	bool add = !strcmp(op, "add"), remove = !strcmp(op, "remove"), list = !strcmp(op, "list");
	if (!(add && n == 5) && !(remove && n == 4) && !(list && n == 2))
		return fail(g_strdup("usage: pcvm portfwd DIR add tcp|udp [ADDR:]HOSTPORT GUESTPORT"
				     " | remove tcp|udp [ADDR:]HOSTPORT | list  [--nic N]"));
	const char *dir = argv[1];
	char *error = NULL;
	struct vm_config cfg;
	vm_config_init(&cfg);
	if (bundle_load_config(dir, &cfg, &error) < 0)
		return fail(error);
	struct vm_nic *card = nic >= 0 && nic < VM_MAX_NICS ? &cfg.net[nic] : NULL;
	int ret = 0;
	if (!card || !card->present || (card->mode && strcmp(card->mode, "nat"))) {
		ret = fail(g_strdup_printf("%s: net%d is not a NAT network card", dir, nic));
	} else if (list) {
		for (int i = 0; card->forward && card->forward[i]; i++)
			printf("%s\n", card->forward[i]);
	} else {
		const char *host = argv[4];
		/* remove names only the host side: any valid guest port completes the rule */
		g_autofree char *rule = g_strdup_printf("%s:%s%s-:%s", argv[3],
							strchr(host, ':') ? "" : "127.0.0.1:", host,
							add ? argv[5] : "1");
		struct net_hostfwd f;
		int at = -1;
		if (net_hostfwd_parse(rule, &f, &error) < 0) {
			ret = fail(g_strdup_printf("%s %s: %s", argv[3], host, error));
			g_free(error);
		} else if ((at = portfwd_find(card->forward, &f)) >= 0 && add) {
			ret = fail(g_strdup_printf("%s: %s is already forwarded (%s)", dir, host,
						   card->forward[at]));
		} else if (at < 0 && remove) {
			ret = fail(g_strdup_printf("%s: no %s forward from %s", dir, argv[3], host));
		} else {
			g_autofree char *canon = net_hostfwd_format(&f);
			const char *live = add ? canon : card->forward[at];
			GStrvBuilder *sb = g_strv_builder_new();
			for (int i = 0; card->forward && card->forward[i]; i++)
				if (i != at)
					g_strv_builder_add(sb, card->forward[i]);
			if (add)
				g_strv_builder_add(sb, canon);
			g_auto(GStrv) rules = g_strv_builder_end(sb);
			g_strv_builder_unref(sb);
			if (portfwd_live(dir, add ? "portfwd-add" : "portfwd-remove", nic, live) < 0 ||
			    bundle_set_string_list(dir, vm_nic_group(nic), "forward",
						   (const char *const *)rules, &error) < 0)
				ret = error ? fail(error) : 1;
			else
				printf("%s %s\n", add ? "added" : "removed", live);
		}
	}
	vm_config_clear(&cfg);
	return ret;
}

static void print_size(const char *label, uint64_t bytes)
{
	g_autofree char *human = g_format_size_full(bytes, G_FORMAT_SIZE_IEC_UNITS);
	printf("  %-10s %s (%" G_GUINT64_FORMAT " bytes)\n", label, human, bytes);
}

/* pcvm disk info DIR: every drive's image, format, virtual size and allocated bytes; add,
 * remove and grow are in cli_settings.c */
static int cmd_disk(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "info"))
		return cli_disk(argc, argv);
	if (argc != 3)
		return fail(g_strdup("usage: pcvm disk info DIR (also add, remove, grow: see "
				     "pcvm disk --help)"));
	const char *dir = argv[2];
	char *error = NULL;
	struct vm_config cfg;
	vm_config_init(&cfg);
	if (bundle_load_config(dir, &cfg, &error) < 0)
		return fail(error);
	int ret = 0;
	for (unsigned i = 0; i < VM_DRIVE_SLOTS; i++) {
		const struct vm_drive *d = &cfg.drives[i];
		if (!vm_drive_present(d))
			continue;
		printf("%s: %s\n", vm_drive_slot_name(i), vm_drive_is_cdrom(d) ? "cdrom" : "disk");
		if (!d->file) {
			printf("  (no disc)\n");
			continue;
		}
		g_autofree char *path = bundle_path(dir, d->file);
		printf("  %-10s %s\n", "file", path);
		struct block_dev *bd = block_open(path, true, &error);
		struct block_info info;
		if (!bd || block_get_info(bd, &info) < 0) {
			fprintf(stderr, "pcvm: %s\n", error ? error : "cannot read the image");
			g_clear_pointer(&error, g_free);
			block_close(bd);
			ret = 1;
			continue;
		}
		printf("  %-10s %s\n", "format", info.format);
		print_size("size", info.virtual_size);
		print_size("allocated", info.allocated_bytes);
		if (info.backing)
			printf("  %-10s %s\n", "backing", info.backing);
		block_info_clear(&info);
		block_close(bd);
	}
	vm_config_clear(&cfg);
	return ret;
}

/* Runs a snapshot operation in the running VM, or on the bundle when it is off (holding the
 * bundle's lock so that it cannot start meanwhile). */
static int snapshot_run(const char *dir, const char *cmd, JsonNode *args, int (*offline)(
	const char *dir, const struct vm_config *cfg, void *data, char **error), void *data)
{
	char *error = NULL;
	struct vm_config cfg;
	vm_config_init(&cfg);
	if (bundle_load_config(dir, &cfg, &error) < 0) {
		json_node_unref(args);
		return fail(error);
	}
	int lock_fd, ret;
	if (bundle_lock(dir, &lock_fd, &error) == 0) {
		json_node_unref(args);
		ret = offline(dir, &cfg, data, &error);
		bundle_unlock(dir, lock_fd);
	} else {
		g_clear_pointer(&error, g_free);
		g_autofree char *sock = bundle_path(dir, BUNDLE_CONTROL_SOCK);
		struct control_progress progress = { .out = stderr };
		JsonNode *r = control_call_full(sock, cmd, args,
						isatty(STDERR_FILENO) ? control_progress_show : NULL,
						&progress, &error);
		control_progress_end(&progress);
		ret = r ? 0 : -1;
		if (r) {
			JsonObject *o = json_node_get_object(r);
			if (json_object_has_member(o, "id"))
				printf("snapshot %s taken\n", json_object_get_string_member(o, "id"));
			json_node_unref(r);
		}
	}
	vm_config_clear(&cfg);
	return ret < 0 ? fail(error) : 0;
}

struct take_args {
	const char *name, *description;
};

static int offline_take(const char *dir, const struct vm_config *cfg, void *data, char **error)
{
	struct take_args *a = data;
	g_autofree char *id = NULL;
	if (snapshot_offline_take(dir, cfg, a->name, a->description, &id, error) < 0)
		return -1;
	printf("snapshot %s taken (disks only: the VM is off)\n", id);
	return 0;
}

static int offline_revert(const char *dir, const struct vm_config *cfg, void *data, char **error)
{
	return snapshot_offline_revert(dir, cfg, data, error);
}

static int offline_delete(const char *dir, const struct vm_config *cfg, void *data, char **error)
{
	return snapshot_offline_delete(dir, cfg, data, error);
}

static JsonNode *json_args(const char *k1, const char *v1, const char *k2, const char *v2)
{
	JsonBuilder *b = json_builder_new();
	json_builder_begin_object(b);
	json_builder_set_member_name(b, k1);
	json_builder_add_string_value(b, v1);
	if (k2 && v2) {
		json_builder_set_member_name(b, k2);
		json_builder_add_string_value(b, v2);
	}
	json_builder_end_object(b);
	JsonNode *n = json_builder_get_root(b);
	g_object_unref(b);
	return n;
}

struct rename_args {
	const char *which, *name, *description;
};

static int offline_rename(const char *dir, const struct vm_config *cfg, void *data, char **error)
{
	struct rename_args *a = data;
	return snapshot_offline_rename(dir, cfg, a->which, a->name, a->description, error);
}

/* pcvm snapshot rename DIR SNAPSHOT NEWNAME [--description TEXT]: the description stays as it
 * was unless given. */
static int snapshot_rename(const char *dir, const char *which, const char *name,
			   const char *description)
{
	JsonNode *args = json_args("snapshot", which, "name", name);
	if (description)
		json_object_set_string_member(json_node_get_object(args), "description", description);
	struct rename_args a = { which, name, description };
	return snapshot_run(dir, "snapshot-rename", args, offline_rename, &a);
}

static int snapshot_list(const char *dir)
{
	char *error = NULL;
	g_autofree char *text = snapshot_list_text(dir, &error);
	if (!text)
		return fail(error);
	fputs(text, stdout);
	return 0;
}

/* pcvm snapshot take|list|restore|delete DIR [NAME] [--description TEXT]; revert is restore's
 * older name, still accepted */
static int cmd_snapshot(int argc, char **argv)
{
	g_autofree char *description = NULL;
	const GOptionEntry entries[] = {
		{ "description", 'd', 0, G_OPTION_ARG_STRING, &description, "For take and rename",
		  "TEXT" },
		{ NULL },
	};
	int n = parse_options(&argc, &argv, "take|list|restore|revert|delete|rename DIR [NAME]",
			      entries);
	const char *usage = "usage: pcvm snapshot take DIR NAME [--description TEXT] | list DIR | "
			    "restore DIR NAME (or revert) | delete DIR NAME | "
			    "rename DIR NAME NEWNAME [--description TEXT]";
	if (n == 2 && !strcmp(argv[1], "list"))
		return snapshot_list(argv[2]);
	if (n == 4 && !strcmp(argv[1], "rename"))
		return snapshot_rename(argv[2], argv[3], argv[4], description);
	if (n != 3)
		return fail(g_strdup(usage));
	const char *op = argv[1], *dir = argv[2], *name = argv[3];
	if (!strcmp(op, "take")) {
		struct take_args a = { name, description };
		return snapshot_run(dir, "snapshot-take",
				    json_args("name", name, "description", description), offline_take,
				    &a);
	}
	/* the socket's older name: a VM that an older pcvm started answers it too */
	if (!strcmp(op, "restore") || !strcmp(op, "revert"))
		return snapshot_run(dir, "snapshot-revert", json_args("snapshot", name, NULL, NULL),
				    offline_revert, (void *)name);
	if (!strcmp(op, "delete"))
		return snapshot_run(dir, "snapshot-delete", json_args("snapshot", name, NULL, NULL),
				    offline_delete, (void *)name);
	return fail(g_strdup(usage));
}

static int cmd_version(int argc, char **argv)
{
	printf("pcvm %s\n", PCVM_VERSION);
	return 0;
}

static int cmd_help(int argc, char **argv);

static const struct command {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
} commands[] = {
	{ "create", cmd_create, "create a VM bundle (DIR.pcvm) with a new or existing disk" },
	{ "list", cli_list, "the VMs of the library (or of DIR...): state, memory, CPUs, path" },
	{ "start", cli_start, "start a VM in the background (pcvm run, detached)" },
	{ "run", cmd_run, "run a VM in this process until it powers off" },
	{ "status", cmd_status, "the state of a VM (off, running, paused)" },
	{ "media", cmd_media, "insert or eject a CD, running or not" },
	{ "portfwd", cmd_portfwd, "add, remove or list NAT port forwards, running or not" },
	{ "net", cli_net, "create, list or remove host-only networks" },
	{ "snapshot", cmd_snapshot,
	  "take, list, restore (or revert), delete or rename snapshots, running or not" },
	{ "screenshot", cmd_screenshot, "save a running VM's screen as PNG" },
	{ "send-keys", cmd_send_keys, "press key combinations (ctrl-alt-delete, shift-a, f12)" },
	{ "disk", cmd_disk, "disks: info (format, size, space used), add, remove, grow" },
	{ "config", cli_config, "get or set vm.conf settings, checked (e.g. vm.memory-mib=512)" },
	{ "pause", cmd_simple, "pause a running VM" },
	{ "resume", cmd_simple, "resume a paused VM" },
	{ "reset", cmd_simple, "hard-reset a running VM" },
	{ "powerdown", cmd_simple, "press a running VM's ACPI power button" },
	{ "stop", cmd_simple, "power a running VM off at once" },
	{ "suspend", cmd_simple, "suspend a running VM to disk; pcvm run resumes it" },
	{ "version", cmd_version, "print pcvm's version" },
	{ "help", cmd_help, "this list" },
};

static int cmd_help(int argc, char **argv)
{
	printf("usage: pcvm COMMAND [OPTIONS] (pcvm COMMAND --help for its options)\n\n");
	for (size_t i = 0; i < G_N_ELEMENTS(commands); i++)
		printf("  %-10s %s\n", commands[i].name, commands[i].summary);
	return 0;
}

int main(int argc, char **argv)
{
	/* a peer that goes away (a VNC viewer, a control client, a closed stdout) is an error on
	 * that write, never the end of a VM */
	signal(SIGPIPE, SIG_IGN);
	/* GOption converts option values from the locale's charset: the environment's, or UTF-8
	 * where that is plain C/POSIX (ASCII, as where LANG is unset), so that --name Élan works */
	setlocale(LC_CTYPE, "");
	if (!strcmp(nl_langinfo(CODESET), "ANSI_X3.4-1968"))
		setlocale(LC_CTYPE, "C.UTF-8");
	if (argc < 2)
		return cmd_help(argc, argv), 1;
	for (size_t i = 0; i < G_N_ELEMENTS(commands); i++)
		if (!strcmp(argv[1], commands[i].name))
			return commands[i].run(argc - 1, argv + 1);
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))
		return cmd_help(argc, argv);
	if (!strcmp(argv[1], "--version"))
		return cmd_version(argc, argv);
	fprintf(stderr, "pcvm: unknown command '%s' (see pcvm help)\n", argv[1]);
	return 1;
}
