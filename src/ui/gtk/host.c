/* Host checks: KVM, CPU virtualization, memory and bridges (host.h). */
#include "host.h"

#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Whether the "flags" lines of CPUINFO name vmx (Intel VT-x) or svm (AMD-V). */
static bool cpuinfo_has_virt(const char *cpuinfo_path)
{
	g_autofree char *text = NULL;
	if (!g_file_get_contents(cpuinfo_path, &text, NULL, NULL))
		return false;
	g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
	for (char **l = lines; *l; l++) {
		if (!g_str_has_prefix(*l, "flags"))
			continue;
		g_auto(GStrv) words = g_strsplit_set(*l, " \t", -1);
		if (g_strv_contains((const char *const *)words, "vmx") ||
		    g_strv_contains((const char *const *)words, "svm"))
			return true;
	}
	return false;
}

static enum host_kvm kvm_probe(const char *path, int *err)
{
	int fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd >= 0) {
		close(fd);
		return HOST_KVM_OK;
	}
	*err = errno;
	switch (errno) {
	case ENOENT:
	case ENODEV:
	case ENXIO:
		return HOST_KVM_MISSING;
	case EACCES:
	case EPERM:
		return HOST_KVM_DENIED;
	default:
		return HOST_KVM_UNUSABLE;
	}
}

static const char missing_virt[] =
	"%s does not exist, and the processor reports no hardware virtualization (no vmx or svm "
	"flag in /proc/cpuinfo).\n\n"
	"• Turn on \"Intel Virtualization Technology\" (VT-x) or \"SVM Mode\" (AMD-V) in the "
	"computer's BIOS/UEFI setup, then start Linux again.\n"
	"• If this Linux itself runs in a virtual machine, enable nested virtualization on its "
	"host.\n"
	"• Then load the kvm module: sudo modprobe kvm_intel (or kvm_amd).";
static const char missing_module[] =
	"%s does not exist, although the processor supports hardware virtualization: the kvm "
	"module is not loaded.\n\n"
	"• Load it: sudo modprobe kvm_intel (Intel) or sudo modprobe kvm_amd (AMD).\n"
	"• If that fails with \"Operation not supported\", virtualization is turned off in the "
	"BIOS/UEFI setup (\"Intel Virtualization Technology\" or \"SVM Mode\").";
static const char denied[] = "%s exists, but you are not allowed to use it.\n\n"
			     "• Add yourself to the kvm group: sudo usermod -aG kvm $USER\n"
			     "• Then log out and back in, so that the new group applies.";
static const char no_virt_warning[] =
	"The processor reports no VT-x/AMD-V (no vmx or svm flag in /proc/cpuinfo), yet %s "
	"works: KVM runs guests by emulating their instructions, so they will be very slow. "
	"Turn on virtualization in the BIOS/UEFI setup (or nested virtualization on this "
	"machine's host) for full speed.";

void host_check(const char *kvm_path, const char *cpuinfo_path, struct host_report *r)
{
	memset(r, 0, sizeof(*r));
	int err = 0;
	r->kvm_path = g_strdup(kvm_path);
	r->kvm = kvm_probe(kvm_path, &err);
	r->cpu_virt = cpuinfo_has_virt(cpuinfo_path);
	r->fatal = r->kvm != HOST_KVM_OK;
	switch (r->kvm) {
	case HOST_KVM_OK:
		if (!r->cpu_virt) {
			r->title = g_strdup("Virtual machines will run slowly");
			r->detail = g_strdup_printf(no_virt_warning, kvm_path);
		}
		break;
	case HOST_KVM_MISSING:
		r->title = g_strdup("KVM is not available");
		r->detail = g_strdup_printf(r->cpu_virt ? missing_module : missing_virt, kvm_path);
		break;
	case HOST_KVM_DENIED:
		r->title = g_strdup("No permission to use KVM");
		r->detail = g_strdup_printf(denied, kvm_path);
		break;
	case HOST_KVM_UNUSABLE:
		r->title = g_strdup("KVM cannot be used");
		r->detail = g_strdup_printf("%s: %s", kvm_path, g_strerror(err));
		break;
	}
}

void host_check_default(struct host_report *r)
{
	const char *kvm = g_getenv(HOST_KVM_ENV);
	const char *cpuinfo = g_getenv(HOST_CPUINFO_ENV);
	host_check(kvm && *kvm ? kvm : HOST_KVM_DEFAULT,
		   cpuinfo && *cpuinfo ? cpuinfo : "/proc/cpuinfo", r);
}

void host_report_clear(struct host_report *r)
{
	g_free(r->kvm_path);
	g_free(r->title);
	g_free(r->detail);
	memset(r, 0, sizeof(*r));
}

unsigned host_memory_mib(const char *meminfo_path)
{
	g_autofree char *text = NULL;
	if (!g_file_get_contents(meminfo_path, &text, NULL, NULL))
		return 0;
	const char *line = strstr(text, "MemTotal:");
	if (!line)
		return 0;
	unsigned long long kib = strtoull(line + strlen("MemTotal:"), NULL, 10);
	return (unsigned)MIN(kib / 1024, G_MAXUINT);
}

unsigned host_vm_memory_limit(unsigned host_mib)
{
	if (!host_mib)
		return 4096; /* unknown: a size that fits most desktops */
	return MAX(host_mib / 4 * 3, 256u);
}

static int compare_names(gconstpointer a, gconstpointer b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

char **host_bridges(const char *sysfs_net)
{
	GPtrArray *names = g_ptr_array_new();
	g_autoptr(GDir) dir = g_dir_open(sysfs_net, 0, NULL);
	const char *name;
	while (dir && (name = g_dir_read_name(dir))) {
		g_autofree char *br = g_build_filename(sysfs_net, name, "bridge", NULL);
		if (g_file_test(br, G_FILE_TEST_IS_DIR))
			g_ptr_array_add(names, g_strdup(name));
	}
	g_ptr_array_sort(names, compare_names);
	g_ptr_array_add(names, NULL);
	return (char **)g_ptr_array_free(names, FALSE);
}
