/*
 * libFuzzer target for the DMARC record parser (auth/dmarc_record.c):
 * the input is the text of a TXT record at _dmarc.<domain>, which any
 * DNS server answering for a sender's domain controls. Besides crashes
 * and sanitizer reports, it checks that a parsed record has values in
 * range and that a rejected one has a reason. Test code only; no
 * privileges.
 */
#include <stdint.h>
#include <string.h>

#include "auth/dmarc_record.h"
#include "tests/fuzz/fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dmarc_record record;
	char *txt = fuzz_string(data, size);
	char err[256];
	int rc;

	(void)dmarc_record_is_dmarc(txt);
	err[0] = '\0';
	rc = dmarc_record_parse(txt, &record, err, sizeof(err));
	FUZZ_CHECK(memchr(err, '\0', sizeof(err)) != NULL);
	if (rc == 0) {
		FUZZ_CHECK(record.pct >= 0 && record.pct <= 100);
		FUZZ_CHECK(record.policy >= DMARC_POLICY_NONE &&
		    record.policy <= DMARC_POLICY_REJECT);
		FUZZ_CHECK(record.subdomain_policy >= DMARC_POLICY_NONE &&
		    record.subdomain_policy <= DMARC_POLICY_REJECT);
		FUZZ_CHECK(dmarc_policy_name(record.policy) != NULL);
		FUZZ_CHECK(dmarc_alignment_name(record.adkim) != NULL);
		FUZZ_CHECK(dmarc_alignment_name(record.aspf) != NULL);
	} else {
		FUZZ_CHECK(err[0] != '\0');
	}
	free(txt);
	return 0;
}
