#include "block/block.h"

#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <string.h>
#include <unistd.h>

/* Probed in order; raw takes anything, so it comes last. */
static const struct block_driver *const block_drivers[] = {
	&block_raw_driver,
};

struct block_dev *block_open(const char *path, bool read_only, char **error)
{
	int fd = open(path, (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	if (fd < 0 && !read_only && (errno == EACCES || errno == EROFS)) {
		*error = g_strdup_printf("%s: %s (the disk must be writable)", path, strerror(errno));
		return NULL;
	}
	if (fd < 0) {
		*error = g_strdup_printf("%s: %s", path, strerror(errno));
		return NULL;
	}
	uint8_t header[512] = { 0 };
	ssize_t n = pread(fd, header, sizeof(header), 0);
	if (n < 0) {
		*error = g_strdup_printf("%s: %s", path, strerror(errno));
		close(fd);
		return NULL;
	}
	struct block_dev *bd = g_new0(struct block_dev, 1);
	bd->path = g_strdup(path);
	bd->fd = fd;
	bd->read_only = read_only;
	for (size_t i = 0; i < G_N_ELEMENTS(block_drivers); i++) {
		if (block_drivers[i]->probe(header, n)) {
			bd->drv = block_drivers[i];
			break;
		}
	}
	if (bd->drv->open(bd, error) < 0) {
		close(fd);
		g_free(bd->path);
		g_free(bd);
		return NULL;
	}
	return bd;
}

/* ---- the in-memory driver (tests) ---- */

static int mem_pread(struct block_dev *bd, void *buf, size_t len, uint64_t off)
{
	memcpy(buf, (uint8_t *)bd->priv + off, len);
	return 0;
}

static int mem_pwrite(struct block_dev *bd, const void *buf, size_t len, uint64_t off)
{
	memcpy((uint8_t *)bd->priv + off, buf, len);
	return 0;
}

static int mem_flush(struct block_dev *bd)
{
	(void)bd;
	return 0;
}

static void mem_close(struct block_dev *bd)
{
	g_free(bd->priv);
}

static const struct block_driver block_mem_driver = {
	.name = "memory",
	.close = mem_close,
	.pread = mem_pread,
	.pwrite = mem_pwrite,
	.flush = mem_flush,
};

struct block_dev *block_open_memory(uint64_t size)
{
	struct block_dev *bd = g_new0(struct block_dev, 1);
	bd->drv = &block_mem_driver;
	bd->path = g_strdup("(memory)");
	bd->fd = -1;
	bd->size = size;
	bd->priv = g_malloc0(size);
	return bd;
}

void block_close(struct block_dev *bd)
{
	if (!bd)
		return;
	if (bd->drv->close)
		bd->drv->close(bd);
	if (bd->fd >= 0)
		close(bd->fd);
	g_free(bd->path);
	g_free(bd);
}

static bool block_in_range(const struct block_dev *bd, uint64_t off, size_t len)
{
	return off <= bd->size && len <= bd->size - off;
}

int block_pread(struct block_dev *bd, void *buf, size_t len, uint64_t offset)
{
	if (!block_in_range(bd, offset, len))
		return -EINVAL;
	return bd->drv->pread(bd, buf, len, offset);
}

int block_pwrite(struct block_dev *bd, const void *buf, size_t len, uint64_t offset)
{
	if (bd->read_only)
		return -EROFS;
	if (!block_in_range(bd, offset, len))
		return -EINVAL;
	return bd->drv->pwrite(bd, buf, len, offset);
}

void block_submit(struct block_dev *bd, struct block_req *req)
{
	int ret;
	switch (req->op) {
	case BLOCK_READ: ret = block_pread(bd, req->buf, req->len, req->offset); break;
	case BLOCK_WRITE: ret = block_pwrite(bd, req->buf, req->len, req->offset); break;
	case BLOCK_FLUSH: ret = bd->drv->flush(bd); break;
	default: ret = -EINVAL; break;
	}
	req->done(req, ret);
}

int block_create_raw(const char *path, uint64_t size, char **error)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0) {
		*error = g_strdup_printf("%s: %s", path, strerror(errno));
		return -1;
	}
	if (ftruncate(fd, size) < 0) {
		*error = g_strdup_printf("%s: %s", path, strerror(errno));
		close(fd);
		unlink(path);
		return -1;
	}
	close(fd);
	return 0;
}

uint64_t block_parse_size(const char *text)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(text, &end, 10);
	if (errno || end == text || text[0] == '-')
		return 0;
	unsigned shift = 0;
	switch (g_ascii_toupper(*end)) {
	case '\0': break;
	case 'K': shift = 10; break;
	case 'M': shift = 20; break;
	case 'G': shift = 30; break;
	case 'T': shift = 40; break;
	default: return 0;
	}
	if (*end && end[1] && !(g_ascii_toupper(end[1]) == 'B' && !end[2]) &&
	    !(g_ascii_toupper(end[1]) == 'I' && g_ascii_toupper(end[2]) == 'B' && !end[3]))
		return 0;
	if (shift && v > (~0ull >> shift))
		return 0;
	return v << shift;
}
