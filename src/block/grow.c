/* Growing raw and qcow2 images (grow.h). */
#include "block/grow.h"

#include <errno.h>
#include <glib.h>
#include <inttypes.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "block/qcow2.h"

static int grow_fail(struct block_dev *bd, char **error, int ret, const char *fmt, ...)
	G_GNUC_PRINTF(4, 5);

static int grow_fail(struct block_dev *bd, char **error, int ret, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	g_autofree char *why = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	*error = g_strdup_printf("%s: %s", bd->path, why);
	return ret;
}

/* A raw image is its file: a longer file is a larger disk, its new end a hole. */
static int raw_grow(struct block_dev *bd, uint64_t size, char **error)
{
	struct stat st;
	if (fstat(bd->fd, &st) < 0)
		return grow_fail(bd, error, -errno, "%s", strerror(errno));
	if (!S_ISREG(st.st_mode))
		return grow_fail(bd, error, -ENOTSUP,
				 "not a regular file: a block device is as large as it is");
	if (ftruncate(bd->fd, (off_t)size) < 0 || fsync(bd->fd) < 0)
		return grow_fail(bd, error, -errno, "%s", strerror(errno));
	bd->size = size;
	return 0;
}

/*
 * The active L1 table, extended with empty entries where the new size needs more, and the
 * header's size switch together through a shadow update (qcow2_commit.c): the L2 tables it
 * maps are the same ones, so no refcount but the tables' own changes; the old L1 table's
 * clusters are freed when a new one replaces it.
 */
static int qcow2_grow(struct block_dev *bd, uint64_t size, char **error)
{
	struct qcow2 *s = bd->priv;
	uint64_t per_l1 = 1ull << (s->cluster_bits + s->l2_bits); /* bytes one L1 entry maps */
	if (size > QCOW2_MAX_HOST_OFFSET)
		return grow_fail(bd, error, -EINVAL, "%" PRIu64 " bytes is beyond qcow2's limit",
				 size);
	uint64_t n = MAX(s->h.l1_size, (size + per_l1 - 1) / per_l1);
	if (n > QCOW2_MAX_L1_BYTES / 8)
		return grow_fail(bd, error, -EINVAL,
				 "%" PRIu64 " bytes needs an L1 table of %" PRIu64
				 " entries, more than qcow2 readers accept",
				 size, n);
	uint64_t *l1 = g_new0(uint64_t, MAX(n, 1));
	if (s->h.l1_size)
		memcpy(l1, s->l1, s->h.l1_size * 8);
	struct qcow2_commit *c = qcow2_commit_new(s);
	qcow2_commit_set_active(c, l1, n, true, size);
	g_autofree char *msg = NULL;
	int ret = qcow2_commit_run(c, &msg);
	qcow2_commit_free(c);
	return ret < 0 ? grow_fail(bd, error, ret, "growing the image: %s", msg) : 0;
}

static const struct {
	const char *format;
	int (*grow)(struct block_dev *bd, uint64_t size, char **error);
} growers[] = {
	{ "raw", raw_grow },
	{ "qcow2", qcow2_grow },
};

int block_grow(struct block_dev *bd, uint64_t size, char **error)
{
	size = (size + BLOCK_SECTOR - 1) & ~(uint64_t)(BLOCK_SECTOR - 1);
	if (bd->read_only)
		return grow_fail(bd, error, -EROFS, "the image is opened read-only");
	if (size < bd->size)
		return grow_fail(bd, error, -EINVAL,
				 "%" PRIu64 " bytes is smaller than the disk (%" PRIu64
				 " bytes): disks only grow, shrinking would lose what is at the end",
				 size, bd->size);
	for (size_t i = 0; i < G_N_ELEMENTS(growers); i++) {
		if (strcmp(bd->drv->name, growers[i].format))
			continue;
		if (size == bd->size)
			return 0;
		block_drain(bd);
		if (bd->aio)
			block_aio_lock(bd);
		int ret = growers[i].grow(bd, size, error);
		if (bd->aio)
			block_aio_unlock(bd);
		return ret;
	}
	return grow_fail(bd, error, -ENOTSUP, "a %s disk cannot grow", bd->drv->name);
}
