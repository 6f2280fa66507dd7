#!/bin/bash
# Cross-builds TRE, a POSIX regular expression library, as a static
# library for x86_64-w64-mingw32 into $PREFIX (see common.sh).
#
# libopendkim needs regcomp/regexec, which mingw-w64 does not provide.
# TRE comes from Debian 12's source package "tre" with Debian's patches
# (one of them fixes CVE-2016-8859). Its configure cross-builds as is.
# The headers go to $PREFIX/include/tre; libopendkim includes <tre/tre.h>
# and calls the POSIX names, which tre.h maps to TRE's tre_* functions.
#
# Runs unprivileged; writes only below $WORKDIR and $PREFIX.
set -euo pipefail
. "$(dirname "$0")/common.sh"
. "$CONTRIB_WINDOWS/fetch-source.sh"

TRE_VERSION=0.8.0-7

if is_built tre "$TRE_VERSION"; then
	say "tre $TRE_VERSION already built"
	exit 0
fi

fetch_debian_source tre "$TRE_VERSION"
src="$WORKDIR/tre"
unpack_debian_source "$DSC_FILE" "$src"

say "building tre $TRE_VERSION"
cd "$src"
# Approximate matching, agrep and translations are not used by
# libopendkim, so they stay out of the library.
./configure --host="$HOST" --prefix="$PREFIX" \
    --enable-static --disable-shared \
    --disable-agrep --disable-approx --disable-nls \
    --without-libiconv-prefix --without-libintl-prefix \
    >"$WORKDIR/tre-configure.log" 2>&1 ||
    die "tre: configure failed; see $WORKDIR/tre-configure.log"
make -j"$JOBS" -C lib >"$WORKDIR/tre-make.log" 2>&1 ||
    die "tre: make failed; see $WORKDIR/tre-make.log"
make -C lib install >>"$WORKDIR/tre-make.log" 2>&1 ||
    die "tre: make install failed; see $WORKDIR/tre-make.log"
rm -f "$PREFIX/lib/libtre.la"

# Written here because TRE's tre.pc.in adds configure's LDFLAGS and LIBS,
# which contain nothing a static Windows link needs.
mkdir -p "$PREFIX/lib/pkgconfig"
cat >"$PREFIX/lib/pkgconfig/tre.pc" <<EOF
prefix=$PREFIX
libdir=\${prefix}/lib
includedir=\${prefix}/include

Name: TRE
Description: POSIX regular expressions (TRE, static, for $HOST)
Version: ${TRE_VERSION%-*}
Libs: -L\${libdir} -ltre
Cflags: -I\${includedir}
EOF

mark_built tre "$TRE_VERSION"
say "built tre $TRE_VERSION"
