/* What the qcow2 tests share (qcow2_fixtures.h). */
#include "qcow2_fixtures.h"

#include <fcntl.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <stdarg.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

const char *tmp_dir(void)
{
	static char *dir;
	if (!dir) {
		g_autofree char *prog = g_path_get_basename(g_get_prgname());
		g_autofree char *tmpl = g_strdup_printf("pcvm-%s-XXXXXX", prog);
		dir = g_dir_make_tmp(tmpl, NULL);
		g_assert_nonnull(dir);
	}
	return dir;
}

char *tmp_path(const char *name)
{
	char *p = g_build_filename(tmp_dir(), name, NULL);
	g_unlink(p);
	return p;
}

int run_tests(void)
{
	int ret = g_test_run();
	sh(NULL, "rm -rf %s", tmp_dir());
	return ret;
}

bool have_qemu(void)
{
	static int have = -1;
	if (have < 0) {
		g_autofree char *img = g_find_program_in_path("qemu-img");
		g_autofree char *io = g_find_program_in_path("qemu-io");
		have = img && io;
	}
	if (!have)
		g_test_skip("qemu-img/qemu-io not installed (Debian: qemu-utils)");
	return have;
}

int sh(char **out, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	g_autofree char *cmd = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	char *argv[] = { "/bin/sh", "-c", cmd, NULL };
	g_autofree char *o = NULL, *e = NULL;
	int status;
	g_assert_true(g_spawn_sync(NULL, argv, NULL, 0, NULL, NULL, &o, &e, &status, NULL));
	if (out)
		*out = g_strconcat(o, e, NULL);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

void check_image(const char *path, bool leaks_ok)
{
	g_autofree char *out = NULL;
	int rc = sh(&out, "qemu-img check %s 2>&1", path);
	if (rc == 0 || (leaks_ok && rc == 3))
		return;
	g_error("qemu-img check %s: exit %d\n%s", path, rc, out);
}

void qemu_io_v(const char *path, const char *const *cmds)
{
	GString *c = g_string_new("qemu-io -f qcow2");
	for (; *cmds; cmds++)
		g_string_append_printf(c, " -c '%s'", *cmds);
	g_string_append_printf(c, " %s 2>&1", path);
	g_autofree char *out = NULL;
	int rc = sh(&out, "%s", c->str);
	if (rc || strstr(out, "failed") || strstr(out, "error"))
		g_error("%s\n%s", c->str, out);
	g_string_free(c, TRUE);
}

struct block_dev *open_ok(const char *path, bool read_only)
{
	char *error = NULL;
	struct block_dev *bd = block_open(path, read_only, &error);
	if (!bd)
		g_error("%s", error);
	return bd;
}

void expect_open_error(const char *path, bool read_only, const char *msg)
{
	char *error = NULL;
	g_assert_null(block_open(path, read_only, &error));
	g_assert_nonnull(strstr(error, msg));
	g_free(error);
}

char *make_image(const struct kind *k, const char *name, uint64_t size)
{
	char *path = tmp_path(name);
	if (!k->qemu_opts) {
		char *error = NULL;
		g_assert_cmpint(block_create_qcow2(path, size, NULL, &error), ==, 0);
	} else {
		g_assert_cmpint(sh(NULL, "qemu-img create -q -f qcow2 %s %s %" G_GUINT64_FORMAT,
				   k->qemu_opts, path, size),
				==, 0);
	}
	return path;
}

void write_pattern(struct block_dev *bd, uint64_t off, size_t len, uint8_t pat)
{
	g_autofree uint8_t *buf = g_malloc(len);
	memset(buf, pat, len);
	g_assert_cmpint(block_pwrite(bd, buf, len, off), ==, 0);
}

bool has_pattern(struct block_dev *bd, uint64_t off, size_t len, uint8_t pat)
{
	g_autofree uint8_t *buf = g_malloc(len);
	g_assert_cmpint(block_pread(bd, buf, len, off), ==, 0);
	for (size_t i = 0; i < len; i++)
		if (buf[i] != pat)
			return false;
	return true;
}

void expect_pattern(struct block_dev *bd, uint64_t off, size_t len, uint8_t pat)
{
	if (!has_pattern(bd, off, len, pat))
		g_error("%s at %#" G_GINT64_MODIFIER "x+%zu: not all %#x", bd->path, off, len, pat);
}

uint64_t be_field(const char *path, uint64_t off, unsigned width)
{
	uint8_t b[8];
	int fd = open(path, O_RDONLY);
	g_assert_cmpint(pread(fd, b, width, off), ==, width);
	close(fd);
	uint64_t v = 0;
	for (unsigned i = 0; i < width; i++)
		v = v << 8 | b[i];
	return v;
}

void set_be_field(const char *path, uint64_t off, unsigned width, uint64_t v)
{
	uint8_t b[8];
	for (unsigned i = width; i-- > 0; v >>= 8)
		b[i] = v;
	int fd = open(path, O_WRONLY);
	g_assert_cmpint(pwrite(fd, b, width, off), ==, width);
	close(fd);
}

void write_flipped(const char *path, const char *contents, gsize len, const struct file_area *areas,
		   size_t n, int max_flips, GRand *rand)
{
	g_autofree char *copy = g_memdup2(contents, len);
	int flips = g_rand_int_range(rand, 1, max_flips);
	for (int f = 0; f < flips; f++) {
		unsigned a = g_rand_int_range(rand, 0, n);
		uint64_t at = areas[a].off + g_rand_int_range(rand, 0, areas[a].len);
		if (at < len)
			copy[at] ^= 1u << g_rand_int_range(rand, 0, 8);
	}
	g_assert_true(g_file_set_contents(path, copy, len, NULL));
}

/* Appends to ACC what FD (non-blocking) has for now. */
static void collect(int fd, GByteArray *acc)
{
	uint8_t buf[4096];
	ssize_t n;
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		g_byte_array_append(acc, buf, n);
}

GByteArray *run_killed(char **argv, GRand *rand, int min_ms, int max_ms)
{
	GPid pid;
	int out;
	g_assert_true(g_spawn_async_with_pipes(NULL, argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD, NULL,
					       NULL, &pid, NULL, &out, NULL, NULL));
	/* keep the pipe drained, so that the child is busy writing when the kill comes */
	g_assert_cmpint(fcntl(out, F_SETFL, O_NONBLOCK), ==, 0);
	GByteArray *acc = g_byte_array_new();
	gint64 deadline = g_get_monotonic_time() + g_rand_int_range(rand, min_ms, max_ms) * 1000;
	while (g_get_monotonic_time() < deadline) {
		collect(out, acc);
		g_usleep(1000);
	}
	kill(pid, SIGKILL);
	int status;
	waitpid(pid, &status, 0);
	g_assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL); /* not a failure */
	g_assert_cmpint(fcntl(out, F_SETFL, 0), ==, 0);
	collect(out, acc);
	close(out);
	return acc;
}
