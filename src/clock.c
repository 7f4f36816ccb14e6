#include "clock.h"

#include <glib.h>
#include <pthread.h>
#include <time.h>

struct timer {
	struct clock *clock;
	timer_cb cb;
	void *opaque;
	uint64_t deadline;
	bool armed;
};

struct clock {
	bool virtual_time;
	uint64_t now; /* virtual clocks */
	pthread_mutex_t lock;
	GPtrArray *timers; /* all timers; few per VM, so a scan beats a heap */
	GSource *source;
	GMainContext *context;
	/* host clocks: the deadline the main loop's current wait ends at (UINT64_MAX: none) */
	uint64_t wait_until;
};

struct clock_source {
	GSource base;
	struct clock *clock;
};

static uint64_t host_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NS_PER_SEC + ts.tv_nsec;
}

static struct clock *clock_new(bool virtual_time, uint64_t start)
{
	struct clock *c = g_new0(struct clock, 1);
	c->virtual_time = virtual_time;
	c->now = start;
	c->wait_until = UINT64_MAX;
	pthread_mutex_init(&c->lock, NULL);
	c->timers = g_ptr_array_new();
	return c;
}

struct clock *clock_new_host(void)
{
	return clock_new(false, 0);
}

struct clock *clock_new_virtual(uint64_t start_ns)
{
	return clock_new(true, start_ns);
}

void clock_free(struct clock *c)
{
	if (!c)
		return;
	if (c->source) {
		g_source_destroy(c->source);
		g_source_unref(c->source);
	}
	g_ptr_array_free(c->timers, TRUE);
	pthread_mutex_destroy(&c->lock);
	g_free(c);
}

uint64_t clock_ns(struct clock *c)
{
	if (!c->virtual_time)
		return host_ns();
	pthread_mutex_lock(&c->lock);
	uint64_t now = c->now;
	pthread_mutex_unlock(&c->lock);
	return now;
}

/* Earliest armed timer, with the lock held. */
static struct timer *clock_next_locked(struct clock *c)
{
	struct timer *best = NULL;
	for (guint i = 0; i < c->timers->len; i++) {
		struct timer *t = g_ptr_array_index(c->timers, i);
		if (t->armed && (!best || t->deadline < best->deadline))
			best = t;
	}
	return best;
}

/* Fires timers due at NOW one at a time, dropping the lock around each callback. */
static void clock_run_due(struct clock *c, uint64_t now)
{
	for (;;) {
		pthread_mutex_lock(&c->lock);
		struct timer *t = clock_next_locked(c);
		if (!t || t->deadline > now) {
			pthread_mutex_unlock(&c->lock);
			return;
		}
		t->armed = false;
		timer_cb cb = t->cb;
		void *opaque = t->opaque;
		pthread_mutex_unlock(&c->lock);
		cb(opaque);
	}
}

void clock_step(struct clock *c, uint64_t ns)
{
	g_assert(c->virtual_time);
	pthread_mutex_lock(&c->lock);
	uint64_t end = c->now + ns;
	pthread_mutex_unlock(&c->lock);
	for (;;) {
		pthread_mutex_lock(&c->lock);
		struct timer *t = clock_next_locked(c);
		if (!t || t->deadline > end) {
			c->now = end;
			pthread_mutex_unlock(&c->lock);
			return;
		}
		if (t->deadline > c->now)
			c->now = t->deadline;
		uint64_t now = c->now;
		pthread_mutex_unlock(&c->lock);
		clock_run_due(c, now);
	}
}

static gboolean clock_source_prepare(GSource *s, gint *timeout)
{
	struct clock *c = ((struct clock_source *)s)->clock;
	pthread_mutex_lock(&c->lock);
	struct timer *t = clock_next_locked(c);
	uint64_t deadline = t ? t->deadline : 0;
	c->wait_until = t ? deadline : UINT64_MAX;
	pthread_mutex_unlock(&c->lock);
	if (!t) {
		*timeout = -1;
		return FALSE;
	}
	uint64_t now = host_ns();
	if (deadline <= now) {
		*timeout = 0;
		return TRUE;
	}
	/* round up so that we never wake before the deadline and spin */
	uint64_t ms = (deadline - now + 999999) / 1000000;
	*timeout = ms > G_MAXINT ? G_MAXINT : (gint)ms;
	return FALSE;
}

static gboolean clock_source_check(GSource *s)
{
	gint timeout;
	return clock_source_prepare(s, &timeout);
}

static gboolean clock_source_dispatch(GSource *s, GSourceFunc cb, gpointer data)
{
	(void)cb;
	(void)data;
	struct clock *c = ((struct clock_source *)s)->clock;
	clock_run_due(c, host_ns());
	return G_SOURCE_CONTINUE;
}

static GSourceFuncs clock_source_funcs = {
	.prepare = clock_source_prepare,
	.check = clock_source_check,
	.dispatch = clock_source_dispatch,
};

void clock_attach(struct clock *c, void *gmain_context)
{
	g_assert(!c->virtual_time && !c->source);
	c->source = g_source_new(&clock_source_funcs, sizeof(struct clock_source));
	((struct clock_source *)c->source)->clock = c;
	c->context = gmain_context;
	g_source_attach(c->source, gmain_context);
}

struct timer *timer_new(struct clock *c, timer_cb cb, void *opaque)
{
	struct timer *t = g_new0(struct timer, 1);
	t->clock = c;
	t->cb = cb;
	t->opaque = opaque;
	pthread_mutex_lock(&c->lock);
	g_ptr_array_add(c->timers, t);
	pthread_mutex_unlock(&c->lock);
	return t;
}

void timer_free(struct timer *t)
{
	if (!t)
		return;
	struct clock *c = t->clock;
	pthread_mutex_lock(&c->lock);
	g_ptr_array_remove(c->timers, t);
	pthread_mutex_unlock(&c->lock);
	g_free(t);
}

void timer_mod(struct timer *t, uint64_t deadline)
{
	struct clock *c = t->clock;
	pthread_mutex_lock(&c->lock);
	t->deadline = deadline;
	t->armed = true;
	/* A vCPU thread may arm a timer earlier than the main loop's current wait: only then is
	 * the loop woken (a device re-arming a timer on every register access costs nothing). */
	bool wake = deadline < c->wait_until;
	if (wake)
		c->wait_until = deadline;
	pthread_mutex_unlock(&c->lock);
	if (wake && c->source)
		g_main_context_wakeup(c->context);
}

void timer_del(struct timer *t)
{
	pthread_mutex_lock(&t->clock->lock);
	t->armed = false;
	pthread_mutex_unlock(&t->clock->lock);
}

bool timer_pending(struct timer *t)
{
	pthread_mutex_lock(&t->clock->lock);
	bool armed = t->armed;
	pthread_mutex_unlock(&t->clock->lock);
	return armed;
}

uint64_t timer_deadline(struct timer *t)
{
	pthread_mutex_lock(&t->clock->lock);
	uint64_t d = t->deadline;
	pthread_mutex_unlock(&t->clock->lock);
	return d;
}
