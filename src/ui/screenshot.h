/* PNG screenshots of a display surface (display.h). */
#pragma once
#include <glib.h>

#include "ui/display.h"

/*
 * Writes S as an 8-bit RGB PNG to PATH, atomically: into a temporary file next to PATH, then
 * renamed over it, so a reader never sees a half-written image. Returns 0, or -1 with *error
 * (g_free it) naming the path and the cause.
 */
int screenshot_write_png(const struct display_surface *s, const char *path, char **error);

/* S as PNG file contents (e.g. a snapshot's thumbnail), or NULL with *error. */
GBytes *screenshot_png_bytes(const struct display_surface *s, char **error);
