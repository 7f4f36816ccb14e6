/* Settings as data (settings_model.h). */
#include "settings_model.h"

#include <string.h>

void vm_settings_clear(struct vm_settings *s)
{
	g_free(s->net_mode);
	g_free(s->bridge);
	g_free(s->network);
	g_free(s->boot);
	memset(s, 0, sizeof(*s));
}

/* The key a network mode needs beside it, and its value in S. */
static const char *mode_key(const struct vm_settings *s, const char **value)
{
	*value = NULL;
	if (!g_strcmp0(s->net_mode, "bridged"))
		return *value = s->bridge, "net0.bridge";
	if (!g_strcmp0(s->net_mode, "hostonly"))
		return *value = s->network, "net0.network";
	return NULL;
}

GPtrArray *vm_settings_diff(const struct vm_settings *old, const struct vm_settings *new)
{
	GPtrArray *sets = g_ptr_array_new_with_free_func(g_free);
	if (old->memory_mib != new->memory_mib)
		g_ptr_array_add(sets, g_strdup_printf("vm.memory-mib=%u", new->memory_mib));
	if (old->cpus != new->cpus)
		g_ptr_array_add(sets, g_strdup_printf("vm.cpus=%u", new->cpus));
	const char *old_value, *new_value;
	const char *old_key = mode_key(old, &old_value), *new_key = mode_key(new, &new_value);
	bool mode = new->net_mode && g_strcmp0(old->net_mode, new->net_mode);
	bool with = new_key && (g_strcmp0(old_key, new_key) || g_strcmp0(old_value, new_value));
	if (mode || with)
		g_ptr_array_add(sets, g_strdup_printf("net0.mode=%s", new->net_mode));
	if ((mode || with) && new_key)
		g_ptr_array_add(sets, g_strdup_printf("%s=%s", new_key, new_value ? new_value : ""));
	const char *old_boot = old->boot ? old->boot : BOOT_DEFAULT;
	const char *new_boot = new->boot ? new->boot : BOOT_DEFAULT;
	if (strcmp(old_boot, new_boot))
		g_ptr_array_add(sets, g_strdup_printf("vm.boot=%s", new_boot));
	return sets;
}

static const struct {
	const char *name, *label;
} boot_devices[BOOT_DEVICES] = {
	[BOOT_DISK] = { "disk", "Hard disk" },
	[BOOT_CDROM] = { "cdrom", "CD/DVD drive" },
	[BOOT_NETWORK] = { "network", "Network (PXE)" },
};

const char *boot_device_name(enum boot_device d)
{
	return d < BOOT_DEVICES ? boot_devices[d].name : NULL;
}

const char *boot_device_label(enum boot_device d)
{
	return d < BOOT_DEVICES ? boot_devices[d].label : NULL;
}

void boot_order_parse(const char *boot, struct boot_entry out[BOOT_DEVICES])
{
	bool seen[BOOT_DEVICES] = { false };
	int n = 0;
	g_auto(GStrv) items = g_strsplit(boot ? boot : BOOT_DEFAULT, ",", -1);
	for (int i = 0; items[i]; i++) {
		const char *item = g_strstrip(items[i]);
		for (int d = 0; d < BOOT_DEVICES; d++)
			if (!seen[d] && !strcmp(item, boot_devices[d].name)) {
				seen[d] = true;
				out[n++] = (struct boot_entry){ d, true };
			}
	}
	for (int d = 0; d < BOOT_DEVICES; d++)
		if (!seen[d])
			out[n++] = (struct boot_entry){ d, false };
}

char *boot_order_format(const struct boot_entry e[BOOT_DEVICES])
{
	GString *s = g_string_new(NULL);
	for (int i = 0; i < BOOT_DEVICES; i++)
		if (e[i].enabled)
			g_string_append_printf(s, "%s%s", s->len ? "," : "",
					       boot_device_name(e[i].device));
	return g_string_free(s, s->len == 0);
}
