/*
 * QEMU fw_cfg (docs/specs/fw_cfg.rst): items and files for the firmware, read through the
 * selector/data ports or the DMA interface. Nothing is writable by the guest yet, so DMA
 * writes fail with the error bit, as the spec says of read-only items.
 */
#include "devices/fw_cfg.h"

#include <glib.h>
#include <inttypes.h>
#include <string.h>

#include "guest_mem.h"
#include "log.h"

/* Offsets in the I/O region (fw_cfg.rst "Register Locations", x86) */
#define FW_CFG_REG_SELECTOR 0
#define FW_CFG_REG_DATA 1
#define FW_CFG_REG_DMA_HI 4
#define FW_CFG_REG_DMA_LO 8

#define FW_CFG_DMA_DESC_LEN 16 /* FWCfgDmaAccess: be32 control, be32 length, be64 address */
#define FW_CFG_DIR_ENTRY_LEN 64

/* ---- items ---- */

static struct fw_cfg_item *fw_cfg_item_at(struct fw_cfg *fw, uint16_t key)
{
	unsigned idx = key & FW_CFG_ENTRY_MASK;
	if (idx >= FW_CFG_MAX_ENTRY)
		return NULL;
	return &fw->items[!!(key & FW_CFG_ARCH_LOCAL)][idx];
}

/* The selected item; bit 14 (write channel) does not change which item is meant. */
static const struct fw_cfg_item *fw_cfg_current(struct fw_cfg *fw)
{
	return fw_cfg_item_at(fw, fw->selector);
}

static int fw_cfg_set_item(struct fw_cfg *fw, uint16_t key, const void *data, size_t len)
{
	struct fw_cfg_item *it = fw_cfg_item_at(fw, key);
	if (!it || len > UINT32_MAX)
		return -1;
	g_free(it->data);
	it->data = len ? g_malloc(len) : NULL;
	if (len)
		memcpy(it->data, data, len);
	it->len = len;
	return 0;
}

/* Bytes left in the selected item from the current offset. */
static uint32_t fw_cfg_avail(struct fw_cfg *fw)
{
	const struct fw_cfg_item *it = fw_cfg_current(fw);
	return it && fw->offset < it->len ? it->len - fw->offset : 0;
}

static void put_be16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = v;
}

static void put_be32(uint8_t *p, uint32_t v)
{
	put_be16(p, v >> 16);
	put_be16(p + 2, v);
}

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* FW_CFG_FILE_DIR (fw_cfg.rst "File Directory"): be32 count, then 64-byte entries of be32
 * size, be16 select, be16 reserved, char name[56], in the order of fw->files. */
static void fw_cfg_rebuild_dir(struct fw_cfg *fw)
{
	size_t len = 4 + (size_t)fw->nfiles * FW_CFG_DIR_ENTRY_LEN;
	uint8_t *dir = g_malloc0(len);
	put_be32(dir, fw->nfiles);
	for (unsigned i = 0; i < fw->nfiles; i++) {
		const struct fw_cfg_file *f = &fw->files[i];
		uint8_t *e = dir + 4 + (size_t)i * FW_CFG_DIR_ENTRY_LEN;
		put_be32(e, fw_cfg_item_at(fw, f->key)->len);
		put_be16(e + 4, f->key);
		memcpy(e + 8, f->name, FW_CFG_MAX_FILE_PATH);
	}
	fw_cfg_set_item(fw, FW_CFG_FILE_DIR, dir, len);
	g_free(dir);
}

static int fw_cfg_file_index(struct fw_cfg *fw, const char *name)
{
	for (unsigned i = 0; i < fw->nfiles; i++)
		if (!strcmp(fw->files[i].name, name))
			return i;
	return -1;
}

/* ---- setup API ---- */

int fw_cfg_add_bytes(struct fw_cfg *fw, uint16_t key, const void *data, size_t len)
{
	unsigned idx = key & FW_CFG_ENTRY_MASK;
	/* the directory and the file keys are fw_cfg_add_file's; bit 14 selects nothing */
	if ((key & FW_CFG_WRITE_CHANNEL) || idx == FW_CFG_FILE_DIR || idx >= FW_CFG_FILE_FIRST ||
	    len > UINT32_MAX) {
		log_error("fw-cfg: cannot add item %#x (%zu bytes): key reserved or out of range",
			  key, len);
		return -1;
	}
	pthread_mutex_lock(&fw->lock);
	int ret = fw_cfg_set_item(fw, key, data, len);
	pthread_mutex_unlock(&fw->lock);
	return ret;
}

int fw_cfg_add_u16(struct fw_cfg *fw, uint16_t key, uint16_t value)
{
	uint16_t le = GUINT16_TO_LE(value);
	return fw_cfg_add_bytes(fw, key, &le, sizeof(le));
}

int fw_cfg_add_u32(struct fw_cfg *fw, uint16_t key, uint32_t value)
{
	uint32_t le = GUINT32_TO_LE(value);
	return fw_cfg_add_bytes(fw, key, &le, sizeof(le));
}

int fw_cfg_add_u64(struct fw_cfg *fw, uint16_t key, uint64_t value)
{
	uint64_t le = GUINT64_TO_LE(value);
	return fw_cfg_add_bytes(fw, key, &le, sizeof(le));
}

static int fw_cfg_check_file(struct fw_cfg *fw, const char *name, size_t len)
{
	if (!name[0] || strlen(name) >= FW_CFG_MAX_FILE_PATH)
		log_error("fw-cfg: file name \"%s\" must be 1 to %d characters", name,
			  FW_CFG_MAX_FILE_PATH - 1);
	else if (len > UINT32_MAX)
		log_error("fw-cfg: file %s: %zu bytes is too large", name, len);
	else if (fw_cfg_file_index(fw, name) >= 0)
		log_error("fw-cfg: duplicate file %s", name);
	else if (fw->nfiles == FW_CFG_FILE_SLOTS)
		log_error("fw-cfg: no slot left for file %s (%d files)", name, FW_CFG_FILE_SLOTS);
	else
		return 0;
	return -1;
}

int fw_cfg_add_file(struct fw_cfg *fw, const char *name, const void *data, size_t len)
{
	pthread_mutex_lock(&fw->lock);
	if (fw_cfg_check_file(fw, name, len) < 0) {
		pthread_mutex_unlock(&fw->lock);
		return -1;
	}
	/* keys in the order files arrive, so a key once handed out never moves */
	uint16_t key = FW_CFG_FILE_FIRST + fw->nfiles;
	fw_cfg_set_item(fw, key, data, len);
	unsigned pos = fw->nfiles;
	while (pos > 0 && strcmp(fw->files[pos - 1].name, name) > 0) {
		fw->files[pos] = fw->files[pos - 1];
		pos--;
	}
	memset(&fw->files[pos], 0, sizeof(fw->files[pos]));
	g_strlcpy(fw->files[pos].name, name, FW_CFG_MAX_FILE_PATH);
	fw->files[pos].key = key;
	fw->nfiles++;
	fw_cfg_rebuild_dir(fw);
	pthread_mutex_unlock(&fw->lock);
	return key;
}

int fw_cfg_find_file(struct fw_cfg *fw, const char *name)
{
	pthread_mutex_lock(&fw->lock);
	int i = fw_cfg_file_index(fw, name);
	int key = i < 0 ? -1 : fw->files[i].key;
	pthread_mutex_unlock(&fw->lock);
	return key;
}

/* ---- traditional interface ---- */

static void fw_cfg_select(struct fw_cfg *fw, uint16_t key)
{
	fw->selector = key;
	fw->offset = 0; /* fw_cfg.rst: setting the selector resets the data offset */
}

static uint8_t fw_cfg_read_data(struct fw_cfg *fw)
{
	const struct fw_cfg_item *it = fw_cfg_current(fw);
	if (!it || fw->offset >= it->len)
		return 0; /* past the end (or no such item): 0x00 */
	return it->data[fw->offset++];
}

/* One byte of the region as the guest reads it: only the data port has side effects. */
static uint8_t fw_cfg_read_byte(struct fw_cfg *fw, unsigned off)
{
	if (off == FW_CFG_REG_DATA)
		return fw_cfg_read_data(fw);
	if (off >= FW_CFG_REG_DMA_HI && off < FW_CFG_REG_DMA_LO + 4)
		return FW_CFG_DMA_SIGNATURE >> (8 * (7 - (off - FW_CFG_REG_DMA_HI)));
	return 0; /* the selector is write-only; 2-3 are unused */
}

static uint64_t fw_cfg_io_read(void *opaque, uint64_t offset, unsigned size)
{
	struct fw_cfg *fw = opaque;
	uint64_t v = 0;
	/* the region is "string-preserving": byte i of the access is port offset + i */
	for (unsigned i = 0; i < size; i++)
		v |= (uint64_t)fw_cfg_read_byte(fw, offset + i) << (8 * i);
	return v;
}

/* ---- DMA interface (fw_cfg.rst "Guest-side DMA Interface") ---- */

/*
 * True if [gpa, gpa + len) is all guest RAM, in one region or in regions that touch (as
 * guest_mem_write accepts). Checked before a transfer so that a bad buffer fails as a whole
 * instead of half-written; the copies themselves still go through guest_mem_write.
 */
static bool fw_cfg_ram_covers(const struct guest_mem *mem, uint64_t gpa, uint64_t len)
{
	while (len) {
		const struct guest_mem_region *hit = NULL;
		for (unsigned i = 0; i < mem->nregions && !hit; i++)
			if (gpa >= mem->regions[i].gpa &&
			    gpa - mem->regions[i].gpa < mem->regions[i].size)
				hit = &mem->regions[i];
		if (!hit)
			return false;
		uint64_t avail = hit->size - (gpa - hit->gpa);
		if (avail >= len)
			return true;
		gpa += avail;
		len -= avail;
	}
	return true;
}

static int fw_cfg_zero_fill(const struct guest_mem *mem, uint64_t gpa, uint64_t len)
{
	static const uint8_t zeros[4096];
	while (len) {
		size_t n = len < sizeof(zeros) ? len : sizeof(zeros);
		if (guest_mem_write(mem, gpa, zeros, n) < 0)
			return -1;
		gpa += n;
		len -= n;
	}
	return 0;
}

/* Copies LEN bytes from the current offset to guest ADDR; past the item's end, zeros. */
static uint32_t fw_cfg_dma_read(struct fw_cfg *fw, uint32_t len, uint64_t addr)
{
	if (!fw_cfg_ram_covers(fw->mem, addr, len)) {
		log_once(LOG_WARN, "fw-cfg: DMA read of %" PRIu32 " bytes to %#" PRIx64
			 " outside guest RAM", len, addr);
		return FW_CFG_DMA_CTL_ERROR;
	}
	const struct fw_cfg_item *it = fw_cfg_current(fw);
	uint32_t avail = fw_cfg_avail(fw);
	uint32_t n = len < avail ? len : avail;
	if (n && guest_mem_write(fw->mem, addr, it->data + fw->offset, n) < 0)
		return FW_CFG_DMA_CTL_ERROR;
	fw->offset += n;
	if (fw_cfg_zero_fill(fw->mem, addr + n, len - n) < 0)
		return FW_CFG_DMA_CTL_ERROR;
	return 0;
}

/* Skip: advance the offset, but never past the end of the item. */
static uint32_t fw_cfg_dma_skip(struct fw_cfg *fw, uint32_t len)
{
	uint32_t avail = fw_cfg_avail(fw);
	fw->offset += len < avail ? len : avail;
	return 0;
}

/* One FWCfgDmaAccess; returns the control value to write back (0 = done, or ERROR). */
static uint32_t fw_cfg_dma_op(struct fw_cfg *fw, uint32_t control, uint32_t len, uint64_t addr)
{
	if (control & FW_CFG_DMA_CTL_SELECT)
		fw_cfg_select(fw, control >> 16);
	/* fw_cfg.rst: read wins over write, and skip applies only when neither is set */
	if (control & FW_CFG_DMA_CTL_READ)
		return fw_cfg_dma_read(fw, len, addr);
	if (control & FW_CFG_DMA_CTL_WRITE) {
		if (!len)
			return 0;
		log_once(LOG_WARN, "fw-cfg: guest DMA write to read-only item %#x refused",
			 fw->selector);
		return FW_CFG_DMA_CTL_ERROR;
	}
	if (control & FW_CFG_DMA_CTL_SKIP)
		return fw_cfg_dma_skip(fw, len);
	return 0;
}

static void fw_cfg_dma_run(struct fw_cfg *fw, uint64_t desc_gpa)
{
	uint8_t desc[FW_CFG_DMA_DESC_LEN];
	if (!fw->mem || guest_mem_read(fw->mem, desc_gpa, desc, sizeof(desc)) < 0) {
		/* nowhere to report an error: the guest will see its control field unchanged */
		log_once(LOG_WARN, "fw-cfg: DMA descriptor at %#" PRIx64 " outside guest RAM",
			 desc_gpa);
		return;
	}
	uint32_t control = get_be32(desc);
	uint32_t len = get_be32(desc + 4);
	uint64_t addr = (uint64_t)get_be32(desc + 8) << 32 | get_be32(desc + 12);
	uint8_t result[4];
	put_be32(result, fw_cfg_dma_op(fw, control, len, addr));
	guest_mem_write(fw->mem, desc_gpa, result, sizeof(result));
}

/* ---- register writes ---- */

static void fw_cfg_write_selector(struct fw_cfg *fw, uint64_t val)
{
	fw_cfg_select(fw, val);
}

static void fw_cfg_write_data(struct fw_cfg *fw, uint64_t val)
{
	/* fw_cfg.rst: data-port writes are ignored since QEMU 2.4 */
}

/* The DMA address register is big-endian: the guest writes cpu_to_be32(half) with outl. */
static void fw_cfg_write_dma_hi(struct fw_cfg *fw, uint64_t val)
{
	fw->dma_addr_hi = GUINT32_FROM_BE((uint32_t)val);
}

static void fw_cfg_write_dma_lo(struct fw_cfg *fw, uint64_t val)
{
	fw->dma_addr_lo = GUINT32_FROM_BE((uint32_t)val);
	uint64_t desc = (uint64_t)fw->dma_addr_hi << 32 | fw->dma_addr_lo;
	/* fw_cfg.rst: the register reads as 0 again after an operation */
	fw->dma_addr_hi = fw->dma_addr_lo = 0;
	fw_cfg_dma_run(fw, desc);
}

/* Writable registers, by offset and the one access width each accepts. */
static const struct fw_cfg_reg {
	uint8_t offset, size;
	void (*write)(struct fw_cfg *fw, uint64_t val);
} fw_cfg_regs[] = {
	{ .offset = FW_CFG_REG_SELECTOR, .size = 2, .write = fw_cfg_write_selector },
	{ .offset = FW_CFG_REG_DATA, .size = 1, .write = fw_cfg_write_data },
	{ .offset = FW_CFG_REG_DMA_HI, .size = 4, .write = fw_cfg_write_dma_hi },
	{ .offset = FW_CFG_REG_DMA_LO, .size = 4, .write = fw_cfg_write_dma_lo },
};

static void fw_cfg_io_write(void *opaque, uint64_t offset, uint64_t data, unsigned size)
{
	struct fw_cfg *fw = opaque;
	for (size_t i = 0; i < G_N_ELEMENTS(fw_cfg_regs); i++) {
		if (fw_cfg_regs[i].offset == offset && fw_cfg_regs[i].size == size) {
			fw_cfg_regs[i].write(fw, data);
			return;
		}
	}
	log_once(LOG_DEBUG, "fw-cfg: ignored %u-byte write of %#" PRIx64 " at offset %" PRIu64,
		 size, data, offset);
}

const struct bus_ops fw_cfg_io_ops = {
	.read = fw_cfg_io_read,
	.write = fw_cfg_io_write,
	.min_size = 1,
	.max_size = 4,
};

/* ---- device class ---- */

static void fw_cfg_reset(void *dev)
{
	struct fw_cfg *fw = dev;
	fw->selector = FW_CFG_SIGNATURE;
	fw->offset = 0;
	fw->dma_addr_hi = fw->dma_addr_lo = 0;
}

static void *fw_cfg_create(const struct dev_ctx *ctx)
{
	struct fw_cfg *fw = g_new0(struct fw_cfg, 1);
	pthread_mutex_init(&fw->lock, NULL);
	fw->mem = ctx->mem;
	fw_cfg_set_item(fw, FW_CFG_SIGNATURE, "QEMU", 4);
	uint32_t id = GUINT32_TO_LE(FW_CFG_VERSION | FW_CFG_VERSION_DMA);
	fw_cfg_set_item(fw, FW_CFG_ID, &id, sizeof(id));
	fw_cfg_rebuild_dir(fw); /* an empty directory (count 0) until files arrive */
	fw_cfg_reset(fw);
	return fw;
}

static void fw_cfg_destroy(void *dev)
{
	struct fw_cfg *fw = dev;
	if (!fw)
		return;
	for (int arch = 0; arch < 2; arch++)
		for (int i = 0; i < FW_CFG_MAX_ENTRY; i++)
			g_free(fw->items[arch][i].data);
	pthread_mutex_destroy(&fw->lock);
	g_free(fw);
}

static pthread_mutex_t *fw_cfg_lock(void *dev)
{
	return &((struct fw_cfg *)dev)->lock;
}

/* The items are rebuilt by the machine, so a saved offset must fit the item it points into.
 * The state_desc check hook: pure (an item's length is part of the object, which the machine
 * sets up once). */
static int fw_cfg_state_check(const void *obj, char **error)
{
	const struct fw_cfg *fw = obj;
	const struct fw_cfg_item *it = fw_cfg_current((struct fw_cfg *)fw); /* only read */
	uint32_t len = it ? it->len : 0;
	if (fw->offset > len) {
		*error = g_strdup_printf("fw-cfg: data offset %" PRIu32 " is past the end of item "
					 "%#x (%" PRIu32 " bytes)", fw->offset, fw->selector, len);
		return -1;
	}
	return 0;
}

static int fw_cfg_post_load(void *obj, char **error)
{
	return fw_cfg_state_check(obj, error);
}

static const struct state_field fw_cfg_fields[] = {
	STATE_U16(struct fw_cfg, selector),
	STATE_U32(struct fw_cfg, offset),
	STATE_U32(struct fw_cfg, dma_addr_hi),
	STATE_U32(struct fw_cfg, dma_addr_lo),
};

static const struct state_desc fw_cfg_state =
	STATE_DESC("fw-cfg", 1, struct fw_cfg, fw_cfg_fields, .post_load = fw_cfg_post_load,
		   .check = fw_cfg_state_check);

const struct device_class fw_cfg_class = {
	.name = "fw-cfg",
	.state = &fw_cfg_state,
	.create = fw_cfg_create,
	.destroy = fw_cfg_destroy,
	.reset = fw_cfg_reset,
	.lock = fw_cfg_lock,
};
