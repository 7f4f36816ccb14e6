#include "chardev.h"

#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

struct chardev_fd {
	struct chardev chr;
	int out_fd;
	bool owns_fd;
};

static void fd_write(struct chardev *chr, const uint8_t *buf, size_t len)
{
	struct chardev_fd *c = (struct chardev_fd *)chr;
	while (len) {
		ssize_t n = write(c->out_fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return; /* a closed terminal or a full disk must not stop the guest */
		buf += n;
		len -= n;
	}
}

static void null_write(struct chardev *chr, const uint8_t *buf, size_t len)
{
	(void)chr;
	(void)buf;
	(void)len;
}

struct chardev *chardev_open(const char *spec, char **error)
{
	struct chardev_fd *c = g_new0(struct chardev_fd, 1);
	if (!strcmp(spec, "none")) {
		c->chr.write = null_write;
		c->out_fd = -1;
	} else if (!strcmp(spec, "stdio")) {
		c->chr.write = fd_write;
		c->out_fd = STDOUT_FILENO;
	} else {
		int fd = open(spec, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		if (fd < 0) {
			*error = g_strdup_printf("serial output %s: %s", spec, strerror(errno));
			g_free(c);
			return NULL;
		}
		c->chr.write = fd_write;
		c->out_fd = fd;
		c->owns_fd = true;
	}
	return &c->chr;
}

void chardev_close(struct chardev *chr)
{
	struct chardev_fd *c = (struct chardev_fd *)chr;
	if (!c)
		return;
	if (c->owns_fd)
		close(c->out_fd);
	g_free(c);
}
