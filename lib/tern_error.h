/*
 * Error codes shared by every part of tern.
 *
 * They start at -1001 so they never collide with libuv's negated errno
 * values (UV_EAGAIN is -11 on Linux), which travel through the same
 * status arguments in the connection code.
 *
 * A function returns 0 on success or one of these negative codes. Code
 * that has more detail for the operator (a file name, a reply from a peer)
 * puts it in a message buffer supplied by the caller; the code itself only
 * tells which kind of failure happened, so callers can branch on it.
 */
#ifndef TERN_ERROR_H
#define TERN_ERROR_H

enum tern_error {
	TERN_OK = 0,
	TERN_ENOMEM = -1001,    /* allocation failed */
	TERN_EINVAL = -1002,    /* invalid argument or malformed input */
	TERN_ETOOBIG = -1003,   /* a size or count limit was reached */
	TERN_EIO = -1004,       /* operating system I/O error */
	TERN_EDB = -1005,       /* queue database error */
	TERN_ENOTFOUND = -1006, /* the requested object does not exist */
	TERN_ETEMP = -1007,     /* temporary failure: try again later */
	TERN_EPERM = -1008,     /* permission denied */
	TERN_ESCHEMA = -1009,   /* queue written by an unknown schema version */
	TERN_ECONFIG = -1010,   /* configuration error */
	TERN_ETLS = -1011,      /* TLS handshake or record error */
	TERN_ECLOSED = -1012,   /* the peer closed the connection */
};

/* Returns a short English description of a tern error code. */
const char *tern_strerror(int code);

#endif
