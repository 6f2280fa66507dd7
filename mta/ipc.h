/*
 * Messages between tern's processes over libuv pipes.
 *
 * A frame is a 4-byte big-endian length followed by that many bytes: a
 * 2-byte message type, then fields. A field is either an unsigned 64-bit
 * integer (8 bytes, big-endian) or a string (4-byte length, then bytes,
 * no terminator). The reader of a message must consume every field and
 * call ipc_reader_finish(), which fails when bytes are left over, so a
 * sender and a receiver that disagree on a message's layout are caught
 * at once instead of misreading each other.
 *
 * The pipes: ternd talks to each child over the child's standard input,
 * an IPC pipe that can also carry listening sockets. smtpd and deliver
 * connect to qmgr's pipe (see ipc_qmgr_pipe_name).
 */
#ifndef TERN_IPC_H
#define TERN_IPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "../lib/buf.h"

/* A frame may not pass this size; a larger one closes the pipe. */
#define IPC_FRAME_MAX (4 * 1024 * 1024)

/* Queue ids in one IPC_CONTROL_OP; a longer list takes several. */
#define IPC_CONTROL_IDS_MAX 10000

/* The result that ternd sends in reply to IPC_AUTH_CHECK. */
enum ipc_auth_result {
	IPC_AUTH_OK = 0,        /* 235 2.7.0 */
	IPC_AUTH_FAILED = 1,    /* wrong name or password: 535 5.7.8 */
	IPC_AUTH_TEMPFAIL = 2,  /* cannot check now: 454 4.7.0 */
	IPC_AUTH_LOCKED = 3,    /* too many failures from this address or
	                         * for this user lately: 454 4.7.0, and the
	                         * session is ended with 421 */
};

enum ipc_type {
	/* ternd -> child */
	IPC_CONFIG = 1,        /* bytes: a struct tern_config that
	                        * ternd validated. Sent once right after the
	                        * start and again on each accepted reload, so
	                        * a restarted child never reads a file ternd
	                        * rejected. Both ends are one build, so the
	                        * raw struct is safe; its length is checked. */
	IPC_STOP = 2,          /* no fields: finish up and exit */
	IPC_LISTENER = 3,      /* u64 index; a bound uv_tcp_t is sent with
	                        * the frame, and the child listens on it */
	/*
	 * The secret files the child needs but, running unprivileged,
	 * cannot open (mta/secret_files.h has the layout). Sent right after
	 * every IPC_CONFIG, empty for a child that needs none; the child
	 * puts the configuration in force only once this has arrived.
	 */
	IPC_SECRETS = 8,

	/* child -> ternd */
	IPC_LISTENING = 4,     /* u64 index: smtpd now accepts on it */
	IPC_READY = 5,         /* no fields: the child has its configuration
	                        * and runs its loop; ternd then sends smtpd
	                        * its listeners */

	/*
	 * smtpd -> ternd: one SMTP AUTH attempt (RFC 4954). Only ternd
	 * reads the users file, so smtpd sends it each one to check.
	 * u64 request id (smtpd's own, echoed), str client address
	 * (numeric), str authorization identity ("" when none), str user
	 * name, str password, str SASL mechanism ("PLAIN" or "LOGIN", for
	 * ternd's log).
	 */
	IPC_AUTH_CHECK = 6,
	/*
	 * ternd -> smtpd: u64 request id, u64 result (enum
	 * ipc_auth_result), str the senders the user may use (SENDERS of
	 * auth/user_file.h, "" for any; "" unless the result is OK).
	 */
	IPC_AUTH_RESULT = 7,

	/* smtpd -> qmgr */
	IPC_QUEUE_NEW = 10,    /* u64 count of messages just committed */

	/* deliver -> qmgr, right after connecting */
	IPC_DELIVER_HELLO = 20, /* u64 number of jobs it accepts at once */

	/* qmgr -> deliver */
	IPC_JOB = 21,
	/*
	 * u64 job id, u64 message id, str queue id, str sender,
	 * str domain, u64 arrival, u64 size, str envid (RFC 3461 ENVID,
	 * xtext as received, "" when none), u64 ret (enum dsn_ret),
	 * u64 recipient count, then per recipient: u64 recipient id,
	 * str address, u64 notify (DSN_NOTIFY_* bits, 0 when not given),
	 * str orcpt (RFC 3461 ORCPT as received, "addr-type;xtext", or "").
	 * Then the route qmgr chose from the policy (policy/policy.h):
	 * str smart host (the name of a policy smart host; "" for the
	 * domain's mail exchangers), str source address (numeric; "" for
	 * delivery.source_addresses or the system's choice), str EHLO name
	 * for it ("" for the default), u64 TLS level (enum tls_level, for
	 * the mail exchangers), u64 messages per connection (0 for
	 * delivery.connection_reuse_limit), str DKIM selector ("" for every
	 * key of the From domain, "none" for no signature, else only the
	 * keys with that selector).
	 */

	/* deliver -> qmgr */
	IPC_JOB_RESULT = 22,
	/*
	 * u64 job id, u64 destination (enum ipc_destination_state),
	 * u64 recipient count, then per recipient: u64 recipient id,
	 * u64 outcome (enum queue_outcome), str dsn ("2.0.0"),
	 * str reply (text for the record and the log),
	 * str remote_mta (host name of the server that gave the outcome,
	 * "" when none), str diagnostic (that server's reply, "550 5.1.1
	 * No such user", "" when the outcome is not a server's reply),
	 * u64 flags (IPC_RCPT_* bits); after the recipients: u64 1 and
	 * str the DKIM-Signature fields deliver made for the message ("" for
	 * a message not to be signed), for qmgr to store, or u64 0 and ""
	 * when it made none (at most DKIM_SIGN_FIELDS_MAX bytes).
	 * Last: str the source address the sessions left from ("" when
	 * none connected), and str the reply of a server that concerned the
	 * session rather than one recipient, when it was 4xx or 5xx (the
	 * greeting, EHLO, MAIL, DATA, or a 421 at any point; "" when none),
	 * for qmgr's throttling rules.
	 */

	/*
	 * tern (the command line) -> qmgr, the control pipe: `tern queue`
	 * connects to qmgr's pipe to act on messages while ternd runs,
	 * so that qmgr, which knows what is being delivered, applies each
	 * operation (queue/queue_admin.h, mta/qmgr_control.c). A
	 * connection is a control connection from its first message on.
	 */
	IPC_CONTROL_OP = 30,
	/*
	 * u64 operation (enum queue_admin_op), str domain (FLUSH of a
	 * destination: "" for none), u64 1 to flush every destination or 0,
	 * u64 queue id count (at most IPC_CONTROL_IDS_MAX), then each str
	 * queue id. qmgr answers with one IPC_CONTROL_ITEM per queue id,
	 * in the order given, once that message is settled, then one
	 * IPC_CONTROL_DONE. A message in a deliver's hands is settled when
	 * its result is recorded: the operation then applies to the
	 * recipients still pending, or the item says QUEUE_ADMIN_DONE_BEFORE.
	 * A FLUSH of a destination or of all gets one item first, with
	 * queue id "" and the number of recipients it made due.
	 */
	IPC_CONTROL_ITEM = 31,
	/* u64 status (enum queue_admin_status), str queue id,
	 * u64 recipients changed, str report queue id, str detail */
	IPC_CONTROL_DONE = 32,
	/* u64 0 or a TERN_E* code for the request as a whole, str reason
	 * ("" when none). Ends the answer to IPC_CONTROL_OP or
	 * IPC_CONTROL_ACTIVE; the connection may send another request. */
	IPC_CONTROL_ACTIVE = 33,
	/* No fields: which messages are being delivered now. qmgr answers
	 * with IPC_CONTROL_ACTIVE_LIST, then IPC_CONTROL_DONE. */
	IPC_CONTROL_ACTIVE_LIST = 34,
	/* u64 count, then each str queue id of a message with a job at a
	 * deliver. */
};

/*
 * The state of a job's destination as a whole, reported in its result
 * for qmgr's suspension and throttling. A job reached its destination when a server
 * took part in a transaction, whatever it replied to the recipients.
 */
enum ipc_destination_state {
	IPC_DEST_REACHED = 0,
	/* No server could be reached or every one refused the session:
	 * connection refused or timed out, a greeting other than 220,
	 * lost connection before MAIL. */
	IPC_DEST_UNREACHABLE = 1,
	/* A server replied 421 at any point, the greeting included
	 * (RFC 5321 3.8): it is shutting down or asks us to slow down.
	 * This outranks IPC_DEST_REACHED. */
	IPC_DEST_THROTTLED = 2,
	/* The job ended before any server was contacted (DNS failure,
	 * loop, invalid addresses), so the servers' state is unknown. */
	IPC_DEST_UNKNOWN = 3,
};

/* Per-recipient flags in IPC_JOB_RESULT. */
enum {
	/* Delivered to a server that offered DSN (RFC 3461) and was
	 * handed NOTIFY and ORCPT: it reports success itself. */
	IPC_RCPT_DSN_RELAYED = 1 << 0,
};

struct ipc_writer {
	struct buf frame;
	bool secret;                /* wipe every copy of the frame */
};

/* Starts a frame of the given type. */
int ipc_writer_begin(struct ipc_writer *w, enum ipc_type type);
int ipc_put_u64(struct ipc_writer *w, uint64_t value);
int ipc_put_str(struct ipc_writer *w, const char *s);
int ipc_put_bytes(struct ipc_writer *w, const void *data, size_t len);
/* Releases the frame's memory. */
void ipc_writer_free(struct ipc_writer *w);

struct ipc_reader {
	const unsigned char *data;  /* payload after the type */
	size_t len;
	size_t pos;
	int error;                  /* sticky: first failure */
};

/* ipc_get_* set r->error and return 0 / NULL on truncated input. */
uint64_t ipc_get_u64(struct ipc_reader *r);
/* Copies a bytes field that must be exactly len bytes long into out. */
int ipc_get_exact(struct ipc_reader *r, void *out, size_t len);
/* Returns a bytes field in place (valid while the frame is being
 * handled) and its length in *len, or NULL on truncated input. */
const unsigned char *ipc_get_view(struct ipc_reader *r, size_t *len);
/* Overwrites the frame's payload in the channel's inbox, once read. */
void ipc_reader_wipe(struct ipc_reader *r);
/* Copies a string field into out (NUL-terminated); fails when the field
 * is longer than out_size - 1 or contains a NUL byte. */
const char *ipc_get_str(struct ipc_reader *r, char *out, size_t out_size);
/* Returns 0 when every byte was consumed and no field failed. */
int ipc_reader_finish(struct ipc_reader *r);

/*
 * A framed connection on a libuv stream. on_message is called with each
 * complete frame's type and a reader over its fields; on_close once when
 * the stream ends or breaks (after which the channel must not be used).
 */
struct ipc_channel;
typedef void (*ipc_message_cb)(struct ipc_channel *ch, enum ipc_type type,
    struct ipc_reader *r);
typedef void (*ipc_close_cb)(struct ipc_channel *ch);

struct ipc_channel {
	uv_pipe_t pipe;
	struct buf inbox;
	ipc_message_cb on_message;
	ipc_close_cb on_close;
	void *data;                 /* owner's pointer */
	int closing;
};

/*
 * Starts reading on ch->pipe, which the caller has initialised and
 * connected (or opened). The channel must stay at a stable address.
 */
int ipc_channel_start(struct ipc_channel *ch, ipc_message_cb on_message,
    ipc_close_cb on_close);

/* Queues the writer's frame for sending; the writer may be reused. With
 * send_handle non-NULL the handle travels with the frame (IPC pipes). */
int ipc_channel_send(struct ipc_channel *ch, struct ipc_writer *w,
    uv_stream_t *send_handle);

/* Closes the channel; on_close is called once the handle is closed. */
void ipc_channel_close(struct ipc_channel *ch);

/* The file in the queue folder that stores the name of qmgr's pipe on
 * Windows, where named pipes live in their own namespace. */
#define IPC_QMGR_PIPE_NAME_FILE "qmgr-pipe-name"

/*
 * Writes the name of the running qmgr's pipe for a queue directory into
 * out, for a client about to connect. Unix: DIR/qmgr.sock. Windows: the
 * name that qmgr stored in DIR\qmgr-pipe-name (ipc_qmgr_pipe_publish),
 * so clients call this before every connection attempt, because qmgr
 * picks a new name at each start. Returns TERN_ETOOBIG when a Unix
 * socket name would pass 103 bytes, and on Windows TERN_ENOTFOUND when
 * the file is missing (qmgr has not started) or TERN_EINVAL when it does
 * not contain a valid name.
 */
int ipc_qmgr_pipe_name(const char *queue_directory, char *out,
    size_t out_size);

/*
 * Chooses the name that qmgr listens on. Unix: DIR/qmgr.sock, as
 * ipc_qmgr_pipe_name(). Windows: \\.\pipe\tern-qmgr- followed by 128
 * random bits in hex (uv_random), so a local user cannot create the pipe
 * before qmgr and receive its clients. Returns TERN_OK, TERN_ETOOBIG or
 * TERN_EIO when no random bytes are available.
 */
int ipc_qmgr_pipe_name_new(const char *queue_directory, char *out,
    size_t out_size);

/*
 * Stores name, which qmgr listens on, in DIR\qmgr-pipe-name for the
 * clients: written to a private temporary file (platform_file.h), then
 * renamed over the old one, so a reader sees the old name or the new one
 * and never a part. Unix: does nothing, because the socket is in the
 * queue folder. Returns TERN_OK or TERN_EIO with errno set.
 */
int ipc_qmgr_pipe_publish(const char *queue_directory, const char *name);

/*
 * Reads a pipe name file as ipc_qmgr_pipe_publish() writes it: one line
 * that starts with \\.\pipe\tern-qmgr- and ends in 32 lower-case hex
 * digits. Portable so that it is tested on every build. Returns TERN_OK,
 * TERN_ENOTFOUND when the file is missing, TERN_EINVAL for any other
 * content, TERN_ETOOBIG when out is too small or TERN_EIO.
 */
int ipc_pipe_name_file_read(const char *path, char *out, size_t out_size);

#endif
