/* Between the wizard's pages (wizard.c) and what it runs (wizard_create.c). */
#pragma once
#include <gio/gio.h>

#include "wizard.h"

/* The VM to create. */
struct wizard_spec {
	char *dir;
	char *name;
	char *iso;     /* NULL: install later */
	char *guest;   /* the preset's id, written as [vm] guest= */
	char *net;     /* a --net value; NULL: leave it to pcvm (NAT) */
	char *display; /* the preset's adapter */
	char *nic;     /* the preset's NIC model */
	char *disk_bus; /* the preset's disk controller: "ide" or "scsi" */
	unsigned memory_mib;
	unsigned cpus;
	unsigned disk_gib;
};

void wizard_spec_clear(struct wizard_spec *s);
/* `pcvm create` with S, then the preset's keys in vm.conf. */
void wizard_create_async(const struct wizard_spec *s, GAsyncReadyCallback callback, gpointer data);
gboolean wizard_create_finish(GAsyncResult *res, GError **error);

/* The host's limits and bridges, read on a worker thread. */
struct wizard_host {
	unsigned memory_mib; /* 0: unknown */
	unsigned cpus;
	char **bridges;
};

void wizard_host_async(GCancellable *cancel, GAsyncReadyCallback callback, gpointer data);
struct wizard_host *wizard_host_finish(GAsyncResult *res);
void wizard_host_free(struct wizard_host *h);

/* Runs `pcvm ARGS...` and gives DONE its standard output, or NULL if it failed. */
void wizard_query_pcvm(const char *const *args, void (*done)(const char *out, gpointer data),
		       gpointer data);
/* The network names in the output of `pcvm net list`. */
char **wizard_parse_net_list(const char *out);
