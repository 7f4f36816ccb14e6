/* pcvm net create|list|remove: host-only network definitions. */
#include "cli_net.h"

#include <glib.h>
#include <stdio.h>
#include <string.h>

#include "net/hostonly.h"

static const char usage[] = "usage: pcvm net create NAME --subnet CIDR [--bridge NAME] "
			    "[--host-address A] [--dhcp-range A-B] | list | remove NAME";

static int net_fail(char *error)
{
	fprintf(stderr, "pcvm: %s\n", error);
	g_free(error);
	return 1;
}

/* Copies an option's value into a fixed field, refusing what does not fit. */
static int field_set(char *dst, size_t size, const char *value, const char *option)
{
	if (!value)
		return 0;
	if (g_strlcpy(dst, value, size) < size)
		return 0;
	fprintf(stderr, "pcvm: %s '%s': too long\n", option, value);
	return -1;
}

static int net_create(int argc, char **argv)
{
	g_autofree char *subnet = NULL, *bridge = NULL, *host = NULL, *range = NULL;
	const GOptionEntry entries[] = {
		{ "subnet", 0, 0, G_OPTION_ARG_STRING, &subnet, "The network, e.g. 192.168.56.0/24",
		  "CIDR" },
		{ "bridge", 0, 0, G_OPTION_ARG_STRING, &bridge,
		  "The bridge's name (default pcvm-NAME)", "NAME" },
		{ "host-address", 0, 0, G_OPTION_ARG_STRING, &host,
		  "The host's address on it (default: the first)", "A" },
		{ "dhcp-range", 0, 0, G_OPTION_ARG_STRING, &range,
		  "Addresses DHCP hands out (default .100 to the last)", "A-B" },
		{ NULL },
	};
	g_autoptr(GOptionContext) ctx = g_option_context_new("create NAME - define a network");
	g_option_context_add_main_entries(ctx, entries, NULL);
	g_autoptr(GError) err = NULL;
	if (!g_option_context_parse(ctx, &argc, &argv, &err))
		return net_fail(g_strdup_printf("%s (see --help)", err->message));
	if (argc != 3 || !subnet)
		return net_fail(g_strdup(usage));
	struct hostonly_net n = { 0 };
	const char *dash = range ? strchr(range, '-') : NULL;
	g_autofree char *start = dash ? g_strndup(range, dash - range) : NULL;
	if (range && (!dash || !*start || !dash[1]))
		return net_fail(g_strdup_printf("--dhcp-range '%s': expected A-B, e.g. "
						"192.168.56.100-192.168.56.200",
						range));
	if (field_set(n.name, sizeof(n.name), argv[2], "network name") < 0 ||
	    field_set(n.subnet, sizeof(n.subnet), subnet, "--subnet") < 0 ||
	    field_set(n.bridge, sizeof(n.bridge), bridge, "--bridge") < 0 ||
	    field_set(n.host_address, sizeof(n.host_address), host, "--host-address") < 0 ||
	    field_set(n.dhcp_start, sizeof(n.dhcp_start), start, "--dhcp-range") < 0 ||
	    field_set(n.dhcp_end, sizeof(n.dhcp_end), dash ? dash + 1 : NULL, "--dhcp-range") < 0)
		return 1;
	char *error = NULL;
	if (hostonly_net_create(&n, &error) < 0)
		return net_fail(error);
	printf("created network %s: bridge %s, subnet %s, host %s, DHCP %s-%s\n", n.name,
	       n.bridge, n.subnet, n.host_address, n.dhcp_start, n.dhcp_end);
	return 0;
}

static int net_list(void)
{
	char *error = NULL;
	g_autoptr(GPtrArray) list = hostonly_net_list(&error);
	if (!list)
		return net_fail(error);
	if (!list->len) {
		printf("no host-only networks (create one with: pcvm net create NAME --subnet "
		       "CIDR)\n");
		return 0;
	}
	int wn = 4, wb = 6, ws = 6, wh = 12;
	for (guint i = 0; i < list->len; i++) {
		const struct hostonly_net *n = list->pdata[i];
		wn = MAX(wn, (int)strlen(n->name));
		wb = MAX(wb, (int)strlen(n->bridge));
		ws = MAX(ws, (int)strlen(n->subnet));
		wh = MAX(wh, (int)strlen(n->host_address));
	}
	printf("%-*s  %-*s  %-*s  %-*s  %-31s  %s\n", wn, "NAME", wb, "BRIDGE", ws, "SUBNET", wh,
	       "HOST ADDRESS", "DHCP RANGE", "IN USE BY");
	for (guint i = 0; i < list->len; i++) {
		const struct hostonly_net *n = list->pdata[i];
		g_autofree char *range = g_strdup_printf("%s-%s", n->dhcp_start, n->dhcp_end);
		printf("%-*s  %-*s  %-*s  %-*s  %-31s  %u VM%s\n", wn, n->name, wb, n->bridge, ws,
		       n->subnet, wh, n->host_address, range, n->users, n->users == 1 ? "" : "s");
	}
	return 0;
}

int cli_net(int argc, char **argv)
{
	const char *op = argc > 1 ? argv[1] : "";
	if (!strcmp(op, "create"))
		return net_create(argc, argv);
	if (!strcmp(op, "list") && argc == 2)
		return net_list();
	if (!strcmp(op, "remove") && argc == 3) {
		char *error = NULL;
		if (hostonly_net_remove(argv[2], &error) < 0)
			return net_fail(error);
		printf("removed network %s\n", argv[2]);
		return 0;
	}
	if (!strcmp(op, "--help") || !strcmp(op, "-h")) {
		printf("%s\n", usage);
		return 0;
	}
	return net_fail(g_strdup(usage));
}
