/*
 * The PS/2 keyboard and PS/2 mouse on the i8042's two ports (the controller is in i8042.c).
 *
 * References: IBM PS/2 Hardware Interface Technical Reference, "Keyboard" (keyboard commands,
 * scan code set 2) and "Auxiliary Device" (mouse commands, data packets); Microsoft's
 * IntelliMouse PS/2 extension (device ID 3, 4-byte packets) for the wheel.
 *
 * Each device answers commands from one table, through the dispatcher shared by both, and
 * sends its bytes into its own queue, from which the controller fills its output buffer.
 */
#include "devices/i8042_internal.h"

#include <glib.h>
#include <string.h>

#include "log.h"

/* PS/2 device replies */
#define PS2_ACK 0xFA
#define PS2_RESEND 0xFE
#define PS2_BAT_OK 0xAA

/* ---- device to controller ---- */

/* A byte from the keyboard; the controller translates it on the way in when asked to. */
static void kbd_send(struct i8042 *s, uint8_t b)
{
	s->kbd.last_sent = b;
	if ((s->ctl.ram[0] & CB_XLAT) && !i8042_translate(s, &b))
		return;
	if (!q_push(&s->kbd.q, b))
		log_once(LOG_INFO, "i8042: keyboard buffer full, bytes dropped");
	i8042_refill(s);
}

/*
 * A key's code as the keyboard emits it. Set 2 is what the tables produce; a guest that
 * selected set 1 (F0 01) and turned the controller's translation off gets set 1 from the
 * keyboard itself, which is the same mapping the controller's translation applies. Set 3 is
 * accepted and reported, but keys stay in set 2.
 */
static void kbd_send_key(struct i8042 *s, uint8_t b)
{
	if (s->kbd.set != 1 || (s->ctl.ram[0] & CB_XLAT)) {
		kbd_send(s, b);
		return;
	}
	s->kbd.last_sent = b;
	if (!i8042_translate(s, &b))
		return;
	if (!q_push(&s->kbd.q, b))
		log_once(LOG_INFO, "i8042: keyboard buffer full, bytes dropped");
	i8042_refill(s);
}

static void aux_send(struct i8042 *s, uint8_t b)
{
	s->aux.last_sent = b;
	if (!q_push(&s->aux.q, b))
		log_once(LOG_INFO, "i8042: mouse buffer full, bytes dropped");
	i8042_refill(s);
}

static void ps2_send(struct i8042 *s, bool aux, uint8_t b)
{
	if (aux)
		aux_send(s, b);
	else
		kbd_send(s, b);
}

/* ---- PS/2 command dispatch, shared by keyboard and mouse ---- */

#define PS2_F_ACK 0x01   /* acknowledge with 0xFA before anything else */
#define PS2_F_ARG 0x02   /* an argument byte follows; it is acknowledged too */
#define PS2_F_FLUSH 0x04 /* the command clears the device's output buffer */

struct ps2_cmd {
	uint8_t code;
	uint8_t flags;
	uint8_t arg_max;                            /* larger arguments are refused (0xFE) */
	void (*run)(struct i8042 *s, uint8_t code); /* after the ACK */
	void (*arg)(struct i8042 *s, uint8_t data); /* after the argument's ACK */
};

struct ps2_dev {
	const struct ps2_cmd *cmds;
	size_t ncmds;
	uint8_t cmd_min; /* bytes from here up are commands, never arguments */
	bool aux;
	const char *name;
};

static const struct ps2_cmd *ps2_find(const struct ps2_dev *d, uint8_t code)
{
	for (size_t i = 0; i < d->ncmds; i++)
		if (d->cmds[i].code == code)
			return &d->cmds[i];
	return NULL;
}

/* For a loaded state (i8042_check): a pending command must be one that takes an argument. */
bool ps2_pending_ok(const struct ps2_dev *d, uint8_t pending)
{
	const struct ps2_cmd *c = ps2_find(d, pending);
	return !pending || (c && (c->flags & PS2_F_ARG));
}

/* An argument byte for *PENDING. Returns false when V is a command that replaces it. */
static bool ps2_take_arg(struct i8042 *s, const struct ps2_dev *d, uint8_t *pending, uint8_t v)
{
	const struct ps2_cmd *c = ps2_find(d, *pending);
	if (v > c->arg_max && v >= d->cmd_min)
		return false;
	*pending = 0;
	if (v > c->arg_max) {
		log_once(LOG_DEBUG, "i8042: %s: bad argument %#x to command %#x", d->name, v,
			 c->code);
		ps2_send(s, d->aux, PS2_RESEND);
		return true;
	}
	ps2_send(s, d->aux, PS2_ACK);
	c->arg(s, v);
	return true;
}

void ps2_write(struct i8042 *s, const struct ps2_dev *d, uint8_t *pending, uint8_t v)
{
	if (*pending && ps2_take_arg(s, d, pending, v))
		return;
	*pending = 0;
	const struct ps2_cmd *c = ps2_find(d, v);
	if (!c) {
		log_once(LOG_DEBUG, "i8042: %s: unknown command %#x", d->name, v);
		ps2_send(s, d->aux, PS2_RESEND);
		return;
	}
	if (c->flags & PS2_F_FLUSH) {
		q_clear(d->aux ? &s->aux.q : &s->kbd.q);
		if (!d->aux)
			s->kbd.xlat_break = false;
	}
	if (c->flags & PS2_F_ACK)
		ps2_send(s, d->aux, PS2_ACK);
	if (c->flags & PS2_F_ARG)
		*pending = c->code;
	if (c->run)
		c->run(s, c->code);
}

/* ---- the keyboard (IBM PS/2 Technical Reference, Keyboard, "Commands from the System") ---- */

void kbd_defaults(struct i8042 *s)
{
	s->kbd.set = 2;
	s->kbd.leds = 0;
	s->kbd.typematic = 0x2B; /* 10.9 characters/s after 500 ms */
}

/* 0xF4 enable, 0xF5 defaults and disable, 0xF6 defaults (scanning unchanged), 0xFF reset */
static void kbd_setup(struct i8042 *s, uint8_t code)
{
	if (code != 0xF4)
		kbd_defaults(s);
	if (code != 0xF6)
		s->kbd.scanning = code != 0xF5;
	if (code == 0xFF)
		kbd_send(s, PS2_BAT_OK); /* basic assurance test passed */
}

static void kbd_resend(struct i8042 *s, uint8_t code)
{
	kbd_send(s, s->kbd.last_sent);
}

static void kbd_identify(struct i8042 *s, uint8_t code)
{
	kbd_send(s, 0xAB); /* MF2 keyboard; translated, 0x83 arrives as 0x41 */
	kbd_send(s, 0x83);
}

static void kbd_echo(struct i8042 *s, uint8_t code)
{
	kbd_send(s, 0xEE);
}

static void kbd_leds(struct i8042 *s, uint8_t v)
{
	s->kbd.leds = v & 7; /* scroll, num, caps lock */
}

static void kbd_typematic(struct i8042 *s, uint8_t v)
{
	s->kbd.typematic = v;
}

static void kbd_scan_set(struct i8042 *s, uint8_t v)
{
	if (v == 0) {
		kbd_send(s, s->kbd.set);
		return;
	}
	if (v != 2)
		log_once(LOG_INFO, "i8042: guest selected scan code set %u; keys stay in set 2", v);
	s->kbd.set = v;
}

static const struct ps2_cmd kbd_cmds[] = {
	{ 0xED, PS2_F_ACK | PS2_F_ARG, 0xEC, NULL, kbd_leds },
	{ 0xEE, 0, 0, kbd_echo, NULL },
	{ 0xF0, PS2_F_ACK | PS2_F_ARG, 3, NULL, kbd_scan_set },
	{ 0xF2, PS2_F_ACK, 0, kbd_identify, NULL },
	{ 0xF3, PS2_F_ACK | PS2_F_ARG, 0x7F, NULL, kbd_typematic },
	{ 0xF4, PS2_F_ACK | PS2_F_FLUSH, 0, kbd_setup, NULL },
	{ 0xF5, PS2_F_ACK | PS2_F_FLUSH, 0, kbd_setup, NULL },
	{ 0xF6, PS2_F_ACK | PS2_F_FLUSH, 0, kbd_setup, NULL },
	/* 0xF7-0xFA set key types in scan code set 3: acknowledged, no effect in set 2 */
	{ 0xF7, PS2_F_ACK, 0, NULL, NULL },
	{ 0xF8, PS2_F_ACK, 0, NULL, NULL },
	{ 0xF9, PS2_F_ACK, 0, NULL, NULL },
	{ 0xFA, PS2_F_ACK, 0, NULL, NULL },
	{ 0xFE, 0, 0, kbd_resend, NULL },
	{ 0xFF, PS2_F_ACK | PS2_F_FLUSH, 0, kbd_setup, NULL },
};

const struct ps2_dev kbd_dev = {
	kbd_cmds, G_N_ELEMENTS(kbd_cmds), 0xED, false, "keyboard",
};

/* ---- the mouse (IBM PS/2 Technical Reference, Auxiliary Device) ---- */

static int clampi(int v, int lo, int hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

/* 2:1 scaling applies to stream reports only: small counts follow a table, the rest double. */
static int mouse_scale(int v)
{
	static const int small[6] = { 0, 1, 1, 3, 6, 9 };
	int a = v < 0 ? -v : v;
	int r = a < 6 ? small[a] : 2 * a;
	return clampi(v < 0 ? -r : r, -256, 255);
}

/* Sends one packet with as much of the pending movement as fits. */
static void mouse_packet(struct i8042 *s, bool stream)
{
	int dx = clampi(s->aux.dx, -256, 255);
	int dy = clampi(s->aux.dy, -256, 255);
	int dz = clampi(s->aux.dz, -8, 7);
	s->aux.dx -= dx;
	s->aux.dy -= dy;
	s->aux.dz -= dz;
	if (stream && s->aux.scale21) {
		dx = mouse_scale(dx);
		dy = mouse_scale(dy);
	}
	/* byte 0: buttons, bit 3 always set, then the X and Y sign bits */
	aux_send(s, 0x08 | s->aux.buttons | (dx < 0 ? 0x10 : 0) | (dy < 0 ? 0x20 : 0));
	aux_send(s, dx & 0xFF);
	aux_send(s, dy & 0xFF);
	if (s->aux.id == 3)
		aux_send(s, dz & 0xFF);
	s->aux.sent_buttons = s->aux.buttons;
}

static bool mouse_has_news(const struct i8042 *s)
{
	return s->aux.dx || s->aux.dy || s->aux.dz || s->aux.buttons != s->aux.sent_buttons;
}

/* Stream mode: report what is pending while the queue has room for whole packets. */
void mouse_flush(struct i8042 *s)
{
	unsigned len = s->aux.id == 3 ? 4 : 3;
	while (s->aux.enabled && !s->aux.remote && mouse_has_news(s) && q_room(&s->aux.q) >= len)
		mouse_packet(s, true);
}

static void mouse_clear_counters(struct i8042 *s)
{
	s->aux.dx = s->aux.dy = s->aux.dz = 0;
	s->aux.sent_buttons = s->aux.buttons;
}

/* 0xF6 set defaults: 100 samples/s, 4 counts/mm, 1:1, reporting off */
void mouse_defaults(struct i8042 *s)
{
	s->aux.rate = 100;
	s->aux.res = 2;
	s->aux.scale21 = false;
	s->aux.enabled = false;
	mouse_clear_counters(s);
}

static void mouse_set_defaults(struct i8042 *s, uint8_t code)
{
	mouse_defaults(s);
}

/* 0xFF reset: defaults, stream mode, a plain mouse again */
static void mouse_reset(struct i8042 *s, uint8_t code)
{
	mouse_defaults(s);
	s->aux.remote = false;
	s->aux.id = 0;
	memset(s->aux.rate_hist, 0, sizeof(s->aux.rate_hist));
	aux_send(s, PS2_BAT_OK);
	aux_send(s, 0x00); /* device ID */
}

/* 0xF4 enable / 0xF5 disable reporting, 0xEA stream / 0xF0 remote mode: counters restart */
static void mouse_mode(struct i8042 *s, uint8_t code)
{
	if (code == 0xF4 || code == 0xF5)
		s->aux.enabled = code == 0xF4;
	else
		s->aux.remote = code == 0xF0;
	mouse_clear_counters(s);
}

/* 0xE6 scaling 1:1, 0xE7 scaling 2:1 */
static void mouse_scaling(struct i8042 *s, uint8_t code)
{
	s->aux.scale21 = code == 0xE7;
}

static void mouse_read_data(struct i8042 *s, uint8_t code)
{
	mouse_packet(s, false);
}

static void mouse_identify(struct i8042 *s, uint8_t code)
{
	aux_send(s, s->aux.id);
}

/* Status byte 0: bit 6 remote, 5 enabled, 4 scaling 2:1, 2 left, 1 middle, 0 right. */
static void mouse_status(struct i8042 *s, uint8_t code)
{
	uint8_t b = s->aux.buttons;
	uint8_t st = (s->aux.remote ? 0x40 : 0) | (s->aux.enabled ? 0x20 : 0) |
		     (s->aux.scale21 ? 0x10 : 0) | (b & 1 ? 0x04 : 0) | (b & 4 ? 0x02 : 0) |
		     (b & 2 ? 0x01 : 0);
	aux_send(s, st);
	aux_send(s, s->aux.res);
	aux_send(s, s->aux.rate);
}

static void mouse_resend(struct i8042 *s, uint8_t code)
{
	aux_send(s, s->aux.last_sent);
}

static void mouse_resolution(struct i8042 *s, uint8_t v)
{
	s->aux.res = v;
}

/* Sample rates 200, 100, 80 in a row switch an IntelliMouse to ID 3 (wheel, 4-byte packets). */
static void mouse_sample_rate(struct i8042 *s, uint8_t v)
{
	s->aux.rate = v;
	s->aux.rate_hist[0] = s->aux.rate_hist[1];
	s->aux.rate_hist[1] = s->aux.rate_hist[2];
	s->aux.rate_hist[2] = v;
	if (s->aux.rate_hist[0] == 200 && s->aux.rate_hist[1] == 100 && v == 80)
		s->aux.id = 3;
}

static const struct ps2_cmd mouse_cmds[] = {
	{ 0xE6, PS2_F_ACK, 0, mouse_scaling, NULL },
	{ 0xE7, PS2_F_ACK, 0, mouse_scaling, NULL },
	{ 0xE8, PS2_F_ACK | PS2_F_ARG, 3, NULL, mouse_resolution },
	{ 0xE9, PS2_F_ACK, 0, mouse_status, NULL },
	{ 0xEA, PS2_F_ACK, 0, mouse_mode, NULL },
	{ 0xEB, PS2_F_ACK, 0, mouse_read_data, NULL },
	{ 0xF0, PS2_F_ACK, 0, mouse_mode, NULL },
	{ 0xF2, PS2_F_ACK, 0, mouse_identify, NULL },
	{ 0xF3, PS2_F_ACK | PS2_F_ARG, 200, NULL, mouse_sample_rate },
	{ 0xF4, PS2_F_ACK, 0, mouse_mode, NULL },
	{ 0xF5, PS2_F_ACK | PS2_F_FLUSH, 0, mouse_mode, NULL },
	{ 0xF6, PS2_F_ACK | PS2_F_FLUSH, 0, mouse_set_defaults, NULL },
	{ 0xFE, 0, 0, mouse_resend, NULL },
	{ 0xFF, PS2_F_ACK | PS2_F_FLUSH, 0, mouse_reset, NULL },
};

const struct ps2_dev mouse_dev = {
	mouse_cmds, G_N_ELEMENTS(mouse_cmds), 0xE6, true, "mouse",
};

/* ---- input from the console ---- */

void i8042_kbd_put_scancode(struct i8042 *s, const uint8_t *bytes, size_t n)
{
	pthread_mutex_lock(&s->lock);
	if (!s->kbd.scanning) {
		/* a keyboard that is not scanning does not see keys */
	} else if (q_room(&s->kbd.q) < n) {
		/* keep whole scan codes: a lone prefix would corrupt the next key */
		log_once(LOG_INFO, "i8042: keyboard buffer full, key dropped");
	} else {
		for (size_t i = 0; i < n; i++)
			kbd_send_key(s, bytes[i]);
	}
	pthread_mutex_unlock(&s->lock);
}

static int32_t mouse_acc(int32_t acc, int d)
{
	return clampi(acc + clampi(d, -MOUSE_ACC_MAX, MOUSE_ACC_MAX), -MOUSE_ACC_MAX,
		      MOUSE_ACC_MAX);
}

void i8042_mouse_event(struct i8042 *s, int dx, int dy, int dz, unsigned buttons)
{
	pthread_mutex_lock(&s->lock);
	/* a stream-mode mouse with reporting off does not count; remote mode always does */
	if (s->aux.enabled || s->aux.remote) {
		s->aux.dx = mouse_acc(s->aux.dx, dx);
		s->aux.dy = mouse_acc(s->aux.dy, -dy); /* PS/2 Y grows upward */
		s->aux.dz = s->aux.id == 3 ? mouse_acc(s->aux.dz, dz) : 0;
	}
	s->aux.buttons = buttons & 7;
	mouse_flush(s);
	pthread_mutex_unlock(&s->lock);
}

