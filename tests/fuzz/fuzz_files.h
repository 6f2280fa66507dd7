/*
 * A private folder for the fuzz targets that parse files (the server
 * configuration and the policy file), and the limits that keep their
 * reads inside it. Test code only; it runs with the fuzzer's privileges
 * and writes only inside the folder it creates under TMPDIR or /tmp.
 */
#ifndef TERN_FUZZ_FILES_H
#define TERN_FUZZ_FILES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Names of the files in the folder. INPUT is rewritten for every run;
 * the others are fixed and may be named by @include or by settings. */
#define FUZZ_FILE_INPUT "input.conf"
#define FUZZ_FILE_INCLUDE "include.conf"
#define FUZZ_FILE_POLICY "policy.conf"

/*
 * Creates the folder with the fixed files and removes it at exit.
 * Aborts on failure, since no run could be meaningful without it.
 */
void fuzz_files_init(void);

/* Returns the absolute path of name in the folder (a static buffer). */
const char *fuzz_files_path(const char *name);

/* Replaces the file name in the folder with data. Aborts on failure. */
void fuzz_files_write(const char *name, const uint8_t *data, size_t size);

/* Turns the check of fopen() reads on (around a load) or off (for
 * libFuzzer's own reads of the corpus). */
void fuzz_files_confine(bool on);

/* Prints the loader's result to standard error when FUZZ_VERBOSE is
 * set, for looking at single inputs. */
void fuzz_files_show_error(int rc, const char *err);

/*
 * True when every "@include" in data is a directive at the start of a
 * line naming one of the files above. libconfig 1.5 would open any
 * other include path itself, relative to the current folder and past
 * the fopen() check below, so such inputs are skipped.
 */
bool fuzz_includes_confined(const uint8_t *data, size_t size);

#endif
