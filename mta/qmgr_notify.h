/*
 * The notices that a process which writes new messages into the queue
 * (smtpd, the pickup process) sends to qmgr: IPC_QUEUE_NEW with the
 * number of messages committed, over qmgr's pipe in the queue folder.
 *
 * While qmgr is not reachable the count is kept and sent once a
 * connection succeeds; the pipe is tried again every second. qmgr also
 * scans the queue on a timer, so a lost notice only delays delivery.
 * Everything here runs on the loop thread.
 */
#ifndef TERN_QMGR_NOTIFY_H
#define TERN_QMGR_NOTIFY_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct qmgr_notify;

/* Starts connecting to qmgr's pipe in queue_directory. On failure
 * writes the reason into err. */
int qmgr_notify_open(uv_loop_t *loop, const char *queue_directory,
    struct qmgr_notify **out, char *err, size_t err_size);

/* Adds count newly committed messages and sends the total when the
 * pipe is connected. */
void qmgr_notify_add(struct qmgr_notify *n, uint64_t count);

/* Closes the pipe and the timer, frees n and then calls closed(arg). */
void qmgr_notify_close(struct qmgr_notify *n, void (*closed)(void *arg),
    void *arg);

#endif
