/*
 * Unit tests for reading a password from the Windows console without
 * echo, run under Wine by the Windows build. The test makes the console
 * standard input and types the password into its input buffer with
 * WriteConsoleInputW. It then checks that the password was read, that
 * the screen buffer does not show it, and that the console's input mode
 * (echo on) is restored.
 *
 * Only the Windows build compiles this file (Makefile.am, WINDOWS).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <wchar.h>

#include <cmocka.h>
#include <fcntl.h>
#include <io.h>
#include <windows.h>

#include "mta/tern_user_tty.h"

static HANDLE console_in;
static HANDLE console_out;

/* Opens the console's input and screen buffers. Returns false when the
 * process has no usable console. */
static bool
open_console(void)
{
	DWORD mode;

	console_in = CreateFileW(L"CONIN$", GENERIC_READ | GENERIC_WRITE,
	    FILE_SHARE_READ | FILE_SHARE_WRITE, NULL, OPEN_EXISTING, 0, NULL);
	console_out = CreateFileW(L"CONOUT$", GENERIC_READ | GENERIC_WRITE,
	    FILE_SHARE_READ | FILE_SHARE_WRITE, NULL, OPEN_EXISTING, 0, NULL);
	return console_in != INVALID_HANDLE_VALUE &&
	    console_out != INVALID_HANDLE_VALUE &&
	    GetConsoleMode(console_in, &mode);
}

/*
 * Makes the console the process's standard input, for the C runtime's
 * descriptor 0 as well as for GetStdHandle. Uses the console the process
 * has, else creates one. NOTE: Wine 8 gives a usable console only when
 * it runs on a terminal (under script(1) in a test run); AllocConsole
 * without one returns handles that GetConsoleMode rejects, and the test
 * is then skipped.
 */
static int
setup(void **state)
{
	int fd;

	(void)state;
	if (!open_console()) {
		FreeConsole();
		if (!AllocConsole() || !open_console()) {
			console_in = INVALID_HANDLE_VALUE;
			return 0;
		}
	}
	SetStdHandle(STD_INPUT_HANDLE, console_in);
	fd = _open_osfhandle((intptr_t)console_in, _O_RDONLY);
	if (fd < 0 || _dup2(fd, 0) != 0)
		return -1;
	return 0;
}

/* Puts text into the console's input buffer as key presses. */
static void
type_keys(const wchar_t *text)
{
	INPUT_RECORD records[128];
	DWORD count = 0, written = 0;
	size_t i;

	for (i = 0; text[i] != L'\0' && count + 2 <= 128; i++) {
		KEY_EVENT_RECORD key = {0};

		key.wRepeatCount = 1;
		key.uChar.UnicodeChar = text[i];
		key.wVirtualKeyCode = text[i] == L'\r' ? VK_RETURN : 0;
		key.bKeyDown = TRUE;
		records[count].EventType = KEY_EVENT;
		records[count++].Event.KeyEvent = key;
		key.bKeyDown = FALSE;
		records[count].EventType = KEY_EVENT;
		records[count++].Event.KeyEvent = key;
	}
	assert_true(WriteConsoleInputW(console_in, records, count, &written));
	assert_int_equal(written, count);
}

/* True when the console's screen buffer shows text anywhere. */
static bool
screen_shows(const wchar_t *text)
{
	CONSOLE_SCREEN_BUFFER_INFO info;
	static wchar_t screen[200 * 100 + 1];
	COORD origin = {0, 0};
	DWORD cells, got = 0;

	assert_true(GetConsoleScreenBufferInfo(console_out, &info));
	cells = (DWORD)info.dwSize.X * (DWORD)info.dwSize.Y;
	if (cells > 200 * 100)
		cells = 200 * 100;
	assert_true(ReadConsoleOutputCharacterW(console_out, screen, cells,
	    origin, &got));
	screen[got] = L'\0';
	return wcsstr(screen, text) != NULL;
}

static void
password_read_without_echo(void **state)
{
	DWORD before = 0, after = 0, got = 0;
	wchar_t line[64];
	char buf[64], err[256] = "";
	long len;

	(void)state;
	if (console_in == INVALID_HANDLE_VALUE) {
		print_message("no console to type into; run this test on a "
		    "terminal\n");
		skip();
	}
	assert_true(tty_stdin_is_terminal());
	assert_true(GetConsoleMode(console_in, &before));
	assert_true((before & ENABLE_ECHO_INPUT) != 0);

	/* A line read with the console's own mode shows on the screen, so
	 * the check below can see echo. */
	type_keys(L"echo-check\r");
	assert_true(ReadConsoleW(console_in, line, 64, &got, NULL));
	assert_true(screen_shows(L"echo-check"));

	type_keys(L"s3cret-pw\r");
	len = tty_read_password("Password: ", buf, sizeof(buf), err,
	    sizeof(err));
	if (len < 0)
		fail_msg("tty_read_password failed: %s", err);
	assert_int_equal(len, 9);
	assert_string_equal(buf, "s3cret-pw");
	assert_false(screen_shows(L"s3cret-pw"));

	assert_true(GetConsoleMode(console_in, &after));
	assert_int_equal(after, before);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(password_read_without_echo),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
