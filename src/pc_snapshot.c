/*
 * Snapshots of a running machine (design.md, "Snapshots"; issue 5): the disks' qcow2 internal
 * snapshots, the device, CPU and in-kernel state (ID.state), guest RAM and VRAM (ID.ram,
 * ID.vram: sparse files restored copy-on-write) and a thumbnail (ID.png), tied together by the
 * tree in snapshots/index.conf.
 *
 * Crash safety is as snapshot/offline.h describes (the same files and order as with the VM
 * off): a take writes index.conf last, a delete first, a revert marks itself under way before
 * it changes a disk; snapshot_recover, before every operation and when the VM starts
 * (pc_snapshot_recover), completes an interrupted revert and removes leftovers.
 *
 * Long operations report progress to the control client that asked (control.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "block/block.h"
#include "control.h"
#include "devices/vga.h"
#include "kvm/cpu_state.h"
#include "log.h"
#include "pc_internal.h"
#include "snapshot/offline.h"
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

/* The VM's hard disks (NULL where a slot has none), as snapshot_recover takes them. */
static void snap_disk_list(struct pc *pc, struct block_dev *out[VM_DRIVE_SLOTS])
{
	for (unsigned i = 0; i < VM_DRIVE_SLOTS; i++)
		out[i] = pc->drive_kind[i] == IDE_KIND_DISK ? pc->disks[i] : NULL;
}

/* Loads the tree; removes the leftovers of interrupted operations (offline.h). */
static int snap_load_tree(struct pc *pc, struct snapshot_tree *t, char **error)
{
	g_autofree char *dir = g_build_filename(pc->bundle_dir, "snapshots", NULL);
	if (g_mkdir_with_parents(dir, 0755) < 0) {
		*error = g_strdup_printf("%s: %s", dir, strerror(errno));
		return -1;
	}
	g_autofree char *index = snap_path(pc, NULL, "index.conf");
	snapshot_tree_init(t);
	if (snapshot_tree_load(t, index, error) < 0)
		return -1;
	struct block_dev *disks[VM_DRIVE_SLOTS];
	snap_disk_list(pc, disks);
	snapshot_tidy(pc->bundle_dir, t, disks, VM_DRIVE_SLOTS);
	return 0;
}

static int snap_save_tree(struct pc *pc, const struct snapshot_tree *t, char **error)
{
	g_autofree char *index = snap_path(pc, NULL, "index.conf");
	return snapshot_tree_save(t, index, error);
}

/* Every writable disk must be qcow2: internal snapshots live in the image. */
static int snap_check_disks(struct pc *pc, char **error)
{
	for (unsigned i = 0; i < VM_DRIVE_SLOTS; i++) {
		if (pc->drive_kind[i] != IDE_KIND_DISK || !pc->disks[i])
			continue;
		if (strcmp(pc->disks[i]->drv->name, "qcow2")) {
			*error = g_strdup_printf("disk [%s] is %s: snapshots need qcow2 disks — convert "
						 "it with 'qemu-img convert -O qcow2 %s NEW.qcow2' and "
						 "point vm.conf at the new file",
						 vm_drive_slot_name(i), pc->disks[i]->drv->name,
						 pc->disks[i]->path);
			return -1;
		}
	}
	return 0;
}

static void snap_drain(struct pc *pc)
{
	for (unsigned i = 0; i < VM_DRIVE_SLOTS; i++)
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

/* WHY without PREFIX: a message that starts by naming the device need not name it twice. */
static const char *snap_strip_prefix(const char *why, const char *prefix)
{
	return g_str_has_prefix(why, prefix) ? why + strlen(prefix) : why;
}

/*
 * Every section snap_apply would load, checked as its load checks it but with nothing applied:
 * each device's fields against its state description and class (state_check, on a scratch
 * copy), the CPUs' and in-kernel chips' payloads without an ioctl that changes anything. A
 * content refusal found only while loading would stop the VM. LABEL starts the message
 * ("snapshot 3"), SUFFIX ends it.
 */
static int snap_check_sections(struct pc *pc, const char *label, GArray *sections,
			       const char *suffix, char **error)
{
	char *why = NULL;
	g_autofree char *what = NULL, *prefix = NULL;
	for (guint i = 0; i < pc->devices->len && !why; i++) {
		struct pc_device *d = &g_array_index(pc->devices, struct pc_device, i);
		const struct state_section *s =
			state_sections_find(sections, d->cls->state->name, i);
		pthread_mutex_t *lock = d->cls->lock(d->dev);
		pthread_mutex_lock(lock);
		if (state_check(d->cls->state, d->dev, s->payload, s->len, &why) < 0) {
			what = g_strdup(d->cls->name);
			prefix = g_strconcat(d->cls->state->name, ": ", NULL);
		}
		pthread_mutex_unlock(lock);
	}
	const struct state_section *k = state_sections_find(sections, VM_KERNEL_STATE_SECTION, 0);
	if (!why && vm_kernel_state_validate(&pc->kvm, k->payload, k->len, &why) < 0) {
		what = g_strdup("KVM (interrupt controllers, timer, clock)");
		prefix = g_strdup("KVM state: ");
	}
	for (unsigned i = 0; i < pc->ncpus && !why; i++) {
		const struct state_section *c = state_sections_find(sections, CPU_STATE_SECTION, i);
		if (cpu_state_validate(&pc->kvm, c->payload, c->len, &why) < 0) {
			what = g_strdup_printf("CPU %u", i);
			prefix = g_strdup("vCPU state: ");
		}
	}
	if (!why)
		return 0;
	*error = g_strdup_printf("%s: %s state refused: %s (%s)", label, what,
				 snap_strip_prefix(why, prefix), suffix);
	g_free(why);
	return -1;
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

/* ---- disks and files ---- */

static void snap_remove_files(struct pc *pc, const char *id)
{
	for (size_t i = 0; i < G_N_ELEMENTS(snapshot_file_exts); i++) {
		g_autofree char *p = snap_path(pc, id, snapshot_file_exts[i]);
		g_unlink(p);
	}
}

/* OP on every hard disk, with "disks" progress. */
static int snap_disks(struct pc *pc, int (*op)(struct block_dev *, const char *, char **),
		      const char *id, char **error)
{
	struct block_dev *disks[VM_DRIVE_SLOTS];
	snap_disk_list(pc, disks);
	unsigned total = 0, done = 0;
	for (unsigned i = 0; i < VM_DRIVE_SLOTS; i++)
		total += disks[i] != NULL;
	for (unsigned i = 0; i < VM_DRIVE_SLOTS; i++) {
		if (!disks[i])
			continue;
		if (op(disks[i], id, error) < 0)
			return -1;
		control_server_progress(pc->control, "disks", ++done, total);
	}
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

/* Deletes disk snapshot ID wherever it is, with "disks" progress. After a failure (undoing
 * a take) or once the tree no longer lists it (a delete): an error is only logged. */
static void snap_delete_disks(struct pc *pc, const char *id)
{
	struct block_dev *disks[VM_DRIVE_SLOTS];
	snap_disk_list(pc, disks);
	unsigned total = 0, done = 0;
	for (unsigned i = 0; i < VM_DRIVE_SLOTS; i++)
		total += disks[i] != NULL;
	for (unsigned i = 0; i < VM_DRIVE_SLOTS; i++) {
		char *error = NULL;
		if (!disks[i])
			continue;
		if (block_snapshot_delete(disks[i], id, &error) < 0 && error)
			log_info("disk [%s]: %s", vm_drive_slot_name(i), error);
		g_free(error);
		control_server_progress(pc->control, "disks", ++done, total);
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

/* ---- writing RAM ---- */

/* "ram" progress over RAM and VRAM together: reported to the control client, or written to
 * FD (the forked writer's pipe to its parent) as two uint64_t: done, total. */
struct snap_ram_progress {
	struct pc *pc;
	int fd;
	uint64_t base, total;
};

static void snap_ram_progress(void *opaque, uint64_t done, uint64_t total)
{
	struct snap_ram_progress *p = opaque;
	uint64_t msg[2] = { p->base + done, p->total };
	if (p->fd < 0)
		control_server_progress(p->pc->control, "ram", msg[0], msg[1]);
	else if (write(p->fd, msg, sizeof(msg)) < 0)
		p->fd = -2; /* the parent stopped listening: go on without */
}

static int snap_write_ram(struct pc *pc, const char *ram, const char *vram, int progress_fd,
			  char **error)
{
	struct snap_ram_progress p = {
		.pc = pc, .fd = progress_fd, .total = pc->ram_size + vga_vram_size(pc->vga),
	};
	if (ram_save_progress(pc->ram, pc->ram_size, ram, snap_ram_progress, &p, error) < 0)
		return -1;
	p.base = pc->ram_size;
	return ram_save_progress(vga_vram(pc->vga), vga_vram_size(pc->vga), vram, snap_ram_progress,
				 &p, error);
}

/*
 * The guest is held only to capture its state: a child process, forked while the vCPUs are
 * stopped, holds a copy-on-write image of RAM and VRAM as they were and writes it out while
 * the guest runs on, reporting progress on a pipe (*PROGRESS_FD, the parent's end). The child
 * uses no lock another thread could have held at the fork (glibc makes malloc safe in it; it
 * does not log), and dies with its parent: a take whose VM was killed never completes, and a
 * writer left over could only get in the way of the next take.
 */
static pid_t snap_fork_ram_writer(struct pc *pc, const char *ram, const char *vram,
				  int *progress_fd)
{
	int pipefd[2];
	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return -1;
	pid_t parent = getpid();
	fflush(NULL);
	pid_t pid = fork();
	if (pid != 0) { /* the parent, or -1 */
		close(pipefd[1]);
		if (pid < 0)
			close(pipefd[0]);
		*progress_fd = pid < 0 ? -1 : pipefd[0];
		return pid;
	}
	close(pipefd[0]);
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
		_exit(3);
	char *error = NULL;
	if (snap_write_ram(pc, ram, vram, pipefd[1], &error) < 0) {
		if (write(STDERR_FILENO, error, strlen(error)) < 0)
			_exit(2);
		_exit(1);
	}
	_exit(0);
}

/* Passes the writer's progress on until it closes the pipe, then reaps it. */
static int snap_wait_ram_writer(struct pc *pc, pid_t pid, int progress_fd, const char *ram,
				char **error)
{
	uint64_t msg[2];
	for (;;) {
		ssize_t n = read(progress_fd, msg, sizeof(msg));
		if (n < 0 && errno == EINTR)
			continue;
		if (n != sizeof(msg))
			break;
		control_server_progress(pc->control, "ram", msg[0], msg[1]);
	}
	close(progress_fd);
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

/* ---- take ---- */

/* Captures the state in the pause, then writes RAM while the guest runs; *PAUSED_US: how long
 * the guest was held. */
static int snap_take_files(struct pc *pc, const char *id, int64_t *paused_us, char **error)
{
	g_autofree char *state = snap_path(pc, id, ".state");
	g_autofree char *ram = snap_path(pc, id, ".ram");
	g_autofree char *vram = snap_path(pc, id, ".vram");
	int64_t t0 = g_get_monotonic_time();
	pc_vcpus_hold(pc, true);
	snap_drain(pc);
	int ret = snap_complete_io(pc, error);
	if (ret == 0)
		ret = snap_write_state(pc, state, error);
	if (ret == 0)
		ret = snap_disks(pc, snap_disk_create, id, error);
	int progress_fd = -1;
	pid_t writer = ret == 0 ? snap_fork_ram_writer(pc, ram, vram, &progress_fd) : -1;
	if (ret == 0 && writer < 0) /* no fork: write RAM with the guest held */
		ret = snap_write_ram(pc, ram, vram, -1, error);
	*paused_us = g_get_monotonic_time() - t0;
	pc_vcpus_hold(pc, false);
	/* while the writer works: what a revert to it would otherwise do before its pause */
	ram_restore_prepare(pc->ram, pc->ram_size);
	if (writer > 0)
		ret = snap_wait_ram_writer(pc, writer, progress_fd, ram, error);
	return ret;
}

int pc_snapshot_take(struct pc *pc, const char *name, const char *description, char **id_out,
		     char **error)
{
	struct snapshot_tree t;
	if (snap_check_disks(pc, error) < 0 || snap_load_tree(pc, &t, error) < 0)
		return -1;
	if (snapshot_tree_check_room(&t, error) < 0) {
		snapshot_tree_clear(&t);
		return -1;
	}
	struct snapshot_node *n = snapshot_tree_add(&t, name, description, g_get_real_time() / 1000000,
						    true);
	int64_t paused_us = 0;
	int ret = snap_take_files(pc, n->id, &paused_us, error);
	if (ret == 0) {
		g_autofree char *png = snap_path(pc, n->id, ".png");
		g_autofree struct display_surface *s = vnc_server_capture(pc->vnc);
		char *shot_err = NULL;
		if (s && screenshot_write_png(s, png, &shot_err) < 0) {
			log_warn("snapshot thumbnail: %s", shot_err);
			g_free(shot_err);
		}
		ret = snap_save_tree(pc, &t, error); /* from here the snapshot exists */
	}
	if (ret < 0) {
		snap_delete_disks(pc, n->id);
		snap_remove_files(pc, n->id);
	} else {
		log_info("snapshot %s '%s' taken; guest paused %.1f ms", n->id, n->name,
			 paused_us / 1000.0);
		*id_out = g_strdup(n->id);
	}
	snapshot_tree_clear(&t);
	return ret;
}

/* ---- revert ---- */

/* How a refusal before the first change ends. */
#define SNAP_KEEPS_RUNNING "the VM keeps running as it was"

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
			*error = g_strdup_printf("%s: %s (" SNAP_KEEPS_RUNNING ")", path,
						 g_stat(path, &st) < 0 ? g_strerror(errno)
									: "not this VM's size");
			return -1;
		}
	}
	return 0;
}

/*
 * What a revert replaced, freed once the vCPUs run again: freeing it inside the pause would
 * cost more than the rest of the revert together. The old RAM and VRAM (ram_restore_map:
 * tens of milliseconds per GiB the guest wrote), and the old KVM VM, whose teardown (its MMU,
 * its memory slots, the in-kernel PIT's thread) takes ~20 ms: a second file descriptor keeps
 * it alive past pc_cpus_off, and closing that one later, on a thread, is what destroys it.
 * Until then it only exists: no vCPU runs in it, nothing uses its memory slots.
 */
struct snap_retired {
	struct ram_retired *ram, *vram;
	int vm_fd;
};

static gpointer snap_close_thread(gpointer data)
{
	close(GPOINTER_TO_INT(data));
	return NULL;
}

static void snap_retired_free(struct snap_retired *r)
{
	ram_retired_free(r->ram);
	ram_retired_free(r->vram);
	r->ram = r->vram = NULL;
	if (r->vm_fd < 0)
		return;
	GThread *t =
		g_thread_try_new("vm-close", snap_close_thread, GINT_TO_POINTER(r->vm_fd), NULL);
	if (t)
		g_thread_unref(t);
	else
		close(r->vm_fd);
	r->vm_fd = -1;
}

/* The disks, the devices, RAM and VRAM (mapped copy-on-write), then a new KVM VM with the
 * CPUs' and interrupt controllers' state; the vCPUs stay held. The checks were made before:
 * a failure here leaves a machine that cannot run, and it stops. */
static int snap_apply(struct pc *pc, const char *id, GArray *sections, struct snap_retired *old,
		      char **error)
{
	g_autofree char *ram = snap_path(pc, id, ".ram");
	g_autofree char *vram = snap_path(pc, id, ".vram");
	uint8_t *vmem = vga_vram(pc->vga);
	pc_vcpus_hold(pc, true);
	snap_drain(pc);
	old->vm_fd = pc->cpus_on ? fcntl(pc->kvm.vm_fd, F_DUPFD_CLOEXEC, 0) : -1;
	pc_cpus_off(pc);
	/* a suspended VM's disks are as it left them: only snapshots revert disks */
	bool disks = strcmp(id, SNAP_SUSPEND_ID) != 0;
	if ((disks && snap_disks(pc, block_snapshot_goto, id, error) < 0) ||
	    (snapshot_test_point("revert-disks"), 0) ||
	    ram_restore_map(pc->ram, pc->ram_size, ram, &old->ram, error) < 0 ||
	    ram_restore_map(vmem, vga_vram_size(pc->vga), vram, &old->vram, error) < 0 ||
	    snap_load_devices(pc, sections, error) < 0 || pc_cpus_build(pc, error) < 0 ||
	    snap_load_cpus(pc, sections, error) < 0 || pc_cpus_start(pc, error) < 0) {
		log_error("restoring %s failed: %s", id, *error);
		machine_request_exit(&pc->hooks, 1, "restore failed");
		return -1;
	}
	return 0;
}

/* Reads and checks snapshot N's files; NULL with *ERROR (nothing changed) if unusable. */
static GArray *snap_revert_check(struct pc *pc, const struct snapshot_node *n, GBytes **bytes,
				 char **error)
{
	if (!n->has_memory) {
		*error = g_strdup_printf("snapshot %s was taken powered off: stop the VM and "
					 "revert it then",
					 n->id);
		return NULL;
	}
	g_autofree char *state = snap_path(pc, n->id, ".state");
	g_autofree char *label = g_strdup_printf("snapshot %s", n->id);
	GArray *sections = snap_read_state(pc, state, bytes, error);
	if (sections && (snap_check_ram_files(pc, n->id, error) < 0 ||
			 snap_check_sections(pc, label, sections, SNAP_KEEPS_RUNNING, error) < 0))
		g_clear_pointer(&sections, state_sections_free);
	return sections;
}

/* Revert to a snapshot with memory: every check before the first change. */
int pc_snapshot_revert(struct pc *pc, const char *which, char **error)
{
	struct snapshot_tree t;
	if (snap_load_tree(pc, &t, error) < 0)
		return -1;
	int64_t t0 = g_get_monotonic_time();
	struct snapshot_node *n = snapshot_tree_lookup(&t, which);
	GBytes *bytes = NULL;
	GArray *sections = NULL;
	struct snap_retired old = { .vm_fd = -1 };
	int ret = -1;
	if (!n)
		*error = g_strdup_printf("no snapshot '%s'", which);
	else
		sections = snap_revert_check(pc, n, &bytes, error);
	if (sections) {
		ram_restore_prepare(pc->ram, pc->ram_size);
		ret = snapshot_intent_begin(pc->bundle_dir, n->id, error);
	}
	if (ret == 0) {
		snapshot_test_point("revert-intent");
		ret = snap_apply(pc, n->id, sections, &old, error);
	}
	if (ret == 0) {
		pc_vcpus_hold(pc, false);
		log_info("reverted to snapshot %s '%s' in %.1f ms", n->id, n->name,
			 (g_get_monotonic_time() - t0) / 1000.0);
		snapshot_test_point("revert-resumed");
		g_free(t.current);
		t.current = g_strdup(n->id);
		ret = snap_save_tree(pc, &t, error);
	}
	if (ret == 0) {
		snapshot_test_point("revert-tree");
		snapshot_intent_end(pc->bundle_dir);
	}
	/* a start that was to resume somewhere has done so, or cannot (after a failure that
	 * stopped the VM, the intent makes the next start try again) */
	snapshot_resume_mark_clear(pc->bundle_dir);
	snap_retired_free(&old);
	if (sections)
		state_sections_free(sections);
	if (bytes)
		g_bytes_unref(bytes);
	snapshot_tree_clear(&t);
	return ret;
}

/* ---- delete ---- */

/* The tree first: from then on the snapshot does not exist, and what an interruption leaves
 * of it, the next operation removes (snapshot_recover). */
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
		if (snapshot_tree_remove(&t, id, error) == 0 && snap_save_tree(pc, &t, error) == 0) {
			snapshot_test_point("delete-tree");
			snap_delete_disks(pc, id);
			snapshot_test_point("delete-disks");
			for (size_t i = 0; i < G_N_ELEMENTS(snapshot_file_exts); i++) {
				g_autofree char *p = snap_path(pc, id, snapshot_file_exts[i]);
				g_unlink(p);
				control_server_progress(pc->control, "files", i + 1,
							G_N_ELEMENTS(snapshot_file_exts));
				if (i == 0)
					snapshot_test_point("delete-files");
			}
			ret = 0;
		}
	}
	snapshot_tree_clear(&t);
	return ret;
}

/* ---- rename ---- */

/* Names live only in index.conf, which is replaced atomically: the guest runs on. */
int pc_snapshot_rename(struct pc *pc, const char *which, const char *name,
		       const char *description, char **error)
{
	struct snapshot_tree t;
	if (snap_load_tree(pc, &t, error) < 0)
		return -1;
	int ret = snapshot_tree_rename(&t, which, name, description, error);
	if (ret == 0)
		ret = snap_save_tree(pc, &t, error);
	snapshot_tree_clear(&t);
	return ret;
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
		ret = snap_write_ram(pc, ram, vram, -1, error);
	for (unsigned i = 0; ret == 0 && i < VM_DRIVE_SLOTS; i++)
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
	struct snap_retired old = { .vm_fd = -1 };
	bool ok = sections &&
		  snap_check_sections(pc, "the suspended VM", sections,
				      "its saved state is kept", error) == 0 &&
		  snap_apply(pc, SNAP_SUSPEND_ID, sections, &old, error) == 0;
	if (ok) {
		pc_vcpus_hold(pc, false);
		snap_remove_files(pc, SNAP_SUSPEND_ID); /* RAM stays mapped from the unlinked file */
		log_info("resumed from suspend");
	}
	snap_retired_free(&old);
	if (sections)
		state_sections_free(sections);
	if (bytes)
		g_bytes_unref(bytes);
	if (!ok && !*error)
		*error = g_strdup("cannot resume");
	return true;
}

/* ---- at start ---- */

/* The disks may change under the guest (an interrupted revert completed): it waits. */
void pc_snapshot_recover(struct pc *pc)
{
	g_autofree char *dir = g_build_filename(pc->bundle_dir, "snapshots", NULL);
	g_autofree char *index = snap_path(pc, NULL, "index.conf");
	if (!g_file_test(dir, G_FILE_TEST_IS_DIR))
		return; /* no snapshot was ever taken: nothing to recover */
	struct snapshot_tree t;
	snapshot_tree_init(&t);
	struct block_dev *disks[VM_DRIVE_SLOTS];
	snap_disk_list(pc, disks);
	char *error = NULL;
	pc_vcpus_hold(pc, true);
	snap_drain(pc);
	if (snapshot_tree_load(&t, index, &error) < 0 ||
	    snapshot_recover(pc->bundle_dir, &t, disks, VM_DRIVE_SLOTS, &error) < 0) {
		log_warn("snapshots: %s", error);
		fprintf(stderr, "pcvm: warning: snapshots: %s\n", error);
		g_free(error);
	}
	pc_vcpus_hold(pc, false);
	snapshot_tree_clear(&t);
}

/* ---- space ---- */

/* The tree as it is on disk (read only: a list changes nothing) and the disk space only each
 * snapshot holds; NULL if the tree cannot be read. */
static GHashTable *snap_read_usage(struct pc *pc, struct snapshot_tree *t, char **error)
{
	g_autofree char *index = snap_path(pc, NULL, "index.conf");
	snapshot_tree_init(t);
	if (snapshot_tree_load(t, index, error) < 0)
		return NULL;
	struct block_dev *disks[VM_DRIVE_SLOTS];
	snap_disk_list(pc, disks);
	return snapshot_disk_usage(t, disks, VM_DRIVE_SLOTS);
}

GHashTable *pc_snapshot_disk_usage(struct pc *pc, char **error)
{
	struct snapshot_tree t;
	GHashTable *h = snap_read_usage(pc, &t, error);
	snapshot_tree_clear(&t);
	return h;
}

int pc_snapshot_list(struct pc *pc, JsonBuilder *b, char **error)
{
	struct snapshot_tree t;
	GHashTable *h = snap_read_usage(pc, &t, error);
	if (h) {
		g_autofree char *sdir = g_build_filename(pc->bundle_dir, "snapshots", NULL);
		snapshot_tree_json(&t, sdir, h, b);
		g_hash_table_unref(h);
	}
	snapshot_tree_clear(&t);
	return h ? 0 : -1;
}
