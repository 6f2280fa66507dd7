/*
 * <netinet/in.h> for libopendkim's Windows (mingw-w64) build.
 *
 * Replaces: the POSIX header, which mingw-w64 does not ship.
 * Why: Winsock declares the same things (struct in_addr, sockaddr_in,
 * AF_INET6, ntohs); Winsock 2 must come before windows.h, so this header
 * includes it first. No privileges.
 */
#ifndef TERN_WINDOWS_NETINET_IN_H
#define TERN_WINDOWS_NETINET_IN_H

#include <winsock2.h>
#include <ws2tcpip.h>

#endif
