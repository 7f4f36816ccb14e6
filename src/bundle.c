#include "bundle.h"

#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>
#include <uuid/uuid.h>

#include "block/block.h"

char *bundle_path(const char *dir, const char *name)
{
	if (g_path_is_absolute(name))
		return g_strdup(name);
	return g_build_filename(dir, name, NULL);
}

/* vm.conf is UTF-8 text (vm_config_load refuses anything else), and file names on Linux need
 * not be: such a name cannot go into it, or the VM would no longer start. */
static int bundle_check_utf8(const char *path, char **error)
{
	if (g_utf8_validate(path, -1, NULL))
		return 0;
	g_autofree char *shown = g_filename_display_name(path);
	*error = g_strdup_printf("%s: vm.conf holds UTF-8 text, and this file name is not: "
				 "rename the file",
				 shown);
	return -1;
}

static char *bundle_default_name(const char *dir)
{
	g_autofree char *canon = g_canonicalize_filename(dir, NULL);
	g_autofree char *base = g_path_get_basename(canon);
	if (g_str_has_suffix(base, ".pcvm"))
		base[strlen(base) - 5] = '\0';
	return g_utf8_make_valid(base, -1); /* a name to show: vm.conf is UTF-8 */
}

/* Checks that an existing image (a disk or an ISO) opens, and returns its absolute path. */
static char *bundle_adopt_disk(const char *disk, char **error)
{
	g_autofree char *path = g_canonicalize_filename(disk, NULL);
	if (bundle_check_utf8(path, error) < 0)
		return NULL;
	struct block_dev *bd = block_open(disk, true, error);
	if (!bd)
		return NULL;
	block_close(bd);
	return g_steal_pointer(&path);
}

int bundle_nic_from_spec(struct vm_nic *nic, const char *spec, char **error)
{
	static const struct {
		const char *prefix;
		size_t field; /* where the text after the prefix goes; 0: no argument */
	} kinds[] = {
		{ "nat", 0 },
		{ "none", 0 },
		{ "bridged:", offsetof(struct vm_nic, bridge) },
		{ "hostonly:", offsetof(struct vm_nic, network) },
	};
	spec = spec ? spec : "nat";
	for (size_t i = 0; i < G_N_ELEMENTS(kinds); i++) {
		size_t n = strlen(kinds[i].prefix);
		if (kinds[i].field ? strncmp(spec, kinds[i].prefix, n) || !spec[n]
				   : strcmp(spec, kinds[i].prefix))
			continue;
		if (!strcmp(spec, "none"))
			return 0;
		nic->present = true;
		nic->model = g_strdup("e1000");
		nic->mode = g_strndup(spec, kinds[i].field ? n - 1 : n);
		if (kinds[i].field)
			*(char **)((char *)nic + kinds[i].field) = g_strdup(spec + n);
		return 0;
	}
	*error = g_strdup_printf("--net %s: expected nat, none, bridged:BRIDGE or hostonly:NETWORK",
				 spec);
	return -1;
}

int bundle_create(const char *dir, const struct bundle_create_opts *o, char **error)
{
	g_autofree char *conf = bundle_path(dir, BUNDLE_CONF);
	if (g_file_test(conf, G_FILE_TEST_EXISTS)) {
		*error = g_strdup_printf("%s already holds a VM (%s exists)", dir, conf);
		return -1;
	}
	struct vm_config cfg;
	vm_config_init(&cfg);
	struct vm_drive *drive = o->disk_scsi ? &cfg.scsi[0] : &cfg.ide[0];
	if (bundle_nic_from_spec(&cfg.net[0], o->net, error) < 0) {
		vm_config_clear(&cfg);
		return -1;
	}
	if (o->disk && !(drive->file = bundle_adopt_disk(o->disk, error))) {
		vm_config_clear(&cfg);
		return -1;
	}
	if (o->cdrom) {
		cfg.ide[2].type = g_strdup("cdrom"); /* the secondary master, as on most PCs */
		cfg.ide[2].file = bundle_adopt_disk(o->cdrom, error);
		if (!cfg.ide[2].file) {
			vm_config_clear(&cfg);
			return -1;
		}
	}
	if (g_mkdir_with_parents(dir, 0755) < 0) {
		*error = g_strdup_printf("%s: %s", dir, strerror(errno));
		vm_config_clear(&cfg);
		return -1;
	}
	if (!o->disk) {
		g_autofree char *disk = bundle_path(dir, "disk0.qcow2");
		uint64_t size = o->disk_size ? o->disk_size : BUNDLE_DEFAULT_DISK_SIZE;
		if (block_create_qcow2(disk, size, NULL, error) < 0) {
			vm_config_clear(&cfg);
			return -1;
		}
		drive->file = g_strdup("disk0.qcow2");
	}
	drive->type = g_strdup("disk");
	cfg.name = o->name ? g_strdup(o->name) : bundle_default_name(dir);
	uuid_t uu;
	uuid_generate(uu);
	cfg.uuid = g_malloc(37);
	uuid_unparse_lower(uu, cfg.uuid);
	if (o->memory_mib)
		cfg.memory_mib = o->memory_mib;
	if (o->cpus)
		cfg.cpus = o->cpus;
	cfg.test_exit = o->test_exit;
	if (cfg.net[0].present) { /* written out, so that the user sees and can keep it */
		uint8_t mac[6];
		vm_nic_mac(&cfg, 0, mac);
		cfg.net[0].mac = g_strdup_printf("%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1],
						 mac[2], mac[3], mac[4], mac[5]);
	}
	int ret = vm_config_save(&cfg, conf, error);
	vm_config_clear(&cfg);
	return ret;
}

int bundle_load_config(const char *dir, struct vm_config *cfg, char **error)
{
	g_autofree char *conf = bundle_path(dir, BUNDLE_CONF);
	if (!g_file_test(dir, G_FILE_TEST_IS_DIR)) {
		*error = g_strdup_printf("%s: no such VM bundle (create one with 'pcvm create')", dir);
		return -1;
	}
	if (!g_file_test(conf, G_FILE_TEST_EXISTS)) {
		*error = g_strdup_printf("%s: not a VM bundle (no %s)", dir, BUNDLE_CONF);
		return -1;
	}
	return vm_config_load(cfg, conf, error);
}

static char *bundle_running_pid(const char *dir)
{
	g_autofree char *pidfile = g_build_filename(dir, "run", "pid", NULL);
	char *pid = NULL;
	if (g_file_get_contents(pidfile, &pid, NULL, NULL))
		g_strstrip(pid);
	return pid;
}

int bundle_lock(const char *dir, int *lock_fd, char **error)
{
	g_autofree char *rundir = g_build_filename(dir, "run", NULL);
	g_autofree char *lockfile = g_build_filename(rundir, "lock", NULL);
	if (g_mkdir_with_parents(rundir, 0755) < 0) {
		*error = g_strdup_printf("%s: %s", rundir, strerror(errno));
		return -1;
	}
	int fd = open(lockfile, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0) {
		*error = g_strdup_printf("%s: %s", lockfile, strerror(errno));
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		g_autofree char *pid = bundle_running_pid(dir);
		*error = g_strdup_printf("%s is already running (pid %s)", dir, pid ? pid : "?");
		close(fd);
		return -1;
	}
	g_autofree char *pidfile = g_build_filename(rundir, "pid", NULL);
	g_autofree char *pid = g_strdup_printf("%d\n", getpid());
	g_file_set_contents(pidfile, pid, -1, NULL);
	*lock_fd = fd;
	return 0;
}

void bundle_unlock(const char *dir, int lock_fd)
{
	g_autofree char *pidfile = g_build_filename(dir, "run", "pid", NULL);
	g_unlink(pidfile);
	close(lock_fd);
}

int bundle_set_string_list(const char *dir, const char *group, const char *key,
			   const char *const *list, char **error)
{
	g_autofree char *conf = bundle_path(dir, BUNDLE_CONF);
	g_autoptr(GKeyFile) kf = g_key_file_new();
	g_autoptr(GError) err = NULL;
	for (const char *const *s = list; s && *s; s++)
		if (bundle_check_utf8(*s, error) < 0)
			return -1;
	if (!g_key_file_load_from_file(kf, conf, G_KEY_FILE_KEEP_COMMENTS, &err))
		goto fail;
	if (list && list[0])
		g_key_file_set_string_list(kf, group, key, list, g_strv_length((char **)list));
	else
		g_key_file_remove_key(kf, group, key, NULL);
	if (g_key_file_save_to_file(kf, conf, &err))
		return 0;
fail:
	*error = g_strdup_printf("%s: %s", conf, err->message);
	return -1;
}

int bundle_set_drive_file(const char *dir, const char *slot, const char *file, char **error)
{
	g_autofree char *conf = bundle_path(dir, BUNDLE_CONF);
	g_autoptr(GKeyFile) kf = g_key_file_new();
	g_autoptr(GError) err = NULL;
	if (file && bundle_check_utf8(file, error) < 0)
		return -1;
	if (!g_key_file_load_from_file(kf, conf, G_KEY_FILE_KEEP_COMMENTS, &err) ||
	    (g_key_file_set_string(kf, slot, "file", file ? file : ""), FALSE) ||
	    !g_key_file_save_to_file(kf, conf, &err)) {
		*error = g_strdup_printf("%s: %s", conf, err->message);
		return -1;
	}
	return 0;
}
