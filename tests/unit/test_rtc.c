/* MC146818A RTC/CMOS: driven through ports 0x70/0x71 on a fake bus with a virtual clock. */
#include <glib.h>

#include "clock.h"
#include "devices/rtc.h"
#include "fakes.h"
#include "state.h"

#define IDX 0x70
#define DATA 0x71
#define GSI 8
#define MS 1000000ull
#define US 1000ull

enum { SEC = 0, SEC_AL = 1, MIN = 2, MIN_AL = 3, HOUR = 4, HOUR_AL = 5, DOW = 6, DOM = 7 };
enum { MON = 8, YEAR = 9, REG_A = 0x0A, REG_B = 0x0B, REG_C = 0x0C, REG_D = 0x0D, CENT = 0x32 };

#define LEAP_DAY INT64_C(1709214330)    /* 2024-02-29 13:45:30 UTC, a Thursday */
#define DST_START INT64_C(1714269598)   /* 2024-04-28 01:59:58, last Sunday in April */
#define MIDNIGHT_5 INT64_C(1709164805)  /* 2024-02-29 00:00:05 */

struct fix {
	struct fake_env *env;
	struct rtc *rtc;
};

static void fix_map(struct fix *f)
{
	fake_map(f->env, IDX, 2, &rtc_ops, f->rtc, rtc_class.lock(f->rtc));
}

static void fix_open(struct fix *f, int64_t epoch)
{
	f->env = fake_env_new(GSI, -1);
	f->rtc = rtc_class.create(&f->env->ctx);
	g_assert_nonnull(f->rtc);
	rtc_class.reset(f->rtc);
	rtc_set_base(f->rtc, epoch);
	fix_map(f);
}

static void fix_close(struct fix *f)
{
	rtc_class.destroy(f->rtc);
	fake_env_free(f->env);
}

static uint8_t rd(struct fix *f, uint8_t idx)
{
	fake_outb(f->env, IDX, idx);
	return (uint8_t)fake_inb(f->env, DATA);
}

static void wr(struct fix *f, uint8_t idx, uint8_t v)
{
	fake_outb(f->env, IDX, idx);
	fake_outb(f->env, DATA, v);
}

static void step(struct fix *f, uint64_t ns)
{
	clock_step(f->env->clock, ns);
}

static void assert_date(struct fix *f, uint8_t cent, uint8_t year, uint8_t mon, uint8_t dom)
{
	g_assert_cmphex(rd(f, CENT), ==, cent);
	g_assert_cmphex(rd(f, YEAR), ==, year);
	g_assert_cmphex(rd(f, MON), ==, mon);
	g_assert_cmphex(rd(f, DOM), ==, dom);
}

static void assert_time(struct fix *f, uint8_t hour, uint8_t min, uint8_t sec)
{
	g_assert_cmphex(rd(f, HOUR), ==, hour);
	g_assert_cmphex(rd(f, MIN), ==, min);
	g_assert_cmphex(rd(f, SEC), ==, sec);
}

/* Sets the time the way BIOSes do: SET, the bytes, SET cleared. */
static void set_time(struct fix *f, const uint8_t t[7], uint8_t cent)
{
	static const uint8_t idx[7] = { YEAR, MON, DOM, DOW, HOUR, MIN, SEC };
	uint8_t b = rd(f, REG_B);
	wr(f, REG_B, b | 0x80);
	for (int i = 0; i < 7; i++)
		wr(f, idx[i], t[i]);
	wr(f, CENT, cent);
	wr(f, REG_B, b & ~0x80);
}

static void test_power_on(void)
{
	struct fix f;
	fix_open(&f, LEAP_DAY);
	g_assert_cmphex(rd(&f, REG_A), ==, 0x26);
	g_assert_cmphex(rd(&f, REG_B), ==, 0x02); /* BCD, 24 h: SeaBIOS needs DM = 0 */
	g_assert_cmphex(rd(&f, REG_C), ==, 0x00);
	g_assert_cmphex(rd(&f, REG_D), ==, 0x80);
	g_assert_cmphex(fake_inb(f.env, IDX), ==, 0xFF);
	g_assert_cmpint(f.env->irq_level[GSI], ==, 0);
	fix_close(&f);
}

static void test_read_bcd(void)
{
	struct fix f;
	fix_open(&f, LEAP_DAY);
	assert_date(&f, 0x20, 0x24, 0x02, 0x29);
	assert_time(&f, 0x13, 0x45, 0x30);
	g_assert_cmphex(rd(&f, DOW), ==, 5); /* Thursday, Sunday = 1 */
	fix_close(&f);
}

static void test_read_binary(void)
{
	struct fix f;
	fix_open(&f, LEAP_DAY);
	wr(&f, REG_B, 0x06);
	assert_date(&f, 20, 24, 2, 29);
	assert_time(&f, 13, 45, 30);
	fix_close(&f);
}

static void test_read_12h(void)
{
	struct fix f;
	fix_open(&f, LEAP_DAY);
	wr(&f, REG_B, 0x00);
	g_assert_cmphex(rd(&f, HOUR), ==, 0x81); /* 1 PM */
	wr(&f, REG_B, 0x04);
	g_assert_cmphex(rd(&f, HOUR), ==, 0x81);
	fix_close(&f);

	fix_open(&f, MIDNIGHT_5);
	wr(&f, REG_B, 0x00);
	g_assert_cmphex(rd(&f, HOUR), ==, 0x12); /* 12 AM */
	step(&f, 12 * 3600 * NS_PER_SEC);
	g_assert_cmphex(rd(&f, HOUR), ==, 0x92); /* 12 PM */
	/* set 7 PM in 12-hour mode, read it back in 24-hour mode */
	wr(&f, REG_B, 0x80);
	wr(&f, HOUR, 0x87);
	wr(&f, REG_B, 0x00);
	wr(&f, REG_B, 0x02);
	g_assert_cmphex(rd(&f, HOUR), ==, 0x19);
	fix_close(&f);
}

static void test_ticks(void)
{
	struct fix f;
	fix_open(&f, LEAP_DAY);
	step(&f, 1500 * MS);
	assert_time(&f, 0x13, 0x45, 0x31);
	step(&f, 30 * NS_PER_SEC);
	assert_time(&f, 0x13, 0x46, 0x01);
	step(&f, 11 * 3600 * NS_PER_SEC);
	assert_date(&f, 0x20, 0x24, 0x03, 0x01); /* leap day over */
	g_assert_cmphex(rd(&f, DOW), ==, 6);
	fix_close(&f);
}

static void test_set_time(void)
{
	struct fix f;
	fix_open(&f, LEAP_DAY);
	wr(&f, REG_B, 0x82);
	static const uint8_t t[7] = { 0x99, 0x12, 0x31, 0x06, 0x23, 0x59, 0x58 };
	for (int i = 0; i < 7; i++)
		wr(&f, (uint8_t[]){ YEAR, MON, DOM, DOW, HOUR, MIN, SEC }[i], t[i]);
	wr(&f, CENT, 0x19);
	step(&f, 5 * NS_PER_SEC); /* SET: no updates */
	assert_time(&f, 0x23, 0x59, 0x58);
	g_assert_cmphex(rd(&f, REG_C) & 0x10, ==, 0);
	wr(&f, REG_B, 0x02);
	assert_time(&f, 0x23, 0x59, 0x58);
	step(&f, NS_PER_SEC);
	assert_time(&f, 0x23, 0x59, 0x59);
	step(&f, NS_PER_SEC);
	assert_time(&f, 0x00, 0x00, 0x00);
	assert_date(&f, 0x20, 0x00, 0x01, 0x01); /* century rolls over */
	g_assert_cmphex(rd(&f, DOW), ==, 7);      /* 2000-01-01 was a Saturday */
	step(&f, 3600 * NS_PER_SEC);
	assert_time(&f, 0x01, 0x00, 0x00);
	fix_close(&f);
}

static void test_century_binary(void)
{
	struct fix f;
	fix_open(&f, LEAP_DAY);
	wr(&f, REG_B, 0x06);
	set_time(&f, (const uint8_t[]){ 99, 12, 31, 5, 23, 59, 59 }, 20);
	step(&f, NS_PER_SEC);
	assert_date(&f, 21, 0, 1, 1);
	assert_time(&f, 0, 0, 0);
	g_assert_cmphex(rd(&f, DOW), ==, 6); /* the day-of-week counter just counts on */
	fix_close(&f);
}

static void test_write_running(void)
{
	struct fix f;
	fix_open(&f, LEAP_DAY);
	wr(&f, SEC, 0x00); /* no SET: the clock goes on from the new value */
	assert_time(&f, 0x13, 0x45, 0x00);
	step(&f, NS_PER_SEC);
	assert_time(&f, 0x13, 0x45, 0x01);
	wr(&f, DOW, 3);
	step(&f, 86400 * NS_PER_SEC);
	g_assert_cmphex(rd(&f, DOW), ==, 4);
	assert_date(&f, 0x20, 0x24, 0x03, 0x01);
	fix_close(&f);
}

static void test_uip(void)
{
	struct fix f;
	fix_open(&f, LEAP_DAY);
	g_assert_cmphex(rd(&f, REG_A), ==, 0x26);
	step(&f, NS_PER_SEC - 244 * US - 1);
	g_assert_cmphex(rd(&f, REG_A), ==, 0x26);
	step(&f, 1);
	g_assert_cmphex(rd(&f, REG_A), ==, 0xA6);
	g_assert_cmphex(rd(&f, SEC), ==, 0x30); /* not yet updated */
	step(&f, 244 * US - 1);
	g_assert_cmphex(rd(&f, REG_A), ==, 0xA6);
	step(&f, 1);
	g_assert_cmphex(rd(&f, REG_A), ==, 0x26);
	g_assert_cmphex(rd(&f, SEC), ==, 0x31);
	/* SET clears UIP; UIP is read-only */
	step(&f, NS_PER_SEC - 100 * US);
	g_assert_cmphex(rd(&f, REG_A), ==, 0xA6);
	wr(&f, REG_B, 0x82);
	g_assert_cmphex(rd(&f, REG_A), ==, 0x26);
	wr(&f, REG_B, 0x02);
	wr(&f, REG_A, 0xA6);
	g_assert_cmphex(rd(&f, REG_A) & 0x7F, ==, 0x26);
	fix_close(&f);
}

static void test_divider_reset(void)
{
	struct fix f;
	fix_open(&f, LEAP_DAY);
	step(&f, 300 * MS);
	wr(&f, REG_A, 0x70); /* divider held in reset: time stands still */
	step(&f, 10 * NS_PER_SEC);
	assert_time(&f, 0x13, 0x45, 0x30);
	g_assert_cmphex(rd(&f, REG_A), ==, 0x70);
	wr(&f, REG_A, 0x26); /* first update half a second later */
	step(&f, 499 * MS);
	g_assert_cmphex(rd(&f, SEC), ==, 0x30);
	step(&f, 1 * MS);
	g_assert_cmphex(rd(&f, SEC), ==, 0x31);
	step(&f, NS_PER_SEC);
	g_assert_cmphex(rd(&f, SEC), ==, 0x32);
	fix_close(&f);
}

/* Counts IRQ 8 edges over one second, acknowledging each by reading C. */
static unsigned count_irqs(struct fix *f, uint64_t span, uint64_t quantum, uint8_t expect_c)
{
	unsigned before = f->env->irq_raises[GSI];
	for (uint64_t t = 0; t < span;) {
		uint64_t d = MIN(quantum, span - t);
		step(f, d);
		t += d;
		if (f->env->irq_level[GSI]) {
			g_assert_cmphex(rd(f, REG_C) & expect_c, ==, expect_c);
			g_assert_cmpint(f->env->irq_level[GSI], ==, 0);
		}
	}
	return f->env->irq_raises[GSI] - before;
}

static void test_periodic(void)
{
	static const struct {
		uint8_t rs;
		unsigned hz;
	} rates[] = { { 3, 8192 }, { 6, 1024 }, { 9, 128 }, { 15, 2 }, { 1, 256 }, { 2, 128 } };
	struct fix f;
	fix_open(&f, LEAP_DAY);
	step(&f, 123456789); /* any phase */
	for (unsigned i = 0; i < G_N_ELEMENTS(rates); i++) {
		wr(&f, REG_A, 0x20 | rates[i].rs);
		wr(&f, REG_B, 0x42);
		rd(&f, REG_C);
		uint64_t quantum = NS_PER_SEC / rates[i].hz / 4;
		g_assert_cmpuint(count_irqs(&f, NS_PER_SEC, quantum, 0xC0), ==, rates[i].hz);
	}
	wr(&f, REG_A, 0x20); /* rate 0: none */
	rd(&f, REG_C);
	g_assert_cmpuint(count_irqs(&f, NS_PER_SEC, MS, 0), ==, 0);
	fix_close(&f);
}

static void test_periodic_polled(void)
{
	struct fix f;
	fix_open(&f, LEAP_DAY);
	step(&f, 10 * MS);
	g_assert_cmphex(rd(&f, REG_C), ==, 0x40); /* PF without PIE: flag, no interrupt */
	g_assert_cmphex(rd(&f, REG_C), ==, 0x00);
	g_assert_cmpuint(f.env->irq_raises[GSI], ==, 0);
	/* enabling PIE while PF is set asserts IRQ at once; disabling drops it (IRQF) */
	step(&f, 10 * MS);
	wr(&f, REG_B, 0x42);
	g_assert_cmpint(f.env->irq_level[GSI], ==, 1);
	wr(&f, REG_B, 0x02);
	g_assert_cmpint(f.env->irq_level[GSI], ==, 0);
	g_assert_cmphex(rtc_cmos_get(f.rtc, REG_C), ==, 0x40); /* a peek does not clear */
	g_assert_cmphex(rtc_cmos_get(f.rtc, REG_C), ==, 0x40);
	fix_close(&f);
}

static void test_update_irq(void)
{
	struct fix f;
	fix_open(&f, LEAP_DAY);
	step(&f, 250 * MS);
	wr(&f, REG_A, 0x20); /* no periodic flags in the way */
	wr(&f, REG_B, 0x12);
	rd(&f, REG_C);
	g_assert_cmpuint(count_irqs(&f, 5 * NS_PER_SEC, 100 * MS, 0x90), ==, 5);
	/* UF is set for polling software without UIE */
	wr(&f, REG_B, 0x02);
	step(&f, NS_PER_SEC);
	g_assert_cmphex(rd(&f, REG_C), ==, 0x10);
	g_assert_cmpuint(f.env->irq_raises[GSI], ==, 5);
	/* SET clears UIE */
	wr(&f, REG_B, 0x92);
	g_assert_cmphex(rd(&f, REG_B), ==, 0x82);
	fix_close(&f);
}

static void test_alarm(void)
{
	struct fix f;
	fix_open(&f, LEAP_DAY);
	wr(&f, REG_A, 0x20);
	wr(&f, SEC_AL, 0x33);
	wr(&f, MIN_AL, 0x45);
	wr(&f, HOUR_AL, 0x13);
	wr(&f, REG_B, 0x22);
	step(&f, 2500 * MS);
	g_assert_cmpint(f.env->irq_level[GSI], ==, 0);
	step(&f, 500 * MS);
	g_assert_cmpint(f.env->irq_level[GSI], ==, 1);
	g_assert_cmphex(rd(&f, REG_C), ==, 0xB0); /* IRQF, AF, and UF (set regardless) */
	/* 0xC0-0xFF: don't care. Once a minute, at :00 */
	wr(&f, SEC_AL, 0x00);
	wr(&f, MIN_AL, 0xC0);
	wr(&f, HOUR_AL, 0xFF);
	g_assert_cmpuint(count_irqs(&f, 180 * NS_PER_SEC, 250 * MS, 0xA0), ==, 3);
	/* every second */
	wr(&f, SEC_AL, 0xC0);
	g_assert_cmpuint(count_irqs(&f, 5 * NS_PER_SEC, 250 * MS, 0xA0), ==, 5);
	fix_close(&f);
}

static void test_alarm_polled_12h(void)
{
	struct fix f;
	fix_open(&f, LEAP_DAY);
	wr(&f, REG_B, 0x00); /* 12 h: the alarm hour carries the PM bit too */
	wr(&f, SEC_AL, 0x35);
	wr(&f, MIN_AL, 0x45);
	wr(&f, HOUR_AL, 0x81);
	step(&f, 4 * NS_PER_SEC);
	g_assert_cmphex(rd(&f, REG_C) & 0x30, ==, 0x10);
	step(&f, 2 * NS_PER_SEC);
	g_assert_cmphex(rd(&f, REG_C) & 0x30, ==, 0x30); /* AF without AIE */
	g_assert_cmpuint(f.env->irq_raises[GSI], ==, 0);
	/* a day later, seen in one look */
	step(&f, 86400 * NS_PER_SEC);
	g_assert_cmphex(rd(&f, REG_C) & 0x30, ==, 0x30);
	fix_close(&f);
}

static void test_c_clears(void)
{
	struct fix f;
	fix_open(&f, LEAP_DAY);
	wr(&f, REG_A, 0x2F); /* 2 Hz */
	wr(&f, REG_B, 0x42);
	step(&f, 500 * MS);
	g_assert_cmpint(f.env->irq_level[GSI], ==, 1);
	g_assert_cmphex(rd(&f, REG_C), ==, 0xC0);
	g_assert_cmpint(f.env->irq_level[GSI], ==, 0);
	g_assert_cmphex(rd(&f, REG_C), ==, 0x00);
	/* unacknowledged, the line stays up and no new edge comes */
	step(&f, 3 * NS_PER_SEC);
	g_assert_cmpuint(f.env->irq_raises[GSI], ==, 2);
	g_assert_cmphex(rd(&f, REG_C), ==, 0xD0);
	wr(&f, REG_C, 0xFF); /* read-only */
	wr(&f, REG_D, 0x00);
	g_assert_cmphex(rd(&f, REG_D), ==, 0x80);
	fix_close(&f);
}

static void test_nvram_reset(void)
{
	struct fix f;
	fix_open(&f, LEAP_DAY);
	rtc_cmos_set(f.rtc, 0x34, 0x12);
	rtc_cmos_set(f.rtc, 0x5F, 0x03);
	wr(&f, 0x40, 0x55);
	wr(&f, 0x7F, 0xAA);
	wr(&f, REG_B, 0x7E); /* PIE AIE UIE SQWE DM 24h */
	step(&f, 1200 * MS);
	g_assert_cmpint(f.env->irq_level[GSI], ==, 1);
	rtc_class.reset(f.rtc);
	g_assert_cmpint(f.env->irq_level[GSI], ==, 0);
	g_assert_cmphex(rd(&f, REG_B), ==, 0x06); /* enables cleared, modes kept */
	g_assert_cmphex(rd(&f, REG_C), ==, 0x00);
	g_assert_cmphex(rd(&f, REG_A), ==, 0x26);
	g_assert_cmphex(rd(&f, 0x34), ==, 0x12);
	g_assert_cmphex(rtc_cmos_get(f.rtc, 0x5F), ==, 0x03);
	g_assert_cmphex(rd(&f, 0x40), ==, 0x55);
	g_assert_cmphex(rd(&f, 0x7F), ==, 0xAA);
	assert_time(&f, 13, 45, 31);
	step(&f, 5 * NS_PER_SEC);
	g_assert_cmpint(f.env->irq_level[GSI], ==, 0); /* timers are off */
	/* index 0x80 | n is byte n with NMI masked */
	g_assert_cmphex(rd(&f, 0x80 | 0x34), ==, 0x12);
	fix_close(&f);
}

static void test_dse(void)
{
	struct fix f;
	fix_open(&f, DST_START);
	wr(&f, REG_B, 0x03);
	assert_time(&f, 0x01, 0x59, 0x58);
	step(&f, 2 * NS_PER_SEC);
	assert_time(&f, 0x03, 0x00, 0x00); /* last Sunday in April: 1:59:59 -> 3:00:00 */
	/* last Sunday in October: the first 1:59:59 is followed by 1:00:00 */
	set_time(&f, (const uint8_t[]){ 0x24, 0x10, 0x27, 0x01, 0x01, 0x59, 0x58 }, 0x20);
	assert_time(&f, 0x01, 0x59, 0x58);
	step(&f, 2 * NS_PER_SEC);
	assert_time(&f, 0x01, 0x00, 0x00);
	step(&f, 3600 * NS_PER_SEC);
	assert_time(&f, 0x02, 0x00, 0x00);
	/* turning DSE off changes later updates, not the time shown */
	wr(&f, REG_B, 0x02);
	assert_time(&f, 0x02, 0x00, 0x00);
	fix_close(&f);
}

static void test_hostile(void)
{
	static const uint8_t patterns[] = { 0x00, 0xFF, 0x5A, 0xA5, 0x80, 0x7F };
	struct fix f;
	fix_open(&f, LEAP_DAY);
	for (unsigned p = 0; p < G_N_ELEMENTS(patterns); p++) {
		for (unsigned i = 0; i < 256; i++) {
			fake_outb(f.env, IDX, (uint8_t)i);
			fake_inb(f.env, DATA);
			fake_outb(f.env, DATA, (uint8_t)(patterns[p] ^ i));
			fake_inb(f.env, IDX);
			step(&f, 3 * MS);
		}
		fake_outw(f.env, IDX, 0xFFFF);
		fake_inl(f.env, IDX);
		fake_outl(f.env, IDX, 0x12345678);
		for (int h = 0; h < 48; h++)
			step(&f, 3600 * NS_PER_SEC);
		for (unsigned i = 0; i < 14; i++)
			rd(&f, (uint8_t)i);
	}
	rtc_cmos_set(f.rtc, 300, 1);
	g_assert_cmphex(rtc_cmos_get(f.rtc, 300), ==, 0xFF);
	/* still a clock: put it right and read it */
	rtc_class.reset(f.rtc);
	wr(&f, REG_A, 0x26);
	wr(&f, REG_B, 0x02);
	set_time(&f, (const uint8_t[]){ 0x24, 0x02, 0x29, 0x05, 0x13, 0x45, 0x30 }, 0x20);
	step(&f, NS_PER_SEC);
	assert_time(&f, 0x13, 0x45, 0x31);
	assert_date(&f, 0x20, 0x24, 0x02, 0x29);
	/* nonsense time bytes roll over rather than fail */
	set_time(&f, (const uint8_t[]){ 0xFF, 0x00, 0x00, 0x00, 0x3F, 0xFA, 0xEE }, 0xFF);
	step(&f, NS_PER_SEC);
	uint8_t dow = rd(&f, DOW);
	g_assert_cmpuint(dow, >=, 1);
	g_assert_cmpuint(dow, <=, 7);
	fix_close(&f);
}

static GByteArray *save(struct rtc *rtc)
{
	GByteArray *buf = g_byte_array_new();
	state_save(rtc_class.state, rtc, buf);
	return buf;
}

/* Replaces the device with a fresh one loaded from BUF; returns state_load's result. */
static int reload(struct fix *f, GByteArray *buf, char **error)
{
	g_assert_cmpint(bus_unregister(f->env->io, IDX, f->rtc), ==, 0);
	rtc_class.destroy(f->rtc);
	f->rtc = rtc_class.create(&f->env->ctx);
	rtc_class.reset(f->rtc);
	rtc_set_base(f->rtc, LEAP_DAY);
	fix_map(f);
	return state_load(rtc_class.state, f->rtc, buf->data, buf->len, error);
}

static void test_state_round_trip(void)
{
	struct fix f;
	fix_open(&f, LEAP_DAY);
	wr(&f, REG_B, 0x80);
	wr(&f, MIN, 0x50); /* a guest offset: 13:50:30 */
	wr(&f, REG_B, 0x02);
	wr(&f, REG_A, 0x2F);
	wr(&f, SEC_AL, 0x35);
	wr(&f, MIN_AL, 0x50);
	wr(&f, HOUR_AL, 0x13);
	wr(&f, REG_B, 0x62); /* PIE, AIE */
	wr(&f, 0x40, 0x99);
	step(&f, 1200 * MS);
	g_assert_cmphex(rd(&f, REG_C), ==, 0xD0);
	step(&f, 100 * MS);
	GByteArray *buf = save(f.rtc);
	char *error = NULL;
	g_assert_cmpint(reload(&f, buf, &error), ==, 0);
	g_assert_null(error);
	GByteArray *again = save(f.rtc);
	g_assert_cmpmem(again->data, again->len, buf->data, buf->len);
	assert_time(&f, 0x13, 0x50, 0x31);
	g_assert_cmphex(rd(&f, 0x40), ==, 0x99);
	g_assert_cmphex(rd(&f, REG_B), ==, 0x62);
	/* the periodic timer and the alarm were re-armed from the registers */
	unsigned raises = f.env->irq_raises[GSI];
	step(&f, 200 * MS); /* 1.5 s: periodic */
	g_assert_cmpint(f.env->irq_level[GSI], ==, 1);
	g_assert_cmphex(rd(&f, REG_C), ==, 0xC0);
	step(&f, 3500 * MS); /* 5 s: 13:50:35, the alarm */
	g_assert_cmphex(rd(&f, REG_C) & 0xA0, ==, 0xA0);
	g_assert_cmpuint(f.env->irq_raises[GSI], ==, raises + 2);
	g_byte_array_free(buf, TRUE);
	g_byte_array_free(again, TRUE);

	/* a stopped clock keeps the time the guest was writing */
	wr(&f, REG_B, 0x82);
	wr(&f, HOUR, 0x07);
	buf = save(f.rtc);
	g_assert_cmpint(reload(&f, buf, &error), ==, 0);
	step(&f, 10 * NS_PER_SEC);
	g_assert_cmphex(rd(&f, HOUR), ==, 0x07);
	wr(&f, REG_B, 0x02);
	assert_time(&f, 0x07, 0x50, 0x35);
	g_byte_array_free(buf, TRUE);
	fix_close(&f);
}

static void test_state_bad(void)
{
	struct fix f;
	fix_open(&f, LEAP_DAY);
	f.rtc->index = 0xC8;
	f.rtc->phase_ns = 3000000000u;
	GByteArray *buf = save(f.rtc);
	char *error = NULL;
	g_assert_cmpint(reload(&f, buf, &error), ==, -1);
	g_assert_nonnull(error);
	g_free(error);
	fake_inb(f.env, DATA); /* whatever was loaded, no access goes astray */
	step(&f, 2 * NS_PER_SEC);
	rd(&f, SEC);
	g_byte_array_free(buf, TRUE);
	fix_close(&f);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/rtc/power-on", test_power_on);
	g_test_add_func("/rtc/time/bcd", test_read_bcd);
	g_test_add_func("/rtc/time/binary", test_read_binary);
	g_test_add_func("/rtc/time/12h", test_read_12h);
	g_test_add_func("/rtc/time/ticks", test_ticks);
	g_test_add_func("/rtc/time/set", test_set_time);
	g_test_add_func("/rtc/time/century-binary", test_century_binary);
	g_test_add_func("/rtc/time/write-running", test_write_running);
	g_test_add_func("/rtc/time/dse", test_dse);
	g_test_add_func("/rtc/uip", test_uip);
	g_test_add_func("/rtc/divider-reset", test_divider_reset);
	g_test_add_func("/rtc/irq/periodic", test_periodic);
	g_test_add_func("/rtc/irq/periodic-polled", test_periodic_polled);
	g_test_add_func("/rtc/irq/update", test_update_irq);
	g_test_add_func("/rtc/irq/alarm", test_alarm);
	g_test_add_func("/rtc/irq/alarm-polled-12h", test_alarm_polled_12h);
	g_test_add_func("/rtc/irq/c-clears", test_c_clears);
	g_test_add_func("/rtc/nvram-survives-reset", test_nvram_reset);
	g_test_add_func("/rtc/hostile", test_hostile);
	g_test_add_func("/rtc/state/round-trip", test_state_round_trip);
	g_test_add_func("/rtc/state/bad", test_state_bad);
	return g_test_run();
}
