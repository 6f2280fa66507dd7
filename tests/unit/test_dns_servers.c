/*
 * Unit tests for dns_set_servers() (dns/dns_answer.c): with no servers
 * configured, a c-ares channel keeps the system's resolvers (on Unix
 * from /etc/resolv.conf, on Windows from the network adapters'
 * settings), and a resolver.servers list replaces them. No query is
 * sent, so the system's resolvers are never contacted. Runs on Unix and,
 * cross-built, on Windows, where c-ares takes the system's list from
 * other APIs than on Unix.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include <ares.h>

#include "dns/dns_answer.h"
#include "lib/platform_net.h"
#include "lib/tern_error.h"

/* Formats the channel's servers as "ADDRESS:PORT ..." into out. */
static void
list_servers(ares_channel channel, char *out, size_t out_size)
{
	struct ares_addr_port_node *servers = NULL, *node;
	char address[INET6_ADDRSTRLEN];
	size_t used = 0;

	out[0] = '\0';
	assert_int_equal(ares_get_servers_ports(channel, &servers),
	    ARES_SUCCESS);
	for (node = servers; node != NULL; node = node->next) {
		const void *raw = node->family == AF_INET ?
		    (const void *)&node->addr.addr4 :
		    (const void *)&node->addr.addr6;
		int n;

		assert_non_null(inet_ntop(node->family, raw, address,
		    sizeof(address)));
		n = snprintf(out + used, out_size - used, "%s%s:%d",
		    used > 0 ? " " : "", address, node->udp_port);
		assert_true(n > 0 && (size_t)n < out_size - used);
		used += (size_t)n;
	}
	ares_free_data(servers);
}

static int
setup(void **state)
{
	static ares_channel channel;
	struct ares_options options;

	if (platform_net_init() != 0 ||
	    ares_library_init(ARES_LIB_INIT_ALL) != ARES_SUCCESS)
		return -1;
	memset(&options, 0, sizeof(options));
	if (ares_init_options(&channel, &options, 0) != ARES_SUCCESS)
		return -1;
	*state = channel;
	return 0;
}

static int
teardown(void **state)
{
	ares_destroy((ares_channel)*state);
	ares_library_cleanup();
	return 0;
}

static void
no_setting_keeps_system_servers(void **state)
{
	ares_channel channel = *state;
	char before[1024], after[1024];
	char err[256] = "";

	list_servers(channel, before, sizeof(before));
	/* c-ares falls back to 127.0.0.1 when the system names none, so
	 * the list is never empty. */
	assert_true(before[0] != '\0');
	assert_int_equal(dns_set_servers(channel, NULL, 0, err, sizeof(err)),
	    TERN_OK);
	list_servers(channel, after, sizeof(after));
	assert_string_equal(after, before);
}

static void
setting_replaces_system_servers(void **state)
{
	static const char *const servers[] = { "127.0.0.1:5353", "[::1]:54" };
	ares_channel channel = *state;
	char list[1024], err[256] = "";

	assert_int_equal(dns_set_servers(channel, servers, 2, err,
	    sizeof(err)), TERN_OK);
	list_servers(channel, list, sizeof(list));
	assert_string_equal(list, "127.0.0.1:5353 ::1:54");
}

static void
invalid_setting_rejected(void **state)
{
	static const char *const servers[] = { "not an address" };
	ares_channel channel = *state;
	char err[256] = "";

	assert_int_not_equal(dns_set_servers(channel, servers, 1, err,
	    sizeof(err)), TERN_OK);
	assert_true(err[0] != '\0');
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(no_setting_keeps_system_servers,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(setting_replaces_system_servers,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(invalid_setting_rejected, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
