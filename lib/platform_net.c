/*
 * Socket library start-up; see platform_net.h.
 *
 * Windows: WSAStartup(MAKEWORD(2, 2)) once per process under
 * InitOnceExecuteOnce, never paired with WSACleanup, because sockets
 * stay open until the process exits (Winsock 2.2, ws2_32.dll).
 *
 * Privileges: none.
 */
#include "platform_net.h"

#ifndef _WIN32

int
platform_net_init(void)
{
	return 0;
}

#else

static INIT_ONCE net_once = INIT_ONCE_STATIC_INIT;
static int net_error;

static BOOL CALLBACK
start_winsock(PINIT_ONCE once, PVOID parameter, PVOID *context)
{
	WSADATA data;

	(void)once;
	(void)parameter;
	(void)context;
	net_error = WSAStartup(MAKEWORD(2, 2), &data);
	return TRUE;
}

int
platform_net_init(void)
{
	InitOnceExecuteOnce(&net_once, start_winsock, NULL, NULL);
	return net_error;
}

#endif
