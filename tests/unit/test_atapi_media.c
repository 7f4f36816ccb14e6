/*
 * The ATAPI drive (see test_atapi.c): media changes, unit attention, GESN and the tray;
 * hostile packets; save and load mid-command.
 */
#include <glib.h>
#include <string.h>

#include "atapi_util.h"

static const uint8_t LOAD[12] = { 0x1B, 0, 0, 0, 0x03 };
static const uint8_t GESN[12] = { 0x4A, 0x01, 0, 0, 0x10, 0, 0, 0, 8 };

/* ---- media changes, unit attention, GESN, the tray ---- */

static void gesn(struct cd *c, uint8_t *event, uint8_t *media_status)
{
	uint8_t buf[8];
	expect_good(c, GESN, buf, 8);
	g_assert_cmpuint(be16(buf), ==, 6);
	g_assert_cmphex(buf[2], ==, 0x04); /* media class, NEA clear */
	g_assert_cmphex(buf[3], ==, 0x10);
	*event = buf[4] & 0x0F;
	*media_status = buf[5];
}

static void test_media_change(void)
{
	struct cd *c = cd_new(BLOCKS);
	uint8_t ev, ms, s[3], buf[2048], ref[2048];
	gesn(c, &ev, &ms);
	g_assert_cmpuint(ev, ==, 0);
	g_assert_cmphex(ms, ==, 0x02); /* present, closed */

	struct block_dev *b = disc(50, 2), *old = NULL;
	char *error = NULL;
	g_assert_cmpint(ide_cdrom_change_media(c->dev, 1, 0, b, false, &old, &error), ==, 0);
	g_assert_true(old == c->medium);
	block_close(old);
	c->medium = b;
	gesn(c, &ev, &ms); /* GESN is not held up by the unit attention */
	g_assert_cmpuint(ev, ==, 2);
	g_assert_cmphex(ms, ==, 0x02);
	gesn(c, &ev, &ms);
	g_assert_cmpuint(ev, ==, 0); /* reported once */
	expect_good(c, (const uint8_t[12]){ 0x12, 0, 0, 0, 36 }, NULL, 36); /* INQUIRY passes */
	expect_sense(c, TUR, 0x06, 0x28, 0x00);
	expect_good(c, TUR, NULL, 0);
	uint8_t r10[12] = { 0x28, 0, 0, 0, 0, 49, 0, 0, 1 };
	expect_good(c, r10, buf, 2048);
	block_pread(b, ref, 2048, 49 * 2048);
	g_assert_cmpmem(buf, 2048, ref, 2048);
	r10[5] = 50;
	expect_sense(c, r10, 0x05, 0x21, 0x00); /* the new capacity */

	/* REQUEST SENSE reports a pending unit attention and clears it */
	g_assert_cmpint(ide_cdrom_change_media(c->dev, 1, 0, b, false, &old, &error), ==, 0);
	sense(c, s);
	g_assert_cmphex(s[0], ==, 0x06);
	g_assert_cmphex(s[1], ==, 0x28);
	expect_good(c, TUR, NULL, 0);

	/* eject from the host: media removal, tray open, NOT READY */
	g_assert_cmpint(ide_cdrom_change_media(c->dev, 1, 0, NULL, false, &old, &error), ==, 0);
	g_assert_true(old == b);
	gesn(c, &ev, &ms);
	g_assert_cmpuint(ev, ==, 3);
	g_assert_cmphex(ms, ==, 0x01);
	expect_sense(c, TUR, 0x02, 0x3A, 0x02);
	expect_sense(c, (const uint8_t[12]){ 0x25 }, 0x02, 0x3A, 0x02);
	g_assert_cmpint(ide_cdrom_change_media(c->dev, 1, 0, b, false, &old, &error), ==, 0);
	g_assert_null(old);
	expect_sense(c, TUR, 0x06, 0x28, 0x00);
	expect_good(c, TUR, NULL, 0);

	/* a position without a CD-ROM drive */
	g_assert_cmpint(ide_cdrom_change_media(c->dev, 0, 0, b, false, &old, &error), ==, -1);
	g_assert_nonnull(error);
	g_clear_pointer(&error, g_free);
	g_assert_cmpint(ide_cdrom_change_media(c->dev, 2, 0, b, false, &old, &error), ==, -1);
	g_clear_pointer(&error, g_free);
	cd_free(c);
}

static void test_tray_and_lock(void)
{
	struct cd *c = cd_new(BLOCKS);
	uint8_t ev, ms;
	struct block_dev *old = NULL, *b = disc(20, 3);
	char *error = NULL;
	expect_good(c, LOCK, NULL, 0);
	expect_sense(c, EJECT, 0x05, 0x53, 0x02);
	g_assert_cmpint(ide_cdrom_change_media(c->dev, 1, 0, b, false, &old, &error), ==, -1);
	g_assert_nonnull(strstr(error, "locked"));
	g_clear_pointer(&error, g_free);
	expect_good(c, TUR, NULL, 0); /* the disc stays... */
	gesn(c, &ev, &ms);
	g_assert_cmpuint(ev, ==, 1); /* ...and the guest hears of an eject request */
	gesn(c, &ev, &ms);
	g_assert_cmpuint(ev, ==, 0); /* reported once */
	/* forced: the change happens, the lock stays */
	g_assert_cmpint(ide_cdrom_change_media(c->dev, 1, 0, b, true, &old, &error), ==, 0);
	g_assert_true(old == c->medium);
	block_close(old);
	c->medium = b;
	expect_sense(c, TUR, 0x06, 0x28, 0x00);
	expect_sense(c, EJECT, 0x05, 0x53, 0x02);
	/* unlocked: the guest opens the tray, then closes it on the same disc */
	expect_good(c, UNLOCK, NULL, 0);
	expect_good(c, EJECT, NULL, 0);
	gesn(c, &ev, &ms);
	g_assert_cmpuint(ev, ==, 3);
	g_assert_cmphex(ms, ==, 0x01);
	expect_sense(c, TUR, 0x02, 0x3A, 0x02);
	expect_good(c, EJECT, NULL, 0); /* already open */
	expect_good(c, LOAD, NULL, 0);
	gesn(c, &ev, &ms);
	g_assert_cmpuint(ev, ==, 2);
	g_assert_cmphex(ms, ==, 0x02);
	expect_sense(c, TUR, 0x06, 0x28, 0x00);
	expect_good(c, TUR, NULL, 0);
	/* closing an empty tray: NOT READY, tray closed */
	g_assert_cmpint(ide_cdrom_change_media(c->dev, 1, 0, NULL, false, &old, &error), ==, 0);
	expect_good(c, LOAD, NULL, 0);
	expect_sense(c, TUR, 0x02, 0x3A, 0x01);
	cd_free(c);
}

/* A disc changed in the middle of a PIO READ: that command ends in CHECK CONDITION. */
static void test_change_mid_read(void)
{
	struct cd *c = cd_new(BLOCKS);
	static const uint8_t r10[12] = { 0x28, 0, 0, 0, 0, 0, 0, 0, 3 };
	send_packet(c, r10, 2048);
	g_assert_cmphex(status(c), ==, DRDY | DSC | DRQ);
	for (int i = 0; i < 1024; i++)
		(void)fake_inw(c->env, CMD);
	g_assert_cmphex(status(c), ==, DRDY | DSC | DRQ); /* block 2 */
	struct block_dev *old = NULL, *b = disc(20, 4);
	char *error = NULL;
	g_assert_cmpint(ide_cdrom_change_media(c->dev, 1, 0, b, false, &old, &error), ==, 0);
	block_close(old);
	c->medium = b;
	g_assert_cmpint(irq_level(c), ==, 1);
	g_assert_cmphex(ireason(c), ==, IO | COD);
	g_assert_cmphex(status(c), ==, DRDY | DSC | ERR);
	g_assert_cmphex(in8(c, 1), ==, 0x20);
	g_assert_cmphex(fake_inw(c->env, CMD), ==, 0xFFFF);
	expect_sense(c, TUR, 0x06, 0x28, 0x00);
	expect_good(c, TUR, NULL, 0);
	cd_free(c);
}

/* ---- hostile guests ---- */

/* Every opcode with random fields and limits: always an ending, never BSY, never stuck. */
static void test_random_packets(void)
{
	struct cd *c = cd_new(BLOCKS);
	GRand *rnd = g_rand_new_with_seed(4321);
	for (int round = 0; round < 6; round++) {
		for (unsigned op = 0; op < 256; op++) {
			uint8_t cdb[12] = { op };
			for (int i = 1; i < 12; i++)
				cdb[i] = round == 0 ? 0 : g_rand_int(rnd);
			if (op == 0x1B && (cdb[4] & 3) == 2)
				cdb[4] = 0; /* keep the disc in for the next commands */
			static const uint16_t limits[] = { 0, 1, 2, 3, 511, 2048, 0xFFFF };
			uint16_t limit = limits[g_rand_int_range(rnd, 0, G_N_ELEMENTS(limits))];
			send_packet(c, cdb, limit);
			for (int guard = 0; guard < 300000 && (altstatus(c) & DRQ); guard++) {
				g_assert_false(altstatus(c) & BSY);
				if (ireason(c) & IO)
					(void)fake_inw(c->env, CMD);
				else
					fake_outw(c->env, CMD, g_rand_int(rnd));
			}
			uint8_t st = status(c);
			g_assert_cmphex(st & (BSY | DRQ), ==, 0);
			g_assert_cmphex(ireason(c), ==, IO | COD);
		}
	}
	/* garbage on the data port outside any phase */
	for (int i = 0; i < 1000; i++) {
		fake_outw(c->env, CMD, g_rand_int(rnd));
		(void)fake_inl(c->env, CMD);
	}
	uint8_t s[3];
	sense(c, s); /* whatever unit attention the commands left */
	expect_good(c, UNLOCK, NULL, 0);
	expect_good(c, LOAD, NULL, 0);
	sense(c, s);
	expect_good(c, TUR, NULL, 0);
	g_rand_free(rnd);
	cd_free(c);
}

/* ---- state ---- */

static GByteArray *save(struct cd *c)
{
	GByteArray *out = g_byte_array_new();
	pthread_mutex_lock(&c->dev->lock);
	state_save(piix_ide_class.state, c->dev, out);
	pthread_mutex_unlock(&c->dev->lock);
	return out;
}

static int load(struct cd *c, GByteArray *s, char **error)
{
	pthread_mutex_lock(&c->dev->lock);
	int ret = state_load(piix_ide_class.state, c->dev, s->data, s->len, error);
	pthread_mutex_unlock(&c->dev->lock);
	return ret;
}

/* Mid-READ and mid-packet states travel with the lock, the sense data and the interrupt. */
static void test_state_round_trip(void)
{
	struct cd *a = cd_new(BLOCKS);
	expect_good(a, LOCK, NULL, 0);
	static const uint8_t r10[12] = { 0x28, 0, 0, 0, 0, 7, 0, 0, 3 };
	uint8_t got[3 * 2048], ref[3 * 2048];
	block_pread(a->medium, ref, sizeof(ref), 7 * 2048);
	send_packet(a, r10, 1000);
	(void)status(a);
	for (int i = 0; i < 200; i++) { /* 400 of the first DRQ block's 1000 bytes */
		uint16_t w = fake_inw(a->env, CMD);
		got[2 * i] = w;
		got[2 * i + 1] = w >> 8;
	}
	GByteArray *s = save(a);
	struct cd *b = cd_new_with(a->medium, NULL);
	a->medium = NULL;
	cd_free(a);
	char *error = NULL;
	g_assert_cmpint(load(b, s, &error), ==, 0);
	g_assert_null(error);
	GByteArray *again = save(b); /* exact round trip */
	g_assert_cmpmem(s->data, s->len, again->data, again->len);
	g_byte_array_free(again, TRUE);
	for (int i = 200; i < 500; i++) { /* the rest of that block */
		uint16_t w = fake_inw(b->env, CMD);
		got[2 * i] = w;
		got[2 * i + 1] = w >> 8;
	}
	struct reply rest = { 0 };
	read_blocks(b, got + 1000, sizeof(got) - 1000, &rest);
	g_assert_cmpuint(rest.len, ==, sizeof(got) - 1000);
	g_assert_cmpmem(got, sizeof(got), ref, sizeof(ref));
	g_assert_cmphex(status(b), ==, DRDY | DSC);
	expect_sense(b, EJECT, 0x05, 0x53, 0x02); /* the lock came along */
	g_byte_array_free(s, TRUE);

	/* the packet phase, half a packet in */
	send_packet(b, TUR, 0);
	out8(b, 7, 0xA0);
	fake_outw(b->env, CMD, 0x0025); /* READ CAPACITY ... */
	s = save(b);
	struct cd *c = cd_new_with(b->medium, NULL);
	b->medium = NULL;
	cd_free(b);
	g_assert_cmpint(load(c, s, NULL), ==, 0);
	for (int i = 0; i < 5; i++)
		fake_outw(c->env, CMD, 0);
	uint8_t cap[8];
	read_blocks(c, cap, sizeof(cap), &(struct reply){ 0 });
	g_assert_cmpuint(be32(cap), ==, BLOCKS - 1);
	g_assert_cmphex(status(c), ==, DRDY | DSC);
	g_byte_array_free(s, TRUE);
	cd_free(c);
}

/* A unit attention and a media event still to report survive a save and load. */
static void test_state_unit_attention(void)
{
	struct cd *a = cd_new(BLOCKS);
	struct block_dev *old = NULL;
	char *error = NULL;
	int ret = ide_cdrom_change_media(a->dev, 1, 0, a->medium, false, &old, &error);
	g_assert_cmpint(ret, ==, 0);
	GByteArray *s = save(a);
	struct cd *b = cd_new_with(a->medium, NULL);
	a->medium = NULL;
	cd_free(a);
	g_assert_cmpint(load(b, s, NULL), ==, 0);
	uint8_t ev, ms;
	gesn(b, &ev, &ms);
	g_assert_cmpuint(ev, ==, 2);
	expect_sense(b, TUR, 0x06, 0x28, 0x00);
	g_byte_array_free(s, TRUE);
	cd_free(b);
}

/* Random drive fields: refused, or a device that still behaves. */
static void test_state_hostile(void)
{
	struct cd *src = cd_new(BLOCKS);
	struct cd *dst = cd_new_with(src->medium, NULL);
	GRand *rnd = g_rand_new_with_seed(77);
	unsigned refused = 0, accepted = 0;
	for (int iter = 0; iter < 500; iter++) {
		struct ide_drive *d = &src->dev->chan[1].drive[0];
		static const uint8_t ops[] = { 0x28, 0xA8, 0xBE, 0x55, 0x12, 0x00, 0x03, 0xFF };
		d->xfer = g_rand_int_range(rnd, 0, 7);
		d->cmd = g_rand_boolean(rnd) ? 0xA0 : g_rand_int(rnd);
		d->atapi.cdb[0] = ops[g_rand_int_range(rnd, 0, G_N_ELEMENTS(ops))];
		d->dma = g_rand_int_range(rnd, 0, 2);
		d->io_op = g_rand_int_range(rnd, 0, 3);
		d->lba = g_rand_int_range(rnd, 0, BLOCKS + 3);
		d->remaining = g_rand_int_range(rnd, 0, 10);
		d->block = g_rand_int_range(rnd, 0, 70);
		d->buf_len = g_rand_int_range(rnd, 0, IDE_BUF_SIZE + 10);
		d->drq_end = g_rand_int_range(rnd, 0, d->buf_len + 2);
		d->buf_pos = g_rand_int_range(rnd, 0, d->drq_end + 2);
		d->byte_limit = g_rand_int(rnd);
		d->atapi.tray_open = g_rand_int_range(rnd, 0, 3) == 0;
		d->atapi.sense_key = g_rand_int_range(rnd, 0, 17);
		d->atapi.media_event = g_rand_int_range(rnd, 0, 5);
		d->status = DRDY | DSC;
		GByteArray *st = save(src);
		char *error = NULL;
		if (load(dst, st, &error) < 0) {
			refused++;
			g_free(error);
		} else {
			accepted++;
		}
		for (int i = 0; i < 20000 && (altstatus(dst) & DRQ); i++) {
			(void)fake_inw(dst->env, CMD);
			fake_outw(dst->env, CMD, i);
		}
		out8(dst, 6, 0xA0);
		out8(dst, 7, 0x08); /* DEVICE RESET brings any state back */
		g_assert_cmphex(status(dst), ==, 0);
		g_byte_array_free(st, TRUE);
		piix_ide_class.reset(src->dev);
	}
	g_assert_cmpuint(refused, >, 0);
	g_assert_cmpuint(accepted, >, 0);
	piix_ide_class.reset(dst->dev);
	expect_good(dst, TUR, NULL, 0);
	g_rand_free(rnd);
	dst->medium = NULL;
	cd_free(dst);
	cd_free(src);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/atapi/media/change", test_media_change);
	g_test_add_func("/atapi/media/tray-and-lock", test_tray_and_lock);
	g_test_add_func("/atapi/media/change-mid-read", test_change_mid_read);
	g_test_add_func("/atapi/hostile/random-packets", test_random_packets);
	g_test_add_func("/atapi/state/round-trip", test_state_round_trip);
	g_test_add_func("/atapi/state/unit-attention", test_state_unit_attention);
	g_test_add_func("/atapi/state/hostile", test_state_hostile);
	return g_test_run();
}
