/*
 * What a display backend (the VNC server, PNG screenshots) sees of the machine's screen and
 * how it sends input back. The machine adapts its graphics adapter to this interface, so the
 * backends know nothing of VGA, and tests can feed them a fake screen.
 *
 * Threading: refresh() renders what changed since the previous call into the surface it
 * returns (valid until the next call); it runs on the VNC server's thread or a screenshot's,
 * one call at a time (the server serializes them), so the machine's side must lock what it
 * shares with vCPU threads and the main loop. key() and pointer() run on the main thread.
 */
#pragma once
#include <stdbool.h>
#include <stdint.h>

#define DISPLAY_MAX_RECTS 32

struct display_surface {
	const uint32_t *pixels; /* XRGB8888, host byte order: 0x00RRGGBB */
	unsigned width, height;
	unsigned stride; /* in pixels */
};

struct display_rect {
	unsigned x, y, w, h;
};

struct display_update {
	bool resized;	   /* the size changed: everything is new */
	unsigned nrects;   /* changed areas; more than DISPLAY_MAX_RECTS is reported as one */
	struct display_rect rects[DISPLAY_MAX_RECTS];
};

/* Mouse buttons, as VNC numbers them (bit 0 left, 1 middle, 2 right, 3/4 wheel up/down). */
enum { DISPLAY_BUTTON_LEFT = 1, DISPLAY_BUTTON_MIDDLE = 2, DISPLAY_BUTTON_RIGHT = 4 };

struct display_ops {
	const struct display_surface *(*refresh)(void *opaque, struct display_update *update);
	/* A key by its "qnum": the PC/XT scan code set 1 value with 0x80 added for E0-prefixed
	 * keys (0xE0 0x48 is 0xC8), as QEMU's extended key event and keycodemapdb number them. */
	void (*key)(void *opaque, unsigned qnum, bool down);
	/* Relative motion in pixels (dx right, dy down), wheel steps (dz > 0: down), buttons. */
	void (*pointer)(void *opaque, int dx, int dy, int dz, unsigned buttons);
	void *opaque;
};
