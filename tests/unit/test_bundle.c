/*
 * The VM bundle (src/bundle.c): --net specs, and file names that vm.conf cannot hold. vm.conf is
 * UTF-8 text and vm_config_load refuses anything else, while a Linux file name is any bytes: a
 * bundle, disk or ISO named in another encoding must not leave a vm.conf the VM cannot start
 * from (fuzz_config's checks led there).
 */
#include <glib.h>
#include <glib/gstdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bundle.h"
#include "config.h"
#include "log.h"

#define LATIN1_E "\xe9" /* é in ISO 8859-1: not UTF-8 */

static void test_nic_spec(void)
{
	static const struct {
		const char *spec, *mode, *bridge, *network;
		bool ok, present;
	} cases[] = {
		{ NULL, "nat", NULL, NULL, true, true },
		{ "nat", "nat", NULL, NULL, true, true },
		{ "none", NULL, NULL, NULL, true, false },
		{ "bridged:br0", "bridged", "br0", NULL, true, true },
		{ "hostonly:lab", "hostonly", NULL, "lab", true, true },
		{ "bridged:", NULL, NULL, NULL, false, false },
		{ "natx", NULL, NULL, NULL, false, false },
		{ "", NULL, NULL, NULL, false, false },
	};
	for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
		struct vm_config cfg;
		vm_config_init(&cfg);
		char *error = NULL;
		int ret = bundle_nic_from_spec(&cfg.net[0], cases[i].spec, &error);
		g_assert_cmpint(ret, ==, cases[i].ok ? 0 : -1);
		if (!cases[i].ok) {
			g_assert_nonnull(strstr(error, "expected nat, none, bridged:BRIDGE"));
			g_free(error);
		}
		g_assert_cmpint(cfg.net[0].present, ==, cases[i].present);
		g_assert_cmpstr(cfg.net[0].mode, ==, cases[i].mode);
		g_assert_cmpstr(cfg.net[0].bridge, ==, cases[i].bridge);
		g_assert_cmpstr(cfg.net[0].network, ==, cases[i].network);
		vm_config_clear(&cfg);
	}
}

struct fx {
	char *tmp, *iso, *dir;
};

static void fx_open(struct fx *fx)
{
	fx->tmp = g_dir_make_tmp("pcvm-bundle-XXXXXX", NULL);
	fx->iso = g_build_filename(fx->tmp, "disc" LATIN1_E ".iso", NULL);
	g_assert_true(g_file_set_contents(fx->iso, "", 0, NULL));
	g_assert_cmpint(truncate(fx->iso, 2048 * 16), ==, 0);
	fx->dir = g_build_filename(fx->tmp, "vm.pcvm", NULL);
}

static void fx_close(struct fx *fx)
{
	g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", fx->tmp);
	g_assert_cmpint(system(cmd), ==, 0);
	g_free(fx->tmp);
	g_free(fx->iso);
	g_free(fx->dir);
}

static void expect_loads(const char *dir)
{
	struct vm_config cfg;
	vm_config_init(&cfg);
	char *error = NULL;
	if (bundle_load_config(dir, &cfg, &error) < 0)
		g_error("%s", error);
	vm_config_clear(&cfg);
}

/* A bundle directory named in another encoding: the VM's name is shown with U+FFFD. */
static void test_dir_not_utf8(void)
{
	struct fx fx;
	fx_open(&fx);
	g_autofree char *dir = g_build_filename(fx.tmp, "caf" LATIN1_E ".pcvm", NULL);
	struct bundle_create_opts o = { .disk_size = 1 << 20, .net = "none" };
	char *error = NULL;
	g_assert_cmpint(bundle_create(dir, &o, &error), ==, 0);
	struct vm_config cfg;
	vm_config_init(&cfg);
	g_assert_cmpint(bundle_load_config(dir, &cfg, &error), ==, 0);
	g_assert_cmpstr(cfg.name, ==, "caf\xef\xbf\xbd");
	vm_config_clear(&cfg);
	fx_close(&fx);
}

/* An ISO or disk whose name is not UTF-8: refused with a message, no bundle left behind, and
 * vm.conf of an existing bundle kept as it was. */
static void test_file_not_utf8(void)
{
	struct fx fx;
	fx_open(&fx);
	struct bundle_create_opts o = { .disk_size = 1 << 20, .net = "none", .cdrom = fx.iso };
	char *error = NULL;
	g_assert_cmpint(bundle_create(fx.dir, &o, &error), ==, -1);
	g_assert_nonnull(strstr(error, "this file name is not"));
	g_free(error);
	g_autofree char *conf = g_build_filename(fx.dir, BUNDLE_CONF, NULL);
	g_assert_false(g_file_test(conf, G_FILE_TEST_EXISTS));
	struct bundle_create_opts d = { .net = "none", .disk = fx.iso };
	g_assert_cmpint(bundle_create(fx.dir, &d, &error), ==, -1);
	g_free(error);

	o.cdrom = NULL;
	g_assert_cmpint(bundle_create(fx.dir, &o, &error), ==, 0);
	g_assert_cmpint(bundle_set_drive_file(fx.dir, "ide1:0", fx.iso, &error), ==, -1);
	g_assert_nonnull(strstr(error, "rename the file"));
	g_free(error);
	const char *rules[] = { "tcp::2222-:22", "caf" LATIN1_E, NULL };
	g_assert_cmpint(bundle_set_string_list(fx.dir, "net0", "forward", rules, &error), ==, -1);
	g_free(error);
	expect_loads(fx.dir);
	g_assert_cmpint(bundle_set_drive_file(fx.dir, "ide1:0", "/isos/ok.iso", &error), ==, 0);
	expect_loads(fx.dir);
	fx_close(&fx);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	log_set_level(LOG_ERROR);
	g_test_add_func("/bundle/nic-spec", test_nic_spec);
	g_test_add_func("/bundle/dir-not-utf8", test_dir_not_utf8);
	g_test_add_func("/bundle/file-not-utf8", test_file_not_utf8);
	return g_test_run();
}
