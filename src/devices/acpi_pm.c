/*
 * PIIX4 power management function: PCI function 3 of the 82371AB (Intel 82371AB PIIX4
 * datasheet, §3.5 "Power Management Configuration Registers" and §3.6 "Power Management I/O
 * Space Registers"), programmed as ACPI fixed hardware (ACPI 2.0 §4.7.3: PM1 event and control
 * registers, PM timer; §4.7.4.1: GPE0 block).
 *
 * SeaBIOS writes PMBA = 0xB000, sets PMREGMISC.PMIOSE and builds its FADT for that base, SCI 9,
 * SMI_CMD 0xB2 with ACPI enable/disable values 0xF1/0xF0 and GPE0 at 0xAFE0. Its SSDT names the
 * sleep types: _S3 = 1, _S4 = 2, _S5 = 0 (src/ssdt-misc.dsl in SeaBIOS; the DSDT shipped in
 * /usr/share/seabios/acpi-dsdt.aml has no _Sx objects of its own).
 */
#include "devices/acpi_pm.h"

#include <glib.h>
#include <string.h>

#include "log.h"

/* PCI configuration registers of function 3 (datasheet §3.5) */
#define PIIX4_PMBA 0x40      /* PM base address: bits 15:6, bit 0 reads 1 (I/O) */
#define PIIX4_DEVACTB 0x58   /* device activity B; byte 0x5B bit 1 = APMC_EN */
#define PIIX4_PMREGMISC 0x80 /* bit 0: PM I/O space enable */
#define PIIX4_SMBBA 0x90     /* SMBus base address: bits 15:4, bit 0 reads 1 */
#define PIIX4_SMBHSTCFG 0xD2 /* SMBus host configuration */

/* PM1 status (+0): write 1 to clear */
#define TMR_STS 0x0001
#define BM_STS 0x0010
#define GBL_STS 0x0020
#define PWRBTN_STS 0x0100
#define RTC_STS 0x0400
#define WAK_STS 0x8000
#define PM1_STS_BITS (TMR_STS | BM_STS | GBL_STS | PWRBTN_STS | RTC_STS | WAK_STS)
/* PM1 enable (+2): the same bit positions gate the SCI */
#define PM1_EN_BITS (TMR_STS | GBL_STS | PWRBTN_STS | RTC_STS)

/* PM1 control (+4) */
#define SCI_EN 0x0001
#define BM_RLD 0x0002
#define GBL_RLS 0x0004 /* write-only: would raise an SMI for the BIOS */
#define SLP_TYP_SHIFT 10
#define SLP_TYP_MASK (7u << SLP_TYP_SHIFT)
#define SLP_EN 0x2000 /* write-only */
#define PM1_CNT_RW (SCI_EN | BM_RLD | SLP_TYP_MASK)

#define SLP_TYP_S5 0 /* SeaBIOS's _S5 package */

/* The PM timer: 24 bits at 3.579545 MHz (ACPI 2.0 §4.7.3.3). TMR_STS is set whenever bit 23
 * of the count changes, every 2^23 ticks (about 2.34 s). */
#define PM_TIMER_HZ 3579545ull
#define PM_TIMER_MASK 0xFFFFFFu
#define PM_TIMER_STS_SHIFT 23

/* ---- the PM timer ---- */

/* Ticks since clock time 0, computed in two parts so that nothing overflows. */
static uint64_t pm_ticks(struct acpi_pm *pm)
{
	uint64_t ns = clock_ns(pm->clock);
	return ns / NS_PER_SEC * PM_TIMER_HZ + ns % NS_PER_SEC * PM_TIMER_HZ / NS_PER_SEC;
}

/* The first clock time at which pm_ticks() reaches TICKS. */
static uint64_t pm_ticks_to_ns(uint64_t ticks)
{
	uint64_t rem_ns = (ticks % PM_TIMER_HZ * NS_PER_SEC + PM_TIMER_HZ - 1) / PM_TIMER_HZ;
	return ticks / PM_TIMER_HZ * NS_PER_SEC + rem_ns;
}

/* Brings TMR_STS up to date: bit 23 of the count changed since we last looked. */
static void pm_tmr_update(struct acpi_pm *pm)
{
	uint64_t period = pm_ticks(pm) >> PM_TIMER_STS_SHIFT;
	if (period != pm->tmr_period) {
		pm->pm1_sts |= TMR_STS;
		pm->tmr_period = period;
	}
}

/* Only an enabled timer event can raise the SCI, so only then is a host timer needed. */
static void pm_tmr_arm(struct acpi_pm *pm)
{
	if (pm->pm1_en & TMR_STS)
		timer_mod(pm->tmr_timer,
			  pm_ticks_to_ns((pm->tmr_period + 1) << PM_TIMER_STS_SHIFT));
	else
		timer_del(pm->tmr_timer);
}

/* SCI: level-triggered, asserted while an enabled event is pending and SCI_EN is set. */
static void pm_update_sci(struct acpi_pm *pm)
{
	bool pm1 = pm->pm1_sts & pm->pm1_en & PM1_EN_BITS;
	bool gpe = pm->gpe_sts & pm->gpe_en;
	int level = (pm->pm1_cnt & SCI_EN) && (pm1 || gpe);
	if (level == pm->sci_level)
		return;
	pm->sci_level = level;
	irq_set_level(&pm->sci, level);
}

/* After any register change: status, timer and SCI agree again. */
static void pm_sync(struct acpi_pm *pm)
{
	pm_tmr_update(pm);
	pm_tmr_arm(pm);
	pm_update_sci(pm);
}

static void pm_tmr_fire(void *opaque)
{
	struct acpi_pm *pm = opaque;
	pthread_mutex_lock(&pm->lock);
	pm_sync(pm);
	pthread_mutex_unlock(&pm->lock);
}

/* ---- register tables ---- */

/* A register of LEN bytes at OFF. Writes get the bytes written as MASK, so that a byte access
 * to a 16-bit write-1-to-clear register clears only bits in that byte. */
struct pm_reg {
	uint8_t off, len;
	uint32_t (*read)(struct acpi_pm *pm);
	void (*write)(struct acpi_pm *pm, uint32_t val, uint32_t mask); /* NULL: read-only */
};

static bool pm_reg_has(const struct pm_reg *r, uint64_t o)
{
	return o >= r->off && o < (uint64_t)r->off + r->len;
}

/* Bytes no register claims read 0. */
static uint64_t pm_regs_read(struct acpi_pm *pm, const struct pm_reg *regs, size_t n,
			     uint64_t off, unsigned size)
{
	uint64_t v = 0;
	for (size_t i = 0; i < n; i++) {
		const struct pm_reg *r = &regs[i];
		if (off >= (uint64_t)r->off + r->len || off + size <= r->off)
			continue;
		uint32_t rv = r->read(pm);
		for (unsigned b = 0; b < size; b++)
			if (pm_reg_has(r, off + b))
				v |= (uint64_t)((rv >> (8 * (off + b - r->off))) & 0xFF) << (8 * b);
	}
	return v;
}

static void pm_regs_write(struct acpi_pm *pm, const struct pm_reg *regs, size_t n,
			  uint64_t off, uint64_t data, unsigned size, const char *block)
{
	for (size_t i = 0; i < n; i++) {
		const struct pm_reg *r = &regs[i];
		uint32_t val = 0, mask = 0;
		for (unsigned b = 0; b < size; b++) {
			if (!pm_reg_has(r, off + b))
				continue;
			unsigned shift = 8 * (off + b - r->off);
			val |= (uint32_t)((data >> (8 * b)) & 0xFF) << shift;
			mask |= 0xFFu << shift;
		}
		if (mask && r->write)
			r->write(pm, val, mask);
		else if (mask)
			log_once(LOG_DEBUG, "piix4-pm: guest writes read-only %s register", block);
	}
	pm_sync(pm);
}

/* ---- PM1 event and control, PM timer (PMBA + 0x00-0x0B) ---- */

static uint32_t pm1_sts_read(struct acpi_pm *pm)
{
	pm_tmr_update(pm);
	return pm->pm1_sts;
}

static void pm1_sts_write(struct acpi_pm *pm, uint32_t val, uint32_t mask)
{
	pm_tmr_update(pm); /* a toggle already due is cleared with the bit the guest clears */
	pm->pm1_sts &= ~(val & mask);
}

static uint32_t pm1_en_read(struct acpi_pm *pm)
{
	return pm->pm1_en;
}

static void pm1_en_write(struct acpi_pm *pm, uint32_t val, uint32_t mask)
{
	mask &= PM1_EN_BITS;
	pm->pm1_en = (pm->pm1_en & ~mask) | (val & mask);
}

static uint32_t pm1_cnt_read(struct acpi_pm *pm)
{
	return pm->pm1_cnt;
}

static void pm_sleep(struct acpi_pm *pm, unsigned typ)
{
	if (typ == SLP_TYP_S5) {
		machine_request_exit(pm->hooks, 0, "guest ACPI power-off (S5)");
		return;
	}
	/* No S3/S4 yet. Wake at once, or the OS polls WAK_STS forever (ACPI 2.0 §9.1.6). */
	log_once(LOG_INFO, "piix4-pm: guest asked for sleep type %u; not supported, woken at once",
		 typ);
	pm->pm1_sts |= WAK_STS;
}

static void pm1_cnt_write(struct acpi_pm *pm, uint32_t val, uint32_t mask)
{
	uint32_t rw = mask & PM1_CNT_RW;
	pm->pm1_cnt = (pm->pm1_cnt & ~rw) | (val & rw);
	if (val & mask & GBL_RLS)
		log_once(LOG_DEBUG, "piix4-pm: GBL_RLS written; there is no SMM BIOS to notify");
	if (val & mask & SLP_EN)
		pm_sleep(pm, (pm->pm1_cnt & SLP_TYP_MASK) >> SLP_TYP_SHIFT);
}

static uint32_t pm_tmr_read(struct acpi_pm *pm)
{
	return pm_ticks(pm) & PM_TIMER_MASK;
}

/* PIIX4's other PM registers (GPSTS at +0x0C onwards, global and device control) are not in
 * SeaBIOS's tables: they read 0. */
static const struct pm_reg pm_io_regs[] = {
	{ 0x00, 2, pm1_sts_read, pm1_sts_write },
	{ 0x02, 2, pm1_en_read, pm1_en_write },
	{ 0x04, 2, pm1_cnt_read, pm1_cnt_write },
	{ 0x08, 4, pm_tmr_read, NULL },
};

static uint64_t pm_io_read(void *opaque, uint64_t off, unsigned size)
{
	return pm_regs_read(opaque, pm_io_regs, G_N_ELEMENTS(pm_io_regs), off, size);
}

static void pm_io_write(void *opaque, uint64_t off, uint64_t data, unsigned size)
{
	pm_regs_write(opaque, pm_io_regs, G_N_ELEMENTS(pm_io_regs), off, data, size, "PM");
}

const struct bus_ops acpi_pm_io_ops = {
	.read = pm_io_read,
	.write = pm_io_write,
	.min_size = 1,
	.max_size = 4,
};

/* ---- GPE0 block (0xAFE0): status then enable, 16 bits each ---- */

static uint32_t gpe_sts_read(struct acpi_pm *pm)
{
	return pm->gpe_sts;
}

static void gpe_sts_write(struct acpi_pm *pm, uint32_t val, uint32_t mask)
{
	pm->gpe_sts &= ~(val & mask);
}

static uint32_t gpe_en_read(struct acpi_pm *pm)
{
	return pm->gpe_en;
}

static void gpe_en_write(struct acpi_pm *pm, uint32_t val, uint32_t mask)
{
	pm->gpe_en = (pm->gpe_en & ~mask) | (val & mask);
}

static const struct pm_reg gpe_regs[] = {
	{ 0, 2, gpe_sts_read, gpe_sts_write },
	{ 2, 2, gpe_en_read, gpe_en_write },
};

static uint64_t gpe_read(void *opaque, uint64_t off, unsigned size)
{
	return pm_regs_read(opaque, gpe_regs, G_N_ELEMENTS(gpe_regs), off, size);
}

static void gpe_write(void *opaque, uint64_t off, uint64_t data, unsigned size)
{
	pm_regs_write(opaque, gpe_regs, G_N_ELEMENTS(gpe_regs), off, data, size, "GPE0");
}

const struct bus_ops acpi_pm_gpe_ops = {
	.read = gpe_read,
	.write = gpe_write,
	.min_size = 1,
	.max_size = 4,
};

/* ---- APM control (0xB2) and status (0xB3), datasheet §3.7 ---- */

static uint32_t apm_cnt_read(struct acpi_pm *pm)
{
	return pm->apm_cnt;
}

/* On a PIIX4 this write raises an SMI and the BIOS's SMM handler flips SCI_EN. There is no SMM
 * here, so the device does what that handler would for the values SeaBIOS's FADT gives. */
static void apm_cnt_write(struct acpi_pm *pm, uint32_t val, uint32_t mask)
{
	pm->apm_cnt = val;
	if (val == 0xF1)
		pm->pm1_cnt |= SCI_EN;
	else if (val == 0xF0)
		pm->pm1_cnt &= ~SCI_EN;
}

static uint32_t apm_sts_read(struct acpi_pm *pm)
{
	return pm->apm_sts;
}

static void apm_sts_write(struct acpi_pm *pm, uint32_t val, uint32_t mask)
{
	pm->apm_sts = val; /* a scratch byte for the BIOS */
}

static const struct pm_reg apm_regs[] = {
	{ 0, 1, apm_cnt_read, apm_cnt_write },
	{ 1, 1, apm_sts_read, apm_sts_write },
};

static uint64_t apm_read(void *opaque, uint64_t off, unsigned size)
{
	return pm_regs_read(opaque, apm_regs, G_N_ELEMENTS(apm_regs), off, size);
}

static void apm_write(void *opaque, uint64_t off, uint64_t data, unsigned size)
{
	pm_regs_write(opaque, apm_regs, G_N_ELEMENTS(apm_regs), off, data, size, "APM");
}

const struct bus_ops acpi_pm_apm_ops = {
	.read = apm_read,
	.write = apm_write,
	.min_size = 1,
	.max_size = 2,
};

/* ---- PCI hotplug registers of the legacy DSDT (0xAE00) ---- */

/* PCIU/PCID (slots coming and going), B0EJ (eject) and the removability word at 0xAE0C. No
 * hotplug: nothing arrives or leaves, and reading 0 keeps the DSDT's _RMV/_EJ0 quiet. */
static uint64_t hotplug_read(void *opaque, uint64_t off, unsigned size)
{
	return 0;
}

static void hotplug_write(void *opaque, uint64_t off, uint64_t data, unsigned size)
{
	log_once(LOG_DEBUG, "piix4-pm: PCI hotplug register +%#x written (%#llx); no hotplug",
		 (unsigned)off, (unsigned long long)data);
}

const struct bus_ops acpi_pm_hotplug_ops = {
	.read = hotplug_read,
	.write = hotplug_write,
	.min_size = 1,
	.max_size = 4,
};

/* ---- PCI side: PMBA and PMREGMISC place the PM I/O block ---- */

/* Registers the PM block where PMBA says while PMIOSE is set; unregisters it otherwise. A base
 * of 0 is an unprogrammed register, not a request for ports 0-0x3F. */
static void pm_io_remap(struct acpi_pm *pm)
{
	struct pci_function *f = &pm->pci;
	struct bus *io = f->bus ? pci_bus_io(f->bus) : NULL;
	if (!io)
		return;
	uint16_t base = pci_config_get32(f, PIIX4_PMBA) & 0xFFC0;
	bool want = (f->config[PIIX4_PMREGMISC] & 1) && base != 0;
	if (pm->io_mapped && (!want || base != pm->io_base)) {
		bus_unregister(io, pm->io_base, pm);
		pm->io_mapped = false;
	}
	if (!want || pm->io_mapped)
		return;
	if (bus_register(io, base, ACPI_PM_IO_SIZE, &acpi_pm_io_ops, pm, &pm->lock, f->name) == 0) {
		pm->io_mapped = true;
		pm->io_base = base;
	} else {
		log_once(LOG_WARN, "piix4-pm: PM base %#x collides with another device; not mapped",
			 base);
	}
}

/* Runs with the PCI bus's config lock held; takes ours after it (never the other way). */
static void pm_config_write(struct pci_function *f, unsigned off, uint32_t val, unsigned size)
{
	struct acpi_pm *pm = f->opaque;
	bool pmba = off < PIIX4_PMBA + 4 && off + size > PIIX4_PMBA;
	bool misc = off <= PIIX4_PMREGMISC && off + size > PIIX4_PMREGMISC;
	if (!pmba && !misc)
		return;
	pthread_mutex_lock(&pm->lock);
	pm_io_remap(pm);
	pthread_mutex_unlock(&pm->lock);
}

static void pm_config_init(struct acpi_pm *pm)
{
	struct pci_function *f = &pm->pci;
	pci_function_init(f, "piix4-pm", 0x8086, 0x7113, 0x068000, 0x03, 0x00);
	f->config[PCI_INTERRUPT_PIN] = 1;
	pci_config_set32(f, PIIX4_PMBA, 0x1);
	f->wmask[PIIX4_PMBA] = 0xC0;
	f->wmask[PIIX4_PMBA + 1] = 0xFF;
	/* APMC_EN preset: SeaBIOS reads it as "SMM already set up" and skips its SMM init, which
	 * hangs without SMM (pc-platform.md). The register itself is read/write. */
	f->config[PIIX4_DEVACTB + 3] = 0x02;
	memset(&f->wmask[PIIX4_DEVACTB], 0xFF, 4);
	f->wmask[PIIX4_PMREGMISC] = 0x01;
	/* SMBus: base and host configuration keep what SeaBIOS writes, but no SMBus controller
	 * answers there (no SPD EEPROMs to read; nothing probes it). */
	pci_config_set32(f, PIIX4_SMBBA, 0x1);
	f->wmask[PIIX4_SMBBA] = 0xF0;
	f->wmask[PIIX4_SMBBA + 1] = 0xFF;
	f->wmask[PIIX4_SMBHSTCFG] = 0x0F;
	f->lock = &pm->lock;
	f->opaque = pm;
	f->config_write = pm_config_write;
	memcpy(pm->power_on_config, f->config, sizeof(pm->power_on_config));
}

/* ---- input from the machine ---- */

void acpi_pm_power_button(struct acpi_pm *pm)
{
	pthread_mutex_lock(&pm->lock);
	pm->pm1_sts |= PWRBTN_STS;
	pm_sync(pm);
	pthread_mutex_unlock(&pm->lock);
}

void acpi_pm_gpe_raise(struct acpi_pm *pm, unsigned bit)
{
	if (bit >= 16) {
		log_error("piix4-pm: no GPE0 bit %u", bit);
		return;
	}
	pthread_mutex_lock(&pm->lock);
	pm->gpe_sts |= 1u << bit;
	pm_sync(pm);
	pthread_mutex_unlock(&pm->lock);
}

/* ---- class ---- */

static void acpi_pm_reset(void *dev)
{
	struct acpi_pm *pm = dev;
	pci_function_reset(&pm->pci, pm->power_on_config);
	pm->pm1_sts = pm->pm1_en = pm->pm1_cnt = 0;
	pm->gpe_sts = pm->gpe_en = 0;
	pm->apm_cnt = pm->apm_sts = 0;
	pm_io_remap(pm); /* PMREGMISC is 0 again: the block goes away */
	pm->tmr_period = pm_ticks(pm) >> PM_TIMER_STS_SHIFT;
	pm_tmr_arm(pm);
	pm->sci_level = -1; /* drive the line low */
	pm_update_sci(pm);
}

/* What a loaded state may not hold (bits neither guest nor device could set), or NULL. */
static const char *acpi_pm_check(const struct acpi_pm *pm)
{
	const struct pci_function *f = &pm->pci;
	for (int i = 0; i < 256; i++) {
		uint8_t guest = f->wmask[i] | f->w1cmask[i];
		if ((f->config[i] ^ pm->power_on_config[i]) & ~guest)
			return "a read-only configuration byte differs";
	}
	if ((pm->pm1_sts & ~PM1_STS_BITS) || (pm->pm1_en & ~PM1_EN_BITS) ||
	    (pm->pm1_cnt & ~PM1_CNT_RW))
		return "undefined PM1 register bits set";
	return NULL;
}

/* The state_desc check hook: pure, as state_check runs it on a scratch copy. */
static int acpi_pm_state_check(const void *obj, char **error)
{
	const char *bad = acpi_pm_check(obj);
	if (bad)
		*error = g_strdup_printf("piix4-pm: %s", bad);
	return bad ? -1 : 0;
}

/* Rebuilds the mapping, the timer and the SCI. A refused state leaves the device at power-on
 * rather than half loaded. */
static int acpi_pm_post_load(void *obj, char **error)
{
	struct acpi_pm *pm = obj;
	if (acpi_pm_state_check(pm, error) < 0) {
		acpi_pm_reset(pm);
		return -1;
	}
	pm_io_remap(pm);
	/* a toggle of the new clock's count is not an event of the saved machine */
	pm->tmr_period = pm_ticks(pm) >> PM_TIMER_STS_SHIFT;
	pm_tmr_arm(pm);
	pm->sci_level = -1;
	pm_update_sci(pm);
	return 0;
}

static const struct state_field acpi_pm_fields[] = {
	STATE_U8_ARRAY(struct acpi_pm, pci.config),
	STATE_U16(struct acpi_pm, pm1_sts),
	STATE_U16(struct acpi_pm, pm1_en),
	STATE_U16(struct acpi_pm, pm1_cnt),
	STATE_U16(struct acpi_pm, gpe_sts),
	STATE_U16(struct acpi_pm, gpe_en),
	STATE_U8(struct acpi_pm, apm_cnt),
	STATE_U8(struct acpi_pm, apm_sts),
};

static const struct state_desc acpi_pm_state =
	STATE_DESC("piix4-pm", 1, struct acpi_pm, acpi_pm_fields, .post_load = acpi_pm_post_load,
		   .check = acpi_pm_state_check);

static void *acpi_pm_create(const struct dev_ctx *ctx)
{
	if (!ctx->clock) {
		log_error("piix4-pm: created without a clock (the PM timer needs one)");
		return NULL;
	}
	struct acpi_pm *pm = g_new0(struct acpi_pm, 1);
	pthread_mutex_init(&pm->lock, NULL);
	pm->clock = ctx->clock;
	pm->sci = ctx->irq[0];
	pm->hooks = ctx->hooks;
	pm->tmr_timer = timer_new(ctx->clock, pm_tmr_fire, pm);
	pm_config_init(pm);
	acpi_pm_reset(pm);
	return pm;
}

/* Call before the I/O bus is freed: the PM block is unregistered from it. */
static void acpi_pm_destroy(void *dev)
{
	struct acpi_pm *pm = dev;
	timer_free(pm->tmr_timer);
	if (pm->io_mapped)
		bus_unregister(pci_bus_io(pm->pci.bus), pm->io_base, pm);
	pthread_mutex_destroy(&pm->lock);
	g_free(pm);
}

static pthread_mutex_t *acpi_pm_lock(void *dev)
{
	return &((struct acpi_pm *)dev)->lock;
}

const struct device_class acpi_pm_class = {
	.name = "piix4-pm",
	.state = &acpi_pm_state,
	.create = acpi_pm_create,
	.destroy = acpi_pm_destroy,
	.reset = acpi_pm_reset,
	.lock = acpi_pm_lock,
};
