/* i8042 keyboard controller, PS/2 keyboard and mouse, driven through ports 0x60/0x64. */
#include <glib.h>

#include "devices/i8042.h"
#include "fakes.h"

#define STS_OBF 0x01
#define STS_SYS 0x04
#define STS_CMD 0x08
#define STS_AUXB 0x20

struct t {
	struct fake_env *env;
	struct i8042 *s;
};

static struct t *t_new(void)
{
	struct t *t = g_new0(struct t, 1);
	t->env = fake_env_new(1, 12);
	t->s = i8042_class.create(&t->env->ctx);
	g_assert_nonnull(t->s);
	i8042_class.reset(t->s);
	fake_map(t->env, 0x60, 1, &i8042_data_ops, t->s, &t->s->lock);
	fake_map(t->env, 0x64, 1, &i8042_cmd_ops, t->s, &t->s->lock);
	return t;
}

static void t_free(struct t *t)
{
	i8042_class.destroy(t->s);
	fake_env_free(t->env);
	g_free(t);
}

static uint8_t st(struct t *t)
{
	return fake_inb(t->env, 0x64);
}

static void cmd(struct t *t, uint8_t v)
{
	fake_outb(t->env, 0x64, v);
}

static void dat(struct t *t, uint8_t v)
{
	fake_outb(t->env, 0x60, v);
}

static void aux(struct t *t, uint8_t v)
{
	cmd(t, 0xD4);
	dat(t, v);
}

/* Reads the output buffer expecting bytes from the keyboard/controller (AUXB clear) or the
 * mouse (AUXB set), then expects it empty. */
static void expect_from(struct t *t, bool from_aux, const uint8_t *b, size_t n, bool then_empty)
{
	for (size_t i = 0; i < n; i++) {
		uint8_t s = st(t);
		g_assert_cmphex(s & STS_OBF, ==, STS_OBF);
		g_assert_cmphex(s & STS_AUXB, ==, from_aux ? STS_AUXB : 0);
		g_assert_cmphex(fake_inb(t->env, 0x60), ==, b[i]);
	}
	if (then_empty)
		g_assert_cmphex(st(t) & STS_OBF, ==, 0);
}

#define EXPECT_(t, aux, empty, ...)                                                                \
	do {                                                                                       \
		const uint8_t e_[] = { __VA_ARGS__ };                                              \
		expect_from(t, aux, e_, sizeof(e_), empty);                                        \
	} while (0)
/* these bytes, then an empty buffer */
#define EXPECT(t, ...) EXPECT_(t, false, true, __VA_ARGS__)
#define EXPECT_AUX(t, ...) EXPECT_(t, true, true, __VA_ARGS__)
/* these bytes, more to follow */
#define NEXT(t, ...) EXPECT_(t, false, false, __VA_ARGS__)
#define NEXT_AUX(t, ...) EXPECT_(t, true, false, __VA_ARGS__)

static void drain(struct t *t)
{
	for (int i = 0; i < 1000 && (st(t) & STS_OBF); i++)
		fake_inb(t->env, 0x60);
	g_assert_cmphex(st(t) & STS_OBF, ==, 0);
}

static void set_cb(struct t *t, uint8_t v)
{
	cmd(t, 0x60);
	dat(t, v);
}

static void test_self_test(void)
{
	struct t *t = t_new();
	g_assert_cmphex(st(t) & STS_SYS, ==, 0); /* cold boot */
	cmd(t, 0xAA);
	g_assert_cmphex(st(t) & STS_CMD, ==, STS_CMD);
	EXPECT(t, 0x55);
	g_assert_cmphex(st(t) & STS_SYS, ==, STS_SYS);
	g_assert_cmphex(st(t) & 0x10, ==, 0x10); /* not inhibited */
	t_free(t);
}

static void test_interface_tests(void)
{
	struct t *t = t_new();
	cmd(t, 0xAB);
	EXPECT(t, 0x00);
	cmd(t, 0xA9);
	EXPECT(t, 0x00);
	cmd(t, 0xA4); /* no password */
	EXPECT(t, 0xF1);
	t_free(t);
}

static void test_command_byte(void)
{
	struct t *t = t_new();
	set_cb(t, 0x47);
	g_assert_cmphex(st(t) & STS_CMD, ==, 0); /* last write was data */
	cmd(t, 0x20);
	EXPECT(t, 0x47);
	g_assert_cmphex(st(t) & STS_SYS, ==, STS_SYS);
	cmd(t, 0xAD);
	cmd(t, 0xA7);
	cmd(t, 0x20);
	EXPECT(t, 0x77);
	cmd(t, 0xAE);
	cmd(t, 0xA8);
	cmd(t, 0x20);
	EXPECT(t, 0x47);
	set_cb(t, 0x00);
	cmd(t, 0x20);
	EXPECT(t, 0x00);
	g_assert_cmphex(st(t) & STS_SYS, ==, 0);
	/* the rest of the controller RAM */
	cmd(t, 0x65);
	dat(t, 0xA5);
	cmd(t, 0x25);
	EXPECT(t, 0xA5);
	t_free(t);
}

static void test_kbd_commands(void)
{
	struct t *t = t_new();
	dat(t, 0xFF);
	EXPECT(t, 0xFA, 0xAA);
	dat(t, 0xF2);
	EXPECT(t, 0xFA, 0xAB, 0x83);
	dat(t, 0xEE);
	EXPECT(t, 0xEE);
	dat(t, 0xED);
	EXPECT(t, 0xFA);
	dat(t, 0x07);
	EXPECT(t, 0xFA);
	g_assert_cmpuint(t->s->kbd.leds, ==, 7);
	dat(t, 0xF3);
	dat(t, 0x20);
	EXPECT(t, 0xFA, 0xFA);
	g_assert_cmpuint(t->s->kbd.typematic, ==, 0x20);
	dat(t, 0xF0);
	dat(t, 0x00);
	EXPECT(t, 0xFA, 0xFA, 0x02);
	dat(t, 0xF0);
	dat(t, 0x09); /* no set 9 */
	EXPECT(t, 0xFA, 0xFE);
	/* a command while an argument is awaited replaces it */
	dat(t, 0xED);
	dat(t, 0xF2);
	EXPECT(t, 0xFA, 0xFA, 0xAB, 0x83);
	dat(t, 0xF5);
	EXPECT(t, 0xFA);
	g_assert_false(t->s->kbd.scanning);
	dat(t, 0xF4);
	EXPECT(t, 0xFA);
	g_assert_true(t->s->kbd.scanning);
	dat(t, 0xEE);
	dat(t, 0xFE); /* resend */
	EXPECT(t, 0xEE, 0xEE);
	/* with translation, the ID's second byte arrives as set 1 */
	set_cb(t, 0x40);
	dat(t, 0xF2);
	EXPECT(t, 0xFA, 0xAB, 0x41);
	t_free(t);
}

static void test_kbd_unknown(void)
{
	struct t *t = t_new();
	const uint8_t unknown[] = { 0x00, 0x01, 0x55, 0xEC, 0xEF, 0xF1, 0xFB, 0xFC, 0xFD };
	for (size_t i = 0; i < sizeof(unknown); i++) {
		dat(t, unknown[i]);
		EXPECT(t, 0xFE);
	}
	t_free(t);
}

static void test_aux_reset_and_id(void)
{
	struct t *t = t_new();
	aux(t, 0xFF);
	EXPECT_AUX(t, 0xFA, 0xAA, 0x00);
	aux(t, 0xF2);
	EXPECT_AUX(t, 0xFA, 0x00);
	const uint8_t knock[] = { 200, 100, 80 };
	for (int i = 0; i < 3; i++) {
		aux(t, 0xF3);
		aux(t, knock[i]);
		EXPECT_AUX(t, 0xFA, 0xFA);
	}
	aux(t, 0xF2);
	EXPECT_AUX(t, 0xFA, 0x03);
	aux(t, 0xE9); /* status: stream, disabled, 1:1; resolution 2; rate 80 */
	EXPECT_AUX(t, 0xFA, 0x00, 0x02, 80);
	aux(t, 0xE8);
	aux(t, 3);
	aux(t, 0xE7);
	aux(t, 0xF4);
	EXPECT_AUX(t, 0xFA, 0xFA, 0xFA, 0xFA);
	aux(t, 0xE9);
	EXPECT_AUX(t, 0xFA, 0x30, 0x03, 80);
	aux(t, 0xE8);
	aux(t, 9); /* no such resolution */
	EXPECT_AUX(t, 0xFA, 0xFE);
	aux(t, 0xEE); /* wrap mode: not supported */
	EXPECT_AUX(t, 0xFE);
	aux(t, 0xFF); /* reset forgets the wheel */
	EXPECT_AUX(t, 0xFA, 0xAA, 0x00);
	aux(t, 0xF2);
	EXPECT_AUX(t, 0xFA, 0x00);
	t_free(t);
}

static void test_arbitration(void)
{
	struct t *t = t_new();
	aux(t, 0xF4);
	EXPECT_AUX(t, 0xFA);
	const uint8_t key[] = { 0x1C };
	i8042_kbd_put_scancode(t->s, key, 1);
	i8042_mouse_event(t->s, 1, 0, 0, 0);
	i8042_kbd_put_scancode(t->s, key, 1);
	/* kbd 1C in the buffer; then turns: aux, kbd, then the rest of the packet */
	NEXT(t, 0x1C);
	NEXT_AUX(t, 0x08);
	NEXT(t, 0x1C);
	EXPECT_AUX(t, 0x01, 0x00);
	/* a controller reply overtakes a device byte waiting in the buffer, which is kept */
	i8042_mouse_event(t->s, 0, 0, 0, 1);
	g_assert_cmphex(st(t) & STS_AUXB, ==, STS_AUXB);
	cmd(t, 0x20);
	NEXT(t, 0x00);
	EXPECT_AUX(t, 0x09, 0x00, 0x00);
	/* a disabled interface holds its bytes */
	cmd(t, 0xAD);
	i8042_kbd_put_scancode(t->s, key, 1);
	g_assert_cmphex(st(t) & STS_OBF, ==, 0);
	cmd(t, 0xAE);
	EXPECT(t, 0x1C);
	t_free(t);
}

static void test_irqs(void)
{
	struct t *t = t_new();
	struct fake_env *env = t->env;
	const uint8_t key[] = { 0x1C };
	set_cb(t, 0x00);
	i8042_kbd_put_scancode(t->s, key, 1);
	g_assert_cmpuint(env->irq_raises[1], ==, 0);
	drain(t);
	set_cb(t, 0x01);
	i8042_kbd_put_scancode(t->s, key, 1);
	g_assert_cmpuint(env->irq_raises[1], ==, 1);
	g_assert_cmpint(env->irq_level[1], ==, 1);
	fake_inb(env, 0x60);
	g_assert_cmpint(env->irq_level[1], ==, 0);
	/* two bytes: reading the first makes a new edge for the second */
	const uint8_t two[] = { 0xE0, 0x75 };
	i8042_kbd_put_scancode(t->s, two, 2);
	g_assert_cmpuint(env->irq_raises[1], ==, 2);
	fake_inb(env, 0x60);
	g_assert_cmpuint(env->irq_raises[1], ==, 3);
	fake_inb(env, 0x60);
	g_assert_cmpint(env->irq_level[1], ==, 0);
	/* mouse bytes: IRQ 12 only with bit 1 */
	aux(t, 0xF4);
	g_assert_cmpuint(env->irq_raises[12], ==, 0);
	g_assert_cmpuint(env->irq_raises[1], ==, 3);
	drain(t);
	set_cb(t, 0x03);
	aux(t, 0xF2);
	g_assert_cmpuint(env->irq_raises[12], ==, 1);
	g_assert_cmpint(env->irq_level[1], ==, 0);
	drain(t);
	g_assert_cmpuint(env->irq_raises[12], ==, 2);
	g_assert_cmpint(env->irq_level[12], ==, 0);
	/* enabling the interrupt with a byte waiting raises it */
	set_cb(t, 0x00);
	i8042_kbd_put_scancode(t->s, key, 1);
	set_cb(t, 0x01);
	g_assert_cmpint(env->irq_level[1], ==, 1);
	t_free(t);
}

static void test_reset_requests(void)
{
	struct t *t = t_new();
	struct fake_env *env = t->env;
	cmd(t, 0xFF); /* pulses nothing */
	g_assert_cmpuint(env->resets, ==, 0);
	cmd(t, 0xFE);
	g_assert_cmpuint(env->resets, ==, 1);
	cmd(t, 0xFD); /* pulses bit 1 only */
	g_assert_cmpuint(env->resets, ==, 1);
	cmd(t, 0xF0);
	g_assert_cmpuint(env->resets, ==, 2);
	cmd(t, 0xD0);
	EXPECT(t, 0x03);
	cmd(t, 0xD1);
	dat(t, 0x03);
	g_assert_cmpuint(env->resets, ==, 2);
	cmd(t, 0xD1);
	dat(t, 0x01); /* A20 off: stored, not emulated */
	cmd(t, 0xD0);
	EXPECT(t, 0x01);
	cmd(t, 0xD1);
	dat(t, 0x02);
	g_assert_cmpuint(env->resets, ==, 3);
	t_free(t);
}

static void test_translation(void)
{
	struct t *t = t_new();
	set_cb(t, 0x40);
	const uint8_t a_make[] = { 0x1C }, a_break[] = { 0xF0, 0x1C };
	const uint8_t up_make[] = { 0xE0, 0x75 }, up_break[] = { 0xE0, 0xF0, 0x75 };
	const uint8_t f7[] = { 0x83 }, esc_break[] = { 0xF0, 0x76 };
	i8042_kbd_put_scancode(t->s, a_make, 1);
	EXPECT(t, 0x1E);
	i8042_kbd_put_scancode(t->s, a_break, 2);
	EXPECT(t, 0x9E);
	i8042_kbd_put_scancode(t->s, up_make, 2);
	EXPECT(t, 0xE0, 0x48);
	i8042_kbd_put_scancode(t->s, up_break, 3);
	EXPECT(t, 0xE0, 0xC8);
	i8042_kbd_put_scancode(t->s, f7, 1);
	EXPECT(t, 0x41);
	i8042_kbd_put_scancode(t->s, esc_break, 2);
	EXPECT(t, 0x81);
	/* without translation, set 2 passes through */
	set_cb(t, 0x00);
	i8042_kbd_put_scancode(t->s, a_break, 2);
	EXPECT(t, 0xF0, 0x1C);
	/* a guest that selects set 1 without translation gets set 1 from the keyboard */
	dat(t, 0xF0);
	EXPECT(t, 0xFA);
	dat(t, 0x01);
	EXPECT(t, 0xFA);
	i8042_kbd_put_scancode(t->s, a_make, 1);
	EXPECT(t, 0x1E);
	i8042_kbd_put_scancode(t->s, up_break, 3);
	EXPECT(t, 0xE0, 0xC8);
	dat(t, 0xF0);
	EXPECT(t, 0xFA);
	dat(t, 0x02);
	EXPECT(t, 0xFA);
	/* not scanning: keys are dropped */
	dat(t, 0xF5);
	EXPECT(t, 0xFA);
	i8042_kbd_put_scancode(t->s, a_make, 1);
	g_assert_cmphex(st(t) & STS_OBF, ==, 0);
	t_free(t);
}

static void test_mouse_packets(void)
{
	struct t *t = t_new();
	/* reporting off: nothing */
	i8042_mouse_event(t->s, 5, 5, 0, 1);
	g_assert_cmphex(st(t) & STS_OBF, ==, 0);
	aux(t, 0xF4);
	EXPECT_AUX(t, 0xFA);
	i8042_mouse_event(t->s, 5, -3, 0, 1); /* right, up, left button */
	EXPECT_AUX(t, 0x09, 0x05, 0x03);
	i8042_mouse_event(t->s, -2, 4, 0, 0); /* left, down */
	EXPECT_AUX(t, 0x38, 0xFE, 0xFC);
	i8042_mouse_event(t->s, 600, 0, 0, 0); /* too far for one packet */
	EXPECT_AUX(t, 0x08, 0xFF, 0x00, 0x08, 0xFF, 0x00, 0x08, 0x5A, 0x00);
	i8042_mouse_event(t->s, 0, 0, 0, 6); /* right + middle */
	EXPECT_AUX(t, 0x0E, 0x00, 0x00);
	/* 2:1 scaling */
	aux(t, 0xE7);
	EXPECT_AUX(t, 0xFA);
	i8042_mouse_event(t->s, 4, 0, 0, 6);
	EXPECT_AUX(t, 0x0E, 0x06, 0x00);
	aux(t, 0xE6);
	EXPECT_AUX(t, 0xFA);
	/* wheel: 4-byte packets after the knock */
	const uint8_t knock[] = { 200, 100, 80 };
	for (int i = 0; i < 3; i++) {
		aux(t, 0xF3);
		aux(t, knock[i]);
	}
	EXPECT_AUX(t, 0xFA, 0xFA, 0xFA, 0xFA, 0xFA, 0xFA);
	i8042_mouse_event(t->s, 1, 0, -1, 0);
	EXPECT_AUX(t, 0x08, 0x01, 0x00, 0xFF);
	/* remote mode: only on request */
	aux(t, 0xF0);
	EXPECT_AUX(t, 0xFA);
	i8042_mouse_event(t->s, 3, 0, 0, 1);
	g_assert_cmphex(st(t) & STS_OBF, ==, 0);
	aux(t, 0xEB);
	EXPECT_AUX(t, 0xFA, 0x09, 0x03, 0x00, 0x00);
	t_free(t);
}

static void test_mouse_flood(void)
{
	struct t *t = t_new();
	aux(t, 0xF4);
	EXPECT_AUX(t, 0xFA);
	/* far more events than the queue holds: whole packets only, movement kept for later */
	for (int i = 0; i < 1000; i++)
		i8042_mouse_event(t->s, 1, 0, 0, 0);
	int total = 0;
	for (int i = 0; i < 10000 && (st(t) & STS_OBF); i++) {
		uint8_t b0 = fake_inb(t->env, 0x60);
		g_assert_cmphex(b0 & 0x08, ==, 0x08);
		g_assert_cmphex(st(t) & STS_OBF, ==, STS_OBF);
		total += fake_inb(t->env, 0x60);
		g_assert_cmphex(fake_inb(t->env, 0x60), ==, 0);
	}
	g_assert_cmpint(total, ==, 1000);
	t_free(t);
}

static void test_hostile(void)
{
	struct t *t = t_new();
	const uint8_t key[] = { 0xE0, 0xF0, 0x75 };
	for (int c = 0; c < 256; c++) {
		for (int d = 0; d < 256; d += 17) {
			cmd(t, c);
			dat(t, d);
			aux(t, c);
			aux(t, d);
			dat(t, c);
			i8042_kbd_put_scancode(t->s, key, 3);
			i8042_mouse_event(t->s, c - 128, d - 128, 1, c);
			for (int i = 0; i < 4; i++)
				fake_inb(t->env, 0x60);
		}
		g_assert_cmpuint(t->s->kbd.q.count, <=, I8042_QUEUE_SIZE);
		g_assert_cmpuint(t->s->aux.q.count, <=, I8042_QUEUE_SIZE);
		drain(t);
	}
	g_assert_cmpuint(t->env->resets, >, 0);
	/* and it still works */
	i8042_class.reset(t->s);
	cmd(t, 0xAA);
	EXPECT(t, 0x55);
	t_free(t);
}

static GByteArray *save(struct i8042 *s)
{
	GByteArray *b = g_byte_array_new();
	state_save(i8042_class.state, s, b);
	return b;
}

static void test_state_round_trip(void)
{
	struct t *a = t_new();
	set_cb(a, 0x43);
	aux(a, 0xF4);
	aux(a, 0xF3);
	aux(a, 60);
	dat(a, 0xED); /* argument pending */
	drain(a);
	const uint8_t keys[] = { 0x1C, 0xF0, 0x1C, 0xE0, 0x75 };
	i8042_kbd_put_scancode(a->s, keys, 5);
	i8042_mouse_event(a->s, 3, 3, 0, 1);
	GByteArray *sa = save(a->s);

	struct t *b = t_new();
	char *err = NULL;
	g_assert_cmpint(state_load(i8042_class.state, b->s, sa->data, sa->len, &err), ==, 0);
	g_assert_null(err);
	GByteArray *sb = save(b->s);
	g_assert_cmpmem(sa->data, sa->len, sb->data, sb->len);
	/* IRQ 1 recomputed: a key byte waits in the buffer with the interrupt enabled */
	g_assert_cmpint(b->env->irq_level[1], ==, 1);
	/* both continue alike */
	for (int i = 0; i < 20; i++) {
		g_assert_cmphex(st(a), ==, st(b));
		g_assert_cmphex(fake_inb(a->env, 0x60), ==, fake_inb(b->env, 0x60));
	}
	dat(a, 0x02);
	dat(b, 0x02);
	g_assert_cmphex(fake_inb(a->env, 0x60), ==, 0xFA);
	g_assert_cmphex(fake_inb(b->env, 0x60), ==, 0xFA);
	g_assert_cmpuint(b->s->kbd.leds, ==, 2);

	/* a corrupt queue index is refused */
	b->s->kbd.q.head = 200;
	GByteArray *bad = save(b->s);
	g_assert_cmpint(state_load(i8042_class.state, a->s, bad->data, bad->len, &err), ==, -1);
	g_assert_nonnull(err);
	g_free(err);
	g_byte_array_free(bad, TRUE);
	g_byte_array_free(sa, TRUE);
	g_byte_array_free(sb, TRUE);
	t_free(a);
	t_free(b);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/i8042/self-test", test_self_test);
	g_test_add_func("/i8042/interface-tests", test_interface_tests);
	g_test_add_func("/i8042/command-byte", test_command_byte);
	g_test_add_func("/i8042/kbd-commands", test_kbd_commands);
	g_test_add_func("/i8042/kbd-unknown", test_kbd_unknown);
	g_test_add_func("/i8042/aux-reset-id", test_aux_reset_and_id);
	g_test_add_func("/i8042/arbitration", test_arbitration);
	g_test_add_func("/i8042/irqs", test_irqs);
	g_test_add_func("/i8042/reset-requests", test_reset_requests);
	g_test_add_func("/i8042/translation", test_translation);
	g_test_add_func("/i8042/mouse-packets", test_mouse_packets);
	g_test_add_func("/i8042/mouse-flood", test_mouse_flood);
	g_test_add_func("/i8042/hostile", test_hostile);
	g_test_add_func("/i8042/state-round-trip", test_state_round_trip);
	return g_test_run();
}
