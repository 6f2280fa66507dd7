/*
 * deliver's side of IPC_JOB and IPC_JOB_RESULT (layouts in ipc.h):
 * reading a job from qmgr with every field checked against its bound,
 * and writing a finished job's result. Used by deliver only.
 */
#ifndef TERN_DELIVER_IPC_H
#define TERN_DELIVER_IPC_H

#include <stddef.h>

#include "deliver_job.h"
#include "ipc.h"

/*
 * Reads an IPC_JOB message into a new job whose content may grow to
 * content_max. Returns 0, TERN_EINVAL for a malformed message (a field
 * past its bound, an unknown RET or NOTIFY bit, no recipient, bytes
 * left over) or TERN_ENOMEM.
 */
int deliver_ipc_read_job(struct ipc_reader *r, size_t content_max,
    struct deliver_job **out);

/*
 * Writes IPC_JOB_RESULT for a finished job. Reply and diagnostic texts
 * are cut so that the frame stays within IPC_FRAME_MAX whatever the
 * number of recipients.
 */
int deliver_ipc_write_result(struct ipc_writer *w,
    const struct deliver_job *job);

#endif
