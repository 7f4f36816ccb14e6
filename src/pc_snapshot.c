/*
 * Snapshots of a running machine (design.md, "Snapshots"; issue 5): the disks' qcow2 internal
 * snapshots, the device, CPU and in-kernel state (ID.state), guest RAM and VRAM (ID.ram,
 * ID.vram: sparse files restored copy-on-write) and a thumbnail (ID.png), tied together by the
 * tree in snapshots/index.conf.
 *
 * Crash safety: a snapshot exists once index.conf lists it, and index.conf is written last
 * (atomically). Files and disk snapshots of an id the tree does not list are leftovers of an
 * interrupted take and are removed by the next operation (pc_snapshot_tidy).
 */
#include <errno.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "block/block.h"
#include "devices/vga.h"
#include "kvm/cpu_state.h"
#include "log.h"
#include "pc_internal.h"
#include "snapshot/ram.h"
#include "snapshot/tree.h"
#include "state.h"
#include "ui/screenshot.h"
#include "ui/vnc.h"

#define SNAP_SUSPEND_ID "suspend"

static char *snap_path(const struct pc *pc, const char *id, const char *ext)
{
	g_autofree char *file = id ? g_strconcat(id, ext, NULL) : g_strdup(ext);
	return g_build_filename(pc->bundle_dir, "snapshots", file, NULL);
}

static int snap_load_tree(struct pc *pc, struct snapshot_tree *t, char **error)
{
	g_autofree char *dir = g_build_filename(pc->bundle_dir, "snapshots", NULL);
	if (g_mkdir_with_parents(dir, 0755) < 0) {
		*error = g_strdup_printf("%s: %s", dir, strerror(errno));
		return -1;
	}
	g_autofree char *index = snap_path(pc, NULL, "index.conf");
	snapshot_tree_init(t);
	return snapshot_tree_load(t, index, error);
}

static int snap_save_tree(struct pc *pc, const struct snapshot_tree *t, char **error)
{
	g_autofree char *index = snap_path(pc, NULL, "index.conf");
	return snapshot_tree_save(t, index, error);
}

/* Every writable disk must be qcow2: internal snapshots live in the image. */
static int snap_check_disks(struct pc *pc, char **error)
{
	for (unsigned i = 0; i < VM_IDE_SLOTS; i++) {
		if (pc->drive_kind[i] != IDE_KIND_DISK || !pc->disks[i])
			continue;
		if (strcmp(pc->disks[i]->drv->name, "qcow2")) {
			*error = g_strdup_printf("disk [%s] is %s: snapshots need qcow2 disks — convert "
						 "it with 'qemu-img convert -O qcow2 %s NEW.qcow2' and "
						 "point vm.conf at the new file",
						 vm_ide_slot_name(i), pc->disks[i]->drv->name,
						 pc->disks[i]->path);
			return -1;
		}
	}
	return 0;
}

static void snap_drain(struct pc *pc)
{
	for (unsigned i = 0; i < VM_IDE_SLOTS; i++)
		if (pc->disks[i])
			block_drain(pc->disks[i]);
}

/* ---- the state file ---- */

static int snap_write_state(struct pc *pc, const char *path, char **error)
{
	struct state_writer *w = state_writer_new();
	GByteArray *buf = g_byte_array_new();
	int ret = 0;
	for (guint i = 0; i < pc->devices->len && ret == 0; i++) {
		struct pc_device *d = &g_array_index(pc->devices, struct pc_device, i);
		g_byte_array_set_size(buf, 0);
		pthread_mutex_t *lock = d->cls->lock(d->dev);
		pthread_mutex_lock(lock);
		state_save(d->cls->state, d->dev, buf);
		pthread_mutex_unlock(lock);
		state_writer_add(w, d->cls->state->name, i, d->cls->state->version, buf->data, buf->len);
	}
	g_byte_array_set_size(buf, 0);
	ret = vm_kernel_state_save(&pc->kvm, buf, error);
	if (ret == 0)
		state_writer_add(w, "kvm", 0, 1, buf->data, buf->len);
	for (unsigned i = 0; i < pc->ncpus && ret == 0; i++) {
		g_byte_array_set_size(buf, 0);
		ret = cpu_state_save(pc->vcpus[i].fd, &pc->kvm, buf, error);
		if (ret == 0)
			state_writer_add(w, "cpu", i, 1, buf->data, buf->len);
	}
	g_byte_array_free(buf, TRUE);
	GByteArray *file = state_writer_finish(w);
	g_autoptr(GError) err = NULL;
	if (ret == 0 && !g_file_set_contents(path, (const char *)file->data, file->len, &err)) {
		*error = g_strdup_printf("%s: %s", path, err->message);
		ret = -1;
	}
	g_byte_array_free(file, TRUE);
	return ret;
}

/* Parses and checks the whole state file against this machine before anything is changed. */
static GArray *snap_read_state(struct pc *pc, const char *path, GBytes **bytes, char **error)
{
	g_autoptr(GError) err = NULL;
	gchar *data;
	gsize len;
	if (!g_file_get_contents(path, &data, &len, &err)) {
		*error = g_strdup_printf("%s: %s", path, err->message);
		return NULL;
	}
	*bytes = g_bytes_new_take(data, len);
	char *why = NULL;
	GArray *sections = state_file_parse((const uint8_t *)data, len, &why);
	if (!sections) {
		*error = g_strdup_printf("%s: %s", path, why);
		g_free(why);
		return NULL;
	}
	for (guint i = 0; i < pc->devices->len; i++) {
		struct pc_device *d = &g_array_index(pc->devices, struct pc_device, i);
		const struct state_section *s = state_sections_find(sections, d->cls->state->name, i);
		if (!s || s->version > d->cls->state->version) {
			*error = g_strdup_printf("%s: no usable state for device %s (a different "
						 "machine or a newer pcvm?)",
						 path, d->cls->name);
			state_sections_free(sections);
			return NULL;
		}
	}
	for (unsigned i = 0; i < pc->ncpus; i++) {
		if (!state_sections_find(sections, "cpu", i) || !state_sections_find(sections, "kvm", 0)) {
			*error = g_strdup_printf("%s: CPU %u or the interrupt controllers missing "
						 "(the VM's CPU count changed?)",
						 path, i);
			state_sections_free(sections);
			return NULL;
		}
	}
	return sections;
}

static int snap_load_devices(struct pc *pc, GArray *sections, char **error)
{
	for (guint i = 0; i < pc->devices->len; i++) {
		struct pc_device *d = &g_array_index(pc->devices, struct pc_device, i);
		const struct state_section *s = state_sections_find(sections, d->cls->state->name, i);
		pthread_mutex_t *lock = d->cls->lock(d->dev);
		pthread_mutex_lock(lock);
		int ret = state_load(d->cls->state, d->dev, s->payload, s->len, error);
		pthread_mutex_unlock(lock);
		if (ret < 0)
			return -1;
	}
	return 0;
}

static int snap_load_cpus(struct pc *pc, GArray *sections, char **error)
{
	const struct state_section *k = state_sections_find(sections, "kvm", 0);
	if (vm_kernel_state_load(&pc->kvm, k->payload, k->len, error) < 0)
		return -1;
	for (unsigned i = 0; i < pc->ncpus; i++) {
		const struct state_section *c = state_sections_find(sections, "cpu", i);
		if (cpu_state_load(pc->vcpus[i].fd, &pc->kvm, c->payload, c->len, error) < 0)
			return -1;
	}
	return 0;
}

/* ---- operations ---- */

/* Undoing work after a failure: a second error is logged, the first one is reported. */
static void snap_undo_disks(struct pc *pc, const char *id);

static void snap_remove_files(struct pc *pc, const char *id)
{
	static const char *const exts[] = { ".state", ".ram", ".vram", ".png" };
	for (size_t i = 0; i < G_N_ELEMENTS(exts); i++) {
		g_autofree char *p = snap_path(pc, id, exts[i]);
		g_unlink(p);
	}
}

static int snap_disks(struct pc *pc, int (*op)(struct block_dev *, const char *, char **),
		      const char *id, char **error)
{
	for (unsigned i = 0; i < VM_IDE_SLOTS; i++)
		if (pc->drive_kind[i] == IDE_KIND_DISK && pc->disks[i] &&
		    op(pc->disks[i], id, error) < 0)
			return -1;
	return 0;
}

/* A disk snapshot with an id the tree does not list is what an interrupted take left: it
 * goes before the new one takes the id. */
static int snap_disk_create(struct block_dev *bd, const char *id, char **error)
{
	char *ignored = NULL;
	block_snapshot_delete(bd, id, &ignored);
	g_free(ignored);
	return block_snapshot_create(bd, id, id, 0, error);
}

/* For the CLI while the VM is off: disk-only operations on the images themselves. */

static void snap_undo_disks(struct pc *pc, const char *id)
{
	for (unsigned i = 0; i < VM_IDE_SLOTS; i++) {
		char *error = NULL;
		if (pc->drive_kind[i] == IDE_KIND_DISK && pc->disks[i] &&
		    block_snapshot_delete(pc->disks[i], id, &error) < 0 && error) {
			log_info("disk [%s]: %s", vm_ide_slot_name(i), error);
		}
		g_free(error);
	}
}

/* A vCPU parked right after an I/O exit has not consumed its result yet (cpu_state.h). */
static int snap_complete_io(struct pc *pc, char **error)
{
	for (unsigned i = 0; i < pc->ncpus; i++)
		if (cpu_state_complete_io(pc->vcpus[i].fd, pc->vcpus[i].run, error) < 0)
			return -1;
	return 0;
}

static int snap_write_ram(struct pc *pc, const char *ram, const char *vram, char **error)
{
	if (ram_save(pc->ram, pc->ram_size, ram, error) < 0)
		return -1;
	return ram_save(vga_vram(pc->vga), vga_vram_size(pc->vga), vram, error);
}

/*
 * The guest is held only to capture its state: a child process, forked while the vCPUs are
 * stopped, holds a copy-on-write image of RAM and VRAM as they were and writes it out while
 * the guest runs on. The child uses no lock another thread could have held at the fork (glibc
 * makes malloc safe in it; it does not log).
 */
static pid_t snap_fork_ram_writer(struct pc *pc, const char *ram, const char *vram)
{
	fflush(NULL);
	pid_t pid = fork();
	if (pid != 0)
		return pid; /* the parent, or -1 */
	char *error = NULL;
	if (snap_write_ram(pc, ram, vram, &error) < 0) {
		if (write(STDERR_FILENO, error, strlen(error)) < 0)
			_exit(2);
		_exit(1);
	}
	_exit(0);
}

static int snap_wait_ram_writer(pid_t pid, const char *ram, char **error)
{
	int status;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR) {
			*error = g_strdup_printf("waiting for the RAM writer: %s", strerror(errno));
			return -1;
		}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	*error = g_strdup_printf("%s: writing guest RAM failed (see the VM's stderr)", ram);
	return -1;
}

int pc_snapshot_take(struct pc *pc, const char *name, const char *description, char **id_out,
		     char **error)
{
	struct snapshot_tree t;
	if (snap_check_disks(pc, error) < 0 || snap_load_tree(pc, &t, error) < 0)
		return -1;
	int64_t t0 = g_get_monotonic_time();
	pc_vcpus_hold(pc, true);
	snap_drain(pc);
	struct snapshot_node *n = snapshot_tree_add(&t, name, description, g_get_real_time() / 1000000,
						    true);
	g_autofree char *state = snap_path(pc, n->id, ".state");
	g_autofree char *ram = snap_path(pc, n->id, ".ram");
	g_autofree char *vram = snap_path(pc, n->id, ".vram");
	g_autofree char *png = snap_path(pc, n->id, ".png");
	int ret = snap_complete_io(pc, error);
	if (ret == 0)
		ret = snap_write_state(pc, state, error);
	if (ret == 0)
		ret = snap_disks(pc, snap_disk_create, n->id, error);
	pid_t writer = ret == 0 ? snap_fork_ram_writer(pc, ram, vram) : -1;
	if (ret == 0 && writer < 0) /* no fork: write RAM with the guest held */
		ret = snap_write_ram(pc, ram, vram, error);
	int64_t paused_us = g_get_monotonic_time() - t0;
	pc_vcpus_hold(pc, false);
	if (writer > 0)
		ret = snap_wait_ram_writer(writer, ram, error);
	if (ret == 0) {
		const struct display_surface *s = vnc_server_refresh(pc->vnc);
		char *shot_err = NULL;
		if (s && s->width && screenshot_write_png(s, png, &shot_err) < 0) {
			log_warn("snapshot thumbnail: %s", shot_err);
			g_free(shot_err);
		}
		ret = snap_save_tree(pc, &t, error); /* from here the snapshot exists */
	}
	if (ret < 0) {
		snap_undo_disks(pc, n->id);
		snap_remove_files(pc, n->id);
	} else {
		log_info("snapshot %s '%s' taken; guest paused %.1f ms", n->id, n->name,
			 paused_us / 1000.0);
		*id_out = g_strdup(n->id);
	}
	snapshot_tree_clear(&t);
	return ret;
}

/* The disks, the devices, RAM and VRAM (mapped copy-on-write), then a new KVM VM with the
 * CPUs' and interrupt controllers' state. The checks were made before: a failure here leaves a
 * machine that cannot run, and it stops. */
/* The RAM and VRAM files exist and have this machine's sizes: checked before a revert
 * changes anything, since a failure after that point stops the VM. */
static int snap_check_ram_files(struct pc *pc, const char *id, char **error)
{
	static const char *const exts[] = { ".ram", ".vram" };
	for (size_t i = 0; i < G_N_ELEMENTS(exts); i++) {
		g_autofree char *path = snap_path(pc, id, exts[i]);
		uint64_t want = i == 0 ? pc->ram_size : vga_vram_size(pc->vga);
		GStatBuf st;
		if (g_stat(path, &st) < 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size != want) {
			*error = g_strdup_printf("%s: %s (the VM keeps running as it was)", path,
						 g_stat(path, &st) < 0 ? g_strerror(errno)
									: "not this VM's size");
			return -1;
		}
	}
	return 0;
}

static int snap_apply(struct pc *pc, const char *id, GArray *sections, char **error)
{
	g_autofree char *ram = snap_path(pc, id, ".ram");
	g_autofree char *vram = snap_path(pc, id, ".vram");
	pc_vcpus_hold(pc, true);
	snap_drain(pc);
	pc_cpus_off(pc);
	/* a suspended VM's disks are as it left them: only snapshots revert disks */
	bool disks = strcmp(id, SNAP_SUSPEND_ID) != 0;
	if ((disks && snap_disks(pc, block_snapshot_goto, id, error) < 0) ||
	    ram_restore_map(pc->ram, pc->ram_size, ram, error) < 0 ||
	    ram_restore_map(vga_vram(pc->vga), vga_vram_size(pc->vga), vram, error) < 0 ||
	    snap_load_devices(pc, sections, error) < 0 || pc_cpus_build(pc, error) < 0 ||
	    snap_load_cpus(pc, sections, error) < 0 || pc_cpus_start(pc, error) < 0) {
		log_error("restoring %s failed: %s", id, *error);
		machine_request_exit(&pc->hooks, 1, "restore failed");
		return -1;
	}
	return 0;
}

/* ---- suspend to disk ---- */

/* Saves the whole machine in snapshots/suspend.* (the disks stay as they are) and powers off;
 * the next start resumes there (pc_resume_suspended). */
int pc_suspend(struct pc *pc, char **error)
{
	g_autofree char *state = snap_path(pc, SNAP_SUSPEND_ID, ".state");
	g_autofree char *ram = snap_path(pc, SNAP_SUSPEND_ID, ".ram");
	g_autofree char *vram = snap_path(pc, SNAP_SUSPEND_ID, ".vram");
	struct snapshot_tree t;
	if (snap_load_tree(pc, &t, error) < 0) /* makes snapshots/ */
		return -1;
	snapshot_tree_clear(&t);
	pc_vcpus_hold(pc, true);
	snap_drain(pc);
	int ret = snap_complete_io(pc, error);
	if (ret == 0)
		ret = snap_write_ram(pc, ram, vram, error);
	for (unsigned i = 0; ret == 0 && i < VM_IDE_SLOTS; i++)
		if (pc->disks[i] && pc->drive_kind[i] == IDE_KIND_DISK)
			ret = block_flush(pc->disks[i]);
	/* the state file last: it is what says "suspended" */
	if (ret == 0)
		ret = snap_write_state(pc, state, error);
	if (ret < 0) {
		if (!*error)
			*error = g_strdup("flushing the disks failed");
		snap_remove_files(pc, SNAP_SUSPEND_ID);
		pc_vcpus_hold(pc, false);
		return -1;
	}
	machine_request_exit(&pc->hooks, 0, "suspended to disk");
	return 0;
}

bool pc_resume_suspended(struct pc *pc, char **error)
{
	g_autofree char *state = snap_path(pc, SNAP_SUSPEND_ID, ".state");
	if (!g_file_test(state, G_FILE_TEST_EXISTS))
		return false;
	GBytes *bytes = NULL;
	GArray *sections = snap_read_state(pc, state, &bytes, error);
	bool ok = sections && snap_apply(pc, SNAP_SUSPEND_ID, sections, error) == 0;
	if (ok) {
		pc_vcpus_hold(pc, false);
		snap_remove_files(pc, SNAP_SUSPEND_ID); /* RAM stays mapped from the unlinked file */
		log_info("resumed from suspend");
	}
	if (sections)
		state_sections_free(sections);
	if (bytes)
		g_bytes_unref(bytes);
	if (!ok && !*error)
		*error = g_strdup("cannot resume");
	return true;
}

/* Revert to a snapshot with memory: every check before the first change. */
int pc_snapshot_revert(struct pc *pc, const char *which, char **error)
{
	struct snapshot_tree t;
	if (snap_load_tree(pc, &t, error) < 0)
		return -1;
	struct snapshot_node *n = snapshot_tree_lookup(&t, which);
	int ret = -1;
	GBytes *bytes = NULL;
	GArray *sections = NULL;
	int64_t t0 = g_get_monotonic_time();
	if (!n) {
		*error = g_strdup_printf("no snapshot '%s'", which);
	} else if (!n->has_memory) {
		*error = g_strdup_printf("snapshot %s was taken powered off: stop the VM and "
					 "revert it then",
					 n->id);
	} else {
		g_autofree char *state = snap_path(pc, n->id, ".state");
		sections = snap_read_state(pc, state, &bytes, error);
		if (sections && snap_check_ram_files(pc, n->id, error) < 0) {
			state_sections_free(sections);
			sections = NULL;
		}
		if (sections && snap_apply(pc, n->id, sections, error) == 0) {
			g_free(t.current);
			t.current = g_strdup(n->id);
			ret = snap_save_tree(pc, &t, error);
			pc_vcpus_hold(pc, false);
			log_info("reverted to snapshot %s '%s' in %.1f ms", n->id, n->name,
				 (g_get_monotonic_time() - t0) / 1000.0);
		}
	}
	if (sections)
		state_sections_free(sections);
	if (bytes)
		g_bytes_unref(bytes);
	snapshot_tree_clear(&t);
	return ret;
}

int pc_snapshot_delete(struct pc *pc, const char *which, char **error)
{
	struct snapshot_tree t;
	if (snap_load_tree(pc, &t, error) < 0)
		return -1;
	struct snapshot_node *n = snapshot_tree_lookup(&t, which);
	int ret = -1;
	if (!n) {
		*error = g_strdup_printf("no snapshot '%s'", which);
	} else {
		g_autofree char *id = g_strdup(n->id);
		snap_drain(pc);
		/* the tree first: an interrupted delete leaves files the next tidy removes */
		if (snapshot_tree_remove(&t, id, error) == 0 && snap_save_tree(pc, &t, error) == 0) {
			snap_undo_disks(pc, id);
			snap_remove_files(pc, id);
			ret = 0;
		}
	}
	snapshot_tree_clear(&t);
	return ret;
}
