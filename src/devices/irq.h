/* An interrupt line as a device sees it: the machine decides where it goes (KVM_IRQ_LINE on a
 * GSI, or a test's recorder). Devices drive levels; an edge-triggered ISA line is a rise. */
#pragma once

struct irq_line {
	void (*set)(void *opaque, unsigned gsi, int level);
	void *opaque;
	unsigned gsi;
};

static inline void irq_set_level(const struct irq_line *line, int level)
{
	if (line && line->set)
		line->set(line->opaque, line->gsi, level);
}

static inline void irq_raise(const struct irq_line *line)
{
	irq_set_level(line, 1);
}

static inline void irq_lower(const struct irq_line *line)
{
	irq_set_level(line, 0);
}

/* Hooks for devices that act on the whole machine (reset lines, power-off, test exit). */
struct machine_hooks {
	void (*reset)(void *opaque, const char *why);
	/* Ends the VM process with EXIT_CODE (0 for a guest power-off). */
	void (*exit)(void *opaque, int exit_code, const char *why);
	/* Hands the devices the guest's posted writes (bus_ops.posted) not handed over yet. */
	void (*flush_posted)(void *opaque);
	void *opaque;
};

/*
 * For a device about to change, on its own (a completion off the vCPU), registers the guest
 * may post writes to: an earlier write must land first, not after and undo the change (a
 * write-one-to-clear of an interrupt bit landing after the interrupt). Call without the
 * device's lock: the posted writes take it. On a vCPU thread it does nothing, as the vCPU
 * handed them over when it exited.
 */
static inline void machine_flush_posted(const struct machine_hooks *h)
{
	if (h && h->flush_posted)
		h->flush_posted(h->opaque);
}

static inline void machine_request_reset(const struct machine_hooks *h, const char *why)
{
	if (h && h->reset)
		h->reset(h->opaque, why);
}

static inline void machine_request_exit(const struct machine_hooks *h, int code, const char *why)
{
	if (h && h->exit)
		h->exit(h->opaque, code, why);
}
