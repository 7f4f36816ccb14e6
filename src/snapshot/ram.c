/* Guest RAM files: sparse save (temporary file and rename) and copy-on-write revert (ram.h). */
#include "snapshot/ram.h"

#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* Largest single write: runs of non-zero pages are written in one call up to this size. */
#define RAM_WRITE_MAX (8u << 20)

struct ram_saver {
	char *path, *tmp_path;
	int fd;
	const uint8_t *ram;
	uint64_t size;
	/* the file still holds only holes where nothing was written: zero pages need no write */
	bool fresh;
};

static bool page_is_zero(const uint8_t *page)
{
	const uint64_t *w = (const uint64_t *)page; /* page-aligned (ram_saver_begin) */
	if (w[0])
		return false; /* most non-zero pages end here */
	for (unsigned i = 0; i < RAM_PAGE_SIZE / 8; i += 8)
		if (w[i] | w[i + 1] | w[i + 2] | w[i + 3] | w[i + 4] | w[i + 5] | w[i + 6] |
		    w[i + 7])
			return false;
	return true;
}

static int pwrite_all(int fd, const uint8_t *buf, uint64_t len, uint64_t off)
{
	while (len) {
		ssize_t n = pwrite(fd, buf, MIN(len, (uint64_t)RAM_WRITE_MAX), off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO;
			return -1;
		}
		buf += n;
		off += n;
		len -= n;
	}
	return 0;
}

/* Makes [OFF, OFF + LEN) of the file read as zeros: a hole where the file system can. */
static int zero_range(int fd, uint64_t off, uint64_t len)
{
	if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off, len) == 0)
		return 0;
	if (errno != EOPNOTSUPP)
		return -1;
	static const uint8_t zeros[RAM_PAGE_SIZE];
	for (uint64_t done = 0; done < len; done += RAM_PAGE_SIZE)
		if (pwrite_all(fd, zeros, RAM_PAGE_SIZE, off + done) < 0)
			return -1;
	return 0;
}

struct ram_saver *ram_saver_begin(const char *path, const uint8_t *ram, uint64_t size,
				  char **error)
{
	if ((uintptr_t)ram % RAM_PAGE_SIZE || size % RAM_PAGE_SIZE) {
		*error = g_strdup_printf("%s: guest RAM is not whole pages", path);
		return NULL;
	}
	struct ram_saver *s = g_new0(struct ram_saver, 1);
	s->path = g_strdup(path);
	s->tmp_path = g_strdup_printf("%s.tmp", path);
	s->ram = ram;
	s->size = size;
	s->fresh = true;
	/* guest memory may hold secrets: readable by the owner only */
	s->fd = open(s->tmp_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (s->fd < 0) {
		*error = g_strdup_printf("%s: %s", s->tmp_path, strerror(errno));
		ram_saver_abort(s);
		return NULL;
	}
	if (ftruncate(s->fd, size) < 0) {
		*error = g_strdup_printf("%s: cannot make it %" PRIu64 " bytes: %s", s->tmp_path,
					 size, strerror(errno));
		ram_saver_abort(s);
		return NULL;
	}
	return s;
}

/* Writes (or zeroes) the run of pages [FIRST, FIRST + N) whose kind is ZERO. */
static int saver_flush_run(struct ram_saver *s, uint64_t first, uint64_t n, bool zero)
{
	uint64_t off = first * RAM_PAGE_SIZE, len = n * RAM_PAGE_SIZE;
	if (!zero)
		return pwrite_all(s->fd, s->ram + off, len, off);
	return s->fresh ? 0 : zero_range(s->fd, off, len);
}

int64_t ram_saver_pass(struct ram_saver *s, const uint64_t *dirty_bitmap, char **error)
{
	uint64_t npages = s->size / RAM_PAGE_SIZE;
	uint64_t run_first = 0, run_len = 0, written = 0;
	bool run_zero = false;
	for (uint64_t p = 0; p < npages; p++) {
		if (dirty_bitmap && !(dirty_bitmap[p / 64] >> (p % 64) & 1)) {
			if (dirty_bitmap[p / 64] == 0 && p % 64 == 0)
				p += 63; /* a clean word: skip its 64 pages */
			continue;
		}
		bool zero = page_is_zero(s->ram + p * RAM_PAGE_SIZE);
		written++;
		if (run_len && run_zero == zero && run_first + run_len == p &&
		    run_len < RAM_WRITE_MAX / RAM_PAGE_SIZE) {
			run_len++;
			continue;
		}
		if (run_len && saver_flush_run(s, run_first, run_len, run_zero) < 0)
			goto fail;
		run_first = p;
		run_len = 1;
		run_zero = zero;
	}
	if (run_len && saver_flush_run(s, run_first, run_len, run_zero) < 0)
		goto fail;
	s->fresh = false;
	return written;
fail:
	*error = g_strdup_printf("%s: %s", s->tmp_path, strerror(errno));
	return -1;
}

static int fsync_parent_dir(const char *path)
{
	char *dir = g_path_get_dirname(path);
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	g_free(dir);
	if (fd < 0)
		return -1;
	int ret = fsync(fd);
	int saved = errno;
	close(fd);
	errno = saved;
	return ret;
}

int ram_saver_finish(struct ram_saver *s, char **error)
{
	const char *step = NULL;
	if (fdatasync(s->fd) < 0)
		step = "writing to disk";
	else if (close(s->fd) < 0)
		step = "closing";
	if (!step)
		s->fd = -1;
	if (!step && rename(s->tmp_path, s->path) < 0)
		step = "renaming into place";
	if (step) {
		*error = g_strdup_printf("%s: %s: %s", s->tmp_path, step, strerror(errno));
		ram_saver_abort(s);
		return -1;
	}
	/* the rename is durable once the directory is: without this a power cut could bring
	 * back the old name (or no name) for a snapshot already reported taken */
	int ret = 0;
	if (fsync_parent_dir(s->path) < 0) {
		*error = g_strdup_printf("%s: flushing its directory: %s", s->path,
					 strerror(errno));
		ret = -1;
	}
	g_free(s->path);
	g_free(s->tmp_path);
	g_free(s);
	return ret;
}

void ram_saver_abort(struct ram_saver *s)
{
	if (!s)
		return;
	if (s->fd >= 0)
		close(s->fd);
	unlink(s->tmp_path);
	g_free(s->path);
	g_free(s->tmp_path);
	g_free(s);
}

int ram_save(const uint8_t *ram, uint64_t size, const char *path, char **error)
{
	struct ram_saver *s = ram_saver_begin(path, ram, size, error);
	if (!s)
		return -1;
	if (ram_saver_pass(s, NULL, error) < 0) {
		ram_saver_abort(s);
		return -1;
	}
	return ram_saver_finish(s, error);
}

/* ---- revert ---- */

int ram_restore_map(uint8_t *ram, uint64_t size, const char *path, char **error)
{
	if ((uintptr_t)ram % RAM_PAGE_SIZE || size % RAM_PAGE_SIZE || size == 0) {
		*error = g_strdup_printf("%s: guest RAM is not whole pages", path);
		return -1;
	}
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		*error = g_strdup_printf("%s: %s", path, strerror(errno));
		return -1;
	}
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		*error = g_strdup_printf("%s: %s", path,
					 errno ? strerror(errno) : "not a regular file");
		close(fd);
		return -1;
	}
	if ((uint64_t)st.st_size != size) {
		*error = g_strdup_printf("%s: RAM image of %" PRIu64 " bytes, but the VM has "
					 "%" PRIu64 " bytes of RAM (%s)",
					 path, (uint64_t)st.st_size, size,
					 (uint64_t)st.st_size < size ? "truncated file"
								     : "saved with more memory");
		close(fd);
		return -1;
	}
	/* Map it elsewhere first: whatever can go wrong with the file (no mmap on that file
	 * system, limits) goes wrong here, with guest RAM untouched. Then move it over RAM in
	 * one step. MAP_NORESERVE as for the anonymous RAM: copies are charged when made. */
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_NORESERVE, fd, 0);
	int saved = errno;
	close(fd);
	if (p == MAP_FAILED) {
		*error = g_strdup_printf("%s: cannot map it: %s", path, strerror(saved));
		return -1;
	}
	if (mremap(p, size, size, MREMAP_MAYMOVE | MREMAP_FIXED, ram) == MAP_FAILED) {
		saved = errno;
		munmap(p, size);
		*error = g_strdup_printf("%s: cannot map it over guest RAM: %s", path,
					 strerror(saved));
		/* mremap checks its arguments before it unmaps the target; should a kernel ever
		 * fail later, keep the address range mapped so that the process survives */
		if (msync(ram, size, MS_ASYNC) < 0 && errno == ENOMEM) {
			mmap(ram, size, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0);
			char *e = *error;
			*error = g_strdup_printf("%s; guest RAM is lost: reset the machine", e);
			g_free(e);
		}
		return -1;
	}
	return 0;
}

/* ---- dirty bitmaps ---- */

uint64_t ram_bitmap_words(uint64_t size)
{
	uint64_t pages = (size + RAM_PAGE_SIZE - 1) / RAM_PAGE_SIZE;
	return (pages + 63) / 64;
}

void ram_bitmap_merge(uint64_t *dst, uint64_t first_page, const uint64_t *src, uint64_t npages)
{
	uint64_t nwords = (npages + 63) / 64;
	for (uint64_t w = 0; w < nwords; w++) {
		uint64_t bits = src[w];
		if (w == nwords - 1 && npages % 64)
			bits &= (1ull << (npages % 64)) - 1;
		if (!bits)
			continue;
		uint64_t page = first_page + w * 64;
		if (page % 64 == 0) {
			dst[page / 64] |= bits;
			continue;
		}
		unsigned shift = page % 64;
		dst[page / 64] |= bits << shift;
		if (bits >> (64 - shift)) /* never past the end of a bitmap sized for RAM */
			dst[page / 64 + 1] |= bits >> (64 - shift);
	}
}
