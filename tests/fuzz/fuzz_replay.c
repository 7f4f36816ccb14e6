/*
 * The fuzz targets without libFuzzer: a plain program, built by gcc with the rest of the
 * tests, that feeds a target every file of a seed directory and, per seed, a fixed number of
 * mutants (bytes of the first 4 KiB, where headers and the first tables sit, overwritten at
 * positions and with values from a seeded generator, so every run is the same). It keeps the
 * targets compiling and their seeds passing under the sanitizers in CI; a crash, sanitizer
 * report or hang is the failure, as under libFuzzer.
 *
 * usage: fuzz_replay DIR [MUTANTS]   (exit 0, or 77 when DIR holds no seed: skipped)
 */
#include <glib.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MUTATE_SPAN 4096
#define MAX_FLIPS 4

static uint64_t rng_next(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static gint by_name(gconstpointer a, gconstpointer b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void run_seed(const char *path, unsigned mutants, uint64_t *rng)
{
	gchar *data;
	gsize size;
	GError *err = NULL;
	if (!g_file_get_contents(path, &data, &size, &err)) {
		fprintf(stderr, "fuzz_replay: %s\n", err->message);
		exit(1);
	}
	LLVMFuzzerTestOneInput((const uint8_t *)data, size);
	guint8 *m = g_malloc(MAX(size, 1));
	for (unsigned i = 0; size && i < mutants; i++) {
		memcpy(m, data, size);
		unsigned flips = 1 + rng_next(rng) % MAX_FLIPS;
		for (unsigned f = 0; f < flips; f++)
			m[rng_next(rng) % MIN(size, MUTATE_SPAN)] = rng_next(rng);
		LLVMFuzzerTestOneInput(m, size);
	}
	g_free(m);
	g_free(data);
}

int main(int argc, char **argv)
{
	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: fuzz_replay DIR [MUTANTS]\n");
		return 2;
	}
	unsigned mutants = argc == 3 ? (unsigned)atoi(argv[2]) : 200;
	LLVMFuzzerInitialize(&argc, &argv);
	GDir *dir = g_dir_open(argv[1], 0, NULL);
	if (!dir) {
		fprintf(stderr, "fuzz_replay: no seed directory %s\n", argv[1]);
		return 77;
	}
	GPtrArray *names = g_ptr_array_new_with_free_func(g_free);
	const char *name;
	while ((name = g_dir_read_name(dir)))
		g_ptr_array_add(names, g_build_filename(argv[1], name, NULL));
	g_dir_close(dir);
	g_ptr_array_sort(names, by_name);
	uint64_t rng = 0x9E3779B97F4A7C15ull;
	for (guint i = 0; i < names->len; i++)
		run_seed(g_ptr_array_index(names, i), mutants, &rng);
	printf("fuzz_replay: %u seeds, %u mutants each\n", names->len, mutants);
	int ret = names->len ? 0 : 77;
	g_ptr_array_free(names, TRUE);
	return ret;
}
