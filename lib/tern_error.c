/* Descriptions for tern's error codes. */
#include "tern_error.h"

const char *
tern_strerror(int code)
{
	switch (code) {
	case TERN_OK:
		return "success";
	case TERN_ENOMEM:
		return "out of memory";
	case TERN_EINVAL:
		return "invalid argument";
	case TERN_ETOOBIG:
		return "size or count limit exceeded";
	case TERN_EIO:
		return "input/output error";
	case TERN_EDB:
		return "queue database error";
	case TERN_ENOTFOUND:
		return "not found";
	case TERN_ETEMP:
		return "temporary failure";
	case TERN_EPERM:
		return "permission denied";
	case TERN_ESCHEMA:
		return "unsupported queue schema version";
	case TERN_ECONFIG:
		return "configuration error";
	case TERN_ETLS:
		return "TLS error";
	case TERN_ECLOSED:
		return "connection closed by peer";
	}
	return "unknown error";
}
