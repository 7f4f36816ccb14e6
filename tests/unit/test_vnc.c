/*
 * The VNC server against a fake display, driven by a minimal RFB 3.8 client written here, and
 * PNG screenshots read back with libpng. The server runs on its own thread; the test's main
 * loop only delivers the input it queues (key() and pointer() run there). libvncserver is not
 * linked: the server loads it for its first viewer, which /vnc/lazy-load checks in a process
 * of its own, and /vnc/no-library what a viewer gets when it cannot.
 */
#include <dlfcn.h>
#include <errno.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <netinet/in.h>
#include <png.h>
#include <poll.h>
#include <pthread.h>
#include <rfb/rfbproto.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "ui/display.h"
#include "ui/screenshot.h"
#include "ui/vnc.h"
#include "ui/vnc_lib.h"

#define TIMEOUT_US (5 * G_USEC_PER_SEC)

/* ---- a fake display: a test pattern, recording input ---- */

struct key_event {
	unsigned qnum;
	bool down;
};

struct ptr_event {
	int dx, dy, dz;
	unsigned buttons;
};

/* The test draws into PIXELS (SURF) on its thread; refresh(), on the server's, copies the
 * picture into FRONT and hands that out, as the VGA renders VRAM into its surface. LOCK covers
 * the picture, PENDING and REFRESHES. */
struct fake_display {
	pthread_mutex_t lock;
	uint32_t *pixels;
	struct display_surface surf;
	struct display_update pending;
	uint32_t *front;
	struct display_surface front_surf;
	unsigned refreshes;
	struct key_event keys[64];
	unsigned nkeys;
	struct ptr_event ptrs[64];
	unsigned nptrs;
};

static uint32_t pattern(unsigned x, unsigned y, unsigned salt)
{
	return ((x * 7 + salt) & 0xFF) << 16 | ((y * 5) & 0xFF) << 8 | ((x ^ y ^ salt) & 0xFF);
}

static void fake_init(struct fake_display *d)
{
	memset(d, 0, sizeof(*d));
	pthread_mutex_init(&d->lock, NULL);
}

static void fake_clear(struct fake_display *d)
{
	pthread_mutex_destroy(&d->lock);
	g_free(d->pixels);
	g_free(d->front);
}

/* Fills the whole surface of W x H (stride W + 3, to catch stride bugs); RESIZED: report a
 * new mode even if the size stays. */
static void fake_fill_mode(struct fake_display *d, unsigned w, unsigned h, unsigned salt,
			   bool resized)
{
	unsigned stride = w + 3;
	pthread_mutex_lock(&d->lock);
	if (w != d->surf.width || h != d->surf.height) {
		g_free(d->pixels);
		d->pixels = g_new0(uint32_t, (size_t)stride * h);
		resized = true;
	}
	for (unsigned y = 0; y < h; y++)
		for (unsigned x = 0; x < w; x++)
			d->pixels[y * stride + x] = pattern(x, y, salt);
	d->surf = (struct display_surface){ d->pixels, w, h, stride };
	d->pending.resized |= resized;
	pthread_mutex_unlock(&d->lock);
}

static void fake_fill(struct fake_display *d, unsigned w, unsigned h, unsigned salt)
{
	fake_fill_mode(d, w, h, salt, false);
}

/* Reports X,Y W x H as changed (without drawing: it may lie outside the surface). */
static void fake_report(struct fake_display *d, unsigned x, unsigned y, unsigned w, unsigned h)
{
	pthread_mutex_lock(&d->lock);
	g_assert_cmpuint(d->pending.nrects, <, DISPLAY_MAX_RECTS);
	d->pending.rects[d->pending.nrects++] = (struct display_rect){ x, y, w, h };
	pthread_mutex_unlock(&d->lock);
}

static void fake_dirty(struct fake_display *d, unsigned x, unsigned y, unsigned w, unsigned h,
		       uint32_t color)
{
	pthread_mutex_lock(&d->lock);
	for (unsigned row = y; row < y + h; row++)
		for (unsigned col = x; col < x + w; col++)
			d->pixels[row * d->surf.stride + col] = color;
	pthread_mutex_unlock(&d->lock);
	fake_report(d, x, y, w, h);
}

static unsigned fake_refreshes(struct fake_display *d)
{
	pthread_mutex_lock(&d->lock);
	unsigned n = d->refreshes;
	pthread_mutex_unlock(&d->lock);
	return n;
}

/* Whether a refresh has taken every change reported so far. */
static bool fake_taken(struct fake_display *d)
{
	pthread_mutex_lock(&d->lock);
	bool taken = !d->pending.resized && !d->pending.nrects;
	pthread_mutex_unlock(&d->lock);
	return taken;
}

static const struct display_surface *fake_refresh(void *opaque, struct display_update *up)
{
	struct fake_display *d = opaque;
	pthread_mutex_lock(&d->lock);
	const struct display_surface *s = &d->surf;
	if (s->width != d->front_surf.width || s->height != d->front_surf.height) {
		g_free(d->front);
		d->front = g_new(uint32_t, (size_t)s->stride * s->height);
	}
	memcpy(d->front, s->pixels, (size_t)s->stride * s->height * 4);
	d->front_surf = (struct display_surface){ d->front, s->width, s->height, s->stride };
	*up = d->pending;
	memset(&d->pending, 0, sizeof(d->pending));
	d->refreshes++;
	pthread_mutex_unlock(&d->lock);
	return &d->front_surf;
}

static void fake_key(void *opaque, unsigned qnum, bool down)
{
	struct fake_display *d = opaque;
	g_assert_cmpuint(d->nkeys, <, G_N_ELEMENTS(d->keys));
	d->keys[d->nkeys++] = (struct key_event){ qnum, down };
}

static void fake_pointer(void *opaque, int dx, int dy, int dz, unsigned buttons)
{
	struct fake_display *d = opaque;
	g_assert_cmpuint(d->nptrs, <, G_N_ELEMENTS(d->ptrs));
	d->ptrs[d->nptrs++] = (struct ptr_event){ dx, dy, dz, buttons };
}

struct fixture {
	char *dir;
	char *sock;
	struct fake_display d;
	struct display_ops ops;
	struct vnc_server *vnc;
};

static void fixture_start_sized(struct fixture *f, unsigned w, unsigned h, const char *layout,
				const char *password)
{
	f->dir = g_dir_make_tmp("pcvm-vnc-XXXXXX", NULL);
	g_assert_nonnull(f->dir);
	f->sock = g_build_filename(f->dir, "vnc.sock", NULL);
	fake_init(&f->d);
	fake_fill(&f->d, w, h, 0);
	f->ops = (struct display_ops){ fake_refresh, fake_key, fake_pointer, &f->d };
	struct vnc_options o = { .unix_path = f->sock, .keyboard_layout = layout,
				 .password = password };
	char *err = NULL;
	f->vnc = vnc_server_new(&f->ops, &o, &err);
	if (!f->vnc)
		g_error("vnc_server_new: %s", err);
}

static void fixture_start(struct fixture *f, const char *layout, const char *password)
{
	fixture_start_sized(f, 64, 48, layout, password);
}

static void fixture_stop(struct fixture *f)
{
	vnc_server_free(f->vnc);
	g_assert_false(g_file_test(f->sock, G_FILE_TEST_EXISTS));
	g_rmdir(f->dir);
	fake_clear(&f->d);
	g_free(f->sock);
	g_free(f->dir);
}

/* One iteration of the test's main loop, timed: the server's thread delivers input through it
 * (the VM's loop, in pcvm), and it must never be held for long. */
static gint64 max_iteration_us;

static void iterate(void)
{
	gint64 t0 = g_get_monotonic_time();
	g_main_context_iteration(NULL, FALSE);
	max_iteration_us = MAX(max_iteration_us, g_get_monotonic_time() - t0);
}

/* Runs the main loop until COND holds; fails after TIMEOUT_US. */
#define PUMP_UNTIL(cond)                                                                           \
	do {                                                                                       \
		gint64 end_ = g_get_monotonic_time() + TIMEOUT_US;                                 \
		while (!(cond)) {                                                                  \
			if (g_get_monotonic_time() > end_)                                         \
				g_error("timed out waiting for %s", #cond);                        \
			iterate();                                     \
			g_usleep(1000);                                                            \
		}                                                                                  \
	} while (0)

static void pump_for(unsigned ms)
{
	gint64 end = g_get_monotonic_time() + ms * 1000;
	while (g_get_monotonic_time() < end) {
		iterate();
		g_usleep(1000);
	}
}

/* ---- a minimal RFB client ---- */

struct client {
	int fd;
	unsigned w, h;
	uint32_t *fb;
	/* what the last update held */
	unsigned rects, raw_pixels;
	bool got_desktop_size, got_ext_key_ack;
};

static int sock_connect(const char *path)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	g_strlcpy(sa.sun_path, path, sizeof(sa.sun_path));
	g_assert_cmpint(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), ==, 0);
	return fd;
}

/* Reads N bytes while the server runs; false if the server closed the connection. */
static bool try_read(int fd, void *buf, size_t n)
{
	size_t got = 0;
	gint64 end = g_get_monotonic_time() + TIMEOUT_US;
	while (got < n) {
		ssize_t r = recv(fd, (char *)buf + got, n - got, MSG_DONTWAIT);
		if (r > 0) {
			got += r;
			continue;
		}
		if (r == 0 || (errno != EAGAIN && errno != EINTR))
			return false;
		if (g_get_monotonic_time() > end)
			g_error("timed out reading %zu bytes (got %zu)", n, got);
		iterate();
		struct pollfd p = { .fd = fd, .events = POLLIN };
		poll(&p, 1, 1);
	}
	return true;
}

static void must_read(int fd, void *buf, size_t n)
{
	if (!try_read(fd, buf, n))
		g_error("server closed the connection");
}

static void must_write(int fd, const void *buf, size_t n)
{
	g_assert_cmpint(send(fd, buf, n, MSG_NOSIGNAL), ==, (ssize_t)n);
}

/* The server hung up: reads hit end of file. */
static void expect_closed(int fd)
{
	char b[256];
	gint64 end = g_get_monotonic_time() + TIMEOUT_US;
	for (;;) {
		ssize_t r = recv(fd, b, sizeof(b), MSG_DONTWAIT);
		if (r == 0 || (r < 0 && errno == ECONNRESET))
			return;
		if (g_get_monotonic_time() > end)
			g_error("server did not close the connection");
		iterate();
		g_usleep(1000);
	}
}

static uint16_t rd16(const uint8_t *p)
{
	return p[0] << 8 | p[1];
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | p[1] << 16 | p[2] << 8 | p[3];
}

static void wr16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = v;
}

static void wr32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = v >> 16;
	p[2] = v >> 8;
	p[3] = v;
}

/* Whether the process has libvncserver mapped (RTLD_NOLOAD loads nothing). */
static bool lib_mapped(void)
{
	void *lib = dlopen(VNC_LIB_SONAME, RTLD_NOW | RTLD_NOLOAD);
	if (lib)
		dlclose(lib);
	return lib != NULL;
}

/* VNC authentication's DES response (RFB 3.8 §7.2.2), computed by libvncserver's own
 * rfbEncryptBytes: the server has loaded it by the time it sends a challenge. */
static void encrypt_challenge(uint8_t *challenge, const char *password)
{
	void *lib = dlopen(VNC_LIB_SONAME, RTLD_NOW | RTLD_NOLOAD);
	g_assert_nonnull(lib);
	__typeof__(rfbEncryptBytes) *encrypt =
		(__typeof__(rfbEncryptBytes) *)dlsym(lib, "rfbEncryptBytes");
	g_assert_nonnull(encrypt);
	encrypt(challenge, (char *)password);
	dlclose(lib);
}

/* Version, security, ClientInit, ServerInit; then SetPixelFormat 32 bpp (0x00RRGGBB, little
 * endian). False if authentication failed. */
static bool client_handshake(struct client *c, const char *password)
{
	char version[13] = { 0 };
	must_read(c->fd, version, 12);
	g_assert_cmpstr(version, ==, "RFB 003.008\n");
	must_write(c->fd, "RFB 003.008\n", 12);
	uint8_t n, types[16];
	must_read(c->fd, &n, 1);
	g_assert_cmpuint(n, >, 0);
	g_assert_cmpuint(n, <=, sizeof(types));
	must_read(c->fd, types, n);
	uint8_t want = password ? rfbSecTypeVncAuth : rfbSecTypeNone;
	g_assert_nonnull(memchr(types, want, n));
	must_write(c->fd, &want, 1);
	if (password) {
		uint8_t challenge[CHALLENGESIZE];
		must_read(c->fd, challenge, sizeof(challenge));
		encrypt_challenge(challenge, password);
		must_write(c->fd, challenge, sizeof(challenge));
	}
	uint8_t result[4];
	must_read(c->fd, result, 4);
	if (rd32(result) != 0)
		return false;
	uint8_t shared = 1, init[24];
	must_write(c->fd, &shared, 1);
	must_read(c->fd, init, sizeof(init));
	c->w = rd16(init);
	c->h = rd16(init + 2);
	g_assert_cmpuint(init[4], ==, 32); /* server bpp */
	char name[64] = { 0 };
	uint32_t len = rd32(init + 20);
	g_assert_cmpuint(len, <, sizeof(name));
	must_read(c->fd, name, len);
	g_assert_cmpstr(name, ==, "pcvm");
	c->fb = g_new0(uint32_t, (size_t)c->w * c->h);

	uint8_t spf[20] = { rfbSetPixelFormat };
	uint8_t *pf = spf + 4;
	pf[0] = 32;      /* bpp */
	pf[1] = 24;      /* depth */
	pf[2] = 0;       /* little endian */
	pf[3] = 1;       /* true colour */
	wr16(pf + 4, 255);
	wr16(pf + 6, 255);
	wr16(pf + 8, 255);
	pf[10] = 16;
	pf[11] = 8;
	pf[12] = 0;
	must_write(c->fd, spf, sizeof(spf));
	return true;
}

static void client_set_encodings(struct client *c, const int32_t *enc, unsigned n)
{
	uint8_t msg[4 + 4 * 8] = { rfbSetEncodings };
	g_assert_cmpuint(n, <=, 8);
	wr16(msg + 2, n);
	for (unsigned i = 0; i < n; i++)
		wr32(msg + 4 + 4 * i, (uint32_t)enc[i]);
	must_write(c->fd, msg, 4 + 4 * n);
}

static void client_request(struct client *c, bool incremental)
{
	uint8_t msg[10] = { rfbFramebufferUpdateRequest, incremental };
	wr16(msg + 6, c->w);
	wr16(msg + 8, c->h);
	must_write(c->fd, msg, sizeof(msg));
}

/* Reads server messages until a framebuffer update has been applied. */
static void client_read_update(struct client *c)
{
	uint8_t hdr[4];
	for (;;) {
		must_read(c->fd, hdr, 1);
		if (hdr[0] == rfbFramebufferUpdate)
			break;
		g_error("unexpected server message %u", hdr[0]);
	}
	must_read(c->fd, hdr + 1, 3);
	unsigned n = rd16(hdr + 2);
	c->rects = n;
	c->raw_pixels = 0;
	c->got_desktop_size = c->got_ext_key_ack = false;
	for (unsigned i = 0; i < n; i++) {
		uint8_t r[12];
		must_read(c->fd, r, sizeof(r));
		unsigned x = rd16(r), y = rd16(r + 2), w = rd16(r + 4), h = rd16(r + 6);
		int32_t enc = (int32_t)rd32(r + 8);
		if (enc == (int32_t)rfbEncodingNewFBSize) {
			c->w = w;
			c->h = h;
			g_free(c->fb);
			c->fb = g_new0(uint32_t, (size_t)w * h);
			c->got_desktop_size = true;
			continue;
		}
		if (enc == (int32_t)rfbEncodingQemuExtendedKeyEvent) {
			c->got_ext_key_ack = true;
			continue;
		}
		g_assert_cmpint(enc, ==, rfbEncodingRaw);
		g_assert_cmpuint(x + w, <=, c->w);
		g_assert_cmpuint(y + h, <=, c->h);
		for (unsigned row = 0; row < h; row++)
			must_read(c->fd, c->fb + (size_t)(y + row) * c->w + x, (size_t)w * 4);
		c->raw_pixels += w * h;
	}
}

static void expect_same(const struct display_surface *got, const struct display_surface *s)
{
	g_assert_cmpuint(got->width, ==, s->width);
	g_assert_cmpuint(got->height, ==, s->height);
	for (unsigned y = 0; y < s->height; y++)
		g_assert_cmpmem(got->pixels + (size_t)y * got->stride, s->width * 4,
				s->pixels + (size_t)y * s->stride, s->width * 4);
}

/* A screenshot through the server: a copy of the display's picture. */
static void expect_capture(struct fixture *f)
{
	struct display_surface *shot = vnc_server_capture(f->vnc);
	g_assert_nonnull(shot);
	expect_same(shot, &f->d.surf);
	g_free(shot);
}

static void client_expect_frame(struct client *c, const struct display_surface *s)
{
	g_assert_cmpuint(c->w, ==, s->width);
	g_assert_cmpuint(c->h, ==, s->height);
	for (unsigned y = 0; y < s->height; y++)
		for (unsigned x = 0; x < s->width; x++)
			if ((c->fb[y * c->w + x] & 0xFFFFFF) != s->pixels[y * s->stride + x])
				g_error("pixel %u,%u: 0x%06x, expected 0x%06x", x, y,
					c->fb[y * c->w + x] & 0xFFFFFF,
					s->pixels[y * s->stride + x]);
}

static struct client *client_connect(struct fixture *f, const int32_t *enc, unsigned nenc)
{
	struct client *c = g_new0(struct client, 1);
	c->fd = sock_connect(f->sock);
	g_assert_true(client_handshake(c, NULL));
	client_set_encodings(c, enc, nenc);
	return c;
}

static void client_free(struct client *c)
{
	close(c->fd);
	g_free(c->fb);
	g_free(c);
}

static void send_key(struct client *c, bool down, uint32_t keysym)
{
	uint8_t msg[8] = { rfbKeyEvent, down };
	wr32(msg + 4, keysym);
	must_write(c->fd, msg, sizeof(msg));
}

static void send_pointer(struct client *c, uint8_t mask, unsigned x, unsigned y)
{
	uint8_t msg[6] = { rfbPointerEvent, mask };
	wr16(msg + 2, x);
	wr16(msg + 4, y);
	must_write(c->fd, msg, sizeof(msg));
}

static const int32_t raw_only[] = { rfbEncodingRaw };

/* ---- tests ---- */

static void test_frame(void)
{
	struct fixture f = { 0 };
	fixture_start(&f, NULL, NULL);
	struct stat st;
	g_assert_cmpint(stat(f.sock, &st), ==, 0);
	g_assert_cmpuint(st.st_mode & 0777, ==, 0600); /* the owner's, like the VM bundle */
	struct client *c = client_connect(&f, raw_only, 1);
	PUMP_UNTIL(vnc_server_clients(f.vnc) == 1);
	client_request(c, false);
	client_read_update(c);
	client_expect_frame(c, &f.d.surf);

	/* a change: only the dirty rectangles travel (both, once a refresh has taken them: the
	 * server's tick runs on its own) */
	fake_dirty(&f.d, 10, 5, 7, 3, 0x123456);
	fake_dirty(&f.d, 40, 30, 4, 4, 0xABCDEF);
	PUMP_UNTIL(fake_taken(&f.d));
	client_request(c, true);
	client_read_update(c);
	client_expect_frame(c, &f.d.surf);
	g_assert_cmpuint(c->raw_pixels, ==, 7 * 3 + 4 * 4);

	/* a change outside the surface is clipped, not a crash */
	fake_report(&f.d, 60, 40, 100, 100);
	fake_report(&f.d, 1000, 0, 5, 5);
	PUMP_UNTIL(fake_taken(&f.d));
	client_request(c, true);
	client_read_update(c);
	g_assert_cmpuint(c->raw_pixels, ==, 4 * 8);

	/* a screenshot through the server: a copy of the picture, and the change it refreshes
	 * still reaches the viewer */
	fake_dirty(&f.d, 20, 20, 5, 5, 0x0000FF);
	expect_capture(&f);
	client_request(c, true);
	client_read_update(c);
	client_expect_frame(c, &f.d.surf);
	g_assert_cmpuint(c->raw_pixels, ==, 5 * 5);

	/* no viewer, no refreshes */
	client_free(c);
	PUMP_UNTIL(vnc_server_clients(f.vnc) == 0);
	unsigned refreshes = fake_refreshes(&f.d);
	pump_for(150);
	g_assert_cmpuint(fake_refreshes(&f.d), ==, refreshes);
	fixture_stop(&f);
}

static void test_resize(void)
{
	struct fixture f = { 0 };
	fixture_start(&f, NULL, NULL);
	const int32_t enc[] = { rfbEncodingRaw, (int32_t)rfbEncodingNewFBSize };
	struct client *c = client_connect(&f, enc, 2);
	client_request(c, false);
	client_read_update(c);
	client_expect_frame(c, &f.d.surf);

	fake_fill(&f.d, 100, 30, 9);
	client_request(c, true);
	client_read_update(c);
	if (!c->got_desktop_size || c->raw_pixels < 100 * 30) {
		/* DesktopSize first, the new picture with the next request */
		g_assert_true(c->got_desktop_size);
		client_request(c, false);
		client_read_update(c);
	}
	g_assert_cmpuint(c->w, ==, 100);
	g_assert_cmpuint(c->h, ==, 30);
	client_expect_frame(c, &f.d.surf);

	/* same size, "resized" (e.g. a mode change): all of it again */
	fake_fill_mode(&f.d, 100, 30, 77, true);
	client_request(c, true);
	client_read_update(c);
	client_expect_frame(c, &f.d.surf);
	client_free(c);
	fixture_stop(&f);
}

static void expect_keys(struct fake_display *d, const struct key_event *e, unsigned n)
{
	PUMP_UNTIL(d->nkeys >= n);
	pump_for(20);
	for (unsigned i = 0; i < MIN(n, d->nkeys); i++)
		if (d->keys[i].qnum != e[i].qnum || d->keys[i].down != e[i].down)
			g_error("key %u: 0x%02x %s, expected 0x%02x %s", i, d->keys[i].qnum,
				d->keys[i].down ? "down" : "up", e[i].qnum,
				e[i].down ? "down" : "up");
	g_assert_cmpuint(d->nkeys, ==, n);
	d->nkeys = 0;
}

#define EXPECT_KEYS(d, ...)                                                                        \
	do {                                                                                       \
		const struct key_event e_[] = { __VA_ARGS__ };                                     \
		expect_keys(d, e_, G_N_ELEMENTS(e_));                                              \
	} while (0)

static void test_keys(void)
{
	struct fixture f = { 0 };
	fixture_start(&f, NULL, NULL);
	struct client *c = client_connect(&f, raw_only, 1);
	send_key(c, true, 'a');
	send_key(c, false, 'a');
	EXPECT_KEYS(&f.d, { 0x1E, true }, { 0x1E, false });

	/* 'A' without Shift held: the layout's Shift is pressed around it */
	send_key(c, true, 'A');
	send_key(c, false, 'A');
	EXPECT_KEYS(&f.d, { 0x2A, true }, { 0x1E, true }, { 0x2A, false }, { 0x1E, false });

	/* with Shift held by the viewer, and released before the key (X sends 'a' then) */
	send_key(c, true, 0xFFE1); /* Shift_L */
	send_key(c, true, 'A');
	send_key(c, false, 0xFFE1);
	send_key(c, false, 'a');
	EXPECT_KEYS(&f.d, { 0x2A, true }, { 0x1E, true }, { 0x2A, false }, { 0x1E, false });

	/* Return, Left, Print Screen (without Alt: the Print key, with its own qnum) */
	send_key(c, true, 0xFF0D);
	send_key(c, false, 0xFF0D);
	send_key(c, true, 0xFF51);
	send_key(c, false, 0xFF51);
	send_key(c, true, 0xFF61);
	send_key(c, false, 0xFF61);
	EXPECT_KEYS(&f.d, { 0x1C, true }, { 0x1C, false }, { 0xCB, true }, { 0xCB, false },
		    { 0xB7, true }, { 0xB7, false });
	/* Alt+Print is SysRq */
	send_key(c, true, 0xFFE9); /* Alt_L */
	send_key(c, true, 0xFF61);
	send_key(c, false, 0xFF61);
	send_key(c, false, 0xFFE9);
	EXPECT_KEYS(&f.d, { 0x38, true }, { 0x54, true }, { 0x54, false }, { 0x38, false });

	/* a release without a press, a keysym no key types: nothing */
	send_key(c, false, 'q');
	send_key(c, true, 0x12345678);
	pump_for(50);
	g_assert_cmpuint(f.d.nkeys, ==, 0);

	/* QEMU extended key events: acknowledged, then raw scan codes */
	const int32_t enc[] = { rfbEncodingRaw, (int32_t)rfbEncodingQemuExtendedKeyEvent };
	client_set_encodings(c, enc, 2);
	client_read_update(c);
	g_assert_true(c->got_ext_key_ack);
	uint8_t ext[12] = { rfbQemuEvent, 0 };
	wr16(ext + 2, 1);
	wr32(ext + 4, 0xFF52); /* keysym Up, ignored */
	wr32(ext + 8, 0xC8);   /* Up arrow: E0 48 */
	must_write(c->fd, ext, sizeof(ext));
	wr16(ext + 2, 0);
	must_write(c->fd, ext, sizeof(ext));
	wr16(ext + 2, 1);
	wr32(ext + 8, 0x2C); /* the key left of X, whatever the keysym */
	must_write(c->fd, ext, sizeof(ext));
	EXPECT_KEYS(&f.d, { 0xC8, true }, { 0xC8, false }, { 0x2C, true });

	/* a viewer that goes away leaves no key down */
	send_key(c, true, 'b');
	PUMP_UNTIL(f.d.nkeys == 1);
	client_free(c);
	PUMP_UNTIL(vnc_server_clients(f.vnc) == 0);
	EXPECT_KEYS(&f.d, { 0x30, true }, { 0x2C, false }, { 0x30, false });
	fixture_stop(&f);
}

static void test_keys_de(void)
{
	struct fixture f = { 0 };
	fixture_start(&f, "de", NULL);
	struct client *c = client_connect(&f, raw_only, 1);
	send_key(c, true, 'z');
	send_key(c, false, 'z');
	send_key(c, true, 'y');
	send_key(c, false, 'y');
	EXPECT_KEYS(&f.d, { 0x15, true }, { 0x15, false }, { 0x2C, true }, { 0x2C, false });
	send_key(c, true, '@');
	send_key(c, false, '@');
	EXPECT_KEYS(&f.d, { 0xB8, true }, { 0x10, true }, { 0xB8, false }, { 0x10, false });
	send_key(c, true, 0xE4); /* adiaeresis */
	send_key(c, false, 0xE4);
	EXPECT_KEYS(&f.d, { 0x28, true }, { 0x28, false });
	client_free(c);
	fixture_stop(&f);
}

static void expect_ptr(struct fake_display *d, int dx, int dy, int dz, unsigned buttons)
{
	PUMP_UNTIL(d->nptrs >= 1);
	g_assert_cmpuint(d->nptrs, ==, 1);
	g_assert_cmpint(d->ptrs[0].dx, ==, dx);
	g_assert_cmpint(d->ptrs[0].dy, ==, dy);
	g_assert_cmpint(d->ptrs[0].dz, ==, dz);
	g_assert_cmpuint(d->ptrs[0].buttons, ==, buttons);
	d->nptrs = 0;
}

static void test_pointer(void)
{
	struct fixture f = { 0 };
	fixture_start(&f, NULL, NULL);
	struct client *c = client_connect(&f, raw_only, 1);
	send_pointer(c, 0, 10, 10); /* the first position: no motion yet */
	send_pointer(c, 1, 15, 13);
	expect_ptr(&f.d, 5, 3, 0, DISPLAY_BUTTON_LEFT);
	send_pointer(c, 1, 12, 20);
	expect_ptr(&f.d, -3, 7, 0, DISPLAY_BUTTON_LEFT);
	send_pointer(c, 4, 12, 20);
	expect_ptr(&f.d, 0, 0, 0, DISPLAY_BUTTON_RIGHT);
	send_pointer(c, 0, 12, 20);
	expect_ptr(&f.d, 0, 0, 0, 0);
	/* wheel: a press of button 4 (up) or 5 (down) is one step */
	send_pointer(c, 8, 12, 20);
	expect_ptr(&f.d, 0, 0, -1, 0);
	send_pointer(c, 0, 12, 20);
	send_pointer(c, 16, 12, 20);
	expect_ptr(&f.d, 0, 0, 1, 0);
	/* gone with a button down: released */
	send_pointer(c, 2, 12, 20);
	expect_ptr(&f.d, 0, 0, 0, DISPLAY_BUTTON_MIDDLE);
	client_free(c);
	expect_ptr(&f.d, 0, 0, 0, 0);
	fixture_stop(&f);
}

static void test_garbage(void)
{
	struct fixture f = { 0 };
	fixture_start(&f, NULL, NULL);
	max_iteration_us = 0;
	uint8_t junk[256];
	for (unsigned i = 0; i < sizeof(junk); i++)
		junk[i] = (i * 167 + 13) ^ (i >> 3);

	/* garbage instead of a version, then gone */
	int fd = sock_connect(f.sock);
	must_write(fd, junk, sizeof(junk));
	close(fd);
	/* connected and gone without a word */
	fd = sock_connect(f.sock);
	close(fd);
	/* half a WebSocket request, then gone */
	fd = sock_connect(f.sock);
	must_write(fd, "GE", 2);
	close(fd);
	/* a garbage version after the server's */
	fd = sock_connect(f.sock);
	char v[12];
	must_read(fd, v, 12);
	must_write(fd, "XYZ 003.008\n", 12);
	expect_closed(fd);
	close(fd);
	/* after the handshake: an unknown message type */
	struct client *c = client_connect(&f, raw_only, 1);
	uint8_t bad = 200;
	must_write(c->fd, &bad, 1);
	expect_closed(c->fd);
	client_free(c);
	/* after the handshake: garbage, which may parse as anything */
	c = client_connect(&f, raw_only, 1);
	must_write(c->fd, junk, sizeof(junk));
	client_free(c);
	/* a request, then gone before the update is written */
	c = client_connect(&f, raw_only, 1);
	client_request(c, false);
	client_free(c);
	/* half a key event, and it stays connected */
	struct client *stalled = client_connect(&f, raw_only, 1);
	uint8_t half[3] = { rfbKeyEvent, 1, 0 };
	must_write(stalled->fd, half, sizeof(half));

	/* meanwhile a viewer is served, promptly */
	gint64 t0 = g_get_monotonic_time();
	c = client_connect(&f, raw_only, 1);
	client_request(c, false);
	client_read_update(c);
	client_expect_frame(c, &f.d.surf);
	send_key(c, true, 'x');
	send_key(c, false, 'x');
	EXPECT_KEYS(&f.d, { 0x2D, true }, { 0x2D, false });
	g_assert_cmpint(g_get_monotonic_time() - t0, <, G_USEC_PER_SEC);

	/* the stalled one completes its message: it counts */
	uint8_t rest[5] = { 0, 0, 0, 0, 'k' };
	must_write(stalled->fd, rest, sizeof(rest));
	EXPECT_KEYS(&f.d, { 0x25, true });
	/* and leaves with half a message: dropped, its key released */
	must_write(stalled->fd, half, 2);
	client_free(stalled);
	EXPECT_KEYS(&f.d, { 0x25, false });
	PUMP_UNTIL(vnc_server_clients(f.vnc) == 1);

	/* the survivor still works */
	fake_dirty(&f.d, 0, 0, 8, 8, 0x00FF00);
	client_request(c, true);
	client_read_update(c);
	client_expect_frame(c, &f.d.surf);
	client_free(c);
	PUMP_UNTIL(vnc_server_clients(f.vnc) == 0);
	/* nothing above held the loop: libvncserver never waited on a socket (its waits are
	 * 100 ms for the WebSocket check, VNC_MAX_WAIT_MS for a read) */
	g_assert_cmpint(max_iteration_us, <, 90000);
	fixture_stop(&f);
}

/*
 * A viewer that keeps asking for updates and never reads them must not hold the server: it gets
 * the next update only when the last has left its socket. (40 frames of 12 KB would fill the
 * socket buffer; one update larger than the buffer blocks the server's thread: see below.)
 */
static void test_slow_viewer(void)
{
	struct fixture f = { 0 };
	fixture_start(&f, NULL, NULL);
	struct client *lazy = client_connect(&f, raw_only, 1);
	max_iteration_us = 0;
	for (unsigned i = 0; i < 40; i++) {
		client_request(lazy, false);
		pump_for(5);
	}
	pump_for(100);
	struct client *c = client_connect(&f, raw_only, 1);
	client_request(c, false);
	client_read_update(c);
	client_expect_frame(c, &f.d.surf);
	g_assert_cmpint(max_iteration_us, <, 90000);
	client_free(lazy);
	client_free(c);
	PUMP_UNTIL(vnc_server_clients(f.vnc) == 0);
	fixture_stop(&f);
}

/*
 * A viewer that stops reading in the middle of an update larger than its socket's buffer: the
 * server's thread waits in libvncserver's write, and nothing else does. Screenshots come at
 * once, the client count answers, and vnc_server_free does not wait for the write's timeout
 * (about 5 s).
 */
static void test_stalled_viewer(void)
{
	struct fixture f = { 0 };
	fixture_start_sized(&f, 1600, 1200, NULL, NULL); /* 7.3 MiB a frame */
	struct client *stalled = client_connect(&f, raw_only, 1);
	int small = 4096;
	setsockopt(stalled->fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	client_request(stalled, false);
	uint8_t hdr[4 + 12];
	must_read(stalled->fd, hdr, sizeof(hdr)); /* the update has begun; the rest stays */
	g_assert_cmpuint(hdr[0], ==, rfbFramebufferUpdate);
	g_usleep(200 * 1000); /* the socket fills up; the server waits to write more */

	for (unsigned i = 0; i < 10; i++) {
		gint64 t0 = g_get_monotonic_time();
		struct display_surface *shot = vnc_server_capture(f.vnc);
		g_assert_nonnull(shot);
		g_assert_cmpuint(vnc_server_clients(f.vnc), ==, 1);
		gint64 took = g_get_monotonic_time() - t0;
		if (took > 200 * 1000)
			g_error("capture %u took %" G_GINT64_FORMAT " ms", i, took / 1000);
		if (i == 0)
			expect_same(shot, &f.d.surf);
		g_free(shot);
		fake_dirty(&f.d, i * 10, i * 10, 8, 8, 0x00FF00 + i);
		pump_for(50);
	}
	/* still stuck in the first update: it has not timed out yet */
	char b;
	g_assert_cmpint(recv(stalled->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT), ==, 1);

	gint64 t0 = g_get_monotonic_time();
	fixture_stop(&f);
	g_assert_cmpint(g_get_monotonic_time() - t0, <, G_USEC_PER_SEC);
	client_free(stalled);
}

static void test_password(void)
{
	struct fixture f = { 0 };
	fixture_start(&f, NULL, "s3cret");
	struct client c = { .fd = sock_connect(f.sock) };
	g_assert_true(client_handshake(&c, "s3cret"));
	client_request(&c, false);
	client_read_update(&c);
	client_expect_frame(&c, &f.d.surf);
	close(c.fd);
	g_free(c.fb);

	struct client bad = { .fd = sock_connect(f.sock) };
	g_assert_false(client_handshake(&bad, "wrong"));
	expect_closed(bad.fd);
	close(bad.fd);
	fixture_stop(&f);
}

static void expect_refused_unix(const char *listen, const char *unix_path, const char *password,
				const char *layout, const char *what)
{
	struct fake_display d;
	fake_init(&d);
	fake_fill(&d, 8, 8, 0);
	struct display_ops ops = { fake_refresh, fake_key, fake_pointer, &d };
	struct vnc_options o = { .listen = listen, .unix_path = unix_path, .password = password,
				 .keyboard_layout = layout };
	char *err = NULL;
	struct vnc_server *vnc = vnc_server_new(&ops, &o, &err);
	if (vnc)
		g_error("'%s' was accepted", listen);
	g_assert_nonnull(err);
	if (!strstr(err, what))
		g_error("'%s': error '%s' does not mention '%s'", listen, err, what);
	g_free(err);
	fake_clear(&d);
}

static void expect_refused(const char *listen, const char *password, const char *layout,
			   const char *what)
{
	expect_refused_unix(listen, NULL, password, layout, what);
}

static void test_options(void)
{
	/* anything but loopback needs a password */
	expect_refused("0.0.0.0:37", NULL, NULL, "password");
	expect_refused(":37", NULL, NULL, "password");
	expect_refused("[::]:37", NULL, NULL, "password");
	expect_refused("0.0.0.0:37", "", NULL, "password");
	expect_refused("127.0.0.1", NULL, NULL, "HOST:DISPLAY");
	expect_refused("127.0.0.1:", NULL, NULL, "HOST:DISPLAY");
	expect_refused("127.0.0.1:x", NULL, NULL, "HOST:DISPLAY");
	expect_refused("127.0.0.1:-1", NULL, NULL, "HOST:DISPLAY");
	expect_refused("127.0.0.1:70000", NULL, NULL, "HOST:DISPLAY");
	expect_refused("127.0.0.1:1", NULL, "klingon", "layout");

	/* the Unix socket: not over a file that is not a socket, not a path too long */
	char *dir = g_dir_make_tmp("pcvm-vnc-XXXXXX", NULL);
	char *file = g_build_filename(dir, "vnc.sock", NULL);
	g_assert_true(g_file_set_contents(file, "x", 1, NULL));
	expect_refused_unix(NULL, file, NULL, NULL, "not a socket");
	char *longp = g_strnfill(200, 'x');
	expect_refused_unix(NULL, longp, NULL, NULL, "too long");
	/* a socket left behind by a VM that died is replaced */
	g_unlink(file);
	int stale = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un su = { .sun_family = AF_UNIX };
	g_strlcpy(su.sun_path, file, sizeof(su.sun_path));
	g_assert_cmpint(bind(stale, (struct sockaddr *)&su, sizeof(su)), ==, 0);
	close(stale);
	struct fake_display d0;
	fake_init(&d0);
	fake_fill(&d0, 8, 8, 0);
	struct display_ops ops0 = { fake_refresh, fake_key, fake_pointer, &d0 };
	struct vnc_options o0 = { .unix_path = file };
	char *err0 = NULL;
	struct vnc_server *v0 = vnc_server_new(&ops0, &o0, &err0);
	g_assert_nonnull(v0);
	vnc_server_free(v0);
	g_assert_false(g_file_test(file, G_FILE_TEST_EXISTS));
	g_rmdir(dir);
	fake_clear(&d0);
	g_free(longp);
	g_free(file);
	g_free(dir);

	/* loopback TCP without a password: a free display number, then a viewer */
	struct fake_display d;
	fake_init(&d);
	fake_fill(&d, 16, 16, 3);
	struct display_ops ops = { fake_refresh, fake_key, fake_pointer, &d };
	struct vnc_server *vnc = NULL;
	unsigned display = 0;
	for (unsigned i = 0; i < 50 && !vnc; i++) {
		display = 20000 + g_random_int_range(0, 30000);
		char *listen = g_strdup_printf("127.0.0.1:%u", display);
		struct vnc_options o = { .listen = listen };
		char *err = NULL;
		vnc = vnc_server_new(&ops, &o, &err);
		g_free(err);
		g_free(listen);
	}
	g_assert_nonnull(vnc);
	g_assert_cmpuint(vnc_server_port(vnc), ==, 5900 + display);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_port = htons(5900 + display),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	g_assert_cmpint(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), ==, 0);
	struct client c = { .fd = fd };
	g_assert_true(client_handshake(&c, NULL));
	client_set_encodings(&c, raw_only, 1);
	client_request(&c, false);
	client_read_update(&c);
	client_expect_frame(&c, &d.surf);
	close(fd);
	g_free(c.fb);
	vnc_server_free(vnc);
	fake_clear(&d);
}

/* libvncserver's WebSocket support on the same socket (RFC 6455 §1.3's example key). */
static void test_websocket(void)
{
	struct fixture f = { 0 };
	fixture_start(&f, NULL, NULL);
	max_iteration_us = 0;
	int fd = sock_connect(f.sock);
	const char *req = "GET /websockify HTTP/1.1\r\n"
			  "Host: localhost\r\n"
			  "Origin: http://localhost\r\n"
			  "Upgrade: websocket\r\n"
			  "Connection: Upgrade\r\n"
			  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
			  "Sec-WebSocket-Protocol: binary\r\n"
			  "Sec-WebSocket-Version: 13\r\n\r\n";
	must_write(fd, req, strlen(req));
	GString *resp = g_string_new(NULL);
	while (!strstr(resp->str, "\r\n\r\n")) {
		char ch;
		must_read(fd, &ch, 1);
		g_string_append_c(resp, ch);
	}
	g_assert_true(g_str_has_prefix(resp->str, "HTTP/1.1 101"));
	g_assert_nonnull(strstr(resp->str, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="));
	g_string_free(resp, true);
	/* the server's version, in a binary frame */
	uint8_t frame[14];
	must_read(fd, frame, 2 + 12);
	g_assert_cmphex(frame[0], ==, 0x82);
	g_assert_cmpuint(frame[1], ==, 12);
	g_assert_cmpmem(frame + 2, 12, "RFB 003.008\n", 12);
	PUMP_UNTIL(vnc_server_clients(f.vnc) == 1);
	/* a masked frame with half a version, then gone */
	const uint8_t part[] = { 0x82, 0x80 | 4, 1, 2, 3, 4, 'R' ^ 1, 'F' ^ 2 };
	must_write(fd, part, sizeof(part));
	close(fd);
	PUMP_UNTIL(vnc_server_clients(f.vnc) == 0);
	g_assert_cmpint(max_iteration_us, <, 90000);
	fixture_stop(&f);
}

/* ---- PNG ---- */

static void expect_png(const struct display_surface *s, png_image *img, const void *data,
		       size_t len, const char *path)
{
	memset(img, 0, sizeof(*img));
	img->version = PNG_IMAGE_VERSION;
	if (path)
		g_assert_true(png_image_begin_read_from_file(img, path));
	else
		g_assert_true(png_image_begin_read_from_memory(img, data, len));
	g_assert_cmpuint(img->width, ==, s->width);
	g_assert_cmpuint(img->height, ==, s->height);
	img->format = PNG_FORMAT_RGB;
	uint8_t *rgb = g_malloc(PNG_IMAGE_SIZE(*img));
	g_assert_true(png_image_finish_read(img, NULL, rgb, 0, NULL));
	for (unsigned y = 0; y < s->height; y++)
		for (unsigned x = 0; x < s->width; x++) {
			const uint8_t *p = rgb + (y * s->width + x) * 3;
			uint32_t v = (uint32_t)p[0] << 16 | p[1] << 8 | p[2];
			if (v != (s->pixels[y * s->stride + x] & 0xFFFFFF))
				g_error("png pixel %u,%u: 0x%06x", x, y, v);
		}
	g_free(rgb);
}

static void test_png(void)
{
	struct fake_display d;
	fake_init(&d);
	fake_fill(&d, 67, 41, 5);
	char *dir = g_dir_make_tmp("pcvm-png-XXXXXX", NULL);
	char *path = g_build_filename(dir, "shot.png", NULL);
	char *err = NULL;
	png_image img;

	g_assert_cmpint(screenshot_write_png(&d.surf, path, &err), ==, 0);
	expect_png(&d.surf, &img, NULL, 0, path);
	/* over an existing file, atomically: nothing else is left in the directory */
	fake_fill(&d, 67, 41, 6);
	g_assert_cmpint(screenshot_write_png(&d.surf, path, &err), ==, 0);
	expect_png(&d.surf, &img, NULL, 0, path);
	GDir *gd = g_dir_open(dir, 0, NULL);
	g_assert_cmpstr(g_dir_read_name(gd), ==, "shot.png");
	g_assert_null(g_dir_read_name(gd));
	g_dir_close(gd);

	GBytes *bytes = screenshot_png_bytes(&d.surf, &err);
	g_assert_nonnull(bytes);
	size_t len;
	const void *data = g_bytes_get_data(bytes, &len);
	expect_png(&d.surf, &img, data, len, NULL);
	g_bytes_unref(bytes);

	/* errors name the path */
	char *bad = g_build_filename(dir, "no", "such", "dir.png", NULL);
	g_assert_cmpint(screenshot_write_png(&d.surf, bad, &err), ==, -1);
	g_assert_nonnull(strstr(err, bad));
	g_free(err);
	err = NULL;
	struct display_surface empty = { 0 };
	g_assert_cmpint(screenshot_write_png(&empty, path, &err), ==, -1);
	g_free(err);
	err = NULL;
	g_assert_null(screenshot_png_bytes(&empty, &err));
	g_free(err);

	g_unlink(path);
	g_rmdir(dir);
	g_free(bad);
	g_free(path);
	g_free(dir);
	fake_clear(&d);
}

/* ---- libvncserver, loaded for the first viewer ---- */

/* Runs the calling test again in a process of its own (once loaded, libvncserver stays) and
 * expects it to pass; true in that process, which runs the test's body. */
static bool in_own_process(void)
{
	if (g_test_subprocess())
		return true;
	g_test_trap_subprocess(NULL, 60 * G_USEC_PER_SEC, G_TEST_SUBPROCESS_INHERIT_STDERR);
	g_test_trap_assert_passed();
	return false;
}

/* C asks for the whole picture, gets the display's frame, and disconnects. */
static void expect_frame_then_leave(struct fixture *f, struct client *c)
{
	client_request(c, false);
	client_read_update(c);
	client_expect_frame(c, &f->d.surf);
	client_free(c);
	PUMP_UNTIL(vnc_server_clients(f->vnc) == 0);
}

/* A server nobody watches, a screenshot and a connection that closes without a word leave the
 * library unloaded; the first viewer loads it and gets the picture, with a change made before it
 * came. */
static void test_lazy_load(void)
{
	if (!in_own_process())
		return;
	g_assert_false(lib_mapped());
	struct fixture f = { 0 };
	fixture_start(&f, NULL, NULL);
	expect_capture(&f);
	close(sock_connect(f.sock));
	pump_for(300); /* past the server's wait for a WebSocket request */
	g_assert_false(lib_mapped());
	fake_dirty(&f.d, 3, 4, 5, 6, 0x00FF00);
	struct client *c = client_connect(&f, raw_only, 1);
	g_assert_true(lib_mapped());
	expect_frame_then_leave(&f, c);
	fixture_stop(&f);
}

/* A viewer while the library cannot be loaded: RFB 3.8's refusal (no security types) with a
 * reason that mentions WHAT, then the end of the connection. */
static void expect_lib_refusal(struct fixture *f, const char *what)
{
	int fd = sock_connect(f->sock);
	char version[13] = { 0 }, reason[512] = { 0 };
	must_read(fd, version, 12);
	g_assert_cmpstr(version, ==, "RFB 003.008\n");
	must_write(fd, "RFB 003.008\n", 12);
	uint8_t ntypes, len[4];
	must_read(fd, &ntypes, 1);
	g_assert_cmpuint(ntypes, ==, 0);
	must_read(fd, len, 4);
	g_assert_cmpuint(rd32(len), <, sizeof(reason));
	must_read(fd, reason, rd32(len));
	g_assert_null(strchr(reason, '\n')); /* one line */
	if (!strstr(reason, what))
		g_error("reason '%s' does not mention '%s'", reason, what);
	expect_closed(fd);
	close(fd);
}

/* VNC_LIB_ENV names a missing file, then a library without libvncserver's symbols: viewers
 * are told why and closed, the server goes on (screenshots), and the next viewer, once the
 * library can be loaded, gets the console. */
static void test_no_library(void)
{
	if (!in_own_process())
		return;
	struct fixture f = { 0 };
	fixture_start(&f, NULL, NULL);
	g_setenv(VNC_LIB_ENV, "/nonexistent/libvncserver.so.1", TRUE);
	expect_lib_refusal(&f, "cannot load libvncserver (/nonexistent/libvncserver.so.1");
	g_setenv(VNC_LIB_ENV, "libz.so.1", TRUE);
	expect_lib_refusal(&f, "lacks rfbGetScreen");
	g_assert_false(lib_mapped());
	g_assert_cmpuint(vnc_server_clients(f.vnc), ==, 0);
	expect_capture(&f);

	g_unsetenv(VNC_LIB_ENV);
	struct client *c = client_connect(&f, raw_only, 1);
	expect_frame_then_leave(&f, c);
	fixture_stop(&f);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/vnc/lazy-load", test_lazy_load);
	g_test_add_func("/vnc/no-library", test_no_library);
	g_test_add_func("/vnc/frame", test_frame);
	g_test_add_func("/vnc/resize", test_resize);
	g_test_add_func("/vnc/keys", test_keys);
	g_test_add_func("/vnc/keys-de", test_keys_de);
	g_test_add_func("/vnc/pointer", test_pointer);
	g_test_add_func("/vnc/garbage", test_garbage);
	g_test_add_func("/vnc/slow-viewer", test_slow_viewer);
	g_test_add_func("/vnc/stalled-viewer", test_stalled_viewer);
	g_test_add_func("/vnc/password", test_password);
	g_test_add_func("/vnc/options", test_options);
	g_test_add_func("/vnc/websocket", test_websocket);
	g_test_add_func("/screenshot/png", test_png);
	return g_test_run();
}
