/*
 * The SCSI bus behind the LSI53C895A and the targets on it (SCSI-2, X3.131-1994: the bus
 * phases, the message system of chapter 6): selection, MESSAGE OUT (IDENTIFY, queue tags,
 * SDTR/WDTR answered asynchronous narrow, ABORT, BUS DEVICE RESET, MESSAGE REJECT for the
 * rest), COMMAND, DATA IN/OUT through a 64 KiB buffer with the image read and written a chunk
 * at a time, STATUS, MESSAGE IN (COMMAND COMPLETE). Targets never disconnect. The command set
 * is scsi_disk.c's; the image's requests are asynchronous and the target withholds REQ while
 * one is in flight, which stalls the SCRIPTS processor until the completion.
 */
#include <glib.h>
#include <string.h>

#include "block/block.h"
#include "clock.h"
#include "devices/lsi_internal.h"
#include "log.h"

/* Messages (SCSI-2 6.5) */
#define MSG_COMMAND_COMPLETE 0x00
#define MSG_EXTENDED 0x01
#define MSG_INITIATOR_ERROR 0x05
#define MSG_ABORT 0x06
#define MSG_REJECT 0x07
#define MSG_NOP 0x08
#define MSG_PARITY_ERROR 0x09
#define MSG_BUS_DEVICE_RESET 0x0C
#define MSG_ABORT_TAG 0x0D
#define MSG_CLEAR_QUEUE 0x0E
#define MSG_SIMPLE_TAG 0x20
#define MSG_ORDERED_TAG 0x22
#define MSG_IDENTIFY 0x80
#define EXT_SDTR 0x01
#define EXT_WDTR 0x03

#define OP_REPORT_LUNS 0xA0
#define LSI_RESUME_RELEASE 8 /* conn.resume: bus free after the message */

static uint32_t lsi_chunk_bytes(const struct lsi_conn *c)
{
	return MIN(c->blocks, (uint32_t)LSI_CHUNK_BLOCKS) * SCSI_DISK_BLOCK;
}

/* ---- the connection ---- */

/* Forgets the connection; a request still in flight is stale from now on. */
static void lsi_conn_clear(struct lsi *d)
{
	memset(&d->conn, 0, offsetof(struct lsi_conn, buf));
	d->io_gen++;
	d->ack = false;
}

bool lsi_bus_connected(const struct lsi *d)
{
	return d->conn.state != LSI_BUS_FREE;
}

void lsi_bus_settle(struct lsi *d)
{
	if (d->conn.state == LSI_BUS_RELEASING)
		lsi_conn_clear(d);
}

int lsi_bus_select(struct lsi *d, unsigned id)
{
	/* SCID is not compared: SeaBIOS leaves it 0 and selects ID 0 */
	if (id >= LSI_MAX_TARGETS || !d->bd[id])
		return -1;
	lsi_conn_clear(d);
	d->conn.state = LSI_BUS_CONNECTED;
	d->conn.target = id;
	/* A target asks for a message first even without ATN: SeaBIOS's lsi-scsi selects
	 * without ATN and then sends IDENTIFY. */
	d->conn.phase = LSI_PHASE_MSG_OUT;
	d->conn.resume = LSI_PHASE_COMMAND;
	return 0;
}

/* The target lets go of the bus on its own: unexpected unless SCNTL2 SDU says otherwise. */
static void lsi_conn_drop(struct lsi *d)
{
	lsi_conn_clear(d);
	d->atn = false;
	if (d->regs[LSI_SCNTL2] & LSI_SCNTL2_SDU)
		lsi_scsi_irq(d, LSI_SIST_UDC);
}

void lsi_bus_abandon(struct lsi *d)
{
	lsi_conn_clear(d);
}

void lsi_bus_reset(struct lsi *d)
{
	lsi_conn_clear(d);
	d->atn = false;
	for (unsigned i = 0; i < LSI_MAX_TARGETS; i++)
		scsi_disk_reset(&d->disk[i]);
}

/* ---- status and messages in ---- */

static void lsi_status(struct lsi *d, uint8_t status)
{
	d->conn.status = status;
	d->conn.xfer = LSI_XFER_NONE;
	d->conn.phase = LSI_PHASE_STATUS;
}

static void lsi_msg_in_add(struct lsi *d, const uint8_t *msg, unsigned len)
{
	struct lsi_conn *c = &d->conn;
	if (c->msg_in_len + len > LSI_MSG_MAX)
		return;
	memcpy(&c->msg_in[c->msg_in_len], msg, len);
	c->msg_in_len += len;
}

/* After the message phases: MESSAGE OUT while ATN is up, else where the target was going. */
static void lsi_next_phase(struct lsi *d)
{
	struct lsi_conn *c = &d->conn;
	if (d->atn)
		c->phase = LSI_PHASE_MSG_OUT;
	else if (c->msg_in_pos < c->msg_in_len)
		c->phase = LSI_PHASE_MSG_IN;
	else if (c->resume == LSI_RESUME_RELEASE)
		c->state = LSI_BUS_RELEASING;
	else
		c->phase = c->resume;
}

/* ---- the command ---- */

static void lsi_io_start(struct lsi *d, enum lsi_io op);

static void lsi_res_good(struct lsi *d, const struct scsi_disk_result *r)
{
	(void)r;
	lsi_status(d, SCSI_STATUS_GOOD);
}

static void lsi_res_check(struct lsi *d, const struct scsi_disk_result *r)
{
	(void)r;
	lsi_status(d, SCSI_STATUS_CHECK_CONDITION);
}

static void lsi_res_data_in(struct lsi *d, const struct scsi_disk_result *r)
{
	struct lsi_conn *c = &d->conn;
	if (!r->len) {
		lsi_status(d, SCSI_STATUS_GOOD);
		return;
	}
	c->xfer = LSI_XFER_RESPONSE;
	c->buf_len = MIN(r->len, (uint32_t)LSI_BUF_SIZE);
	c->buf_pos = 0;
	c->phase = LSI_PHASE_DATA_IN;
}

static void lsi_res_read(struct lsi *d, const struct scsi_disk_result *r)
{
	struct lsi_conn *c = &d->conn;
	c->xfer = LSI_XFER_READ;
	c->lba = r->lba;
	c->blocks = r->blocks;
	c->buf_len = c->buf_pos = 0;
	c->phase = LSI_PHASE_DATA_IN;
	lsi_io_start(d, LSI_IO_READ);
}

static void lsi_res_write(struct lsi *d, const struct scsi_disk_result *r)
{
	struct lsi_conn *c = &d->conn;
	c->xfer = LSI_XFER_WRITE;
	c->lba = r->lba;
	c->blocks = r->blocks;
	c->buf_len = lsi_chunk_bytes(c);
	c->buf_pos = 0;
	c->phase = LSI_PHASE_DATA_OUT;
}

static void lsi_res_data_out(struct lsi *d, const struct scsi_disk_result *r)
{
	if (!r->len) {
		lsi_status(d, SCSI_STATUS_GOOD);
		return;
	}
	d->conn.xfer = LSI_XFER_PARAMS;
	d->conn.param_left = r->len;
	d->conn.phase = LSI_PHASE_DATA_OUT;
}

static void lsi_res_flush(struct lsi *d, const struct scsi_disk_result *r)
{
	(void)r;
	lsi_status(d, SCSI_STATUS_GOOD);
	d->conn.xfer = LSI_XFER_FLUSH;
	lsi_io_start(d, LSI_IO_FLUSH);
}

/* What the transport does with each result of the command set. */
static void (*const lsi_results[])(struct lsi *d, const struct scsi_disk_result *r) = {
	[SCSI_DISK_GOOD] = lsi_res_good,	   [SCSI_DISK_CHECK] = lsi_res_check,
	[SCSI_DISK_DATA_IN] = lsi_res_data_in,	   [SCSI_DISK_READ] = lsi_res_read,
	[SCSI_DISK_WRITE] = lsi_res_write,	   [SCSI_DISK_DATA_OUT] = lsi_res_data_out,
	[SCSI_DISK_FLUSH] = lsi_res_flush,
};

static void lsi_result(struct lsi *d, const struct scsi_disk_result *r)
{
	if ((size_t)r->phase < G_N_ELEMENTS(lsi_results) && lsi_results[r->phase])
		lsi_results[r->phase](d, r);
	else
		lsi_status(d, SCSI_STATUS_CHECK_CONDITION);
}

static struct scsi_disk_medium lsi_medium(const struct lsi *d, unsigned t)
{
	return (struct scsi_disk_medium){ .blocks = block_size(d->bd[t]) / SCSI_DISK_BLOCK,
					  .read_only = d->bd[t]->read_only,
					  .serial = d->serial[t] };
}

/* The CDB is complete: LUN 0 is the disk; REPORT LUNS of any LUN goes to it too. */
static void lsi_command_run(struct lsi *d)
{
	struct lsi_conn *c = &d->conn;
	struct scsi_disk_result res;
	c->have_cmd = true;
	if (c->lun == 0 || c->cdb[0] == OP_REPORT_LUNS) {
		struct scsi_disk_medium m = lsi_medium(d, c->target);
		scsi_disk_exec(&d->disk[c->target], &m, c->cdb, c->cdb_len, c->buf, LSI_BUF_SIZE,
			       &res);
	} else {
		scsi_disk_exec_no_lun(c->cdb, c->cdb_len, c->buf, LSI_BUF_SIZE, &res);
	}
	lsi_result(d, &res);
}

/* The image failed a request: CHECK CONDITION, MEDIUM ERROR. */
static void lsi_io_failed(struct lsi *d, uint8_t asc)
{
	struct scsi_disk_result res;
	log_once(LOG_WARN, "lsi53c895a: I/O error on the disk image of a SCSI target");
	scsi_disk_fail(&d->disk[d->conn.target], &res, SCSI_SENSE_MEDIUM_ERROR, asc, 0);
	lsi_result(d, &res);
}

/* ---- block requests ---- */

struct lsi_request {
	struct block_req req;
	struct lsi *dev;
	unsigned gen;
	uint8_t data[];
};

/* A request of the connection is done (DATA: a read's chunk, NULL when it is in buf). */
static void lsi_io_done(struct lsi *d, int ret, const uint8_t *data)
{
	struct lsi_conn *c = &d->conn;
	enum lsi_io op = c->io;
	uint32_t len = lsi_chunk_bytes(c);
	c->io = LSI_IO_NONE;
	if (ret < 0) {
		lsi_io_failed(d, op == LSI_IO_READ ? 0x11 : 0x0C); /* unrecovered read / write */
	} else if (op == LSI_IO_READ || op == LSI_IO_WRITE) {
		if (data)
			memcpy(c->buf, data, len);
		c->lba += len / SCSI_DISK_BLOCK;
		c->blocks -= len / SCSI_DISK_BLOCK;
		c->buf_len = op == LSI_IO_READ ? len : lsi_chunk_bytes(c);
		c->buf_pos = 0;
		if (op == LSI_IO_WRITE && !c->blocks)
			lsi_status(d, SCSI_STATUS_GOOD);
	}
	lsi_scripts_kick(d);
}

static void lsi_request_done(struct block_req *req, int ret)
{
	struct lsi_request *r = req->opaque;
	struct lsi *d = r->dev;
	pthread_mutex_lock(&d->lock);
	if (r->gen == d->io_gen && d->conn.io != LSI_IO_NONE)
		lsi_io_done(d, ret, req->op == BLOCK_READ ? r->data : NULL);
	pthread_mutex_unlock(&d->lock);
	g_free(r);
}

/* Reads or writes the chunk at conn.lba (or flushes): at once when the host can, else
 * submitted, REQ withheld until the completion. */
static void lsi_io_start(struct lsi *d, enum lsi_io op)
{
	static const enum block_op ops[] = { [LSI_IO_READ] = BLOCK_READ,
					     [LSI_IO_WRITE] = BLOCK_WRITE,
					     [LSI_IO_FLUSH] = BLOCK_FLUSH };
	struct lsi_conn *c = &d->conn;
	struct block_dev *bd = d->bd[c->target];
	size_t len = op == LSI_IO_FLUSH ? 0 : lsi_chunk_bytes(c);
	uint64_t offset = c->lba * SCSI_DISK_BLOCK;
	c->io = op;
	if (op != LSI_IO_FLUSH && block_try_now(bd, ops[op], c->buf, len, offset) == 0) {
		lsi_io_done(d, 0, NULL);
		return;
	}
	struct lsi_request *r = g_malloc(sizeof(*r) + len);
	r->dev = d;
	r->gen = d->io_gen;
	if (op == LSI_IO_WRITE)
		memcpy(r->data, c->buf, len);
	r->req = (struct block_req){ .op = ops[op], .offset = offset, .buf = r->data,
				     .len = len, .done = lsi_request_done, .opaque = r };
	block_submit(bd, &r->req);
}

void lsi_bus_reissue(struct lsi *d)
{
	enum lsi_io op = d->conn.io;
	if (op == LSI_IO_NONE || !lsi_bus_connected(d))
		return;
	lsi_io_start(d, op);
}

/* ---- messages out ---- */

/* One extended message (SCSI-2 6.6.21, 6.6.23): synchronous and wide transfers are answered
 * with asynchronous narrow; anything else is rejected. */
static void lsi_msg_extended(struct lsi *d, const uint8_t *m, unsigned len)
{
	static const uint8_t reject = MSG_REJECT;
	if (len == 5 && m[2] == EXT_SDTR) {
		uint8_t reply[5] = { MSG_EXTENDED, 3, EXT_SDTR, m[3], 0 }; /* offset 0 */
		lsi_msg_in_add(d, reply, sizeof(reply));
	} else if (len == 4 && m[2] == EXT_WDTR) {
		uint8_t reply[4] = { MSG_EXTENDED, 2, EXT_WDTR, 0 }; /* 8 bits */
		lsi_msg_in_add(d, reply, sizeof(reply));
	} else {
		lsi_msg_in_add(d, &reject, 1);
	}
}

/* How many bytes the message at M (LEFT bytes there) has; 0 when it is cut short. */
static unsigned lsi_msg_len(const uint8_t *m, unsigned left)
{
	unsigned len = 1;
	if (m[0] == MSG_EXTENDED)
		len = left >= 2 ? 2u + (m[1] ? m[1] : 256) : left + 1;
	else if (m[0] >= MSG_SIMPLE_TAG && m[0] <= MSG_ORDERED_TAG)
		len = 2;
	return len <= left ? len : 0;
}

/* One message; false when it ends the connection. */
static bool lsi_msg_one(struct lsi *d, const uint8_t *m, unsigned len)
{
	static const uint8_t reject = MSG_REJECT;
	struct lsi_conn *c = &d->conn;
	uint8_t b = m[0];
	if (b & MSG_IDENTIFY) {
		if (!c->have_cmd)
			c->lun = b & 7;
	} else if (b == MSG_EXTENDED) {
		lsi_msg_extended(d, m, len);
	} else if (b == MSG_BUS_DEVICE_RESET) {
		scsi_disk_reset(&d->disk[c->target]);
		lsi_conn_drop(d);
		return false;
	} else if (b == MSG_ABORT || b == MSG_ABORT_TAG || b == MSG_CLEAR_QUEUE) {
		lsi_conn_drop(d);
		return false;
	} else if (!(b == MSG_REJECT || b == MSG_NOP || b == MSG_INITIATOR_ERROR ||
		     b == MSG_PARITY_ERROR || (b >= MSG_SIMPLE_TAG && b <= MSG_ORDERED_TAG))) {
		lsi_msg_in_add(d, &reject, 1);
	}
	return true;
}

/* ATN dropped: the target acts on what MESSAGE OUT brought, then answers or goes on. */
static void lsi_msg_out_done(struct lsi *d)
{
	static const uint8_t reject = MSG_REJECT;
	struct lsi_conn *c = &d->conn;
	unsigned n = MIN(c->msg_out_len, (uint8_t)LSI_MSG_MAX);
	c->msg_out_len = 0;
	for (unsigned i = 0; i < n;) {
		unsigned len = lsi_msg_len(&c->msg_out[i], n - i);
		if (!len) {
			lsi_msg_in_add(d, &reject, 1);
			break;
		}
		if (!lsi_msg_one(d, &c->msg_out[i], len))
			return;
		i += len;
	}
	lsi_next_phase(d);
}

void lsi_bus_set_atn(struct lsi *d, bool on)
{
	struct lsi_conn *c = &d->conn;
	d->atn = on;
	if (c->state != LSI_BUS_CONNECTED)
		return;
	if (on && c->phase != LSI_PHASE_MSG_OUT) {
		if (c->phase == LSI_PHASE_MSG_IN)
			c->msg_in_len = c->msg_in_pos = 0; /* the rest of that message is off */
		else
			c->resume = c->phase;
		c->phase = LSI_PHASE_MSG_OUT;
		c->msg_out_len = 0;
	} else if (!on && c->phase == LSI_PHASE_MSG_OUT) {
		lsi_msg_out_done(d);
	}
}

void lsi_bus_clear_ack(struct lsi *d)
{
	d->ack = false;
	lsi_bus_settle(d);
}

/* ---- the phases ---- */

static bool lsi_ready_always(const struct lsi *d)
{
	(void)d;
	return true;
}

static bool lsi_ready_idle(const struct lsi *d)
{
	return d->conn.io == LSI_IO_NONE;
}

static bool lsi_ready_data_in(const struct lsi *d)
{
	return d->conn.buf_pos < d->conn.buf_len;
}

/* DATA IN: the buffer, then the next chunk or STATUS. */
static uint32_t lsi_in_data(struct lsi *d, uint8_t *data, uint32_t len)
{
	struct lsi_conn *c = &d->conn;
	uint32_t n = MIN(len, c->buf_len - c->buf_pos);
	memcpy(data, &c->buf[c->buf_pos], n);
	c->buf_pos += n;
	if (c->buf_pos < c->buf_len)
		return n;
	if (c->xfer == LSI_XFER_READ && c->blocks)
		lsi_io_start(d, LSI_IO_READ);
	else
		lsi_status(d, SCSI_STATUS_GOOD);
	return n;
}

static uint32_t lsi_in_status(struct lsi *d, uint8_t *data, uint32_t len)
{
	static const uint8_t complete = MSG_COMMAND_COMPLETE;
	(void)len;
	data[0] = d->conn.status;
	d->conn.msg_in_len = d->conn.msg_in_pos = 0;
	lsi_msg_in_add(d, &complete, 1);
	d->conn.resume = LSI_RESUME_RELEASE;
	d->conn.phase = LSI_PHASE_MSG_IN;
	return 1;
}

static uint32_t lsi_in_msg(struct lsi *d, uint8_t *data, uint32_t len)
{
	struct lsi_conn *c = &d->conn;
	uint32_t n = MIN(len, (uint32_t)(c->msg_in_len - c->msg_in_pos));
	memcpy(data, &c->msg_in[c->msg_in_pos], n);
	c->msg_in_pos += n;
	if (c->msg_in_pos == c->msg_in_len) {
		c->msg_in_len = c->msg_in_pos = 0;
		lsi_next_phase(d);
	}
	return n;
}

/* DATA OUT: a write's chunk fills the buffer and goes to the image; parameters are dropped. */
static uint32_t lsi_out_data(struct lsi *d, const uint8_t *data, uint32_t len)
{
	struct lsi_conn *c = &d->conn;
	uint32_t n;
	if (c->xfer == LSI_XFER_PARAMS) {
		n = MIN(len, c->param_left);
		c->param_left -= n;
		if (!c->param_left)
			lsi_status(d, SCSI_STATUS_GOOD);
		return n;
	}
	if (c->xfer != LSI_XFER_WRITE || c->buf_pos >= c->buf_len) {
		lsi_status(d, SCSI_STATUS_GOOD); /* nothing more to take */
		return 0;
	}
	n = MIN(len, c->buf_len - c->buf_pos);
	memcpy(&c->buf[c->buf_pos], data, n);
	c->buf_pos += n;
	if (c->buf_pos == c->buf_len)
		lsi_io_start(d, LSI_IO_WRITE);
	return n;
}

/* COMMAND: the CDB's bytes, up to 16 in one move (SeaBIOS moves 16 for any command, as
 * QEMU's targets take), then the command runs. */
static uint32_t lsi_out_command(struct lsi *d, const uint8_t *data, uint32_t len)
{
	struct lsi_conn *c = &d->conn;
	uint32_t n = MIN(len, (uint32_t)(SCSI_CDB_MAX - c->cdb_len));
	memcpy(&c->cdb[c->cdb_len], data, n);
	c->cdb_len += n;
	if (c->cdb_len == SCSI_CDB_MAX)
		lsi_command_run(d);
	return n;
}

static uint32_t lsi_out_msg(struct lsi *d, const uint8_t *data, uint32_t len)
{
	struct lsi_conn *c = &d->conn;
	uint32_t n = MIN(len, (uint32_t)(LSI_MSG_MAX - c->msg_out_len));
	memcpy(&c->msg_out[c->msg_out_len], data, n);
	c->msg_out_len += n;
	return len; /* bytes past the buffer are taken and lost */
}

static const struct {
	bool (*ready)(const struct lsi *d);
	uint32_t (*in)(struct lsi *d, uint8_t *data, uint32_t len);
	uint32_t (*out)(struct lsi *d, const uint8_t *data, uint32_t len);
} lsi_phases[8] = {
	[LSI_PHASE_DATA_OUT] = { lsi_ready_idle, NULL, lsi_out_data },
	[LSI_PHASE_DATA_IN] = { lsi_ready_data_in, lsi_in_data, NULL },
	[LSI_PHASE_COMMAND] = { lsi_ready_always, NULL, lsi_out_command },
	[LSI_PHASE_STATUS] = { lsi_ready_idle, lsi_in_status, NULL },
	[LSI_PHASE_MSG_OUT] = { lsi_ready_always, NULL, lsi_out_msg },
	[LSI_PHASE_MSG_IN] = { lsi_ready_always, lsi_in_msg, NULL },
};

bool lsi_bus_ready(const struct lsi *d)
{
	const struct lsi_conn *c = &d->conn;
	return c->state == LSI_BUS_CONNECTED && lsi_phases[c->phase & 7].ready &&
	       lsi_phases[c->phase & 7].ready(d);
}

uint32_t lsi_bus_in(struct lsi *d, uint8_t *data, uint32_t len)
{
	unsigned phase = d->conn.phase & 7;
	if (!len || !lsi_bus_ready(d) || !lsi_phases[phase].in)
		return 0;
	return lsi_phases[phase].in(d, data, len);
}

uint32_t lsi_bus_out(struct lsi *d, const uint8_t *data, uint32_t len)
{
	unsigned phase = d->conn.phase & 7;
	if (!len || !lsi_bus_ready(d) || !lsi_phases[phase].out)
		return 0;
	return lsi_phases[phase].out(d, data, len);
}

void lsi_bus_move_end(struct lsi *d, unsigned phase)
{
	struct lsi_conn *c = &d->conn;
	if (c->state != LSI_BUS_CONNECTED || c->phase != phase)
		return;
	if (phase == LSI_PHASE_MSG_OUT) {
		d->atn = false; /* dropped before the move's last byte */
		lsi_msg_out_done(d);
	} else if (phase == LSI_PHASE_COMMAND && c->cdb_len &&
		   c->cdb_len >= (unsigned)MAX(scsi_cdb_len(c->cdb[0]), 1)) {
		lsi_command_run(d);
	}
}

/* ---- the general purpose timer (STIME1, table under STIME0) ---- */

#define LSI_GEN_UNIT_NS 125000ull

void lsi_gen_stop(struct lsi *d)
{
	d->gen_running = false;
	if (d->clock)
		timer_del(d->gen_timer);
}

/* GEN n times out after 125 us << (n - 1) at the nominal 40 MHz SCSI clock. Linux measures
 * the clock with it: a one-shot per enable, raising SIST1 GEN. */
void lsi_gen_start(struct lsi *d)
{
	uint8_t v = d->regs[LSI_STIME1];
	uint64_t ns = LSI_GEN_UNIT_NS << ((v & LSI_STIME1_GEN) - 1);
	if (v & LSI_STIME1_GENSF)
		ns *= 16;
	d->gen_running = true;
	if (d->clock)
		timer_mod(d->gen_timer, clock_ns(d->clock) + ns);
}

void lsi_gen_expired(void *opaque)
{
	struct lsi *d = opaque;
	pthread_mutex_lock(&d->lock);
	if (d->gen_running) {
		d->gen_running = false;
		lsi_scsi_irq(d, LSI_SIST_GEN);
	}
	pthread_mutex_unlock(&d->lock);
}

/* Writing the same period again does not restart the timer: 0 first, then the period. */
void lsi_stime1_write(struct lsi *d, unsigned off, uint8_t val)
{
	uint8_t old = d->regs[off];
	d->regs[off] = val & 0x7F;
	if (!(val & LSI_STIME1_GEN))
		lsi_gen_stop(d);
	else if (!d->gen_running || ((old ^ val) & (LSI_STIME1_GEN | LSI_STIME1_GENSF)))
		lsi_gen_start(d);
}

/* ---- loaded state ---- */

static bool lsi_phase_valid(unsigned p)
{
	return p <= LSI_PHASE_STATUS || p == LSI_PHASE_MSG_OUT || p == LSI_PHASE_MSG_IN;
}

static const char *lsi_xfer_check(const struct lsi *d)
{
	const struct lsi_conn *c = &d->conn;
	uint64_t blocks = block_size(d->bd[c->target]) / SCSI_DISK_BLOCK;
	bool rw = c->xfer == LSI_XFER_READ || c->xfer == LSI_XFER_WRITE;
	if (c->buf_len > LSI_BUF_SIZE || c->buf_pos > c->buf_len)
		return "buffer position out of range";
	if (rw && (c->lba > blocks || c->blocks > blocks - c->lba))
		return "transfer outside the disk";
	if (c->xfer == LSI_XFER_WRITE && c->blocks && c->buf_len != lsi_chunk_bytes(c))
		return "write chunk of the wrong size";
	if (c->io == LSI_IO_NONE)
		return NULL;
	if ((c->io == LSI_IO_READ && (c->xfer != LSI_XFER_READ || c->buf_pos < c->buf_len)) ||
	    (c->io == LSI_IO_WRITE && (c->xfer != LSI_XFER_WRITE || c->buf_pos < c->buf_len)) ||
	    (c->io == LSI_IO_FLUSH && c->xfer != LSI_XFER_FLUSH) || (rw && !c->blocks))
		return "request in flight that the command cannot have";
	return NULL;
}

const char *lsi_bus_check(const struct lsi *d)
{
	const struct lsi_conn *c = &d->conn;
	if (c->state > LSI_BUS_RELEASING || c->xfer > LSI_XFER_FLUSH || c->io > LSI_IO_FLUSH)
		return "bus state out of range";
	if (c->state == LSI_BUS_FREE)
		return c->io == LSI_IO_NONE ? NULL : "request in flight with the bus free";
	if (c->target >= LSI_MAX_TARGETS || !d->bd[c->target] || c->lun > 7)
		return "connection to no target";
	/* the target goes back to COMMAND, DATA or STATUS after messages, or lets go */
	if (!lsi_phase_valid(c->phase) ||
	    !(c->resume <= LSI_PHASE_STATUS || c->resume == LSI_RESUME_RELEASE))
		return "bad bus phase";
	if (c->state == LSI_BUS_RELEASING && c->io != LSI_IO_NONE)
		return "request in flight after the command completed";
	if (c->msg_out_len > LSI_MSG_MAX || c->msg_in_len > LSI_MSG_MAX ||
	    c->msg_in_pos > c->msg_in_len || c->cdb_len > SCSI_CDB_MAX)
		return "message or command length out of range";
	return lsi_xfer_check(d);
}
