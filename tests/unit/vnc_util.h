/*
 * What the VNC test programs share: a fake display (a test pattern, recording input), a VNC
 * server on it (the fixture), a main loop to pump, and a minimal RFB 3.8 client (vnc_util.c).
 *   test_vnc.c         frames, resizes, hostile and slow viewers, options, passwords,
 *                      WebSocket, libvncserver loaded for the first viewer
 *   test_vnc_input.c   keys (layouts) and the pointer
 *   test_screenshot.c  PNG screenshots read back with libpng
 */
#pragma once

#include <glib.h>
#include <pthread.h>
#include <rfb/rfbproto.h>
#include <stdbool.h>
#include <stdint.h>

#include "ui/display.h"
#include "ui/vnc.h"

#define TIMEOUT_US (5 * G_USEC_PER_SEC)

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

struct fixture {
	char *dir;
	char *sock;
	struct fake_display d;
	struct display_ops ops;
	struct vnc_server *vnc;
};

struct client {
	int fd;
	unsigned w, h;
	uint32_t *fb;
	/* what the last update held */
	unsigned rects, raw_pixels;
	bool got_desktop_size, got_ext_key_ack;
};

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

/* The longest iteration of the test's main loop so far (the server must never hold it). */
extern gint64 max_iteration_us;
/* Encodings: raw only. */
extern const int32_t raw_only[1];

/* the fake display: a pattern PIXELS, the damage reported to refresh(), input recorded */
uint32_t pattern(unsigned x, unsigned y, unsigned salt);
void fake_init(struct fake_display *d);
void fake_clear(struct fake_display *d);
void fake_fill_mode(struct fake_display *d, unsigned w, unsigned h, unsigned salt, bool resized);
void fake_fill(struct fake_display *d, unsigned w, unsigned h, unsigned salt);
void fake_report(struct fake_display *d, unsigned x, unsigned y, unsigned w, unsigned h);
void fake_dirty(struct fake_display *d, unsigned x, unsigned y, unsigned w, unsigned h,
		uint32_t color);
unsigned fake_refreshes(struct fake_display *d);
bool fake_taken(struct fake_display *d);
const struct display_surface *fake_refresh(void *opaque, struct display_update *up);
void fake_key(void *opaque, unsigned qnum, bool down);
void fake_pointer(void *opaque, int dx, int dy, int dz, unsigned buttons);

/* a VNC server on the fake display, listening on a socket in a temporary directory */
void fixture_start_sized(struct fixture *f, unsigned w, unsigned h, const char *layout,
			 const char *password);
void fixture_start(struct fixture *f, const char *layout, const char *password);
void fixture_stop(struct fixture *f);

/* the test's main loop (the server delivers input through it) */
void iterate(void);
void pump_for(unsigned ms);

/* the RFB client: socket and byte order helpers */
int sock_connect(const char *path);
bool try_read(int fd, void *buf, size_t n);
void must_read(int fd, void *buf, size_t n);
void must_write(int fd, const void *buf, size_t n);
void expect_closed(int fd);
uint16_t rd16(const uint8_t *p);
uint32_t rd32(const uint8_t *p);
void wr16(uint8_t *p, uint16_t v);
void wr32(uint8_t *p, uint32_t v);

/* libvncserver: whether the process has it mapped; its DES for VNC authentication */
bool lib_mapped(void);
void encrypt_challenge(uint8_t *challenge, const char *password);

/* the RFB client: handshake, encodings, update requests and reading them back */
bool client_handshake(struct client *c, const char *password);
void client_set_encodings(struct client *c, const int32_t *enc, unsigned n);
void client_request(struct client *c, bool incremental);
void client_read_update(struct client *c);

/* checks of a picture: a screenshot, a viewer's framebuffer */
void expect_same(const struct display_surface *got, const struct display_surface *s);
void expect_capture(struct fixture *f);
void client_expect_frame(struct client *c, const struct display_surface *s);

/* a connected, handshaken viewer; its input messages */
struct client *client_connect(struct fixture *f, const int32_t *enc, unsigned nenc);
void client_free(struct client *c);
void send_key(struct client *c, bool down, uint32_t keysym);
void send_pointer(struct client *c, uint8_t mask, unsigned x, unsigned y);

/* the display got exactly these key events, in order: EXPECT_KEYS(d, { qnum, down }, ...) */
void expect_keys(struct fake_display *d, const struct key_event *e, unsigned n);
#define EXPECT_KEYS(d, ...)                                                                        \
	do {                                                                                       \
		const struct key_event e_[] = { __VA_ARGS__ };                                     \
		expect_keys(d, e_, G_N_ELEMENTS(e_));                                              \
	} while (0)
