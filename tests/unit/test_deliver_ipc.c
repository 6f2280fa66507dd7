/*
 * deliver's IPC_JOB reader and IPC_JOB_RESULT writer (mta/deliver_ipc.c)
 * against frames built and read field by field as mta/ipc.h lays them
 * out. The SMTP client is the stand-in of tests/unit/fake_smtp_client.c,
 * linked only because the job code refers to it.
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

#include "auth/dkim_sign.h"
#include "lib/tern_error.h"
#include "mta/deliver_ipc.h"

/* The fields of an IPC_JOB frame, so a test can spoil one. */
struct job_frame {
	const char *envid;
	uint64_t ret;
	uint64_t count;            /* as sent, may disagree with rcpts */
	size_t rcpts;              /* recipients actually written */
	const char *addresses[2];
	uint64_t notify[2];
	const char *orcpts[2];
	const char *sender;
	struct job_route route;
	bool trailing_byte;
};

static const struct job_frame good_job = {
	.envid = "QQ314159",
	.ret = DSN_RET_HDRS,
	.count = 2,
	.rcpts = 2,
	.addresses = {"a@example.org", "b@example.org"},
	.notify = {DSN_NOTIFY_SUCCESS | DSN_NOTIFY_FAILURE, 0},
	.orcpts = {"rfc822;a+2B1@example.org", ""},
	.sender = "sender@example.net",
	.route = {
		.smart_host = "relay",
		.source = "127.0.0.7",
		.ehlo_name = "out7.example.net",
		.tls_level = TLS_LEVEL_VERIFY,
		.max_messages = 30,
		.dkim_selector = "s2026",
	},
};

/* A reader over the fields of the frame w built. */
static struct ipc_reader
reader_of(const struct ipc_writer *w)
{
	struct ipc_reader r = {w->frame.data + 6, w->frame.len - 6, 0, 0};

	return r;
}

static void
write_job(struct ipc_writer *w, const struct job_frame *f)
{
	size_t i;

	assert_int_equal(ipc_writer_begin(w, IPC_JOB), 0);
	ipc_put_u64(w, 7);                      /* job id */
	ipc_put_u64(w, 42);                     /* message id */
	ipc_put_str(w, "0123456789ABCDEF");
	ipc_put_str(w, f->sender);
	ipc_put_str(w, "example.org");
	ipc_put_u64(w, 1700000000);             /* arrival */
	ipc_put_u64(w, 1234);                   /* size */
	ipc_put_str(w, f->envid);
	ipc_put_u64(w, f->ret);
	ipc_put_u64(w, f->count);
	for (i = 0; i < f->rcpts; i++) {
		ipc_put_u64(w, 100 + i);
		ipc_put_str(w, f->addresses[i]);
		ipc_put_u64(w, f->notify[i]);
		ipc_put_str(w, f->orcpts[i]);
	}
	if (f->rcpts == f->count)
		assert_int_equal(job_route_write(w, &f->route), 0);
	if (f->trailing_byte)
		assert_int_equal(ipc_put_bytes(w, "", 0), 0);
}

/* Reads a frame built from f; returns the reader's result. */
static int
read_frame(const struct job_frame *f, struct deliver_job **out)
{
	struct ipc_writer w = {0};
	struct ipc_reader r;
	int rc;

	write_job(&w, f);
	r = reader_of(&w);
	rc = deliver_ipc_read_job(&r, 4096, out);
	ipc_writer_free(&w);
	return rc;
}

static void
test_read_job_fields(void **state)
{
	struct deliver_job *job = NULL;

	(void)state;
	assert_int_equal(read_frame(&good_job, &job), 0);
	assert_non_null(job);
	assert_int_equal(job->job_id, 7);
	assert_int_equal(job->message_id, 42);
	assert_string_equal(job->queue_id, "0123456789ABCDEF");
	assert_string_equal(job->sender, "sender@example.net");
	assert_string_equal(job->domain, "example.org");
	assert_int_equal(job->arrival, 1700000000);
	assert_int_equal(job->size, 1234);
	assert_string_equal(job->envid, "QQ314159");
	assert_int_equal(job->ret, DSN_RET_HDRS);
	assert_int_equal(job->rcpt_count, 2);
	assert_int_equal(job->rcpt_ids[0], 100);
	assert_int_equal(job->rcpt_ids[1], 101);
	assert_string_equal(job->addresses[1], "b@example.org");
	assert_int_equal(job->rcpts[0].notify,
	    DSN_NOTIFY_SUCCESS | DSN_NOTIFY_FAILURE);
	assert_int_equal(job->rcpts[1].notify, 0);
	assert_string_equal(job->orcpts[0], "rfc822;a+2B1@example.org");
	assert_string_equal(job->orcpts[1], "");
	assert_string_equal(job->route.smart_host, "relay");
	assert_string_equal(job->route.source, "127.0.0.7");
	assert_string_equal(job->route.ehlo_name, "out7.example.net");
	assert_int_equal(job->route.tls_level, TLS_LEVEL_VERIFY);
	assert_int_equal(job->route.max_messages, 30);
	assert_string_equal(job->route.dkim_selector, "s2026");
	deliver_job_free(job);
}

/* Strings of exactly n characters. */
static char *
repeat(char c, size_t n)
{
	char *s = malloc(n + 1);

	assert_non_null(s);
	memset(s, c, n);
	s[n] = '\0';
	return s;
}

/* ENVID may have DSN_ENVID_MAX characters and ORCPT DSN_ORCPT_MAX
 * (RFC 3461 4.4 and 4.2); one more is a malformed job. */
static void
test_read_job_dsn_bounds(void **state)
{
	char *envid_max = repeat('e', DSN_ENVID_MAX);
	char *envid_over = repeat('e', DSN_ENVID_MAX + 1);
	char *orcpt_max = repeat('o', DSN_ORCPT_MAX);
	char *orcpt_over = repeat('o', DSN_ORCPT_MAX + 1);
	struct deliver_job *job = NULL;
	struct job_frame f;

	(void)state;
	f = good_job;
	f.envid = envid_max;
	f.orcpts[1] = orcpt_max;
	assert_int_equal(read_frame(&f, &job), 0);
	assert_int_equal(strlen(job->envid), DSN_ENVID_MAX);
	assert_int_equal(strlen(job->orcpts[1]), DSN_ORCPT_MAX);
	deliver_job_free(job);

	f = good_job;
	f.envid = envid_over;
	assert_int_equal(read_frame(&f, &job), TERN_EINVAL);
	assert_null(job);

	f = good_job;
	f.orcpts[1] = orcpt_over;
	assert_int_equal(read_frame(&f, &job), TERN_EINVAL);
	assert_null(job);

	free(envid_max);
	free(envid_over);
	free(orcpt_max);
	free(orcpt_over);
}

static void
test_read_job_malformed(void **state)
{
	struct deliver_job *job = NULL;
	char *long_sender = repeat('s', 1024);
	struct job_frame cases[9];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		cases[i] = good_job;
	cases[0].ret = DSN_RET_HDRS + 1;
	cases[1].notify[0] = 1 << 4;            /* no such NOTIFY bit */
	cases[2].count = 0;
	cases[2].rcpts = 0;
	cases[3].count = 3;                     /* more than were sent */
	cases[4].count = 1;                     /* fewer: bytes left over */
	cases[5].trailing_byte = true;
	cases[6].sender = long_sender;
	cases[7].route.tls_level = TLS_LEVEL_VERIFY + 1;
	/* deliver binds to the source: only a numeric address will do. */
	snprintf(cases[8].route.source, sizeof(cases[8].route.source),
	    "out.example.net");
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		job = NULL;
		assert_int_equal(read_frame(&cases[i], &job), TERN_EINVAL);
		assert_null(job);
	}
	free(long_sender);
}

/* A finished job with two recipients and filled-in outcomes. */
static struct deliver_job *
finished_job(size_t rcpt_count)
{
	struct deliver_job *job = deliver_job_new(rcpt_count, 16);
	struct smtp_client_rcpt *rcpt;
	size_t i;

	assert_non_null(job);
	job->job_id = 9;
	job->destination = IPC_DEST_THROTTLED;
	for (i = 0; i < rcpt_count; i++) {
		rcpt = &job->rcpts[i];
		job->rcpt_ids[i] = (int64_t)(200 + i);
		rcpt->outcome = i % 2 == 0 ? QUEUE_DELIVERED : QUEUE_FAILED;
		snprintf(rcpt->dsn, sizeof(rcpt->dsn), "%s", i % 2 == 0 ?
		    "2.0.0" : "5.1.1");
		snprintf(rcpt->reply, sizeof(rcpt->reply), "reply %zu", i);
		snprintf(rcpt->remote_mta, sizeof(rcpt->remote_mta),
		    "mx%zu.example.org", i);
		snprintf(rcpt->diagnostic, sizeof(rcpt->diagnostic),
		    "550 5.1.1 user %zu unknown", i);
		rcpt->dsn_relayed = i % 2 == 0;
	}
	return job;
}

static void
test_write_result_layout(void **state)
{
	struct deliver_job *job = finished_job(2);
	struct ipc_writer w = {0};
	struct ipc_reader r;
	char text[SMTP_CLIENT_TEXT_MAX];
	size_t i;

	(void)state;
	job->dkim_signature = strdup("DKIM-Signature: v=1; a=rsa-sha256\r\n");
	snprintf(job->used_source, sizeof(job->used_source), "127.0.0.9");
	snprintf(job->session_reply, sizeof(job->session_reply),
	    "421 4.7.0 Too many connections");
	assert_int_equal(deliver_ipc_write_result(&w, job), 0);
	assert_int_equal(w.frame.data[4] * 256 + w.frame.data[5],
	    IPC_JOB_RESULT);
	r = reader_of(&w);
	assert_int_equal(ipc_get_u64(&r), 9);
	assert_int_equal(ipc_get_u64(&r), IPC_DEST_THROTTLED);
	assert_int_equal(ipc_get_u64(&r), 2);
	for (i = 0; i < 2; i++) {
		assert_int_equal(ipc_get_u64(&r), 200 + i);
		assert_int_equal(ipc_get_u64(&r), i == 0 ? QUEUE_DELIVERED :
		    QUEUE_FAILED);
		assert_string_equal(ipc_get_str(&r, text, sizeof(text)),
		    i == 0 ? "2.0.0" : "5.1.1");
		assert_string_equal(ipc_get_str(&r, text, sizeof(text)),
		    i == 0 ? "reply 0" : "reply 1");
		assert_string_equal(ipc_get_str(&r, text, sizeof(text)),
		    i == 0 ? "mx0.example.org" : "mx1.example.org");
		assert_string_equal(ipc_get_str(&r, text, sizeof(text)),
		    i == 0 ? "550 5.1.1 user 0 unknown" :
		    "550 5.1.1 user 1 unknown");
		assert_int_equal(ipc_get_u64(&r), i == 0 ?
		    IPC_RCPT_DSN_RELAYED : 0);
	}
	assert_int_equal(ipc_get_u64(&r), 1);
	assert_string_equal(ipc_get_str(&r, text, sizeof(text)),
	    "DKIM-Signature: v=1; a=rsa-sha256\r\n");
	assert_string_equal(ipc_get_str(&r, text, sizeof(text)),
	    "127.0.0.9");
	assert_string_equal(ipc_get_str(&r, text, sizeof(text)),
	    "421 4.7.0 Too many connections");
	assert_int_equal(ipc_reader_finish(&r), 0);
	ipc_writer_free(&w);
	deliver_job_free(job);
}

/* Long replies of many recipients are cut so the frame fits. */
static void
test_write_result_fits_frame(void **state)
{
	const size_t n = 5000;
	struct deliver_job *job = finished_job(n);
	struct ipc_writer w = {0};
	struct ipc_reader r;
	char text[SMTP_CLIENT_TEXT_MAX];
	size_t i;

	(void)state;
	for (i = 0; i < n; i++) {
		memset(job->rcpts[i].reply, 'r', SMTP_CLIENT_TEXT_MAX - 1);
		memset(job->rcpts[i].diagnostic, 'd',
		    SMTP_CLIENT_TEXT_MAX - 1);
	}
	/* The largest signature deliver may report takes its room too. */
	job->dkim_signature = calloc(1, DKIM_SIGN_FIELDS_MAX + 1);
	assert_non_null(job->dkim_signature);
	memset(job->dkim_signature, 's', DKIM_SIGN_FIELDS_MAX);
	assert_int_equal(deliver_ipc_write_result(&w, job), 0);
	assert_true(w.frame.len - 4 <= IPC_FRAME_MAX);
	r = reader_of(&w);
	ipc_get_u64(&r);
	ipc_get_u64(&r);
	assert_int_equal(ipc_get_u64(&r), n);
	for (i = 0; i < n; i++) {
		ipc_get_u64(&r);
		ipc_get_u64(&r);
		ipc_get_str(&r, text, sizeof(text));
		assert_true(strlen(ipc_get_str(&r, text, sizeof(text))) > 100);
		ipc_get_str(&r, text, sizeof(text));
		assert_true(strlen(ipc_get_str(&r, text, sizeof(text))) > 100);
		ipc_get_u64(&r);
	}
	assert_int_equal(ipc_get_u64(&r), 1);
	{
		char *signature = malloc(DKIM_SIGN_FIELDS_MAX + 1);

		assert_non_null(signature);
		ipc_get_str(&r, signature, DKIM_SIGN_FIELDS_MAX + 1);
		assert_int_equal(strlen(signature), DKIM_SIGN_FIELDS_MAX);
		free(signature);
	}
	ipc_get_str(&r, text, sizeof(text));
	ipc_get_str(&r, text, sizeof(text));
	assert_int_equal(ipc_reader_finish(&r), 0);
	ipc_writer_free(&w);
	deliver_job_free(job);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_read_job_fields),
		cmocka_unit_test(test_read_job_dsn_bounds),
		cmocka_unit_test(test_read_job_malformed),
		cmocka_unit_test(test_write_result_layout),
		cmocka_unit_test(test_write_result_fits_frame),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
