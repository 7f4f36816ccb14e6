/* 16550A UART at COM1 (0x3F8, IRQ 4), driven through its ports on a fake bus. */
#include <glib.h>
#include <string.h>

#include "chardev.h"
#include "devices/uart.h"
#include "fakes.h"
#include "state.h"

#define COM1 0x3F8
#define RBR (COM1 + 0)
#define THR (COM1 + 0)
#define DLL (COM1 + 0)
#define IER (COM1 + 1)
#define DLM (COM1 + 1)
#define IIR (COM1 + 2)
#define FCR (COM1 + 2)
#define LCR (COM1 + 3)
#define MCR (COM1 + 4)
#define LSR (COM1 + 5)
#define MSR (COM1 + 6)
#define SCR (COM1 + 7)
#define GSI 4

/* A chardev that keeps what the guest sends. */
struct test_chr {
	struct chardev chr;
	GByteArray *out;
};

static void test_chr_write(struct chardev *chr, const uint8_t *buf, size_t len)
{
	g_byte_array_append(((struct test_chr *)chr)->out, buf, (guint)len);
}

struct fix {
	struct fake_env *env;
	struct test_chr tc;
	struct uart *u;
};

static void fix_create(struct fix *f)
{
	f->u = uart_class.create(&f->env->ctx);
	g_assert_nonnull(f->u);
	uart_class.reset(f->u);
	fake_map(f->env, COM1, 8, &uart_ops, f->u, uart_class.lock(f->u));
}

static void fix_open(struct fix *f, bool with_chr)
{
	memset(f, 0, sizeof(*f));
	f->env = fake_env_new(GSI, -1);
	f->tc.chr.write = test_chr_write;
	f->tc.out = g_byte_array_new();
	if (with_chr)
		f->env->ctx.chr = &f->tc.chr;
	fix_create(f);
}

static void fix_close(struct fix *f)
{
	uart_class.destroy(f->u);
	g_byte_array_free(f->tc.out, TRUE);
	fake_env_free(f->env);
}

static uint8_t in(struct fix *f, uint16_t port)
{
	return (uint8_t)fake_inb(f->env, port);
}

static void out(struct fix *f, uint16_t port, uint8_t v)
{
	fake_outb(f->env, port, v);
}

static size_t host_send(struct fix *f, const char *s, size_t len)
{
	return uart_receive(f->u, (const uint8_t *)s, len);
}

static void test_reset_values(void)
{
	struct fix f;
	fix_open(&f, true);
	g_assert_cmphex(in(&f, IER), ==, 0x00);
	g_assert_cmphex(in(&f, IIR), ==, 0x01);
	g_assert_cmphex(in(&f, LCR), ==, 0x00);
	g_assert_cmphex(in(&f, MCR), ==, 0x00);
	g_assert_cmphex(in(&f, LSR), ==, 0x60);
	g_assert_cmphex(in(&f, MSR), ==, 0xB0); /* CTS, DSR, DCD: a host is there */
	out(&f, SCR, 0x5A);
	g_assert_cmphex(in(&f, SCR), ==, 0x5A);
	g_assert_true(f.tc.chr.receive == uart_receive);
	g_assert_true(f.tc.chr.frontend == f.u);
	g_assert_cmpint(f.env->irq_level[GSI], ==, 0);
	g_assert_cmpint(bus_unregister(f.env->io, COM1, f.u), ==, 0);
	uart_class.destroy(f.u); /* the chardev no longer points at a freed UART */
	g_assert_null(f.tc.chr.receive);
	g_assert_null(f.tc.chr.frontend);
	fix_create(&f);
	fix_close(&f);
}

static void test_dlab(void)
{
	struct fix f;
	fix_open(&f, true);
	out(&f, LCR, 0x83);
	out(&f, DLL, 0x01);
	out(&f, DLM, 0x02);
	g_assert_cmphex(in(&f, DLL), ==, 0x01);
	g_assert_cmphex(in(&f, DLM), ==, 0x02);
	g_assert_cmpuint(f.tc.out->len, ==, 0); /* not transmitted */
	out(&f, LCR, 0x03);
	g_assert_cmphex(in(&f, LCR), ==, 0x03);
	g_assert_cmphex(in(&f, IER), ==, 0x00); /* DLM did not land in IER */
	out(&f, IER, 0x01);
	out(&f, LCR, 0x83);
	g_assert_cmphex(in(&f, DLL), ==, 0x01);
	g_assert_cmphex(in(&f, DLM), ==, 0x02);
	out(&f, LCR, 0x03);
	g_assert_cmphex(in(&f, IER), ==, 0x01);
	fix_close(&f);
}

static void test_transmit(void)
{
	struct fix f;
	fix_open(&f, true);
	for (const char *p = "Hello"; *p; p++) {
		out(&f, THR, (uint8_t)*p);
		g_assert_cmphex(in(&f, LSR), ==, 0x60); /* THRE and TEMT again at once */
	}
	g_assert_cmpmem(f.tc.out->data, f.tc.out->len, "Hello", 5);
	fix_close(&f);

	fix_open(&f, false); /* no chardev: output is dropped */
	out(&f, THR, 'x');
	g_assert_cmphex(in(&f, LSR), ==, 0x60);
	g_assert_cmpuint(host_send(&f, "ab", 2), ==, 1);
	g_assert_cmphex(in(&f, RBR), ==, 'a');
	fix_close(&f);
}

static void test_rx_fifo(void)
{
	struct fix f;
	fix_open(&f, true);
	out(&f, FCR, 0x07);
	g_assert_cmphex(in(&f, IIR), ==, 0xC1);
	const char *data = "0123456789abcdefXYZW";
	g_assert_cmpuint(host_send(&f, data, 20), ==, 16);
	g_assert_cmphex(in(&f, LSR), ==, 0x61);
	for (int i = 0; i < 16; i++)
		g_assert_cmphex(in(&f, RBR), ==, (uint8_t)data[i]);
	g_assert_cmphex(in(&f, LSR), ==, 0x60);
	g_assert_cmphex(in(&f, RBR), ==, 'f'); /* empty: the last byte again */
	fix_close(&f);
}

static void test_overrun_fifo(void)
{
	struct fix f;
	fix_open(&f, true);
	out(&f, MCR, 0x10);
	out(&f, FCR, 0x01);
	for (int i = 0; i < 17; i++)
		out(&f, THR, (uint8_t)i);
	g_assert_cmpuint(f.tc.out->len, ==, 0); /* loopback: nothing leaves */
	g_assert_cmphex(in(&f, LSR), ==, 0x63);
	g_assert_cmphex(in(&f, LSR), ==, 0x61); /* OE clears on read */
	for (int i = 0; i < 16; i++)
		g_assert_cmphex(in(&f, RBR), ==, i); /* the 17th was lost */
	g_assert_cmphex(in(&f, LSR), ==, 0x60);
	fix_close(&f);
}

static void test_overrun_16450(void)
{
	struct fix f;
	fix_open(&f, true);
	out(&f, MCR, 0x10);
	out(&f, THR, 'a');
	out(&f, THR, 'b');
	g_assert_cmphex(in(&f, LSR), ==, 0x63);
	g_assert_cmphex(in(&f, RBR), ==, 'b'); /* without FIFOs, RBR was overwritten */
	g_assert_cmphex(in(&f, LSR), ==, 0x60);
	fix_close(&f);
}

static void test_receive_partial(void)
{
	struct fix f;
	fix_open(&f, true);
	struct chardev *chr = &f.tc.chr;
	out(&f, FCR, 0x01);
	const uint8_t buf[20] = "abcdefghijklmnopqrst";
	g_assert_cmpuint(chr->receive(chr->frontend, buf, 20), ==, 16);
	g_assert_cmpuint(chr->receive(chr->frontend, buf + 16, 4), ==, 0);
	for (int i = 0; i < 3; i++)
		in(&f, RBR);
	g_assert_cmpuint(chr->receive(chr->frontend, buf + 16, 4), ==, 3);
	g_assert_cmpuint(chr->receive(chr->frontend, buf, 0), ==, 0);
	for (int i = 3; i < 19; i++)
		g_assert_cmphex(in(&f, RBR), ==, buf[i]);
	g_assert_cmphex(in(&f, LSR) & 0x03, ==, 0x00); /* no overrun from the host */
	/* without FIFOs, one byte */
	out(&f, FCR, 0x00);
	g_assert_cmpuint(host_send(&f, "xy", 2), ==, 1);
	g_assert_cmpuint(host_send(&f, "y", 1), ==, 0);
	g_assert_cmphex(in(&f, RBR), ==, 'x');
	/* loopback: the receiver does not listen to the host */
	out(&f, MCR, 0x10);
	g_assert_cmpuint(host_send(&f, "z", 1), ==, 0);
	fix_close(&f);
}

static void test_iir_priority(void)
{
	struct fix f;
	fix_open(&f, true);
	out(&f, FCR, 0x01);
	out(&f, IER, 0x0F);
	out(&f, MCR, 0x12); /* loopback, RTS: DSR and DCD drop */
	for (int i = 0; i < 17; i++)
		out(&f, THR, (uint8_t)i);
	g_assert_cmphex(in(&f, IIR), ==, 0xC6); /* line status: overrun */
	g_assert_cmphex(in(&f, IIR), ==, 0xC6); /* until LSR is read */
	in(&f, LSR);
	g_assert_cmphex(in(&f, IIR), ==, 0xC4); /* received data */
	for (int i = 0; i < 16; i++)
		in(&f, RBR);
	g_assert_cmphex(in(&f, IIR), ==, 0xC2); /* THR empty, cleared by this read */
	g_assert_cmphex(in(&f, IIR), ==, 0xC0); /* modem status */
	g_assert_cmphex(in(&f, MSR), ==, 0x1A); /* CTS; DDSR, DDCD */
	g_assert_cmphex(in(&f, IIR), ==, 0xC1);
	/* a lower source does not hide a higher one that appears later */
	out(&f, THR, 'q');
	g_assert_cmphex(in(&f, IIR), ==, 0xC4);
	in(&f, RBR);
	g_assert_cmphex(in(&f, IIR), ==, 0xC2);
	fix_close(&f);
}

static void test_char_timeout(void)
{
	struct fix f;
	fix_open(&f, true);
	out(&f, FCR, 0x41); /* trigger level 4 */
	out(&f, IER, 0x01);
	out(&f, MCR, 0x08);
	g_assert_cmpuint(host_send(&f, "ab", 2), ==, 2);
	g_assert_cmphex(in(&f, IIR), ==, 0xCC); /* below the trigger: timeout */
	g_assert_cmpint(f.env->irq_level[GSI], ==, 1);
	g_assert_cmpuint(host_send(&f, "cd", 2), ==, 2);
	g_assert_cmphex(in(&f, IIR), ==, 0xC4);
	in(&f, RBR);
	g_assert_cmphex(in(&f, IIR), ==, 0xCC);
	for (int i = 0; i < 3; i++)
		in(&f, RBR);
	g_assert_cmphex(in(&f, IIR), ==, 0xC1);
	g_assert_cmpint(f.env->irq_level[GSI], ==, 0);
	fix_close(&f);
}

static void test_thre(void)
{
	struct fix f;
	fix_open(&f, true);
	out(&f, MCR, 0x08);
	g_assert_cmphex(in(&f, IIR), ==, 0x01);
	out(&f, IER, 0x02); /* enabling ETBEI with THR empty interrupts at once */
	g_assert_cmpint(f.env->irq_level[GSI], ==, 1);
	g_assert_cmpuint(f.env->irq_raises[GSI], ==, 1);
	g_assert_cmphex(in(&f, IIR), ==, 0x02);
	g_assert_cmphex(in(&f, IIR), ==, 0x01); /* reading IIR cleared it */
	g_assert_cmpint(f.env->irq_level[GSI], ==, 0);
	out(&f, IER, 0x02); /* already enabled: nothing new */
	g_assert_cmphex(in(&f, IIR), ==, 0x01);
	out(&f, IER, 0x00);
	out(&f, IER, 0x02); /* Linux's UART_BUG_THRE probe: toggling re-arms */
	g_assert_cmphex(in(&f, IIR), ==, 0x02);
	g_assert_cmpuint(f.env->irq_raises[GSI], ==, 2);
	/* writing THR clears it; the byte leaves at once, so it is back, as a new edge */
	out(&f, THR, 'A');
	g_assert_cmpuint(f.env->irq_raises[GSI], ==, 3);
	out(&f, THR, 'B');
	g_assert_cmpuint(f.env->irq_raises[GSI], ==, 4);
	g_assert_cmphex(in(&f, IIR), ==, 0x02);
	g_assert_cmpmem(f.tc.out->data, f.tc.out->len, "AB", 2);
	fix_close(&f);
}

static void test_out2_gate(void)
{
	struct fix f;
	fix_open(&f, true);
	out(&f, IER, 0x02);
	g_assert_cmpint(f.env->irq_level[GSI], ==, 0); /* pending, but OUT2 is off */
	out(&f, MCR, 0x08);
	g_assert_cmpint(f.env->irq_level[GSI], ==, 1);
	out(&f, MCR, 0x00);
	g_assert_cmpint(f.env->irq_level[GSI], ==, 0);
	out(&f, MCR, 0x18); /* loopback forces the OUT2 pin inactive */
	g_assert_cmpint(f.env->irq_level[GSI], ==, 0);
	g_assert_cmphex(in(&f, IIR), ==, 0x02); /* still identified */
	out(&f, MCR, 0x08);
	out(&f, IER, 0x00);
	g_assert_cmpint(f.env->irq_level[GSI], ==, 0);
	fix_close(&f);
}

static void test_loopback(void)
{
	struct fix f;
	fix_open(&f, true);
	in(&f, MSR);
	out(&f, MCR, 0x10); /* outputs off: CTS, DSR and DCD fall */
	g_assert_cmphex(in(&f, MSR), ==, 0x0B);
	g_assert_cmphex(in(&f, MSR), ==, 0x00);
	out(&f, MCR, 0x1F); /* DTR->DSR, RTS->CTS, OUT1->RI, OUT2->DCD */
	g_assert_cmphex(in(&f, MSR), ==, 0xFB); /* a rising RI is no TERI */
	out(&f, MCR, 0x1B);                     /* OUT1 off: the ring ends */
	g_assert_cmphex(in(&f, MSR), ==, 0xB4);
	out(&f, MCR, 0x11);
	g_assert_cmphex(in(&f, MSR), ==, 0x29);
	out(&f, THR, 'L');
	g_assert_cmpuint(f.tc.out->len, ==, 0);
	g_assert_cmphex(in(&f, LSR), ==, 0x61);
	g_assert_cmphex(in(&f, RBR), ==, 'L');
	out(&f, MCR, 0x00); /* back to the host: CTS and DCD return, DSR stays */
	g_assert_cmphex(in(&f, MSR), ==, 0xB9);
	out(&f, THR, 'T');
	g_assert_cmpmem(f.tc.out->data, f.tc.out->len, "T", 1);
	g_assert_cmphex(in(&f, LSR), ==, 0x60);
	fix_close(&f);
}

static void test_fcr(void)
{
	struct fix f;
	fix_open(&f, true);
	out(&f, FCR, 0x01);
	g_assert_cmpuint(host_send(&f, "12345", 5), ==, 5);
	out(&f, FCR, 0x03); /* RX FIFO reset */
	g_assert_cmphex(in(&f, LSR), ==, 0x60);
	g_assert_cmpuint(host_send(&f, "12345", 5), ==, 5);
	out(&f, FCR, 0x00); /* leaving FIFO mode empties the FIFOs */
	g_assert_cmphex(in(&f, LSR), ==, 0x60);
	g_assert_cmphex(in(&f, IIR), ==, 0x01);
	out(&f, FCR, 0xC0); /* without FCR0 nothing is programmed */
	g_assert_cmphex(in(&f, IIR), ==, 0x01);
	out(&f, FCR, 0x81); /* trigger 8 */
	out(&f, IER, 0x01);
	g_assert_cmpuint(host_send(&f, "1234567", 7), ==, 7);
	g_assert_cmphex(in(&f, IIR), ==, 0xCC);
	g_assert_cmpuint(host_send(&f, "8", 1), ==, 1);
	g_assert_cmphex(in(&f, IIR), ==, 0xC4);
	fix_close(&f);
}

static GByteArray *save(struct uart *u)
{
	GByteArray *buf = g_byte_array_new();
	state_save(uart_class.state, u, buf);
	return buf;
}

static int reload(struct fix *f, GByteArray *buf, char **error)
{
	g_assert_cmpint(bus_unregister(f->env->io, COM1, f->u), ==, 0);
	uart_class.destroy(f->u);
	fix_create(f);
	return state_load(uart_class.state, f->u, buf->data, buf->len, error);
}

static void test_state(void)
{
	struct fix f;
	fix_open(&f, true);
	out(&f, LCR, 0x80);
	out(&f, DLL, 0x03);
	out(&f, DLM, 0x00);
	out(&f, LCR, 0x1B);
	out(&f, FCR, 0x81);
	out(&f, IER, 0x05);
	out(&f, MCR, 0x0B);
	out(&f, SCR, 0x77);
	g_assert_cmpuint(host_send(&f, "wxyzabc", 7), ==, 7);
	in(&f, RBR); /* FIFO head not at 0 */
	g_assert_cmpint(f.env->irq_level[GSI], ==, 1);
	GByteArray *buf = save(f.u);
	char *error = NULL;
	g_assert_cmpint(reload(&f, buf, &error), ==, 0);
	g_assert_null(error);
	GByteArray *again = save(f.u);
	g_assert_cmpmem(again->data, again->len, buf->data, buf->len);
	g_assert_cmpint(f.env->irq_level[GSI], ==, 1); /* recomputed: character timeout */
	g_assert_cmphex(in(&f, IIR), ==, 0xCC);
	g_assert_cmphex(in(&f, LCR), ==, 0x1B);
	g_assert_cmphex(in(&f, MCR), ==, 0x0B);
	g_assert_cmphex(in(&f, SCR), ==, 0x77);
	g_assert_cmphex(in(&f, IER), ==, 0x05);
	for (const char *p = "xyzabc"; *p; p++)
		g_assert_cmphex(in(&f, RBR), ==, (uint8_t)*p);
	out(&f, LCR, 0x9B);
	g_assert_cmphex(in(&f, DLL), ==, 0x03);
	g_byte_array_free(buf, TRUE);
	g_byte_array_free(again, TRUE);

	/* a receiver that cannot exist is refused, and the UART stays usable */
	f.u->rx_count = 17;
	buf = save(f.u);
	g_assert_cmpint(reload(&f, buf, &error), ==, -1);
	g_assert_nonnull(error);
	g_free(error);
	g_assert_cmphex(in(&f, LSR) & 0x01, ==, 0);
	in(&f, RBR);
	g_byte_array_free(buf, TRUE);
	fix_close(&f);
}

static void test_hostile(void)
{
	struct fix f;
	fix_open(&f, true);
	for (unsigned v = 0; v < 256; v++) {
		for (uint16_t off = 0; off < 8; off++) {
			out(&f, (uint16_t)(COM1 + off), (uint8_t)v);
			for (uint16_t r = 0; r < 8; r++)
				in(&f, (uint16_t)(COM1 + r));
		}
		host_send(&f, "hostile", 7);
	}
	fake_outl(f.env, COM1, 0xFFFFFFFF);
	fake_outw(f.env, COM1 + 6, 0xFFFF);
	fake_inl(f.env, COM1 + 4);
	uart_class.reset(f.u);
	g_assert_cmphex(in(&f, IIR), ==, 0x01);
	g_assert_cmphex(in(&f, LSR), ==, 0x60);
	g_assert_cmpint(f.env->irq_level[GSI], ==, 0);
	fix_close(&f);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/uart/reset-values", test_reset_values);
	g_test_add_func("/uart/dlab", test_dlab);
	g_test_add_func("/uart/transmit", test_transmit);
	g_test_add_func("/uart/rx-fifo", test_rx_fifo);
	g_test_add_func("/uart/overrun/fifo", test_overrun_fifo);
	g_test_add_func("/uart/overrun/16450", test_overrun_16450);
	g_test_add_func("/uart/receive-partial", test_receive_partial);
	g_test_add_func("/uart/iir/priority", test_iir_priority);
	g_test_add_func("/uart/iir/char-timeout", test_char_timeout);
	g_test_add_func("/uart/iir/thre", test_thre);
	g_test_add_func("/uart/out2-gate", test_out2_gate);
	g_test_add_func("/uart/loopback", test_loopback);
	g_test_add_func("/uart/fcr", test_fcr);
	g_test_add_func("/uart/state", test_state);
	g_test_add_func("/uart/hostile", test_hostile);
	return g_test_run();
}
