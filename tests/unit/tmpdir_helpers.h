/*
 * Temporary folders for the unit tests: create one, write files into
 * it, and remove it with everything in it. Portable between Unix and
 * Windows through libuv's file functions, so the cross-built tests run
 * them under Wine too.
 *
 * The write helpers fail the running cmocka test when a write fails, so
 * call them only from inside a test or a fixture.
 */
#ifndef TERN_TESTS_TMPDIR_HELPERS_H
#define TERN_TESTS_TMPDIR_HELPERS_H

#include <stddef.h>

/*
 * Creates a new folder named prefix followed by "-" and six random
 * characters (uv_fs_mkdtemp), and stores its path in out. prefix may
 * contain a parent folder, such as "/tmp/tern-config", or be relative
 * to the current folder. Returns 0, or -1 when the folder cannot be
 * created or its path does not fit in out_size bytes.
 */
int tmpdir_create(const char *prefix, char *out, size_t out_size);

/*
 * Removes folder and everything below it, as "rm -rf" does. Symbolic
 * links (on Windows also junctions) are removed, never followed.
 * Returns 0, or -1 when an entry could not be removed.
 */
int tmpdir_remove(const char *folder);

/*
 * Writes len bytes of data to folder/name, replacing the file, without
 * newline translation on Windows. Returns the file's path in a static
 * buffer that the next call overwrites.
 */
const char *tmpdir_write_bytes(const char *folder, const char *name,
    const char *data, size_t len);

/* Writes the string text like tmpdir_write_bytes(). */
const char *tmpdir_write_file(const char *folder, const char *name,
    const char *text);

#endif
