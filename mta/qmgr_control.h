/*
 * qmgr's side of the control pipe: the operator's queue operations
 * (IPC_CONTROL_OP) and the list of messages being delivered
 * (IPC_CONTROL_ACTIVE), sent by `tern queue` over qmgr's pipe. qmgr_main.c
 * owns the connections and passes each control message in here.
 */
#ifndef TERN_QMGR_CONTROL_H
#define TERN_QMGR_CONTROL_H

#include "ipc.h"

struct qmgr;
struct qmgr_control_client;

/*
 * Handles a control message on channel. *client is NULL before the
 * connection's first control message and is set then; pass it back with
 * each later one. Returns TERN_EINVAL when the message is malformed or
 * breaks the protocol (the caller closes the connection), or TERN_ENOMEM.
 */
int qmgr_control_message(struct qmgr *qm, struct ipc_channel *channel,
    struct qmgr_control_client **client, enum ipc_type type,
    struct ipc_reader *r);

/*
 * Forgets a control connection that closed (client may be NULL). The
 * part of its request that runs on the database now still completes and
 * is logged; the queue ids not yet started are dropped.
 */
void qmgr_control_closed(struct qmgr *qm, struct qmgr_control_client *client);

#endif
