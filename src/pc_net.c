/*
 * The machine's network cards: an e1000 for each [netN] group of vm.conf, plugged through a
 * net_port into the backend its mode names (NAT: slirp, bridged: tap, host-only: a tap on the
 * network's bridge). net0 takes PCI slot 3 (pc-platform.md); slot 4 is kept for the SCSI HBA.
 */
#include <stdio.h>
#include <string.h>

#include "bundle.h"
#include "devices/e1000.h"
#include "log.h"
#include "net/hostonly.h"
#include "net/net.h"
#include "net/slirp.h"
#include "net/tap.h"
#include "pc_internal.h"

#define PC_NIC_ROM_MAX (1u << 20)

static const unsigned pc_nic_slot[VM_MAX_NICS] = { 3, 5, 6, 7 };

static const char *nic_mode(const struct vm_nic *n)
{
	return n->mode ? n->mode : "nat";
}

/* tftp= is relative to the bundle, as disks and rom= are (not to pcvm's working directory) */
static struct net_backend *pc_nat_backend(const char *bundle_dir, const struct vm_nic *n,
					  char **error)
{
	g_autofree char *tftp = n->tftp ? bundle_path(bundle_dir, n->tftp) : NULL;
	struct slirp_backend_opts opts = { .tftp_root = tftp, .boot_file = n->bootfile };
	struct net_backend *be = slirp_backend_new(&opts, NULL, error);
	for (int i = 0; be && n->forward && n->forward[i]; i++) {
		struct net_hostfwd fwd;
		char *err = NULL;
		if (net_hostfwd_parse(n->forward[i], &fwd, &err) < 0 ||
		    slirp_backend_hostfwd_add(be, &fwd, &err) < 0) {
			*error = g_strdup_printf("forward=%s: %s", n->forward[i], err);
			g_free(err);
			be->ops->free(be);
			return NULL;
		}
	}
	return be;
}

/* The backend NIC's mode asks for; NULL with *error unset for mode=none (no cable). */
static struct net_backend *pc_nic_backend(const struct pc *pc, const struct vm_nic *n,
					  char **error)
{
	const char *mode = nic_mode(n);
	if (!strcmp(mode, "nat"))
		return pc_nat_backend(pc->bundle_dir, n, error);
	if (!strcmp(mode, "bridged")) /* a prepared tap is already where the administrator put it */
		return tap_backend_new(n->tap, n->tap ? NULL : n->bridge, NULL, error);
	if (!strcmp(mode, "hostonly"))
		return hostonly_backend_new(n->network, NULL, error);
	return NULL;
}

/* rom=none: none; rom=FILE: that file, which must be readable; unset: iPXE if installed. */
static int pc_nic_rom(struct pc *pc, struct e1000 *dev, const struct vm_nic *n, char **error)
{
	if (n->rom && !strcmp(n->rom, "none"))
		return 0;
	const char *path = n->rom ? n->rom : E1000_IPXE_ROM;
	if (!n->rom && !g_file_test(path, G_FILE_TEST_EXISTS))
		return 0; /* no network boot, as QEMU without its ROM */
	g_autofree char *full = bundle_path(pc->bundle_dir, path);
	g_autofree char *data = NULL;
	gsize len;
	g_autoptr(GError) err = NULL;
	if (!g_file_get_contents(full, &data, &len, &err)) {
		*error = g_strdup_printf("rom=%s: %s", path, err->message);
		return -1;
	}
	if (len < 512 || len > PC_NIC_ROM_MAX || (uint8_t)data[0] != 0x55 ||
	    (uint8_t)data[1] != 0xAA) {
		*error = g_strdup_printf("rom=%s: not a PCI option ROM (no 55 AA signature, or "
					 "larger than 1 MiB)", path);
		return -1;
	}
	if (pci_function_set_rom(e1000_pci(dev), data, len) < 0) {
		*error = g_strdup_printf("rom=%s: cannot be used as the card's expansion ROM", path);
		return -1;
	}
	return 0;
}

static int pc_add_nic(struct pc *pc, const struct vm_config *cfg, unsigned i, char **error)
{
	const struct vm_nic *n = &cfg->net[i];
	struct pc_nic *nic = &pc->nics[i];
	char *err = NULL;
	struct net_backend *be = pc_nic_backend(pc, n, &err);
	if (!be && err) {
		*error = g_strdup_printf("network card [%s] (%s): %s", vm_nic_group(i), nic_mode(n),
					 err);
		g_free(err);
		return -1;
	}
	nic->port = net_port_new(NULL);
	if (be)
		net_port_attach_backend(nic->port, be);
	nic->nat = be && !strcmp(nic_mode(n), "nat");
	struct dev_ctx ctx = { .mem = &pc->mem, .clock = pc->clock, .hooks = &pc->hooks,
			       .pci = pc->pci, .net = nic->port };
	vm_nic_mac(cfg, i, ctx.mac);
	nic->dev = pc_add_device(pc, "e1000", &ctx);
	pci_bus_attach(pc->pci, pc_nic_slot[i], 0, e1000_pci(nic->dev));
	e1000_set_link(nic->dev, be != NULL);
	if (pc_nic_rom(pc, nic->dev, n, &err) < 0) {
		*error = g_strdup_printf("network card [%s]: %s", vm_nic_group(i), err);
		g_free(err);
		return -1;
	}
	log_info("[%s] e1000 at 00:%02x.0, %s, mac %02x:%02x:%02x:%02x:%02x:%02x",
		 vm_nic_group(i), pc_nic_slot[i], nic_mode(n), ctx.mac[0], ctx.mac[1], ctx.mac[2],
		 ctx.mac[3], ctx.mac[4], ctx.mac[5]);
	return 0;
}

int pc_add_nics(struct pc *pc, const struct vm_config *cfg, char **error)
{
	for (unsigned i = 0; i < VM_MAX_NICS; i++)
		if (cfg->net[i].present && pc_add_nic(pc, cfg, i, error) < 0)
			return -1;
	return 0;
}

/* After the devices are gone: the ports and their backends (a host-only network's last user
 * takes its bridge down here). */
void pc_free_nics(struct pc *pc)
{
	for (unsigned i = 0; i < VM_MAX_NICS; i++) {
		net_port_free(pc->nics[i].port);
		pc->nics[i] = (struct pc_nic){ 0 };
	}
}

static struct net_backend *pc_nat(struct pc *pc, unsigned index, char **error)
{
	if (index >= VM_MAX_NICS || !pc->nics[index].port) {
		*error = g_strdup_printf("the VM has no network card net%u", index);
		return NULL;
	}
	if (!pc->nics[index].nat) {
		*error = g_strdup_printf("net%u is not on NAT: port forwarding needs mode=nat", index);
		return NULL;
	}
	return net_port_backend(pc->nics[index].port);
}

int pc_portfwd(struct pc *pc, unsigned index, bool add, const char *rule, char **error)
{
	struct net_backend *be = pc_nat(pc, index, error);
	struct net_hostfwd fwd;
	if (!be || net_hostfwd_parse(rule, &fwd, error) < 0)
		return -1;
	return add ? slirp_backend_hostfwd_add(be, &fwd, error)
		   : slirp_backend_hostfwd_remove(be, &fwd, error);
}

GPtrArray *pc_portfwd_list(struct pc *pc, unsigned index, char **error)
{
	struct net_backend *be = pc_nat(pc, index, error);
	if (!be)
		return NULL;
	GPtrArray *rules = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GArray) fwds = slirp_backend_hostfwd_list(be);
	for (guint i = 0; fwds && i < fwds->len; i++)
		g_ptr_array_add(rules, net_hostfwd_format(&g_array_index(fwds, struct net_hostfwd, i)));
	return rules;
}
