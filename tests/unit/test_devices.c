/*
 * One table-driven test over every registered device: each has a complete class and a state
 * description, and reset -> save -> load into a fresh instance -> save gives identical bytes.
 * With scrambled values, a load either round-trips exactly or is refused with a message, and
 * state_check (what a revert runs first) gives the load's answer without changing the device.
 */
#include "fakes.h"

#include "block/block.h"
#include "devices/pci.h"

static void *create_device(const struct device_class *cls, struct fake_env *env,
			   struct block_dev *disk)
{
	env->ctx.disks[0] = disk;
	void *dev = cls->create(&env->ctx);
	g_assert_nonnull(dev);
	cls->reset(dev);
	return dev;
}

static GByteArray *save(const struct device_class *cls, void *dev)
{
	GByteArray *out = g_byte_array_new();
	pthread_mutex_t *lock = cls->lock(dev);
	pthread_mutex_lock(lock);
	state_save(cls->state, dev, out);
	pthread_mutex_unlock(lock);
	return out;
}

static void test_class_complete(gconstpointer data)
{
	const struct device_class *cls = data;
	g_assert_nonnull(cls->name);
	g_assert_nonnull(cls->create);
	g_assert_nonnull(cls->destroy);
	g_assert_nonnull(cls->reset);
	g_assert_nonnull(cls->lock);
	g_assert_nonnull(cls->state);
	g_assert_cmpstr(cls->state->name, !=, NULL);
	g_assert_cmpuint(cls->state->version, >=, 1);
}

/* state_check's answer for BUF, with DEV (its lock held) unchanged byte for byte. */
static int check_unchanged(const struct device_class *cls, void *dev, const GByteArray *buf,
			   char **error)
{
	pthread_mutex_t *lock = cls->lock(dev);
	pthread_mutex_lock(lock);
	void *before = g_memdup2(dev, cls->state->size);
	int ret = state_check(cls->state, dev, buf->data, buf->len, error);
	g_assert_cmpmem(dev, cls->state->size, before, cls->state->size);
	pthread_mutex_unlock(lock);
	g_free(before);
	return ret;
}

static void test_round_trip(gconstpointer data)
{
	const struct device_class *cls = data;
	struct fake_env *env = fake_env_new(5, 6);
	struct block_dev *disk = block_open_memory(1 << 20);
	void *a = create_device(cls, env, disk);
	void *b = create_device(cls, env, disk);
	GByteArray *sa = save(cls, a);
	char *error = NULL;
	g_assert_cmpint(check_unchanged(cls, b, sa, &error), ==, 0);
	g_assert_cmpint(state_load(cls->state, b, sa->data, sa->len, &error), ==, 0);
	GByteArray *sb = save(cls, b);
	g_assert_cmpmem(sa->data, sa->len, sb->data, sb->len);
	g_byte_array_free(sa, TRUE);
	g_byte_array_free(sb, TRUE);
	cls->destroy(a);
	cls->destroy(b);
	block_close(disk);
	fake_env_free(env);
}

static const unsigned kind_width[] = { [STATE_KIND_U8] = 1, [STATE_KIND_U16] = 2,
					[STATE_KIND_U32] = 4, [STATE_KIND_U64] = 8, [STATE_KIND_BOOL] = 1 };

/* Bytes an object needs to hold every field of DESC. */
static size_t desc_extent(const struct state_desc *desc)
{
	size_t end = 0;
	for (size_t i = 0; i < desc->nfields; i++) {
		const struct state_field *f = &desc->fields[i];
		end = MAX(end, f->offset + (size_t)f->count * kind_width[f->kind]);
	}
	return end;
}

/* Overwrites every saved field of DEV with pseudo-random bytes, through its description. */
static void scramble(const struct state_desc *desc, void *dev, GRand *rand)
{
	const unsigned *width = kind_width;
	for (size_t i = 0; i < desc->nfields; i++) {
		const struct state_field *f = &desc->fields[i];
		uint8_t *p = (uint8_t *)dev + f->offset;
		for (size_t b = 0; b < (size_t)f->count * width[f->kind]; b++)
			p[b] = g_rand_int(rand);
	}
}

static void test_scrambled(gconstpointer data)
{
	const struct device_class *cls = data;
	GRand *rand = g_rand_new_with_seed(1234);
	for (int round = 0; round < 20; round++) {
		struct fake_env *env = fake_env_new(5, 6);
		struct block_dev *disk = block_open_memory(1 << 20);
		void *a = create_device(cls, env, disk);
		void *b = create_device(cls, env, disk);
		GByteArray *junk = g_byte_array_new();
		/* scramble a copy of the saved bytes, not the live device: a live device with
		 * random internals could misbehave before a load ever validates it */
		void *shadow = g_malloc0(desc_extent(cls->state) + 1);
		scramble(cls->state, shadow, rand);
		state_save(cls->state, shadow, junk);
		char *error = NULL, *check_error = NULL;
		int checked = check_unchanged(cls, b, junk, &check_error);
		if (state_load(cls->state, b, junk->data, junk->len, &error) == 0) {
			g_assert_cmpint(checked, ==, 0);
			GByteArray *sb = save(cls, b);
			g_assert_cmpmem(junk->data, junk->len, sb->data, sb->len);
			g_byte_array_free(sb, TRUE);
		} else {
			g_assert_nonnull(error);
			g_assert_cmpstr(check_error, ==, error);
			g_free(error);
		}
		g_free(check_error);
		g_free(shadow);
		g_byte_array_free(junk, TRUE);
		cls->destroy(a);
		cls->destroy(b);
		block_close(disk);
		fake_env_free(env);
	}
	g_rand_free(rand);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	for (const struct device_class *const *c = device_classes; *c; c++) {
		char *path = g_strdup_printf("/devices/%s/class-complete", (*c)->name);
		g_test_add_data_func(path, *c, test_class_complete);
		g_free(path);
		if (!(*c)->create || !(*c)->state)
			continue;
		path = g_strdup_printf("/devices/%s/save-load-round-trip", (*c)->name);
		g_test_add_data_func(path, *c, test_round_trip);
		g_free(path);
		path = g_strdup_printf("/devices/%s/scrambled-state", (*c)->name);
		g_test_add_data_func(path, *c, test_scrambled);
		g_free(path);
	}
	return g_test_run();
}
