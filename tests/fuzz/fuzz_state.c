/*
 * libFuzzer target for device state loading: what a snapshot's ID.state file (or a suspended
 * machine's) hands every device when the VM reverts to it. The first byte of the input picks
 * what the rest is:
 *   0xFF   a whole state file (state_file_parse; its CRC is fixed first): each section whose
 *          name is a device class's is loaded into such a device, "cpu" and "kvm" checked
 *   0xFE   a vCPU payload, 0xFD an in-kernel VM payload (fuzz_state_kvm.c): the second byte
 *          says which capabilities the fake host has
 *   0x80 + N  the values of class N's fields (N % classes with state), in the order and widths
 *          of its description (missing bytes read as 0): the harness writes the section, so
 *          that the fuzzer works on what post_load has to check, not on field names
 *   N < 0x80  N % (classes with state) picks a class of device_classes[]: the rest is its section
 * A device is built on the fakes as the machine wires it (fuzz_state_rig.c) and state_check()
 * then state_load() run on it, under its lock, as a revert does: they must agree, and the check
 * must leave the device as it was. A state the device accepts must then survive:
 * a sweep over its registers, time, the host's input, the guest's usual steps and a reset; and
 * it must save and load back unchanged (a snapshot of a reverted guest must revert too).
 *
 * Any crash, sanitizer report, leak or abort is a bug: a hostile snapshot file is refused by
 * validation or loads into a state the device survives.
 *
 * Seeds: FUZZ_STATE_SEEDS=DIR fuzz_state (or fuzz_replay_state) writes them and exits: every
 * device's state_save() after each step of a short realistic use, the whole machine's state
 * file, and KVM payloads as cpu_state_save writes them. tests/fuzz/state-seeds/ holds inputs
 * that found bugs.
 */
#include <glib.h>
#include <glib/gstdio.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "fuzz_glib.h"
#include "fuzz_state.h"
#include "log.h"
#include "state.h"

#define MODE_FILE 0xFF
#define MODE_VCPU 0xFE
#define MODE_VM 0xFD
#define MODE_VALUES 0x80
#define MAX_CLASSES 64
#define MAX_SECTIONS 16

static const struct device_class *classes[MAX_CLASSES];
static unsigned nclasses;

static void fail(const struct device_class *cls, const char *what, const char *detail)
{
	fprintf(stderr, "fuzz_state: %s: %s (%s)\n", cls->name, what, detail ? detail : "");
	abort();
}

static GByteArray *save(struct rig *r)
{
	GByteArray *out = g_byte_array_new();
	pthread_mutex_t *lock = r->cls->lock(r->dev);
	pthread_mutex_lock(lock);
	state_save(r->cls->state, r->dev, out);
	pthread_mutex_unlock(lock);
	return out;
}

static int load(struct rig *r, const uint8_t *buf, size_t len, char **error)
{
	pthread_mutex_t *lock = r->cls->lock(r->dev);
	pthread_mutex_lock(lock);
	int ret = state_load(r->cls->state, r->dev, buf, len, error);
	pthread_mutex_unlock(lock);
	return ret;
}

/* What a revert runs on every section first: state_check must change nothing in the device,
 * and say why when it refuses. Returns its verdict. */
static int check(struct rig *r, const uint8_t *buf, size_t len)
{
	GByteArray *before = save(r);
	char *error = NULL;
	pthread_mutex_t *lock = r->cls->lock(r->dev);
	pthread_mutex_lock(lock);
	int ret = state_check(r->cls->state, r->dev, buf, len, &error);
	pthread_mutex_unlock(lock);
	GByteArray *after = save(r);
	if (before->len != after->len || (before->len && memcmp(before->data, after->data,
							       before->len)))
		fail(r->cls, "state_check changed the device", error);
	if (ret < 0 && !error)
		fail(r->cls, "a refused check says nothing", NULL);
	g_free(error);
	g_byte_array_free(before, TRUE);
	g_byte_array_free(after, TRUE);
	return ret;
}

/* What the device holds now saves, loads back and saves the same. */
static void check_round_trip(struct rig *r, const char *when)
{
	GByteArray *a = save(r);
	char *error = NULL;
	if (load(r, a->data, a->len, &error) < 0)
		fail(r->cls, when, error);
	GByteArray *b = save(r);
	if (a->len != b->len || (a->len && memcmp(a->data, b->data, a->len)))
		fail(r->cls, when, "saved again, the state differs");
	g_byte_array_free(a, TRUE);
	g_byte_array_free(b, TRUE);
}

static void device_reset(struct rig *r)
{
	pthread_mutex_t *lock = r->cls->lock(r->dev);
	pthread_mutex_lock(lock);
	r->cls->reset(r->dev);
	pthread_mutex_unlock(lock);
}

static void load_device(const struct device_class *cls, const uint8_t *payload, size_t len)
{
	struct rig *r = rig_new(cls);
	char *error = NULL;
	int checked = check(r, payload, len);
	int loaded = load(r, payload, len, &error);
	if (checked != loaded) /* a revert would stop the VM, or refuse a good snapshot */
		fail(cls, "state_check and state_load disagree", error);
	if (loaded == 0) {
		check_round_trip(r, "a state it loaded does not load back");
		rig_sweep(r);
		rig_use(r, 0, RIG_STEPS);
		check_round_trip(r, "after use, its state does not load back");
		device_reset(r);
		rig_sweep(r);
	} else if (!error) {
		fail(cls, "a refused load says nothing", NULL);
	}
	g_free(error);
	rig_free(r);
}

static const unsigned kind_width[] = { [STATE_KIND_U8] = 1, [STATE_KIND_U16] = 2,
					[STATE_KIND_U32] = 4, [STATE_KIND_U64] = 8, [STATE_KIND_BOOL] = 1 };

/* The section state_save would write for fields holding VALUES (state.h has the encoding). */
static GByteArray *section_of_values(const struct state_desc *desc, const uint8_t *values,
				     size_t len)
{
	GByteArray *out = g_byte_array_new();
	size_t pos = 0;
	for (size_t i = 0; i < desc->nfields; i++) {
		const struct state_field *f = &desc->fields[i];
		uint8_t nlen = strlen(f->name);
		uint8_t kind_count[5] = { f->kind, f->count, f->count >> 8, f->count >> 16,
					  f->count >> 24 };
		g_byte_array_append(out, &nlen, 1);
		g_byte_array_append(out, (const guint8 *)f->name, nlen);
		g_byte_array_append(out, kind_count, 5);
		size_t bytes = (size_t)f->count * kind_width[f->kind];
		size_t have = pos < len ? MIN(bytes, len - pos) : 0;
		g_byte_array_append(out, values + pos, have);
		g_byte_array_set_size(out, out->len + bytes - have); /* zeros for what is missing */
		memset(out->data + out->len - (bytes - have), 0, bytes - have);
		pos += have;
	}
	return out;
}

/* The values of a section as section_of_values takes them (for the seeds). */
static GByteArray *values_of_section(const GByteArray *section)
{
	GByteArray *out = g_byte_array_new();
	for (size_t pos = 0; pos < section->len;) {
		const uint8_t *p = section->data + pos + 1 + section->data[pos];
		uint32_t count = p[1] | p[2] << 8 | p[3] << 16 | (uint32_t)p[4] << 24;
		size_t bytes = (size_t)count * kind_width[p[0]];
		g_byte_array_append(out, p + 5, bytes);
		pos = p + 5 + bytes - section->data;
	}
	return out;
}

static void load_values(const struct device_class *cls, const uint8_t *values, size_t len)
{
	GByteArray *section = section_of_values(cls->state, values, len);
	load_device(cls, section->data, section->len);
	g_byte_array_free(section, TRUE);
}

static const struct device_class *class_by_section(const char *name)
{
	for (unsigned i = 0; i < nclasses; i++)
		if (!strcmp(classes[i]->state->name, name))
			return classes[i];
	return NULL;
}

static void load_file(const uint8_t *data, size_t size)
{
	uint8_t *buf = g_memdup2(data, size);
	if (size >= 4) { /* the fuzzer works on the sections, not on the CRC */
		uint32_t crc = crc32(0, buf, size - 4);
		for (unsigned i = 0; i < 4; i++)
			buf[size - 4 + i] = crc >> (8 * i);
	}
	char *error = NULL;
	GArray *sections = state_file_parse(buf, size, &error);
	if (!sections && !error) {
		fprintf(stderr, "fuzz_state: a refused state file says nothing\n");
		abort();
	}
	for (guint i = 0; sections && i < MIN(sections->len, MAX_SECTIONS); i++) {
		const struct state_section *s = &g_array_index(sections, struct state_section, i);
		const struct device_class *cls = class_by_section(s->name);
		if (cls)
			load_device(cls, s->payload, s->len);
		else if (!strcmp(s->name, "cpu") || !strcmp(s->name, "kvm"))
			kvm_payload_check(!strcmp(s->name, "cpu"), 0xFF, s->payload, s->len);
	}
	state_sections_free(sections);
	g_free(error);
	g_free(buf);
}

/* ---- seeds ---- */

static char *seed_dir;

static void put_seed(const char *name, uint8_t mode, uint8_t caps, const GByteArray *payload)
{
	GByteArray *file = g_byte_array_new();
	g_byte_array_append(file, &mode, 1);
	if (mode == MODE_VCPU || mode == MODE_VM)
		g_byte_array_append(file, &caps, 1);
	g_byte_array_append(file, payload->data, payload->len);
	g_autofree char *base = g_strconcat(name, ".bin", NULL);
	g_autofree char *path = g_build_filename(seed_dir, base, NULL);
	g_autoptr(GError) err = NULL;
	if (!g_file_set_contents(path, (const char *)file->data, file->len, &err))
		g_error("fuzz_state: %s", err->message);
	g_byte_array_free(file, TRUE);
}

/* Each device after reset and after each step of its use; then the whole machine's file. */
static void write_seeds(void)
{
	struct state_writer *w = state_writer_new();
	for (unsigned c = 0; c < nclasses; c++) {
		struct rig *r = rig_new(classes[c]);
		for (unsigned step = 0; step <= RIG_STEPS; step++) {
			if (step && !r->rd->steps[step - 1])
				break;
			rig_use(r, step ? step - 1 : 0, step);
			GByteArray *s = save(r);
			g_autofree char *name = g_strdup_printf("dev-%s-%u", classes[c]->name, step);
			put_seed(name, c, 0, s);
			GByteArray *v = values_of_section(s);
			GByteArray *back = section_of_values(classes[c]->state, v->data, v->len);
			if (back->len != s->len || (s->len && memcmp(back->data, s->data, s->len)))
				g_error("fuzz_state: %s: the values mode writes another section",
					classes[c]->name);
			g_autofree char *vname = g_strdup_printf("values-%s-%u", classes[c]->name, step);
			put_seed(vname, MODE_VALUES + c, 0, v);
			g_byte_array_free(back, TRUE);
			g_byte_array_free(v, TRUE);
			if (step == RIG_STEPS || !r->rd->steps[step])
				state_writer_add(w, classes[c]->state->name, 0,
						 classes[c]->state->version, s->data, s->len);
			g_byte_array_free(s, TRUE);
		}
		rig_free(r);
	}
	GByteArray *file = state_writer_finish(w);
	put_seed("file-machine", MODE_FILE, 0, file);
	g_byte_array_free(file, TRUE);
	kvm_payload_seeds(put_seed);
}

/* ---- the target ---- */

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_glib_fatal_criticals();
	log_set_level(LOG_ERROR + 1); /* quiet: refused states are logged by design */
	log_open("/dev/null");         /* and so is what the debug console prints */
	for (const struct device_class *const *c = device_classes; *c; c++)
		if ((*c)->state && (*c)->create && nclasses < MAX_CLASSES)
			classes[nclasses++] = *c;
	const char *dir = g_getenv("FUZZ_STATE_SEEDS");
	if (dir) {
		seed_dir = g_strdup(dir);
		g_mkdir_with_parents(seed_dir, 0755);
		write_seeds();
		g_free(seed_dir);
		exit(0);
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || !nclasses)
		return 0;
	if (data[0] == MODE_FILE)
		load_file(data + 1, size - 1);
	else if (data[0] == MODE_VCPU || data[0] == MODE_VM)
		kvm_payload_check(data[0] == MODE_VCPU, size > 1 ? data[1] : 0, data + MIN(size, 2),
				  size - MIN(size, 2));
	else if (data[0] >= MODE_VALUES)
		load_values(classes[(data[0] - MODE_VALUES) % nclasses], data + 1, size - 1);
	else
		load_device(classes[data[0] % nclasses], data + 1, size - 1);
	return 0;
}
