/*
 * The messages qmgr is delivering now, for the listing's "*" mark and
 * --status active: asked of the running qmgr over its control pipe
 * (tern_control.h). While ternd is stopped, no message is active.
 *
 * The list is a snapshot taken just before the queue is read, so a
 * delivery that starts or ends in between shows in one and not the
 * other.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/tern_error.h"
#include "tern_control.h"
#include "tern_queue_active.h"

static void
add_id(const char *queue_id, void *arg)
{
	struct tern_queue_active *a = arg;
	char (*grown)[QUEUE_ID_SIZE];
	size_t cap;

	if (a->failed)
		return;
	if (a->count == a->cap) {
		cap = a->cap > 0 ? a->cap * 2 : 64;
		grown = realloc(a->ids, cap * sizeof(*a->ids));
		if (grown == NULL) {
			a->failed = true;
			return;
		}
		a->ids = grown;
		a->cap = cap;
	}
	snprintf(a->ids[a->count++], QUEUE_ID_SIZE, "%s", queue_id);
}

static int
compare_ids(const void *a, const void *b)
{
	return strcmp(a, b);
}

int
tern_queue_active_load(const char *queue_directory,
    struct tern_queue_active *a, char *err, size_t err_size)
{
	struct tern_control *c;
	int rc;

	memset(a, 0, sizeof(*a));
	rc = tern_control_connect(queue_directory, &c, err, err_size);
	if (rc == TERN_ENOTFOUND)
		return TERN_OK;
	if (rc == TERN_OK) {
		rc = tern_control_active(c, add_id, a, err, err_size);
		tern_control_close(c);
	}
	if (rc == TERN_OK && a->failed) {
		rc = TERN_ENOMEM;
		snprintf(err, err_size, "out of memory");
	}
	if (rc != TERN_OK) {
		tern_queue_active_free(a);
		return rc;
	}
	/* qsort() must not see the NULL array of an empty list. */
	if (a->count > 1)
		qsort(a->ids, a->count, sizeof(*a->ids), compare_ids);
	return TERN_OK;
}

void
tern_queue_active_free(struct tern_queue_active *a)
{
	free(a->ids);
	memset(a, 0, sizeof(*a));
}
