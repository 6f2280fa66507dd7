/*
 * Default locations of tern's files; see platform_paths.h.
 *
 * Windows: the folder comes from SHGetKnownFolderPath(FOLDERID_ProgramData)
 * and, when the shell API fails (a stripped-down system or Wine without
 * a profile), from the ProgramData environment variable, then
 * C:\ProgramData. The strings are UTF-8, converted from the wide-character
 * API with WideCharToMultiByte, because the rest of tern passes UTF-8
 * paths (libuv converts them back at each call).
 *
 * Privileges: none.
 */
#include <stdio.h>
#include <string.h>

#include "platform_paths.h"

#ifndef _WIN32

bool
platform_path_is_absolute(const char *path)
{
	return path[0] == '/';
}

const char *
platform_path_last_separator(const char *path)
{
	return strrchr(path, '/');
}

bool
platform_path_is_separator(char c)
{
	return c == '/';
}

size_t
platform_path_root_length(const char *path)
{
	(void)path;
	return 1;
}

const char *
platform_default_config_path(void)
{
	return TERN_SYSCONFDIR "/tern.conf";
}

const char *
platform_default_queue_directory(void)
{
	return "/var/spool/tern";
}

const char *
platform_default_log_file(void)
{
	return "";
}

#else

#include <windows.h>
#include <knownfolders.h>
#include <shlobj.h>

bool
platform_path_is_separator(char c)
{
	return c == '\\' || c == '/';
}

bool
platform_path_is_absolute(const char *path)
{
	if (platform_path_is_separator(path[0]))
		return true;
	return ((path[0] >= 'A' && path[0] <= 'Z') ||
	    (path[0] >= 'a' && path[0] <= 'z')) && path[1] == ':' &&
	    platform_path_is_separator(path[2]);
}

const char *
platform_path_last_separator(const char *path)
{
	const char *slash = strrchr(path, '/');
	const char *backslash = strrchr(path, '\\');

	if (slash == NULL || (backslash != NULL && backslash > slash))
		return backslash;
	return slash;
}

size_t
platform_path_root_length(const char *path)
{
	size_t i, separators = 0;

	if (path[0] != '\0' && path[1] == ':')
		return platform_path_is_separator(path[2]) ? 3 : 2;
	if (!platform_path_is_separator(path[0]) ||
	    !platform_path_is_separator(path[1]))
		return 1;
	for (i = 2; path[i] != '\0'; i++) {
		if (platform_path_is_separator(path[i]) && ++separators == 2)
			return i + 1;
	}
	return i;
}

/* MAX_PATH (260) would do for a default location, but a ProgramData
 * redirected to a long path must not be cut, so use the long-path
 * maximum of 32767 UTF-16 units, each up to 3 UTF-8 bytes. */
#define PROGRAM_DATA_MAX (32767 * 3 + 1)

static char config_path[PROGRAM_DATA_MAX + 32];
static char queue_directory[PROGRAM_DATA_MAX + 32];
static char log_file[PROGRAM_DATA_MAX + 32];
static INIT_ONCE paths_once = INIT_ONCE_STATIC_INIT;

/* Stores %ProgramData% in UTF-8 into out; falls back to C:\ProgramData. */
static void
find_program_data(char *out, size_t out_size)
{
	PWSTR known = NULL;
	static WCHAR env[32768];
	DWORD n;

	if (SHGetKnownFolderPath(&FOLDERID_ProgramData, 0, NULL,
	    &known) == S_OK && known != NULL &&
	    WideCharToMultiByte(CP_UTF8, 0, known, -1, out, (int)out_size,
	    NULL, NULL) > 1) {
		CoTaskMemFree(known);
		return;
	}
	CoTaskMemFree(known);
	n = GetEnvironmentVariableW(L"ProgramData", env,
	    (DWORD)(sizeof(env) / sizeof(env[0])));
	if (n > 0 && n < sizeof(env) / sizeof(env[0]) &&
	    WideCharToMultiByte(CP_UTF8, 0, env, -1, out, (int)out_size,
	    NULL, NULL) > 1)
		return;
	snprintf(out, out_size, "%s", "C:\\ProgramData");
}

static BOOL CALLBACK
build_paths(PINIT_ONCE once, PVOID parameter, PVOID *context)
{
	static char base[PROGRAM_DATA_MAX];
	size_t len;

	(void)once;
	(void)parameter;
	(void)context;
	find_program_data(base, sizeof(base));
	len = strlen(base);
	if (len > 0 && (base[len - 1] == '\\' || base[len - 1] == '/'))
		base[len - 1] = '\0';
	snprintf(config_path, sizeof(config_path), "%s\\tern\\tern.conf",
	    base);
	snprintf(queue_directory, sizeof(queue_directory), "%s\\tern\\queue",
	    base);
	snprintf(log_file, sizeof(log_file), "%s\\tern\\log\\tern.log",
	    base);
	return TRUE;
}

const char *
platform_default_config_path(void)
{
	InitOnceExecuteOnce(&paths_once, build_paths, NULL, NULL);
	return config_path;
}

const char *
platform_default_queue_directory(void)
{
	InitOnceExecuteOnce(&paths_once, build_paths, NULL, NULL);
	return queue_directory;
}

const char *
platform_default_log_file(void)
{
	InitOnceExecuteOnce(&paths_once, build_paths, NULL, NULL);
	return log_file;
}

#endif
