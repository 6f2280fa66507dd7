/*
 * DMARC identifier alignment (RFC 7489 3.1 and 3.2): whether the domain
 * that SPF or DKIM authenticated counts for the domain of the From
 * header. Organizational domains come from the Public Suffix List
 * through libpsl: the newest of the list libpsl was built with and the
 * one installed on the system (Debian's publicsuffix package).
 */
#ifndef TERN_DMARC_ALIGN_H
#define TERN_DMARC_ALIGN_H

#include <stdbool.h>
#include <stddef.h>

#include "dmarc_record.h"

/*
 * Writes the organizational domain of domain (its registrable domain:
 * one label more than its public suffix, "example.co.uk" for
 * "mail.example.co.uk") into out, in lower case without a final dot.
 * A domain that is itself a public suffix is its own organizational
 * domain (RFC 7489 3.2 step 4). Returns 0, or TERN_EINVAL when out is
 * too small or the Public Suffix List cannot be loaded.
 */
int dmarc_organizational_domain(const char *domain, char *out,
    size_t out_size);

/*
 * True when authenticated (the SPF domain or a DKIM d=) is aligned with
 * from_domain: equal ignoring case and a final dot in strict mode, with
 * the same organizational domain in relaxed mode.
 */
bool dmarc_aligned(const char *authenticated, const char *from_domain,
    enum dmarc_alignment mode);

#endif
