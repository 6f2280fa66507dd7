/*
 * tern doctor DOMAIN [--json]: checks what large receivers check of mail
 * from DOMAIN sent by this tern, from live DNS through the configured
 * resolver. The checks cover MX, SPF (the record, and each configured
 * source address against it), the DKIM selector records of the
 * configured keys, DMARC and the alignment of SPF and DKIM with it,
 * MTA-STS, and reverse DNS of each source address against its EHLO
 * name.
 *
 * Exit status: 0 when no check fails (warnings allowed), 1 when one
 * does, 2 for wrong usage or a configuration that cannot be loaded.
 *
 * Privileges: reads the configuration and the DKIM private keys it
 * names (to derive their public keys), so it is run by root or the user
 * deliver runs as.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../auth/mta_sts.h"
#include "../dns/dns_sync.h"
#include "../lib/tern_error.h"
#include "../policy/config.h"
#include "doctor.h"
#include "tern_commands.h"

static void
usage(FILE *out)
{
	fprintf(out, "usage: tern [-c CONFIG] doctor DOMAIN [--json]\n"
	    "  checks MX, SPF, DKIM, DMARC, MTA-STS and reverse DNS for mail\n"
	    "  from DOMAIN; --json prints one JSON object for scripts\n");
}

/* Copies a domain name argument in lower case without a final dot;
 * false unless it is made of LDH labels of 1 to 63 characters. */
static bool
domain_argument(const char *arg, char *out, size_t out_size)
{
	size_t len = strlen(arg), label = 0, i;

	if (len > 0 && arg[len - 1] == '.')
		len--;
	if (len == 0 || len > 253 || len >= out_size)
		return false;
	for (i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)arg[i];

		if (ch == '.') {
			if (label == 0 || arg[i - 1] == '-')
				return false;
			label = 0;
		} else if (isalnum(ch) || (ch == '-' && label > 0) ||
		    ch == '_') {
			if (++label > 63)
				return false;
		} else {
			return false;
		}
		out[i] = (char)tolower(ch);
	}
	out[len] = '\0';
	return label > 0 && arg[len - 1] != '-';
}

/* Makes the blocking resolver from the configuration's servers. */
static int
open_resolver(const struct tern_config *cfg, struct dns_sync **dns)
{
	const char *servers[CONFIG_MAX_RESOLVERS];
	char err[256];
	size_t i;

	for (i = 0; i < cfg->resolver_count; i++)
		servers[i] = cfg->resolvers[i];
	if (dns_sync_new(servers, cfg->resolver_count, cfg->resolver_timeout,
	    dns, err, sizeof(err)) != TERN_OK) {
		fprintf(stderr, "tern doctor: cannot set up the resolver: %s\n",
		    err);
		return -1;
	}
	return 0;
}

static void
run_checks(struct doctor_context *ctx)
{
	doctor_check_mx(ctx);
	doctor_check_spf_record(ctx);
	doctor_check_spf_sources(ctx);
	doctor_check_dkim(ctx);
	doctor_check_dmarc(ctx);
	doctor_check_alignment(ctx);
	doctor_check_mta_sts(ctx);
	doctor_check_rdns(ctx);
}

int
tern_cmd_doctor(const char *config_path, int argc, char **argv)
{
	static struct tern_config cfg;
	static struct doctor_report report;
	static struct doctor_context ctx;
	const char *domain = NULL;
	char name[256], err[1024];
	bool json = false;
	int i;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0) {
			json = true;
		} else if (strcmp(argv[i], "-h") == 0 ||
		    strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			return 0;
		} else if (argv[i][0] == '-' || domain != NULL) {
			fprintf(stderr, "tern doctor: unexpected argument "
			    "\"%s\"\n", argv[i]);
			usage(stderr);
			return 2;
		} else {
			domain = argv[i];
		}
	}
	if (domain == NULL) {
		fprintf(stderr, "tern doctor: the sending domain to check is "
		    "missing\n");
		usage(stderr);
		return 2;
	}
	if (!domain_argument(domain, name, sizeof(name))) {
		fprintf(stderr, "tern doctor: \"%s\" is not a domain name\n",
		    domain);
		return 2;
	}
	if (tern_config_load(config_path, &cfg, err, sizeof(err)) != TERN_OK) {
		fprintf(stderr, "tern doctor: %s\n", err);
		return 2;
	}

	memset(&ctx, 0, sizeof(ctx));
	memset(&report, 0, sizeof(report));
	snprintf(report.domain, sizeof(report.domain), "%s", name);
	ctx.cfg = &cfg;
	ctx.domain = report.domain;
	ctx.report = &report;
	if (open_resolver(&cfg, &ctx.dns) != 0)
		return 2;
	if (mta_sts_global_init() != TERN_OK) {
		fprintf(stderr, "tern doctor: cannot initialise libcurl\n");
		dns_sync_free(ctx.dns);
		return 1;
	}
	run_checks(&ctx);
	dns_sync_free(ctx.dns);

	if (json)
		doctor_print_json(&report, stdout);
	else
		doctor_print_text(&report, stdout);
	if (fflush(stdout) != 0) {
		fprintf(stderr, "tern doctor: cannot write the report\n");
		return 1;
	}
	return doctor_worst(&report) == DOCTOR_FAIL ? 1 : 0;
}
