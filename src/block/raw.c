/* Raw images: the file is the disk, byte for byte. */
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "block/block.h"
#include "log.h"

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
	return block_fd_read(bd->fd, buf, len, off);
}

/*
 * A raw image is recognised only by not being anything else, so a guest that wrote another
 * format's magic into its first sector would turn the disk into that format at the next
 * open — a qcow2 header naming a host file as its backing file would hand the guest that
 * file. Such writes fail instead (as QEMU does for probed raw images).
 */
int block_raw_check_write(struct block_dev *bd, const void *buf, size_t len, uint64_t off)
{
	if (off >= BLOCK_SECTOR || !len)
		return 0;
	uint8_t first[BLOCK_SECTOR] = { 0 };
	if (off || len < sizeof(first)) {
		ssize_t n = pread(bd->fd, first, sizeof(first), 0);
		if (n < 0)
			return -errno;
	}
	size_t n = MIN(len, sizeof(first) - off);
	memcpy(first + off, buf, n);
	if (!block_qcow2_driver.probe(first, sizeof(first)))
		return 0;
	log_once(LOG_WARN, "%s: refused a write that would make the raw disk look like a qcow2 image",
		 bd->path);
	return -EPERM;
}

static int raw_pwrite(struct block_dev *bd, const void *buf, size_t len, uint64_t off)
{
	int ret = block_raw_check_write(bd, buf, len, off);
	if (ret < 0)
		return ret;
	return block_fd_write(bd->fd, buf, len, off);
}

static int raw_pread_nowait(struct block_dev *bd, void *buf, size_t len, uint64_t off)
{
	return block_fd_read_nowait(bd->fd, buf, len, off);
}

static int raw_pwrite_nowait(struct block_dev *bd, const void *buf, size_t len, uint64_t off)
{
	if (block_raw_check_write(bd, buf, len, off) < 0)
		return -EAGAIN; /* the ordinary path refuses it */
	return block_fd_write_nowait(bd, bd->fd, buf, len, off);
}

static int raw_flush(struct block_dev *bd)
{
	return fdatasync(bd->fd) < 0 ? -errno : 0;
}

/* Punches a hole where the filesystem can; elsewhere discarding does nothing. */
static int raw_discard(struct block_dev *bd, uint64_t off, uint64_t len)
{
	if (!len)
		return 0;
	if (fallocate(bd->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off, len) == 0)
		return 0;
	return errno == EOPNOTSUPP || errno == ENOSYS ? 0 : -errno;
}

const struct block_driver block_raw_driver = {
	.name = "raw",
	.probe = raw_probe,
	.open = raw_open,
	.pread = raw_pread,
	.pwrite = raw_pwrite,
	.pread_nowait = raw_pread_nowait,
	.pwrite_nowait = raw_pwrite_nowait,
	.flush = raw_flush,
	.discard = raw_discard,
};
