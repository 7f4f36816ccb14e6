/* State descriptions and the state file: round trips, and damaged input refused whole. */
#include <glib.h>
#include <string.h>

#include "state.h"

struct widget {
	uint8_t mode;
	uint16_t count;
	uint32_t regs[4];
	uint64_t stamp;
	bool enabled;
	int not_saved;
	bool small; /* configuration: not saved, but what the check hook judges modes by */
};

static const struct state_field widget_fields[] = {
	STATE_U8(struct widget, mode),
	STATE_U16(struct widget, count),
	STATE_U32_ARRAY(struct widget, regs),
	STATE_U64(struct widget, stamp),
	STATE_BOOL(struct widget, enabled),
};

static int widget_check(const void *obj, char **error)
{
	const struct widget *w = obj;
	if (w->mode > (w->small ? 1 : 3)) {
		*error = g_strdup_printf("widget: mode %u out of range%s", w->mode,
					 w->small ? " for a small widget" : "");
		return -1;
	}
	return 0;
}

static int widget_post_load(void *obj, char **error)
{
	struct widget *w = obj;
	if (widget_check(w, error) < 0)
		return -1;
	w->not_saved = 42; /* derived */
	return 0;
}

static const struct state_desc widget_state =
	STATE_DESC("widget", 1, struct widget, widget_fields, .post_load = widget_post_load,
		   .check = widget_check);

static const struct widget sample = { 2, 0xBEEF, { 1, 2, 3, 0xFFFFFFFF }, 0x0123456789ABCDEFull,
				      true, 7 };

static void test_round_trip(void)
{
	GByteArray *buf = g_byte_array_new();
	state_save(&widget_state, &sample, buf);
	struct widget w = { 0 };
	char *error = NULL;
	g_assert_cmpint(state_load(&widget_state, &w, buf->data, buf->len, &error), ==, 0);
	g_assert_null(error);
	g_assert_cmpuint(w.mode, ==, 2);
	g_assert_cmphex(w.count, ==, 0xBEEF);
	g_assert_cmphex(w.regs[3], ==, 0xFFFFFFFF);
	g_assert_cmphex(w.stamp, ==, sample.stamp);
	g_assert_true(w.enabled);
	g_assert_cmpint(w.not_saved, ==, 42);
	g_byte_array_free(buf, TRUE);
}

/* An older pcvm's stream lacks newer fields: they keep their reset values. */
static void test_missing_field_keeps_value(void)
{
	static const struct state_field old_fields[] = { STATE_U8(struct widget, mode) };
	static const struct state_desc old_state =
		STATE_DESC("widget", 1, struct widget, old_fields);
	GByteArray *buf = g_byte_array_new();
	state_save(&old_state, &sample, buf);
	struct widget w = { .count = 99 };
	char *error = NULL;
	g_assert_cmpint(state_load(&widget_state, &w, buf->data, buf->len, &error), ==, 0);
	g_assert_cmpuint(w.mode, ==, 2);
	g_assert_cmpuint(w.count, ==, 99);
	g_byte_array_free(buf, TRUE);
}

static void expect_refused(const uint8_t *data, size_t len, const char *fragment)
{
	struct widget w = { .mode = 1, .count = 5 };
	char *error = NULL;
	g_assert_cmpint(state_load(&widget_state, &w, data, len, &error), ==, -1);
	g_assert_nonnull(error);
	g_assert_nonnull(strstr(error, fragment));
	g_free(error);
	/* nothing was applied */
	g_assert_cmpuint(w.mode, ==, 1);
	g_assert_cmpuint(w.count, ==, 5);
}

static void test_refusals(void)
{
	GByteArray *buf = g_byte_array_new();
	state_save(&widget_state, &sample, buf);
	/* every truncation is refused */
	for (size_t n = 1; n < buf->len; n++) {
		struct widget w = { .mode = 1, .count = 5 };
		char *error = NULL;
		int ret = state_load(&widget_state, &w, buf->data, n, &error);
		if (ret == 0) {
			/* a cut exactly between fields is a shorter valid stream */
			continue;
		}
		g_assert_nonnull(error);
		g_free(error);
	}
	/* an unknown field */
	static const struct state_field other_fields[] = { STATE_U8(struct widget, mode) };
	static const struct state_desc other = { "widget", 1, other_fields, 1, NULL };
	GByteArray *odd = g_byte_array_new();
	state_save(&other, &sample, odd);
	odd->data[1] = 'x'; /* "mode" -> "xode" */
	expect_refused(odd->data, odd->len, "unknown state field");
	/* a field with another kind */
	GByteArray *kind = g_byte_array_new();
	state_save(&other, &sample, kind);
	kind->data[5] = STATE_KIND_U32;
	expect_refused(kind->data, kind->len, "another type");
	/* an oversized element count */
	GByteArray *big = g_byte_array_new();
	state_save(&widget_state, &sample, big);
	big->data[6] = 0xFF;
	big->data[9] = 0x7F;
	expect_refused(big->data, big->len, "widget");
	/* a boolean that is neither 0 nor 1 never reaches the bool */
	GByteArray *flag = g_byte_array_new();
	state_save(&widget_state, &sample, flag);
	flag->data[flag->len - 1] = 2; /* 'enabled' is the last field, one byte */
	expect_refused(flag->data, flag->len, "not a boolean");
	g_byte_array_free(flag, TRUE);
	/* a value post_load rejects */
	struct widget bad = sample;
	bad.mode = 9;
	GByteArray *range = g_byte_array_new();
	state_save(&widget_state, &bad, range);
	struct widget w = { 0 };
	char *error = NULL;
	g_assert_cmpint(state_load(&widget_state, &w, range->data, range->len, &error), ==, -1);
	g_assert_nonnull(strstr(error, "out of range"));
	g_free(error);
	g_byte_array_free(buf, TRUE);
	g_byte_array_free(odd, TRUE);
	g_byte_array_free(kind, TRUE);
	g_byte_array_free(big, TRUE);
	g_byte_array_free(range, TRUE);
}

/* state_check on LIVE answers as state_load would (run on a copy), and leaves LIVE as it was,
 * byte for byte. Returns the answer; *ERROR set on a refusal. */
static int check_like_load(const struct widget *live, const uint8_t *data, size_t len,
			   char **error)
{
	struct widget before, loaded;
	memcpy(&before, live, sizeof(before));
	memcpy(&loaded, live, sizeof(loaded));
	char *load_error = NULL;
	int load_ret = state_load(&widget_state, &loaded, data, len, &load_error);
	int ret = state_check(&widget_state, live, data, len, error);
	g_assert_cmpint(ret, ==, load_ret);
	g_assert_cmpstr(ret < 0 ? *error : NULL, ==, load_error);
	g_assert_cmpmem(live, sizeof(*live), &before, sizeof(before));
	g_free(load_error);
	return ret;
}

/* state_check refuses what state_load refuses, and changes nothing: what a revert runs on
 * every section before the first change. */
static void test_check(void)
{
	struct widget live;
	memset(&live, 0, sizeof(live)); /* padding too: compared byte for byte */
	live.mode = 1;
	live.count = 5;
	live.not_saved = 7;
	GByteArray *buf = g_byte_array_new();
	state_save(&widget_state, &sample, buf);
	char *error = NULL;
	/* a good section is accepted, and not applied */
	g_assert_cmpint(check_like_load(&live, buf->data, buf->len, &error), ==, 0);
	g_assert_null(error);
	g_assert_cmpuint(live.mode, ==, 1);
	/* every truncation gets state_load's answer */
	for (size_t n = 0; n < buf->len; n++) {
		check_like_load(&live, buf->data, n, &error);
		g_clear_pointer(&error, g_free);
	}
	/* a boolean out of range, a field with another kind */
	GByteArray *bad = g_byte_array_new();
	g_byte_array_append(bad, buf->data, buf->len);
	bad->data[bad->len - 1] = 2;
	g_assert_cmpint(check_like_load(&live, bad->data, bad->len, &error), ==, -1);
	g_assert_nonnull(strstr(error, "not a boolean"));
	g_clear_pointer(&error, g_free);
	bad->data[bad->len - 1] = 1;
	bad->data[5] = STATE_KIND_U32; /* 'mode' */
	g_assert_cmpint(check_like_load(&live, bad->data, bad->len, &error), ==, -1);
	g_assert_nonnull(strstr(error, "another type"));
	g_clear_pointer(&error, g_free);
	/* a value the check hook refuses */
	struct widget range = sample;
	range.mode = 9;
	g_byte_array_set_size(bad, 0);
	state_save(&widget_state, &range, bad);
	g_assert_cmpint(check_like_load(&live, bad->data, bad->len, &error), ==, -1);
	g_assert_nonnull(strstr(error, "mode 9 out of range"));
	g_clear_pointer(&error, g_free);
	/* the hook judges the object as the load would leave it: the live configuration (not
	 * saved) ... */
	live.small = true;
	g_assert_cmpint(check_like_load(&live, buf->data, buf->len, &error), ==, -1);
	g_assert_nonnull(strstr(error, "mode 2 out of range for a small widget"));
	g_clear_pointer(&error, g_free);
	/* ... and the live value of a field the section lacks */
	static const struct state_field count_only[] = { STATE_U16(struct widget, count) };
	static const struct state_desc old_state =
		STATE_DESC("widget", 1, struct widget, count_only);
	g_byte_array_set_size(bad, 0);
	state_save(&old_state, &sample, bad);
	live.mode = 1;
	g_assert_cmpint(check_like_load(&live, bad->data, bad->len, &error), ==, 0);
	live.mode = 3;
	g_assert_cmpint(check_like_load(&live, bad->data, bad->len, &error), ==, -1);
	g_assert_nonnull(strstr(error, "mode 3"));
	g_clear_pointer(&error, g_free);
	g_byte_array_free(bad, TRUE);
	g_byte_array_free(buf, TRUE);
}

static GByteArray *make_file(void)
{
	struct state_writer *w = state_writer_new();
	const uint8_t a[] = { 1, 2, 3 }, b[] = { 9 };
	state_writer_add(w, "rtc", 0, 1, a, sizeof(a));
	state_writer_add(w, "uart16550a", 1, 2, b, sizeof(b));
	return state_writer_finish(w);
}

static void test_file_round_trip(void)
{
	GByteArray *f = make_file();
	char *error = NULL;
	GArray *s = state_file_parse(f->data, f->len, &error);
	g_assert_nonnull(s);
	g_assert_cmpuint(s->len, ==, 2);
	const struct state_section *u = state_sections_find(s, "uart16550a", 1);
	g_assert_nonnull(u);
	g_assert_cmpuint(u->version, ==, 2);
	g_assert_cmpuint(u->len, ==, 1);
	g_assert_cmpuint(u->payload[0], ==, 9);
	g_assert_null(state_sections_find(s, "uart16550a", 0));
	state_sections_free(s);
	g_byte_array_free(f, TRUE);
}

static void test_file_damage(void)
{
	GByteArray *f = make_file();
	char *error = NULL;
	/* every single bit flip is caught */
	for (size_t i = 0; i < f->len; i++) {
		for (int bit = 0; bit < 8; bit++) {
			f->data[i] ^= 1u << bit;
			GArray *s = state_file_parse(f->data, f->len, &error);
			g_assert_null(s);
			g_assert_nonnull(error);
			g_clear_pointer(&error, g_free);
			f->data[i] ^= 1u << bit;
		}
	}
	/* every truncation is caught */
	for (size_t n = 0; n < f->len; n++) {
		g_assert_null(state_file_parse(f->data, n, &error));
		g_clear_pointer(&error, g_free);
	}
	/* a newer format version is refused by name */
	f->data[8] = 2;
	g_assert_null(state_file_parse(f->data, f->len, &error));
	g_assert_nonnull(strstr(error, "format 2"));
	g_free(error);
	g_byte_array_free(f, TRUE);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/state/round-trip", test_round_trip);
	g_test_add_func("/state/missing-field-keeps-value", test_missing_field_keeps_value);
	g_test_add_func("/state/refusals", test_refusals);
	g_test_add_func("/state/check", test_check);
	g_test_add_func("/state/file-round-trip", test_file_round_trip);
	g_test_add_func("/state/file-damage", test_file_damage);
	return g_test_run();
}
