/*
 * The VNC server's input: KeyEvents (X keysyms through the layout's keymap), PointerEvents
 * (absolute positions made relative for the PS/2 mouse) and QEMU's extended key events (raw
 * scan codes). The VNC thread decodes them; the events go to the display on the thread that
 * created the server (its main context), in order, through a queue: there they meet the rest of
 * the machine's input (`pcvm send-keys`) and a reset or revert never sees one half done.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "ui/keymap.h"
#include "ui/vnc_internal.h"

/* ---- libvncserver's log ---- */

static void vnc_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* libvncserver is chatty (every handshake step); its lines go to the debug log. */
static void vnc_log(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	log_debug("vnc: %s", g_strstrip(buf));
}

/* ---- the queue to the display's thread ---- */

static void input_deliver_one(struct vnc_server *vnc, const struct vnc_input *ev)
{
	if (ev->is_key)
		vnc->display.key(vnc->display.opaque, ev->qnum, ev->down);
	else
		vnc->display.pointer(vnc->display.opaque, ev->dx, ev->dy, ev->dz, ev->buttons);
}

/* Takes the queued events (the caller delivers them, without the lock). */
static GArray *input_take(struct vnc_server *vnc)
{
	pthread_mutex_lock(&vnc->input_lock);
	GArray *batch = vnc->input;
	vnc->input = g_array_new(FALSE, FALSE, sizeof(struct vnc_input));
	if (vnc->input_source) {
		g_source_destroy(vnc->input_source);
		g_source_unref(vnc->input_source);
		vnc->input_source = NULL;
	}
	pthread_mutex_unlock(&vnc->input_lock);
	return batch;
}

void vnc_input_flush(struct vnc_server *vnc)
{
	GArray *batch = input_take(vnc);
	for (guint i = 0; i < batch->len; i++)
		input_deliver_one(vnc, &g_array_index(batch, struct vnc_input, i));
	g_array_free(batch, TRUE);
}

static gboolean input_ready(gpointer data)
{
	vnc_input_flush(data);
	return G_SOURCE_REMOVE;
}

static void input_push(struct vnc_server *vnc, const struct vnc_input *ev)
{
	pthread_mutex_lock(&vnc->input_lock);
	g_array_append_val(vnc->input, *ev);
	if (!vnc->input_source) {
		/* one source for the whole batch keeps the events in order; the default priority,
		 * because idle priority waits for a VM loop that is never idle under load */
		vnc->input_source = g_idle_source_new();
		g_source_set_priority(vnc->input_source, G_PRIORITY_DEFAULT);
		g_source_set_callback(vnc->input_source, input_ready, vnc, NULL);
		g_source_attach(vnc->input_source, vnc->owner);
	}
	pthread_mutex_unlock(&vnc->input_lock);
}

void vnc_input_pointer(struct vnc_server *vnc, int dx, int dy, int dz, unsigned buttons)
{
	struct vnc_input ev = { .dx = dx, .dy = dy, .dz = dz, .buttons = buttons };
	input_push(vnc, &ev);
}

/* ---- keyboard and pointer ---- */

bool vnc_client_is_down(const struct vnc_client *c, unsigned qnum)
{
	return c->down[qnum / 8] >> (qnum % 8) & 1;
}

static unsigned client_held(const struct vnc_client *c)
{
	unsigned held = 0;
	if (vnc_client_is_down(c, KEYMAP_QNUM_SHIFT) || vnc_client_is_down(c, KEYMAP_QNUM_SHIFT_R))
		held |= KEYMAP_MOD_SHIFT;
	if (vnc_client_is_down(c, KEYMAP_QNUM_ALTGR))
		held |= KEYMAP_MOD_ALTGR;
	return held;
}

void vnc_client_key(struct vnc_client *c, unsigned qnum, bool down)
{
	if (qnum == 0 || qnum > 0xFF)
		return;
	/* Linux hosts report the Print Screen key as SysRq, which keycodemapdb numbers 0x54: the
	 * code that key sends only with Alt held. */
	bool alt =
		vnc_client_is_down(c, KEYMAP_QNUM_ALT) || vnc_client_is_down(c, KEYMAP_QNUM_ALTGR);
	if (qnum == KEYMAP_QNUM_SYSRQ && (down ? !alt : !vnc_client_is_down(c, qnum)))
		qnum = KEYMAP_QNUM_PRINT;
	if (!down && !vnc_client_is_down(c, qnum))
		return; /* released a key the guest never saw pressed */
	if (down)
		c->down[qnum / 8] |= 1u << (qnum % 8);
	else
		c->down[qnum / 8] &= ~(1u << (qnum % 8));
	struct vnc_input ev = { .is_key = true, .qnum = qnum, .down = down };
	input_push(c->vnc, &ev);
}

static gboolean keysym_is_qnum(gpointer key, gpointer value, gpointer qnum)
{
	return value == qnum;
}

/* KeyEvent (RFB 3.8 §7.5.4): an X keysym, mapped through the layout's keymap. */
void vnc_kbd_event(rfbBool down, rfbKeySym keysym, rfbClientPtr cl)
{
	struct vnc_client *c = cl->clientData;
	struct vnc_server *vnc = c->vnc;
	unsigned held = client_held(c), qnum, mods;
	if (!down) {
		gpointer v;
		if (g_hash_table_lookup_extended(c->keysyms, GUINT_TO_POINTER(keysym), NULL, &v))
			qnum = GPOINTER_TO_UINT(v);
		else if (!keymap_keysym_lookup(vnc->layout, keysym, held, &qnum, &mods))
			return;
		g_hash_table_foreach_remove(c->keysyms, keysym_is_qnum, GUINT_TO_POINTER(qnum));
		vnc_client_key(c, qnum, false);
		return;
	}
	if (!keymap_keysym_lookup(vnc->layout, keysym, held, &qnum, &mods)) {
		log_debug("vnc: keysym 0x%x has no key on the %s layout", (unsigned)keysym,
			  vnc->layout);
		return;
	}
	/* The modifiers the layout needs for this keysym and the viewer does not hold (a viewer
	 * typing '@' on another layout, or a script) are pressed around the key. */
	bool shift = (mods & KEYMAP_MOD_SHIFT) && !(held & KEYMAP_MOD_SHIFT);
	bool altgr = (mods & KEYMAP_MOD_ALTGR) && !(held & KEYMAP_MOD_ALTGR);
	if (shift)
		vnc_client_key(c, KEYMAP_QNUM_SHIFT, true);
	if (altgr)
		vnc_client_key(c, KEYMAP_QNUM_ALTGR, true);
	vnc_client_key(c, qnum, true);
	if (altgr)
		vnc_client_key(c, KEYMAP_QNUM_ALTGR, false);
	if (shift)
		vnc_client_key(c, KEYMAP_QNUM_SHIFT, false);
	g_hash_table_insert(c->keysyms, GUINT_TO_POINTER(keysym), GUINT_TO_POINTER(qnum));
}

/* PointerEvent (RFB 3.8 §7.5.5): absolute position, made relative for the PS/2 mouse. */
void vnc_ptr_event(int mask, int x, int y, rfbClientPtr cl)
{
	struct vnc_client *c = cl->clientData;
	unsigned buttons = (unsigned)mask;
	int dx = c->have_pos ? x - c->x : 0, dy = c->have_pos ? y - c->y : 0, dz = 0;
	unsigned pressed = buttons & ~c->buttons;
	if (pressed & VNC_WHEEL_UP)
		dz--;
	if (pressed & VNC_WHEEL_DOWN)
		dz++;
	bool changed = (buttons ^ c->buttons) & VNC_BUTTONS;
	c->have_pos = true;
	c->x = x;
	c->y = y;
	c->buttons = buttons;
	if (dx || dy || dz || changed)
		vnc_input_pointer(c->vnc, dx, dy, dz, buttons & VNC_BUTTONS);
}

/* ---- QEMU extended key events ---- */

/*
 * QEMU's extended key event (RFB community spec, "QEMU Extended Key Event Message"): a viewer
 * that lists pseudo-encoding -258 learns from a framebuffer update carrying that encoding that
 * the server understands client message 255, submessage 0: down flag, keysym and the key's XT
 * scan code with 0xE0 folded into bit 7, which is a qnum. The viewer's own keyboard layout
 * then applies, not the server's keymap.
 */
static rfbBool qemu_new_client(rfbClientPtr cl, void **data)
{
	*data = NULL;
	return TRUE; /* enabled for every client: the message is ours to handle */
}

static rfbBool qemu_enable(rfbClientPtr cl, void **data, int encoding)
{
	if (encoding != (int)rfbEncodingQemuExtendedKeyEvent)
		return FALSE;
	struct {
		rfbFramebufferUpdateMsg msg;
		rfbFramebufferUpdateRectHeader rect;
	} ack = {
		/* RFB is big-endian; not rfb.h's Swap16IfLE, which reads a variable of the library's */
		.msg = { .type = rfbFramebufferUpdate, .nRects = GUINT16_TO_BE(1) },
		.rect = { .r = { .w = GUINT16_TO_BE((uint16_t)cl->screen->width),
				 .h = GUINT16_TO_BE((uint16_t)cl->screen->height) },
			  .encoding = GUINT32_TO_BE(rfbEncodingQemuExtendedKeyEvent) },
	};
	G_STATIC_ASSERT(sizeof(ack) ==
			sz_rfbFramebufferUpdateMsg + sz_rfbFramebufferUpdateRectHeader);
	if (vnc_lib.WriteExact(cl, (const char *)&ack, sizeof(ack)) < 0)
		vnc_lib.CloseClient(cl);
	return TRUE;
}

static rfbBool qemu_message(rfbClientPtr cl, void *data, const rfbClientToServerMsg *msg)
{
	if (msg->type != rfbQemuEvent)
		return FALSE;
	rfbQemuExtendedKeyEventMsg ev;
	if (vnc_lib.ReadExact(cl, (char *)&ev + 1, 1) <= 0) {
		vnc_lib.CloseClient(cl);
		return TRUE;
	}
	if (ev.subtype != 0) {
		log_info("vnc: viewer sent QEMU client message %u, which pcvm does not support",
			 ev.subtype);
		vnc_lib.CloseClient(cl);
		return TRUE;
	}
	if (vnc_lib.ReadExact(cl, (char *)&ev + 2, sz_rfbQemuExtendedKeyEventMsg - 2) <= 0) {
		vnc_lib.CloseClient(cl);
		return TRUE;
	}
	struct vnc_client *c = cl->clientData;
	if (cl->viewOnly)
		return TRUE;
	bool down = ev.down != 0;
	uint32_t keycode = GUINT32_FROM_BE(ev.keycode), keysym = GUINT32_FROM_BE(ev.keysym);
	if (keycode == 0)
		vnc_kbd_event(down, keysym, cl);
	else if (keycode <= 0xFF)
		vnc_client_key(c, keycode, down);
	else
		log_debug("vnc: extended key event with scan code 0x%x ignored", keycode);
	return TRUE;
}

static int qemu_encodings[] = { (int)rfbEncodingQemuExtendedKeyEvent, 0 };

static rfbProtocolExtension qemu_extension = {
	.newClient = qemu_new_client,
	.pseudoEncodings = qemu_encodings,
	.enablePseudoEncoding = qemu_enable,
	.handleMessage = qemu_message,
};

/* libvncserver's log and extensions are process-wide; after vnc_lib_load. */
void vnc_global_init(void)
{
	static gsize done;
	if (g_once_init_enter(&done)) {
		*vnc_lib.Log = vnc_log;
		*vnc_lib.Err = vnc_log;
		vnc_lib.RegisterProtocolExtension(&qemu_extension);
		g_once_init_leave(&done, 1);
	}
}
