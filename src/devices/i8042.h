/*
 * The i8042 keyboard controller with a PS/2 keyboard on its first port and a PS/2 mouse
 * (IntelliMouse wheel extension) on its auxiliary port, as in the IBM PS/2 Hardware Interface
 * Technical Reference. The machine maps i8042_data_ops at port 0x60 and i8042_cmd_ops at port
 * 0x64 (one byte each, opaque = the struct i8042, lock = its lock), and wires ctx->irq[0] to
 * IRQ 1 (keyboard) and ctx->irq[1] to IRQ 12 (mouse). ctx->hooks receives the reset line.
 */
#pragma once
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "devices/bus.h"
#include "devices/device.h"

/* A PS/2 device's output buffer as the controller sees it: bytes waiting to be clocked in. */
#define I8042_QUEUE_SIZE 64

struct ps2_queue {
	uint8_t data[I8042_QUEUE_SIZE];
	uint8_t head;
	uint8_t count;
};

struct i8042 {
	pthread_mutex_t lock;
	/* wiring, from the dev_ctx */
	struct irq_line irq_kbd;
	struct irq_line irq_aux;
	const struct machine_hooks *hooks;

	/* the controller */
	struct {
		uint8_t ram[32];   /* internal RAM; byte 0 is the command byte */
		uint8_t outport;   /* output port as last written (bits 4/5 are computed) */
		uint8_t obuf;      /* output buffer (port 0x60 read) */
		uint8_t obuf_src;  /* who filled it: controller, keyboard or aux (AUXB) */
		bool obf;          /* output buffer full */
		bool last_was_cmd; /* status bit 3: the last write went to port 0x64 */
		uint8_t pending;   /* controller command waiting for its data byte; 0 = none */
		uint8_t last_src;  /* the device that last filled the buffer (fair turns) */
	} ctl;

	/* the keyboard */
	struct {
		struct ps2_queue q;
		uint8_t pending; /* command waiting for its argument byte; 0 = none */
		bool scanning;
		bool xlat_break; /* translation: a set-2 break prefix (0xF0) was swallowed */
		uint8_t set;     /* scan code set the guest selected (1-3) */
		uint8_t leds;
		uint8_t typematic;
		uint8_t last_sent; /* for 0xFE resend */
	} kbd;

	/* the mouse */
	struct {
		struct ps2_queue q;
		uint8_t pending;
		bool enabled; /* data reporting */
		bool remote;  /* remote mode: packets only on 0xEB */
		bool scale21;
		uint8_t rate, res, id;
		uint8_t rate_hist[3]; /* last sample rates, newest last: the IntelliMouse knock */
		uint8_t buttons;      /* bit 0 left, 1 right, 2 middle */
		uint8_t sent_buttons; /* as in the last packet */
		uint8_t last_sent;
		int32_t dx, dy, dz; /* movement not yet reported, PS/2 sense (y up) */
	} aux;

	int irq_level[2]; /* derived: levels driven on irq_kbd, irq_aux; -1 = unknown */
};

extern const struct device_class i8042_class;
extern const struct bus_ops i8042_data_ops; /* port 0x60 */
extern const struct bus_ops i8042_cmd_ops;  /* port 0x64 */

/*
 * Key input from the console: BYTES are one key's scan code in set 2 (make or break, with
 * any 0xE0/0xF0 prefixes). The controller translates them to set 1 when the command byte
 * asks for it. Dropped while the keyboard is not scanning or its buffer is full.
 */
void i8042_kbd_put_scancode(struct i8042 *s, const uint8_t *bytes, size_t n);

/*
 * Mouse input from the console: DX right, DY down (screen sense), DZ wheel clicks toward the
 * user (scroll down), BUTTONS bit 0 left, bit 1 right, bit 2 middle. Movement is accumulated
 * and streamed as 3-byte packets, or 4-byte ones once the guest has enabled the wheel.
 */
void i8042_mouse_event(struct i8042 *s, int dx, int dy, int dz, unsigned buttons);
