/*
 * What the qcow2 tests share: a temporary directory, shell commands, qemu-img and qemu-io as
 * oracles, opening images, byte patterns, header fields, damaged copies and killed children.
 */
#pragma once

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "block/block.h"

/* A directory of this test program's own, made on first use; PATH in it (removed first). */
const char *tmp_dir(void);
char *tmp_path(const char *name);

/* g_test_run(), then the directory is removed. */
int run_tests(void);

/* Whether qemu-img and qemu-io are installed; if not, the test is marked skipped. */
bool have_qemu(void);

/* Runs a shell command; its exit status (128: killed), its output in *OUT (if OUT). */
int G_GNUC_PRINTF(2, 3) sh(char **out, const char *fmt, ...);

/* qemu-img check: 0 clean, 3 leaks only (allowed where LEAKS_OK); anything else fails. */
void check_image(const char *path, bool leaks_ok);

/* qemu-io CMDS (NULL-terminated, -c each) on PATH must succeed, every pattern verified. */
void qemu_io_v(const char *path, const char *const *cmds);
#define qemu_io(path, ...) qemu_io_v(path, (const char *const[]){ __VA_ARGS__, NULL })

struct block_dev *open_ok(const char *path, bool read_only);

/* An image kind: who creates it, with which options. */
struct kind {
	const char *name;
	const char *qemu_opts; /* NULL: block_create_qcow2 */
	unsigned cluster_size;
	bool no_snapshots; /* refcounts too narrow to share a cluster */
};

/* A new image NAME (in the test's directory) of kind K and SIZE bytes. */
char *make_image(const struct kind *k, const char *name, uint64_t size);

/* Opening PATH fails with an error that contains MSG. */
void expect_open_error(const char *path, bool read_only, const char *msg);

/* LEN bytes of PAT at OFF; reading them back. */
void write_pattern(struct block_dev *bd, uint64_t off, size_t len, uint8_t pat);
bool has_pattern(struct block_dev *bd, uint64_t off, size_t len, uint8_t pat);
void expect_pattern(struct block_dev *bd, uint64_t off, size_t len, uint8_t pat);

/* A big-endian header field of WIDTH bytes at OFF of the file PATH. */
uint64_t be_field(const char *path, uint64_t off, unsigned width);
void set_be_field(const char *path, uint64_t off, unsigned width, uint64_t v);

/* A byte range of a file. */
struct file_area {
	uint64_t off, len;
};

/* CONTENTS (LEN bytes) with 1 to MAX_FLIPS - 1 random bits flipped, each in a random one of
 * the N AREAS (flips past LEN are dropped), written to PATH. */
void write_flipped(const char *path, const char *contents, gsize len, const struct file_area *areas,
		   size_t n, int max_flips, GRand *rand);

/* Runs ARGV (a child that reports on its stdout) for a random MIN_MS to MAX_MS, keeping its
 * output drained; then kill -9, which must be what ends it. All that it wrote. */
GByteArray *run_killed(char **argv, GRand *rand, int min_ms, int max_ms);
