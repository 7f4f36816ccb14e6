#include "pc.h"

#include <errno.h>
#include <fcntl.h>
#include <glib-unix.h>
#include <glib.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "block/block.h"
#include "bundle.h"
#include "chardev.h"
#include "control.h"
#include "devices/acpi_pm.h"
#include "devices/debugcon.h"
#include "devices/fw_cfg.h"
#include "devices/i440fx.h"
#include "devices/i8042.h"
#include "devices/pci.h"
#include "devices/piix3.h"
#include "devices/piix_ide.h"
#include "devices/port92.h"
#include "devices/rtc.h"
#include "devices/test_exit.h"
#include "devices/uart.h"
#include "kvm/kvm.h"
#include "kvm/vcpu.h"
#include "log.h"
#include "snapshot/offline.h"
#include "ui/vnc.h"

#include "pc_internal.h"

/* ---- requests ---- */

static gboolean pc_handle_requests(gpointer opaque);
static void pc_event_state(struct pc *pc, const char *state);

static void pc_pause_cpus_async(struct pc *pc)
{
	for (unsigned i = 0; pc->cpus_on && i < pc->ncpus; i++)
		vcpu_kick_pause(&pc->vcpus[i]);
}

/* Schedules the main loop to act; callable from any thread, with any device lock held. */
static void pc_schedule(struct pc *pc)
{
	if (!pc->request_scheduled) {
		pc->request_scheduled = true;
		g_idle_add(pc_handle_requests, pc);
	}
}

static void pc_request_reset(void *opaque, const char *why)
{
	struct pc *pc = opaque;
	pthread_mutex_lock(&pc->req_lock);
	if (!pc->exit_pending && !pc->reset_pending) {
		log_info("guest reset: %s", why);
		pc->reset_pending = true;
		pc_pause_cpus_async(pc);
		pc_schedule(pc);
	}
	pthread_mutex_unlock(&pc->req_lock);
}

static void pc_request_exit(void *opaque, int code, const char *why)
{
	struct pc *pc = opaque;
	pthread_mutex_lock(&pc->req_lock);
	if (!pc->exit_pending) {
		log_info("%s; exit code %d", why, code);
		pc->exit_pending = true;
		pc->exit_code = code;
		pc_pause_cpus_async(pc);
		pc_schedule(pc);
	}
	pthread_mutex_unlock(&pc->req_lock);
}

/* Off the vCPU threads only the main loop calls this (block completions), the thread that
 * also creates and destroys the VM, so the ring is there or NULL throughout. */
static void pc_flush_posted(void *opaque)
{
	struct pc *pc = opaque;
	if (!vcpu_on_this_thread())
		kvm_vm_drain_posted(&pc->kvm, pc->io, pc->mmio);
}

/* Posted writes wait for the guest's next exit, and a guest may stop exiting (spinning, or
 * halted waiting for an in-kernel timer): what it posted last, the firmware's last log line,
 * say, still shows within PC_POSTED_TICK_MS. Empty, the ring costs two loads to look at. */
#define PC_POSTED_TICK_MS 100

static gboolean pc_posted_tick(gpointer opaque)
{
	pc_flush_posted(opaque);
	return G_SOURCE_CONTINUE;
}

/* bus_posted_fn for the port and memory buses: KVM queues what the devices declare posted.
 * Without a VM (between pc_cpus_off and pc_cpus_build) there is nothing to tell;
 * pc_cpus_build replays. */
static void pc_posted(struct pc *pc, const struct bus_posted *p, bool on, bool pio)
{
	struct kvm_vm *vm = &pc->kvm;
	if (pio && (p->addr >= 0x10000 || p->len > 0x10000 - p->addr))
		return;
	if (p->match && on)
		kvm_vm_post_value(vm, p->addr, p->len, p->value, pio);
	else if (p->match)
		kvm_vm_unpost_value(vm, p->addr, p->len, p->value, pio);
	else if (on)
		kvm_vm_coalesce(vm, p->addr, p->len, pio);
	else
		kvm_vm_uncoalesce(vm, p->addr, p->len, pio);
}

static void pc_posted_ports(void *opaque, const struct bus_posted *p, bool on)
{
	pc_posted(opaque, p, on, true);
}

static void pc_posted_memory(void *opaque, const struct bus_posted *p, bool on)
{
	pc_posted(opaque, p, on, false);
}

static void pc_vcpu_request(void *opaque, struct vcpu *v, enum vcpu_action action, const char *why)
{
	struct pc *pc = opaque;
	switch (action) {
	case VCPU_RESET:
		pc_request_reset(pc, why);
		break;
	case VCPU_POWEROFF:
		pc_request_exit(pc, 0, why);
		break;
	default:
		log_error("vCPU %u stopped the VM: %s", v->id, why);
		fprintf(stderr, "pcvm: the guest stopped on vCPU %u: %s\n", v->id, why);
		pc_request_exit(pc, 1, "guest failure");
		break;
	}
}

/* ---- memory ---- */

static int pc_load_bios(struct pc *pc, const char *path, char **error)
{
	g_autoptr(GError) err = NULL;
	gchar *data;
	gsize len;
	if (!g_file_get_contents(path, &data, &len, &err)) {
		if (g_error_matches(err, G_FILE_ERROR, G_FILE_ERROR_NOENT))
			*error = g_strdup_printf("%s: no such file — install the BIOS with "
						 "'apt-get install seabios', or set [vm] bios=",
						 path);
		else
			*error = g_strdup_printf("BIOS image %s", err->message);
		return -1;
	}
	if (len < 64 * 1024 || len > PC_MAX_BIOS_SIZE || len % 4096) {
		*error = g_strdup_printf("%s: not a BIOS image (%zu bytes; expected 64 KiB to 16 MiB "
					 "in whole pages)",
					 path, (size_t)len);
		g_free(data);
		return -1;
	}
	pc->bios = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (pc->bios == MAP_FAILED) {
		pc->bios = NULL;
		*error = g_strdup_printf("BIOS image: %s", strerror(errno));
		g_free(data);
		return -1;
	}
	memcpy(pc->bios, data, len);
	pc->bios_size = len;
	g_free(data);
	return 0;
}

static int pc_alloc_ram(struct pc *pc, uint64_t mib, char **error)
{
	pc->ram_size = mib << 20;
	pc->below_4g = MIN(pc->ram_size, PC_PCI_HOLE_START);
	pc->above_4g = pc->ram_size - pc->below_4g;
	pc->ram = mmap(NULL, pc->ram_size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (pc->ram == MAP_FAILED) {
		pc->ram = NULL;
		*error = g_strdup_printf("cannot reserve %" PRIu64 " MiB of guest memory: %s", mib,
					 strerror(errno));
		return -1;
	}
	/* Transparent huge pages: fewer page-table entries for KVM and for the fork() of a live
	 * snapshot to copy (the guest's pause grows with them); a write after the fork still copies
	 * only 4 KiB. KSM may merge identical pages across VMs. */
	madvise(pc->ram, pc->ram_size, MADV_HUGEPAGE);
	madvise(pc->ram, pc->ram_size, MADV_MERGEABLE);
	guest_mem_add(&pc->mem, 0, PC_VGA_HOLE_START, pc->ram);
	guest_mem_add(&pc->mem, PC_BIOS_AREA_START, pc->below_4g - PC_BIOS_AREA_START,
		      pc->ram + PC_BIOS_AREA_START);
	if (pc->above_4g)
		guest_mem_add(&pc->mem, PC_4G, pc->above_4g, pc->ram + pc->below_4g);
	return 0;
}

/* The BIOS area below 1 MiB is RAM holding a copy of the image, refilled on every reset. */
static void pc_copy_bios_low(struct pc *pc)
{
	size_t n = MIN(pc->bios_size, PC_LOW_MEM_END - PC_BIOS_AREA_START);
	memcpy(pc->ram + PC_LOW_MEM_END - n, pc->bios + pc->bios_size - n, n);
}

static int pc_map_memory(struct pc *pc)
{
	int ret = kvm_vm_set_memory(&pc->kvm, SLOT_LOW, 0, PC_VGA_HOLE_START, pc->ram, false);
	ret |= kvm_vm_set_memory(&pc->kvm, SLOT_BELOW_4G, PC_BIOS_AREA_START,
				 pc->below_4g - PC_BIOS_AREA_START, pc->ram + PC_BIOS_AREA_START,
				 false);
	if (pc->above_4g)
		ret |= kvm_vm_set_memory(&pc->kvm, SLOT_ABOVE_4G, PC_4G, pc->above_4g,
					 pc->ram + pc->below_4g, false);
	ret |= kvm_vm_set_memory(&pc->kvm, SLOT_BIOS, PC_4G - pc->bios_size, pc->bios_size,
				 pc->bios, true);
	pc_display_map_memory(pc);
	return ret ? -1 : 0;
}

/* ---- devices ---- */

static void pc_irq_set(void *opaque, unsigned gsi, int level)
{
	struct pc *pc = opaque;
	if (gsi < G_N_ELEMENTS(pc->irq_level))
		__atomic_store_n(&pc->irq_level[gsi], level, __ATOMIC_RELAXED);
	if (pc->kvm.vm_fd >= 0)
		kvm_vm_irq_line(&pc->kvm, gsi, level);
}

/* A new VM's irqchip starts with every line low: raise those that devices hold high. */
static void pc_replay_irqs(struct pc *pc)
{
	for (unsigned gsi = 0; gsi < G_N_ELEMENTS(pc->irq_level); gsi++)
		if (__atomic_load_n(&pc->irq_level[gsi], __ATOMIC_RELAXED))
			kvm_vm_irq_line(&pc->kvm, gsi, 1);
}

static struct irq_line pc_irq(struct pc *pc, unsigned gsi)
{
	return (struct irq_line){ pc_irq_set, pc, gsi };
}

struct dev_ctx pc_ctx(struct pc *pc, int irq0, int irq1)
{
	struct dev_ctx ctx = {
		.mem = &pc->mem, .clock = pc->clock, .hooks = &pc->hooks, .pci = pc->pci,
	};
	if (irq0 >= 0)
		ctx.irq[0] = pc_irq(pc, irq0);
	if (irq1 >= 0)
		ctx.irq[1] = pc_irq(pc, irq1);
	return ctx;
}

void *pc_add_device(struct pc *pc, const char *name, const struct dev_ctx *ctx)
{
	const struct device_class *cls = device_class_find(name);
	g_assert(cls && cls->create);
	struct pc_device d = { cls, cls->create(ctx) };
	g_array_append_val(pc->devices, d);
	return d.dev;
}

void pc_map_io(struct pc *pc, uint16_t base, uint16_t len, const struct bus_ops *ops, void *opaque,
	       pthread_mutex_t *lock, const char *owner)
{
	if (bus_register(pc->io, base, len, ops, opaque, lock, owner) < 0)
		g_error("machine layout: %s at %#x overlaps another device", owner, base);
}

static void pc_add_pci_devices(struct pc *pc)
{
	struct dev_ctx ctx = pc_ctx(pc, -1, -1);
	struct i440fx *host = pc_add_device(pc, "i440fx", &ctx);
	pci_bus_attach(pc->pci, 0, 0, &host->pci);

	pc->piix3 = pc_add_device(pc, "piix3", &ctx);
	piix3_set_isa_irqs(pc->piix3, pc->isa_irq);
	pci_bus_attach(pc->pci, 1, 0, &pc->piix3->pci);
	pci_bus_set_rcr(pc->pci, piix3_rcr_write, piix3_rcr_read, pc->piix3);

	pc_add_ide(pc);

	struct dev_ctx pm_ctx = pc_ctx(pc, IRQ_SCI, -1);
	pc->pm = pc_add_device(pc, "piix4-pm", &pm_ctx);
	pci_bus_attach(pc->pci, 1, 3, &pc->pm->pci);
	pc_map_io(pc, 0xAFE0, 4, &acpi_pm_gpe_ops, pc->pm, &pc->pm->lock, "acpi-gpe0");
	pc_map_io(pc, 0xB2, 2, &acpi_pm_apm_ops, pc->pm, &pc->pm->lock, "apm");
	pc_map_io(pc, 0xAE00, 16, &acpi_pm_hotplug_ops, pc->pm, &pc->pm->lock, "acpi-hotplug");
}

static void pc_add_isa_devices(struct pc *pc, bool test_exit)
{
	struct dev_ctx ctx = pc_ctx(pc, IRQ_RTC, -1);
	pc->rtc = pc_add_device(pc, "rtc", &ctx);
	pc_map_io(pc, 0x70, 2, &rtc_ops, pc->rtc, &pc->rtc->lock, "rtc");

	ctx = pc_ctx(pc, IRQ_COM1, -1);
	ctx.chr = pc->serial;
	struct uart *com1 = pc_add_device(pc, "uart16550a", &ctx);
	pc_map_io(pc, 0x3F8, 8, &uart_ops, com1, &com1->lock, "com1");

	ctx = pc_ctx(pc, IRQ_KBD, IRQ_MOUSE);
	struct i8042 *kbc = pc->kbc = pc_add_device(pc, "i8042", &ctx);
	pc_map_io(pc, 0x60, 1, &i8042_data_ops, kbc, &kbc->lock, "i8042");
	pc_map_io(pc, 0x64, 1, &i8042_cmd_ops, kbc, &kbc->lock, "i8042");

	ctx = pc_ctx(pc, -1, -1);
	pc->fw = pc_add_device(pc, "fw-cfg", &ctx);
	pc_map_io(pc, 0x510, 0x0C, &fw_cfg_io_ops, pc->fw, &pc->fw->lock, "fw-cfg");
	struct port92 *p92 = pc_add_device(pc, "port92", &ctx);
	pc_map_io(pc, 0x92, 1, &port92_ops, p92, &p92->lock, "port92");
	struct debugcon *dbg = pc_add_device(pc, "debugcon", &ctx);
	pc_map_io(pc, 0x402, 1, &debugcon_ops, dbg, &dbg->lock, "debugcon");
	if (test_exit) {
		struct test_exit *t = pc_add_device(pc, "test-exit", &ctx);
		pc_map_io(pc, 0xF4, 4, &test_exit_ops, t, &t->lock, "test-exit");
	}
}

/* ---- power ---- */

/* A new KVM VM with its memory and (not yet running) vCPUs: power-on, reset and revert. */
int pc_cpus_build(struct pc *pc, char **error)
{
	if (kvm_vm_create(&pc->kvm, error) < 0)
		return -1;
	/* the ports whose writes KVM may queue (the ATA task file, the bus-master status): each
	 * one a guest writes per command is an exit saved */
	bus_replay_posted(pc->io);
	bus_replay_posted(pc->mmio);
	/* from here on pc_cpus_off() undoes what was done; the lock: pc_lfb_sync, on the VNC
	 * server's thread, reaches the VM only while this is set */
	pthread_mutex_lock(&pc->req_lock);
	pc->cpus_on = true;
	pthread_mutex_unlock(&pc->req_lock);
	pc_replay_irqs(pc);
	if (pc_map_memory(pc) < 0) {
		*error = g_strdup("cannot map guest memory into KVM");
		return -1;
	}
	for (unsigned i = 0; i < pc->ncpus; i++)
		if (vcpu_create(&pc->vcpus[i], &pc->kvm, i, pc->ncpus, &pc->vcpu_env, error) < 0)
			return -1;
	return 0;
}

int pc_cpus_start(struct pc *pc, char **error)
{
	/* a reset or revert while paused stays paused: the guest runs no instruction */
	enum vcpu_state initial = pc->paused ? VCPU_PAUSED : VCPU_RUNNING;
	for (unsigned i = 0; i < pc->ncpus; i++)
		if (vcpu_start(&pc->vcpus[i], initial, error) < 0)
			return -1;
	return 0;
}

static int pc_cpus_on(struct pc *pc, char **error)
{
	return pc_cpus_build(pc, error) < 0 ? -1 : pc_cpus_start(pc, error);
}

void pc_cpus_off(struct pc *pc)
{
	pthread_mutex_lock(&pc->req_lock);
	bool on = pc->cpus_on;
	pc->cpus_on = false;
	pthread_mutex_unlock(&pc->req_lock);
	if (!on)
		return;
	for (unsigned i = 0; i < pc->ncpus; i++)
		if (pc->vcpus[i].run || pc->vcpus[i].fd >= 0)
			vcpu_destroy(&pc->vcpus[i]);
	kvm_vm_destroy(&pc->kvm);
}

void pc_reset_devices(struct pc *pc)
{
	for (guint i = 0; i < pc->devices->len; i++) {
		struct pc_device *d = &g_array_index(pc->devices, struct pc_device, i);
		pthread_mutex_t *lock = d->cls->lock ? d->cls->lock(d->dev) : NULL;
		if (lock)
			pthread_mutex_lock(lock);
		d->cls->reset(d->dev);
		if (lock)
			pthread_mutex_unlock(lock);
	}
}

/* A hard reset: every device and the CPUs back to their power-on state, the BIOS copy
 * refilled. RAM keeps its contents, as on a real board. */
static int pc_power_cycle(struct pc *pc, char **error)
{
	pc_cpus_off(pc);
	pc_reset_devices(pc);
	pc_copy_bios_low(pc);
	return pc_cpus_on(pc, error);
}

static gboolean pc_handle_requests(gpointer opaque)
{
	struct pc *pc = opaque;
	pthread_mutex_lock(&pc->req_lock);
	bool do_exit = pc->exit_pending, do_reset = pc->reset_pending;
	pc->reset_pending = false;
	pc->request_scheduled = false;
	pthread_mutex_unlock(&pc->req_lock);
	if (do_exit) {
		g_main_loop_quit(pc->loop);
	} else if (do_reset) {
		pc_event_state(pc, "reset");
		char *error = NULL;
		if (pc_power_cycle(pc, &error) < 0) {
			log_error("reset failed: %s", error);
			fprintf(stderr, "pcvm: reset failed: %s\n", error);
			g_free(error);
			pc_request_exit(pc, 1, "reset failed");
		}
	}
	return G_SOURCE_REMOVE;
}

/* ---- control ---- */

static void pc_event_state(struct pc *pc, const char *state)
{
	JsonBuilder *b = json_builder_new();
	json_builder_begin_object(b);
	json_builder_set_member_name(b, "state");
	json_builder_add_string_value(b, state);
	json_builder_end_object(b);
	control_server_event(pc->control, "state", json_builder_get_root(b));
	g_object_unref(b);
}

const char *pc_state(const struct pc *pc)
{
	return pc->paused ? "paused" : "running";
}

void pc_set_paused(struct pc *pc, bool paused)
{
	if (pc->paused == paused)
		return;
	pc->paused = paused;
	for (unsigned i = 0; pc->cpus_on && i < pc->ncpus; i++)
		vcpu_set_state(&pc->vcpus[i], paused ? VCPU_PAUSED : VCPU_RUNNING);
	log_info("%s", paused ? "paused" : "resumed");
	pc_event_state(pc, pc_state(pc));
}

void pc_vcpus_hold(struct pc *pc, bool hold)
{
	bool stop = hold || pc->paused;
	for (unsigned i = 0; pc->cpus_on && i < pc->ncpus; i++)
		vcpu_set_state(&pc->vcpus[i], stop ? VCPU_PAUSED : VCPU_RUNNING);
}

void pc_reset(struct pc *pc)
{
	pc_request_reset(pc, "reset requested by the user");
}

void pc_poweroff(struct pc *pc)
{
	pc_request_exit(pc, 0, "powered off by the user");
}

void pc_powerdown(struct pc *pc)
{
	acpi_pm_power_button(pc->pm);
	log_info("ACPI power button pressed");
}

void pc_describe(const struct pc *pc, struct pc_status *st)
{
	st->name = pc->name;
	st->state = pc_state(pc);
	st->cpus = pc->ncpus;
	st->memory_mib = pc->ram_size >> 20;
	st->uptime_s = (g_get_monotonic_time() - pc->powered_on_at) / 1000000.0;
}

/* ---- host input ---- */

static void pc_stdin_feed(struct pc *pc);

static gboolean pc_stdin_retry(gpointer opaque)
{
	struct pc *pc = opaque;
	pc->stdin_retry = 0;
	pc_stdin_feed(pc);
	return G_SOURCE_REMOVE;
}

/* Offers pending bytes to the UART; what its FIFO cannot take is offered again shortly. */
static void pc_stdin_feed(struct pc *pc)
{
	struct chardev *chr = pc->serial;
	if (pc->stdin_pending->len && chr->receive) {
		size_t n = chr->receive(chr->frontend, pc->stdin_pending->data, pc->stdin_pending->len);
		g_byte_array_remove_range(pc->stdin_pending, 0, n);
	}
	if (pc->stdin_pending->len && !pc->stdin_retry)
		pc->stdin_retry = g_timeout_add(10, pc_stdin_retry, pc);
}

static gboolean pc_stdin_ready(gint fd, GIOCondition cond, gpointer opaque)
{
	struct pc *pc = opaque;
	uint8_t buf[256];
	if (pc->stdin_pending->len > 4096)
		return G_SOURCE_CONTINUE; /* the guest is not reading; hold back */
	ssize_t n = read(fd, buf, sizeof(buf));
	if (n <= 0) {
		pc->stdin_watch = 0;
		return G_SOURCE_REMOVE; /* end of input: the guest keeps running */
	}
	g_byte_array_append(pc->stdin_pending, buf, n);
	pc_stdin_feed(pc);
	return G_SOURCE_CONTINUE;
}

static gboolean pc_on_signal(gpointer opaque)
{
	pc_request_exit(opaque, 0, "stopped by a signal (power off)");
	return G_SOURCE_CONTINUE;
}

/* ---- the machine ---- */

struct pc *pc_new(const struct vm_config *cfg, const struct pc_options *opts, char **error)
{
	struct pc *pc = g_new0(struct pc, 1);
	pthread_mutex_init(&pc->req_lock, NULL);
	pc->ncpus = cfg->cpus;
	pc->kvm.kvm_fd = pc->kvm.vm_fd = -1;
	pc->devices = g_array_new(FALSE, TRUE, sizeof(struct pc_device));
	pc->stdin_pending = g_byte_array_new();
	pc->hooks = (struct machine_hooks){ pc_request_reset, pc_request_exit, pc_flush_posted, pc };
	pc->vcpus = g_new0(struct vcpu, pc->ncpus);
	for (unsigned i = 0; i < pc->ncpus; i++)
		pc->vcpus[i].fd = -1;
	const char *bios = opts->bios ? opts->bios : cfg->bios ? cfg->bios : PC_DEFAULT_BIOS;
	const char *serial = opts->serial ? opts->serial : "none";
	if (kvm_vm_open(&pc->kvm, opts->kvm_path ? opts->kvm_path : PC_DEFAULT_KVM, error) < 0 ||
	    pc_load_bios(pc, bios, error) < 0 || pc_open_disks(pc, cfg, opts->bundle_dir, error) < 0 ||
	    pc_alloc_ram(pc, cfg->memory_mib, error) < 0 ||
	    !(pc->serial = chardev_open(serial, error))) {
		pc_free(pc);
		return NULL;
	}
	pc->serial_stdio = !strcmp(serial, "stdio");
	pc->name = g_strdup(cfg->name ? cfg->name : "");
	pc->boot_order = g_strdup(cfg->boot ? cfg->boot : "disk,cdrom,network");
	pc->bundle_dir = g_strdup(opts->bundle_dir ? opts->bundle_dir : ".");
	pc->vcpu_env = (struct vcpu_env){ .request = pc_vcpu_request, .opaque = pc };
	pc->io = bus_new("pio");
	bus_set_posted_hook(pc->io, pc_posted_ports, pc);
	pc->mmio = bus_new("mmio");
	bus_set_posted_hook(pc->mmio, pc_posted_memory, pc);
	pc->vcpu_env.pio = pc->io;
	pc->vcpu_env.mmio = pc->mmio;
	pc->clock = clock_new_host();
	pc->pci = pci_bus_new(pc->io, pc->mmio);
	bus_register(pc->io, 0xCF8, 8, &pci_host_ops, pc->pci, NULL, "pci-host");
	for (unsigned i = 0; i < PIIX3_ISA_IRQS; i++)
		pc->isa_irq[i] = pc_irq(pc, i);
	pc_add_pci_devices(pc);
	pc_add_scsi(pc);
	pc_add_isa_devices(pc, cfg->test_exit || opts->test_exit);
	if (pc_add_display(pc, bios, error) < 0 || pc_add_nics(pc, cfg, error) < 0) {
		pc_free(pc);
		return NULL;
	}
	pc->vnc_listen = g_strdup(opts->vnc);
	pc->vnc_password = g_strdup(opts->vnc_password ? opts->vnc_password : cfg->vnc_password);
	pc->keyboard = g_strdup(opts->keyboard ? opts->keyboard : cfg->keyboard);
	pc_reset_devices(pc);
	rtc_set_base(pc->rtc, (int64_t)time(NULL) - (int64_t)(clock_ns(pc->clock) / NS_PER_SEC));
	pc_setup_cmos(pc);
	pc_setup_fw_cfg(pc, cfg);
	return pc;
}

/*
 * A start after `pcvm suspend` resumes the saved machine; one after an offline revert to a
 * snapshot with memory resumes at that snapshot (if it still exists: otherwise the VM boots,
 * with a warning). Returns -1 if the VM cannot go on.
 */
static int pc_resume(struct pc *pc)
{
	char *error = NULL;
	pc_snapshot_recover(pc); /* may complete an interrupted revert: a resume mark */
	g_autofree char *mark = snapshot_resume_mark(pc->bundle_dir);
	if (pc_resume_suspended(pc, &error) && error) {
		log_error("resuming from suspend: %s", error);
		fprintf(stderr, "pcvm: cannot resume the suspended VM: %s\n", error);
		g_free(error);
		pc->exit_code = 1;
		return -1;
	}
	if (!mark)
		return 0;
	if (pc_snapshot_revert(pc, mark, &error) == 0) {
		log_info("resumed at snapshot %s", mark);
		return 0;
	}
	log_warn("cannot resume at snapshot %s: %s; booting instead", mark, error);
	fprintf(stderr, "pcvm: warning: cannot resume at snapshot %s: %s; booting instead\n",
		mark, error);
	g_free(error);
	return pc->exit_pending ? -1 : 0;
}

int pc_run(struct pc *pc)
{
	pc->loop = g_main_loop_new(NULL, FALSE);
	clock_attach(pc->clock, NULL);
	guint sig[3] = {
		g_unix_signal_add(SIGINT, pc_on_signal, pc),
		g_unix_signal_add(SIGTERM, pc_on_signal, pc),
		g_unix_signal_add(SIGHUP, pc_on_signal, pc),
	};
	if (pc->serial_stdio)
		pc->stdin_watch = g_unix_fd_add(STDIN_FILENO, G_IO_IN | G_IO_HUP, pc_stdin_ready, pc);
	char *error = NULL;
	g_autofree char *sock = bundle_path(pc->bundle_dir, BUNDLE_CONTROL_SOCK);
	pc->control = vm_control_start(pc, sock, &error);
	if (!pc->control) {
		log_warn("%s; the VM runs without it", error);
		g_clear_pointer(&error, g_free);
	}
	g_autofree char *vnc_sock = bundle_path(pc->bundle_dir, BUNDLE_VNC_SOCK);
	struct vnc_options vnc = {
		.listen = pc->vnc_listen, .unix_path = vnc_sock, .password = pc->vnc_password,
		.keyboard_layout = pc->keyboard, .name = pc->name,
	};
	pc->vnc = vnc_server_new(pc_display_ops(pc), &vnc, &error);
	if (!pc->vnc) {
		log_error("VNC: %s", error);
		fprintf(stderr, "pcvm: %s\n", error);
		g_free(error);
		control_server_free(pc->control);
		pc->control = NULL;
		return 1;
	}
	pc_copy_bios_low(pc);
	pc->posted_tick = g_timeout_add(PC_POSTED_TICK_MS, pc_posted_tick, pc);
	pc->powered_on_at = g_get_monotonic_time();
	log_info("powering on: %u vCPU(s), %" PRIu64 " MiB", pc->ncpus, pc->ram_size >> 20);
	if (pc_cpus_on(pc, &error) < 0) {
		log_error("power on: %s", error);
		fprintf(stderr, "pcvm: cannot power on: %s\n", error);
		g_free(error);
		pc->exit_code = 1;
	} else {
		if (pc_resume(pc) == 0)
			g_main_loop_run(pc->loop);
	}
	pc_event_state(pc, "off");
	pc_cpus_off(pc);
	control_server_free(pc->control);
	pc->control = NULL;
	vnc_server_free(pc->vnc);
	pc->vnc = NULL;
	for (size_t i = 0; i < G_N_ELEMENTS(sig); i++)
		g_source_remove(sig[i]);
	if (pc->stdin_watch)
		g_source_remove(pc->stdin_watch);
	if (pc->stdin_retry)
		g_source_remove(pc->stdin_retry);
	g_source_remove(pc->posted_tick);
	log_info("powered off (exit code %d)", pc->exit_code);
	return pc->exit_code;
}

void pc_free(struct pc *pc)
{
	if (!pc)
		return;
	pc_cpus_off(pc);
	/* completions of requests still in flight run now, while their devices exist */
	for (unsigned i = 0; i < VM_DRIVE_SLOTS; i++)
		if (pc->disks[i])
			block_drain(pc->disks[i]);
	for (guint i = pc->devices->len; i-- > 0;) {
		struct pc_device *d = &g_array_index(pc->devices, struct pc_device, i);
		d->cls->destroy(d->dev);
	}
	g_array_free(pc->devices, TRUE);
	pc_free_nics(pc);
	pci_bus_free(pc->pci);
	bus_free(pc->io);
	bus_free(pc->mmio);
	clock_free(pc->clock);
	for (unsigned i = 0; i < VM_DRIVE_SLOTS; i++)
		block_close(pc->disks[i]);
	chardev_close(pc->serial);
	kvm_vm_close(&pc->kvm);
	if (pc->ram)
		munmap(pc->ram, pc->ram_size);
	if (pc->bios)
		munmap(pc->bios, pc->bios_size);
	if (pc->loop)
		g_main_loop_unref(pc->loop);
	g_byte_array_free(pc->stdin_pending, TRUE);
	g_free(pc->vcpus);
	g_free(pc->name);
	g_free(pc->bundle_dir);
	g_free(pc->boot_order);
	g_free(pc->vnc_listen);
	g_free(pc->vnc_password);
	g_free(pc->keyboard);
	pthread_mutex_destroy(&pc->req_lock);
	g_free(pc);
}
