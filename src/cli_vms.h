/* pcvm list and pcvm start: the VMs of the library and starting one in the background. */
#pragma once

/* pcvm list [DIR...] [--json]: the library's VMs (vm_library.h), or the bundles and folders of
 * bundles named, with their state, memory, CPUs and path. Exits 1 (after listing every one) if
 * a bundle could not be read. */
int cli_list(int argc, char **argv);
/* pcvm start DIR [run options]: `pcvm run DIR` detached, its stderr appended to DIR/pcvm.log;
 * returns once the VM answers on its control socket (0), or after it ended (1). */
int cli_start(int argc, char **argv);
