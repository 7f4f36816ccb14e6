/* The bus: claiming, overlap, unclaimed addresses, and the access-size rules. */
#include <glib.h>
#include <string.h>

#include "devices/bus.h"

/* A region that records its accesses and serves a 16-byte register file. */
struct recorder {
	uint8_t regs[16];
	unsigned accesses;
	unsigned last_size;
	uint64_t last_off;
};

static uint64_t rec_read(void *opaque, uint64_t off, unsigned size)
{
	struct recorder *r = opaque;
	r->accesses++;
	r->last_size = size;
	r->last_off = off;
	uint64_t v = 0;
	for (unsigned i = 0; i < size; i++)
		v |= (uint64_t)r->regs[off + i] << (8 * i);
	return v;
}

static void rec_write(void *opaque, uint64_t off, uint64_t data, unsigned size)
{
	struct recorder *r = opaque;
	r->accesses++;
	r->last_size = size;
	r->last_off = off;
	for (unsigned i = 0; i < size; i++)
		r->regs[off + i] = data >> (8 * i);
}

static const struct bus_ops ops_any = { rec_read, rec_write, 1, 4 };
static const struct bus_ops ops_dword = { rec_read, rec_write, 4, 4 };

static void test_claim_and_overlap(void)
{
	struct bus *bus = bus_new("test");
	struct recorder a = { 0 }, b = { 0 };
	g_assert_cmpint(bus_register(bus, 0x100, 16, &ops_any, &a, NULL, "a"), ==, 0);
	g_assert_cmpint(bus_register(bus, 0x10F, 4, &ops_any, &b, NULL, "b"), ==, -1);
	g_assert_cmpint(bus_register(bus, 0xFE, 4, &ops_any, &b, NULL, "b"), ==, -1);
	g_assert_cmpint(bus_register(bus, 0x110, 4, &ops_any, &b, NULL, "b"), ==, 0);
	g_assert_cmpstr(bus_owner_at(bus, 0x10F), ==, "a");
	g_assert_cmpstr(bus_owner_at(bus, 0x110), ==, "b");
	g_assert_null(bus_owner_at(bus, 0x114));
	g_assert_cmpint(bus_unregister(bus, 0x110, &a), ==, -1); /* not a's */
	g_assert_cmpint(bus_unregister(bus, 0x110, &b), ==, 0);
	g_assert_null(bus_owner_at(bus, 0x110));
	g_assert_cmpuint(bus_region_count(bus), ==, 1);
	bus_free(bus);
}

/* What the posted-write hook heard: spans switched on minus those switched off, by address,
 * and the same for posted values, by address and value. */
struct posted_log {
	int on[0x200];
	int value_on[0x200][4];
	unsigned calls;
};

static void posted_hook(void *opaque, const struct bus_posted *p, bool on)
{
	struct posted_log *log = opaque;
	log->calls++;
	if (p->match) {
		g_assert_cmpuint(p->value, <, 4);
		g_assert_cmpuint(p->len, ==, 1);
		log->value_on[p->addr][p->value] += on ? 1 : -1;
		return;
	}
	for (uint64_t a = p->addr; a < p->addr + p->len; a++)
		log->on[a] += on ? 1 : -1;
}

static const struct bus_ops ops_posted = {
	rec_read, rec_write, 1, 4, .posted = { { 1, 3 }, { 12, 8 } }, /* the second runs past 16 */
	.posted_values = { { 0, 1, 2 }, { 0, 1, 3 }, { 16, 1, 1 } },   /* the third lies past 16 */
};

/* The posted values heard for the region at BASE: 2 and 3 at its first port, nothing else. */
static void assert_values(const struct posted_log *log, unsigned base)
{
	for (unsigned p = 0x100; p < 0x200; p++)
		for (unsigned v = 0; v < 4; v++)
			g_assert_cmpint(log->value_on[p][v], ==, p == base && v >= 2);
}

/* Regions tell the hook where their posted registers are as they come and go; a span that
 * does not fit the region is not passed on; replay repeats what is registered now. */
static void test_posted_spans(void)
{
	struct bus *bus = bus_new("test");
	struct posted_log log = { 0 };
	struct recorder a = { 0 }, b = { 0 };
	bus_set_posted_hook(bus, posted_hook, &log);
	g_assert_cmpint(bus_register(bus, 0x100, 16, &ops_posted, &a, NULL, "a"), ==, 0);
	g_assert_cmpint(bus_register(bus, 0x10F, 16, &ops_posted, &b, NULL, "b"), ==, -1);
	g_assert_cmpint(bus_register(bus, 0x180, 16, &ops_any, &b, NULL, "b"), ==, 0);
	g_assert_cmpuint(log.calls, ==, 3);
	for (unsigned p = 0x100; p < 0x200; p++)
		g_assert_cmpint(log.on[p], ==, p >= 0x101 && p <= 0x103);
	assert_values(&log, 0x100);
	/* moved, as a BAR does: off at the old place, on at the new */
	g_assert_cmpint(bus_unregister(bus, 0x100, &a), ==, 0);
	g_assert_cmpint(bus_register(bus, 0x140, 16, &ops_posted, &a, NULL, "a"), ==, 0);
	for (unsigned p = 0x100; p < 0x200; p++)
		g_assert_cmpint(log.on[p], ==, p >= 0x141 && p <= 0x143);
	assert_values(&log, 0x140);
	/* a new VM: everything registered now, once more */
	memset(&log, 0, sizeof(log));
	bus_replay_posted(bus);
	for (unsigned p = 0x100; p < 0x200; p++)
		g_assert_cmpint(log.on[p], ==, p >= 0x141 && p <= 0x143);
	assert_values(&log, 0x140);
	/* the posted writes themselves are ordinary writes when they arrive */
	g_assert_true(bus_write(bus, 0x142, 1, 0x5A));
	g_assert_cmpuint(a.regs[2], ==, 0x5A);
	bus_free(bus);
}

static void test_unclaimed(void)
{
	struct bus *bus = bus_new("test");
	uint64_t v = 0;
	g_assert_false(bus_read(bus, 0x80, 1, &v));
	g_assert_cmphex(v, ==, 0xFF);
	g_assert_false(bus_read(bus, 0x80, 4, &v));
	g_assert_cmphex(v, ==, 0xFFFFFFFF);
	g_assert_false(bus_write(bus, 0x80, 2, 0x1234));
	bus_free(bus);
}

static void test_split_wide(void)
{
	struct bus *bus = bus_new("test");
	struct recorder r = { 0 };
	const struct bus_ops ops_byte = { rec_read, rec_write, 1, 1 };
	bus_register(bus, 0x60, 8, &ops_byte, &r, NULL, "bytes");
	bus_write(bus, 0x60, 4, 0x44332211);
	g_assert_cmpuint(r.accesses, ==, 4);
	g_assert_cmpuint(r.last_size, ==, 1);
	g_assert_cmphex(r.regs[0], ==, 0x11);
	g_assert_cmphex(r.regs[3], ==, 0x44);
	uint64_t v;
	g_assert_true(bus_read(bus, 0x61, 2, &v));
	g_assert_cmphex(v, ==, 0x3322);
	bus_free(bus);
}

static void test_widen_narrow(void)
{
	struct bus *bus = bus_new("test");
	struct recorder r = { .regs = { 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88 } };
	bus_register(bus, 0x1000, 16, &ops_dword, &r, NULL, "dword");
	uint64_t v;
	bus_read(bus, 0x1002, 1, &v);
	g_assert_cmphex(v, ==, 0x33);
	g_assert_cmpuint(r.last_size, ==, 4);
	g_assert_cmpuint(r.last_off, ==, 0);
	/* a byte write is a read-modify-write of the dword that holds it */
	bus_write(bus, 0x1005, 1, 0xAB);
	g_assert_cmpuint(r.last_size, ==, 4);
	g_assert_cmphex(r.regs[5], ==, 0xAB);
	g_assert_cmphex(r.regs[4], ==, 0x55);
	g_assert_cmphex(r.regs[6], ==, 0x77);
	/* an unaligned dword crossing two units becomes aligned accesses only */
	bus_read(bus, 0x1002, 4, &v);
	g_assert_cmphex(v, ==, 0xAB554433);
	g_assert_cmpuint(r.last_size, ==, 4);
	bus_free(bus);
}

/* Every size at every offset of a dword-only region: delivered as aligned dwords, no byte
 * lost or moved (a dword at offset 5 once recursed without end: a guest could crash pcvm). */
static void test_unaligned_everywhere(void)
{
	struct bus *bus = bus_new("test");
	struct recorder r = { 0 };
	bus_register(bus, 0x1000, 16, &ops_dword, &r, NULL, "dword");
	for (unsigned size = 1; size <= 4; size *= 2)
		for (unsigned off = 0; off + size <= 16; off++) {
			uint8_t want[16];
			memcpy(want, r.regs, 16);
			uint64_t val = 0;
			for (unsigned i = 0; i < size; i++)
				val |= (uint64_t)(0x10 * size + off + i) << (8 * i);
			for (unsigned i = 0; i < size; i++)
				want[off + i] = val >> (8 * i);
			g_assert_true(bus_write(bus, 0x1000 + off, size, val));
			g_assert_cmpmem(r.regs, 16, want, 16);
			g_assert_cmpuint(r.last_size, ==, 4);
			uint64_t back = 0;
			g_assert_true(bus_read(bus, 0x1000 + off, size, &back));
			g_assert_cmphex(back, ==, val);
		}
	bus_free(bus);
}

static void test_region_end(void)
{
	struct bus *bus = bus_new("test");
	struct recorder r = { 0 };
	bus_register(bus, 0x10, 2, &ops_any, &r, NULL, "short");
	uint64_t v;
	/* an access running past the region's end is not delivered */
	g_assert_false(bus_read(bus, 0x11, 4, &v));
	g_assert_cmpuint(r.accesses, ==, 0);
	/* a region that would wrap the address space is refused */
	g_assert_cmpint(bus_register(bus, ~0ull - 1, 4, &ops_any, &r, NULL, "wrap"), ==, -1);
	bus_free(bus);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/bus/claim-and-overlap", test_claim_and_overlap);
	g_test_add_func("/bus/unclaimed", test_unclaimed);
	g_test_add_func("/bus/posted-spans", test_posted_spans);
	g_test_add_func("/bus/split-wide", test_split_wide);
	g_test_add_func("/bus/widen-narrow", test_widen_narrow);
	g_test_add_func("/bus/region-end", test_region_end);
	g_test_add_func("/bus/unaligned-everywhere", test_unaligned_everywhere);
	return g_test_run();
}
