#include "kvm/vcpu.h"

#include <errno.h>
#include <glib.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "log.h"

/* The signal that kicks a vCPU out of KVM_RUN; its handler does nothing. */
#define VCPU_KICK_SIGNAL SIGUSR1

/* MSRs given their power-on values at creation (Intel SDM vol. 3, table "IA-32 architectural
 * MSRs"), where KVM's own reset differs from what a BIOS expects of real hardware. */
static const struct {
	uint32_t index;
	uint64_t value;
} vcpu_power_on_msrs[] = {
	{ 0x000001A0, 0x1 },		    /* IA32_MISC_ENABLE: fast string operations */
	{ 0x00000277, 0x0007040600070406 }, /* IA32_PAT */
	{ 0x00000010, 0 },		    /* IA32_TIME_STAMP_COUNTER */
};

static void vcpu_kick_handler(int sig)
{
	(void)sig;
}

static void vcpu_install_kick_handler(void)
{
	static gsize done;
	if (g_once_init_enter(&done)) {
		struct sigaction sa = { .sa_handler = vcpu_kick_handler };
		sigemptyset(&sa.sa_mask);
		sigaction(VCPU_KICK_SIGNAL, &sa, NULL); /* no SA_RESTART: KVM_RUN returns EINTR */
		g_once_init_leave(&done, 1);
	}
}

static int vcpu_set_msrs(struct vcpu *v, struct kvm_vm *vm)
{
	const size_t n = G_N_ELEMENTS(vcpu_power_on_msrs);
	g_autofree struct kvm_msrs *msrs = g_malloc0(sizeof(*msrs) + n * sizeof(msrs->entries[0]));
	for (size_t i = 0; i < n; i++) {
		if (!kvm_vm_has_msr(vm, vcpu_power_on_msrs[i].index))
			continue;
		msrs->entries[msrs->nmsrs].index = vcpu_power_on_msrs[i].index;
		msrs->entries[msrs->nmsrs].data = vcpu_power_on_msrs[i].value;
		msrs->nmsrs++;
	}
	return ioctl(v->fd, KVM_SET_MSRS, msrs) == (int)msrs->nmsrs ? 0 : -1;
}

int vcpu_create(struct vcpu *v, struct kvm_vm *vm, unsigned id, unsigned ncpus,
		const struct vcpu_env *env, char **error)
{
	memset(v, 0, sizeof(*v));
	v->id = id;
	v->env = env;
	v->vm = vm;
	v->want = v->state = VCPU_PAUSED;
	pthread_mutex_init(&v->lock, NULL);
	pthread_cond_init(&v->cond, NULL);
	v->fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, id);
	if (v->fd < 0) {
		*error = g_strdup_printf("KVM_CREATE_VCPU %u: %s", id, strerror(errno));
		return -1;
	}
	v->run_size = vm->run_size;
	v->run = mmap(NULL, vm->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, v->fd, 0);
	if (v->run == MAP_FAILED) {
		v->run = NULL;
		*error = g_strdup_printf("vCPU %u: mmap of kvm_run: %s", id, strerror(errno));
		return -1;
	}
	kvm_vm_map_ring(vm, v->fd);
	struct kvm_cpuid2 *cpuid = cpuid_for_vcpu(vm->cpuid, id, ncpus);
	int ret = ioctl(v->fd, KVM_SET_CPUID2, cpuid);
	g_free(cpuid);
	if (ret < 0) {
		*error = g_strdup_printf("vCPU %u: KVM_SET_CPUID2: %s", id, strerror(errno));
		return -1;
	}
	if (vcpu_set_msrs(v, vm) < 0)
		log_warn("vCPU %u: could not set all power-on MSRs", id);
	return 0;
}

/* Waits, with v->lock held, while the machine wants us paused. Returns false to stop. */
static bool vcpu_wait_until_runnable(struct vcpu *v)
{
	while (v->want == VCPU_PAUSED) {
		if (v->state != VCPU_PAUSED) {
			v->state = VCPU_PAUSED;
			pthread_cond_broadcast(&v->cond);
		}
		pthread_cond_wait(&v->cond, &v->lock);
	}
	if (v->want == VCPU_STOPPED) {
		v->state = VCPU_STOPPED;
		pthread_cond_broadcast(&v->cond);
		return false;
	}
	if (v->state != VCPU_RUNNING) {
		v->state = VCPU_RUNNING;
		pthread_cond_broadcast(&v->cond);
	}
	return true;
}

static void vcpu_request(struct vcpu *v, enum vcpu_action action, char *why)
{
	v->env->request(v->env->opaque, v, action, why);
	g_free(why);
	/* this vCPU must not run on past a reset or failure while the machine gets to it */
	pthread_mutex_lock(&v->lock);
	if (v->want == VCPU_RUNNING)
		v->want = VCPU_PAUSED;
	pthread_mutex_unlock(&v->lock);
}

static __thread bool vcpu_thread_here;

bool vcpu_on_this_thread(void)
{
	return vcpu_thread_here;
}

static void *vcpu_thread(void *arg)
{
	struct vcpu *v = arg;
	vcpu_thread_here = true;
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, VCPU_KICK_SIGNAL);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	for (;;) {
		pthread_mutex_lock(&v->lock);
		bool run = vcpu_wait_until_runnable(v);
		pthread_mutex_unlock(&v->lock);
		if (!run)
			break;
		int ret = ioctl(v->fd, KVM_RUN, 0);
		/* port writes KVM queued instead of exiting happened before whatever stopped the
		 * vCPU now: replay them first (and before it parks, so a paused machine has them) */
		kvm_vm_drain_posted(v->vm, v->env->pio, v->env->mmio);
		if (ret < 0) {
			if (errno == EINTR || errno == EAGAIN) {
				__atomic_store_n(&v->run->immediate_exit, 0, __ATOMIC_SEQ_CST);
				continue;
			}
			vcpu_request(v, VCPU_FAILED,
				     g_strdup_printf("vCPU %u: KVM_RUN: %s", v->id, strerror(errno)));
			continue;
		}
		char *why = NULL;
		enum vcpu_action action = vcpu_handle_exit(v->env, v->run, v->fd, &why);
		if (action != VCPU_CONTINUE)
			vcpu_request(v, action, why);
	}
	return NULL;
}

int vcpu_start(struct vcpu *v, enum vcpu_state initial, char **error)
{
	vcpu_install_kick_handler();
	v->want = initial;
	sigset_t set, old;
	sigemptyset(&set);
	sigaddset(&set, VCPU_KICK_SIGNAL);
	/* the thread inherits a blocked kick signal and unblocks it itself */
	pthread_sigmask(SIG_BLOCK, &set, &old);
	int err = pthread_create(&v->thread, NULL, vcpu_thread, v);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err) {
		*error = g_strdup_printf("vCPU %u: pthread_create: %s", v->id, strerror(err));
		return -1;
	}
	v->thread_started = true;
	char name[16];
	snprintf(name, sizeof(name), "vcpu%u", v->id);
	pthread_setname_np(v->thread, name);
	return 0;
}

/* With v->lock held. */
static void vcpu_kick_locked(struct vcpu *v)
{
	__atomic_store_n(&v->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
	if (v->thread_started)
		pthread_kill(v->thread, VCPU_KICK_SIGNAL);
	pthread_cond_broadcast(&v->cond);
}

void vcpu_kick_pause(struct vcpu *v)
{
	pthread_mutex_lock(&v->lock);
	if (v->want == VCPU_RUNNING) {
		v->want = VCPU_PAUSED;
		vcpu_kick_locked(v);
	}
	pthread_mutex_unlock(&v->lock);
}

void vcpu_set_state(struct vcpu *v, enum vcpu_state state)
{
	pthread_mutex_lock(&v->lock);
	v->want = state;
	if (state == VCPU_RUNNING)
		pthread_cond_broadcast(&v->cond); /* a paused vCPU waits on the condition only */
	else
		vcpu_kick_locked(v);
	while (v->thread_started && v->state != state)
		pthread_cond_wait(&v->cond, &v->lock);
	pthread_mutex_unlock(&v->lock);
}

void vcpu_destroy(struct vcpu *v)
{
	if (v->thread_started) {
		vcpu_set_state(v, VCPU_STOPPED);
		pthread_join(v->thread, NULL);
		v->thread_started = false;
	}
	if (v->run)
		munmap(v->run, v->run_size);
	if (v->fd >= 0)
		close(v->fd);
	v->run = NULL;
	v->fd = -1;
	pthread_cond_destroy(&v->cond);
	pthread_mutex_destroy(&v->lock);
}

/* ---- exits ---- */

static enum vcpu_action exit_io(const struct vcpu_env *env, struct kvm_run *run, int fd,
				char **why)
{
	uint8_t *data = (uint8_t *)run + run->io.data_offset;
	unsigned size = run->io.size;
	for (uint32_t i = 0; i < run->io.count; i++, data += size) {
		uint64_t v = 0;
		if (run->io.direction == KVM_EXIT_IO_OUT) {
			memcpy(&v, data, size);
			if (!bus_write(env->pio, run->io.port, size, v))
				log_debug("unclaimed port write %#x <- %#" PRIx64, run->io.port, v);
		} else {
			if (!bus_read(env->pio, run->io.port, size, &v))
				log_debug("unclaimed port read %#x", run->io.port);
			memcpy(data, &v, size);
		}
	}
	return VCPU_CONTINUE;
}

static enum vcpu_action exit_mmio(const struct vcpu_env *env, struct kvm_run *run, int fd,
				  char **why)
{
	unsigned len = run->mmio.len;
	if (len == 0 || len > 8)
		return VCPU_CONTINUE;
	uint64_t v = 0;
	if (run->mmio.is_write) {
		memcpy(&v, run->mmio.data, len);
		bus_write(env->mmio, run->mmio.phys_addr, len, v);
	} else {
		bus_read(env->mmio, run->mmio.phys_addr, len, &v);
		memcpy(run->mmio.data, &v, len);
	}
	return VCPU_CONTINUE;
}

static enum vcpu_action exit_continue(const struct vcpu_env *env, struct kvm_run *run, int fd,
				      char **why)
{
	return VCPU_CONTINUE;
}

static enum vcpu_action exit_shutdown(const struct vcpu_env *env, struct kvm_run *run, int fd,
				      char **why)
{
	/* a triple fault: on a PC the chipset turns the shutdown cycle into a reset */
	*why = g_strdup("triple fault");
	return VCPU_RESET;
}

static enum vcpu_action exit_system_event(const struct vcpu_env *env, struct kvm_run *run,
					  int fd, char **why)
{
	switch (run->system_event.type) {
	case KVM_SYSTEM_EVENT_RESET:
		*why = g_strdup("KVM system reset event");
		return VCPU_RESET;
	case KVM_SYSTEM_EVENT_SHUTDOWN:
		*why = g_strdup("KVM system shutdown event");
		return VCPU_POWEROFF;
	default:
		*why = g_strdup_printf("KVM system event %u", run->system_event.type);
		return VCPU_FAILED;
	}
}

static const char *const internal_suberrors[] = {
	[KVM_INTERNAL_ERROR_EMULATION] = "instruction emulation failed",
	[KVM_INTERNAL_ERROR_SIMUL_EX] = "exception while delivering an exception",
	[KVM_INTERNAL_ERROR_DELIVERY_EV] = "event delivery failed",
	[KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON] = "unexpected exit reason",
};

static enum vcpu_action exit_internal_error(const struct vcpu_env *env, struct kvm_run *run,
					    int fd, char **why)
{
	uint32_t sub = run->internal.suberror;
	const char *what = sub < G_N_ELEMENTS(internal_suberrors) && internal_suberrors[sub]
				   ? internal_suberrors[sub]
				   : "unknown internal error";
	GString *s = g_string_new(NULL);
	g_string_printf(s, "KVM internal error %u (%s); data:", sub, what);
	for (uint32_t i = 0; i < run->internal.ndata && i < G_N_ELEMENTS(run->internal.data); i++)
		g_string_append_printf(s, " %#llx", (unsigned long long)run->internal.data[i]);
	if (sub == KVM_INTERNAL_ERROR_EMULATION &&
	    (run->emulation_failure.flags & KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES)) {
		unsigned n = MIN(run->emulation_failure.insn_size,
				 sizeof(run->emulation_failure.insn_bytes));
		g_string_append(s, "\ninstruction bytes at RIP:");
		for (unsigned i = 0; i < n; i++)
			g_string_append_printf(s, " %02x", run->emulation_failure.insn_bytes[i]);
	}
	char *regs = vcpu_describe_registers(fd);
	g_string_append_printf(s, "\n%s", regs);
	g_free(regs);
	*why = g_string_free(s, FALSE);
	return VCPU_FAILED;
}

static enum vcpu_action exit_fail_entry(const struct vcpu_env *env, struct kvm_run *run, int fd,
					char **why)
{
	char *regs = vcpu_describe_registers(fd);
	*why = g_strdup_printf("VM entry failed (hardware reason %#llx)\n%s",
			       (unsigned long long)run->fail_entry.hardware_entry_failure_reason,
			       regs);
	g_free(regs);
	return VCPU_FAILED;
}

typedef enum vcpu_action (*vcpu_exit_fn)(const struct vcpu_env *env, struct kvm_run *run, int fd,
					 char **why);

/* KVM exit reasons pcvm handles; anything else stops the VM with a report. */
static const vcpu_exit_fn vcpu_exit_handlers[] = {
	[KVM_EXIT_IO] = exit_io,
	[KVM_EXIT_MMIO] = exit_mmio,
	[KVM_EXIT_HLT] = exit_continue, /* only without the in-kernel LAPIC; nothing to do */
	[KVM_EXIT_INTR] = exit_continue,
	[KVM_EXIT_IRQ_WINDOW_OPEN] = exit_continue,
	[KVM_EXIT_SHUTDOWN] = exit_shutdown,
	[KVM_EXIT_SYSTEM_EVENT] = exit_system_event,
	[KVM_EXIT_INTERNAL_ERROR] = exit_internal_error,
	[KVM_EXIT_FAIL_ENTRY] = exit_fail_entry,
};

enum vcpu_action vcpu_handle_exit(const struct vcpu_env *env, struct kvm_run *run, int fd,
				  char **why)
{
	uint32_t reason = run->exit_reason;
	if (reason < G_N_ELEMENTS(vcpu_exit_handlers) && vcpu_exit_handlers[reason])
		return vcpu_exit_handlers[reason](env, run, fd, why);
	char *regs = vcpu_describe_registers(fd);
	*why = g_strdup_printf("unhandled KVM exit reason %u\n%s", reason, regs);
	g_free(regs);
	return VCPU_FAILED;
}

static void describe_segment(GString *s, const char *name, const struct kvm_segment *seg)
{
	g_string_append_printf(s, " %s=%04x(base %08llx limit %08x)", name, seg->selector,
			       (unsigned long long)seg->base, seg->limit);
}

char *vcpu_describe_registers(int fd)
{
	struct kvm_regs r;
	struct kvm_sregs sr;
	if (fd < 0 || ioctl(fd, KVM_GET_REGS, &r) < 0 || ioctl(fd, KVM_GET_SREGS, &sr) < 0)
		return g_strdup("(registers unavailable)");
	GString *s = g_string_new(NULL);
	g_string_append_printf(s,
			       "RAX=%016llx RBX=%016llx RCX=%016llx RDX=%016llx\n"
			       "RSI=%016llx RDI=%016llx RBP=%016llx RSP=%016llx\n"
			       "RIP=%016llx RFLAGS=%08llx CR0=%08llx CR3=%08llx CR4=%08llx "
			       "EFER=%llx\n",
			       r.rax, r.rbx, r.rcx, r.rdx, r.rsi, r.rdi, r.rbp, r.rsp, r.rip,
			       r.rflags, sr.cr0, sr.cr3, sr.cr4, sr.efer);
	describe_segment(s, "CS", &sr.cs);
	describe_segment(s, "SS", &sr.ss);
	describe_segment(s, "DS", &sr.ds);
	describe_segment(s, "ES", &sr.es);
	return g_string_free(s, FALSE);
}
