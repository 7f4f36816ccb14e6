/*
 * The machinery of test_qcow2_powerloss.c (qcow2_powerloss_util.c): the recorder, which logs
 * every change pcvm makes to the image file and every sync in order, by wrapping those calls
 * at link time (the program is linked with -Wl,--wrap for each: tests/meson.build); stamps,
 * which say which write a guest cluster's contents came from; and the replayer, which builds
 * the images a power cut at points along the log could leave and checks them.
 */
#pragma once

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CLUSTER  65536u
#define IMG_SIZE (768ull << 20) /* two L2 tables' worth (512 MiB each) */

/* ---- the log: every change to the image file, and the syncs, in order ---- */

enum op_kind { OP_WRITE, OP_TRUNCATE, OP_SYNC_BEGIN, OP_SYNC_END };

struct op {
	enum op_kind kind; /* a WRITE without BUF writes zeros (a hole punched) */
	bool helper;   /* a sync run by another thread than the workload's (qcow2-sync) */
	bool data;     /* a WRITE of one whole guest cluster (a stamp), not metadata */
	bool late;     /* negative controls: no sync covers this change */
	unsigned sync; /* SYNC_*: which sync */
	int ret;       /* SYNC_END: 0 or -errno */
	uint64_t off;  /* WRITE: where; TRUNCATE: the new length */
	size_t len;    /* WRITE */
	uint8_t *buf;  /* WRITE: a copy of the bytes */
};

/* Shared with the wrappers, which run on any thread: under the lock. */
struct recorder {
	GMutex lock;
	int fd;		     /* the image being recorded; -1: none */
	GThread *workload;   /* the thread running the workload */
	GArray *ops;	     /* struct op */
	unsigned syncs;	     /* sync ids handed out */
	unsigned unmodelled; /* changes the replay cannot model (fallocate but punching holes) */
};
extern struct recorder rec;

/* How many ops are logged so far. */
size_t rec_len(void);

/* ---- stamps: a guest cluster's contents say which write they came from ---- */

/* Generation GEN (1..255) of guest cluster CHUNK into BUF (CLUSTER bytes); generation 0 is
 * zeros. Which stamp BUF holds (*GEN 0: zeros); false for anything else (garbage, a torn mix). */
void stamp_fill(uint8_t *buf, uint32_t chunk, unsigned gen);
bool stamp_parse(const uint8_t *buf, uint32_t *chunk, unsigned *gen);

/* ---- recordings of workloads ---- */

/* Runs of guest clusters written in order, REQ_CHUNKS per request (a cluster written before
 * gets its next generation, in place), or discarded. */
struct step {
	uint32_t first, n;
	bool flush;   /* block_flush after the run */
	bool discard; /* block_discard the run instead */
};

struct workload {
	const char *name;
	const struct step *steps;
	size_t n_steps;
	unsigned samples; /* cut points spread evenly over the log, besides the syncs' */
	uint32_t backed;  /* guest clusters [0, backed) come from a backing file: write #1 */
};

/* Guest cluster CHUNK's index among those checked in each crash state, or -1. */
int checked_slot(uint32_t chunk);

/* One guest cluster written (GEN 0: discarded) by one request, which spanned log entries
 * [start, end). */
struct gwrite {
	uint32_t chunk;
	unsigned gen;
	size_t start, end;
};

struct recording {
	const struct workload *wl;
	char *dir;
	char *base; /* the image before the workload */
	char *backing;
	char *work; /* the image the workload wrote */
	struct op *ops;
	size_t n_ops;
	GArray *gw; /* struct gwrite, in order */
	unsigned syncs, helper_syncs;
	unsigned requests, quick; /* guest writes, and how many of them block_try_now took */
	bool failed; /* keep the directory for a look */
};

/* Runs ARGV (a program in PATH); its exit status (128: killed), its output and errors in
 * *OUT (if OUT). A sparse copy of FROM at TO. */
int run_argv(const char *const *argv, char **out);
void copy_file(const char *from, const char *to);

/* ---- replaying the log ---- */

enum subset { SUB_ALL, SUB_NONE, SUB_METADATA, SUB_RANDOM1, SUB_RANDOM2, SUB_RANDOM3 };

struct replay {
	const enum subset *subsets;
	size_t n_subsets;
	bool control; /* a negative control: failures expected, no image kept */
	/* results */
	unsigned states, cuts, leaks, corrupt, bad_data, failures;
	GString *report;  /* the first failing states */
	GHashTable *seen; /* crash states checked already (durable point, changes applied) */
};

/* Checks the crash states at each cut point of CUTS (ascending). Where to cut, from FROM on:
 * while each sync runs and just after it returns, and the workload's samples spread evenly
 * in between. */
void replay_log(struct replay *rp, struct recording *r, GArray *cuts);
GArray *cut_points(const struct recording *r, size_t from);
