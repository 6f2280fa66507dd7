/*
 * Reads a password for `tern user` from standard input: on a terminal
 * with echo turned off, else one line from a pipe. A signal that ends
 * the program while echo is off turns it back on first, so the
 * operator's terminal is not left silent.
 *
 * Unix: POSIX termios. Windows: the console's input mode without
 * ENABLE_ECHO_INPUT (GetConsoleMode, SetConsoleMode), restored on every
 * return and by a console control handler when Ctrl-C, Ctrl-Break or
 * closing the console window ends the program.
 *
 * Privileges: none beyond the terminal of the user who runs tern.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#ifndef _WIN32
#include <termios.h>
#include <unistd.h>
#else
#include <io.h>
#include <windows.h>
#define isatty _isatty
#define STDIN_FILENO 0
#endif

#include "tern_user_tty.h"

bool
tty_stdin_is_terminal(void)
{
	return isatty(STDIN_FILENO) != 0;
}

/* Reads one line into buf; the line ending is dropped. */
static long
read_line(char *buf, size_t size, char *err, size_t err_size)
{
	size_t len = 0;
	bool too_long = false;
	ssize_t got;
	char c;

	for (;;) {
		got = read(STDIN_FILENO, &c, 1);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			snprintf(err, err_size, "cannot read the password: %s",
			    strerror(errno));
			return -1;
		}
		if (got == 0 || c == '\n')
			break;
		if (len + 1 < size)
			buf[len++] = c;
		else
			too_long = true;
	}
	buf[len] = '\0';
	if (got == 0 && len == 0) {
		snprintf(err, err_size, "no password on standard input");
		return -1;
	}
	if (too_long) {
		snprintf(err, err_size, "password is longer than %zu octets",
		    size - 1);
		return -1;
	}
	if (len > 0 && buf[len - 1] == '\r')
		buf[--len] = '\0';
	return (long)len;
}

#ifndef _WIN32
static struct termios saved_termios;
static volatile sig_atomic_t echo_is_off;

/* Turns echo back on and ends the program as the signal would. */
static void
restore_and_raise(int signo)
{
	if (echo_is_off)
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_termios);
	signal(signo, SIG_DFL);
	raise(signo);
}

/* Turns echo off, then shows the prompt: TCSAFLUSH drops what was typed
 * before the change, so the prompt must not appear before it. */
static long
read_without_echo(const char *prompt, char *buf, size_t size, char *err,
    size_t err_size)
{
	static const int signals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
	void (*old[sizeof(signals) / sizeof(signals[0])])(int);
	void (*old_stop)(int);
	struct termios quiet;
	size_t i;
	long len;

	if (tcgetattr(STDIN_FILENO, &saved_termios) != 0) {
		snprintf(err, err_size, "cannot read the terminal's settings: "
		    "%s", strerror(errno));
		return -1;
	}
	for (i = 0; i < sizeof(signals) / sizeof(signals[0]); i++)
		old[i] = signal(signals[i], restore_and_raise);
	/* Ctrl-Z is ignored while echo is off, because a job resumed with
	 * fg would otherwise show the rest of the password as it is typed. */
	old_stop = signal(SIGTSTP, SIG_IGN);
	quiet = saved_termios;
	quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHOE | ECHOK);
	quiet.c_lflag |= ECHONL;
	echo_is_off = 1;
	if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet) != 0) {
		echo_is_off = 0;
		snprintf(err, err_size, "cannot turn off the terminal's echo: "
		    "%s", strerror(errno));
		len = -1;
		goto restore;
	}
	fputs(prompt, stderr);
	fflush(stderr);
	len = read_line(buf, size, err, err_size);
	tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_termios);
	echo_is_off = 0;

restore:
	for (i = 0; i < sizeof(signals) / sizeof(signals[0]); i++)
		signal(signals[i], old[i]);
	signal(SIGTSTP, old_stop);
	return len;
}
#else
static HANDLE console_input;
static DWORD saved_console_mode;
static volatile LONG echo_is_off;

/*
 * Turns echo back on when a console event ends the program. Runs on a
 * thread that Windows starts for the event. Returns FALSE, so the next
 * handler (by default ExitProcess) still ends the program.
 */
static BOOL WINAPI
restore_on_console_event(DWORD event)
{
	(void)event;
	if (InterlockedExchange(&echo_is_off, 0) == 1)
		SetConsoleMode(console_input, saved_console_mode);
	return FALSE;
}

static long
read_without_echo(const char *prompt, char *buf, size_t size, char *err,
    size_t err_size)
{
	long len;

	console_input = GetStdHandle(STD_INPUT_HANDLE);
	if (console_input == INVALID_HANDLE_VALUE ||
	    !GetConsoleMode(console_input, &saved_console_mode)) {
		snprintf(err, err_size, "cannot read the console's input mode: "
		    "Windows error %lu", (unsigned long)GetLastError());
		return -1;
	}
	SetConsoleCtrlHandler(restore_on_console_event, TRUE);
	InterlockedExchange(&echo_is_off, 1);
	if (!SetConsoleMode(console_input, saved_console_mode &
	    ~(DWORD)ENABLE_ECHO_INPUT)) {
		InterlockedExchange(&echo_is_off, 0);
		SetConsoleCtrlHandler(restore_on_console_event, FALSE);
		snprintf(err, err_size, "cannot turn off the console's echo: "
		    "Windows error %lu", (unsigned long)GetLastError());
		return -1;
	}
	fputs(prompt, stderr);
	fflush(stderr);
	len = read_line(buf, size, err, err_size);
	/* The Enter key was not echoed either. */
	fputs("\n", stderr);
	if (InterlockedExchange(&echo_is_off, 0) == 1)
		SetConsoleMode(console_input, saved_console_mode);
	SetConsoleCtrlHandler(restore_on_console_event, FALSE);
	return len;
}
#endif

long
tty_read_password(const char *prompt, char *buf, size_t size, char *err,
    size_t err_size)
{
	if (!tty_stdin_is_terminal())
		return read_line(buf, size, err, err_size);
	return read_without_echo(prompt, buf, size, err, err_size);
}
