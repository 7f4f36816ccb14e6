/* vm.conf: values, defaults, unknown keys, errors that name the file and line, and SCSI slots. */
#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>

#include "config.h"
#include "log.h"
#include "pc_internal.h"

static void expect_error(const char *text, const char *fragment)
{
	struct vm_config cfg;
	vm_config_init(&cfg);
	char *error = NULL;
	g_assert_cmpint(vm_config_parse(&cfg, text, "vm.conf", &error), ==, -1);
	g_assert_nonnull(error);
	if (!strstr(error, fragment))
		g_error("expected '%s' in '%s'", fragment, error);
	g_free(error);
	vm_config_clear(&cfg);
}

static void test_parse(void)
{
	const char *text = "# a VM\n[vm]\nname=Windows XP\nuuid=5f1c0e2a-0000-4000-8000-000000000001\n"
			   "memory-mib=512\ncpus=2\ntest-exit=true\n\n[ide0:0]\ntype=disk\n"
			   "file=disk0.img\n[ide1:1]\nfile=/abs/other.img\nreadonly=true\n";
	struct vm_config cfg;
	vm_config_init(&cfg);
	char *error = NULL;
	g_assert_cmpint(vm_config_parse(&cfg, text, "vm.conf", &error), ==, 0);
	g_assert_cmpstr(cfg.name, ==, "Windows XP");
	g_assert_cmpuint(cfg.memory_mib, ==, 512);
	g_assert_cmpuint(cfg.cpus, ==, 2);
	g_assert_true(cfg.test_exit);
	g_assert_cmpstr(cfg.ide[0].file, ==, "disk0.img");
	g_assert_null(cfg.ide[1].file);
	g_assert_cmpstr(cfg.ide[3].file, ==, "/abs/other.img");
	g_assert_true(cfg.ide[3].read_only);
	vm_config_clear(&cfg);
}

static void test_cdrom(void)
{
	const char *text = "[ide0:0]\nfile=disk0.qcow2\n[ide1:0]\ntype=cdrom\nfile=\n"
			   "[ide1:1]\ntype=cdrom\nfile=/isos/xp.iso\n";
	struct vm_config cfg;
	vm_config_init(&cfg);
	char *error = NULL;
	g_assert_cmpint(vm_config_parse(&cfg, text, "vm.conf", &error), ==, 0);
	g_assert_true(vm_drive_is_cdrom(&cfg.ide[2]));
	g_assert_null(cfg.ide[2].file); /* file= empty: no disc */
	g_assert_true(vm_drive_present(&cfg.ide[2]));
	g_assert_cmpstr(cfg.ide[3].file, ==, "/isos/xp.iso");
	g_assert_false(vm_drive_is_cdrom(&cfg.ide[0]));
	g_assert_cmpint(vm_ide_slot_find(&cfg, "cdrom"), ==, 2);
	g_assert_cmpint(vm_ide_slot_find(&cfg, "disk"), ==, 0);
	g_assert_cmpint(vm_ide_slot_find(&cfg, "ide1:1"), ==, 3);
	g_assert_cmpint(vm_ide_slot_find(&cfg, "floppy"), ==, -1);
	vm_config_clear(&cfg);
}

static void test_defaults(void)
{
	struct vm_config cfg;
	vm_config_init(&cfg);
	char *error = NULL;
	g_assert_cmpint(vm_config_parse(&cfg, "[vm]\nname=x\n", "vm.conf", &error), ==, 0);
	g_assert_cmpuint(cfg.memory_mib, ==, 256);
	g_assert_cmpuint(cfg.cpus, ==, 1);
	g_assert_false(cfg.test_exit);
	vm_config_clear(&cfg);
}

static void test_errors_name_line(void)
{
	expect_error("[vm]\nname=a\nmemory-mib=lots\n", "vm.conf:3: [vm] memory-mib=lots: not a whole number");
	expect_error("[vm]\ncpus=0\n", "vm.conf:2: [vm] cpus=0: out of range (allowed: 1 to 32)");
	expect_error("[vm]\n\n\ncpus=-3\n", "vm.conf:4:");
	expect_error("[vm]\nname=a\nthis line is junk\n", "vm.conf:3: expected");
	expect_error("[vm\nname=a\n", "vm.conf:1: expected");
	expect_error("[vm]\ntest-exit=maybe\n", "vm.conf:2: [vm] test-exit=maybe: expected true or false");
	expect_error("[ide0:0]\ntype=disk\n", "[ide0:0] has no file=");
	expect_error("[ide0:0]\ntype=floppy\nfile=a.img\n", "vm.conf:2: [ide0:0] type=floppy: expected disk or cdrom");
	expect_error("[ide0:0]\ntype=disk\nfile=\n", "[ide0:0] has no file=");
}

static void test_unknown_keys_warn(void)
{
	g_autofree char *dir = g_dir_make_tmp("pcvm-config-XXXXXX", NULL);
	g_autofree char *log = g_build_filename(dir, "log", NULL);
	log_open(log);
	struct vm_config cfg;
	vm_config_init(&cfg);
	char *error = NULL;
	g_assert_cmpint(vm_config_parse(&cfg, "[vm]\ncolour=blue\n[sound]\nmodel=sb16\n", "vm.conf",
					&error),
			==, 0);
	log_close();
	g_autofree char *text = NULL;
	g_assert_true(g_file_get_contents(log, &text, NULL, NULL));
	g_assert_nonnull(strstr(text, "vm.conf:2: unknown key 'colour' in [vm]"));
	g_assert_nonnull(strstr(text, "unknown group [sound]"));
	vm_config_clear(&cfg);
}

static void test_save_load(void)
{
	g_autofree char *dir = g_dir_make_tmp("pcvm-config-XXXXXX", NULL);
	g_autofree char *path = g_build_filename(dir, "vm.conf", NULL);
	struct vm_config cfg;
	vm_config_init(&cfg);
	cfg.name = g_strdup("Demo; with = signs");
	cfg.memory_mib = 1024;
	cfg.cpus = 4;
	cfg.ide[0].type = g_strdup("disk");
	cfg.ide[0].file = g_strdup("disk0.img");
	char *error = NULL;
	g_assert_cmpint(vm_config_save(&cfg, path, &error), ==, 0);
	struct vm_config back;
	vm_config_init(&back);
	g_assert_cmpint(vm_config_load(&back, path, &error), ==, 0);
	g_assert_cmpstr(back.name, ==, cfg.name);
	g_assert_cmpuint(back.memory_mib, ==, 1024);
	g_assert_cmpuint(back.cpus, ==, 4);
	g_assert_cmpstr(back.ide[0].file, ==, "disk0.img");
	vm_config_clear(&cfg);
	vm_config_clear(&back);
	g_assert_cmpint(vm_config_load(&back, "/nonexistent/vm.conf", &error), ==, -1);
	g_assert_nonnull(error);
	g_free(error);
}

static void test_nic(void)
{
	const char *text = "[vm]\nuuid=5f1c0e2a-0000-4000-8000-000000000001\n"
			   "[net0]\nmode=nat\nforward=tcp:127.0.0.1:2222-:22;udp:127.0.0.1:5353-:53;\n"
			   "[net1]\nmode=bridged\nbridge=br0\nmac=02:00:00:aa:bb:cc\n"
			   "[net3]\n";
	struct vm_config cfg;
	vm_config_init(&cfg);
	char *error = NULL;
	g_assert_cmpint(vm_config_parse(&cfg, text, "vm.conf", &error), ==, 0);
	g_assert_true(cfg.net[0].present);
	g_assert_cmpstr(cfg.net[0].forward[1], ==, "udp:127.0.0.1:5353-:53");
	g_assert_null(cfg.net[0].forward[2]);
	g_assert_false(cfg.net[2].present);
	g_assert_true(cfg.net[3].present); /* an empty group: an e1000 on NAT */
	g_assert_null(cfg.net[3].mode);
	uint8_t mac[6], again[6], other[6];
	vm_nic_mac(&cfg, 1, mac);
	g_assert_cmpmem(mac, 6, ((uint8_t[]){ 0x02, 0, 0, 0xaa, 0xbb, 0xcc }), 6);
	/* derived: stable, unicast, locally administered, different per card */
	vm_nic_mac(&cfg, 0, mac);
	vm_nic_mac(&cfg, 0, again);
	vm_nic_mac(&cfg, 3, other);
	g_assert_cmpmem(mac, 6, again, 6);
	g_assert_cmpint(memcmp(mac, other, 6), !=, 0);
	g_assert_cmphex(mac[0] & 3, ==, 2);

	g_autofree char *dir = g_dir_make_tmp("pcvm-config-XXXXXX", NULL);
	g_autofree char *path = g_build_filename(dir, "vm.conf", NULL);
	g_assert_cmpint(vm_config_save(&cfg, path, &error), ==, 0);
	struct vm_config back;
	vm_config_init(&back);
	g_assert_cmpint(vm_config_load(&back, path, &error), ==, 0);
	g_assert_true(back.net[3].present);
	g_assert_cmpstr(back.net[1].bridge, ==, "br0");
	g_assert_cmpstr(back.net[0].forward[0], ==, "tcp:127.0.0.1:2222-:22");
	vm_config_clear(&back);
	vm_config_clear(&cfg);
}

static void test_nic_errors(void)
{
	expect_error("[net0]\nmodel=rtl8139\n", "vm.conf:2: [net0] model: expected e1000");
	expect_error("[net0]\n\nmode=vmnet8\n", "vm.conf:3: [net0] mode: expected nat, bridged");
	expect_error("[net1]\nmac=01:00:5e:00:00:01\n", "[net1] mac: expected a unicast");
	expect_error("[net1]\nmac=52:54:00:zz:00:01\n", "[net1] mac: expected a unicast");
	expect_error("[net0]\nmode=bridged\n", "[net0] mode: bridged needs bridge=NAME");
	expect_error("[net0]\nmode=hostonly\n", "[net0] mode: hostonly needs network=NAME");
	uint8_t mac[6];
	g_assert_cmpint(vm_mac_parse("52:54:00:12:34:5", mac), ==, -1);
	g_assert_cmpint(vm_mac_parse("52:54:00:12:34:567", mac), ==, -1);
	g_assert_cmpint(vm_mac_parse("52:54:00:12:34:56", mac), ==, 0);
	g_assert_cmphex(mac[5], ==, 0x56);
}

/* pcvm has one display adapter, the Bochs/QEMU standard VGA: any other value of [display]
 * adapter= is refused (it would silently boot the standard VGA), naming the file, the line and
 * the value it takes. */
static void test_display_adapter(void)
{
	struct vm_config cfg;
	vm_config_init(&cfg);
	char *error = NULL;
	g_assert_cmpint(vm_config_parse(&cfg, "[vm]\nname=x\n[display]\nadapter=stdvga\n",
					"vm.conf", &error),
			==, 0);
	g_assert_cmpstr(cfg.adapter, ==, "stdvga");
	vm_config_clear(&cfg);
	static const char *const bad[] = { "cirrus", "stdgva", "StdVGA", "vmware", "" };
	for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
		g_autofree char *text = g_strdup_printf(
			"[vm]\nname=x\n\n[display]\nkeyboard=de\nadapter=%s\n", bad[i]);
		g_autofree char *want =
			g_strdup_printf("vm.conf:6: [display] adapter=%s: expected stdvga", bad[i]);
		expect_error(text, want);
	}
}

/* ---- SCSI drives: [scsi0:0] .. [scsi0:6] in one slot list after the IDE slots, the
 * refusals ([scsi0:7], a CD drive on SCSI), the fw_cfg bootorder lines SeaBIOS finds them by ---- */

/* The slot list: IDE first, then SCSI, each with its bus and place on it. */
static void test_slots(void)
{
	g_assert_cmpuint(VM_DRIVE_SLOTS, ==, 11);
	for (unsigned i = 0; i < VM_DRIVE_SLOTS; i++) {
		const struct vm_drive_slot *s = &vm_drive_slots[i];
		g_autofree char *want = i < VM_IDE_SLOTS
						? g_strdup_printf("ide%u:%u", i / 2, i % 2)
						: g_strdup_printf("scsi0:%u", i - VM_IDE_SLOTS);
		g_assert_cmpstr(s->name, ==, want);
		g_assert_cmpstr(vm_drive_slot_name(i), ==, want);
		g_assert_cmpint(s->bus, ==, i < VM_IDE_SLOTS ? VM_BUS_IDE : VM_BUS_SCSI);
		g_assert_cmpuint(s->index, ==, i < VM_IDE_SLOTS ? i : i - VM_IDE_SLOTS);
	}
	g_assert_null(vm_drive_slot_name(VM_DRIVE_SLOTS));
	g_assert_null(vm_ide_slot_name(VM_IDE_SLOTS)); /* the IDE names stop at the IDE slots */
}

static void test_parse_scsi(void)
{
	const char *text = "[ide1:0]\ntype=cdrom\nfile=\n[scsi0:0]\nfile=disk0.qcow2\n"
			   "[scsi0:6]\ntype=disk\nfile=/abs/data.img\nreadonly=true\n";
	struct vm_config cfg;
	vm_config_init(&cfg);
	char *error = NULL;
	g_assert_cmpint(vm_config_parse(&cfg, text, "vm.conf", &error), ==, 0);
	g_assert_cmpstr(cfg.scsi[0].file, ==, "disk0.qcow2");
	g_assert_true(cfg.drives[VM_IDE_SLOTS].file == cfg.scsi[0].file); /* the same storage */
	g_assert_cmpstr(cfg.scsi[6].file, ==, "/abs/data.img");
	g_assert_true(cfg.scsi[6].read_only);
	g_assert_false(vm_drive_present(&cfg.scsi[3]));
	/* "disk" is the first hard disk of any bus; "cdrom" stays on IDE */
	g_assert_cmpint(vm_drive_slot_find(&cfg, "disk"), ==, VM_IDE_SLOTS);
	g_assert_cmpint(vm_drive_slot_find(&cfg, "scsi0:6"), ==, VM_IDE_SLOTS + 6);
	g_assert_cmpint(vm_drive_slot_find(&cfg, "cdrom"), ==, 2);
	g_assert_cmpint(vm_ide_slot_find(&cfg, "disk"), ==, -1);
	g_assert_cmpint(vm_ide_slot_find(&cfg, "scsi0:0"), ==, -1);
	g_assert_cmpint(vm_drive_slot_find(&cfg, "scsi0:7"), ==, -1);

	/* saved and read back */
	g_autofree char *dir = g_dir_make_tmp("scsi-config-XXXXXX", NULL);
	g_autofree char *path = g_build_filename(dir, "vm.conf", NULL);
	g_assert_cmpint(vm_config_save(&cfg, path, &error), ==, 0);
	struct vm_config back;
	vm_config_init(&back);
	g_assert_cmpint(vm_config_load(&back, path, &error), ==, 0);
	g_assert_cmpstr(back.scsi[0].file, ==, "disk0.qcow2");
	g_assert_cmpstr(back.scsi[6].file, ==, "/abs/data.img");
	g_assert_true(back.scsi[6].read_only);
	g_assert_true(vm_drive_is_cdrom(&back.ide[2]));
	vm_config_clear(&back);
	vm_config_clear(&cfg);
	g_unlink(path);
	g_rmdir(dir);
}

static void test_refusals(void)
{
	expect_error("[scsi0:7]\nfile=d.img\n", "SCSI ID 7 is the controller's own");
	expect_error("[scsi0:12]\nfile=d.img\n", "[scsi0:12]: SCSI ID 12 does not exist");
	expect_error("[scsi0:1]\ntype=cdrom\nfile=x.iso\n",
		     "vm.conf:2: [scsi0:1] type=cdrom: expected disk (SCSI slots hold hard disks");
	expect_error("[scsi0:2]\ntype=tape\nfile=x\n", "type=tape: expected disk");
	expect_error("[scsi0:3]\ntype=disk\nreadonly=true\n", "[scsi0:3] has no file=");
	/* the IDE rules are unchanged */
	expect_error("[ide0:0]\ntype=tape\n", "expected disk or cdrom");
}

/* pcvm config set/unset on SCSI groups, checked as pcvm run reads them. */
static void test_edit(void)
{
	char *error = NULL;
	const char *sets[] = { "scsi0:2.file=d2.qcow2", "scsi0:2.readonly=true", NULL };
	g_autofree char *out = vm_config_edit_text("[vm]\nname=a\n", "vm.conf", sets, NULL, &error);
	g_assert_nonnull(out);
	g_assert_nonnull(strstr(out, "[scsi0:2]\nfile=d2.qcow2\nreadonly=true\n"));
	g_assert_true(vm_config_key_known("scsi0:6", "file"));
	g_assert_false(vm_config_key_known("scsi0:7", "file"));
	const char *unsets[] = { "scsi0:2", NULL };
	g_autofree char *gone = vm_config_edit_text(out, "vm.conf", NULL, unsets, &error);
	g_assert_null(strstr(gone, "scsi0"));
	const char *cd[] = { "scsi0:1.type=cdrom", "scsi0:1.file=x.iso", NULL };
	g_assert_null(vm_config_edit_text(out, "vm.conf", cd, NULL, &error));
	g_assert_nonnull(strstr(error, "expected disk"));
	g_clear_pointer(&error, g_free);
	const char *seven[] = { "scsi0:7.file=x", NULL };
	g_assert_null(vm_config_edit_text(out, "vm.conf", seven, NULL, &error));
	g_assert_nonnull(strstr(error, "scsi0:0 to scsi0:6"));
	g_free(error);
}

#define D IDE_KIND_DISK
#define C IDE_KIND_CDROM
#define N IDE_KIND_NONE
#define SCSI(id) "/pci@i0cf8/scsi@4/channel@0/disk@" #id ",0\n"

/* SeaBIOS looks a SCSI disk up as "/pci@i0cf8/ANY@4/ANY@0/ANY@ID,LUN", ANY a glob star
 * (bootprio_find_scsi_device): each disk boot= names comes in slot order, IDE ones first. */
static void test_bootorder(void)
{
	static const struct {
		const char *boot;
		struct pc_boot_targets t;
		const char *want;
	} cases[] = {
		{ "disk,cdrom", { { N, N, N, N, D }, { -1, -1, -1, -1 } }, SCSI(0) },
		{ "cdrom,disk", { { D, N, C, N, N, N, D, N, N, N, D }, { -1, -1, -1, -1 } },
		  "/pci@i0cf8/ide@1,1/drive@1/disk@0\n/pci@i0cf8/ide@1,1/drive@0/disk@0\n" SCSI(2)
			  SCSI(6) },
		{ "network", { { N, N, N, N, D }, { -1, -1, -1, -1 } }, "" },
	};
	for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autofree char *text = pc_bootorder_text(cases[i].boot, &cases[i].t);
		g_assert_cmpstr(text, ==, cases[i].want);
	}
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/config/parse", test_parse);
	g_test_add_func("/config/defaults", test_defaults);
	g_test_add_func("/config/cdrom", test_cdrom);
	g_test_add_func("/config/errors-name-line", test_errors_name_line);
	g_test_add_func("/config/unknown-keys-warn", test_unknown_keys_warn);
	g_test_add_func("/config/save-load", test_save_load);
	g_test_add_func("/config/nic", test_nic);
	g_test_add_func("/config/nic-errors", test_nic_errors);
	g_test_add_func("/config/display-adapter", test_display_adapter);
	g_test_add_func("/config/scsi-slots", test_slots);
	g_test_add_func("/config/scsi-parse", test_parse_scsi);
	g_test_add_func("/config/scsi-refusals", test_refusals);
	g_test_add_func("/config/scsi-edit", test_edit);
	g_test_add_func("/config/scsi-bootorder", test_bootorder);
	return g_test_run();
}
