/*
 * What the i8042 controller (i8042.c) and the PS/2 keyboard and mouse behind it (ps2.c) share.
 * Not for the machine or the console: they use i8042.h.
 */
#pragma once
#include <stdbool.h>
#include <stdint.h>

#include "devices/i8042.h"

/* Command byte, controller RAM byte 0 */
#define CB_KBD_INT 0x01
#define CB_AUX_INT 0x02
#define CB_SYS 0x04
#define CB_KBD_DIS 0x10
#define CB_AUX_DIS 0x20
#define CB_XLAT 0x40

#define MOUSE_ACC_MAX (1 << 20) /* bound on unreported movement */

/* ---- byte queues ---- */

static inline unsigned q_room(const struct ps2_queue *q)
{
	return I8042_QUEUE_SIZE - q->count;
}

static inline bool q_push(struct ps2_queue *q, uint8_t b)
{
	if (!q_room(q))
		return false;
	q->data[(q->head + q->count) % I8042_QUEUE_SIZE] = b;
	q->count++;
	return true;
}

/* Puts B back at the head; a full queue loses its newest byte instead. */
static inline void q_push_front(struct ps2_queue *q, uint8_t b)
{
	if (!q_room(q))
		q->count--;
	q->head = (q->head + I8042_QUEUE_SIZE - 1) % I8042_QUEUE_SIZE;
	q->data[q->head] = b;
	q->count++;
}

static inline uint8_t q_pop(struct ps2_queue *q)
{
	uint8_t b = q->data[q->head];
	q->head = (q->head + 1) % I8042_QUEUE_SIZE;
	q->count--;
	return b;
}

static inline void q_clear(struct ps2_queue *q)
{
	q->head = 0;
	q->count = 0;
}

/* i8042.c */
void i8042_refill(struct i8042 *s);
bool i8042_translate(struct i8042 *s, uint8_t *b);

/* ps2.c */
struct ps2_dev;
extern const struct ps2_dev kbd_dev;
extern const struct ps2_dev mouse_dev;
void ps2_write(struct i8042 *s, const struct ps2_dev *d, uint8_t *pending, uint8_t v);
bool ps2_pending_ok(const struct ps2_dev *d, uint8_t pending);
void kbd_defaults(struct i8042 *s);
void mouse_defaults(struct i8042 *s);
void mouse_flush(struct i8042 *s);
