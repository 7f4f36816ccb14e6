/*
 * Inside the LSI 53C895A: the device struct shared by the register file and PCI function
 * (lsi53c895a.c), the SCRIPTS processor (lsi_scripts.c) and the SCSI bus with its targets
 * (lsi_bus.c). Register offsets and bits are those of the LSI53C895A Technical Manual,
 * chapter 4 ("Registers"); instruction bits those of chapter 5 ("SCSI SCRIPTS Instruction
 * Set").
 */
#pragma once
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "devices/lsi53c895a.h"
#include "devices/scsi_disk.h"

/* ---- operating registers (chapter 4); the rest of 0x00-0xFF is reserved ---- */
enum {
	LSI_SCNTL0 = 0x00,
	LSI_SCNTL1 = 0x01,
	LSI_SCNTL2 = 0x02,
	LSI_SCNTL3 = 0x03,
	LSI_SCID = 0x04,
	LSI_SXFER = 0x05,
	LSI_SDID = 0x06,
	LSI_GPREG = 0x07,
	LSI_SFBR = 0x08,
	LSI_SOCL = 0x09,
	LSI_SSID = 0x0A,
	LSI_SBCL = 0x0B,
	LSI_DSTAT = 0x0C,
	LSI_SSTAT0 = 0x0D,
	LSI_SSTAT1 = 0x0E,
	LSI_SSTAT2 = 0x0F,
	LSI_DSA = 0x10,
	LSI_ISTAT = 0x14,
	LSI_ISTAT1 = 0x15,
	LSI_MBOX0 = 0x16,
	LSI_MBOX1 = 0x17,
	LSI_CTEST0 = 0x18,
	LSI_CTEST1 = 0x19,
	LSI_CTEST2 = 0x1A,
	LSI_CTEST3 = 0x1B,
	LSI_TEMP = 0x1C,
	LSI_DFIFO = 0x20,
	LSI_CTEST4 = 0x21,
	LSI_CTEST5 = 0x22,
	LSI_CTEST6 = 0x23,
	LSI_DBC = 0x24, /* 24 bits; DCMD is the fourth byte */
	LSI_DCMD = 0x27,
	LSI_DNAD = 0x28,
	LSI_DSP = 0x2C,
	LSI_DSPS = 0x30,
	LSI_SCRATCHA = 0x34,
	LSI_DMODE = 0x38,
	LSI_DIEN = 0x39,
	LSI_SBR = 0x3A,
	LSI_DCNTL = 0x3B,
	LSI_ADDER = 0x3C,
	LSI_SIEN0 = 0x40,
	LSI_SIEN1 = 0x41,
	LSI_SIST0 = 0x42,
	LSI_SIST1 = 0x43,
	LSI_SLPAR = 0x44,
	LSI_SWIDE = 0x45,
	LSI_MACNTL = 0x46,
	LSI_GPCNTL = 0x47,
	LSI_STIME0 = 0x48,
	LSI_STIME1 = 0x49,
	LSI_RESPID0 = 0x4A,
	LSI_RESPID1 = 0x4B,
	LSI_STEST0 = 0x4C,
	LSI_STEST1 = 0x4D,
	LSI_STEST2 = 0x4E,
	LSI_STEST3 = 0x4F,
	LSI_SIDL = 0x50,
	LSI_STEST4 = 0x52,
	LSI_SODL = 0x54,
	LSI_CCNTL0 = 0x56,
	LSI_CCNTL1 = 0x57,
	LSI_SBDL = 0x58,
	LSI_SCRATCHB = 0x5C,
	LSI_SCRATCHC = 0x60, /* SCRATCHC .. SCRATCHR: 0x60-0x9F */
	LSI_MMRS = 0xA0,     /* the 64-bit address selectors: bits 63:32 of ... */
	LSI_MMWS = 0xA4,
	LSI_SFS = 0xA8,
	LSI_DRS = 0xAC,
	LSI_SBMS = 0xB0,
	LSI_DBMS = 0xB4,
	LSI_DNAD64 = 0xB8,
	LSI_PMJAD1 = 0xC0, /* phase mismatch jump registers: kept, the jump is not modelled */
	LSI_CSBC = 0xDC,
};

#define LSI_SCNTL0_TRG 0x01 /* target mode */
#define LSI_SCNTL1_RST 0x08 /* assert SCSI RST/ */
#define LSI_SCNTL1_CON 0x10 /* connected */
#define LSI_SCNTL2_SDU 0x80 /* a disconnect now is unexpected */
#define LSI_SCID_ID 0x0F

#define LSI_SOCL_ATN 0x08
#define LSI_SBCL_REQ 0x80
#define LSI_SBCL_ACK 0x40
#define LSI_SBCL_BSY 0x20
#define LSI_SBCL_ATN 0x08

#define LSI_DSTAT_DFE 0x80 /* DMA FIFO empty: status only, always so here */
#define LSI_DSTAT_MDPE 0x40
#define LSI_DSTAT_BF 0x20
#define LSI_DSTAT_ABRT 0x10
#define LSI_DSTAT_SSI 0x08
#define LSI_DSTAT_SIR 0x04
#define LSI_DSTAT_IID 0x01
#define LSI_DSTAT_IRQS 0x7D

#define LSI_SSTAT0_WOA 0x04
#define LSI_SSTAT0_RST 0x02
#define LSI_SSTAT2_LDSC 0x02

#define LSI_ISTAT_ABRT 0x80
#define LSI_ISTAT_SRST 0x40
#define LSI_ISTAT_SIGP 0x20
#define LSI_ISTAT_SEM 0x10
#define LSI_ISTAT_CON 0x08
#define LSI_ISTAT_INTF 0x04
#define LSI_ISTAT_SIP 0x02
#define LSI_ISTAT_DIP 0x01
#define LSI_ISTAT1_SRUN 0x02
#define LSI_ISTAT1_SI 0x01 /* SYNC_IRQD: no new assertion of INTA/ */

#define LSI_CTEST2_SIGP 0x40
#define LSI_CTEST2_CIO 0x20
#define LSI_CTEST2_CM 0x10
#define LSI_CTEST2_SRTCH 0x08 /* SCRATCHB reads the SCRIPTS RAM base */
#define LSI_CTEST2_DACK 0x01

#define LSI_DMODE_MAN 0x01 /* manual start: a DSP write does not start SCRIPTS */
#define LSI_DCNTL_SSM 0x10
#define LSI_DCNTL_STD 0x04
#define LSI_DCNTL_IRQD 0x02

#define LSI_STIME1_GEN 0x0F
#define LSI_STIME1_GENSF 0x20 /* the general purpose timer's scale factor: 16 times longer */

#define LSI_CCNTL1_DDAC 0x08   /* no dual address cycles: 32-bit addresses only */
#define LSI_CCNTL1_XTIMOD 0x04 /* with EXTIBMV: 40-bit table indirect addresses */
#define LSI_CCNTL1_EXTIBMV 0x02
#define LSI_CCNTL1_EXDBMV 0x01 /* direct block moves have a third dword (DBMS) */

/* SIST0 (low byte) and SIST1 (high byte) as one 16-bit value */
#define LSI_SIST_PAR 0x0001
#define LSI_SIST_RST 0x0002
#define LSI_SIST_UDC 0x0004
#define LSI_SIST_SGE 0x0008
#define LSI_SIST_RSL 0x0010
#define LSI_SIST_SEL 0x0020
#define LSI_SIST_CMP 0x0040
#define LSI_SIST_MA 0x0080
#define LSI_SIST_HTH 0x0100
#define LSI_SIST_GEN 0x0200
#define LSI_SIST_STO 0x0400
#define LSI_SIST_SBMC 0x1000
#define LSI_SIST_BITS 0x17FF
/* 2.2.16.3: in initiator mode only these do not halt SCRIPTS (unless enabled) */
#define LSI_SIST_NONFATAL (LSI_SIST_CMP | LSI_SIST_SEL | LSI_SIST_RSL | LSI_SIST_GEN |          \
			   LSI_SIST_HTH | LSI_SIST_SBMC)

/* ---- SCSI bus phases (MSG, C/D, I/O) ---- */
enum {
	LSI_PHASE_DATA_OUT = 0,
	LSI_PHASE_DATA_IN = 1,
	LSI_PHASE_COMMAND = 2,
	LSI_PHASE_STATUS = 3,
	LSI_PHASE_MSG_OUT = 6,
	LSI_PHASE_MSG_IN = 7,
};

#define LSI_MSG_MAX 16
#define LSI_BUF_SIZE 0x10000 /* a command's data moves through here, 64 KiB at a time */
#define LSI_CHUNK_BLOCKS (LSI_BUF_SIZE / SCSI_DISK_BLOCK)

/* The bus as the chip sees it (struct lsi_conn.state). */
enum lsi_bus_state {
	LSI_BUS_FREE,
	LSI_BUS_CONNECTED, /* a target holds the bus */
	LSI_BUS_RELEASING, /* COMMAND COMPLETE sent: it lets go as the initiator moves on */
};

/* What the data phases of the command in progress move (struct lsi_conn.xfer). */
enum lsi_xfer {
	LSI_XFER_NONE,
	LSI_XFER_RESPONSE, /* DATA IN from buf (buf_len bytes) */
	LSI_XFER_READ,     /* DATA IN of the image's blocks, a chunk at a time through buf */
	LSI_XFER_WRITE,    /* DATA OUT into buf, written a chunk at a time */
	LSI_XFER_PARAMS,   /* DATA OUT of param_left bytes that are dropped */
	LSI_XFER_FLUSH,    /* no data: the image's cache is flushed before STATUS */
};

/* A block request of the connection in flight (struct lsi_conn.io). */
enum lsi_io { LSI_IO_NONE, LSI_IO_READ, LSI_IO_WRITE, LSI_IO_FLUSH };

/* Why a running SCRIPTS processor is not executing (struct lsi.wait). */
enum lsi_wait {
	LSI_WAIT_NONE,
	LSI_WAIT_TARGET,  /* for the target's REQ: data from the disk, a write's end, a flush */
	LSI_WAIT_RESEL,   /* WAIT RESELECT: until SIGP (no target ever reselects) */
	LSI_WAIT_DISC,    /* WAIT DISCONNECT while the target keeps the bus */
	LSI_WAIT_LATER,   /* its slice of instructions is used up: goes on from a timer */
	LSI_WAIT_COUNT,
};

/* The connection between the chip (initiator) and one target, and that target's side of it:
 * messages, the command and its data. Guest state, saved. */
struct lsi_conn {
	uint8_t state; /* enum lsi_bus_state */
	uint8_t target, lun;
	uint8_t phase;   /* the phase the target asserts */
	uint8_t resume;  /* where it goes after a message phase */
	bool have_cmd;   /* the command has been run (its CDB is complete) */
	uint8_t status;  /* the status byte to send */
	uint8_t msg_out[LSI_MSG_MAX];
	uint8_t msg_out_len;
	uint8_t msg_in[LSI_MSG_MAX];
	uint8_t msg_in_len, msg_in_pos;
	uint8_t cdb[SCSI_CDB_MAX];
	uint8_t cdb_len;
	uint8_t xfer; /* enum lsi_xfer */
	uint8_t io;   /* enum lsi_io */
	uint64_t lba;     /* READ/WRITE: the next chunk's first block */
	uint32_t blocks;  /* READ/WRITE: blocks not yet read into buf / written from it */
	uint32_t param_left;
	uint32_t buf_len, buf_pos;
	uint8_t buf[LSI_BUF_SIZE];
};

struct timer;
struct clock;

struct lsi {
	pthread_mutex_t lock; /* recursive, like the other devices' */
	struct pci_function pci;

	/* guest state (the state description lists these) */
	uint8_t regs[LSI_REGS_SIZE]; /* operating registers by offset; some are derived */
	uint8_t ram[LSI_RAM_SIZE];   /* SCRIPTS RAM */
	uint16_t sist_sip;  /* SIST bits that set SIP (fatal or enabled when posted) */
	uint8_t stk_dstat;  /* the second level of the interrupt stack (2.2.16.5) */
	uint16_t stk_sist, stk_sist_sip;
	bool running;  /* the SCRIPTS processor runs (ISTAT1 SRUN) */
	uint8_t wait;  /* enum lsi_wait while running */
	bool in_move;  /* a block move is under way: DBC, DNAD and DCMD say how far */
	bool move_first; /* ... and has not received a byte yet (the next one goes to SFBR) */
	bool carry;
	bool sel_timeout; /* the last SELECT timed out: STO at the next bus instruction */
	bool atn, ack;    /* the initiator's ATN/ and a held ACK/ */
	bool gen_running; /* the general purpose timer (STIME1 GEN) counts */
	struct lsi_conn conn;
	struct scsi_disk_state disk[LSI_MAX_TARGETS];

	/* not guest state */
	const struct guest_mem *mem;
	struct clock *clock;
	struct timer *run_timer; /* continues SCRIPTS after a slice */
	struct timer *io_timer;  /* reissues a loaded state's block request */
	struct timer *gen_timer; /* STIME1's general purpose timer */
	struct block_dev *bd[LSI_MAX_TARGETS];
	char serial[LSI_MAX_TARGETS][24];
	bool irq_out;    /* INTA/ as driven (for ISTAT1 SI) */
	bool in_run;     /* lsi_scripts_run is on the stack */
	unsigned slice_insns; /* what the current slice has done */
	uint64_t slice_bytes;
	uint64_t slice_gap_ns; /* before the next slice: grows while SCRIPTS only loop */
	unsigned io_gen; /* requests of an older generation are stale */
	uint8_t power_on_config[256];
};

/* ---- lsi53c895a.c: registers and interrupts ---- */
uint8_t lsi_reg_read(struct lsi *d, unsigned off);
void lsi_reg_write(struct lsi *d, unsigned off, uint8_t val);
uint32_t lsi_get32(const struct lsi *d, unsigned off);
void lsi_set32(struct lsi *d, unsigned off, uint32_t v);
/* A DMA interrupt (DSTAT bits): always fatal, halts SCRIPTS. */
void lsi_dma_irq(struct lsi *d, uint8_t dstat);
/* A SCSI interrupt (SIST0 | SIST1 << 8): halts SCRIPTS unless non-fatal and masked. */
void lsi_scsi_irq(struct lsi *d, uint16_t sist);
void lsi_update_irq(struct lsi *d);
/* Where the SCRIPTS RAM / register window BARs are mapped, or false. */
bool lsi_ram_at(const struct lsi *d, uint64_t *base);
bool lsi_regs_at(const struct lsi *d, uint64_t *base);

/* ---- lsi_scripts.c: the SCRIPTS processor ---- */
/* Starts executing at DSP (a DSP write, DCNTL STD). */
void lsi_scripts_start(struct lsi *d);
/* Runs while running and not waiting, up to a slice; safe to call from inside itself. */
void lsi_scripts_run(struct lsi *d);
/* Stops SCRIPTS (an interrupt halted them, a reset). */
void lsi_scripts_halt(struct lsi *d);
/* Something the processor may wait for happened (the target's REQ, SIGP): go on. */
void lsi_scripts_kick(struct lsi *d);
void lsi_scripts_timer(void *opaque);

/* ---- lsi_bus.c: the SCSI bus and the targets ---- */
/* Selects target ID: 0, or -1 (no such target: selection time-out). */
int lsi_bus_select(struct lsi *d, unsigned id);
/* The target lets go of a bus it holds only until the initiator moves on (LSI_BUS_RELEASING). */
void lsi_bus_settle(struct lsi *d);
bool lsi_bus_connected(const struct lsi *d);
/* The target asserts REQ: the current phase can move a byte now. */
bool lsi_bus_ready(const struct lsi *d);
/* Bytes of the current phase from the target (DATA IN, STATUS, MSG IN) / to it (DATA OUT,
 * COMMAND, MSG OUT): at most LEN, fewer when the target stops asking; the phase may change. */
uint32_t lsi_bus_in(struct lsi *d, uint8_t *data, uint32_t len);
uint32_t lsi_bus_out(struct lsi *d, const uint8_t *data, uint32_t len);
/* A block move ended in the phase it moved: a MSG OUT move drops ATN with its last byte, a
 * COMMAND move ends the CDB. */
void lsi_bus_move_end(struct lsi *d, unsigned phase);
/* The initiator raises or drops ATN, releases ACK. */
void lsi_bus_set_atn(struct lsi *d, bool on);
void lsi_bus_clear_ack(struct lsi *d);
/* SCSI RST/: every target resets (unit attention); the connection is gone. */
void lsi_bus_reset(struct lsi *d);
/* The chip lets go of the bus (its own reset): the connection is gone, targets unchanged. */
void lsi_bus_abandon(struct lsi *d);
/* Issues the block request a loaded state says was in flight. */
void lsi_bus_reissue(struct lsi *d);
/* The general purpose timer: STIME1 written (the register file's handler), stopped, (re)started
 * for its period, and its timer's callback (SIST1 GEN). */
void lsi_stime1_write(struct lsi *d, unsigned off, uint8_t val);
void lsi_gen_stop(struct lsi *d);
void lsi_gen_start(struct lsi *d);
void lsi_gen_expired(void *opaque);
/* Why a loaded connection cannot be right, or NULL. */
const char *lsi_bus_check(const struct lsi *d);
