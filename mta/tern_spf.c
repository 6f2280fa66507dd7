/*
 * tern spf check --ip ADDRESS --sender ADDRESS [--helo NAME] [--json]
 *
 * Evaluates SPF as smtpd would for a client at ADDRESS sending from
 * SENDER, through the resolvers of the configuration file, and prints
 * the result with the reason. An empty sender (or "<>") checks the HELO
 * name, as for a bounce. Exit status: 0 for pass, 1 for any other
 * result or a failure, 2 for wrong usage.
 *
 * It runs as the invoking user and reads only the configuration file.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "../auth/spf.h"
#include "../dns/dns_sync.h"
#include "../lib/tern_error.h"
#include "../policy/config.h"
#include "tern_commands.h"

struct spf_args {
	const char *ip;
	const char *sender;
	const char *helo;
	bool json;
};

static int
usage(void)
{
	fprintf(stderr, "usage: tern [-c CONFIG] spf check --ip ADDRESS "
	    "--sender ADDRESS [--helo NAME] [--json]\n"
	    "  --ip      the client's IPv4 or IPv6 address\n"
	    "  --sender  the MAIL FROM address; \"\" or \"<>\" for the null "
	    "sender,\n"
	    "            which checks the HELO name instead\n"
	    "  --helo    the name the client gave in HELO or EHLO\n"
	    "  --json    print one JSON object\n");
	return 2;
}

/* Reads the options after "spf check"; false on wrong usage. */
static bool
parse_args(int argc, char **argv, struct spf_args *args)
{
	int i;

	memset(args, 0, sizeof(*args));
	if (argc < 2 || strcmp(argv[1], "check") != 0)
		return false;
	for (i = 2; i < argc; i++) {
		const char **value = NULL;

		if (strcmp(argv[i], "--json") == 0) {
			args->json = true;
			continue;
		}
		if (strcmp(argv[i], "--ip") == 0)
			value = &args->ip;
		else if (strcmp(argv[i], "--sender") == 0)
			value = &args->sender;
		else if (strcmp(argv[i], "--helo") == 0)
			value = &args->helo;
		if (value == NULL || i + 1 >= argc) {
			fprintf(stderr, "tern spf: %s \"%s\"\n", value == NULL ?
			    "unknown option" : "missing value for", argv[i]);
			return false;
		}
		*value = argv[++i];
	}
	if (args->ip == NULL || args->sender == NULL) {
		fprintf(stderr, "tern spf: --ip and --sender are required\n");
		return false;
	}
	return true;
}

static bool
parse_address(const char *text, struct sockaddr_storage *out)
{
	memset(out, 0, sizeof(*out));
	if (uv_ip4_addr(text, 0, (struct sockaddr_in *)out) == 0)
		return true;
	return uv_ip6_addr(text, 0, (struct sockaddr_in6 *)out) == 0 &&
	    strchr(text, '%') == NULL;
}

/* The sender without the angle brackets of a reverse path. */
static void
strip_brackets(const char *sender, char *out, size_t size)
{
	size_t len = strlen(sender);

	if (len >= 2 && sender[0] == '<' && sender[len - 1] == '>')
		snprintf(out, size, "%.*s", (int)(len - 2), sender + 1);
	else
		snprintf(out, size, "%s", sender);
}

/* Prints s as a JSON string; control and 8-bit bytes as \u00XX. */
static void
print_json_string(const char *s)
{
	putchar('"');
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20 || c > 0x7e)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

static void
print_check(const struct spf_check *check, const char *ip, bool json)
{
	if (!json) {
		printf("%s\n", spf_result_name(check->result));
		printf("reason: %s\n", check->reason);
		printf("identity: %s %s\n", check->identity,
		    check->domain[0] != '\0' ? check->domain : "(none)");
		return;
	}
	printf("{\"result\": ");
	print_json_string(spf_result_name(check->result));
	printf(", \"identity\": ");
	print_json_string(check->identity);
	printf(", \"domain\": ");
	print_json_string(check->domain);
	printf(", \"ip\": ");
	print_json_string(ip);
	printf(", \"reason\": ");
	print_json_string(check->reason);
	printf("}\n");
}

/* Makes a blocking resolver from the configuration's resolver list. */
static int
open_resolver(const struct tern_config *cfg, struct dns_sync **out)
{
	const char *servers[CONFIG_MAX_RESOLVERS];
	char err[256] = "";
	size_t i;
	int rc;

	for (i = 0; i < cfg->resolver_count; i++)
		servers[i] = cfg->resolvers[i];
	rc = dns_sync_new(servers, cfg->resolver_count, cfg->resolver_timeout,
	    out, err, sizeof(err));
	if (rc != TERN_OK)
		fprintf(stderr, "tern spf: cannot set up DNS: %s\n", err);
	return rc;
}

int
tern_cmd_spf(const char *config_path, int argc, char **argv)
{
	struct sockaddr_storage client;
	struct tern_config *cfg;
	struct dns_sync *dns = NULL;
	struct spf_check check;
	struct spf_args args;
	char sender[512], err[1024] = "";
	int rc;

	if (!parse_args(argc, argv, &args))
		return usage();
	if (!parse_address(args.ip, &client)) {
		fprintf(stderr, "tern spf: invalid IP address \"%s\"\n",
		    args.ip);
		return 2;
	}
	strip_brackets(args.sender, sender, sizeof(sender));

	cfg = calloc(1, sizeof(*cfg));
	if (cfg == NULL) {
		fprintf(stderr, "tern spf: out of memory\n");
		return 1;
	}
	if (tern_config_load(config_path, cfg, err, sizeof(err)) != TERN_OK) {
		fprintf(stderr, "tern spf: %s\n", err);
		free(cfg);
		return 1;
	}
	rc = open_resolver(cfg, &dns);
	free(cfg);
	if (rc != TERN_OK)
		return 1;

	rc = spf_evaluate(dns, (struct sockaddr *)&client, args.helo, sender,
	    &check);
	dns_sync_free(dns);
	if (rc != TERN_OK) {
		fprintf(stderr, "tern spf: evaluation failed: %s\n",
		    tern_strerror(rc));
		return 1;
	}
	print_check(&check, args.ip, args.json);
	return check.result == SPF_RESULT_PASS ? 0 : 1;
}
