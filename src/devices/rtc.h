/*
 * The PC's real-time clock and CMOS RAM: a Motorola MC146818A at ports 0x70 (index) and 0x71
 * (data), IRQ 8. The clock is not a counter that the VMM ticks: the guest's time is computed
 * from a time base (epoch seconds at clock zero, set by the machine) plus the device clock plus
 * whatever offset the guest has set, and interrupt flags are computed when they are looked at.
 * Timers run only while an interrupt that needs them is enabled.
 */
#pragma once
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "devices/bus.h"
#include "devices/device.h"

#define RTC_CMOS_SIZE 128

struct rtc {
	pthread_mutex_t lock;
	struct clock *clock;
	struct irq_line irq;
	struct timer *periodic_timer; /* armed while PIE is set and PF is clear */
	struct timer *update_timer;   /* armed while UIE or AIE needs the next update */
	int64_t base_epoch;           /* RTC seconds at clock 0: the machine's, not saved */

	/* Guest-visible state (saved). While the clock runs, the time bytes of cmos[] are only a
	 * cache refreshed on access; while it is stopped (SET, divider reset) they are the time. */
	uint8_t cmos[RTC_CMOS_SIZE];
	uint8_t index;
	int64_t offset_sec;  /* guest time minus (base_epoch + divider seconds) */
	uint32_t phase_ns;   /* divider phase: an update happens when clock + phase_ns is whole */
	uint8_t dow_offset;  /* day of week as the guest set it, relative to the computed one */
	uint64_t sync_ns;    /* clock time up to which register C's flags are brought */

	bool irq_level; /* derived from register C */
};

extern const struct device_class rtc_class;
/* Two ports: 0 = index (bit 7, the NMI mask, is ignored), 1 = data. */
extern const struct bus_ops rtc_ops;

/* The machine: EPOCH is the UTC time (seconds) at which the device clock read zero, e.g.
 * time(NULL) - clock_ns(host clock) / 1e9. Guest offsets set later apply on top. */
void rtc_set_base(struct rtc *rtc, int64_t epoch_at_clock_zero);
/* The machine's view of CMOS bytes (memory size, boot order, CPU count...). A write behaves as
 * the guest's would; reading register C this way does not clear it. Indexes >= 128 are
 * ignored (get returns 0xFF). */
void rtc_cmos_set(struct rtc *rtc, unsigned index, uint8_t value);
uint8_t rtc_cmos_get(struct rtc *rtc, unsigned index);
