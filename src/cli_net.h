/* `pcvm net`: define, list and remove host-only networks (src/net/hostonly.h). */
#pragma once

/* ARGV[0] is "net": pcvm net create NAME --subnet CIDR [--bridge NAME] [--host-address A]
 * [--dhcp-range A-B] | list | remove NAME. Errors go to stderr; returns the exit code. */
int cli_net(int argc, char **argv);
