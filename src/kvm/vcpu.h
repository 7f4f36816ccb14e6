/*
 * A vCPU: a thread running KVM_RUN and dispatching its exits to the I/O buses. The thread is a
 * small state machine (running, paused, stopped); another thread asks for a state with
 * vcpu_set_state(), which kicks the vCPU out of KVM_RUN with a signal and immediate_exit and
 * waits until it is there. Exit handling is a plain function that tests call with a made-up
 * struct kvm_run.
 */
#pragma once
#include <linux/kvm.h>
#include <pthread.h>
#include <stdbool.h>

#include "devices/bus.h"
#include "kvm/kvm.h"

enum vcpu_state { VCPU_RUNNING, VCPU_PAUSED, VCPU_STOPPED };

/* What an exit asks of the machine. */
enum vcpu_action { VCPU_CONTINUE, VCPU_RESET, VCPU_POWEROFF, VCPU_FAILED };

struct vcpu;

struct vcpu_env {
	struct bus *pio;
	struct bus *mmio;
	/* Called on the vCPU thread for anything but CONTINUE; must not block (the machine acts
	 * on the main thread). WHY is a message for the log, freed by the caller. */
	void (*request)(void *opaque, struct vcpu *v, enum vcpu_action action, const char *why);
	void *opaque;
};

struct vcpu {
	unsigned id;
	int fd;
	struct kvm_run *run;
	int run_size;
	const struct vcpu_env *env;
	struct kvm_vm *vm; /* its posted writes (kvm_vm_drain_posted) */
	pthread_t thread;
	bool thread_started;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	enum vcpu_state want, state;
};

/* Creates vCPU ID of NCPUS with its CPUID and power-on MSRs. */
int vcpu_create(struct vcpu *v, struct kvm_vm *vm, unsigned id, unsigned ncpus,
		const struct vcpu_env *env, char **error);
/* Starts the vCPU's thread, running or (INITIAL VCPU_PAUSED) parked before its first entry. */
int vcpu_start(struct vcpu *v, enum vcpu_state initial, char **error);
/* Asks for STATE and waits until the thread is there. Never call on the vCPU's own thread. */
void vcpu_set_state(struct vcpu *v, enum vcpu_state state);
/* Asks the vCPU to pause without waiting: safe from device handlers holding locks. */
void vcpu_kick_pause(struct vcpu *v);
/* Stops and joins the thread, then closes the vCPU. */
void vcpu_destroy(struct vcpu *v);
/* Whether the calling thread is a vCPU's (which replays posted writes at each of its exits). */
bool vcpu_on_this_thread(void);

/* Handles one exit. *WHY is set (g_free it) for anything but VCPU_CONTINUE. FD may be -1 in
 * tests (no register dump then). */
enum vcpu_action vcpu_handle_exit(const struct vcpu_env *env, struct kvm_run *run, int fd,
				  char **why);
/* The guest's registers in one readable block, for error reports. */
char *vcpu_describe_registers(int fd);

/* src/kvm/cpuid.c: the CPUID table for vCPU ID of NCPUS, from what KVM supports. */
struct kvm_cpuid2 *cpuid_for_vcpu(const struct kvm_cpuid2 *supported, unsigned id,
				  unsigned ncpus);
