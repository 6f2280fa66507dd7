/*
 * Pieces shared by the files that read a local message: the address
 * checks of local_address.c and the added fields of local_fields.c.
 */
#ifndef TERN_LOCAL_MESSAGE_INTERNAL_H
#define TERN_LOCAL_MESSAGE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../lib/buf.h"
#include "local_message.h"

/* RFC 5321 4.5.3.1.1 and 4.5.3.1.2. */
#define LOCAL_PART_MAX 64
#define LOCAL_DOMAIN_MAX 255

/*
 * Returns the offset of the "@" that separates the local part of a
 * normalized address (as local_message_parse_addresses() returns it)
 * from its domain, or strlen(address) when it has no domain.
 */
size_t local_address_at(const char *address);

/*
 * local_message_parse_addresses(), which also sets *domain_error when
 * the address that failed has an invalid domain (so sendmail can exit
 * EX_NOHOST rather than EX_NOUSER).
 */
int local_address_parse_list(const char *value, char ***out,
    size_t *count, size_t max, char *err, size_t err_size,
    bool *domain_error);

/* Returns whether text[0..len) is a valid RFC 5321 Domain. */
bool local_domain_valid(const char *text, size_t len);

/*
 * Appends value[0..len), the text of an address field after its colon
 * (folds as CRLF and white space), to out with "@" and hostname added to
 * each address that has no domain; see local_header_qualify.c. A
 * hostname that is NULL or not a valid domain changes nothing. Returns
 * TERN_OK, or TERN_ENOMEM or TERN_ETOOBIG from out.
 */
int local_header_qualify(const unsigned char *value, size_t len,
    const char *hostname, struct buf *out);

/*
 * Appends "From: ", "Date: " and "Message-ID: " fields (each with CRLF)
 * to out. These return TERN_OK, TERN_EINVAL with the reason in err,
 * TERN_ETOOBIG, TERN_ENOMEM, or TERN_ETEMP when the system has no
 * random bytes to give.
 */
int local_field_from(struct buf *out, const char *full_name,
    const char *address, char *err, size_t err_size);
int local_field_date(struct buf *out, int64_t now);
int local_field_message_id(struct buf *out, const char *hostname);

#endif
