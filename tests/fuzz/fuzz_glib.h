/*
 * For the fuzz targets: a GLib critical (g_return_if_fail, a precondition of GLib or json-glib
 * broken by what an input got through to) ends the run with abort(), which libFuzzer and
 * fuzz_replay report as a crash with the input; G_DEBUG=fatal-criticals would stop on SIGTRAP,
 * which libFuzzer does not catch.
 */
#pragma once
#include <glib.h>
#include <stdlib.h>

static void fuzz_glib_log(const gchar *domain, GLogLevelFlags level, const gchar *message,
			  gpointer data)
{
	g_log_default_handler(domain, level, message, data);
	if (level & (G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_ERROR | G_LOG_FLAG_FATAL))
		abort();
}

static inline void fuzz_glib_fatal_criticals(void)
{
	g_log_set_default_handler(fuzz_glib_log, NULL);
}
