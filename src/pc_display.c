/*
 * The machine's screen and input: the standard VGA at PCI 00:02.0 with SeaBIOS's VGA BIOS, its
 * linear framebuffer as a dirty-logged KVM memory slot, and the display_ops that the VNC server
 * and screenshots use (src/ui/display.h): the VGA's surface out, keys to the PS/2 keyboard and
 * pointer motion to the PS/2 mouse.
 */
#include <string.h>

#include "devices/fw_cfg.h"
#include "devices/i8042.h"
#include "devices/pci.h"
#include "devices/vga.h"
#include "log.h"
#include "pc_internal.h"
#include "ui/keymap.h"
#include "ui/screenshot.h"
#include "ui/vnc.h"

#define PC_VGA_ROM_NAME "pci1234,1111.rom" /* fw_cfg file SeaBIOS looks for (pc-platform.md) */
#define PC_VGA_ROM_FILE "vgabios-stdvga.bin"

/* ---- the linear framebuffer in KVM ---- */

static void pc_lfb_map(void *opaque, uint64_t gpa, void *hva, uint64_t size)
{
	struct pc *pc = opaque;
	pc->lfb_gpa = gpa;
	pc->lfb_hva = hva;
	pc->lfb_size = size;
	pc->lfb_mapped = true;
	if (pc->kvm.vm_fd >= 0)
		kvm_vm_set_memory_logged(&pc->kvm, PC_SLOT_LFB, gpa, size, hva);
}

static void pc_lfb_unmap(void *opaque, uint64_t gpa)
{
	struct pc *pc = opaque;
	pc->lfb_mapped = false;
	if (pc->kvm.vm_fd >= 0)
		kvm_vm_set_memory_logged(&pc->kvm, PC_SLOT_LFB, gpa, 0, NULL);
}

/*
 * Before each render: the guest's posted writes (the VGA window's, which KVM queues without an
 * exit) handed over, and the pages the guest wrote through the framebuffer's KVM slot since the
 * last render. It runs on the VNC server's thread (or a screenshot's), so it reaches the VM
 * only while req_lock says it exists (pc_cpus_off and pc_cpus_build replace it on the main
 * thread), and reads the slot's fields under the VGA's lock (the map hooks change them with it
 * held, on vCPU threads). The slot always has the size of VRAM, so the bitmap fits whatever
 * the guest did in between.
 */
static void pc_take_posted(struct pc *pc)
{
	pthread_mutex_lock(&pc->req_lock);
	if (pc->cpus_on)
		kvm_vm_drain_posted(&pc->kvm, pc->io, pc->mmio);
	pthread_mutex_unlock(&pc->req_lock);
}

static void pc_lfb_sync(void *opaque)
{
	struct pc *pc = opaque;
	pc_take_posted(pc);
	pthread_mutex_t *lock = vga_lock(pc->vga);
	pthread_mutex_lock(lock);
	bool mapped = pc->lfb_mapped;
	uint64_t pages = pc->lfb_size / 4096;
	pthread_mutex_unlock(lock);
	if (!mapped)
		return;
	g_autofree uint64_t *bitmap = g_new0(uint64_t, (pages + 63) / 64);
	pthread_mutex_lock(&pc->req_lock);
	int ret = pc->cpus_on ? kvm_vm_get_dirty_log(&pc->kvm, PC_SLOT_LFB, bitmap) : -1;
	pthread_mutex_unlock(&pc->req_lock);
	if (ret < 0)
		return;
	for (uint64_t p = 0; p < pages;) {
		if (!(bitmap[p / 64] & (1ull << (p % 64)))) {
			p++;
			continue;
		}
		uint64_t run = p;
		while (run < pages && (bitmap[run / 64] & (1ull << (run % 64))))
			run++;
		vga_lfb_dirty(pc->vga, p * 4096, (run - p) * 4096);
		p = run;
	}
}

/* A new KVM VM (power-on, reset) gets the framebuffer slot again if the BAR is mapped. */
void pc_display_map_memory(struct pc *pc)
{
	if (pc->vga && pc->lfb_mapped)
		kvm_vm_set_memory_logged(&pc->kvm, PC_SLOT_LFB, pc->lfb_gpa, pc->lfb_size,
					 pc->lfb_hva);
}

/* ---- the adapter ---- */

static int pc_load_vga_rom(struct pc *pc, const char *bios_path, char **error)
{
	g_autofree char *dir = g_path_get_dirname(bios_path);
	g_autofree char *path = g_build_filename(dir, PC_VGA_ROM_FILE, NULL);
	g_autofree char *rom = NULL;
	gsize len;
	g_autoptr(GError) err = NULL;
	if (!g_file_get_contents(path, &rom, &len, &err)) {
		*error = g_strdup_printf("VGA BIOS %s: %s — install it with 'apt-get install seabios'",
					 path, err->message);
		return -1;
	}
	fw_cfg_add_file(pc->fw, PC_VGA_ROM_NAME, rom, len);
	return 0;
}

int pc_add_display(struct pc *pc, const char *bios_path, char **error)
{
	struct dev_ctx ctx = { .mem = &pc->mem, .clock = pc->clock, .hooks = &pc->hooks };
	pc->vga = pc_add_device(pc, "vga", &ctx);
	if (!pc->vga) {
		*error = g_strdup("cannot create the VGA");
		return -1;
	}
	pci_bus_attach(pc->pci, 2, 0, vga_pci(pc->vga));
	pthread_mutex_t *lock = vga_lock(pc->vga);
	if (bus_register(pc->io, 0x3B0, 0x30, &vga_ioport_ops, pc->vga, lock, "vga") < 0 ||
	    bus_register(pc->io, 0x1CE, VGA_VBE_PORT_LEN, &vga_vbe_ops, pc->vga, lock, "vbe") < 0 ||
	    bus_register(pc->mmio, 0xA0000, 0x20000, &vga_legacy_mem_ops, pc->vga, lock, "vga") < 0) {
		*error = g_strdup("machine layout: the VGA's ports overlap another device");
		return -1;
	}
	vga_set_lfb_hooks(pc->vga, pc_lfb_map, pc_lfb_unmap, pc);
	vga_set_lfb_sync(pc->vga, pc_lfb_sync, pc);
	return pc_load_vga_rom(pc, bios_path, error);
}

/* ---- display_ops ---- */

static const struct display_surface *pc_display_refresh(void *opaque, struct display_update *u)
{
	struct pc *pc = opaque;
	struct vga_dirty dirty;
	vga_render(pc->vga, &dirty);
	const struct vga_surface *vs = vga_surface(pc->vga);
	pc->surface = (struct display_surface){ vs->pixels, vs->width, vs->height, vs->stride / 4 };
	u->resized = dirty.resized;
	u->nrects = MIN(dirty.nrects, DISPLAY_MAX_RECTS);
	for (unsigned i = 0; i < u->nrects; i++)
		u->rects[i] = (struct display_rect){ dirty.rects[i].x, dirty.rects[i].y,
						     dirty.rects[i].w, dirty.rects[i].h };
	return &pc->surface;
}

static void pc_display_key(void *opaque, unsigned qnum, bool down)
{
	struct pc *pc = opaque;
	uint8_t bytes[KEYMAP_SET2_MAX];
	size_t n = keymap_kbd_event(&pc->kbd_state, qnum, down, bytes);
	if (n)
		i8042_kbd_put_scancode(pc->kbc, bytes, n);
}

static void pc_display_pointer(void *opaque, int dx, int dy, int dz, unsigned buttons)
{
	struct pc *pc = opaque;
	/* display.h numbers buttons as VNC does (bit 1 middle, bit 2 right); a PS/2 mouse
	 * packet has right in bit 1 and middle in bit 2 */
	unsigned ps2 = (buttons & DISPLAY_BUTTON_LEFT) | (buttons & DISPLAY_BUTTON_RIGHT ? 2 : 0) |
		       (buttons & DISPLAY_BUTTON_MIDDLE ? 4 : 0);
	i8042_mouse_event(pc->kbc, dx, dy, dz, ps2);
}

const struct display_ops *pc_display_ops(struct pc *pc)
{
	pc->display = (struct display_ops){
		.refresh = pc_display_refresh,
		.key = pc_display_key,
		.pointer = pc_display_pointer,
		.opaque = pc,
	};
	return &pc->display;
}

/* ---- control ---- */

int pc_screenshot(struct pc *pc, const char *path, char **error)
{
	/* through the VNC server, so that the changes this render finds also reach its viewers */
	g_autofree struct display_surface *s = vnc_server_capture(pc->vnc);
	if (!s) {
		*error = g_strdup("the screen is blank (no display mode set yet)");
		return -1;
	}
	return screenshot_write_png(s, path, error);
}

int pc_send_keys(struct pc *pc, const char *combo, char **error)
{
	unsigned qnums[KEYMAP_COMBO_MAX];
	size_t n = 0;
	if (!keymap_parse_combo(combo, qnums, &n)) {
		*error = g_strdup_printf("'%s': not a key combination (try ctrl-alt-delete, "
					 "shift-a, f12, ret)",
					 combo);
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		pc_display_key(pc, qnums[i], true);
	for (size_t i = n; i-- > 0;)
		pc_display_key(pc, qnums[i], false);
	return 0;
}

size_t pc_text_screen(struct pc *pc, char *buf, size_t len)
{
	pc_take_posted(pc); /* the characters the guest wrote since its last exit */
	return vga_text_snapshot(pc->vga, buf, len);
}
