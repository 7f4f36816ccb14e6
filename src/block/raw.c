/* Raw images: the file is the disk, byte for byte. */
#include <errno.h>
#include <glib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "block/block.h"

static bool raw_probe(const uint8_t *header, size_t len)
{
	(void)header;
	(void)len;
	return true;
}

static int raw_open(struct block_dev *bd, char **error)
{
	struct stat st;
	if (fstat(bd->fd, &st) < 0) {
		*error = g_strdup_printf("%s: %s", bd->path, strerror(errno));
		return -1;
	}
	if (S_ISBLK(st.st_mode)) {
		off_t end = lseek(bd->fd, 0, SEEK_END);
		st.st_size = end < 0 ? 0 : end;
	} else if (!S_ISREG(st.st_mode)) {
		*error = g_strdup_printf("%s: not a regular file or block device", bd->path);
		return -1;
	}
	if (st.st_size < BLOCK_SECTOR) {
		*error = g_strdup_printf("%s: image is smaller than one sector", bd->path);
		return -1;
	}
	bd->size = st.st_size & ~(uint64_t)(BLOCK_SECTOR - 1);
	return 0;
}

static int raw_pread(struct block_dev *bd, void *buf, size_t len, uint64_t off)
{
	uint8_t *p = buf;
	while (len) {
		ssize_t n = pread(bd->fd, p, len, off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0) { /* past the end of a short file: zeros */
			memset(p, 0, len);
			return 0;
		}
		p += n;
		off += n;
		len -= n;
	}
	return 0;
}

static int raw_pwrite(struct block_dev *bd, const void *buf, size_t len, uint64_t off)
{
	const uint8_t *p = buf;
	while (len) {
		ssize_t n = pwrite(bd->fd, p, len, off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		off += n;
		len -= n;
	}
	return 0;
}

static int raw_flush(struct block_dev *bd)
{
	return fdatasync(bd->fd) < 0 ? -errno : 0;
}

const struct block_driver block_raw_driver = {
	.name = "raw",
	.probe = raw_probe,
	.open = raw_open,
	.pread = raw_pread,
	.pwrite = raw_pwrite,
	.flush = raw_flush,
};
