/*
 * Unit tests for lib/file_lock.c. POSIX record locks belong to the
 * process, so on Unix a second lock from the same process succeeds and
 * the busy case needs a child process. LockFileEx locks belong to the
 * file handle, so on Windows the busy case is tested with a second
 * handle in the same process. Runs on Unix and, cross-built, on Windows.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <uv.h>

#ifndef _WIN32
#include <sys/wait.h>
#include <unistd.h>
#endif

#include "lib/file_lock.h"
#include "lib/tern_error.h"
#include "tmpdir_helpers.h"

struct fixture {
	char folder[256];
	char path[300];
};

static int
setup(void **state)
{
	static struct fixture f;

	if (tmpdir_create("test_file_lock", f.folder, sizeof(f.folder)) != 0)
		return -1;
	snprintf(f.path, sizeof(f.path), "%s/queue.lock", f.folder);
	*state = &f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	/* A failed cleanup does not fail the test. */
	(void)tmpdir_remove(f->folder);
	return 0;
}

static void
missing_file_has_no_holder(void **state)
{
	struct fixture *f = *state;
	int pid = -1;

	assert_int_equal(file_lock_holder(f->path, &pid), TERN_ENOTFOUND);
	assert_int_equal(pid, 0);
}

static void
released_lock_has_no_holder(void **state)
{
	struct fixture *f = *state;
	struct file_lock lock;
	int pid = -1;

	assert_int_equal(file_lock_acquire(f->path, &lock), TERN_OK);
	assert_true(lock.fd >= 0);
	file_lock_release(&lock);
	assert_int_equal(lock.fd, -1);
	assert_int_equal(file_lock_holder(f->path, &pid), TERN_ENOTFOUND);
}

#ifdef _WIN32

static void
held_lock_busy_windows(void **state)
{
	struct fixture *f = *state;
	struct file_lock first, second;
	int pid = -1;

	assert_int_equal(file_lock_acquire(f->path, &first), TERN_OK);
	assert_int_equal(file_lock_acquire(f->path, &second), TERN_ETEMP);
	assert_int_equal(second.fd, -1);
	/* Windows does not say which process holds a lock. */
	assert_int_equal(file_lock_holder(f->path, &pid), TERN_OK);
	assert_int_equal(pid, 0);
	file_lock_release(&first);
	assert_int_equal(file_lock_acquire(f->path, &second), TERN_OK);
	file_lock_release(&second);
}

#else

static void
held_lock_busy_unix(void **state)
{
	struct fixture *f = *state;
	struct file_lock lock;
	pid_t child;
	int status;

	assert_int_equal(file_lock_acquire(f->path, &lock), TERN_OK);
	child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		struct file_lock other;

		_exit(file_lock_acquire(f->path, &other) == TERN_ETEMP ? 0 : 1);
	}
	assert_int_equal(waitpid(child, &status, 0), child);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	file_lock_release(&lock);
}

#endif

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(missing_file_has_no_holder,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(released_lock_has_no_holder,
		    setup, teardown),
#ifdef _WIN32
		cmocka_unit_test_setup_teardown(held_lock_busy_windows, setup,
		    teardown),
#else
		cmocka_unit_test_setup_teardown(held_lock_busy_unix, setup,
		    teardown),
#endif
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
