/*
 * Command-line arguments as UTF-8 on every platform.
 *
 * Unix passes argv through: its bytes are the caller's, normally UTF-8.
 * Windows gives main() an argv in the ANSI code page, which loses every
 * character outside that page, so the arguments are read again with
 * GetCommandLineW() and CommandLineToArgvW() and converted to UTF-8.
 *
 * Privileges: none.
 */
#ifndef TERN_PLATFORM_ARGS_H
#define TERN_PLATFORM_ARGS_H

/*
 * Replaces *argc and *argv with the UTF-8 arguments of the process. Call
 * it first in main(). On Windows the new array and its strings stay
 * allocated until the process exits. Returns 0, or -1 when Windows
 * cannot split the command line or an argument is not valid UTF-16, in
 * which case *argc and *argv are unchanged.
 */
int platform_utf8_arguments(int *argc, char ***argv);

#endif
