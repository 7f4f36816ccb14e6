/*
 * What the parts of fuzz_state share: a rig that holds one device of a registered class, wired
 * as the machine wires it (fuzz_state_rig.c), and the KVM payload half (fuzz_state_kvm.c).
 */
#pragma once
#include <glib.h>
#include <stdint.h>

#include "devices/bus.h"
#include "devices/device.h"
#include "fakes.h"

#define RIG_STEPS 3

struct rig {
	struct fake_env *env;
	struct bus *mmio;
	struct pci_bus *pci;
	struct net_port *port;
	struct block_dev *disk, *disc;
	const struct device_class *cls;
	void *dev;
	const struct rig_device *rd;
	unsigned renders;
};

/* How one class sits in the machine, and what a guest does with it, in steps. */
struct rig_device {
	const char *name; /* the class */
	int irq0, irq1;   /* GSIs of ctx.irq[0] and [1], -1: none */
	unsigned devfn;   /* PCI functions: where it sits; 0: not on PCI (the host bridge: wire) */
	void (*wire)(struct rig *r);	 /* after create: ports, backends, items */
	void (*firmware)(struct rig *r); /* after reset: what the firmware programs */
	void (*steps[RIG_STEPS])(struct rig *r);
	void (*host)(struct rig *r); /* what the host side hands it */
	void (*extra_sweep)(struct rig *r);
};

/* Builds a rig for CLS (wired, reset, set up by the firmware); NULL if CLS has no state. */
struct rig *rig_new(const struct device_class *cls);
void rig_free(struct rig *r);
/* The guest's use of the device: steps [FROM, TO). */
void rig_use(struct rig *r, unsigned from, unsigned to);
/* Every register read, time passing, the host's input, a render: what a device that loaded
 * a state must survive. */
void rig_sweep(struct rig *r);

/* fuzz_state_kvm.c: the vCPU and in-kernel VM payloads (cpu_state*.c) without KVM. CAPS picks
 * the capabilities the fake host has; the payload's CRC is fixed first (a copy). */
void kvm_payload_check(bool vcpu, uint8_t caps, const uint8_t *payload, size_t len);
/* Writes the seeds: a vCPU and a VM payload as a host with every capability and one without
 * the newer interfaces would save them. */
void kvm_payload_seeds(void (*put)(const char *name, uint8_t mode, uint8_t caps,
				   const GByteArray *payload));
