/*
 * MTA-STS (RFC 8461): the TXT record that announces a policy, the policy
 * file, fetching it over HTTPS with libcurl, and matching MX host names
 * against it. Knows nothing of the queue: deliver keeps the cache.
 *
 * mta_sts_fetch() blocks: call it from a worker thread.
 */
#ifndef TERN_MTA_STS_H
#define TERN_MTA_STS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../lib/platform_net.h"

#define MTA_STS_MAX_MX 32
#define MTA_STS_POLICY_MAX 65536     /* bytes of a policy file, 3.3 */
#define MTA_STS_MAX_AGE_MAX 31557600 /* one year, 3.2 */

enum mta_sts_mode {
	MTA_STS_NONE = 0,
	MTA_STS_TESTING = 1,
	MTA_STS_ENFORCE = 2,
};

/* "none", "testing", "enforce". */
const char *mta_sts_mode_name(enum mta_sts_mode mode);

struct mta_sts_policy {
	enum mta_sts_mode mode;
	int64_t max_age;                 /* seconds */
	char mx[MTA_STS_MAX_MX][256];    /* "mail.example.com", "*.example.net" */
	size_t mx_count;
};

/*
 * Parses the _mta-sts TXT record ("v=STSv1; id=20160831085700Z;").
 * Writes the id (1 to 32 letters and digits) into id. Returns 0, or
 * TERN_EINVAL for a record that is not a valid STSv1 record.
 */
int mta_sts_parse_txt(const char *txt, char *id, size_t id_size);

/*
 * Parses a policy file (section 3.2): "key: value" lines ended by CRLF
 * or LF alone. version (STSv1), mode and max_age are required in any
 * order, and unless mode is none at least one valid mx pattern, so an
 * enforce or testing policy whose mx lines are all invalid is invalid.
 * Invalid mx patterns, unknown keys, blank lines and repeats of fields
 * other than mx are ignored; a max_age above MTA_STS_MAX_AGE_MAX is cut
 * to it. Returns 0, or TERN_EINVAL with the reason in err.
 */
int mta_sts_parse_policy(const char *text, size_t len,
    struct mta_sts_policy *out, char *err, size_t err_size);

/* True when host (an MX name, without the final dot) matches one of the
 * policy's mx patterns: exactly, or "*.example.net" for one leftmost
 * label (section 4.1). Case is ignored. */
bool mta_sts_mx_matches(const struct mta_sts_policy *policy,
    const char *host);

/* Initialises libcurl for the whole process; call once, before any
 * thread calls mta_sts_fetch(). Returns 0 or TERN_ENOMEM. */
int mta_sts_global_init(void);

struct mta_sts_fetch_params {
	const char *domain;          /* the policy domain */
	/* The addresses of mta-sts.<domain>, as tern's resolver found
	 * them, with the port set; libcurl does no lookup of its own. */
	const struct sockaddr_storage *addresses;
	size_t address_count;
	int port;                    /* 443, or a test port */
	const char *ca_file;         /* NULL or "": the system's store */
	int timeout;                 /* seconds for the whole fetch */
};

/*
 * Fetches https://mta-sts.<domain>/.well-known/mta-sts.txt: the server
 * certificate must be valid for that name, redirects are not followed,
 * only 200 with a text/plain body of at most MTA_STS_POLICY_MAX bytes is
 * taken. On success returns 0 with *body malloc'd (not terminated) and
 * *body_len; otherwise TERN_ETEMP (network, TLS, HTTP status, timeout)
 * or TERN_EINVAL (too large, wrong type) with the reason in err.
 */
int mta_sts_fetch(const struct mta_sts_fetch_params *p, char **body,
    size_t *body_len, char *err, size_t err_size);

#endif
