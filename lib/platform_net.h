/*
 * Socket headers and start-up for Unix and Windows.
 *
 * Files that use sockets, addresses or getaddrinfo include this header
 * instead of <sys/socket.h>, <netinet/in.h>, <arpa/inet.h> and <netdb.h>.
 * On Windows it includes <winsock2.h> and <ws2tcpip.h> (Winsock 2.2),
 * which declare the same BSD socket API with three differences that
 * callers must handle: a socket is a SOCKET rather than an int, it is
 * closed with closesocket(), and errors come from WSAGetLastError()
 * rather than errno.
 *
 * Privileges: none.
 */
#ifndef TERN_PLATFORM_NET_H
#define TERN_PLATFORM_NET_H

#ifdef _WIN32
/* winsock2.h must come before windows.h, which would otherwise pull in
 * the incompatible Winsock 1 header. */
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#include <winsock2.h>
#include <ws2tcpip.h>
#include <windows.h>
#else
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <netdb.h>
#endif

/*
 * Initializes the socket library once per process: WSAStartup(2.2) on
 * Windows, nothing on Unix. libuv calls WSAStartup itself in
 * uv_loop_init(), so only code that opens sockets or runs c-ares before
 * any libuv loop exists must call this first (ares_library_init does not
 * do it). Safe to call more than once and from any thread.
 * Returns 0, or a Winsock error code on failure.
 */
int platform_net_init(void);

#endif
