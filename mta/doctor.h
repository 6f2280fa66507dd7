/*
 * tern doctor: the checks of one sending domain and the report they
 * fill. Each doctor_check_*() function looks at one thing through live
 * DNS (and HTTPS for MTA-STS), adds one or more lines to the report and
 * leaves in the context what later checks build on. All of them block:
 * they run in the tern command, never on an event loop.
 */
#ifndef TERN_DOCTOR_H
#define TERN_DOCTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "../auth/dmarc_record.h"
#include "../dns/dns_sync.h"
#include "../lib/printf_format.h"
#include "../policy/config.h"

enum doctor_status {
	DOCTOR_OK = 0,
	DOCTOR_WARN = 1,   /* receivers may mark or slow mail down */
	DOCTOR_FAIL = 2,   /* mail will be rejected, junked or unsigned */
};

/* One line of the report. name is a fixed identifier that scripts may
 * rely on ("mx", "spf-record", "dkim", ...). subject is what was checked
 * (the domain, a source address, a selector record). DNS data in detail
 * and fix is escaped to printable ASCII on the way in. */
struct doctor_check {
	char name[32];
	char subject[300];
	enum doctor_status status;
	char detail[1024];
	char fix[1024];    /* what to change; "" when nothing */
};

/* Enough for the fixed checks plus two per source address and one per
 * DKIM key at the configuration's limits. */
#define DOCTOR_MAX_CHECKS \
	(32 + 2 * CONFIG_MAX_SOURCES + CONFIG_MAX_DKIM_KEYS)

struct doctor_report {
	char domain[256];
	struct doctor_check checks[DOCTOR_MAX_CHECKS];
	size_t count;
	size_t dropped;    /* checks past DOCTOR_MAX_CHECKS: counted as
	                    * failures, because their status is unknown */
};

/* Inputs of the checks, and results that later checks use. */
struct doctor_context {
	const struct tern_config *cfg;
	struct dns_sync *dns;
	const char *domain;            /* lower case, no final dot */
	struct doctor_report *report;

	struct dns_mx mx[DNS_MAX_MX];  /* filled by doctor_check_mx */
	size_t mx_count;               /* 0 also for a null MX */

	/* SPF for MAIL FROM addresses in the domain, from the configured
	 * source addresses. */
	enum {
		DOCTOR_SPF_UNKNOWN = 0,  /* no source address configured */
		DOCTOR_SPF_PASS,         /* every one passes */
		DOCTOR_SPF_NOT_PASS,     /* at least one does not */
	} spf_state;
	/* Per configured DKIM key: it applies to the domain, and its
	 * selector record matches the key. */
	bool dkim_applies[CONFIG_MAX_DKIM_KEYS];
	bool dkim_verifies[CONFIG_MAX_DKIM_KEYS];
	/* A lookup behind spf_state or dkim_verifies failed (temperror,
	 * resolver unreachable), so the alignment checks cannot judge. */
	bool spf_dns_failed;
	bool dkim_dns_failed;

	bool dmarc_found;
	struct dmarc_record dmarc;
	char dmarc_domain[256];        /* where the record was found */
};

/*
 * Adds a line to the report and returns it, with detail written from
 * the format and fix copied (NULL: nothing to change). Strings from DNS
 * must be passed through doctor_escape() first.
 */
struct doctor_check *doctor_add(struct doctor_report *r, const char *name,
    const char *subject, enum doctor_status status, const char *fix,
    const char *detail_fmt, ...) TERN_PRINTF(6, 7);

/* Appends a formatted sentence to a check's fix. */
void doctor_add_fix(struct doctor_check *c, const char *fmt, ...)
	TERN_PRINTF(2, 3);

/* Copies untrusted text (a TXT record) as printable ASCII, cut to at
 * most max_shown characters with "..." after; returns out. */
char *doctor_escape(char *out, size_t out_size, const char *text,
    size_t max_shown);

/* Returns the worst status in the report. */
enum doctor_status doctor_worst(const struct doctor_report *r);

/* "ok", "warn", "FAIL" for the text report. */
const char *doctor_status_label(enum doctor_status status);

/* The report as text, one line per check, or as one JSON object. */
void doctor_print_text(const struct doctor_report *r, FILE *out);
void doctor_print_json(const struct doctor_report *r, FILE *out);

/* The checks, in the order tern_doctor.c runs them. */
void doctor_check_mx(struct doctor_context *ctx);
void doctor_check_spf_record(struct doctor_context *ctx);
void doctor_check_spf_sources(struct doctor_context *ctx);
void doctor_check_dkim(struct doctor_context *ctx);
void doctor_check_dmarc(struct doctor_context *ctx);
void doctor_check_alignment(struct doctor_context *ctx);
void doctor_check_mta_sts(struct doctor_context *ctx);
void doctor_check_rdns(struct doctor_context *ctx);

#endif
