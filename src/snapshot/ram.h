/*
 * Guest RAM as a snapshot file (ID.ram): the machine's RAM buffer written at the same offsets
 * (buffer offset = file offset; the machine lays guest-physical RAM out in its buffer, so the
 * file is at guest-physical offsets below 4 GiB and above it shifted down by the PCI hole),
 * all-zero pages left as holes. No header: the file is exactly as long as the RAM.
 *
 * Saving writes PATH.tmp, flushes it (fdatasync), renames it to PATH and flushes the directory,
 * so after a crash or kill -9 at any point PATH is either the complete new image or whatever
 * was there before (an older PATH is replaced only by the rename). A stale PATH.tmp from a
 * crash is overwritten by the next save of PATH.
 *
 * Reverting maps the file copy-on-write over the RAM buffer (MAP_PRIVATE): time independent
 * of RAM size, pages read from the file only when first touched, holes read as zeros, guest
 * writes going to private memory, never to the file. The pages it replaces can be freed after
 * the pause (ram_retired_free): freeing a filled RAM is what would otherwise take the time.
 *
 * Saving does work in proportion to the data, not to the size of RAM: the pages nobody wrote
 * since RAM was allocated, or since a revert mapped a file over it, are still their backing's
 * (zeros, or that file's pages), as /proc/self/pagemap tells; those are skipped (zeros) or
 * copied from the file where it has data (copy_file_range), and only RAM's own pages are read.
 *
 * Pitfalls for the machine:
 *   - After ram_restore_map the RAM buffer is backed by PATH's inode. Never modify a RAM file
 *     in place (ram_save never does: it writes a new inode and renames it over): untouched
 *     pages of the mapping would show the new contents. Unlinking PATH is fine (the mapping
 *     keeps the inode alive until the next revert or the end of the process); truncating it
 *     is not (pages past the new end fault with SIGBUS).
 *   - Taking a snapshot while RAM is such a mapping works: pages the guest wrote come from
 *     the buffer, the others from the file ram_restore_map keeps open for this (so even after
 *     it was unlinked). Saving to the very PATH that is mapped is fine too (the rename leaves
 *     the mapped inode to the mapping).
 *   - The vCPUs must be paused around ram_restore_map (and around ram_save, which is a
 *     consistent copy only of a RAM nobody writes). KVM needs no new memory slots: the slots
 *     point at the same addresses, and the kernel's MMU notifiers drop KVM's view of the old
 *     pages when the mapping is replaced.
 *   - The new mapping has none of the old one's madvise() flags (MADV_MERGEABLE): apply them
 *     again if wanted.
 *
 * Live saving (struct ram_saver), for a snapshot whose RAM is written while the guest runs:
 *   1. Turn on dirty logging for every RAM slot: KVM_SET_USER_MEMORY_REGION again with the same
 *      slot, address and size plus KVM_MEM_LOG_DIRTY_PAGES (kvm_vm_set_memory_logged), then
 *      fetch each slot's log once (KVM_GET_DIRTY_LOG) to clear it.
 *   2. ram_saver_begin, then ram_saver_pass(NULL): writes every page.
 *   3. Repeat: fetch each slot's dirty log, merge it into one bitmap over the RAM buffer
 *      (ram_bitmap_merge at the slot's first buffer page: pc's SLOT_LOW at page 0,
 *      SLOT_BELOW_4G at 0xC0000 / 4096, SLOT_ABOVE_4G at below_4g / 4096), ram_saver_pass.
 *      Stop when a pass writes few pages.
 *   4. Pause the vCPUs, fetch and write the last dirty pages, capture CPU and device state in
 *      this same pause, ram_saver_finish, turn dirty logging off, resume.
 *   The image is the RAM at the final pass, so the device and CPU state must be taken in the
 *   pause of step 4 (as in live migration), not at the start. KVM's dirty log records only
 *   what the guest writes through KVM: pages that pcvm's own device models write (disk DMA,
 *   anything through guest_mem) must be added to the bitmap by the machine, or those devices
 *   must be quiet until the final pass.
 */
#pragma once
#include <stdint.h>

#define RAM_PAGE_SIZE 4096u

/* Writes SIZE bytes of RAM (page-aligned, SIZE a multiple of RAM_PAGE_SIZE) to PATH as above.
 * On error returns -1 with *error set; PATH is then unchanged. */
int ram_save(const uint8_t *ram, uint64_t size, const char *path, char **error);
/* Called as a save goes: DONE of TOTAL bytes of RAM dealt with (every 32 MiB and at the end). */
typedef void (*ram_progress_fn)(void *opaque, uint64_t done, uint64_t total);
/* ram_save, calling FN (NULL: none) as it goes. */
int ram_save_progress(const uint8_t *ram, uint64_t size, const char *path, ram_progress_fn fn,
		      void *opaque, char **error);

/* Replaces the mapping at RAM (SIZE bytes, page-aligned) with a copy-on-write mapping of PATH,
 * which must be a RAM file of exactly SIZE bytes. On error returns -1 with *error set and RAM
 * as it was.
 *
 * OLD NULL: the replaced pages are freed inside the call, which for a guest that wrote much of
 * its RAM is most of the call's time (tens of milliseconds per GiB). Otherwise they are only
 * moved out of the way (no page is freed, no copy made) and *OLD holds them, or NULL where the
 * kernel cannot move them (they were then freed in the call): pass *OLD to ram_retired_free
 * once the vCPUs run again. KVM is not involved: the memory slots keep RAM's address. */
struct ram_retired;
int ram_restore_map(uint8_t *ram, uint64_t size, const char *path, struct ram_retired **old,
		    char **error);
/* Work ram_restore_map with OLD would otherwise do inside the pause: call it with the vCPUs
 * still running. It clears MADV_MERGEABLE (the mapping that replaces RAM has no such flag). */
void ram_restore_prepare(uint8_t *ram, uint64_t size);
/* Frees OLD on a thread of its own, in chunks (NULL: nothing to do). */
void ram_retired_free(struct ram_retired *old);
/* Bytes retired by ram_restore_map and not freed yet (tests wait for 0). */
uint64_t ram_retired_pending(void);

/* ---- live saving ---- */

struct ram_saver;

/* Starts writing PATH.tmp for RAM; RAM must stay mapped until finish or abort. */
struct ram_saver *ram_saver_begin(const char *path, const uint8_t *ram, uint64_t size,
				  char **error);
/* Progress of each pass (ram_save_progress). */
void ram_saver_set_progress(struct ram_saver *s, ram_progress_fn fn, void *opaque);
/* Writes the pages marked in DIRTY_BITMAP (bit N of word N / 64 is RAM page N, as in KVM's
 * dirty logs), or every page for NULL; a marked page that is now all zeros becomes a hole.
 * Returns the number of marked pages, or -1 with *error set (then call ram_saver_abort). */
int64_t ram_saver_pass(struct ram_saver *s, const uint64_t *dirty_bitmap, char **error);
/* Flushes, renames into place and frees S. On error returns -1 (S freed, PATH unchanged). */
int ram_saver_finish(struct ram_saver *s, char **error);
/* Drops the temporary file and frees S. */
void ram_saver_abort(struct ram_saver *s);

/* 64-bit words in a bitmap of SIZE bytes of RAM. */
uint64_t ram_bitmap_words(uint64_t size);
/* ORs NPAGES bits of SRC (a KVM slot's dirty log) into DST starting at page FIRST_PAGE. */
void ram_bitmap_merge(uint64_t *dst, uint64_t first_page, const uint64_t *src, uint64_t npages);
