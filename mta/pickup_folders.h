/*
 * ternd's check of the pickup folders at start and reload: each must
 * exist or be created, be a folder, and be readable and writable by the
 * user tern runs as.
 */
#ifndef TERN_PICKUP_FOLDERS_H
#define TERN_PICKUP_FOLDERS_H

#include <stddef.h>

#include "../policy/config.h"
#include "ternd_privsep.h"

/*
 * Creates a missing pickup or badmail folder (and its parents) and
 * checks both. The folders created get run_as's user as owner (run_as
 * may be NULL). Does nothing when pickup.directory is not set. On
 * failure writes "FILE:LINE: setting: reason" into err and returns
 * TERN_ECONFIG.
 */
int pickup_check_folders(const struct tern_config *cfg,
    const struct ternd_run_as *run_as, char *err, size_t err_size);

#endif
