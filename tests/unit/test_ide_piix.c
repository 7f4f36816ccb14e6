/*
 * The PIIX3 IDE function (see test_ide.c) through the ports a guest uses: its state saved and
 * loaded mid-transfer, hostile states, its PCI config space, the device class.
 */
#include <glib.h>
#include <string.h>

#include "ide_util.h"

/* ---- the PIIX3 function, its state, save/load mid-transfer ---- */

struct piix_rig {
	struct fake_env *env;
	struct piix_ide *dev;
};

static struct piix_rig piix_new(struct block_dev *disk0)
{
	struct piix_rig p = { fake_env_new(14, 15), NULL };
	p.env->ctx.disks[0] = disk0;
	p.dev = piix_ide_class.create(&p.env->ctx);
	piix_ide_class.reset(p.dev);
	fake_map(p.env, 0x1F0, 8, &ide_cmd_ops, &p.dev->chan[0], &p.dev->lock);
	fake_map(p.env, 0x3F6, 1, &ide_ctrl_ops, &p.dev->chan[0], &p.dev->lock);
	fake_map(p.env, 0x170, 8, &ide_cmd_ops, &p.dev->chan[1], &p.dev->lock);
	fake_map(p.env, 0x376, 1, &ide_ctrl_ops, &p.dev->chan[1], &p.dev->lock);
	return p;
}

static void piix_free(struct piix_rig *p)
{
	piix_ide_class.destroy(p->dev);
	fake_env_free(p->env);
}

static GByteArray *piix_save(struct piix_rig *p)
{
	GByteArray *out = g_byte_array_new();
	pthread_mutex_lock(&p->dev->lock);
	state_save(piix_ide_class.state, p->dev, out);
	pthread_mutex_unlock(&p->dev->lock);
	return out;
}

static int piix_load(struct piix_rig *p, GByteArray *s, char **error)
{
	pthread_mutex_lock(&p->dev->lock);
	int ret = state_load(piix_ide_class.state, p->dev, s->data, s->len, error);
	pthread_mutex_unlock(&p->dev->lock);
	return ret;
}

/* state_check (what a revert runs before any change): its answer, the device unchanged byte
 * for byte. */
static int piix_check(struct piix_rig *p, GByteArray *s, char **error)
{
	pthread_mutex_lock(&p->dev->lock);
	struct piix_ide *before = g_memdup2(p->dev, sizeof(*p->dev));
	int ret = state_check(piix_ide_class.state, p->dev, s->data, s->len, error);
	g_assert_cmpmem(p->dev, sizeof(*p->dev), before, sizeof(*before));
	pthread_mutex_unlock(&p->dev->lock);
	g_free(before);
	return ret;
}

static void pin(struct fake_env *env, uint8_t *buf, size_t bytes)
{
	for (size_t i = 0; i < bytes; i += 2) {
		uint16_t w = fake_inw(env, 0x1F0);
		buf[i] = w;
		buf[i + 1] = w >> 8;
	}
}

static void pout(struct fake_env *env, const uint8_t *buf, size_t bytes)
{
	for (size_t i = 0; i < bytes; i += 2)
		fake_outw(env, 0x1F0, buf[i] | buf[i + 1] << 8);
}

static void pissue(struct fake_env *env, uint8_t cmd, uint32_t lba, uint8_t count)
{
	fake_outb(env, 0x1F6, 0xE0);
	fake_outb(env, 0x1F2, count);
	fake_outb(env, 0x1F3, lba);
	fake_outb(env, 0x1F4, lba >> 8);
	fake_outb(env, 0x1F5, lba >> 16);
	fake_outb(env, 0x1F7, cmd);
}

static void test_piix_save_load_write(void)
{
	struct block_dev *disk = block_open_memory(DISK_SECTORS * BLOCK_SECTOR);
	struct piix_rig a = piix_new(disk);
	uint8_t out[4 * 512], got[4 * 512];
	fill_pattern(out, sizeof(out), 10);
	pissue(a.env, 0x30, 10, 4);
	pout(a.env, out, 512 + 256); /* one sector and a half */
	GByteArray *s = piix_save(&a);
	piix_free(&a);

	struct piix_rig b = piix_new(disk);
	char *error = NULL;
	g_assert_cmpint(piix_load(&b, s, &error), ==, 0);
	g_assert_null(error);
	g_assert_cmphex(fake_inb(b.env, 0x1F7), ==, DRDY | DSC | DRQ);
	pout(b.env, out + 512 + 256, sizeof(out) - 512 - 256);
	g_assert_cmphex(fake_inb(b.env, 0x1F7), ==, DRDY | DSC);
	block_pread(disk, got, sizeof(got), 10 * 512);
	g_assert_cmpmem(got, sizeof(got), out, sizeof(out));
	g_byte_array_free(s, TRUE);
	piix_free(&b);
	block_close(disk);
}

static void test_piix_save_load_read(void)
{
	struct block_dev *disk = block_open_memory(DISK_SECTORS * BLOCK_SECTOR);
	uint8_t ref[5 * 512], got[5 * 512];
	fill_pattern(ref, sizeof(ref), 11);
	block_pwrite(disk, ref, sizeof(ref), 300 * 512);

	struct piix_rig a = piix_new(disk);
	fake_outb(a.env, 0x1F2, 2); /* multiple mode 2: blocks of 2, 2, 1 */
	fake_outb(a.env, 0x1F7, 0xC6);
	pissue(a.env, 0xC4, 300, 5);
	(void)fake_inb(a.env, 0x1F7); /* acknowledge the first block's interrupt */
	pin(a.env, got, 3 * 512 + 100); /* block 2 ready: its interrupt still pending */
	g_assert_cmpuint(a.env->irq_raises[14], ==, 3); /* SET MULTIPLE, blocks 1 and 2 */
	g_assert_cmpint(a.env->irq_level[14], ==, 1);
	GByteArray *s = piix_save(&a);
	piix_free(&a);

	struct piix_rig b = piix_new(disk);
	g_assert_cmpint(piix_load(&b, s, NULL), ==, 0);
	g_assert_cmpint(b.env->irq_level[14], ==, 1); /* the pending interrupt came along */
	g_assert_cmphex(fake_inb(b.env, 0x1F7), ==, DRDY | DSC | DRQ);
	g_assert_cmpint(b.env->irq_level[14], ==, 0);
	pin(b.env, got + 3 * 512 + 100, sizeof(got) - 3 * 512 - 100);
	g_assert_cmpuint(b.env->irq_raises[14], ==, 2); /* the load's, then block 3's */
	g_assert_cmphex(fake_inb(b.env, 0x1F7), ==, DRDY | DSC);
	g_assert_cmpmem(got, sizeof(got), ref, sizeof(ref));

	/* a saved buffer position past the buffer is refused and leaves a sane device */
	b.dev->chan[0].drive[0].xfer = IDE_XFER_IN;
	b.dev->chan[0].drive[0].buf_pos = 0;
	b.dev->chan[0].drive[0].buf_len = 60000;
	GByteArray *bad = piix_save(&b);
	char *error = NULL;
	g_assert_cmpint(piix_load(&b, bad, &error), ==, -1);
	g_assert_nonnull(error);
	g_free(error);
	for (int i = 0; i < 40000; i++)
		(void)fake_inw(b.env, 0x1F0);
	g_assert_cmphex(fake_inb(b.env, 0x1F7), ==, DRDY | DSC);
	g_byte_array_free(bad, TRUE);
	g_byte_array_free(s, TRUE);
	piix_free(&b);
	block_close(disk);
}

/* A request in flight when the state was saved is issued again by the load. */
static void test_piix_load_reissues_request(void)
{
	struct block_dev *disk = block_open_memory(DISK_SECTORS * BLOCK_SECTOR);
	uint8_t ref[512], got[512];
	fill_pattern(ref, sizeof(ref), 12);
	block_pwrite(disk, ref, 512, 77 * 512);
	struct piix_rig a = piix_new(disk);
	struct ide_drive *d = &a.dev->chan[0].drive[0];
	/* what a slow backend would leave: READ SECTORS at 77, BSY, request outstanding */
	d->cmd = 0x20;
	d->xfer = IDE_XFER_IO;
	d->io_op = BLOCK_READ;
	d->lba = 77;
	d->remaining = 1;
	d->block = 1;
	d->status = BSY | DRDY;
	GByteArray *s = piix_save(&a);
	piix_free(&a);
	struct piix_rig b = piix_new(disk);
	g_assert_cmpint(piix_load(&b, s, NULL), ==, 0);
	g_assert_cmphex(fake_inb(b.env, 0x1F7), ==, DRDY | DSC | DRQ);
	pin(b.env, got, 512);
	g_assert_cmpmem(got, 512, ref, 512);
	g_byte_array_free(s, TRUE);
	piix_free(&b);
	block_close(disk);
}

/* Loaded states with random transfer fields: refused or harmless, never out of bounds. */
static void test_piix_hostile_state(void)
{
	struct block_dev *disk = block_open_memory(DISK_SECTORS * BLOCK_SECTOR);
	struct piix_rig src = piix_new(disk), dst = piix_new(disk);
	GRand *rnd = g_rand_new_with_seed(99);
	unsigned refused = 0;
	for (int iter = 0; iter < 400; iter++) {
		struct ide_drive *d = &src.dev->chan[0].drive[g_rand_int_range(rnd, 0, 2)];
		d->xfer = g_rand_int_range(rnd, 0, 5);
		d->cmd = g_rand_int(rnd);
		d->io_op = g_rand_int_range(rnd, 0, 4);
		d->lba = g_rand_boolean(rnd) ? (uint32_t)g_rand_int_range(rnd, 0, DISK_SECTORS + 2)
					 : g_rand_int(rnd);
		d->remaining = g_rand_int_range(rnd, 0, 70000);
		d->block = g_rand_int_range(rnd, 0, 20);
		d->buf_len = g_rand_int_range(rnd, 0, IDE_BUF_SIZE + 600);
		d->buf_pos = g_rand_int_range(rnd, 0, IDE_BUF_SIZE + 600);
		d->mult = g_rand_int_range(rnd, 0, 20);
		d->status = g_rand_int(rnd);
		GByteArray *st = piix_save(&src);
		char *error = NULL, *check_error = NULL;
		int checked = piix_check(&dst, st, &check_error);
		if (piix_load(&dst, st, &error) < 0) {
			refused++;
			g_assert_cmpint(checked, ==, -1);
			g_assert_nonnull(strstr(check_error, error));
			g_free(error);
		} else {
			g_assert_cmpint(checked, ==, 0);
		}
		g_free(check_error);
		for (int i = 0; i < 3000; i++) {
			(void)fake_inl(dst.env, 0x1F0);
			fake_outl(dst.env, 0x1F0, i);
		}
		fake_outb(dst.env, 0x1F6, g_rand_boolean(rnd) ? 0xB0 : 0xA0);
		(void)fake_inb(dst.env, 0x1F7);
		g_byte_array_free(st, TRUE);
		piix_ide_class.reset(src.dev);
	}
	g_assert_cmpuint(refused, >, 0);

	/* read-only configuration bytes and reserved bus-master bits are not the file's to set */
	src.dev->pci.config[PCI_DEVICE_ID] = 0x11;
	GByteArray *st = piix_save(&src);
	char *error = NULL;
	g_assert_cmpint(piix_load(&dst, st, &error), ==, -1);
	g_free(error);
	g_byte_array_free(st, TRUE);
	piix_ide_class.reset(src.dev);
	src.dev->bmdma[PIIX_BM_STATUS] = 0x01; /* "active" while not started: no guest gets there */
	st = piix_save(&src);
	g_assert_cmpint(piix_check(&dst, st, &error), ==, -1);
	g_assert_nonnull(strstr(error, "bus-master bits differ"));
	g_free(error);
	g_assert_cmpint(piix_load(&dst, st, &error), ==, -1);
	g_free(error);
	g_byte_array_free(st, TRUE);
	g_assert_cmphex(pci_config_get16(&dst.dev->pci, PCI_DEVICE_ID), ==, 0x7010);
	g_rand_free(rnd);
	piix_free(&src);
	piix_free(&dst);
	block_close(disk);
}

static void test_piix_pci_config(void)
{
	struct block_dev *disk = block_open_memory(DISK_SECTORS * BLOCK_SECTOR);
	struct piix_rig p = piix_new(disk);
	struct bus *mmio = bus_new("mmio");
	struct pci_bus *bus = pci_bus_new(p.env->io, mmio);
	unsigned devfn = 1 << 3 | 1;
	g_assert_cmpint(pci_bus_attach(bus, 1, 1, &p.dev->pci), ==, 0);
	g_assert_cmphex(pci_config_read(bus, devfn, 0, 4), ==, 0x70108086);
	g_assert_cmphex(pci_config_read(bus, devfn, 0x08, 4), ==, 0x01018000);
	g_assert_cmphex(pci_config_read(bus, devfn, 0x0E, 1), ==, 0x00);
	g_assert_cmphex(pci_config_read(bus, devfn, 0x06, 2), ==, 0x0280);
	/* only BAR4, 16 I/O ports */
	for (int n = 0; n < 6; n++) {
		pci_config_write(bus, devfn, 0x10 + 4 * n, 0xFFFFFFFF, 4);
		uint32_t v = pci_config_read(bus, devfn, 0x10 + 4 * n, 4);
		g_assert_cmphex(v, ==, n == 4 ? 0xFFFFFFF1 : 0);
	}
	pci_config_write(bus, devfn, 0x20, 0xC000, 4);
	pci_config_write(bus, devfn, 0x04, 0x0005, 2);
	g_assert_cmphex(pci_config_read(bus, devfn, 0x04, 2), ==, 0x0005);
	/* IDETIM: SeaBIOS's decode enables stick; reserved bits 11:10 do not */
	pci_config_write(bus, devfn, 0x40, 0xFFFFFFFF, 4);
	g_assert_cmphex(pci_config_read(bus, devfn, 0x40, 4), ==, 0xF3FFF3FF);

	/* bus-master registers at 0xC000 */
	fake_outb(p.env, 0xC000, 0xFF);
	g_assert_cmphex(fake_inb(p.env, 0xC000), ==, 0x09);
	g_assert_cmphex(fake_inb(p.env, 0xC002), ==, 0x01); /* started: active */
	fake_outb(p.env, 0xC002, 0x01);                     /* active is read-only */
	g_assert_cmphex(fake_inb(p.env, 0xC002), ==, 0x01);
	fake_outb(p.env, 0xC000, 0x08); /* stopped: no longer active */
	g_assert_cmphex(fake_inb(p.env, 0xC002), ==, 0x00);
	fake_outb(p.env, 0xC002, 0x60);
	g_assert_cmphex(fake_inb(p.env, 0xC002), ==, 0x60);
	fake_outl(p.env, 0xC004, 0x12345677);
	g_assert_cmphex(fake_inl(p.env, 0xC004), ==, 0x12345674);
	fake_outl(p.env, 0xC00C, 0xABCDEF00);
	g_assert_cmphex(fake_inl(p.env, 0xC00C), ==, 0xABCDEF00);
	g_assert_cmphex(fake_inb(p.env, 0xC001), ==, 0);

	/* IDE interrupt status latches each rising edge of INTRQ; writing 1 clears it */
	g_assert_cmphex(fake_inb(p.env, 0xC002) & 0x04, ==, 0);
	fake_outb(p.env, 0x1F7, 0xE1);
	g_assert_cmpint(p.env->irq_level[14], ==, 1);
	g_assert_cmphex(fake_inb(p.env, 0xC002), ==, 0x64);
	fake_outb(p.env, 0xC002, 0x64); /* clears bit 2, keeps the capable bits */
	g_assert_cmphex(fake_inb(p.env, 0xC002), ==, 0x60);
	(void)fake_inb(p.env, 0x1F7);
	g_assert_cmpint(p.env->irq_level[14], ==, 0);
	g_assert_cmphex(fake_inb(p.env, 0xC002), ==, 0x60); /* a falling edge sets nothing */
	fake_outb(p.env, 0x176, 0xA0); /* secondary: no drives, no edge on channel 1's bit */
	g_assert_cmphex(fake_inb(p.env, 0xC00A), ==, 0);

	/* reset: power-on configuration, register file cleared, BAR unmapped */
	piix_ide_class.reset(p.dev);
	g_assert_cmphex(p.dev->bmdma[2], ==, 0);
	g_assert_cmphex(pci_config_read(bus, devfn, 0x20, 4), ==, 0x00000001);
	g_assert_cmphex(pci_config_read(bus, devfn, 0x40, 4), ==, 0);
	g_assert_cmphex(fake_inb(p.env, 0xC002), ==, 0xFF); /* nothing decodes there now */
	pci_bus_free(bus);
	bus_free(mmio);
	piix_free(&p);
	block_close(disk);
}

static void test_piix_class(void)
{
	g_assert_true(device_class_find("piix-ide") == &piix_ide_class);
	g_assert_nonnull(piix_ide_class.state);
	g_assert_nonnull(piix_ide_class.lock);
	struct block_dev *disk = block_open_memory(DISK_SECTORS * BLOCK_SECTOR);
	struct piix_rig a = piix_new(disk);
	/* a reset device saves, loads and saves the same bytes again */
	GByteArray *s1 = piix_save(&a);
	struct piix_rig b = piix_new(disk);
	g_assert_cmpint(piix_load(&b, s1, NULL), ==, 0);
	GByteArray *s2 = piix_save(&b);
	g_assert_cmpmem(s1->data, s1->len, s2->data, s2->len);
	/* the secondary channel answers at 0x170 with no drives: zeros */
	g_assert_cmphex(fake_inb(b.env, 0x177), ==, 0);
	g_assert_cmphex(fake_inb(b.env, 0x376), ==, 0);
	g_byte_array_free(s1, TRUE);
	g_byte_array_free(s2, TRUE);
	piix_free(&a);
	piix_free(&b);
	block_close(disk);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/piix-ide/save-load-mid-write", test_piix_save_load_write);
	g_test_add_func("/piix-ide/save-load-mid-read", test_piix_save_load_read);
	g_test_add_func("/piix-ide/load-reissues-request", test_piix_load_reissues_request);
	g_test_add_func("/piix-ide/hostile-state", test_piix_hostile_state);
	g_test_add_func("/piix-ide/pci-config", test_piix_pci_config);
	g_test_add_func("/piix-ide/class", test_piix_class);
	return g_test_run();
}
