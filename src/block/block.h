/*
 * Disk images behind one small interface. Requests are asynchronous: block_submit() queues a
 * request and its done callback runs when it completes. The first backend completes inline
 * (the callback may run before block_submit returns); io_uring will complete them on the main
 * loop, so a caller must not assume either.
 */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BLOCK_SECTOR 512

enum block_op { BLOCK_READ, BLOCK_WRITE, BLOCK_FLUSH };

struct block_req {
	enum block_op op;
	uint64_t offset; /* bytes */
	void *buf;
	size_t len;
	void (*done)(struct block_req *req, int ret); /* ret: 0 or -errno */
	void *opaque;
};

struct block_dev;

struct block_driver {
	const char *name;
	/* Does this header (the file's first bytes) belong to this format? */
	bool (*probe)(const uint8_t *header, size_t len);
	int (*open)(struct block_dev *bd, char **error);
	void (*close)(struct block_dev *bd);
	int (*pread)(struct block_dev *bd, void *buf, size_t len, uint64_t offset);
	int (*pwrite)(struct block_dev *bd, const void *buf, size_t len, uint64_t offset);
	int (*flush)(struct block_dev *bd);
};

struct block_dev {
	const struct block_driver *drv;
	char *path;
	int fd;
	bool read_only;
	uint64_t size; /* virtual disk size in bytes */
	void *priv;    /* the driver's state */
};

/* Opens PATH, detecting the format from its contents (never from its name). */
struct block_dev *block_open(const char *path, bool read_only, char **error);
/* A disk held in memory, for tests: SIZE bytes of zeros. */
struct block_dev *block_open_memory(uint64_t size);
void block_close(struct block_dev *bd);

static inline uint64_t block_size(const struct block_dev *bd)
{
	return bd->size;
}

void block_submit(struct block_dev *bd, struct block_req *req);

/* Synchronous helpers (tools, tests, firmware loading). */
int block_pread(struct block_dev *bd, void *buf, size_t len, uint64_t offset);
int block_pwrite(struct block_dev *bd, const void *buf, size_t len, uint64_t offset);

/* Creates a sparse raw image of SIZE bytes; refuses to overwrite. */
int block_create_raw(const char *path, uint64_t size, char **error);
/* "8G", "512M", "100K", "1T" or plain bytes; returns 0 on a bad string. */
uint64_t block_parse_size(const char *text);

extern const struct block_driver block_raw_driver;
