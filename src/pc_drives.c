/*
 * The machine's drives: their images opened from vm.conf's slots, the IDE function and the LSI
 * SCSI controller they hang on, and the CD changes a running VM takes.
 */
#include <stdio.h>
#include <string.h>

#include "block/block.h"
#include "bundle.h"
#include "devices/lsi53c895a.h"
#include "devices/pci.h"
#include "devices/piix_ide.h"
#include "log.h"

#include "pc_internal.h"

/* Opens every drive's image. A CD drive whose ISO is missing starts empty, with a warning, as
 * a desktop VMM does: the VM still boots from its disk. */
int pc_open_disks(struct pc *pc, const struct vm_config *cfg, const char *dir, char **error)
{
	for (unsigned i = 0; i < VM_DRIVE_SLOTS; i++) {
		const struct vm_drive *d = &cfg->drives[i];
		pc->drive_kind[i] = !vm_drive_present(d)   ? IDE_KIND_NONE
				    : vm_drive_is_cdrom(d) ? IDE_KIND_CDROM
							   : IDE_KIND_DISK;
		if (!d->file)
			continue;
		g_autofree char *path = bundle_path(dir ? dir : ".", d->file);
		char *err = NULL;
		pc->disks[i] = block_open(path, d->read_only || vm_drive_is_cdrom(d), &err);
		if (!pc->disks[i] && vm_drive_is_cdrom(d)) {
			log_warn("CD drive [%s]: %s; the drive starts empty", vm_drive_slot_name(i),
				 err);
			fprintf(stderr,
				"pcvm: warning: CD drive [%s]: %s; the drive starts empty\n",
				vm_drive_slot_name(i), err);
			g_free(err);
			continue;
		}
		if (!pc->disks[i]) {
			*error = g_strdup_printf("disk [%s]: %s", vm_drive_slot_name(i), err);
			g_free(err);
			return -1;
		}
	}
	return 0;
}

/* The PIIX IDE function (00:01.1) with the drives of [ide0:0] .. [ide1:1], at the legacy ports. */
void pc_add_ide(struct pc *pc)
{
	struct dev_ctx ide_ctx = pc_ctx(pc, IRQ_IDE0, IRQ_IDE1);
	for (unsigned slot = 0; slot < VM_IDE_SLOTS; slot++) /* the IDE slots come first */
		ide_ctx.disks[vm_drive_slots[slot].index] = pc->disks[slot];
	pc->ide = pc_add_device(pc, "piix-ide", &ide_ctx);
	for (unsigned slot = 0; slot < VM_IDE_SLOTS; slot++)
		if (pc->drive_kind[slot] != IDE_KIND_DISK || pc->disks[slot])
			piix_ide_set_drive_kind(pc->ide, slot / 2, slot % 2, pc->drive_kind[slot]);
	pci_bus_attach(pc->pci, 1, 1, &pc->ide->pci);
	pc_map_io(pc, 0x1F0, 8, &ide_cmd_ops, &pc->ide->chan[0], &pc->ide->lock, "ide0");
	pc_map_io(pc, 0x3F6, 1, &ide_ctrl_ops, &pc->ide->chan[0], &pc->ide->lock, "ide0");
	pc_map_io(pc, 0x170, 8, &ide_cmd_ops, &pc->ide->chan[1], &pc->ide->lock, "ide1");
	pc_map_io(pc, 0x376, 1, &ide_ctrl_ops, &pc->ide->chan[1], &pc->ide->lock, "ide1");
}

_Static_assert(VM_SCSI_SLOTS <= LSI_MAX_TARGETS && VM_SCSI_SLOTS <= DEV_MAX_DISKS,
	       "a target ID, and a place in dev_ctx.disks, for each [scsi0:N]");

/* The LSI 53C895A SCSI controller at 00:04.0 with the disk of [scsi0:N] at target N, when
 * vm.conf has one: a VM without SCSI disks has no controller for its guest to probe. */
void pc_add_scsi(struct pc *pc)
{
	struct dev_ctx ctx = pc_ctx(pc, -1, -1);
	bool any = false;
	for (unsigned i = 0; i < VM_DRIVE_SLOTS; i++) {
		const struct vm_drive_slot *s = &vm_drive_slots[i];
		if (s->bus != VM_BUS_SCSI || !pc->disks[i])
			continue;
		ctx.disks[s->index] = pc->disks[i];
		any = true;
	}
	if (!any)
		return;
	pc->scsi = pc_add_device(pc, "lsi53c895a", &ctx);
	pci_bus_attach(pc->pci, PC_SCSI_SLOT, 0, lsi_pci(pc->scsi));
}

int pc_change_media(struct pc *pc, const char *drive, const char *file, bool force, char **error)
{
	int slot = -1;
	for (unsigned i = 0; i < VM_IDE_SLOTS && slot < 0; i++) /* CD drives are on IDE */
		if (pc->drive_kind[i] == IDE_KIND_CDROM &&
		    (!strcmp(drive, "cdrom") || !strcmp(drive, vm_ide_slot_name(i))))
			slot = i;
	if (slot < 0) {
		*error = g_strdup_printf("%s: no such CD drive", drive);
		return -1;
	}
	struct block_dev *medium = NULL, *old = NULL;
	if (file) {
		g_autofree char *path = bundle_path(pc->bundle_dir, file);
		if (!(medium = block_open(path, true, error)))
			return -1;
	}
	if (ide_cdrom_change_media(pc->ide, slot / 2, slot % 2, medium, force, &old, error) < 0) {
		block_close(medium);
		return -1;
	}
	pc->disks[slot] = medium;
	block_close(old); /* drains a read the guest still had in flight */
	log_info("CD drive [%s]: %s", vm_ide_slot_name(slot), file ? file : "ejected");
	return slot;
}
