#include "snapshot/offline.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <string.h>

#include "block/block.h"
#include "bundle.h"
#include "snapshot/tree.h"

struct offline {
	struct snapshot_tree tree;
	char *index;
	struct block_dev *disks[VM_IDE_SLOTS];
};

static void offline_close(struct offline *o)
{
	for (unsigned i = 0; i < VM_IDE_SLOTS; i++)
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
	for (unsigned i = 0; i < VM_IDE_SLOTS; i++) {
		const struct vm_drive *d = &cfg->ide[i];
		if (!vm_drive_present(d) || vm_drive_is_cdrom(d) || !d->file)
			continue;
		g_autofree char *path = bundle_path(dir, d->file);
		if (!(o->disks[i] = block_open(path, false, error)))
			return -1;
		if (strcmp(o->disks[i]->drv->name, "qcow2")) {
			*error = g_strdup_printf("disk [%s] is %s: snapshots need qcow2 disks — "
						 "convert it with 'qemu-img convert -O qcow2 %s "
						 "NEW.qcow2' and point vm.conf at the new file",
						 vm_ide_slot_name(i), o->disks[i]->drv->name, path);
			return -1;
		}
	}
	if (g_mkdir_with_parents(sdir, 0755) < 0) { /* only once every disk qualifies */
		*error = g_strdup_printf("%s: %s", sdir, strerror(errno));
		return -1;
	}
	return 0;
}

static int offline_disks(struct offline *o, int (*op)(struct block_dev *, const char *, char **),
			 const char *id, char **error)
{
	for (unsigned i = 0; i < VM_IDE_SLOTS; i++)
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
	if (ret == 0)
		ret = offline_disks(&o, block_snapshot_goto, n->id, error);
	if (ret == 0) {
		g_free(o.tree.current);
		o.tree.current = g_strdup(n->id);
		ret = snapshot_tree_save(&o.tree, o.index, error);
	}
	g_autofree char *mark = g_build_filename(dir, "snapshots", "resume", NULL);
	if (ret == 0 && n->has_memory) {
		g_autoptr(GError) err = NULL;
		if (!g_file_set_contents(mark, n->id, -1, &err)) {
			*error = g_strdup_printf("%s: %s", mark, err->message);
			ret = -1;
		}
	} else if (ret == 0) {
		g_unlink(mark);
	}
	offline_close(&o);
	return ret;
}

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
	if (ret == 0) {
		g_autofree char *id = g_strdup(n->id);
		ret = snapshot_tree_remove(&o.tree, id, error);
		if (ret == 0)
			ret = snapshot_tree_save(&o.tree, o.index, error);
		if (ret == 0) {
			/* a start that was to resume at it boots instead */
			g_autofree char *mark = g_build_filename(dir, "snapshots", "resume", NULL);
			g_autofree char *resume = NULL;
			if (g_file_get_contents(mark, &resume, NULL, NULL) &&
			    !strcmp(g_strstrip(resume), id))
				g_unlink(mark);
			/* the tree no longer lists it: what remains of it is only space */
			char *ignored = NULL;
			offline_disks(&o, block_snapshot_delete, id, &ignored);
			g_free(ignored);
			static const char *const exts[] = { ".state", ".ram", ".vram", ".png" };
			for (size_t i = 0; i < G_N_ELEMENTS(exts); i++) {
				g_autofree char *file = g_strconcat(id, exts[i], NULL);
				g_autofree char *p = g_build_filename(dir, "snapshots", file, NULL);
				g_unlink(p);
			}
		}
	}
	offline_close(&o);
	return ret;
}

char *snapshot_take_resume_mark(const char *dir)
{
	g_autofree char *mark = g_build_filename(dir, "snapshots", "resume", NULL);
	char *id = NULL;
	if (!g_file_get_contents(mark, &id, NULL, NULL))
		return NULL;
	g_unlink(mark);
	return g_strstrip(id);
}
