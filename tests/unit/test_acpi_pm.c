/* PIIX4 PM function: PCI config, the PM I/O block at PMBA, PM timer, SCI, S5, GPE, APM. */
#include <glib.h>

#include "devices/acpi_pm.h"
#include "devices/pci.h"
#include "fakes.h"

#define DEVFN ((1 << 3) | 3)
#define PMBASE 0xB000
#define SCI 9

#define TMR_STS 0x0001
#define PWRBTN_STS 0x0100
#define WAK_STS 0x8000
#define SCI_EN 0x0001
#define SLP_EN 0x2000

#define PM_TIMER_HZ 3579545ull

struct t {
	struct fake_env *env;
	struct pci_bus *pci;
	struct acpi_pm *pm;
};

static struct t *t_new(void)
{
	struct t *t = g_new0(struct t, 1);
	t->env = fake_env_new(SCI, -1);
	t->pm = acpi_pm_class.create(&t->env->ctx);
	g_assert_nonnull(t->pm);
	t->pci = pci_bus_new(t->env->io, NULL);
	g_assert_cmpint(pci_bus_attach(t->pci, 1, 3, &t->pm->pci), ==, 0);
	acpi_pm_class.reset(t->pm);
	fake_map(t->env, 0xCF8, 8, &pci_host_ops, t->pci, NULL);
	fake_map(t->env, 0xAFE0, 4, &acpi_pm_gpe_ops, t->pm, &t->pm->lock);
	fake_map(t->env, 0xB2, 2, &acpi_pm_apm_ops, t->pm, &t->pm->lock);
	fake_map(t->env, 0xAE00, 16, &acpi_pm_hotplug_ops, t->pm, &t->pm->lock);
	return t;
}

static void t_free(struct t *t)
{
	acpi_pm_class.destroy(t->pm);
	pci_bus_free(t->pci);
	fake_env_free(t->env);
	g_free(t);
}

static uint32_t cfg_read(struct t *t, unsigned off, unsigned size)
{
	return pci_config_read(t->pci, DEVFN, off, size);
}

static void cfg_write(struct t *t, unsigned off, uint32_t v, unsigned size)
{
	pci_config_write(t->pci, DEVFN, off, v, size);
}

/* What SeaBIOS does: PMBA = 0xB000, then PMIOSE. */
static void map_pm(struct t *t)
{
	cfg_write(t, 0x40, PMBASE | 1, 4);
	cfg_write(t, 0x80, 0x01, 1);
	g_assert_cmpstr(bus_owner_at(t->env->io, PMBASE), ==, "piix4-pm");
}

static void test_config_identity(void)
{
	struct t *t = t_new();
	g_assert_cmphex(cfg_read(t, 0x00, 4), ==, 0x71138086);
	g_assert_cmphex(cfg_read(t, 0x08, 4), ==, 0x06800003);
	g_assert_cmphex(cfg_read(t, 0x0E, 1), ==, 0x00);
	g_assert_cmphex(cfg_read(t, 0x3D, 1), ==, 0x01);
	g_assert_cmphex(cfg_read(t, 0x5B, 1), ==, 0x02);
	g_assert_cmphex(cfg_read(t, 0x40, 4), ==, 0x00000001);
	/* SeaBIOS's own reading of it: DEVACTB as a dword, APMC_EN = bit 25 */
	g_assert_cmphex(cfg_read(t, 0x58, 4) & (1u << 25), ==, 1u << 25);
	/* the guest may change it; every reset presets it again */
	cfg_write(t, 0x5B, 0x00, 1);
	g_assert_cmphex(cfg_read(t, 0x5B, 1), ==, 0x00);
	acpi_pm_class.reset(t->pm);
	g_assert_cmphex(cfg_read(t, 0x5B, 1), ==, 0x02);
	/* read-only IDs */
	cfg_write(t, 0x00, 0, 4);
	g_assert_cmphex(cfg_read(t, 0x00, 4), ==, 0x71138086);
	/* SMBus base and host config keep their writable bits */
	cfg_write(t, 0x90, 0xFFFFFFFF, 4);
	g_assert_cmphex(cfg_read(t, 0x90, 4), ==, 0x0000FFF1);
	cfg_write(t, 0xD2, 0xFF, 1);
	g_assert_cmphex(cfg_read(t, 0xD2, 1), ==, 0x0F);
	t_free(t);
}

static void test_pmba_mapping(void)
{
	struct t *t = t_new();
	struct bus *io = t->env->io;
	cfg_write(t, 0x40, 0xFFFFFFFF, 4);
	g_assert_cmphex(cfg_read(t, 0x40, 4), ==, 0x0000FFC1);
	cfg_write(t, 0x40, PMBASE, 4);
	g_assert_cmphex(cfg_read(t, 0x40, 4), ==, PMBASE | 1);
	g_assert_null(bus_owner_at(io, PMBASE)); /* PMIOSE still clear */
	cfg_write(t, 0x80, 0x01, 1);
	g_assert_cmpstr(bus_owner_at(io, PMBASE), ==, "piix4-pm");
	g_assert_cmpstr(bus_owner_at(io, PMBASE + 0x3F), ==, "piix4-pm");
	g_assert_null(bus_owner_at(io, PMBASE + 0x40));
	/* moved by a rewrite (through the 0xCF8/0xCFC mechanism this time) */
	fake_outl(t->env, 0xCF8, 0x80000000u | DEVFN << 8 | 0x40);
	fake_outl(t->env, 0xCFC, 0x0000C001);
	g_assert_null(bus_owner_at(io, PMBASE));
	g_assert_cmpstr(bus_owner_at(io, 0xC000), ==, "piix4-pm");
	g_assert_cmphex(fake_inl(t->env, 0xCFC), ==, 0xC001);
	/* PMIOSE off: gone */
	cfg_write(t, 0x80, 0x00, 1);
	g_assert_null(bus_owner_at(io, 0xC000));
	cfg_write(t, 0x80, 0x01, 1);
	g_assert_cmpstr(bus_owner_at(io, 0xC000), ==, "piix4-pm");
	/* a write elsewhere leaves it */
	cfg_write(t, 0x3C, 9, 1);
	g_assert_cmpstr(bus_owner_at(io, 0xC000), ==, "piix4-pm");
	/* reset unmaps and restores the power-on image */
	acpi_pm_class.reset(t->pm);
	g_assert_null(bus_owner_at(io, 0xC000));
	g_assert_cmphex(cfg_read(t, 0x40, 4), ==, 1);
	g_assert_cmphex(cfg_read(t, 0x80, 1), ==, 0);
	t_free(t);
}

static uint64_t ticks_at(uint64_t ns)
{
	return ns / NS_PER_SEC * PM_TIMER_HZ + ns % NS_PER_SEC * PM_TIMER_HZ / NS_PER_SEC;
}

static void test_pm_timer(void)
{
	struct t *t = t_new();
	map_pm(t);
	g_assert_cmphex(fake_inl(t->env, PMBASE + 8), ==, 0);
	clock_step(t->env->clock, NS_PER_SEC);
	g_assert_cmpuint(fake_inl(t->env, PMBASE + 8), ==, 3579545);
	clock_step(t->env->clock, 1000); /* 1 us: 3 or 4 ticks */
	g_assert_cmpuint(fake_inl(t->env, PMBASE + 8), ==, 3579548);
	/* 24 bits: wraps after about 4.69 s, upper byte reads 0 */
	clock_step(t->env->clock, 10 * NS_PER_SEC);
	uint64_t now = clock_ns(t->env->clock);
	g_assert_cmphex(fake_inl(t->env, PMBASE + 8), ==, ticks_at(now) & 0xFFFFFF);
	/* long uptimes do not overflow the conversion: 30 days on */
	clock_step(t->env->clock, 30ull * 86400 * NS_PER_SEC);
	now = clock_ns(t->env->clock);
	g_assert_cmphex(fake_inl(t->env, PMBASE + 8), ==, ticks_at(now) & 0xFFFFFF);
	/* 16-bit reads see the halves */
	uint32_t lo = fake_inw(t->env, PMBASE + 8), hi = fake_inw(t->env, PMBASE + 10);
	g_assert_cmphex(hi << 16 | lo, ==, ticks_at(now) & 0xFFFFFF);
	t_free(t);
}

static void test_tmr_sts_and_sci(void)
{
	struct t *t = t_new();
	struct fake_env *env = t->env;
	map_pm(t);
	/* without TMR_EN: TMR_STS still reports the toggle, no SCI */
	fake_outb(env, 0xB2, 0xF1);
	clock_step(env->clock, 2400 * 1000000ull);
	g_assert_cmphex(fake_inw(env, PMBASE) & TMR_STS, ==, TMR_STS);
	g_assert_cmpint(env->irq_level[SCI], ==, 0);
	fake_outw(env, PMBASE, TMR_STS);
	g_assert_cmphex(fake_inw(env, PMBASE) & TMR_STS, ==, 0);
	/* with TMR_EN the next toggle (2^24 ticks, 4.687 s) raises the SCI by itself */
	fake_outw(env, PMBASE + 2, TMR_STS);
	g_assert_cmphex(fake_inw(env, PMBASE + 2), ==, TMR_STS);
	clock_step(env->clock, 2200 * 1000000ull); /* 4.6 s */
	g_assert_cmpint(env->irq_level[SCI], ==, 0);
	clock_step(env->clock, 100 * 1000000ull); /* 4.7 s */
	g_assert_cmpint(env->irq_level[SCI], ==, 1);
	g_assert_cmphex(fake_inw(env, PMBASE) & TMR_STS, ==, TMR_STS);
	/* level-triggered: held until the status is cleared */
	fake_outw(env, PMBASE, TMR_STS);
	g_assert_cmpint(env->irq_level[SCI], ==, 0);
	clock_step(env->clock, 2400 * 1000000ull); /* past 7.03 s */
	g_assert_cmpint(env->irq_level[SCI], ==, 1);
	g_assert_cmpuint(env->irq_raises[SCI], ==, 2);
	/* SCI_EN off masks it, on again shows it */
	fake_outb(env, 0xB2, 0xF0);
	g_assert_cmpint(env->irq_level[SCI], ==, 0);
	fake_outb(env, 0xB2, 0xF1);
	g_assert_cmpint(env->irq_level[SCI], ==, 1);
	/* TMR_EN off: the status stays but no SCI */
	fake_outw(env, PMBASE + 2, 0);
	g_assert_cmpint(env->irq_level[SCI], ==, 0);
	t_free(t);
}

static void test_w1c(void)
{
	struct t *t = t_new();
	struct fake_env *env = t->env;
	map_pm(t);
	acpi_pm_power_button(t->pm);
	g_assert_cmphex(fake_inw(env, PMBASE) & PWRBTN_STS, ==, PWRBTN_STS);
	fake_outw(env, PMBASE, 0); /* writing 0 keeps it */
	g_assert_cmphex(fake_inw(env, PMBASE) & PWRBTN_STS, ==, PWRBTN_STS);
	fake_outb(env, PMBASE, 0xFF); /* the low byte does not hold it */
	g_assert_cmphex(fake_inw(env, PMBASE) & PWRBTN_STS, ==, PWRBTN_STS);
	fake_outb(env, PMBASE + 1, 0x01);
	g_assert_cmphex(fake_inw(env, PMBASE) & PWRBTN_STS, ==, 0);
	/* PM1_EN keeps only its defined bits */
	fake_outw(env, PMBASE + 2, 0xFFFF);
	g_assert_cmphex(fake_inw(env, PMBASE + 2), ==, 0x0521);
	/* PM1_CNT: SLP_EN and GBL_RLS read 0; SLP_TYP 5 (no such state) wakes at once */
	fake_outw(env, PMBASE + 4, 0x0001 | 0x0002 | 0x0004 | 5 << 10);
	g_assert_cmphex(fake_inw(env, PMBASE + 4), ==, 0x0003 | 5 << 10);
	fake_outw(env, PMBASE + 4, SCI_EN | 5 << 10 | SLP_EN);
	g_assert_cmphex(fake_inw(env, PMBASE + 4), ==, SCI_EN | 5 << 10);
	g_assert_cmphex(fake_inw(env, PMBASE) & WAK_STS, ==, WAK_STS);
	g_assert_cmpint(env->exits, ==, 0);
	fake_outw(env, PMBASE, WAK_STS);
	g_assert_cmphex(fake_inw(env, PMBASE) & WAK_STS, ==, 0);
	/* the timer is read-only */
	uint32_t before = fake_inl(env, PMBASE + 8);
	fake_outl(env, PMBASE + 8, 0x12345);
	g_assert_cmphex(fake_inl(env, PMBASE + 8), ==, before);
	t_free(t);
}

static void test_apm(void)
{
	struct t *t = t_new();
	struct fake_env *env = t->env;
	map_pm(t);
	g_assert_cmphex(fake_inw(env, PMBASE + 4) & SCI_EN, ==, 0);
	fake_outb(env, 0xB2, 0xF1);
	g_assert_cmphex(fake_inw(env, PMBASE + 4) & SCI_EN, ==, SCI_EN);
	g_assert_cmphex(fake_inb(env, 0xB2), ==, 0xF1);
	fake_outb(env, 0xB2, 0x55); /* other values: no change */
	g_assert_cmphex(fake_inw(env, PMBASE + 4) & SCI_EN, ==, SCI_EN);
	fake_outb(env, 0xB2, 0xF0);
	g_assert_cmphex(fake_inw(env, PMBASE + 4) & SCI_EN, ==, 0);
	fake_outb(env, 0xB3, 0x5A);
	g_assert_cmphex(fake_inb(env, 0xB3), ==, 0x5A);
	g_assert_cmphex(fake_inw(env, 0xB2), ==, 0x5AF0);
	t_free(t);
}

static void test_s5_exit(void)
{
	struct t *t = t_new();
	struct fake_env *env = t->env;
	map_pm(t);
	fake_outw(env, PMBASE + 4, SCI_EN); /* SLP_TYP 0 without SLP_EN: nothing */
	g_assert_cmpint(env->exits, ==, 0);
	env->exit_code = -1;
	fake_outw(env, PMBASE + 4, SCI_EN | 0 << 10 | SLP_EN);
	g_assert_cmpint(env->exits, ==, 1);
	g_assert_cmpint(env->exit_code, ==, 0);
	/* S3 (type 1) is not power-off */
	fake_outw(env, PMBASE + 4, 1 << 10 | SLP_EN);
	g_assert_cmpint(env->exits, ==, 1);
	t_free(t);
}

static void test_power_button(void)
{
	struct t *t = t_new();
	struct fake_env *env = t->env;
	map_pm(t);
	acpi_pm_power_button(t->pm); /* not enabled: status only */
	g_assert_cmpint(env->irq_level[SCI], ==, 0);
	fake_outw(env, PMBASE, PWRBTN_STS);
	fake_outb(env, 0xB2, 0xF1);
	fake_outw(env, PMBASE + 2, PWRBTN_STS);
	g_assert_cmpint(env->irq_level[SCI], ==, 0);
	acpi_pm_power_button(t->pm);
	g_assert_cmpint(env->irq_level[SCI], ==, 1);
	fake_outw(env, PMBASE, PWRBTN_STS);
	g_assert_cmpint(env->irq_level[SCI], ==, 0);
	t_free(t);
}

static void test_gpe(void)
{
	struct t *t = t_new();
	struct fake_env *env = t->env;
	fake_outb(env, 0xB2, 0xF1);
	acpi_pm_gpe_raise(t->pm, 1);
	g_assert_cmphex(fake_inw(env, 0xAFE0), ==, 0x0002);
	g_assert_cmpint(env->irq_level[SCI], ==, 0);
	fake_outw(env, 0xAFE2, 0x0002);
	g_assert_cmphex(fake_inl(env, 0xAFE0), ==, 0x00020002);
	g_assert_cmpint(env->irq_level[SCI], ==, 1);
	fake_outb(env, 0xAFE0, 0x0002); /* write 1 to clear */
	g_assert_cmphex(fake_inw(env, 0xAFE0), ==, 0);
	g_assert_cmpint(env->irq_level[SCI], ==, 0);
	/* a 32-bit write that clears status and sets enables at once */
	acpi_pm_gpe_raise(t->pm, 2);
	fake_outl(env, 0xAFE0, 0x00040004);
	g_assert_cmphex(fake_inl(env, 0xAFE0), ==, 0x00040000);
	g_assert_cmpint(env->irq_level[SCI], ==, 0);
	acpi_pm_gpe_raise(t->pm, 99); /* ignored */
	t_free(t);
}

static void test_hotplug(void)
{
	struct t *t = t_new();
	struct fake_env *env = t->env;
	g_assert_cmphex(fake_inl(env, 0xAE0C), ==, 0);
	g_assert_cmphex(fake_inl(env, 0xAE00), ==, 0);
	g_assert_cmphex(fake_inl(env, 0xAE08), ==, 0);
	g_assert_cmphex(fake_inb(env, 0xAE0F), ==, 0);
	fake_outl(env, 0xAE08, 1u << 3); /* an eject request: nothing to eject */
	g_assert_cmphex(fake_inl(env, 0xAE0C), ==, 0);
	t_free(t);
}

static void test_hostile(void)
{
	struct t *t = t_new();
	struct fake_env *env = t->env;
	map_pm(t);
	for (unsigned off = 0; off < 64; off++)
		for (unsigned v = 0; v < 256; v += 5) {
			fake_outb(env, PMBASE + off, v);
			fake_outw(env, PMBASE + off, v * 0x0101);
			fake_outl(env, PMBASE + off, v * 0x01010101u);
			fake_inl(env, PMBASE + off);
		}
	for (unsigned off = 0; off < 16; off++) {
		fake_outl(env, 0xAFE0 + (off & 3), 0xFFFFFFFF);
		fake_outw(env, 0xB2 + (off & 1), off * 0x1111);
		fake_outl(env, 0xAE00 + off, 0xFFFFFFFF);
	}
	/* every config byte the guest can reach, with every size */
	for (unsigned off = 0; off < 256; off++) {
		cfg_write(t, off, 0xFFFFFFFF, 1);
		cfg_write(t, off & ~1u, 0xA5A5, 2);
		cfg_write(t, off & ~3u, 0x5A5A5A5A, 4);
	}
	g_assert_cmphex(cfg_read(t, 0x00, 4), ==, 0x71138086);
	g_assert_cmpint(env->exits, >, 0); /* SLP_EN with type 0 got written */
	clock_step(env->clock, 20 * NS_PER_SEC);
	acpi_pm_class.reset(t->pm);
	g_assert_cmpint(env->irq_level[SCI], ==, 0);
	g_assert_null(bus_owner_at(env->io, PMBASE));
	t_free(t);
}

static GByteArray *save(struct acpi_pm *pm)
{
	GByteArray *out = g_byte_array_new();
	state_save(acpi_pm_class.state, pm, out);
	return out;
}

static void test_state_round_trip(void)
{
	struct t *a = t_new();
	map_pm(a);
	fake_outb(a->env, 0xB2, 0xF1);
	fake_outw(a->env, PMBASE + 2, PWRBTN_STS | TMR_STS);
	fake_outw(a->env, 0xAFE2, 0x0004);
	fake_outb(a->env, 0xB3, 0x77);
	acpi_pm_power_button(a->pm);
	g_assert_cmpint(a->env->irq_level[SCI], ==, 1);
	GByteArray *sa = save(a->pm);

	struct t *b = t_new();
	g_assert_null(bus_owner_at(b->env->io, PMBASE));
	char *err = NULL;
	g_assert_cmpint(state_load(acpi_pm_class.state, b->pm, sa->data, sa->len, &err), ==, 0);
	g_assert_null(err);
	/* derived state rebuilt: the mapping, the SCI level, the timer */
	g_assert_cmpstr(bus_owner_at(b->env->io, PMBASE), ==, "piix4-pm");
	g_assert_cmpint(b->env->irq_level[SCI], ==, 1);
	g_assert_cmphex(fake_inw(b->env, PMBASE + 2), ==, PWRBTN_STS | TMR_STS);
	g_assert_cmphex(fake_inb(b->env, 0xB3), ==, 0x77);
	g_assert_cmphex(fake_inw(b->env, 0xAFE2), ==, 0x0004);
	GByteArray *sb = save(b->pm);
	g_assert_cmpmem(sa->data, sa->len, sb->data, sb->len);
	fake_outw(b->env, PMBASE, PWRBTN_STS);
	g_assert_cmpint(b->env->irq_level[SCI], ==, 0);
	clock_step(b->env->clock, 5 * NS_PER_SEC); /* the re-armed timer event */
	g_assert_cmpint(b->env->irq_level[SCI], ==, 1);

	g_byte_array_free(sa, TRUE);
	g_byte_array_free(sb, TRUE);
	t_free(a);
	t_free(b);
}

static void test_state_unmap_and_refuse(void)
{
	struct t *a = t_new(), *b = t_new();
	char *err = NULL;
	map_pm(a);
	/* a load with PMIOSE off unmaps */
	GByteArray *off = save(b->pm);
	g_assert_cmpint(state_load(acpi_pm_class.state, a->pm, off->data, off->len, &err), ==, 0);
	g_assert_null(bus_owner_at(a->env->io, PMBASE));
	/* a stream with another device ID is refused, leaving the device at power-on */
	map_pm(a);
	b->pm->pci.config[0x00] = 0x34;
	GByteArray *bad = save(b->pm);
	g_assert_cmpint(state_load(acpi_pm_class.state, a->pm, bad->data, bad->len, &err), ==, -1);
	g_assert_nonnull(err);
	g_free(err);
	g_assert_cmphex(pci_config_read(a->pci, DEVFN, 0, 4), ==, 0x71138086);
	g_assert_null(bus_owner_at(a->env->io, PMBASE));
	g_byte_array_free(off, TRUE);
	g_byte_array_free(bad, TRUE);
	t_free(a);
	t_free(b);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/acpi-pm/config-identity", test_config_identity);
	g_test_add_func("/acpi-pm/pmba-mapping", test_pmba_mapping);
	g_test_add_func("/acpi-pm/pm-timer", test_pm_timer);
	g_test_add_func("/acpi-pm/tmr-sts-sci", test_tmr_sts_and_sci);
	g_test_add_func("/acpi-pm/w1c", test_w1c);
	g_test_add_func("/acpi-pm/apm", test_apm);
	g_test_add_func("/acpi-pm/s5-exit", test_s5_exit);
	g_test_add_func("/acpi-pm/power-button", test_power_button);
	g_test_add_func("/acpi-pm/gpe", test_gpe);
	g_test_add_func("/acpi-pm/hotplug", test_hotplug);
	g_test_add_func("/acpi-pm/hostile", test_hostile);
	g_test_add_func("/acpi-pm/state-round-trip", test_state_round_trip);
	g_test_add_func("/acpi-pm/state-unmap-and-refuse", test_state_unmap_and_refuse);
	return g_test_run();
}
