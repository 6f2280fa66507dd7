/*
 * The pickup settings: the folder where local programs drop .eml files
 * (pickup.directory), the folder that receives the files tern cannot
 * queue (pickup.badmail_directory) and the time between scans.
 *
 * Only what the file itself shows is checked here. Whether the folders
 * exist or can be created is checked by ternd at start and reload
 * (mta/pickup_folders.c), which names the setting with the FILE:LINE
 * recorded here.
 *
 * On Windows, IIS SMTP's pickup folder is the default when it exists
 * (config_pickup.h).
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <uv.h>

#include "../lib/platform_paths.h"
#include "../lib/tern_error.h"
#include "config_internal.h"
#include "config_pickup.h"

#ifdef _WIN32
#define IIS_SEPARATOR "\\"
#else
#define IIS_SEPARATOR "/"
#endif

/* Removes trailing slashes (and backslashes on Windows), keeping a lone
 * "/". */
static void
strip_trailing_slashes(char *path)
{
	size_t len = strlen(path);

	while (len > 1 && platform_path_last_separator(path) ==
	    path + len - 1)
		path[--len] = '\0';
}

/* True for a Windows drive's root folder ("C:" once the separator is
 * stripped). */
static bool
is_drive_root(const char *path)
{
#ifdef _WIN32
	return path[0] != '\0' && path[1] == ':' && path[2] == '\0';
#else
	(void)path;
	return false;
#endif
}

/* Writes the folder "badmail" beside pickup (in its parent folder). */
static int
default_badmail(const char *pickup, char *out, size_t out_size)
{
	const char *slash = platform_path_last_separator(pickup);
	int n;

	if (slash == NULL || slash[1] == '\0')
		return TERN_EINVAL;
	if (slash == pickup)
		n = snprintf(out, out_size, "/badmail");
	else
		n = snprintf(out, out_size, "%.*s/badmail",
		    (int)(slash - pickup), pickup);
	return n > 0 && (size_t)n < out_size ? TERN_OK : TERN_ETOOBIG;
}

static bool
is_folder(const char *path)
{
	uv_fs_t req;
	bool folder;

	folder = uv_fs_stat(NULL, &req, path, NULL) == 0 &&
	    (req.statbuf.st_mode & S_IFMT) == S_IFDIR;
	uv_fs_req_cleanup(&req);
	return folder;
}

int
config_pickup_iis_folders(const char *root, char *pickup,
    size_t pickup_size, char *badmail, size_t badmail_size)
{
	static const char mailroot[] = IIS_SEPARATOR "inetpub" IIS_SEPARATOR
	    "mailroot" IIS_SEPARATOR;
	int n;

	n = snprintf(pickup, pickup_size, "%s%sPickup", root, mailroot);
	if (n < 0 || (size_t)n >= pickup_size)
		return TERN_ETOOBIG;
	if (!is_folder(pickup))
		return TERN_ENOTFOUND;
	n = snprintf(badmail, badmail_size, "%s%sBadmail", root, mailroot);
	if (n < 0 || (size_t)n >= badmail_size)
		return TERN_ETOOBIG;
	return TERN_OK;
}

#ifdef _WIN32
/* Uses IIS SMTP's folders when neither pickup setting is in the file
 * and %SystemDrive%\inetpub\mailroot\Pickup exists. */
static void
use_iis_folders(struct tern_config *cfg)
{
	char drive[64];
	size_t len = sizeof(drive);

	if (uv_os_getenv("SystemDrive", drive, &len) != 0)
		return;
	if (config_pickup_iis_folders(drive, cfg->pickup_directory,
	    sizeof(cfg->pickup_directory), cfg->pickup_badmail_directory,
	    sizeof(cfg->pickup_badmail_directory)) != TERN_OK) {
		cfg->pickup_directory[0] = '\0';
		cfg->pickup_badmail_directory[0] = '\0';
		return;
	}
	snprintf(cfg->pickup_where, sizeof(cfg->pickup_where), "%s",
	    CONFIG_PICKUP_IIS_WHERE);
	snprintf(cfg->pickup_badmail_where, sizeof(cfg->pickup_badmail_where),
	    "%s", CONFIG_PICKUP_IIS_WHERE);
}
#endif

int
check_pickup(struct load_state *st, const config_t *lc)
{
	struct tern_config *cfg = st->cfg;
	const config_setting_t *dir = config_lookup(lc, "pickup.directory");
	const config_setting_t *bad = config_lookup(lc,
	    "pickup.badmail_directory");

	if (dir != NULL)
		setting_location(st, dir, cfg->pickup_where,
		    sizeof(cfg->pickup_where));
	if (bad != NULL)
		setting_location(st, bad, cfg->pickup_badmail_where,
		    sizeof(cfg->pickup_badmail_where));
#ifdef _WIN32
	/* Only when both settings are absent, because pickup.directory = ""
	 * in the file turns the pickup folder off even where IIS's exists. */
	if (dir == NULL && bad == NULL)
		use_iis_folders(cfg);
#endif
	if (cfg->pickup_directory[0] == '\0') {
		if (cfg->pickup_badmail_directory[0] != '\0')
			return setting_error(st, bad, "pickup.badmail_directory "
			    "is set but pickup.directory is not; set both or "
			    "neither");
		return TERN_OK;
	}

	strip_trailing_slashes(cfg->pickup_directory);
	if (strcmp(cfg->pickup_directory, "/") == 0 ||
	    is_drive_root(cfg->pickup_directory))
		return setting_error(st, dir, "pickup.directory must not be "
		    "the root folder");
	if (cfg->pickup_badmail_directory[0] == '\0') {
		if (default_badmail(cfg->pickup_directory,
		    cfg->pickup_badmail_directory,
		    sizeof(cfg->pickup_badmail_directory)) != TERN_OK)
			return setting_error(st, dir, "pickup.directory: path "
			    "is too long for the default badmail folder "
			    "beside it; set pickup.badmail_directory");
		snprintf(cfg->pickup_badmail_where,
		    sizeof(cfg->pickup_badmail_where), "%s",
		    cfg->pickup_where);
	}
	strip_trailing_slashes(cfg->pickup_badmail_directory);
	/* A file moved to badmail would otherwise be picked up again. */
	if (strcmp(cfg->pickup_directory, cfg->pickup_badmail_directory) == 0)
		return setting_error(st, bad != NULL ? bad : dir,
		    "pickup.badmail_directory must differ from "
		    "pickup.directory (both are %s)", cfg->pickup_directory);
	return TERN_OK;
}
