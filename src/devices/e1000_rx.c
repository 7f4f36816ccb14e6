/*
 * e1000 receive (8254x SDM 3.2, 8.x address filtering): frames from the port are filtered by
 * the receive address registers, the multicast table and the VLAN filter, padded to 60 bytes,
 * given their FCS unless RCTL.SECRC strips it, and written into the legacy descriptor ring,
 * one buffer of RCTL.BSIZE bytes after another. Runs on the main loop through the nic op.
 */
#include <glib.h>
#include <string.h>
#include <zlib.h>

#include "devices/e1000_regs.h"

#define ETH_HLEN 14
#define ETH_ZLEN 60
#define ETH_FCS_LEN 4
#define VLAN_HLEN 4
#define ETH_P_IP 0x0800
#define IPPROTO_TCP_ 6
#define IPPROTO_UDP_ 17

static uint16_t get_be16(const uint8_t *p)
{
	return p[0] << 8 | p[1];
}

/* ---- filtering (8.x: receive address, multicast table, VLAN filter table) ---- */

static bool e1000_ra_match(const struct e1000 *d, const uint8_t *dst)
{
	for (unsigned i = 0; i < 16; i++) {
		uint32_t ral = E1000_REG(d, E1000_RAL0 + 8 * i), rah = E1000_REG(d, E1000_RAH0 + 8 * i);
		/* AS (bits 17:16) 00b: match the destination address */
		if (!(rah & E1000_RAH_AV) || (rah & 0x30000))
			continue;
		uint8_t a[6] = { ral, ral >> 8, ral >> 16, ral >> 24, rah, rah >> 8 };
		if (!memcmp(a, dst, 6))
			return true;
	}
	return false;
}

/* RCTL.MO picks which 12 bits of the address index the 4096-bit table (13.4.22). */
static bool e1000_mta_match(const struct e1000 *d, const uint8_t *dst)
{
	static const unsigned shift[4] = { 4, 3, 2, 0 };
	unsigned mo = (E1000_REG(d, E1000_RCTL) >> E1000_RCTL_MO_SHIFT) & 3;
	unsigned hash = ((dst[4] >> shift[mo]) | (unsigned)dst[5] << (8 - shift[mo])) & 0xFFF;
	return (E1000_REG(d, E1000_MTA + 4 * (hash >> 5)) >> (hash & 31)) & 1;
}

static bool e1000_vlan_tagged(const struct e1000 *d, const uint8_t *f, size_t len)
{
	return len >= ETH_HLEN + VLAN_HLEN && get_be16(f + 12) == (E1000_REG(d, E1000_VET) & 0xFFFF);
}

static bool e1000_rx_accept(const struct e1000 *d, const uint8_t *f, size_t len)
{
	uint32_t rctl = E1000_REG(d, E1000_RCTL);
	if ((rctl & E1000_RCTL_VFE) && e1000_vlan_tagged(d, f, len)) {
		unsigned vid = get_be16(f + 14) & 0xFFF;
		if (!((E1000_REG(d, E1000_VFTA + 4 * (vid >> 5)) >> (vid & 31)) & 1))
			return false;
	}
	static const uint8_t bcast[6] = { 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF };
	if (!memcmp(f, bcast, 6))
		return rctl & E1000_RCTL_BAM;
	if (e1000_ra_match(d, f))
		return true;
	if (f[0] & 1)
		return (rctl & E1000_RCTL_MPE) || e1000_mta_match(d, f);
	return rctl & E1000_RCTL_UPE;
}

/* ---- checksums (3.2.9, RXCSUM 13.4.24) ---- */

struct e1000_rx_status {
	uint8_t status, errors;
	uint16_t csum, special;
};

/* IPv4 header checksum (IPOFL) and TCP/UDP checksum of unfragmented IPv4 (TUOFL). */
static void e1000_rx_offload(const struct e1000 *d, const uint8_t *f, size_t len,
			     struct e1000_rx_status *st)
{
	uint32_t rxcsum = E1000_REG(d, E1000_RXCSUM);
	if (len < ETH_HLEN + 20 || get_be16(f + 12) != ETH_P_IP || (f[ETH_HLEN] >> 4) != 4)
		return;
	const uint8_t *ip = f + ETH_HLEN;
	size_t ihl = (ip[0] & 0xF) * 4u, tot = get_be16(ip + 2);
	if (ihl < 20 || tot < ihl || ETH_HLEN + tot > len)
		return;
	if (rxcsum & E1000_RXCSUM_IPOFL) {
		st->status |= E1000_RXD_STAT_IPCS;
		if (e1000_csum_fold(e1000_csum_add(0, ip, ihl)) != 0xFFFF)
			st->errors |= E1000_RXD_ERR_IPE;
	}
	unsigned proto = ip[9];
	size_t l4len = tot - ihl;
	bool fragment = get_be16(ip + 6) & 0x3FFF;
	if (!(rxcsum & E1000_RXCSUM_TUOFL) || fragment ||
	    !((proto == IPPROTO_TCP_ && l4len >= 20) || (proto == IPPROTO_UDP_ && l4len >= 8)))
		return;
	if (proto == IPPROTO_UDP_ && get_be16(ip + ihl + 6) == 0)
		return; /* sent without a checksum */
	uint32_t sum = e1000_csum_add(proto + l4len, ip + 12, 8); /* pseudo-header */
	sum = e1000_csum_add(sum, ip + ihl, l4len);
	st->status |= E1000_RXD_STAT_TCPCS;
	if (e1000_csum_fold(sum) != 0xFFFF)
		st->errors |= E1000_RXD_ERR_TCPE;
}

/* ---- the ring ---- */

/* What goes into the buffers: the frame, then its FCS unless stripped. */
struct e1000_rx_src {
	const uint8_t *data;
	size_t len;
	uint8_t fcs[ETH_FCS_LEN];
	size_t total;
};

static int e1000_rx_copy(struct e1000 *d, uint64_t gpa, const struct e1000_rx_src *s, size_t off,
			 size_t n)
{
	if (off < s->len) {
		size_t m = MIN(n, s->len - off);
		if (guest_mem_write(d->mem, gpa, s->data + off, m) < 0)
			return -1;
		gpa += m;
		off += m;
		n -= m;
	}
	return n ? guest_mem_write(d->mem, gpa, s->fcs + (off - s->len), n) : 0;
}

/* RCTL.BSIZE with BSEX (13.4.22); the reserved BSEX 00b reads as 2048. */
static size_t e1000_rx_bufsize(uint32_t rctl)
{
	static const size_t sizes[2][4] = { { 2048, 1024, 512, 256 }, { 2048, 16384, 8192, 4096 } };
	return sizes[!!(rctl & E1000_RCTL_BSEX)][(rctl >> E1000_RCTL_BSIZE_SHIFT) & 3];
}

/* Writes the frame into NEED descriptors from RDH on; a descriptor or buffer outside RAM ends
 * it: the buffer's descriptor comes back with RXE (the guest drops the packet), a descriptor
 * that cannot be read stops the ring. Returns false after such an error. */
static bool e1000_rx_write(struct e1000 *d, const struct e1000_rx_src *s,
			   const struct e1000_rx_status *st, size_t bufsize, uint32_t size)
{
	uint64_t base = (uint64_t)E1000_REG(d, E1000_RDBAH) << 32 | E1000_REG(d, E1000_RDBAL);
	uint32_t head = E1000_REG(d, E1000_RDH);
	for (size_t off = 0; off < s->total;) {
		uint64_t at = base + (uint64_t)head * E1000_DESC_SIZE;
		uint64_t buf;
		if (guest_mem_read(d->mem, at, &buf, sizeof(buf)) < 0) {
			e1000_dma_error(d, "receive descriptor ring outside guest RAM: frame dropped");
			return false;
		}
		size_t n = MIN(bufsize, s->total - off);
		bool last = off + n == s->total, bad = false;
		if (e1000_rx_copy(d, GUINT64_FROM_LE(buf), s, off, n) < 0) {
			e1000_dma_error(d, "receive buffer outside guest RAM: frame dropped");
			bad = last = true;
			n = 0;
		}
		uint8_t wb[8] = { n, n >> 8 };
		if (last) {
			wb[2] = st->csum;
			wb[3] = st->csum >> 8;
			wb[4] = st->status | E1000_RXD_STAT_EOP;
			wb[5] = bad ? E1000_RXD_ERR_RXE : st->errors;
			wb[6] = st->special;
			wb[7] = st->special >> 8;
		}
		wb[4] |= E1000_RXD_STAT_DD;
		guest_mem_write(d->mem, at + 8, wb, sizeof(wb));
		head = (head + 1) % size;
		E1000_REG(d, E1000_RDH) = head;
		if (bad) {
			e1000_stat_add(d, E1000_RXERRC, 1);
			return false;
		}
		off += n;
	}
	return true;
}

/* Strips an 802.1Q tag into the descriptor (CTRL.VME) and pads short frames to 60 bytes, in
 * the device's buffer when either applies. */
static void e1000_rx_prepare(struct e1000 *d, const uint8_t *frame, size_t len,
			     struct e1000_rx_src *s, struct e1000_rx_status *st)
{
	s->data = frame;
	s->len = len;
	if ((E1000_REG(d, E1000_CTRL) & E1000_CTRL_VME) && e1000_vlan_tagged(d, frame, len)) {
		st->special = get_be16(frame + 14);
		st->status |= E1000_RXD_STAT_VP;
		memcpy(d->rx_buf, frame, 12);
		memcpy(d->rx_buf + 12, frame + 16, len - 16);
		s->data = d->rx_buf;
		s->len = len - VLAN_HLEN;
	}
	if (s->len < ETH_ZLEN) {
		if (s->data != d->rx_buf)
			memcpy(d->rx_buf, s->data, s->len);
		memset(d->rx_buf + s->len, 0, ETH_ZLEN - s->len);
		s->data = d->rx_buf;
		s->len = ETH_ZLEN;
	}
	s->total = s->len;
	if (!(E1000_REG(d, E1000_RCTL) & E1000_RCTL_SECRC)) {
		uint32_t crc = crc32(0, s->data, s->len); /* sent least significant byte first */
		for (int i = 0; i < ETH_FCS_LEN; i++)
			s->fcs[i] = crc >> (8 * i);
		s->total += ETH_FCS_LEN;
	}
}

/* Interrupts after a frame (3.2.7, 13.4.22, 13.4.31): RXDMT0 when the free descriptors drop to
 * RCTL.RDMTS of the ring, SRPD for a frame shorter than RSRPD, RXT0 after the delay timers. */
static void e1000_rx_interrupts(struct e1000 *d, uint32_t avail, uint32_t used, uint32_t size,
				size_t len)
{
	unsigned rdmts = (E1000_REG(d, E1000_RCTL) >> E1000_RCTL_RDMTS_SHIFT) & 3;
	uint32_t threshold = size >> (rdmts + 1);
	uint32_t cause = 0;
	if (avail > threshold && avail - used <= threshold)
		cause |= E1000_ICR_RXDMT0;
	uint32_t rsrpd = E1000_REG(d, E1000_RSRPD) & 0xFFF;
	if (rsrpd && len < rsrpd)
		cause |= E1000_ICR_SRPD;
	if (cause)
		e1000_set_cause(d, cause);
	e1000_rx_done_irq(d);
}

static void e1000_rx_count(struct e1000 *d, const uint8_t *frame, size_t len)
{
	size_t wire = MAX(len, ETH_ZLEN) + ETH_FCS_LEN;
	e1000_stat_add(d, E1000_GPRC, 1);
	e1000_stat_add64(d, E1000_GORCL, wire);
	e1000_stat_frame(d, E1000_PRC64, frame, wire);
}

/* Returns false only to keep the frame for later: receiving, but no room in the ring. */
static bool e1000_rx_frame(struct e1000 *d, const uint8_t *frame, size_t len)
{
	uint32_t rctl = E1000_REG(d, E1000_RCTL);
	if (!(rctl & E1000_RCTL_EN) || !e1000_phy_link(d) || !e1000_bus_master(d) ||
	    len < ETH_HLEN)
		return true;
	e1000_stat_add(d, E1000_TPR, 1);
	e1000_stat_add64(d, E1000_TORL, MAX(len, ETH_ZLEN) + ETH_FCS_LEN);
	if (!e1000_rx_accept(d, frame, len))
		return true;
	size_t max = 1518 + (e1000_vlan_tagged(d, frame, len) ? VLAN_HLEN : 0);
	if (!(rctl & E1000_RCTL_LPE) && len + ETH_FCS_LEN > max) {
		e1000_stat_add(d, E1000_ROC, 1);
		return true;
	}
	uint32_t size = E1000_REG(d, E1000_RDLEN) / E1000_DESC_SIZE;
	uint32_t head = E1000_REG(d, E1000_RDH), tail = E1000_REG(d, E1000_RDT);
	if (head >= size || tail >= size) {
		e1000_dma_error(d, "receive ring: RDH %u or RDT %u past its %u descriptors", head,
				tail, size);
		return true;
	}
	struct e1000_rx_src s;
	struct e1000_rx_status st = { 0 };
	e1000_rx_prepare(d, frame, len, &s, &st);
	size_t bufsize = e1000_rx_bufsize(rctl);
	uint32_t need = (s.total + bufsize - 1) / bufsize;
	uint32_t avail = (tail + size - head) % size;
	if (need >= size) {
		e1000_dma_error(d, "receive ring of %u descriptors cannot hold a %zu-byte frame",
				size, s.total);
		return true;
	}
	if (avail < need) {
		if (!d->rx_blocked)
			e1000_stat_add(d, E1000_RNBC, 1);
		d->rx_blocked = true;
		return false;
	}
	d->rx_blocked = false;
	e1000_rx_offload(d, s.data, s.len, &st);
	uint32_t pcss = E1000_REG(d, E1000_RXCSUM) & E1000_RXCSUM_PCSS;
	if (pcss < s.len)
		st.csum = e1000_csum_fold(e1000_csum_add(0, s.data + pcss, s.len - pcss));
	if (e1000_rx_write(d, &s, &st, bufsize, size))
		e1000_rx_count(d, s.data, s.len);
	e1000_rx_interrupts(d, avail, need, size, len);
	return true;
}

bool e1000_rx_receive(void *nic, const uint8_t *frame, size_t len)
{
	struct e1000 *d = nic;
	pthread_mutex_lock(&d->lock);
	bool taken = e1000_rx_frame(d, frame, len);
	pthread_mutex_unlock(&d->lock);
	return taken;
}
