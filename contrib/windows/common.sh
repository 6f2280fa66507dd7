# Shared settings and helpers for the scripts that cross-build tern's
# dependencies for Windows (x86_64-w64-mingw32). Sourced, never run.
#
# Every library comes from Debian's source packages, pinned to the version
# Debian 12 ships, so the Windows build uses the same code as the Linux one.
#
# Settings a caller may override in the environment:
#   PREFIX   where the static libraries and headers go
#   WORKDIR  where sources are fetched and built (kept between runs)
#   JOBS     parallel make jobs
# shellcheck shell=bash

HOST=x86_64-w64-mingw32
PREFIX=${PREFIX:-$HOME/.cache/tern-windows/prefix}
WORKDIR=${WORKDIR:-$HOME/.cache/tern-windows/build}
JOBS=${JOBS:-$(nproc 2>/dev/null || echo 2)}
CONTRIB_WINDOWS=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

export PKG_CONFIG_LIBDIR="$PREFIX/lib/pkgconfig"
export PKG_CONFIG_PATH=""

say() { printf 'build-deps: %s\n' "$*" >&2; }
die() { printf 'build-deps: error: %s\n' "$*" >&2; exit 1; }

# A library already built at this version is skipped; its stamp file
# records the version so a new pin rebuilds it.
stamp_file() { printf '%s/share/tern-deps/%s.stamp' "$PREFIX" "$1"; }
is_built() { [ -f "$(stamp_file "$1")" ] && [ "$(cat "$(stamp_file "$1")")" = "$2" ]; }
mark_built() {
	mkdir -p "$PREFIX/share/tern-deps"
	printf '%s\n' "$2" > "$(stamp_file "$1")"
}
