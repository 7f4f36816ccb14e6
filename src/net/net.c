/* The port between a NIC and its backend: see net.h for who calls what from where. */
#include "net/net.h"

#include <errno.h>
#include <glib.h>
#include <pthread.h>

struct net_port {
	GMainContext *ctx;
	GSource *flush_source; /* ready time 0 = a flush is due */
	pthread_mutex_t lock;  /* queue, paused, stats */
	GQueue queue;	       /* GBytes, oldest first */
	bool paused;	       /* a deliver was refused: resume the backend when there is room */
	struct net_port_stats stats;
	pthread_mutex_t flush_lock; /* one flush at a time: frames reach the NIC in order */
	const struct net_nic_ops *nic_ops;
	void *nic;
	struct net_backend *be;
};

static gboolean net_port_dispatch(GSource *source, GSourceFunc cb, gpointer data)
{
	g_source_set_ready_time(source, -1);
	return cb(data);
}

static GSourceFuncs net_port_source_funcs = { .dispatch = net_port_dispatch };

static gboolean net_port_flush_cb(gpointer data)
{
	net_port_flush(data);
	return G_SOURCE_CONTINUE;
}

static void net_port_schedule_flush(struct net_port *port)
{
	g_source_set_ready_time(port->flush_source, 0); /* thread-safe, wakes the context */
}

struct net_port *net_port_new(void *gmain_context)
{
	struct net_port *port = g_new0(struct net_port, 1);
	port->ctx = gmain_context ? g_main_context_ref(gmain_context) : NULL;
	pthread_mutex_init(&port->lock, NULL);
	pthread_mutex_init(&port->flush_lock, NULL);
	g_queue_init(&port->queue);
	port->flush_source = g_source_new(&net_port_source_funcs, sizeof(GSource));
	g_source_set_name(port->flush_source, "net-port");
	g_source_set_callback(port->flush_source, net_port_flush_cb, port, NULL);
	g_source_set_ready_time(port->flush_source, -1);
	g_source_attach(port->flush_source, port->ctx);
	return port;
}

void net_port_free(struct net_port *port)
{
	if (!port)
		return;
	g_source_destroy(port->flush_source);
	g_source_unref(port->flush_source);
	if (port->be && port->be->ops->free)
		port->be->ops->free(port->be);
	g_queue_clear_full(&port->queue, (GDestroyNotify)g_bytes_unref);
	pthread_mutex_destroy(&port->flush_lock);
	pthread_mutex_destroy(&port->lock);
	if (port->ctx)
		g_main_context_unref(port->ctx);
	g_free(port);
}

void net_port_attach_nic(struct net_port *port, const struct net_nic_ops *ops, void *nic)
{
	pthread_mutex_lock(&port->flush_lock);
	port->nic_ops = ops;
	port->nic = nic;
	pthread_mutex_unlock(&port->flush_lock);
	net_port_schedule_flush(port);
}

void net_port_attach_backend(struct net_port *port, struct net_backend *be)
{
	port->be = be;
	be->port = port;
}

struct net_backend *net_port_backend(struct net_port *port)
{
	return port->be;
}

int net_port_send(struct net_port *port, const struct iovec *iov, int iovcnt)
{
	size_t len = 0;
	for (int i = 0; i < iovcnt; i++)
		len += iov[i].iov_len;
	int ret = -ENOTCONN;
	if (len < NET_MIN_FRAME || len > NET_MAX_FRAME)
		ret = -EMSGSIZE;
	else if (port->be)
		ret = port->be->ops->send(port->be, iov, iovcnt);
	pthread_mutex_lock(&port->lock);
	if (ret < 0) {
		port->stats.tx_dropped++;
	} else {
		port->stats.tx_frames++;
		port->stats.tx_bytes += len;
	}
	pthread_mutex_unlock(&port->lock);
	return ret < 0 ? ret : 0;
}

void net_port_nic_ready(struct net_port *port)
{
	net_port_schedule_flush(port);
}

bool net_port_deliver(struct net_port *port, const void *frame, size_t len)
{
	bool ok = len >= NET_MIN_FRAME && len <= NET_MAX_FRAME;
	bool was_empty = false;
	pthread_mutex_lock(&port->lock);
	if (ok && port->queue.length >= NET_PORT_QUEUE) {
		ok = false;
		port->paused = true;
	}
	if (ok) {
		was_empty = port->queue.length == 0;
		g_queue_push_tail(&port->queue, g_bytes_new(frame, len));
	} else {
		port->stats.rx_dropped++;
	}
	pthread_mutex_unlock(&port->lock);
	if (was_empty)
		net_port_schedule_flush(port);
	return ok;
}

bool net_port_can_deliver(struct net_port *port)
{
	pthread_mutex_lock(&port->lock);
	bool room = port->queue.length < NET_PORT_QUEUE;
	if (!room)
		port->paused = true;
	pthread_mutex_unlock(&port->lock);
	return room;
}

unsigned net_port_flush(struct net_port *port)
{
	unsigned taken = 0;
	bool resume = false;
	pthread_mutex_lock(&port->flush_lock);
	for (;;) {
		pthread_mutex_lock(&port->lock);
		GBytes *frame = g_queue_peek_head(&port->queue);
		pthread_mutex_unlock(&port->lock);
		if (!frame || !port->nic_ops)
			break;
		size_t len;
		const uint8_t *data = g_bytes_get_data(frame, &len);
		if (!port->nic_ops->receive(port->nic, data, len))
			break; /* no descriptors: wait for net_port_nic_ready */
		pthread_mutex_lock(&port->lock);
		g_queue_pop_head(&port->queue);
		port->stats.rx_frames++;
		port->stats.rx_bytes += len;
		pthread_mutex_unlock(&port->lock);
		g_bytes_unref(frame);
		taken++;
	}
	pthread_mutex_lock(&port->lock);
	if (port->paused && port->queue.length <= NET_PORT_QUEUE / 2) {
		port->paused = false;
		resume = true;
	}
	pthread_mutex_unlock(&port->lock);
	pthread_mutex_unlock(&port->flush_lock);
	if (resume && port->be && port->be->ops->resume)
		port->be->ops->resume(port->be);
	return taken;
}

void net_port_get_stats(struct net_port *port, struct net_port_stats *stats)
{
	pthread_mutex_lock(&port->lock);
	*stats = port->stats;
	pthread_mutex_unlock(&port->lock);
}
