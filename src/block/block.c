/* The block layer's front: opening by probing, the synchronous helpers, the in-memory disk. */
#include "block/block.h"

#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

/* Probed in order; raw takes anything, so it comes last. */
static const struct block_driver *const block_drivers[] = {
	&block_qcow2_driver,
	&block_raw_driver,
};

/* O_NONBLOCK: a FIFO named as a disk or backing file must not hang the open (the drivers
 * then refuse anything but regular files and block devices). */
static int block_open_fd(const char *path, bool read_only, char **error)
{
	int fd = open(path, (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0 && !read_only && (errno == EACCES || errno == EROFS))
		*error = g_strdup_printf("%s: %s (the disk must be writable)", path, strerror(errno));
	else if (fd < 0)
		*error = g_strdup_printf("%s: %s", path, strerror(errno));
	if (fd >= 0)
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	return fd;
}

/* The driver for FORMAT (NULL: probe HEADER, raw last). */
static const struct block_driver *block_pick_driver(const char *format, const uint8_t *header,
						    size_t len)
{
	for (size_t i = 0; i < G_N_ELEMENTS(block_drivers); i++) {
		const struct block_driver *drv = block_drivers[i];
		if (format ? !strcmp(format, drv->name) : drv->probe(header, len))
			return drv;
	}
	return NULL;
}

static struct block_dev *block_open_file(const char *path, const char *format, bool read_only,
					 unsigned depth, char **error)
{
	int fd = block_open_fd(path, read_only, error);
	if (fd < 0)
		return NULL;
	uint8_t header[512] = { 0 };
	ssize_t n = pread(fd, header, sizeof(header), 0);
	const struct block_driver *drv = n < 0 ? NULL : block_pick_driver(format, header, n);
	if (!drv) {
		*error = n < 0 ? g_strdup_printf("%s: %s", path, strerror(errno))
			       : g_strdup_printf("%s: unknown disk format '%s'", path, format);
		close(fd);
		return NULL;
	}
	struct block_dev *bd = g_new0(struct block_dev, 1);
	bd->drv = drv;
	bd->path = g_strdup(path);
	bd->fd = fd;
	bd->read_only = read_only;
	bd->depth = depth;
	if (bd->drv->open(bd, error) < 0) {
		close(fd);
		g_free(bd->path);
		g_free(bd);
		return NULL;
	}
	return bd;
}

struct block_dev *block_open_format(const char *path, const char *format, bool read_only,
				    char **error)
{
	struct block_dev *bd = block_open_file(path, format, read_only, 0, error);
	if (bd)
		bd->aio = block_aio_new(bd);
	return bd;
}

struct block_dev *block_open(const char *path, bool read_only, char **error)
{
	return block_open_format(path, NULL, read_only, error);
}

struct block_dev *block_open_backing(const char *path, const char *format, unsigned depth,
				     char **error)
{
	return block_open_file(path, format, true, depth, error);
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
	if (bd->aio) {
		block_drain(bd);
		block_aio_free(bd);
	}
	if (bd->drv->close)
		bd->drv->close(bd);
	if (bd->fd >= 0)
		close(bd->fd);
	g_free(bd->path);
	g_free(bd);
}

/* ---- synchronous requests ---- */

static bool block_in_range(const struct block_dev *bd, uint64_t off, uint64_t len)
{
	return off <= bd->size && len <= bd->size - off;
}

/* Checks a request against the device; 0 or the -errno it fails with. */
int block_check(const struct block_dev *bd, const struct block_req *req)
{
	if (req->op == BLOCK_FLUSH)
		return 0;
	if (req->op != BLOCK_READ && bd->read_only)
		return -EROFS;
	if (req->op > BLOCK_DISCARD || !block_in_range(bd, req->offset, req->len))
		return -EINVAL;
	return 0;
}

int block_exec(struct block_dev *bd, struct block_req *req)
{
	int ret = block_check(bd, req);
	if (ret < 0)
		return ret;
	switch (req->op) {
	case BLOCK_READ: return bd->drv->pread(bd, req->buf, req->len, req->offset);
	case BLOCK_WRITE: return bd->drv->pwrite(bd, req->buf, req->len, req->offset);
	case BLOCK_FLUSH: return bd->drv->flush(bd);
	case BLOCK_DISCARD:
		return bd->drv->discard ? bd->drv->discard(bd, req->offset, req->len) : 0;
	}
	return -EINVAL;
}

/* Around a synchronous driver call: holds off the device's queue, if it has one. */
static void block_queue_hold(struct block_dev *bd)
{
	if (bd->aio)
		block_aio_lock(bd);
}

static void block_queue_release(struct block_dev *bd)
{
	if (bd->aio)
		block_aio_unlock(bd);
}

/* A synchronous request, serialized with the device's queue. */
static int block_run(struct block_dev *bd, enum block_op op, void *buf, size_t len, uint64_t off)
{
	struct block_req req = { .op = op, .offset = off, .buf = buf, .len = len };
	block_queue_hold(bd);
	int ret = block_exec(bd, &req);
	block_queue_release(bd);
	return ret;
}

int block_pread(struct block_dev *bd, void *buf, size_t len, uint64_t offset)
{
	return block_run(bd, BLOCK_READ, buf, len, offset);
}

int block_pwrite(struct block_dev *bd, const void *buf, size_t len, uint64_t offset)
{
	return block_run(bd, BLOCK_WRITE, (void *)buf, len, offset);
}

int block_discard(struct block_dev *bd, uint64_t offset, uint64_t len)
{
	if (len > SIZE_MAX)
		return -EINVAL;
	return block_run(bd, BLOCK_DISCARD, NULL, len, offset);
}

int block_flush(struct block_dev *bd)
{
	return block_run(bd, BLOCK_FLUSH, NULL, 0, 0);
}

void block_submit(struct block_dev *bd, struct block_req *req)
{
	if (bd->aio) {
		block_aio_submit(bd, req);
		return;
	}
	req->done(req, block_exec(bd, req));
}

int block_try_now(struct block_dev *bd, enum block_op op, void *buf, size_t len,
		  uint64_t offset)
{
	struct block_req req = { .op = op, .offset = offset, .buf = buf, .len = len };
	if (op != BLOCK_READ && op != BLOCK_WRITE)
		return -EAGAIN;
	if (bd->aio)
		return block_aio_try_now(bd, &req);
	return block_exec(bd, &req) == 0 ? 0 : -EAGAIN; /* a memory disk: always at once */
}

/* ---- creation, sizes, information ---- */

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

int block_get_info(struct block_dev *bd, struct block_info *info)
{
	*info = (struct block_info){ .format = bd->drv->name, .virtual_size = bd->size };
	struct stat st;
	if (bd->fd < 0)
		info->allocated_bytes = bd->size;
	else if (fstat(bd->fd, &st) == 0)
		info->allocated_bytes = (uint64_t)st.st_blocks * 512;
	else
		return -errno;
	return bd->drv->get_info ? bd->drv->get_info(bd, info) : 0;
}

void block_info_clear(struct block_info *info)
{
	g_clear_pointer(&info->backing, g_free);
}

/* ---- internal snapshots ---- */

/* Whether BD can take snapshots; if not, why, in *ERROR. */
static int block_snapshot_check(struct block_dev *bd, bool write, char **error)
{
	if (!bd->drv->snapshot_create) {
		*error = g_strdup_printf("%s: a %s disk cannot hold snapshots; convert it to qcow2 "
					 "first (qemu-img convert -O qcow2 %s NEW.qcow2)",
					 bd->path, bd->drv->name, bd->path);
		return -ENOTSUP;
	}
	if (write && bd->read_only) {
		*error = g_strdup_printf("%s: the disk is opened read-only", bd->path);
		return -EROFS;
	}
	return 0;
}

int block_snapshot_create(struct block_dev *bd, const char *id, const char *name,
			  uint64_t vm_clock_ns, char **error)
{
	int ret = block_snapshot_check(bd, true, error);
	if (ret < 0)
		return ret;
	block_queue_hold(bd);
	ret = bd->drv->snapshot_create(bd, id, name, vm_clock_ns, error);
	block_queue_release(bd);
	return ret;
}

int block_snapshot_goto(struct block_dev *bd, const char *id, char **error)
{
	int ret = block_snapshot_check(bd, true, error);
	if (ret < 0)
		return ret;
	block_queue_hold(bd);
	ret = bd->drv->snapshot_goto(bd, id, error);
	block_queue_release(bd);
	return ret;
}

int block_snapshot_delete(struct block_dev *bd, const char *id, char **error)
{
	int ret = block_snapshot_check(bd, true, error);
	if (ret < 0)
		return ret;
	block_queue_hold(bd);
	ret = bd->drv->snapshot_delete(bd, id, error);
	block_queue_release(bd);
	return ret;
}

int block_snapshot_list(struct block_dev *bd, struct block_snapshot_info **out, size_t *n)
{
	*out = NULL;
	*n = 0;
	if (!bd->drv->snapshot_list)
		return -ENOTSUP;
	block_queue_hold(bd);
	int ret = bd->drv->snapshot_list(bd, out, n);
	block_queue_release(bd);
	return ret;
}

void block_snapshot_list_free(struct block_snapshot_info *list, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		g_free(list[i].id);
		g_free(list[i].name);
	}
	g_free(list);
}

int block_fd_read(int fd, void *buf, size_t len, uint64_t off)
{
	uint8_t *p = buf;
	while (len) {
		ssize_t n = pread(fd, p, len, off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0) { /* past the end of the file: zeros */
			memset(p, 0, len);
			return 0;
		}
		p += n;
		off += n;
		len -= n;
	}
	return 0;
}

int block_fd_write(int fd, const void *buf, size_t len, uint64_t off)
{
	const uint8_t *p = buf;
	while (len) {
		ssize_t n = pwrite(fd, p, len, off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;
		p += n;
		off += n;
		len -= n;
	}
	return 0;
}

/* RWF_NOWAIT reads come from the page cache or not at all (-EAGAIN). A short read is part
 * cached or the end of the file; 0 bytes is the end (zeros, as block_fd_read). */
int block_fd_read_nowait(int fd, void *buf, size_t len, uint64_t off)
{
	uint8_t *p = buf;
	while (len) {
		struct iovec iov = { p, len };
		ssize_t n = preadv2(fd, &iov, 1, off, RWF_NOWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -EAGAIN; /* not cached, or an error the ordinary path reports */
		if (n == 0) {
			memset(p, 0, len);
			return 0;
		}
		p += n;
		off += n;
		len -= n;
	}
	return 0;
}

/* RWF_NOWAIT writes fail where the kernel would wait (locks, dirty-page throttling). Not every
 * filesystem takes them for buffered writes (EOPNOTSUPP); there a write into the page cache is
 * a plain one: what it can wait for is the throttling alone. Called under the driver lock. */
int block_fd_write_nowait(struct block_dev *bd, int fd, const void *buf, size_t len,
			  uint64_t off)
{
	const uint8_t *p = buf;
	while (len) {
		struct iovec iov = { (void *)p, len };
		ssize_t n;
		if (!bd->no_nowait_write) {
			n = pwritev2(fd, &iov, 1, off, RWF_NOWAIT);
			if (n < 0 && errno == EOPNOTSUPP) {
				bd->no_nowait_write = true; /* this file never takes them */
				continue;
			}
		} else {
			n = pwrite(fd, p, len, off);
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -EAGAIN;
		p += n;
		off += n;
		len -= n;
	}
	return 0;
}
