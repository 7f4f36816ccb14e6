/*
 * The asynchronous side of the block layer: requests leave the submitting (vCPU) thread and
 * their done callbacks run on the GLib main loop.
 *
 * Requests leave the submitting thread through a per-device queue served by a worker thread,
 * which either
 *   - hands them to io_uring (raw images, where liburing is available and the kernel lets
 *     us set up a ring): several requests are in flight in the kernel at once; a flush
 *     carries IOSQE_IO_DRAIN so that it starts only after every earlier request finished; or
 *   - runs the driver's synchronous operations one at a time, in submission order (qcow2,
 *     and raw without io_uring), so a flush follows the writes before it and the qcow2
 *     metadata needs no locking beyond one mutex.
 * Only the worker submits to the ring: io_uring cancels a thread's requests when that thread
 * exits, and a vCPU thread may exit with requests in flight.
 * block_try_now() skips all of this when the device is idle and the driver can serve the
 * request without waiting for the disk: it runs on the caller's thread. While it runs, the
 * worker starts nothing, so a flush queued meanwhile still comes after it.
 * Finished requests go on the device's done list and an eventfd wakes a GSource on the
 * default main context, which runs the callbacks. block_drain() either runs them itself
 * (when it can acquire the default context: nobody else runs the loop) or waits for the
 * loop to run them.
 */
#include <errno.h>
#include <fcntl.h>
#include <glib-unix.h>
#include <glib.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>
#ifdef HAVE_LIBURING
#include <liburing.h>
#endif

#include "block/block.h"
#include "log.h"

/* A singly linked FIFO of requests (through req->next). */
struct req_list {
	struct block_req *head, **tail;
};

struct block_aio {
	struct block_dev *bd;
	GMutex lock;	      /* everything below but drv_lock and the ring */
	GCond work_cond;      /* the worker: todo is not empty, or stop */
	GCond done_cond;      /* drainers: a request finished or a callback returned */
	GMutex drv_lock;      /* one driver call at a time: worker vs synchronous helpers */
	struct req_list todo; /* waiting for the worker */
	struct req_list done; /* finished, callback not run yet */
	unsigned pending;     /* submitted and callback not yet returned */
	unsigned in_callback; /* callbacks running now (a drain inside one waits for the rest) */
	unsigned in_flight;   /* queued or running on the worker or the ring, not finished */
	unsigned inlined;     /* block_try_now calls running now */
	bool stop;
	bool no_inline; /* block_set_inline(false), or PCVM_NO_INLINE=1 */
	GThread *worker;
	int efd;
	GSource *source;
#ifdef HAVE_LIBURING
	bool uring;
	struct io_uring ring; /* submissions: the worker; completions: the context owner */
	unsigned in_ring;     /* SQEs the worker queued and the owner has not reaped */
#endif
};

static void list_init(struct req_list *l)
{
	l->head = NULL;
	l->tail = &l->head;
}

static void list_push(struct req_list *l, struct block_req *req)
{
	req->next = NULL;
	*l->tail = req;
	l->tail = &req->next;
}

static struct block_req *list_pop(struct req_list *l)
{
	struct block_req *req = l->head;
	if (req && !(l->head = req->next))
		l->tail = &l->head;
	return req;
}

/* ---- completions ---- */

/* A request finished with RET: queue its callback for the main loop. */
static void aio_post(struct block_aio *a, struct block_req *req, int ret)
{
	req->ret = ret;
	g_mutex_lock(&a->lock);
	a->in_flight--;
	list_push(&a->done, req);
	g_cond_broadcast(&a->done_cond);
	g_mutex_unlock(&a->lock);
	eventfd_write(a->efd, 1);
}

/* Runs the queued callbacks; on the thread that owns the default main context. */
static void aio_run_completions(struct block_aio *a)
{
	g_mutex_lock(&a->lock);
	struct block_req *req;
	while ((req = list_pop(&a->done))) {
		int ret = req->ret;
		a->in_callback++;
		g_mutex_unlock(&a->lock);
		req->done(req, ret); /* may free req, may submit more */
		g_mutex_lock(&a->lock);
		a->in_callback--;
		a->pending--;
		g_cond_broadcast(&a->done_cond);
	}
	g_mutex_unlock(&a->lock);
}

#ifdef HAVE_LIBURING
static void uring_reap(struct block_aio *a);
static void uring_wait(struct block_aio *a);
static bool uring_run(struct block_aio *a, struct block_req *req);
#endif

static gboolean aio_dispatch(gint fd, GIOCondition cond, gpointer opaque)
{
	struct block_aio *a = opaque;
	eventfd_t count;
	(void)cond;
	eventfd_read(fd, &count);
#ifdef HAVE_LIBURING
	if (a->uring)
		uring_reap(a);
#endif
	aio_run_completions(a);
	return G_SOURCE_CONTINUE;
}

void block_drain(struct block_dev *bd)
{
	struct block_aio *a = bd->aio;
	if (!a)
		return;
	/* Owning the default context, we are the main loop (or there is none): run the
	 * callbacks here. Otherwise the loop's thread runs them and we wait. */
	bool owner = g_main_context_acquire(NULL);
	g_mutex_lock(&a->lock);
	while (a->pending > (owner ? a->in_callback : 0)) {
		if (owner && a->done.head) {
			g_mutex_unlock(&a->lock);
			aio_run_completions(a);
			g_mutex_lock(&a->lock);
			continue;
		}
#ifdef HAVE_LIBURING
		if (owner && a->uring) {
			g_mutex_unlock(&a->lock);
			uring_wait(a);
			g_mutex_lock(&a->lock);
			continue;
		}
#endif
		g_cond_wait(&a->done_cond, &a->lock);
	}
	g_mutex_unlock(&a->lock);
	if (owner)
		g_main_context_release(NULL);
}

/* ---- the worker thread ---- */

/* The worker's part of one request. */
static void aio_run(struct block_aio *a, struct block_req *req)
{
#ifdef HAVE_LIBURING
	if (a->uring && uring_run(a, req))
		return;
#endif
	g_mutex_lock(&a->drv_lock);
	int ret = block_exec(a->bd, req);
	g_mutex_unlock(&a->drv_lock);
	aio_post(a, req, ret);
}

static gpointer aio_worker(gpointer opaque)
{
	struct block_aio *a = opaque;
	g_mutex_lock(&a->lock);
	for (;;) {
		/* a request runs inline: nothing may overtake it (a flush must come after it) */
		struct block_req *req = a->inlined ? NULL : list_pop(&a->todo);
		if (!req && a->stop && !a->todo.head)
			break;
		if (!req) {
			g_cond_wait(&a->work_cond, &a->lock);
			continue;
		}
		g_mutex_unlock(&a->lock);
		aio_run(a, req);
		g_mutex_lock(&a->lock);
	}
	g_mutex_unlock(&a->lock);
	return NULL;
}

static void worker_submit(struct block_aio *a, struct block_req *req)
{
	g_mutex_lock(&a->lock);
	list_push(&a->todo, req);
	if (!a->worker)
		a->worker = g_thread_new("block-io", aio_worker, a);
	g_cond_signal(&a->work_cond);
	g_mutex_unlock(&a->lock);
}

/* ---- io_uring (raw images) ---- */

static int block_uring_allowed = 1;

void block_set_io_uring(bool allowed)
{
	g_atomic_int_set(&block_uring_allowed, allowed);
}

#ifdef HAVE_LIBURING
#define URING_ENTRIES 128
#define URING_MAX_IO  (1u << 30) /* bytes per SQE; longer requests continue */

static bool uring_start(struct block_aio *a)
{
	const char *off = getenv("PCVM_NO_IO_URING");
	if ((off && *off && strcmp(off, "0")) || a->bd->drv != &block_raw_driver ||
	    !g_atomic_int_get(&block_uring_allowed))
		return false;
	if (io_uring_queue_init(URING_ENTRIES, &a->ring, 0) < 0)
		return false;
	if (io_uring_register_eventfd(&a->ring, a->efd) < 0) {
		io_uring_queue_exit(&a->ring);
		return false;
	}
	return true;
}

/* Fills SQE for what is left of REQ. */
static void uring_prep(struct block_aio *a, struct io_uring_sqe *sqe, struct block_req *req)
{
	int fd = a->bd->fd;
	size_t left = req->len - req->progress;
	unsigned n = left > URING_MAX_IO ? URING_MAX_IO : (unsigned)left;
	uint8_t *buf = (uint8_t *)req->buf + req->progress;
	uint64_t off = req->offset + req->progress;
	switch (req->op) {
	case BLOCK_READ: io_uring_prep_read(sqe, fd, buf, n, off); break;
	case BLOCK_WRITE: io_uring_prep_write(sqe, fd, buf, n, off); break;
	case BLOCK_FLUSH:
		io_uring_prep_fsync(sqe, fd, IORING_FSYNC_DATASYNC);
		sqe->flags |= IOSQE_IO_DRAIN; /* after every earlier request */
		break;
	case BLOCK_DISCARD:
		io_uring_prep_fallocate(sqe, fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off,
					req->len);
		break;
	}
	io_uring_sqe_set_data(sqe, req);
}

/*
 * The worker hands REQ (what is left of it) to the ring; false if the ring is full (more
 * requests in flight than the completion queue is sized for), and the caller runs REQ
 * synchronously instead: rare, and still correct.
 */
static bool uring_run(struct block_aio *a, struct block_req *req)
{
	int ret = req->progress ? 0 : block_check(a->bd, req);
	if (!ret && !req->progress && req->op == BLOCK_WRITE)
		ret = block_raw_check_write(a->bd, req->buf, req->len, req->offset);
	if (ret < 0 || (!req->len && req->op != BLOCK_FLUSH)) {
		aio_post(a, req, ret);
		return true;
	}
	struct io_uring_sqe *sqe = NULL;
	g_mutex_lock(&a->lock);
	if (a->in_ring < URING_ENTRIES && (sqe = io_uring_get_sqe(&a->ring)))
		a->in_ring++;
	g_mutex_unlock(&a->lock);
	if (!sqe)
		return false;
	uring_prep(a, sqe, req);
	io_uring_submit(&a->ring);
	return true;
}

/* A CQE for REQ with result RES: finished, or continue a short transfer. */
static void uring_result(struct block_aio *a, struct block_req *req, int res)
{
	bool xfer = req->op == BLOCK_READ || req->op == BLOCK_WRITE;
	if (req->op == BLOCK_DISCARD && (res == -EOPNOTSUPP || res == -ENOSYS))
		res = 0; /* discarding is advisory */
	if (!xfer || res < 0) {
		aio_post(a, req, res < 0 ? res : 0);
		return;
	}
	if (res == 0 && req->op == BLOCK_WRITE) {
		aio_post(a, req, -EIO);
		return;
	}
	if (res == 0) { /* read past the end of a shortened file: zeros, as raw_pread */
		memset((uint8_t *)req->buf + req->progress, 0, req->len - req->progress);
		res = req->len - req->progress;
	}
	req->progress += res;
	if (req->progress < req->len)
		worker_submit(a, req); /* the rest, through the worker again */
	else
		aio_post(a, req, 0);
}

/* Collects finished CQEs; on the default context's owner only. */
static void uring_reap(struct block_aio *a)
{
	struct io_uring_cqe *cqe;
	while (io_uring_peek_cqe(&a->ring, &cqe) == 0) {
		struct block_req *req = io_uring_cqe_get_data(cqe);
		int res = cqe->res;
		io_uring_cqe_seen(&a->ring, cqe);
		g_mutex_lock(&a->lock);
		a->in_ring--;
		g_mutex_unlock(&a->lock);
		uring_result(a, req, res);
	}
}

/* Waits a little for a CQE and reaps. Bounded: the request waited for may still be on its
 * way to the ring, or fail before reaching it. */
static void uring_wait(struct block_aio *a)
{
	struct io_uring_cqe *cqe;
	struct __kernel_timespec ts = { .tv_nsec = 10 * 1000 * 1000 };
	io_uring_wait_cqe_timeout(&a->ring, &cqe, &ts);
	uring_reap(a);
}
#endif

/* ---- the device's queue ---- */

struct block_aio *block_aio_new(struct block_dev *bd)
{
	struct block_aio *a = g_new0(struct block_aio, 1);
	a->bd = bd;
	g_mutex_init(&a->lock);
	g_mutex_init(&a->drv_lock);
	g_cond_init(&a->work_cond);
	g_cond_init(&a->done_cond);
	list_init(&a->todo);
	list_init(&a->done);
	a->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (a->efd < 0)
		g_error("eventfd: %s", strerror(errno)); /* out of descriptors at open: fatal */
#ifdef HAVE_LIBURING
	a->uring = uring_start(a);
#endif
	const char *off = getenv("PCVM_NO_INLINE");
	a->no_inline = off && *off && strcmp(off, "0");
	a->source = g_unix_fd_source_new(a->efd, G_IO_IN);
	g_source_set_callback(a->source, (GSourceFunc)(void (*)(void))aio_dispatch, a, NULL);
	g_source_attach(a->source, NULL);
	return a;
}

/* REQ through the driver's nowait operations: 0 when done, else it goes the ordinary way. */
static int aio_exec_nowait(struct block_dev *bd, struct block_req *req)
{
	const struct block_driver *drv = bd->drv;
	if (block_check(bd, req) < 0)
		return -EAGAIN; /* the ordinary path reports it */
	if (req->op == BLOCK_READ && drv->pread_nowait)
		return drv->pread_nowait(bd, req->buf, req->len, req->offset);
	if (req->op == BLOCK_WRITE && drv->pwrite_nowait)
		return drv->pwrite_nowait(bd, req->buf, req->len, req->offset);
	return -EAGAIN;
}

/* REQ on the caller's thread, if the device is idle (nothing earlier is overtaken) and its
 * driver lock free (a synchronous helper or a snapshot holding it: the ordinary way). */
int block_aio_try_now(struct block_dev *bd, struct block_req *req)
{
	struct block_aio *a = bd->aio;
	g_mutex_lock(&a->lock);
	bool go = !a->in_flight && !a->stop && !a->no_inline;
	a->inlined += go;
	g_mutex_unlock(&a->lock);
	if (!go)
		return -EAGAIN;
	int ret = -EAGAIN;
	if (g_mutex_trylock(&a->drv_lock)) {
		ret = aio_exec_nowait(bd, req);
		g_mutex_unlock(&a->drv_lock);
	}
	g_mutex_lock(&a->lock);
	a->inlined--;
	if (a->todo.head)
		g_cond_signal(&a->work_cond); /* it waited for us */
	g_mutex_unlock(&a->lock);
	return ret < 0 ? -EAGAIN : 0;
}

void block_aio_submit(struct block_dev *bd, struct block_req *req)
{
	struct block_aio *a = bd->aio;
	g_mutex_lock(&a->lock);
	a->pending++;
	a->in_flight++;
	g_mutex_unlock(&a->lock);
	req->progress = 0;
	worker_submit(a, req);
}

void block_aio_free(struct block_dev *bd)
{
	struct block_aio *a = bd->aio;
	g_mutex_lock(&a->lock);
	a->stop = true;
	g_cond_signal(&a->work_cond);
	g_mutex_unlock(&a->lock);
	if (a->worker)
		g_thread_join(a->worker);
	g_source_destroy(a->source);
	g_source_unref(a->source);
#ifdef HAVE_LIBURING
	if (a->uring)
		io_uring_queue_exit(&a->ring);
#endif
	close(a->efd);
	g_mutex_clear(&a->lock);
	g_mutex_clear(&a->drv_lock);
	g_cond_clear(&a->work_cond);
	g_cond_clear(&a->done_cond);
	g_free(a);
	bd->aio = NULL;
}

void block_set_inline(struct block_dev *bd, bool allowed)
{
	struct block_aio *a = bd->aio;
	if (!a)
		return; /* a memory device: always served at once */
	g_mutex_lock(&a->lock);
	a->no_inline = !allowed;
	g_mutex_unlock(&a->lock);
}

void block_aio_lock(struct block_dev *bd)
{
	g_mutex_lock(&bd->aio->drv_lock);
}

void block_aio_unlock(struct block_dev *bd)
{
	g_mutex_unlock(&bd->aio->drv_lock);
}

/* Whether the device's requests go through io_uring (for tests and `disk info`). */
bool block_uses_io_uring(const struct block_dev *bd)
{
#ifdef HAVE_LIBURING
	return bd->aio && bd->aio->uring;
#else
	(void)bd;
	return false;
#endif
}
