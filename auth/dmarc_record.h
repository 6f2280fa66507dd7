/*
 * DMARC policy records (RFC 7489 6.3): the TXT record at
 * _dmarc.<domain>. Only the tags that decide how a receiver treats mail
 * are kept (v, p, sp, adkim, aspf, pct). Of the report addresses only
 * the presence of rua is noted. The parser does no DNS lookups.
 */
#ifndef TERN_DMARC_RECORD_H
#define TERN_DMARC_RECORD_H

#include <stdbool.h>
#include <stddef.h>

enum dmarc_policy {
	DMARC_POLICY_NONE = 0,
	DMARC_POLICY_QUARANTINE = 1,
	DMARC_POLICY_REJECT = 2,
};

/* Identifier alignment modes (RFC 7489 3.1). */
enum dmarc_alignment {
	DMARC_ALIGN_RELAXED = 0,   /* same organizational domain */
	DMARC_ALIGN_STRICT = 1,    /* the same domain */
};

struct dmarc_record {
	enum dmarc_policy policy;            /* p= */
	enum dmarc_policy subdomain_policy;  /* sp=; p= when not given */
	bool subdomain_policy_given;
	enum dmarc_alignment adkim;          /* relaxed when not given */
	enum dmarc_alignment aspf;           /* relaxed when not given */
	int pct;                             /* 0..100, 100 when not given */
	bool has_rua;
	/* p= was missing or invalid but rua= is present, so the record is
	 * read as p=none (RFC 7489 6.6.3). */
	bool policy_defaulted;
};

/* "none", "quarantine", "reject". */
const char *dmarc_policy_name(enum dmarc_policy policy);

/* "r" or "s", as the tags write them. */
const char *dmarc_alignment_name(enum dmarc_alignment mode);

/*
 * True when txt starts with the version tag "v=DMARC1" (blanks allowed
 * around "="). RFC 7489 6.6.3: TXT records at _dmarc that do not start
 * so are not DMARC records and are ignored.
 */
bool dmarc_record_is_dmarc(const char *txt);

/*
 * Parses one record. Tag names and values other than the version are
 * compared without case. Unknown tags are ignored (RFC 7489 6.3), but a
 * tag given twice or a known tag with an invalid value is an error.
 * Returns 0 with out filled, or TERN_EINVAL with the reason in err.
 */
int dmarc_record_parse(const char *txt, struct dmarc_record *out,
    char *err, size_t err_size);

#endif
