/* PNG screenshots with libpng: XRGB8888 surface rows become 8-bit RGB rows. */
#include "ui/screenshot.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Where the encoded bytes go: a file or a growing array. */
struct png_sink {
	FILE *file;
	GByteArray *bytes;
	char error[256]; /* libpng's or the writer's complaint */
};

static void sink_write(png_structp png, png_bytep data, size_t len)
{
	struct png_sink *sink = png_get_io_ptr(png);
	if (sink->bytes) {
		g_byte_array_append(sink->bytes, data, len);
		return;
	}
	if (fwrite(data, 1, len, sink->file) != len) {
		g_strlcpy(sink->error, g_strerror(errno), sizeof(sink->error));
		png_error(png, sink->error);
	}
}

static void sink_flush(png_structp png)
{
}

static void png_fail(png_structp png, png_const_charp msg)
{
	struct png_sink *sink = png_get_error_ptr(png);
	if (msg != sink->error)
		g_strlcpy(sink->error, msg, sizeof(sink->error));
	png_longjmp(png, 1);
}

static void png_warn(png_structp png, png_const_charp msg)
{
}

static bool surface_valid(const struct display_surface *s)
{
	return s && s->pixels && s->width && s->height && s->stride >= s->width &&
	       s->width <= PNG_UINT_31_MAX / 3 && s->height <= PNG_UINT_31_MAX;
}

/* Encodes S into SINK; false with sink->error set. */
static bool png_encode(const struct display_surface *s, struct png_sink *sink)
{
	png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, sink, png_fail, png_warn);
	if (!png) {
		g_strlcpy(sink->error, "out of memory", sizeof(sink->error));
		return false;
	}
	png_infop info = png_create_info_struct(png);
	/* volatile: assigned between setjmp and a possible longjmp */
	png_bytep volatile row = NULL;
	if (!info || setjmp(png_jmpbuf(png))) {
		if (!sink->error[0])
			g_strlcpy(sink->error, "out of memory", sizeof(sink->error));
		png_destroy_write_struct(&png, &info);
		g_free(row);
		return false;
	}
	png_set_write_fn(png, sink, sink_write, sink_flush);
	png_set_IHDR(png, info, s->width, s->height, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
		     PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
	png_write_info(png, info);
	row = g_malloc((size_t)s->width * 3);
	for (unsigned y = 0; y < s->height; y++) {
		const uint32_t *src = s->pixels + (size_t)y * s->stride;
		for (unsigned x = 0; x < s->width; x++) {
			row[x * 3 + 0] = src[x] >> 16;
			row[x * 3 + 1] = src[x] >> 8;
			row[x * 3 + 2] = src[x];
		}
		png_write_row(png, row);
	}
	png_write_end(png, NULL);
	png_destroy_write_struct(&png, &info);
	g_free(row);
	return true;
}

GBytes *screenshot_png_bytes(const struct display_surface *s, char **error)
{
	if (!surface_valid(s)) {
		*error = g_strdup("screenshot: no screen to capture");
		return NULL;
	}
	struct png_sink sink = { .bytes = g_byte_array_new() };
	if (!png_encode(s, &sink)) {
		*error = g_strdup_printf("screenshot: %s", sink.error);
		g_byte_array_unref(sink.bytes);
		return NULL;
	}
	return g_byte_array_free_to_bytes(sink.bytes);
}

int screenshot_write_png(const struct display_surface *s, const char *path, char **error)
{
	if (!surface_valid(s)) {
		*error = g_strdup_printf("%s: no screen to capture", path);
		return -1;
	}
	/* the temporary file sits next to PATH so that rename() replaces it atomically */
	char *tmp = g_strdup_printf("%s.XXXXXX", path);
	int fd = g_mkstemp_full(tmp, O_WRONLY | O_CLOEXEC, 0666); /* less the umask */
	if (fd < 0) {
		*error = g_strdup_printf("%s: %s", path, g_strerror(errno));
		g_free(tmp);
		return -1;
	}
	struct png_sink sink = { .file = fdopen(fd, "wb") };
	if (!sink.file) {
		*error = g_strdup_printf("%s: %s", path, g_strerror(errno));
		close(fd);
		goto fail;
	}
	bool ok = png_encode(s, &sink);
	if (ok && (fflush(sink.file) != 0 || fsync(fileno(sink.file)) != 0)) {
		g_strlcpy(sink.error, g_strerror(errno), sizeof(sink.error));
		ok = false;
	}
	if (fclose(sink.file) != 0 && ok) {
		g_strlcpy(sink.error, g_strerror(errno), sizeof(sink.error));
		ok = false;
	}
	if (!ok) {
		*error = g_strdup_printf("%s: %s", path, sink.error);
		goto fail;
	}
	if (rename(tmp, path) < 0) {
		*error = g_strdup_printf("%s: %s", path, g_strerror(errno));
		goto fail;
	}
	g_free(tmp);
	return 0;
fail:
	g_unlink(tmp);
	g_free(tmp);
	return -1;
}
