/*
 * The configuration header for libopendkim's library on Windows
 * (mingw-w64), in place of the build-config.h that its configure writes.
 *
 * Replaces: configure's output; configure stops on Windows because it
 * finds no resolver library. The choices follow Debian 12's build of
 * libopendkim 2.11.0 where they concern the library: OpenSSL (not
 * GnuTLS), SHA-256 and Ed25519 signatures, ATPS, TRE for regular
 * expressions. Left out: the query cache (it needs Berkeley DB, which
 * Debian has and this build lacks), libbsd (include/strl.h stands in)
 * and the BSD resolver (dkim-dns-none.c stands in). No privileges.
 */
#ifndef TERN_WINDOWS_OPENDKIM_BUILD_CONFIG_H
#define TERN_WINDOWS_OPENDKIM_BUILD_CONFIG_H

#define HAVE_STDBOOL_H 1
#define HAVE_LIMITS_H 1
#define HAVE_SHA256 1
#define HAVE_ED25519 1
#define USE_TRE 1
#define USE_STRL_H 1
#define _FFR_ATPS 1

/*
 * The build passes this header with -include to every source file, since
 * three of them do not include it. Winsock 2 comes first because it must
 * precede windows.h, and it declares u_char and u_int, which dkim.h uses.
 * util.c calls snprintf without including <stdio.h>; glibc's headers pull
 * it in on Linux, mingw-w64's do not.
 */
#include <winsock2.h>
#include <stdio.h>

#endif
