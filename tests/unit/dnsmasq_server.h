/*
 * A dnsmasq (Debian package dnsmasq-base) for unit tests: started on a
 * free loopback port with the records a test program gives, and stopped
 * by its process id. Only names under test. and the domains the program
 * marks --local are answered; dnsmasq returns REFUSED for the rest.
 *
 * Without dnsmasq the tests that need it are skipped on a developer's
 * machine, but fail when the environment variable CI is set, so a CI
 * run cannot pass without them.
 */
#ifndef TERN_TEST_DNSMASQ_SERVER_H
#define TERN_TEST_DNSMASQ_SERVER_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

struct dnsmasq_server {
	uv_loop_t loop;
	uv_process_t process;
	bool exited;
	int64_t exit_status;
	int port;
	char address[64];        /* "127.0.0.1:PORT", for dns_resolver_new */
	bool missing;            /* not installed: tests skip */
};

/*
 * Starts dnsmasq with the option strings in records (NULL-terminated,
 * "--mx-host=..."), waiting up to 5 s for it to bind its port. Returns
 * 0, also when dnsmasq is missing and CI is not set (missing is then
 * true), or -1 with the reason on standard error.
 */
int dnsmasq_server_start(struct dnsmasq_server *s,
    const char *const *records);

/* Stops dnsmasq by its process id and waits for it to exit. */
void dnsmasq_server_stop(struct dnsmasq_server *s);

/*
 * A DNS server that never answers: a UDP socket on 127.0.0.1 that is
 * bound but never read, so queries to it end only by timeout (no ICMP
 * port-unreachable ends them early).
 */
struct silent_dns {
	uv_loop_t loop;
	uv_udp_t udp;
	int port;
};

/* Binds the socket on a free port. Returns 0 or -1. */
int silent_dns_open(struct silent_dns *s);
void silent_dns_close(struct silent_dns *s);

/* Returns a loopback port free for both UDP and TCP, or -1. */
int dnsmasq_free_port(void);

#endif
