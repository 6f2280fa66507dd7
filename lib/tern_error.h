/*
 * Error codes shared by every part of tern.
 *
 * A function returns 0 on success or one of these negative codes. Code
 * that has more detail for the operator (a file name, a reply from a peer)
 * puts it in a message buffer supplied by the caller; the code itself only
 * says which kind of failure happened, so callers can branch on it.
 */
#ifndef TERN_ERROR_H
#define TERN_ERROR_H

enum tern_error {
	TERN_OK = 0,
	TERN_ENOMEM = -1,    /* allocation failed */
	TERN_EINVAL = -2,    /* invalid argument or malformed input */
	TERN_ETOOBIG = -3,   /* a size or count limit was reached */
	TERN_EIO = -4,       /* operating system I/O error */
	TERN_EDB = -5,       /* queue database error */
	TERN_ENOTFOUND = -6, /* the requested object does not exist */
	TERN_ETEMP = -7,     /* temporary failure: try again later */
	TERN_EPERM = -8,     /* permission denied */
	TERN_ESCHEMA = -9,   /* queue written by an unknown schema version */
	TERN_ECONFIG = -10,  /* configuration error */
	TERN_ETLS = -11,     /* TLS handshake or record error */
	TERN_ECLOSED = -12,  /* the peer closed the connection */
};

/* Returns a short English description of a tern error code. */
const char *tern_strerror(int code);

#endif
