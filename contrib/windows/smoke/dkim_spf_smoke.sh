#!/bin/bash
# Builds dkim_spf_smoke.c against the static libraries in $PREFIX and runs
# it under Wine with an RSA key made here by the openssl command. Exits
# non-zero if the build or any check fails. See dkim_spf_smoke.c.
#
# Settings from common.sh (PREFIX, WORKDIR); WINEPREFIX defaults to
# $WORKDIR/wine, so the Wine processes started here are this run's own.
set -euo pipefail
. "$(dirname "$0")/../common.sh"

out="$WORKDIR/smoke"
mkdir -p "$out"
packages="opendkim libspf2 libcrypto"

say "building the DKIM and SPF smoke test"
# shellcheck disable=SC2046,SC2086 # pkg-config prints lists of flags.
"$HOST-gcc" -Wall -Wextra -Werror -O2 -static \
    $(pkg-config --cflags $packages) \
    -o "$out/dkim_spf_smoke.exe" "$CONTRIB_WINDOWS/smoke/dkim_spf_smoke.c" \
    $(pkg-config --static --libs $packages)

openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 \
    -out "$out/dkim_spf_smoke_key.pem" 2>/dev/null ||
    die "openssl failed to generate the test key"

wine=$(command -v wine64 || command -v wine) ||
    die "wine is not installed (contrib/debian/install-deps --windows)"
export WINEPREFIX=${WINEPREFIX:-$WORKDIR/wine}
export WINEDEBUG=${WINEDEBUG:--all}
say "running the DKIM and SPF smoke test under $wine (WINEPREFIX=$WINEPREFIX)"
# Wine maps / to drive Z:, so the Unix path of the key works as is.
"$wine" "$out/dkim_spf_smoke.exe" "$out/dkim_spf_smoke_key.pem" ||
    die "the DKIM and SPF smoke test failed under Wine"
