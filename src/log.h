/* pcvm's log: one file per VM process (DIR/pcvm.log), thread-safe. */
#pragma once
#include <stdarg.h>
#include <stddef.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

/* Opens (appends to) PATH; until then, and for PATH == NULL, messages go to stderr. */
int log_open(const char *path);
void log_close(void);
void log_set_level(enum log_level min);
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Raw bytes from the guest's debug console (SeaBIOS), prefixed per line. */
void log_guest_bytes(const char *tag, const char *buf, size_t len);

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

/* Logs a message once per call site: for guest errors that could flood the log. */
#define log_once(level, ...)                                                                       \
	do {                                                                                       \
		static int log_once_done_;                                                         \
		if (!__atomic_exchange_n(&log_once_done_, 1, __ATOMIC_RELAXED))                    \
			log_msg(level, __VA_ARGS__);                                               \
	} while (0)
