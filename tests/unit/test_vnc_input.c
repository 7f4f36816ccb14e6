/*
 * Viewers' input through the VNC server (vnc_util.c's fake display records it): keys as
 * keysyms translated through the keyboard layout, QEMU's extended key events as scancodes, and
 * the pointer's motion, wheel and buttons.
 */
#include <glib.h>
#include <string.h>

#include "vnc_util.h"

/* ---- tests ---- */

static void test_keys(void)
{
	struct fixture f = { 0 };
	fixture_start(&f, NULL, NULL);
	struct client *c = client_connect(&f, raw_only, 1);
	send_key(c, true, 'a');
	send_key(c, false, 'a');
	EXPECT_KEYS(&f.d, { 0x1E, true }, { 0x1E, false });

	/* 'A' without Shift held: the layout's Shift is pressed around it */
	send_key(c, true, 'A');
	send_key(c, false, 'A');
	EXPECT_KEYS(&f.d, { 0x2A, true }, { 0x1E, true }, { 0x2A, false }, { 0x1E, false });

	/* with Shift held by the viewer, and released before the key (X sends 'a' then) */
	send_key(c, true, 0xFFE1); /* Shift_L */
	send_key(c, true, 'A');
	send_key(c, false, 0xFFE1);
	send_key(c, false, 'a');
	EXPECT_KEYS(&f.d, { 0x2A, true }, { 0x1E, true }, { 0x2A, false }, { 0x1E, false });

	/* Return, Left, Print Screen (without Alt: the Print key, with its own qnum) */
	send_key(c, true, 0xFF0D);
	send_key(c, false, 0xFF0D);
	send_key(c, true, 0xFF51);
	send_key(c, false, 0xFF51);
	send_key(c, true, 0xFF61);
	send_key(c, false, 0xFF61);
	EXPECT_KEYS(&f.d, { 0x1C, true }, { 0x1C, false }, { 0xCB, true }, { 0xCB, false },
		    { 0xB7, true }, { 0xB7, false });
	/* Alt+Print is SysRq */
	send_key(c, true, 0xFFE9); /* Alt_L */
	send_key(c, true, 0xFF61);
	send_key(c, false, 0xFF61);
	send_key(c, false, 0xFFE9);
	EXPECT_KEYS(&f.d, { 0x38, true }, { 0x54, true }, { 0x54, false }, { 0x38, false });

	/* a release without a press, a keysym no key types: nothing */
	send_key(c, false, 'q');
	send_key(c, true, 0x12345678);
	pump_for(50);
	g_assert_cmpuint(f.d.nkeys, ==, 0);

	/* QEMU extended key events: acknowledged, then raw scan codes */
	const int32_t enc[] = { rfbEncodingRaw, (int32_t)rfbEncodingQemuExtendedKeyEvent };
	client_set_encodings(c, enc, 2);
	client_read_update(c);
	g_assert_true(c->got_ext_key_ack);
	uint8_t ext[12] = { rfbQemuEvent, 0 };
	wr16(ext + 2, 1);
	wr32(ext + 4, 0xFF52); /* keysym Up, ignored */
	wr32(ext + 8, 0xC8);   /* Up arrow: E0 48 */
	must_write(c->fd, ext, sizeof(ext));
	wr16(ext + 2, 0);
	must_write(c->fd, ext, sizeof(ext));
	wr16(ext + 2, 1);
	wr32(ext + 8, 0x2C); /* the key left of X, whatever the keysym */
	must_write(c->fd, ext, sizeof(ext));
	EXPECT_KEYS(&f.d, { 0xC8, true }, { 0xC8, false }, { 0x2C, true });

	/* a viewer that goes away leaves no key down */
	send_key(c, true, 'b');
	PUMP_UNTIL(f.d.nkeys == 1);
	client_free(c);
	PUMP_UNTIL(vnc_server_clients(f.vnc) == 0);
	EXPECT_KEYS(&f.d, { 0x30, true }, { 0x2C, false }, { 0x30, false });
	fixture_stop(&f);
}

static void test_keys_de(void)
{
	struct fixture f = { 0 };
	fixture_start(&f, "de", NULL);
	struct client *c = client_connect(&f, raw_only, 1);
	send_key(c, true, 'z');
	send_key(c, false, 'z');
	send_key(c, true, 'y');
	send_key(c, false, 'y');
	EXPECT_KEYS(&f.d, { 0x15, true }, { 0x15, false }, { 0x2C, true }, { 0x2C, false });
	send_key(c, true, '@');
	send_key(c, false, '@');
	EXPECT_KEYS(&f.d, { 0xB8, true }, { 0x10, true }, { 0xB8, false }, { 0x10, false });
	send_key(c, true, 0xE4); /* adiaeresis */
	send_key(c, false, 0xE4);
	EXPECT_KEYS(&f.d, { 0x28, true }, { 0x28, false });
	client_free(c);
	fixture_stop(&f);
}

static void expect_ptr(struct fake_display *d, int dx, int dy, int dz, unsigned buttons)
{
	PUMP_UNTIL(d->nptrs >= 1);
	g_assert_cmpuint(d->nptrs, ==, 1);
	g_assert_cmpint(d->ptrs[0].dx, ==, dx);
	g_assert_cmpint(d->ptrs[0].dy, ==, dy);
	g_assert_cmpint(d->ptrs[0].dz, ==, dz);
	g_assert_cmpuint(d->ptrs[0].buttons, ==, buttons);
	d->nptrs = 0;
}

static void test_pointer(void)
{
	struct fixture f = { 0 };
	fixture_start(&f, NULL, NULL);
	struct client *c = client_connect(&f, raw_only, 1);
	send_pointer(c, 0, 10, 10); /* the first position: no motion yet */
	send_pointer(c, 1, 15, 13);
	expect_ptr(&f.d, 5, 3, 0, DISPLAY_BUTTON_LEFT);
	send_pointer(c, 1, 12, 20);
	expect_ptr(&f.d, -3, 7, 0, DISPLAY_BUTTON_LEFT);
	send_pointer(c, 4, 12, 20);
	expect_ptr(&f.d, 0, 0, 0, DISPLAY_BUTTON_RIGHT);
	send_pointer(c, 0, 12, 20);
	expect_ptr(&f.d, 0, 0, 0, 0);
	/* wheel: a press of button 4 (up) or 5 (down) is one step */
	send_pointer(c, 8, 12, 20);
	expect_ptr(&f.d, 0, 0, -1, 0);
	send_pointer(c, 0, 12, 20);
	send_pointer(c, 16, 12, 20);
	expect_ptr(&f.d, 0, 0, 1, 0);
	/* gone with a button down: released */
	send_pointer(c, 2, 12, 20);
	expect_ptr(&f.d, 0, 0, 0, DISPLAY_BUTTON_MIDDLE);
	client_free(c);
	expect_ptr(&f.d, 0, 0, 0, 0);
	fixture_stop(&f);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/vnc/keys", test_keys);
	g_test_add_func("/vnc/keys-de", test_keys_de);
	g_test_add_func("/vnc/pointer", test_pointer);
	return g_test_run();
}
