/* What the machine tells its firmware: the fw_cfg items and files SeaBIOS reads (QEMU's
 * docs/specs/fw_cfg.rst; pc-platform.md, "Firmware") and the CMOS bytes it and OSes read. */
#include <string.h>
#include <uuid/uuid.h>

#include "devices/e1000.h"
#include "devices/fw_cfg.h"
#include "devices/pci.h"
#include "devices/rtc.h"
#include "devices/smbios.h"
#include "pc_internal.h"

struct __attribute__((packed)) e820_entry {
	uint64_t addr, len;
	uint32_t type;
};

enum { E820_RAM = 1, E820_RESERVED = 2 };

static void pc_fw_cfg_e820(struct pc *pc)
{
	struct e820_entry map[3];
	unsigned n = 0;
	map[n++] = (struct e820_entry){ 0, pc->below_4g, E820_RAM };
	map[n++] = (struct e820_entry){ KVM_IDENTITY_MAP_ADDR, KVM_RESERVED_SIZE, E820_RESERVED };
	if (pc->above_4g)
		map[n++] = (struct e820_entry){ PC_4G, pc->above_4g, E820_RAM };
	fw_cfg_add_file(pc->fw, "etc/e820", map, n * sizeof(map[0]));
}

/*
 * The fw_cfg "bootorder" file: one OpenFirmware path a line, best first, in the order of
 * [vm] boot= (default disk, cdrom, network). SeaBIOS (boot.c, find_prio) gives each device it
 * finds the priority of the first line its own path is a prefix of, and every device on no
 * line a lower one taken from the CMOS boot bytes: a device boot= names must be on a line, or
 * an unlisted disk would still come before it. A disk that does not boot falls through to the
 * next entry.
 */
static void pc_bootorder_drives(GString *out, const struct pc_boot_targets *t, enum ide_kind kind)
{
	for (unsigned slot = 0; slot < VM_DRIVE_SLOTS; slot++) {
		unsigned at = vm_drive_slots[slot].index;
		if (t->drive_kind[slot] != kind)
			continue;
		/* SeaBIOS (boot.c): an IDE drive is "/pci@i0cf8/ANY@1,1/drive@CHANNEL/disk@UNIT" (the
		 * PIIX IDE function is 00:01.1), a SCSI one "/pci@i0cf8/ANY@SLOT/ANY@0/ANY@ID,LUN"
		 * (bootprio_find_scsi_device; IDs 0-6 read the same in its decimal and QEMU's hex) */
		if (vm_drive_slots[slot].bus == VM_BUS_IDE)
			g_string_append_printf(out, "/pci@i0cf8/ide@1,1/drive@%u/disk@%u\n", at / 2,
					       at % 2);
		else
			g_string_append_printf(out, "/pci@i0cf8/scsi@%x/channel@0/disk@%u,0\n",
					       PC_SCSI_SLOT, at);
	}
}

/* SeaBIOS looks up a card's option ROM as "/pci@i0cf8/ANY@SLOT" (build_pci_path: slot in
 * hex, ",FN" for a function other than 0); the line names the card as QEMU names an e1000
 * given bootindex=, by its PCI class and the PHY below it. */
static void pc_bootorder_nics(GString *out, const struct pc_boot_targets *t)
{
	for (unsigned i = 0; i < VM_MAX_NICS; i++) {
		int devfn = t->nic_devfn[i];
		if (devfn < 0)
			continue;
		g_string_append_printf(out, "/pci@i0cf8/ethernet@%x", (unsigned)devfn >> 3);
		if (devfn & 7)
			g_string_append_printf(out, ",%x", (unsigned)devfn & 7);
		g_string_append(out, "/ethernet-phy@0\n");
	}
}

char *pc_bootorder_text(const char *boot_order, const struct pc_boot_targets *t)
{
	static const struct {
		const char *name;
		enum ide_kind drive; /* IDE_KIND_NONE: the network cards */
	} items[] = { { "disk", IDE_KIND_DISK }, { "cdrom", IDE_KIND_CDROM },
		      { "network", IDE_KIND_NONE } };
	GString *out = g_string_new(NULL);
	g_auto(GStrv) names = g_strsplit(boot_order, ",", -1);
	for (int i = 0; names[i]; i++) {
		const char *name = g_strstrip(names[i]);
		for (size_t k = 0; k < G_N_ELEMENTS(items); k++) {
			if (strcmp(name, items[k].name))
				continue;
			if (items[k].drive == IDE_KIND_NONE)
				pc_bootorder_nics(out, t);
			else
				pc_bootorder_drives(out, t, items[k].drive);
		}
	}
	return g_string_free(out, FALSE);
}

static void pc_fw_cfg_bootorder(struct pc *pc)
{
	struct pc_boot_targets t;
	memcpy(t.drive_kind, pc->drive_kind, sizeof(t.drive_kind));
	for (unsigned i = 0; i < VM_MAX_NICS; i++) {
		const struct pci_function *f = pc->nics[i].dev ? e1000_pci(pc->nics[i].dev) : NULL;
		t.nic_devfn[i] = f && f->rom_size ? (int)f->devfn : -1;
	}
	g_autofree char *order = pc_bootorder_text(pc->boot_order, &t);
	fw_cfg_add_file(pc->fw, "bootorder", order, strlen(order) + 1);
	uint32_t wait_ms = 10000; /* "No bootable device": retry after 10 s */
	fw_cfg_add_file(pc->fw, "etc/boot-fail-wait", &wait_ms, sizeof(wait_ms));
}

static void pc_fw_cfg_smbios(struct pc *pc, const struct vm_config *cfg)
{
	struct smbios_info info = {
		.manufacturer = "pcvm",
		.product = "pcvm-pc (i440FX + PIIX)",
		.version = PCVM_VERSION,
		.serial = cfg->uuid ? cfg->uuid : "",
		.bios_vendor = "SeaBIOS",
		.bios_version = "pcvm",
		.bios_date = "01/01/2011",
		.cpus = pc->ncpus,
		.ram_bytes = pc->ram_size,
	};
	if (!cfg->uuid || uuid_parse(cfg->uuid, info.uuid) < 0)
		memset(info.uuid, 0, sizeof(info.uuid));
	GByteArray *tables = g_byte_array_new(), *anchor = g_byte_array_new();
	smbios_build(&info, tables, anchor);
	fw_cfg_add_file(pc->fw, "etc/smbios/smbios-tables", tables->data, tables->len);
	fw_cfg_add_file(pc->fw, "etc/smbios/smbios-anchor", anchor->data, anchor->len);
	fw_cfg_add_bytes(pc->fw, 0x0002, info.uuid, sizeof(info.uuid)); /* FW_CFG_UUID */
	g_byte_array_free(tables, TRUE);
	g_byte_array_free(anchor, TRUE);
}

/* fw_cfg selector keys (QEMU docs/specs/fw_cfg.rst) */
enum {
	FW_CFG_RAM_SIZE = 0x03,
	FW_CFG_NB_CPUS = 0x05,
	FW_CFG_BOOT_MENU = 0x0E,
	FW_CFG_MAX_CPUS = 0x0F,
	FW_CFG_IRQ0_OVERRIDE = 0x8002,
};

void pc_setup_fw_cfg(struct pc *pc, const struct vm_config *cfg)
{
	fw_cfg_add_u64(pc->fw, FW_CFG_RAM_SIZE, pc->ram_size);
	fw_cfg_add_u16(pc->fw, FW_CFG_NB_CPUS, pc->ncpus);
	fw_cfg_add_u16(pc->fw, FW_CFG_MAX_CPUS, pc->ncpus);
	fw_cfg_add_u16(pc->fw, FW_CFG_BOOT_MENU, 0);
	fw_cfg_add_u32(pc->fw, FW_CFG_IRQ0_OVERRIDE, 1);
	uint16_t boot_cpus = pc->ncpus; /* newer SeaBIOS reads this before CMOS 0x5F */
	fw_cfg_add_file(pc->fw, "etc/boot-cpus", &boot_cpus, sizeof(boot_cpus));
	pc_fw_cfg_e820(pc);
	pc_fw_cfg_bootorder(pc);
	pc_fw_cfg_smbios(pc, cfg);
}

/* CMOS boot device codes (0x3D/0x38): 1 floppy, 2 hard disk, 3 CD-ROM, 4 network. */
static unsigned pc_boot_code(const char *name)
{
	static const struct {
		const char *name;
		unsigned code;
	} codes[] = { { "floppy", 1 }, { "disk", 2 }, { "cdrom", 3 }, { "network", 4 } };
	for (size_t i = 0; i < G_N_ELEMENTS(codes); i++)
		if (!strcmp(name, codes[i].name))
			return codes[i].code;
	return 0;
}

void pc_setup_cmos(struct pc *pc)
{
	uint64_t ext_kb = (pc->below_4g - PC_LOW_MEM_END) / 1024;
	uint64_t above_16m = pc->below_4g > (16u << 20) ? (pc->below_4g - (16u << 20)) >> 16 : 0;
	uint64_t high_64k = pc->above_4g >> 16;
	static const uint8_t zero_bytes[] = { 0x0F, 0x10 }; /* shutdown status; no floppies */
	for (size_t i = 0; i < G_N_ELEMENTS(zero_bytes); i++)
		rtc_cmos_set(pc->rtc, zero_bytes[i], 0);
	rtc_cmos_set(pc->rtc, 0x14, 0x06); /* equipment: FPU, PS/2 mouse, VGA */
	rtc_cmos_set(pc->rtc, 0x15, 640 & 0xFF); /* base memory, KiB */
	rtc_cmos_set(pc->rtc, 0x16, 640 >> 8);
	ext_kb = MIN(ext_kb, 0xFFFF);
	for (unsigned reg = 0x17; reg <= 0x30; reg += 0x19) { /* 0x17/0x18 and 0x30/0x31 */
		rtc_cmos_set(pc->rtc, reg, ext_kb & 0xFF);
		rtc_cmos_set(pc->rtc, reg + 1, ext_kb >> 8);
	}
	above_16m = MIN(above_16m, 0xFFFF);
	rtc_cmos_set(pc->rtc, 0x34, above_16m & 0xFF);
	rtc_cmos_set(pc->rtc, 0x35, above_16m >> 8);
	rtc_cmos_set(pc->rtc, 0x5B, high_64k & 0xFF);
	rtc_cmos_set(pc->rtc, 0x5C, (high_64k >> 8) & 0xFF);
	rtc_cmos_set(pc->rtc, 0x5D, (high_64k >> 16) & 0xFF);
	rtc_cmos_set(pc->rtc, 0x5F, pc->ncpus - 1);
	rtc_cmos_set(pc->rtc, 0x39, 0xAA); /* LBA translation on all four IDE drives */
	unsigned order[3] = { 0 };
	g_auto(GStrv) names = g_strsplit(pc->boot_order, ",", 3);
	for (int i = 0; i < 3 && names[i]; i++)
		order[i] = pc_boot_code(g_strstrip(names[i]));
	rtc_cmos_set(pc->rtc, 0x3D, order[0] | order[1] << 4);
	rtc_cmos_set(pc->rtc, 0x38, order[2] << 4 | 0x01); /* bit 0: skip floppy signature check */
}

