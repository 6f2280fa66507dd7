/*
 * The named reload event of a ternd; see reload_event.h.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "../lib/platform_wide.h"
#include "../lib/tern_error.h"
#include "reload_event.h"

/* FNV-1a over the UTF-16 code units of a canonical form of the queue
 * folder: the full path (GetFullPathNameW), '/' turned into '\', no
 * trailing separator, lower-cased. So "C:/ProgramData/tern/queue" and
 * "c:\programdata\tern\queue\" name one event, as they name one folder
 * on a case-insensitive NTFS volume. A path that cannot be converted is
 * hashed as given. */
static uint32_t
hash_queue_folder(const char *queue_directory)
{
	uint32_t hash = 2166136261u;
	wchar_t *wide = platform_utf8_to_wide(queue_directory);
	wchar_t *full = NULL;
	DWORD len = 0, i;

	if (wide != NULL) {
		len = GetFullPathNameW(wide, 0, NULL, NULL);
		full = len > 0 ? calloc(len, sizeof(*full)) : NULL;
		if (full != NULL)
			len = GetFullPathNameW(wide, len, full, NULL);
	}
	if (full == NULL || len == 0) {
		const unsigned char *p;

		for (p = (const unsigned char *)queue_directory; *p != '\0';
		    p++)
			hash = (hash ^ *p) * 16777619u;
		free(full);
		free(wide);
		return hash;
	}
	for (i = 0; i < len; i++) {
		if (full[i] == L'/')
			full[i] = L'\\';
	}
	/* "C:\" keeps its separator; "C:\queue\" loses it. */
	while (len > 3 && full[len - 1] == L'\\')
		full[--len] = L'\0';
	CharLowerBuffW(full, len);
	for (i = 0; i < len; i++) {
		hash = (hash ^ (full[i] & 0xff)) * 16777619u;
		hash = (hash ^ (full[i] >> 8)) * 16777619u;
	}
	free(full);
	free(wide);
	return hash;
}

int
reload_event_name(const char *queue_directory, bool global, char *out,
    size_t out_size)
{
	uint32_t hash = hash_queue_folder(queue_directory);
	int n;

	n = snprintf(out, out_size, "%s\\tern-reload-%08x",
	    global ? "Global" : "Local", (unsigned int)hash);
	if (n < 0 || (size_t)n >= out_size)
		return TERN_ETOOBIG;
	return TERN_OK;
}

/* Opens or creates the event called name; NULL with GetLastError(). */
static HANDLE
create_named(const char *name)
{
	wchar_t *wide = platform_utf8_to_wide(name);
	HANDLE event;

	if (wide == NULL) {
		SetLastError(ERROR_NOT_ENOUGH_MEMORY);
		return NULL;
	}
	event = CreateEventW(NULL, FALSE, FALSE, wide);
	free(wide);
	return event;
}

HANDLE
reload_event_create(const char *queue_directory, char *err, size_t err_size)
{
	char name[64], reason[512];
	HANDLE event;
	DWORD code;

	reload_event_name(queue_directory, true, name, sizeof(name));
	event = create_named(name);
	if (event != NULL)
		return event;
	/* Without SeCreateGlobalPrivilege the event can live only in this
	 * logon session, where a `tern reload` of the same user finds it. */
	reload_event_name(queue_directory, false, name, sizeof(name));
	event = create_named(name);
	if (event != NULL)
		return event;
	code = GetLastError();
	snprintf(err, err_size, "cannot create the reload event %s: %s", name,
	    platform_win32_error_text(code, reason, sizeof(reason)));
	return NULL;
}

/* Sets the event called name. Returns 0 or the Win32 error. */
static DWORD
set_named(const char *name)
{
	wchar_t *wide = platform_utf8_to_wide(name);
	HANDLE event;
	DWORD code = ERROR_SUCCESS;

	if (wide == NULL)
		return ERROR_NOT_ENOUGH_MEMORY;
	event = OpenEventW(EVENT_MODIFY_STATE, FALSE, wide);
	free(wide);
	if (event == NULL)
		return GetLastError();
	if (!SetEvent(event))
		code = GetLastError();
	CloseHandle(event);
	return code;
}

int
reload_event_set(const char *queue_directory, char *err, size_t err_size)
{
	char name[64], reason[512];
	DWORD code;

	reload_event_name(queue_directory, true, name, sizeof(name));
	code = set_named(name);
	if (code == ERROR_FILE_NOT_FOUND) {
		reload_event_name(queue_directory, false, name, sizeof(name));
		code = set_named(name);
	}
	if (code == ERROR_SUCCESS)
		return TERN_OK;
	if (code == ERROR_FILE_NOT_FOUND) {
		snprintf(err, err_size, "no ternd waits for reloads of the "
		    "queue %s (event %s not found)", queue_directory, name);
		return TERN_ENOTFOUND;
	}
	snprintf(err, err_size, "cannot set the reload event %s: %s%s", name,
	    platform_win32_error_text(code, reason, sizeof(reason)),
	    code == ERROR_ACCESS_DENIED ? "; run tern as the account of ternd "
	    "or as an administrator" : "");
	return TERN_EIO;
}
