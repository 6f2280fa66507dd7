/*
 * ternd's checks of a configuration before it starts or reloads it:
 * what loading the file cannot check; see supervisor_check_config() in
 * supervisor.h.
 *
 * Privileges: runs in ternd, normally as root, and checks what the
 * children's user may read.
 */
#include <stdio.h>

#include "../auth/tls.h"
#include "../lib/log.h"
#include "../lib/tern_error.h"
#include "../policy/secrets.h"
#include "dkim_keys.h"
#include "pickup_folders.h"
#include "secret_files.h"
#include "source_check.h"
#include "supervisor.h"

/* Checks that deliver, running as run_as's user, can read the CA files
 * that it opens itself; ternd, as root, could read them in any case. */
static int
check_ca_files_readable(const struct tern_config *cfg,
    const struct ternd_run_as *run_as, char *err, size_t err_size)
{
	const struct tern_policy *p = &cfg->policy;
	char reason[3200];
	size_t i;

	if (run_as == NULL)
		return TERN_OK;
	if (cfg->tls_ca_file[0] != '\0' && ternd_run_as_check_readable(run_as,
	    "delivery.tls.ca_file", cfg->tls_ca_file, reason,
	    sizeof(reason)) != TERN_OK) {
		snprintf(err, err_size, "%s: %s", cfg->path, reason);
		return TERN_EPERM;
	}
	if (cfg->mta_sts_ca_file[0] != '\0' && ternd_run_as_check_readable(
	    run_as, "delivery.mta_sts.ca_file", cfg->mta_sts_ca_file, reason,
	    sizeof(reason)) != TERN_OK) {
		snprintf(err, err_size, "%s: %s", cfg->path, reason);
		return TERN_EPERM;
	}
	for (i = 0; i < p->smart_host_count; i++) {
		if (p->smart_hosts[i].ca_file[0] != '\0' &&
		    ternd_run_as_check_readable(run_as, "smart_hosts: ca_file",
		    p->smart_hosts[i].ca_file, reason, sizeof(reason)) !=
		    TERN_OK) {
			snprintf(err, err_size, "%s:%d: %s", p->path,
			    (int)p->smart_hosts[i].line, reason);
			return TERN_EPERM;
		}
	}
	return TERN_OK;
}

int
supervisor_check_config(const struct tern_config *cfg,
    const struct ternd_run_as *run_as, char *err, size_t err_size)
{
	struct tls_context *tls;
	struct dkim_signer *dkim;
	uv_fs_t req;
	char reason[768];
	int fd;

	if (cfg->tls_certificate[0] != '\0') {
		if (tls_server_context_new(cfg->tls_certificate, cfg->tls_key,
		    &tls, reason, sizeof(reason)) != TERN_OK) {
			snprintf(err, err_size, "%s: smtpd.tls: %s", cfg->path,
			    reason);
			return TERN_ECONFIG;
		}
		tls_context_free(tls);
	}
	/* deliver would otherwise start without outbound TLS and send in
	 * plain what level may could have encrypted. */
	if (tls_client_context_new(cfg->tls_ca_file, &tls, reason,
	    sizeof(reason)) != TERN_OK) {
		snprintf(err, err_size, "%s: delivery.tls: %s", cfg->path,
		    reason);
		return TERN_ECONFIG;
	}
	tls_context_free(tls);
	if (cfg->mta_sts_ca_file[0] != '\0') {
		if (tls_client_context_new(cfg->mta_sts_ca_file, &tls, reason,
		    sizeof(reason)) != TERN_OK) {
			snprintf(err, err_size, "%s: delivery.mta_sts.ca_file: "
			    "%s", cfg->path, reason);
			return TERN_ECONFIG;
		}
		tls_context_free(tls);
	}
	if (check_ca_files_readable(cfg, run_as, err, err_size) != TERN_OK)
		return TERN_ECONFIG;
	/* Only ternd may read the keys; a child that could read them
	 * itself would undo the separation. On Windows there is no user
	 * switch, and the check is that the keys' access lists keep Users
	 * and Everyone out (the account is ignored there). */
#ifdef _WIN32
	if (secret_files_check_keys(cfg, 0, 0, "", err, err_size) != TERN_OK)
		return TERN_ECONFIG;
#else
	if (run_as != NULL && run_as->switch_user && secret_files_check_keys(
	    cfg, run_as->uid, run_as->gid, run_as->name, err, err_size) !=
	    TERN_OK)
		return TERN_ECONFIG;
#endif
	/* ternd passes these keys to deliver; a bad one stops start-up
	 * here. */
	if (dkim_keys_load(cfg, false, NULL, &dkim, reason,
	    sizeof(reason)) != TERN_OK) {
		snprintf(err, err_size, "%s", reason);
		return TERN_ECONFIG;
	}
	dkim_signer_free(dkim);
	if (source_check_addresses(cfg, err, err_size) != TERN_OK)
		return TERN_ECONFIG;
	/* ternd passes the secrets to deliver; a missing or open file stops
	 * start-up and reload here, with every problem listed. */
	if (secrets_check_config(cfg, err, err_size) != TERN_OK)
		return TERN_ECONFIG;
	if (pickup_check_folders(cfg, run_as, err, err_size) != TERN_OK)
		return TERN_ECONFIG;
	if (ternd_auth_check_file(cfg, err, err_size) != TERN_OK)
		return TERN_ECONFIG;
	if (cfg->log_file[0] != '\0') {
		fd = log_file_open(cfg->log_file, reason, sizeof(reason));
		if (fd < 0) {
			snprintf(err, err_size, "%s: log.file: cannot open %s: "
			    "%s", cfg->path, cfg->log_file, reason);
			return TERN_ECONFIG;
		}
		uv_fs_close(NULL, &req, fd, NULL);
		uv_fs_req_cleanup(&req);
	}
	return TERN_OK;
}
