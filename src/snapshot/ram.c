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
#include <sys/sysmacros.h>
#include <unistd.h>

/* Largest single write: runs of non-zero pages are written in one call up to this size. */
#define RAM_WRITE_MAX (8u << 20)
/* Progress is reported after each this much RAM walked. */
#define RAM_PROGRESS_STEP (32ull << 20)
/* /proc/self/pagemap entries read at a time (8 bytes each) */
#define PAGEMAP_BATCH 8192
/* pagemap bits (Documentation/admin-guide/mm/pagemap.rst) */
#define PM_PRESENT (1ull << 63)
#define PM_SWAPPED (1ull << 62)
#define PM_FILE (1ull << 61) /* a file page or shared anonymous: not a private copy */

struct ram_saver {
	char *path, *tmp_path;
	int fd;
	const uint8_t *ram;
	uint64_t size;
	/* the file still holds only holes where nothing was written: zero pages need no write */
	bool fresh;
	ram_progress_fn progress;
	void *progress_opaque;
	uint64_t walked, reported; /* bytes of RAM the current pass has dealt with */
};

/* A run of pages of one kind waiting to be written (or, zero pages, punched). */
struct ram_run {
	uint64_t first, len;
	bool zero;
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
	/* a new inode, never one a writer of an earlier, interrupted save still has open; guest
	 * memory may hold secrets: readable by the owner only */
	unlink(s->tmp_path);
	s->fd = open(s->tmp_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
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

void ram_saver_set_progress(struct ram_saver *s, ram_progress_fn fn, void *opaque)
{
	s->progress = fn;
	s->progress_opaque = opaque;
}

/* BYTES more of RAM dealt with in this pass. */
static void saver_walked(struct ram_saver *s, uint64_t bytes)
{
	s->walked += bytes;
	if (s->progress && (s->walked - s->reported >= RAM_PROGRESS_STEP || s->walked == s->size)) {
		s->reported = s->walked;
		s->progress(s->progress_opaque, s->walked, s->size);
	}
}

/* Writes (or zeroes) run R. */
static int saver_flush_run(struct ram_saver *s, const struct ram_run *r)
{
	uint64_t off = r->first * RAM_PAGE_SIZE, len = r->len * RAM_PAGE_SIZE;
	if (!r->len)
		return 0;
	if (!r->zero)
		return pwrite_all(s->fd, s->ram + off, len, off);
	return s->fresh ? 0 : zero_range(s->fd, off, len);
}

/* Page P, read from RAM, joins run R (which is written out first if P cannot extend it). */
static int saver_add_page(struct ram_saver *s, struct ram_run *r, uint64_t p)
{
	bool zero = page_is_zero(s->ram + p * RAM_PAGE_SIZE);
	if (r->len && r->zero == zero && r->first + r->len == p &&
	    r->len < RAM_WRITE_MAX / RAM_PAGE_SIZE) {
		r->len++;
		return 0;
	}
	if (saver_flush_run(s, r) < 0)
		return -1;
	*r = (struct ram_run){ .first = p, .len = 1, .zero = zero };
	return 0;
}

/* Reads pages [FIRST, END) from RAM and writes them. */
static int saver_scan(struct ram_saver *s, struct ram_run *r, uint64_t first, uint64_t end)
{
	const uint64_t step = RAM_PROGRESS_STEP / RAM_PAGE_SIZE;
	for (uint64_t p = first; p < end; p++) {
		if (saver_add_page(s, r, p) < 0)
			return -1;
		if ((p + 1 - first) % step == 0)
			saver_walked(s, step * RAM_PAGE_SIZE);
	}
	saver_walked(s, (end - first) % step * RAM_PAGE_SIZE);
	return 0;
}

static int64_t saver_pass_bitmap(struct ram_saver *s, const uint64_t *dirty_bitmap)
{
	uint64_t npages = s->size / RAM_PAGE_SIZE, written = 0;
	struct ram_run r = { 0 };
	for (uint64_t p = 0; p < npages; p++) {
		if (!(dirty_bitmap[p / 64] >> (p % 64) & 1)) {
			if (dirty_bitmap[p / 64] == 0 && p % 64 == 0)
				p += 63; /* a clean word: skip its 64 pages */
			continue;
		}
		written++;
		if (saver_add_page(s, &r, p) < 0)
			return -1;
	}
	if (saver_flush_run(s, &r) < 0)
		return -1;
	saver_walked(s, s->size);
	return written;
}

/* ---- where pages nobody wrote come from ---- */

/*
 * A full pass into a fresh file need not read every page. The pages the guest never wrote
 * (since RAM was allocated, or since a revert mapped a RAM file over it) are still what
 * backs the mapping: zeros for anonymous memory, the file's contents for a RAM file mapped
 * by ram_restore_map. /proc/self/pagemap tells them apart from the pages that are RAM's own
 * (present and not a file page, or swapped out): only those are read. Pages of a file are
 * copied from it (copy_file_range) where it has data, and skipped where it has holes; pages of
 * anonymous memory that were never touched are skipped. So a take does work in proportion to
 * the data, not to the size of RAM. Where any of this is unknown, every page is read.
 */

enum ram_origin { RAM_ORIGIN_UNKNOWN, RAM_ORIGIN_ZERO, RAM_ORIGIN_FILE };

struct ram_segment {
	uint64_t start, end; /* byte offsets in RAM */
	enum ram_origin origin;
	int fd;		   /* RAM_ORIGIN_FILE: the file ... */
	uint64_t file_off; /* ... and where START is in it */
};

/* The files ram_restore_map mapped, kept open so that a save can read them even once they
 * are unlinked (a deleted snapshot, a resumed suspend). Checked against /proc/self/maps
 * before use: an entry whose mapping was replaced is never trusted. */
struct ram_mapped_file {
	uintptr_t addr;
	uint64_t size;
	int fd;
	dev_t dev;
	ino_t ino;
};

static GMutex mapped_lock;
static GArray *mapped_files; /* struct ram_mapped_file */

static void mapped_files_set(uint8_t *ram, uint64_t size, int fd)
{
	struct stat st;
	if (fstat(fd, &st) < 0) {
		close(fd);
		return;
	}
	g_mutex_lock(&mapped_lock);
	if (!mapped_files)
		mapped_files = g_array_new(FALSE, FALSE, sizeof(struct ram_mapped_file));
	for (guint i = mapped_files->len; i-- > 0;) {
		struct ram_mapped_file *m = &g_array_index(mapped_files, struct ram_mapped_file, i);
		if (m->addr < (uintptr_t)ram + size && (uintptr_t)ram < m->addr + m->size) {
			close(m->fd);
			g_array_remove_index_fast(mapped_files, i);
		}
	}
	struct ram_mapped_file m = {
		.addr = (uintptr_t)ram, .size = size, .fd = fd, .dev = st.st_dev, .ino = st.st_ino,
	};
	g_array_append_val(mapped_files, m);
	g_mutex_unlock(&mapped_lock);
}

/* The open file mapped at ADDR with this device and inode, or -1. */
static int mapped_files_find(uintptr_t addr, unsigned dev_major, unsigned dev_minor,
			     uint64_t ino)
{
	int fd = -1;
	g_mutex_lock(&mapped_lock);
	for (guint i = 0; mapped_files && i < mapped_files->len && fd < 0; i++) {
		struct ram_mapped_file *m = &g_array_index(mapped_files, struct ram_mapped_file, i);
		if (addr >= m->addr && addr < m->addr + m->size && m->ino == ino &&
		    major(m->dev) == dev_major && minor(m->dev) == dev_minor)
			fd = m->fd;
	}
	g_mutex_unlock(&mapped_lock);
	return fd;
}

/* One line of /proc/self/maps as a segment of RAM [RAM, RAM + SIZE); false if it is none. */
static bool segment_from_maps_line(const char *line, const uint8_t *ram, uint64_t size,
				   struct ram_segment *seg)
{
	unsigned long long lo, hi, off, ino;
	unsigned maj, mnr;
	char perms[8];
	if (sscanf(line, "%llx-%llx %7s %llx %x:%x %llu", &lo, &hi, perms, &off, &maj, &mnr,
		   &ino) != 7)
		return false;
	uintptr_t base = (uintptr_t)ram;
	if (hi <= base || lo >= base + size)
		return false;
	uintptr_t from = MAX((uintptr_t)lo, base), to = MIN((uintptr_t)hi, base + size);
	*seg = (struct ram_segment){ .start = from - base, .end = to - base };
	if (perms[3] != 'p') /* shared: not RAM as pcvm maps it */
		return true;
	if (ino == 0) {
		seg->origin = RAM_ORIGIN_ZERO;
	} else if ((seg->fd = mapped_files_find(from, maj, mnr, ino)) >= 0) {
		seg->origin = RAM_ORIGIN_FILE;
		seg->file_off = off + (from - lo);
	}
	return true;
}

/* RAM cut where its backing changes; gaps (none expected) and unknowns read page by page. */
static GArray *ram_segments(const uint8_t *ram, uint64_t size)
{
	GArray *segs = g_array_new(FALSE, FALSE, sizeof(struct ram_segment));
	g_autofree char *maps = NULL;
	uint64_t covered = 0;
	if (g_file_get_contents("/proc/self/maps", &maps, NULL, NULL)) {
		char *save = NULL;
		for (char *l = strtok_r(maps, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
			struct ram_segment seg;
			if (!segment_from_maps_line(l, ram, size, &seg))
				continue;
			if (seg.start > covered) {
				struct ram_segment gap = { .start = covered, .end = seg.start };
				g_array_append_val(segs, gap);
			}
			g_array_append_val(segs, seg);
			covered = seg.end;
		}
	}
	if (covered < size) {
		struct ram_segment rest = { .start = covered, .end = size };
		g_array_append_val(segs, rest);
	}
	return segs;
}

/* RAM bytes [AT, AT + LEN) of SEG, whose file holds them at the same distance from
 * SEG->file_off: copied from the file where it has data (its holes are holes of the fresh
 * file already). -1 with errno if the kernel cannot copy. */
static int copy_data(struct ram_saver *s, const struct ram_segment *seg, uint64_t at,
		     uint64_t len)
{
	uint64_t src = seg->file_off + (at - seg->start), end = src + len;
	while (src < end) {
		off_t d = lseek(seg->fd, src, SEEK_DATA);
		if (d < 0 && errno == ENXIO)
			return 0; /* only a hole from here to the end of the file */
		if (d < 0)
			return -1;
		if ((uint64_t)d >= end)
			return 0;
		off_t h = lseek(seg->fd, d, SEEK_HOLE);
		uint64_t stop = h < 0 ? end : MIN((uint64_t)h, end);
		loff_t in = d, out = (uint64_t)d - seg->file_off + seg->start;
		while ((uint64_t)in < stop) {
			ssize_t n = copy_file_range(seg->fd, &in, s->fd, &out, stop - in, 0);
			if (n < 0 && errno == EINTR)
				continue;
			if (n == 0)
				errno = EIO; /* the file shrank under the mapping */
			if (n <= 0)
				return -1;
		}
		src = stop;
	}
	return 0;
}

/* Pages [FIRST, END) of SEG that RAM has never written over: their backing's contents. */
static int saver_origin(struct ram_saver *s, struct ram_run *r, const struct ram_segment *seg,
			uint64_t first, uint64_t end)
{
	if (seg->origin == RAM_ORIGIN_FILE &&
	    copy_data(s, seg, first * RAM_PAGE_SIZE, (end - first) * RAM_PAGE_SIZE) < 0) {
		if (errno != EXDEV && errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP)
			return -1;
		return saver_scan(s, r, first, end); /* no copy_file_range: through the mapping */
	}
	saver_walked(s, (end - first) * RAM_PAGE_SIZE);
	return 0;
}

/* Whether a pagemap entry is a page of RAM's own (a private copy), not its backing's. */
static bool page_is_own(uint64_t pm, enum ram_origin origin)
{
	if (pm & PM_SWAPPED)
		return true;
	if (!(pm & PM_PRESENT))
		return false;
	return origin != RAM_ORIGIN_FILE || !(pm & PM_FILE);
}

/* SEG page by page as pagemap (PM, an open /proc/self/pagemap) classifies it. */
static int saver_pass_segment(struct ram_saver *s, struct ram_run *r, int pm,
			      const struct ram_segment *seg)
{
	uint64_t first = seg->start / RAM_PAGE_SIZE, end = seg->end / RAM_PAGE_SIZE;
	if (seg->origin == RAM_ORIGIN_UNKNOWN || pm < 0)
		return saver_scan(s, r, first, end);
	g_autofree uint64_t *ent = g_new(uint64_t, PAGEMAP_BATCH);
	uint64_t vpage = (uintptr_t)s->ram / RAM_PAGE_SIZE;
	uint64_t run = first; /* start of the pages of one kind not dealt with yet */
	bool run_own = false;
	for (uint64_t p = first; p < end; p += PAGEMAP_BATCH) {
		uint64_t n = MIN((uint64_t)PAGEMAP_BATCH, end - p);
		if (pread(pm, ent, n * 8, (vpage + p) * 8) != (ssize_t)(n * 8))
			return saver_scan(s, r, run, end);
		for (uint64_t i = 0; i < n; i++) {
			bool own = page_is_own(ent[i], seg->origin);
			if (own == run_own)
				continue;
			if (p + i > run && (run_own ? saver_scan(s, r, run, p + i)
						    : saver_origin(s, r, seg, run, p + i)) < 0)
				return -1;
			run = p + i;
			run_own = own;
		}
	}
	if (end > run)
		return run_own ? saver_scan(s, r, run, end) : saver_origin(s, r, seg, run, end);
	return 0;
}

static int64_t saver_pass_full(struct ram_saver *s)
{
	GArray *segs = ram_segments(s->ram, s->size);
	int pm = s->fresh ? open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC) : -1;
	struct ram_run r = { 0 };
	int ret = 0;
	for (guint i = 0; i < segs->len && ret == 0; i++) {
		struct ram_segment seg = g_array_index(segs, struct ram_segment, i);
		if (!s->fresh)
			seg.origin = RAM_ORIGIN_UNKNOWN; /* holes must be punched: read it all */
		ret = saver_pass_segment(s, &r, pm, &seg);
	}
	if (ret == 0)
		ret = saver_flush_run(s, &r);
	int saved = errno;
	if (pm >= 0)
		close(pm);
	g_array_free(segs, TRUE);
	errno = saved;
	return ret < 0 ? -1 : (int64_t)(s->size / RAM_PAGE_SIZE);
}

int64_t ram_saver_pass(struct ram_saver *s, const uint64_t *dirty_bitmap, char **error)
{
	s->walked = s->reported = 0;
	int64_t ret = dirty_bitmap ? saver_pass_bitmap(s, dirty_bitmap) : saver_pass_full(s);
	if (ret < 0) {
		*error = g_strdup_printf("%s: %s", s->tmp_path, strerror(errno));
		return -1;
	}
	s->fresh = false;
	return ret;
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
	return ram_save_progress(ram, size, path, NULL, NULL, error);
}

int ram_save_progress(const uint8_t *ram, uint64_t size, const char *path, ram_progress_fn fn,
		      void *opaque, char **error)
{
	struct ram_saver *s = ram_saver_begin(path, ram, size, error);
	if (!s)
		return -1;
	ram_saver_set_progress(s, fn, opaque);
	if (ram_saver_pass(s, NULL, error) < 0) {
		ram_saver_abort(s);
		return -1;
	}
	return ram_saver_finish(s, error);
}

/* ---- revert ---- */

/* The RAM a revert replaced: pages moved out of the guest's way, freed later (ram.h). */
struct ram_retired {
	void *addr;
	uint64_t size;
};

/* Bytes of retired RAM not freed yet, for tests and the log. */
static uint64_t retired_pending;

/* munmap of a large filled mapping takes tens of milliseconds (every page goes back to the
 * kernel); this much at a time keeps each call's hold on the address space short, so that
 * vCPU page faults, which need it too, are not held up. */
#define RAM_FREE_CHUNK (16u << 20)
/* PMD size on x86-64: a move between addresses aligned to it moves whole page tables */
#define RAM_MOVE_ALIGN (2u << 20)

/* An address range of SIZE bytes aligned to RAM_MOVE_ALIGN, reserved (PROT_NONE), or NULL. */
static void *ram_reserve_aligned(uint64_t size)
{
	uint64_t len = size + RAM_MOVE_ALIGN;
	uint8_t *p = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	uintptr_t mask = RAM_MOVE_ALIGN - 1;
	uint8_t *a = (uint8_t *)(((uintptr_t)p + mask) & ~mask);
	if (a > p)
		munmap(p, a - p);
	if (p + len > a + size)
		munmap(a + size, p + len - (a + size));
	return a;
}

/*
 * Moves RAM's pages to a new address, RAM staying mapped but empty (MREMAP_DONTUNMAP, Linux
 * 5.7; 5.13 for file mappings): moving page tables frees nothing, so it is quick whatever the
 * guest wrote, and the mapping that replaces RAM then unmaps an empty range. Returns the old
 * pages, or NULL where the kernel cannot (then replacing RAM frees them there and then).
 */
static struct ram_retired *ram_stash(uint8_t *ram, uint64_t size)
{
	void *dst = ram_reserve_aligned(size);
	if (!dst)
		return NULL;
	void *p = mremap(ram, size, size, MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP, dst);
	if (p == MAP_FAILED) {
		munmap(dst, size);
		return NULL;
	}
	struct ram_retired *old = g_new0(struct ram_retired, 1);
	old->addr = p;
	old->size = size;
	__atomic_add_fetch(&retired_pending, size, __ATOMIC_RELAXED);
	return old;
}

/* Puts stashed pages back over RAM (a revert that failed after ram_stash). */
static void ram_unstash(uint8_t *ram, struct ram_retired *old)
{
	if (mremap(old->addr, old->size, old->size, MREMAP_MAYMOVE | MREMAP_FIXED, ram) ==
	    MAP_FAILED) {
		ram_retired_free(old); /* cannot happen: RAM is mapped, of this size */
		return;
	}
	__atomic_sub_fetch(&retired_pending, old->size, __ATOMIC_RELAXED);
	g_free(old);
}

/* Opens PATH and checks that it is a RAM file of SIZE bytes; -1 with *ERROR if not. */
static int ram_open_image(const char *path, uint64_t size, char **error)
{
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
	return fd;
}

void ram_restore_prepare(uint8_t *ram, uint64_t size)
{
	/* mremap first breaks up KSM-merged pages of a MADV_MERGEABLE mapping it moves, page by
	 * page (milliseconds per 100 MiB written); clearing the flag does that work now */
	madvise(ram, size, MADV_UNMERGEABLE);
}

int ram_restore_map(uint8_t *ram, uint64_t size, const char *path, struct ram_retired **old,
		    char **error)
{
	if (old)
		*old = NULL;
	if ((uintptr_t)ram % RAM_PAGE_SIZE || size % RAM_PAGE_SIZE || size == 0) {
		*error = g_strdup_printf("%s: guest RAM is not whole pages", path);
		return -1;
	}
	int fd = ram_open_image(path, size, error);
	if (fd < 0)
		return -1;
	/* Map it elsewhere first: whatever can go wrong with the file (no mmap on that file
	 * system, limits) goes wrong here, with guest RAM untouched. Then move it over RAM in
	 * one step. MAP_NORESERVE as for the anonymous RAM: copies are charged when made. */
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_NORESERVE, fd, 0);
	int saved = errno;
	if (p == MAP_FAILED) {
		close(fd);
		*error = g_strdup_printf("%s: cannot map it: %s", path, strerror(saved));
		return -1;
	}
	struct ram_retired *stash = old ? ram_stash(ram, size) : NULL;
	if (mremap(p, size, size, MREMAP_MAYMOVE | MREMAP_FIXED, ram) == MAP_FAILED) {
		saved = errno;
		munmap(p, size);
		close(fd);
		*error = g_strdup_printf("%s: cannot map it over guest RAM: %s", path,
					 strerror(saved));
		if (stash) {
			ram_unstash(ram, stash);
			return -1;
		}
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
	mapped_files_set(ram, size, fd); /* for saves of this RAM (ram_saver_pass) */
	if (old)
		*old = stash;
	return 0;
}

static gpointer ram_free_thread(gpointer data)
{
	struct ram_retired *old = data;
	uint8_t *p = old->addr;
	for (uint64_t off = 0; off < old->size; off += RAM_FREE_CHUNK) {
		uint64_t len = MIN((uint64_t)RAM_FREE_CHUNK, old->size - off);
		munmap(p + off, len);
		__atomic_sub_fetch(&retired_pending, len, __ATOMIC_RELAXED);
	}
	g_free(old);
	return NULL;
}

void ram_retired_free(struct ram_retired *old)
{
	if (!old)
		return;
	GError *err = NULL;
	GThread *t = g_thread_try_new("ram-free", ram_free_thread, old, &err);
	if (t) {
		g_thread_unref(t); /* it ends by itself */
		return;
	}
	g_error_free(err);
	ram_free_thread(old); /* no thread: free it here */
}

uint64_t ram_retired_pending(void)
{
	return __atomic_load_n(&retired_pending, __ATOMIC_RELAXED);
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
