/*
 * Reading a password for `tern user`: from the terminal without echo,
 * or one line from a pipe. The platform-specific part of tern_user.c.
 */
#ifndef TERN_USER_TTY_H
#define TERN_USER_TTY_H

#include <stdbool.h>
#include <stddef.h>

/* True when standard input is a terminal. */
bool tty_stdin_is_terminal(void);

/*
 * Shows prompt on standard error and reads one line from standard input
 * into buf, without its line ending. On a terminal, echo is off while
 * the line is typed. Returns the length, or -1 with the reason in err
 * at the end of input, on a read error or for a line longer than
 * size - 1 octets.
 */
long tty_read_password(const char *prompt, char *buf, size_t size,
    char *err, size_t err_size);

#endif
