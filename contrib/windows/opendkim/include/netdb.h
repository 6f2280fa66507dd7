/*
 * <netdb.h> for libopendkim's Windows (mingw-w64) build.
 *
 * Replaces: the POSIX header, which mingw-w64 does not ship.
 * Why: libopendkim includes it but calls none of its lookup functions;
 * Winsock's ws2tcpip.h declares the same types. No privileges.
 */
#ifndef TERN_WINDOWS_NETDB_H
#define TERN_WINDOWS_NETDB_H

#include <winsock2.h>
#include <ws2tcpip.h>

#endif
