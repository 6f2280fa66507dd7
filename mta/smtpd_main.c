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
 * Known limits: no cap on concurrent sessions; a reload does not move
 * the listeners of a stand-alone smtpd nor the queue directory.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/log.h"
#include "../lib/tern_error.h"
#include "child.h"
#include "smtpd_auth.h"
#include "smtpd_commit.h"
#include "smtpd_session.h"

/* listen(2) backlog; well above the number of concurrent clients. */
#define SMTPD_BACKLOG 511

struct smtpd {
	struct child_runtime rt;
	struct smtpd_server server;
	uv_tcp_t *listeners[CONFIG_MAX_LISTENERS];
	size_t listener_indexes[CONFIG_MAX_LISTENERS]; /* in smtpd.listeners */
	size_t listener_count;
};

static void
free_handle(uv_handle_t *handle)
{
	free(handle);
}

static void
on_connection(uv_stream_t *listener, int status)
{
	struct smtpd *d = listener->data;
	size_t i, index = 0;
	int rc;

	if (status < 0) {
		log_warning("accepting a connection failed: %s",
		    uv_strerror(status));
		return;
	}
	if (d->server.stopping)
		return;
	for (i = 0; i < d->listener_count; i++) {
		if ((uv_stream_t *)d->listeners[i] == listener)
			index = d->listener_indexes[i];
	}
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

	settings = smtpd_settings_new(&rt->config, err, sizeof(err));
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
	    "recipient_limit=%zu relay_networks=%zu starttls=%s",
	    (unsigned long long)settings->message_size_limit,
	    settings->recipient_limit, settings->relay_network_count,
	    settings->tls != NULL ? "yes" : "no");
}

static void
commit_closed(void *arg)
{
	struct smtpd *d = arg;

	d->server.commit = NULL;
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

/* Loads the TLS settings and opens the queue; prints errors. */
static int
smtpd_setup(struct smtpd *d)
{
	char err[1024];

	d->server.loop = d->rt.loop;
	d->server.drained = sessions_drained;
	d->server.data = d;
	d->server.settings = smtpd_settings_new(&d->rt.config, err,
	    sizeof(err));
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
