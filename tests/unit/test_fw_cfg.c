/* fw_cfg through its real ports (0x510 selector, 0x511 data, 0x514/0x518 DMA address) on a
 * fake PIO bus with 1 MiB of fake RAM, the SMBIOS tables SeaBIOS reads from it, and the
 * "bootorder" file the machine writes for [vm] boot=. */
#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>

#include "devices/fw_cfg.h"
#include "devices/smbios.h"
#include "fakes.h"
#include "log.h"
#include "pc_internal.h"

#define PORT_SEL 0x510
#define PORT_DATA 0x511
#define PORT_DMA_HI 0x514
#define PORT_DMA_LO 0x518

#define DESC_GPA 0x1000
#define BUF_GPA 0x2000

struct fix {
	struct fake_env *env;
	struct fw_cfg *fw;
};

static struct fw_cfg *fw_new(struct fake_env *env)
{
	struct fw_cfg *fw = fw_cfg_class.create(&env->ctx);
	fw_cfg_class.reset(fw);
	return fw;
}

static void fix_setup(struct fix *f, gconstpointer data)
{
	f->env = fake_env_new(-1, -1);
	f->fw = fw_new(f->env);
	fake_map(f->env, PORT_SEL, FW_CFG_IO_LEN, &fw_cfg_io_ops, f->fw, &f->fw->lock);
}

static void fix_teardown(struct fix *f, gconstpointer data)
{
	fake_env_free(f->env);
	fw_cfg_class.destroy(f->fw);
}

static void read_data(struct fix *f, uint16_t key, uint8_t *buf, size_t n)
{
	fake_outw(f->env, PORT_SEL, key);
	for (size_t i = 0; i < n; i++)
		buf[i] = fake_inb(f->env, PORT_DATA);
}

static void put_be32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = v >> (24 - 8 * i);
}

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Writes the address as SeaBIOS does: outl(cpu_to_be32(half)), high half first. */
static void dma_kick(struct fix *f, uint64_t desc_gpa)
{
	fake_outl(f->env, PORT_DMA_HI, GUINT32_TO_BE(desc_gpa >> 32));
	fake_outl(f->env, PORT_DMA_LO, GUINT32_TO_BE((uint32_t)desc_gpa));
}

/* Builds a FWCfgDmaAccess at DESC_GPA, runs it, returns the control word written back. */
static uint32_t dma(struct fix *f, uint32_t control, uint32_t len, uint64_t addr)
{
	uint8_t *d = f->env->ram + DESC_GPA;
	put_be32(d, control);
	put_be32(d + 4, len);
	put_be32(d + 8, addr >> 32);
	put_be32(d + 12, addr);
	dma_kick(f, DESC_GPA);
	return get_be32(d);
}

static uint32_t sel(uint16_t key)
{
	return (uint32_t)key << 16 | FW_CFG_DMA_CTL_SELECT;
}

static const char file_data[] = "hello, firmware";

static void test_signature(struct fix *f, gconstpointer data)
{
	uint8_t sig[6];
	read_data(f, FW_CFG_SIGNATURE, sig, sizeof(sig));
	g_assert_cmpmem(sig, 4, "QEMU", 4);
	g_assert_cmpuint(sig[4], ==, 0); /* past the end */
	g_assert_cmpuint(sig[5], ==, 0);
	/* the DMA address register reads "QEMU CFG" big-endian, byte by byte */
	g_assert_cmphex(fake_inl(f->env, PORT_DMA_HI), ==, GUINT32_FROM_BE(0x51454D55));
	g_assert_cmphex(fake_inl(f->env, PORT_DMA_LO), ==, GUINT32_FROM_BE(0x20434647));
	g_assert_cmphex(fake_inb(f->env, PORT_DMA_LO + 3), ==, 'G');
}

static void test_id(struct fix *f, gconstpointer data)
{
	uint8_t id[4];
	read_data(f, FW_CFG_ID, id, sizeof(id));
	g_assert_cmpuint(id[0] | id[1] << 8 | id[2] << 16 | (uint32_t)id[3] << 24, ==, 3);
}

static void test_numeric_items(struct fix *f, gconstpointer data)
{
	g_assert_cmpint(fw_cfg_add_u16(f->fw, 0x05, 4), ==, 0);
	g_assert_cmpint(fw_cfg_add_u32(f->fw, 0x8002, 1), ==, 0);
	g_assert_cmpint(fw_cfg_add_u64(f->fw, 0x03, 0x0102030405060708ull), ==, 0);
	uint8_t b[8];
	read_data(f, 0x05, b, 2);
	g_assert_cmpuint(b[0], ==, 4);
	g_assert_cmpuint(b[1], ==, 0);
	read_data(f, 0x8002, b, 4);
	g_assert_cmpmem(b, 4, "\x01\0\0\0", 4);
	read_data(f, 0x03, b, 8);
	g_assert_cmpmem(b, 8, "\x08\x07\x06\x05\x04\x03\x02\x01", 8);
	/* the directory and file keys are not add_bytes's; bit 14 names no item */
	g_assert_cmpint(fw_cfg_add_u32(f->fw, FW_CFG_FILE_DIR, 0), ==, -1);
	g_assert_cmpint(fw_cfg_add_u32(f->fw, FW_CFG_FILE_FIRST, 0), ==, -1);
	g_assert_cmpint(fw_cfg_add_u32(f->fw, 0x4005, 0), ==, -1);
}

static void test_file_legacy(struct fix *f, gconstpointer data)
{
	int key = fw_cfg_add_file(f->fw, "etc/test", file_data, sizeof(file_data));
	g_assert_cmpint(key, ==, FW_CFG_FILE_FIRST);
	g_assert_cmpint(fw_cfg_find_file(f->fw, "etc/test"), ==, key);
	g_assert_cmpint(fw_cfg_find_file(f->fw, "etc/none"), ==, -1);
	uint8_t buf[sizeof(file_data) + 2];
	read_data(f, key, buf, sizeof(buf));
	g_assert_cmpmem(buf, sizeof(file_data), file_data, sizeof(file_data));
	g_assert_cmpuint(buf[sizeof(file_data)], ==, 0);
	/* selecting again starts over; an 8-bit write to the selector selects nothing */
	fake_outb(f->env, PORT_SEL, 0);
	g_assert_cmpuint(fake_inb(f->env, PORT_DATA), ==, 0);
	read_data(f, key, buf, 1);
	g_assert_cmpuint(buf[0], ==, 'h');
	/* data-port writes are ignored (QEMU 2.4+) and do not move the offset */
	fake_outb(f->env, PORT_DATA, 'X');
	g_assert_cmpuint(fake_inb(f->env, PORT_DATA), ==, 'e');
}

static void test_file_errors(struct fix *f, gconstpointer data)
{
	char name[FW_CFG_MAX_FILE_PATH + 1];
	memset(name, 'a', sizeof(name));
	name[FW_CFG_MAX_FILE_PATH] = 0; /* 56 characters: one too many */
	g_assert_cmpint(fw_cfg_add_file(f->fw, name, "x", 1), ==, -1);
	name[FW_CFG_MAX_FILE_PATH - 1] = 0; /* 55: fits */
	g_assert_cmpint(fw_cfg_add_file(f->fw, name, "x", 1), ==, FW_CFG_FILE_FIRST);
	g_assert_cmpint(fw_cfg_add_file(f->fw, name, "y", 1), ==, -1);
	g_assert_cmpint(fw_cfg_add_file(f->fw, "", "y", 1), ==, -1);
	g_assert_cmpint(fw_cfg_find_file(f->fw, name), ==, FW_CFG_FILE_FIRST);
}

static void test_file_dir(struct fix *f, gconstpointer data)
{
	uint8_t count[4];
	read_data(f, FW_CFG_FILE_DIR, count, 4);
	g_assert_cmpuint(get_be32(count), ==, 0);

	const char *names[] = { "etc/smbios/smbios-tables", "bootorder", "etc/e820", "a" };
	const char *sorted[] = { "a", "bootorder", "etc/e820", "etc/smbios/smbios-tables" };
	int keys[4];
	for (int i = 0; i < 4; i++) {
		keys[i] = fw_cfg_add_file(f->fw, names[i], file_data, i + 1);
		g_assert_cmpint(keys[i], ==, FW_CFG_FILE_FIRST + i); /* in arrival order */
	}
	uint8_t dir[4 + 4 * 64 + 1];
	read_data(f, FW_CFG_FILE_DIR, dir, sizeof(dir));
	g_assert_cmpuint(get_be32(dir), ==, 4);
	g_assert_cmpuint(dir[sizeof(dir) - 1], ==, 0);
	for (int i = 0; i < 4; i++) {
		const uint8_t *e = dir + 4 + 64 * i;
		char name[57] = { 0 };
		memcpy(name, e + 8, 56);
		g_assert_cmpstr(name, ==, sorted[i]);
		for (size_t j = strlen(sorted[i]); j < 56; j++)
			g_assert_cmpuint(e[8 + j], ==, 0);
		int key = fw_cfg_find_file(f->fw, sorted[i]);
		g_assert_cmpuint(e[4] << 8 | e[5], ==, key);
		g_assert_cmpuint(e[6] | e[7], ==, 0);
		g_assert_cmpuint(get_be32(e), ==, key - FW_CFG_FILE_FIRST + 1);
	}
}

static void test_dma_read(struct fix *f, gconstpointer data)
{
	int key = fw_cfg_add_file(f->fw, "etc/test", file_data, sizeof(file_data));
	uint8_t *buf = f->env->ram + BUF_GPA;
	g_assert_cmphex(dma(f, sel(key) | FW_CFG_DMA_CTL_READ, 5, BUF_GPA), ==, 0);
	g_assert_cmpmem(buf, 5, "hello", 5);
	/* no select: go on from the offset, skip 2 then read */
	g_assert_cmphex(dma(f, FW_CFG_DMA_CTL_SKIP, 2, 0), ==, 0);
	g_assert_cmphex(dma(f, FW_CFG_DMA_CTL_READ, 4, BUF_GPA), ==, 0);
	g_assert_cmpmem(buf, 4, "firm", 4);
	/* the legacy port shares the offset */
	g_assert_cmpuint(fake_inb(f->env, PORT_DATA), ==, 'w');
	/* select via DMA resets the offset; skip with an absurd length stops at the end */
	g_assert_cmphex(dma(f, sel(key) | FW_CFG_DMA_CTL_SKIP, 0xFFFFFFFF, 0), ==, 0);
	g_assert_cmpuint(fake_inb(f->env, PORT_DATA), ==, 0);
	/* the DMA address register is 0 again after the operation */
	g_assert_cmpuint(f->fw->dma_addr_hi, ==, 0);
	g_assert_cmpuint(f->fw->dma_addr_lo, ==, 0);
}

static void test_dma_zero_fill(struct fix *f, gconstpointer data)
{
	uint8_t *buf = f->env->ram + BUF_GPA;
	memset(buf, 0xAA, 32);
	g_assert_cmphex(dma(f, sel(FW_CFG_SIGNATURE) | FW_CFG_DMA_CTL_READ, 16, BUF_GPA), ==, 0);
	g_assert_cmpmem(buf, 4, "QEMU", 4);
	for (int i = 4; i < 16; i++)
		g_assert_cmpuint(buf[i], ==, 0);
	g_assert_cmpuint(buf[16], ==, 0xAA);
	/* an unknown item reads as zeros, by DMA and by the data port */
	memset(buf, 0xAA, 32);
	g_assert_cmphex(dma(f, sel(0x1234) | FW_CFG_DMA_CTL_READ, 8, BUF_GPA), ==, 0);
	for (int i = 0; i < 8; i++)
		g_assert_cmpuint(buf[i], ==, 0);
	fake_outw(f->env, PORT_SEL, 0x3FFF);
	g_assert_cmpuint(fake_inb(f->env, PORT_DATA), ==, 0);
	fake_outw(f->env, PORT_SEL, 0xFFFF);
	g_assert_cmpuint(fake_inb(f->env, PORT_DATA), ==, 0);
}

static gchar *read_log(const char *path)
{
	gchar *text = NULL;
	g_assert_true(g_file_get_contents(path, &text, NULL, NULL));
	return text;
}

static void test_dma_desc_outside(struct fix *f, gconstpointer data)
{
	g_autofree gchar *dir = g_dir_make_tmp("fwcfg-XXXXXX", NULL);
	g_autofree gchar *path = g_build_filename(dir, "pcvm.log", NULL);
	g_assert_cmpint(log_open(path), ==, 0);
	g_autofree uint8_t *before = g_malloc(FAKE_RAM_SIZE);
	memcpy(before, f->env->ram, FAKE_RAM_SIZE);

	dma_kick(f, 0x100000000ull + DESC_GPA); /* above 4 GiB: no RAM there */
	dma_kick(f, FAKE_RAM_SIZE - 8);		/* crosses the end of RAM */
	dma_kick(f, FAKE_RAM_SIZE);
	log_close();
	g_assert_true(memcmp(before, f->env->ram, FAKE_RAM_SIZE) == 0);
	g_autofree gchar *text = read_log(path);
	g_assert_nonnull(strstr(text, "fw-cfg: DMA descriptor at 0x100001000 outside guest RAM"));
	g_unlink(path);
	g_rmdir(dir);

	/* the device still works, and the address register was cleared */
	g_assert_cmpuint(f->fw->dma_addr_hi, ==, 0);
	g_assert_cmphex(dma(f, sel(FW_CFG_SIGNATURE) | FW_CFG_DMA_CTL_READ, 4, BUF_GPA), ==, 0);
	g_assert_cmpmem(f->env->ram + BUF_GPA, 4, "QEMU", 4);
}

static void test_dma_buffer_outside(struct fix *f, gconstpointer data)
{
	uint8_t *tail = f->env->ram + FAKE_RAM_SIZE - 2;
	tail[0] = tail[1] = 0xAA;
	uint32_t ctl = sel(FW_CFG_SIGNATURE) | FW_CFG_DMA_CTL_READ;
	g_assert_cmphex(dma(f, ctl, 4, FAKE_RAM_SIZE), ==, FW_CFG_DMA_CTL_ERROR);
	g_assert_cmphex(dma(f, ctl, 4, FAKE_RAM_SIZE - 2), ==, FW_CFG_DMA_CTL_ERROR);
	g_assert_cmpuint(tail[0], ==, 0xAA); /* the part inside RAM is not written either */
	g_assert_cmphex(dma(f, ctl, 4, 0xFFFFFFFFFFFFFFFEull), ==, FW_CFG_DMA_CTL_ERROR);
	/* an absurd length from inside RAM runs off its end */
	g_assert_cmphex(dma(f, ctl, 0xFFFFFFFF, BUF_GPA), ==, FW_CFG_DMA_CTL_ERROR);
	/* nothing was consumed by the failed reads */
	g_assert_cmpuint(fake_inb(f->env, PORT_DATA), ==, 'Q');
	/* a zero-length read anywhere is a no-op that succeeds */
	g_assert_cmphex(dma(f, FW_CFG_DMA_CTL_READ, 0, 0xFFFFFFFFFFFFull), ==, 0);
}

static void test_dma_write(struct fix *f, gconstpointer data)
{
	int key = fw_cfg_add_file(f->fw, "etc/test", file_data, sizeof(file_data));
	memcpy(f->env->ram + BUF_GPA, "HELLO", 5);
	g_assert_cmphex(dma(f, sel(key) | FW_CFG_DMA_CTL_WRITE, 5, BUF_GPA), ==,
			FW_CFG_DMA_CTL_ERROR);
	uint8_t b[5];
	read_data(f, key, b, 5);
	g_assert_cmpmem(b, 5, "hello", 5);
	/* read wins over write when both are set */
	g_assert_cmphex(dma(f, sel(key) | FW_CFG_DMA_CTL_READ | FW_CFG_DMA_CTL_WRITE, 5, BUF_GPA),
			==, 0);
	g_assert_cmpmem(f->env->ram + BUF_GPA, 5, "hello", 5);
}

static void test_reset(struct fix *f, gconstpointer data)
{
	int key = fw_cfg_add_file(f->fw, "etc/test", file_data, sizeof(file_data));
	uint8_t b[3];
	read_data(f, key, b, 3);
	fake_outl(f->env, PORT_DMA_HI, GUINT32_TO_BE(1));
	g_assert_cmpuint(f->fw->dma_addr_hi, ==, 1);
	fw_cfg_class.reset(f->fw);
	g_assert_cmpuint(f->fw->dma_addr_hi, ==, 0);
	/* back on the signature at offset 0; the items are configuration and stay */
	g_assert_cmpuint(fake_inb(f->env, PORT_DATA), ==, 'Q');
	read_data(f, key, b, 3);
	g_assert_cmpmem(b, 3, "hel", 3);
}

static void test_state_roundtrip(struct fix *f, gconstpointer data)
{
	int key = fw_cfg_add_file(f->fw, "etc/test", file_data, sizeof(file_data));
	uint8_t b[4];
	read_data(f, key, b, 4);
	fake_outl(f->env, PORT_DMA_HI, GUINT32_TO_BE(0x12)); /* high half written, low not yet */

	GByteArray *saved = g_byte_array_new();
	state_save(fw_cfg_class.state, f->fw, saved);

	struct fix g;
	fix_setup(&g, NULL);
	g_assert_cmpint(fw_cfg_add_file(g.fw, "etc/test", file_data, sizeof(file_data)), ==, key);
	char *err = NULL;
	g_assert_cmpint(state_load(fw_cfg_class.state, g.fw, saved->data, saved->len, &err), ==, 0);
	g_assert_null(err);
	g_assert_cmphex(g.fw->dma_addr_hi, ==, 0x12);
	g_assert_cmphex(g.fw->selector, ==, key);
	for (size_t i = 4; i < sizeof(file_data) + 1; i++)
		g_assert_cmpuint(fake_inb(g.env, PORT_DATA), ==, fake_inb(f->env, PORT_DATA));
	g_assert_cmphex(dma(&g, sel(FW_CFG_ID) | FW_CFG_DMA_CTL_READ, 4, BUF_GPA), ==, 0);
	g_assert_cmpmem(g.env->ram + BUF_GPA, 4, "\x03\0\0\0", 4);
	fix_teardown(&g, NULL);

	/* an instance without the file cannot take an offset into it */
	fix_setup(&g, NULL);
	g_assert_cmpint(state_load(fw_cfg_class.state, g.fw, saved->data, saved->len, &err), ==, -1);
	g_assert_nonnull(strstr(err, "past the end"));
	g_free(err);
	/* even so, nothing reads out of bounds */
	g_assert_cmpuint(fake_inb(g.env, PORT_DATA), ==, 0);
	g_assert_cmphex(dma(&g, FW_CFG_DMA_CTL_READ, 4, BUF_GPA), ==, 0);
	fix_teardown(&g, NULL);
	g_byte_array_free(saved, TRUE);
}

/* ---- SMBIOS ---- */

struct smbios_struct {
	uint8_t type, len;
	uint16_t handle;
	const uint8_t *p;
	const char *strings[8];
	unsigned nstrings;
	size_t total; /* formatted area + string set */
};

/* Walks the table the way SeaBIOS and dmidecode do: formatted length, then up to "\0\0". */
static GArray *smbios_parse(const GByteArray *t)
{
	GArray *out = g_array_new(FALSE, TRUE, sizeof(struct smbios_struct));
	size_t pos = 0;
	while (pos < t->len) {
		struct smbios_struct s = { 0 };
		g_assert_cmpuint(pos + 4, <=, t->len);
		s.p = t->data + pos;
		s.type = s.p[0];
		s.len = s.p[1];
		s.handle = s.p[2] | s.p[3] << 8;
		g_assert_cmpuint(s.len, >=, 4);
		size_t q = pos + s.len;
		g_assert_cmpuint(q + 2, <=, t->len);
		if (t->data[q] == 0) {
			g_assert_cmpuint(t->data[q + 1], ==, 0); /* empty set: two NULs */
			q += 2;
		} else {
			while (t->data[q]) {
				const char *str = (const char *)t->data + q;
				size_t n = strnlen(str, t->len - q);
				g_assert_cmpuint(q + n, <, t->len);
				g_assert_cmpuint(s.nstrings, <, G_N_ELEMENTS(s.strings));
				s.strings[s.nstrings++] = str;
				q += n + 1;
				g_assert_cmpuint(q, <, t->len);
			}
			q++;
		}
		s.total = q - pos;
		g_array_append_val(out, s);
		pos = q;
	}
	g_assert_cmpuint(pos, ==, t->len);
	return out;
}

static const char *smbios_str(const struct smbios_struct *s, unsigned off)
{
	unsigned idx = s->p[off];
	g_assert_cmpuint(idx, <=, s->nstrings);
	return idx ? s->strings[idx - 1] : NULL;
}

static unsigned count_type(GArray *a, uint8_t type)
{
	unsigned n = 0;
	for (guint i = 0; i < a->len; i++)
		n += g_array_index(a, struct smbios_struct, i).type == type;
	return n;
}

static const struct smbios_struct *find_type(GArray *a, uint8_t type, unsigned nth)
{
	for (guint i = 0; i < a->len; i++) {
		const struct smbios_struct *s = &g_array_index(a, struct smbios_struct, i);
		if (s->type == type && nth-- == 0)
			return s;
	}
	return NULL;
}

static uint8_t sum8(const uint8_t *p, size_t n)
{
	uint8_t s = 0;
	while (n--)
		s += *p++;
	return s;
}

static uint16_t le16(const uint8_t *p)
{
	return p[0] | p[1] << 8;
}

static uint32_t le32(const uint8_t *p)
{
	return le16(p) | (uint32_t)le16(p + 2) << 16;
}

static uint64_t le64(const uint8_t *p)
{
	return le32(p) | (uint64_t)le32(p + 4) << 32;
}

static const struct smbios_info test_info = {
	.uuid = { 0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0,
		  0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88 },
	.manufacturer = "pcvm",
	.product = "pcvm-pc",
	.version = "0.1",
	.serial = "",
	.bios_vendor = "SeaBIOS",
	.bios_version = "1.16.2",
	.bios_date = "04/01/2014",
	.cpus = 3,
	.ram_bytes = 512ull << 20,
};

/* Checks the anchor against TABLES and returns the parsed structures. */
static GArray *check_anchor(const GByteArray *tables, const GByteArray *anchor)
{
	const uint8_t *ep = anchor->data;
	g_assert_cmpuint(anchor->len, ==, SMBIOS_EP21_LEN);
	g_assert_cmpmem(ep, 4, "_SM_", 4);
	g_assert_cmpmem(ep + 0x10, 5, "_DMI_", 5);
	g_assert_cmpuint(ep[5], ==, SMBIOS_EP21_LEN);
	g_assert_cmpuint(ep[6], ==, 2);
	g_assert_cmpuint(ep[7], ==, 8);
	g_assert_cmphex(ep[0x1E], ==, 0x28);
	g_assert_cmpuint(sum8(ep, SMBIOS_EP21_LEN), ==, 0);
	g_assert_cmpuint(sum8(ep, 0x10), ==, 0); /* what SeaBIOS's copy_smbios checks */
	g_assert_cmpuint(sum8(ep + 0x10, SMBIOS_EP21_LEN - 0x10), ==, 0);
	g_assert_cmpuint(le16(ep + 0x16), ==, tables->len);
	g_assert_cmpuint(le32(ep + 0x18), ==, 0);

	GArray *a = smbios_parse(tables);
	g_assert_cmpuint(le16(ep + 0x1C), ==, a->len);
	size_t max = 0;
	for (guint i = 0; i < a->len; i++) {
		const struct smbios_struct *s = &g_array_index(a, struct smbios_struct, i);
		max = MAX(max, s->total);
		for (guint j = 0; j < i; j++) /* handles are unique */
			g_assert_cmphex(g_array_index(a, struct smbios_struct, j).handle, !=,
					s->handle);
	}
	g_assert_cmpuint(le16(ep + 8), ==, max);
	g_assert_cmpuint(g_array_index(a, struct smbios_struct, a->len - 1).type, ==, 127);
	return a;
}

static void test_smbios_tables(void)
{
	GByteArray *tables = g_byte_array_new(), *anchor = g_byte_array_new();
	g_assert_cmpint(smbios_build(&test_info, tables, anchor), ==, 0);
	GArray *a = check_anchor(tables, anchor);

	static const struct {
		uint8_t type, count, len;
	} expect[] = {
		{ 0, 1, 0x18 },	 { 1, 1, 0x1B },  { 3, 1, 0x16 },  { 4, 3, 0x2A },  { 16, 1, 0x17 },
		{ 17, 1, 0x28 }, { 19, 1, 0x1F }, { 32, 1, 0x0B }, { 127, 1, 0x04 },
	};
	unsigned total = 0;
	for (size_t i = 0; i < G_N_ELEMENTS(expect); i++) {
		g_assert_cmpuint(count_type(a, expect[i].type), ==, expect[i].count);
		g_assert_cmpuint(find_type(a, expect[i].type, 0)->len, ==, expect[i].len);
		total += expect[i].count;
	}
	g_assert_cmpuint(a->len, ==, total);

	const struct smbios_struct *t0 = find_type(a, 0, 0);
	g_assert_cmpstr(smbios_str(t0, 4), ==, "SeaBIOS");
	g_assert_cmpstr(smbios_str(t0, 5), ==, "1.16.2");
	g_assert_cmpstr(smbios_str(t0, 8), ==, "04/01/2014");

	const struct smbios_struct *t1 = find_type(a, 1, 0);
	g_assert_cmpstr(smbios_str(t1, 4), ==, "pcvm");
	g_assert_cmpstr(smbios_str(t1, 5), ==, "pcvm-pc");
	g_assert_cmpstr(smbios_str(t1, 6), ==, "0.1");
	g_assert_null(smbios_str(t1, 7)); /* empty serial: no string */
	/* SMBIOS 2.6+: time_low, time_mid, time_hi_and_version little-endian */
	static const uint8_t uuid[16] = { 0x78, 0x56, 0x34, 0x12, 0xbc, 0x9a, 0xf0, 0xde,
					  0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88 };
	g_assert_cmpmem(t1->p + 8, 16, uuid, 16);

	g_assert_cmpstr(smbios_str(find_type(a, 4, 2), 4), ==, "CPU 2");
	const struct smbios_struct *t16 = find_type(a, 16, 0);
	g_assert_cmpuint(le32(t16->p + 7), ==, 512 * 1024);
	g_assert_cmpuint(le16(t16->p + 0x0D), ==, 1);
	const struct smbios_struct *t17 = find_type(a, 17, 0);
	g_assert_cmphex(le16(t17->p + 4), ==, t16->handle);
	g_assert_cmpuint(le16(t17->p + 0x0C), ==, 512);
	const struct smbios_struct *t19 = find_type(a, 19, 0);
	g_assert_cmpuint(le32(t19->p + 4), ==, 0);
	g_assert_cmpuint(le32(t19->p + 8), ==, 512 * 1024 - 1);

	g_array_free(a, TRUE);
	g_byte_array_free(tables, TRUE);
	g_byte_array_free(anchor, TRUE);
}

static void test_smbios_large_ram(void)
{
	struct smbios_info info = test_info;
	info.bios_vendor = info.bios_version = info.bios_date = NULL;
	info.cpus = 0;
	info.ram_bytes = 40ull << 30;
	info.ram_below_4g = 0xE0000000;
	GByteArray *tables = g_byte_array_new(), *anchor = g_byte_array_new();
	g_assert_cmpint(smbios_build(&info, tables, anchor), ==, 0);
	GArray *a = check_anchor(tables, anchor);

	g_assert_cmpuint(count_type(a, 0), ==, 0); /* left to SeaBIOS */
	g_assert_cmpuint(count_type(a, 4), ==, 1);
	g_assert_cmpuint(count_type(a, 17), ==, 3); /* 16 + 16 + 8 GiB */
	static const uint16_t mib[] = { 16384, 16384, 8192 };
	for (unsigned i = 0; i < 3; i++)
		g_assert_cmpuint(le16(find_type(a, 17, i)->p + 0x0C), ==, mib[i]);
	g_assert_cmpuint(count_type(a, 19), ==, 2);
	const struct smbios_struct *lo = find_type(a, 19, 0), *hi = find_type(a, 19, 1);
	g_assert_cmphex(le32(lo->p + 8), ==, (0xE0000000 >> 10) - 1);
	g_assert_cmphex(le32(hi->p + 4), ==, 4ull << 20);
	g_assert_cmphex(le32(hi->p + 8), ==, ((4ull << 30) + (40ull << 30) - 0xE0000000 - 1) >> 10);
	g_assert_cmpuint(hi->p[0x0E], ==, 3);
	g_array_free(a, TRUE);

	/* 8 TiB: devices grow past 32 GiB (extended size), the map past 4 TiB (extended) */
	info.ram_bytes = 8ull << 40;
	info.ram_below_4g = 0;
	g_assert_cmpint(smbios_build(&info, tables, anchor), ==, 0);
	a = check_anchor(tables, anchor);
	const struct smbios_struct *t17 = find_type(a, 17, 0);
	g_assert_cmphex(le16(t17->p + 0x0C), ==, 0x7FFF);
	g_assert_cmpuint(count_type(a, 17), ==, 128); /* 64 GiB each, so at most 256 */
	g_assert_cmpuint(le32(t17->p + 0x1C), ==, 64 * 1024);
	const struct smbios_struct *t16 = find_type(a, 16, 0);
	g_assert_cmphex(le32(t16->p + 7), ==, 0x80000000);
	g_assert_cmpuint(le64(t16->p + 0x0F), ==, 8ull << 40);
	const struct smbios_struct *t19 = find_type(a, 19, 0);
	g_assert_cmphex(le32(t19->p + 4), ==, 0xFFFFFFFF);
	g_assert_cmphex(le64(t19->p + 0x17), ==, (8ull << 40) - 1);
	g_array_free(a, TRUE);

	/* too many CPUs for a 16-bit table length: refused, nothing half-built */
	info.cpus = 5000;
	g_assert_cmpint(smbios_build(&info, tables, anchor), ==, -1);
	g_assert_cmpuint(tables->len, ==, 0);
	g_assert_cmpuint(anchor->len, ==, 0);
	info.cpus = 2000;
	g_assert_cmpint(smbios_build(&info, tables, anchor), ==, -1);
	g_byte_array_free(tables, TRUE);
	g_byte_array_free(anchor, TRUE);
}

/* The two files as the machine hands them over, read back as SeaBIOS does (by DMA). */
static void test_smbios_via_fw_cfg(struct fix *f, gconstpointer data)
{
	GByteArray *tables = g_byte_array_new(), *anchor = g_byte_array_new();
	g_assert_cmpint(smbios_build(&test_info, tables, anchor), ==, 0);
	int kt = fw_cfg_add_file(f->fw, SMBIOS_TABLES_FILE, tables->data, tables->len);
	int ka = fw_cfg_add_file(f->fw, SMBIOS_ANCHOR_FILE, anchor->data, anchor->len);
	g_assert_cmpint(kt, >, 0);
	g_assert_cmpint(ka, >, 0);
	g_assert_cmphex(dma(f, sel(ka) | FW_CFG_DMA_CTL_READ, SMBIOS_EP21_LEN, BUF_GPA), ==, 0);
	g_assert_cmpmem(f->env->ram + BUF_GPA, SMBIOS_EP21_LEN, anchor->data, anchor->len);
	uint32_t len = le16(f->env->ram + BUF_GPA + 0x16);
	g_assert_cmphex(dma(f, sel(kt) | FW_CFG_DMA_CTL_READ, len, BUF_GPA), ==, 0);
	g_assert_cmpmem(f->env->ram + BUF_GPA, len, tables->data, tables->len);
	g_byte_array_free(tables, TRUE);
	g_byte_array_free(anchor, TRUE);
}

/* ---- the "bootorder" file (pc_firmware.c) ---- */

/* SeaBIOS's lookup (boot.c, find_prio), written from its description: the 1-based number of
 * the first line that GLOB is a prefix of, ending at the line's end or a '/'; a '*' in GLOB
 * stands for any characters up to a '/' or the character after the '*'. 0: no line. */
static bool glob_prefix(const char *glob, const char *line)
{
	while (*glob || (*line && *line != '/')) {
		if (*glob == '*') {
			if (!*line || *line == '/' || *line == glob[1])
				glob++;
			else
				line++;
		} else if (*glob++ != *line++) {
			return false;
		}
	}
	return true;
}

static int seabios_prio(const char *text, const char *glob)
{
	g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
	for (int i = 0; lines[i] && *lines[i]; i++)
		if (glob_prefix(glob, lines[i]))
			return i + 1;
	return 0;
}

#define NIC(slot, fn) ((slot) << 3 | (fn))
#define DISK(c, u) "/pci@i0cf8/ide@1,1/drive@" #c "/disk@" #u "\n"
#define ETH(at) "/pci@i0cf8/ethernet@" at "/ethernet-phy@0\n"

#define D IDE_KIND_DISK
#define C IDE_KIND_CDROM
#define N IDE_KIND_NONE

static void test_bootorder_text(void)
{
	static const struct {
		const char *boot;
		struct pc_boot_targets t;
		const char *want;
	} cases[] = {
		/* the default order; net0 (00:03.0) with iPXE */
		{ "disk,cdrom,network", { { D, N, C, N }, { NIC(3, 0), -1, -1, -1 } },
		  DISK(0, 0) DISK(1, 0) ETH("3") },
		{ "network,disk", { { D, N, C, N }, { NIC(3, 0), -1, -1, -1 } },
		  ETH("3") DISK(0, 0) },
		/* every card with a ROM in [netN] order (net1 has rom=none), slots in hex */
		{ "network, cdrom", { { D, D, N, C }, { NIC(3, 0), -1, NIC(0xa, 2), NIC(7, 0) } },
		  ETH("3") ETH("a,2") ETH("7") DISK(1, 1) },
		{ "cdrom,disk", { { D, D, N, C }, { NIC(3, 0), -1, -1, -1 } },
		  DISK(1, 1) DISK(0, 0) DISK(0, 1) },
		{ "disk", { { N, N, N, N }, { NIC(3, 0), -1, -1, -1 } }, "" },
		{ "network", { { D, N, N, N }, { -1, -1, -1, -1 } }, "" },
	};
	for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autofree char *text = pc_bootorder_text(cases[i].boot, &cases[i].t);
		g_assert_cmpstr(text, ==, cases[i].want);
	}
}

#undef D
#undef C
#undef N

/* The paths are ones SeaBIOS finds its devices by: with boot=network,disk the NIC's option ROM
 * (SeaBIOS looks up "/pci@i0cf8/ANY@3", ANY a glob star) comes first, then the IDE master. */
static void test_bootorder_seabios_match(void)
{
	struct pc_boot_targets t = {
		{ IDE_KIND_DISK, IDE_KIND_NONE, IDE_KIND_CDROM, IDE_KIND_NONE },
		{ NIC(3, 0), NIC(5, 0), -1, -1 },
	};
	g_autofree char *text = pc_bootorder_text("network,disk", &t);
	g_assert_cmpint(seabios_prio(text, "/pci@i0cf8/*@3"), ==, 1);
	g_assert_cmpint(seabios_prio(text, "/pci@i0cf8/*@5"), ==, 2);
	g_assert_cmpint(seabios_prio(text, "/pci@i0cf8/*@1,1/drive@0/disk@0"), ==, 3);
	/* not listed: the CD (boot= does not name it), a card without a ROM, slot 3's function 1 */
	g_assert_cmpint(seabios_prio(text, "/pci@i0cf8/*@1,1/drive@1/disk@0"), ==, 0);
	g_assert_cmpint(seabios_prio(text, "/pci@i0cf8/*@6"), ==, 0);
	g_assert_cmpint(seabios_prio(text, "/pci@i0cf8/*@3,1"), ==, 0);
	/* the disk's line is no prefix match for a card in slot 1 */
	g_assert_cmpint(seabios_prio(text, "/pci@i0cf8/*@1"), ==, 0);
}

#define ADD(name, fn) g_test_add("/fw_cfg/" name, struct fix, NULL, fix_setup, fn, fix_teardown)

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	ADD("signature", test_signature);
	ADD("id", test_id);
	ADD("numeric-items", test_numeric_items);
	ADD("file-legacy", test_file_legacy);
	ADD("file-errors", test_file_errors);
	ADD("file-dir", test_file_dir);
	ADD("dma-read", test_dma_read);
	ADD("dma-zero-fill", test_dma_zero_fill);
	ADD("dma-desc-outside-ram", test_dma_desc_outside);
	ADD("dma-buffer-outside-ram", test_dma_buffer_outside);
	ADD("dma-write", test_dma_write);
	ADD("reset", test_reset);
	ADD("state-roundtrip", test_state_roundtrip);
	ADD("smbios-via-fw-cfg", test_smbios_via_fw_cfg);
	g_test_add_func("/smbios/tables", test_smbios_tables);
	g_test_add_func("/smbios/large-ram", test_smbios_large_ram);
	g_test_add_func("/bootorder/text", test_bootorder_text);
	g_test_add_func("/bootorder/seabios-match", test_bootorder_seabios_match);
	return g_test_run();
}
