/*
 * The command-line side of a VM's settings (and of pcvm-gtk's settings window, which never
 * writes vm.conf itself):
 *
 * pcvm config DIR get GROUP.KEY | set GROUP.KEY=VALUE... | unset GROUP.KEY|GROUP...
 *   vm.conf edited: every change is checked as `pcvm run` would read the file
 *   (vm_config_edit), and the file is replaced only when all of them are valid, keeping its
 *   comments. A running VM does not re-read vm.conf: what is set applies at its next start,
 *   as the output says.
 *
 * pcvm disk add DIR [--size SIZE] [--slot SLOT] | remove DIR SLOT [--delete-file] |
 * grow DIR SLOT SIZE
 *   a VM's hard disks (IDE or SCSI), changed while it is off (its lock held: drives do not
 *   come and go under a running guest). Snapshots hold every disk the VM had when they were taken: a disk
 *   added later would be missing from them (a revert would fail on it) and a removed one
 *   would come back in none. So adding and removing disks is refused while the VM has
 *   snapshots or is suspended (its saved machine has the old drives); growing is not: a qcow2
 *   snapshot keeps its own size.
 */
#include "cli_settings.h"

#include <errno.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "block/block.h"
#include "block/grow.h"
#include "bundle.h"
#include "config.h"
#include "snapshot/tree.h"

static int settings_fail(char *error)
{
	fprintf(stderr, "pcvm: %s\n", error);
	g_free(error);
	return 1;
}

/* ---- pcvm config ---- */

static const char config_usage[] =
    "usage: pcvm config DIR get GROUP.KEY | set GROUP.KEY=VALUE... | unset GROUP.KEY|GROUP...  "
    "(e.g. set vm.memory-mib=512 net0.mode=bridged net0.bridge=br0)";

static int config_get(const char *conf, const char *spec)
{
	const char *dot = strchr(spec, '.');
	g_autofree char *group = dot ? g_strndup(spec, dot - spec) : NULL;
	if (!dot || !vm_config_key_known(group, dot + 1))
		return settings_fail(g_strdup_printf("'%s': not a vm.conf setting (GROUP.KEY, e.g. "
						   "vm.memory-mib)",
						   spec));
	g_autoptr(GKeyFile) kf = g_key_file_new();
	g_autoptr(GError) err = NULL;
	if (!g_key_file_load_from_file(kf, conf, G_KEY_FILE_NONE, &err))
		return settings_fail(g_strdup_printf("%s: %s", conf, err->message));
	g_autofree char *value = g_key_file_get_string(kf, group, dot + 1, NULL);
	if (!value)
		return settings_fail(g_strdup_printf("%s is not set in %s (the default applies)", spec,
						   conf));
	printf("%s\n", value);
	return 0;
}

/* Whether the VM in DIR runs: its lock is held. Takes and drops the lock if it is free. */
static bool config_vm_running(const char *dir)
{
	int fd;
	char *error = NULL;
	if (bundle_lock(dir, &fd, &error) < 0) {
		g_free(error);
		return true;
	}
	bundle_unlock(dir, fd);
	return false;
}

static int config_change(const char *dir, const char *conf, bool set, char **items)
{
	char *error = NULL;
	const char *const *list = (const char *const *)items;
	if (vm_config_edit(conf, set ? list : NULL, set ? NULL : list, &error) < 0)
		return settings_fail(error);
	for (char **i = items; *i; i++)
		printf("%s%s\n", set ? "" : "unset ", *i);
	if (config_vm_running(dir))
		printf("(the VM is running: this applies at its next start)\n");
	return 0;
}

int cli_config(int argc, char **argv)
{
	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		printf("%s\n", config_usage);
		return argc < 2;
	}
	if (argc < 4)
		return settings_fail(g_strdup(config_usage));
	const char *dir = argv[1], *op = argv[2];
	g_autofree char *conf = bundle_path(dir, BUNDLE_CONF);
	if (!g_file_test(conf, G_FILE_TEST_IS_REGULAR))
		return settings_fail(g_strdup_printf("%s: not a VM bundle (no %s)", dir, BUNDLE_CONF));
	if (!strcmp(op, "get") && argc == 4)
		return config_get(conf, argv[3]);
	if (!strcmp(op, "set") || !strcmp(op, "unset"))
		return config_change(dir, conf, !strcmp(op, "set"), argv + 3);
	return settings_fail(g_strdup(config_usage));
}

/* ---- pcvm disk ---- */

static const char disk_usage[] = "usage: pcvm disk info DIR | add DIR [--size SIZE] [--slot SLOT] "
				 "| remove DIR SLOT [--delete-file] | grow DIR SLOT [+]SIZE";

#define DISK_DEFAULT_SIZE "8G"

/* The bundle, its vm.conf and its lock: the VM stays off while a disk changes. */
struct disk_ctx {
	const char *dir;
	struct vm_config cfg;
	int lock_fd;
};

static int disk_open(struct disk_ctx *c, const char *dir, char **error)
{
	c->dir = dir;
	c->lock_fd = -1;
	vm_config_init(&c->cfg);
	if (bundle_load_config(dir, &c->cfg, error) < 0)
		return -1;
	char *busy = NULL;
	if (bundle_lock(dir, &c->lock_fd, &busy) < 0) {
		*error = g_strdup_printf("%s: power the VM off first (%s)", dir, busy);
		g_free(busy);
		return -1;
	}
	return 0;
}

static void disk_close(struct disk_ctx *c)
{
	if (c->lock_fd >= 0)
		bundle_unlock(c->dir, c->lock_fd);
	vm_config_clear(&c->cfg);
}

/* Refuses a change of the drive set while snapshots or a suspended machine hold the old one. */
static int disk_check_unbound(struct disk_ctx *c, const char *what, char **error)
{
	g_autofree char *index = g_build_filename(c->dir, "snapshots", "index.conf", NULL);
	g_autofree char *suspended = bundle_path(c->dir, BUNDLE_SUSPENDED);
	struct snapshot_tree t;
	snapshot_tree_init(&t);
	int ret = snapshot_tree_load(&t, index, error);
	if (ret == 0 && t.nodes->len) {
		*error = g_strdup_printf("%s: cannot %s while the VM has snapshots: they hold its "
					 "disks as they were (delete the snapshots first)",
					 c->dir, what);
		ret = -1;
	} else if (ret == 0 && g_file_test(suspended, G_FILE_TEST_EXISTS)) {
		*error = g_strdup_printf("%s: cannot %s while the VM is suspended: resume it and "
					 "shut it down first",
					 c->dir, what);
		ret = -1;
	}
	snapshot_tree_clear(&t);
	return ret;
}

/* SLOT names a hard disk of the VM ("ide0:0", "scsi0:1", or "disk" for the first). */
static int disk_slot(struct disk_ctx *c, const char *name, char **error)
{
	int slot = vm_drive_slot_find(&c->cfg, name);
	if (slot < 0 || !vm_drive_present(&c->cfg.drives[slot]) ||
	    vm_drive_is_cdrom(&c->cfg.drives[slot])) {
		*error = g_strdup_printf("%s: no hard disk '%s' (see pcvm disk info)", c->dir, name);
		return -1;
	}
	return slot;
}

/* A file name for a new disk: diskN.qcow2, not in the bundle and not named by vm.conf. */
static char *disk_new_name(struct disk_ctx *c)
{
	for (unsigned n = 0;; n++) {
		char *name = g_strdup_printf("disk%u.qcow2", n);
		g_autofree char *path = bundle_path(c->dir, name);
		bool used = g_file_test(path, G_FILE_TEST_EXISTS);
		for (unsigned i = 0; i < VM_DRIVE_SLOTS && !used; i++)
			used = c->cfg.drives[i].file && !strcmp(c->cfg.drives[i].file, name);
		if (!used)
			return name;
		g_free(name);
	}
}

/* The slot WANT names, or without one the first free IDE slot: a SCSI disk (which brings a
 * SCSI controller into the VM) is only added when asked for. */
static int disk_free_slot(struct disk_ctx *c, const char *want, char **error)
{
	for (int i = 0; i < (want ? VM_DRIVE_SLOTS : VM_IDE_SLOTS); i++) {
		bool named = want && !strcmp(want, vm_drive_slot_name(i));
		if ((named || !want) && !vm_drive_present(&c->cfg.drives[i]))
			return i;
		if (named) {
			*error = g_strdup_printf("%s: %s holds a drive already", c->dir, want);
			return -1;
		}
	}
	*error = want ? g_strdup_printf("'%s': expected a slot ide0:0, ide0:1, ide1:0, ide1:1 or "
					"scsi0:0 to scsi0:6",
					want)
		      : g_strdup_printf("%s: all four IDE slots are in use (--slot scsi0:N adds "
					"a SCSI disk)",
					c->dir);
	return -1;
}

static int disk_add(struct disk_ctx *c, const char *size_text, const char *want, char **error)
{
	uint64_t size = block_parse_size(size_text);
	if (size < BLOCK_SECTOR) {
		*error = g_strdup_printf("--size %s: expected a size such as 8G or 512M", size_text);
		return -1;
	}
	int slot = disk_free_slot(c, want, error);
	if (slot < 0 || disk_check_unbound(c, "add a disk", error) < 0)
		return -1;
	g_autofree char *name = disk_new_name(c);
	g_autofree char *path = bundle_path(c->dir, name);
	g_autofree char *conf = bundle_path(c->dir, BUNDLE_CONF);
	g_autofree char *type = g_strdup_printf("%s.type=disk", vm_drive_slot_name(slot));
	g_autofree char *file = g_strdup_printf("%s.file=%s", vm_drive_slot_name(slot), name);
	const char *sets[] = { type, file, NULL };
	if (block_create_qcow2(path, size, NULL, error) < 0)
		return -1;
	if (vm_config_edit(conf, sets, NULL, error) < 0) {
		g_unlink(path);
		return -1;
	}
	g_autofree char *human = g_format_size_full(size, G_FORMAT_SIZE_IEC_UNITS);
	printf("%s: new disk %s, %s\n", vm_drive_slot_name(slot), name, human);
	return 0;
}

/* PATH lies inside the bundle DIR: a file pcvm made, not one the user pointed vm.conf at. */
static bool disk_in_bundle(const char *dir, const char *path)
{
	g_autofree char *canon_dir = g_canonicalize_filename(dir, NULL);
	g_autofree char *canon = g_canonicalize_filename(path, NULL);
	g_autofree char *prefix = g_strconcat(canon_dir, "/", NULL);
	return g_str_has_prefix(canon, prefix);
}

static int disk_remove(struct disk_ctx *c, const char *name, bool delete_file, char **error)
{
	int slot = disk_slot(c, name, error);
	if (slot < 0 || disk_check_unbound(c, "remove a disk", error) < 0)
		return -1;
	const char *file = c->cfg.drives[slot].file;
	g_autofree char *path = bundle_path(c->dir, file);
	if (delete_file && !disk_in_bundle(c->dir, path)) {
		*error = g_strdup_printf("%s is not inside %s: remove the drive without "
					 "--delete-file and delete the file yourself",
					 path, c->dir);
		return -1;
	}
	g_autofree char *conf = bundle_path(c->dir, BUNDLE_CONF);
	const char *unsets[] = { vm_drive_slot_name(slot), NULL };
	if (vm_config_edit(conf, NULL, unsets, error) < 0)
		return -1;
	/* vm.conf no longer names the file: it can go */
	if (delete_file && g_unlink(path) < 0) {
		*error = g_strdup_printf("%s: removed from the VM, but deleting %s failed: %s",
					 vm_drive_slot_name(slot), path, g_strerror(errno));
		return -1;
	}
	printf("%s: removed (%s %s)\n", vm_drive_slot_name(slot), file,
	       delete_file ? "deleted" : "kept");
	return 0;
}

static int disk_grow(struct disk_ctx *c, const char *name, const char *size_text, char **error)
{
	int slot = disk_slot(c, name, error);
	if (slot < 0)
		return -1;
	if (c->cfg.drives[slot].read_only) {
		*error = g_strdup_printf("%s: the disk is read-only (readonly=true)",
					 vm_drive_slot_name(slot));
		return -1;
	}
	bool relative = size_text[0] == '+';
	uint64_t size = block_parse_size(size_text + relative);
	if (!size) {
		*error = g_strdup_printf("'%s': expected a size such as 20G, or +4G for 4 GiB more",
					 size_text);
		return -1;
	}
	g_autofree char *path = bundle_path(c->dir, c->cfg.drives[slot].file);
	struct block_dev *bd = block_open(path, false, error);
	if (!bd)
		return -1;
	uint64_t old = block_size(bd);
	int ret = block_grow(bd, relative ? old + size : size, error);
	uint64_t now = block_size(bd);
	block_close(bd);
	if (ret < 0)
		return -1;
	g_autofree char *from = g_format_size_full(old, G_FORMAT_SIZE_IEC_UNITS);
	g_autofree char *to = g_format_size_full(now, G_FORMAT_SIZE_IEC_UNITS);
	if (old == now)
		printf("%s: %s stays %s\n", vm_drive_slot_name(slot), c->cfg.drives[slot].file, to);
	else
		printf("%s: %s grown from %s to %s (%" PRIu64 " bytes)\n", vm_drive_slot_name(slot),
		       c->cfg.drives[slot].file, from, to, now);
	return 0;
}

int cli_disk(int argc, char **argv)
{
	g_autofree char *size = NULL, *slot = NULL;
	gboolean delete_file = FALSE;
	const GOptionEntry entries[] = {
		{ "size", 0, 0, G_OPTION_ARG_STRING, &size, "add: the new disk's size (default 8G)",
		  "SIZE" },
		{ "slot", 0, 0, G_OPTION_ARG_STRING, &slot,
		  "add: the slot, ide0:0 to ide1:1 or scsi0:0 to scsi0:6 (default: the first free "
		  "IDE one)",
		  "SLOT" },
		{ "delete-file", 0, 0, G_OPTION_ARG_NONE, &delete_file,
		  "remove: also delete the image (only one inside the bundle)", NULL },
		{ NULL },
	};
	g_autoptr(GOptionContext) ctx = g_option_context_new("add|remove|grow DIR ... - hard disks");
	g_option_context_add_main_entries(ctx, entries, NULL);
	g_autoptr(GError) err = NULL;
	if (!g_option_context_parse(ctx, &argc, &argv, &err))
		return settings_fail(g_strdup_printf("%s (see --help)", err->message));
	const char *op = argc > 1 ? argv[1] : "";
	bool add = !strcmp(op, "add") && argc == 3, remove = !strcmp(op, "remove") && argc == 4,
	     grow = !strcmp(op, "grow") && argc == 5;
	if (!add && !remove && !grow)
		return settings_fail(g_strdup(disk_usage));
	if ((size || slot) && !add)
		return settings_fail(g_strdup("--size and --slot are for add"));
	if (delete_file && !remove)
		return settings_fail(g_strdup("--delete-file is for remove"));
	struct disk_ctx c;
	char *error = NULL;
	int ret = disk_open(&c, argv[2], &error);
	if (ret == 0 && add)
		ret = disk_add(&c, size ? size : DISK_DEFAULT_SIZE, slot, &error);
	else if (ret == 0 && remove)
		ret = disk_remove(&c, argv[3], delete_file, &error);
	else if (ret == 0)
		ret = disk_grow(&c, argv[3], argv[4], &error);
	disk_close(&c);
	return ret < 0 ? settings_fail(error) : 0;
}
