/*
 * ternd's entries in the Windows Event Log (Application log, source
 * "tern"). A service has no console, so an administrator looks there
 * first when the service does not start.
 *
 * `ternd service install` registers the source under
 * HKLM\SYSTEM\CurrentControlSet\Services\EventLog\Application\tern,
 * naming ternd.exe as its message file. ternd.exe's message table
 * (mta/ternd_messages.mc) has one message, ID 1, whose text is the
 * insertion string, so Event Viewer shows the text as written here.
 *
 * Windows only. Privileges: any account may write to the Application
 * log. APIs: RegisterEventSourceW, ReportEventW.
 */
#include <stdlib.h>
#include <uv.h>

#include "../lib/platform_wide.h"
#include "ternd_service.h"

/* The one event ID ternd writes; the text carries the details. */
#define TERND_EVENT_ID 1

void
ternd_event_log_error(const char *text)
{
	wchar_t *wide = platform_utf8_to_wide(text);
	const wchar_t *strings[1];
	HANDLE source;

	if (wide == NULL)
		return;
	source = RegisterEventSourceW(NULL, L"" TERND_SERVICE_NAME);
	if (source != NULL) {
		strings[0] = wide;
		ReportEventW(source, EVENTLOG_ERROR_TYPE, 0, TERND_EVENT_ID,
		    NULL, 1, 0, strings, NULL);
		DeregisterEventSource(source);
	}
	free(wide);
}
