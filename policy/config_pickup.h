/*
 * The default pickup folders on Windows are those of the IIS 6 SMTP
 * service, so that programs that drop .eml files into its folder keep
 * working when tern replaces it.
 *
 * NOTE: System.Net.Mail's SmtpDeliveryMethod.PickupDirectoryFromIis
 * reads the folder's path from the IIS metabase, so programs using it
 * work only while that is still installed. SpecifiedPickupDirectory
 * with the folder's path does not need IIS.
 *
 * IIS SMTP keeps its folders in %SystemDrive%\inetpub\mailroot: Pickup
 * for the files that programs drop and Badmail for the ones it cannot
 * deliver. When the configuration sets neither pickup.directory nor
 * pickup.badmail_directory and that Pickup folder exists, tern takes
 * files from it and moves bad ones to that Badmail folder. Setting
 * pickup.directory = "" turns the pickup folder off instead.
 */
#ifndef TERN_CONFIG_PICKUP_H
#define TERN_CONFIG_PICKUP_H

#include <stddef.h>

/* The location recorded for the pickup settings (pickup_where) when the
 * folders are IIS SMTP's; messages about the folders name it. */
#define CONFIG_PICKUP_IIS_WHERE \
	"IIS SMTP's folders (the default, as pickup.directory is not set)"

/*
 * Writes root\inetpub\mailroot\Pickup and root\inetpub\mailroot\Badmail
 * ("/" in place of "\" outside Windows) into pickup and badmail when that
 * Pickup folder exists. root is the system drive ("C:") or a folder
 * standing in for it. Returns TERN_OK, TERN_ENOTFOUND when the Pickup
 * folder does not exist or is not a folder, or TERN_ETOOBIG when a path
 * does not fit.
 */
int config_pickup_iis_folders(const char *root, char *pickup,
    size_t pickup_size, char *badmail, size_t badmail_size);

#endif
