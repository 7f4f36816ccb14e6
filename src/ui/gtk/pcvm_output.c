/* Reading back what pcvm prints and sends (pcvm_output.h). */
#include "pcvm_output.h"

#include <stdlib.h>
#include <string.h>

#define HERE_MARK "  <- you are here"

static void set_str(char **field, const char *value)
{
	g_free(*field);
	*field = g_strdup(value);
}

static void snapshot_space_free(gpointer data)
{
	struct snapshot_space *s = data;
	g_free(s->memory);
	g_free(s->disk);
	g_free(s);
}

/* "memory 1.0 MiB, disk 64.0 KiB" into S. */
static void space_items(const char *text, struct snapshot_space *s)
{
	g_auto(GStrv) items = g_strsplit(text, ", ", -1);
	for (int i = 0; items[i]; i++) {
		if (g_str_has_prefix(items[i], "memory "))
			set_str(&s->memory, items[i] + strlen("memory "));
		else if (g_str_has_prefix(items[i], "disk "))
			set_str(&s->disk, items[i] + strlen("disk "));
	}
}

/*
 * One line: INDENT ID "  " NAME "  [" KIND "]  " DATE ["  " SPACE] [HERE_MARK]. The name may
 * hold "]  " too, but neither the date nor the space does: the last "]  " ends the kind.
 */
static void space_line(const char *line, GHashTable *out)
{
	const char *p = line + strspn(line, " ");
	size_t digits = strspn(p, "0123456789");
	if (!digits || strncmp(p + digits, "  ", 2))
		return;
	g_autofree char *id = g_strndup(p, digits);
	g_autofree char *rest = g_strdup(p + digits);
	if (g_str_has_suffix(rest, HERE_MARK))
		rest[strlen(rest) - strlen(HERE_MARK)] = '\0';
	const char *kind_end = g_strrstr(rest, "]  ");
	if (!kind_end)
		return;
	const char *date = kind_end + 3;
	const char *space = strstr(date, "  "); /* the date itself has single spaces */
	struct snapshot_space *s = g_new0(struct snapshot_space, 1);
	if (space)
		space_items(space + 2, s);
	g_hash_table_replace(out, g_steal_pointer(&id), s);
}

GHashTable *snapshot_space_parse(const char *out)
{
	GHashTable *h = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, snapshot_space_free);
	g_auto(GStrv) lines = g_strsplit(out ? out : "", "\n", -1);
	for (int i = 0; lines[i]; i++)
		space_line(lines[i], h);
	return h;
}

/* ---- pcvm disk info ---- */

static void disk_entry_free(gpointer data)
{
	struct disk_entry *d = data;
	g_free(d->slot);
	g_free(d->file);
	g_free(d->format);
	g_free(d);
}

/* "64.0 MiB (67108864 bytes)": the number in parentheses. */
static uint64_t bytes_of(const char *value)
{
	const char *open = strrchr(value, '(');
	return open ? g_ascii_strtoull(open + 1, NULL, 10) : 0;
}

/* An indented "key  value" line of drive D. */
static void disk_field(struct disk_entry *d, const char *line)
{
	g_autofree char *l = g_strstrip(g_strdup(line));
	size_t klen = strcspn(l, " ");
	const char *value = l + klen + strspn(l + klen, " ");
	if (!strncmp(l, "file", klen) && klen == 4)
		set_str(&d->file, value);
	else if (!strncmp(l, "format", klen) && klen == 6)
		set_str(&d->format, value);
	else if (!strncmp(l, "size", klen) && klen == 4)
		d->size = bytes_of(value);
	else if (!strncmp(l, "allocated", klen) && klen == 9)
		d->allocated = bytes_of(value);
}

GPtrArray *disk_info_parse(const char *out)
{
	GPtrArray *drives = g_ptr_array_new_with_free_func(disk_entry_free);
	g_auto(GStrv) lines = g_strsplit(out ? out : "", "\n", -1);
	struct disk_entry *d = NULL;
	for (int i = 0; lines[i]; i++) {
		const char *l = lines[i];
		const char *colon = strstr(l, ": ");
		const char *kind = colon ? colon + 2 : "";
		bool header = (g_str_has_prefix(l, "ide") || g_str_has_prefix(l, "scsi")) &&
			      (!strcmp(kind, "disk") || !strcmp(kind, "cdrom"));
		if (header) { /* "ide1:0: cdrom", "scsi0:2: disk" */
			d = g_new0(struct disk_entry, 1);
			d->slot = g_strndup(l, colon - l);
			d->cdrom = !strcmp(kind, "cdrom");
			g_ptr_array_add(drives, d);
		} else if (d && l[0] == ' ') {
			disk_field(d, l);
		}
	}
	return drives;
}

/* ---- progress ---- */

static const struct {
	const char *op, *label;
} progress_ops[] = {
	{ "snapshot-take", "Taking the snapshot" },
	{ "snapshot-revert", "Going to the snapshot" },
	{ "snapshot-delete", "Deleting the snapshot" },
	{ "suspend", "Suspending" },
};

static const struct {
	const char *phase, *label;
	bool bytes; /* done and total are bytes, else a count */
} progress_phases[] = {
	{ "ram", "saving memory", true },
	{ "disks", "disks", false },
	{ "files", "removing files", false },
};

void progress_describe(const char *op, const char *phase, uint64_t done, uint64_t total,
		       double *fraction, char **text)
{
	const char *op_label = op, *phase_label = phase;
	bool bytes = false;
	for (size_t i = 0; i < G_N_ELEMENTS(progress_ops); i++)
		if (!g_strcmp0(op, progress_ops[i].op))
			op_label = progress_ops[i].label;
	for (size_t i = 0; i < G_N_ELEMENTS(progress_phases); i++)
		if (!g_strcmp0(phase, progress_phases[i].phase)) {
			phase_label = progress_phases[i].label;
			bytes = progress_phases[i].bytes;
		}
	done = MIN(done, total);
	*fraction = total ? (double)done / (double)total : 0;
	g_autofree char *d = bytes ? g_format_size_full(done, G_FORMAT_SIZE_IEC_UNITS)
				   : g_strdup_printf("%" G_GUINT64_FORMAT, done);
	g_autofree char *t = bytes ? g_format_size_full(total, G_FORMAT_SIZE_IEC_UNITS)
				   : g_strdup_printf("%" G_GUINT64_FORMAT, total);
	*text = g_strdup_printf("%s — %s: %s of %s", op_label ? op_label : "Working",
				phase_label ? phase_label : "", d, t);
}
