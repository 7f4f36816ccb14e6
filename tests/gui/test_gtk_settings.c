/*
 * The desktop app's new logic without GTK: reading back `pcvm snapshot list` (against the
 * real formatter, snapshot_tree_format, so that the two cannot drift apart) and `pcvm disk
 * info`, progress events as a bar's fraction and line, the settings the dialog writes (only
 * what changed) and the boot order.
 */
#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>

#include "pcvm_output.h"
#include "settings_model.h"
#include "snapshot/tree.h"

/* A tree with awkward names, formatted as `pcvm snapshot list` prints it, parsed back. */
static void test_snapshot_space(void)
{
	struct snapshot_tree t;
	snapshot_tree_init(&t);
	struct snapshot_node *a = snapshot_tree_add(&t, "base  [disk]  2020-01-01 00:00  x", NULL,
						    1600000000, true);
	struct snapshot_node *b = snapshot_tree_add(&t, "after ]  tricky", "d", 1600000100, true);
	struct snapshot_node *c = snapshot_tree_add(&t, "  <- you are here", NULL, 1600000200,
						    false);
	g_autofree char *a_id = g_strdup(a->id), *b_id = g_strdup(b->id), *c_id = g_strdup(c->id);
	/* memory files for a and b in a snapshots folder */
	g_autofree char *dir = g_dir_make_tmp("pcvm-gtk-space-XXXXXX", NULL);
	g_autofree char *ram = g_build_filename(dir, "1.ram", NULL);
	g_autofree char *blob = g_malloc0(3 << 20);
	g_assert_true(g_file_set_contents(ram, blob, 3 << 20, NULL));
	g_autoptr(GHashTable) disk = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	uint64_t a_disk = 36ull << 20, c_disk = 65536;
	g_hash_table_insert(disk, g_strdup(a_id), g_memdup2(&a_disk, sizeof(a_disk)));
	g_hash_table_insert(disk, g_strdup(c_id), g_memdup2(&c_disk, sizeof(c_disk)));
	g_autofree char *text = snapshot_tree_format(&t, dir, disk);
	g_autoptr(GHashTable) h = snapshot_space_parse(text);
	g_assert_cmpuint(g_hash_table_size(h), ==, 3);
	const struct snapshot_space *sa = g_hash_table_lookup(h, a_id);
	const struct snapshot_space *sb = g_hash_table_lookup(h, b_id);
	const struct snapshot_space *sc = g_hash_table_lookup(h, c_id);
	g_assert_nonnull(sa);
	g_assert_cmpstr(sa->memory, ==, "3.0\u00a0MiB");
	g_assert_cmpstr(sa->disk, ==, "36.0\u00a0MiB");
	g_assert_cmpstr(sb->memory, ==, "0 bytes"); /* has memory, but no files here */
	g_assert_null(sb->disk);
	g_assert_null(sc->memory); /* a disk-only snapshot: no memory column */
	g_assert_cmpstr(sc->disk, ==, "64.0\u00a0KiB");
	g_unlink(ram);
	g_rmdir(dir);
	/* no snapshots: the one line says where you are, and nothing is read from it */
	snapshot_tree_clear(&t);
	snapshot_tree_init(&t);
	g_autofree char *empty = snapshot_tree_format(&t, NULL, NULL);
	g_autoptr(GHashTable) none = snapshot_space_parse(empty);
	g_assert_cmpuint(g_hash_table_size(none), ==, 0);
	g_autoptr(GHashTable) junk = snapshot_space_parse("12\n7x  y\n  3  name\n\n");
	g_assert_cmpuint(g_hash_table_size(junk), ==, 0);
	g_autoptr(GHashTable) null = snapshot_space_parse(NULL);
	g_assert_cmpuint(g_hash_table_size(null), ==, 0);
	snapshot_tree_clear(&t);
}

static void test_disk_info(void)
{
	const char *out = "ide0:0: disk\n"
			  "  file       /vms/a.pcvm/disk0.qcow2\n"
			  "  format     qcow2\n"
			  "  size       8.0 GiB (8589934592 bytes)\n"
			  "  allocated  1.2 MiB (1245184 bytes)\n"
			  "ide0:1: disk\n"
			  "  file       /vms/a.pcvm/disk 1.raw\n" /* unreadable: nothing more */
			  "ide1:0: cdrom\n"
			  "  (no disc)\n";
	g_autoptr(GPtrArray) d = disk_info_parse(out);
	g_assert_cmpuint(d->len, ==, 3);
	const struct disk_entry *e0 = d->pdata[0], *e1 = d->pdata[1], *e2 = d->pdata[2];
	g_assert_cmpstr(e0->slot, ==, "ide0:0");
	g_assert_false(e0->cdrom);
	g_assert_cmpstr(e0->file, ==, "/vms/a.pcvm/disk0.qcow2");
	g_assert_cmpstr(e0->format, ==, "qcow2");
	g_assert_cmpuint(e0->size, ==, 8589934592ull);
	g_assert_cmpuint(e0->allocated, ==, 1245184);
	g_assert_cmpstr(e1->file, ==, "/vms/a.pcvm/disk 1.raw");
	g_assert_null(e1->format);
	g_assert_cmpuint(e1->size, ==, 0);
	g_assert_true(e2->cdrom);
	g_assert_null(e2->file);
	g_autoptr(GPtrArray) none = disk_info_parse("pcvm: x: no such VM bundle\n");
	g_assert_cmpuint(none->len, ==, 0);
}

static void test_progress(void)
{
	double f;
	g_autofree char *ram = NULL, *disks = NULL, *odd = NULL, *over = NULL;
	progress_describe("snapshot-take", "ram", 32 << 20, 128 << 20, &f, &ram);
	g_assert_cmpfloat_with_epsilon(f, 0.25, 1e-9);
	g_assert_cmpstr(ram, ==,
			"Taking the snapshot — saving memory: 32.0\u00a0MiB of 128.0\u00a0MiB");
	progress_describe("snapshot-revert", "disks", 1, 2, &f, &disks);
	g_assert_cmpfloat_with_epsilon(f, 0.5, 1e-9);
	g_assert_cmpstr(disks, ==, "Going to the snapshot — disks: 1 of 2");
	progress_describe("frobnicate", "sparkles", 3, 0, &f, &odd);
	g_assert_cmpfloat(f, ==, 0); /* a total of 0: no division */
	g_assert_cmpstr(odd, ==, "frobnicate — sparkles: 0 of 0");
	progress_describe("snapshot-delete", "files", 9, 4, &f, &over);
	g_assert_cmpfloat(f, ==, 1); /* never beyond the end */
}

static void test_settings_diff(void)
{
	struct vm_settings old = { 256, 1, g_strdup("nat"), NULL, NULL, NULL };
	struct vm_settings new = { 256, 1, g_strdup("nat"), NULL, NULL, g_strdup(BOOT_DEFAULT) };
	g_autoptr(GPtrArray) same = vm_settings_diff(&old, &new);
	g_assert_cmpuint(same->len, ==, 0); /* the default boot order written out is no change */
	new.memory_mib = 512;
	new.cpus = 2;
	g_free(new.net_mode);
	new.net_mode = g_strdup("bridged");
	new.bridge = g_strdup("br0");
	g_free(new.boot);
	new.boot = g_strdup("cdrom,disk");
	g_autoptr(GPtrArray) d = vm_settings_diff(&old, &new);
	const char *want[] = { "vm.memory-mib=512", "vm.cpus=2", "net0.mode=bridged",
			       "net0.bridge=br0", "vm.boot=cdrom,disk" };
	g_assert_cmpuint(d->len, ==, G_N_ELEMENTS(want));
	for (size_t i = 0; i < G_N_ELEMENTS(want); i++)
		g_assert_cmpstr(d->pdata[i], ==, want[i]);
	/* the same mode with another bridge: the mode goes with it; the old network is left */
	struct vm_settings br = { 512, 2, g_strdup("bridged"), g_strdup("br0"), g_strdup("n"),
				  g_strdup("cdrom,disk") };
	g_free(new.bridge);
	new.bridge = g_strdup("br1");
	g_autoptr(GPtrArray) b = vm_settings_diff(&br, &new);
	g_assert_cmpuint(b->len, ==, 2);
	g_assert_cmpstr(b->pdata[0], ==, "net0.mode=bridged");
	g_assert_cmpstr(b->pdata[1], ==, "net0.bridge=br1");
	/* no card, none chosen (NULL): nothing; host-only needs its network */
	struct vm_settings bare = { 512, 2, NULL, NULL, NULL, g_strdup("cdrom,disk") };
	struct vm_settings bare2 = { 512, 2, NULL, NULL, NULL, g_strdup("cdrom,disk") };
	g_autoptr(GPtrArray) n = vm_settings_diff(&bare, &bare2);
	g_assert_cmpuint(n->len, ==, 0);
	bare2.net_mode = g_strdup("hostonly");
	g_autoptr(GPtrArray) h = vm_settings_diff(&bare, &bare2);
	g_assert_cmpuint(h->len, ==, 2);
	g_assert_cmpstr(h->pdata[1], ==, "net0.network="); /* empty: pcvm config refuses it */
	vm_settings_clear(&old);
	vm_settings_clear(&new);
	vm_settings_clear(&br);
	vm_settings_clear(&bare);
	vm_settings_clear(&bare2);
}

static void test_boot_order(void)
{
	struct boot_entry e[BOOT_DEVICES];
	boot_order_parse("cdrom, disk", e);
	g_assert_cmpint(e[0].device, ==, BOOT_CDROM);
	g_assert_true(e[0].enabled);
	g_assert_cmpint(e[1].device, ==, BOOT_DISK);
	g_assert_true(e[1].enabled);
	g_assert_cmpint(e[2].device, ==, BOOT_NETWORK);
	g_assert_false(e[2].enabled);
	g_autofree char *s = boot_order_format(e);
	g_assert_cmpstr(s, ==, "cdrom,disk");
	boot_order_parse(NULL, e); /* the default */
	g_autofree char *d = boot_order_format(e);
	g_assert_cmpstr(d, ==, BOOT_DEFAULT);
	boot_order_parse("floppy,network,network", e); /* unknown and repeated names go */
	g_assert_cmpint(e[0].device, ==, BOOT_NETWORK);
	g_assert_false(e[1].enabled);
	for (int i = 0; i < BOOT_DEVICES; i++)
		e[i].enabled = false;
	g_assert_null(boot_order_format(e));
	g_assert_cmpstr(boot_device_label(BOOT_CDROM), ==, "CD/DVD drive");
	g_assert_null(boot_device_name(BOOT_DEVICES));
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/gtk-settings/snapshot-space", test_snapshot_space);
	g_test_add_func("/gtk-settings/disk-info", test_disk_info);
	g_test_add_func("/gtk-settings/progress", test_progress);
	g_test_add_func("/gtk-settings/settings-diff", test_settings_diff);
	g_test_add_func("/gtk-settings/boot-order", test_boot_order);
	return g_test_run();
}
