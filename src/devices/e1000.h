/*
 * Intel 82540EM Gigabit Ethernet controller ("e1000", PCI 8086:100E), as the 8254x Software
 * Developer's Manual describes it: BAR0 128 KiB of registers, BAR1 64 bytes of I/O space
 * (IOADDR/IODATA), a 93C46 Microwire EEPROM (64 words), the integrated M88E1011-like PHY over
 * MDIC, legacy receive descriptors, legacy and context/data transmit descriptors with checksum
 * offload and TCP segmentation, interrupt mitigation, statistics.
 *
 * The machine creates it from the registry with ctx->mem, ctx->clock, ctx->net (the port to
 * the network, may be NULL: frames sent go nowhere) and ctx->mac, attaches e1000_pci() to a
 * PCI slot, may give it an option ROM (pci_function_set_rom), and says whether the cable is
 * plugged in with e1000_set_link() (plugged in after create).
 *
 * Threads: the guest's register accesses (vCPU threads, the bus holds the device lock) run the
 * transmit ring on a TDT write; frames from the network arrive through the port's nic op on
 * the main loop; the mitigation timers fire on the main loop. All take .lock.
 *
 * The MAC recognizes the PHY's link only once software sets CTRL.SLU (SDM 8.6.2.1), as every
 * driver for this part does. Not modelled: EEPROM writes (a write-protected part), loopback
 * modes, flow control frames, wake-up and its filters, the packet buffer memory, TXD_LOW, and
 * receive FIFO overruns (RXO, MPC): frames the ring cannot take wait in the port instead.
 * Guest DMA (rings and buffers outside RAM, impossible ring pointers) is refused, counted
 * (e1000_dma_errors) and logged once per kind; receive buffers outside RAM come back with RXE.
 */
#pragma once
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "devices/device.h"
#include "devices/pci.h"
#include "net/net.h"

#define E1000_VENDOR 0x8086
#define E1000_DEVICE 0x100E
#define E1000_SUBSYS_VENDOR 0x8086
#define E1000_SUBSYS_ID 0x001E /* PRO/1000 MT Desktop */
#define E1000_MMIO_SIZE 0x20000
#define E1000_IO_SIZE 0x40
#define E1000_EEPROM_WORDS 64
/* Registers below 0x6000 are kept (the packet buffer memory at 0x10000 is not modelled) */
#define E1000_NREGS (0x6000 / 4)
#define E1000_PHY_REGS 32
/* iPXE's 82540 ROM as Debian's ipxe-qemu ships it: the machine offers it when present. */
#define E1000_IPXE_ROM "/usr/lib/ipxe/qemu/pxe-e1000.rom"

/* Descriptors of one packet the transmitter takes in at most; a longer chain is dropped. */
#define E1000_TX_MAX_DESC 256
#define E1000_TX_MAX_IOV 64

struct timer;
struct e1000_txd;

/* One delayed interrupt cause: a packet timer that every event restarts and an absolute timer
 * that the first one starts (RDTR/RADV for RXT0, TIDV/TADV for TXDW). */
struct e1000_delay {
	struct timer *packet, *absolute;
	uint64_t deadline; /* where the packet timer is due: it follows lazily */
};

struct e1000 {
	pthread_mutex_t lock; /* recursive, like the other devices' */
	struct pci_function pci;

	/* guest state (the state description lists these) */
	uint32_t regs[E1000_NREGS]; /* the register file by offset / 4 */
	uint16_t eeprom[E1000_EEPROM_WORDS];
	uint16_t phy[E1000_PHY_REGS]; /* writable PHY registers; the status ones are derived */
	uint8_t tx_ctx[16];           /* the last context descriptor, as the guest wrote it */
	uint32_t ioaddr;              /* BAR1 IOADDR */
	/* EECD Microwire bit-banging: bits clocked in since the start bit, and a read's
	 * position (data bits clocked out, the dummy 0 bit included) */
	uint32_t ee_in;
	uint32_t ee_pos;
	uint8_t ee_nbits;
	bool ee_reading;
	/* a delayed RXT0 / TXDW is pending (the timers are re-armed on load) */
	bool rx_delayed;
	bool tx_delayed;

	/* not guest state */
	const struct guest_mem *mem;
	struct clock *clock;
	struct net_port *net;
	uint8_t mac[6];
	bool link_up; /* the cable, as the machine says */
	bool rx_blocked; /* a frame was refused: the next RDT write has the port offer it again */
	uint8_t power_on_config[256];
	struct timer *itr_timer;
	struct e1000_delay rx_delay, tx_delay;
	uint64_t itr_next; /* earliest time the next interrupt may be asserted */
	uint64_t dma_errors;
	struct e1000_txd *txq; /* one packet's descriptors, E1000_TX_MAX_DESC */
	struct iovec tx_iov[E1000_TX_MAX_IOV];
	uint8_t tso_hdr[256];
	uint8_t tx_buf[NET_MAX_FRAME];
	uint8_t rx_buf[NET_MAX_FRAME + 64];
};

extern const struct device_class e1000_class;
extern const struct bus_ops e1000_mmio_ops; /* BAR0, opaque: struct e1000 */
extern const struct bus_ops e1000_io_ops;   /* BAR1 */
extern const struct net_nic_ops e1000_nic_ops;

struct pci_function *e1000_pci(struct e1000 *dev);
/* The cable: plugging it in or out changes STATUS.LU and raises LSC. Takes the lock. */
void e1000_set_link(struct e1000 *dev, bool up);
/* Guest DMA errors seen (descriptors or buffers outside guest RAM): for tests and logs. */
uint64_t e1000_dma_errors(struct e1000 *dev);
