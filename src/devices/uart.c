/*
 * National/TI PC16550D UART ("PC16550D Universal Asynchronous Receiver/Transmitter with
 * FIFOs" datasheet; section names below are that document's), as COM1 of a PC.
 *
 * Transmission is instantaneous: a byte written to THR goes to the chardev (or, in loopback,
 * into the receiver) at once, so THR and the transmitter shift register are always empty and
 * the transmitter FIFO always so. Reception is whatever the host delivers through
 * uart_receive, which never overruns: it takes only what fits.
 */
#include "devices/uart.h"

#include <glib.h>

#include "chardev.h"
#include "log.h"

#define UART_NREGS 8

#define IER_ERBFI 0x01 /* received data available (and character timeout) */
#define IER_ETBEI 0x02 /* transmitter holding register empty */
#define IER_ELSI 0x04  /* receiver line status */
#define IER_EDSSI 0x08 /* modem status */
#define IER_MASK 0x0F

#define IIR_NONE 0x01
#define IIR_MSR 0x00
#define IIR_THRE 0x02
#define IIR_RDA 0x04
#define IIR_RLS 0x06
#define IIR_CTI 0x0C
#define IIR_FIFOS 0xC0 /* bits 6-7: FCR0 is set */

#define FCR_ENABLE 0x01
#define FCR_RX_RESET 0x02
#define FCR_TX_RESET 0x04
#define FCR_DMA 0x08
#define FCR_TRIGGER 0xC0
#define FCR_STORED (FCR_ENABLE | FCR_DMA | FCR_TRIGGER)

#define LCR_BREAK 0x40
#define LCR_DLAB 0x80

#define MCR_DTR 0x01
#define MCR_RTS 0x02
#define MCR_OUT1 0x04
#define MCR_OUT2 0x08
#define MCR_LOOP 0x10
#define MCR_MASK 0x1F

#define LSR_DR 0x01
#define LSR_OE 0x02
#define LSR_PE 0x04
#define LSR_FE 0x08
#define LSR_BI 0x10
#define LSR_THRE 0x20
#define LSR_TEMT 0x40
#define LSR_ERRORS (LSR_OE | LSR_PE | LSR_FE | LSR_BI)

#define MSR_DCTS 0x01
#define MSR_DDSR 0x02
#define MSR_TERI 0x04
#define MSR_DDCD 0x08
#define MSR_DELTAS 0x0F
#define MSR_CTS 0x10
#define MSR_DSR 0x20
#define MSR_RI 0x40
#define MSR_DCD 0x80

/* ---- receiver ---- */

static bool uart_fifo_on(const struct uart *u)
{
	return u->fcr & FCR_ENABLE;
}

/* Without FIFOs ("16450 mode") the receiver holds one byte, in RBR. */
static unsigned uart_rx_capacity(const struct uart *u)
{
	return uart_fifo_on(u) ? UART_FIFO_SIZE : 1;
}

/* FCR bits 6-7: "RCVR FIFO Trigger Level". */
static unsigned uart_rx_trigger(const struct uart *u)
{
	static const uint8_t levels[4] = { 1, 4, 8, 14 };
	return uart_fifo_on(u) ? levels[u->fcr >> 6] : 1;
}

static void uart_rx_clear(struct uart *u)
{
	u->rx_head = 0;
	u->rx_count = 0;
}

/* A byte at the receiver. When there is no room, OE is set ("LSR bit 1"): with FIFOs the new
 * byte is lost and the FIFO kept; without, it overwrites the unread RBR. */
static void uart_rx_push(struct uart *u, uint8_t byte)
{
	if (u->rx_count < uart_rx_capacity(u)) {
		u->rx_fifo[(u->rx_head + u->rx_count) % UART_FIFO_SIZE] = byte;
		u->rx_count++;
		return;
	}
	u->lsr |= LSR_OE;
	if (!uart_fifo_on(u))
		u->rx_fifo[u->rx_head] = byte;
}

/* ---- interrupts ---- */

/*
 * IIR, highest priority first (Table IV, "Interrupt Control Functions"): line status, received
 * data or character timeout, THR empty, modem status.
 *
 * Character timeout: the chip reports bytes below the trigger level after four character times
 * without FIFO activity. Host input arrives in bursts at no baud rate, and after a burst more
 * may not come for seconds, so the wait would only add latency: the timeout is reported at once
 * whenever data sits below the trigger level. Drivers treat 0x0C as 0x04 (read while LSR.DR),
 * so the guest gets the same bytes, only sooner, and no timer is needed.
 */
static uint8_t uart_iir_id(const struct uart *u)
{
	if ((u->ier & IER_ELSI) && (u->lsr & LSR_ERRORS))
		return IIR_RLS;
	if ((u->ier & IER_ERBFI) && u->rx_count)
		return u->rx_count >= uart_rx_trigger(u) ? IIR_RDA : IIR_CTI;
	if ((u->ier & IER_ETBEI) && u->thr_ipending)
		return IIR_THRE;
	if ((u->ier & IER_EDSSI) && (u->msr & MSR_DELTAS))
		return IIR_MSR;
	return IIR_NONE;
}

/* On the PC the INTR pin reaches the PIC through a buffer that the OUT2 pin enables (IBM
 * Asynchronous Communications Adapter). Loopback forces OUT2 inactive ("MCR bit 4"), closing
 * the buffer too, though IIR still identifies the interrupt. */
static bool uart_irq_wanted(const struct uart *u)
{
	return uart_iir_id(u) != IIR_NONE && (u->mcr & (MCR_OUT2 | MCR_LOOP)) == MCR_OUT2;
}

static void uart_update_irq(struct uart *u)
{
	bool level = uart_irq_wanted(u);
	if (level != u->irq_level) {
		u->irq_level = level;
		irq_set_level(&u->irq, level);
	}
}

/* ---- modem status ---- */

/* The modem inputs. In loopback they are the MCR outputs, RTS->CTS, DTR->DSR, OUT1->RI and
 * OUT2->DCD ("MCR bit 4"); otherwise a host that is always there: CTS, DSR, DCD, no ring. */
static uint8_t uart_modem_inputs(const struct uart *u)
{
	if (!(u->mcr & MCR_LOOP))
		return MSR_CTS | MSR_DSR | MSR_DCD;
	return (u->mcr & MCR_RTS ? MSR_CTS : 0) | (u->mcr & MCR_DTR ? MSR_DSR : 0) |
	       (u->mcr & MCR_OUT1 ? MSR_RI : 0) | (u->mcr & MCR_OUT2 ? MSR_DCD : 0);
}

/* Delta bits record changes until MSR is read; TERI only a ring that ended. DCTS, DDSR and
 * DDCD sit four bits below their inputs. */
static void uart_update_msr(struct uart *u)
{
	uint8_t old = u->msr, now = uart_modem_inputs(u);
	uint8_t delta = ((old ^ now) & (MSR_CTS | MSR_DSR | MSR_DCD)) >> 4;
	if ((old & MSR_RI) && !(now & MSR_RI))
		delta |= MSR_TERI;
	u->msr = now | (old & MSR_DELTAS) | delta;
}

/* ---- registers ---- */

static uint8_t uart_read_rbr(struct uart *u)
{
	if (u->rx_count) {
		u->rbr = u->rx_fifo[u->rx_head];
		u->rx_head = (u->rx_head + 1) % UART_FIFO_SIZE;
		u->rx_count--;
	}
	return u->rbr;
}

static void uart_write_thr(struct uart *u, uint8_t v)
{
	/* writing THR clears the THRE interrupt: drop the line so that its return is an edge */
	u->thr_ipending = false;
	uart_update_irq(u);
	if (u->mcr & MCR_LOOP)
		uart_rx_push(u, v); /* "the transmitter shift register output is looped back" */
	else
		chardev_write(u->chr, &v, 1);
	u->thr_ipending = true; /* the byte is gone at once: THR is empty again */
}

static uint8_t uart_read_ier(struct uart *u)
{
	return u->ier;
}

static void uart_write_ier(struct uart *u, uint8_t v)
{
	uint8_t old = u->ier;
	u->ier = v & IER_MASK;
	/* enabling ETBEI while THR is empty raises THRE at once; Linux's 8250 driver probes for
	 * it (UART_BUG_THRE) by toggling ETBEI */
	if ((u->ier & IER_ETBEI) && !(old & IER_ETBEI))
		u->thr_ipending = true;
}

static uint8_t uart_read_iir(struct uart *u)
{
	uint8_t id = uart_iir_id(u);
	if (id == IIR_THRE)
		u->thr_ipending = false; /* Table IV: reset by "reading the IIR (if source)" */
	return id | (uart_fifo_on(u) ? IIR_FIFOS : 0);
}

static void uart_write_fcr(struct uart *u, uint8_t v)
{
	/* "FCR0 ... Resetting FCR0 will clear all bytes in both FIFOs", as does setting it */
	if ((v ^ u->fcr) & FCR_ENABLE)
		uart_rx_clear(u);
	if (!(v & FCR_ENABLE)) {
		u->fcr &= ~FCR_ENABLE; /* other bits "will not be programmed" without FCR0 */
		return;
	}
	if (v & FCR_RX_RESET)
		uart_rx_clear(u);
	/* FCR_TX_RESET: the transmitter FIFO is always empty here */
	u->fcr = v & FCR_STORED;
}

static uint8_t uart_read_lcr(struct uart *u)
{
	return u->lcr;
}

static void uart_write_lcr(struct uart *u, uint8_t v)
{
	if ((v & LCR_BREAK) && !(u->lcr & LCR_BREAK))
		log_once(LOG_DEBUG, "uart16550a: guest sends a break; the chardev cannot carry it");
	u->lcr = v;
}

static uint8_t uart_read_mcr(struct uart *u)
{
	return u->mcr;
}

static void uart_write_mcr(struct uart *u, uint8_t v)
{
	u->mcr = v & MCR_MASK; /* bits 5-7 "are permanently set to logic 0" */
	uart_update_msr(u);
}

static uint8_t uart_read_lsr(struct uart *u)
{
	uint8_t v = u->lsr | LSR_THRE | LSR_TEMT | (u->rx_count ? LSR_DR : 0);
	u->lsr &= ~LSR_ERRORS; /* OE, PE, FE and BI clear when LSR is read */
	return v;
}

static uint8_t uart_read_msr(struct uart *u)
{
	uint8_t v = u->msr;
	u->msr &= ~MSR_DELTAS;
	return v;
}

/* LSR and MSR writes are for factory test only ("Line Status Register"). */
static void uart_write_test(struct uart *u, uint8_t v)
{
	log_once(LOG_DEBUG, "uart16550a: guest wrote LSR/MSR (factory test); ignored");
}

static uint8_t uart_read_scr(struct uart *u)
{
	return u->scr;
}

static void uart_write_scr(struct uart *u, uint8_t v)
{
	u->scr = v;
}

static uint8_t uart_read_dll(struct uart *u)
{
	return u->dll;
}

static void uart_write_dll(struct uart *u, uint8_t v)
{
	u->dll = v;
}

static uint8_t uart_read_dlm(struct uart *u)
{
	return u->dlm;
}

static void uart_write_dlm(struct uart *u, uint8_t v)
{
	u->dlm = v;
}

struct uart_reg {
	uint8_t (*read)(struct uart *u);
	void (*write)(struct uart *u, uint8_t v);
};

/* Table II, "Register Addresses"; offsets 0 and 1 are the divisor latch while LCR DLAB is 1. */
static const struct uart_reg uart_regs[UART_NREGS] = {
	[0] = { uart_read_rbr, uart_write_thr },  [1] = { uart_read_ier, uart_write_ier },
	[2] = { uart_read_iir, uart_write_fcr },  [3] = { uart_read_lcr, uart_write_lcr },
	[4] = { uart_read_mcr, uart_write_mcr },  [5] = { uart_read_lsr, uart_write_test },
	[6] = { uart_read_msr, uart_write_test }, [7] = { uart_read_scr, uart_write_scr },
};

static const struct uart_reg uart_dlab_regs[2] = {
	{ uart_read_dll, uart_write_dll },
	{ uart_read_dlm, uart_write_dlm },
};

static const struct uart_reg *uart_reg(const struct uart *u, uint64_t off)
{
	if ((u->lcr & LCR_DLAB) && off < 2)
		return &uart_dlab_regs[off];
	return &uart_regs[off % UART_NREGS];
}

static uint64_t uart_port_read(void *opaque, uint64_t off, unsigned size)
{
	struct uart *u = opaque;
	uint8_t v = uart_reg(u, off)->read(u);
	uart_update_irq(u);
	return v;
}

static void uart_port_write(void *opaque, uint64_t off, uint64_t data, unsigned size)
{
	struct uart *u = opaque;
	uart_reg(u, off)->write(u, (uint8_t)data);
	uart_update_irq(u);
}

const struct bus_ops uart_ops = {
	.read = uart_port_read,
	.write = uart_port_write,
	.min_size = 1,
	.max_size = 1,
};

/* ---- host input ---- */

size_t uart_receive(void *opaque, const uint8_t *buf, size_t len)
{
	struct uart *u = opaque;
	size_t n = 0;
	pthread_mutex_lock(&u->lock);
	/* in loopback the receiver is cut off from SIN: the host offers its bytes again later */
	if (!(u->mcr & MCR_LOOP)) {
		unsigned cap = uart_rx_capacity(u);
		size_t room = u->rx_count < cap ? cap - u->rx_count : 0;
		n = MIN(len, room);
		for (size_t i = 0; i < n; i++)
			uart_rx_push(u, buf[i]);
		uart_update_irq(u);
	}
	pthread_mutex_unlock(&u->lock);
	return n;
}

/* ---- device class ---- */

/* Master reset ("UART Reset Configuration" table): IER, FCR, LCR, MCR and the LSR errors clear,
 * IIR reads 0x01, MSR shows the inputs without deltas, INTR falls. RBR, SCR and the divisor
 * latch are not in the table and keep their contents. */
static void uart_reset(void *dev)
{
	struct uart *u = dev;
	pthread_mutex_lock(&u->lock);
	u->ier = u->fcr = u->lcr = u->mcr = u->lsr = 0;
	uart_rx_clear(u);
	u->thr_ipending = false;
	u->msr = uart_modem_inputs(u);
	uart_update_irq(u);
	pthread_mutex_unlock(&u->lock);
}

static void *uart_create(const struct dev_ctx *ctx)
{
	struct uart *u = g_new0(struct uart, 1);
	/* recursive: reset() and uart_receive lock for themselves, and the machine may already
	 * hold the lock around reset */
	pthread_mutexattr_t attr;
	pthread_mutexattr_init(&attr);
	pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
	pthread_mutex_init(&u->lock, &attr);
	pthread_mutexattr_destroy(&attr);
	u->irq = ctx->irq[0];
	u->chr = ctx->chr;
	u->dll = 0x0C; /* 9600 baud from 1.8432 MHz; the power-on divisor is undefined */
	if (u->chr) {
		u->chr->frontend = u;
		u->chr->receive = uart_receive;
	}
	uart_reset(u);
	return u;
}

static void uart_destroy(void *dev)
{
	struct uart *u = dev;
	if (!u)
		return;
	if (u->chr && u->chr->frontend == u) {
		u->chr->receive = NULL;
		u->chr->frontend = NULL;
	}
	pthread_mutex_destroy(&u->lock);
	g_free(u);
}

static pthread_mutex_t *uart_lock(void *dev)
{
	return &((struct uart *)dev)->lock;
}

/* A receiver that cannot exist (the state_desc check hook: pure). The bits post_load drops do
 * not change the answer: FCR's FIFO enable is one it keeps. */
static int uart_state_check(const void *obj, char **error)
{
	const struct uart *u = obj;
	if (u->rx_head < UART_FIFO_SIZE && u->rx_count <= uart_rx_capacity(u))
		return 0;
	*error = g_strdup_printf("uart16550a: bad receiver state (head %u, %u bytes, FIFOs %s)",
				 u->rx_head, u->rx_count, uart_fifo_on(u) ? "on" : "off");
	return -1;
}

/* Drops bits no guest can set, refuses a receiver that cannot exist, and recomputes the modem
 * inputs and the IRQ level, which are not saved. */
static int uart_post_load(void *obj, char **error)
{
	struct uart *u = obj;
	int ret = 0;
	pthread_mutex_lock(&u->lock);
	u->ier &= IER_MASK;
	u->fcr &= FCR_STORED;
	u->mcr &= MCR_MASK;
	u->lsr &= LSR_ERRORS;
	if (uart_state_check(u, error) < 0) {
		uart_rx_clear(u);
		ret = -1;
	}
	u->msr = uart_modem_inputs(u) | (u->msr & MSR_DELTAS);
	u->irq_level = uart_irq_wanted(u);
	irq_set_level(&u->irq, u->irq_level);
	pthread_mutex_unlock(&u->lock);
	return ret;
}

static const struct state_field uart_fields[] = {
	STATE_U8(struct uart, rbr),	      STATE_U8(struct uart, ier),
	STATE_U8(struct uart, fcr),	      STATE_U8(struct uart, lcr),
	STATE_U8(struct uart, mcr),	      STATE_U8(struct uart, scr),
	STATE_U8(struct uart, dll),	      STATE_U8(struct uart, dlm),
	STATE_U8(struct uart, lsr),	      STATE_U8(struct uart, msr),
	STATE_U8_ARRAY(struct uart, rx_fifo), STATE_U8(struct uart, rx_head),
	STATE_U8(struct uart, rx_count),      STATE_BOOL(struct uart, thr_ipending),
};

static const struct state_desc uart_state =
	STATE_DESC("uart16550a", 1, struct uart, uart_fields, .post_load = uart_post_load,
		   .check = uart_state_check);

const struct device_class uart_class = {
	.name = "uart16550a",
	.state = &uart_state,
	.create = uart_create,
	.destroy = uart_destroy,
	.reset = uart_reset,
	.lock = uart_lock,
};
