/*
 * A 16550A UART (COM1 on the PC: 8 ports at 0x3F8, IRQ 4). Bytes the guest transmits go
 * straight to the chardev, so the transmitter is always empty again at once; host input comes
 * in through uart_receive into the 16-byte receiver FIFO.
 */
#pragma once
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "devices/bus.h"
#include "devices/device.h"

#define UART_FIFO_SIZE 16

struct uart {
	pthread_mutex_t lock;
	struct irq_line irq;
	struct chardev *chr; /* may be NULL: output is dropped */

	/* Guest-visible state (saved) */
	uint8_t rbr; /* last byte taken from the receiver, read again when it is empty */
	uint8_t ier, fcr, lcr, mcr, scr, dll, dlm;
	uint8_t lsr; /* only the error bits (OE, PE, FE, BI); the rest is computed */
	uint8_t msr;
	uint8_t rx_fifo[UART_FIFO_SIZE];
	uint8_t rx_head, rx_count;
	bool thr_ipending; /* the THR-empty interrupt, until IIR reports it or THR is written */

	bool irq_level; /* derived */
};

extern const struct device_class uart_class;
/* Eight ports: RBR/THR/DLL, IER/DLM, IIR/FCR, LCR, MCR, LSR, MSR, SCR. */
extern const struct bus_ops uart_ops;

/* Host input (the chardev's receive hook; create() installs it when given a chardev). Takes
 * the device lock; returns how many bytes fit in the receiver, 0 in loopback mode. */
size_t uart_receive(void *uart, const uint8_t *buf, size_t len);
