/*
 * tern-pickup: takes the .eml files that local programs drop into the
 * pickup folder (pickup.directory), as the IIS SMTP service's pickup
 * folder did, and queues their messages (pickup_scan.c).
 *
 * The folder is scanned every pickup.scan_interval seconds. Where the
 * system reports changes (uv_fs_event_t: inotify on Linux,
 * ReadDirectoryChangesW on Windows), a change also starts a scan after
 * WATCH_DELAY_MS, so a new file goes out at once; the interval stays as
 * the fallback and the safety net for missed events. Scans run one at a
 * time on a worker thread; after each one that queued mail this process
 * sends IPC_QUEUE_NEW to qmgr.
 *
 * Privileges: the user ternd runs it as; reads and deletes files in the
 * pickup folder, writes the badmail folder and the queue. It holds no
 * key and opens no socket but qmgr's pipe.
 * ternd starts it only when pickup.directory is set and stops it before
 * qmgr. A reload applies a new pickup folder, badmail folder, interval,
 * size limit and host name; a new queue folder needs a restart.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/log.h"
#include "../lib/platform_args.h"
#include "../lib/tern_error.h"
#include "../policy/config_pickup.h"
#include "child.h"
#include "pickup_file.h"
#include "pickup_scan.h"
#include "qmgr_notify.h"

/* Delay from a reported change in the folder to the scan it starts, so
 * a burst of events (one per write) leads to one scan. */
#define WATCH_DELAY_MS 200

struct pickup {
	struct child_runtime rt;
	struct pickup_scan scan;
	struct qmgr_notify *qmgr;
	uv_timer_t timer;            /* the next scan */
	uv_fs_event_t watch;
	bool watching;
	uv_work_t work;
	bool in_flight;              /* a scan runs on a worker thread */
	bool rescan;                 /* a change came during that scan */
	bool settings_changed;       /* apply rt.config before the next */
	bool stopping;
};

static void start_scan(struct pickup *p);

static void
copy_settings(struct pickup *p)
{
	const struct tern_config *cfg = &p->rt.config;
	struct pickup_scan_settings *s = &p->scan.settings;

	snprintf(s->directory, sizeof(s->directory), "%s",
	    cfg->pickup_directory);
	snprintf(s->badmail, sizeof(s->badmail), "%s",
	    cfg->pickup_badmail_directory);
	snprintf(s->hostname, sizeof(s->hostname), "%s", cfg->hostname);
	s->size_limit = cfg->message_size_limit;
	s->settle_ms = (uint64_t)cfg->pickup_scan_interval * 1000;
}

static void
timer_cb(uv_timer_t *timer)
{
	start_scan(timer->data);
}

static void
schedule(struct pickup *p, uint64_t delay_ms)
{
	if (!p->stopping)
		uv_timer_start(&p->timer, timer_cb, delay_ms, 0);
}

static void
watch_cb(uv_fs_event_t *handle, const char *filename, int events,
    int status)
{
	struct pickup *p = handle->data;

	(void)filename;
	(void)events;
	if (status < 0) {
		log_warning("pickup: watching %s failed: %s; scanning every "
		    "%d s only", p->scan.settings.directory,
		    uv_strerror(status), p->rt.config.pickup_scan_interval);
		uv_fs_event_stop(handle);
		return;
	}
	if (p->in_flight) {
		p->rescan = true;
		return;
	}
	if (uv_timer_get_due_in(&p->timer) > WATCH_DELAY_MS)
		schedule(p, WATCH_DELAY_MS);
}

/* Watches the configured folder; without it the interval alone acts. */
static void
start_watch(struct pickup *p)
{
	const char *directory = p->rt.config.pickup_directory;
	int rc;

	if (p->watching)
		uv_fs_event_stop(&p->watch);
	p->watching = false;
	rc = uv_fs_event_start(&p->watch, watch_cb, directory, 0);
	if (rc != 0) {
		log_warning("pickup: cannot watch %s for changes: %s; "
		    "scanning every %d s only", directory, uv_strerror(rc),
		    p->rt.config.pickup_scan_interval);
		return;
	}
	p->watching = true;
}

static void
scan_work(uv_work_t *work)
{
	struct pickup *p = work->data;

	pickup_scan_run(&p->scan);
}

static void finish_stop(struct pickup *p);

static void
scan_done(uv_work_t *work, int status)
{
	struct pickup *p = work->data;
	uint64_t interval = (uint64_t)p->rt.config.pickup_scan_interval * 1000;

	p->in_flight = false;
	if (status == 0 && p->scan.queued > 0)
		qmgr_notify_add(p->qmgr, p->scan.queued);
	if (p->stopping) {
		finish_stop(p);
		return;
	}
	if (status == 0 && p->scan.status == TERN_OK &&
	    (p->scan.more || p->rescan))
		schedule(p, p->scan.more ? 0 : WATCH_DELAY_MS);
	else
		schedule(p, interval);
	p->rescan = false;
}

static void
start_scan(struct pickup *p)
{
	if (p->stopping)
		return;
	if (p->in_flight) {
		p->rescan = true;
		return;
	}
	if (p->settings_changed) {
		copy_settings(p);
		p->settings_changed = false;
	}
	p->work.data = p;
	if (uv_queue_work(p->rt.loop, &p->work, scan_work, scan_done) != 0) {
		log_error("pickup: cannot start a worker; trying again in "
		    "%d s", p->rt.config.pickup_scan_interval);
		schedule(p, (uint64_t)p->rt.config.pickup_scan_interval *
		    1000);
		return;
	}
	p->in_flight = true;
}

static void
on_reload(struct child_runtime *rt, const struct tern_config *previous)
{
	struct pickup *p = rt->data;

	if (strcmp(previous->queue_directory, rt->config.queue_directory) != 0)
		log_warning("reload: queue.directory changed to %s; restart "
		    "tern to use it", rt->config.queue_directory);
	/* The running scan keeps the settings it started with. */
	p->settings_changed = true;
	if (strcmp(previous->pickup_directory,
	    rt->config.pickup_directory) != 0) {
		log_info("pickup: now taking files from %s",
		    rt->config.pickup_directory);
		start_watch(p);
	}
	start_scan(p);
}

static void
notify_closed(void *arg)
{
	struct pickup *p = arg;

	pickup_scan_free(&p->scan);
	child_release(&p->rt);
}

/* Closes what is left once no scan runs. */
static void
finish_stop(struct pickup *p)
{
	struct qmgr_notify *qmgr = p->qmgr;

	if (p->in_flight || qmgr == NULL)
		return;
	p->qmgr = NULL;
	qmgr_notify_close(qmgr, notify_closed, p);
}

static void
on_stop(struct child_runtime *rt)
{
	struct pickup *p = rt->data;

	p->stopping = true;
	atomic_store(&p->scan.stop, true);
	uv_close((uv_handle_t *)&p->timer, NULL);
	uv_close((uv_handle_t *)&p->watch, NULL);
	finish_stop(p);
}

static int
pickup_setup(struct pickup *p)
{
	char err[1024];
	int rc;

	if (p->rt.config.pickup_directory[0] == '\0') {
		fprintf(stderr, "tern-pickup: pickup.directory is not set in "
		    "%s\n", p->rt.config.path);
		return 1;
	}
	pickup_file_init();
	copy_settings(p);
	snprintf(p->scan.settings.queue_directory,
	    sizeof(p->scan.settings.queue_directory), "%s",
	    p->rt.config.queue_directory);
	atomic_init(&p->scan.stop, false);
	rc = qmgr_notify_open(p->rt.loop, p->rt.config.queue_directory,
	    &p->qmgr, err, sizeof(err));
	if (rc != TERN_OK) {
		log_error("cannot start: %s", err);
		fprintf(stderr, "tern-pickup: %s\n", err);
		return 1;
	}
	uv_timer_init(p->rt.loop, &p->timer);
	p->timer.data = p;
	uv_fs_event_init(p->rt.loop, &p->watch);
	p->watch.data = p;
	start_watch(p);
	log_info("taking files from %s (badmail: %s, scan every %d s)",
	    p->scan.settings.directory, p->scan.settings.badmail,
	    p->rt.config.pickup_scan_interval);
	if (strcmp(p->rt.config.pickup_where, CONFIG_PICKUP_IIS_WHERE) == 0)
		log_info("pickup.directory is not set and IIS SMTP's pickup "
		    "folder exists, so tern takes the files that programs "
		    "drop there; set pickup.directory = \"\" to stop this");
	schedule(p, 0);
	return 0;
}

int
main(int argc, char **argv)
{
	static struct pickup p;
	int rc;

	if (platform_utf8_arguments(&argc, &argv) != 0) {
		fprintf(stderr, "tern-pickup: cannot convert the command line "
		    "arguments to UTF-8\n");
		return 1;
	}
	rc = child_init(&p.rt, "pickup", argc, argv);
	if (rc != 0)
		return rc;
	p.rt.data = &p;
	p.rt.on_reload = on_reload;
	p.rt.on_stop = on_stop;

	rc = pickup_setup(&p);
	if (rc != 0)
		return rc;
	return child_run(&p.rt);
}
