/*
 * Edits of the users file for `tern user` (see user_file.h). Each edit
 * checks the old file as user_file_load() does. It then writes the new
 * one to a temporary file in the same folder, syncs it and renames it
 * over the old one with mode 0600. Comments, blank lines and line
 * endings are copied as they were.
 *
 * Privileges: runs as the user who runs `tern user`, normally root.
 * Concurrent edits are serialised by a lock on PATH.lock; an editor
 * that ignores it (vi) can still lose an edit made at the same time.
 *
 * On Windows the temporary file is created with a private ACL instead
 * of mode 0600 (platform_file_create_private), the rename that replaces
 * the old file is MoveFileExW, and the folder is not synced because
 * NTFS journals the rename itself.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifdef _WIN32
#include <windows.h>
#endif

#include "../lib/file_lock.h"
#include "../lib/log.h"
#include "../lib/platform_file.h"
#include "../lib/platform_paths.h"
#include "../lib/tern_error.h"
#include "user_file.h"
#include "user_file_internal.h"

/* One change to the file. */
struct user_edit {
	enum { EDIT_ADD, EDIT_DELETE, EDIT_SET_HASH } kind;
	const char *name;
	const char *hash;       /* EDIT_ADD, EDIT_SET_HASH */
	const char *senders;    /* EDIT_ADD */
};

/* Writes len octets, noting a failure in *failed. */
static void
write_all(FILE *fp, const char *text, size_t len, bool *failed)
{
	if (len > 0 && fwrite(text, 1, len, fp) != len)
		*failed = true;
}

/*
 * Copies source (rewound) to dest line by line, applying edit at the
 * account's line (target, 0 for none) and appending an added account.
 * Other lines, comments and line endings are copied as they were.
 */
static bool
copy_edited(FILE *source, FILE *dest, const struct user_edit *edit,
    const struct user_entry *target)
{
	char line[USER_FILE_LINE_MAX + 3];
	bool failed = false, ends_in_newline = true;
	unsigned int number = 0;
	size_t ending;
	int got;

	if (source != NULL) {
		rewind(source);
		while ((got = user_file_read_line(source, line, sizeof(line),
		    &ending)) == LINE_READ) {
			number++;
			ends_in_newline = ending > 0;
			if (target != NULL && number == target->line) {
				if (edit->kind == EDIT_DELETE)
					continue;
				fprintf(dest, "%s:%s:%s", target->name,
				    edit->hash, target->senders);
			} else {
				write_all(dest, line, strlen(line), &failed);
			}
			write_all(dest, ending == 2 ? "\r\n" : "\n", ending,
			    &failed);
		}
		/* user_file_parse() read the same file without a long line. */
		if (got != LINE_END || ferror(source))
			return false;
	}
	if (edit->kind == EDIT_ADD) {
		if (!ends_in_newline)
			write_all(dest, "\n", 1, &failed);
		fprintf(dest, "%s:%s:%s\n", edit->name, edit->hash,
		    edit->senders);
	}
	return !failed && !ferror(dest);
}

/* Syncs the folder of path so that a rename in it survives a crash. */
static int
sync_folder(const char *path)
{
	char folder[4096];
	const char *slash = platform_path_last_separator(path);

	if (slash == NULL)
		snprintf(folder, sizeof(folder), ".");
	else if (slash == path)
		snprintf(folder, sizeof(folder), "/");
	else
		snprintf(folder, sizeof(folder), "%.*s", (int)(slash - path),
		    path);
	return platform_fsync_directory(folder);
}

#ifdef _WIN32
/* Creates a private temporary file named PATH.PID-N.tmp into temp.
 * Returns its descriptor, or -1 with errno set. */
static int
create_temp(const char *path, FILE *source, char *temp, size_t temp_size)
{
	unsigned int attempt;
	int fd = -1;

	(void)source;
	for (attempt = 0; attempt < 100; attempt++) {
		if ((size_t)snprintf(temp, temp_size, "%s.%lu-%u.tmp", path,
		    (unsigned long)GetCurrentProcessId(), attempt) >=
		    temp_size) {
			errno = ENAMETOOLONG;
			return -1;
		}
		fd = platform_file_create_private(temp);
		if (fd >= 0 || errno != EEXIST)
			break;
	}
	return fd;
}
#else
/* Creates the temporary file PATH.XXXXXX into temp with mode 0600 and,
 * when root edits, the old file's owner. Returns its descriptor, or -1
 * with errno set. */
static int
create_temp(const char *path, FILE *source, char *temp, size_t temp_size)
{
	struct stat sb;
	int fd, saved;

	if ((size_t)snprintf(temp, temp_size, "%s.XXXXXX", path) >=
	    temp_size) {
		errno = ENAMETOOLONG;
		return -1;
	}
	fd = mkstemp(temp);
	if (fd < 0)
		return -1;
	if (fchmod(fd, 0600) != 0 ||
	    (source != NULL && geteuid() == 0 &&
	    fstat(fileno(source), &sb) == 0 &&
	    fchown(fd, sb.st_uid, sb.st_gid) != 0)) {
		saved = errno;
		close(fd);
		platform_unlink(temp);
		errno = saved;
		return -1;
	}
	return fd;
}
#endif

/*
 * Writes the edited copy of *source (NULL: a new file) to a temporary
 * file beside path, syncs it and renames it over path. The new file is
 * private as create_temp() makes it. On Windows *source is closed and
 * set to NULL before the rename, because Windows cannot replace a file
 * that is open without delete sharing, as C runtime streams are.
 */
static int
replace_file(const char *path, FILE **source_stream,
    const struct user_edit *edit, const struct user_entry *target,
    char *err, size_t err_size)
{
	FILE *source = *source_stream;
	char temp[4096 + 32];
	FILE *dest;
	int fd, saved;

	fd = create_temp(path, source, temp, sizeof(temp));
	if (fd < 0 && errno == ENAMETOOLONG) {
		snprintf(err, err_size, "%s: path is too long", path);
		return TERN_EINVAL;
	}
	if (fd < 0) {
		snprintf(err, err_size, "%s: cannot create a temporary file "
		    "beside it: %s", path, strerror(errno));
		return TERN_EIO;
	}
	/* Binary mode, so Windows keeps the line endings as they were. */
	dest = fdopen(fd, "wb");
	if (dest == NULL)
		goto failed;
	if (!copy_edited(source, dest, edit, target) || fflush(dest) != 0 ||
	    platform_fsync(fileno(dest)) != 0) {
		saved = errno;
		fclose(dest);
		errno = saved;
		fd = -1;
		goto failed;
	}
	if (fclose(dest) != 0) {
		fd = -1;
		goto failed;
	}
	fd = -1;
#ifdef _WIN32
	if (source != NULL) {
		fclose(source);
		*source_stream = NULL;
	}
#endif
	if (platform_rename_replace(temp, path) != 0)
		goto failed;
	if (sync_folder(path) != 0) {
		snprintf(err, err_size, "%s: written, but syncing its folder "
		    "failed: %s", path, strerror(errno));
		return TERN_EIO;
	}
	return TERN_OK;

failed:
	saved = errno;
	if (fd >= 0)
		close(fd);
	platform_unlink(temp);
	snprintf(err, err_size, "%s: cannot write %s: %s", path, temp,
	    strerror(saved));
	return TERN_EIO;
}

/* Takes the lock that serialises edits of path, in PATH.lock. */
static int
lock_for_edit(const char *path, struct file_lock *lock, char *err,
    size_t err_size)
{
	char lock_path[4096 + 8];
	int rc;

	if (snprintf(lock_path, sizeof(lock_path), "%s.lock", path) >=
	    (int)sizeof(lock_path)) {
		snprintf(err, err_size, "%s: path is too long", path);
		return TERN_EINVAL;
	}
	rc = file_lock_acquire(lock_path, lock);
	if (rc == TERN_ETEMP)
		snprintf(err, err_size, "%s: another edit holds %s; try again "
		    "when it has finished", path, lock_path);
	else if (rc != TERN_OK)
		snprintf(err, err_size, "%s: cannot lock %s: %s", path,
		    lock_path, strerror(errno));
	return rc;
}

/* Checks the new fields of an edit before the file is touched. */
static int
check_edit(const char *path, const struct user_edit *edit, char *err,
    size_t err_size)
{
	char reason[400], shown[100];

	if (!user_name_valid(edit->name)) {
		snprintf(err, err_size, "invalid user name \"%s\" (1 to %d "
		    "printable ASCII octets without ':' or spaces, not "
		    "starting with '#')", log_escape(shown, sizeof(shown),
		    edit->name, strlen(edit->name)), USER_NAME_MAX);
		return TERN_EINVAL;
	}
	if (edit->kind != EDIT_DELETE &&
	    !user_hash_valid(edit->hash, reason, sizeof(reason))) {
		snprintf(err, err_size, "%s: %s", path, reason);
		return TERN_EINVAL;
	}
	if (edit->kind == EDIT_ADD &&
	    !user_senders_valid(edit->senders, reason, sizeof(reason))) {
		snprintf(err, err_size, "%s", reason);
		return TERN_EINVAL;
	}
	return TERN_OK;
}

/*
 * Applies edit to the file at path. The old file must pass the same
 * checks as user_file_load() except the mode, which the rewrite sets to
 * 0600, so an edit never writes out a file that ternd would reject.
 */
static int
edit_file(const char *path, const struct user_edit *edit, char *err,
    size_t err_size)
{
	const struct user_entry *target = NULL;
	struct user_db *db = NULL;
	struct file_lock lock;
	FILE *source;
	int rc;

	rc = check_edit(path, edit, err, err_size);
	if (rc != TERN_OK)
		return rc;
	rc = lock_for_edit(path, &lock, err, err_size);
	if (rc != TERN_OK)
		return rc;

	source = platform_fopen(path, "rb");
	if (source == NULL && (errno != ENOENT || edit->kind != EDIT_ADD)) {
		snprintf(err, err_size, "%s: cannot open: %s", path,
		    strerror(errno));
		rc = errno == ENOENT ? TERN_ENOTFOUND : TERN_EIO;
		goto done;
	}
	if (source != NULL) {
		rc = user_file_parse(source, path, &db, err, err_size);
		if (rc != TERN_OK)
			goto done;
		target = user_db_find(db, edit->name);
	}
	if (edit->kind == EDIT_ADD && target != NULL) {
		snprintf(err, err_size, "%s:%u: user \"%s\" exists already",
		    path, target->line, edit->name);
		rc = TERN_EINVAL;
		goto done;
	}
	if (edit->kind != EDIT_ADD && target == NULL) {
		snprintf(err, err_size, "%s: no user \"%s\"", path, edit->name);
		rc = TERN_ENOTFOUND;
		goto done;
	}
	rc = replace_file(path, &source, edit, target, err, err_size);

done:
	if (source != NULL)
		fclose(source);
	user_db_free(db);
	file_lock_release(&lock);
	return rc;
}

int
user_file_add(const char *path, const char *name, const char *hash,
    const char *senders, char *err, size_t err_size)
{
	struct user_edit edit = {EDIT_ADD, name, hash, senders};

	return edit_file(path, &edit, err, err_size);
}

int
user_file_delete(const char *path, const char *name, char *err,
    size_t err_size)
{
	struct user_edit edit = {EDIT_DELETE, name, NULL, NULL};

	return edit_file(path, &edit, err, err_size);
}

int
user_file_set_hash(const char *path, const char *name, const char *hash,
    char *err, size_t err_size)
{
	struct user_edit edit = {EDIT_SET_HASH, name, hash, NULL};

	return edit_file(path, &edit, err, err_size);
}
