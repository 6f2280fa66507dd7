#!/bin/bash
# Cross-builds libopendkim (the library only, not the opendkim milter) as a
# static library for x86_64-w64-mingw32 into $PREFIX (see common.sh).
#
# libopendkim's configure stops on Windows because it finds no resolver
# library, so this script compiles the library's sources directly, with
# the pieces in contrib/windows/opendkim/ (each says what it replaces):
#   build-config.h      the configuration header configure would write
#   include/            BSD resolver and socket headers mingw-w64 lacks
#   resolv-compat.c     dn_expand, dn_skipname, dn_comp, res_init
#   strl-compat.c       strlcpy, strlcat
#   dkim-dns-none.c     compiled in place of dkim-dns.c: no built-in
#                       resolver, so DNS comes only from the program's
#                       dkim_dns_set_* callbacks (tern's use c-ares)
# It needs TRE (build-tre.sh) and OpenSSL in $PREFIX first.
#
# Programs include <winsock2.h> before <dkim.h>, and should not pass
# DKIM_LIBFLAGS_TMPFILES: libopendkim unlinks each temporary file right
# after creating it, counting on removal at close as on POSIX; Windows
# refuses to delete an open file, so the files would stay behind.
#
# Runs unprivileged; writes only below $WORKDIR and $PREFIX.
set -euo pipefail
. "$(dirname "$0")/common.sh"
. "$CONTRIB_WINDOWS/fetch-source.sh"

OPENDKIM_VERSION=2.11.0~beta2-8+deb12u1
TRE_VERSION=0.8.0-7
COMPAT="$CONTRIB_WINDOWS/opendkim"
# A change to the compatibility pieces changes what gets built, so their
# checksum is part of the stamp.
STAMP="$OPENDKIM_VERSION $(cd "$COMPAT" && find . -name '*.[ch]' ! -path './test/*' |
    LC_ALL=C sort | xargs cat | sha256sum | cut -c1-16)"

# The library's sources as libopendkim/Makefile.am lists them, less
# dkim-cache.c (the query cache needs Berkeley DB) and dkim-dns.c
# (replaced by dkim-dns-none.c).
LIBRARY_SOURCES="base32.c base64.c dkim-atps.c dkim-canon.c dkim-keys.c
    dkim-mailparse.c dkim-report.c dkim-tables.c dkim-test.c dkim-util.c
    dkim.c util.c"
COMPAT_SOURCES="resolv-compat.c strl-compat.c dkim-dns-none.c"

if is_built opendkim "$STAMP"; then
	say "libopendkim $OPENDKIM_VERSION already built"
	exit 0
fi
is_built tre "$TRE_VERSION" ||
    die "libopendkim needs TRE $TRE_VERSION in $PREFIX: run build-tre.sh first"
pkg-config --exists libcrypto ||
    die "libopendkim needs OpenSSL's libcrypto in $PREFIX (no libcrypto.pc in $PKG_CONFIG_LIBDIR): build OpenSSL first"

fetch_debian_source opendkim "$OPENDKIM_VERSION"
src="$WORKDIR/opendkim"
unpack_debian_source "$DSC_FILE" "$src"

say "building libopendkim $OPENDKIM_VERSION"
obj="$WORKDIR/opendkim-obj"
rm -rf "$obj"
mkdir -p "$obj"
log="$WORKDIR/opendkim-make.log"
: >"$log"

# The library's own code is compiled as Debian compiles it, without
# -Werror; its pointer-sign and OpenSSL 3.0 deprecation warnings are
# silenced because they are many and known (Debian's build shows them too).
# The compatibility pieces are tern's own code: -Wextra and no warnings.
# shellcheck disable=SC2046
cflags_common="-O2 -g -include build-config.h -I$COMPAT -I$COMPAT/include
    -I$src/libopendkim $(pkg-config --cflags libcrypto tre)"
for f in $LIBRARY_SOURCES; do
	# shellcheck disable=SC2086
	"$HOST-gcc" $cflags_common -Wall -Wno-pointer-sign \
	    -Wno-deprecated-declarations -c "$src/libopendkim/$f" \
	    -o "$obj/${f%.c}.o" >>"$log" 2>&1 ||
	    die "libopendkim: compiling $f failed; see $log"
done
for f in $COMPAT_SOURCES; do
	# shellcheck disable=SC2086
	"$HOST-gcc" $cflags_common -Wall -Wextra -Werror -c "$COMPAT/$f" \
	    -o "$obj/compat-${f%.c}.o" >>"$log" 2>&1 ||
	    die "libopendkim: compiling $f failed; see $log"
done

mkdir -p "$PREFIX/lib" "$PREFIX/include/opendkim" "$PREFIX/lib/pkgconfig"
rm -f "$PREFIX/lib/libopendkim.a"
"$HOST-ar" rcs "$PREFIX/lib/libopendkim.a" "$obj"/*.o
cp "$src/libopendkim/dkim.h" "$PREFIX/include/opendkim/dkim.h"

# The same name and include folder as Debian's opendkim.pc, so a program
# finds <dkim.h> the same way on both systems. libopendkim locks its
# shared state with pthread mutexes, so winpthread comes along (static
# when the program links with -static).
cat >"$PREFIX/lib/pkgconfig/opendkim.pc" <<EOF
prefix=$PREFIX
libdir=\${prefix}/lib
includedir=\${prefix}/include

Name: OpenDKIM
Description: DKIM signing and verification library (static, for $HOST, DNS only through callbacks)
Version: 2.11.0
Requires.private: libcrypto tre
Libs: -L\${libdir} -lopendkim
Libs.private: -lwinpthread -lws2_32
Cflags: -I\${includedir}/opendkim
EOF

mark_built opendkim "$STAMP"
say "built libopendkim $OPENDKIM_VERSION"
