/*
 * The command line's side of the control pipe: `tern queue`, `mailq`
 * and `sendmail -q` ask the running qmgr to act on messages, or to say
 * which ones it is delivering (the messages are in mta/ipc.h). The
 * calls block: each runs a private libuv loop until qmgr answers.
 */
#ifndef TERN_CONTROL_H
#define TERN_CONTROL_H

#include <stdbool.h>
#include <stddef.h>

#include "../queue/queue_admin.h"

struct tern_control;

/* Room for a FLUSH's domain on both ends of the pipe, NUL included
 * (RFC 1035 2.3.4: a name has at most 255 octets). */
#define TERN_CONTROL_DOMAIN_SIZE 256

/*
 * Connects to the qmgr serving queue_directory. Returns TERN_OK,
 * TERN_ENOTFOUND when no qmgr listens there (ternd is stopped: act on
 * the database directly), TERN_EPERM when this user may not connect
 * (err names the folder), or TERN_EIO.
 */
int tern_control_connect(const char *queue_directory,
    struct tern_control **out, char *err, size_t err_size);

/*
 * Asks qmgr to apply op to the messages ids[0..count) (any number: the
 * list is sent in parts of IPC_CONTROL_IDS_MAX), or for FLUSH to a
 * destination (domain not NULL) or every one (all). item_cb gets each
 * IPC_CONTROL_ITEM as it arrives. Returns TERN_OK, the error qmgr gave
 * for the request (err says why), or TERN_EIO when the connection broke
 * (the operation's state is then unknown for the items not reported).
 */
int tern_control_apply(struct tern_control *c, enum queue_admin_op op,
    const char *domain, bool all, const char *const *ids, size_t count,
    void (*item_cb)(const struct queue_admin_item *item, void *arg),
    void *arg, char *err, size_t err_size);

/* Calls id_cb with the queue id of each message being delivered now. */
int tern_control_active(struct tern_control *c,
    void (*id_cb)(const char *queue_id, void *arg), void *arg,
    char *err, size_t err_size);

/* Sends IPC_QUEUE_NEW (new messages were inserted by this process), so
 * qmgr scans at once; without it they wait for qmgr's next scan. */
int tern_control_notify_new(struct tern_control *c, size_t count);

void tern_control_close(struct tern_control *c);

#endif
