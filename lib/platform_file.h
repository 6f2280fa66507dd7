/*
 * File operations that differ between Unix and Windows: the check that a
 * secret file (private key, password or credential file) is private,
 * fsync of files and folders, and the C runtime file calls on UTF-8
 * paths.
 *
 * Unix: POSIX stat() mode bits and fsync(). Windows: the file's DACL read
 * with GetNamedSecurityInfoW and FlushFileBuffers().
 *
 * Privileges: none beyond reading the file's metadata, which on Windows
 * needs READ_CONTROL on the file.
 */
#ifndef TERN_PLATFORM_FILE_H
#define TERN_PLATFORM_FILE_H

#include <stddef.h>
#include <stdio.h>
#include <sys/stat.h>

/*
 * Rejects a secret file that users other than its owner and the
 * administrators may read or write.
 *
 * Unix: rejects a mode that grants group or others any access
 * (mode & 077). Callers that also require a particular owner check it
 * themselves.
 * Windows: rejects a NULL DACL (everyone has full access) and any
 * allow ACE that grants reading or writing the file's data to Everyone,
 * Users, Authenticated Users, Guests, Anonymous or Interactive.
 *
 * Returns TERN_OK, TERN_EPERM with err naming the file and the group (or
 * the mode) and what to run to fix it, or TERN_EIO when the metadata
 * cannot be read. path is UTF-8.
 */
int platform_file_check_private(const char *path, char *err,
    size_t err_size);

/*
 * Does the same check as platform_file_check_private() on a file that is
 * already open, so the file cannot be swapped between the check and the
 * read. fd is a C runtime descriptor opened for reading. On Windows that
 * access includes READ_CONTROL, the right that reading the DACL needs.
 * path only names the file in err.
 */
int platform_file_check_private_fd(int fd, const char *path, char *err,
    size_t err_size);

/*
 * Creates the file at path, which must not exist, for writing, so that
 * only its creator can use it. Unix gives it mode 0600. Windows gives it
 * a protected DACL that grants full control to LocalSystem, the
 * Administrators and the user running the process, and nothing to
 * anyone else. So the file passes platform_file_check_private() whatever
 * the folder's inherited ACL allows. Returns a C runtime descriptor
 * opened in binary mode, or -1 with errno set (EEXIST when path exists).
 */
int platform_file_create_private(const char *path);

/*
 * Renames from to to, replacing to when it exists: rename() on Unix,
 * MoveFileExW(MOVEFILE_REPLACE_EXISTING | MOVEFILE_WRITE_THROUGH) on
 * Windows, where rename() fails when to exists. Returns 0 or -1 with
 * errno set.
 */
int platform_rename_replace(const char *from, const char *to);

/*
 * Flushes an open file's data and metadata to the disk: fsync() on Unix,
 * FlushFileBuffers() on the file's handle on Windows. fd is a C runtime
 * descriptor as open() returns it. Returns 0 or -1 with errno set.
 */
int platform_fsync(int fd);

/*
 * Makes the creation, rename or removal of entries in the folder at path
 * durable: open() and fsync() of the folder on Unix. On Windows this does
 * nothing and returns 0, because NTFS journals its metadata and a folder
 * cannot be opened with open(). Returns 0 or -1 with errno set.
 */
int platform_fsync_directory(const char *path);

/*
 * The C runtime's open(), fopen(), stat() and unlink() for a UTF-8 path.
 * Unix passes the path through. Windows converts it to UTF-16 and calls
 * _wopen(), _wfopen(), _wstat64() and _wunlink(), because the narrow
 * calls there read the path in the ANSI code page and so fail on any
 * character outside it. They return what the C runtime call returns,
 * with errno set on failure (EINVAL when path is not valid UTF-8).
 * platform_stat() on Windows fills st_mode, st_size, the three times,
 * st_nlink, st_dev and st_rdev, and fails with EOVERFLOW when the size
 * does not fit in st_size.
 */
int platform_open(const char *path, int flags, int mode);
FILE *platform_fopen(const char *path, const char *mode);
int platform_stat(const char *path, struct stat *sb);
int platform_unlink(const char *path);

#endif
