/*
 * The header fields that a locally submitted message gets when it lacks
 * them: Date, Message-ID and From (RFC 5322 3.6 requires Date and From
 * and recommends Message-ID), written as sendmail writes them.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <uv.h>

#include "../lib/tern_error.h"
#include "local_message_internal.h"

/* A full name longer than this is rejected, so the From field stays
 * well under the 998-octet line limit once encoded. */
#define FULL_NAME_MAX 256

/* Input bytes per RFC 2047 encoded word: 45 bytes give 60 base64
 * characters, and with "=?UTF-8?B?" and "?=" the word stays within the
 * 75 characters RFC 2047 2 allows. */
#define ENCODED_CHUNK 45

int
local_field_date(struct buf *out, int64_t now)
{
	static const char days[7][4] = {
		"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"
	};
	static const char months[12][4] = {
		"Jan", "Feb", "Mar", "Apr", "May", "Jun",
		"Jul", "Aug", "Sep", "Oct", "Nov", "Dec"
	};
	time_t seconds = (time_t)now;
	struct tm tm;

	/* NOTE: gmtime_s on Windows. The names come from tables because
	 * strftime's %a and %b follow the locale. */
	if (gmtime_r(&seconds, &tm) == NULL || tm.tm_wday < 0 ||
	    tm.tm_wday > 6 || tm.tm_mon < 0 || tm.tm_mon > 11)
		return TERN_EINVAL;
	/* RFC 5322 3.3 date-time; UTC is written "+0000". */
	return buf_printf(out, "Date: %s, %02d %s %04d %02d:%02d:%02d +0000\r\n",
	    days[tm.tm_wday], tm.tm_mday, months[tm.tm_mon],
	    tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

int
local_field_message_id(struct buf *out, const char *hostname)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char random[16];
	char text[2 * sizeof(random) + 1];
	size_t i;

	/* A synchronous uv_random() (no loop) reads the system's CSPRNG:
	 * 128 random bits make a repeated id vanishingly unlikely. */
	if (uv_random(NULL, NULL, random, sizeof(random), 0, NULL) != 0)
		return TERN_ETEMP;
	for (i = 0; i < sizeof(random); i++) {
		text[2 * i] = hex[random[i] >> 4];
		text[2 * i + 1] = hex[random[i] & 15];
	}
	text[2 * sizeof(random)] = '\0';
	return buf_printf(out, "Message-ID: <%s@%s>\r\n", text, hostname);
}

static int
append_base64(struct buf *out, const unsigned char *p, size_t n)
{
	static const char alphabet[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char quad[4];
	size_t i;
	int rc;

	for (i = 0; i < n; i += 3) {
		unsigned long v = (unsigned long)p[i] << 16;

		if (i + 1 < n)
			v |= (unsigned long)p[i + 1] << 8;
		if (i + 2 < n)
			v |= p[i + 2];
		quad[0] = alphabet[(v >> 18) & 63];
		quad[1] = alphabet[(v >> 12) & 63];
		quad[2] = i + 1 < n ? alphabet[(v >> 6) & 63] : '=';
		quad[3] = i + 2 < n ? alphabet[v & 63] : '=';
		rc = buf_append(out, quad, 4);
		if (rc != TERN_OK)
			return rc;
	}
	return TERN_OK;
}

/*
 * Writes a non-ASCII name as RFC 2047 encoded words, folded onto
 * continuation lines. Each word ends on a UTF-8 character boundary, as
 * RFC 2047 5 requires of a multi-byte charset.
 * NOTE: the name is labelled UTF-8 without a check that it is.
 */
static int
append_encoded_name(struct buf *out, const unsigned char *name, size_t len)
{
	size_t i = 0;
	int rc = TERN_OK;

	while (rc == TERN_OK && i < len) {
		size_t n = len - i < ENCODED_CHUNK ? len - i : ENCODED_CHUNK;

		while (n > 1 && i + n < len && (name[i + n] & 0xc0) == 0x80)
			n--;
		if (i > 0)
			rc = buf_append_str(out, "\r\n ");
		if (rc == TERN_OK)
			rc = buf_append_str(out, "=?UTF-8?B?");
		if (rc == TERN_OK)
			rc = append_base64(out, name + i, n);
		if (rc == TERN_OK)
			rc = buf_append_str(out, "?=");
		i += n;
	}
	return rc;
}

/* Writes an ASCII name as a phrase: bare when it is atoms and spaces,
 * else as a quoted string. */
static int
append_ascii_name(struct buf *out, const char *name)
{
	size_t i;
	bool plain = name[0] != ' ';
	int rc;

	for (i = 0; name[i] != '\0'; i++) {
		unsigned char ch = (unsigned char)name[i];

		if (ch != ' ' && !((ch >= 'a' && ch <= 'z') ||
		    (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
		    strchr("!#$%&'*+-/=?^_`{|}~", ch) != NULL))
			plain = false;
	}
	if (i > 0 && name[i - 1] == ' ')
		plain = false;
	if (plain)
		return buf_append_str(out, name);

	rc = buf_append(out, "\"", 1);
	for (i = 0; rc == TERN_OK && name[i] != '\0'; i++) {
		if (name[i] == '"' || name[i] == '\\')
			rc = buf_append(out, "\\", 1);
		if (rc == TERN_OK)
			rc = buf_append(out, &name[i], 1);
	}
	if (rc == TERN_OK)
		rc = buf_append(out, "\"", 1);
	return rc;
}

int
local_field_from(struct buf *out, const char *full_name,
    const char *address, char *err, size_t err_size)
{
	const unsigned char *p = (const unsigned char *)full_name;
	bool ascii = true;
	size_t len, i;
	int rc;

	if (full_name == NULL || full_name[0] == '\0')
		return buf_printf(out, "From: %s\r\n", address);

	len = strlen(full_name);
	if (len > FULL_NAME_MAX) {
		snprintf(err, err_size, "full name longer than %d octets",
		    FULL_NAME_MAX);
		return TERN_EINVAL;
	}
	for (i = 0; i < len; i++) {
		/* A CR or LF would let the name add header fields. */
		if (p[i] < 32 || p[i] == 127) {
			snprintf(err, err_size, "full name contains the "
			    "control character 0x%02x", p[i]);
			return TERN_EINVAL;
		}
		if (p[i] >= 128)
			ascii = false;
	}

	rc = buf_append_str(out, "From: ");
	if (rc == TERN_OK)
		rc = ascii ? append_ascii_name(out, full_name) :
		    append_encoded_name(out, p, len);
	if (rc == TERN_OK)
		rc = buf_printf(out, " <%s>\r\n", address);
	return rc;
}
