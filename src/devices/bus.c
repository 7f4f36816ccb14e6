#include "devices/bus.h"

#include <glib.h>
#include <inttypes.h>
#include <string.h>

#include "log.h"

struct bus_region {
	uint64_t base, len;
	const struct bus_ops *ops;
	void *opaque;
	pthread_mutex_t *lock;
	const char *owner;
};

struct bus {
	char *name;
	pthread_rwlock_t lock; /* guards the region array, not the devices */
	GArray *regions;       /* struct bus_region, sorted by base, never overlapping */
	bus_posted_fn posted_fn;
	void *posted_opaque;
};

struct bus *bus_new(const char *name)
{
	struct bus *bus = g_new0(struct bus, 1);
	bus->name = g_strdup(name);
	pthread_rwlock_init(&bus->lock, NULL);
	bus->regions = g_array_new(FALSE, FALSE, sizeof(struct bus_region));
	return bus;
}

void bus_free(struct bus *bus)
{
	if (!bus)
		return;
	g_array_free(bus->regions, TRUE);
	pthread_rwlock_destroy(&bus->lock);
	g_free(bus->name);
	g_free(bus);
}

/* Index of the first region whose end lies above ADDR. */
static guint bus_lower_bound(struct bus *bus, uint64_t addr)
{
	guint lo = 0, hi = bus->regions->len;
	while (lo < hi) {
		guint mid = (lo + hi) / 2;
		struct bus_region *r = &g_array_index(bus->regions, struct bus_region, mid);
		if (r->base + r->len <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

void bus_set_posted_hook(struct bus *bus, bus_posted_fn fn, void *opaque)
{
	bus->posted_fn = fn;
	bus->posted_opaque = opaque;
}

static void bus_tell_posted(struct bus *bus, const struct bus_region *r, bool on)
{
	if (!bus->posted_fn)
		return;
	for (unsigned i = 0; i < BUS_MAX_POSTED; i++) {
		struct bus_span s = r->ops->posted[i];
		struct bus_posted p = { r->base + s.offset, s.len };
		if (s.len && s.offset + s.len <= r->len)
			bus->posted_fn(bus->posted_opaque, &p, on);
	}
	for (unsigned i = 0; i < BUS_MAX_POSTED_VALUES; i++) {
		struct bus_value v = r->ops->posted_values[i];
		struct bus_posted p = { r->base + v.offset, v.len, true, v.value };
		if (v.len && (uint64_t)v.offset + v.len <= r->len)
			bus->posted_fn(bus->posted_opaque, &p, on);
	}
}

void bus_replay_posted(struct bus *bus)
{
	pthread_rwlock_rdlock(&bus->lock);
	GArray *copy = g_array_copy(bus->regions);
	pthread_rwlock_unlock(&bus->lock);
	for (guint i = 0; i < copy->len; i++)
		bus_tell_posted(bus, &g_array_index(copy, struct bus_region, i), true);
	g_array_free(copy, TRUE);
}

int bus_register(struct bus *bus, uint64_t base, uint64_t len, const struct bus_ops *ops,
		 void *opaque, pthread_mutex_t *lock, const char *owner)
{
	if (len == 0 || base + len < base) {
		log_error("%s bus: %s: bad region %#" PRIx64 "+%#" PRIx64, bus->name, owner, base, len);
		return -1;
	}
	pthread_rwlock_wrlock(&bus->lock);
	guint i = bus_lower_bound(bus, base);
	if (i < bus->regions->len) {
		struct bus_region *next = &g_array_index(bus->regions, struct bus_region, i);
		if (next->base < base + len) {
			pthread_rwlock_unlock(&bus->lock);
			log_error("%s bus: %s at %#" PRIx64 " overlaps %s at %#" PRIx64, bus->name,
				  owner, base, next->owner, next->base);
			return -1;
		}
	}
	struct bus_region r = { base, len, ops, opaque, lock, owner };
	g_array_insert_val(bus->regions, i, r);
	pthread_rwlock_unlock(&bus->lock);
	bus_tell_posted(bus, &r, true);
	return 0;
}

int bus_unregister(struct bus *bus, uint64_t base, void *opaque)
{
	struct bus_region gone;
	int ret = -1;
	pthread_rwlock_wrlock(&bus->lock);
	guint i = bus_lower_bound(bus, base);
	if (i < bus->regions->len) {
		struct bus_region *r = &g_array_index(bus->regions, struct bus_region, i);
		if (r->base == base && r->opaque == opaque) {
			gone = *r;
			g_array_remove_index(bus->regions, i);
			ret = 0;
		}
	}
	pthread_rwlock_unlock(&bus->lock);
	if (ret == 0)
		bus_tell_posted(bus, &gone, false);
	return ret;
}

/* Copies the region holding ADDR out under the read lock, so that a handler may itself
 * (un)register regions, as a PCI BAR write does. */
static bool bus_find(struct bus *bus, uint64_t addr, struct bus_region *out)
{
	bool found = false;
	pthread_rwlock_rdlock(&bus->lock);
	guint i = bus_lower_bound(bus, addr);
	if (i < bus->regions->len) {
		struct bus_region *r = &g_array_index(bus->regions, struct bus_region, i);
		if (r->base <= addr) {
			*out = *r;
			found = true;
		}
	}
	pthread_rwlock_unlock(&bus->lock);
	return found;
}

static unsigned region_min(const struct bus_region *r)
{
	return r->ops->min_size ? r->ops->min_size : 1;
}

static unsigned region_max(const struct bus_region *r)
{
	return r->ops->max_size ? r->ops->max_size : 4;
}

static uint64_t size_mask(unsigned size)
{
	return size >= 8 ? ~0ull : (1ull << (size * 8)) - 1;
}

/* One access that fits the region's rules: aligned, min <= size <= max. */
static uint64_t region_call_read(const struct bus_region *r, uint64_t off, unsigned size)
{
	if (!r->ops->read)
		return size_mask(size);
	if (r->lock)
		pthread_mutex_lock(r->lock);
	uint64_t v = r->ops->read(r->opaque, off, size) & size_mask(size);
	if (r->lock)
		pthread_mutex_unlock(r->lock);
	return v;
}

static void region_call_write(const struct bus_region *r, uint64_t off, uint64_t data,
			      unsigned size)
{
	if (!r->ops->write)
		return;
	if (r->lock)
		pthread_mutex_lock(r->lock);
	r->ops->write(r->opaque, off, data & size_mask(size), size);
	if (r->lock)
		pthread_mutex_unlock(r->lock);
}

/* The next piece of a split access at OFF with LEFT bytes to go: the largest power of two
 * that fits LEFT and MAX and to which OFF is aligned. (A piece of 3, from a dword at an odd
 * offset, would neither be accepted by the region nor split further.) */
static unsigned split_piece(uint64_t off, unsigned left, unsigned max)
{
	unsigned piece = 1;
	while (piece * 2 <= left && piece * 2 <= max && off % (piece * 2) == 0)
		piece *= 2;
	return piece;
}

static uint64_t region_read(const struct bus_region *r, uint64_t off, unsigned size)
{
	unsigned min = region_min(r), max = region_max(r);
	if (size >= min && size <= max && off % size == 0)
		return region_call_read(r, off, size);
	if (size < min) {
		/* widen: read the aligned unit that holds the access and extract */
		uint64_t unit = off & ~(uint64_t)(min - 1);
		if (off + size > unit + min)
			goto split;
		uint64_t v = region_call_read(r, unit, min);
		return (v >> ((off - unit) * 8)) & size_mask(size);
	}
split:;
	/* split into the widest pieces that fit, little-endian */
	uint64_t v = 0;
	unsigned done = 0;
	while (done < size) {
		unsigned piece = split_piece(off + done, size - done, max);
		if (piece < min && min <= size - done && (off + done) % min == 0)
			piece = min;
		v |= region_read(r, off + done, piece) << (done * 8);
		done += piece;
	}
	return v;
}

static void region_write(const struct bus_region *r, uint64_t off, uint64_t data, unsigned size)
{
	unsigned min = region_min(r), max = region_max(r);
	if (size >= min && size <= max && off % size == 0) {
		region_call_write(r, off, data, size);
		return;
	}
	if (size < min) {
		uint64_t unit = off & ~(uint64_t)(min - 1);
		if (off + size <= unit + min) {
			/* widen with read-modify-write of the aligned unit */
			unsigned shift = (off - unit) * 8;
			uint64_t old = region_call_read(r, unit, min);
			uint64_t m = size_mask(size) << shift;
			region_call_write(r, unit, (old & ~m) | ((data << shift) & m), min);
			return;
		}
	}
	unsigned done = 0;
	while (done < size) {
		unsigned piece = split_piece(off + done, size - done, max);
		region_write(r, off + done, (data >> (done * 8)) & size_mask(piece), piece);
		done += piece;
	}
}

bool bus_read(struct bus *bus, uint64_t addr, unsigned size, uint64_t *data)
{
	struct bus_region r;
	if (!bus_find(bus, addr, &r) || addr + size > r.base + r.len) {
		*data = size_mask(size);
		return false;
	}
	*data = region_read(&r, addr - r.base, size);
	return true;
}

bool bus_write(struct bus *bus, uint64_t addr, unsigned size, uint64_t data)
{
	struct bus_region r;
	if (!bus_find(bus, addr, &r) || addr + size > r.base + r.len)
		return false;
	region_write(&r, addr - r.base, data, size);
	return true;
}

unsigned bus_region_count(struct bus *bus)
{
	pthread_rwlock_rdlock(&bus->lock);
	unsigned n = bus->regions->len;
	pthread_rwlock_unlock(&bus->lock);
	return n;
}

const char *bus_owner_at(struct bus *bus, uint64_t addr)
{
	struct bus_region r;
	return bus_find(bus, addr, &r) ? r.owner : NULL;
}
