/*
 * Reads a password for `tern user` from standard input: on a terminal
 * with echo turned off (POSIX termios), else one line from a pipe. A
 * signal that ends the program while echo is off turns it back on
 * first, so the operator's terminal is not left silent.
 *
 * Privileges: none beyond the terminal of the user who runs tern.
 *
 * TODO: on Windows, turn off ENABLE_ECHO_INPUT with GetConsoleMode and
 * SetConsoleMode. Until then tty_read_password() reports there that it
 * cannot hide a typed password, and it accepts only a piped one.
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
#endif

long
tty_read_password(const char *prompt, char *buf, size_t size, char *err,
    size_t err_size)
{
	if (!tty_stdin_is_terminal())
		return read_line(buf, size, err, err_size);
#ifndef _WIN32
	return read_without_echo(prompt, buf, size, err, err_size);
#else
	(void)prompt;
	snprintf(err, err_size, "cannot hide a typed password on Windows "
	    "yet; pipe it on standard input");
	return -1;
#endif
}
