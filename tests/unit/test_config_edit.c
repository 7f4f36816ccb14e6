/*
 * Editing vm.conf (vm_config_edit, what `pcvm config` and pcvm-gtk's settings use): keys set
 * and removed with comments and the other lines kept, every change checked as `pcvm run`
 * reads the file, unknown keys and bad values refused with the file left as it was; and the
 * boot order check that vm_config_parse does for both.
 */
#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>

#include "config.h"

static const char base[] = "# my VM, set up by hand\n"
			   "[vm]\n"
			   "name=Demo\n"
			   "# half a gigabyte\n"
			   "memory-mib=512\n"
			   "cpus=1\n"
			   "\n"
			   "[ide0:0]\n"
			   "type=disk\n"
			   "file=disk0.qcow2\n"
			   "\n"
			   "[ide1:0]\n"
			   "type=cdrom\n"
			   "file=/iso/a.iso\n"
			   "\n"
			   "[net0]\n"
			   "mode=nat\n"
			   "forward=tcp:127.0.0.1:2222-:22;\n";

static char *edit_ok(const char *text, const char *const *sets, const char *const *unsets,
		     struct vm_config *cfg)
{
	char *error = NULL;
	char *out = vm_config_edit_text(text, "vm.conf", sets, unsets, &error);
	if (!out)
		g_error("%s", error);
	vm_config_init(cfg);
	if (vm_config_parse(cfg, out, "vm.conf", &error) < 0)
		g_error("%s", error);
	return out;
}

static void expect_refused(const char *const *sets, const char *const *unsets, const char *text)
{
	char *error = NULL;
	char *out = vm_config_edit_text(base, "vm.conf", sets, unsets, &error);
	g_assert_null(out);
	g_assert_nonnull(error);
	if (!strstr(error, text))
		g_error("expected '%s' in: %s", text, error);
	g_free(error);
}

static void test_set_keeps_comments(void)
{
	const char *sets[] = { "vm.memory-mib=1024", "vm.cpus=2", "vm.boot=cdrom,disk",
			       "net0.mode=bridged", "net0.bridge=br0", NULL };
	struct vm_config cfg;
	g_autofree char *out = edit_ok(base, sets, NULL, &cfg);
	g_assert_cmpuint(cfg.memory_mib, ==, 1024);
	g_assert_cmpuint(cfg.cpus, ==, 2);
	g_assert_cmpstr(cfg.boot, ==, "cdrom,disk");
	g_assert_cmpstr(cfg.net[0].mode, ==, "bridged");
	g_assert_cmpstr(cfg.net[0].bridge, ==, "br0");
	g_assert_cmpstr(cfg.ide[2].file, ==, "/iso/a.iso");
	g_assert_nonnull(strstr(out, "# my VM, set up by hand\n"));
	g_assert_nonnull(strstr(out, "# half a gigabyte\nmemory-mib=1024\n"));
	/* a new key follows the group's keys, not a blank line; the text ends with a newline */
	g_assert_nonnull(strstr(out, "cpus=2\nboot=cdrom,disk\n"));
	g_assert_true(g_str_has_suffix(out, "\n"));
	g_assert_false(g_str_has_suffix(out, "\n\n"));
	vm_config_clear(&cfg);
}

static void test_strings_and_lists(void)
{
	const char *sets[] = { "vm.name=C:\\VMs; \"quoted\" #1", "ide1:0.file=",
			       "net0.forward=tcp:127.0.0.1:2222-:22;udp:127.0.0.1:5353-:53",
			       "display.adapter=stdvga", /* as the GUI's wizard may set it */
			       NULL };
	struct vm_config cfg;
	g_free(edit_ok(base, sets, NULL, &cfg));
	g_assert_cmpstr(cfg.adapter, ==, "stdvga");
	g_assert_cmpstr(cfg.name, ==, "C:\\VMs; \"quoted\" #1"); /* read back as written */
	g_assert_null(cfg.ide[2].file);				  /* empty: no disc */
	g_assert_cmpuint(g_strv_length(cfg.net[0].forward), ==, 2);
	g_assert_cmpstr(cfg.net[0].forward[1], ==, "udp:127.0.0.1:5353-:53");
	vm_config_clear(&cfg);
}

static void test_unset(void)
{
	const char *unsets[] = { "net0.forward", "ide1:0", NULL };
	struct vm_config cfg;
	g_autofree char *out = edit_ok(base, NULL, unsets, &cfg);
	g_assert_null(cfg.net[0].forward);
	g_assert_false(vm_drive_present(&cfg.ide[2])); /* the whole group went */
	g_assert_null(strstr(out, "[ide1:0]"));
	g_assert_nonnull(strstr(out, "[net0]"));
	vm_config_clear(&cfg);
	const char *vm[] = { "vm", NULL };
	expect_refused(NULL, vm, "[vm] cannot go as a whole");
}

static void test_refusals(void)
{
	const char *unknown_key[] = { "vm.memory=512", NULL };
	expect_refused(unknown_key, NULL, "with a KEY of [vm]: name, uuid, guest, memory-mib");
	const char *unknown_group[] = { "ide2:0.file=x", NULL };
	expect_refused(unknown_group, NULL, "no group [ide2:0]");
	const char *no_value[] = { "vm.cpus", NULL };
	expect_refused(no_value, NULL, "expected GROUP.KEY=VALUE");
	/* the line in the edited text (GKeyFile puts a blank line after the file's comment) */
	const char *range[] = { "vm.cpus=0", NULL };
	expect_refused(range, NULL, "vm.conf:7: [vm] cpus=0: out of range (allowed: 1 to 32)");
	const char *number[] = { "vm.memory-mib=lots", NULL };
	expect_refused(number, NULL, "memory-mib=lots: not a whole number");
	const char *line[] = { "vm.name=two\nlines", NULL };
	expect_refused(line, NULL, "a value is one line");
	const char *bridged[] = { "net0.mode=bridged", NULL };
	expect_refused(bridged, NULL, "bridged needs bridge=NAME");
	const char *mode[] = { "net0.mode=wifi", NULL };
	expect_refused(mode, NULL, "expected nat, bridged, hostonly or none");
	const char *adapter[] = { "display.adapter=cirrus", NULL };
	expect_refused(adapter, NULL, "[display] adapter=cirrus: expected stdvga");
	const char *disk[] = { "ide0:0.file=", NULL };
	expect_refused(disk, NULL, "[ide0:0] has no file=");
	const char *unset_key[] = { "vm.colour", NULL };
	expect_refused(NULL, unset_key, "'vm.colour'");
}

static void test_boot_order(void)
{
	static const struct {
		const char *boot;
		const char *problem; /* NULL: accepted */
	} cases[] = {
		{ "disk,cdrom,network", NULL },
		{ "cdrom", NULL },
		{ "network, disk", NULL },
		{ "disk,floppy", "expected a list of disk, cdrom and network" },
		{ "disk,,cdrom", "expected a list of disk, cdrom and network" },
		{ "disk,cdrom,disk", "a device appears twice" },
		{ "", "empty" },
	};
	for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autofree char *text = g_strdup_printf("[vm]\nname=x\nboot=%s\n", cases[i].boot);
		struct vm_config cfg;
		vm_config_init(&cfg);
		char *error = NULL;
		int ret = vm_config_parse(&cfg, text, "vm.conf", &error);
		if (!cases[i].problem) {
			g_assert_cmpint(ret, ==, 0);
		} else {
			g_assert_cmpint(ret, ==, -1);
			g_assert_nonnull(strstr(error, "vm.conf:3: [vm] boot="));
			g_assert_nonnull(strstr(error, cases[i].problem));
		}
		g_free(error);
		vm_config_clear(&cfg);
	}
}

/* The file is replaced only by a valid edit. */
static void test_file(void)
{
	g_autofree char *dir = g_dir_make_tmp("pcvm-cfgedit-XXXXXX", NULL);
	g_autofree char *path = g_build_filename(dir, "vm.conf", NULL);
	g_assert_true(g_file_set_contents(path, base, -1, NULL));
	const char *bad[] = { "vm.cpus=2", "vm.memory-mib=1", NULL }; /* the second is bad */
	char *error = NULL;
	g_assert_cmpint(vm_config_edit(path, bad, NULL, &error), ==, -1);
	g_assert_nonnull(strstr(error, path)); /* the message names the file */
	g_free(error);
	g_autofree char *same = NULL;
	g_assert_true(g_file_get_contents(path, &same, NULL, NULL));
	g_assert_cmpstr(same, ==, base);
	const char *good[] = { "vm.cpus=4", NULL };
	g_assert_cmpint(vm_config_edit(path, good, NULL, &error), ==, 0);
	struct vm_config cfg;
	vm_config_init(&cfg);
	g_assert_cmpint(vm_config_load(&cfg, path, &error), ==, 0);
	g_assert_cmpuint(cfg.cpus, ==, 4);
	vm_config_clear(&cfg);
	g_autofree char *missing = g_build_filename(dir, "nope.conf", NULL);
	g_assert_cmpint(vm_config_edit(missing, good, NULL, &error), ==, -1);
	g_free(error);
	g_unlink(path);
	g_rmdir(dir);
}

/* vm_config_load refuses a file that is not UTF-8 text: an edit must neither write such a
 * value (the VM would no longer start) nor cut a file at a NUL byte. */
static void test_not_utf8(void)
{
	const char *latin1[] = { "vm.name=caf\xe9", NULL };
	expect_refused(latin1, NULL, "'vm.name': the value is not UTF-8 text");
	char *error = NULL;
	g_assert_null(vm_config_edit_text("[vm]\nname=caf\xe9\n", "vm.conf", NULL, NULL, &error));
	g_assert_nonnull(strstr(error, "vm.conf: not a text file (invalid UTF-8)"));
	g_free(error);

	g_autofree char *dir = g_dir_make_tmp("pcvm-cfgedit-XXXXXX", NULL);
	g_autofree char *path = g_build_filename(dir, "vm.conf", NULL);
	static const char nul[] = "[vm]\nname=a\n\0[ide0:0]\nfile=disk0.qcow2\n";
	g_assert_true(g_file_set_contents(path, nul, sizeof(nul) - 1, NULL));
	const char *good[] = { "vm.cpus=2", NULL };
	g_assert_cmpint(vm_config_edit(path, good, NULL, &error), ==, -1);
	g_assert_nonnull(strstr(error, "not a text file"));
	g_free(error);
	g_autofree char *same = NULL;
	gsize len;
	g_assert_true(g_file_get_contents(path, &same, &len, NULL));
	g_assert_cmpmem(same, len, nul, sizeof(nul) - 1); /* left as it was */
	g_unlink(path);
	g_rmdir(dir);
}

static void test_key_known(void)
{
	g_assert_true(vm_config_key_known("vm", "memory-mib"));
	g_assert_true(vm_config_key_known("ide1:1", "file"));
	g_assert_true(vm_config_key_known("net3", "forward"));
	g_assert_true(vm_config_key_known("display", "adapter"));
	g_assert_false(vm_config_key_known("vm", "adapter"));
	g_assert_false(vm_config_key_known("net4", "mode"));
	g_assert_false(vm_config_key_known("ide0:0", "mode"));
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/config-edit/set-keeps-comments", test_set_keeps_comments);
	g_test_add_func("/config-edit/strings-and-lists", test_strings_and_lists);
	g_test_add_func("/config-edit/unset", test_unset);
	g_test_add_func("/config-edit/refusals", test_refusals);
	g_test_add_func("/config-edit/boot-order", test_boot_order);
	g_test_add_func("/config-edit/file", test_file);
	g_test_add_func("/config-edit/not-utf8", test_not_utf8);
	g_test_add_func("/config-edit/key-known", test_key_known);
	return g_test_run();
}
