/*
 * A dnsmasq for unit tests; see dnsmasq_server.h.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include "dnsmasq_server.h"

#define DNSMASQ_PATH "/usr/sbin/dnsmasq"
#define DNSMASQ_MAX_ARGS 256

static void
on_server_exit(uv_process_t *process, int64_t status, int signal)
{
	struct dnsmasq_server *s = process->data;

	(void)signal;
	s->exited = true;
	s->exit_status = status;
}

int
dnsmasq_free_port(void)
{
	struct sockaddr_in addr;
	struct sockaddr_storage bound;
	uv_loop_t loop_storage, *loop = &loop_storage;
	uv_udp_t udp;
	uv_tcp_t tcp;
	int len = sizeof(bound), port = -1, rc;

	uv_loop_init(loop);
	uv_ip4_addr("127.0.0.1", 0, &addr);
	uv_udp_init(loop, &udp);
	uv_tcp_init(loop, &tcp);
	if (uv_udp_bind(&udp, (struct sockaddr *)&addr, 0) == 0 &&
	    uv_udp_getsockname(&udp, (struct sockaddr *)&bound, &len) == 0) {
		port = ntohs(((struct sockaddr_in *)&bound)->sin_port);
		addr.sin_port = htons((uint16_t)port);
		rc = uv_tcp_bind(&tcp, (struct sockaddr *)&addr, 0);
		if (rc == 0)
			rc = uv_listen((uv_stream_t *)&tcp, 1, NULL);
		if (rc != 0)
			port = -1;
	}
	uv_close((uv_handle_t *)&udp, NULL);
	uv_close((uv_handle_t *)&tcp, NULL);
	uv_run(loop, UV_RUN_DEFAULT);
	uv_loop_close(loop);
	return port;
}

/* True once something (dnsmasq) has bound the TCP port. The probe runs on a
 * loop of its own, because the server's loop never runs empty while the
 * process handle is open. */
static bool
port_taken(int port)
{
	struct sockaddr_in addr;
	uv_loop_t loop;
	uv_tcp_t tcp;
	int rc;

	uv_loop_init(&loop);
	uv_ip4_addr("127.0.0.1", port, &addr);
	uv_tcp_init(&loop, &tcp);
	rc = uv_tcp_bind(&tcp, (struct sockaddr *)&addr, 0);
	if (rc == 0)
		rc = uv_listen((uv_stream_t *)&tcp, 1, NULL);
	uv_close((uv_handle_t *)&tcp, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_loop_close(&loop);
	return rc == UV_EADDRINUSE;
}

static int
spawn_dnsmasq(struct dnsmasq_server *s, const char *const *records)
{
	static const char *const fixed[] = {
		DNSMASQ_PATH, "--no-daemon", "--listen-address=127.0.0.1",
		"--bind-interfaces", "--conf-file=/dev/null", "--no-resolv",
		"--no-hosts", "--local=/test/",
	};
	char *args[DNSMASQ_MAX_ARGS];
	char port_arg[32];
	uv_stdio_container_t stdio[3];
	uv_process_options_t options;
	size_t n = 0, i;

	for (i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
		args[n++] = (char *)fixed[i];
	snprintf(port_arg, sizeof(port_arg), "--port=%d", s->port);
	args[n++] = port_arg;
	for (i = 0; records[i] != NULL && n < DNSMASQ_MAX_ARGS - 1; i++)
		args[n++] = (char *)records[i];
	if (records[i] != NULL) {
		fprintf(stderr, "too many dnsmasq options\n");
		return UV_E2BIG;
	}
	args[n] = NULL;

	memset(&options, 0, sizeof(options));
	stdio[0].flags = UV_IGNORE;
	stdio[1].flags = UV_IGNORE;
	stdio[2].flags = UV_INHERIT_FD;
	stdio[2].data.fd = 2;
	options.file = DNSMASQ_PATH;
	options.args = args;
	options.exit_cb = on_server_exit;
	options.stdio = stdio;
	options.stdio_count = 3;
	s->process.data = s;
	return uv_spawn(&s->loop, &s->process, &options);
}

/* True when dnsmasq is installed; false (and a message) when it is not. */
static bool
dnsmasq_installed(void)
{
	uv_fs_t req;
	int rc;

	rc = uv_fs_access(NULL, &req, DNSMASQ_PATH, X_OK, NULL);
	uv_fs_req_cleanup(&req);
	if (rc == 0)
		return true;
	fprintf(stderr, "%s is missing (install dnsmasq-base): %s\n",
	    DNSMASQ_PATH, getenv("CI") != NULL ? "failing, because CI is set" :
	    "skipping the tests that need it");
	return false;
}

int
dnsmasq_server_start(struct dnsmasq_server *s, const char *const *records)
{
	int rc, i;

	memset(s, 0, sizeof(*s));
	uv_loop_init(&s->loop);
	if (!dnsmasq_installed()) {
		s->missing = true;
		s->exited = true;
		return getenv("CI") != NULL ? -1 : 0;
	}
	s->port = dnsmasq_free_port();
	if (s->port < 0) {
		fprintf(stderr, "no free loopback port for dnsmasq\n");
		return -1;
	}
	snprintf(s->address, sizeof(s->address), "127.0.0.1:%d", s->port);
	rc = spawn_dnsmasq(s, records);
	if (rc != 0) {
		fprintf(stderr, "cannot start %s: %s (install dnsmasq-base)\n",
		    DNSMASQ_PATH, uv_strerror(rc));
		return -1;
	}

	/* Wait up to 5 s for dnsmasq to bind its port. */
	for (i = 0; i < 100; i++) {
		uv_run(&s->loop, UV_RUN_NOWAIT);
		if (s->exited) {
			fprintf(stderr, "dnsmasq exited with status %lld\n",
			    (long long)s->exit_status);
			return -1;
		}
		if (port_taken(s->port))
			return 0;
		uv_sleep(50);
	}
	fprintf(stderr, "dnsmasq did not bind port %d\n", s->port);
	return -1;
}

void
dnsmasq_server_stop(struct dnsmasq_server *s)
{
	if (s->missing) {
		uv_loop_close(&s->loop);
		return;
	}
	if (!s->exited)
		uv_kill(s->process.pid, SIGTERM);
	while (!s->exited)
		uv_run(&s->loop, UV_RUN_ONCE);
	uv_close((uv_handle_t *)&s->process, NULL);
	uv_run(&s->loop, UV_RUN_DEFAULT);
	uv_loop_close(&s->loop);
}

int
silent_dns_open(struct silent_dns *s)
{
	struct sockaddr_in addr;
	struct sockaddr_storage bound;
	int len = sizeof(bound);

	memset(s, 0, sizeof(*s));
	if (uv_loop_init(&s->loop) != 0)
		return -1;
	uv_ip4_addr("127.0.0.1", 0, &addr);
	if (uv_udp_init(&s->loop, &s->udp) != 0 ||
	    uv_udp_bind(&s->udp, (struct sockaddr *)&addr, 0) != 0 ||
	    uv_udp_getsockname(&s->udp, (struct sockaddr *)&bound, &len) != 0)
		return -1;
	s->port = ntohs(((struct sockaddr_in *)&bound)->sin_port);
	return 0;
}

void
silent_dns_close(struct silent_dns *s)
{
	uv_close((uv_handle_t *)&s->udp, NULL);
	uv_run(&s->loop, UV_RUN_DEFAULT);
	uv_loop_close(&s->loop);
}
