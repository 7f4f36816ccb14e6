#include "snapshot/offline.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#include "block/qcow2.h"
#include "bundle.h"
#include "control.h"

#define MARK_RESUME "resume"
#define MARK_REVERTING "reverting"


static char *snap_file(const char *dir, const char *name)
{
	return g_build_filename(dir, "snapshots", name, NULL);
}

/* ---- markers ---- */

/* DIR/snapshots/NAME holds TEXT, on stable storage (its data and its name) when this returns. */
static int marker_write(const char *dir, const char *name, const char *text, char **error)
{
	g_autofree char *path = snap_file(dir, name);
	g_autofree char *sdir = g_path_get_dirname(path);
	g_autoptr(GError) err = NULL;
	if (!g_file_set_contents_full(path, text, -1,
				      G_FILE_SET_CONTENTS_CONSISTENT | G_FILE_SET_CONTENTS_DURABLE,
				      0644, &err)) {
		*error = g_strdup_printf("%s: %s", path, err->message);
		return -1;
	}
	int fd = open(sdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fsync(fd) < 0) {
		*error = g_strdup_printf("%s: flushing the directory: %s", sdir, g_strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

static char *marker_read(const char *dir, const char *name)
{
	g_autofree char *path = snap_file(dir, name);
	char *text = NULL;
	if (!g_file_get_contents(path, &text, NULL, NULL))
		return NULL;
	if (!*g_strstrip(text))
		g_clear_pointer(&text, g_free);
	return text;
}

static void marker_remove(const char *dir, const char *name)
{
	g_autofree char *path = snap_file(dir, name);
	g_unlink(path);
}

char *snapshot_resume_mark(const char *dir)
{
	return marker_read(dir, MARK_RESUME);
}

void snapshot_resume_mark_clear(const char *dir)
{
	marker_remove(dir, MARK_RESUME);
}

int snapshot_intent_begin(const char *dir, const char *id, char **error)
{
	return marker_write(dir, MARK_REVERTING, id, error);
}

void snapshot_intent_end(const char *dir)
{
	marker_remove(dir, MARK_REVERTING);
}

void snapshot_test_point(const char *point)
{
	const char *want = g_getenv("PCVM_SNAPSHOT_TEST_STALL");
	if (!want || strcmp(want, point))
		return;
	const char *ms = g_getenv("PCVM_SNAPSHOT_TEST_STALL_MS");
	fprintf(stderr, "pcvm: test point %s\n", point);
	fflush(stderr);
	g_usleep(ms ? g_ascii_strtoull(ms, NULL, 10) * 1000 : 60 * G_USEC_PER_SEC);
}

/* ---- recovery ---- */

/* Every disk at snapshot N, the tree's current node N, and the resume mark for N's memory:
 * what the revert to N that was interrupted would have left. */
static int recover_revert(const char *dir, struct snapshot_tree *t, const struct snapshot_node *n,
			  struct block_dev *const *disks, size_t ndisks, char **error)
{
	g_autofree char *index = snap_file(dir, "index.conf");
	char *why = NULL;
	for (size_t i = 0; i < ndisks; i++) {
		if (disks[i] && block_snapshot_goto(disks[i], n->id, &why) < 0) {
			*error = g_strdup_printf("completing the interrupted revert to "
						 "snapshot %s: %s",
						 n->id, why);
			g_free(why);
			return -1;
		}
	}
	g_free(t->current);
	t->current = g_strdup(n->id);
	if (snapshot_tree_save(t, index, error) < 0)
		return -1;
	if (n->has_memory)
		return marker_write(dir, MARK_RESUME, n->id, error);
	marker_remove(dir, MARK_RESUME);
	return 0;
}

/* A disk snapshot pcvm made (its name is its id, a number) that the tree does not list. */
static bool disk_snapshot_is_leftover(const struct snapshot_tree *t,
				      const struct block_snapshot_info *s)
{
	if (!*s->id || strspn(s->id, "0123456789") != strlen(s->id) || strcmp(s->id, s->name))
		return false;
	return !snapshot_tree_find(t, s->id);
}

static void tidy_disks(const struct snapshot_tree *t, struct block_dev *const *disks,
		       size_t ndisks)
{
	for (size_t i = 0; i < ndisks; i++) {
		struct block_snapshot_info *list;
		size_t n;
		if (!disks[i] || block_snapshot_list(disks[i], &list, &n) < 0)
			continue;
		for (size_t k = 0; k < n; k++) {
			char *ignored = NULL;
			if (disk_snapshot_is_leftover(t, &list[k]))
				block_snapshot_delete(disks[i], list[k].id, &ignored);
			g_free(ignored);
		}
		block_snapshot_list_free(list, n);
	}
}

/* Files named "ID.something" (snapshot files, their temporary files) of ids not in T. */
static void tidy_files(const char *dir, const struct snapshot_tree *t)
{
	g_autofree char *sdir = g_build_filename(dir, "snapshots", NULL);
	GDir *d = g_dir_open(sdir, 0, NULL);
	const char *name;
	while (d && (name = g_dir_read_name(d))) {
		size_t digits = strspn(name, "0123456789");
		if (!digits || name[digits] != '.')
			continue;
		g_autofree char *id = g_strndup(name, digits);
		if (snapshot_tree_find(t, id))
			continue;
		g_autofree char *path = g_build_filename(sdir, name, NULL);
		g_unlink(path);
	}
	if (d)
		g_dir_close(d);
}

void snapshot_tidy(const char *dir, const struct snapshot_tree *t, struct block_dev *const *disks,
		   size_t ndisks)
{
	tidy_disks(t, disks, ndisks);
	tidy_files(dir, t);
}

int snapshot_recover(const char *dir, struct snapshot_tree *t, struct block_dev *const *disks,
		     size_t ndisks, char **error)
{
	g_autofree char *id = marker_read(dir, MARK_REVERTING);
	const struct snapshot_node *n = id ? snapshot_tree_find(t, id) : NULL;
	if (n && recover_revert(dir, t, n, disks, ndisks, error) < 0)
		return -1;
	if (id)
		marker_remove(dir, MARK_REVERTING);
	snapshot_tidy(dir, t, disks, ndisks);
	return 0;
}

/* ---- operations with the VM off ---- */

struct offline {
	struct snapshot_tree tree;
	char *index;
	struct block_dev *disks[VM_DRIVE_SLOTS];
};

static void offline_close(struct offline *o)
{
	for (unsigned i = 0; i < VM_DRIVE_SLOTS; i++)
		block_close(o->disks[i]);
	snapshot_tree_clear(&o->tree);
	g_free(o->index);
}

/* Opens the tree and every disk (read-write: qcow2 only). */
static int offline_open(struct offline *o, const char *dir, const struct vm_config *cfg,
			char **error)
{
	memset(o, 0, sizeof(*o));
	snapshot_tree_init(&o->tree);
	g_autofree char *sdir = g_build_filename(dir, "snapshots", NULL);
	o->index = g_build_filename(sdir, "index.conf", NULL);
	if (snapshot_tree_load(&o->tree, o->index, error) < 0)
		return -1;
	for (unsigned i = 0; i < VM_DRIVE_SLOTS; i++) {
		const struct vm_drive *d = &cfg->drives[i];
		if (!vm_drive_present(d) || vm_drive_is_cdrom(d) || !d->file)
			continue;
		g_autofree char *path = bundle_path(dir, d->file);
		if (!(o->disks[i] = block_open(path, false, error)))
			return -1;
		if (strcmp(o->disks[i]->drv->name, "qcow2")) {
			*error = g_strdup_printf("disk [%s] is %s: snapshots need qcow2 disks — "
						 "convert it with 'qemu-img convert -O qcow2 %s "
						 "NEW.qcow2' and point vm.conf at the new file",
						 vm_drive_slot_name(i), o->disks[i]->drv->name, path);
			return -1;
		}
	}
	if (g_mkdir_with_parents(sdir, 0755) < 0) { /* only once every disk qualifies */
		*error = g_strdup_printf("%s: %s", sdir, strerror(errno));
		return -1;
	}
	return snapshot_recover(dir, &o->tree, o->disks, VM_DRIVE_SLOTS, error);
}

static int offline_disks(struct offline *o, int (*op)(struct block_dev *, const char *, char **),
			 const char *id, char **error)
{
	for (unsigned i = 0; i < VM_DRIVE_SLOTS; i++)
		if (o->disks[i] && op(o->disks[i], id, error) < 0)
			return -1;
	return 0;
}

/* A disk snapshot with an id the tree does not list is what an interrupted take left: it
 * goes before the new one takes the id. */
static int disk_create(struct block_dev *bd, const char *id, char **error)
{
	char *ignored = NULL;
	block_snapshot_delete(bd, id, &ignored);
	g_free(ignored);
	return block_snapshot_create(bd, id, id, 0, error);
}

int snapshot_offline_take(const char *dir, const struct vm_config *cfg, const char *name,
			  const char *description, char **id_out, char **error)
{
	struct offline o;
	int ret = offline_open(&o, dir, cfg, error);
	if (ret == 0)
		ret = snapshot_tree_check_room(&o.tree, error);
	if (ret == 0) {
		struct snapshot_node *n = snapshot_tree_add(&o.tree, name, description,
							    g_get_real_time() / 1000000, false);
		ret = offline_disks(&o, disk_create, n->id, error);
		/* the tree last: until it lists the snapshot, the snapshot does not exist */
		if (ret == 0)
			ret = snapshot_tree_save(&o.tree, o.index, error);
		if (ret == 0)
			*id_out = g_strdup(n->id);
	}
	offline_close(&o);
	return ret;
}

int snapshot_offline_revert(const char *dir, const struct vm_config *cfg, const char *which,
			    char **error)
{
	struct offline o;
	int ret = offline_open(&o, dir, cfg, error);
	struct snapshot_node *n = ret == 0 ? snapshot_tree_lookup(&o.tree, which) : NULL;
	if (ret == 0 && !n) {
		*error = g_strdup_printf("no snapshot '%s'", which);
		ret = -1;
	}
	/* from the intent on, an interruption is completed by the next operation or start */
	if (ret == 0)
		ret = snapshot_intent_begin(dir, n->id, error);
	if (ret == 0) {
		snapshot_test_point("revert-intent");
		ret = offline_disks(&o, block_snapshot_goto, n->id, error);
	}
	if (ret == 0) {
		snapshot_test_point("revert-disks");
		g_free(o.tree.current);
		o.tree.current = g_strdup(n->id);
		ret = snapshot_tree_save(&o.tree, o.index, error);
	}
	if (ret == 0) {
		snapshot_test_point("revert-tree");
		if (n->has_memory)
			ret = marker_write(dir, MARK_RESUME, n->id, error);
		else
			marker_remove(dir, MARK_RESUME);
	}
	if (ret == 0)
		snapshot_intent_end(dir);
	offline_close(&o);
	return ret;
}

/* The tree first (from then on the snapshot does not exist), then its disk snapshots, then
 * its files: what an interruption leaves, snapshot_recover removes. */
int snapshot_offline_delete(const char *dir, const struct vm_config *cfg, const char *which,
			    char **error)
{
	struct offline o;
	int ret = offline_open(&o, dir, cfg, error);
	struct snapshot_node *n = ret == 0 ? snapshot_tree_lookup(&o.tree, which) : NULL;
	if (ret == 0 && !n) {
		*error = g_strdup_printf("no snapshot '%s'", which);
		ret = -1;
	}
	g_autofree char *id = n ? g_strdup(n->id) : NULL;
	if (ret == 0)
		ret = snapshot_tree_remove(&o.tree, id, error);
	if (ret == 0)
		ret = snapshot_tree_save(&o.tree, o.index, error);
	if (ret == 0) {
		snapshot_test_point("delete-tree");
		/* a start that was to resume at it boots instead */
		g_autofree char *resume = snapshot_resume_mark(dir);
		if (!g_strcmp0(resume, id))
			snapshot_resume_mark_clear(dir);
		char *ignored = NULL;
		offline_disks(&o, block_snapshot_delete, id, &ignored);
		g_free(ignored);
		snapshot_test_point("delete-disks");
		for (size_t i = 0; i < G_N_ELEMENTS(snapshot_file_exts); i++) {
			g_autofree char *file = g_strconcat(id, snapshot_file_exts[i], NULL);
			g_autofree char *p = snap_file(dir, file);
			g_unlink(p);
			if (i == 0)
				snapshot_test_point("delete-files");
		}
	}
	offline_close(&o);
	return ret;
}

int snapshot_offline_rename(const char *dir, const struct vm_config *cfg, const char *which,
			    const char *name, const char *description, char **error)
{
	struct offline o;
	int ret = offline_open(&o, dir, cfg, error);
	if (ret == 0)
		ret = snapshot_tree_rename(&o.tree, which, name, description, error);
	if (ret == 0)
		ret = snapshot_tree_save(&o.tree, o.index, error);
	offline_close(&o);
	return ret;
}

/* ---- space, for the list ---- */

GHashTable *snapshot_disk_usage(const struct snapshot_tree *t, struct block_dev *const *disks,
				size_t ndisks)
{
	GHashTable *h = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	for (guint i = 0; i < t->nodes->len; i++) {
		const struct snapshot_node *n = g_ptr_array_index(t->nodes, i);
		uint64_t total = 0, bytes;
		bool any = false;
		for (size_t k = 0; k < ndisks; k++) {
			char *error = NULL;
			if (!disks[k] || strcmp(disks[k]->drv->name, "qcow2"))
				continue;
			if (qcow2_snapshot_exclusive_bytes(disks[k], n->id, &bytes, &error) == 0) {
				total += bytes;
				any = true;
			}
			g_free(error);
		}
		if (any)
			g_hash_table_insert(h, g_strdup(n->id), g_memdup2(&total, sizeof(total)));
	}
	return h;
}

/* Asks the VM running DIR (snapshot-disk-usage); NULL if it does not answer. */
static GHashTable *running_disk_usage(const char *dir)
{
	g_autofree char *sock = bundle_path(dir, BUNDLE_CONTROL_SOCK);
	char *error = NULL;
	JsonNode *r = control_call(sock, "snapshot-disk-usage", NULL, &error);
	g_free(error);
	JsonObject *o = r ? json_node_get_object(r) : NULL;
	JsonNode *m = o ? json_object_get_member(o, "disk-bytes") : NULL;
	GHashTable *h = NULL;
	if (m && JSON_NODE_HOLDS_OBJECT(m)) {
		h = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
		JsonObject *d = json_node_get_object(m);
		g_autoptr(GList) ids = json_object_get_members(d);
		for (GList *l = ids; l; l = l->next) {
			uint64_t v = json_object_get_int_member_with_default(d, l->data, 0);
			g_hash_table_insert(h, g_strdup(l->data), g_memdup2(&v, sizeof(v)));
		}
	}
	if (r)
		json_node_unref(r);
	return h;
}

/* The images of the VM in DIR, which is off (its lock held), opened read-only. */
static GHashTable *offline_disk_usage(const char *dir, const struct snapshot_tree *t)
{
	struct vm_config cfg;
	vm_config_init(&cfg);
	char *error = NULL;
	struct block_dev *disks[VM_DRIVE_SLOTS] = { 0 };
	GHashTable *h = NULL;
	if (bundle_load_config(dir, &cfg, &error) == 0) {
		for (unsigned i = 0; i < VM_DRIVE_SLOTS; i++) {
			const struct vm_drive *d = &cfg.drives[i];
			if (!vm_drive_present(d) || vm_drive_is_cdrom(d) || !d->file)
				continue;
			g_autofree char *path = bundle_path(dir, d->file);
			disks[i] = block_open(path, true, &error);
			g_clear_pointer(&error, g_free);
		}
		h = snapshot_disk_usage(t, disks, VM_DRIVE_SLOTS);
	}
	for (unsigned i = 0; i < VM_DRIVE_SLOTS; i++)
		block_close(disks[i]);
	g_free(error);
	vm_config_clear(&cfg);
	return h;
}

char *snapshot_list_text(const char *dir, char **error)
{
	if (!g_file_test(dir, G_FILE_TEST_IS_DIR)) {
		*error = g_strdup_printf("%s: no such VM bundle", dir);
		return NULL;
	}
	g_autofree char *sdir = g_build_filename(dir, "snapshots", NULL);
	g_autofree char *index = g_build_filename(sdir, "index.conf", NULL);
	struct snapshot_tree t;
	snapshot_tree_init(&t);
	if (snapshot_tree_load(&t, index, error) < 0)
		return NULL;
	GHashTable *disk = NULL;
	int lock_fd;
	char *busy = NULL;
	if (t.nodes->len && bundle_lock(dir, &lock_fd, &busy) == 0) {
		disk = offline_disk_usage(dir, &t);
		bundle_unlock(dir, lock_fd);
	} else if (t.nodes->len) {
		disk = running_disk_usage(dir);
	}
	g_free(busy);
	char *text = snapshot_tree_format(&t, sdir, disk);
	if (disk)
		g_hash_table_unref(disk);
	snapshot_tree_clear(&t);
	return text;
}
