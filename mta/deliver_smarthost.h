/*
 * The smart hosts of the policy file, as deliver uses them: a job whose
 * route names one (job_route.h) goes to that host instead of the
 * domain's mail exchangers, over TLS, with AUTH when the smart host
 * names credentials of the secrets file.
 *
 * struct deliver_smarthosts belongs to one configuration. deliver makes
 * it at start and on each reload, with the secrets file read again and
 * one TLS client context per smart host that has its own ca_file; the
 * old one is wiped and freed once no job uses it. It also keeps each
 * smart host's hold (deliver_smarthost.c), which a new configuration
 * therefore resets.
 *
 * Used by deliver only. ternd reads the secrets file and sends its text
 * (secret_files.h); deliver reads the file itself only when started by
 * hand.
 */
#ifndef TERN_DELIVER_SMARTHOST_H
#define TERN_DELIVER_SMARTHOST_H

#include <stdbool.h>
#include <stddef.h>

#include "../auth/tls.h"
#include "../policy/config.h"
#include "secret_files.h"

struct deliver_smarthosts;

/*
 * Parses cfg's secrets file (when set) from secrets, or reads it when
 * secrets is NULL or not from ternd, and makes the TLS contexts of the
 * policy's smart hosts; default_tls (may be NULL) serves those without
 * a ca_file of their own. When the secrets file or a ca_file cannot be
 * read, strict makes this fail with the reason in err; otherwise the
 * reason is logged and only the smart hosts that need that file defer
 * their mail. Returns 0, TERN_ENOMEM, or with strict the loader's
 * error.
 */
int deliver_smarthosts_new(const struct tern_config *cfg,
    const struct secret_files *secrets, struct tls_context *default_tls,
    bool strict,
    struct deliver_smarthosts **out, char *err, size_t err_size);

/* Wipes the credentials and frees everything; NULL is ignored. */
void deliver_smarthosts_free(struct deliver_smarthosts *s);

#endif
