/* Where a serial port's bytes go and come from: stdio, a file, nothing, or a test buffer. */
#pragma once
#include <stddef.h>
#include <stdint.h>

struct chardev {
	/* Guest output. Must not block for long: a vCPU thread calls it. */
	void (*write)(struct chardev *chr, const uint8_t *buf, size_t len);
	/* Set by the frontend (the UART): host input is delivered here on the main thread.
	 * Returns how many bytes it took; the rest is offered again later. */
	size_t (*receive)(void *frontend, const uint8_t *buf, size_t len);
	void *frontend;
};

static inline void chardev_write(struct chardev *chr, const uint8_t *buf, size_t len)
{
	if (chr && chr->write)
		chr->write(chr, buf, len);
}

/* Backends (src/chardev.c). SPEC is "stdio", "none" or a file path (appended to). */
struct chardev *chardev_open(const char *spec, char **error);
void chardev_close(struct chardev *chr);
