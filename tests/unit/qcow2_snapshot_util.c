/* What the qcow2 snapshot test programs share (qcow2_snapshot_util.h). */
#include "qcow2_snapshot_util.h"

#include <string.h>
#include <sys/stat.h>

#include "qcow2_fixtures.h"

void snap_ok(int ret, char **error)
{
	if (ret < 0)
		g_error("%s (%s)", *error, strerror(-ret));
}

void create_ok(struct block_dev *bd, const char *id, const char *name)
{
	char *error = NULL;
	snap_ok(block_snapshot_create(bd, id, name, 0, &error), &error);
}

void goto_ok(struct block_dev *bd, const char *id)
{
	char *error = NULL;
	snap_ok(block_snapshot_goto(bd, id, &error), &error);
}

void delete_ok(struct block_dev *bd, const char *id)
{
	char *error = NULL;
	snap_ok(block_snapshot_delete(bd, id, &error), &error);
}

uint64_t file_size(const char *path)
{
	struct stat st;
	g_assert_cmpint(stat(path, &st), ==, 0);
	return st.st_size;
}

/* ---- image kinds ---- */

const struct kind kinds[] = {
	{ "pcvm", NULL, 65536 },
	{ "qemu-default", "", 65536 },
	{ "qemu-v2", "-o compat=0.10", 65536 },
	{ "qemu-512", "-o cluster_size=512", 512 },
	{ "qemu-4k-rc2", "-o cluster_size=4096,refcount_bits=2", 4096 },
	{ "qemu-rc64", "-o refcount_bits=64", 65536 },
	{ "qemu-2m-rc8", "-o cluster_size=2M,refcount_bits=8", 2 << 20 },
	{ "qemu-4k-rc1", "-o cluster_size=4096,refcount_bits=1", 4096, true },
};

