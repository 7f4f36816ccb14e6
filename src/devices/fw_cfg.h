/*
 * QEMU's firmware configuration interface (fw_cfg), as SeaBIOS uses it: numbered items and
 * named files that the machine fills in before the guest runs, read by the firmware through a
 * selector/data port pair or the DMA interface. Spec: QEMU docs/specs/fw_cfg.rst.
 *
 * One I/O region of FW_CFG_IO_LEN ports (the machine puts it at 0x510):
 *   +0  selector, 16-bit write (selecting an item resets the data offset)
 *   +1  data, 8-bit read, auto-increment, 0 past the end of the item
 *   +4  DMA address bits 63..32 \  32-bit big-endian writes; writing the low half starts
 *   +8  DMA address bits 31..0  /  the transfer. Reads return "QEMU CFG".
 */
#pragma once
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "devices/bus.h"
#include "devices/device.h"

#define FW_CFG_IO_LEN 0x0C

/* Items fw_cfg.rst defines; the rest of the key space is the machine's to fill. */
#define FW_CFG_SIGNATURE 0x0000
#define FW_CFG_ID 0x0001
#define FW_CFG_FILE_DIR 0x0019
#define FW_CFG_FILE_FIRST 0x0020
#define FW_CFG_FILE_SLOTS 0x0100
#define FW_CFG_MAX_ENTRY (FW_CFG_FILE_FIRST + FW_CFG_FILE_SLOTS)
#define FW_CFG_WRITE_CHANNEL 0x4000 /* selector bit 14: ignored since QEMU 2.4 */
#define FW_CFG_ARCH_LOCAL 0x8000    /* selector bit 15: architecture-specific item */
#define FW_CFG_ENTRY_MASK 0x3FFF
#define FW_CFG_MAX_FILE_PATH 56     /* name bytes in a directory entry, NUL included */

/* FW_CFG_ID feature bits */
#define FW_CFG_VERSION 0x01
#define FW_CFG_VERSION_DMA 0x02

/* FWCfgDmaAccess.control bits */
#define FW_CFG_DMA_CTL_ERROR 0x01
#define FW_CFG_DMA_CTL_READ 0x02
#define FW_CFG_DMA_CTL_SKIP 0x04
#define FW_CFG_DMA_CTL_SELECT 0x08
#define FW_CFG_DMA_CTL_WRITE 0x10

/* "QEMU CFG", read big-endian from the DMA address register when DMA is available */
#define FW_CFG_DMA_SIGNATURE 0x51454D5520434647ull

struct fw_cfg_item {
	uint8_t *data; /* owned copy; NULL for an empty or absent item */
	uint32_t len;
};

struct fw_cfg_file {
	char name[FW_CFG_MAX_FILE_PATH];
	uint16_t key;
};

struct fw_cfg {
	pthread_mutex_t lock; /* held by the bus around the I/O handlers */
	struct guest_mem *mem;

	/* What the guest can see (saved): the selected item, the position in it, and a DMA
	 * address whose high half was written but whose low half (the trigger) was not. */
	uint16_t selector;
	uint32_t offset; /* never past the end of the selected item */
	uint32_t dma_addr_hi;
	uint32_t dma_addr_lo;

	/* Configuration: filled by the machine, kept across reset, not saved. */
	struct fw_cfg_item items[2][FW_CFG_MAX_ENTRY]; /* [arch-local][key & ENTRY_MASK] */
	unsigned nfiles;
	struct fw_cfg_file files[FW_CFG_FILE_SLOTS]; /* sorted by name, as the directory */
};

extern const struct device_class fw_cfg_class;
extern const struct bus_ops fw_cfg_io_ops; /* opaque = struct fw_cfg * */

/*
 * Setup, by the machine (each takes fw->lock). Items are copied. Numeric items are
 * little-endian, as fw_cfg.rst says of FW_CFG_ID and QEMU does for every number it stores.
 * KEY may be any key below FW_CFG_FILE_FIRST other than FW_CFG_FILE_DIR, with or without
 * FW_CFG_ARCH_LOCAL; adding a key again replaces its item. Return 0, or -1 (logged).
 */
int fw_cfg_add_bytes(struct fw_cfg *fw, uint16_t key, const void *data, size_t len);
int fw_cfg_add_u16(struct fw_cfg *fw, uint16_t key, uint16_t value);
int fw_cfg_add_u32(struct fw_cfg *fw, uint16_t key, uint32_t value);
int fw_cfg_add_u64(struct fw_cfg *fw, uint16_t key, uint64_t value);

/*
 * Adds a named file (NAME at most 55 characters; no duplicates), listed in the directory
 * (FW_CFG_FILE_DIR) in name order. Returns its key (FW_CFG_FILE_FIRST upward, in the order
 * files were added), or -1 (logged).
 */
int fw_cfg_add_file(struct fw_cfg *fw, const char *name, const void *data, size_t len);
/* The key of file NAME, or -1 if there is none. */
int fw_cfg_find_file(struct fw_cfg *fw, const char *name);
