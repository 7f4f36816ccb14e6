#include "vnc_util.h"

#include <dlfcn.h>
#include <errno.h>
#include <glib/gstdio.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "ui/vnc_lib.h"

/* ---- a fake display: a test pattern, recording input ---- */

uint32_t pattern(unsigned x, unsigned y, unsigned salt)
{
	return ((x * 7 + salt) & 0xFF) << 16 | ((y * 5) & 0xFF) << 8 | ((x ^ y ^ salt) & 0xFF);
}

void fake_init(struct fake_display *d)
{
	memset(d, 0, sizeof(*d));
	pthread_mutex_init(&d->lock, NULL);
}

void fake_clear(struct fake_display *d)
{
	pthread_mutex_destroy(&d->lock);
	g_free(d->pixels);
	g_free(d->front);
}

/* Fills the whole surface of W x H (stride W + 3, to catch stride bugs); RESIZED: report a
 * new mode even if the size stays. */
void fake_fill_mode(struct fake_display *d, unsigned w, unsigned h, unsigned salt,
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

void fake_fill(struct fake_display *d, unsigned w, unsigned h, unsigned salt)
{
	fake_fill_mode(d, w, h, salt, false);
}

/* Reports X,Y W x H as changed (without drawing: it may lie outside the surface). */
void fake_report(struct fake_display *d, unsigned x, unsigned y, unsigned w, unsigned h)
{
	pthread_mutex_lock(&d->lock);
	g_assert_cmpuint(d->pending.nrects, <, DISPLAY_MAX_RECTS);
	d->pending.rects[d->pending.nrects++] = (struct display_rect){ x, y, w, h };
	pthread_mutex_unlock(&d->lock);
}

void fake_dirty(struct fake_display *d, unsigned x, unsigned y, unsigned w, unsigned h,
		uint32_t color)
{
	pthread_mutex_lock(&d->lock);
	for (unsigned row = y; row < y + h; row++)
		for (unsigned col = x; col < x + w; col++)
			d->pixels[row * d->surf.stride + col] = color;
	pthread_mutex_unlock(&d->lock);
	fake_report(d, x, y, w, h);
}

unsigned fake_refreshes(struct fake_display *d)
{
	pthread_mutex_lock(&d->lock);
	unsigned n = d->refreshes;
	pthread_mutex_unlock(&d->lock);
	return n;
}

/* Whether a refresh has taken every change reported so far. */
bool fake_taken(struct fake_display *d)
{
	pthread_mutex_lock(&d->lock);
	bool taken = !d->pending.resized && !d->pending.nrects;
	pthread_mutex_unlock(&d->lock);
	return taken;
}

const struct display_surface *fake_refresh(void *opaque, struct display_update *up)
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

void fake_key(void *opaque, unsigned qnum, bool down)
{
	struct fake_display *d = opaque;
	g_assert_cmpuint(d->nkeys, <, G_N_ELEMENTS(d->keys));
	d->keys[d->nkeys++] = (struct key_event){ qnum, down };
}

void fake_pointer(void *opaque, int dx, int dy, int dz, unsigned buttons)
{
	struct fake_display *d = opaque;
	g_assert_cmpuint(d->nptrs, <, G_N_ELEMENTS(d->ptrs));
	d->ptrs[d->nptrs++] = (struct ptr_event){ dx, dy, dz, buttons };
}

void fixture_start_sized(struct fixture *f, unsigned w, unsigned h, const char *layout,
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

void fixture_start(struct fixture *f, const char *layout, const char *password)
{
	fixture_start_sized(f, 64, 48, layout, password);
}

void fixture_stop(struct fixture *f)
{
	vnc_server_free(f->vnc);
	g_assert_false(g_file_test(f->sock, G_FILE_TEST_EXISTS));
	g_rmdir(f->dir);
	fake_clear(&f->d);
	g_free(f->sock);
	g_free(f->dir);
}

/* How long this thread has waited to run, in microseconds: the run-queue wait the kernel
 * keeps in /proc/thread-self/schedstat (its second field, in ns); 0 where it does not. */
static gint64 runqueue_wait_us(void)
{
	g_autofree char *text = NULL;
	if (!g_file_get_contents("/proc/thread-self/schedstat", &text, NULL, NULL))
		return 0;
	unsigned long long on_cpu, waiting;
	if (sscanf(text, "%llu %llu", &on_cpu, &waiting) != 2)
		return 0;
	return (gint64)(waiting / 1000);
}

/* One iteration of the test's main loop, timed: the server's thread delivers input through it
 * (the VM's loop, in pcvm), and it must never be held for long. Time spent preempted (a loaded
 * host) is not the loop being held, so it is left out. */
gint64 max_iteration_us;

void iterate(void)
{
	gint64 w0 = runqueue_wait_us(), t0 = g_get_monotonic_time();
	g_main_context_iteration(NULL, FALSE);
	gint64 took = g_get_monotonic_time() - t0 - (runqueue_wait_us() - w0);
	max_iteration_us = MAX(max_iteration_us, took);
}

void pump_for(unsigned ms)
{
	gint64 end = g_get_monotonic_time() + ms * 1000;
	while (g_get_monotonic_time() < end) {
		iterate();
		g_usleep(1000);
	}
}

/* ---- a minimal RFB client ---- */

int sock_connect(const char *path)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	g_strlcpy(sa.sun_path, path, sizeof(sa.sun_path));
	g_assert_cmpint(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), ==, 0);
	return fd;
}

/* Reads N bytes while the server runs; false if the server closed the connection. */
bool try_read(int fd, void *buf, size_t n)
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

void must_read(int fd, void *buf, size_t n)
{
	if (!try_read(fd, buf, n))
		g_error("server closed the connection");
}

void must_write(int fd, const void *buf, size_t n)
{
	g_assert_cmpint(send(fd, buf, n, MSG_NOSIGNAL), ==, (ssize_t)n);
}

/* The server hung up: reads hit end of file. */
void expect_closed(int fd)
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

uint16_t rd16(const uint8_t *p)
{
	return p[0] << 8 | p[1];
}

uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | p[1] << 16 | p[2] << 8 | p[3];
}

void wr16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = v;
}

void wr32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = v >> 16;
	p[2] = v >> 8;
	p[3] = v;
}

/* Whether the process has libvncserver mapped (RTLD_NOLOAD loads nothing). */
bool lib_mapped(void)
{
	void *lib = dlopen(VNC_LIB_SONAME, RTLD_NOW | RTLD_NOLOAD);
	if (lib)
		dlclose(lib);
	return lib != NULL;
}

/* VNC authentication's DES response (RFB 3.8 §7.2.2), computed by libvncserver's own
 * rfbEncryptBytes: the server has loaded it by the time it sends a challenge. */
void encrypt_challenge(uint8_t *challenge, const char *password)
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
bool client_handshake(struct client *c, const char *password)
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

void client_set_encodings(struct client *c, const int32_t *enc, unsigned n)
{
	uint8_t msg[4 + 4 * 8] = { rfbSetEncodings };
	g_assert_cmpuint(n, <=, 8);
	wr16(msg + 2, n);
	for (unsigned i = 0; i < n; i++)
		wr32(msg + 4 + 4 * i, (uint32_t)enc[i]);
	must_write(c->fd, msg, 4 + 4 * n);
}

void client_request(struct client *c, bool incremental)
{
	uint8_t msg[10] = { rfbFramebufferUpdateRequest, incremental };
	wr16(msg + 6, c->w);
	wr16(msg + 8, c->h);
	must_write(c->fd, msg, sizeof(msg));
}

/* Reads server messages until a framebuffer update has been applied. */
void client_read_update(struct client *c)
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

void expect_same(const struct display_surface *got, const struct display_surface *s)
{
	g_assert_cmpuint(got->width, ==, s->width);
	g_assert_cmpuint(got->height, ==, s->height);
	for (unsigned y = 0; y < s->height; y++)
		g_assert_cmpmem(got->pixels + (size_t)y * got->stride, s->width * 4,
				s->pixels + (size_t)y * s->stride, s->width * 4);
}

/* A screenshot through the server: a copy of the display's picture. */
void expect_capture(struct fixture *f)
{
	struct display_surface *shot = vnc_server_capture(f->vnc);
	g_assert_nonnull(shot);
	expect_same(shot, &f->d.surf);
	g_free(shot);
}

void client_expect_frame(struct client *c, const struct display_surface *s)
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

struct client *client_connect(struct fixture *f, const int32_t *enc, unsigned nenc)
{
	struct client *c = g_new0(struct client, 1);
	c->fd = sock_connect(f->sock);
	g_assert_true(client_handshake(c, NULL));
	client_set_encodings(c, enc, nenc);
	return c;
}

void client_free(struct client *c)
{
	close(c->fd);
	g_free(c->fb);
	g_free(c);
}

void send_key(struct client *c, bool down, uint32_t keysym)
{
	uint8_t msg[8] = { rfbKeyEvent, down };
	wr32(msg + 4, keysym);
	must_write(c->fd, msg, sizeof(msg));
}

void send_pointer(struct client *c, uint8_t mask, unsigned x, unsigned y)
{
	uint8_t msg[6] = { rfbPointerEvent, mask };
	wr16(msg + 2, x);
	wr16(msg + 4, y);
	must_write(c->fd, msg, sizeof(msg));
}

const int32_t raw_only[1] = { rfbEncodingRaw };

/* The display got exactly these N key events (scancodes, down or up), in order. */
void expect_keys(struct fake_display *d, const struct key_event *e, unsigned n)
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
