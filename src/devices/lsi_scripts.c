/*
 * The SCSI SCRIPTS processor of the LSI53C895A (Technical Manual chapter 5): it fetches
 * instructions at DSP from guest memory (or its SCRIPTS RAM, or its own registers through the
 * memory BAR, as the chip reaches them over PCI), and runs block moves, I/O, read/write
 * register, transfer control, memory move and load/store instructions until an interrupt
 * halts it or it waits for the target. It runs a slice of instructions at a time: the rest
 * goes on from a timer, so that a guest's endless SCRIPTS loop holds no thread.
 */
#include <glib.h>
#include <string.h>

#include "clock.h"
#include "devices/lsi_internal.h"
#include "guest_mem.h"
#include "log.h"

#define LSI_SLICE_INSNS 10000
#define LSI_SLICE_SPIN_INSNS 1000 /* once the gap is at its longest */
#define LSI_SLICE_BYTES (1u << 20)
/* Between slices of instructions: 50 us, doubling up to 10 ms while SCRIPTS do nothing but use
 * up slices (a program polling memory), so that a spinning guest program costs the host little
 * and a busy one is not held back for long. */
#define LSI_SLICE_GAP_NS 50000ull
#define LSI_SLICE_GAP_MAX_NS 10000000ull
#define LSI_MOVE_CHUNK 4096

/* Instruction bits (chapter 5) */
#define BM_INDIRECT (1u << 29)
#define BM_TABLE (1u << 28)
#define IO_RELATIVE (1u << 26)
#define IO_TABLE (1u << 25)
#define IO_SEL_ATN (1u << 24)
#define IO_CARRY (1u << 10)
#define IO_TARGET (1u << 9)
#define IO_ACK (1u << 6)
#define IO_ATN (1u << 3)
#define RW_USE_SFBR (1u << 23)
#define TC_RELATIVE (1u << 23)
#define TC_RESERVED (1u << 22)
#define TC_CARRY (1u << 21)
#define TC_INTFLY (1u << 20)
#define TC_IF_TRUE (1u << 19)
#define TC_DATA (1u << 18)
#define TC_PHASE (1u << 17)
#define TC_WAIT (1u << 16)
#define MM_RESERVED 0x1E000000u
#define LS_RESERVED 0x0C000000u
#define LS_DSA_REL (1u << 28)
#define LS_LOAD (1u << 24)

static int32_t sext24(uint32_t v)
{
	return (int32_t)(v << 8) >> 8;
}

static void lsi_illegal(struct lsi *d, const char *why)
{
	log_once(LOG_DEBUG, "lsi53c895a: illegal SCRIPTS instruction (%s)", why);
	lsi_dma_irq(d, LSI_DSTAT_IID);
}

/* ---- memory as the chip reaches it ---- */

/* Bits 63:32 of an address from selector register SEL, unless dual address cycles are off. */
static uint64_t lsi_high(const struct lsi *d, unsigned sel)
{
	if (d->regs[LSI_CCNTL1] & LSI_CCNTL1_DDAC)
		return 0;
	return (uint64_t)lsi_get32(d, sel) << 32;
}

static bool lsi_in_window(bool mapped, uint64_t base, uint32_t size, uint64_t addr, uint32_t len)
{
	return mapped && addr >= base && addr - base <= size - len && len <= size;
}

static bool lsi_is_regs(const struct lsi *d, uint64_t addr, uint32_t len, uint64_t *off)
{
	uint64_t base;
	bool mapped = lsi_regs_at(d, &base);
	*off = addr - base;
	return lsi_in_window(mapped, base, LSI_MMIO_SIZE, addr, len);
}

/*
 * LEN bytes at ADDR to (WRITE) or from BUF: the SCRIPTS RAM and the register window are the
 * chip's own; the rest must be guest RAM reached as a bus master. False: a bus fault.
 */
static bool lsi_mem_rw(struct lsi *d, uint64_t addr, void *buf, uint32_t len, bool write)
{
	uint64_t base, off;
	uint8_t *p = buf;
	bool mapped = lsi_ram_at(d, &base);
	if (lsi_in_window(mapped, base, LSI_RAM_SIZE, addr, len)) {
		if (write)
			memcpy(&d->ram[addr - base], buf, len);
		else
			memcpy(buf, &d->ram[addr - base], len);
		return true;
	}
	if (lsi_is_regs(d, addr, len, &off)) {
		for (uint32_t i = 0; i < len; i++, off++) {
			if (write && off < LSI_REGS_SIZE)
				lsi_reg_write(d, off, p[i]);
			else if (!write)
				p[i] = off < LSI_REGS_SIZE ? lsi_reg_read(d, off) : 0;
		}
		return true;
	}
	if (!d->mem || !(pci_config_get16(&d->pci, PCI_COMMAND) & PCI_COMMAND_MASTER))
		return false;
	if (write)
		return guest_mem_write(d->mem, addr, buf, len) == 0;
	return guest_mem_read(d->mem, addr, buf, len) == 0;
}

static bool lsi_read_dword(struct lsi *d, uint64_t addr, uint32_t *v)
{
	uint8_t b[4];
	if (!lsi_mem_rw(d, addr, b, 4, false))
		return false;
	*v = b[0] | b[1] << 8 | b[2] << 16 | (uint32_t)b[3] << 24;
	return true;
}

static void lsi_bus_fault(struct lsi *d)
{
	log_once(LOG_DEBUG, "lsi53c895a: SCRIPTS reached an address outside guest RAM");
	lsi_dma_irq(d, LSI_DSTAT_BF);
}

/* The next dword of the program; DSP moves past it. */
static bool lsi_fetch(struct lsi *d, uint32_t *v)
{
	uint32_t dsp = lsi_get32(d, LSI_DSP);
	if (!lsi_read_dword(d, lsi_high(d, LSI_SFS) | dsp, v)) {
		lsi_bus_fault(d);
		return false;
	}
	lsi_set32(d, LSI_DSP, dsp + 4);
	return true;
}

/* DSA plus a signed 24-bit offset: table indirect entries, DSA-relative loads and stores. */
static uint64_t lsi_dsa_rel(struct lsi *d, uint32_t off)
{
	uint32_t a = lsi_get32(d, LSI_DSA) + sext24(off);
	lsi_set32(d, LSI_ADDER, a);
	return lsi_high(d, LSI_DRS) | a;
}

static uint32_t lsi_rel_target(struct lsi *d, uint32_t off)
{
	uint32_t a = lsi_get32(d, LSI_DSP) + sext24(off);
	lsi_set32(d, LSI_ADDER, a);
	return a;
}

/* ---- slices ---- */

/* The slice is used up: instructions (fewer for a program that has spun for a while) or data. */
static bool lsi_slice_over(const struct lsi *d)
{
	unsigned insns = d->slice_gap_ns >= LSI_SLICE_GAP_MAX_NS ? LSI_SLICE_SPIN_INSNS
								 : LSI_SLICE_INSNS;
	return d->slice_insns >= insns || d->slice_bytes >= LSI_SLICE_BYTES;
}

/* The slice is used up: the rest goes on from the main loop, at once after a slice of data
 * (moves are bounded work), after a growing gap after a slice of instructions. */
static void lsi_defer(struct lsi *d)
{
	bool data = d->slice_bytes >= LSI_SLICE_BYTES;
	d->wait = LSI_WAIT_LATER;
	if (data)
		d->slice_gap_ns = 0;
	else
		d->slice_gap_ns = MIN(MAX(d->slice_gap_ns * 2, LSI_SLICE_GAP_NS),
				      LSI_SLICE_GAP_MAX_NS);
	if (d->clock)
		timer_mod(d->run_timer, clock_ns(d->clock) + d->slice_gap_ns);
}

/* A selection that timed out shows at the next instruction that needs the bus (the chip
 * selects while SCRIPTS go on): STO then, with DSP past that instruction. */
static bool lsi_sel_timed_out(struct lsi *d)
{
	if (!d->sel_timeout)
		return false;
	d->sel_timeout = false;
	lsi_scsi_irq(d, LSI_SIST_STO);
	return true;
}

/* ---- block move ---- */

/* DFIFO and CTEST5 count what the move left (DBC), as drivers check for bytes still in the
 * DMA FIFO: with nothing in it, the difference is 0. */
static void lsi_move_stop(struct lsi *d)
{
	uint32_t dbc = lsi_get32(d, LSI_DBC) & 0xFFFFFF;
	d->in_move = false;
	d->regs[LSI_DFIFO] = dbc;
	d->regs[LSI_CTEST5] = (d->regs[LSI_CTEST5] & 0xFC) | ((dbc >> 8) & 3);
}

static void lsi_insn_done(struct lsi *d)
{
	if (d->running && !d->wait && !d->in_move && (d->regs[LSI_DCNTL] & LSI_DCNTL_SSM))
		lsi_dma_irq(d, LSI_DSTAT_SSI);
}

/* One piece of the move: from the target into memory or from memory to it. */
static bool lsi_move_piece(struct lsi *d, bool in, uint32_t left)
{
	uint8_t tmp[LSI_MOVE_CHUNK];
	uint32_t n = left < sizeof(tmp) ? left : sizeof(tmp);
	uint64_t addr = (uint64_t)lsi_get32(d, LSI_DNAD64) << 32 | lsi_get32(d, LSI_DNAD);
	if (in) {
		n = lsi_bus_in(d, tmp, n);
		if (n && d->move_first)
			d->regs[LSI_SFBR] = tmp[0];
		if (n) {
			d->move_first = false;
			d->regs[LSI_SIDL] = tmp[n - 1];
		}
		if (n && !lsi_mem_rw(d, addr, tmp, n, true))
			return false;
	} else {
		if (!lsi_mem_rw(d, addr, tmp, n, false))
			return false;
		n = lsi_bus_out(d, tmp, n);
	}
	lsi_set32(d, LSI_DNAD, lsi_get32(d, LSI_DNAD) + n);
	lsi_set32(d, LSI_DBC, (lsi_get32(d, LSI_DBC) & 0xFF000000) | (left - n));
	d->slice_bytes += n;
	return true;
}

/* Moves until DBC is 0, the target stops asking (wait), changes phase (MA) or lets go (UDC). */
static void lsi_move_run(struct lsi *d)
{
	unsigned phase = d->regs[LSI_DCMD] & 7;
	bool in = phase & 1; /* I/O asserted: DATA IN, STATUS, MSG IN */
	while (d->in_move && d->running) {
		uint32_t left = lsi_get32(d, LSI_DBC) & 0xFFFFFF;
		if (!left) {
			lsi_move_stop(d);
			lsi_bus_move_end(d, phase);
			d->ack = phase == LSI_PHASE_MSG_IN; /* held for the driver to decide */
			lsi_insn_done(d);
			return;
		}
		if (!lsi_bus_connected(d)) {
			lsi_move_stop(d);
			lsi_scsi_irq(d, LSI_SIST_UDC);
			return;
		}
		if (!lsi_bus_ready(d)) {
			d->wait = LSI_WAIT_TARGET;
			return;
		}
		if (d->conn.phase != phase) {
			lsi_move_stop(d);
			lsi_scsi_irq(d, LSI_SIST_MA);
			return;
		}
		if (lsi_slice_over(d)) {
			lsi_defer(d);
			return;
		}
		d->slice_insns++; /* each piece counts: whatever happens, a slice ends */
		if (!lsi_move_piece(d, in, left)) {
			lsi_move_stop(d);
			lsi_bus_fault(d);
			return;
		}
	}
}

/* Bits 63:32 of a table indirect move's address (CCNTL1): the entry's top byte in 40-bit
 * mode, else the scratch or selector register that byte names. */
static bool lsi_table_high(struct lsi *d, uint32_t count_word, uint64_t *high)
{
	uint8_t ctl = d->regs[LSI_CCNTL1], sel = count_word >> 24;
	*high = 0;
	if ((ctl & LSI_CCNTL1_DDAC) || !(ctl & LSI_CCNTL1_EXTIBMV))
		return true;
	if (ctl & LSI_CCNTL1_XTIMOD) {
		*high = (uint64_t)sel << 32;
		return true;
	}
	if (sel > 0x15)
		return false;
	unsigned reg = sel < 0x10 ? LSI_SCRATCHC + 4 * sel : LSI_MMRS + 4 * (sel - 0x10);
	*high = (uint64_t)lsi_get32(d, reg) << 32;
	return true;
}

/* The count and address of a block move by its addressing mode; false after an interrupt. */
static bool lsi_move_operands(struct lsi *d, uint32_t insn, uint32_t arg, uint32_t *count,
			      uint64_t *addr)
{
	uint32_t v, e[2];
	*count = insn & 0xFFFFFF;
	if ((insn & BM_INDIRECT) && (insn & BM_TABLE)) {
		lsi_illegal(d, "indirect and table indirect move");
		return false;
	}
	if (insn & BM_TABLE) {
		uint64_t entry = lsi_dsa_rel(d, arg), high;
		if (!lsi_read_dword(d, entry, &e[0]) || !lsi_read_dword(d, entry + 4, &e[1])) {
			lsi_bus_fault(d);
			return false;
		}
		if (!lsi_table_high(d, e[0], &high)) {
			lsi_illegal(d, "table entry selector");
			return false;
		}
		*count = e[0] & 0xFFFFFF;
		*addr = high | e[1];
		return true;
	}
	uint64_t high = lsi_high(d, LSI_SBMS);
	if (!(insn & BM_INDIRECT) && (d->regs[LSI_CCNTL1] & LSI_CCNTL1_EXDBMV)) {
		if (!lsi_fetch(d, &v)) /* 64-bit direct move: a third dword */
			return false;
		lsi_set32(d, LSI_DBMS, v);
		high = lsi_high(d, LSI_DBMS);
	}
	if (insn & BM_INDIRECT) {
		if (!lsi_read_dword(d, lsi_high(d, LSI_SBMS) | arg, &v)) {
			lsi_bus_fault(d);
			return false;
		}
		arg = v;
	}
	*addr = high | arg;
	return true;
}

/* Block Move (5.3): MOVE/CHMOV count, address, WHEN phase. A zero count moves nothing and
 * checks no phase: SeaBIOS's lsi-scsi puts one where a command has no data. */
static void lsi_op_block_move(struct lsi *d, uint32_t insn, uint32_t arg)
{
	uint32_t count;
	uint64_t addr;
	if (d->regs[LSI_SCNTL0] & LSI_SCNTL0_TRG) {
		lsi_illegal(d, "target mode");
		return;
	}
	if (lsi_sel_timed_out(d) || !lsi_move_operands(d, insn, arg, &count, &addr))
		return;
	lsi_set32(d, LSI_DBC, (insn & 0xFF000000) | count);
	lsi_set32(d, LSI_DNAD, addr);
	lsi_set32(d, LSI_DNAD64, addr >> 32);
	if (!count)
		return;
	lsi_bus_settle(d);
	if (!lsi_bus_connected(d)) {
		lsi_illegal(d, "block move while not connected");
		return;
	}
	d->ack = false;
	d->in_move = d->move_first = true;
	lsi_move_run(d);
}

/* ---- I/O (5.4) ---- */

static void lsi_op_select(struct lsi *d, uint32_t insn)
{
	uint32_t id = insn >> 16;
	if (insn & IO_TABLE) {
		if (!lsi_read_dword(d, lsi_dsa_rel(d, insn), &id)) {
			lsi_bus_fault(d);
			return;
		}
		d->regs[LSI_SXFER] = id >> 8;
		d->regs[LSI_SCNTL3] = id >> 24;
		id >>= 16;
	}
	id &= 0x0F;
	d->regs[LSI_SDID] = id;
	lsi_bus_settle(d);
	if (lsi_bus_connected(d)) {
		/* A real bus would stay busy. SeaBIOS's lsi-scsi leaves a target in STATUS after
		 * a phase mismatch (a command that failed before its data) and selects again: the
		 * old connection is dropped so that the next command works. */
		log_once(LOG_DEBUG, "lsi53c895a: SELECT while connected drops the connection");
		lsi_bus_abandon(d);
	}
	d->regs[LSI_SSTAT0] |= LSI_SSTAT0_WOA;
	d->atn = insn & IO_SEL_ATN;
	if (lsi_bus_select(d, id) < 0) {
		d->atn = false;
		d->sel_timeout = true;
	}
}

static void lsi_op_wait_disconnect(struct lsi *d)
{
	lsi_bus_settle(d);
	if (lsi_bus_connected(d))
		d->wait = LSI_WAIT_DISC;
}

/* No target ever reselects: only SIGP ends the wait, at the alternate address (DNAD). */
static void lsi_op_wait_reselect(struct lsi *d)
{
	lsi_bus_settle(d);
	if (lsi_bus_connected(d))
		lsi_illegal(d, "WAIT RESELECT while connected");
	else if (d->regs[LSI_ISTAT] & LSI_ISTAT_SIGP)
		lsi_set32(d, LSI_DSP, lsi_get32(d, LSI_DNAD));
	else
		d->wait = LSI_WAIT_RESEL;
}

static void lsi_op_set_clear(struct lsi *d, uint32_t insn, bool set)
{
	if (insn & IO_ATN)
		lsi_bus_set_atn(d, set);
	if ((insn & IO_ACK) && set)
		d->ack = true;
	else if (insn & IO_ACK)
		lsi_bus_clear_ack(d);
	if (insn & IO_TARGET)
		d->regs[LSI_SCNTL0] = set ? d->regs[LSI_SCNTL0] | LSI_SCNTL0_TRG
					  : d->regs[LSI_SCNTL0] & ~LSI_SCNTL0_TRG;
	if (insn & IO_CARRY)
		d->carry = set;
}

static void lsi_op_io(struct lsi *d, uint32_t insn, uint32_t arg)
{
	unsigned op = (insn >> 27) & 7;
	uint32_t addr = insn & IO_RELATIVE ? lsi_rel_target(d, arg) : arg;
	lsi_set32(d, LSI_DNAD, addr); /* the alternate address */
	if (op <= 2 && (d->regs[LSI_SCNTL0] & LSI_SCNTL0_TRG)) {
		lsi_illegal(d, "target mode");
		return;
	}
	if (op <= 2 && lsi_sel_timed_out(d))
		return;
	if (op == 0)
		lsi_op_select(d, insn);
	else if (op == 1)
		lsi_op_wait_disconnect(d);
	else if (op == 2)
		lsi_op_wait_reselect(d);
	else
		lsi_op_set_clear(d, insn, op == 3);
}

/* ---- read/write register (5.5) ---- */

typedef uint8_t (*lsi_alu_fn)(uint8_t a, uint8_t b, bool *carry);

static uint8_t alu_move(uint8_t a, uint8_t b, bool *c)
{
	(void)a;
	(void)c;
	return b;
}

/* The shifts go through the carry bit. */
static uint8_t alu_shl(uint8_t a, uint8_t b, bool *c)
{
	(void)b;
	uint8_t r = a << 1 | *c;
	*c = a >> 7;
	return r;
}

static uint8_t alu_or(uint8_t a, uint8_t b, bool *c)
{
	(void)c;
	return a | b;
}

static uint8_t alu_xor(uint8_t a, uint8_t b, bool *c)
{
	(void)c;
	return a ^ b;
}

static uint8_t alu_and(uint8_t a, uint8_t b, bool *c)
{
	(void)c;
	return a & b;
}

static uint8_t alu_shr(uint8_t a, uint8_t b, bool *c)
{
	(void)b;
	uint8_t r = a >> 1 | *c << 7;
	*c = a & 1;
	return r;
}

static uint8_t alu_add(uint8_t a, uint8_t b, bool *c)
{
	unsigned sum = a + b;
	*c = sum > 0xFF;
	return sum;
}

static uint8_t alu_addc(uint8_t a, uint8_t b, bool *c)
{
	unsigned sum = a + b + *c;
	*c = sum > 0xFF;
	return sum;
}

static const lsi_alu_fn lsi_alu[8] = {
	alu_move, alu_shl, alu_or, alu_xor, alu_and, alu_shr, alu_add, alu_addc,
};

/* Opcode 5: register = SFBR op data; 6: SFBR = register op data; 7: register = register op
 * data (or SFBR, bit 23). A move reads no register: reads have side effects. */
static void lsi_op_rw_reg(struct lsi *d, uint32_t insn, uint32_t arg)
{
	(void)arg;
	unsigned opcode = (insn >> 27) & 7, op = (insn >> 24) & 7;
	unsigned reg = ((insn >> 16) & 0x7F) | (insn & 0x80);
	uint8_t data = insn >> 8, src = 0;
	if (opcode == 7 && (insn & RW_USE_SFBR))
		data = d->regs[LSI_SFBR];
	if (opcode == 5)
		src = d->regs[LSI_SFBR];
	else if (op)
		src = lsi_reg_read(d, reg);
	uint8_t res = lsi_alu[op](src, data, &d->carry);
	lsi_reg_write(d, opcode == 6 ? LSI_SFBR : reg, res);
}

/* ---- transfer control (5.6) ---- */

/* The condition of a JUMP/CALL/RETURN/INT: every enabled comparison true; false when it waits
 * for the target's REQ first (DSP back on the instruction). */
static bool lsi_tc_condition(struct lsi *d, uint32_t insn, bool *wait)
{
	bool cond = true;
	*wait = false;
	if (insn & (TC_PHASE | TC_WAIT)) {
		lsi_bus_settle(d);
		bool connected = lsi_bus_connected(d);
		if ((insn & TC_WAIT) && connected && !lsi_bus_ready(d)) {
			lsi_set32(d, LSI_DSP, lsi_get32(d, LSI_DSP) - 8);
			*wait = true;
			return false;
		}
		if (insn & TC_PHASE)
			cond = connected && d->conn.phase == ((insn >> 24) & 7);
	}
	if (insn & TC_CARRY)
		cond = d->carry;
	if (insn & TC_DATA) {
		uint8_t mask = ~(insn >> 8);
		cond = cond && (d->regs[LSI_SFBR] & mask) == (insn & mask);
	}
	return cond;
}

static void lsi_op_transfer(struct lsi *d, uint32_t insn, uint32_t arg)
{
	unsigned op = (insn >> 27) & 7;
	bool wait;
	if (op > 3 || (insn & TC_RESERVED) ||
	    ((insn & TC_CARRY) && (insn & (TC_DATA | TC_PHASE)))) {
		lsi_illegal(d, "transfer control");
		return;
	}
	if ((insn & (TC_PHASE | TC_WAIT)) && lsi_sel_timed_out(d))
		return;
	bool cond = lsi_tc_condition(d, insn, &wait);
	if (wait) {
		d->wait = LSI_WAIT_TARGET;
		return;
	}
	if (!(insn & (TC_CARRY | TC_DATA | TC_PHASE)))
		cond = true; /* no comparison: "if true" always, "if false" never */
	if (cond != !!(insn & TC_IF_TRUE))
		return;
	uint32_t addr = insn & TC_RELATIVE ? lsi_rel_target(d, arg) : arg;
	if (op == 0) {
		lsi_set32(d, LSI_DSP, addr);
	} else if (op == 1) {
		lsi_set32(d, LSI_TEMP, lsi_get32(d, LSI_DSP));
		lsi_set32(d, LSI_DSP, addr);
	} else if (op == 2) {
		lsi_set32(d, LSI_DSP, lsi_get32(d, LSI_TEMP));
	} else if (insn & TC_INTFLY) {
		d->regs[LSI_ISTAT] |= LSI_ISTAT_INTF;
		lsi_update_irq(d);
	} else {
		lsi_dma_irq(d, LSI_DSTAT_SIR); /* DSPS holds the second dword */
	}
}

/* ---- memory move and load/store (5.7, 5.8) ---- */

static void lsi_op_memory_move(struct lsi *d, uint32_t insn, uint32_t arg)
{
	uint32_t dst, count = insn & 0xFFFFFF;
	uint8_t tmp[LSI_MOVE_CHUNK];
	if (!lsi_fetch(d, &dst))
		return;
	if (insn & MM_RESERVED) {
		lsi_illegal(d, "memory move reserved bits");
		return;
	}
	uint64_t src = lsi_high(d, LSI_MMRS) | arg, to = lsi_high(d, LSI_MMWS) | dst;
	for (uint32_t done = 0; done < count && d->running;) {
		uint32_t n = MIN(count - done, (uint32_t)sizeof(tmp));
		if (!lsi_mem_rw(d, src + done, tmp, n, false) ||
		    !lsi_mem_rw(d, to + done, tmp, n, true)) {
			lsi_bus_fault(d);
			return;
		}
		done += n;
	}
	d->slice_bytes += count;
}

static void lsi_op_load_store(struct lsi *d, uint32_t insn, uint32_t arg)
{
	unsigned n = insn & 7, reg = (insn >> 16) & 0xFF;
	uint8_t data[4];
	uint64_t off;
	if ((insn & LS_RESERVED) || n < 1 || n > 4) {
		lsi_illegal(d, "load/store");
		return;
	}
	uint64_t addr = insn & LS_DSA_REL ? lsi_dsa_rel(d, arg) : arg;
	if (lsi_is_regs(d, addr, n, &off)) {
		lsi_illegal(d, "load/store on the chip's registers");
		return;
	}
	if (insn & LS_LOAD) {
		if (!lsi_mem_rw(d, addr, data, n, false)) {
			lsi_bus_fault(d);
			return;
		}
		for (unsigned i = 0; i < n; i++)
			lsi_reg_write(d, reg + i, data[i]);
		return;
	}
	for (unsigned i = 0; i < n; i++)
		data[i] = lsi_reg_read(d, reg + i);
	if (!lsi_mem_rw(d, addr, data, n, true))
		lsi_bus_fault(d);
}

/* ---- the processor ---- */

typedef void (*lsi_op_fn)(struct lsi *d, uint32_t insn, uint32_t arg);

static void lsi_op_illegal(struct lsi *d, uint32_t insn, uint32_t arg)
{
	(void)insn;
	(void)arg;
	lsi_illegal(d, "opcode");
}

/* Instruction types by the first dword's bits 31:27 (chapter 5). */
static const lsi_op_fn lsi_ops[32] = {
	[0x00 ... 0x07] = lsi_op_block_move,
	[0x08 ... 0x0C] = lsi_op_io,
	[0x0D ... 0x0F] = lsi_op_rw_reg,
	[0x10 ... 0x13] = lsi_op_transfer,
	[0x14 ... 0x17] = lsi_op_illegal,
	[0x18 ... 0x1B] = lsi_op_memory_move,
	[0x1C ... 0x1F] = lsi_op_load_store,
};

/* Fetches and runs one instruction: DCMD, DBC and DSPS hold its dwords, DSP the next. */
static void lsi_step(struct lsi *d)
{
	uint32_t insn, arg;
	if (!lsi_fetch(d, &insn) || !lsi_fetch(d, &arg))
		return;
	lsi_set32(d, LSI_DBC, insn);
	lsi_set32(d, LSI_DSPS, arg);
	lsi_ops[insn >> 27](d, insn, arg);
	lsi_insn_done(d);
}

void lsi_scripts_run(struct lsi *d)
{
	if (d->in_run)
		return; /* a completion inside an instruction: the loop below goes on */
	d->in_run = true;
	d->slice_insns = 0;
	d->slice_bytes = 0;
	while (d->running && d->wait == LSI_WAIT_NONE) {
		if (lsi_slice_over(d)) {
			lsi_defer(d);
			break;
		}
		if (d->in_move)
			lsi_move_run(d);
		else
			lsi_step(d);
		d->slice_insns++;
	}
	d->in_run = false;
}

void lsi_scripts_start(struct lsi *d)
{
	if (d->clock)
		timer_del(d->run_timer);
	d->running = true;
	d->wait = LSI_WAIT_NONE;
	d->in_move = false;
	d->slice_gap_ns = 0;
	lsi_scripts_run(d);
}

void lsi_scripts_halt(struct lsi *d)
{
	d->running = false;
	d->wait = LSI_WAIT_NONE;
	d->in_move = false;
	if (d->clock)
		timer_del(d->run_timer);
}

/* ---- waking up ---- */

static bool lsi_wake_target(struct lsi *d)
{
	return !lsi_bus_connected(d) || lsi_bus_ready(d);
}

static bool lsi_wake_resel(struct lsi *d)
{
	if (!(d->regs[LSI_ISTAT] & LSI_ISTAT_SIGP))
		return false;
	lsi_set32(d, LSI_DSP, lsi_get32(d, LSI_DNAD));
	return true;
}

static bool lsi_wake_disc(struct lsi *d)
{
	lsi_bus_settle(d);
	return !lsi_bus_connected(d);
}

static bool lsi_wake_never(struct lsi *d)
{
	(void)d;
	return false;
}

/* Whether the wait is over (and what ending it does), by enum lsi_wait. */
static bool (*const lsi_wakers[LSI_WAIT_COUNT])(struct lsi *d) = {
	[LSI_WAIT_NONE] = lsi_wake_never,     [LSI_WAIT_TARGET] = lsi_wake_target,
	[LSI_WAIT_RESEL] = lsi_wake_resel,    [LSI_WAIT_DISC] = lsi_wake_disc,
	[LSI_WAIT_LATER] = lsi_wake_never, /* (lsi_scripts_kick brings its slice forward) */
};

void lsi_scripts_kick(struct lsi *d)
{
	if (!d->running || d->wait >= LSI_WAIT_COUNT)
		return;
	if (d->wait == LSI_WAIT_LATER) { /* a looping program may be waiting for this: soon */
		d->slice_gap_ns = 0;
		if (d->clock)
			timer_mod(d->run_timer, clock_ns(d->clock));
		return;
	}
	if (d->wait != LSI_WAIT_NONE && !lsi_wakers[d->wait](d))
		return;
	d->wait = LSI_WAIT_NONE;
	d->slice_gap_ns = 0; /* something happened: back to short gaps */
	lsi_scripts_run(d);
}

/* The next slice, or a loaded state's processor going on. */
void lsi_scripts_timer(void *opaque)
{
	struct lsi *d = opaque;
	pthread_mutex_lock(&d->lock);
	if (d->running && d->wait == LSI_WAIT_LATER) {
		d->wait = LSI_WAIT_NONE;
		lsi_scripts_run(d);
	} else {
		lsi_scripts_kick(d);
	}
	pthread_mutex_unlock(&d->lock);
}
