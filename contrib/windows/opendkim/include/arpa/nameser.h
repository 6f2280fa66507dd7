/*
 * The subset of the BSD resolver header <arpa/nameser.h> that libopendkim's
 * library sources use, for the Windows (mingw-w64) build.
 *
 * Replaces: the system header of glibc/BIND, which mingw-w64 does not ship.
 * Why: libopendkim parses DNS replies itself (RFC 1035 4.1 message format),
 * so it needs the record type and class numbers, the fixed header layout
 * and the GETSHORT/GETLONG/PUTSHORT byte-order macros. Its DNS queries go
 * through the caller's dkim_dns_set_* callbacks only; see dkim-dns-none.c.
 * No privileges; compile-time definitions only.
 */
#ifndef TERN_WINDOWS_ARPA_NAMESER_H
#define TERN_WINDOWS_ARPA_NAMESER_H

#include <stdint.h>
#include <sys/types.h>

/* libopendkim selects char * as the dn_expand() output type for resolver
 * versions from this date on, as for glibc (whose value this is). */
#define __RES 19991006

/* Sizes in octets (RFC 1035 4.1). */
#define HFIXEDSZ 12             /* message header */
#define QFIXEDSZ 4              /* question: type and class */
#define INT16SZ 2
#define INT32SZ 4
#define MAXDNAME 1025           /* presentation form, with the final NUL */
#define MAXCDNAME 255           /* wire form of a name (RFC 1035 2.3.4) */
#define MAXLABEL 63             /* one label (RFC 1035 2.3.4) */

/* Classes and types (RFC 1035 3.2.2 and 3.2.4, RFC 3596, RFC 4034). */
#define C_IN 1
#define T_A 1
#define T_NS 2
#define T_CNAME 5
#define T_SOA 6
#define T_PTR 12
#define T_MX 15
#define T_TXT 16
#define T_AAAA 28
#define T_RRSIG 46

/* Response codes (RFC 1035 4.1.1). */
#define NOERROR 0
#define FORMERR 1
#define SERVFAIL 2
#define NXDOMAIN 3
#define NOTIMP 4
#define REFUSED 5

/*
 * The fixed message header (RFC 1035 4.1.1), laid over a reply buffer.
 * Bit-fields are allocated from the least significant bit on x86-64 and
 * ARM64 Windows, both little-endian, so each flag byte lists its bits from
 * bit 0 up; the static assertion below checks the size. The id and count
 * fields keep network byte order, so readers apply ntohs() as on BSD.
 */
typedef struct {
	unsigned id :16;
	unsigned rd :1;
	unsigned tc :1;
	unsigned aa :1;
	unsigned opcode :4;
	unsigned qr :1;
	unsigned rcode :4;
	unsigned cd :1;
	unsigned ad :1;
	unsigned unused :1;
	unsigned ra :1;
	unsigned qdcount :16;
	unsigned ancount :16;
	unsigned nscount :16;
	unsigned arcount :16;
} HEADER;

_Static_assert(sizeof(HEADER) == HFIXEDSZ,
    "HEADER must match the 12-octet DNS message header");

/* Read or write a 16-bit or 32-bit big-endian value at cp and advance cp
 * past it, as the BSD macros of the same names do. */
#define GETSHORT(s, cp) do { \
	const unsigned char *getshort_p = (const unsigned char *)(cp); \
	(s) = (uint16_t)((getshort_p[0] << 8) | getshort_p[1]); \
	(cp) += INT16SZ; \
} while (0)

#define GETLONG(l, cp) do { \
	const unsigned char *getlong_p = (const unsigned char *)(cp); \
	(l) = ((uint32_t)getlong_p[0] << 24) | \
	    ((uint32_t)getlong_p[1] << 16) | \
	    ((uint32_t)getlong_p[2] << 8) | (uint32_t)getlong_p[3]; \
	(cp) += INT32SZ; \
} while (0)

#define PUTSHORT(s, cp) do { \
	unsigned char *putshort_p = (unsigned char *)(cp); \
	putshort_p[0] = (unsigned char)(((uint16_t)(s)) >> 8); \
	putshort_p[1] = (unsigned char)(s); \
	(cp) += INT16SZ; \
} while (0)

#define PUTLONG(l, cp) do { \
	unsigned char *putlong_p = (unsigned char *)(cp); \
	putlong_p[0] = (unsigned char)(((uint32_t)(l)) >> 24); \
	putlong_p[1] = (unsigned char)(((uint32_t)(l)) >> 16); \
	putlong_p[2] = (unsigned char)(((uint32_t)(l)) >> 8); \
	putlong_p[3] = (unsigned char)(l); \
	(cp) += INT32SZ; \
} while (0)

#endif
