/*
 * Time for devices. The host clock follows CLOCK_MONOTONIC and fires timers on the GLib main
 * loop; the virtual clock (tests) moves only when clock_step() says, running due timers in
 * deadline order. Timer callbacks run without the clock's lock held, so they may re-arm.
 */
#pragma once
#include <stdbool.h>
#include <stdint.h>

#define NS_PER_SEC 1000000000ull

struct clock;
struct timer;
typedef void (*timer_cb)(void *opaque);

struct clock *clock_new_host(void);
struct clock *clock_new_virtual(uint64_t start_ns);
void clock_free(struct clock *clock);
uint64_t clock_ns(struct clock *clock);
/* Virtual clocks only: advance by NS, firing every timer that falls due on the way. */
void clock_step(struct clock *clock, uint64_t ns);
/* Host clocks: attach the timer source to a GLib main context (NULL = default). */
void clock_attach(struct clock *clock, void *gmain_context);

struct timer *timer_new(struct clock *clock, timer_cb cb, void *opaque);
void timer_free(struct timer *timer);
void timer_mod(struct timer *timer, uint64_t deadline_ns);
void timer_del(struct timer *timer);
bool timer_pending(struct timer *timer);
uint64_t timer_deadline(struct timer *timer);
