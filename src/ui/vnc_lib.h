/*
 * libvncserver, loaded with dlopen() when the first viewer connects rather than linked: the
 * library and the TLS stack it pulls in (gnutls, nettle, gcrypt, p11-kit...) would otherwise be
 * mapped, relocated and initialised in every VM, viewer or not (about 2.7 MiB of resident
 * library pages). pcvm compiles against rfb/rfb.h and reaches the library only through
 * VNC_LIB, whose pointers have the types of the declarations there, so every call is still
 * checked against the header; pcvm does not link it, so a direct call fails to link.
 */
#pragma once
#include <rfb/rfb.h>
#include <stdbool.h>

/* The library, soname first; the environment variable names another file instead. */
#define VNC_LIB_SONAME "libvncserver.so.1"
#define VNC_LIB_ENV "PCVM_VNC_LIBRARY"

struct vnc_lib {
	/* the screen */
	__typeof__(rfbGetScreen) *GetScreen;
	__typeof__(rfbInitServer) *InitServer;
	__typeof__(rfbShutdownServer) *ShutdownServer;
	__typeof__(rfbScreenCleanup) *ScreenCleanup;
	__typeof__(rfbNewFramebuffer) *NewFramebuffer;
	__typeof__(rfbMarkRectAsModified) *MarkRectAsModified;
	__typeof__(rfbSetCursor) *SetCursor;
	__typeof__(rfbRegisterProtocolExtension) *RegisterProtocolExtension;
	/* clients */
	__typeof__(rfbGetClientIterator) *GetClientIterator;
	__typeof__(rfbClientIteratorNext) *ClientIteratorNext;
	__typeof__(rfbReleaseClientIterator) *ReleaseClientIterator;
	__typeof__(rfbNewClient) *NewClient;
	__typeof__(rfbCloseClient) *CloseClient;
	__typeof__(rfbClientConnectionGone) *ClientConnectionGone;
	__typeof__(rfbProcessClientMessage) *ProcessClientMessage;
	__typeof__(rfbUpdateClient) *UpdateClient;
	__typeof__(rfbReadExact) *ReadExact;
	__typeof__(rfbWriteExact) *WriteExact;
	__typeof__(webSocketsHasDataInBuffer) *WebSocketsHasDataInBuffer;
	/* a value for rfbScreenInfo.passwordCheck */
	__typeof__(rfbCheckPasswordByList) *CheckPasswordByList;
	/* the library's log functions, variables: *vnc_lib.Log = ... */
	__typeof__(rfbLog) *Log;
	__typeof__(rfbErr) *Err;
};

/* Filled by vnc_lib_load; all NULL before. */
extern struct vnc_lib vnc_lib;

/*
 * Loads the library and fills VNC_LIB, once per process (later calls return true at once; the
 * library is never unloaded). false with *error (g_free it), a one-line message naming the
 * library, when it cannot be loaded or lacks a symbol: VNC_LIB stays empty and a later call
 * tries again. Any thread.
 */
bool vnc_lib_load(char **error);
/* Whether vnc_lib_load has succeeded. Any thread. */
bool vnc_lib_loaded(void);
