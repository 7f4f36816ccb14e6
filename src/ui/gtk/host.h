/*
 * What the host offers: whether KVM can be used (and if not, why and how to fix it), memory,
 * CPUs and network bridges, for the host-check dialog and the wizard's limits. No GTK; the
 * checks touch files, so the app runs them on a worker thread.
 */
#pragma once
#include <stdbool.h>

#define HOST_KVM_DEFAULT "/dev/kvm"
#define HOST_KVM_ENV	 "PCVM_KVM_DEVICE" /* as `pcvm run` reads it: tests point it elsewhere */
#define HOST_CPUINFO_ENV "PCVM_CPUINFO"	   /* tests: a cpuinfo without vmx/svm */

enum host_kvm {
	HOST_KVM_OK,
	HOST_KVM_MISSING,  /* no device node, or no driver behind it */
	HOST_KVM_DENIED,   /* permission denied */
	HOST_KVM_UNUSABLE, /* another error opening it */
};

struct host_report {
	enum host_kvm kvm;
	bool cpu_virt; /* vmx or svm in the CPU flags */
	bool fatal;    /* VMs cannot run: say so before anything else */
	char *kvm_path;
	char *title;  /* NULL when there is nothing to say */
	char *detail; /* what is wrong and how to fix it */
};

/* Checks KVM_PATH (open for read and write, as pcvm run does) and CPUINFO's flags. */
void host_check(const char *kvm_path, const char *cpuinfo_path, struct host_report *r);
/* The same with the paths from the environment (HOST_KVM_ENV, HOST_CPUINFO_ENV) or defaults. */
void host_check_default(struct host_report *r);
void host_report_clear(struct host_report *r);

/* MemTotal of MEMINFO (/proc/meminfo) in MiB; 0 if unknown. */
unsigned host_memory_mib(const char *meminfo_path);
/* The largest memory a VM should get on this host: three quarters of it, at least 256 MiB. */
unsigned host_vm_memory_limit(unsigned host_mib);
/* Network bridges under SYSFS_NET (/sys/class/net): the names that have a bridge/ directory,
 * sorted; g_strfreev it. */
char **host_bridges(const char *sysfs_net);
