/*
 * Unit tests for queue/queue_dkim.c: a message has no signature until
 * one is stored, the first stored one stays, "" means "not signed", a
 * read-only handle (deliver's) reads it, and storing for a message that
 * is gone does nothing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lib/tern_error.h"
#include "queue/queue.h"
#include "tests/unit/dkim_test_keys.h"

struct fixture {
	char dir[256];
	struct queue *q;
	int64_t message_id;
};

static int
take_message_id(const struct queue_due *due, void *arg)
{
	*(int64_t *)arg = due->message_id;
	return 0;
}

static int
setup(void **state)
{
	static const char *const rcpts[] = {"user@example.org"};
	struct queue_new_message m;
	struct fixture *f = calloc(1, sizeof(*f));
	char err[512];

	if (f == NULL || dkim_test_dir(f->dir, sizeof(f->dir)) != 0 ||
	    queue_open(f->dir, QUEUE_READ_WRITE, &f->q, err,
	    sizeof(err)) != TERN_OK)
		return -1;
	memset(&m, 0, sizeof(m));
	queue_id_generate(m.queue_id);
	m.sender = "sender@example.test";
	m.recipients = rcpts;
	m.recipient_count = 1;
	m.content = (const unsigned char *)"From: a@example.test\r\n\r\nx\r\n";
	m.content_len = strlen((const char *)m.content);
	m.arrival = 1000;
	m.client = "";
	if (queue_insert_batch(f->q, &m, 1, err, sizeof(err)) != TERN_OK ||
	    queue_fetch_due(f->q, 2000, 10, NULL, 0, NULL, 0, take_message_id,
	    &f->message_id) != TERN_OK || f->message_id == 0)
		return -1;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	queue_close(f->q);
	dkim_test_remove_dir(f->dir);
	free(f);
	return 0;
}

static void
test_first_signature_stays(void **state)
{
	struct fixture *f = *state;
	struct queue *ro;
	char err[512], *signature = NULL;

	assert_int_equal(queue_load_dkim_signature(f->q, f->message_id,
	    &signature), TERN_OK);
	assert_null(signature);

	assert_int_equal(queue_store_dkim_signature(f->q, f->message_id,
	    "DKIM-Signature: v=1; first\r\n"), TERN_OK);
	assert_int_equal(queue_store_dkim_signature(f->q, f->message_id,
	    "DKIM-Signature: v=1; second\r\n"), TERN_OK);

	assert_int_equal(queue_open(f->dir, QUEUE_READ_ONLY, &ro, err,
	    sizeof(err)), TERN_OK);
	assert_int_equal(queue_load_dkim_signature(ro, f->message_id,
	    &signature), TERN_OK);
	assert_non_null(signature);
	assert_string_equal(signature, "DKIM-Signature: v=1; first\r\n");
	free(signature);
	queue_close(ro);
}

static void
test_not_signed_is_empty(void **state)
{
	struct fixture *f = *state;
	char *signature = NULL;

	assert_int_equal(queue_store_dkim_signature(f->q, f->message_id, ""),
	    TERN_OK);
	assert_int_equal(queue_load_dkim_signature(f->q, f->message_id,
	    &signature), TERN_OK);
	assert_non_null(signature);
	assert_string_equal(signature, "");
	free(signature);
}

static void
test_message_gone(void **state)
{
	struct fixture *f = *state;
	char *signature = NULL;

	assert_int_equal(queue_store_dkim_signature(f->q, f->message_id + 99,
	    "DKIM-Signature: x\r\n"), TERN_OK);
	assert_int_equal(queue_load_dkim_signature(f->q, f->message_id + 99,
	    &signature), TERN_OK);
	assert_null(signature);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_first_signature_stays,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_not_signed_is_empty, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_message_gone, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
