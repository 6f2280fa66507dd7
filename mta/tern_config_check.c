/*
 * tern config check [--domain DOMAIN]: validates the server
 * configuration, the policy file, the secrets file, the users file and
 * the smtpd TLS certificate and key, printing every error as FILE:LINE:
 * REASON; with --domain, prints the policy section the domain resolves
 * to and every setting that then applies.
 *
 * Exit status: 0 when the files are valid, 1 when they are not, 2 for
 * wrong usage.
 *
 * Privileges: reads the secrets, users and TLS key files to check them,
 * so it is run as root (or the owner of those files). No secret is ever printed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../auth/tls.h"
#include "../auth/user_file.h"
#include "../dns/dns_sync.h"
#include "../lib/log.h"
#include "../lib/platform_user.h"
#include "../lib/tern_error.h"
#include "../policy/config.h"
#include "../policy/policy.h"
#include "../policy/secrets.h"
#include "secret_files.h"
#include "source_check.h"
#include "ternd_privsep.h"
#include "tern_commands.h"

/* MX hosts read to find a domain's group by the groups' mx lists. */
#define CHECK_MX_MAX 16

static const char *const smart_host_tls_names[] = {
	[SMART_HOST_STARTTLS] = "starttls",
	[SMART_HOST_IMPLICIT] = "implicit",
	[SMART_HOST_STARTTLS_MAY] = "may",
	[SMART_HOST_PLAIN] = "none",
};

static void
usage(FILE *out)
{
	fprintf(out, "usage: tern [-c CONFIG] config check [--domain DOMAIN]\n"
	    "  checks the configuration, the policy file, the secrets "
	    "file,\n  the users file and the TLS certificate and key;\n"
	    "  --domain shows the policy section and settings for DOMAIN\n");
}

/* Prints each line of a multi-line error list to standard error. */
static void
print_errors(const char *errors)
{
	const char *line = errors, *end;

	while (*line != '\0') {
		end = strchr(line, '\n');
		if (end == NULL)
			end = line + strlen(line);
		fprintf(stderr, "%.*s\n", (int)(end - line), line);
		line = *end == '\n' ? end + 1 : end;
	}
}

/* Loads the smtpd certificate and key as ternd does, and prints a
 * failure at the line of the setting that names the failing file. */
static int
check_tls_identity(const struct tern_config *cfg)
{
	static const char cert_failed[] = "failed to load certificate chain";
	struct tls_context *tls;
	const char *where;
	char reason[768];
	bool cert;

	if (cfg->tls_certificate[0] == '\0' || cfg->tls_key[0] == '\0')
		return TERN_OK;
	if (tls_server_context_new(cfg->tls_certificate, cfg->tls_key, &tls,
	    reason, sizeof(reason)) == TERN_OK) {
		tls_context_free(tls);
		return TERN_OK;
	}
	/* A mismatch or a bad key is reported at the key's line. */
	cert = strncmp(reason, cert_failed, sizeof(cert_failed) - 1) == 0;
	where = cert ? cfg->tls_certificate_where : cfg->tls_key_where;
	fprintf(stderr, "%s: smtpd.tls.%s: %s; %s\n",
	    where[0] != '\0' ? where : cfg->path, cert ? "certificate" : "key",
	    reason, cert ? "check that the file exists, is readable and "
	    "contains the PEM certificate chain, server certificate first" :
	    "check that the file exists, is readable and contains the PEM "
	    "private key of the certificate, without a passphrase");
	return TERN_ECONFIG;
}

/* Checks, as ternd does when run as root, that its run user can reach
 * the queue folder and the log file. */
static int
check_run_user_reach(const struct tern_config *cfg)
{
	struct ternd_run_as run_as;
	char err[2048];

	if (ternd_run_as_choose(cfg, &run_as, err, sizeof(err)) != TERN_OK ||
	    ternd_run_as_check_paths(cfg, &run_as, err, sizeof(err)) !=
	    TERN_OK) {
		print_errors(err);
		return TERN_EPERM;
	}
	return TERN_OK;
}

/*
 * Checks, as ternd does, that the user the children run as (the setting
 * user) may not read the DKIM keys or the TLS key. With user = "" the
 * children run as ternd's own user, so there is nothing to check. On
 * Windows, where the setting user does not apply, checks instead that
 * the keys' DACLs keep Users and Everyone out.
 */
static int
check_key_owners(const struct tern_config *cfg, char *err, size_t err_size)
{
#ifdef _WIN32
	if (secret_files_check_keys(cfg, 0, 0, "", err, err_size) != TERN_OK) {
		print_errors(err);
		return TERN_EPERM;
	}
	return TERN_OK;
#else
	struct platform_user user;

	if (cfg->run_user[0] == '\0')
		return TERN_OK;
	/* A missing user is ternd's start-up error (as root) and not a
	 * reason to reject the files here. */
	if (platform_user_find(cfg->run_user, &user, err, err_size) !=
	    TERN_OK)
		return TERN_OK;
	if (secret_files_check_keys(cfg, user.uid, user.gid, user.name, err,
	    err_size) != TERN_OK) {
		print_errors(err);
		return TERN_EPERM;
	}
	return TERN_OK;
#endif
}

/*
 * Checks as much as can be checked even after an error. The policy file
 * is loaded even when the main file has errors (see tern_config_load).
 * The secrets file is checked against the smart hosts that did load,
 * every source address is bound once, and the TLS certificate and key
 * and the users file are read as ternd would read them.
 */
int
tern_check_files(const char *config_path, struct tern_config *cfg)
{
	static char err[16384];
	int status = 0;

	if (tern_config_load(config_path, cfg, err, sizeof(err)) != TERN_OK) {
		print_errors(err);
		status = 1;
		/* The errors are listed already; this only brings back the
		 * sections that did load, for the checks below. */
		if (!cfg->policy.loaded && cfg->policy_file[0] != '\0')
			(void)policy_load_partial(cfg->policy_file,
			    &cfg->policy, err, sizeof(err));
	}
	if (secrets_check_config(cfg, err, sizeof(err)) != TERN_OK) {
		print_errors(err);
		status = 1;
	}
	if (source_check_addresses(cfg, err, sizeof(err)) != TERN_OK) {
		print_errors(err);
		status = 1;
	}
	if (cfg->empty_file)
		fprintf(stderr, "warning: %s has no settings; tern runs on the "
		    "built-in defaults\n", cfg->path);
	if (check_tls_identity(cfg) != TERN_OK)
		status = 1;
	if (check_key_owners(cfg, err, sizeof(err)) != TERN_OK)
		status = 1;
	if (cfg->users_file[0] != '\0') {
		struct user_db *users = NULL;

		if (user_file_load(cfg->users_file, &users, err,
		    sizeof(err)) != TERN_OK) {
			print_errors(err);
			status = 1;
		}
		user_db_free(users);
	}
	if (check_run_user_reach(cfg) != TERN_OK)
		status = 1;
	return status;
}

static const char *
rate_unit(int64_t period)
{
	switch (period) {
	case 1:
		return "s";
	case 60:
		return "m";
	case 3600:
		return "h";
	default:
		return "d";
	}
}

/* The domain's group by the domains lists, else by its MX hosts when
 * some group has mx patterns; -1 for every other domain. */
static int
find_group(const struct tern_config *cfg, const char *domain, bool *by_mx,
    const char **note)
{
	const char *servers[CONFIG_MAX_RESOLVERS];
	struct dns_mx mx[CHECK_MX_MAX];
	struct dns_sync *dns;
	char err[256];
	size_t i, count = 0;
	int group = policy_group_of_domain(&cfg->policy, domain);

	*by_mx = false;
	*note = "";
	if (group >= 0 || !policy_groups_use_mx(&cfg->policy))
		return group;
	for (i = 0; i < cfg->resolver_count; i++)
		servers[i] = cfg->resolvers[i];
	if (dns_sync_new(servers, cfg->resolver_count, cfg->resolver_timeout,
	    &dns, err, sizeof(err)) != TERN_OK) {
		*note = " (MX hosts not looked up: resolver failed)";
		return -1;
	}
	if (dns_sync_mx(dns, domain, mx, CHECK_MX_MAX, &count) != DNS_OK) {
		*note = " (no MX hosts found to match the groups' mx lists)";
		count = 0;
	}
	dns_sync_free(dns);
	for (i = 0; i < count; i++) {
		group = policy_group_of_mx(&cfg->policy, mx[i].host);
		if (group >= 0) {
			*by_mx = true;
			return group;
		}
	}
	return -1;
}

static void
print_route(const struct tern_config *cfg, const struct policy_settings *s)
{
	const struct policy_smart_host *h;

	if (s->route != POLICY_ROUTE_SMART_HOST || s->smart_host < 0) {
		printf("route: mx\n");
		return;
	}
	h = &cfg->policy.smart_hosts[s->smart_host];
	printf("route: smarthost\n");
	printf("smart_host: %s (%s port %d, tls %s, verify %s, "
	    "credentials %s)\n", h->name, h->host, h->port,
	    smart_host_tls_names[h->tls], h->verify ? "on" : "off",
	    h->credentials[0] != '\0' ? h->credentials : "none");
}

static void
print_pool(const struct tern_config *cfg, const struct policy_settings *s)
{
	const struct tern_policy *p = &cfg->policy;
	size_t i;
	int n = 0;

	if (s->pool < 0) {
		printf("pool: none (delivery.source_addresses:");
		for (i = 0; i < cfg->source_count; i++)
			printf(" %s", cfg->sources[i].address);
		printf("%s)\n", cfg->source_count == 0 ? " system's choice" :
		    "");
		return;
	}
	printf("pool: %s (", p->pools[s->pool].name);
	for (i = 0; i < p->source_count; i++) {
		const struct policy_source *src = &p->sources[i];

		if (src->pool != s->pool)
			continue;
		printf("%s%s weight %d%s", n++ > 0 ? ", " : "", src->address,
		    src->weight, src->warmup ? " warmup" : "");
	}
	printf(")\n");
}

static void
print_overflow(const struct tern_config *cfg,
    const struct policy_settings *s)
{
	const struct tern_policy *p = &cfg->policy;

	if (s->overflow == POLICY_OVERFLOW_POOL)
		printf("overflow: pool:%s\n", p->pools[s->overflow_target].name);
	else if (s->overflow == POLICY_OVERFLOW_SMART_HOST)
		printf("overflow: smarthost:%s\n",
		    p->smart_hosts[s->overflow_target].name);
	else
		printf("overflow: wait\n");
}

/* Prints the section of domain and every resolved setting. */
static void
print_domain(const struct tern_config *cfg, const char *domain)
{
	const struct tern_policy *p = &cfg->policy;
	struct policy_settings s;
	const char *note;
	bool by_mx;
	int group;

	policy_resolve(cfg, domain, &s);
	printf("domain: %s\n", domain);
	if (s.section < 0)
		printf("section: none\n");
	else
		printf("section: %s (%s:%d)\n", s.section_name, p->path,
		    p->destinations[s.section].line);
	print_route(cfg, &s);
	printf("tls: %s\n", tls_level_name(s.tls_level));
	print_pool(cfg, &s);
	printf("max_connections: %d\n", s.max_connections);
	printf("max_messages_per_connection: %d\n",
	    s.max_messages_per_connection);
	if (s.rate_period > 0)
		printf("rate: %lld/%s\n", (long long)s.rate_count,
		    rate_unit(s.rate_period));
	else
		printf("rate: unlimited\n");
	printf("retry: first_delay %ds, max_delay %ds, lifetime %ds\n",
	    s.retry_first_delay, s.retry_max_delay, s.retry_lifetime);
	printf("dkim_selector: %s\n", s.dkim_selector[0] != '\0' ?
	    s.dkim_selector : "(every matching key)");
	print_overflow(cfg, &s);
	group = find_group(cfg, domain, &by_mx, &note);
	if (group >= 0)
		printf("group: %s (by %s)\n", p->groups[group].name,
		    by_mx ? "MX host" : "domain");
	else
		printf("group: (every other domain)%s\n", note);
}

int
tern_cmd_config(const char *config_path, int argc, char **argv)
{
	static struct tern_config cfg;
	const char *domain = NULL;
	char shown[300];
	int i;

	if (argc < 2 || strcmp(argv[1], "check") != 0) {
		usage(stderr);
		return 2;
	}
	for (i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--domain") == 0 && i + 1 < argc) {
			domain = argv[++i];
		} else if (strcmp(argv[i], "-h") == 0 ||
		    strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			return 0;
		} else {
			usage(stderr);
			return 2;
		}
	}
	if (domain != NULL && !policy_domain_valid(domain)) {
		log_escape(shown, sizeof(shown), domain, strlen(domain));
		fprintf(stderr, "tern: --domain: invalid domain name \"%s\" "
		    "(expected a name like example.com)\n", shown);
		usage(stderr);
		return 2;
	}
	if (tern_check_files(config_path, &cfg) != 0)
		return 1;
	printf("configuration OK: %s; policy: %s; secrets: %s\n", cfg.path,
	    cfg.policy.loaded ? cfg.policy.path : "none",
	    cfg.secrets_file[0] != '\0' ? cfg.secrets_file : "none");
	if (domain != NULL)
		print_domain(&cfg, domain);
	return 0;
}
