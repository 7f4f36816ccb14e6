/*
 * An address space (the PIO ports or guest-physical MMIO) made of regions that devices claim.
 * The bus owns addresses; a device's handlers see an offset into its region. A region declares
 * the access sizes it accepts and the bus splits wider accesses and widens narrower ones, so a
 * device with min_size = max_size = 4 only ever sees aligned 32-bit accesses.
 */
#pragma once
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

/* Part of a region: LEN bytes from OFFSET (its start). */
struct bus_span {
	uint32_t offset, len;
};

/* A write of VALUE, LEN (1, 2 or 4) bytes at OFFSET. */
struct bus_value {
	uint32_t offset, len, value;
};

#define BUS_MAX_POSTED 2
#define BUS_MAX_POSTED_VALUES 4

struct bus_ops {
	uint64_t (*read)(void *opaque, uint64_t offset, unsigned size);
	void (*write)(void *opaque, uint64_t offset, uint64_t data, unsigned size);
	unsigned min_size; /* 1, 2, 4 or 8; 0 means 1 */
	unsigned max_size; /* 0 means 4 */
	/*
	 * Registers whose writes may be posted: the machine may queue them without stopping the
	 * guest and hand them over later, in order, before the next access that exits and before
	 * the device changes these registers on its own (machine_flush_posted). Only for writes
	 * that start nothing: a value latched for a later access, bits written one to clear.
	 * Unused entries have len 0.
	 */
	struct bus_span posted[BUS_MAX_POSTED];
	/*
	 * Single writes that may be posted: one value to one register, when its landing late
	 * shows to the guest only at its next exit (or in what a completion does, and completions
	 * flush first), and landing twice is the same as once. KVM matches the value, so other
	 * values written there still exit. The machine hands these over at the same times as the
	 * spans, but keeps no order among them nor against the spans: two values for one
	 * register with no exit between land in the order listed here. Unused entries: len 0.
	 */
	struct bus_value posted_values[BUS_MAX_POSTED_VALUES];
};

struct bus;

struct bus *bus_new(const char *name);
void bus_free(struct bus *bus);

/*
 * Claims [base, base + len). LOCK, when given, is held around every handler call: it is the
 * device's own lock, which its timers and backends take too. Fails (-1, logged) on overlap.
 */
int bus_register(struct bus *bus, uint64_t base, uint64_t len, const struct bus_ops *ops,
		 void *opaque, pthread_mutex_t *lock, const char *owner);
/* Releases the region that starts at BASE and belongs to OPAQUE; returns -1 if none. */
int bus_unregister(struct bus *bus, uint64_t base, void *opaque);

/* A posted register in bus addresses: LEN bytes at ADDR, any value, or only VALUE (MATCH). */
struct bus_posted {
	uint64_t addr;
	uint32_t len;
	bool match;
	uint32_t value;
};

/*
 * Told of every posted span and value (bus_ops.posted, posted_values) as its region is
 * registered (ON true) or released (false): how the machine keeps KVM's queued ports where the
 * regions are, a PCI BAR that moves included. Called on the thread that (un)registers, no lock
 * held.
 */
typedef void (*bus_posted_fn)(void *opaque, const struct bus_posted *p, bool on);
void bus_set_posted_hook(struct bus *bus, bus_posted_fn fn, void *opaque);
/* Tells the hook of every posted span registered now (ON true): for a new KVM VM. */
void bus_replay_posted(struct bus *bus);

/*
 * Guest accesses. SIZE is 1, 2, 4 or 8. Unclaimed addresses read all-ones and ignore writes;
 * bus_read/bus_write return false for them so the caller can log.
 */
bool bus_read(struct bus *bus, uint64_t addr, unsigned size, uint64_t *data);
bool bus_write(struct bus *bus, uint64_t addr, unsigned size, uint64_t data);

/* Number of regions, and the owner of the region containing ADDR (NULL if none): for tests. */
unsigned bus_region_count(struct bus *bus);
const char *bus_owner_at(struct bus *bus, uint64_t addr);
