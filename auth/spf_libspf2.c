/*
 * check_host() with libspf2 1.2.10; see spf_libspf2.h.
 *
 * Each call makes its own SPF_server_t and DNS layer, so worker threads
 * share no libspf2 state but the log handlers set once below.
 *
 * The steps of SPF_request_query_mailfrom() are run here one by one,
 * for two reasons. That function gives every loopback client a pass
 * without looking at DNS, which RFC 7208 does not allow and which would
 * hide the result of the self-check in tests on 127.0.0.1. And its
 * result for the checked domain's own record is left unset when the
 * record cannot be fetched, which the DNS layer now sets instead.
 *
 * Results: a temperror caused by a lookup the DNS layer refused because
 * a limit was reached is the permerror RFC 7208 4.6.4 requires. A
 * result libspf2 left unset is a temperror, never none.
 */
#include <stdio.h>
#include <string.h>
#include <uv.h>

#include "../lib/log.h"
#include "../lib/tern_error.h"
#include "spf_dns.h"
#include "spf_libspf2.h"

static uv_once_t handlers_once = UV_ONCE_INIT;

/* libspf2 prints warnings and notes to standard output or error; they
 * go to the log at debug level instead, so "tern spf check --json"
 * keeps its output clean. */
static void
log_libspf2(const char *file, int line, const char *message)
{
	char safe[512];

	(void)file;
	(void)line;
	log_debug("spf: libspf2: %s", log_escape(safe, sizeof(safe), message,
	    strlen(message)));
}

static void
set_handlers(void)
{
	SPF_warning_handler = log_libspf2;
	SPF_info_handler = log_libspf2;
	SPF_debug_handler = log_libspf2;
}

static const char *
result_name(SPF_result_t result)
{
	switch (result) {
	case SPF_RESULT_PASS:
		return "pass";
	case SPF_RESULT_FAIL:
		return "fail";
	case SPF_RESULT_SOFTFAIL:
		return "softfail";
	case SPF_RESULT_NEUTRAL:
		return "neutral";
	case SPF_RESULT_NONE:
		return "none";
	case SPF_RESULT_PERMERROR:
		return "permerror";
	default:
		return "temperror";
	}
}

/* Fills out from the response and what the DNS layer saw. */
static void
read_outcome(SPF_response_t *response, SPF_errcode_t err,
    const struct spf_dns_stats *stats, struct spf_outcome *out)
{
	SPF_result_t result = SPF_response_result(response);
	bool limited = stats->terms_exceeded || stats->voids_exceeded;

	if (limited && (result == SPF_RESULT_TEMPERROR ||
	    result == SPF_RESULT_INVALID))
		result = SPF_RESULT_PERMERROR;
	out->result = result_name(result);
	if (result == SPF_RESULT_TEMPERROR && stats->temp_failure[0] != '\0')
		snprintf(out->problem, sizeof(out->problem),
		    "DNS lookup of %.200s failed", stats->temp_failure);
	else if (result == SPF_RESULT_PERMERROR && stats->problem[0] != '\0')
		snprintf(out->problem, sizeof(out->problem), "%s",
		    stats->problem);
	else if (result == SPF_RESULT_PERMERROR ||
	    result == SPF_RESULT_TEMPERROR || result == SPF_RESULT_INVALID)
		snprintf(out->problem, sizeof(out->problem), "%s",
		    SPF_strerror(err != SPF_E_SUCCESS ? err :
		    SPF_response_errcode(response)));
}

/* Sets the client address and the identities on the request. */
static SPF_errcode_t
fill_request(SPF_request_t *request, const struct sockaddr *client,
    const char *helo, const char *sender)
{
	SPF_errcode_t err;

	if (client->sa_family == AF_INET)
		err = SPF_request_set_ipv4(request,
		    ((const struct sockaddr_in *)client)->sin_addr);
	else
		err = SPF_request_set_ipv6(request,
		    ((const struct sockaddr_in6 *)client)->sin6_addr);
	if (err == SPF_E_SUCCESS && helo != NULL && helo[0] != '\0')
		err = SPF_request_set_helo_dom(request, helo);
	/* "" makes libspf2 check postmaster@HELO. */
	if (err == SPF_E_SUCCESS)
		err = SPF_request_set_env_from(request, sender);
	return err;
}

int
spf_libspf2_check(struct dns_sync *dns, const struct sockaddr *client,
    const char *helo, const char *sender, struct spf_outcome *out)
{
	SPF_dns_server_t *layer;
	SPF_server_t *server;
	SPF_request_t *request = NULL;
	SPF_response_t *response = NULL;
	SPF_record_t *record = NULL;
	SPF_errcode_t err;
	int rc = TERN_OK;

	memset(out, 0, sizeof(*out));
	uv_once(&handlers_once, set_handlers);
	layer = spf_dns_layer_new(dns, SPF_EVALUATION_TIME_MAX_MS);
	if (layer == NULL)
		return TERN_ENOMEM;
	/* SPF_server_new_dns() leaves the layer to its caller: libspf2
	 * 1.2.10 marks it as not to be destroyed with the server. */
	server = SPF_server_new_dns(layer, 0);
	if (server == NULL) {
		layer->destroy(layer);
		return TERN_ENOMEM;
	}
	SPF_server_set_max_dns_mech(server, SPF_MAX_DNS_TERMS);
	SPF_server_set_max_dns_mx(server, SPF_MAX_TERM_ADDRESS_LOOKUPS);
	SPF_server_set_max_dns_ptr(server, SPF_MAX_TERM_ADDRESS_LOOKUPS);

	request = SPF_request_new(server);
	if (request == NULL) {
		rc = TERN_ENOMEM;
		goto done;
	}
	err = fill_request(request, client, helo, sender);
	if (err == SPF_E_SUCCESS)
		response = SPF_response_new(request);
	if (err != SPF_E_SUCCESS || response == NULL) {
		rc = TERN_ENOMEM;
		goto done;
	}
	/* What SPF_request_query_mailfrom() does, without its free pass
	 * for loopback clients. */
	request->use_helo = 0;
	request->cur_dom = request->env_from_dp;
	err = SPF_server_get_record(server, request, response, &record);
	if (err == SPF_E_SUCCESS) {
		response->spf_record_exp = record;
		err = SPF_record_interpret(record, request, response, 0);
		SPF_record_free(record);
		response->spf_record_exp = NULL;
	}
	if (err == SPF_E_NO_MEMORY) {
		rc = TERN_ENOMEM;
		goto done;
	}
	read_outcome(response, err, spf_dns_layer_stats(layer), out);

done:
	if (response != NULL)
		SPF_response_free(response);
	if (request != NULL)
		SPF_request_free(request);
	SPF_server_free(server);
	layer->destroy(layer);
	return rc;
}
