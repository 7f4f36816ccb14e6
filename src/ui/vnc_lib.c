/*
 * libvncserver through dlopen(): see vnc_lib.h. The symbols pcvm uses are listed once, in
 * SYMBOLS, each with the slot of VNC_LIB it fills.
 */
#include "ui/vnc_lib.h"

#include <dlfcn.h>
#include <glib.h>
#include <stdlib.h>
#include <string.h>

struct vnc_lib vnc_lib;

struct vnc_lib_symbol {
	const char *name;
	void **slot;
};

/* the name expanded first: rfb.h makes some names macros for the library's configuration
 * (rfbInitServer is rfbInitServerWithPthreadsAndZRLE) */
#define RFB(member) { G_STRINGIFY(rfb##member), (void **)&vnc_lib.member }

static const struct vnc_lib_symbol symbols[] = {
	RFB(GetScreen),
	RFB(InitServer),
	RFB(ShutdownServer),
	RFB(ScreenCleanup),
	RFB(NewFramebuffer),
	RFB(MarkRectAsModified),
	RFB(SetCursor),
	RFB(RegisterProtocolExtension),
	RFB(GetClientIterator),
	RFB(ClientIteratorNext),
	RFB(ReleaseClientIterator),
	RFB(NewClient),
	RFB(CloseClient),
	RFB(ClientConnectionGone),
	RFB(ProcessClientMessage),
	RFB(UpdateClient),
	RFB(ReadExact),
	RFB(WriteExact),
	{ "webSocketsHasDataInBuffer", (void **)&vnc_lib.WebSocketsHasDataInBuffer },
	RFB(CheckPasswordByList),
	RFB(Log),
	RFB(Err),
};

/* Where to look, in order: the soname of the ABI rfb.h describes, then the development
 * package's link (a build from source may install only that). */
static const char *const files[] = { VNC_LIB_SONAME, "libvncserver.so" };

static GMutex load_lock;
static gint loaded;

/* dlopen's first candidate that opens; NULL with *error. */
static void *lib_open(char **error)
{
	const char *env = g_getenv(VNC_LIB_ENV);
	const char *const *names = files;
	size_t n = G_N_ELEMENTS(files);
	if (env && *env) {
		names = &env;
		n = 1;
	}
	char *first_error = NULL;
	void *handle = NULL;
	for (size_t i = 0; i < n && !handle; i++) {
		/* RTLD_LOCAL: its symbols stay out of the global namespace, reached by dlsym */
		handle = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
		if (!handle && !first_error)
			first_error = g_strdup(dlerror());
	}
	if (!handle)
		*error = g_strdup_printf("vnc: cannot load libvncserver (%s): install libvncserver1",
					 first_error);
	g_free(first_error);
	return handle;
}

/* Fills every slot from HANDLE, or none. */
static bool lib_resolve(void *handle, char **error)
{
	for (size_t i = 0; i < G_N_ELEMENTS(symbols); i++) {
		void *sym = dlsym(handle, symbols[i].name);
		if (!sym) {
			*error = g_strdup_printf("vnc: the libvncserver loaded lacks %s",
						 symbols[i].name);
			memset(&vnc_lib, 0, sizeof(vnc_lib));
			return false;
		}
		*symbols[i].slot = sym;
	}
	return true;
}

bool vnc_lib_load(char **error)
{
	if (g_atomic_int_get(&loaded))
		return true;
	g_mutex_lock(&load_lock);
	bool ok = g_atomic_int_get(&loaded);
	if (!ok) {
		/* never closed: libvncserver keeps process-wide state (its log, extensions) */
		void *handle = lib_open(error);
		ok = handle && lib_resolve(handle, error);
		if (handle && !ok)
			dlclose(handle);
		if (ok)
			g_atomic_int_set(&loaded, 1);
	}
	g_mutex_unlock(&load_lock);
	return ok;
}

bool vnc_lib_loaded(void)
{
	return g_atomic_int_get(&loaded);
}
