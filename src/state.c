#include "state.h"

#include <string.h>
#include <stdbool.h>
#include <zlib.h>

static const unsigned kind_width[] = {
	[STATE_KIND_U8] = 1, [STATE_KIND_U16] = 2, [STATE_KIND_U32] = 4, [STATE_KIND_U64] = 8,
	[STATE_KIND_BOOL] = 1,
};

static void put_le(GByteArray *out, uint64_t v, unsigned width)
{
	uint8_t b[8];
	for (unsigned i = 0; i < width; i++)
		b[i] = v >> (8 * i);
	g_byte_array_append(out, b, width);
}

static uint64_t get_le(const uint8_t *p, unsigned width)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < width; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

static uint64_t field_elem_get(const void *obj, const struct state_field *f, uint32_t i)
{
	const uint8_t *p = (const uint8_t *)obj + f->offset + (size_t)i * kind_width[f->kind];
	switch (f->kind) {
	case STATE_KIND_BOOL:
	case STATE_KIND_U8: return *p;
	case STATE_KIND_U16: { uint16_t v; memcpy(&v, p, 2); return v; }
	case STATE_KIND_U32: { uint32_t v; memcpy(&v, p, 4); return v; }
	case STATE_KIND_U64: { uint64_t v; memcpy(&v, p, 8); return v; }
	}
	return 0;
}

static void field_elem_set(void *obj, const struct state_field *f, uint32_t i, uint64_t v)
{
	uint8_t *p = (uint8_t *)obj + f->offset + (size_t)i * kind_width[f->kind];
	switch (f->kind) {
	case STATE_KIND_BOOL:
	case STATE_KIND_U8: *p = v; break;
	case STATE_KIND_U16: { uint16_t x = v; memcpy(p, &x, 2); break; }
	case STATE_KIND_U32: { uint32_t x = v; memcpy(p, &x, 4); break; }
	case STATE_KIND_U64: memcpy(p, &v, 8); break;
	}
}

void state_save(const struct state_desc *desc, const void *obj, GByteArray *out)
{
	for (size_t i = 0; i < desc->nfields; i++) {
		const struct state_field *f = &desc->fields[i];
		size_t nlen = strlen(f->name);
		g_assert(nlen < 256);
		put_le(out, nlen, 1);
		g_byte_array_append(out, (const guint8 *)f->name, nlen);
		put_le(out, f->kind, 1);
		put_le(out, f->count, 4);
		for (uint32_t e = 0; e < f->count; e++)
			put_le(out, field_elem_get(obj, f, e), kind_width[f->kind]);
	}
}

static const struct state_field *desc_find(const struct state_desc *desc, const uint8_t *name,
					   size_t nlen)
{
	for (size_t i = 0; i < desc->nfields; i++)
		if (strlen(desc->fields[i].name) == nlen && !memcmp(desc->fields[i].name, name, nlen))
			return &desc->fields[i];
	return NULL;
}

/* One pass over the section; writes OBJ only when APPLY. */
static int state_walk(const struct state_desc *desc, void *obj, const uint8_t *buf, size_t len,
		      bool apply, char **error)
{
	size_t pos = 0;
	while (pos < len) {
		size_t nlen = buf[pos++];
		if (len - pos < nlen + 5) {
			*error = g_strdup_printf("%s: state section truncated", desc->name);
			return -1;
		}
		const uint8_t *name = buf + pos;
		pos += nlen;
		unsigned kind = buf[pos++];
		uint32_t count = get_le(buf + pos, 4);
		pos += 4;
		const struct state_field *f = desc_find(desc, name, nlen);
		if (!f) {
			*error = g_strdup_printf("%s: unknown state field '%.*s' (saved by a newer pcvm?)",
						 desc->name, (int)nlen, name);
			return -1;
		}
		if (kind != f->kind || count != f->count) {
			*error = g_strdup_printf("%s: state field '%s' has another type or size",
						 desc->name, f->name);
			return -1;
		}
		size_t bytes = (size_t)count * kind_width[kind];
		if (len - pos < bytes) {
			*error = g_strdup_printf("%s: state field '%s' truncated", desc->name, f->name);
			return -1;
		}
		for (uint32_t e = 0; kind == STATE_KIND_BOOL && e < count; e++) {
			if (buf[pos + e] > 1) {
				*error = g_strdup_printf("%s: state field '%s' is not a boolean",
							 desc->name, f->name);
				return -1;
			}
		}
		if (apply)
			for (uint32_t e = 0; e < count; e++)
				field_elem_set(obj, f, e, get_le(buf + pos + (size_t)e * kind_width[kind],
								 kind_width[kind]));
		pos += bytes;
	}
	return 0;
}

int state_load(const struct state_desc *desc, void *obj, const uint8_t *buf, size_t len,
	       char **error)
{
	if (state_walk(desc, obj, buf, len, false, error) < 0)
		return -1;
	state_walk(desc, obj, buf, len, true, error);
	if (desc->post_load)
		return desc->post_load(obj, error);
	return 0;
}

int state_check(const struct state_desc *desc, const void *obj, const uint8_t *buf, size_t len,
		char **error)
{
	if (state_walk(desc, NULL, buf, len, false, error) < 0)
		return -1;
	if (!desc->check)
		return 0;
	/* fields the section lacks keep the object's values, as in a load */
	g_assert(desc->size > 0); /* STATE_DESC sets it */
	void *scratch = g_memdup2(obj, desc->size);
	state_walk(desc, scratch, buf, len, true, error);
	int ret = desc->check(scratch, error);
	g_free(scratch);
	return ret;
}

/* ---- the state file ---- */

static const char state_magic[8] = "PCVMSTAT";
#define STATE_END_MARK 0xFFFFu

struct state_writer {
	GByteArray *buf;
};

struct state_writer *state_writer_new(void)
{
	struct state_writer *w = g_new0(struct state_writer, 1);
	w->buf = g_byte_array_new();
	g_byte_array_append(w->buf, (const guint8 *)state_magic, 8);
	put_le(w->buf, STATE_FILE_VERSION, 4);
	return w;
}

void state_writer_add(struct state_writer *w, const char *name, uint32_t instance,
		      uint32_t version, const uint8_t *payload, size_t len)
{
	size_t nlen = strlen(name);
	g_assert(nlen > 0 && nlen < STATE_END_MARK);
	put_le(w->buf, nlen, 2);
	g_byte_array_append(w->buf, (const guint8 *)name, nlen);
	put_le(w->buf, instance, 4);
	put_le(w->buf, version, 4);
	put_le(w->buf, len, 8);
	g_byte_array_append(w->buf, payload, len);
}

GByteArray *state_writer_finish(struct state_writer *w)
{
	GByteArray *out = w->buf;
	put_le(out, STATE_END_MARK, 2);
	put_le(out, crc32(0, out->data, out->len), 4);
	g_free(w);
	return out;
}

void state_sections_free(GArray *sections)
{
	if (!sections)
		return;
	for (guint i = 0; i < sections->len; i++)
		g_free(g_array_index(sections, struct state_section, i).name);
	g_array_free(sections, TRUE);
}

GArray *state_file_parse(const uint8_t *buf, size_t len, char **error)
{
	if (len < 8 + 4 + 2 + 4 || memcmp(buf, state_magic, 8)) {
		*error = g_strdup("not a pcvm state file (bad magic)");
		return NULL;
	}
	uint32_t version = get_le(buf + 8, 4);
	if (version != STATE_FILE_VERSION) {
		*error = g_strdup_printf("state file format %u is not supported (this pcvm reads %u)",
					 version, STATE_FILE_VERSION);
		return NULL;
	}
	GArray *sections = g_array_new(FALSE, TRUE, sizeof(struct state_section));
	size_t pos = 12;
	for (;;) {
		if (len - pos < 2)
			goto truncated;
		size_t nlen = get_le(buf + pos, 2);
		pos += 2;
		if (nlen == STATE_END_MARK)
			break;
		if (nlen == 0 || len - pos < nlen + 16)
			goto truncated;
		struct state_section s;
		s.name = g_strndup((const char *)buf + pos, nlen);
		pos += nlen;
		s.instance = get_le(buf + pos, 4);
		s.version = get_le(buf + pos + 4, 4);
		uint64_t plen = get_le(buf + pos + 8, 8);
		pos += 16;
		if (plen > len - pos) {
			g_free(s.name);
			goto truncated;
		}
		s.payload = buf + pos;
		s.len = plen;
		pos += plen;
		g_array_append_val(sections, s);
	}
	if (len - pos != 4)
		goto truncated;
	if (get_le(buf + pos, 4) != (uint32_t)crc32(0, buf, pos)) {
		state_sections_free(sections);
		*error = g_strdup("state file is damaged (checksum mismatch)");
		return NULL;
	}
	return sections;
truncated:
	state_sections_free(sections);
	*error = g_strdup("state file is truncated or damaged");
	return NULL;
}

const struct state_section *state_sections_find(GArray *sections, const char *name,
						uint32_t instance)
{
	for (guint i = 0; i < sections->len; i++) {
		const struct state_section *s = &g_array_index(sections, struct state_section, i);
		if (s->instance == instance && !strcmp(s->name, name))
			return s;
	}
	return NULL;
}
