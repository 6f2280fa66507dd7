/*
 * <arpa/inet.h> for libopendkim's Windows (mingw-w64) build.
 *
 * Replaces: the POSIX header, which mingw-w64 does not ship.
 * Why: Winsock's ws2tcpip.h declares inet_pton and inet_ntop (Windows
 * Vista and later). No privileges.
 */
#ifndef TERN_WINDOWS_ARPA_INET_H
#define TERN_WINDOWS_ARPA_INET_H

#include <winsock2.h>
#include <ws2tcpip.h>

#endif
