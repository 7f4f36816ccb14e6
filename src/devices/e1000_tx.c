/*
 * e1000 transmit (8254x SDM 3.3-3.5): the descriptor ring, legacy and context/data
 * descriptors, checksum insertion and TCP segmentation. The ring runs on the thread that wrote
 * TDT or TCTL, under the device lock, and each frame goes to the port as soon as it is whole:
 * a single plain frame straight from guest RAM, the rest through the device's frame buffer.
 * Nothing is allocated per packet.
 */
#include <glib.h>
#include <string.h>

#include "devices/e1000_regs.h"

#define ETH_HLEN 14
#define ETH_ALEN 6
#define ETH_ZLEN 60 /* shortest frame without FCS, after the PSP padding */
#define ETH_FCS_LEN 4
#define TCP_FIN 0x01
#define TCP_PSH 0x08

/* ---- helpers ---- */

uint32_t e1000_csum_add(uint32_t sum, const uint8_t *p, size_t n)
{
	uint64_t s = sum;
	size_t i = 0;
	for (; i + 1 < n; i += 2)
		s += (uint32_t)p[i] << 8 | p[i + 1];
	if (i < n)
		s += (uint32_t)p[i] << 8;
	while (s >> 32)
		s = (s & 0xFFFFFFFF) + (s >> 32);
	return s;
}

uint16_t e1000_csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xFFFF) + (sum >> 16);
	return sum;
}

static uint16_t get_be16(const uint8_t *p)
{
	return p[0] << 8 | p[1];
}

static void put_be16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = v;
}

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)get_be16(p) << 16 | get_be16(p + 2);
}

static void put_be32(uint8_t *p, uint32_t v)
{
	put_be16(p, v >> 16);
	put_be16(p + 2, v);
}

static uint64_t e1000_tx_base(const struct e1000 *d)
{
	return (uint64_t)E1000_REG(d, E1000_TDBAH) << 32 | E1000_REG(d, E1000_TDBAL);
}

static bool e1000_txd_read(struct e1000 *d, uint32_t idx, struct e1000_txd *t)
{
	uint8_t raw[E1000_DESC_SIZE];
	if (guest_mem_read(d->mem, e1000_tx_base(d) + (uint64_t)idx * E1000_DESC_SIZE, raw,
			   sizeof(raw)) < 0)
		return false;
	uint32_t w[4];
	memcpy(w, raw, sizeof(w));
	t->addr = GUINT32_FROM_LE(w[0]) | (uint64_t)GUINT32_FROM_LE(w[1]) << 32;
	t->lower = GUINT32_FROM_LE(w[2]);
	t->upper = GUINT32_FROM_LE(w[3]);
	return true;
}

/* Bytes of data a legacy (16-bit length) or data (20-bit DTALEN) descriptor carries; none for
 * a null address (3.3.3). */
static size_t e1000_txd_len(const struct e1000_txd *t)
{
	if (!t->addr)
		return 0;
	return (e1000_txd_cmd(t) & E1000_TXD_CMD_DEXT) ? t->lower & 0xFFFFF : t->lower & 0xFFFF;
}

/* The context descriptor's fields (3.3.6). */
struct e1000_ctx {
	unsigned ipcss, ipcso, ipcse, tucss, tucso, tucse;
	unsigned tucmd, hdrlen, mss;
};

static void e1000_ctx_decode(const uint8_t *c, struct e1000_ctx *x)
{
	*x = (struct e1000_ctx){
		.ipcss = c[0], .ipcso = c[1], .ipcse = c[2] | c[3] << 8,
		.tucss = c[4], .tucso = c[5], .tucse = c[6] | c[7] << 8,
		.tucmd = c[11], .hdrlen = c[13], .mss = c[14] | c[15] << 8,
	};
}

static void e1000_ctx_store(struct e1000 *d, const struct e1000_txd *t)
{
	uint32_t w[4] = { GUINT32_TO_LE((uint32_t)t->addr), GUINT32_TO_LE(t->addr >> 32),
			  GUINT32_TO_LE(t->lower), GUINT32_TO_LE(t->upper) };
	memcpy(d->tx_ctx, w, sizeof(d->tx_ctx));
}

/* Inserts the ones'-complement checksum of BUF[css..cse] (cse 0: to the end) at CSO; an
 * offload whose offsets fall outside the frame is ignored (3.3.3.1). */
static void e1000_csum_insert(uint8_t *buf, size_t len, unsigned css, unsigned cso,
			      unsigned cse, bool l4)
{
	size_t end = cse && cse + 1u < len ? cse + 1u : len;
	if (css >= end || cso + 2u > len)
		return;
	uint16_t c = ~e1000_csum_fold(e1000_csum_add(0, buf + css, end - css));
	if (l4 && c == 0)
		c = 0xFFFF; /* UDP's "no checksum"; the same value to TCP */
	put_be16(buf + cso, c);
}

/* ---- sending ---- */

struct e1000_tx_pkt {
	const struct e1000_txd *q; /* the packet's descriptors, contexts included */
	unsigned n;
	const struct e1000_txd *first, *eop; /* first and last data (or legacy) descriptor */
	size_t len;			     /* data bytes */
	bool vle;			     /* insert an 802.1Q tag */
	uint8_t tag[4];
};

/* Hands one frame to the port (without carrier it goes nowhere) and counts it as the wire
 * sees it: padded to 64 bytes, FCS included. */
static void e1000_tx_out(struct e1000 *d, const struct iovec *iov, int cnt, size_t len,
			 const uint8_t *dst)
{
	if (!e1000_phy_link(d))
		return;
	if (d->net)
		net_port_send(d->net, iov, cnt);
	size_t wire = MAX(len, ETH_ZLEN) + ETH_FCS_LEN;
	e1000_stat_add(d, E1000_GPTC, 1);
	e1000_stat_add(d, E1000_TPT, 1);
	e1000_stat_add64(d, E1000_GOTCL, wire);
	e1000_stat_add64(d, E1000_TOTL, wire);
	e1000_stat_frame(d, E1000_PTC64, dst, wire);
}

/* A frame from the frame buffer, with the 802.1Q tag inserted after the addresses if asked. */
static void e1000_tx_send(struct e1000 *d, const struct e1000_tx_pkt *p, uint8_t *buf,
			  size_t len)
{
	struct iovec iov[3] = { { buf, len } };
	if (p->vle) {
		iov[0].iov_len = ETH_ALEN * 2;
		iov[1] = (struct iovec){ (void *)p->tag, sizeof(p->tag) };
		iov[2] = (struct iovec){ buf + ETH_ALEN * 2, len - ETH_ALEN * 2 };
	}
	e1000_tx_out(d, iov, p->vle ? 3 : 1, len + (p->vle ? sizeof(p->tag) : 0), buf);
}

/* The fast path: a frame without offloads, sent from guest RAM as it lies. False when a
 * buffer is not in one piece of RAM, there are too many, or the first is shorter than the
 * destination address (the copying path decides). */
static bool e1000_tx_direct(struct e1000 *d, const struct e1000_tx_pkt *p)
{
	int cnt = 0;
	for (unsigned i = 0; i < p->n; i++) {
		const struct e1000_txd *t = &p->q[i];
		size_t l = e1000_txd_len(t);
		if (e1000_txd_is_ctx(t) || !l)
			continue;
		void *ptr = guest_mem_ptr(d->mem, t->addr, l);
		if (!ptr || cnt == E1000_TX_MAX_IOV)
			return false;
		d->tx_iov[cnt++] = (struct iovec){ ptr, l };
	}
	if (!cnt || d->tx_iov[0].iov_len < ETH_ALEN)
		return false;
	e1000_tx_out(d, d->tx_iov, cnt, p->len, d->tx_iov[0].iov_base);
	return true;
}

/* Copies the packet's data into the frame buffer. */
static bool e1000_tx_gather(struct e1000 *d, const struct e1000_tx_pkt *p)
{
	size_t off = 0;
	for (unsigned i = 0; i < p->n; i++) {
		const struct e1000_txd *t = &p->q[i];
		size_t l = e1000_txd_len(t);
		if (e1000_txd_is_ctx(t) || !l)
			continue;
		if (guest_mem_read(d->mem, t->addr, d->tx_buf + off, l) < 0) {
			e1000_dma_error(d, "transmit buffer outside guest RAM: packet dropped");
			return false;
		}
		off += l;
	}
	return true;
}

/* A legacy or plain data packet: checksum insertion per IC (legacy) or POPTS (data). */
static void e1000_tx_plain(struct e1000 *d, const struct e1000_tx_pkt *p)
{
	bool legacy = !(e1000_txd_cmd(p->first) & E1000_TXD_CMD_DEXT);
	uint8_t popts = legacy ? 0 : p->first->upper >> 8;
	bool ic = legacy && (e1000_txd_cmd(p->eop) & E1000_TXD_CMD_IC);
	if (!ic && !popts && !p->vle && e1000_tx_direct(d, p))
		return;
	if (!e1000_tx_gather(d, p))
		return;
	if (ic) /* CSS from the first descriptor, CSO with IC from the last */
		e1000_csum_insert(d->tx_buf, p->len, (p->first->upper >> 8) & 0xFF,
				  (p->eop->lower >> 16) & 0xFF, 0, false);
	struct e1000_ctx c;
	e1000_ctx_decode(d->tx_ctx, &c);
	if (popts & E1000_POPTS_IXSM)
		e1000_csum_insert(d->tx_buf, p->len, c.ipcss, c.ipcso, c.ipcse, false);
	if (popts & E1000_POPTS_TXSM)
		e1000_csum_insert(d->tx_buf, p->len, c.tucss, c.tucso, c.tucse, true);
	e1000_tx_send(d, p, d->tx_buf, p->len);
}

/* ---- TCP segmentation (3.5) ---- */

struct e1000_tso {
	struct e1000_ctx c;
	uint8_t popts;
	size_t payload; /* data bytes after the header */
	size_t sent;	/* payload bytes in segments already sent */
	unsigned seg;	/* segments sent */
};

/* The context must describe headers that lie inside HDRLEN and segments that fit a frame. */
static bool e1000_tso_valid(const struct e1000_tso *s, size_t len)
{
	const struct e1000_ctx *c = &s->c;
	bool ipv4 = c->tucmd & E1000_TUCMD_IP, tcp = c->tucmd & E1000_TUCMD_TCP;
	return c->hdrlen >= ETH_HLEN && c->hdrlen <= len && c->mss &&
	       c->hdrlen + c->mss <= NET_MAX_FRAME && c->ipcss + (ipv4 ? 20u : 40u) <= c->hdrlen &&
	       c->tucss + (tcp ? 20u : 8u) <= c->hdrlen &&
	       (!(s->popts & E1000_POPTS_IXSM) || c->ipcso + 2u <= c->hdrlen) &&
	       (!(s->popts & E1000_POPTS_TXSM) || c->tucso + 2u <= c->hdrlen);
}

/* Builds segment s->seg from the header template and SEG_LEN payload bytes already in the
 * frame buffer (3.5.9): IP length and ID, TCP sequence number and flags or UDP length, then
 * the checksums, the L4 one over a pseudo-header whose length the hardware adds. */
static void e1000_tso_segment(struct e1000 *d, const struct e1000_tx_pkt *p, struct e1000_tso *s,
			      size_t seg_len)
{
	const struct e1000_ctx *c = &s->c;
	uint8_t *f = d->tx_buf;
	const uint8_t *h = d->tso_hdr;
	size_t len = c->hdrlen + seg_len;
	bool last = s->sent + seg_len >= s->payload;
	memcpy(f, h, c->hdrlen);
	if (c->tucmd & E1000_TUCMD_IP) {
		put_be16(f + c->ipcss + 2, len - c->ipcss);
		put_be16(f + c->ipcss + 4, get_be16(h + c->ipcss + 4) + s->seg);
	} else {
		put_be16(f + c->ipcss + 4, len - c->ipcss - 40);
	}
	if (c->tucmd & E1000_TUCMD_TCP) {
		put_be32(f + c->tucss + 4, get_be32(h + c->tucss + 4) + s->sent);
		if (!last)
			f[c->tucss + 13] &= ~(TCP_FIN | TCP_PSH);
	} else {
		put_be16(f + c->tucss + 4, len - c->tucss);
	}
	if (s->popts & E1000_POPTS_IXSM)
		e1000_csum_insert(f, len, c->ipcss, c->ipcso, c->ipcse, false);
	if (s->popts & E1000_POPTS_TXSM) {
		uint32_t sum = e1000_csum_add(len - c->tucss, f + c->tucss, len - c->tucss);
		uint16_t v = ~e1000_csum_fold(sum);
		put_be16(f + c->tucso, v ? v : 0xFFFF);
	}
	e1000_tx_send(d, p, f, len);
	s->sent += seg_len;
	s->seg++;
}

/* Streams the packet's data: the first HDRLEN bytes into the header template, the rest into
 * MSS-sized segments, each sent as soon as it is full (or the data ends). */
static void e1000_tx_tso(struct e1000 *d, const struct e1000_tx_pkt *p)
{
	struct e1000_tso s = { .popts = p->first->upper >> 8 };
	e1000_ctx_decode(d->tx_ctx, &s.c);
	if (!e1000_tso_valid(&s, p->len)) {
		e1000_stat_add(d, E1000_TSCTFC, 1);
		log_once(LOG_WARN, "e1000: TCP segmentation context out of range: packet dropped");
		return;
	}
	e1000_stat_add(d, E1000_TSCTC, 1);
	s.payload = p->len - s.c.hdrlen;
	size_t hdr = 0, seg = 0;
	for (unsigned i = 0; i < p->n; i++) {
		const struct e1000_txd *t = &p->q[i];
		size_t l = e1000_txd_len(t);
		for (size_t pos = 0; !e1000_txd_is_ctx(t) && pos < l;) {
			uint8_t *dst;
			size_t m;
			if (hdr < s.c.hdrlen) {
				m = MIN(l - pos, s.c.hdrlen - hdr);
				dst = d->tso_hdr + hdr;
				hdr += m;
			} else {
				m = MIN(l - pos, s.c.mss - seg);
				dst = d->tx_buf + s.c.hdrlen + seg;
				seg += m;
			}
			if (guest_mem_read(d->mem, t->addr + pos, dst, m) < 0) {
				e1000_dma_error(d, "TSO buffer outside guest RAM: rest dropped");
				return;
			}
			pos += m;
			if (seg == s.c.mss || (seg && s.sent + seg == s.payload)) {
				e1000_tso_segment(d, p, &s, seg);
				seg = 0;
			}
		}
	}
	if (!s.payload)
		e1000_tso_segment(d, p, &s, 0); /* a header alone still makes one frame */
}

/* ---- the ring ---- */

/* Sends the packet whose descriptors are P->q[0..n): contexts take effect in order, data go
 * out as one frame (or TSO segments). COMPLETE is false for a chain without EOP that filled
 * the descriptor cache: it is dropped. */
static void e1000_tx_packet(struct e1000 *d, const struct e1000_txd *q, unsigned n, bool complete)
{
	struct e1000_tx_pkt p = { .q = q, .n = n };
	for (unsigned i = 0; i < n; i++) {
		if (e1000_txd_is_ctx(&q[i])) {
			e1000_ctx_store(d, &q[i]);
			continue;
		}
		if (!p.first)
			p.first = &q[i];
		p.eop = &q[i];
		p.len += e1000_txd_len(&q[i]);
	}
	if (!p.first)
		return;
	if (!complete) {
		log_once(LOG_WARN, "e1000: transmit chain of over %d descriptors: dropped", n);
		return;
	}
	uint16_t special = p.eop->upper >> 16;
	p.vle = (e1000_txd_cmd(p.eop) & E1000_TXD_CMD_VLE) &&
		(E1000_REG(d, E1000_CTRL) & E1000_CTRL_VME);
	put_be16(p.tag, E1000_REG(d, E1000_VET));
	put_be16(p.tag + 2, special);
	bool tse = (e1000_txd_cmd(p.first) & E1000_TXD_CMD_DEXT) &&
		   (e1000_txd_cmd(p.first) & E1000_TXD_CMD_TSE);
	if (tse)
		e1000_tx_tso(d, &p);
	else if (p.len < ETH_HLEN || p.len > NET_MAX_FRAME)
		log_once(LOG_WARN, "e1000: transmit frame of %zu bytes: dropped", p.len);
	else
		e1000_tx_plain(d, &p);
}

/* Writes DD back into the descriptors that asked (RS) and raises TXDW, delayed when every
 * one of them had IDE. */
static void e1000_tx_writeback(struct e1000 *d, uint32_t head, unsigned n, uint32_t size)
{
	bool rs = false, delay = true;
	for (unsigned i = 0; i < n; i++) {
		const struct e1000_txd *t = &d->txq[i];
		uint8_t cmd = e1000_txd_cmd(t);
		if (!(cmd & E1000_TXD_CMD_RS))
			continue;
		uint8_t sta = (t->upper & 0xFF) | E1000_TXD_STAT_DD;
		uint64_t at = e1000_tx_base(d) + (uint64_t)((head + i) % size) * E1000_DESC_SIZE;
		guest_mem_write(d->mem, at + 12, &sta, 1);
		rs = true;
		delay &= !!(cmd & E1000_TXD_CMD_IDE);
	}
	if (rs)
		e1000_tx_done_irq(d, delay);
}

/* Reads descriptors from HEAD into the cache up to the end of a packet (EOP), a lone context
 * descriptor, or TAIL. Returns how many; *DONE says whether they make a whole packet. */
static int e1000_tx_fetch(struct e1000 *d, uint32_t head, uint32_t tail, uint32_t size,
			  bool *done)
{
	unsigned n = 0;
	*done = false;
	for (uint32_t idx = head; idx != tail && n < E1000_TX_MAX_DESC; idx = (idx + 1) % size) {
		struct e1000_txd *t = &d->txq[n++];
		if (!e1000_txd_read(d, idx, t)) {
			e1000_dma_error(d, "transmit descriptor ring outside guest RAM");
			return -1;
		}
		bool ctx = e1000_txd_is_ctx(t);
		if ((ctx && n == 1) || (!ctx && (e1000_txd_cmd(t) & E1000_TXD_CMD_EOP))) {
			*done = true;
			break;
		}
	}
	return n;
}

/* Processes descriptors from TDH to TDT (3.4). A packet whose EOP the guest has not handed
 * over yet waits for the next TDT write; TDH stays at its first descriptor. */
void e1000_tx_run(struct e1000 *d)
{
	if (!(E1000_REG(d, E1000_TCTL) & E1000_TCTL_EN) || !e1000_bus_master(d))
		return;
	uint32_t size = E1000_REG(d, E1000_TDLEN) / E1000_DESC_SIZE;
	uint32_t head = E1000_REG(d, E1000_TDH), tail = E1000_REG(d, E1000_TDT);
	if (head == tail)
		return;
	if (head >= size || tail >= size) {
		e1000_dma_error(d, "transmit ring: TDH %u or TDT %u past its %u descriptors", head,
				tail, size);
		return;
	}
	while (head != tail) {
		bool done;
		int n = e1000_tx_fetch(d, head, tail, size, &done);
		if (n <= 0 || (!done && n < E1000_TX_MAX_DESC))
			break;
		e1000_tx_packet(d, d->txq, n, done);
		e1000_tx_writeback(d, head, n, size);
		head = (head + n) % size;
		E1000_REG(d, E1000_TDH) = head;
	}
	if (head == tail)
		e1000_set_cause(d, E1000_ICR_TXQE);
}
