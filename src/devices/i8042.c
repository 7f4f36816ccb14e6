/*
 * The i8042 keyboard controller; the PS/2 keyboard and mouse on its two ports are in ps2.c.
 *
 * References: IBM PS/2 Hardware Interface Technical Reference, "Keyboard/Auxiliary Device
 * Controller" (status register, command byte, controller commands) and "Keyboard" (scan code
 * set 2 and the controller's set-2 to set-1 translation).
 *
 * Model: each device has a byte queue (its own output buffer). The controller's output buffer
 * holds one byte; when the guest reads it from port 0x60, the next byte is taken from the
 * keyboard or the mouse queue and AUXB in the status register tells which. Controller replies
 * go straight into the output buffer. Bytes move instantly: no device or clock-line timing.
 */
#include "devices/i8042_internal.h"

#include <glib.h>
#include <string.h>

#include "log.h"

/* Status register, port 0x64 read */
#define STS_OBF 0x01
#define STS_SYS 0x04      /* system flag, mirrors the command byte */
#define STS_CMD 0x08      /* A2: last write went to port 0x64 */
#define STS_UNLOCKED 0x10 /* keyboard not inhibited: there is no keylock */
#define STS_AUXB 0x20     /* the output buffer holds a byte from the aux device */

/* Output port (commands 0xD0/0xD1) */
#define OUT_RESET 0x01 /* active low: 0 resets the CPU */
#define OUT_A20 0x02
#define OUT_KBD_OBF 0x10
#define OUT_AUX_OBF 0x20

/* Who filled the output buffer */
enum { SRC_CTL, SRC_KBD, SRC_AUX };

/* ---- output buffer and interrupts ---- */

static void i8042_set_line(struct i8042 *s, int i, int level)
{
	if (s->irq_level[i] == level)
		return;
	s->irq_level[i] = level;
	irq_set_level(i ? &s->irq_aux : &s->irq_kbd, level);
}

/* IRQ 1 and IRQ 12 follow OBF for the byte's owner, when the command byte enables them. */
static void i8042_update_irqs(struct i8042 *s)
{
	uint8_t cb = s->ctl.ram[0];
	bool aux = s->ctl.obuf_src == SRC_AUX;
	i8042_set_line(s, 0, s->ctl.obf && !aux && (cb & CB_KBD_INT));
	i8042_set_line(s, 1, s->ctl.obf && aux && (cb & CB_AUX_INT));
}

/* The next device to deliver, or -1. A device whose interface is disabled in the command byte
 * holds its bytes (the controller holds its clock line low). Both waiting: they take turns. */
static int i8042_pick_source(const struct i8042 *s)
{
	bool kbd = s->kbd.q.count && !(s->ctl.ram[0] & CB_KBD_DIS);
	bool aux = s->aux.q.count && !(s->ctl.ram[0] & CB_AUX_DIS);
	if (kbd && aux)
		return s->ctl.last_src == SRC_KBD ? SRC_AUX : SRC_KBD;
	return kbd ? SRC_KBD : aux ? SRC_AUX : -1;
}

void i8042_refill(struct i8042 *s)
{
	int src = s->ctl.obf ? -1 : i8042_pick_source(s);
	if (src >= 0) {
		s->ctl.obuf = q_pop(src == SRC_KBD ? &s->kbd.q : &s->aux.q);
		s->ctl.obuf_src = src;
		s->ctl.last_src = src;
		s->ctl.obf = true;
	}
	i8042_update_irqs(s);
}

/* Puts B straight into the output buffer (controller replies, 0xD2/0xD3). A device byte still
 * waiting there goes back to the head of its queue, so nothing a device sent is lost. */
static void i8042_output(struct i8042 *s, uint8_t b, int src)
{
	if (s->ctl.obf && s->ctl.obuf_src != SRC_CTL)
		q_push_front(s->ctl.obuf_src == SRC_AUX ? &s->aux.q : &s->kbd.q, s->ctl.obuf);
	s->ctl.obuf = b;
	s->ctl.obuf_src = src;
	s->ctl.obf = true;
	/* drop the line first so that an edge-triggered IRQ sees a new rising edge */
	i8042_set_line(s, 0, 0);
	i8042_set_line(s, 1, 0);
	i8042_update_irqs(s);
}

/* ---- set 2 to set 1 translation ---- */

/*
 * The controller's translation of keyboard bytes below 0x80 (IBM PS/2 Technical Reference,
 * Keyboard, "Scan Code Set 2" against "Scan Code Set 1"): index = set-2 code, value = set-1
 * code. A break (0xF0 prefix) becomes the set-1 make code with bit 7 set.
 */
static const uint8_t set2_to_set1[128] = {
	/* 0x00: overrun, F9, -, F5, F3, F1, F2, F12 */
	0xFF, 0x43, 0x41, 0x3F, 0x3D, 0x3B, 0x3C, 0x58,
	/* 0x08: F13, F10, F8, F6, F4, Tab, `, F14 */
	0x64, 0x44, 0x42, 0x40, 0x3E, 0x0F, 0x29, 0x59,
	/* 0x10: F15, LAlt, LShift, -, LCtrl, Q, 1, - */
	0x65, 0x38, 0x2A, 0x70, 0x1D, 0x10, 0x02, 0x5A,
	/* 0x18: -, -, Z, S, A, W, 2, - */
	0x66, 0x71, 0x2C, 0x1F, 0x1E, 0x11, 0x03, 0x5B,
	/* 0x20: -, C, X, D, E, 4, 3, - */
	0x67, 0x2E, 0x2D, 0x20, 0x12, 0x05, 0x04, 0x5C,
	/* 0x28: -, Space, V, F, T, R, 5, - */
	0x68, 0x39, 0x2F, 0x21, 0x14, 0x13, 0x06, 0x5D,
	/* 0x30: -, N, B, H, G, Y, 6, - */
	0x69, 0x31, 0x30, 0x23, 0x22, 0x15, 0x07, 0x5E,
	/* 0x38: -, -, M, J, U, 7, 8, - */
	0x6A, 0x72, 0x32, 0x24, 0x16, 0x08, 0x09, 0x5F,
	/* 0x40: -, ",", K, I, O, 0, 9, - */
	0x6B, 0x33, 0x25, 0x17, 0x18, 0x0B, 0x0A, 0x60,
	/* 0x48: -, ".", /, L, ;, P, -, - */
	0x6C, 0x34, 0x35, 0x26, 0x27, 0x19, 0x0C, 0x61,
	/* 0x50: -, -, ', -, [, =, -, - */
	0x6D, 0x73, 0x28, 0x74, 0x1A, 0x0D, 0x62, 0x6E,
	/* 0x58: CapsLock, RShift, Enter, ], -, \, -, - */
	0x3A, 0x36, 0x1C, 0x1B, 0x75, 0x2B, 0x63, 0x76,
	/* 0x60: -, 102nd key, -, -, -, -, Backspace, - */
	0x55, 0x56, 0x77, 0x78, 0x79, 0x7A, 0x0E, 0x7B,
	/* 0x68: -, KP1, -, KP4, KP7, -, -, - */
	0x7C, 0x4F, 0x7D, 0x4B, 0x47, 0x7E, 0x7F, 0x6F,
	/* 0x70: KP0, KP., KP2, KP5, KP6, KP8, Esc, NumLock */
	0x52, 0x53, 0x50, 0x4C, 0x4D, 0x48, 0x01, 0x45,
	/* 0x78: F11, KP+, KP3, KP-, KP*, KP9, ScrollLock, SysRq */
	0x57, 0x4E, 0x51, 0x4A, 0x37, 0x49, 0x46, 0x54,
};

/* Translates B in place; false when it was a break prefix folded into the next byte. Codes
 * above 0x7F pass unchanged (prefixes, replies), except set 2's two long codes. */
bool i8042_translate(struct i8042 *s, uint8_t *b)
{
	if (*b == 0xF0) {
		s->kbd.xlat_break = true;
		return false;
	}
	uint8_t v = *b;
	if (v < 0x80)
		v = set2_to_set1[v];
	else if (v == 0x83) /* F7 */
		v = 0x41;
	else if (v == 0x84) /* Alt+SysRq */
		v = 0x54;
	if (s->kbd.xlat_break)
		v |= 0x80;
	s->kbd.xlat_break = false;
	*b = v;
	return true;
}

/* ---- controller commands (port 0x64) ---- */

static uint8_t i8042_outport_read(const struct i8042 *s)
{
	uint8_t v = s->ctl.outport & ~(OUT_KBD_OBF | OUT_AUX_OBF);
	if (s->ctl.obf)
		v |= s->ctl.obuf_src == SRC_AUX ? OUT_AUX_OBF : OUT_KBD_OBF;
	return v;
}

static void ccmd_read_ram(struct i8042 *s, uint8_t cmd)
{
	i8042_output(s, s->ctl.ram[cmd & 0x1F], SRC_CTL);
}

static void ccmd_write_ram(struct i8042 *s, uint8_t cmd, uint8_t v)
{
	s->ctl.ram[cmd & 0x1F] = v;
}

static void ccmd_read_outport(struct i8042 *s, uint8_t cmd)
{
	i8042_output(s, i8042_outport_read(s), SRC_CTL);
}

static void ccmd_write_outport(struct i8042 *s, uint8_t cmd, uint8_t v)
{
	if (!(v & OUT_A20))
		log_once(LOG_INFO, "i8042: guest masks A20; KVM does not gate A20, ignored");
	/* the reset line is a pulse here: the machine resets us with everything else */
	s->ctl.outport = v | OUT_RESET;
	if (!(v & OUT_RESET))
		machine_request_reset(s->hooks, "i8042 output port (0xD1) reset line");
}

/* 0xD2 / 0xD3: the byte appears as if the keyboard / the mouse had sent it */
static void ccmd_write_obuf(struct i8042 *s, uint8_t cmd, uint8_t v)
{
	i8042_output(s, v, cmd == 0xD3 ? SRC_AUX : SRC_KBD);
}

/* Sending to a device enables its interface, as the 8042 releases the clock line to send. */
static void ccmd_write_aux(struct i8042 *s, uint8_t cmd, uint8_t v)
{
	s->ctl.ram[0] &= ~CB_AUX_DIS;
	ps2_write(s, &mouse_dev, &s->aux.pending, v);
}

/* 0xF0-0xFF: output port bits 0-3 whose command bit is 0 are pulsed low for 6 us. */
static void ccmd_pulse(struct i8042 *s, uint8_t cmd)
{
	if (!(cmd & OUT_RESET))
		machine_request_reset(s->hooks, "i8042 reset pulse (0xFE)");
}

#define CC_REPLY 0x01 /* answers the fixed byte in .reply */
#define CC_ARG 0x02   /* takes a data byte through port 0x60 */

struct i8042_ccmd {
	uint8_t lo, hi; /* command codes */
	uint8_t flags;
	uint8_t reply;
	uint8_t set_cb, clear_cb; /* command byte bits the command sets / clears */
	void (*run)(struct i8042 *s, uint8_t cmd);
	void (*arg)(struct i8042 *s, uint8_t cmd, uint8_t data);
};

static const struct i8042_ccmd i8042_ccmds[] = {
	{ 0x20, 0x3F, 0, 0, 0, 0, ccmd_read_ram, NULL },
	{ 0x60, 0x7F, CC_ARG, 0, 0, 0, NULL, ccmd_write_ram },
	{ 0xA4, 0xA4, CC_REPLY, 0xF1, 0, 0, NULL, NULL }, /* password: none installed */
	{ 0xA7, 0xA7, 0, 0, CB_AUX_DIS, 0, NULL, NULL },
	{ 0xA8, 0xA8, 0, 0, 0, CB_AUX_DIS, NULL, NULL },
	{ 0xA9, 0xA9, CC_REPLY, 0x00, 0, 0, NULL, NULL }, /* aux interface test: no error */
	/* self test; the system flag is set once it passes */
	{ 0xAA, 0xAA, CC_REPLY, 0x55, CB_SYS, 0, NULL, NULL },
	{ 0xAB, 0xAB, CC_REPLY, 0x00, 0, 0, NULL, NULL }, /* keyboard interface test */
	{ 0xAD, 0xAD, 0, 0, CB_KBD_DIS, 0, NULL, NULL },
	{ 0xAE, 0xAE, 0, 0, 0, CB_KBD_DIS, NULL, NULL },
	{ 0xC0, 0xC0, CC_REPLY, 0x80, 0, 0, NULL, NULL }, /* input port: keyboard not inhibited */
	{ 0xD0, 0xD0, 0, 0, 0, 0, ccmd_read_outport, NULL },
	{ 0xD1, 0xD1, CC_ARG, 0, 0, 0, NULL, ccmd_write_outport },
	{ 0xD2, 0xD2, CC_ARG, 0, 0, 0, NULL, ccmd_write_obuf },
	{ 0xD3, 0xD3, CC_ARG, 0, 0, 0, NULL, ccmd_write_obuf },
	{ 0xD4, 0xD4, CC_ARG, 0, 0, 0, NULL, ccmd_write_aux },
	{ 0xE0, 0xE0, CC_REPLY, 0x00, 0, 0, NULL, NULL }, /* test inputs: no T0/T1 activity */
	{ 0xF0, 0xFF, 0, 0, 0, 0, ccmd_pulse, NULL },
};

static const struct i8042_ccmd *i8042_ccmd_find(uint8_t cmd)
{
	for (size_t i = 0; i < G_N_ELEMENTS(i8042_ccmds); i++)
		if (cmd >= i8042_ccmds[i].lo && cmd <= i8042_ccmds[i].hi)
			return &i8042_ccmds[i];
	return NULL;
}

static void i8042_command(struct i8042 *s, uint8_t cmd)
{
	const struct i8042_ccmd *c = i8042_ccmd_find(cmd);
	s->ctl.pending = 0; /* a new command abandons one still waiting for data */
	if (!c) {
		log_once(LOG_DEBUG, "i8042: unknown controller command %#x", cmd);
		return;
	}
	s->ctl.ram[0] = (s->ctl.ram[0] | c->set_cb) & ~c->clear_cb;
	if (c->flags & CC_REPLY)
		i8042_output(s, c->reply, SRC_CTL);
	if (c->flags & CC_ARG)
		s->ctl.pending = cmd;
	if (c->run)
		c->run(s, cmd);
	i8042_refill(s); /* the command byte may have enabled a device or an IRQ */
}

static void i8042_data(struct i8042 *s, uint8_t v)
{
	uint8_t cmd = s->ctl.pending;
	s->ctl.pending = 0;
	if (cmd) {
		i8042_ccmd_find(cmd)->arg(s, cmd, v);
	} else {
		s->ctl.ram[0] &= ~CB_KBD_DIS; /* see ccmd_write_aux */
		ps2_write(s, &kbd_dev, &s->kbd.pending, v);
	}
	i8042_refill(s);
	mouse_flush(s);
}

/* ---- ports ---- */

static uint64_t i8042_data_read(void *opaque, uint64_t off, unsigned size)
{
	struct i8042 *s = opaque;
	uint8_t v = s->ctl.obuf; /* with the buffer empty, the last byte reads again */
	if (s->ctl.obf) {
		s->ctl.obf = false;
		i8042_update_irqs(s); /* drop the line: the next byte makes a new edge */
		i8042_refill(s);
		mouse_flush(s);
	}
	return v;
}

static void i8042_data_write(void *opaque, uint64_t off, uint64_t data, unsigned size)
{
	struct i8042 *s = opaque;
	s->ctl.last_was_cmd = false;
	i8042_data(s, data);
}

static uint64_t i8042_status_read(void *opaque, uint64_t off, unsigned size)
{
	struct i8042 *s = opaque;
	uint8_t st = STS_UNLOCKED;
	if (s->ctl.ram[0] & CB_SYS)
		st |= STS_SYS;
	if (s->ctl.last_was_cmd)
		st |= STS_CMD;
	if (s->ctl.obf)
		st |= STS_OBF | (s->ctl.obuf_src == SRC_AUX ? STS_AUXB : 0);
	return st; /* IBF is always clear: every write is taken at once */
}

static void i8042_cmd_write(void *opaque, uint64_t off, uint64_t data, unsigned size)
{
	struct i8042 *s = opaque;
	s->ctl.last_was_cmd = true;
	i8042_command(s, data);
}

const struct bus_ops i8042_data_ops = {
	.read = i8042_data_read,
	.write = i8042_data_write,
	.min_size = 1,
	.max_size = 1,
};

const struct bus_ops i8042_cmd_ops = {
	.read = i8042_status_read,
	.write = i8042_cmd_write,
	.min_size = 1,
	.max_size = 1,
};

/* ---- class ---- */

static void i8042_reset(void *dev)
{
	struct i8042 *s = dev;
	memset(&s->ctl, 0, sizeof(s->ctl));
	memset(&s->kbd, 0, sizeof(s->kbd));
	memset(&s->aux, 0, sizeof(s->aux));
	/* The command byte is the BIOS's to write; start with both interfaces enabled and
	 * interrupts, translation and the system flag (cold boot) off. */
	s->ctl.ram[0] = 0;
	/* reset line inactive; A20 reads enabled because KVM never masks it */
	s->ctl.outport = OUT_RESET | OUT_A20;
	s->ctl.last_src = SRC_AUX;
	kbd_defaults(s);
	s->kbd.scanning = true;
	mouse_defaults(s);
	s->irq_level[0] = s->irq_level[1] = -1; /* drive both lines low */
	i8042_update_irqs(s);
}

/* bool fields arrive as raw bytes from the stream: look at the byte, not the bool */
static bool bool_ok(const bool *b)
{
	uint8_t v;
	memcpy(&v, b, 1);
	return v <= 1;
}

static bool queue_ok(const struct ps2_queue *q)
{
	return q->head < I8042_QUEUE_SIZE && q->count <= I8042_QUEUE_SIZE;
}

static bool acc_ok(int32_t v)
{
	return v >= -MOUSE_ACC_MAX && v <= MOUSE_ACC_MAX;
}

/* What a loaded state may not hold (values the device itself never produces), or NULL. */
static const char *i8042_check(const struct i8042 *s)
{
	const bool *bools[] = { &s->ctl.obf, &s->ctl.last_was_cmd, &s->kbd.scanning,
				&s->kbd.xlat_break, &s->aux.enabled, &s->aux.remote,
				&s->aux.scale21 };
	for (size_t i = 0; i < G_N_ELEMENTS(bools); i++)
		if (!bool_ok(bools[i]))
			return "a flag is neither 0 nor 1";
	if (!queue_ok(&s->kbd.q) || !queue_ok(&s->aux.q))
		return "queue index out of range";
	if (s->ctl.obuf_src > SRC_AUX || s->ctl.last_src > SRC_AUX)
		return "output buffer owner out of range";
	const struct i8042_ccmd *c = i8042_ccmd_find(s->ctl.pending);
	if (s->ctl.pending && (!c || !(c->flags & CC_ARG)))
		return "pending controller command takes no data";
	if (!ps2_pending_ok(&kbd_dev, s->kbd.pending) ||
	    !ps2_pending_ok(&mouse_dev, s->aux.pending))
		return "pending device command takes no argument";
	if (s->kbd.set < 1 || s->kbd.set > 3 || s->kbd.leds > 7 || s->kbd.typematic > 0x7F)
		return "keyboard setting out of range";
	if (s->aux.res > 3 || s->aux.rate > 200 || (s->aux.id != 0 && s->aux.id != 3) ||
	    s->aux.buttons > 7 || s->aux.sent_buttons > 7)
		return "mouse setting out of range";
	if (!acc_ok(s->aux.dx) || !acc_ok(s->aux.dy) || !acc_ok(s->aux.dz))
		return "mouse movement out of range";
	return NULL;
}

/* The state_desc check hook: pure, as state_check runs it on a scratch copy. */
static int i8042_state_check(const void *obj, char **error)
{
	const char *bad = i8042_check(obj);
	if (bad)
		*error = g_strdup_printf("i8042: %s", bad);
	return bad ? -1 : 0;
}

/* A refused state leaves the device at power-on rather than half loaded. */
static int i8042_post_load(void *obj, char **error)
{
	struct i8042 *s = obj;
	if (i8042_state_check(s, error) < 0) {
		i8042_reset(s);
		return -1;
	}
	s->irq_level[0] = s->irq_level[1] = -1;
	i8042_update_irqs(s);
	return 0;
}

static const struct state_field i8042_fields[] = {
	STATE_U8_ARRAY(struct i8042, ctl.ram),
	STATE_U8(struct i8042, ctl.outport),
	STATE_U8(struct i8042, ctl.obuf),
	STATE_U8(struct i8042, ctl.obuf_src),
	STATE_BOOL(struct i8042, ctl.obf),
	STATE_BOOL(struct i8042, ctl.last_was_cmd),
	STATE_U8(struct i8042, ctl.pending),
	STATE_U8(struct i8042, ctl.last_src),
	STATE_U8_ARRAY(struct i8042, kbd.q.data),
	STATE_U8(struct i8042, kbd.q.head),
	STATE_U8(struct i8042, kbd.q.count),
	STATE_U8(struct i8042, kbd.pending),
	STATE_BOOL(struct i8042, kbd.scanning),
	STATE_BOOL(struct i8042, kbd.xlat_break),
	STATE_U8(struct i8042, kbd.set),
	STATE_U8(struct i8042, kbd.leds),
	STATE_U8(struct i8042, kbd.typematic),
	STATE_U8(struct i8042, kbd.last_sent),
	STATE_U8_ARRAY(struct i8042, aux.q.data),
	STATE_U8(struct i8042, aux.q.head),
	STATE_U8(struct i8042, aux.q.count),
	STATE_U8(struct i8042, aux.pending),
	STATE_BOOL(struct i8042, aux.enabled),
	STATE_BOOL(struct i8042, aux.remote),
	STATE_BOOL(struct i8042, aux.scale21),
	STATE_U8(struct i8042, aux.rate),
	STATE_U8(struct i8042, aux.res),
	STATE_U8(struct i8042, aux.id),
	STATE_U8_ARRAY(struct i8042, aux.rate_hist),
	STATE_U8(struct i8042, aux.buttons),
	STATE_U8(struct i8042, aux.sent_buttons),
	STATE_U8(struct i8042, aux.last_sent),
	STATE_U32(struct i8042, aux.dx),
	STATE_U32(struct i8042, aux.dy),
	STATE_U32(struct i8042, aux.dz),
};

static const struct state_desc i8042_state =
	STATE_DESC("i8042", 1, struct i8042, i8042_fields, .post_load = i8042_post_load,
		   .check = i8042_state_check);

static void *i8042_create(const struct dev_ctx *ctx)
{
	struct i8042 *s = g_new0(struct i8042, 1);
	pthread_mutex_init(&s->lock, NULL);
	s->irq_kbd = ctx->irq[0];
	s->irq_aux = ctx->irq[1];
	s->hooks = ctx->hooks;
	i8042_reset(s);
	return s;
}

static void i8042_destroy(void *dev)
{
	struct i8042 *s = dev;
	pthread_mutex_destroy(&s->lock);
	g_free(s);
}

static pthread_mutex_t *i8042_lock(void *dev)
{
	return &((struct i8042 *)dev)->lock;
}

const struct device_class i8042_class = {
	.name = "i8042",
	.state = &i8042_state,
	.create = i8042_create,
	.destroy = i8042_destroy,
	.reset = i8042_reset,
	.lock = i8042_lock,
};
