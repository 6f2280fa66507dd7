/*
 * tern-deliver: the delivery agent. It connects to qmgr's pipe, offers
 * max_deliveries concurrent jobs (IPC_DELIVER_HELLO), runs each IPC_JOB
 * in this one event loop and replies with IPC_JOB_RESULT: each
 * recipient's outcome with the details a DSN report needs, and the
 * job's verdict on its destination.
 *
 * Idle SMTP sessions are kept in a cache (deliver_cache.c) for the next
 * job to the same domain, up to max_deliveries of them. A reload QUITs
 * them all and makes a new DNS resolver and TLS client context; running
 * jobs keep the ones they started with. A stop QUITs them too.
 *
 * A job's content comes from the queue database, opened read-only and
 * read in the libuv thread pool; every handle serves one load at a time.
 * When qmgr's pipe is missing or breaks, deliver connects again after
 * DELIVER_RECONNECT_MS; qmgr releases the jobs of a closed connection,
 * so results of jobs that outlive their connection are dropped (and
 * logged), and those recipients are tried again.
 *
 * The source addresses' reverse DNS is checked at start and on each
 * reload (deliver_align.c); the SPF self-check results are forgotten on
 * reload (deliver_spf.c).
 *
 * Privileges: deliver reads the queue, writes only its MTA-STS policy
 * cache there (deliver_sts_lookup.c), makes outbound connections and
 * holds the DKIM private keys (deliver_dkim.c signs in the worker thread
 * that loads a job's content) and the smart-host credentials of the
 * secrets file (deliver_smarthost.c). It runs unprivileged and cannot
 * open those files: ternd sends their text with each configuration
 * (secret_files.h). Known limits: the whole content of a message
 * is loaded into memory for its delivery.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../auth/tls.h"
#include "../dns/resolver.h"
#include "../lib/log.h"
#include "../lib/platform_args.h"
#include "../lib/tern_error.h"
#include "../queue/queue.h"
#include "child.h"
#include "deliver_align.h"
#include "deliver_cache.h"
#include "deliver_dkim.h"
#include "deliver_ipc.h"
#include "deliver_job.h"
#include "deliver_spf.h"
#include "dkim_keys.h"
#include "ipc.h"

/* Pause before connecting to qmgr's pipe again. */
#define DELIVER_RECONNECT_MS 1000
/* How long running jobs may go on after a stop request. */
#define DELIVER_STOP_GRACE_MS 5000
/* Room for the Received header that smtpd adds on top of the size
 * limit it enforces. */
#define DELIVER_CONTENT_SLACK (64 * 1024)
/* Queue handles kept open for content loads. */
#define DELIVER_QUEUE_POOL 8
/* The DNS resolver, TLS client context and DKIM signer shared by the
 * jobs started while they were current. */
struct env_ref {
	struct dns_resolver *dns;
	struct tls_context *tls;          /* NULL: outbound TLS is off */
	struct dkim_signer *dkim;         /* used in worker threads */
	struct deliver_smarthosts *smarthosts; /* holds the credentials */
	int refs;
};

/* A job and what it runs with. */
struct job_slot {
	struct deliver_job *job;
	struct deliver *d;
	struct env_ref *env;
	uint64_t generation;          /* of the qmgr connection */
	uv_work_t load;
	char queue_directory[1024];   /* copied: a reload may change it */
	struct queue *queue;          /* during the load */
	int load_rc;
	char load_error[256];
	char hold_reason[1200];       /* set when DKIM signing holds the job */
	struct job_slot *prev, *next;
};

struct deliver {
	struct child_runtime rt;
	struct env_ref *env;          /* for new jobs */
	struct deliver_cache *cache;
	struct deliver_sts *sts;      /* the MTA-STS policy cache */
	struct deliver_align *align;  /* rDNS of the source addresses */
	struct deliver_spf *spf;      /* SPF self-check results */
	char pipe_name[1024];

	struct ipc_channel *channel;  /* NULL while not connected */
	uint64_t generation;          /* counts connections to qmgr */
	bool connecting;
	bool connect_failed_logged;
	uv_connect_t connect_req;
	uv_timer_t reconnect_timer;
	uv_timer_t stop_timer;

	struct job_slot *slots;
	size_t active;
	struct queue *queues[DELIVER_QUEUE_POOL];
	size_t queue_count;
	struct ipc_writer writer;
};

static void connect_qmgr(struct deliver *d);
static void maybe_shut_down(struct deliver *d);

/* ---- Resolver and TLS context references ---- */

/*
 * Makes a resolver and a TLS client context from the current settings.
 * A TLS context that cannot be made leaves outbound TLS off when
 * tls_optional, and fails otherwise (a reload keeps the previous one).
 */
static struct env_ref *
env_ref_new(struct deliver *d, bool tls_optional)
{
	const struct tern_config *cfg = &d->rt.config;
	const char *servers[CONFIG_MAX_RESOLVERS];
	struct env_ref *ref;
	char err[256];
	size_t i;

	ref = calloc(1, sizeof(*ref));
	if (ref == NULL)
		return NULL;
	for (i = 0; i < cfg->resolver_count; i++)
		servers[i] = cfg->resolvers[i];
	if (dns_resolver_new(d->rt.loop, servers, cfg->resolver_count,
	    cfg->resolver_timeout, &ref->dns, err, sizeof(err)) != TERN_OK) {
		log_error("cannot create the DNS resolver: %s", err);
		free(ref);
		return NULL;
	}
	if (tls_client_context_new(cfg->tls_ca_file, &ref->tls, err,
	    sizeof(err)) != TERN_OK) {
		if (!tls_optional) {
			log_error("cannot load the outbound TLS settings: %s",
			    err);
			dns_resolver_free(ref->dns);
			free(ref);
			return NULL;
		}
		log_warning("outbound TLS is off: %s; mail to destinations "
		    "with TLS level encrypt or verify is deferred", err);
		ref->tls = NULL;
	}
	/* ternd checked the keys, but a file can change on disk before
	 * ternd reads it again for a restarted deliver: a key that is then
	 * missing or broken holds its mail instead. */
	if (dkim_keys_load(cfg, true, &d->rt.secrets, &ref->dkim, err,
	    sizeof(err)) !=
	    TERN_OK) {
		log_error("cannot load the DKIM keys: %s", err);
		dns_resolver_free(ref->dns);
		tls_context_free(ref->tls);
		free(ref);
		return NULL;
	}
	/* The secrets file comes again with each configuration. */
	if (deliver_smarthosts_new(cfg, &d->rt.secrets, ref->tls, !tls_optional,
	    &ref->smarthosts, err, sizeof(err)) != TERN_OK) {
		log_error("cannot set up the smart hosts: %s", err);
		dns_resolver_free(ref->dns);
		tls_context_free(ref->tls);
		dkim_signer_free(ref->dkim);
		free(ref);
		return NULL;
	}
	ref->refs = 1;
	return ref;
}

static void
env_ref_release(struct env_ref *ref)
{
	if (ref != NULL && --ref->refs == 0) {
		dns_resolver_free(ref->dns);
		tls_context_free(ref->tls);
		dkim_signer_free(ref->dkim);
		/* Wipes the credentials of this configuration. */
		deliver_smarthosts_free(ref->smarthosts);
		free(ref);
	}
}

/* ---- Queue handles for content loads ---- */

static struct queue *
take_queue(struct deliver *d)
{
	return d->queue_count > 0 ? d->queues[--d->queue_count] : NULL;
}

static void
return_queue(struct deliver *d, struct queue *q)
{
	if (q == NULL)
		return;
	if (d->queue_count < DELIVER_QUEUE_POOL && !d->rt.stopping)
		d->queues[d->queue_count++] = q;
	else
		queue_close(q);
}

/* ---- Results ---- */

static void
slot_unlink_free(struct deliver *d, struct job_slot *slot)
{
	if (slot->prev != NULL)
		slot->prev->next = slot->next;
	else
		d->slots = slot->next;
	if (slot->next != NULL)
		slot->next->prev = slot->prev;
	env_ref_release(slot->env);
	deliver_job_free(slot->job);
	free(slot);
	d->active--;
}

static void
send_result(struct deliver *d, struct job_slot *slot)
{
	struct deliver_job *job = slot->job;
	int rc;

	if (d->channel == NULL || slot->generation != d->generation) {
		log_warning("%s: job %llu: qmgr's connection closed before the "
		    "result; its recipients will be tried again",
		    job->queue_id, (unsigned long long)job->job_id);
		return;
	}
	rc = deliver_ipc_write_result(&d->writer, job);
	if (rc == TERN_OK)
		rc = ipc_channel_send(d->channel, &d->writer, NULL);
	if (rc != TERN_OK)
		log_error("%s: job %llu: cannot send the result to qmgr: %s",
		    job->queue_id, (unsigned long long)job->job_id,
		    tern_strerror(rc));
}

static void
on_job_done(struct deliver_job *job)
{
	struct job_slot *slot = job->data;
	struct deliver *d = slot->d;

	send_result(d, slot);
	slot_unlink_free(d, slot);
	maybe_shut_down(d);
}

/* ---- Running a job ---- */

static void
load_content(uv_work_t *req)
{
	struct job_slot *slot = req->data;
	const char *dir = slot->queue_directory;

	slot->load_rc = TERN_OK;
	if (slot->queue == NULL)
		slot->load_rc = queue_open(dir, QUEUE_READ_ONLY, &slot->queue,
		    slot->load_error, sizeof(slot->load_error));
	if (slot->load_rc == TERN_OK)
		slot->load_rc = queue_load_content(slot->queue,
		    slot->job->message_id, &slot->job->content);
	if (slot->load_rc == TERN_OK && !deliver_dkim_prepare(slot->env->dkim,
	    slot->queue, slot->job, slot->hold_reason,
	    sizeof(slot->hold_reason)))
		slot->load_rc = TERN_ETEMP;
	if (slot->load_rc != TERN_OK && slot->load_error[0] == '\0')
		snprintf(slot->load_error, sizeof(slot->load_error), "%s",
		    tern_strerror(slot->load_rc));
}

/* Settles a job whose content could not be loaded. */
static void
settle_unloaded(struct job_slot *slot)
{
	struct deliver_job *job = slot->job;
	char reason[400];

	snprintf(reason, sizeof(reason), "cannot read the message from the "
	    "queue: %s", slot->load_error);
	log_error("%s: %s", job->queue_id, reason);
	/* A message too large for this limit stays so: deferring it keeps
	 * it until it expires and bounces, like any other deferral. */
	deliver_job_settle(job, QUEUE_DEFERRED, slot->load_rc ==
	    TERN_ETOOBIG ? "4.3.4" : "4.3.0", reason);
	deliver_job_log(job);
}

static void
content_loaded(uv_work_t *req, int status)
{
	struct job_slot *slot = req->data;
	struct deliver *d = slot->d;
	struct deliver_env env;

	if (status == UV_ECANCELED && slot->load_rc == TERN_OK)
		slot->load_rc = TERN_ETEMP;
	if (slot->load_rc == TERN_EDB || slot->load_rc == TERN_ESCHEMA) {
		queue_close(slot->queue);  /* open a fresh one next time */
		slot->queue = NULL;
	}
	return_queue(d, slot->queue);
	slot->queue = NULL;

	if (d->rt.stopping) {
		/* Not started: qmgr releases it when the pipe closes. */
		slot_unlink_free(d, slot);
		maybe_shut_down(d);
		return;
	}
	if (slot->hold_reason[0] != '\0') {
		/* 4.3.5: the system is not configured right (RFC 3463). */
		deliver_job_settle(slot->job, QUEUE_DEFERRED, "4.3.5",
		    slot->hold_reason);
		deliver_job_log(slot->job);
		on_job_done(slot->job);
		return;
	}
	if (slot->load_rc != TERN_OK) {
		settle_unloaded(slot);
		on_job_done(slot->job);
		return;
	}
	env.loop = d->rt.loop;
	env.config = &d->rt.config;
	env.resolver = slot->env->dns;
	env.tls = slot->env->tls;
	env.cache = d->cache;
	env.sts = d->sts;
	env.align = d->align;
	env.spf = d->spf;
	env.smarthosts = slot->env->smarthosts;
	if (deliver_job_start(slot->job, &env, on_job_done) != TERN_OK) {
		deliver_job_settle(slot->job, QUEUE_DEFERRED, "4.3.0",
		    "out of memory");
		deliver_job_log(slot->job);
		on_job_done(slot->job);
	}
}

/* Registers a job and its resolver and TLS context reference; NULL when
 * out of memory. */
static struct job_slot *
add_slot(struct deliver *d, struct deliver_job *job)
{
	struct job_slot *slot;

	slot = calloc(1, sizeof(*slot));
	if (slot == NULL)
		return NULL;
	slot->job = job;
	slot->d = d;
	slot->env = d->env;
	d->env->refs++;
	slot->generation = d->generation;
	snprintf(slot->queue_directory, sizeof(slot->queue_directory), "%s",
	    d->rt.config.queue_directory);
	job->data = slot;

	slot->next = d->slots;
	if (d->slots != NULL)
		d->slots->prev = slot;
	d->slots = slot;
	d->active++;
	return slot;
}

static void
handle_job(struct deliver *d, struct ipc_reader *r)
{
	struct deliver_job *job;
	struct job_slot *slot;
	int rc;

	rc = deliver_ipc_read_job(r, (size_t)d->rt.config.message_size_limit +
	    DELIVER_CONTENT_SLACK, &job);
	if (rc == TERN_EINVAL) {
		log_error("qmgr sent a malformed job; closing its pipe");
		ipc_channel_close(d->channel);
		return;
	}
	if (rc != TERN_OK) {
		/* qmgr releases the job when the pipe closes. */
		log_error("cannot take a job from qmgr: %s", tern_strerror(rc));
		return;
	}
	if (d->rt.stopping) {
		deliver_job_free(job);
		return;
	}
	slot = add_slot(d, job);
	if (slot == NULL) {
		log_error("%s: out of memory; job %llu is left to qmgr",
		    job->queue_id, (unsigned long long)job->job_id);
		deliver_job_free(job);
		return;
	}

	slot->queue = take_queue(d);
	slot->load.data = slot;
	if (uv_queue_work(d->rt.loop, &slot->load, load_content,
	    content_loaded) != 0) {
		snprintf(slot->load_error, sizeof(slot->load_error),
		    "cannot start a worker thread");
		slot->load_rc = TERN_EIO;
		content_loaded(&slot->load, 0);
	}
}

/* ---- qmgr's pipe ---- */

static void
on_qmgr_message(struct ipc_channel *ch, enum ipc_type type,
    struct ipc_reader *r)
{
	struct deliver *d = ch->data;

	if (type == IPC_JOB) {
		handle_job(d, r);
		return;
	}
	log_error("qmgr sent unexpected message type %d; closing its pipe",
	    (int)type);
	ipc_channel_close(ch);
}

static void
on_reconnect_timer(uv_timer_t *timer)
{
	connect_qmgr(timer->data);
}

static void
schedule_reconnect(struct deliver *d)
{
	if (!d->rt.stopping)
		uv_timer_start(&d->reconnect_timer, on_reconnect_timer,
		    DELIVER_RECONNECT_MS, 0);
}

static void
on_qmgr_closed(struct ipc_channel *ch)
{
	struct deliver *d = ch->data;

	if (d->channel == ch)
		d->channel = NULL;
	free(ch);
	if (!d->rt.stopping) {
		log_warning("qmgr's pipe closed; connecting again in %d ms",
		    DELIVER_RECONNECT_MS);
		schedule_reconnect(d);
	}
}

/* The pipe of a failed connection attempt is closed. */
static void
on_attempt_closed(uv_handle_t *handle)
{
	struct ipc_channel *ch = handle->data;
	struct deliver *d = ch->data;

	free(ch);
	d->connecting = false;
	schedule_reconnect(d);
}

static int
send_hello(struct deliver *d)
{
	int rc;

	rc = ipc_writer_begin(&d->writer, IPC_DELIVER_HELLO);
	if (rc == TERN_OK)
		rc = ipc_put_u64(&d->writer,
		    (uint64_t)d->rt.config.max_deliveries);
	if (rc == TERN_OK)
		rc = ipc_channel_send(d->channel, &d->writer, NULL);
	return rc;
}

static void
on_qmgr_connected(uv_connect_t *req, int status)
{
	struct deliver *d = req->data;
	struct ipc_channel *ch = req->handle->data;

	if (uv_is_closing((uv_handle_t *)req->handle))
		return; /* shut down while connecting */
	if (status < 0 || d->rt.stopping) {
		/* qmgr may simply not be up yet: log it once per outage. */
		if (!d->connect_failed_logged && status < 0)
			log_warning("cannot connect to qmgr at %s: %s; "
			    "retrying every %d ms", d->pipe_name,
			    uv_strerror(status), DELIVER_RECONNECT_MS);
		d->connect_failed_logged = status < 0;
		uv_close((uv_handle_t *)req->handle, on_attempt_closed);
		return;
	}
	d->connecting = false;
	d->connect_failed_logged = false;
	d->channel = ch;
	d->generation++;
	if (ipc_channel_start(ch, on_qmgr_message, on_qmgr_closed) != 0 ||
	    send_hello(d) != TERN_OK) {
		log_error("cannot start talking to qmgr at %s", d->pipe_name);
		ipc_channel_close(ch);
		return;
	}
	log_info("connected to qmgr at %s, offering %d concurrent jobs",
	    d->pipe_name, d->rt.config.max_deliveries);
}

static void
connect_qmgr(struct deliver *d)
{
	struct ipc_channel *ch;
	int rc;

	if (d->rt.stopping || d->connecting || d->channel != NULL)
		return;
	/* On Windows qmgr picks a new pipe name at each start, so the name
	 * is read again before every attempt. */
	rc = ipc_qmgr_pipe_name(d->rt.config.queue_directory, d->pipe_name,
	    sizeof(d->pipe_name));
	if (rc != TERN_OK) {
		if (!d->connect_failed_logged)
			log_warning("cannot find qmgr's pipe for queue "
			    "directory %s: %s; retrying every %d ms",
			    d->rt.config.queue_directory, tern_strerror(rc),
			    DELIVER_RECONNECT_MS);
		d->connect_failed_logged = true;
		schedule_reconnect(d);
		return;
	}
	ch = calloc(1, sizeof(*ch));
	if (ch == NULL || uv_pipe_init(d->rt.loop, &ch->pipe, 0) != 0) {
		log_error("cannot create a pipe to qmgr: out of memory");
		free(ch);
		schedule_reconnect(d);
		return;
	}
	ch->data = d;
	ch->pipe.data = ch;
	d->connecting = true;
	d->connect_req.data = d;
	uv_pipe_connect(&d->connect_req, &ch->pipe, d->pipe_name,
	    on_qmgr_connected);
}

/* ---- Reload and stop ---- */

static void
on_reload(struct child_runtime *rt, const struct tern_config *previous)
{
	struct deliver *d = rt->data;
	struct env_ref *fresh;

	(void)previous;
	/* Idle sessions were opened with the previous settings. */
	deliver_cache_quit_all(d->cache);
	deliver_cache_set_capacity(d->cache, (size_t)rt->config.max_deliveries);
	deliver_align_start(d->align, &rt->config);
	deliver_spf_reset(d->spf);

	/* Running jobs keep the resolver and TLS context they started
	 * with. */
	fresh = env_ref_new(d, false);
	if (fresh == NULL) {
		log_error("keeping the previous DNS resolver, outbound TLS "
		    "settings and smart-host credentials");
		return;
	}
	env_ref_release(d->env);
	d->env = fresh;
}

static void
on_channel_flushed(uv_shutdown_t *req, int status)
{
	struct ipc_channel *ch = req->data;

	(void)status;
	free(req);
	ipc_channel_close(ch);
}

/* Closes qmgr's pipe after the results written so far have gone out. */
static void
close_channel_flushed(struct deliver *d)
{
	struct ipc_channel *ch = d->channel;
	uv_shutdown_t *req;

	if (ch == NULL)
		return;
	req = malloc(sizeof(*req));
	if (req != NULL) {
		req->data = ch;
		if (uv_shutdown(req, (uv_stream_t *)&ch->pipe,
		    on_channel_flushed) == 0)
			return;
		free(req);
	}
	ipc_channel_close(ch);
}

static void
shut_down(struct deliver *d)
{
	size_t i;

	uv_close((uv_handle_t *)&d->reconnect_timer, NULL);
	uv_close((uv_handle_t *)&d->stop_timer, NULL);
	close_channel_flushed(d);
	if (d->connecting && !uv_is_closing((uv_handle_t *)
	    d->connect_req.handle))
		uv_close((uv_handle_t *)d->connect_req.handle,
		    on_attempt_closed);
	env_ref_release(d->env);
	d->env = NULL;
	deliver_cache_free(d->cache);
	d->cache = NULL;
	deliver_sts_free(d->sts);
	d->sts = NULL;
	deliver_align_free(d->align);
	d->align = NULL;
	deliver_spf_free(d->spf);
	d->spf = NULL;
	for (i = 0; i < d->queue_count; i++)
		queue_close(d->queues[i]);
	d->queue_count = 0;
	ipc_writer_free(&d->writer);
	child_release(&d->rt);
}

static void
maybe_shut_down(struct deliver *d)
{
	if (d->rt.stopping && d->active == 0 && d->env != NULL)
		shut_down(d);
}

static void
on_stop_timer(uv_timer_t *timer)
{
	struct deliver *d = timer->data;
	struct job_slot *slot, *next;

	log_warning("stopping %zu deliveries still running", d->active);
	for (slot = d->slots; slot != NULL; slot = next) {
		next = slot->next;  /* an abort may end the job at once */
		deliver_job_abort(slot->job, "delivery agent stopped");
	}
}

static void
on_stop(struct child_runtime *rt)
{
	struct deliver *d = rt->data;

	uv_timer_stop(&d->reconnect_timer);
	deliver_cache_close(d->cache);
	if (d->active == 0) {
		shut_down(d);
		return;
	}
	log_info("waiting up to %d ms for %zu running deliveries",
	    DELIVER_STOP_GRACE_MS, d->active);
	uv_timer_start(&d->stop_timer, on_stop_timer, DELIVER_STOP_GRACE_MS,
	    0);
}

/* ---- Start ---- */

static int
open_resources(struct deliver *d)
{
	struct tern_config *cfg = &d->rt.config;
	struct queue *q;
	char err[256];

	/* Only the length is checked here: on Windows the name file may
	 * not exist yet while qmgr starts, and connect_qmgr() retries. */
	if (ipc_qmgr_pipe_name(cfg->queue_directory, d->pipe_name,
	    sizeof(d->pipe_name)) == TERN_ETOOBIG) {
		log_error("queue directory %s is too long for qmgr's pipe name",
		    cfg->queue_directory);
		return 1;
	}
	d->env = env_ref_new(d, true);
	if (d->env == NULL)
		return 1;
	if (deliver_cache_new(d->rt.loop, (size_t)cfg->max_deliveries,
	    &d->cache) != TERN_OK) {
		log_error("cannot create the connection cache: out of memory");
		return 1;
	}
	if (deliver_sts_new(&d->sts) != TERN_OK) {
		log_error("cannot set up MTA-STS: out of memory");
		return 1;
	}
	if (deliver_align_new(d->rt.loop, &d->align) != TERN_OK ||
	    deliver_spf_new(d->rt.loop, cfg, &d->spf) != TERN_OK) {
		log_error("cannot create the source address checks: out of "
		    "memory");
		return 1;
	}
	deliver_align_start(d->align, cfg);
	/* qmgr creates the queue; until it has, each job tries again. */
	if (queue_open(cfg->queue_directory, QUEUE_READ_ONLY, &q, err,
	    sizeof(err)) == TERN_OK)
		d->queues[d->queue_count++] = q;
	else
		log_warning("cannot open the queue yet: %s", err);
	return 0;
}

int
main(int argc, char **argv)
{
	struct deliver *d;
	int rc;

	if (platform_utf8_arguments(&argc, &argv) != 0) {
		fprintf(stderr, "tern-deliver: cannot convert the command line "
		    "arguments to UTF-8\n");
		return 1;
	}
	d = calloc(1, sizeof(*d));
	if (d == NULL) {
		fprintf(stderr, "tern-deliver: out of memory\n");
		return 1;
	}
	rc = child_init(&d->rt, "deliver", argc, argv);
	if (rc != 0) {
		free(d);
		return rc;
	}
	d->rt.data = d;
	d->rt.on_stop = on_stop;
	d->rt.on_reload = on_reload;
	rc = open_resources(d);
	if (rc != 0) {
		free(d);
		return rc;
	}
	uv_timer_init(d->rt.loop, &d->reconnect_timer);
	d->reconnect_timer.data = d;
	uv_timer_init(d->rt.loop, &d->stop_timer);
	d->stop_timer.data = d;

	connect_qmgr(d);
	rc = child_run(&d->rt);
	free(d);
	return rc;
}
