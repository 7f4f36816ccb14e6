/*
 * What the two halves of the KVM state code share, and nothing else uses: the record and
 * payload descriptions, and the payload functions the record tables are driven by.
 * cpu_state.c: the vCPU and VM record tables, their get/set/check handlers and the public
 * functions of cpu_state.h; cpu_state_payload.c: the payload format itself — save, parse and
 * validate, apply, load with rollback. The public interface is cpu_state.h.
 */
#pragma once
#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "kvm/cpu_state.h"

/* ---- records ---- */

struct kctx {
	int fd; /* the vCPU (cpu records) or the VM (kvm records) */
	const struct kvm_vm *vm;
};

struct rec_view {
	const uint8_t *data; /* NULL: absent */
	uint32_t count;
};

struct rec_desc {
	const char *name;
	uint32_t elem_size; /* the kernel ABI size of one element */
	uint32_t min_count, max_count;
	bool has_cap;
	int cap;	       /* with has_cap: the KVM_CAP_* the host needs for this record */
	const char *cap_name;
	const char *group;     /* alternatives: the first the host supports is saved */
	bool optional;	       /* saved only where the host has CAP; a load takes it if present */
	unsigned long get_req; /* a plain structure: read with this ioctl, */
	unsigned long set_req; /* written with this one */
	uint32_t arg;	       /* for get/set: which irqchip */
	/* otherwise: appends the record's elements to OUT */
	int (*get)(const struct kctx *k, const struct rec_desc *d, GByteArray *out);
	int (*set)(const struct kctx *k, const struct rec_desc *d, const struct rec_view *v,
		   char **error);
	/* refuses what KVM would refuse (or what is plainly damaged), before any change */
	int (*check)(const struct kctx *k, const struct rec_view *v, char **error);
};

/* One step of a load: a record and how to apply it (NULL: its set_req or set). */
struct load_step {
	unsigned rec;
	int (*apply)(const struct kctx *k, const struct rec_desc *d, const struct rec_view *v,
		     char **error);
};

struct payload_format {
	const char *what; /* for messages */
	char tag[4];
	uint32_t version;
	const struct rec_desc *recs;
	unsigned nrecs;
	const struct load_step *steps;
	unsigned nsteps;
};

/* The payload's integers and the XSAVE area's fields are little-endian, at any alignment. */
static inline uint64_t get_le(const uint8_t *p, unsigned width)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < width; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

/* ---- the payload (cpu_state_payload.c) ---- */

/* Checks BUF against F without changing KVM's state; VIEWS has one entry per record of F. */
int cpu_state_payload_parse(const struct payload_format *f, const struct kctx *k,
			    const uint8_t *buf, size_t len, struct rec_view *views, char **error);
/* Validates BUF whole, then applies it; on error the previous state is kept. */
int cpu_state_payload_load(const struct payload_format *f, const struct kctx *k,
			   const uint8_t *buf, size_t len, char **error);
/* Appends the state to OUT, checked to load back; on error OUT is as it was. */
int cpu_state_payload_save_checked(const struct payload_format *f, const struct kctx *k,
				   GByteArray *out, char **error);
