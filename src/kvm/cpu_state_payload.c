/*
 * The payload that carries KVM's state (cpu_state.h has the format): save, parse and validate,
 * apply in the load order, load with rollback. What goes in it is the record tables in
 * cpu_state.c; this file only walks them.
 */
#include "kvm/cpu_state_internal.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <sys/ioctl.h>
#include <zlib.h>

#define REC_NAME_MAX 32
#define PAYLOAD_HEADER 12
#define PAYLOAD_CRC 4

static bool host_has(const struct kvm_vm *vm, int cap)
{
	int fd = vm->vm_fd >= 0 ? vm->vm_fd : vm->kvm_fd;
	return ioctl(fd, KVM_CHECK_EXTENSION, cap) > 0;
}

static bool rec_host_ok(const struct kctx *k, const struct rec_desc *d)
{
	return !d->has_cap || host_has(k->vm, d->cap);
}

static void put_le(GByteArray *out, uint64_t v, unsigned width)
{
	uint8_t b[8];
	for (unsigned i = 0; i < width; i++)
		b[i] = v >> (8 * i);
	g_byte_array_append(out, b, width);
}

/* Calls REQ with an aligned copy of DATA (SIZE bytes) — record data in a file buffer has no
 * alignment. */
static int ioctl_copy_in(int fd, unsigned long req, const void *data, size_t size)
{
	void *buf = g_memdup2(data, size);
	int ret = ioctl(fd, req, buf);
	int saved = errno;
	g_free(buf);
	errno = saved;
	return ret;
}

static int rec_get_plain(const struct kctx *k, const struct rec_desc *d, GByteArray *out)
{
	void *buf = g_malloc0(d->elem_size);
	int ret = ioctl(k->fd, d->get_req, buf);
	if (ret >= 0)
		g_byte_array_append(out, buf, d->elem_size);
	int saved = errno;
	g_free(buf);
	errno = saved;
	return ret < 0 ? -1 : 0;
}

static int rec_set_plain(const struct kctx *k, const struct rec_desc *d, const struct rec_view *v,
			 char **error)
{
	if (ioctl_copy_in(k->fd, d->set_req, v->data, d->elem_size) < 0) {
		*error = g_strdup_printf("loading '%s' into KVM: %s", d->name, strerror(errno));
		return -1;
	}
	return 0;
}

static int rec_apply(const struct kctx *k, const struct rec_desc *d, const struct rec_view *v,
		     char **error)
{
	return d->set ? d->set(k, d, v, error) : rec_set_plain(k, d, v, error);
}

/* ---- the payload ---- */

static int payload_save(const struct payload_format *f, const struct kctx *k, GByteArray *out,
			char **error)
{
	size_t start = out->len;
	g_byte_array_append(out, (const guint8 *)f->tag, 4);
	put_le(out, f->version, 4);
	size_t count_at = out->len;
	put_le(out, 0, 4);
	uint32_t nsaved = 0;
	const char *group_done = NULL;
	GByteArray *elems = g_byte_array_new();
	for (unsigned i = 0; i < f->nrecs; i++) {
		const struct rec_desc *d = &f->recs[i];
		if (d->group && group_done && !strcmp(d->group, group_done))
			continue;
		if (!rec_host_ok(k, d)) {
			if (d->optional || d->group)
				continue;
			*error = g_strdup_printf("%s: this host's KVM cannot read '%s'", f->what,
						 d->name);
			goto fail;
		}
		g_byte_array_set_size(elems, 0);
		int ret = d->get ? d->get(k, d, elems) : rec_get_plain(k, d, elems);
		if (ret < 0) {
			*error = g_strdup_printf("%s: reading '%s' from KVM: %s", f->what, d->name,
						 strerror(errno));
			goto fail;
		}
		group_done = d->group;
		size_t nlen = strlen(d->name);
		put_le(out, nlen, 1);
		g_byte_array_append(out, (const guint8 *)d->name, nlen);
		put_le(out, d->elem_size, 4);
		put_le(out, elems->len / d->elem_size, 4);
		g_byte_array_append(out, elems->data, elems->len);
		nsaved++;
	}
	g_byte_array_free(elems, TRUE);
	for (unsigned b = 0; b < 4; b++)
		out->data[count_at + b] = nsaved >> (8 * b);
	put_le(out, crc32(0, out->data + start, out->len - start), 4);
	return 0;
fail:
	g_byte_array_free(elems, TRUE);
	g_byte_array_set_size(out, start);
	return -1;
}

/* Splits BUF into VIEWS (one per record of F) and checks everything that can be checked
 * without changing KVM's state. */
int cpu_state_payload_parse(const struct payload_format *f, const struct kctx *k,
			    const uint8_t *buf, size_t len, struct rec_view *views, char **error)
{
	memset(views, 0, f->nrecs * sizeof(*views));
	if (len < PAYLOAD_HEADER + PAYLOAD_CRC || memcmp(buf, f->tag, 4)) {
		*error = g_strdup_printf("%s: not a %s payload (bad tag or too short)", f->what,
					 f->what);
		return -1;
	}
	size_t end = len - PAYLOAD_CRC;
	if (get_le(buf + end, 4) != (uint32_t)crc32(0, buf, end)) {
		*error = g_strdup_printf("%s: damaged (checksum mismatch)", f->what);
		return -1;
	}
	uint32_t version = get_le(buf + 4, 4);
	if (version != f->version) {
		*error = g_strdup_printf("%s: format version %u is not supported (this pcvm "
					 "reads %u)",
					 f->what, version, f->version);
		return -1;
	}
	uint32_t nrec = get_le(buf + 8, 4);
	size_t pos = PAYLOAD_HEADER;
	for (uint32_t r = 0; r < nrec; r++) {
		if (end - pos < 1 + 8 || buf[pos] == 0 || buf[pos] > REC_NAME_MAX ||
		    end - pos - 1 - 8 < buf[pos]) {
			*error = g_strdup_printf("%s: record %u truncated or damaged", f->what, r);
			return -1;
		}
		size_t nlen = buf[pos];
		const char *name = (const char *)buf + pos + 1;
		pos += 1 + nlen;
		uint32_t elem_size = get_le(buf + pos, 4);
		uint32_t count = get_le(buf + pos + 4, 4);
		pos += 8;
		unsigned i = 0;
		while (i < f->nrecs && (strlen(f->recs[i].name) != nlen ||
					memcmp(f->recs[i].name, name, nlen)))
			i++;
		if (i == f->nrecs) {
			*error = g_strdup_printf("%s: unknown record '%.*s' (saved by a newer "
						 "pcvm?)",
						 f->what, (int)nlen, name);
			return -1;
		}
		const struct rec_desc *d = &f->recs[i];
		if (views[i].data) {
			*error = g_strdup_printf("%s: record '%s' appears twice", f->what, d->name);
			return -1;
		}
		if (elem_size != d->elem_size) {
			*error = g_strdup_printf("%s: record '%s' holds %u-byte structures, this "
						 "pcvm's kernel ABI has %u (saved by a pcvm built "
						 "for another kernel?)",
						 f->what, d->name, elem_size, d->elem_size);
			return -1;
		}
		if (count < d->min_count || count > d->max_count) {
			*error = g_strdup_printf("%s: record '%s' has %u elements, expected "
						 "%u to %u",
						 f->what, d->name, count, d->min_count,
						 d->max_count);
			return -1;
		}
		uint64_t bytes = (uint64_t)elem_size * count;
		if (bytes > end - pos) {
			*error = g_strdup_printf("%s: record '%s' truncated", f->what, d->name);
			return -1;
		}
		views[i] = (struct rec_view){ buf + pos, count };
		pos += bytes;
	}
	if (pos != end) {
		*error = g_strdup_printf("%s: %zu stray bytes after the last record", f->what,
					 end - pos);
		return -1;
	}
	for (unsigned i = 0; i < f->nrecs; i++) {
		const struct rec_desc *d = &f->recs[i];
		if (d->group) {
			unsigned present = 0;
			for (unsigned j = 0; j < f->nrecs; j++)
				if (f->recs[j].group && !strcmp(f->recs[j].group, d->group) &&
				    views[j].data)
					present++;
			if (present != 1) {
				*error = g_strdup_printf("%s: %s of the '%s' records", f->what,
							 present ? "more than one" : "none",
							 d->group);
				return -1;
			}
		} else if (!d->optional && !views[i].data) {
			*error = g_strdup_printf("%s: record '%s' is missing", f->what, d->name);
			return -1;
		}
		if (!views[i].data)
			continue;
		if (!rec_host_ok(k, d)) {
			*error = g_strdup_printf("%s: record '%s' needs %s, which this host's "
						 "KVM lacks",
						 f->what, d->name, d->cap_name);
			return -1;
		}
		if (d->check && d->check(k, &views[i], error) < 0) {
			char *inner = *error;
			*error = g_strdup_printf("%s: %s", f->what, inner);
			g_free(inner);
			return -1;
		}
	}
	return 0;
}

static int payload_apply(const struct payload_format *f, const struct kctx *k,
			 const struct rec_view *views, char **error)
{
	for (unsigned s = 0; s < f->nsteps; s++) {
		const struct load_step *st = &f->steps[s];
		if (!views[st->rec].data)
			continue;
		const struct rec_desc *d = &f->recs[st->rec];
		if ((st->apply ? st->apply : rec_apply)(k, d, &views[st->rec], error) < 0)
			return -1;
	}
	return 0;
}

/* Validates, reads the current state, applies; puts the previous state back if KVM refuses
 * something half-way. */
int cpu_state_payload_load(const struct payload_format *f, const struct kctx *k,
			   const uint8_t *buf, size_t len, char **error)
{
	struct rec_view *views = g_new0(struct rec_view, f->nrecs);
	int ret = -1;
	if (cpu_state_payload_parse(f, k, buf, len, views, error) < 0)
		goto out;
	GByteArray *before = g_byte_array_new();
	if (payload_save(f, k, before, error) < 0) {
		g_byte_array_free(before, TRUE);
		goto out;
	}
	char *err = NULL;
	if (payload_apply(f, k, views, &err) == 0) {
		ret = 0;
	} else {
		struct rec_view *old = g_new0(struct rec_view, f->nrecs);
		char *err2 = NULL;
		if (cpu_state_payload_parse(f, k, before->data, before->len, old, &err2) < 0 ||
		    payload_apply(f, k, old, &err2) < 0)
			*error = g_strdup_printf("%s: %s; putting the previous state back failed "
						 "too (%s): reset the machine",
						 f->what, err, err2);
		else
			*error = g_strdup_printf("%s: %s (the previous state is kept)", f->what,
						 err);
		g_free(err2);
		g_free(old);
	}
	g_free(err);
	g_byte_array_free(before, TRUE);
out:
	g_free(views);
	return ret;
}

/* Saves, then checks that the result would load: a snapshot that cannot be reverted to is
 * refused when it is taken, not found out at the revert. */
int cpu_state_payload_save_checked(const struct payload_format *f, const struct kctx *k,
				   GByteArray *out, char **error)
{
	size_t start = out->len;
	if (payload_save(f, k, out, error) < 0)
		return -1;
	struct rec_view *views = g_new0(struct rec_view, f->nrecs);
	char *err = NULL;
	int ret = cpu_state_payload_parse(f, k, out->data + start, out->len - start, views, &err);
	g_free(views);
	if (ret < 0) {
		*error = g_strdup_printf("KVM gave state this pcvm cannot load back: %s", err);
		g_free(err);
		g_byte_array_set_size(out, start);
	}
	return ret;
}
