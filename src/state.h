/*
 * Device state described once, as data. A device lists the fields the guest can see in a
 * state_desc; save and load are generated from that table, so a new field cannot be forgotten
 * in one of them. Derived values (IRQ levels, mapped BARs, timer deadlines) are not saved but
 * recomputed by post_load.
 *
 * Section encoding (all little-endian): for each field, u8 name length, name, u8 kind,
 * u32 element count, then count elements. Loading matches fields by name: a field the stream
 * lacks keeps its reset value (an older pcvm wrote it); a field this pcvm does not know, or one
 * whose kind or count differs, refuses the whole section before anything is written.
 */
#pragma once
#include <glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* BOOL is a byte that must be 0 or 1: a load refuses anything else, so that a damaged file can
 * never put an invalid value into a C bool. */
enum state_kind { STATE_KIND_U8 = 1, STATE_KIND_U16, STATE_KIND_U32, STATE_KIND_U64, STATE_KIND_BOOL };

struct state_field {
	const char *name;
	enum state_kind kind;
	size_t offset;
	uint32_t count; /* elements: 1 for a scalar */
};

struct state_desc {
	const char *name;
	uint32_t version;
	const struct state_field *fields;
	size_t nfields;
	/* After a load: recompute derived state; return -1 (with *error set) to refuse values
	 * the device cannot accept (an index past an array, say). */
	int (*post_load)(void *obj, char **error);
	/* The refusing part of post_load on its own, which post_load calls too: returns -1 with
	 * *error set for values the device cannot accept. Pure: it reads OBJ (loaded fields, and
	 * configuration the device keeps unchanged, such as its power-on config space) and
	 * changes nothing; state_check runs it on a scratch copy of the object, so it must not
	 * lock, follow pointers to state that changes, or touch the host. */
	int (*check)(const void *obj, char **error);
	size_t size; /* sizeof the object: what state_check copies */
};

/* Compile-time check that the field's C type has the width the table claims. */
#define STATE_CHECK_(cond) (0 * sizeof(struct { int ok_; _Static_assert(cond, #cond); }))
#define STATE_ELEM_(type, f) (((type *)0)->f)

#define STATE_FIELD_(type, f, kind, width)                                                         \
	{ #f, kind, offsetof(type, f) + STATE_CHECK_(sizeof(STATE_ELEM_(type, f)) == width), 1 }
#define STATE_ARRAY_(type, f, kind, width)                                                         \
	{ #f, kind, offsetof(type, f) + STATE_CHECK_(sizeof(STATE_ELEM_(type, f)[0]) == width),    \
	  sizeof(STATE_ELEM_(type, f)) / width }

#define STATE_U8(type, f) STATE_FIELD_(type, f, STATE_KIND_U8, 1)
#define STATE_U16(type, f) STATE_FIELD_(type, f, STATE_KIND_U16, 2)
#define STATE_U32(type, f) STATE_FIELD_(type, f, STATE_KIND_U32, 4)
#define STATE_U64(type, f) STATE_FIELD_(type, f, STATE_KIND_U64, 8)
#define STATE_BOOL(type, f)                                                                        \
	{ #f, STATE_KIND_BOOL,                                                                     \
	  offsetof(type, f) +                                                                      \
		  STATE_CHECK_(__builtin_types_compatible_p(__typeof__(STATE_ELEM_(type, f)), bool)), \
	  1 }
#define STATE_U8_ARRAY(type, f) STATE_ARRAY_(type, f, STATE_KIND_U8, 1)
#define STATE_U16_ARRAY(type, f) STATE_ARRAY_(type, f, STATE_KIND_U16, 2)
#define STATE_U32_ARRAY(type, f) STATE_ARRAY_(type, f, STATE_KIND_U32, 4)
#define STATE_U64_ARRAY(type, f) STATE_ARRAY_(type, f, STATE_KIND_U64, 8)

/* TYPE: the object's type (its size is what state_check copies; malloc's alignment must do). */
#define STATE_DESC(sname, ver, type, table, ...)                                                   \
	{ .name = sname, .version = ver, .fields = table, .nfields = G_N_ELEMENTS(table),          \
	  .size = sizeof(type) + STATE_CHECK_(_Alignof(type) <= _Alignof(max_align_t)),            \
	  __VA_ARGS__ }

/* Appends OBJ's fields to OUT. */
void state_save(const struct state_desc *desc, const void *obj, GByteArray *out);
/* Validates the whole section, then writes OBJ and runs post_load. On error returns -1 with
 * *error set (g_free it) and OBJ untouched (unless post_load refused). */
int state_load(const struct state_desc *desc, void *obj, const uint8_t *buf, size_t len,
	       char **error);
/* Whether state_load would accept BUF into OBJ, with OBJ left untouched: the section is
 * validated as state_load validates it, then loaded into a scratch copy of OBJ (the caller
 * holds OBJ's lock, as for state_load) and DESC's check hook run on that. Returns 0, or -1
 * with *error set. What a revert runs on every section before it changes anything. */
int state_check(const struct state_desc *desc, const void *obj, const uint8_t *buf, size_t len,
		char **error);

/*
 * The state file: magic "PCVMSTAT", u32 format version, sections (u16 name length, name,
 * u32 instance, u32 version, u64 length, payload), then an end mark and a CRC-32 of everything
 * before it. Parsing validates the whole file before returning any section.
 */
#define STATE_FILE_VERSION 1

struct state_writer;
struct state_writer *state_writer_new(void);
void state_writer_add(struct state_writer *w, const char *name, uint32_t instance,
		      uint32_t version, const uint8_t *payload, size_t len);
/* Finishes the stream and returns it (the writer is freed). */
GByteArray *state_writer_finish(struct state_writer *w);

struct state_section {
	char *name;
	uint32_t instance;
	uint32_t version;
	const uint8_t *payload; /* points into the parsed buffer */
	size_t len;
};

/* Returns an array of struct state_section (free with state_sections_free), or NULL with
 * *error set. BUF must outlive the result. */
GArray *state_file_parse(const uint8_t *buf, size_t len, char **error);
void state_sections_free(GArray *sections);
const struct state_section *state_sections_find(GArray *sections, const char *name,
						uint32_t instance);
