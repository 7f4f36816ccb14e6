/*
 * The VNC server against a fake display, driven by a minimal RFB 3.8 client (vnc_util.c):
 * frames and resizes, hostile, slow and stalled viewers, options and passwords, WebSocket.
 * The server runs on its own thread; the test's main loop only delivers the input it queues.
 * libvncserver is not linked: the server loads it for its first viewer, which /vnc/lazy-load
 * checks in a process of its own, and /vnc/no-library what a viewer gets when it cannot.
 */
#include <errno.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "ui/vnc_internal.h" /* VNC_MAX_WAIT_MS */
#include "ui/vnc_lib.h"
#include "vnc_util.h"

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
	/* well under the VNC_MAX_WAIT_MS a wait on the stalled one would cost */
	g_assert_cmpint(g_get_monotonic_time() - t0, <, VNC_MAX_WAIT_MS * 3 / 4 * 1000);

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
		if (took > VNC_MAX_WAIT_MS / 2 * 1000) /* not waiting on the stalled write */
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
	g_assert_cmpint(g_get_monotonic_time() - t0, <, 3 * G_USEC_PER_SEC); /* not ~5 s */
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
	g_test_add_func("/vnc/garbage", test_garbage);
	g_test_add_func("/vnc/slow-viewer", test_slow_viewer);
	g_test_add_func("/vnc/stalled-viewer", test_stalled_viewer);
	g_test_add_func("/vnc/password", test_password);
	g_test_add_func("/vnc/options", test_options);
	g_test_add_func("/vnc/websocket", test_websocket);
	return g_test_run();
}
