/* Guest presets (data/guest-presets.conf) and ISO 9660 installer recognition (guest.h). */
#include "guest.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

/* ---- ISO 9660 (ECMA-119) ---- */

/* Volume descriptor types, ECMA-119 §8.1.1 */
#define VD_BOOT_RECORD 0
#define VD_PRIMARY     1
#define VD_TERMINATOR  255
#define VD_MAX	       32 /* descriptors looked at before giving up on a terminator */

/* Directory record fields, ECMA-119 §9.1 */
#define DR_LEN		0
#define DR_EXTENT	2 /* both-endian 32-bit: the little-endian half first */
#define DR_SIZE		10
#define DR_NAME_LEN	32
#define DR_NAME		33
#define PVD_VOLUME_ID	40
#define PVD_ROOT_RECORD 156

static uint32_t le32(const uint8_t *p)
{
	return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24;
}

/* "WIN51IP.;1" -> "WIN51IP", "README.TXT;1" -> "README.TXT" */
static char *iso_name(const uint8_t *raw, size_t len)
{
	char *name = g_strndup((const char *)raw, len);
	char *semi = strchr(name, ';');
	if (semi)
		*semi = '\0';
	size_t n = strlen(name);
	if (n && name[n - 1] == '.')
		name[n - 1] = '\0';
	for (char *c = name; *c; c++)
		*c = g_ascii_toupper(*c);
	return name;
}

/* Walks the root directory's records; records never straddle a sector (ECMA-119 §6.8.1.1). */
static char **iso_root_names(const uint8_t *dir, size_t size)
{
	GPtrArray *names = g_ptr_array_new();
	size_t off = 0;
	while (off < size) {
		uint8_t len = dir[off + DR_LEN];
		if (len == 0) { /* the rest of this sector is padding */
			off = (off / ISO_SECTOR + 1) * ISO_SECTOR;
			continue;
		}
		uint8_t nlen = len > DR_NAME ? dir[off + DR_NAME_LEN] : 0;
		if (len < DR_NAME || off + len > size || DR_NAME + nlen > len)
			break; /* damaged: keep what was read */
		const uint8_t *name = dir + off + DR_NAME;
		bool dot = nlen == 1 && (name[0] == 0 || name[0] == 1); /* "." and ".." */
		if (!dot && nlen)
			g_ptr_array_add(names, iso_name(name, nlen));
		off += len;
	}
	g_ptr_array_add(names, NULL);
	return (char **)g_ptr_array_free(names, FALSE);
}

/* Reads LEN bytes at OFFSET through READ, the probe's one way to the image. */
typedef bool (*iso_reader)(void *src, uint64_t offset, uint8_t *buf, size_t len);

static int iso_probe_with(iso_reader rd, void *src, const char *name, struct iso_info *info,
			  char **error)
{
	memset(info, 0, sizeof(*info));
	uint8_t vd[ISO_SECTOR];
	bool have_pvd = false;
	uint32_t root_lba = 0, root_size = 0;
	for (unsigned i = 0; i < VD_MAX; i++) {
		if (!rd(src, (uint64_t)(ISO_PVD_SECTOR + i) * ISO_SECTOR, vd, sizeof(vd)) ||
		    memcmp(vd + 1, "CD001", 5))
			break;
		if (vd[0] == VD_TERMINATOR)
			break;
		if (vd[0] == VD_BOOT_RECORD && !memcmp(vd + 7, "EL TORITO SPECIFICATION", 23))
			info->bootable = true;
		if (vd[0] != VD_PRIMARY || have_pvd)
			continue;
		have_pvd = true;
		memcpy(info->volume_id, vd + PVD_VOLUME_ID, 32);
		g_strchomp(info->volume_id);
		root_lba = le32(vd + PVD_ROOT_RECORD + DR_EXTENT);
		root_size = le32(vd + PVD_ROOT_RECORD + DR_SIZE);
	}
	if (!have_pvd) {
		*error = g_strdup_printf("%s: not an ISO 9660 image (no primary volume descriptor "
					 "at sector %d)",
					 name, ISO_PVD_SECTOR);
		return -1;
	}
	size_t size = MIN(root_size, ISO_MAX_ROOT);
	g_autofree uint8_t *dir = g_malloc0(size ? size : 1);
	if (size && !rd(src, (uint64_t)root_lba * ISO_SECTOR, dir, size))
		size = 0; /* a root directory past the end: the volume id still counts */
	info->root_names = iso_root_names(dir, size);
	return 0;
}

static bool read_fd(void *src, uint64_t offset, uint8_t *buf, size_t len)
{
	int fd = *(int *)src;
	size_t done = 0;
	while (done < len) {
		ssize_t n = pread(fd, buf + done, len - done, offset + done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		done += n;
	}
	return true;
}

int iso_probe(const char *path, struct iso_info *info, char **error)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		memset(info, 0, sizeof(*info));
		*error = g_strdup_printf("%s: %s", path, g_strerror(errno));
		return -1;
	}
	int ret = iso_probe_with(read_fd, &fd, path, info, error);
	close(fd);
	return ret;
}

struct mem_image {
	const uint8_t *data;
	size_t len;
};

static bool read_mem(void *src, uint64_t offset, uint8_t *buf, size_t len)
{
	const struct mem_image *m = src;
	if (offset > m->len || len > m->len - offset)
		return false;
	memcpy(buf, m->data + offset, len);
	return true;
}

int iso_probe_data(const uint8_t *data, size_t len, struct iso_info *info, char **error)
{
	struct mem_image m = { data, len };
	return iso_probe_with(read_mem, &m, "image", info, error);
}

void iso_info_clear(struct iso_info *info)
{
	g_strfreev(info->root_names);
	memset(info, 0, sizeof(*info));
}

/* ---- presets ---- */

static void preset_free(gpointer data)
{
	struct guest_preset *g = data;
	g_free(g->id);
	g_free(g->label);
	g_free(g->icon);
	g_free(g->disk_controller);
	g_free(g->nic);
	g_free(g->display);
	if (g->volume_id)
		g_regex_unref(g->volume_id);
	g_strfreev(g->root_files);
	g_free(g);
}

/* The integer keys: name, where, default, range. */
static const struct {
	const char *key;
	size_t offset;
	unsigned def, min, max;
} preset_numbers[] = {
	{ "memory-mib", offsetof(struct guest_preset, memory_mib), 256, 16, VM_MAX_MEMORY_MIB },
	{ "cpus", offsetof(struct guest_preset, cpus), 1, 1, VM_MAX_CPUS },
	{ "disk-size-gib", offsetof(struct guest_preset, disk_gib), 8, 1, 64 * 1024 },
};

static const struct {
	const char *key;
	size_t offset;
	const char *def;
} preset_strings[] = {
	{ "icon", offsetof(struct guest_preset, icon), "generic" },
	{ "disk-controller", offsetof(struct guest_preset, disk_controller), "ide" },
	{ "nic", offsetof(struct guest_preset, nic), "e1000" },
	{ "display", offsetof(struct guest_preset, display), "stdvga" },
};

static int preset_numbers_load(GKeyFile *kf, struct guest_preset *g, const char *name, char **error)
{
	for (size_t i = 0; i < G_N_ELEMENTS(preset_numbers); i++) {
		unsigned *field = (unsigned *)((char *)g + preset_numbers[i].offset);
		*field = preset_numbers[i].def;
		if (!g_key_file_has_key(kf, g->id, preset_numbers[i].key, NULL))
			continue;
		g_autoptr(GError) err = NULL;
		gint64 v = g_key_file_get_int64(kf, g->id, preset_numbers[i].key, &err);
		if (err || v < preset_numbers[i].min || v > preset_numbers[i].max) {
			*error = g_strdup_printf("%s: [%s] %s: expected a number from %u to %u",
						 name, g->id, preset_numbers[i].key,
						 preset_numbers[i].min, preset_numbers[i].max);
			return -1;
		}
		*field = (unsigned)v;
	}
	return 0;
}

static struct guest_preset *preset_load(GKeyFile *kf, const char *id, const char *name,
					char **error)
{
	g_autofree char *re = NULL;
	g_autoptr(GError) err = NULL;
	struct guest_preset *g = g_new0(struct guest_preset, 1);
	g->id = g_strdup(id);
	g->label = g_key_file_get_locale_string(kf, id, "label", NULL, NULL);
	if (!g->label) {
		*error = g_strdup_printf("%s: [%s] needs label=", name, id);
		goto fail;
	}
	for (size_t i = 0; i < G_N_ELEMENTS(preset_strings); i++) {
		char *v = g_key_file_get_string(kf, id, preset_strings[i].key, NULL);
		*(char **)((char *)g + preset_strings[i].offset) =
		    v ? v : g_strdup(preset_strings[i].def);
	}
	if (preset_numbers_load(kf, g, name, error) < 0)
		goto fail;
	if (strcmp(g->disk_controller, "ide") && strcmp(g->disk_controller, "scsi")) {
		*error = g_strdup_printf("%s: [%s] disk-controller: expected ide or scsi, not '%s'",
					 name, id, g->disk_controller);
		goto fail;
	}
	re = g_key_file_get_string(kf, id, "volume-id", NULL);
	if (re && !(g->volume_id = g_regex_new(re, G_REGEX_CASELESS, 0, &err))) {
		*error = g_strdup_printf("%s: [%s] volume-id: %s", name, id, err->message);
		goto fail;
	}
	g->root_files = g_key_file_get_string_list(kf, id, "root-files", NULL, NULL);
	for (char **f = g->root_files; f && *f; f++)
		for (char *c = *f; *c; c++)
			*c = g_ascii_toupper(*c);
	return g;
fail:
	preset_free(g);
	return NULL;
}

int guest_presets_parse(struct guest_presets *p, const char *text, size_t len, const char *name,
			char **error)
{
	p->list = g_ptr_array_new_with_free_func(preset_free);
	g_autoptr(GKeyFile) kf = g_key_file_new();
	g_autoptr(GError) err = NULL;
	if (!g_key_file_load_from_data(kf, text, len, G_KEY_FILE_NONE, &err)) {
		*error = g_strdup_printf("%s: %s", name, err->message);
		return -1;
	}
	g_auto(GStrv) groups = g_key_file_get_groups(kf, NULL);
	for (char **id = groups; *id; id++) {
		struct guest_preset *g = preset_load(kf, *id, name, error);
		if (!g)
			return -1;
		g_ptr_array_add(p->list, g);
	}
	if (!guest_presets_find(p, GUEST_GENERIC)) {
		*error = g_strdup_printf("%s: no [%s] preset for unrecognised guests", name,
					 GUEST_GENERIC);
		return -1;
	}
	return 0;
}

void guest_presets_clear(struct guest_presets *p)
{
	if (p->list)
		g_ptr_array_unref(p->list);
	p->list = NULL;
}

const struct guest_preset *guest_presets_find(const struct guest_presets *p, const char *id)
{
	for (guint i = 0; id && p->list && i < p->list->len; i++) {
		const struct guest_preset *g = p->list->pdata[i];
		if (!strcmp(g->id, id))
			return g;
	}
	return NULL;
}

static bool names_intersect(char **wanted, char **present)
{
	for (char **w = wanted; w && *w; w++)
		if (present && g_strv_contains((const char *const *)present, *w))
			return true;
	return false;
}

const struct guest_preset *guest_presets_match(const struct guest_presets *p,
					       const struct iso_info *iso)
{
	for (guint i = 0; i < p->list->len; i++) {
		const struct guest_preset *g = p->list->pdata[i];
		if (names_intersect(g->root_files, iso->root_names))
			return g;
	}
	for (guint i = 0; i < p->list->len; i++) {
		const struct guest_preset *g = p->list->pdata[i];
		if (g->volume_id && iso->volume_id[0] &&
		    g_regex_match(g->volume_id, iso->volume_id, 0, NULL))
			return g;
	}
	return NULL;
}
