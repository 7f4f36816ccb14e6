/*
 * libFuzzer target for vm.conf, the file a VM bundle keeps its settings in (src/config.c), and
 * for what a user hands `pcvm config` and `pcvm create` (src/bundle.c). The input is the file's
 * text, optionally followed by a NUL byte and edit lines:
 *   GROUP.KEY=VALUE     pcvm config set
 *   -GROUP.KEY, -GROUP  pcvm config unset
 *   net=SPEC            pcvm create --net SPEC (bundle_nic_from_spec)
 *   slot=NAME           a drive as `pcvm media` names it (vm_ide_slot_find)
 *   mac=TEXT            a MAC address (vm_mac_parse)
 * The text is loaded as a file (vm_config_load). A configuration it accepts must come back
 * unchanged when saved and loaded again (vm_config_save), and when edited with nothing to
 * change (vm_config_edit_text): neither may lose a setting. The edit lines are then applied
 * with vm_config_edit_text, and each value that is set must read back as it was given.
 *
 * Any crash, sanitizer report, leak or abort is a bug: a bad vm.conf or setting gets a message
 * that names it, never a crash or a silently different machine.
 * Seeds: tests/fuzz/config-seeds/ (files as `pcvm create` and `pcvm config` write them).
 */
#include <glib.h>
#include <glib/gstdio.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bundle.h"
#include "config.h"
#include "fuzz_glib.h"
#include "log.h"

#define MAX_EDITS 32

static char *tmp_dir, *tmp_conf; /* where a configuration is saved to be loaded back */

/* ---- comparing two configurations ---- */

static bool same(const char *a, const char *b)
{
	return !g_strcmp0(a, b);
}

static bool strv_same(char **a, char **b)
{
	guint na = a ? g_strv_length(a) : 0, nb = b ? g_strv_length(b) : 0;
	if (na != nb)
		return false;
	for (guint i = 0; i < na; i++)
		if (!same(a[i], b[i]))
			return false;
	return true;
}

static const char *nic_model(const struct vm_nic *n)
{
	return n->model ? n->model : "e1000"; /* the default, which vm_config_save writes */
}

/* The first setting in which A and B differ, or NULL. */
static const char *config_diff(const struct vm_config *a, const struct vm_config *b)
{
	static const struct {
		const char *what;
		size_t offset;
	} strings[] = {
		{ "name", offsetof(struct vm_config, name) },
		{ "uuid", offsetof(struct vm_config, uuid) },
		{ "guest", offsetof(struct vm_config, guest) },
		{ "bios", offsetof(struct vm_config, bios) },
		{ "boot", offsetof(struct vm_config, boot) },
		{ "adapter", offsetof(struct vm_config, adapter) },
		{ "vnc-password", offsetof(struct vm_config, vnc_password) },
		{ "keyboard", offsetof(struct vm_config, keyboard) },
	};
	for (size_t i = 0; i < G_N_ELEMENTS(strings); i++)
		if (!same(*(char **)((char *)a + strings[i].offset),
			  *(char **)((char *)b + strings[i].offset)))
			return strings[i].what;
	if (a->memory_mib != b->memory_mib || a->cpus != b->cpus || a->test_exit != b->test_exit)
		return "memory-mib, cpus or test-exit";
	for (int i = 0; i < VM_IDE_SLOTS; i++) {
		const struct vm_drive *x = &a->ide[i], *y = &b->ide[i];
		if (vm_drive_present(x) != vm_drive_present(y))
			return vm_ide_slot_name(i);
		if (vm_drive_present(x) && (!same(x->type, y->type) || !same(x->file, y->file) ||
					    x->read_only != y->read_only))
			return vm_ide_slot_name(i);
	}
	for (int i = 0; i < VM_MAX_NICS; i++) {
		const struct vm_nic *x = &a->net[i], *y = &b->net[i];
		if (x->present != y->present)
			return vm_nic_group(i);
		if (x->present &&
		    (!same(nic_model(x), nic_model(y)) || !same(x->mode, y->mode) ||
		     !same(x->mac, y->mac) || !strv_same(x->forward, y->forward) ||
		     !same(x->bridge, y->bridge) || !same(x->tap, y->tap) ||
		     !same(x->network, y->network) || !same(x->rom, y->rom) ||
		     !same(x->tftp, y->tftp) || !same(x->bootfile, y->bootfile)))
			return vm_nic_group(i);
	}
	return NULL;
}

static void fail(const char *what, const char *text, const char *detail)
{
	fprintf(stderr, "fuzz_config: %s (%s)\n--- vm.conf:\n%s\n---\n", what, detail, text);
	abort();
}

/* ---- what a loaded configuration must survive ---- */

/* Saved by vm_config_save and loaded again: the same machine. */
static void check_save_load(const struct vm_config *cfg, const char *text)
{
	char *error = NULL;
	if (vm_config_save(cfg, tmp_conf, &error) < 0)
		fail("a loaded configuration cannot be saved", text, error);
	struct vm_config again;
	vm_config_init(&again);
	if (vm_config_load(&again, tmp_conf, &error) < 0)
		fail("a saved configuration does not load", text, error);
	const char *diff = config_diff(cfg, &again);
	if (diff)
		fail("save and load changed a setting", text, diff);
	vm_config_clear(&again);
	g_unlink(tmp_conf);
}

/* `pcvm config set` with nothing to set: every setting stays. */
static void check_edit_nothing(const struct vm_config *cfg, const char *text)
{
	char *error = NULL;
	g_autofree char *out = vm_config_edit_text(text, "vm.conf", NULL, NULL, &error);
	if (!out)
		fail("a valid vm.conf cannot be edited", text, error);
	struct vm_config again;
	vm_config_init(&again);
	if (vm_config_parse(&again, out, "vm.conf", &error) < 0)
		fail("an edited vm.conf does not parse", text, error);
	const char *diff = config_diff(cfg, &again);
	if (diff)
		fail("an edit that sets nothing changed a setting", text, diff);
	vm_config_clear(&again);
}

static void check_lookups(const struct vm_config *cfg)
{
	static const char *const names[] = { "cdrom", "disk", "ide0:0", "ide1:1", "floppy" };
	for (size_t i = 0; i < G_N_ELEMENTS(names); i++) {
		int slot = vm_ide_slot_find(cfg, names[i]);
		if (slot >= VM_IDE_SLOTS)
			abort();
	}
	for (unsigned i = 0; i < VM_MAX_NICS; i++) {
		uint8_t mac[6];
		vm_nic_mac(cfg, i, mac);
		if (mac[0] & 1)
			abort(); /* a NIC's own address is never multicast */
	}
}

/* ---- edit lines ---- */

struct edits {
	const char *sets[MAX_EDITS + 1];
	const char *unsets[MAX_EDITS + 1];
	unsigned nsets, nunsets;
};

/* Keys whose value vm_config_edit_text writes as given rather than as an escaped string. */
static bool key_is_raw(const char *key)
{
	static const char *const raw[] = { "memory-mib", "cpus", "test-exit", "readonly", "forward" };
	for (size_t i = 0; i < G_N_ELEMENTS(raw); i++)
		if (!strcmp(key, raw[i]))
			return true;
	return false;
}

/* Whether a later set, or any unset, touches GROUP.KEY of SETS[I]. */
static bool overridden(const struct edits *e, unsigned i, const char *spec, size_t speclen,
		       size_t grouplen)
{
	for (unsigned j = i + 1; j < e->nsets; j++)
		if (!strncmp(e->sets[j], spec, speclen) && e->sets[j][speclen] == '=')
			return true;
	for (unsigned j = 0; j < e->nunsets; j++)
		if (!strncmp(e->unsets[j], spec, speclen) ||
		    (strlen(e->unsets[j]) == grouplen && !strncmp(e->unsets[j], spec, grouplen)))
			return true;
	return false;
}

/* Each value set reads back from the edited text as it was given. */
static void check_sets_read_back(const struct edits *e, const char *out)
{
	g_autoptr(GKeyFile) kf = g_key_file_new();
	if (!g_key_file_load_from_data(kf, out, -1, G_KEY_FILE_NONE, NULL))
		fail("an edited vm.conf is not a key file", out, "");
	for (unsigned i = 0; i < e->nsets; i++) {
		const char *eq = strchr(e->sets[i], '='), *dot = strchr(e->sets[i], '.');
		if (!eq || !dot || dot > eq)
			continue;
		g_autofree char *group = g_strndup(e->sets[i], dot - e->sets[i]);
		g_autofree char *key = g_strndup(dot + 1, eq - dot - 1);
		if (overridden(e, i, e->sets[i], eq - e->sets[i], dot - e->sets[i]))
			continue;
		g_autofree char *got = key_is_raw(key) ? g_key_file_get_value(kf, group, key, NULL)
						       : g_key_file_get_string(kf, group, key, NULL);
		const char *want = eq + 1;
		if (key_is_raw(key)) /* written as given: GKeyFile drops the spaces before a value */
			want += strspn(want, " ");
		if (g_strcmp0(got, want))
			fail("a value set does not read back", out, e->sets[i]);
	}
}

static void run_edit_line(const char *line, struct edits *e)
{
	char *error = NULL;
	if (g_str_has_prefix(line, "net=")) {
		struct vm_config cfg;
		vm_config_init(&cfg);
		if (bundle_nic_from_spec(&cfg.net[0], line + 4, &error) < 0)
			g_clear_pointer(&error, g_free);
		else if (cfg.net[0].present && (!cfg.net[0].mode || !cfg.net[0].model))
			abort();
		vm_config_clear(&cfg);
	} else if (g_str_has_prefix(line, "mac=")) {
		uint8_t mac[6];
		if (vm_mac_parse(line + 4, mac) == 0 && (mac[0] & 1))
			abort(); /* a multicast address is never a NIC's */
	} else if (line[0] == '-') {
		if (e->nunsets < MAX_EDITS)
			e->unsets[e->nunsets++] = line + 1;
	} else if (!g_str_has_prefix(line, "slot=") && *line) {
		if (e->nsets < MAX_EDITS)
			e->sets[e->nsets++] = line;
	}
}

static void run_edits(const char *text, char **lines, const struct vm_config *cfg)
{
	struct edits e = { 0 };
	for (int i = 0; lines[i]; i++) {
		run_edit_line(lines[i], &e);
		if (cfg && g_str_has_prefix(lines[i], "slot="))
			vm_ide_slot_find(cfg, lines[i] + 5);
	}
	if (!e.nsets && !e.nunsets)
		return;
	char *error = NULL;
	char *out = vm_config_edit_text(text, "vm.conf", e.nsets ? e.sets : NULL,
					e.nunsets ? e.unsets : NULL, &error);
	if (out)
		check_sets_read_back(&e, out);
	g_free(out);
	g_free(error);
}

/* ---- the target ---- */

static void cleanup(void)
{
	g_unlink(tmp_conf);
	g_rmdir(tmp_dir);
	g_free(tmp_conf);
	g_free(tmp_dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_glib_fatal_criticals();
	log_set_level(LOG_ERROR + 1); /* quiet: unknown keys are warned about by design */
	tmp_dir = g_dir_make_tmp("pcvm-fuzz-config-XXXXXX", NULL);
	if (!tmp_dir)
		abort();
	tmp_conf = g_build_filename(tmp_dir, "vm.conf", NULL);
	atexit(cleanup);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nul = memchr(data, 0, size);
	size_t text_len = nul ? (size_t)(nul - data) : size;
	g_autofree char *text = g_strndup((const char *)data, text_len);
	g_autofree char *tail = nul ? g_strndup((const char *)nul + 1, size - text_len - 1) : NULL;
	g_auto(GStrv) lines = g_strsplit(tail ? tail : "", "\n", MAX_EDITS * 2);

	/* the file as pcvm reads it */
	int fd = memfd_create("vm.conf", MFD_CLOEXEC);
	if (fd < 0 || write(fd, data, text_len) != (ssize_t)text_len)
		abort();
	char path[64], *error = NULL;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	struct vm_config cfg;
	vm_config_init(&cfg);
	int ret = vm_config_load(&cfg, path, &error);
	close(fd);
	if (ret == 0) {
		check_lookups(&cfg);
		check_save_load(&cfg, text);
		/* GKeyFile keeps a CR in a value where the line does not end in CRLF (the file's
		 * last line, CR CR LF), and an edit writes it back as part of a CRLF: such stray
		 * CRs may change, which is no setting anyone wrote */
		if (!strchr(text, '\r'))
			check_edit_nothing(&cfg, text);
	} else if (!error) {
		abort(); /* a refusal says why */
	}
	g_free(error);
	run_edits(text, lines, ret == 0 ? &cfg : NULL); /* pcvm config reads the file as it is */
	vm_config_clear(&cfg);
	return 0;
}
