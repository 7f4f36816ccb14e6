#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <glib.h>
#include <stddef.h>
#include <string.h>

#include "log.h"

const struct vm_drive_slot vm_drive_slots[VM_DRIVE_SLOTS] = {
	{ "ide0:0", VM_BUS_IDE, 0 },   { "ide0:1", VM_BUS_IDE, 1 },   { "ide1:0", VM_BUS_IDE, 2 },
	{ "ide1:1", VM_BUS_IDE, 3 },   { "scsi0:0", VM_BUS_SCSI, 0 }, { "scsi0:1", VM_BUS_SCSI, 1 },
	{ "scsi0:2", VM_BUS_SCSI, 2 }, { "scsi0:3", VM_BUS_SCSI, 3 }, { "scsi0:4", VM_BUS_SCSI, 4 },
	{ "scsi0:5", VM_BUS_SCSI, 5 }, { "scsi0:6", VM_BUS_SCSI, 6 },
};

/* cfg->ide[] and cfg->scsi[] are the two ends of cfg->drives[] */
_Static_assert(offsetof(struct vm_config, scsi) ==
		       offsetof(struct vm_config, drives) + VM_IDE_SLOTS * sizeof(struct vm_drive),
	       "vm_config.drives[] is ide[] then scsi[]");

bool vm_drive_present(const struct vm_drive *d)
{
	return d->type || d->file;
}

bool vm_drive_is_cdrom(const struct vm_drive *d)
{
	return d->type && !strcmp(d->type, "cdrom");
}

/* NAME among the first NSLOTS slots */
static int slot_find(const struct vm_config *cfg, const char *name, int nslots)
{
	for (int i = 0; i < nslots; i++)
		if (!strcmp(name, vm_drive_slots[i].name))
			return i;
	if (!strcmp(name, "cdrom"))
		for (int i = 0; i < nslots; i++)
			if (vm_drive_is_cdrom(&cfg->drives[i]))
				return i;
	if (!strcmp(name, "disk"))
		for (int i = 0; i < nslots; i++)
			if (vm_drive_present(&cfg->drives[i]) && !vm_drive_is_cdrom(&cfg->drives[i]))
				return i;
	return -1;
}

int vm_drive_slot_find(const struct vm_config *cfg, const char *name)
{
	return slot_find(cfg, name, VM_DRIVE_SLOTS);
}

int vm_ide_slot_find(const struct vm_config *cfg, const char *name)
{
	return slot_find(cfg, name, VM_IDE_SLOTS);
}

const char *vm_ide_slot_name(unsigned slot)
{
	return slot < VM_IDE_SLOTS ? vm_drive_slots[slot].name : NULL;
}

const char *vm_drive_slot_name(unsigned slot)
{
	return slot < VM_DRIVE_SLOTS ? vm_drive_slots[slot].name : NULL;
}

enum conf_type { CONF_STRING, CONF_UINT, CONF_BOOL, CONF_STRLIST };

struct conf_key {
	const char *key;
	enum conf_type type;
	size_t offset; /* into struct vm_config, or struct vm_drive for drive groups */
	unsigned min, max;
};

static const struct conf_key vm_keys[] = {
	{ "name", CONF_STRING, offsetof(struct vm_config, name) },
	{ "uuid", CONF_STRING, offsetof(struct vm_config, uuid) },
	{ "guest", CONF_STRING, offsetof(struct vm_config, guest) },
	{ "memory-mib", CONF_UINT, offsetof(struct vm_config, memory_mib), 16, VM_MAX_MEMORY_MIB },
	{ "cpus", CONF_UINT, offsetof(struct vm_config, cpus), 1, VM_MAX_CPUS },
	{ "test-exit", CONF_BOOL, offsetof(struct vm_config, test_exit) },
	{ "bios", CONF_STRING, offsetof(struct vm_config, bios) },
	{ "boot", CONF_STRING, offsetof(struct vm_config, boot) },
};

static const struct conf_key display_keys[] = {
	{ "adapter", CONF_STRING, offsetof(struct vm_config, adapter) },
	{ "vnc-password", CONF_STRING, offsetof(struct vm_config, vnc_password) },
	{ "keyboard", CONF_STRING, offsetof(struct vm_config, keyboard) },
};

static const struct conf_key drive_keys[] = {
	{ "type", CONF_STRING, offsetof(struct vm_drive, type) },
	{ "file", CONF_STRING, offsetof(struct vm_drive, file) },
	{ "readonly", CONF_BOOL, offsetof(struct vm_drive, read_only) },
};

static const char *const nic_groups[VM_MAX_NICS] = { "net0", "net1", "net2", "net3" };

static const struct conf_key nic_keys[] = {
	{ "model", CONF_STRING, offsetof(struct vm_nic, model) },
	{ "mode", CONF_STRING, offsetof(struct vm_nic, mode) },
	{ "mac", CONF_STRING, offsetof(struct vm_nic, mac) },
	{ "forward", CONF_STRLIST, offsetof(struct vm_nic, forward) },
	{ "bridge", CONF_STRING, offsetof(struct vm_nic, bridge) },
	{ "tap", CONF_STRING, offsetof(struct vm_nic, tap) },
	{ "network", CONF_STRING, offsetof(struct vm_nic, network) },
	{ "rom", CONF_STRING, offsetof(struct vm_nic, rom) },
	{ "tftp", CONF_STRING, offsetof(struct vm_nic, tftp) },
	{ "bootfile", CONF_STRING, offsetof(struct vm_nic, bootfile) },
};

static const char *const nic_modes[] = { "nat", "bridged", "hostonly", "none" };

const char *vm_nic_group(unsigned index)
{
	return index < VM_MAX_NICS ? nic_groups[index] : NULL;
}

int vm_mac_parse(const char *text, uint8_t mac[6])
{
	unsigned b[6];
	char end;
	if (!text || strlen(text) != 17 ||
	    sscanf(text, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5],
		   &end) != 6)
		return -1;
	for (int i = 0; i < 6; i++) {
		if (!g_ascii_isxdigit(text[3 * i]) || !g_ascii_isxdigit(text[3 * i + 1]))
			return -1;
		mac[i] = b[i];
	}
	return mac[0] & 1 ? -1 : 0; /* a multicast address cannot be a NIC's own */
}

void vm_nic_mac(const struct vm_config *cfg, unsigned index, uint8_t mac[6])
{
	if (index < VM_MAX_NICS && vm_mac_parse(cfg->net[index].mac, mac) == 0)
		return;
	g_autofree char *seed = g_strdup_printf("%s/%u", cfg->uuid ? cfg->uuid : "", index);
	guint h = g_str_hash(seed);
	const uint8_t oui[3] = { 0x52, 0x54, 0x00 };
	memcpy(mac, oui, 3);
	mac[3] = h >> 16;
	mac[4] = h >> 8;
	mac[5] = h;
}

void vm_config_init(struct vm_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->memory_mib = 256;
	cfg->cpus = 1;
}

void vm_config_clear(struct vm_config *cfg)
{
	g_free(cfg->name);
	g_free(cfg->uuid);
	g_free(cfg->guest);
	g_free(cfg->bios);
	g_free(cfg->boot);
	g_free(cfg->adapter);
	g_free(cfg->vnc_password);
	g_free(cfg->keyboard);
	for (int i = 0; i < VM_DRIVE_SLOTS; i++) {
		g_free(cfg->drives[i].type);
		g_free(cfg->drives[i].file);
	}
	for (int i = 0; i < VM_MAX_NICS; i++) {
		struct vm_nic *n = &cfg->net[i];
		g_free(n->model);
		g_free(n->mode);
		g_free(n->mac);
		g_strfreev(n->forward);
		g_free(n->bridge);
		g_free(n->tap);
		g_free(n->network);
		g_free(n->rom);
		g_free(n->tftp);
		g_free(n->bootfile);
	}
	vm_config_init(cfg);
}

/* GKeyFile's parse errors carry no line number; find the first line it would reject. */
static int config_syntax_check(const char *text, const char *name, char **error)
{
	g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
	for (int i = 0; lines[i]; i++) {
		const char *l = lines[i];
		while (*l == ' ' || *l == '\t')
			l++;
		size_t n = strlen(l);
		while (n && (l[n - 1] == '\r' || l[n - 1] == ' ' || l[n - 1] == '\t'))
			n--;
		if (n == 0 || l[0] == '#')
			continue;
		if (l[0] == '[' && l[n - 1] == ']' && n > 2 && !memchr(l + 1, '[', n - 2) &&
		    !memchr(l + 1, ']', n - 2))
			continue;
		const char *eq = memchr(l, '=', n);
		if (eq && eq > l && l[0] != '[')
			continue;
		*error = g_strdup_printf("%s:%d: expected '[group]', 'key=value' or a '#' comment, "
					 "found '%.*s'",
					 name, i + 1, (int)MIN(n, 40), l);
		return -1;
	}
	return 0;
}

/* Line number of KEY in GROUP, for messages about its value. */
static int config_key_line(const char *text, const char *group, const char *key)
{
	g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
	g_autofree char *header = g_strdup_printf("[%s]", group);
	bool in_group = false;
	for (int i = 0; lines[i]; i++) {
		g_autofree char *l = g_strstrip(g_strdup(lines[i]));
		if (l[0] == '[') {
			in_group = !strcmp(l, header);
			continue;
		}
		size_t klen = strlen(key);
		if (in_group && !strncmp(l, key, klen) && (l[klen] == '=' || l[klen] == ' '))
			return i + 1;
	}
	return 0;
}

static int config_read_value(GKeyFile *kf, const char *text, const char *name, const char *group,
			     const struct conf_key *k, void *base, char **error)
{
	g_autofree char *raw = g_key_file_get_value(kf, group, k->key, NULL);
	if (!raw)
		return 0;
	void *field = (char *)base + k->offset;
	const char *problem = NULL;
	if (k->type == CONF_STRING) {
		g_free(*(char **)field);
		*(char **)field = g_key_file_get_string(kf, group, k->key, NULL);
	} else if (k->type == CONF_STRLIST) {
		g_strfreev(*(char ***)field);
		*(char ***)field = g_key_file_get_string_list(kf, group, k->key, NULL, NULL);
	} else if (k->type == CONF_BOOL) {
		g_autoptr(GError) err = NULL;
		gboolean b = g_key_file_get_boolean(kf, group, k->key, &err);
		if (err)
			problem = "expected true or false";
		else
			*(bool *)field = b;
	} else {
		char *end;
		errno = 0;
		unsigned long long v = strtoull(raw, &end, 10);
		if (errno || end == raw || *end || raw[0] == '-')
			problem = "not a whole number";
		else if (v < k->min || v > k->max)
			problem = "out of range";
		else
			*(unsigned *)field = v;
	}
	if (!problem)
		return 0;
	int line = config_key_line(text, group, k->key);
	g_autofree char *range = k->type == CONF_UINT && k->max
					 ? g_strdup_printf(" (allowed: %u to %u)", k->min, k->max)
					 : g_strdup("");
	*error = g_strdup_printf("%s:%d: [%s] %s=%s: %s%s", name, line, group, k->key, raw, problem,
				 range);
	return -1;
}

static const struct conf_key *conf_find(const struct conf_key *keys, size_t n, const char *key)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(keys[i].key, key))
			return &keys[i];
	return NULL;
}

/* Reads every key of GROUP through TABLE into BASE, warning about keys it does not know. */
static int config_read_group(GKeyFile *kf, const char *text, const char *name, const char *group,
			     const struct conf_key *table, size_t n, void *base, char **error)
{
	g_auto(GStrv) keys = g_key_file_get_keys(kf, group, NULL, NULL);
	for (int i = 0; keys && keys[i]; i++) {
		const struct conf_key *k = conf_find(table, n, keys[i]);
		if (!k) {
			log_warn("%s:%d: unknown key '%s' in [%s] (ignored)", name,
				 config_key_line(text, group, keys[i]), keys[i], group);
			continue;
		}
		if (config_read_value(kf, text, name, group, k, base, error) < 0)
			return -1;
	}
	return 0;
}

static int config_nic_index(const char *group)
{
	for (int i = 0; i < VM_MAX_NICS; i++)
		if (!strcmp(group, nic_groups[i]))
			return i;
	return -1;
}

static bool str_in(const char *s, const char *const *set, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(s, set[i]))
			return true;
	return false;
}

/* What a [netN] group must say, beyond each key's own syntax. */
static int config_check_nic(const struct vm_nic *n, const char *text, const char *name,
			    const char *group, char **error)
{
	const char *key = NULL, *problem = NULL;
	uint8_t mac[6];
	if (n->model && strcmp(n->model, "e1000"))
		key = "model", problem = "expected e1000";
	else if (n->mode && !str_in(n->mode, nic_modes, G_N_ELEMENTS(nic_modes)))
		key = "mode", problem = "expected nat, bridged, hostonly or none";
	else if (n->mac && vm_mac_parse(n->mac, mac) < 0)
		key = "mac", problem = "expected a unicast address such as 52:54:00:12:34:56";
	else if (n->mode && !strcmp(n->mode, "bridged") && !n->bridge && !n->tap)
		key = "mode", problem = "bridged needs bridge=NAME (or tap=NAME)";
	else if (n->mode && !strcmp(n->mode, "hostonly") && !n->network)
		key = "mode", problem = "hostonly needs network=NAME (see pcvm net list)";
	if (!problem)
		return 0;
	*error = g_strdup_printf("%s:%d: [%s] %s: %s", name, config_key_line(text, group, key),
				 group, key, problem);
	return -1;
}

/* [vm] boot=: the kinds of device SeaBIOS tries, in order (pc_firmware.c), each once. */
static const char *const boot_devices[] = { "disk", "cdrom", "network" };

static int config_check_boot(const char *boot, const char *text, const char *name, char **error)
{
	g_auto(GStrv) items = g_strsplit(boot, ",", -1);
	const char *problem = items[0] ? NULL : "empty";
	for (int i = 0; !problem && items[i]; i++) {
		const char *item = g_strstrip(items[i]);
		if (!str_in(item, boot_devices, G_N_ELEMENTS(boot_devices)))
			problem = "expected a list of disk, cdrom and network, e.g. disk,cdrom,network";
		for (int k = 0; !problem && k < i; k++)
			if (!strcmp(items[k], item))
				problem = "a device appears twice";
	}
	if (!problem)
		return 0;
	*error = g_strdup_printf("%s:%d: [vm] boot=%s: %s", name,
				 config_key_line(text, "vm", "boot"), boot, problem);
	return -1;
}

/* [display] adapter=: the adapters pcvm emulates (pc_display.c); the GUI's wizard writes one of
 * these (data/guest-presets.conf display=). */
static const char *const display_adapters[] = { "stdvga" };

static int config_check_display(const struct vm_config *cfg, const char *text, const char *name,
				char **error)
{
	if (!cfg->adapter ||
	    str_in(cfg->adapter, display_adapters, G_N_ELEMENTS(display_adapters)))
		return 0;
	*error = g_strdup_printf("%s:%d: [display] adapter=%s: expected stdvga (the Bochs/QEMU "
				 "standard VGA, the only display adapter pcvm has)",
				 name, config_key_line(text, "display", "adapter"), cfg->adapter);
	return -1;
}

static int config_drive_slot(const char *group)
{
	for (int i = 0; i < VM_DRIVE_SLOTS; i++)
		if (!strcmp(group, vm_drive_slots[i].name))
			return i;
	return -1;
}

/* A [scsi0:N] past the target IDs: refused rather than ignored, or the VM would start without
 * the disk its owner meant it to have. */
static int config_check_scsi_group(const char *group, const char *name, char **error)
{
	unsigned id;
	char end;
	if (sscanf(group, "scsi0:%u%c", &id, &end) != 1 || id < VM_SCSI_SLOTS)
		return 0;
	*error = g_strdup_printf("%s: [%s]: SCSI ID %u %s; disks go in [scsi0:0] to [scsi0:%u]",
				 name, group, id,
				 id == VM_SCSI_SLOTS ? "is the controller's own" : "does not exist",
				 VM_SCSI_SLOTS - 1);
	return -1;
}

/* What a drive group must say beyond each key's syntax: a known type (a CD drive only on
 * IDE), and a file for a disk. */
static int config_check_drive(struct vm_drive *d, unsigned slot, const char *text,
			      const char *name, char **error)
{
	const char *group = vm_drive_slots[slot].name;
	bool scsi = vm_drive_slots[slot].bus == VM_BUS_SCSI;
	if (d->type && strcmp(d->type, "disk") && (scsi || strcmp(d->type, "cdrom"))) {
		*error = g_strdup_printf("%s:%d: [%s] type=%s: %s", name,
					 config_key_line(text, group, "type"), group, d->type,
					 scsi ? "expected disk (SCSI slots hold hard disks; a CD "
						"drive goes on IDE, e.g. [ide1:0])"
					      : "expected disk or cdrom");
		return -1;
	}
	if (vm_drive_is_cdrom(d)) {
		if (d->file && !*d->file) /* file= empty: the drive has no disc */
			g_clear_pointer(&d->file, g_free);
		return 0;
	}
	if (!d->file || !*d->file) {
		*error = g_strdup_printf("%s: [%s] has no file=", name, group);
		return -1;
	}
	return 0;
}

int vm_config_parse(struct vm_config *cfg, const char *text, const char *name, char **error)
{
	if (config_syntax_check(text, name, error) < 0)
		return -1;
	g_autoptr(GKeyFile) kf = g_key_file_new();
	g_autoptr(GError) err = NULL;
	if (!g_key_file_load_from_data(kf, text, -1, G_KEY_FILE_NONE, &err)) {
		*error = g_strdup_printf("%s: %s", name, err->message);
		return -1;
	}
	g_auto(GStrv) groups = g_key_file_get_groups(kf, NULL);
	for (int i = 0; groups[i]; i++) {
		const char *g = groups[i];
		int slot = config_drive_slot(g), nic = config_nic_index(g);
		int ret = config_check_scsi_group(g, name, error);
		if (ret < 0)
			return -1;
		if (!strcmp(g, "vm"))
			ret = config_read_group(kf, text, name, g, vm_keys, G_N_ELEMENTS(vm_keys), cfg,
						error);
		else if (!strcmp(g, "display")) {
			ret = config_read_group(kf, text, name, g, display_keys,
						G_N_ELEMENTS(display_keys), cfg, error);
			if (ret == 0)
				ret = config_check_display(cfg, text, name, error);
		} else if (slot >= 0)
			ret = config_read_group(kf, text, name, g, drive_keys,
						G_N_ELEMENTS(drive_keys), &cfg->drives[slot], error);
		else if (nic >= 0) {
			cfg->net[nic].present = true;
			ret = config_read_group(kf, text, name, g, nic_keys, G_N_ELEMENTS(nic_keys),
						&cfg->net[nic], error);
			if (ret == 0)
				ret = config_check_nic(&cfg->net[nic], text, name, g, error);
		} else
			log_warn("%s: unknown group [%s] (ignored)", name, g);
		if (ret < 0)
			return -1;
	}
	if (cfg->boot && config_check_boot(cfg->boot, text, name, error) < 0)
		return -1;
	for (unsigned i = 0; i < VM_DRIVE_SLOTS; i++)
		if (vm_drive_present(&cfg->drives[i]) &&
		    config_check_drive(&cfg->drives[i], i, text, name, error) < 0)
			return -1;
	return 0;
}

int vm_config_load(struct vm_config *cfg, const char *path, char **error)
{
	g_autofree char *text = NULL;
	gsize len;
	g_autoptr(GError) err = NULL;
	if (!g_file_get_contents(path, &text, &len, &err)) {
		*error = g_strdup(err->message);
		return -1;
	}
	/* with a length, validation also refuses NUL bytes, which would end the text early */
	if (!g_utf8_validate(text, len, NULL)) {
		*error = g_strdup_printf("%s: not a text file (invalid UTF-8)", path);
		return -1;
	}
	return vm_config_parse(cfg, text, path, error);
}

/* ---- editing (pcvm config) ---- */

/* The key table of GROUP; NULL for a group vm.conf does not know. */
static const struct conf_key *config_group_keys(const char *group, size_t *n)
{
	if (!strcmp(group, "vm"))
		return *n = G_N_ELEMENTS(vm_keys), vm_keys;
	if (!strcmp(group, "display"))
		return *n = G_N_ELEMENTS(display_keys), display_keys;
	if (config_drive_slot(group) >= 0)
		return *n = G_N_ELEMENTS(drive_keys), drive_keys;
	if (config_nic_index(group) >= 0)
		return *n = G_N_ELEMENTS(nic_keys), nic_keys;
	return *n = 0, NULL;
}

bool vm_config_key_known(const char *group, const char *key)
{
	size_t n;
	const struct conf_key *keys = config_group_keys(group, &n);
	return keys && conf_find(keys, n, key);
}

/* "GROUP.KEY" split; the key's table entry, or NULL with *error saying what is known. */
static const struct conf_key *config_edit_key(const char *spec, char **group, char **key,
					      char **error)
{
	const char *dot = strchr(spec, '.');
	*group = dot ? g_strndup(spec, dot - spec) : g_strdup(spec);
	*key = dot ? g_strdup(dot + 1) : NULL;
	size_t n;
	const struct conf_key *keys = config_group_keys(*group, &n);
	const struct conf_key *k = keys && *key ? conf_find(keys, n, *key) : NULL;
	if (k)
		return k;
	if (!keys) {
		*error = g_strdup_printf("'%s': no group [%s] in vm.conf (groups: vm, display, "
					 "ide0:0 to ide1:1, scsi0:0 to scsi0:6, net0 to net3)",
					 spec, *group);
		return NULL;
	}
	GString *known = g_string_new(NULL);
	for (size_t i = 0; i < n; i++)
		g_string_append_printf(known, "%s%s", i ? ", " : "", keys[i].key);
	*error = g_strdup_printf("'%s': expected GROUP.KEY, with a KEY of [%s]: %s", spec, *group,
				 known->str);
	g_string_free(known, TRUE);
	return NULL;
}

static int config_edit_set(GKeyFile *kf, const char *assignment, char **error)
{
	const char *eq = strchr(assignment, '=');
	g_autofree char *spec = eq ? g_strndup(assignment, eq - assignment) : NULL;
	g_autofree char *group = NULL, *key = NULL;
	if (!eq) {
		*error = g_strdup_printf("'%s': expected GROUP.KEY=VALUE", assignment);
		return -1;
	}
	const struct conf_key *k = config_edit_key(spec, &group, &key, error);
	if (!k)
		return -1;
	/* vm_config_load refuses a file that is not UTF-8: such a value would make the VM
	 * unusable (a terminal in another encoding can pass one) */
	if (!g_utf8_validate(eq + 1, -1, NULL)) {
		*error = g_strdup_printf("'%s': the value is not UTF-8 text", spec);
		return -1;
	}
	for (const char *p = eq + 1; *p; p++)
		if ((unsigned char)*p < 0x20) {
			*error = g_strdup_printf("'%s': a value is one line, without control "
						 "characters",
						 spec);
			return -1;
		}
	if (k->type == CONF_STRING) /* escaped as GKeyFile reads it back */
		g_key_file_set_string(kf, group, key, eq + 1);
	else /* numbers, booleans and ';'-separated lists as written */
		g_key_file_set_value(kf, group, key, eq + 1);
	return 0;
}

static int config_edit_unset(GKeyFile *kf, const char *spec, char **error)
{
	g_autofree char *group = NULL, *key = NULL;
	size_t n;
	if (!strchr(spec, '.') && config_group_keys(spec, &n)) {
		if (!strcmp(spec, "vm")) { /* name, uuid, ...: the VM itself */
			*error = g_strdup("[vm] cannot go as a whole: unset its keys one by one");
			return -1;
		}
		g_key_file_remove_group(kf, spec, NULL);
		return 0;
	}
	if (!config_edit_key(spec, &group, &key, error))
		return -1;
	g_key_file_remove_key(kf, group, key, NULL);
	return 0;
}

/* GKeyFile keeps a blank line that ended a group as the group's last line and appends new
 * keys after it: such a blank line before a key goes, and the text ends with a newline. */
static bool config_blank(const char *line)
{
	return line[strspn(line, " \t\r")] == '\0';
}

static char *config_tidy(const char *text)
{
	g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
	GString *out = g_string_new(NULL);
	for (int i = 0; lines[i]; i++) {
		int next = i + 1;
		while (lines[next] && config_blank(lines[next]))
			next++;
		bool key_follows = lines[next] && lines[next][0] != '[' && lines[next][0] != '#';
		if (config_blank(lines[i]) && (key_follows || !lines[next]))
			continue;
		g_string_append_printf(out, "%s\n", lines[i]);
	}
	return g_string_free(out, FALSE);
}

char *vm_config_edit_text(const char *text, const char *name, const char *const *sets,
			  const char *const *unsets, char **error)
{
	g_autoptr(GKeyFile) kf = g_key_file_new();
	g_autoptr(GError) err = NULL;
	if (!g_utf8_validate(text, -1, NULL)) { /* as vm_config_load */
		*error = g_strdup_printf("%s: not a text file (invalid UTF-8)", name);
		return NULL;
	}
	if (config_syntax_check(text, name, error) < 0)
		return NULL;
	if (!g_key_file_load_from_data(kf, text, -1, G_KEY_FILE_KEEP_COMMENTS, &err)) {
		*error = g_strdup_printf("%s: %s", name, err->message);
		return NULL;
	}
	for (const char *const *s = sets; s && *s; s++)
		if (config_edit_set(kf, *s, error) < 0)
			return NULL;
	for (const char *const *u = unsets; u && *u; u++)
		if (config_edit_unset(kf, *u, error) < 0)
			return NULL;
	g_autofree char *data = g_key_file_to_data(kf, NULL, NULL);
	char *out = config_tidy(data);
	struct vm_config check;
	vm_config_init(&check);
	int ret = vm_config_parse(&check, out, name, error);
	vm_config_clear(&check);
	if (ret < 0)
		g_clear_pointer(&out, g_free);
	return out;
}

int vm_config_edit(const char *path, const char *const *sets, const char *const *unsets,
		   char **error)
{
	g_autofree char *text = NULL;
	gsize len;
	g_autoptr(GError) err = NULL;
	if (!g_file_get_contents(path, &text, &len, &err)) {
		*error = g_strdup(err->message);
		return -1;
	}
	/* as vm_config_load: a NUL byte would end the text early, and the rest be lost */
	if (!g_utf8_validate(text, len, NULL)) {
		*error = g_strdup_printf("%s: not a text file (invalid UTF-8)", path);
		return -1;
	}
	g_autofree char *out = vm_config_edit_text(text, path, sets, unsets, error);
	if (!out)
		return -1;
	/* g_file_set_contents writes a temporary file, fsyncs it and renames it into place */
	if (!g_file_set_contents(path, out, -1, &err)) {
		*error = g_strdup(err->message);
		return -1;
	}
	return 0;
}

static void config_write_group(GKeyFile *kf, const char *group, const struct conf_key *table,
			       size_t n, const void *base)
{
	for (size_t i = 0; i < n; i++) {
		const void *field = (const char *)base + table[i].offset;
		switch (table[i].type) {
		case CONF_STRING:
			if (*(char *const *)field)
				g_key_file_set_string(kf, group, table[i].key, *(char *const *)field);
			break;
		case CONF_UINT:
			g_key_file_set_uint64(kf, group, table[i].key, *(const unsigned *)field);
			break;
		case CONF_BOOL:
			if (*(const bool *)field)
				g_key_file_set_boolean(kf, group, table[i].key, true);
			break;
		case CONF_STRLIST:
			if (*(char **const *)field)
				g_key_file_set_string_list(
					kf, group, table[i].key, (const char *const *)*(char **const *)field,
					g_strv_length(*(char **const *)field));
			break;
		}
	}
}

int vm_config_save(const struct vm_config *cfg, const char *path, char **error)
{
	g_autoptr(GKeyFile) kf = g_key_file_new();
	config_write_group(kf, "vm", vm_keys, G_N_ELEMENTS(vm_keys), cfg);
	if (cfg->adapter || cfg->vnc_password || cfg->keyboard)
		config_write_group(kf, "display", display_keys, G_N_ELEMENTS(display_keys), cfg);
	for (int i = 0; i < VM_DRIVE_SLOTS; i++)
		if (vm_drive_present(&cfg->drives[i]))
			config_write_group(kf, vm_drive_slots[i].name, drive_keys,
					   G_N_ELEMENTS(drive_keys), &cfg->drives[i]);
	for (int i = 0; i < VM_MAX_NICS; i++)
		if (cfg->net[i].present) {
			/* the group must exist even when every key has its default */
			g_key_file_set_string(kf, nic_groups[i], "model",
					      cfg->net[i].model ? cfg->net[i].model : "e1000");
			config_write_group(kf, nic_groups[i], nic_keys, G_N_ELEMENTS(nic_keys),
					   &cfg->net[i]);
		}
	g_autoptr(GError) err = NULL;
	if (!g_key_file_save_to_file(kf, path, &err)) {
		*error = g_strdup(err->message);
		return -1;
	}
	return 0;
}
