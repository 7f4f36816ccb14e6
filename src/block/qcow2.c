/*
 * qcow2 images (QEMU's docs/interop/qcow2.txt): header parsing and validation, open, close,
 * create and information. Mapping and I/O are in qcow2_cluster.c, refcounts and allocation
 * (and the crash-safety argument) in qcow2_refcount.c.
 *
 * Every offset and size read from the image is checked against the file's size and the
 * format's limits before it is used, so a damaged or hostile image is refused at open with
 * a message, or answers a request touching a bad table with -EIO — never a read or write
 * outside the file or a buffer.
 */
#include "block/qcow2.h"

#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <stddef.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

/* ---- file access ---- */

/* Reads LEN bytes at OFF; what lies past the end of the file reads as zeros. */
int qcow2_file_read(struct qcow2 *s, void *buf, size_t len, uint64_t off)
{
	return block_fd_read(s->fd, buf, len, off);
}

int qcow2_file_write(struct qcow2 *s, const void *buf, size_t len, uint64_t off)
{
	int ret = block_fd_write(s->fd, buf, len, off);
	if (ret == 0 && off + len > s->file_end)
		s->file_end = off + len;
	return ret;
}

int qcow2_sync(struct qcow2 *s)
{
	return fdatasync(s->fd) < 0 ? -errno : 0;
}

/* ---- the header ("Header") ---- */

/* Where each field lives; fields at or past header_length (v2: 72) are absent. */
static const struct {
	uint8_t offset, width;
	uint8_t member; /* offsetof(struct qcow2_header, ...) */
} qcow2_header_fields[] = {
#define F(off, width, name) { off, width, offsetof(struct qcow2_header, name) }
	F(0, 4, magic),
	F(4, 4, version),
	F(8, 8, backing_file_offset),
	F(16, 4, backing_file_size),
	F(20, 4, cluster_bits),
	F(24, 8, size),
	F(32, 4, crypt_method),
	F(36, 4, l1_size),
	F(40, 8, l1_table_offset),
	F(48, 8, refcount_table_offset),
	F(56, 4, refcount_table_clusters),
	F(60, 4, nb_snapshots),
	F(64, 8, snapshots_offset),
	F(72, 8, incompatible),
	F(80, 8, compatible),
	F(88, 8, autoclear),
	F(96, 4, refcount_order),
	F(100, 4, header_length),
#undef F
};

static uint64_t be_get(const uint8_t *p, unsigned width)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < width; i++)
		v = v << 8 | p[i];
	return v;
}

static void be_put(uint8_t *p, unsigned width, uint64_t v)
{
	for (unsigned i = width; i-- > 0; v >>= 8)
		p[i] = v;
}

/* Parses the fields that lie below LEN bytes; the rest take their v2 defaults. */
static void qcow2_header_parse(struct qcow2_header *h, const uint8_t *buf, size_t len)
{
	*h = (struct qcow2_header){ .refcount_order = 4, .header_length = QCOW2_V2_HEADER_LEN };
	for (size_t i = 0; i < G_N_ELEMENTS(qcow2_header_fields); i++) {
		unsigned off = qcow2_header_fields[i].offset, w = qcow2_header_fields[i].width;
		if (off + w <= len)
			*(uint64_t *)((uint8_t *)h + qcow2_header_fields[i].member) =
				be_get(buf + off, w);
	}
}

static void qcow2_header_build(const struct qcow2_header *h, uint8_t *buf)
{
	for (size_t i = 0; i < G_N_ELEMENTS(qcow2_header_fields); i++) {
		unsigned off = qcow2_header_fields[i].offset, w = qcow2_header_fields[i].width;
		if (off + w <= h->header_length)
			be_put(buf + off, w,
			       *(const uint64_t *)((const uint8_t *)h +
						   qcow2_header_fields[i].member));
	}
}

/*
 * Points the header at new tables: bytes 24..71 (size, L1 table, refcount table, snapshot
 * table) from H in one write. They lie in the first sector, which a disk writes whole, and
 * one small pwrite is never half done by a kill: the switch is atomic. Synced.
 */
int qcow2_write_header_tables(struct qcow2 *s, const struct qcow2_header *h)
{
	enum { FIRST = 24, END = QCOW2_V2_HEADER_LEN };
	uint8_t buf[END] = { 0 };
	for (size_t i = 0; i < G_N_ELEMENTS(qcow2_header_fields); i++) {
		unsigned off = qcow2_header_fields[i].offset, w = qcow2_header_fields[i].width;
		if (off >= FIRST && off + w <= END)
			be_put(buf + off, w,
			       *(const uint64_t *)((const uint8_t *)h +
						   qcow2_header_fields[i].member));
	}
	int ret = qcow2_file_write(s, buf + FIRST, END - FIRST, FIRST);
	return ret < 0 ? ret : qcow2_sync(s);
}

/* Feature names for messages ("Feature name table"), for the bits pcvm knows. */
struct qcow2_feature {
	uint8_t type, bit; /* type: 0 incompatible, 1 compatible, 2 autoclear */
	char name[47]; /* 46 bytes in the table, not always NUL-terminated */
};

static const struct qcow2_feature qcow2_known_features[] = {
	{ 0, 0, "dirty bit" },
	{ 0, 1, "corrupt bit" },
	{ 0, 2, "external data file" },
	{ 0, 3, "compression type" },
	{ 0, 4, "extended L2 entries" },
	{ 1, 0, "lazy refcounts" },
	{ 2, 0, "bitmaps" },
	{ 2, 1, "raw external data" },
};

/* What open learns from the header extensions ("Header extensions"). */
struct qcow2_exts {
	char *backing_format;
	struct qcow2_feature *names; /* from the image's feature name table */
	size_t n_names;
};

static void qcow2_exts_clear(struct qcow2_exts *x)
{
	g_free(x->backing_format);
	g_free(x->names);
}

static const char *qcow2_feature_name(const struct qcow2_exts *x, unsigned type, unsigned bit)
{
	for (size_t i = 0; i < x->n_names; i++)
		if (x->names[i].type == type && x->names[i].bit == bit)
			return x->names[i].name;
	for (size_t i = 0; i < G_N_ELEMENTS(qcow2_known_features); i++)
		if (qcow2_known_features[i].type == type && qcow2_known_features[i].bit == bit)
			return qcow2_known_features[i].name;
	return NULL;
}

/* "bit 5 (foo), bit 9" for the incompatible bits in MASK. */
static char *qcow2_describe_bits(const struct qcow2_exts *x, uint64_t mask)
{
	GString *s = g_string_new(NULL);
	for (unsigned bit = 0; bit < 64; bit++) {
		if (!(mask & (1ull << bit)))
			continue;
		const char *name = qcow2_feature_name(x, 0, bit);
		g_string_append_printf(s, "%sbit %u", s->len ? ", " : "", bit);
		if (name)
			g_string_append_printf(s, " (%s)", name);
	}
	return g_string_free(s, FALSE);
}

/* ---- header extensions ---- */

#define QCOW2_EXT_END	      0x00000000u
#define QCOW2_EXT_BACKING_FMT 0xe2792acau
#define QCOW2_EXT_FEATURES    0x6803f857u
#define QCOW2_FEATURE_ENTRY   48

static void qcow2_ext_features(struct qcow2_exts *x, const uint8_t *p, uint32_t len)
{
	x->n_names = len / QCOW2_FEATURE_ENTRY;
	x->names = g_new0(struct qcow2_feature, x->n_names);
	for (size_t i = 0; i < x->n_names; i++, p += QCOW2_FEATURE_ENTRY) {
		x->names[i].type = p[0];
		x->names[i].bit = p[1];
		memcpy(x->names[i].name, p + 2, sizeof(x->names[i].name) - 1);
	}
}

/* Walks the extensions in BUF[START, END): each one must lie wholly inside. */
static int qcow2_parse_exts(struct qcow2_exts *x, const uint8_t *buf, size_t start, size_t end,
			    const char *path, char **error)
{
	size_t pos = start;
	while (pos + 8 <= end) {
		uint32_t type = be_get(buf + pos, 4), len = be_get(buf + pos + 4, 4);
		if (type == QCOW2_EXT_END)
			return 0;
		if (len > end - pos - 8) {
			*error = g_strdup_printf("%s: header extension %#x extends past the header "
						 "cluster",
						 path, type);
			return -1;
		}
		const uint8_t *data = buf + pos + 8;
		if (type == QCOW2_EXT_BACKING_FMT && !x->backing_format)
			x->backing_format = g_strndup((const char *)data, len);
		else if (type == QCOW2_EXT_FEATURES && !x->names)
			qcow2_ext_features(x, data, len);
		pos += 8 + (((uint64_t)len + 7) & ~7ull);
	}
	return 0;
}

/* ---- validation ---- */

/* Does [off, off + len) lie inside a file of FILE_SIZE bytes (overflow-safe)? */
static bool qcow2_in_file(uint64_t off, uint64_t len, uint64_t file_size)
{
	return off <= file_size && len <= file_size - off;
}

/* Header checks in order; each returns a message (without the path) or NULL. */
static char *qcow2_check_version(const struct qcow2_header *h, uint64_t file_size)
{
	(void)file_size;
	if (h->magic != QCOW2_MAGIC)
		return g_strdup("not a qcow2 image (bad magic)");
	if (h->version != 2 && h->version != 3)
		return g_strdup_printf("unsupported qcow2 version %" PRIu64 " (2 and 3 are)",
				       h->version);
	if (h->cluster_bits < QCOW2_MIN_CLUSTER_BITS || h->cluster_bits > QCOW2_MAX_CLUSTER_BITS)
		return g_strdup_printf("invalid cluster size (cluster_bits %" PRIu64
				       "; 9 to 21 are supported)",
				       h->cluster_bits);
	if (h->version == 3 &&
	    (h->header_length < QCOW2_V3_HEADER_LEN || h->header_length % 8 ||
	     h->header_length > (1ull << h->cluster_bits)))
		return g_strdup_printf("invalid header length %" PRIu64, h->header_length);
	if (h->header_length > file_size)
		return g_strdup("truncated qcow2 header");
	return NULL;
}

static char *qcow2_check_features(const struct qcow2_header *h, uint64_t file_size)
{
	(void)file_size;
	if (h->crypt_method == 1 || h->crypt_method == 2)
		return g_strdup_printf("encrypted images (%s) are not supported",
				       h->crypt_method == 1 ? "AES" : "LUKS");
	if (h->crypt_method)
		return g_strdup_printf("unknown encryption method %" PRIu64, h->crypt_method);
	if (h->refcount_order > 6)
		return g_strdup_printf("invalid refcount order %" PRIu64, h->refcount_order);
	return NULL;
}

static char *qcow2_check_l1(const struct qcow2_header *h, uint64_t file_size)
{
	uint64_t cs = 1ull << h->cluster_bits, per_l2 = cs / 8;
	if (h->l1_size > QCOW2_MAX_L1_BYTES / 8)
		return g_strdup_printf("L1 table too large (%" PRIu64 " entries)", h->l1_size);
	if (h->size > QCOW2_MAX_HOST_OFFSET)
		return g_strdup_printf("virtual size too large (%" PRIu64 " bytes)", h->size);
	uint64_t clusters = (h->size + cs - 1) >> h->cluster_bits;
	if ((clusters + per_l2 - 1) / per_l2 > h->l1_size)
		return g_strdup("L1 table too small for the virtual size");
	if (h->l1_size && (h->l1_table_offset & (cs - 1)))
		return g_strdup("L1 table offset not cluster aligned");
	if (h->l1_size && h->l1_table_offset < cs)
		return g_strdup("L1 table overlaps the header");
	if (!qcow2_in_file(h->l1_table_offset, h->l1_size * 8, file_size))
		return g_strdup("L1 table extends past the end of the file");
	return NULL;
}

static char *qcow2_check_reftable(const struct qcow2_header *h, uint64_t file_size)
{
	uint64_t cs = 1ull << h->cluster_bits;
	if (!h->refcount_table_clusters)
		return g_strdup("empty refcount table");
	if (h->refcount_table_clusters > QCOW2_MAX_REFTABLE_BYTES / cs)
		return g_strdup("refcount table too large");
	if (h->refcount_table_offset & (cs - 1))
		return g_strdup("refcount table offset not cluster aligned");
	if (h->refcount_table_offset < cs)
		return g_strdup("refcount table overlaps the header");
	if (!qcow2_in_file(h->refcount_table_offset, h->refcount_table_clusters * cs, file_size))
		return g_strdup("refcount table extends past the end of the file");
	return NULL;
}

static char *qcow2_check_backing(const struct qcow2_header *h, uint64_t file_size)
{
	uint64_t cs = 1ull << h->cluster_bits;
	if (!h->backing_file_offset)
		return NULL;
	if (h->backing_file_size > QCOW2_MAX_BACKING_NAME)
		return g_strdup("backing file name too long");
	if (h->backing_file_offset < h->header_length ||
	    !qcow2_in_file(h->backing_file_offset, h->backing_file_size, MIN(cs, file_size)))
		return g_strdup("backing file name outside the header cluster");
	return NULL;
}

static char *qcow2_check_snapshots_header(const struct qcow2_header *h, uint64_t file_size)
{
	uint64_t cs = 1ull << h->cluster_bits;
	if (!h->nb_snapshots)
		return NULL;
	if (h->nb_snapshots > QCOW2_MAX_SNAPSHOTS)
		return g_strdup("too many snapshots");
	if ((h->snapshots_offset & (cs - 1)) || h->snapshots_offset < cs)
		return g_strdup("snapshot table offset invalid");
	if (h->snapshots_offset >= file_size)
		return g_strdup("snapshot table extends past the end of the file");
	return NULL;
}

static char *(*const qcow2_header_checks[])(const struct qcow2_header *, uint64_t) = {
	qcow2_check_version, qcow2_check_features,	   qcow2_check_l1,
	qcow2_check_reftable, qcow2_check_backing, qcow2_check_snapshots_header,
};

/* The incompatible features: unknown ones refuse the image, naming them. */
static char *qcow2_check_incompatible(struct qcow2 *s, const struct qcow2_exts *x,
				      const uint8_t *hdr)
{
	uint64_t bad = s->h.incompatible & ~QCOW2_INCOMPAT_SUPPORTED;
	uint8_t ctype = s->h.header_length > 104 ? hdr[104] : 0; /* "compression_type" */
	if (bad == QCOW2_INCOMPAT_COMPRESSION)
		return g_strdup_printf("compressed with %s, which is not supported (zlib is)",
				       ctype == 1 ? "zstd" : "an unknown method");
	if (bad) {
		g_autofree char *bits = qcow2_describe_bits(x, bad);
		return g_strdup_printf("unsupported qcow2 feature%s: %s",
				       (bad & (bad - 1)) ? "s" : "", bits);
	}
	if (ctype)
		return g_strdup("invalid compression type");
	bool rw = !s->bd->read_only;
	if (rw && (s->h.incompatible & QCOW2_INCOMPAT_CORRUPT))
		return g_strdup("image is marked corrupt; it can only be opened read-only "
				"(repair: qemu-img check -r all)");
	if (rw && (s->h.incompatible & QCOW2_INCOMPAT_DIRTY) &&
	    (s->h.compatible & QCOW2_COMPAT_LAZY_REFCOUNTS))
		return g_strdup("image was not closed cleanly and uses lazy refcounts; repair it "
				"first: qemu-img check -r all");
	return NULL;
}

/* ---- open ---- */

static bool qcow2_probe(const uint8_t *header, size_t len)
{
	return len >= 4 && be_get(header, 4) == QCOW2_MAGIC;
}

static uint64_t qcow2_file_size(int fd)
{
	off_t end = lseek(fd, 0, SEEK_END);
	return end < 0 ? 0 : (uint64_t)end;
}

/* Reads and checks the header cluster into BUF (cluster-sized, zero-padded). */
static int qcow2_read_header(struct qcow2 *s, uint8_t **buf, char **error)
{
	uint8_t fixed[QCOW2_V3_HEADER_LEN] = { 0 };
	size_t n = MIN(sizeof(fixed), s->file_end);
	if (qcow2_file_read(s, fixed, n, 0) == 0 && be_get(fixed, 4) != QCOW2_MAGIC) {
		*error = g_strdup_printf("%s: not a qcow2 image (bad magic)", s->bd->path);
		return -1;
	}
	if (n < QCOW2_V2_HEADER_LEN) {
		*error = g_strdup_printf("%s: truncated qcow2 header", s->bd->path);
		return -1;
	}
	qcow2_header_parse(&s->h, fixed, be_get(fixed + 4, 4) >= 3 ? n : QCOW2_V2_HEADER_LEN);
	if (s->h.version >= 3 && n < QCOW2_V3_HEADER_LEN) {
		*error = g_strdup_printf("%s: truncated qcow2 header", s->bd->path);
		return -1;
	}
	for (size_t i = 0; i < G_N_ELEMENTS(qcow2_header_checks); i++) {
		char *msg = qcow2_header_checks[i](&s->h, s->file_end);
		if (msg) {
			*error = g_strdup_printf("%s: %s", s->bd->path, msg);
			g_free(msg);
			return -1;
		}
	}
	s->cluster_bits = s->h.cluster_bits;
	s->cluster_size = 1ull << s->cluster_bits;
	*buf = g_malloc0(s->cluster_size);
	return qcow2_file_read(s, *buf, MIN(s->cluster_size, s->file_end), 0);
}

/* Loads LEN entries of big-endian 64-bit values at OFF into a host-endian array. */
static uint64_t *qcow2_load_table(struct qcow2 *s, uint64_t off, uint64_t len)
{
	uint64_t *t = g_new0(uint64_t, len ? len : 1);
	if (len && qcow2_file_read(s, t, len * 8, off) < 0) {
		g_free(t);
		return NULL;
	}
	for (uint64_t i = 0; i < len; i++)
		t[i] = GUINT64_FROM_BE(t[i]);
	return t;
}

/* Opens the backing file: relative names are relative to the image's directory. */
static int qcow2_open_backing(struct qcow2 *s, const char *name, char **error)
{
	if (s->bd->depth + 1 > BLOCK_MAX_BACKING_DEPTH) {
		*error = g_strdup_printf("%s: backing chain longer than %d files", s->bd->path,
					 BLOCK_MAX_BACKING_DEPTH);
		return -1;
	}
	g_autofree char *dir = g_path_get_dirname(s->bd->path);
	g_autofree char *path =
		g_path_is_absolute(name) ? g_strdup(name) : g_build_filename(dir, name, NULL);
	char *err = NULL;
	s->backing = block_open_backing(path, s->backing_format, s->bd->depth + 1, &err);
	if (!s->backing) {
		*error = g_strdup_printf("%s: backing file: %s", s->bd->path, err);
		g_free(err);
		return -1;
	}
	return 0;
}

static int qcow2_open_tables(struct qcow2 *s, char **error)
{
	const struct qcow2_header *h = &s->h;
	s->l2_bits = s->cluster_bits - 3;
	s->rb_bits = s->cluster_bits + 3 - h->refcount_order;
	s->reftable_entries = h->refcount_table_clusters << (s->cluster_bits - 3);
	s->l1 = qcow2_load_table(s, h->l1_table_offset, h->l1_size);
	s->reftable = qcow2_load_table(s, h->refcount_table_offset, s->reftable_entries);
	if (!s->l1 || !s->reftable) {
		*error = g_strdup_printf("%s: cannot read the L1 or refcount table", s->bd->path);
		return -1;
	}
	char *msg = NULL;
	if (qcow2_snapshots_load(s, &msg) < 0) {
		*error = g_strdup_printf("%s: %s", s->bd->path, msg);
		g_free(msg);
		return -1;
	}
	/* Write-through caches: enough L2 tables for a few GiB, at most 16 MiB of them. */
	unsigned n_l2 = CLAMP((16u << 20) >> s->cluster_bits, 8, 64);
	qcow2_cache_init(&s->l2_cache, n_l2, s->cluster_size);
	qcow2_cache_init(&s->rb_cache, 8, s->cluster_size);
	s->cbuf = g_malloc(s->cluster_size);
	return 0;
}

static int qcow2_open_checked(struct qcow2 *s, char **error)
{
	g_autofree uint8_t *hdr = NULL;
	struct qcow2_exts x = { 0 };
	int ret = -1;
	if (qcow2_read_header(s, &hdr, error) < 0)
		goto out;
	size_t ext_end = s->h.backing_file_offset ? s->h.backing_file_offset
						   : MIN(s->cluster_size, s->file_end);
	if (qcow2_parse_exts(&x, hdr, s->h.header_length, ext_end, s->bd->path, error) < 0)
		goto out;
	char *msg = qcow2_check_incompatible(s, &x, hdr);
	if (msg) {
		*error = g_strdup_printf("%s: %s", s->bd->path, msg);
		g_free(msg);
		goto out;
	}
	if (qcow2_open_tables(s, error) < 0)
		goto out;
	s->backing_format = g_steal_pointer(&x.backing_format);
	if (s->h.backing_file_offset) {
		s->backing_name = g_strndup((const char *)hdr + s->h.backing_file_offset,
					    s->h.backing_file_size);
		if (qcow2_open_backing(s, s->backing_name, error) < 0)
			goto out;
	}
	ret = 0;
out:
	qcow2_exts_clear(&x);
	return ret;
}

static void qcow2_free(struct qcow2 *s)
{
	qcow2_ahead_wait(s);
	block_close(s->backing);
	qcow2_cache_free(&s->l2_cache);
	qcow2_cache_free(&s->rb_cache);
	g_free(s->l1);
	g_free(s->reftable);
	g_free(s->release);
	g_free(s->cbuf);
	g_free(s->backing_name);
	g_free(s->backing_format);
	qcow2_snapshots_free(s->snaps, s->n_snaps);
	g_free(s);
}

static int qcow2_open(struct block_dev *bd, char **error)
{
	struct qcow2 *s = g_new0(struct qcow2, 1);
	s->bd = bd;
	s->fd = bd->fd;
	s->file_end = qcow2_file_size(bd->fd);
	if (qcow2_open_checked(s, error) < 0) {
		qcow2_free(s);
		return -1;
	}
	/* A dirty image that we may write: we clear the bit at a clean close. */
	s->dirty = !bd->read_only && (s->h.incompatible & QCOW2_INCOMPAT_DIRTY);
	bd->size = s->h.size;
	bd->priv = s;
	return 0;
}

/* ---- the dirty bit ("Header": incompatible feature bit 0) ---- */

/* Rewrites bytes 72..95 of the header: incompatible, compatible, autoclear features. */
static int qcow2_write_features(struct qcow2 *s)
{
	uint8_t buf[24];
	be_put(buf, 8, s->h.incompatible);
	be_put(buf + 8, 8, s->h.compatible);
	be_put(buf + 16, 8, s->h.autoclear);
	int ret = qcow2_file_write(s, buf, sizeof(buf), 72);
	return ret < 0 ? ret : qcow2_sync(s);
}

/*
 * Before the first change: set the dirty bit, and clear the autoclear bits, which name
 * extensions (bitmaps) that pcvm does not keep up to date. v2 has no feature bits.
 */
int qcow2_mark_dirty(struct qcow2 *s)
{
	if (s->dirty)
		return 0;
	int ret = 0;
	if (s->h.version >= 3) {
		s->h.incompatible |= QCOW2_INCOMPAT_DIRTY;
		s->h.autoclear = 0;
		ret = qcow2_write_features(s);
	}
	if (ret == 0)
		s->dirty = true;
	return ret;
}

/* A clean close: unused reserved clusters freed, everything on disk, then the bit cleared. */
static void qcow2_close(struct block_dev *bd)
{
	struct qcow2 *s = bd->priv;
	if (s->dirty) {
		int ret = qcow2_unreserve(s);
		if (ret == 0)
			ret = qcow2_sync(s);
		if (ret == 0 && s->h.version >= 3) {
			s->h.incompatible &= ~QCOW2_INCOMPAT_DIRTY;
			ret = qcow2_write_features(s);
		}
		if (ret < 0)
			log_warn("%s: closing: %s (the image stays marked dirty)", bd->path,
				 strerror(-ret));
	}
	qcow2_free(s);
}

/* Also waits for the sync of a batch reserved ahead: a guest's flush then leaves no sync
 * running (and that batch's clusters ready to hand out). */
static int qcow2_flush(struct block_dev *bd)
{
	qcow2_ahead_wait(bd->priv);
	return qcow2_sync(bd->priv);
}

static int qcow2_get_info(struct block_dev *bd, struct block_info *info)
{
	struct qcow2 *s = bd->priv;
	info->backing = g_strdup(s->backing_name);
	return 0;
}

const struct block_driver block_qcow2_driver = {
	.name = "qcow2",
	.probe = qcow2_probe,
	.open = qcow2_open,
	.close = qcow2_close,
	.pread = qcow2_read,
	.pwrite = qcow2_write,
	.pread_nowait = qcow2_read_nowait,
	.pwrite_nowait = qcow2_write_nowait,
	.flush = qcow2_flush,
	.discard = qcow2_discard,
	.get_info = qcow2_get_info,
	.snapshot_create = qcow2_snapshot_create,
	.snapshot_goto = qcow2_snapshot_goto,
	.snapshot_delete = qcow2_snapshot_delete,
	.snapshot_list = qcow2_snapshot_list,
};

/* ---- create ---- */

#define QCOW2_CREATE_CLUSTER_BITS 16

/* Appends a header extension at *POS of BUF. */
static void qcow2_put_ext(uint8_t *buf, size_t *pos, uint32_t type, const void *data,
			  uint32_t len)
{
	be_put(buf + *pos, 4, type);
	be_put(buf + *pos + 4, 4, len);
	memcpy(buf + *pos + 8, data, len);
	*pos += 8 + ((len + 7) & ~7u);
}

static void qcow2_put_feature_table(uint8_t *buf, size_t *pos)
{
	uint8_t table[G_N_ELEMENTS(qcow2_known_features) * QCOW2_FEATURE_ENTRY] = { 0 };
	for (size_t i = 0; i < G_N_ELEMENTS(qcow2_known_features); i++) {
		uint8_t *e = table + i * QCOW2_FEATURE_ENTRY;
		e[0] = qcow2_known_features[i].type;
		e[1] = qcow2_known_features[i].bit;
		memcpy(e + 2, qcow2_known_features[i].name, strlen(qcow2_known_features[i].name));
	}
	qcow2_put_ext(buf, pos, QCOW2_EXT_FEATURES, table, sizeof(table));
}

/*
 * The first four clusters (and the L1 table) of a new image: header, refcount table, one
 * refcount block, L1 table. Everything in one buffer, written at once.
 */
static uint8_t *qcow2_build_image(uint64_t size, const char *backing, const char *fmt,
				  uint64_t *len)
{
	const unsigned cb = QCOW2_CREATE_CLUSTER_BITS;
	const uint64_t cs = 1ull << cb;
	uint64_t l1_size = (size + (cs << (cb - 3)) - 1) >> (2 * cb - 3);
	uint64_t l1_clusters = MAX(1, (l1_size * 8 + cs - 1) >> cb);
	uint64_t clusters = 3 + l1_clusters;
	*len = clusters << cb;
	uint8_t *img = g_malloc0(*len);
	struct qcow2_header h = {
		.magic = QCOW2_MAGIC,	     .version = 3,	       .cluster_bits = cb,
		.size = size,		     .l1_size = l1_size,       .l1_table_offset = 3 * cs,
		.refcount_table_offset = cs, .refcount_table_clusters = 1, .refcount_order = 4,
		.header_length = QCOW2_V3_HEADER_LEN,
	};
	size_t pos = h.header_length;
	if (backing)
		qcow2_put_ext(img, &pos, QCOW2_EXT_BACKING_FMT, fmt, strlen(fmt));
	qcow2_put_feature_table(img, &pos);
	pos += 8; /* the end-of-extensions marker: zeros */
	if (backing) {
		h.backing_file_offset = pos;
		h.backing_file_size = strlen(backing);
		memcpy(img + pos, backing, h.backing_file_size);
	}
	qcow2_header_build(&h, img);
	be_put(img + cs, 8, 2 * cs); /* refcount table entry 0: the block in cluster 2 */
	for (uint64_t i = 0; i < clusters; i++)
		be_put(img + 2 * cs + 2 * i, 2, 1); /* refcount 1 for every cluster written */
	return img;
}

/* The backing file's format and size, to record and to default the image's size. */
static int qcow2_create_backing(const char *path, const char *backing, const char **fmt,
				uint64_t *size, char **error)
{
	if (strlen(backing) > QCOW2_MAX_BACKING_NAME) {
		*error = g_strdup_printf("%s: backing file name too long", path);
		return -1;
	}
	g_autofree char *dir = g_path_get_dirname(path);
	g_autofree char *full = g_path_is_absolute(backing) ? g_strdup(backing)
							     : g_build_filename(dir, backing, NULL);
	struct block_dev *b = block_open_backing(full, NULL, 1, error);
	if (!b)
		return -1;
	*fmt = b->drv->name;
	if (!*size)
		*size = block_size(b);
	block_close(b);
	return 0;
}

static int qcow2_write_new(const char *path, const uint8_t *img, uint64_t len, char **error)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0) {
		*error = g_strdup_printf("%s: %s", path, strerror(errno));
		return -1;
	}
	int ret = block_fd_write(fd, img, len, 0);
	if (ret == 0 && fsync(fd) < 0)
		ret = -errno;
	if (ret < 0) {
		*error = g_strdup_printf("%s: %s", path, strerror(-ret));
		close(fd);
		unlink(path);
		return -1;
	}
	close(fd);
	return 0;
}

int block_create_qcow2(const char *path, uint64_t size, const char *backing, char **error)
{
	const char *fmt = NULL;
	if (g_file_test(path, G_FILE_TEST_EXISTS)) {
		*error = g_strdup_printf("%s: %s", path, strerror(EEXIST));
		return -1;
	}
	if (backing && qcow2_create_backing(path, backing, &fmt, &size, error) < 0)
		return -1;
	if (!size || size > (1ull << 50)) {
		*error = g_strdup_printf("%s: invalid size %" PRIu64 " (1 byte to 1 PiB)", path,
					 size);
		return -1;
	}
	size = (size + BLOCK_SECTOR - 1) & ~(uint64_t)(BLOCK_SECTOR - 1);
	uint64_t len;
	g_autofree uint8_t *img = qcow2_build_image(size, backing, fmt, &len);
	return qcow2_write_new(path, img, len, error);
}
