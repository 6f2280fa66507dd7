/*
 * Length-prefixed messages over libuv pipes; see ipc.h for the format.
 *
 * The peer is another tern process, but a frame is still checked like
 * network input: a length over IPC_FRAME_MAX or a field that runs past
 * the frame closes the channel instead of being trusted.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _WIN32
#include <io.h>
#endif

#include <openssl/crypto.h>

#include "../lib/log.h"
#include "../lib/platform_file.h"
#ifdef _WIN32
#include "../lib/platform_wide.h"
#endif
#include "../lib/tern_error.h"
#include "ipc.h"

#define IPC_HEADER_SIZE 4
#define IPC_TYPE_SIZE 2

static void
put_be32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

static uint32_t
get_be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

int
ipc_writer_begin(struct ipc_writer *w, enum ipc_type type)
{
	unsigned char header[IPC_HEADER_SIZE + IPC_TYPE_SIZE] = {0};

	if (w->frame.max == 0)
		buf_init(&w->frame, IPC_FRAME_MAX + IPC_HEADER_SIZE);
	buf_reset(&w->frame);
	header[4] = (unsigned char)((unsigned)type >> 8);
	header[5] = (unsigned char)type;
	return buf_append(&w->frame, header, sizeof(header));
}

int
ipc_put_u64(struct ipc_writer *w, uint64_t value)
{
	unsigned char bytes[8];
	int i;

	for (i = 7; i >= 0; i--) {
		bytes[i] = (unsigned char)value;
		value >>= 8;
	}
	return buf_append(&w->frame, bytes, sizeof(bytes));
}

int
ipc_put_bytes(struct ipc_writer *w, const void *data, size_t len)
{
	unsigned char header[4];
	int rc;

	if (len > IPC_FRAME_MAX)
		return TERN_ETOOBIG;
	put_be32(header, (uint32_t)len);
	rc = buf_append(&w->frame, header, sizeof(header));
	if (rc == TERN_OK)
		rc = buf_append(&w->frame, data, len);
	return rc;
}

int
ipc_put_str(struct ipc_writer *w, const char *s)
{
	return ipc_put_bytes(w, s, strlen(s));
}

void
ipc_writer_free(struct ipc_writer *w)
{
	if (w->secret && w->frame.data != NULL)
		OPENSSL_cleanse(w->frame.data, w->frame.cap);
	buf_free(&w->frame);
	w->frame.max = 0;
}

uint64_t
ipc_get_u64(struct ipc_reader *r)
{
	uint64_t value = 0;
	size_t i;

	if (r->error != 0 || r->len - r->pos < 8) {
		r->error = TERN_EINVAL;
		return 0;
	}
	for (i = 0; i < 8; i++)
		value = value << 8 | r->data[r->pos + i];
	r->pos += 8;
	return value;
}

int
ipc_get_exact(struct ipc_reader *r, void *out, size_t len)
{
	uint32_t field_len;

	if (r->error != 0 || r->len - r->pos < 4) {
		r->error = TERN_EINVAL;
		return r->error;
	}
	field_len = get_be32(r->data + r->pos);
	if (field_len != len || len > r->len - r->pos - 4) {
		r->error = TERN_EINVAL;
		return r->error;
	}
	memcpy(out, r->data + r->pos + 4, len);
	r->pos += 4 + len;
	return TERN_OK;
}

const unsigned char *
ipc_get_view(struct ipc_reader *r, size_t *len)
{
	uint32_t field_len;
	const unsigned char *field;

	*len = 0;
	if (r->error != 0 || r->len - r->pos < 4) {
		r->error = TERN_EINVAL;
		return NULL;
	}
	field_len = get_be32(r->data + r->pos);
	if (field_len > r->len - r->pos - 4) {
		r->error = TERN_EINVAL;
		return NULL;
	}
	field = r->data + r->pos + 4;
	r->pos += 4 + (size_t)field_len;
	*len = field_len;
	return field;
}

void
ipc_reader_wipe(struct ipc_reader *r)
{
	OPENSSL_cleanse((unsigned char *)r->data, r->len);
}

const char *
ipc_get_str(struct ipc_reader *r, char *out, size_t out_size)
{
	uint32_t len;

	if (out_size > 0)
		out[0] = '\0';
	if (r->error != 0 || r->len - r->pos < 4) {
		r->error = TERN_EINVAL;
		return NULL;
	}
	len = get_be32(r->data + r->pos);
	if (len > r->len - r->pos - 4 || len >= out_size ||
	    memchr(r->data + r->pos + 4, '\0', len) != NULL) {
		r->error = TERN_EINVAL;
		return NULL;
	}
	memcpy(out, r->data + r->pos + 4, len);
	out[len] = '\0';
	r->pos += 4 + (size_t)len;
	return out;
}

int
ipc_reader_finish(struct ipc_reader *r)
{
	if (r->error != 0)
		return r->error;
	return r->pos == r->len ? TERN_OK : TERN_EINVAL;
}

static void
alloc_cb(uv_handle_t *handle, size_t suggested, uv_buf_t *out)
{
	(void)handle;
	(void)suggested;
	out->base = malloc(65536);
	out->len = out->base != NULL ? 65536 : 0;
}

/* Inbox room kept between frames; more is freed once the inbox is
 * empty. */
#define IPC_INBOX_KEEP (256 * 1024)

/* Calls on_message for every complete frame in the inbox. */
static int
dispatch_frames(struct ipc_channel *ch)
{
	while (!ch->closing && ch->inbox.len >= IPC_HEADER_SIZE) {
		uint32_t len = get_be32(ch->inbox.data);
		struct ipc_reader r;
		enum ipc_type type;

		if (len < IPC_TYPE_SIZE || len > IPC_FRAME_MAX)
			return TERN_EINVAL;
		if (ch->inbox.len < IPC_HEADER_SIZE + (size_t)len)
			break;
		type = (enum ipc_type)(ch->inbox.data[4] << 8 |
		    ch->inbox.data[5]);
		r.data = ch->inbox.data + IPC_HEADER_SIZE + IPC_TYPE_SIZE;
		r.len = len - IPC_TYPE_SIZE;
		r.pos = 0;
		r.error = 0;
		ch->on_message(ch, type, &r);
		if (ch->closing)
			break;
		buf_consume(&ch->inbox, IPC_HEADER_SIZE + (size_t)len);
	}
	/* A configuration frame is most of a megabyte and comes rarely;
	 * the room it took is given back instead of being kept for the
	 * small frames that follow. */
	if (!ch->closing && ch->inbox.len == 0 &&
	    ch->inbox.cap > IPC_INBOX_KEEP) {
		buf_free(&ch->inbox);
		buf_init(&ch->inbox, IPC_FRAME_MAX + IPC_HEADER_SIZE);
	}
	return TERN_OK;
}

static void
read_cb(uv_stream_t *stream, ssize_t nread, const uv_buf_t *b)
{
	struct ipc_channel *ch = stream->data;

	if (nread < 0) {
		free(b->base);
		if (nread != UV_EOF)
			log_warning("ipc: read failed: %s",
			    uv_strerror((int)nread));
		ipc_channel_close(ch);
		return;
	}
	if (nread > 0 && buf_append(&ch->inbox, b->base, (size_t)nread) !=
	    TERN_OK) {
		free(b->base);
		log_error("ipc: message larger than %d bytes; closing the "
		    "pipe", IPC_FRAME_MAX);
		ipc_channel_close(ch);
		return;
	}
	/* The chunk may hold part of an IPC_SECRETS frame. */
	OPENSSL_cleanse(b->base, (size_t)nread);
	free(b->base);
	if (dispatch_frames(ch) != TERN_OK) {
		log_error("ipc: malformed frame length; closing the pipe");
		ipc_channel_close(ch);
	}
}

int
ipc_channel_start(struct ipc_channel *ch, ipc_message_cb on_message,
    ipc_close_cb on_close)
{
	buf_init(&ch->inbox, IPC_FRAME_MAX + IPC_HEADER_SIZE);
	ch->on_message = on_message;
	ch->on_close = on_close;
	ch->closing = 0;
	ch->pipe.data = ch;
	return uv_read_start((uv_stream_t *)&ch->pipe, alloc_cb, read_cb);
}

struct ipc_write {
	uv_write_t req;
	unsigned char *frame;
	size_t len;
	bool wipe;                 /* the frame contains secrets */
	struct ipc_channel *channel;
};

/* Frees a sent frame. A failed write closes the channel, so the owner
 * learns at once that the peer is gone instead of waiting for a read. */
static void
write_cb(uv_write_t *req, int status)
{
	struct ipc_write *w = (struct ipc_write *)req;

	if (status < 0 && status != UV_ECANCELED) {
		log_warning("ipc: write failed: %s; closing the pipe",
		    uv_strerror(status));
		ipc_channel_close(w->channel);
	}
	if (w->wipe)
		OPENSSL_cleanse(w->frame, w->len);
	free(w->frame);
	free(w);
}

int
ipc_channel_send(struct ipc_channel *ch, struct ipc_writer *w,
    uv_stream_t *send_handle)
{
	struct ipc_write *req;
	uv_buf_t b;
	int rc;

	if (ch->closing)
		return TERN_ECLOSED;
	if (w->frame.len < IPC_HEADER_SIZE + IPC_TYPE_SIZE)
		return TERN_EINVAL;
	put_be32(w->frame.data, (uint32_t)(w->frame.len - IPC_HEADER_SIZE));

	req = calloc(1, sizeof(*req));
	if (req == NULL)
		return TERN_ENOMEM;
	req->frame = malloc(w->frame.len);
	if (req->frame == NULL) {
		free(req);
		return TERN_ENOMEM;
	}
	memcpy(req->frame, w->frame.data, w->frame.len);
	req->len = w->frame.len;
	req->wipe = w->secret;
	req->channel = ch;
	b = uv_buf_init((char *)req->frame, (unsigned int)w->frame.len);
	if (send_handle != NULL)
		rc = uv_write2(&req->req, (uv_stream_t *)&ch->pipe, &b, 1,
		    send_handle, write_cb);
	else
		rc = uv_write(&req->req, (uv_stream_t *)&ch->pipe, &b, 1,
		    write_cb);
	if (rc != 0) {
		if (req->wipe)
			OPENSSL_cleanse(req->frame, req->len);
		free(req->frame);
		free(req);
		return TERN_EIO;
	}
	return TERN_OK;
}

static void
close_cb(uv_handle_t *handle)
{
	struct ipc_channel *ch = handle->data;

	buf_free(&ch->inbox);
	if (ch->on_close != NULL)
		ch->on_close(ch);
}

void
ipc_channel_close(struct ipc_channel *ch)
{
	if (ch->closing)
		return;
	ch->closing = 1;
	ch->pipe.data = ch;
	if (!uv_is_closing((uv_handle_t *)&ch->pipe))
		uv_close((uv_handle_t *)&ch->pipe, close_cb);
}

#define IPC_QMGR_PIPE_PREFIX "\\\\.\\pipe\\tern-qmgr-"
#define IPC_QMGR_PIPE_RANDOM_BYTES 16

#ifndef _WIN32
/* DIR/qmgr.sock: the socket in the queue folder, which only the queue's
 * owner may enter, so its name needs no secret part. */
static int
unix_socket_name(const char *queue_directory, char *out, size_t out_size)
{
	int n = snprintf(out, out_size, "%s/qmgr.sock", queue_directory);

	if (n < 0 || (size_t)n >= out_size)
		return TERN_ETOOBIG;
	/* sun_path holds 108 bytes on Linux and 104 on the BSDs; libuv would
	 * cut a longer name, so reject it here with a clear error. */
	if (n >= 104)
		return TERN_ETOOBIG;
	return TERN_OK;
}
#else
/* DIR\qmgr-pipe-name, the file that stores the pipe's name. */
static int
name_file_path(const char *queue_directory, const char *suffix, char *out,
    size_t out_size)
{
	int n = snprintf(out, out_size, "%s\\%s%s", queue_directory,
	    IPC_QMGR_PIPE_NAME_FILE, suffix);

	if (n < 0 || (size_t)n >= out_size)
		return TERN_ETOOBIG;
	return TERN_OK;
}
#endif

/* fopen() and remove() with a UTF-8 path: the narrow C runtime calls on
 * Windows take the ANSI code page, so the wide ones are used there. */
static FILE *
open_utf8_for_reading(const char *path)
{
#ifdef _WIN32
	wchar_t *wide = platform_utf8_to_wide(path);
	FILE *f;

	if (wide == NULL) {
		errno = EINVAL;
		return NULL;
	}
	f = _wfopen(wide, L"rb");
	free(wide);
	return f;
#else
	return fopen(path, "rb");
#endif
}

#ifdef _WIN32
static int
remove_utf8(const char *path)
{
	wchar_t *wide = platform_utf8_to_wide(path);
	int rc;

	if (wide == NULL) {
		errno = EINVAL;
		return -1;
	}
	rc = _wremove(wide);
	free(wide);
	return rc;
}
#endif

int
ipc_pipe_name_file_read(const char *path, char *out, size_t out_size)
{
	char line[128];
	size_t prefix_len = strlen(IPC_QMGR_PIPE_PREFIX);
	size_t len, i;
	FILE *f;

	f = open_utf8_for_reading(path);
	if (f == NULL)
		return errno == ENOENT ? TERN_ENOTFOUND : TERN_EIO;
	len = fread(line, 1, sizeof(line) - 1, f);
	if (ferror(f)) {
		fclose(f);
		return TERN_EIO;
	}
	fclose(f);
	line[len] = '\0';
	if (len > 0 && line[len - 1] == '\n')
		line[--len] = '\0';
	if (len > 0 && line[len - 1] == '\r')
		line[--len] = '\0';
	if (len != prefix_len + 2 * IPC_QMGR_PIPE_RANDOM_BYTES ||
	    strncmp(line, IPC_QMGR_PIPE_PREFIX, prefix_len) != 0)
		return TERN_EINVAL;
	for (i = prefix_len; i < len; i++) {
		if (strchr("0123456789abcdef", line[i]) == NULL ||
		    line[i] == '\0')
			return TERN_EINVAL;
	}
	if (len >= out_size)
		return TERN_ETOOBIG;
	memcpy(out, line, len + 1);
	return TERN_OK;
}

int
ipc_qmgr_pipe_name(const char *queue_directory, char *out, size_t out_size)
{
#ifdef _WIN32
	char path[1024];
	int rc = name_file_path(queue_directory, "", path, sizeof(path));

	if (rc != TERN_OK)
		return rc;
	return ipc_pipe_name_file_read(path, out, out_size);
#else
	return unix_socket_name(queue_directory, out, out_size);
#endif
}

int
ipc_qmgr_pipe_name_new(const char *queue_directory, char *out,
    size_t out_size)
{
#ifdef _WIN32
	unsigned char random[IPC_QMGR_PIPE_RANDOM_BYTES];
	char hex[2 * IPC_QMGR_PIPE_RANDOM_BYTES + 1];
	size_t i;
	int n;

	(void)queue_directory;
	/* Without a callback uv_random (libuv 1.33 or later) fills the
	 * buffer at once from the system's entropy source. */
	if (uv_random(NULL, NULL, random, sizeof(random), 0, NULL) != 0)
		return TERN_EIO;
	for (i = 0; i < sizeof(random); i++)
		snprintf(hex + 2 * i, 3, "%02x", random[i]);
	n = snprintf(out, out_size, "%s%s", IPC_QMGR_PIPE_PREFIX, hex);
	if (n < 0 || (size_t)n >= out_size)
		return TERN_ETOOBIG;
	return TERN_OK;
#else
	return unix_socket_name(queue_directory, out, out_size);
#endif
}

int
ipc_qmgr_pipe_publish(const char *queue_directory, const char *name)
{
#ifdef _WIN32
	char path[1024], temporary[1040];
	size_t len = strlen(name);
	int fd, saved;

	if (name_file_path(queue_directory, "", path, sizeof(path)) !=
	    TERN_OK || name_file_path(queue_directory, ".tmp", temporary,
	    sizeof(temporary)) != TERN_OK) {
		errno = ENAMETOOLONG;
		return TERN_EIO;
	}
	/* A temporary file left by a qmgr that stopped half-way is stale,
	 * because only one qmgr runs per queue (ternd holds the queue
	 * lock). */
	if (remove_utf8(temporary) != 0 && errno != ENOENT)
		return TERN_EIO;
	fd = platform_file_create_private(temporary);
	if (fd < 0)
		return TERN_EIO;
	if (_write(fd, name, (unsigned int)len) != (int)len ||
	    _write(fd, "\n", 1) != 1 || platform_fsync(fd) != 0) {
		saved = errno;
		_close(fd);
		remove_utf8(temporary);
		errno = saved;
		return TERN_EIO;
	}
	if (_close(fd) != 0 || platform_rename_replace(temporary, path) != 0) {
		saved = errno;
		remove_utf8(temporary);
		errno = saved;
		return TERN_EIO;
	}
	return TERN_OK;
#else
	(void)queue_directory;
	(void)name;
	return TERN_OK;
#endif
}
