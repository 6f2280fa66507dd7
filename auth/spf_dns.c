/*
 * The libspf2 DNS layer over dns_sync; see spf_dns.h.
 *
 * libspf2 1.2.10 calls its layer for single record sets (lookup), for
 * the SPF record of a domain (get_spf) and for exp= texts (get_exp).
 * This layer implements all three:
 *
 * - get_spf fetches the TXT records itself, so it knows the first call
 *   is the checked domain's own record and every later one an include
 *   or redirect term, and it sets the result libspf2 leaves unset at
 *   the top level: temperror for a DNS failure (libspf2 returns an
 *   error with no result, which reads as none), permerror for several
 *   records or one that does not compile.
 * - lookup answers A, AAAA, MX, PTR and TXT from dns_sync, never the
 *   obsolete SPF type 99 (RFC 7208 3.1), and counts terms and void
 *   lookups. libspf2's own count starts again at 0 in each include, so
 *   a chain of includes would never reach it.
 * - get_exp returns an empty text: an explanation is the sender's text
 *   fetched from a name the sender chooses, and tern writes its own.
 *
 * Terms are told apart from the address lookups of an "mx" or "ptr"
 * term by order: after an MX or PTR answer, libspf2 looks up the
 * addresses of the names in the order this layer returned them, and
 * stops only when it has a match, which ends the evaluation. Those
 * lookups are not terms; any other lookup is.
 *
 * A lookup over a limit is not sent. It is answered TRY_AGAIN so that
 * libspf2 stops at once, and spf_libspf2.c turns the temperror this
 * gives into a permerror, because the stats say a limit was reached.
 *
 * Security: record text, names and macro expansions come from the
 * sender's DNS. Names are length-checked before they are queried, and
 * problem texts are cut and reduced to printable ASCII.
 */
#include <ares.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <uv.h>

#include "../lib/printf_format.h"
#include "spf_dns.h"

/* libspf2's "no error" h_errno value, 0 in glibc's <netdb.h>. Windows
 * has no h_errno and does not define it. */
#ifndef NETDB_SUCCESS
#define NETDB_SUCCESS 0
#endif

struct layer {
	struct dns_sync *dns;
	uint64_t deadline_ms;      /* uv_hrtime() in ms when DNS time ends */
	struct spf_dns_stats stats;
	int record_fetches;        /* get_spf calls so far */
	/* Names whose address lookups follow the last MX or PTR answer. */
	char followups[SPF_MAX_TERM_ADDRESS_LOOKUPS][256];
	int followup_count;
	int followup_next;
};

/* Copies formatted text into out as printable ASCII, cut to size. */
static void
set_text(char *out, size_t size, const char *fmt, ...)
	TERN_PRINTF(3, 4);

static void
set_text(char *out, size_t size, const char *fmt, ...)
{
	va_list ap;
	size_t i;

	va_start(ap, fmt);
	vsnprintf(out, size, fmt, ap);
	va_end(ap);
	for (i = 0; out[i] != '\0'; i++)
		if ((unsigned char)out[i] < 0x20 || (unsigned char)out[i] > 0x7e)
			out[i] = '?';
}

/* True for a name that can be sent as a query: 1 to 253 octets,
 * labels of 1 to 63 octets (a final dot allowed). */
static bool
name_queryable(const char *name)
{
	size_t len = strlen(name), label = 0, i;

	if (len == 0 || len > 254 || (len == 254 && name[253] != '.'))
		return false;
	for (i = 0; i < len; i++) {
		if (name[i] != '.') {
			if (++label > 63)
				return false;
			continue;
		}
		if (label == 0)
			return false;
		label = 0;
	}
	return true;
}

static void
note_temp_failure(struct layer *l, const char *name)
{
	if (l->stats.temp_failure[0] == '\0')
		set_text(l->stats.temp_failure, sizeof(l->stats.temp_failure),
		    "%s", name);
}

/* Counts one term; false (and nothing sent) once past the limit. */
static bool
count_term(struct layer *l)
{
	if (l->stats.terms >= SPF_MAX_DNS_TERMS) {
		l->stats.terms_exceeded = true;
		set_text(l->stats.problem, sizeof(l->stats.problem),
		    "more than %d DNS-querying terms", SPF_MAX_DNS_TERMS);
		return false;
	}
	l->stats.terms++;
	return true;
}

/* Counts one void lookup; false once past the limit. */
static bool
count_void(struct layer *l)
{
	if (++l->stats.void_lookups > SPF_MAX_VOID_LOOKUPS) {
		l->stats.voids_exceeded = true;
		set_text(l->stats.problem, sizeof(l->stats.problem),
		    "more than %d void DNS lookups", SPF_MAX_VOID_LOOKUPS);
		return false;
	}
	return true;
}

static void
clear_followups(struct layer *l)
{
	l->followup_count = 0;
	l->followup_next = 0;
}

/* True when this lookup is the next address lookup of an mx or ptr
 * term; otherwise the pending names are dropped. */
static bool
is_followup(struct layer *l, const char *name, ns_type type)
{
	if ((type == ns_t_a || type == ns_t_aaaa) &&
	    l->followup_next < l->followup_count &&
	    strcasecmp(name, l->followups[l->followup_next]) == 0) {
		l->followup_next++;
		return true;
	}
	clear_followups(l);
	return false;
}

static void
add_followup(struct layer *l, const char *name)
{
	if (l->followup_count < SPF_MAX_TERM_ADDRESS_LOOKUPS)
		set_text(l->followups[l->followup_count++],
		    sizeof(l->followups[0]), "%s", name);
}

static SPF_dns_rr_t *
rr_new(SPF_dns_server_t *server, const char *name, ns_type type,
    SPF_dns_stat_t herrno)
{
	/* NOTE: libspf2 aborts the process when a layer returns NULL, so
	 * running out of memory here cannot be reported. */
	return SPF_dns_rr_new_init(server, name, type, 0, herrno);
}

/* Appends a string record (MX, PTR or TXT data); false on ENOMEM. */
static bool
rr_add_string(SPF_dns_rr_t *rr, const char *text, size_t len)
{
	if (SPF_dns_rr_buf_realloc(rr, rr->num_rr, len + 1) != SPF_E_SUCCESS)
		return false;
	memcpy(rr->rr[rr->num_rr]->txt, text, len);
	rr->rr[rr->num_rr]->txt[len] = '\0';
	rr->num_rr++;
	return true;
}

/* The record set for a failed or empty dns_sync status. */
static SPF_dns_rr_t *
rr_for_status(struct layer *l, SPF_dns_server_t *server, const char *name,
    ns_type type, enum dns_status status)
{
	switch (status) {
	case DNS_NXDOMAIN:
		return rr_new(server, name, type, HOST_NOT_FOUND);
	case DNS_NODATA:
		return rr_new(server, name, type, NO_DATA);
	default:
		note_temp_failure(l, name);
		return rr_new(server, name, type, TRY_AGAIN);
	}
}

/* Ends a record set: no records is NO_DATA, a failed parse TRY_AGAIN. */
static SPF_dns_rr_t *
rr_finish(struct layer *l, SPF_dns_rr_t *rr, int parsed)
{
	if (parsed == ARES_ENODATA || (parsed == ARES_SUCCESS &&
	    rr->num_rr == 0)) {
		rr->num_rr = 0;
		rr->herrno = NO_DATA;
	} else if (parsed != ARES_SUCCESS) {
		note_temp_failure(l, rr->domain != NULL ? rr->domain : "");
		rr->num_rr = 0;
		rr->herrno = TRY_AGAIN;
	}
	return rr;
}

/* True once the evaluation has used its DNS time. */
static bool
out_of_time(const struct layer *l)
{
	return uv_hrtime() / 1000000 >= l->deadline_ms;
}

/* dns_sync_query, or a temporary failure once the time is used. */
static enum dns_status
layer_query(struct layer *l, const char *name, int type,
    unsigned char **answer, size_t *answer_len)
{
	if (out_of_time(l)) {
		*answer = NULL;
		*answer_len = 0;
		return DNS_TEMPFAIL;
	}
	return dns_sync_query(l->dns, name, type, answer, answer_len);
}

/* dns_sync_txt, or a temporary failure once the time is used. */
static enum dns_status
layer_txt(struct layer *l, const char *name, char ***records, size_t *count)
{
	if (out_of_time(l)) {
		*records = NULL;
		*count = 0;
		return DNS_TEMPFAIL;
	}
	return dns_sync_txt(l->dns, name, records, count);
}

static SPF_dns_rr_t *
lookup_addresses(struct layer *l, SPF_dns_server_t *server,
    const char *name, ns_type type)
{
	struct hostent *host = NULL;
	unsigned char *answer;
	size_t answer_len;
	enum dns_status status;
	SPF_dns_rr_t *rr;
	size_t size = type == ns_t_a ? sizeof(struct in_addr) :
	    sizeof(struct in6_addr);
	int parsed, i;

	status = layer_query(l, name, type == ns_t_a ? DNS_TYPE_A :
	    DNS_TYPE_AAAA, &answer, &answer_len);
	if (status != DNS_OK) {
		free(answer);
		return rr_for_status(l, server, name, type, status);
	}
	rr = rr_new(server, name, type, NETDB_SUCCESS);
	if (rr == NULL) {
		free(answer);
		return NULL;
	}
	if (type == ns_t_a)
		parsed = ares_parse_a_reply(answer, (int)answer_len, &host,
		    NULL, NULL);
	else
		parsed = ares_parse_aaaa_reply(answer, (int)answer_len, &host,
		    NULL, NULL);
	free(answer);
	for (i = 0; parsed == ARES_SUCCESS && host->h_addr_list[i] != NULL;
	    i++) {
		if (SPF_dns_rr_buf_realloc(rr, rr->num_rr,
		    sizeof(SPF_dns_rr_data_t)) != SPF_E_SUCCESS) {
			parsed = ARES_ENOMEM;
			break;
		}
		memcpy(rr->rr[rr->num_rr], host->h_addr_list[i], size);
		rr->num_rr++;
	}
	if (host != NULL)
		ares_free_hostent(host);
	return rr_finish(l, rr, parsed);
}

static SPF_dns_rr_t *
lookup_mx(struct layer *l, SPF_dns_server_t *server, const char *name)
{
	struct ares_mx_reply *replies = NULL, *m;
	unsigned char *answer;
	size_t answer_len, len;
	enum dns_status status;
	SPF_dns_rr_t *rr;
	int parsed;

	status = layer_query(l, name, DNS_TYPE_MX, &answer,
	    &answer_len);
	if (status != DNS_OK) {
		free(answer);
		return rr_for_status(l, server, name, ns_t_mx, status);
	}
	rr = rr_new(server, name, ns_t_mx, NETDB_SUCCESS);
	if (rr == NULL) {
		free(answer);
		return NULL;
	}
	parsed = ares_parse_mx_reply(answer, (int)answer_len, &replies);
	free(answer);
	for (m = replies; parsed == ARES_SUCCESS && m != NULL; m = m->next) {
		len = strlen(m->host);
		if (len > 0 && m->host[len - 1] == '.')
			len--;
		if (len > 253)
			continue;
		if (!rr_add_string(rr, m->host, len)) {
			parsed = ARES_ENOMEM;
			break;
		}
		add_followup(l, rr->rr[rr->num_rr - 1]->mx);
	}
	ares_free_data(replies);
	return rr_finish(l, rr, parsed);
}

/* RFC 7208 4.6.4: names past the tenth PTR record are ignored, so
 * libspf2 is given at most ten (it would return permerror for more). */
static SPF_dns_rr_t *
lookup_ptr(struct layer *l, SPF_dns_server_t *server, const char *name)
{
	struct hostent *host = NULL;
	unsigned char *answer;
	size_t answer_len, len;
	enum dns_status status;
	SPF_dns_rr_t *rr;
	int parsed, i, j;

	status = layer_query(l, name, DNS_TYPE_PTR, &answer,
	    &answer_len);
	if (status != DNS_OK) {
		free(answer);
		return rr_for_status(l, server, name, ns_t_ptr, status);
	}
	rr = rr_new(server, name, ns_t_ptr, NETDB_SUCCESS);
	if (rr == NULL) {
		free(answer);
		return NULL;
	}
	parsed = ares_parse_ptr_reply(answer, (int)answer_len, NULL, 0,
	    AF_INET, &host);
	free(answer);
	/* c-ares 1.18 repeats h_name among h_aliases. */
	for (i = -1; parsed == ARES_SUCCESS &&
	    rr->num_rr < SPF_MAX_TERM_ADDRESS_LOOKUPS; i++) {
		const char *n = i < 0 ? host->h_name : host->h_aliases[i];
		bool seen = false;

		if (n == NULL)
			break;
		len = strlen(n);
		if (len > 0 && n[len - 1] == '.')
			len--;
		for (j = 0; j < rr->num_rr; j++)
			if (strlen(rr->rr[j]->ptr) == len &&
			    strncasecmp(rr->rr[j]->ptr, n, len) == 0)
				seen = true;
		if (seen || len > 253)
			continue;
		if (!rr_add_string(rr, n, len)) {
			parsed = ARES_ENOMEM;
			break;
		}
		add_followup(l, rr->rr[rr->num_rr - 1]->ptr);
	}
	if (host != NULL)
		ares_free_hostent(host);
	return rr_finish(l, rr, parsed);
}

static SPF_dns_rr_t *
lookup_txt(struct layer *l, SPF_dns_server_t *server, const char *name)
{
	enum dns_status status;
	SPF_dns_rr_t *rr;
	char **records;
	size_t count, i;
	int parsed = ARES_SUCCESS;

	status = layer_txt(l, name, &records, &count);
	if (status != DNS_OK)
		return rr_for_status(l, server, name, ns_t_txt, status);
	rr = rr_new(server, name, ns_t_txt, NETDB_SUCCESS);
	for (i = 0; rr != NULL && i < count; i++) {
		if (!rr_add_string(rr, records[i], strlen(records[i]))) {
			parsed = ARES_ENOMEM;
			break;
		}
	}
	dns_sync_strings_free(records, count);
	return rr != NULL ? rr_finish(l, rr, parsed) : NULL;
}

static SPF_dns_rr_t *
layer_lookup(SPF_dns_server_t *server, const char *name, ns_type type,
    int should_cache)
{
	struct layer *l = server->hook;
	SPF_dns_rr_t *rr;
	bool term;

	(void)should_cache;
	/* RFC 7208 3.1: SPF records are published as TXT only. */
	if (type == ns_t_spf)
		return rr_new(server, name, type, NO_DATA);
	term = !is_followup(l, name, type);
	if (term && !count_term(l))
		return rr_new(server, name, type, TRY_AGAIN);
	if (!name_queryable(name))
		rr = rr_new(server, name, type, HOST_NOT_FOUND);
	else if (type == ns_t_a || type == ns_t_aaaa)
		rr = lookup_addresses(l, server, name, type);
	else if (type == ns_t_mx)
		rr = lookup_mx(l, server, name);
	else if (type == ns_t_ptr)
		rr = lookup_ptr(l, server, name);
	else if (type == ns_t_txt)
		rr = lookup_txt(l, server, name);
	else
		rr = rr_new(server, name, type, NO_DATA);
	if (rr != NULL && term && (rr->herrno == HOST_NOT_FOUND ||
	    rr->herrno == NO_DATA) && !count_void(l)) {
		rr->herrno = TRY_AGAIN;
		rr->num_rr = 0;
	}
	return rr;
}

/* RFC 7208 4.5: a record is "v=spf1" alone or followed by a space. */
static bool
is_spf_record(const char *text)
{
	return strncasecmp(text, "v=spf1", 6) == 0 &&
	    (text[6] == '\0' || text[6] == ' ');
}

/* Sets the result of the checked domain's own record fetch, which
 * libspf2 leaves to its caller. */
static void
set_top_result(SPF_response_t *response, SPF_result_t result,
    SPF_errcode_t err)
{
	response->result = result;
	response->reason = SPF_REASON_FAILURE;
	response->err = err;
}

/* The last error message libspf2 added to the response. */
static const char *
last_error(SPF_response_t *response)
{
	int i;

	for (i = SPF_response_messages(response) - 1; i >= 0; i--) {
		SPF_error_t *e = SPF_response_message(response, i);

		if (SPF_error_errorp(e) && SPF_error_message(e) != NULL)
			return SPF_error_message(e);
	}
	return "syntax error";
}

/* Picks the one SPF record among TXT records and compiles it. */
static SPF_errcode_t
compile_record(struct layer *l, SPF_server_t *spf_server,
    SPF_response_t *response, const char *domain, char **records,
    size_t count, bool top, SPF_record_t **recordp)
{
	const char *found = NULL;
	SPF_errcode_t err;
	size_t i, n = 0;

	for (i = 0; i < count; i++) {
		if (is_spf_record(records[i])) {
			found = records[i];
			n++;
		}
	}
	if (n == 0) {
		set_text(l->stats.problem, sizeof(l->stats.problem),
		    "no SPF record at %s", domain);
		if (top)
			set_top_result(response, SPF_RESULT_NONE,
			    SPF_E_NOT_SPF);
		return SPF_E_NOT_SPF;
	}
	if (n > 1) {
		/* RFC 7208 4.5: more than one record is a permerror. */
		set_text(l->stats.problem, sizeof(l->stats.problem),
		    "%zu SPF records at %s", n, domain);
		if (top)
			set_top_result(response, SPF_RESULT_PERMERROR,
			    SPF_E_MULTIPLE_RECORDS);
		return SPF_E_MULTIPLE_RECORDS;
	}
	err = SPF_record_compile(spf_server, response, recordp, found);
	if (err == SPF_E_SUCCESS)
		return SPF_E_SUCCESS;
	if (*recordp != NULL) {
		SPF_record_free(*recordp);
		*recordp = NULL;
	}
	set_text(l->stats.problem, sizeof(l->stats.problem),
	    "invalid SPF record at %s: %s", domain, last_error(response));
	if (top)
		set_top_result(response, SPF_RESULT_PERMERROR, err);
	return err;
}

static SPF_errcode_t
layer_get_spf(SPF_server_t *spf_server, SPF_request_t *request,
    SPF_response_t *response, SPF_record_t **recordp)
{
	struct layer *l = spf_server->resolver->hook;
	const char *domain = request->cur_dom;
	bool top = l->record_fetches++ == 0;
	enum dns_status status;
	SPF_errcode_t err;
	char **records;
	size_t count;

	*recordp = NULL;
	if (!top) {
		/* An include or a redirect. */
		clear_followups(l);
		if (!count_term(l))
			return SPF_E_BIG_DNS;
	}
	if (domain == NULL || !name_queryable(domain))
		status = DNS_NXDOMAIN;
	else
		status = layer_txt(l, domain, &records, &count);
	switch (status) {
	case DNS_OK:
		err = compile_record(l, spf_server, response, domain, records,
		    count, top, recordp);
		dns_sync_strings_free(records, count);
		return err;
	case DNS_NXDOMAIN:
	case DNS_NODATA:
		if (!top && !count_void(l))
			return SPF_E_BIG_DNS;
		set_text(l->stats.problem, sizeof(l->stats.problem),
		    "no SPF record at %s", domain != NULL ? domain : "");
		if (top)
			set_top_result(response, SPF_RESULT_NONE,
			    SPF_E_NOT_SPF);
		return SPF_E_NOT_SPF;
	default:
		note_temp_failure(l, domain);
		if (top)
			set_top_result(response, SPF_RESULT_TEMPERROR,
			    SPF_E_DNS_ERROR);
		return SPF_E_DNS_ERROR;
	}
}

static SPF_errcode_t
layer_get_exp(SPF_server_t *spf_server, const char *domain, char **bufp,
    size_t *buflenp)
{
	char *grown;

	(void)spf_server;
	(void)domain;
	if (*bufp == NULL || *buflenp < 1) {
		grown = realloc(*bufp, 1);
		if (grown == NULL)
			return SPF_E_NO_MEMORY;
		*bufp = grown;
		*buflenp = 1;
	}
	(*bufp)[0] = '\0';
	return SPF_E_SUCCESS;
}

static void
layer_destroy(SPF_dns_server_t *server)
{
	free(server->hook);
	free(server);
}

SPF_dns_server_t *
spf_dns_layer_new(struct dns_sync *dns, int time_limit_ms)
{
	SPF_dns_server_t *server;
	struct layer *l;

	server = calloc(1, sizeof(*server));
	l = calloc(1, sizeof(*l));
	if (server == NULL || l == NULL) {
		free(server);
		free(l);
		return NULL;
	}
	l->dns = dns;
	l->deadline_ms = uv_hrtime() / 1000000 +
	    (uint64_t)(time_limit_ms > 0 ? time_limit_ms : 0);
	server->destroy = layer_destroy;
	server->lookup = layer_lookup;
	server->get_spf = layer_get_spf;
	server->get_exp = layer_get_exp;
	server->add_cache = NULL;
	server->layer_below = NULL;
	server->name = "tern";
	server->hook = l;
	return server;
}

const struct spf_dns_stats *
spf_dns_layer_stats(const SPF_dns_server_t *layer)
{
	const struct layer *l = layer->hook;

	return &l->stats;
}
