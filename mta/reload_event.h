/*
 * The named event through which `tern reload` requests a configuration
 * reload from a ternd that runs in a console, because Windows has no
 * SIGHUP. ternd
 * under the service manager waits on it too, but `tern reload` uses the
 * service's SERVICE_CONTROL_PARAMCHANGE there.
 *
 * The name is derived from a canonical form of the queue folder's path
 * (full, lower-case, backslashes), so each tern instance has its own
 * event however its path is spelled: "Global\tern-reload-HASH", or
 * "Local\tern-reload-HASH" when ternd may not create global objects
 * (SeCreateGlobalPrivilege, which administrators and services hold).
 *
 * Windows only. Privileges: the event gets the default security of the
 * creator's token, so only that account, administrators and SYSTEM may
 * set it. APIs: CreateEventW, OpenEventW, SetEvent.
 */
#ifndef TERN_RELOAD_EVENT_H
#define TERN_RELOAD_EVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <windows.h>

/* Writes the event's name for queue_directory into out, with the
 * "Global\" prefix when global is true and "Local\" otherwise. Returns
 * 0, or TERN_ETOOBIG when out is too small. */
int reload_event_name(const char *queue_directory, bool global, char *out,
    size_t out_size);

/* Creates the auto-reset event for ternd. Returns its handle, or NULL
 * with the reason in err. */
HANDLE reload_event_create(const char *queue_directory, char *err,
    size_t err_size);

/* Sets the event of the ternd that runs on queue_directory. Returns 0,
 * TERN_ENOTFOUND when no such event exists, or TERN_EIO (access denied
 * and others) with the reason in err. */
int reload_event_set(const char *queue_directory, char *err,
    size_t err_size);

#endif
