/*
 * The DKIM signer of a configuration: every dkim.keys entry loaded and
 * checked. ternd's configuration check and deliver both make it, so a
 * key that deliver could not use stops start-up and reload instead.
 */
#ifndef TERN_DKIM_KEYS_H
#define TERN_DKIM_KEYS_H

#include <stdbool.h>
#include <stddef.h>

#include "../auth/dkim_sign.h"
#include "../policy/config.h"
#include "secret_files.h"

/*
 * Makes a signer with cfg's keys. Returns 0, or the error of the first
 * key that fails with "CONFIG:LINE: dkim.keys: FILE: reason" in err. A
 * configuration without keys gives a signer without keys.
 *
 * With hold_unusable, a key that fails is logged and kept as unusable
 * instead (dkim_signer_add_unusable), so the mail it should sign waits.
 * deliver loads this way: ternd accepted the files, but a restarted
 * deliver reads them again and must not stop all delivery because one
 * changed on disk since.
 *
 * With secrets from ternd (secrets->from_ternd), the keys' text comes
 * from there and no file is opened; otherwise (secrets NULL, or a
 * process started by hand) the files are read.
 */
int dkim_keys_load(const struct tern_config *cfg, bool hold_unusable,
    const struct secret_files *secrets, struct dkim_signer **out,
    char *err, size_t err_size);

#endif
