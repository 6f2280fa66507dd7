/*
 * Creating a pickup or badmail folder with the mode tern intends for
 * it, whatever the umask. ternd sets its umask to 077, which would
 * otherwise strip the group bits that let programs in tern's group drop
 * files into the pickup folder.
 */
#ifndef TERN_PICKUP_MKDIR_H
#define TERN_PICKUP_MKDIR_H

/* The pickup folder: programs in tern's group drop files into it. */
#define PICKUP_FOLDER_MODE 0770
/* The badmail folder and its .reason files: readable by tern's group. */
#define PICKUP_BADMAIL_MODE 0750
#define PICKUP_REASON_MODE 0640

/*
 * Creates the folder path and then sets its mode to mode. Returns 0
 * when it created the folder; UV_EEXIST when something exists at path
 * already, whose mode is left as the administrator set it; another
 * libuv error code when creating or changing the mode failed.
 * Blocking: call it from a worker thread or at start-up.
 */
int pickup_mkdir(const char *path, int mode);

#endif
