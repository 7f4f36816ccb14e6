/*
 * Disk images behind one small interface: raw and qcow2 files, detected from their contents.
 *
 * Requests are asynchronous. block_submit() queues a request and returns; a worker thread of
 * the device takes it from there (handing raw images' requests to io_uring where liburing is
 * available, running qcow2's — and raw's without io_uring — through the driver one at a time,
 * in submission order), and the done callback runs later on the GLib main loop (the default
 * main context): never inside block_submit(), never on a vCPU thread. Rules for callers:
 *
 *   - block_submit() may be called from any thread (vCPU threads included), concurrently.
 *   - done() runs on the thread that runs the default main context; it must take its device's
 *     lock itself, and it may submit further requests. It must not block_close() the device.
 *   - A request (and its buffer) belongs to the block layer from block_submit() until done()
 *     is called; done() may free it.
 *   - BLOCK_FLUSH completes after every write submitted before it is on stable storage.
 *     Other requests of one device may complete in any order (they complete in submission
 *     order on the worker thread; io_uring may reorder them), as on a real disk.
 *   - block_drain() waits until every request submitted so far has completed and its done()
 *     has run. Called where no other thread runs the main loop (the main thread itself, a
 *     test, shutdown), it runs the done() callbacks itself; called while another thread runs
 *     the main loop, it waits for that loop to run them. Do not hold a lock that done()
 *     takes while calling it. block_close() drains first.
 *
 * Exception: devices from block_open_memory() (and devices a test builds by hand, with no
 * aio state) complete synchronously and inline: done() runs inside block_submit(), on the
 * caller's thread. Device unit tests rely on it.
 *
 * Requests that need not wait (block_try_now): a READ or WRITE that the host can serve at once
 * runs on the caller's thread and is done when the call returns, so a guest polling for
 * completion sees it on its first look instead of after two thread hand-offs. "At once"
 * means: nothing of the device is queued or in flight (such a request never overtakes an
 * earlier one; a request submitted while it runs, a flush say, starts after it), the driver's
 * lock is free, and the driver can do it without waiting for the disk: a read served from the
 * host page cache (preadv2 RWF_NOWAIT), a write into the page cache (RWF_NOWAIT where the
 * filesystem takes it for buffered writes, else a plain buffered write, which waits at most
 * for the kernel's dirty-page throttling), for qcow2 only with the tables cached and no sync
 * needed. Anything else is refused (-EAGAIN) and goes through block_submit().
 *
 * The synchronous helpers (block_pread, block_pwrite, ...) run on the caller's thread; they
 * are serialized with the device's queued requests, but not ordered with them.
 */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BLOCK_SECTOR 512
/* How many backing files deep a chain may go (the image itself is depth 0). */
#define BLOCK_MAX_BACKING_DEPTH 16

enum block_op {
	BLOCK_READ,
	BLOCK_WRITE,
	BLOCK_FLUSH,
	/* The range's contents become unspecified (ATA TRIM). qcow2 frees the whole clusters in
	 * it, which then read as zeros (v2 images with a backing file: the backing file's data);
	 * raw images punch a hole where the host filesystem can. Partial clusters are kept. */
	BLOCK_DISCARD,
};

struct block_req {
	enum block_op op;
	uint64_t offset; /* bytes */
	void *buf;
	size_t len;
	void (*done)(struct block_req *req, int ret); /* ret: 0 or -errno */
	void *opaque;
	/* private to the block layer while the request is submitted */
	int ret;
	size_t progress;	/* io_uring: bytes already transferred */
	struct block_req *next; /* queue link */
};

struct block_dev;
struct block_info;
struct block_snapshot_info;

struct block_driver {
	const char *name;
	/* Does this header (the file's first bytes) belong to this format? */
	bool (*probe)(const uint8_t *header, size_t len);
	int (*open)(struct block_dev *bd, char **error);
	void (*close)(struct block_dev *bd);
	int (*pread)(struct block_dev *bd, void *buf, size_t len, uint64_t offset);
	int (*pwrite)(struct block_dev *bd, const void *buf, size_t len, uint64_t offset);
	int (*flush)(struct block_dev *bd);
	/* optional */
	/* pread/pwrite, but only if they can finish without waiting for the disk (see
	 * block_try_now): 0, or -EAGAIN (or any error) possibly after moving part of the data;
	 * the caller then runs the whole request again the ordinary way. */
	int (*pread_nowait)(struct block_dev *bd, void *buf, size_t len, uint64_t offset);
	int (*pwrite_nowait)(struct block_dev *bd, const void *buf, size_t len, uint64_t offset);
	int (*discard)(struct block_dev *bd, uint64_t offset, uint64_t len);
	int (*get_info)(struct block_dev *bd, struct block_info *info);
	int (*snapshot_create)(struct block_dev *bd, const char *id, const char *name,
			       uint64_t vm_clock_ns, char **error);
	int (*snapshot_goto)(struct block_dev *bd, const char *id, char **error);
	int (*snapshot_delete)(struct block_dev *bd, const char *id, char **error);
	int (*snapshot_list)(struct block_dev *bd, struct block_snapshot_info **out, size_t *n);
};

struct block_aio;

struct block_dev {
	const struct block_driver *drv;
	char *path;
	int fd;
	bool read_only;
	uint64_t size; /* virtual disk size in bytes */
	void *priv;    /* the driver's state */
	/* private to the block layer */
	struct block_aio *aio; /* NULL: requests complete inline (memory and test devices) */
	unsigned depth;	       /* 0 for the disk, n for its n-th backing file */
	bool no_nowait_write;  /* the file refuses RWF_NOWAIT writes (found by trying) */
};

/* Opens PATH, detecting the format from its contents (never from its name). */
struct block_dev *block_open(const char *path, bool read_only, char **error);
/* Opens PATH as FORMAT ("raw", "qcow2"; NULL: detect), e.g. a format recorded in vm.conf. A
 * file that is not in that format is refused ("disk0.qcow2: not a qcow2 image (bad magic)"). */
struct block_dev *block_open_format(const char *path, const char *format, bool read_only,
				    char **error);
/* A disk held in memory, for tests: SIZE bytes of zeros. Completes requests inline. */
struct block_dev *block_open_memory(uint64_t size);
/* Drains, then closes. NULL is a no-op. */
void block_close(struct block_dev *bd);

static inline uint64_t block_size(const struct block_dev *bd)
{
	return bd->size;
}

void block_submit(struct block_dev *bd, struct block_req *req);
void block_drain(struct block_dev *bd);
/* OP (BLOCK_READ or BLOCK_WRITE) of LEN bytes at OFFSET, now, if the host can serve it without
 * waiting (see above): 0 when done; -EAGAIN when not (part of the data may have moved, so a
 * read's buffer holds garbage), and the caller submits it with block_submit(), which also
 * reports any error. Runs on the caller's thread; any thread, any locks but the device's. */
int block_try_now(struct block_dev *bd, enum block_op op, void *buf, size_t len,
		  uint64_t offset);

/* Whole-buffer file I/O for the drivers: retries short transfers and EINTR; a read past the
 * end of the file gives zeros. 0 or -errno. */
int block_fd_read(int fd, void *buf, size_t len, uint64_t off);
int block_fd_write(int fd, const void *buf, size_t len, uint64_t off);
/* The same without waiting for the disk (RWF_NOWAIT): -EAGAIN where the data is not in the
 * page cache (read) or the write would wait; part of the data may have moved by then. A write
 * to a file that refuses RWF_NOWAIT is a plain buffered write (BD remembers which). */
int block_fd_read_nowait(int fd, void *buf, size_t len, uint64_t off);
int block_fd_write_nowait(struct block_dev *bd, int fd, const void *buf, size_t len,
			  uint64_t off);

/* Synchronous helpers (tools, tests, firmware loading). 0 or -errno. */
int block_pread(struct block_dev *bd, void *buf, size_t len, uint64_t offset);
int block_pwrite(struct block_dev *bd, const void *buf, size_t len, uint64_t offset);
int block_discard(struct block_dev *bd, uint64_t offset, uint64_t len);
int block_flush(struct block_dev *bd);

/* Creates a sparse raw image of SIZE bytes; refuses to overwrite. */
int block_create_raw(const char *path, uint64_t size, char **error);
/*
 * Creates a qcow2 v3 image (64 KiB clusters) of SIZE bytes, rounded up to a sector; refuses
 * to overwrite. BACKING (or NULL) is stored as given; a relative name is relative to PATH's
 * directory. With a backing file, SIZE 0 takes the backing file's size.
 */
int block_create_qcow2(const char *path, uint64_t size, const char *backing, char **error);
/* "8G", "512M", "100K", "1T" or plain bytes; returns 0 on a bad string. */
uint64_t block_parse_size(const char *text);

/* For `pcvm disk info`. block_info_clear() frees backing. */
struct block_info {
	const char *format;	  /* "raw", "qcow2", "memory" */
	uint64_t virtual_size;	  /* bytes */
	uint64_t allocated_bytes; /* host bytes the file occupies (st_blocks * 512) */
	char *backing;		  /* backing file name as stored in the image, or NULL */
};
int block_get_info(struct block_dev *bd, struct block_info *info);
void block_info_clear(struct block_info *info);

/*
 * Internal disk snapshots (qcow2's, named by ID, so that `qemu-img snapshot -l` lists them and
 * `qemu-img snapshot -a ID` applies them). Rules:
 *
 *   - Call with no request of BD in flight: drain it first (block_drain). The calls take the
 *     device's driver lock themselves, so queued requests wait, but a request running on
 *     the worker when a snapshot reverts would see the disk change under it.
 *   - 0, or -errno with *ERROR set to a message naming the image (the caller frees it).
 *     Raw disks (and in-memory test disks) answer -ENOTSUP with advice to convert the disk
 *     to qcow2; read-only disks -EROFS; an unknown ID -ENOENT; a duplicate ID -EEXIST.
 *   - Each is crash safe: a kill or power cut at any point leaves the image as it was before
 *     the call or as it is after it (`qemu-img check` then finds at most leaked clusters,
 *     which `qemu-img check -r leaks` reclaims). On success the change is on stable storage.
 */

/* The disk's current contents become snapshot ID (an ID chosen by the caller, e.g. "7"; at
 * most 65535 bytes) named NAME (NULL: no name), taken at guest clock VM_CLOCK_NS. The
 * current state stays writable; writes from now on do not change the snapshot. */
int block_snapshot_create(struct block_dev *bd, const char *id, const char *name,
			  uint64_t vm_clock_ns, char **error);
/* The disk's contents (and its virtual size, block_size()) become those of snapshot ID; what
 * was written since is dropped. The snapshot itself stays. */
int block_snapshot_goto(struct block_dev *bd, const char *id, char **error);
/* Removes snapshot ID and frees the clusters only it held; the current state and the other
 * snapshots are unchanged. */
int block_snapshot_delete(struct block_dev *bd, const char *id, char **error);

struct block_snapshot_info {
	char *id;
	char *name;	    /* "" when the snapshot has none */
	uint64_t date_sec;  /* when it was taken: seconds since the Epoch ... */
	uint32_t date_nsec; /* ... and nanoseconds */
	uint64_t vm_clock_ns;
	uint64_t disk_size;	/* the virtual disk's size in bytes when it was taken */
	uint64_t vm_state_size; /* bytes of VM state QEMU stored inside the image (pcvm: 0) */
};
/* The snapshots in table order: *OUT (free with block_snapshot_list_free) and *N. 0, or
 * -ENOTSUP for a disk that has no snapshot table (raw). */
int block_snapshot_list(struct block_dev *bd, struct block_snapshot_info **out, size_t *n);
void block_snapshot_list_free(struct block_snapshot_info *list, size_t n);

extern const struct block_driver block_raw_driver;
extern const struct block_driver block_qcow2_driver;

/* ---- inside the block layer ---- */

/* Opens PATH read-only for a backing chain, as FORMAT (NULL: detect): no asynchronous queue,
 * DEPTH levels below the disk. */
struct block_dev *block_open_backing(const char *path, const char *format, unsigned depth,
				     char **error);
/* 0, or -EPERM for a write that would make a raw disk probe as another format (raw.c). */
int block_raw_check_write(struct block_dev *bd, const void *buf, size_t len, uint64_t off);
/* 0 if REQ fits the device, else the -errno it fails with (-EINVAL, -EROFS). */
int block_check(const struct block_dev *bd, const struct block_req *req);
/* Runs one request synchronously through the driver; 0 or -errno. */
int block_exec(struct block_dev *bd, struct block_req *req);
/* The asynchronous queue (aio.c). */
struct block_aio *block_aio_new(struct block_dev *bd);
void block_aio_submit(struct block_dev *bd, struct block_req *req);
int block_aio_try_now(struct block_dev *bd, struct block_req *req);
void block_aio_free(struct block_dev *bd);
void block_aio_lock(struct block_dev *bd);
void block_aio_unlock(struct block_dev *bd);
bool block_uses_io_uring(const struct block_dev *bd);
/* Whether raw images opened from now on may use io_uring (default yes; the environment
 * variable PCVM_NO_IO_URING=1 also turns it off). For tests of the worker-thread path. */
void block_set_io_uring(bool allowed);
/* Whether block_try_now may serve BD's requests (default yes; the environment variable
 * PCVM_NO_INLINE=1 turns it off for every device opened). For tests of the asynchronous path
 * and to measure what serving at once gains. Memory devices always serve at once. */
void block_set_inline(struct block_dev *bd, bool allowed);
