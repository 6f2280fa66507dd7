#!/bin/bash
# Cross-builds libspf2 as a static library for x86_64-w64-mingw32 into
# $PREFIX (see common.sh), with the headers in $PREFIX/include/spf2 as on
# Debian.
#
# The source is Debian 12's libspf2 1.2.10 upstream tarball, checked
# against the .dsc's SHA-256. The Debian mirror used here lacks the
# package's debian.tar.xz, so Debian's patches are not applied; the two
# patches in contrib/windows/libspf2/ take their place:
#   windows-port.patch     makes the rotted Windows branch build with
#                          mingw-w64, with no built-in resolver
#   security-fixes.patch   CVE-2021-20314, CVE-2021-33912, CVE-2021-33913
# Each says what it changes and why. DNS then comes only from the
# program's own SPF_dns_server_t (tern's, in auth/spf_dns.c, uses c-ares),
# created with SPF_server_new_dns. Programs call WSAStartup before
# SPF_server_new_dns (libuv's loop does), because libspf2 asks Winsock
# for the host name there.
#
# Runs unprivileged; writes only below $WORKDIR and $PREFIX.
set -euo pipefail
. "$(dirname "$0")/common.sh"
. "$CONTRIB_WINDOWS/fetch-source.sh"

LIBSPF2_VERSION=1.2.10-7.2
PATCHES="windows-port.patch security-fixes.patch"
# A new patch changes what gets built, so it is part of the stamp.
STAMP="$LIBSPF2_VERSION $(cd "$CONTRIB_WINDOWS/libspf2" && cat $PATCHES | sha256sum | cut -c1-16)"

# The library's sources as src/libspf2/Makefile.am lists them, less the
# two resolvers (spf_dns_resolv.c is empty on Windows, spf_dns_windns.c
# would query Windows' DNS client directly) and spf_win32.c (its
# inet_ntop and inet_pton clash with Winsock's). libreplace is not
# needed: its functions serve only the BSD resolver code.
LIBRARY_SOURCES="spf_compile.c spf_dns.c spf_dns_cache.c spf_dns_null.c
    spf_dns_rr.c spf_dns_test.c spf_dns_zone.c spf_expand.c spf_get_exp.c
    spf_get_spf.c spf_id2str.c spf_interpret.c spf_log.c spf_log_default.c
    spf_log_stdio.c spf_log_syslog.c spf_print.c spf_record.c spf_request.c
    spf_response.c spf_server.c spf_strerror.c spf_utils.c"
PUBLIC_HEADERS="spf.h spf_dns.h spf_dns_cache.h spf_dns_null.h
    spf_dns_resolv.h spf_dns_rr.h spf_dns_test.h spf_dns_zone.h
    spf_lib_version.h spf_log.h spf_record.h spf_request.h spf_response.h
    spf_server.h"

if is_built libspf2 "$STAMP"; then
	say "libspf2 $LIBSPF2_VERSION already built"
	exit 0
fi

fetch_debian_source libspf2 "$LIBSPF2_VERSION" orig-only
src="$WORKDIR/libspf2"
unpack_orig_source "$DSC_FILE" "$src"
patch_files=()
for p in $PATCHES; do
	patch_files+=("$CONTRIB_WINDOWS/libspf2/$p")
done
apply_patches "$src" "${patch_files[@]}"

say "building libspf2 $LIBSPF2_VERSION"
log="$WORKDIR/libspf2-make.log"
# configure runs only to write config.h. These answers replace the run
# tests it cannot do when cross-compiling; mingw-w64's C library behaves
# as each answer says (malloc(0) and realloc(NULL, 0) return non-NULL).
(cd "$src" && ./configure --host="$HOST" --prefix="$PREFIX" \
    --disable-shared --enable-static \
    ac_cv_func_malloc_0_nonnull=yes ac_cv_func_realloc_0_nonnull=yes \
    ac_cv_func_memcmp_working=yes ac_cv_func_setpgrp_void=yes) \
    >"$WORKDIR/libspf2-configure.log" 2>&1 ||
    die "libspf2: configure failed; see $WORKDIR/libspf2-configure.log"

obj="$WORKDIR/libspf2-obj"
rm -rf "$obj"
mkdir -p "$obj"
: >"$log"
for f in $LIBRARY_SOURCES; do
	"$HOST-gcc" -O2 -g -Wall -DHAVE_CONFIG_H -I"$src" -I"$src/src/include" \
	    -I"$src/src" -c "$src/src/libspf2/$f" -o "$obj/${f%.c}.o" \
	    >>"$log" 2>&1 || die "libspf2: compiling $f failed; see $log"
done

mkdir -p "$PREFIX/lib/pkgconfig" "$PREFIX/include/spf2"
rm -f "$PREFIX/lib/libspf2.a"
"$HOST-ar" rcs "$PREFIX/lib/libspf2.a" "$obj"/*.o
for h in $PUBLIC_HEADERS; do
	cp "$src/src/include/$h" "$PREFIX/include/spf2/$h"
done

# Debian ships no .pc file for libspf2; this one lets the Windows build
# use pkg-config for every library. spf_dns_cache.c locks with pthread
# mutexes, so winpthread comes along (static when the program links with
# -static).
cat >"$PREFIX/lib/pkgconfig/libspf2.pc" <<EOF
prefix=$PREFIX
libdir=\${prefix}/lib
includedir=\${prefix}/include

Name: libspf2
Description: SPF checks (static, for $HOST, DNS only through SPF_server_new_dns)
Version: 1.2.10
Libs: -L\${libdir} -lspf2
Libs.private: -lwinpthread -lws2_32
Cflags: -I\${includedir}
EOF

mark_built libspf2 "$STAMP"
say "built libspf2 $LIBSPF2_VERSION"
