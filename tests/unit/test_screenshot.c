/*
 * PNG screenshots (src/ui/screenshot.c) of the fake display (vnc_util.c), read back with
 * libpng.
 */
#include <glib.h>
#include <glib/gstdio.h>
#include <png.h>
#include <string.h>

#include "ui/screenshot.h"
#include "vnc_util.h"

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

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/screenshot/png", test_png);
	return g_test_run();
}
