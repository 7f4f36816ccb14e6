#include "log.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static struct {
	pthread_mutex_t lock;
	FILE *file;
	enum log_level min;
	int guest_line_open; /* a guest line was started and not yet ended */
} logger = { PTHREAD_MUTEX_INITIALIZER, NULL, LOG_INFO, 0 };

static const char *const level_names[] = {
	[LOG_DEBUG] = "debug", [LOG_INFO] = "info", [LOG_WARN] = "warning", [LOG_ERROR] = "error",
};

int log_open(const char *path)
{
	FILE *f = fopen(path, "a");
	if (!f)
		return -1;
	setvbuf(f, NULL, _IOLBF, 0);
	pthread_mutex_lock(&logger.lock);
	if (logger.file)
		fclose(logger.file);
	logger.file = f;
	pthread_mutex_unlock(&logger.lock);
	return 0;
}

void log_close(void)
{
	pthread_mutex_lock(&logger.lock);
	if (logger.file)
		fclose(logger.file);
	logger.file = NULL;
	pthread_mutex_unlock(&logger.lock);
}

void log_set_level(enum log_level min)
{
	logger.min = min;
}

static FILE *log_out(void)
{
	return logger.file ? logger.file : stderr;
}

static void log_stamp(FILE *f)
{
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	localtime_r(&ts.tv_sec, &tm);
	fprintf(f, "%02d:%02d:%02d.%03ld ", tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
}

static void log_end_guest_line(FILE *f)
{
	if (logger.guest_line_open) {
		fputc('\n', f);
		logger.guest_line_open = 0;
	}
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	if (level < logger.min)
		return;
	va_list ap;
	pthread_mutex_lock(&logger.lock);
	FILE *f = log_out();
	log_end_guest_line(f);
	log_stamp(f);
	fputs(level_names[level], f);
	fputs(": ", f);
	va_start(ap, fmt);
	vfprintf(f, fmt ? fmt : "(no message)", ap);
	va_end(ap);
	fputc('\n', f);
	pthread_mutex_unlock(&logger.lock);
}

void log_guest_bytes(const char *tag, const char *buf, size_t len)
{
	pthread_mutex_lock(&logger.lock);
	FILE *f = log_out();
	for (size_t i = 0; i < len; i++) {
		char c = buf[i];
		if (c == '\r')
			continue;
		if (!logger.guest_line_open) {
			log_stamp(f);
			fprintf(f, "%s: ", tag);
			logger.guest_line_open = 1;
		}
		if (c == '\n') {
			fputc('\n', f);
			logger.guest_line_open = 0;
		} else {
			fputc((unsigned char)c >= 0x20 || c == '\t' ? c : '.', f);
		}
	}
	fflush(f);
	pthread_mutex_unlock(&logger.lock);
}
