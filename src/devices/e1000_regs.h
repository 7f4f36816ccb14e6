/*
 * The 82540EM's register map, descriptor formats and what the e1000 files share among
 * themselves (not an interface for anyone else). Offsets, bits and descriptor layouts are
 * those of the "PCI/PCI-X Family of Gigabit Ethernet Controllers Software Developer's Manual"
 * (8254x SDM, rev. 4.0): chapter 13 for registers, chapter 3 for descriptors.
 */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "devices/e1000.h"
#include "log.h"

/* The register file (E1000_NREGS words) by offset. */
#define E1000_REG(d, off) ((d)->regs[(off) >> 2])

/* ---- general (SDM 13.4) ---- */
#define E1000_CTRL 0x0000
#define E1000_STATUS 0x0008
#define E1000_EECD 0x0010
#define E1000_EERD 0x0014
#define E1000_CTRL_EXT 0x0018
#define E1000_FLA 0x001C
#define E1000_MDIC 0x0020
#define E1000_FCAL 0x0028
#define E1000_FCAH 0x002C
#define E1000_FCT 0x0030
#define E1000_VET 0x0038
#define E1000_ICR 0x00C0
#define E1000_ITR 0x00C4
#define E1000_ICS 0x00C8
#define E1000_IMS 0x00D0
#define E1000_IMC 0x00D8
#define E1000_RCTL 0x0100
#define E1000_FCTTV 0x0170
#define E1000_TXCW 0x0178
#define E1000_RXCW 0x0180
#define E1000_TCTL 0x0400
#define E1000_TIPG 0x0410
#define E1000_AIT 0x0458
#define E1000_LEDCTL 0x0E00
#define E1000_PBA 0x1000
#define E1000_FCRTL 0x2160
#define E1000_FCRTH 0x2168
#define E1000_RDFH 0x2410
#define E1000_RDFPC 0x2430
#define E1000_RDBAL 0x2800
#define E1000_RDBAH 0x2804
#define E1000_RDLEN 0x2808
#define E1000_RDH 0x2810
#define E1000_RDT 0x2818
#define E1000_RDTR 0x2820
#define E1000_RXDCTL 0x2828
#define E1000_RADV 0x282C
#define E1000_RSRPD 0x2C00
#define E1000_TXDMAC 0x3000
#define E1000_TDFH 0x3410
#define E1000_TDFPC 0x3430
#define E1000_TDBAL 0x3800
#define E1000_TDBAH 0x3804
#define E1000_TDLEN 0x3808
#define E1000_TDH 0x3810
#define E1000_TDT 0x3818
#define E1000_TIDV 0x3820
#define E1000_TXDCTL 0x3828
#define E1000_TADV 0x382C
#define E1000_TSPMT 0x3830
#define E1000_RXCSUM 0x5000
#define E1000_MTA 0x5200 /* 128 entries */
#define E1000_RAL0 0x5400 /* RAL/RAH pairs, 16 entries */
#define E1000_RAH0 0x5404
#define E1000_VFTA 0x5600 /* 128 entries */
#define E1000_WUC 0x5800
#define E1000_WUFC 0x5808
#define E1000_WUS 0x5810
#define E1000_MANC 0x5820
#define E1000_IPAV 0x5838
#define E1000_IP4AT 0x5840
#define E1000_IP6AT 0x5880
#define E1000_WUPL 0x5900
#define E1000_WUPM 0x5A00
#define E1000_FFLT 0x5F00

/* ---- statistics (SDM 13.7): clear on read; the 64-bit pairs clear when the high half is
 * read; all stick at their maximum ---- */
#define E1000_STATS_FIRST 0x4000
#define E1000_STATS_LAST 0x40FC
#define E1000_CRCERRS 0x4000
#define E1000_RXERRC 0x400C
#define E1000_MPC 0x4010
#define E1000_PRC64 0x405C
#define E1000_GPRC 0x4074
#define E1000_BPRC 0x4078
#define E1000_MPRC 0x407C
#define E1000_GPTC 0x4080
#define E1000_GORCL 0x4088
#define E1000_GORCH 0x408C
#define E1000_GOTCL 0x4090
#define E1000_GOTCH 0x4094
#define E1000_RNBC 0x40A0
#define E1000_RUC 0x40A4
#define E1000_ROC 0x40AC
#define E1000_TORL 0x40C0
#define E1000_TORH 0x40C4
#define E1000_TOTL 0x40C8
#define E1000_TOTH 0x40CC
#define E1000_TPR 0x40D0
#define E1000_TPT 0x40D4
#define E1000_PTC64 0x40D8
#define E1000_MPTC 0x40F0
#define E1000_BPTC 0x40F4
#define E1000_TSCTC 0x40F8
#define E1000_TSCTFC 0x40FC

/* CTRL (13.4.1) */
#define E1000_CTRL_FD 0x00000001u
#define E1000_CTRL_SLU 0x00000040u
#define E1000_CTRL_RST 0x04000000u
#define E1000_CTRL_VME 0x40000000u
#define E1000_CTRL_PHY_RST 0x80000000u

/* STATUS (13.4.2): full duplex, link up, 1000 Mb/s, auto-speed detection 1000 */
#define E1000_STATUS_FD 0x00000001u
#define E1000_STATUS_LU 0x00000002u
#define E1000_STATUS_SPEED_1000 0x00000080u
#define E1000_STATUS_ASDV_1000 0x00000200u

/* EECD (13.4.3) */
#define E1000_EECD_SK 0x001u
#define E1000_EECD_CS 0x002u
#define E1000_EECD_DI 0x004u
#define E1000_EECD_DO 0x008u
#define E1000_EECD_FWE 0x030u
#define E1000_EECD_REQ 0x040u
#define E1000_EECD_GNT 0x080u
#define E1000_EECD_PRES 0x100u

/* EERD (13.4.4), the 82540/82544/82545/82546 layout */
#define E1000_EERD_START 0x00000001u
#define E1000_EERD_DONE 0x00000010u
#define E1000_EERD_ADDR_SHIFT 8
#define E1000_EERD_DATA_SHIFT 16

/* CTRL_EXT (13.4.6): EEPROM reload, self-clearing */
#define E1000_CTRL_EXT_EE_RST 0x00002000u

/* MDIC (13.4.7) */
#define E1000_MDIC_DATA 0x0000FFFFu
#define E1000_MDIC_REG_SHIFT 16
#define E1000_MDIC_PHY_SHIFT 21
#define E1000_MDIC_OP_SHIFT 26
#define E1000_MDIC_OP_WRITE 1u
#define E1000_MDIC_OP_READ 2u
#define E1000_MDIC_READY 0x10000000u
#define E1000_MDIC_INT_EN 0x20000000u
#define E1000_MDIC_ERROR 0x40000000u
#define E1000_PHY_ADDR 1

/* Interrupt causes: ICR/ICS/IMS/IMC (13.4.17-13.4.21) */
#define E1000_ICR_TXDW 0x00000001u
#define E1000_ICR_TXQE 0x00000002u
#define E1000_ICR_LSC 0x00000004u
#define E1000_ICR_RXSEQ 0x00000008u
#define E1000_ICR_RXDMT0 0x00000010u
#define E1000_ICR_RXO 0x00000040u
#define E1000_ICR_RXT0 0x00000080u
#define E1000_ICR_MDAC 0x00000200u
#define E1000_ICR_RXCFG 0x00000400u
#define E1000_ICR_PHYINT 0x00001000u
#define E1000_ICR_GPI 0x00006000u
#define E1000_ICR_TXD_LOW 0x00008000u
#define E1000_ICR_SRPD 0x00010000u
#define E1000_ICR_ALL 0x0001F6DFu

/* RCTL (13.4.22) */
#define E1000_RCTL_EN 0x00000002u
#define E1000_RCTL_UPE 0x00000008u
#define E1000_RCTL_MPE 0x00000010u
#define E1000_RCTL_LPE 0x00000020u
#define E1000_RCTL_RDMTS_SHIFT 8
#define E1000_RCTL_MO_SHIFT 12
#define E1000_RCTL_BAM 0x00008000u
#define E1000_RCTL_BSIZE_SHIFT 16
#define E1000_RCTL_VFE 0x00040000u
#define E1000_RCTL_BSEX 0x02000000u
#define E1000_RCTL_SECRC 0x04000000u

#define E1000_RDTR_FPD 0x80000000u
#define E1000_TCTL_EN 0x00000002u
#define E1000_RAH_AV 0x80000000u
#define E1000_RXCSUM_PCSS 0x000000FFu
#define E1000_RXCSUM_IPOFL 0x00000100u
#define E1000_RXCSUM_TUOFL 0x00000200u

/* ---- descriptors (SDM 3.2, 3.3): 16 bytes, little-endian ---- */
#define E1000_DESC_SIZE 16

/* Receive descriptor, legacy (3.2.3): status and errors bytes */
#define E1000_RXD_STAT_DD 0x01
#define E1000_RXD_STAT_EOP 0x02
#define E1000_RXD_STAT_IXSM 0x04
#define E1000_RXD_STAT_VP 0x08
#define E1000_RXD_STAT_TCPCS 0x20
#define E1000_RXD_STAT_IPCS 0x40
#define E1000_RXD_ERR_TCPE 0x20
#define E1000_RXD_ERR_IPE 0x40
#define E1000_RXD_ERR_RXE 0x80

/* Transmit descriptors: byte 11 is the command byte of every kind, byte 12 the status */
#define E1000_TXD_CMD_EOP 0x01
#define E1000_TXD_CMD_IFCS 0x02
#define E1000_TXD_CMD_IC 0x04  /* legacy: insert checksum */
#define E1000_TXD_CMD_TSE 0x04 /* context/data: TCP segmentation */
#define E1000_TXD_CMD_RS 0x08
#define E1000_TXD_CMD_DEXT 0x20
#define E1000_TXD_CMD_VLE 0x40
#define E1000_TXD_CMD_IDE 0x80
#define E1000_TXD_STAT_DD 0x01
#define E1000_TXD_DTYP_CTX 0x0
#define E1000_TXD_DTYP_DATA 0x1
/* context descriptor TUCMD (3.3.6) */
#define E1000_TUCMD_TCP 0x01
#define E1000_TUCMD_IP 0x02
/* data descriptor POPTS (3.3.7) */
#define E1000_POPTS_IXSM 0x01
#define E1000_POPTS_TXSM 0x02

struct e1000_txd {
	uint64_t addr;
	uint32_t lower; /* length / DTALEN, CSO or DTYP, CMD */
	uint32_t upper; /* STA, CSS or POPTS, special */
};

static inline uint8_t e1000_txd_cmd(const struct e1000_txd *d)
{
	return d->lower >> 24;
}

static inline bool e1000_txd_is_ctx(const struct e1000_txd *d)
{
	return (e1000_txd_cmd(d) & E1000_TXD_CMD_DEXT) &&
	       ((d->lower >> 20) & 0xF) == E1000_TXD_DTYP_CTX;
}

/* ---- EEPROM words (SDM 5.6) ---- */
#define E1000_EE_ICW1 0x0A /* initialization control word 1 */
#define E1000_EE_SUBSYS_ID 0x0B
#define E1000_EE_SUBSYS_VENDOR 0x0C
#define E1000_EE_DEVICE_ID 0x0D
#define E1000_EE_VENDOR_ID 0x0E
#define E1000_EE_ICW2 0x0F
#define E1000_EE_CHECKSUM 0x3F
#define E1000_EE_SUM 0xBABA /* words 00h-3Fh add up to this */
#define E1000_EE_CMD_BITS 9 /* Microwire: start bit, 2 opcode bits, 6 address bits */

/* ---- shared among the e1000 files (device lock held) ---- */

/* e1000_eeprom_phy.c */
void e1000_eeprom_init(struct e1000 *d);
void e1000_load_mac(struct e1000 *d);
void e1000_ee_idle(struct e1000 *d);
void e1000_eecd_write(struct e1000 *d, unsigned off, uint32_t val);
void e1000_eerd_write(struct e1000 *d, unsigned off, uint32_t val);
void e1000_mdic_write(struct e1000 *d, unsigned off, uint32_t val);
void e1000_phy_reset(struct e1000 *d);
bool e1000_phy_link(const struct e1000 *d);

/* e1000.c */
void e1000_link_update(struct e1000 *d);

/* Delays are in 1.024 us units (RDTR, RADV, TIDV, TADV), ITR in 256 ns units. */
#define E1000_DELAY_UNIT_NS 1024
#define E1000_ITR_UNIT_NS 256

void e1000_set_cause(struct e1000 *d, uint32_t cause);
void e1000_update_irq(struct e1000 *d);
/* A receive descriptor was written back with EOP / a transmit descriptor with RS. */
void e1000_rx_done_irq(struct e1000 *d);
void e1000_tx_done_irq(struct e1000 *d, bool delayed);
/* A guest DMA error (a ring or buffer outside guest RAM, a ring that cannot work): counted,
 * logged once per call site, answered by dropping the frame. */
#define e1000_dma_error(d, ...)                                                                    \
	do {                                                                                       \
		(d)->dma_errors++;                                                                 \
		log_once(LOG_WARN, "e1000: " __VA_ARGS__);                                         \
	} while (0)
bool e1000_bus_master(const struct e1000 *d);

/* Statistics: 32-bit counters and 64-bit low/high pairs, saturating. */
void e1000_stat_add(struct e1000 *d, unsigned reg, uint32_t n);
void e1000_stat_add64(struct e1000 *d, unsigned lo_reg, uint64_t n);
/* Size buckets (PRC64.. or PTC64..), broadcast/multicast counters of one good frame. */
void e1000_stat_frame(struct e1000 *d, unsigned bucket64_reg, const uint8_t *dst, size_t len);

/* Ones'-complement sums (RFC 1071), for the checksum offloads. */
uint32_t e1000_csum_add(uint32_t sum, const uint8_t *p, size_t n);
uint16_t e1000_csum_fold(uint32_t sum);

void e1000_tx_run(struct e1000 *d);
bool e1000_rx_receive(void *nic, const uint8_t *frame, size_t len);
