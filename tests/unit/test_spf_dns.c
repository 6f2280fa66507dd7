/*
 * Tests of the libspf2 DNS layer (auth/spf_dns.c) on its own, against a
 * real dnsmasq: the lookups libspf2 makes through it, and the total DNS
 * time of one evaluation (RFC 7208 4.6.4), after which a lookup is a
 * temporary failure without a query.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "auth/spf_dns.h"
#include "dns/dns_sync.h"
#include "lib/tern_error.h"
#include "tests/unit/dnsmasq_server.h"

static struct dnsmasq_server server;

static int
start_dnsmasq(void **state)
{
	static const char *const records[] = {
		"--txt-record=pass.test,v=spf1 ip4:192.0.2.1 -all",
		NULL,
	};

	(void)state;
	return dnsmasq_server_start(&server, records);
}

static int
stop_dnsmasq(void **state)
{
	(void)state;
	dnsmasq_server_stop(&server);
	return 0;
}

/* Looks up the TXT records of pass.test through a layer with the given
 * time limit and returns the herrno libspf2 would see. */
static int
txt_lookup_herrno(int time_limit_ms, int *records)
{
	const char *servers[] = { server.address };
	struct dns_sync *dns;
	SPF_dns_server_t *layer;
	SPF_dns_rr_t *rr;
	char err[256];
	int herrno;

	assert_int_equal(dns_sync_new(servers, 1, 2, &dns, err, sizeof(err)),
	    TERN_OK);
	layer = spf_dns_layer_new(dns, time_limit_ms);
	assert_non_null(layer);
	rr = layer->lookup(layer, "pass.test", ns_t_txt, 0);
	assert_non_null(rr);
	herrno = rr->herrno;
	*records = rr->num_rr;
	SPF_dns_rr_free(rr);
	layer->destroy(layer);
	dns_sync_free(dns);
	return herrno;
}

static void
lookup_within_time_limit_answers(void **state)
{
	int records;

	(void)state;
	if (server.missing)
		skip();
	assert_int_equal(txt_lookup_herrno(SPF_EVALUATION_TIME_MAX_MS,
	    &records), NETDB_SUCCESS);
	assert_int_equal(records, 1);
}

static void
lookup_after_time_limit_fails_temporarily(void **state)
{
	int records;

	(void)state;
	if (server.missing)
		skip();
	/* A limit of 0 ms has passed before the first lookup. */
	assert_int_equal(txt_lookup_herrno(0, &records), TRY_AGAIN);
	assert_int_equal(records, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(lookup_within_time_limit_answers),
		cmocka_unit_test(lookup_after_time_limit_fails_temporarily),
	};

	return cmocka_run_group_tests(tests, start_dnsmasq, stop_dnsmasq);
}
