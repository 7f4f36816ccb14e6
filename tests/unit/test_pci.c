/* PCI configuration mechanism #1, config space masks, BAR sizing and mapping, INTx routing. */
#include "fakes.h"

#include "devices/pci.h"
#include <string.h>

struct fake_fn {
	struct pci_function pci;
	unsigned bar_reads;
};

static uint64_t bar_read(void *opaque, uint64_t off, unsigned size)
{
	struct fake_fn *f = opaque;
	f->bar_reads++;
	return 0xA0 + off;
}

static const struct bus_ops bar_ops = { .read = bar_read, .min_size = 1, .max_size = 4 };

static uint32_t cfg_read(struct fake_env *env, unsigned devfn, unsigned off, unsigned size)
{
	fake_outl(env, 0xCF8, 0x80000000u | devfn << 8 | (off & 0xFC));
	uint16_t port = 0xCFC + (off & 3);
	return size == 1 ? fake_inb(env, port) : size == 2 ? fake_inw(env, port) : fake_inl(env, port);
}

static void cfg_write(struct fake_env *env, unsigned devfn, unsigned off, uint32_t v, unsigned size)
{
	fake_outl(env, 0xCF8, 0x80000000u | devfn << 8 | (off & 0xFC));
	uint16_t port = 0xCFC + (off & 3);
	if (size == 1)
		fake_outb(env, port, v);
	else if (size == 2)
		fake_outw(env, port, v);
	else
		fake_outl(env, port, v);
}

struct pci_fixture {
	struct fake_env *env;
	struct bus *mmio;
	struct pci_bus *bus;
	struct fake_fn fn;
};

static void fixture_init(struct pci_fixture *fx)
{
	fx->env = fake_env_new(-1, -1);
	fx->mmio = bus_new("mmio");
	fx->bus = pci_bus_new(fx->env->io, fx->mmio);
	fake_map(fx->env, 0xCF8, 8, &pci_host_ops, fx->bus, NULL);
	memset(&fx->fn, 0, sizeof(fx->fn));
	pci_function_init(&fx->fn.pci, "fake", 0x8086, 0x100E, 0x020000, 0x03, 0x00);
	pci_function_set_bar(&fx->fn.pci, 0, 0x20000, false, &bar_ops, &fx->fn);
	pci_function_set_bar(&fx->fn.pci, 1, 0x40, true, &bar_ops, &fx->fn);
	fx->fn.pci.config[PCI_INTERRUPT_PIN] = 1;
	g_assert_cmpint(pci_bus_attach(fx->bus, 3, 0, &fx->fn.pci), ==, 0);
}

static void fixture_free(struct pci_fixture *fx)
{
	pci_bus_free(fx->bus);
	bus_free(fx->mmio);
	fake_env_free(fx->env);
}

static void test_config_address(void)
{
	struct pci_fixture fx;
	fixture_init(&fx);
	/* SeaBIOS's PCI detection: a 32-bit write of 0x80000000 must read back */
	fake_outl(fx.env, 0xCF8, 0x80000000);
	g_assert_cmphex(fake_inl(fx.env, 0xCF8), ==, 0x80000000);
	/* a byte access to 0xCF8 does not reach CONFIG_ADDRESS */
	fake_outb(fx.env, 0xCF8, 0);
	g_assert_cmphex(fake_inl(fx.env, 0xCF8), ==, 0x80000000);
	g_assert_cmphex(cfg_read(fx.env, 3 << 3, 0, 4), ==, 0x100E8086);
	g_assert_cmphex(cfg_read(fx.env, 3 << 3, 2, 2), ==, 0x100E);
	g_assert_cmphex(cfg_read(fx.env, 3 << 3, 0x0B, 1), ==, 0x02);
	/* absent functions read all-ones */
	g_assert_cmphex(cfg_read(fx.env, 4 << 3, 0, 4), ==, 0xFFFFFFFF);
	g_assert_cmphex(cfg_read(fx.env, 3 << 3 | 1, 0, 2), ==, 0xFFFF);
	/* bus numbers other than 0 do not exist */
	fake_outl(fx.env, 0xCF8, 0x80010000u | 3 << 11);
	g_assert_cmphex(fake_inl(fx.env, 0xCFC), ==, 0xFFFFFFFF);
	fixture_free(&fx);
}

static void test_read_only_bits(void)
{
	struct pci_fixture fx;
	fixture_init(&fx);
	unsigned devfn = 3 << 3;
	cfg_write(fx.env, devfn, 0, 0xDEADBEEF, 4); /* IDs are read-only */
	g_assert_cmphex(cfg_read(fx.env, devfn, 0, 4), ==, 0x100E8086);
	cfg_write(fx.env, devfn, PCI_INTERRUPT_LINE, 0x0B, 1);
	g_assert_cmphex(cfg_read(fx.env, devfn, PCI_INTERRUPT_LINE, 1), ==, 0x0B);
	cfg_write(fx.env, devfn, PCI_INTERRUPT_PIN, 4, 1);
	g_assert_cmphex(cfg_read(fx.env, devfn, PCI_INTERRUPT_PIN, 1), ==, 1);
	/* status bits are write-1-to-clear */
	fx.fn.pci.config[PCI_STATUS + 1] = 0x30;
	cfg_write(fx.env, devfn, PCI_STATUS, 0x1000, 2);
	g_assert_cmphex(fx.fn.pci.config[PCI_STATUS + 1], ==, 0x20);
	fixture_free(&fx);
}

static void test_bar_sizing_and_mapping(void)
{
	struct pci_fixture fx;
	fixture_init(&fx);
	unsigned devfn = 3 << 3;
	cfg_write(fx.env, devfn, PCI_BAR0, 0xFFFFFFFF, 4);
	g_assert_cmphex(cfg_read(fx.env, devfn, PCI_BAR0, 4), ==, 0xFFFE0000);
	cfg_write(fx.env, devfn, PCI_BAR0 + 4, 0xFFFFFFFF, 4);
	g_assert_cmphex(cfg_read(fx.env, devfn, PCI_BAR0 + 4, 4), ==, 0xFFFFFFC1);
	/* unimplemented BARs and the ROM BAR size to 0 */
	cfg_write(fx.env, devfn, PCI_BAR0 + 8, 0xFFFFFFFF, 4);
	g_assert_cmphex(cfg_read(fx.env, devfn, PCI_BAR0 + 8, 4), ==, 0);
	cfg_write(fx.env, devfn, PCI_ROM_BAR, 0xFFFFFFFF, 4);
	g_assert_cmphex(cfg_read(fx.env, devfn, PCI_ROM_BAR, 4), ==, 0);

	cfg_write(fx.env, devfn, PCI_BAR0, 0xFEB00000, 4);
	cfg_write(fx.env, devfn, PCI_BAR0 + 4, 0xC000, 4);
	uint64_t v;
	g_assert_false(bus_read(fx.mmio, 0xFEB00004, 4, &v)); /* decoding still off */
	cfg_write(fx.env, devfn, PCI_COMMAND, PCI_COMMAND_IO | PCI_COMMAND_MEMORY, 2);
	g_assert_true(bus_read(fx.mmio, 0xFEB00004, 1, &v));
	g_assert_cmphex(v, ==, 0xA4);
	g_assert_cmphex(fake_inb(fx.env, 0xC002), ==, 0xA2);
	/* moving the BAR moves the region */
	cfg_write(fx.env, devfn, PCI_BAR0, 0xFEA00000, 4);
	g_assert_false(bus_read(fx.mmio, 0xFEB00004, 4, &v));
	g_assert_true(bus_read(fx.mmio, 0xFEA00004, 4, &v));
	/* turning memory decoding off unmaps it, I/O stays */
	cfg_write(fx.env, devfn, PCI_COMMAND, PCI_COMMAND_IO, 2);
	g_assert_false(bus_read(fx.mmio, 0xFEA00004, 4, &v));
	g_assert_cmphex(fake_inb(fx.env, 0xC002), ==, 0xA2);
	fixture_free(&fx);
}

/* Expansion ROM BAR (PCI 3.0 §6.2.5.2): sizing, enable bit, read-only mapping while enabled
 * with memory decoding on. */
static void test_rom_bar(void)
{
	struct pci_fixture fx;
	fixture_init(&fx);
	unsigned devfn = 3 << 3;
	uint8_t image[3000];
	for (unsigned i = 0; i < sizeof(image); i++)
		image[i] = i * 3;
	image[0] = 0x55;
	image[1] = 0xAA;
	g_assert_cmpint(pci_function_set_rom(&fx.fn.pci, image, sizeof(image)), ==, 0);
	g_assert_cmpuint(fx.fn.pci.rom_size, ==, 4096);
	memset(image, 0, sizeof(image)); /* pci keeps its own copy */
	/* sizing: all-ones without the enable bit, as SeaBIOS writes it, then with it */
	cfg_write(fx.env, devfn, PCI_ROM_BAR, 0xFFFFFFFE, 4);
	g_assert_cmphex(cfg_read(fx.env, devfn, PCI_ROM_BAR, 4), ==, 0xFFFFF000);
	cfg_write(fx.env, devfn, PCI_ROM_BAR, 0xFFFFFFFF, 4);
	g_assert_cmphex(cfg_read(fx.env, devfn, PCI_ROM_BAR, 4), ==, 0xFFFFF001);
	uint64_t v;
	g_assert_false(bus_read(fx.mmio, 0xFFFFF000, 1, &v)); /* the sizing pattern maps nothing */
	/* placed and enabled, but memory decoding off */
	cfg_write(fx.env, devfn, PCI_ROM_BAR, 0xFEB40001, 4);
	g_assert_cmphex(cfg_read(fx.env, devfn, PCI_ROM_BAR, 4), ==, 0xFEB40001);
	g_assert_false(bus_read(fx.mmio, 0xFEB40000, 2, &v));
	cfg_write(fx.env, devfn, PCI_COMMAND, PCI_COMMAND_MEMORY, 2);
	g_assert_true(bus_read(fx.mmio, 0xFEB40000, 2, &v));
	g_assert_cmphex(v, ==, 0xAA55);
	g_assert_true(bus_read(fx.mmio, 0xFEB40000 + 2999, 1, &v));
	g_assert_cmphex(v, ==, (uint8_t)(2999 * 3));
	g_assert_true(bus_read(fx.mmio, 0xFEB40000 + 2998, 4, &v)); /* into the padding */
	g_assert_cmphex(v, ==, 0xFFFF0000u | (uint8_t)(2999 * 3) << 8 | (uint8_t)(2998 * 3));
	g_assert_true(bus_read(fx.mmio, 0xFEB40000 + 4088, 8, &v));
	g_assert_cmphex(v, ==, ~0ull);
	g_assert_false(bus_read(fx.mmio, 0xFEB40000 + 4096, 1, &v));
	/* read-only: a write changes nothing */
	bus_write(fx.mmio, 0xFEB40000, 1, 0);
	g_assert_true(bus_read(fx.mmio, 0xFEB40000, 1, &v));
	g_assert_cmphex(v, ==, 0x55);
	/* moving it moves the mapping; clearing the enable bit removes it */
	cfg_write(fx.env, devfn, PCI_ROM_BAR, 0xFEA00001, 4);
	g_assert_false(bus_read(fx.mmio, 0xFEB40000, 1, &v));
	g_assert_true(bus_read(fx.mmio, 0xFEA00001, 1, &v));
	g_assert_cmphex(v, ==, 0xAA);
	cfg_write(fx.env, devfn, PCI_ROM_BAR, 0xFEA00000, 4);
	g_assert_false(bus_read(fx.mmio, 0xFEA00000, 1, &v));
	/* too large for a ROM BAR: refused, the old ROM stays */
	g_assert_cmpint(pci_function_set_rom(&fx.fn.pci, image, (16u << 20) + 1), ==, -1);
	g_assert_cmpuint(fx.fn.pci.rom_size, ==, 4096);
	/* removed: the ROM BAR sizes to nothing again */
	g_assert_cmpint(pci_function_set_rom(&fx.fn.pci, NULL, 0), ==, 0);
	cfg_write(fx.env, devfn, PCI_ROM_BAR, 0xFFFFFFFF, 4);
	g_assert_cmphex(cfg_read(fx.env, devfn, PCI_ROM_BAR, 4), ==, 0);
	/* a large image rounds up to a power of two */
	uint8_t *big = g_malloc0(70000);
	g_assert_cmpint(pci_function_set_rom(&fx.fn.pci, big, 70000), ==, 0);
	g_assert_cmpuint(fx.fn.pci.rom_size, ==, 131072);
	cfg_write(fx.env, devfn, PCI_ROM_BAR, 0xFFFFFFFE, 4);
	g_assert_cmphex(cfg_read(fx.env, devfn, PCI_ROM_BAR, 4), ==, 0xFFFE0000);
	g_free(big);
	pci_function_release(&fx.fn.pci);
	g_assert_null(fx.fn.pci.rom);
	fixture_free(&fx);
}

static struct fake_env *route_env;
static const struct irq_line *route_to_11(void *opaque, unsigned pirq)
{
	static struct irq_line line;
	line = route_env->ctx.irq[0];
	return pirq == 2 ? &line : NULL; /* slot 3, INTA -> PIRQD... only PIRQC is routed */
}

static void test_intx_routing(void)
{
	struct pci_fixture fx;
	fixture_init(&fx);
	fake_env_free(fx.env);
	fx.env = fake_env_new(11, -1);
	route_env = fx.env;
	pci_bus_set_router(fx.bus, route_to_11, NULL);
	/* slot 3 pin A swizzles to PIRQ (3 + 1 - 1) % 4 = 3 (PIRQD), which is not routed */
	pci_function_set_irq(&fx.fn.pci, 1);
	g_assert_cmpint(fx.env->irq_level[11], ==, 0);
	pci_function_set_irq(&fx.fn.pci, 0);
	/* pin D of slot 3 reaches PIRQ (3 + 4 - 1) % 4 = 2 (PIRQC) */
	fx.fn.pci.config[PCI_INTERRUPT_PIN] = 4;
	pci_function_set_irq(&fx.fn.pci, 1);
	g_assert_cmpint(fx.env->irq_level[11], ==, 1);
	/* INTx disable masks the line */
	pci_config_write(fx.bus, 3 << 3, PCI_COMMAND, PCI_COMMAND_INTX_DISABLE, 2);
	g_assert_cmpint(fx.env->irq_level[11], ==, 0);
	pci_config_write(fx.bus, 3 << 3, PCI_COMMAND, 0, 2);
	g_assert_cmpint(fx.env->irq_level[11], ==, 1);
	pci_function_set_irq(&fx.fn.pci, 0);
	g_assert_cmpint(fx.env->irq_level[11], ==, 0);
	fixture_free(&fx);
}

static uint8_t rcr_value;
static void rcr_write(void *opaque, uint8_t v)
{
	rcr_value = v;
}

static uint8_t rcr_read(void *opaque)
{
	return rcr_value;
}

static void test_rcr_decoding(void)
{
	struct pci_fixture fx;
	fixture_init(&fx);
	pci_bus_set_rcr(fx.bus, rcr_write, rcr_read, NULL);
	fake_outl(fx.env, 0xCF8, 0x80000000);
	fake_outb(fx.env, 0xCF9, 0x06);
	g_assert_cmphex(rcr_value, ==, 0x06);
	g_assert_cmphex(fake_inb(fx.env, 0xCF9), ==, 0x06);
	/* the byte write did not disturb CONFIG_ADDRESS */
	g_assert_cmphex(fake_inl(fx.env, 0xCF8), ==, 0x80000000);
	fixture_free(&fx);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/pci/config-address", test_config_address);
	g_test_add_func("/pci/read-only-bits", test_read_only_bits);
	g_test_add_func("/pci/bar-sizing-and-mapping", test_bar_sizing_and_mapping);
	g_test_add_func("/pci/rom-bar", test_rom_bar);
	g_test_add_func("/pci/intx-routing", test_intx_routing);
	g_test_add_func("/pci/rcr-decoding", test_rcr_decoding);
	return g_test_run();
}
