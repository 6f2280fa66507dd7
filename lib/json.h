/*
 * JSON output shared by the command-line tools (tern queue, warmup, spf
 * and doctor --json).
 */
#ifndef TERN_JSON_H
#define TERN_JSON_H

#include <stdio.h>

/*
 * Writes text to out as a quoted JSON string. Quotes and backslashes get
 * a backslash, and every byte below 0x20 or above 0x7e is written as
 * \u00XX, so the output is valid ASCII JSON whatever bytes text holds.
 *
 * NOTE: a UTF-8 sequence comes out as one \u00XX per byte, so a reader
 * sees Latin-1 characters in place of the original non-ASCII text.
 */
void json_write_string(FILE *out, const char *text);

#endif
