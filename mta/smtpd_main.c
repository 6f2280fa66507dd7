/*
 * tern-smtpd: the SMTP acceptor. It accepts connections on the listening
 * sockets ternd passes over the control pipe, runs an ESMTP session on
 * each (smtpd_session.c) and stores accepted messages in the queue with
 * group commit (smtpd_commit.c). The reply 250 to DATA is sent only once
 * the message is synced to disk.
 *
 * Privileges: the user ternd runs it as. It faces the network, holds the
 * TLS server key when STARTTLS is configured, and writes only new
 * messages to the queue. It never reads DKIM keys or relay credentials.
 * Started by hand (standard input not a pipe from ternd) it binds the
 * configured listeners itself, for debugging.
 * Sessions are limited per listener and per client address
 * (smtpd_limits.c). The soft limit on open files is raised to the hard
 * limit at start, so idle sessions do not starve new clients of sockets.
 * Known limits: a reload does not move the listeners of a stand-alone
 * smtpd nor the queue directory.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/log.h"
#include "../lib/platform_args.h"
#include "../lib/platform_limits.h"
#include "../lib/tern_error.h"
#include "child.h"
#include "smtpd_auth.h"
#include "smtpd_commit.h"
#include "smtpd_session.h"

/* listen(2) backlog: connections that completed the TCP handshake and
 * wait for accept, enough for a burst of a thousand clients. Linux caps
 * it at net.core.somaxconn (4096 since Linux 5.4). */
#define SMTPD_BACKLOG 1024
/* Descriptors that are not sessions: 3 standard streams, log, IPC pipe,
 * up to CONFIG_MAX_LISTENERS (32) listeners, SQLite's database, WAL and
 * shared-memory files, c-ares sockets and libuv's own. This is an
 * estimate with room to spare: smtpd had 16 open with one listener and
 * no session (Linux, libuv 1.44, test_listener_limits.py). */
#define SMTPD_FD_RESERVE 100

struct smtpd {
	struct child_runtime rt;
	struct smtpd_server server;
	uv_tcp_t *listeners[CONFIG_MAX_LISTENERS];
	size_t listener_indexes[CONFIG_MAX_LISTENERS]; /* in smtpd.listeners */
	size_t listener_count;
	/* accept(2) failures: when the last one was logged (uv_now ms),
	 * and how many came after it without a log line. */
	bool accept_failing;
	uint64_t accept_error_log_ms;
	unsigned long accept_errors_unlogged;
};

static void
free_handle(uv_handle_t *handle)
{
	free(handle);
}

/*
 * Logs a failed accept(2) at most once per SMTPD_REJECT_LOG_INTERVAL_MS.
 * NOTE: at the open file limit (EMFILE, ENFILE), libuv 1.44 was seen to
 * close the connections waiting in the backlog itself without calling
 * on_connection. The loop does not spin, but the clients get no reply,
 * so server.max_sessions keeps smtpd below that limit and they get 421.
 */
static void
log_accept_error(struct smtpd *d, int status)
{
	uint64_t now = uv_now(d->rt.loop);
	bool out_of_files = status == UV_EMFILE || status == UV_ENFILE;

	if (d->accept_failing &&
	    now - d->accept_error_log_ms < SMTPD_REJECT_LOG_INTERVAL_MS) {
		d->accept_errors_unlogged++;
		return;
	}
	log_warning("accepting a connection failed: %s%s; %lu more "
	    "failures since the previous message", uv_strerror(status),
	    out_of_files ? " (open file limit reached, waiting connections "
	    "closed)" : "", d->accept_errors_unlogged);
	d->accept_failing = true;
	d->accept_error_log_ms = now;
	d->accept_errors_unlogged = 0;
}

static void
on_connection(uv_stream_t *listener, int status)
{
	struct smtpd *d = listener->data;
	size_t i, index = 0;
	int rc;

	if (status < 0) {
		log_accept_error(d, status);
		return;
	}
	if (d->accept_failing) {
		log_info("accepting connections again; %lu more accept "
		    "failures were not logged", d->accept_errors_unlogged);
		d->accept_failing = false;
		d->accept_errors_unlogged = 0;
	}
	if (d->server.stopping)
		return;
	for (i = 0; i < d->listener_count; i++) {
		if ((uv_stream_t *)d->listeners[i] == listener)
			index = d->listener_indexes[i];
	}
	/* NOTE: when this fails before uv_accept (out of memory), libuv
	 * keeps the connection and stops watching the listener until the
	 * next uv_accept on it, which never comes. */
	rc = smtpd_session_accept(&d->server, listener, index);
	if (rc < 0)
		log_warning("cannot accept a connection: %s", uv_strerror(rc));
}

/* Writes "ADDR:PORT" (or "[V6]:PORT") of a bound socket into out. */
static void
describe_listener(uv_tcp_t *tcp, char *out, size_t out_size)
{
	struct sockaddr_storage ss;
	char addr[64] = "?";
	int len = sizeof(ss), port = 0;

	if (uv_tcp_getsockname(tcp, (struct sockaddr *)&ss, &len) == 0) {
		if (ss.ss_family == AF_INET6) {
			uv_ip6_name((struct sockaddr_in6 *)&ss, addr,
			    sizeof(addr));
			port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
		} else if (ss.ss_family == AF_INET) {
			uv_ip4_name((struct sockaddr_in *)&ss, addr,
			    sizeof(addr));
			port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
		}
	}
	snprintf(out, out_size, strchr(addr, ':') ? "[%s]:%d" : "%s:%d",
	    addr, port);
}

/* Starts accepting on tcp, which this process then owns (malloc'ed);
 * index is its entry in smtpd.listeners. */
static int
start_listener(struct smtpd *d, uv_tcp_t *tcp, size_t index)
{
	char where[96];
	int rc;

	describe_listener(tcp, where, sizeof(where));
	if (d->listener_count == CONFIG_MAX_LISTENERS) {
		log_error("cannot listen on %s: more than %d listeners", where,
		    CONFIG_MAX_LISTENERS);
		uv_close((uv_handle_t *)tcp, free_handle);
		return UV_EINVAL;
	}
	tcp->data = d;
	rc = uv_listen((uv_stream_t *)tcp, SMTPD_BACKLOG, on_connection);
	if (rc < 0) {
		log_error("cannot listen on %s: %s", where, uv_strerror(rc));
		uv_close((uv_handle_t *)tcp, free_handle);
		return rc;
	}
	d->listeners[d->listener_count] = tcp;
	d->listener_indexes[d->listener_count++] = index;
	/* Under ternd, ternd logs this once smtpd reports IPC_LISTENING. */
	if (d->rt.standalone)
		log_info("listening on %s", where);
	return 0;
}

/* A listening socket from ternd (IPC_LISTENER). */
static void
on_listener(struct child_runtime *rt, size_t index, uv_tcp_t *server)
{
	struct smtpd *d = rt->data;

	if (rt->stopping) {
		uv_close((uv_handle_t *)server, free_handle);
		return;
	}
	if (start_listener(d, server, index) != 0)
		log_error("listener %zu from ternd is not used", index);
}

/* Stand-alone: binds the configured listeners without ternd. */
static int
bind_listeners(struct smtpd *d)
{
	const struct tern_config *cfg = &d->rt.config;
	struct sockaddr_storage addr;
	uv_tcp_t *tcp;
	size_t i;
	int rc;

	for (i = 0; i < cfg->listener_count; i++) {
		const struct config_listener *l = &cfg->listeners[i];

		rc = config_listener_sockaddr(l, &addr) == TERN_OK ? 0 :
		    UV_EINVAL;
		tcp = rc == 0 ? malloc(sizeof(*tcp)) : NULL;
		if (tcp == NULL || uv_tcp_init(d->rt.loop, tcp) != 0) {
			log_error("cannot listen on %s port %d: %s",
			    l->address, l->port,
			    rc != 0 ? uv_strerror(rc) : "out of memory");
			free(tcp);
			return 1;
		}
		rc = uv_tcp_bind(tcp, (const struct sockaddr *)&addr, 0);
		if (rc == 0)
			rc = start_listener(d, tcp, i);
		else
			uv_close((uv_handle_t *)tcp, free_handle);
		if (rc != 0) {
			log_error("cannot listen on %s port %d: %s",
			    l->address, l->port, uv_strerror(rc));
			return 1;
		}
	}
	return 0;
}

static void
on_reload(struct child_runtime *rt, const struct tern_config *previous)
{
	struct smtpd *d = rt->data;
	struct smtpd_settings *settings;
	char err[1024];

	/* Under ternd the listeners come in bound order already, so this
	 * only matters for a stand-alone smtpd. */
	config_listeners_keep_bound(&rt->config, previous);
	settings = smtpd_settings_new(&rt->config, &rt->secrets, err,
	    sizeof(err));
	if (settings == NULL) {
		log_error("reload: %s; new sessions keep the previous "
		    "settings", err);
		return;
	}
	smtpd_settings_unref(d->server.settings);
	d->server.settings = settings;
	if (strcmp(previous->queue_directory, rt->config.queue_directory) != 0)
		log_warning("reload: queue.directory changed to %s; restart "
		    "tern to use it", rt->config.queue_directory);
	log_info("new sessions use message_size_limit=%llu "
	    "recipient_limit=%zu relay_networks=%zu starttls=%s "
	    "listeners=%zu", (unsigned long long)settings->message_size_limit,
	    settings->recipient_limit, settings->relay_network_count,
	    settings->tls != NULL ? "yes" : "no", settings->listener_count);
}

static void
commit_closed(void *arg)
{
	struct smtpd *d = arg;
	size_t i;

	d->server.commit = NULL;
	for (i = 0; i < CONFIG_MAX_LISTENERS; i++)
		smtpd_limits_free(&d->server.limits[i]);
	smtpd_settings_unref(d->server.settings);
	d->server.settings = NULL;
	child_release(&d->rt);
}

/* The last session is gone: let the queue finish, then stop. */
static void
sessions_drained(struct smtpd_server *server)
{
	struct smtpd *d = server->data;

	smtpd_commit_close(d->server.commit, commit_closed, d);
}

static void
on_stop(struct child_runtime *rt)
{
	struct smtpd *d = rt->data;
	size_t i;

	for (i = 0; i < d->listener_count; i++)
		uv_close((uv_handle_t *)d->listeners[i], free_handle);
	d->listener_count = 0;
	smtpd_server_shutdown(&d->server);
	smtpd_auth_abort_pending();
}

/*
 * Keeps SMTPD_FD_RESERVE descriptors of the open file limit for the
 * process itself (log, IPC pipe, listeners, queue database, DNS sockets)
 * and leaves the rest to sessions, one socket each. With a limit under
 * twice the reserve, sessions get half of it.
 */
static void
set_max_sessions(struct smtpd *d, uint64_t fd_limit)
{
	uint64_t sessions;

	if (fd_limit == 0 || fd_limit == (uint64_t)-1) {
		d->server.max_sessions = 0;
		return;
	}
	sessions = fd_limit >= 2 * SMTPD_FD_RESERVE ?
	    fd_limit - SMTPD_FD_RESERVE : fd_limit / 2;
	d->server.max_sessions = sessions > SIZE_MAX ? SIZE_MAX :
	    (size_t)sessions;
	log_info("at most %zu sessions at once for the open file limit",
	    d->server.max_sessions);
}

/* Loads the TLS settings and opens the queue; prints errors. */
static int
smtpd_setup(struct smtpd *d)
{
	char err[1024];
	size_t i;

	set_max_sessions(d, platform_raise_fd_limit_logged());
	for (i = 0; i < CONFIG_MAX_LISTENERS; i++)
		smtpd_limits_init(&d->server.limits[i]);
	d->server.loop = d->rt.loop;
	d->server.drained = sessions_drained;
	d->server.data = d;
	d->server.settings = smtpd_settings_new(&d->rt.config,
	    &d->rt.secrets, err, sizeof(err));
	if (d->server.settings == NULL) {
		log_error("cannot start: %s", err);
		fprintf(stderr, "tern-smtpd: %s\n", err);
		return 1;
	}
	if (smtpd_commit_open(d->rt.loop, d->rt.config.queue_directory,
	    &d->server.commit, err, sizeof(err)) != TERN_OK) {
		log_error("cannot open the queue: %s", err);
		fprintf(stderr, "tern-smtpd: cannot open the queue: %s\n", err);
		return 1;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	static struct smtpd d;
	int rc;

	if (platform_utf8_arguments(&argc, &argv) != 0) {
		fprintf(stderr, "tern-smtpd: cannot convert the command line "
		    "arguments to UTF-8\n");
		return 1;
	}
	rc = child_init(&d.rt, "smtpd", argc, argv);
	if (rc != 0)
		return rc;
	d.rt.data = &d;
	d.rt.on_listener = on_listener;
	d.rt.on_reload = on_reload;
	d.rt.on_stop = on_stop;
	smtpd_auth_start(&d.rt);

	rc = smtpd_setup(&d);
	if (rc != 0)
		return rc;
	if (d.rt.standalone && bind_listeners(&d) != 0) {
		fprintf(stderr, "tern-smtpd: cannot bind the listeners; see "
		    "the log\n");
		return 1;
	}
	return child_run(&d.rt);
}
