/*
 * Declarations shared by the files of tern's sendmail interface
 * (mta/tern_sendmail*.c): the exit statuses, the parsed command line,
 * queueing one message and the -bs session.
 */
#ifndef TERN_SENDMAIL_H
#define TERN_SENDMAIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../queue/queue.h"

/*
 * Exit statuses of BSD's <sysexits.h>, which sendmail's callers (cron,
 * PHP, mutt, git send-email) interpret. Defined here because Windows
 * has no <sysexits.h>; the values are fixed by that header.
 */
enum sendmail_exit {
	SENDMAIL_EX_OK = 0,
	SENDMAIL_EX_USAGE = 64,       /* wrong command line */
	SENDMAIL_EX_DATAERR = 65,     /* invalid message or no recipient */
	SENDMAIL_EX_NOUSER = 67,      /* invalid local part of an address */
	SENDMAIL_EX_NOHOST = 68,      /* invalid domain of an address */
	SENDMAIL_EX_UNAVAILABLE = 69, /* the queue cannot be used */
	SENDMAIL_EX_SOFTWARE = 70,    /* internal error */
	SENDMAIL_EX_IOERR = 74,       /* reading the input failed */
	SENDMAIL_EX_TEMPFAIL = 75,    /* database busy, disk full: retry */
	SENDMAIL_EX_NOPERM = 77,      /* may not write the queue */
	SENDMAIL_EX_CONFIG = 78,      /* configuration cannot be read */
};

enum sendmail_mode {
	SENDMAIL_MODE_DELIVER = 0,    /* -bm: queue the message on stdin */
	SENDMAIL_MODE_SMTP,           /* -bs: SMTP on stdin and stdout */
	SENDMAIL_MODE_LIST,           /* -bp, mailq: list the queue */
	SENDMAIL_MODE_FLUSH,          /* -q: deliver the queue now */
	SENDMAIL_MODE_HELP,           /* --help */
};

/* The sendmail command line, parsed. Strings point into argv. */
struct sendmail_options {
	enum sendmail_mode mode;
	const char *config_path;      /* -C; NULL when not given */
	const char *sender;           /* -f or -r; NULL when not given */
	const char *full_name;        /* -F; NULL when not given */
	bool recipients_from_headers; /* -t */
	bool ignore_dots;             /* -i or -oi */
	const char *flush_domain;     /* -qRDOMAIN; NULL: every destination */
	const char *flush_queue_id;   /* -qIID; NULL: every message */
	/* The arguments that are not options: the recipients, each of
	 * which may be a comma-separated list. */
	char **recipients;
	size_t recipient_count;
};

/*
 * Parses argv[1..argc) (argv[0] is the program name) into *opt, which
 * must be zeroed. Options and recipients may be mixed, as GNU getopt
 * allows, until "--". opt->recipients points into a malloc'd array
 * that the caller frees. Returns TERN_OK, TERN_EINVAL with the reason
 * in err, or TERN_ENOMEM.
 */
int sendmail_parse_options(int argc, char **argv,
    struct sendmail_options *opt, char *err, size_t err_size);

/* The usage text, for errors and --help. */
extern const char sendmail_usage_text[];

struct tern_config;

/* A queue opened for sendmail, with what its log lines and Received
 * header need. */
struct sendmail_queue {
	struct queue *queue;
	const struct tern_config *config;
	char user[64];                /* the invoking user's login name, or
	                               * "" when it cannot be found */
	long uid;                     /* -1 where the system has none */
	const char *protocol;         /* "with" clause, or NULL */
};

/*
 * Checks that the queue folder and database exist and that this user
 * may write them. Returns SENDMAIL_EX_OK, or a sendmail exit status after
 * printing the reason on standard error (SENDMAIL_EX_NOPERM names the
 * folder and who may write it). flush is true for -q, so that the
 * message reports that flushing, not queueing, was denied.
 */
int sendmail_queue_check(const struct tern_config *cfg, bool flush);

/*
 * Opens cfg's queue read-write into *out after sendmail_queue_check().
 * Returns SENDMAIL_EX_OK, or a sendmail exit status after printing the
 * reason on standard error.
 */
int sendmail_queue_open(const struct tern_config *cfg,
    struct sendmail_queue *out);

/*
 * Stores one message durably with a Received header in front of
 * content, then notifies a running qmgr. queue_id receives the new
 * message's id. Returns TERN_OK or the queue's error (TERN_ETEMP for a
 * full disk or busy database) with the reason in err.
 */
int sendmail_queue_insert(struct sendmail_queue *sq, const char *sender,
    const char *const *recipients, size_t recipient_count,
    const unsigned char *content, size_t content_len,
    char queue_id[QUEUE_ID_SIZE], char *err, size_t err_size);

void sendmail_queue_close(struct sendmail_queue *sq);

/*
 * Looks up the invoking user's login name into user (through libuv),
 * once per process, so later calls return the first result even after
 * the process changed its user. *uid gets the user id, or -1 where the
 * system has none. Returns TERN_OK or TERN_ENOTFOUND.
 */
int sendmail_current_user(char *user, size_t user_size, long *uid);

/*
 * Appends "@hostname" to an address without a domain, as sendmail
 * does for local names such as "root". Returns a malloc'd string, or
 * NULL when out of memory.
 */
char *sendmail_qualify(const char *address, const char *hostname);

/*
 * Runs an SMTP session on standard input and output (-bs) until QUIT
 * or the end of input. Returns the exit status.
 */
int sendmail_smtp_session(const struct tern_config *cfg,
    const struct sendmail_options *opt);

/* Reads up to size bytes of standard input into data; returns the
 * count, 0 at the end of input, or a negative libuv error. */
long sendmail_read_stdin(unsigned char *data, size_t size);

/* Writes len bytes to standard output; returns 0 or a libuv error. */
int sendmail_write_stdout(const void *data, size_t len);

#endif
