/*
 * Group commit for smtpd: sessions submit finished messages, and every
 * submission that arrives while one transaction is in flight goes into
 * the next one, so one sync to disk covers many messages. The queue is
 * written in a libuv worker thread; each session's callback then runs on
 * the loop with the transaction's status.
 *
 * After each successful commit smtpd sends IPC_QUEUE_NEW to qmgr over
 * qmgr's pipe. While qmgr is not reachable the count is kept and
 * sent once a connection succeeds. qmgr also scans the queue on a timer,
 * so a lost notice only delays delivery.
 */
#ifndef TERN_SMTPD_COMMIT_H
#define TERN_SMTPD_COMMIT_H

#include <stddef.h>
#include <uv.h>

#include "../queue/queue.h"

struct smtpd_commit;
struct smtpd_commit_request;

/*
 * Reports the outcome of a submission: 0 when the message is stored and
 * synced, TERN_ETEMP when the disk is full, another negative code on
 * other failures. Called on the loop thread, once per submission.
 */
typedef void (*smtpd_commit_cb)(struct smtpd_commit_request *req,
    int status);

/*
 * One message waiting to be stored. The owner fills message, done and
 * data, and keeps every byte message points to unchanged until done is
 * called.
 */
struct smtpd_commit_request {
	struct queue_new_message message;
	smtpd_commit_cb done;
	void *data;                          /* owner's pointer */
	struct smtpd_commit_request *next;   /* used by smtpd_commit.c */
};

/*
 * Opens the queue in directory read-write and starts connecting to
 * qmgr's pipe. On failure writes the reason into err.
 */
int smtpd_commit_open(uv_loop_t *loop, const char *queue_directory,
    struct smtpd_commit **out, char *err, size_t err_size);

/*
 * Stores in *free_octets the space an unprivileged process may still
 * write in the queue folder's file system. Returns 0, or a libuv error
 * when the file system cannot be queried.
 */
int smtpd_commit_free_space(const struct smtpd_commit *commit,
    uint64_t *free_octets);

/* Queues req for the next transaction. */
void smtpd_commit_submit(struct smtpd_commit *commit,
    struct smtpd_commit_request *req);

/*
 * Lets the transaction in flight and every waiting submission finish,
 * then closes the qmgr pipe, the timer and the queue, frees commit and
 * calls closed(arg). Submitting after this call is a programming error.
 */
void smtpd_commit_close(struct smtpd_commit *commit,
    void (*closed)(void *arg), void *arg);

#endif
