/*
 * Command-line arguments as UTF-8; see platform_args.h.
 *
 * Windows: GetCommandLineW() and CommandLineToArgvW() (shell32), then
 * WideCharToMultiByte(CP_UTF8). Privileges: none.
 */
#include <stdlib.h>

#include "platform_args.h"

#ifndef _WIN32

int
platform_utf8_arguments(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	return 0;
}

#else

#include <windows.h>
#include <shellapi.h>

#include "platform_file.h"
#include "platform_wide.h"

int
platform_utf8_arguments(int *argc, char ***argv)
{
	wchar_t **wide;
	char **utf8;
	int count, i;

	wide = CommandLineToArgvW(GetCommandLineW(), &count);
	if (wide == NULL)
		return -1;
	utf8 = calloc((size_t)count + 1, sizeof(*utf8));
	if (utf8 == NULL) {
		LocalFree(wide);
		return -1;
	}
	for (i = 0; i < count; i++) {
		utf8[i] = platform_wide_to_utf8_alloc(wide[i]);
		if (utf8[i] == NULL) {
			while (i-- > 0)
				free(utf8[i]);
			free(utf8);
			LocalFree(wide);
			return -1;
		}
	}
	LocalFree(wide);
	*argc = count;
	*argv = utf8;
	return 0;
}

#endif
