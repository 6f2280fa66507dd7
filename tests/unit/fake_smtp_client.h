/*
 * A stand-in for mta/smtp_client.c in unit tests: it records every
 * session a caller requests and ends each one from the loop as the
 * test's script specifies, without any network. It keeps the contract of
 * mta/smtp_client.h: the callback comes from the loop, a session is
 * reusable only when the caller asked to keep it open, and a session
 * that is not reusable is closed when the callback runs.
 */
#ifndef TERN_TEST_FAKE_SMTP_CLIENT_H
#define TERN_TEST_FAKE_SMTP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

#include "mta/smtp_client.h"

/* "tls=" of a recipient delivered by a session with a TLS context. */
#define FAKE_TLS_SUMMARY "TLSv1.3/TLS_AES_256_GCM_SHA384/verified"

/* How one session ends. */
struct fake_step {
	enum smtp_client_result result;
	bool reached;
	bool throttled;
	bool reusable;                /* if the caller asked for keep_open */
	enum queue_outcome outcome;   /* SMTP_CLIENT_DONE: for every rcpt */
	const char *error;            /* other results */
};

/* A session the caller asked for. */
struct fake_call {
	bool next;                    /* smtp_client_next, not _start */
	char host[256];
	char address[64];
	int port;
	int tls_level;
	bool with_tls;                /* a TLS context was passed */
	bool keep_open;
	char envid[128];
	char source[64];              /* bound local address; "" none */
	char ehlo_name[256];
};

#define FAKE_MAX_STEPS 16
#define FAKE_MAX_CALLS 64

struct fake_state {
	struct fake_step script[FAKE_MAX_STEPS];
	size_t script_len;
	size_t script_pos;
	struct fake_call calls[FAKE_MAX_CALLS];
	size_t call_count;
	int quits;
	int keep_idles;
	int live;                     /* clients not yet freed */
};

extern struct fake_state fake;

/* Forgets every step, call and count. */
void fake_smtp_client_reset(void);

/* Makes the next sessions end as steps[0..n) specify. Later ones fail
 * to connect. */
void fake_script(const struct fake_step *steps, size_t n);

#endif
