/*
 * libFuzzer target for the MTA-STS parsers (auth/mta_sts.c): the
 * _mta-sts TXT record and the policy file, which the domain owner's DNS
 * and HTTPS servers control (RFC 8461 3.1 and 3.2). The first input
 * byte picks which parser gets the rest. A parsed policy is then matched
 * against a few MX names and against the input itself.
 *
 * Besides crashes and sanitizer reports, it checks that a parsed record
 * id is 1 to 32 letters and digits and that a parsed policy keeps its
 * bounds (mx count, max_age, NUL-terminated patterns). Test code only;
 * no privileges.
 */
#include <ctype.h>
#include <stdint.h>
#include <string.h>

#include "auth/mta_sts.h"
#include "tests/fuzz/fuzz_util.h"

static void
check_txt(const uint8_t *data, size_t size)
{
	char *txt = fuzz_string(data, size);
	char id[64];
	size_t i;

	memset(id, 'x', sizeof(id));
	if (mta_sts_parse_txt(txt, id, sizeof(id)) == 0) {
		FUZZ_CHECK(memchr(id, '\0', sizeof(id)) != NULL);
		FUZZ_CHECK(strlen(id) >= 1 && strlen(id) <= 32);
		for (i = 0; id[i] != '\0'; i++)
			FUZZ_CHECK(isalnum((unsigned char)id[i]));
	}
	free(txt);
}

static void
check_policy(const uint8_t *data, size_t size)
{
	static const char *const hosts[] = {"mail.example.com",
	    "a.b.example.net", "example.net", "", "MAIL.EXAMPLE.COM"};
	struct mta_sts_policy *policy = malloc(sizeof(*policy));
	unsigned char *text = fuzz_copy(data, size);
	char err[256], *host;
	size_t i;

	FUZZ_CHECK(policy != NULL);
	err[0] = '\0';
	if (mta_sts_parse_policy((const char *)text, size, policy, err,
	    sizeof(err)) != 0) {
		FUZZ_CHECK(err[0] != '\0');
	} else {
		FUZZ_CHECK(policy->mode >= MTA_STS_NONE &&
		    policy->mode <= MTA_STS_ENFORCE);
		FUZZ_CHECK(policy->max_age >= 0 &&
		    policy->max_age <= MTA_STS_MAX_AGE_MAX);
		FUZZ_CHECK(policy->mx_count <= MTA_STS_MAX_MX);
		FUZZ_CHECK(policy->mode == MTA_STS_NONE ||
		    policy->mx_count > 0);
		for (i = 0; i < policy->mx_count; i++)
			FUZZ_CHECK(memchr(policy->mx[i], '\0',
			    sizeof(policy->mx[i])) != NULL);
		for (i = 0; i < sizeof(hosts) / sizeof(hosts[0]); i++)
			(void)mta_sts_mx_matches(policy, hosts[i]);
		host = fuzz_string(data, size);
		(void)mta_sts_mx_matches(policy, host);
		free(host);
	}
	FUZZ_CHECK(memchr(err, '\0', sizeof(err)) != NULL);
	free(text);
	free(policy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	if (data[0] & 1)
		check_txt(data + 1, size - 1);
	else
		check_policy(data + 1, size - 1);
	return 0;
}
