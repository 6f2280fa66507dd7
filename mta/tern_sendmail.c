/*
 * tern as sendmail and mailq: the program runs as these commands when
 * installed under their names (see tern_main.c), and as `tern sendmail
 * ARGS`.
 *
 * sendmail reads a message on standard input and queues it (-bm, the
 * default), runs an SMTP session on standard input and output (-bs,
 * tern_sendmail_smtp.c), lists the queue (-bp, mailq: `tern queue`) or
 * asks for delivery of the queue now (-q: `tern queue flush`). The
 * options are in tern_sendmail_options.c, the queueing in
 * tern_sendmail_queue.c.
 *
 * The exit status follows sendmail's <sysexits.h> codes, so that cron
 * and scripts report a failure; on every failure the reason is printed
 * on standard error and nothing is queued.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "../lib/buf.h"
#include "../lib/clock.h"
#include "../lib/file_lock.h"
#include "../lib/log.h"
#include "../lib/tern_error.h"
#include "../policy/config.h"
#include "local_message.h"
#include "local_message_internal.h"
#include "smtp_command.h"
#include "tern_commands.h"
#include "tern_privileges.h"
#include "tern_sendmail.h"

#define READ_CHUNK (64 * 1024)

/* uv_fs_access() takes the POSIX mode bits, which Windows headers
 * may lack. */
#ifndef W_OK
#define W_OK 2
#endif

/* An envelope on the command line, qualified and checked. */
struct envelope {
	char *sender;                 /* NULL: the default sender */
	char **recipients;
	size_t recipient_count;
};

long
sendmail_read_stdin(unsigned char *data, size_t size)
{
	uv_buf_t b = uv_buf_init((char *)data, (unsigned int)size);
	uv_fs_t req;
	int rc;

	/* Offset -1 reads from the current position, as read() does. */
	rc = uv_fs_read(NULL, &req, 0, &b, 1, -1, NULL);
	uv_fs_req_cleanup(&req);
	return rc;
}

int
sendmail_write_stdout(const void *data, size_t len)
{
	const char *p = data;
	uv_fs_t req;
	int rc;

	while (len > 0) {
		uv_buf_t b = uv_buf_init((char *)p, (unsigned int)len);

		rc = uv_fs_write(NULL, &req, 1, &b, 1, -1, NULL);
		uv_fs_req_cleanup(&req);
		if (rc < 0)
			return rc;
		p += rc;
		len -= (size_t)rc;
	}
	return 0;
}

static void
free_list(char **list, size_t count)
{
	size_t i;

	for (i = 0; i < count; i++)
		free(list[i]);
	free(list);
}

static void
free_envelope(struct envelope *e)
{
	free(e->sender);
	free_list(e->recipients, e->recipient_count);
	memset(e, 0, sizeof(*e));
}

/*
 * Checks address as an RFC 5321 mailbox by parsing the SMTP command that
 * would carry it, because every queued address is relayed over SMTP.
 * Returns SENDMAIL_EX_OK, or the exit status after printing the reason:
 * SENDMAIL_EX_NOHOST for an invalid domain, SENDMAIL_EX_NOUSER for the
 * rest of the address.
 */
static int
check_address(const char *what, const char *address)
{
	struct smtp_command cmd;
	char line[SMTP_PATH_MAX + 32];
	const char *at = strrchr(address, '@');
	int n;

	n = snprintf(line, sizeof(line), "RCPT TO:<%s>", address);
	if (n > 0 && (size_t)n < sizeof(line) &&
	    smtp_command_parse((const unsigned char *)line, (size_t)n, &cmd) ==
	    SMTP_PARSE_OK)
		return SENDMAIL_EX_OK;
	if (at == NULL || !(smtp_domain_valid(at + 1, strlen(at + 1)) ||
	    smtp_address_literal_valid(at + 1, strlen(at + 1)))) {
		fprintf(stderr, "sendmail: invalid domain in the %s address "
		    "\"%s\"\n", what, address);
		return SENDMAIL_EX_NOHOST;
	}
	fprintf(stderr, "sendmail: invalid %s address \"%s\": not an RFC "
	    "5321 mailbox of at most 254 characters\n", what, address);
	return SENDMAIL_EX_NOUSER;
}

/* Strips one pair of angle brackets, as in "-f <user@example.com>". */
static char *
strip_brackets(const char *address)
{
	size_t len = strlen(address);

	char *inner;

	if (len < 2 || address[0] != '<' || address[len - 1] != '>')
		return strdup(address);
	/* Not strndup, which the Windows C runtime lacks. */
	inner = malloc(len - 1);
	if (inner != NULL) {
		memcpy(inner, address + 1, len - 2);
		inner[len - 2] = '\0';
	}
	return inner;
}

/* Appends address to e's recipients unless it is there already; takes
 * ownership of address. */
static int
add_recipient(struct envelope *e, char *address)
{
	size_t i;

	for (i = 0; i < e->recipient_count; i++) {
		if (strcmp(e->recipients[i], address) == 0) {
			free(address);
			return TERN_OK;
		}
	}
	if (e->recipient_count >= LOCAL_MESSAGE_RECIPIENTS_MAX) {
		free(address);
		return TERN_ETOOBIG;
	}
	e->recipients[e->recipient_count++] = address;
	return TERN_OK;
}

/* Splits one command-line argument into addresses, qualifies them and
 * adds them to e. Returns the exit status. */
static int
add_argument(struct envelope *e, const char *arg, const char *hostname)
{
	char **list = NULL, err[256];
	size_t count = 0, i;
	bool domain_error = false;
	int rc, status = SENDMAIL_EX_OK;

	rc = local_address_parse_list(arg, &list, &count,
	    LOCAL_MESSAGE_RECIPIENTS_MAX, err, sizeof(err), &domain_error);
	if (rc == TERN_ENOMEM)
		return SENDMAIL_EX_TEMPFAIL;
	if (rc != TERN_OK) {
		fprintf(stderr, "sendmail: invalid recipient \"%s\": %s\n", arg,
		    err);
		free_list(list, count);
		/* <sysexits.h>: EX_NOHOST for a host name that does not
		 * exist, EX_NOUSER for an addressee that does not. */
		if (rc == TERN_ETOOBIG)
			return SENDMAIL_EX_USAGE;
		return domain_error ? SENDMAIL_EX_NOHOST : SENDMAIL_EX_NOUSER;
	}
	for (i = 0; i < count && status == SENDMAIL_EX_OK; i++) {
		char *address = sendmail_qualify(list[i], hostname);

		if (address == NULL)
			status = SENDMAIL_EX_TEMPFAIL;
		else if ((status = check_address("recipient", address)) !=
		    SENDMAIL_EX_OK)
			free(address);
		else if (add_recipient(e, address) != TERN_OK) {
			fprintf(stderr, "sendmail: more than %d recipients\n",
			    LOCAL_MESSAGE_RECIPIENTS_MAX);
			status = SENDMAIL_EX_USAGE;
		}
	}
	free_list(list, count);
	return status;
}

/* Reads the sender (-f) and the recipient arguments into e. Returns the
 * exit status. */
static int
build_envelope(const struct sendmail_options *opt,
    const struct tern_config *cfg, struct envelope *e)
{
	size_t i;
	int status;

	e->recipients = calloc(LOCAL_MESSAGE_RECIPIENTS_MAX,
	    sizeof(*e->recipients));
	if (e->recipients == NULL)
		return SENDMAIL_EX_TEMPFAIL;
	if (opt->sender != NULL) {
		char *bare = strip_brackets(opt->sender);

		if (bare == NULL)
			return SENDMAIL_EX_TEMPFAIL;
		e->sender = sendmail_qualify(bare, cfg->hostname);
		free(bare);
		if (e->sender == NULL)
			return SENDMAIL_EX_TEMPFAIL;
		if (e->sender[0] != '\0' &&
		    (status = check_address("sender", e->sender)) !=
		    SENDMAIL_EX_OK)
			return status;
	}
	for (i = 0; i < opt->recipient_count; i++) {
		status = add_argument(e, opt->recipients[i], cfg->hostname);
		if (status != SENDMAIL_EX_OK)
			return status;
	}
	return SENDMAIL_EX_OK;
}

/*
 * Reads the message on standard input into raw. Without -i a line that
 * contains a single dot ends it, as in sendmail; the input after that line
 * is left unread. Returns the exit status.
 */
static int
read_message(bool ignore_dots, size_t limit, struct buf *raw)
{
	unsigned char chunk[READ_CHUNK];
	size_t line_start = 0, scanned = 0;
	long n;
	int rc;

	/* Room for the ".\r\n" that may end the input past the limit. */
	buf_init(raw, limit + 3);
	for (;;) {
		n = sendmail_read_stdin(chunk, sizeof(chunk));
		if (n < 0) {
			fprintf(stderr, "sendmail: cannot read the message on "
			    "standard input: %s\n", uv_strerror((int)n));
			return SENDMAIL_EX_IOERR;
		}
		if (n == 0)
			break;
		rc = buf_append(raw, chunk, (size_t)n);
		if (rc == TERN_ENOMEM) {
			fprintf(stderr, "sendmail: out of memory reading the "
			    "message\n");
			return SENDMAIL_EX_TEMPFAIL;
		}
		if (rc != TERN_OK)
			return SENDMAIL_EX_UNAVAILABLE;
		for (; !ignore_dots && scanned < raw->len; scanned++) {
			const unsigned char *line = raw->data + line_start;
			size_t len = scanned - line_start;

			if (raw->data[scanned] != '\n')
				continue;
			if ((len == 1 && line[0] == '.') || (len == 2 &&
			    line[0] == '.' && line[1] == '\r')) {
				raw->len = line_start;
				return SENDMAIL_EX_OK;
			}
			line_start = scanned + 1;
		}
	}
	/* A dot on the last line without a line end ends the input too. */
	if (!ignore_dots && raw->len - line_start == 1 &&
	    raw->data[line_start] == '.')
		raw->len = line_start;
	return SENDMAIL_EX_OK;
}

static int
exit_for_queue_error(int rc)
{
	if (rc == TERN_ETEMP || rc == TERN_EDB || rc == TERN_ENOMEM ||
	    rc == TERN_EIO)
		return SENDMAIL_EX_TEMPFAIL;
	if (rc == TERN_EPERM)
		return SENDMAIL_EX_NOPERM;
	return SENDMAIL_EX_SOFTWARE;
}

/*
 * Qualifies the recipients that local_message_prepare() took from the
 * header (-t), drops the duplicates that makes and checks each one.
 * Returns the exit status; on success *e contains the final list.
 */
static int
final_recipients(const struct local_message *m, const char *hostname,
    struct envelope *e)
{
	size_t i;
	int status;

	free_list(e->recipients, e->recipient_count);
	e->recipient_count = 0;
	e->recipients = calloc(LOCAL_MESSAGE_RECIPIENTS_MAX,
	    sizeof(*e->recipients));
	if (e->recipients == NULL)
		return SENDMAIL_EX_TEMPFAIL;
	for (i = 0; i < m->recipient_count; i++) {
		char *address = sendmail_qualify(m->recipients[i], hostname);

		if (address == NULL)
			return SENDMAIL_EX_TEMPFAIL;
		status = check_address("recipient", address);
		if (status != SENDMAIL_EX_OK) {
			free(address);
			return status == SENDMAIL_EX_NOUSER ||
			    status == SENDMAIL_EX_NOHOST ? SENDMAIL_EX_DATAERR :
			    status;
		}
		if (add_recipient(e, address) != TERN_OK)
			return SENDMAIL_EX_DATAERR;
	}
	if (e->recipient_count == 0) {
		fprintf(stderr, "sendmail: no recipients: give them as "
		    "arguments, or use -t with To, Cc or Bcc fields\n");
		return SENDMAIL_EX_DATAERR;
	}
	return SENDMAIL_EX_OK;
}

/* Prepares raw and queues it. Returns the exit status. */
static int
queue_message(const struct sendmail_options *opt,
    const struct tern_config *cfg, struct sendmail_queue *sq,
    struct envelope *e, const struct buf *raw)
{
	struct local_message_options lo;
	struct local_message m;
	char default_sender[400], err[512], queue_id[QUEUE_ID_SIZE];
	int rc, status;

	if (e->sender == NULL && sq->user[0] == '\0') {
		fprintf(stderr, "sendmail: cannot find this user's login "
		    "name for the sender address; give the sender with -f\n");
		return SENDMAIL_EX_NOUSER;
	}
	memset(&lo, 0, sizeof(lo));
	lo.rcpt_source = opt->recipients_from_headers ? LOCAL_RCPT_HEADERS :
	    LOCAL_RCPT_GIVEN;
	lo.recipients = (const char *const *)e->recipients;
	lo.recipient_count = e->recipient_count;
	lo.sender = e->sender;
	snprintf(default_sender, sizeof(default_sender), "%s@%s", sq->user,
	    cfg->hostname);
	lo.default_sender = default_sender;
	lo.full_name = opt->full_name;
	lo.hostname = cfg->hostname;
	lo.now = tern_clock_now();
	lo.size_limit = (size_t)cfg->message_size_limit;
	lo.size_limit_name = "smtpd.message_size_limit";
	/* `echo text | sendmail user` sends text as the body. */
	lo.allow_no_header = true;

	err[0] = '\0';
	rc = local_message_prepare(raw->data, raw->len, &lo, &m, err,
	    sizeof(err));
	if (rc == TERN_ETOOBIG) {
		/* The reason names the bound that applied: the size limit,
		 * or one of local_message.h's. */
		fprintf(stderr, "sendmail: message not queued: %s\n", err[0] ?
		    err : "too large");
		return SENDMAIL_EX_UNAVAILABLE;
	}
	if (rc != TERN_OK) {
		fprintf(stderr, "sendmail: message not queued: %s\n",
		    err[0] ? err : tern_strerror(rc));
		return rc == TERN_EINVAL ? SENDMAIL_EX_DATAERR :
		    SENDMAIL_EX_TEMPFAIL;
	}

	status = final_recipients(&m, cfg->hostname, e);
	if (status == SENDMAIL_EX_OK && m.sender[0] != '\0')
		status = check_address("sender", m.sender);
	if (status != SENDMAIL_EX_OK) {
		local_message_free(&m);
		return status;
	}
	rc = sendmail_queue_insert(sq, m.sender,
	    (const char *const *)e->recipients, e->recipient_count,
	    m.content.data, m.content.len, queue_id, err, sizeof(err));
	local_message_free(&m);
	if (rc != TERN_OK) {
		fprintf(stderr, "sendmail: message not queued in %s: %s%s\n",
		    cfg->queue_directory, err, rc == TERN_ETEMP ?
		    "; try again later" : "");
		return exit_for_queue_error(rc);
	}
	return SENDMAIL_EX_OK;
}

/* -bm: queues the message on standard input. */
static int
deliver_stdin(const struct sendmail_options *opt,
    const struct tern_config *cfg)
{
	struct sendmail_queue sq;
	struct envelope e = {0};
	struct buf raw;
	int status;

	if (opt->recipient_count == 0 && !opt->recipients_from_headers) {
		fprintf(stderr, "sendmail: no recipients: give them as "
		    "arguments, or use -t to read them from the header\n%s",
		    sendmail_usage_text);
		return SENDMAIL_EX_USAGE;
	}
	status = build_envelope(opt, cfg, &e);
	if (status != SENDMAIL_EX_OK) {
		free_envelope(&e);
		return status;
	}
	status = sendmail_queue_open(cfg, &sq);
	if (status != SENDMAIL_EX_OK) {
		free_envelope(&e);
		return status;
	}
	status = read_message(opt->ignore_dots,
	    (size_t)cfg->message_size_limit, &raw);
	if (status == SENDMAIL_EX_UNAVAILABLE)
		fprintf(stderr, "sendmail: message not queued: larger than "
		    "smtpd.message_size_limit (%lld bytes)\n",
		    (long long)cfg->message_size_limit);
	if (status == SENDMAIL_EX_OK)
		status = queue_message(opt, cfg, &sq, &e, &raw);
	buf_free(&raw);
	sendmail_queue_close(&sq);
	free_envelope(&e);
	return status;
}

/* Maps a `tern queue` exit status (tern_commands.h) to sendmail's. */
static int
queue_command_status(int status)
{
	if (status == 0)
		return SENDMAIL_EX_OK;
	return status == 2 ? SENDMAIL_EX_USAGE : SENDMAIL_EX_UNAVAILABLE;
}

/* True when ternd holds its lock on the queue folder. */
static bool
ternd_running(const struct tern_config *cfg)
{
	char path[1100];
	int pid;

	snprintf(path, sizeof(path), "%s/ternd.lock", cfg->queue_directory);
	return file_lock_holder(path, &pid) == TERN_OK;
}

/*
 * -q: `tern queue flush --all` (or --domain D, or one id). While ternd
 * is stopped the flush marks the messages due in the database and
 * nothing is delivered until ternd starts, so sendmail prints that and
 * exits EX_TEMPFAIL, as for a delivery that must be tried later.
 */
static int
flush_queue(const struct sendmail_options *opt, const char *config_path,
    const struct tern_config *cfg)
{
	char *args[5] = {"queue", "flush", "--all", NULL, NULL};
	int argc = 3, status;
	bool running = ternd_running(cfg);

	status = sendmail_queue_check(cfg, true);
	if (status != SENDMAIL_EX_OK)
		return status;
	if (opt->flush_domain != NULL) {
		args[2] = "--domain";
		args[3] = (char *)opt->flush_domain;
		argc = 4;
	} else if (opt->flush_queue_id != NULL) {
		args[2] = (char *)opt->flush_queue_id;
	}
	status = queue_command_status(tern_cmd_queue(config_path, argc,
	    args));
	if (status == SENDMAIL_EX_OK && !running) {
		fprintf(stderr, "sendmail: ternd is not running: the queued "
		    "messages are delivered when it starts\n");
		return SENDMAIL_EX_TEMPFAIL;
	}
	return status;
}

/*
 * Logs to log.file when this user may append to it. Most users may not
 * (it belongs to ternd's user), and that is no error worth a line before
 * the result: their log lines go to standard error, warnings only. An
 * existing file only, so that root never creates a log file that ternd
 * could not append to.
 */
static void
open_log(const struct tern_config *cfg)
{
	uv_fs_t req;
	int rc = UV_ENOENT;

	if (cfg->log_file[0] != '\0') {
		rc = uv_fs_access(NULL, &req, cfg->log_file, W_OK, NULL);
		uv_fs_req_cleanup(&req);
	}
	if (rc != 0 || log_open("sendmail", cfg->log_file,
	    (enum log_level)cfg->log_level, false) != TERN_OK)
		log_open("sendmail", NULL, TLOG_WARNING, true);
}

static int
run_mode(const struct sendmail_options *opt, const char *config_path)
{
	static struct tern_config cfg;
	char err[4096], caller[256];
	/* "mailq" makes the listing name itself that way in its errors. */
	char *list_args[] = {"mailq", NULL};
	long caller_uid;

	if (tern_config_load(config_path, &cfg, err, sizeof(err)) != TERN_OK) {
		fprintf(stderr, "sendmail: cannot read the configuration: %s\n",
		    err);
		return SENDMAIL_EX_CONFIG;
	}
	/* Who called sendmail, for the default sender and the log, before
	 * root becomes the queue's owner. */
	sendmail_current_user(caller, sizeof(caller), &caller_uid);
	if (tern_become_queue_owner(&cfg, "sendmail") != TERN_OK)
		return SENDMAIL_EX_NOPERM;
	open_log(&cfg);
	switch (opt->mode) {
	case SENDMAIL_MODE_LIST:
		return queue_command_status(tern_cmd_queue(config_path, 1,
		    list_args));
	case SENDMAIL_MODE_FLUSH:
		return flush_queue(opt, config_path, &cfg);
	case SENDMAIL_MODE_SMTP:
		return sendmail_smtp_session(&cfg, opt);
	default:
		return deliver_stdin(opt, &cfg);
	}
}

/* Parses the options and runs sendmail, in mode unless the options
 * choose another. */
static int
run(const char *config_path, int argc, char **argv, bool mailq)
{
	struct sendmail_options opt;
	char err[512];
	int rc;

	memset(&opt, 0, sizeof(opt));
	if (mailq)
		opt.mode = SENDMAIL_MODE_LIST;
	rc = sendmail_parse_options(argc, argv, &opt, err, sizeof(err));
	if (rc != TERN_OK) {
		free(opt.recipients);
		if (rc == TERN_ENOMEM)
			return SENDMAIL_EX_TEMPFAIL;
		fprintf(stderr, "sendmail: %s\n%s", err, sendmail_usage_text);
		return SENDMAIL_EX_USAGE;
	}
	if (opt.mode == SENDMAIL_MODE_HELP) {
		free(opt.recipients);
		fputs(sendmail_usage_text, stdout);
		return SENDMAIL_EX_OK;
	}
	rc = run_mode(&opt, opt.config_path != NULL ? opt.config_path :
	    config_path);
	free(opt.recipients);
	return rc;
}

int
tern_cmd_sendmail(const char *config_path, int argc, char **argv)
{
	return run(config_path, argc, argv, false);
}

int
tern_cmd_mailq(const char *config_path, int argc, char **argv)
{
	return run(config_path, argc, argv, true);
}

/* Compares a and b ignoring ASCII case, as Windows file names are. */
static bool
equal_ignoring_case(const char *a, const char *b)
{
	for (; *a != '\0' && *b != '\0'; a++, b++) {
		char ca = *a >= 'A' && *a <= 'Z' ? (char)(*a + 32) : *a;
		char cb = *b >= 'A' && *b <= 'Z' ? (char)(*b + 32) : *b;

		if (ca != cb)
			return false;
	}
	return *a == *b;
}

tern_command_fn *
tern_command_for_program(const char *argv0)
{
	const char *name = argv0, *p;

	for (p = argv0; *p != '\0'; p++) {
		if (*p == '/' || *p == '\\')
			name = p + 1;
	}
	if (strcmp(name, "sendmail") == 0 ||
	    equal_ignoring_case(name, "sendmail.exe"))
		return tern_cmd_sendmail;
	if (strcmp(name, "mailq") == 0 ||
	    equal_ignoring_case(name, "mailq.exe"))
		return tern_cmd_mailq;
	return NULL;
}
