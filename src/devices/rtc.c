/*
 * MC146818A real-time clock plus RAM (Motorola datasheet "MC146818A Real-Time Clock Plus RAM";
 * section names below are that document's), with the PC/AT century byte at 0x32.
 *
 * Time is not ticked. The divider chain is "clock_ns + phase_ns": an update cycle ends each time
 * it passes a whole second, a periodic flag each time it passes a multiple of the rate's period
 * in 32.768 kHz cycles. The guest's time is base_epoch + offset_sec + divider seconds. Register
 * C's flags are brought up to date (rtc_sync) whenever the guest or a timer looks at them, and
 * the timers run only for an enabled interrupt whose flag is still clear.
 *
 * The update cycle is modelled as instantaneous at the second boundary: UIP is set during the
 * 244 us before it (Table 6, t_BUC), and the time bytes read after UIP falls are the new ones.
 */
#include "devices/rtc.h"

#include <glib.h>
#include <inttypes.h>

#include "clock.h"
#include "log.h"

enum {
	RTC_SEC = 0x00,
	RTC_SEC_ALARM = 0x01,
	RTC_MIN = 0x02,
	RTC_MIN_ALARM = 0x03,
	RTC_HOUR = 0x04,
	RTC_HOUR_ALARM = 0x05,
	RTC_DOW = 0x06,
	RTC_DOM = 0x07,
	RTC_MONTH = 0x08,
	RTC_YEAR = 0x09,
	RTC_REG_A = 0x0A,
	RTC_REG_B = 0x0B,
	RTC_REG_C = 0x0C,
	RTC_REG_D = 0x0D,
	RTC_CENTURY = 0x32, /* IBM PC/AT convention, not the chip's */
};

#define REG_A_UIP 0x80
#define REG_A_DV 0x70
#define REG_A_DV_32K 0x20   /* DV = 010: 32.768 kHz time base, the PC's */
#define REG_A_DV_RESET 0x60 /* DV = 11x: divider chain held in reset */
#define REG_A_RS 0x0F
#define REG_B_SET 0x80
#define REG_B_PIE 0x40
#define REG_B_AIE 0x20
#define REG_B_UIE 0x10
#define REG_B_SQWE 0x08
#define REG_B_DM 0x04 /* 1 = binary, 0 = BCD */
#define REG_B_24H 0x02
#define REG_B_DSE 0x01
#define REG_C_IRQF 0x80
#define REG_C_PF 0x40
#define REG_C_AF 0x20
#define REG_C_UF 0x10
#define REG_C_FLAGS (REG_C_PF | REG_C_AF | REG_C_UF)
#define REG_D_VRT 0x80

#define RTC_TICK_HZ 32768ull
#define RTC_UIP_NS 244000ull /* Table 6: UIP rises t_BUC = 244 us before the update */
#define SECS_PER_DAY 86400
/* Far beyond any time the registers can express (year 16665): refuses absurd state files. */
#define RTC_MAX_OFFSET (INT64_C(1) << 40)

/* Table 5, 32.768 kHz time base: the periodic flag comes every 2^(RS-1) crystal cycles, except
 * that RS = 1 and 2 repeat the rates of RS = 8 and 9 (256 and 128 Hz). 0 = none. */
static const uint16_t rtc_period_cycles[16] = {
	[1] = 128,   [2] = 256,   [3] = 4,     [4] = 8,     [5] = 16,
	[6] = 32,    [7] = 64,    [8] = 128,   [9] = 256,   [10] = 512,
	[11] = 1024, [12] = 2048, [13] = 4096, [14] = 8192, [15] = 16384,
};

/* ---- calendar arithmetic (proleptic Gregorian, days since 1970-01-01) ---- */

struct rtc_tm {
	int64_t year;
	int mon, mday, hour, min, sec;
	int wday; /* 0 = Sunday */
};

static int64_t floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;
	return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static int64_t floor_mod(int64_t a, int64_t b)
{
	return a - floor_div(a, b) * b;
}

/* Any month and day roll over (month 13 is January next year, day 0 the last of the month
 * before), so whatever the guest wrote names some instant. Counts from March so that the leap
 * day ends the year; 719468 is the day number of 1970-01-01 counted from 0000-03-01. */
static int64_t days_from_civil(int64_t y, int64_t m, int64_t d)
{
	y += floor_div(m - 1, 12);
	m = floor_mod(m - 1, 12) + 1;
	if (m <= 2)
		y--;
	int64_t era = floor_div(y, 400);
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static void rtc_tm_from_secs(int64_t t, struct rtc_tm *tm)
{
	int64_t days = floor_div(t, SECS_PER_DAY), sod = t - days * SECS_PER_DAY;
	tm->hour = (int)(sod / 3600);
	tm->min = (int)(sod / 60 % 60);
	tm->sec = (int)(sod % 60);
	tm->wday = (int)floor_mod(days + 4, 7); /* 1970-01-01 was a Thursday */
	int64_t z = days + 719468;
	int64_t era = floor_div(z, 146097);
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;
	tm->mday = (int)(doy - (153 * mp + 2) / 5 + 1);
	tm->mon = (int)(mp < 10 ? mp + 3 : mp - 9);
	tm->year = yoe + era * 400 + (tm->mon <= 2);
}

/* ---- daylight saving (register B DSE) ---- */

static int64_t last_sunday(int64_t year, int mon, int last_mday)
{
	int64_t day = days_from_civil(year, mon, last_mday);
	return day - floor_mod(day + 4, 7);
}

/* "DSE": on the last Sunday in April 1:59:59 AM is followed by 3:00:00 AM; on the last Sunday
 * in October the first 1:59:59 AM is followed by 1:00:00 AM. T is standard time. */
static bool rtc_in_dst(int64_t t)
{
	struct rtc_tm tm;
	rtc_tm_from_secs(t, &tm);
	int64_t start = last_sunday(tm.year, 4, 30) * SECS_PER_DAY + 2 * 3600;
	int64_t end = last_sunday(tm.year, 10, 31) * SECS_PER_DAY + 1 * 3600;
	return t >= start && t < end;
}

/* Standard time T as the registers show it. */
static int64_t rtc_shown(const struct rtc *s, int64_t t)
{
	return (s->cmos[RTC_REG_B] & REG_B_DSE) && rtc_in_dst(t) ? t + 3600 : t;
}

/* The inverse; an October hour that shows twice is taken as its first (daylight) pass. */
static int64_t rtc_unshown(const struct rtc *s, int64_t shown)
{
	return (s->cmos[RTC_REG_B] & REG_B_DSE) && rtc_in_dst(shown - 3600) ? shown - 3600 : shown;
}

/* ---- register encoding (register B DM and 24/12) ---- */

static uint8_t rtc_to_reg(const struct rtc *s, int64_t v)
{
	if (s->cmos[RTC_REG_B] & REG_B_DM)
		return (uint8_t)v;
	v = floor_mod(v, 100);
	return (uint8_t)((v / 10) << 4 | v % 10);
}

/* Bad BCD digits decode to their face value (0x5A is 60): odd, but some instant, like the
 * chip's own counters run on from a bad value. */
static int rtc_from_reg(const struct rtc *s, uint8_t r)
{
	if (s->cmos[RTC_REG_B] & REG_B_DM)
		return r;
	return (r >> 4) * 10 + (r & 0x0F);
}

/* 12-hour mode: 1-12 with bit 7 set for PM ("Time, Calendar and Alarm Data Modes"). */
static uint8_t rtc_hour_to_reg(const struct rtc *s, int h)
{
	if (s->cmos[RTC_REG_B] & REG_B_24H)
		return rtc_to_reg(s, h);
	return rtc_to_reg(s, h % 12 ? h % 12 : 12) | (h >= 12 ? 0x80 : 0);
}

static int rtc_hour_from_reg(const struct rtc *s, uint8_t r)
{
	if (s->cmos[RTC_REG_B] & REG_B_24H)
		return rtc_from_reg(s, r);
	return rtc_from_reg(s, r & 0x7F) % 12 + (r & 0x80 ? 12 : 0);
}

/* ---- the divider chain and the time ---- */

static bool rtc_divider_reset(const struct rtc *s)
{
	return (s->cmos[RTC_REG_A] & REG_A_DV_RESET) == REG_A_DV_RESET;
}

/* SET inhibits updates ("SET"); a divider in reset makes none. */
static bool rtc_running(const struct rtc *s)
{
	return !(s->cmos[RTC_REG_B] & REG_B_SET) && !rtc_divider_reset(s);
}

static uint64_t rtc_dv(const struct rtc *s, uint64_t now)
{
	return now + s->phase_ns;
}

static uint64_t rtc_cycles(uint64_t dv)
{
	return dv / NS_PER_SEC * RTC_TICK_HZ + dv % NS_PER_SEC * RTC_TICK_HZ / NS_PER_SEC;
}

/* The first divider time at which rtc_cycles() reaches CYCLES. */
static uint64_t rtc_cycle_time(uint64_t cycles)
{
	uint64_t rem = cycles % RTC_TICK_HZ * NS_PER_SEC;
	return cycles / RTC_TICK_HZ * NS_PER_SEC + (rem + RTC_TICK_HZ - 1) / RTC_TICK_HZ;
}

static unsigned rtc_period(const struct rtc *s)
{
	return rtc_divider_reset(s) ? 0 : rtc_period_cycles[s->cmos[RTC_REG_A] & REG_A_RS];
}

/* Standard time (epoch seconds) once the divider has counted DV_SEC seconds. */
static int64_t rtc_secs_at(const struct rtc *s, uint64_t dv_sec)
{
	return s->base_epoch + s->offset_sec + (int64_t)dv_sec;
}

static int64_t rtc_now_secs(const struct rtc *s, uint64_t now)
{
	return rtc_secs_at(s, rtc_dv(s, now) / NS_PER_SEC);
}

/* Fills the time bytes from the running clock, in the current data mode. */
static void rtc_latch(struct rtc *s, uint64_t now)
{
	struct rtc_tm tm;
	rtc_tm_from_secs(rtc_shown(s, rtc_now_secs(s, now)), &tm);
	uint8_t *c = s->cmos;
	c[RTC_SEC] = rtc_to_reg(s, tm.sec);
	c[RTC_MIN] = rtc_to_reg(s, tm.min);
	c[RTC_HOUR] = rtc_hour_to_reg(s, tm.hour);
	c[RTC_DOW] = (uint8_t)(floor_mod(tm.wday + s->dow_offset, 7) + 1); /* 1 = Sunday */
	c[RTC_DOM] = rtc_to_reg(s, tm.mday);
	c[RTC_MONTH] = rtc_to_reg(s, tm.mon);
	c[RTC_YEAR] = rtc_to_reg(s, floor_mod(tm.year, 100));
	c[RTC_CENTURY] = rtc_to_reg(s, floor_div(tm.year, 100));
}

static void rtc_check_time(const struct rtc *s)
{
	const uint8_t *c = s->cmos;
	int mon = rtc_from_reg(s, c[RTC_MONTH]), mday = rtc_from_reg(s, c[RTC_DOM]);
	if (mon < 1 || mon > 12 || mday < 1 || mday > 31 || rtc_from_reg(s, c[RTC_SEC]) > 59 ||
	    rtc_from_reg(s, c[RTC_MIN]) > 59 || rtc_hour_from_reg(s, c[RTC_HOUR]) > 23)
		log_once(LOG_INFO, "rtc: guest set an out-of-range time; it rolls over");
}

/* The guest has set the time bytes: move the offset so that the clock shows them now. The
 * divider phase is kept, as the chain keeps running while SET is 1. */
static void rtc_rebase(struct rtc *s, uint64_t now)
{
	const uint8_t *c = s->cmos;
	rtc_check_time(s);
	int64_t year = rtc_from_reg(s, c[RTC_CENTURY]) * INT64_C(100);
	year += rtc_from_reg(s, c[RTC_YEAR]);
	int64_t days = days_from_civil(year, rtc_from_reg(s, c[RTC_MONTH]),
				       rtc_from_reg(s, c[RTC_DOM]));
	int64_t shown = days * SECS_PER_DAY + rtc_hour_from_reg(s, c[RTC_HOUR]) * 3600 +
			rtc_from_reg(s, c[RTC_MIN]) * 60 + rtc_from_reg(s, c[RTC_SEC]);
	int64_t t = rtc_unshown(s, shown);
	s->offset_sec = t - s->base_epoch - (int64_t)(rtc_dv(s, now) / NS_PER_SEC);
	/* the day of week is a counter of its own on the chip: keep what the guest wrote */
	int64_t wday = floor_mod(floor_div(rtc_shown(s, t), SECS_PER_DAY) + 4, 7);
	s->dow_offset = (uint8_t)floor_mod(c[RTC_DOW] - 1 - wday, 7);
}

/* ---- register C flags and the interrupt ---- */

static bool alarm_byte_matches(uint8_t alarm, uint8_t now)
{
	return (alarm & 0xC0) == 0xC0 || alarm == now; /* "Alarm": 11xxxxxx is don't care */
}

static bool rtc_alarm_matches(const struct rtc *s, int64_t shown)
{
	int64_t sod = floor_mod(shown, SECS_PER_DAY);
	const uint8_t *c = s->cmos;
	return alarm_byte_matches(c[RTC_SEC_ALARM], rtc_to_reg(s, sod % 60)) &&
	       alarm_byte_matches(c[RTC_MIN_ALARM], rtc_to_reg(s, sod / 60 % 60)) &&
	       alarm_byte_matches(c[RTC_HOUR_ALARM], rtc_hour_to_reg(s, (int)(sod / 3600)));
}

/* Whether an update at divider second FROM+1 .. TO set a time the alarm bytes match. A day
 * holds every pattern the alarm can have, so a longer gap needs only its last day. */
static bool rtc_alarm_between(const struct rtc *s, uint64_t from, uint64_t to)
{
	if (to - from > SECS_PER_DAY)
		from = to - SECS_PER_DAY;
	for (uint64_t k = from + 1; k <= to; k++)
		if (rtc_alarm_matches(s, rtc_shown(s, rtc_secs_at(s, k))))
			return true;
	return false;
}

/* Brings register C's flags up to NOW. PF, UF and AF are set whether or not their interrupts
 * are enabled ("Register C"), so software may poll them: count the divider edges passed since
 * the last look instead of ticking. Call before anything that changes the rate, the time or
 * the alarm, so that the interval before the change is judged by the old values. */
static void rtc_sync(struct rtc *s, uint64_t now)
{
	if (now <= s->sync_ns)
		return;
	uint64_t a = rtc_dv(s, s->sync_ns), b = rtc_dv(s, now);
	unsigned period = rtc_period(s);
	if (period && rtc_cycles(a) / period != rtc_cycles(b) / period)
		s->cmos[RTC_REG_C] |= REG_C_PF;
	if (rtc_running(s) && a / NS_PER_SEC != b / NS_PER_SEC) {
		s->cmos[RTC_REG_C] |= REG_C_UF;
		if (rtc_alarm_between(s, a / NS_PER_SEC, b / NS_PER_SEC))
			s->cmos[RTC_REG_C] |= REG_C_AF;
	}
	s->sync_ns = now;
}

/* "IRQF = PF·PIE + AF·AIE + UF·UIE", and the IRQ pin follows IRQF. Flags and enables share
 * bit positions in registers B and C. */
static void rtc_update_irq(struct rtc *s)
{
	uint8_t *c = &s->cmos[RTC_REG_C];
	bool irqf = *c & s->cmos[RTC_REG_B] & REG_C_FLAGS;
	*c = (uint8_t)((*c & REG_C_FLAGS) | (irqf ? REG_C_IRQF : 0));
	if (irqf != s->irq_level) {
		s->irq_level = irqf;
		irq_set_level(&s->irq, irqf);
	}
}

/* A timer runs only for an enabled interrupt whose flag is still clear: once the flag is set,
 * a further edge changes nothing until the guest reads C, and rtc_sync catches up then. */
static void rtc_rearm(struct rtc *s, uint64_t now)
{
	uint8_t b = s->cmos[RTC_REG_B], c = s->cmos[RTC_REG_C];
	unsigned period = rtc_period(s);
	if ((b & REG_B_PIE) && !(c & REG_C_PF) && period) {
		uint64_t next = (rtc_cycles(rtc_dv(s, now)) / period + 1) * period;
		timer_mod(s->periodic_timer, rtc_cycle_time(next) - s->phase_ns);
	} else {
		timer_del(s->periodic_timer);
	}
	bool want_uf = (b & REG_B_UIE) && !(c & REG_C_UF);
	bool want_af = (b & REG_B_AIE) && !(c & REG_C_AF); /* the alarm is checked every update */
	if (rtc_running(s) && (want_uf || want_af)) {
		uint64_t next = (rtc_dv(s, now) / NS_PER_SEC + 1) * NS_PER_SEC;
		timer_mod(s->update_timer, next - s->phase_ns);
	} else {
		timer_del(s->update_timer);
	}
}

static void rtc_settle(struct rtc *s, uint64_t now)
{
	rtc_update_irq(s);
	rtc_rearm(s, now);
}

/* Both timers: runs on the main thread, so it takes the device lock itself. */
static void rtc_timer_fired(void *opaque)
{
	struct rtc *s = opaque;
	pthread_mutex_lock(&s->lock);
	uint64_t now = clock_ns(s->clock);
	rtc_sync(s, now);
	rtc_settle(s, now);
	pthread_mutex_unlock(&s->lock);
}

/* ---- registers ---- */

static uint8_t rtc_read_time(struct rtc *s, unsigned idx, uint64_t now)
{
	if (rtc_running(s))
		rtc_latch(s, now);
	return s->cmos[idx];
}

/* With SET (the normal way) the byte is stored and taken when SET falls; without it the clock
 * goes on from the new value, as the chip's counters would. */
static void rtc_write_time(struct rtc *s, unsigned idx, uint8_t v, uint64_t now)
{
	bool running = rtc_running(s);
	if (running)
		rtc_latch(s, now);
	s->cmos[idx] = v;
	if (running)
		rtc_rebase(s, now);
}

static uint8_t rtc_read_a(struct rtc *s, unsigned idx, uint64_t now)
{
	uint8_t a = s->cmos[RTC_REG_A] & ~REG_A_UIP;
	if (rtc_running(s) && rtc_dv(s, now) % NS_PER_SEC >= NS_PER_SEC - RTC_UIP_NS)
		a |= REG_A_UIP;
	return a;
}

static void rtc_write_a(struct rtc *s, unsigned idx, uint8_t v, uint64_t now)
{
	bool was_running = rtc_running(s), was_reset = rtc_divider_reset(s);
	if (was_running)
		rtc_latch(s, now); /* the time a divider reset freezes */
	s->cmos[RTC_REG_A] = v & ~REG_A_UIP; /* UIP is read-only */
	uint8_t dv = v & REG_A_DV;
	if (dv != REG_A_DV_32K && !rtc_divider_reset(s))
		log_once(LOG_INFO, "rtc: guest selected divider %#x; the PC has a 32.768 kHz "
			 "crystal", dv >> 4);
	/* "When the divider reset is removed, the first update cycle begins one-half second
	 * later": move the phase so that the divider stands at half a second now. */
	if (was_reset && !rtc_divider_reset(s))
		s->phase_ns = (uint32_t)((NS_PER_SEC * 3 / 2 - now % NS_PER_SEC) % NS_PER_SEC);
	if (!was_running && rtc_running(s))
		rtc_rebase(s, now);
}

static void rtc_write_b(struct rtc *s, unsigned idx, uint8_t v, uint64_t now)
{
	bool was_running = rtc_running(s);
	uint8_t old = s->cmos[RTC_REG_B];
	int64_t shown = was_running ? rtc_shown(s, rtc_now_secs(s, now)) : 0;
	if (was_running)
		rtc_latch(s, now); /* the time SET freezes */
	if (v & REG_B_SET)
		v &= ~REG_B_UIE; /* "UIE": cleared by SET going high */
	s->cmos[RTC_REG_B] = v;
	if (!rtc_running(s))
		return;
	if (!was_running)
		rtc_rebase(s, now);
	else if ((old ^ v) & REG_B_DSE) /* DSE changes future updates, not the time shown */
		s->offset_sec += rtc_unshown(s, shown) - rtc_now_secs(s, now);
}

static uint8_t rtc_read_c(struct rtc *s, unsigned idx, uint64_t now)
{
	uint8_t v = s->cmos[RTC_REG_C];
	s->cmos[RTC_REG_C] = 0; /* "Register C": all flags clear when read; rtc_settle drops IRQ */
	return v;
}

static uint8_t rtc_read_d(struct rtc *s, unsigned idx, uint64_t now)
{
	return REG_D_VRT; /* the battery never runs down */
}

static void rtc_write_readonly(struct rtc *s, unsigned idx, uint8_t v, uint64_t now)
{
	log_once(LOG_DEBUG, "rtc: guest wrote read-only register %#x", idx);
}

struct rtc_reg {
	uint8_t (*read)(struct rtc *s, unsigned idx, uint64_t now);
	void (*write)(struct rtc *s, unsigned idx, uint8_t v, uint64_t now);
};

/* Registers with behaviour ("Address Map"); every other byte, the alarm bytes included, is
 * plain RAM. */
static const struct rtc_reg rtc_regs[RTC_CMOS_SIZE] = {
	[RTC_SEC] = { rtc_read_time, rtc_write_time },
	[RTC_MIN] = { rtc_read_time, rtc_write_time },
	[RTC_HOUR] = { rtc_read_time, rtc_write_time },
	[RTC_DOW] = { rtc_read_time, rtc_write_time },
	[RTC_DOM] = { rtc_read_time, rtc_write_time },
	[RTC_MONTH] = { rtc_read_time, rtc_write_time },
	[RTC_YEAR] = { rtc_read_time, rtc_write_time },
	[RTC_REG_A] = { rtc_read_a, rtc_write_a },
	[RTC_REG_B] = { NULL, rtc_write_b },
	[RTC_REG_C] = { rtc_read_c, rtc_write_readonly },
	[RTC_REG_D] = { rtc_read_d, rtc_write_readonly },
	[RTC_CENTURY] = { rtc_read_time, rtc_write_time },
};

/* Bytes whose writes can change the flags' timing: the clock, the alarm and A-D. */
static bool rtc_is_clock_byte(unsigned idx)
{
	return idx <= RTC_REG_D || idx == RTC_CENTURY;
}

static uint8_t rtc_reg_read(struct rtc *s, unsigned idx)
{
	const struct rtc_reg *r = &rtc_regs[idx];
	if (!r->read)
		return s->cmos[idx];
	uint64_t now = clock_ns(s->clock);
	rtc_sync(s, now);
	uint8_t v = r->read(s, idx, now);
	rtc_settle(s, now);
	return v;
}

static void rtc_reg_write(struct rtc *s, unsigned idx, uint8_t v)
{
	const struct rtc_reg *r = &rtc_regs[idx];
	if (!rtc_is_clock_byte(idx)) {
		s->cmos[idx] = v;
		return;
	}
	uint64_t now = clock_ns(s->clock);
	rtc_sync(s, now);
	if (r->write)
		r->write(s, idx, v, now);
	else
		s->cmos[idx] = v;
	rtc_settle(s, now);
}

/* Port 0x70 selects a byte (bit 7 gates NMI on the AT board, not here); 0x71 accesses it. */
static uint64_t rtc_port_read(void *opaque, uint64_t off, unsigned size)
{
	struct rtc *s = opaque;
	if (off == 0)
		return 0xFF; /* the index latch is write-only on the AT */
	return rtc_reg_read(s, s->index % RTC_CMOS_SIZE);
}

static void rtc_port_write(void *opaque, uint64_t off, uint64_t data, unsigned size)
{
	struct rtc *s = opaque;
	if (off == 0)
		s->index = data & 0x7F;
	else
		rtc_reg_write(s, s->index % RTC_CMOS_SIZE, (uint8_t)data);
}

const struct bus_ops rtc_ops = {
	.read = rtc_port_read,
	.write = rtc_port_write,
	.min_size = 1,
	.max_size = 1,
};

/* ---- machine API ---- */

void rtc_set_base(struct rtc *s, int64_t epoch_at_clock_zero)
{
	pthread_mutex_lock(&s->lock);
	uint64_t now = clock_ns(s->clock);
	rtc_sync(s, now); /* alarms up to now match against the old time */
	s->base_epoch = epoch_at_clock_zero;
	rtc_settle(s, now);
	pthread_mutex_unlock(&s->lock);
}

void rtc_cmos_set(struct rtc *s, unsigned index, uint8_t value)
{
	if (index >= RTC_CMOS_SIZE) {
		log_warn("rtc: CMOS index %#x out of range (set %#x)", index, value);
		return;
	}
	pthread_mutex_lock(&s->lock);
	rtc_reg_write(s, index, value);
	pthread_mutex_unlock(&s->lock);
}

uint8_t rtc_cmos_get(struct rtc *s, unsigned index)
{
	if (index >= RTC_CMOS_SIZE)
		return 0xFF;
	pthread_mutex_lock(&s->lock);
	uint8_t v;
	if (index == RTC_REG_C) { /* a peek: only the guest's read clears C */
		uint64_t now = clock_ns(s->clock);
		rtc_sync(s, now);
		rtc_settle(s, now);
		v = s->cmos[RTC_REG_C];
	} else {
		v = rtc_reg_read(s, index);
	}
	pthread_mutex_unlock(&s->lock);
	return v;
}

/* ---- device class ---- */

/* The RESET pin ("RESET"): clears PIE, AIE, UIE, SQWE and all of register C, releasing IRQ.
 * The time, register A, the other bits of B and the RAM are battery-backed and stay. */
static void rtc_reset(void *dev)
{
	struct rtc *s = dev;
	pthread_mutex_lock(&s->lock);
	uint64_t now = clock_ns(s->clock);
	rtc_sync(s, now);
	s->cmos[RTC_REG_B] &= ~(REG_B_PIE | REG_B_AIE | REG_B_UIE | REG_B_SQWE);
	s->cmos[RTC_REG_C] = 0;
	rtc_settle(s, now);
	pthread_mutex_unlock(&s->lock);
}

static void *rtc_create(const struct dev_ctx *ctx)
{
	if (!ctx->clock) {
		log_error("rtc: no clock to keep time with");
		return NULL;
	}
	struct rtc *s = g_new0(struct rtc, 1);
	/* recursive: reset() and the machine API lock for themselves, and the machine may
	 * already hold the lock around them (save/load, machine reset) */
	pthread_mutexattr_t attr;
	pthread_mutexattr_init(&attr);
	pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
	pthread_mutex_init(&s->lock, &attr);
	pthread_mutexattr_destroy(&attr);
	s->clock = ctx->clock;
	s->irq = ctx->irq[0];
	s->periodic_timer = timer_new(ctx->clock, rtc_timer_fired, s);
	s->update_timer = timer_new(ctx->clock, rtc_timer_fired, s);
	/* power-on values, which every PC BIOS programs anyway: 32.768 kHz divider and 1024 Hz
	 * rate (0x26), BCD and 24 hours (pc-platform.md: the binary bit must stay 0) */
	s->cmos[RTC_REG_A] = REG_A_DV_32K | 0x06;
	s->cmos[RTC_REG_B] = REG_B_24H;
	s->cmos[RTC_REG_D] = REG_D_VRT;
	s->sync_ns = clock_ns(ctx->clock);
	rtc_reset(s);
	return s;
}

static void rtc_destroy(void *dev)
{
	struct rtc *s = dev;
	if (!s)
		return;
	timer_free(s->periodic_timer);
	timer_free(s->update_timer);
	pthread_mutex_destroy(&s->lock);
	g_free(s);
}

static pthread_mutex_t *rtc_lock(void *dev)
{
	return &((struct rtc *)dev)->lock;
}

/* The state_desc check hook: pure, as state_check runs it on a scratch copy. */
static int rtc_state_check(const void *obj, char **error)
{
	const struct rtc *s = obj;
	if (s->index < RTC_CMOS_SIZE && s->phase_ns < NS_PER_SEC && s->dow_offset < 7 &&
	    s->offset_sec < RTC_MAX_OFFSET && s->offset_sec > -RTC_MAX_OFFSET)
		return 0;
	*error = g_strdup_printf("rtc: bad state (index %#x, phase %" PRIu32 " ns, day-of-week "
				 "offset %u, time offset %" PRId64 " s)",
				 s->index, s->phase_ns, s->dow_offset, s->offset_sec);
	return -1;
}

/* Refuses what rtc_state_check refuses, leaving something safe to run even so. */
static int rtc_check_state(struct rtc *s, char **error)
{
	if (rtc_state_check(s, error) == 0)
		return 0;
	s->index &= 0x7F;
	s->phase_ns %= NS_PER_SEC;
	s->dow_offset %= 7;
	s->offset_sec = 0;
	return -1;
}

/* Recomputes what is not saved: UIP, IRQF and the IRQ level, the timers. A state from another
 * process had a clock with another origin, so sync_ns may lie in the future: flags are then
 * counted from now. The time itself is relative to base_epoch, which the new machine sets. */
static int rtc_post_load(void *obj, char **error)
{
	struct rtc *s = obj;
	pthread_mutex_lock(&s->lock);
	int ret = rtc_check_state(s, error);
	uint64_t now = clock_ns(s->clock);
	if (s->sync_ns > now)
		s->sync_ns = now;
	s->cmos[RTC_REG_A] &= ~REG_A_UIP;
	s->cmos[RTC_REG_D] = REG_D_VRT;
	rtc_settle(s, now);
	irq_set_level(&s->irq, s->irq_level); /* the line may have been either way before */
	pthread_mutex_unlock(&s->lock);
	return ret;
}

static const struct state_field rtc_fields[] = {
	STATE_U8_ARRAY(struct rtc, cmos), STATE_U8(struct rtc, index),
	STATE_U64(struct rtc, offset_sec), STATE_U32(struct rtc, phase_ns),
	STATE_U8(struct rtc, dow_offset),  STATE_U64(struct rtc, sync_ns),
};

static const struct state_desc rtc_state =
	STATE_DESC("rtc", 1, struct rtc, rtc_fields, .post_load = rtc_post_load,
		   .check = rtc_state_check);

const struct device_class rtc_class = {
	.name = "rtc",
	.state = &rtc_state,
	.create = rtc_create,
	.destroy = rtc_destroy,
	.reset = rtc_reset,
	.lock = rtc_lock,
};
