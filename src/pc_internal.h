/* The machine's internals, shared by the files that make it up: pc.c (wiring, power, control),
 * pc_firmware.c (what fw_cfg and CMOS tell the firmware). Not for devices or backends. */
#pragma once
#include <glib.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "devices/device.h"
#include "devices/ide.h"
#include "devices/piix3.h"
#include "guest_mem.h"
#include "kvm/kvm.h"
#include "kvm/vcpu.h"
#include "pc.h"
#include "ui/display.h"
#include "ui/keymap.h"

/* pc-platform.md, "Memory map" */
#define PC_VGA_HOLE_START 0xA0000u
#define PC_BIOS_AREA_START 0xC0000u
#define PC_LOW_MEM_END 0x100000u
#define PC_PCI_HOLE_START 0xE0000000ull
#define PC_4G 0x100000000ull
#define PC_MAX_BIOS_SIZE (16u << 20)

enum { SLOT_LOW, SLOT_BELOW_4G, SLOT_ABOVE_4G, SLOT_BIOS, PC_SLOT_LFB };

/* ISA interrupt lines (pc-platform.md, "ISA devices and ports") */
enum { IRQ_KBD = 1, IRQ_COM1 = 4, IRQ_RTC = 8, IRQ_SCI = 9, IRQ_MOUSE = 12, IRQ_IDE0 = 14,
       IRQ_IDE1 = 15 };

/* pc-platform.md, "PCI bus 0": the LSI 53C895A SCSI controller, there when a [scsi0:N] is */
#define PC_SCSI_SLOT 4

struct pc_device {
	const struct device_class *cls;
	void *dev;
};

struct pc_nic {
	struct e1000 *dev;
	struct net_port *port;
	bool nat; /* the backend is slirp: port forwards apply */
};

struct pc {
	unsigned ncpus;
	uint64_t ram_size, below_4g, above_4g;
	uint8_t *ram;
	uint8_t *bios;
	size_t bios_size;
	struct guest_mem mem;
	char *kvm_path;
	struct kvm_vm kvm;
	struct vcpu *vcpus;
	bool cpus_on;
	struct bus *io, *mmio;
	struct pci_bus *pci;
	struct clock *clock;
	struct machine_hooks hooks;
	struct vcpu_env vcpu_env;
	struct irq_line isa_irq[PIIX3_ISA_IRQS];
	/* each GSI's level as devices drive it, replayed into a freshly created VM */
	int irq_level[24];
	struct chardev *serial;
	bool serial_stdio;
	/* every drive slot (config.h: IDE, then SCSI): its image or disc, and what it holds (IDE
	 * kinds for either bus: a SCSI slot holds a disk or nothing) */
	struct block_dev *disks[VM_DRIVE_SLOTS];
	enum ide_kind drive_kind[VM_DRIVE_SLOTS];
	char *boot_order;
	GArray *devices; /* struct pc_device, in creation order */
	struct piix3 *piix3;
	struct piix_ide *ide;
	struct lsi *scsi; /* NULL: no SCSI drive */
	struct acpi_pm *pm;
	struct rtc *rtc;
	struct fw_cfg *fw;
	struct i8042 *kbc;
	struct vga *vga;
	struct pc_nic nics[VM_MAX_NICS];
	/* the VGA's linear framebuffer as KVM slot PC_SLOT_LFB */
	bool lfb_mapped;
	uint64_t lfb_gpa, lfb_size;
	void *lfb_hva;
	struct display_ops display;
	struct display_surface surface;
	struct keymap_kbd kbd_state;
	struct vnc_server *vnc;
	char *vnc_listen, *vnc_password, *keyboard;
	GMainLoop *loop;
	char *name;
	char *bundle_dir;
	bool paused;
	int64_t powered_on_at; /* g_get_monotonic_time() */
	struct control_server *control;
	/* requests from vCPU threads and devices, acted on by the main loop */
	pthread_mutex_t req_lock;
	bool reset_pending, exit_pending, request_scheduled;
	int exit_code;
	/* host input for the serial port not yet taken by the UART */
	GByteArray *stdin_pending;
	guint stdin_watch, stdin_retry;
	guint posted_tick; /* pc_posted_tick */
};

/* pc.c */
void *pc_add_device(struct pc *pc, const char *name, const struct dev_ctx *ctx);
/* A device's context: the machine's memory, clock, hooks and PCI bus, and ISA IRQs IRQ0 and
 * IRQ1 (-1: none). */
struct dev_ctx pc_ctx(struct pc *pc, int irq0, int irq1);
/* Registers ports; a clash is a machine layout bug (fatal). */
void pc_map_io(struct pc *pc, uint16_t base, uint16_t len, const struct bus_ops *ops, void *opaque,
	       pthread_mutex_t *lock, const char *owner);
int pc_cpus_build(struct pc *pc, char **error);
int pc_cpus_start(struct pc *pc, char **error);
void pc_cpus_off(struct pc *pc);
void pc_reset_devices(struct pc *pc);
/* Stops the vCPUs for a moment (snapshots) without changing the VM's paused state, and lets
 * them go again (unless the user paused the VM). */
void pc_vcpus_hold(struct pc *pc, bool hold);

/* pc_snapshot.c: at start, before resuming, completes an interrupted snapshot operation and
 * removes its leftovers (snapshot/offline.h). */
void pc_snapshot_recover(struct pc *pc);

/* pc_drives.c */
int pc_open_disks(struct pc *pc, const struct vm_config *cfg, const char *dir, char **error);
void pc_add_ide(struct pc *pc);
void pc_add_scsi(struct pc *pc);

/* pc_display.c */
int pc_add_display(struct pc *pc, const char *bios_path, char **error);
void pc_display_map_memory(struct pc *pc);

/* pc_net.c */
int pc_add_nics(struct pc *pc, const struct vm_config *cfg, char **error);
void pc_free_nics(struct pc *pc);

/* pc_firmware.c */
void pc_setup_cmos(struct pc *pc);
void pc_setup_fw_cfg(struct pc *pc, const struct vm_config *cfg);
/* What the machine can boot from, as the fw_cfg "bootorder" file names it. */
struct pc_boot_targets {
	enum ide_kind drive_kind[VM_DRIVE_SLOTS]; /* by drive slot, IDE then SCSI */
	int nic_devfn[VM_MAX_NICS]; /* -1: no card [netN], or a card without an option ROM */
};
/* The "bootorder" text (one SeaBIOS device path a line) for BOOT_ORDER, a [vm] boot= list:
 * for each of its items, every drive of that kind in slot order (IDE, then SCSI), or for
 * "network" every
 * network card with a boot ROM in [netN] order. Freed with g_free. */
char *pc_bootorder_text(const char *boot_order, const struct pc_boot_targets *t);
