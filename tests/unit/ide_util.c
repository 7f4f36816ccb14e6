/* What the IDE test programs share (ide_util.h). */
#include "ide_util.h"

#include <errno.h>
#include <string.h>

/* ---- a synthetic disk: any size, sector N holds N; writes recorded, failures injected ---- */

static int synth_pread(struct block_dev *bd, void *buf, size_t len, uint64_t off)
{
	struct synth *s = bd->priv;
	if (s->fail_reads)
		return -EIO;
	for (size_t i = 0; i < len; i += 8) {
		uint64_t lba = (off + i) / BLOCK_SECTOR;
		memcpy((uint8_t *)buf + i, &lba, 8);
	}
	return 0;
}

static int synth_pwrite(struct block_dev *bd, const void *buf, size_t len, uint64_t off)
{
	struct synth *s = bd->priv;
	if (s->fail_writes)
		return -EIO;
	s->last_write_off = off;
	s->last_write_len = len;
	s->last_write_first = len ? *(const uint8_t *)buf : 0;
	return 0;
}

static int synth_flush(struct block_dev *bd)
{
	((struct synth *)bd->priv)->flushes++;
	return 0;
}

static const struct block_driver synth_driver = {
	.name = "synth", .pread = synth_pread, .pwrite = synth_pwrite, .flush = synth_flush,
};

struct block_dev *synth_open(uint64_t sectors, struct synth *s)
{
	struct block_dev *bd = g_new0(struct block_dev, 1);
	bd->drv = &synth_driver;
	bd->path = g_strdup("(synth)");
	bd->fd = -1;
	bd->size = sectors * BLOCK_SECTOR;
	bd->priv = s;
	return bd;
}

/* ---- a channel on a fake bus ---- */

struct rig *rig_new_with(struct block_dev *master, struct block_dev *slave)
{
	struct rig *r = g_new0(struct rig, 1);
	r->env = fake_env_new(GSI, 15);
	r->chan = g_new0(struct ide_channel, 1);
	r->disk[0] = master;
	r->disk[1] = slave;
	ide_channel_init(r->chan, &r->env->ctx.irq[0], master, slave);
	fake_map(r->env, CMD, 8, &ide_cmd_ops, r->chan, NULL);
	fake_map(r->env, CTRL, 1, &ide_ctrl_ops, r->chan, NULL);
	return r;
}

struct rig *rig_new(uint64_t master_sectors, uint64_t slave_sectors)
{
	return rig_new_with(master_sectors ? block_open_memory(master_sectors * BLOCK_SECTOR) : NULL,
			    slave_sectors ? block_open_memory(slave_sectors * BLOCK_SECTOR) : NULL);
}

void rig_free(struct rig *r)
{
	for (int i = 0; i < 2; i++)
		block_close(r->disk[i]);
	g_free(r->chan);
	fake_env_free(r->env);
	g_free(r);
}

uint8_t in8(struct rig *r, unsigned reg) { return fake_inb(r->env, CMD + reg); }
void out8(struct rig *r, unsigned reg, uint8_t v) { fake_outb(r->env, CMD + reg, v); }
uint8_t status(struct rig *r) { return in8(r, 7); }
uint8_t altstatus(struct rig *r) { return fake_inb(r->env, CTRL); }
int irq_level(struct rig *r) { return r->env->irq_level[GSI]; }
unsigned irq_raises(struct rig *r) { return r->env->irq_raises[GSI]; }

void issue28(struct rig *r, uint8_t cmd, uint32_t lba, uint8_t count)
{
	out8(r, 6, 0xE0 | ((lba >> 24) & 0x0F));
	out8(r, 2, count);
	out8(r, 3, lba);
	out8(r, 4, lba >> 8);
	out8(r, 5, lba >> 16);
	out8(r, 7, cmd);
}

/* LBA48: the high bytes first, then the low ones, into the two-deep registers. */
void issue48(struct rig *r, uint8_t cmd, uint64_t lba, uint16_t count)
{
	out8(r, 6, 0x40);
	out8(r, 2, count >> 8);
	out8(r, 3, lba >> 24);
	out8(r, 4, lba >> 32);
	out8(r, 5, lba >> 40);
	out8(r, 2, count);
	out8(r, 3, lba);
	out8(r, 4, lba >> 8);
	out8(r, 5, lba >> 16);
	out8(r, 7, cmd);
}

void issue_chs(struct rig *r, uint8_t cmd, unsigned cyl, unsigned head, unsigned sec,
	       uint8_t count)
{
	out8(r, 6, 0xA0 | head);
	out8(r, 2, count);
	out8(r, 3, sec);
	out8(r, 4, cyl);
	out8(r, 5, cyl >> 8);
	out8(r, 7, cmd);
}

void pio_in(struct rig *r, uint8_t *buf, size_t bytes)
{
	for (size_t i = 0; i < bytes; i += 2) {
		uint16_t w = fake_inw(r->env, CMD);
		buf[i] = w;
		buf[i + 1] = w >> 8;
	}
}

void pio_out(struct rig *r, const uint8_t *buf, size_t bytes)
{
	for (size_t i = 0; i < bytes; i += 2)
		fake_outw(r->env, CMD, buf[i] | buf[i + 1] << 8);
}

void fill_pattern(uint8_t *buf, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)(i * 7 + seed * 13 + (i >> 9));
}

void identify(struct rig *r, uint16_t id[256])
{
	out8(r, 7, 0xEC);
	g_assert_cmphex(status(r), ==, DRDY | DSC | DRQ);
	for (int i = 0; i < 256; i++)
		id[i] = fake_inw(r->env, CMD);
	g_assert_cmphex(status(r), ==, DRDY | DSC);
}
