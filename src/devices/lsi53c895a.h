/*
 * LSI Logic LSI53C895A PCI to Ultra2 SCSI controller (PCI 1000:0012), as the LSI53C895A
 * Technical Manual describes it: BAR0 256 bytes of I/O space and BAR1 1 KiB of memory space
 * both reaching the operating registers, BAR2 8 KiB of SCRIPTS RAM; the SCSI SCRIPTS processor
 * running the driver's programs from guest memory or its RAM; interrupts on INTA/. SeaBIOS
 * (lsi-scsi), Linux (sym53c8xx_2) and Windows XP (symc8xx) drive it.
 *
 * The machine creates it from the registry with ctx->mem, ctx->clock, ctx->pci and
 * ctx->disks[i] = the image of SCSI target i (NULL: nothing answers at that ID), for i below
 * LSI_MAX_TARGETS and DEV_MAX_DISKS, and attaches lsi_pci() to a PCI slot:
 *
 *     struct lsi *scsi = device_class_find("lsi53c895a")->create(&ctx);
 *     pci_bus_attach(pc->pci, 4, 0, lsi_pci(scsi));
 *
 * Each present target is a disk of 512-byte blocks (src/devices/scsi_disk.c) with LUN 0; its
 * other LUNs answer as not present. The chip's own ID is 7 by convention (SCID is the driver's).
 *
 * Threads: register accesses (vCPU threads, the bus holds the device lock) start and run the
 * SCRIPTS processor; it runs at most a slice of instructions (or of data) at a time and goes
 * on from a timer on the main loop, so a guest's SCRIPTS loop never holds a vCPU and, polling
 * memory, costs the host little (the gap between slices grows to 10 ms). Block requests
 * complete on the main loop (or inline), which resumes a processor waiting for the data. The
 * general purpose timer (STIME1) runs on the clock.
 *
 * For SeaBIOS's lsi-scsi driver, written against QEMU's model: a target asks for a message
 * after a selection without ATN too, takes up to 16 command bytes in one move, a block move of
 * zero bytes moves nothing, ISTAT SRST acts as a pulse, SCID is not compared with the selected
 * ID, and a SELECT while a target holds the bus drops that connection.
 *
 * Not modelled: target mode, low-level mode (SOCL/SODL driving the bus), synchronous and wide
 * transfers (targets answer SDTR/WDTR with asynchronous narrow), disconnection and
 * reselection (targets never disconnect), parity, the selection and handshake timers (STIME0:
 * a selection of an absent ID times out at once, handshakes never do), the phase mismatch
 * jump (CCNTL0 ENPMJ: a mismatch interrupts with MA, as on chips without it), the FIFOs
 * (always empty), the serial EEPROM on GPIO.
 */
#pragma once
#include <stdbool.h>
#include <stdint.h>

#include "devices/device.h"
#include "devices/pci.h"

#define LSI_VENDOR 0x1000 /* LSI Logic */
#define LSI_DEVICE 0x0012 /* 53C895A */
#define LSI_SUBSYS_VENDOR 0x1000
#define LSI_SUBSYS_ID 0x1000
#define LSI_IO_SIZE 0x100   /* BAR0 */
#define LSI_MMIO_SIZE 0x400 /* BAR1 */
#define LSI_RAM_SIZE 0x2000 /* BAR2: 8 KiB (Linux's sym53c8xx chip table: FE_RAM8K) */
#define LSI_REGS_SIZE 0x100
/* SCSI IDs 0-6 may hold a disk (7 is the adapter's) */
#define LSI_MAX_TARGETS 7

struct lsi;

extern const struct device_class lsi53c895a_class;
extern const struct bus_ops lsi_reg_ops; /* BAR0 and BAR1, opaque: struct lsi */
extern const struct bus_ops lsi_ram_ops; /* BAR2 */

struct pci_function *lsi_pci(struct lsi *dev);
/* Whether a block request is in flight (a load issues it again): for tests and the fuzzer. */
bool lsi_io_in_flight(struct lsi *dev);
