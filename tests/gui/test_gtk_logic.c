/* pcvm-gtk's logic without GTK: ISO 9660 recognition (hand-made images, hostile ones, and
 * real ones from xorriso), the guest presets of data/guest-presets.conf and their matching,
 * and the host check's findings. usage: test_gtk_logic PATH/guest-presets.conf */
#include <glib.h>
#include <glib/gstdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "guest.h"
#include "host.h"

static const char *presets_path;

/* ---- hand-made ISO images (ECMA-119) ---- */

#define SECTORS	 24
#define ROOT_LBA 20

static void put_both32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++) {
		p[i] = v >> (8 * i);
		p[7 - i] = v >> (8 * i);
	}
}

/* A directory record for NAME at P; returns its length. */
static size_t put_record(uint8_t *p, const char *name, size_t nlen, bool dir)
{
	size_t len = 33 + nlen + (nlen % 2 == 0); /* padded to an even length */
	p[0] = len;
	put_both32(p + 2, ROOT_LBA);
	put_both32(p + 10, 2048);
	p[25] = dir ? 2 : 0;
	p[32] = nlen;
	memcpy(p + 33, name, nlen);
	return len;
}

static uint8_t *make_image(const char *volume_id, bool boot_record, const char *const *names)
{
	uint8_t *img = g_malloc0(SECTORS * ISO_SECTOR);
	uint8_t *pvd = img + 16 * ISO_SECTOR;
	unsigned next = 17;
	if (boot_record) {
		uint8_t *br = img + next++ * ISO_SECTOR;
		br[0] = 0;
		memcpy(br + 1, "CD001", 5);
		br[6] = 1;
		memcpy(br + 7, "EL TORITO SPECIFICATION", 23);
	}
	uint8_t *term = img + next * ISO_SECTOR;
	term[0] = 255;
	memcpy(term + 1, "CD001", 5);
	pvd[0] = 1;
	memcpy(pvd + 1, "CD001", 5);
	pvd[6] = 1;
	memset(pvd + 40, ' ', 32);
	memcpy(pvd + 40, volume_id, strlen(volume_id));
	put_record(pvd + 156, "\0", 1, true);
	put_both32(pvd + 156 + 10, 2 * ISO_SECTOR);
	uint8_t *dir = img + ROOT_LBA * ISO_SECTOR, *p = dir;
	p += put_record(p, "\0", 1, true);
	p += put_record(p, "\1", 1, true);
	for (const char *const *n = names; *n; n++) {
		if (!strcmp(*n, "--next-sector--")) { /* the rest of this sector is padding */
			p = dir + ISO_SECTOR;
			continue;
		}
		p += put_record(p, *n, strlen(*n), !strchr(*n, ';'));
	}
	return img;
}

static void test_iso_handmade(void)
{
	const char *names[] = { "WIN51IP.;1",	  "I386",	 "README.TXT;1",
			       "--next-sector--", "SETUP.EXE;1", NULL };
	g_autofree uint8_t *img = make_image("GRTMPVOL_EN", true, names);
	struct iso_info info;
	char *error = NULL;
	g_assert_cmpint(iso_probe_data(img, SECTORS * ISO_SECTOR, &info, &error), ==, 0);
	g_assert_cmpstr(info.volume_id, ==, "GRTMPVOL_EN");
	g_assert_true(info.bootable);
	g_assert_cmpuint(g_strv_length(info.root_names), ==, 4);
	g_assert_cmpstr(info.root_names[0], ==, "WIN51IP");
	g_assert_cmpstr(info.root_names[1], ==, "I386");
	g_assert_cmpstr(info.root_names[2], ==, "README.TXT");
	g_assert_cmpstr(info.root_names[3], ==, "SETUP.EXE"); /* found past the padding */
	iso_info_clear(&info);

	g_autofree uint8_t *plain = make_image("DATA", false, (const char *[]){ NULL });
	g_assert_cmpint(iso_probe_data(plain, SECTORS * ISO_SECTOR, &info, &error), ==, 0);
	g_assert_false(info.bootable);
	g_assert_cmpuint(g_strv_length(info.root_names), ==, 0);
	iso_info_clear(&info);
}

static void test_iso_not_iso(void)
{
	g_autofree uint8_t *zeros = g_malloc0(SECTORS * ISO_SECTOR);
	struct iso_info info;
	char *error = NULL;
	g_assert_cmpint(iso_probe_data(zeros, SECTORS * ISO_SECTOR, &info, &error), ==, -1);
	g_assert_nonnull(strstr(error, "not an ISO 9660 image"));
	g_clear_pointer(&error, g_free);
	/* shorter than the descriptor set */
	g_assert_cmpint(iso_probe_data(zeros, 16 * ISO_SECTOR + 100, &info, &error), ==, -1);
	g_clear_pointer(&error, g_free);
	g_assert_cmpint(iso_probe("/nonexistent/x.iso", &info, &error), ==, -1);
	g_assert_nonnull(strstr(error, "/nonexistent/x.iso"));
	g_free(error);
}

/* Damaged directories and absurd sizes: what can be read is read, nothing past the image. */
static void test_iso_hostile(void)
{
	g_autofree uint8_t *img = make_image("HOSTILE", false, (const char *[]){ "A;1", NULL });
	uint8_t *pvd = img + 16 * ISO_SECTOR;
	uint8_t *dir = img + ROOT_LBA * ISO_SECTOR;
	struct iso_info info;
	char *error = NULL;
	/* a name longer than its record */
	uint8_t *third = dir + dir[0] + dir[dir[0]];
	third[32] = 200;
	g_assert_cmpint(iso_probe_data(img, SECTORS * ISO_SECTOR, &info, &error), ==, 0);
	g_assert_cmpuint(g_strv_length(info.root_names), ==, 0);
	iso_info_clear(&info);
	/* a record running past the end of the directory */
	third[32] = 3;
	third[0] = 255;
	put_both32(pvd + 156 + 10, (uint32_t)(third - dir) + 40);
	g_assert_cmpint(iso_probe_data(img, SECTORS * ISO_SECTOR, &info, &error), ==, 0);
	g_assert_cmpuint(g_strv_length(info.root_names), ==, 0);
	iso_info_clear(&info);
	/* a root directory that is huge and past the end of the image */
	put_both32(pvd + 156 + 2, 0x7fffffff);
	put_both32(pvd + 156 + 10, 0xffffffff);
	g_assert_cmpint(iso_probe_data(img, SECTORS * ISO_SECTOR, &info, &error), ==, 0);
	g_assert_cmpstr(info.volume_id, ==, "HOSTILE");
	g_assert_cmpuint(g_strv_length(info.root_names), ==, 0);
	iso_info_clear(&info);
	/* descriptors without a terminator up to the end of the image */
	g_autofree uint8_t *only = g_malloc0(17 * ISO_SECTOR);
	memcpy(only + 16 * ISO_SECTOR, pvd, ISO_SECTOR);
	put_both32(only + 16 * ISO_SECTOR + 156 + 2, 16);
	put_both32(only + 16 * ISO_SECTOR + 156 + 10, ISO_SECTOR);
	g_assert_cmpint(iso_probe_data(only, 17 * ISO_SECTOR, &info, &error), ==, 0);
	iso_info_clear(&info);
}

/* ---- presets ---- */

static void load_presets(struct guest_presets *p)
{
	g_autofree char *text = NULL;
	gsize len;
	g_assert_true(g_file_get_contents(presets_path, &text, &len, NULL));
	char *error = NULL;
	if (guest_presets_parse(p, text, len, presets_path, &error) < 0)
		g_error("%s", error);
}

static const char *match(const struct guest_presets *p, const char *volume,
			 const char *const *names)
{
	struct iso_info info = { .root_names = g_strdupv((char **)names) };
	g_strlcpy(info.volume_id, volume, sizeof(info.volume_id));
	const struct guest_preset *g = guest_presets_match(p, &info);
	iso_info_clear(&info);
	return g ? g->id : NULL;
}

static void test_presets_file(void)
{
	struct guest_presets p;
	load_presets(&p);
	const struct guest_preset *xp = guest_presets_find(&p, "winxp");
	g_assert_nonnull(xp);
	g_assert_cmpstr(xp->label, ==, "Windows XP");
	g_assert_cmpuint(xp->memory_mib, ==, 512);
	g_assert_cmpstr(xp->nic, ==, "e1000");
	g_assert_cmpstr(xp->display, ==, "stdvga");
	g_assert_nonnull(guest_presets_find(&p, GUEST_GENERIC));
	g_assert_null(guest_presets_find(&p, "nonesuch"));
	const char *none[] = { NULL };
	g_assert_cmpstr(match(&p, "GRTMPVOL_EN", none), ==, "winxp");
	g_assert_cmpstr(match(&p, "X", (const char *[]){ "I386", "WIN51IC", NULL }), ==, "winxp");
	g_assert_cmpstr(match(&p, "X", (const char *[]){ "WIN51IS", NULL }), ==, "win2003");
	g_assert_cmpstr(match(&p, "X", (const char *[]){ "CDROM_NT.5", NULL }), ==, "win2000");
	g_assert_cmpstr(match(&p, "W2PFPP_EN", none), ==, "win2000");
	g_assert_cmpstr(match(&p, "Debian 12.5.0 amd64 n", none), ==, "debian");
	g_assert_cmpstr(match(&p, "Ubuntu 22.04.3 LTS amd64", none), ==, "ubuntu");
	g_assert_cmpstr(match(&p, "FD13-LIVE", none), ==, "freedos");
	g_assert_cmpstr(match(&p, "X", (const char *[]){ "FREEDOS", NULL }), ==, "freedos");
	/* a root file outranks the volume id */
	g_assert_cmpstr(match(&p, "Debian", (const char *[]){ "WIN51IP", NULL }), ==, "winxp");
	g_assert_null(match(&p, "PCVM_GUI_TEST", none));
	g_assert_null(match(&p, "", none));
	guest_presets_clear(&p);
}

static void expect_parse_error(const char *text, const char *needle)
{
	struct guest_presets p;
	char *error = NULL;
	g_assert_cmpint(guest_presets_parse(&p, text, strlen(text), "t.conf", &error), ==, -1);
	if (!strstr(error, needle))
		g_error("'%s' does not say '%s'", error, needle);
	g_free(error);
	guest_presets_clear(&p);
}

static void test_presets_errors(void)
{
	expect_parse_error("[a]\nmemory-mib=64\n[generic]\nlabel=x\n", "[a] needs label=");
	expect_parse_error("[generic]\nlabel=x\nmemory-mib=lots\n", "memory-mib");
	expect_parse_error("[generic]\nlabel=x\ncpus=99\n", "cpus");
	expect_parse_error("[generic]\nlabel=x\ndisk-controller=sata\n",
			   "disk-controller: expected ide or scsi");
	expect_parse_error("[generic]\nlabel=x\nvolume-id=(\n", "volume-id");
	expect_parse_error("[a]\nlabel=x\n", "no [generic] preset");
	expect_parse_error("not a key file", "t.conf");
	/* and SCSI is a controller the wizard can put the disk on */
	struct guest_presets p;
	const char *scsi = "[generic]\nlabel=x\ndisk-controller=scsi\n";
	char *error = NULL;
	g_assert_cmpint(guest_presets_parse(&p, scsi, strlen(scsi), "t.conf", &error), ==, 0);
	g_assert_cmpstr(((struct guest_preset *)p.list->pdata[0])->disk_controller, ==, "scsi");
	guest_presets_clear(&p);
}

/* ---- real ISOs from xorriso ---- */

static char *make_xorriso_iso(const char *dir, const char *volume, const char *const *files)
{
	g_autofree char *tree = g_build_filename(dir, volume, NULL);
	g_mkdir_with_parents(tree, 0755);
	for (const char *const *f = files; *f; f++) {
		g_autofree char *path = g_build_filename(tree, *f, NULL);
		g_assert_true(g_file_set_contents(path, "x", 1, NULL));
	}
	char *iso = g_strconcat(tree, ".iso", NULL);
	const char *argv[] = { "xorriso", "-as", "mkisofs", "-quiet", "-V",
			      volume,	 "-o",	iso,	   tree,     NULL };
	int status = 0;
	g_assert_true(g_spawn_sync(NULL, (char **)argv, NULL,
				   G_SPAWN_SEARCH_PATH | G_SPAWN_STDOUT_TO_DEV_NULL |
				       G_SPAWN_STDERR_TO_DEV_NULL,
				   NULL, NULL, NULL, NULL, &status, NULL));
	g_assert_true(g_spawn_check_wait_status(status, NULL));
	return iso;
}

static void test_iso_xorriso(void)
{
	g_autofree char *xorriso = g_find_program_in_path("xorriso");
	if (!xorriso) {
		g_test_skip("xorriso is not installed (apt-get install xorriso)");
		return;
	}
	struct guest_presets p;
	load_presets(&p);
	g_autofree char *tmp = g_dir_make_tmp("pcvm-gtk-logic-XXXXXX", NULL);
	static const struct {
		const char *volume;
		const char *files[3];
		const char *guest;
	} discs[] = {
		{ "GRTMPVOL_EN", { "WIN51IP", "README.TXT" }, "winxp" },
		{ "Debian 12.5.0 amd64 n", { "md5sum.txt" }, "debian" },
		{ "PCVM_TEST", { "hello.txt" }, NULL },
	};
	for (size_t i = 0; i < G_N_ELEMENTS(discs); i++) {
		g_autofree char *iso = make_xorriso_iso(tmp, discs[i].volume, discs[i].files);
		struct iso_info info;
		char *error = NULL;
		g_assert_cmpint(iso_probe(iso, &info, &error), ==, 0);
		/* ECMA-119 d-characters: xorriso keeps the label as given up to 32 bytes */
		g_assert_cmpstr(info.volume_id, ==, discs[i].volume);
		g_autofree char *upper = g_ascii_strup(discs[i].files[0], -1);
		g_assert_true(g_strv_contains((const char *const *)info.root_names, upper));
		const struct guest_preset *g = guest_presets_match(&p, &info);
		g_assert_cmpstr(g ? g->id : NULL, ==, discs[i].guest);
		iso_info_clear(&info);
		g_unlink(iso);
	}
	guest_presets_clear(&p);
	g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", tmp);
	g_assert_cmpint(system(cmd), ==, 0);
}

/* ---- the host check ---- */

static char *write_temp(const char *dir, const char *name, const char *text)
{
	char *path = g_build_filename(dir, name, NULL);
	g_assert_true(g_file_set_contents(path, text, -1, NULL));
	return path;
}

static void test_host_check(void)
{
	g_autofree char *tmp = g_dir_make_tmp("pcvm-gtk-host-XXXXXX", NULL);
	g_autofree char *vmx = write_temp(tmp, "vmx", "processor : 0\nflags : fpu vme vmx sse2\n");
	g_autofree char *novirt = write_temp(tmp, "novirt", "processor : 0\nflags : fpu sse2\n");
	g_autofree char *kvm = write_temp(tmp, "kvm", "");
	g_autofree char *missing = g_build_filename(tmp, "no-kvm", NULL);
	struct host_report r;

	host_check(missing, vmx, &r); /* the module is not loaded */
	g_assert_cmpint(r.kvm, ==, HOST_KVM_MISSING);
	g_assert_true(r.fatal && r.cpu_virt);
	g_assert_cmpstr(r.title, ==, "KVM is not available");
	g_assert_nonnull(strstr(r.detail, missing));
	g_assert_nonnull(strstr(r.detail, "modprobe kvm_intel"));
	host_report_clear(&r);

	host_check(missing, novirt, &r); /* no VT-x: the BIOS setting */
	g_assert_false(r.cpu_virt);
	g_assert_nonnull(strstr(r.detail, "BIOS/UEFI"));
	g_assert_nonnull(strstr(r.detail, "no vmx or svm"));
	host_report_clear(&r);

	host_check(kvm, vmx, &r); /* all well: nothing to say */
	g_assert_cmpint(r.kvm, ==, HOST_KVM_OK);
	g_assert_false(r.fatal);
	g_assert_null(r.title);
	host_report_clear(&r);

	host_check(kvm, novirt, &r); /* KVM by emulation: a warning, not a stop */
	g_assert_false(r.fatal);
	g_assert_nonnull(strstr(r.title, "slowly"));
	host_report_clear(&r);

	host_check(tmp, vmx, &r); /* a directory: opening it for writing fails otherwise */
	g_assert_cmpint(r.kvm, ==, HOST_KVM_UNUSABLE);
	g_assert_true(r.fatal);
	host_report_clear(&r);

	if (geteuid() != 0) { /* root may open anything */
		g_assert_cmpint(g_chmod(kvm, 0), ==, 0);
		host_check(kvm, vmx, &r);
		g_assert_cmpint(r.kvm, ==, HOST_KVM_DENIED);
		g_assert_nonnull(strstr(r.detail, "kvm group"));
		host_report_clear(&r);
	}
	g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", tmp);
	g_assert_cmpint(system(cmd), ==, 0);
}

static void test_host_facts(void)
{
	g_autofree char *tmp = g_dir_make_tmp("pcvm-gtk-host-XXXXXX", NULL);
	g_autofree char *meminfo =
	    write_temp(tmp, "meminfo", "MemFree: 100 kB\nMemTotal:       16384000 kB\n");
	g_assert_cmpuint(host_memory_mib(meminfo), ==, 16000);
	g_assert_cmpuint(host_memory_mib("/nonexistent"), ==, 0);
	g_assert_cmpuint(host_vm_memory_limit(16000), ==, 12000);
	g_assert_cmpuint(host_vm_memory_limit(200), ==, 256);
	g_assert_cmpuint(host_memory_mib("/proc/meminfo"), >, 0);

	const char *dirs[] = { "br1/bridge", "eth0", "br0/bridge", "lo", NULL };
	for (const char **d = dirs; *d; d++) {
		g_autofree char *path = g_build_filename(tmp, "net", *d, NULL);
		g_mkdir_with_parents(path, 0755);
	}
	g_autofree char *net = g_build_filename(tmp, "net", NULL);
	g_auto(GStrv) bridges = host_bridges(net);
	g_assert_cmpuint(g_strv_length(bridges), ==, 2);
	g_assert_cmpstr(bridges[0], ==, "br0");
	g_assert_cmpstr(bridges[1], ==, "br1");
	g_auto(GStrv) none = host_bridges("/nonexistent");
	g_assert_cmpuint(g_strv_length(none), ==, 0);
	g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", tmp);
	g_assert_cmpint(system(cmd), ==, 0);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	if (argc < 2) {
		g_printerr("usage: %s PATH/guest-presets.conf\n", argv[0]);
		return 2;
	}
	presets_path = argv[1];
	g_test_add_func("/gtk/iso/handmade", test_iso_handmade);
	g_test_add_func("/gtk/iso/not-iso", test_iso_not_iso);
	g_test_add_func("/gtk/iso/hostile", test_iso_hostile);
	g_test_add_func("/gtk/iso/xorriso", test_iso_xorriso);
	g_test_add_func("/gtk/presets/file", test_presets_file);
	g_test_add_func("/gtk/presets/errors", test_presets_errors);
	g_test_add_func("/gtk/host/check", test_host_check);
	g_test_add_func("/gtk/host/facts", test_host_facts);
	return g_test_run();
}
