/*
 * Fetching an MTA-STS policy file over HTTPS with libcurl's easy
 * interface (RFC 8461 3.3).
 *
 * libcurl is kept on a short leash: HTTPS only, no redirects, no proxy
 * from the environment, the certificate checked against the configured
 * CA file for the policy host's name, and a time limit for the whole
 * fetch. The body is counted while it arrives and the transfer stops
 * once it passes MTA_STS_POLICY_MAX bytes. libcurl never resolves a
 * name itself: the caller passes the addresses it found with tern's
 * resolver, and CURLOPT_RESOLVE puts them in libcurl's DNS cache.
 *
 * Blocks: call from a worker thread only. Privileges: none.
 */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <uv.h>

#include "../lib/tern_error.h"
#include "mta_sts.h"

/* Connection attempts get at most this share of the whole timeout. */
#define FETCH_CONNECT_DIVISOR 2

int
mta_sts_global_init(void)
{
	return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? TERN_OK :
	    TERN_ENOMEM;
}

/* The body as it arrives, bounded by MTA_STS_POLICY_MAX. */
struct fetch_body {
	char *data;
	size_t len;
	bool too_big;
};

static size_t
on_body(char *data, size_t size, size_t count, void *arg)
{
	struct fetch_body *body = arg;
	size_t n = size * count;
	char *grown;

	if (n > MTA_STS_POLICY_MAX || body->len + n > MTA_STS_POLICY_MAX) {
		/* Returning less than n makes libcurl stop with
		 * CURLE_WRITE_ERROR. */
		body->too_big = true;
		return 0;
	}
	grown = realloc(body->data, body->len + n + 1);
	if (grown == NULL)
		return 0;
	body->data = grown;
	memcpy(body->data + body->len, data, n);
	body->len += n;
	return n;
}

/*
 * Builds "mta-sts.DOMAIN:PORT:ADDR,ADDR" for CURLOPT_RESOLVE, IPv6
 * addresses in brackets. Returns false when it does not fit or has no
 * address.
 */
static bool
resolve_entry(const struct mta_sts_fetch_params *p, char *out, size_t size)
{
	char address[64];
	size_t len, i, used = 0;
	int n;

	n = snprintf(out, size, "mta-sts.%s:%d:", p->domain, p->port);
	if (n < 0 || (size_t)n >= size)
		return false;
	len = (size_t)n;
	for (i = 0; i < p->address_count; i++) {
		const struct sockaddr_storage *ss = &p->addresses[i];

		if (ss->ss_family == AF_INET6) {
			if (uv_ip6_name((const struct sockaddr_in6 *)ss,
			    address, sizeof(address)) != 0)
				continue;
			n = snprintf(out + len, size - len, "%s[%s]",
			    used > 0 ? "," : "", address);
		} else if (ss->ss_family == AF_INET) {
			if (uv_ip4_name((const struct sockaddr_in *)ss,
			    address, sizeof(address)) != 0)
				continue;
			n = snprintf(out + len, size - len, "%s%s",
			    used > 0 ? "," : "", address);
		} else {
			continue;
		}
		if (n < 0 || (size_t)n >= size - len)
			return false;
		len += (size_t)n;
		used++;
	}
	return used > 0;
}

/* True for "text/plain", with or without parameters (RFC 8461 3.2). */
static bool
is_text_plain(const char *type)
{
	size_t n = strlen("text/plain");

	if (type == NULL || strncasecmp(type, "text/plain", n) != 0)
		return false;
	return type[n] == '\0' || type[n] == ';' || type[n] == ' ' ||
	    type[n] == '\t';
}

/* Sets every option of the fetch. Returns CURLE_OK or the first
 * failure. */
static CURLcode
set_options(CURL *curl, const struct mta_sts_fetch_params *p,
    const char *url, struct curl_slist *resolve, struct fetch_body *body,
    char *curl_err)
{
	long connect_timeout = p->timeout / FETCH_CONNECT_DIVISOR;
	CURLcode rc = CURLE_OK;

	if (connect_timeout < 1)
		connect_timeout = 1;
#define SET(option, value) \
	do { \
		if (rc == CURLE_OK) \
			rc = curl_easy_setopt(curl, option, value); \
	} while (0)
	SET(CURLOPT_URL, url);
	SET(CURLOPT_ERRORBUFFER, curl_err);
	SET(CURLOPT_NOSIGNAL, 1L);  /* no SIGALRM in a worker thread */
#if LIBCURL_VERSION_NUM >= 0x075500
	SET(CURLOPT_PROTOCOLS_STR, "https");
	SET(CURLOPT_REDIR_PROTOCOLS_STR, "https");
#else
	SET(CURLOPT_PROTOCOLS, (long)CURLPROTO_HTTPS);
	SET(CURLOPT_REDIR_PROTOCOLS, (long)CURLPROTO_HTTPS);
#endif
	/* RFC 8461 3.3: redirects must not be followed. */
	SET(CURLOPT_FOLLOWLOCATION, 0L);
	/* "" turns off proxies, also those named in the environment. */
	SET(CURLOPT_PROXY, "");
	SET(CURLOPT_RESOLVE, resolve);
	SET(CURLOPT_SSL_VERIFYPEER, 1L);
	SET(CURLOPT_SSL_VERIFYHOST, 2L);
	SET(CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	if (p->ca_file != NULL && p->ca_file[0] != '\0')
		SET(CURLOPT_CAINFO, p->ca_file);
#ifdef _WIN32
	/* OpenSSL finds no CA bundle on Windows, so libcurl reads the
	 * system's ROOT store (libcurl 7.71 and later with OpenSSL). */
	else
		SET(CURLOPT_SSL_OPTIONS, (long)CURLSSLOPT_NATIVE_CA);
#endif
	SET(CURLOPT_TIMEOUT, (long)p->timeout);
	SET(CURLOPT_CONNECTTIMEOUT, connect_timeout);
	/* A server that announces a larger body is refused before it is
	 * sent; on_body stops one that does not announce its size. */
	SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)MTA_STS_POLICY_MAX);
	SET(CURLOPT_WRITEFUNCTION, on_body);
	SET(CURLOPT_WRITEDATA, body);
	SET(CURLOPT_USERAGENT, "tern (MTA-STS policy fetch)");
#undef SET
	return rc;
}

/* Checks the status and the type of a finished transfer. */
static int
check_response(CURL *curl, const char *url, char *err, size_t err_size)
{
	const char *type = NULL;
	char shown[80];
	long status = 0;

	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
	if (status != 200) {
		/* RFC 8461 3.3: only 200 gives a policy; a 3xx is not
		 * followed. */
		snprintf(err, err_size, "%s returned HTTP status %ld%s", url,
		    status, status >= 300 && status < 400 ?
		    " (redirects are not followed)" : "");
		return TERN_ETEMP;
	}
	curl_easy_getinfo(curl, CURLINFO_CONTENT_TYPE, &type);
	if (!is_text_plain(type)) {
		snprintf(shown, sizeof(shown), "%s", type != NULL ? type :
		    "none");
		for (char *c = shown; *c != '\0'; c++) {
			if (*c < 0x20 || *c > 0x7e)
				*c = '?';
		}
		snprintf(err, err_size, "%s has content type %s, not "
		    "text/plain", url, shown);
		return TERN_EINVAL;
	}
	return TERN_OK;
}

int
mta_sts_fetch(const struct mta_sts_fetch_params *p, char **body_out,
    size_t *body_len, char *err, size_t err_size)
{
	char url[400], entry[2048], curl_err[CURL_ERROR_SIZE];
	struct curl_slist *resolve = NULL;
	struct fetch_body body = { NULL, 0, false };
	CURL *curl = NULL;
	CURLcode crc;
	int rc;

	*body_out = NULL;
	*body_len = 0;
	curl_err[0] = '\0';
	if (p->port == 443)
		snprintf(url, sizeof(url), "https://mta-sts.%s/.well-known/"
		    "mta-sts.txt", p->domain);
	else
		snprintf(url, sizeof(url), "https://mta-sts.%s:%d/"
		    ".well-known/mta-sts.txt", p->domain, p->port);
	if (!resolve_entry(p, entry, sizeof(entry))) {
		snprintf(err, err_size, "no usable address for mta-sts.%s",
		    p->domain);
		return TERN_ETEMP;
	}
	resolve = curl_slist_append(NULL, entry);
	curl = curl_easy_init();
	if (resolve == NULL || curl == NULL) {
		snprintf(err, err_size, "cannot start a fetch: out of memory");
		rc = TERN_ENOMEM;
		goto done;
	}
	crc = set_options(curl, p, url, resolve, &body, curl_err);
	if (crc != CURLE_OK) {
		snprintf(err, err_size, "cannot set up the fetch of %s: %s",
		    url, curl_easy_strerror(crc));
		rc = TERN_ETEMP;
		goto done;
	}
	crc = curl_easy_perform(curl);
	if (body.too_big || crc == CURLE_FILESIZE_EXCEEDED) {
		snprintf(err, err_size, "%s is larger than %d bytes", url,
		    MTA_STS_POLICY_MAX);
		rc = TERN_EINVAL;
		goto done;
	}
	if (crc != CURLE_OK) {
		snprintf(err, err_size, "fetching %s failed: %s", url,
		    curl_err[0] != '\0' ? curl_err : curl_easy_strerror(crc));
		rc = TERN_ETEMP;
		goto done;
	}
	rc = check_response(curl, url, err, err_size);
	if (rc != TERN_OK)
		goto done;
	if (body.data == NULL) {
		/* An empty body: hand back an empty, valid allocation. */
		body.data = malloc(1);
		if (body.data == NULL) {
			rc = TERN_ENOMEM;
			goto done;
		}
	}
	*body_out = body.data;
	*body_len = body.len;
	body.data = NULL;
	rc = TERN_OK;
done:
	free(body.data);
	if (curl != NULL)
		curl_easy_cleanup(curl);
	curl_slist_free_all(resolve);
	return rc;
}
