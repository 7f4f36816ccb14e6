/*
 * libFuzzer target for the qcow2 parser: the input is an image file. It is opened (header,
 * extensions, L1/refcount/snapshot tables), a few sectors are read (L2 tables, data,
 * compressed clusters), and — on a private copy — one sector is written and a cluster
 * discarded (refcounts, allocation, table growth), then the image is closed.
 *
 * Any crash, sanitizer report, leak or hang is a bug: a hostile image must be refused with
 * a message or answer -EIO, never touch memory or file offsets outside its own bounds.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <glib.h>

#include "block/block.h"
#include "log.h"

/* The input as a file: a memfd, reached by path as block_open wants one. */
static int fuzz_file(const uint8_t *data, size_t size, char *path, size_t path_len)
{
	int fd = memfd_create("fuzz.qcow2", MFD_CLOEXEC);
	if (fd < 0)
		return -1;
	if (write(fd, data, size) != (ssize_t)size) {
		close(fd);
		return -1;
	}
	snprintf(path, path_len, "/proc/self/fd/%d", fd);
	return fd;
}

static void fuzz_read(struct block_dev *bd)
{
	static uint8_t buf[65536];
	uint64_t size = block_size(bd);
	const uint64_t at[] = { 0, 512, 65536, size / 2, size - 4096, size - 512 };
	for (size_t i = 0; i < G_N_ELEMENTS(at); i++) {
		uint64_t off = at[i] & ~511ull;
		if (off < size)
			block_pread(bd, buf, MIN(sizeof(buf), size - off), off);
	}
}

static void fuzz_write(struct block_dev *bd)
{
	static uint8_t buf[4096];
	uint64_t size = block_size(bd);
	memset(buf, 0x5a, sizeof(buf));
	if (size >= sizeof(buf) + 8192)
		block_pwrite(bd, buf, sizeof(buf), 8192 - 512);
	if (size >= 1 << 20)
		block_discard(bd, 0, 1 << 20);
	fuzz_read(bd);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	log_set_level(LOG_ERROR + 1); /* quiet: hostile images log by design */
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[64], *error = NULL;
	for (int write = 0; write < 2; write++) {
		int fd = fuzz_file(data, size, path, sizeof(path));
		if (fd < 0)
			return 0;
		struct block_dev *bd = block_open(path, !write, &error);
		if (bd) {
			write ? fuzz_write(bd) : fuzz_read(bd);
			block_close(bd);
		}
		g_clear_pointer(&error, g_free);
		close(fd);
	}
	return 0;
}
