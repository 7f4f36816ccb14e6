/* pcvm config and pcvm disk add|remove|grow: the command-line side of a VM's settings. */
#pragma once

/* ARGV[0] is "config": pcvm config DIR get|set|unset ... (vm.conf, checked). */
int cli_config(int argc, char **argv);
/* ARGV[0] is "disk": pcvm disk add|remove|grow DIR ... with the VM off. */
int cli_disk(int argc, char **argv);
