/*
 * The resolver functions libopendkim's library sources call, for the
 * Windows (mingw-w64) build; implemented in ../resolv-compat.c.
 *
 * Replaces: the BSD/glibc <resolv.h>, which mingw-w64 does not ship.
 * Why: libopendkim expands and skips compressed names in DNS replies
 * (dn_expand, dn_skipname), encodes names in its test mode (dn_comp) and
 * calls res_init() once in dkim_init(). There is no resolver library
 * behind these: queries go only through the caller's dkim_dns_set_*
 * callbacks. No privileges.
 */
#ifndef TERN_WINDOWS_RESOLV_H
#define TERN_WINDOWS_RESOLV_H

#include <arpa/nameser.h>

/* The functions carry a prefix in the object code so that they can never
 * clash with another library's resolver functions in a static link. */
#define res_init opendkim_compat_res_init
#define dn_expand opendkim_compat_dn_expand
#define dn_skipname opendkim_compat_dn_skipname
#define dn_comp opendkim_compat_dn_comp

/* Does nothing and returns 0: there is no resolver state to set up. */
int res_init(void);

/* Expands the possibly compressed name at src, inside the message
 * [msg, eom), into dst as a dotted name of at most dstsiz - 1 characters
 * (the root name as "").
 * Returns the length of the name as stored at src, or -1 if it is
 * malformed, loops, leaves the message or does not fit. */
int dn_expand(const unsigned char *msg, const unsigned char *eom,
    const unsigned char *src, char *dst, int dstsiz);

/* Returns the length of the name as stored at ptr (up to its end or its
 * first compression pointer), or -1 if it runs past eom or is malformed. */
int dn_skipname(const unsigned char *ptr, const unsigned char *eom);

/* Encodes the dotted name src into dst (length dstsiz) in wire form and
 * returns its length, or -1 if it is invalid or does not fit. Only the
 * uncompressed form exists here: dnptrs and lastdnptr must be NULL, as
 * every libopendkim call passes them. */
int dn_comp(const char *src, unsigned char *dst, int dstsiz,
    unsigned char **dnptrs, unsigned char **lastdnptr);

#endif
