#!/bin/bash
# Cross-builds every library tern links against as a static library for
# 64-bit Windows (x86_64-w64-mingw32) into $PREFIX, from the source
# packages Debian 12 ships, and writes a pkg-config file for each so that
# `./configure --host=x86_64-w64-mingw32` finds them with
# PKG_CONFIG="pkg-config --static" and PKG_CONFIG_LIBDIR=$PREFIX/lib/pkgconfig.
# TRE, libopendkim and libspf2 come from the build-*.sh scripts next to
# this one, which it runs after the libraries each one needs.
#
# Usage: contrib/windows/build-deps.sh [--check]
#   --check  also builds contrib/windows/smoke/smoke.c and runs
#            smoke/dkim_spf_smoke.sh against the prefix, running both
#            programs under Wine (WINEPREFIX, default $WORKDIR/wine).
# Settings (environment): PREFIX, WORKDIR, JOBS (see common.sh).
#
# Privileges: an ordinary user is enough once Debian 12's deb-src entries
# are configured. When they are missing, the script adds them under
# /etc/apt/sources.list.d/ and runs apt-get update, which needs root.
# It contacts only the Debian mirror that apt is configured to use.
#
# Idempotent: each library gets a stamp file containing its version (see
# common.sh), and a stamped library is not built again. Delete the stamp
# in $PREFIX/share/tern-deps/ to rebuild one library.
set -euo pipefail

# shellcheck source=contrib/windows/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
# shellcheck source=contrib/windows/fetch-source.sh
. "$CONTRIB_WINDOWS/fetch-source.sh"

# Versions Debian 12 (bookworm and its security updates) ships. OpenSSL
# is pinned to 3.0.20-1~deb12u2 because the mirror in use lacks the .dsc
# of the newer 3.0.22-1~deb12u2 from bookworm-security.
LIBUV_VERSION=1.44.2-1+deb12u1
CARES_VERSION=1.18.1-3
SQLITE_VERSION=3.40.1-2+deb12u2
LIBCONFIG_VERSION=1.5-0.4
OPENSSL_VERSION=3.0.20-1~deb12u2
CURL_VERSION=7.88.1-10+deb12u15
ARGON2_VERSION=0~20171227-0.3+deb12u1
CMOCKA_VERSION=1.1.5-2.1
LIBPSL_VERSION=0.21.2-1
# The public suffix list compiled into libpsl comes from the publicsuffix
# binary package (see build_libpsl).
PUBLICSUFFIX_VERSION=20230209.2326-1
# Debian 12's cryptsetup source bundles the same reference Argon2 code
# (lib/crypto_backend/argon2, from github.com/P-H-C/phc-winner-argon2),
# used only when the mirror lacks a file of the argon2 source package.
CRYPTSETUP_VERSION=2:2.6.1-4~deb12u2

# Where the Windows build of OpenSSL looks for openssl.cnf. Only
# administrators can write below C:\Program Files.
OPENSSL_DIR_WINDOWS="C:/Program Files/tern/ssl"

TOOLCHAIN_FILE=$CONTRIB_WINDOWS/mingw64-toolchain.cmake
SOURCES=$WORKDIR/src
BUILDS=$WORKDIR/build
CC_HOST=$HOST-gcc
AR_HOST=$HOST-ar

# One line per library for the closing summary: name, version and build
# time.
SUMMARY=()

check=no
for argument in "$@"; do
	case $argument in
	--check) check=yes ;;
	-h|--help)
		sed -n '2,23p' "$0" | sed 's/^# \{0,1\}//'
		exit 0 ;;
	*) die "unknown option: $argument (expected --check)" ;;
	esac
done

# Runs a command with its output going to log file $1. On failure it
# prints the end of the log and stops.
run_logged() {
	local log=$1
	shift
	if ! "$@" > "$log" 2>&1; then
		tail -n 30 "$log" >&2
		die "failed: $* (full output in $log)"
	fi
}

# Fetches source package $1 at version $2 (see fetch-source.sh), unpacks
# it with Debian's patches applied and applies
# contrib/windows/patches/$1-*.patch. Sets SRC_DIR. Returns 1 with a
# message when the mirror lacks a file, so a caller can fall back.
try_fetch_source() {
	local package=$1 version=$2 directory patch patches=()
	directory="$SOURCES/$package-$(strip_epoch "$version")"
	SRC_DIR=$directory
	[ -f "$directory/.tern-unpacked" ] && return 0

	try_fetch_debian_source "$package" "$version" || return 1
	unpack_debian_source "$DSC_FILE" "$directory"
	for patch in "$CONTRIB_WINDOWS/patches/$package"-*.patch; do
		if [ -f "$patch" ]; then
			patches+=("$patch")
		fi
	done
	apply_patches "$directory" "${patches[@]}"
	touch "$directory/.tern-unpacked"
}

fetch_source() {
	try_fetch_source "$1" "$2" || die "cannot get the source of $1 $2 (see the messages above)"
}

# Writes $PREFIX/lib/pkgconfig/$1.pc for a library built without one.
# Arguments: name, version, description, Libs, Libs.private, Cflags.
write_pc() {
	mkdir -p "$PREFIX/lib/pkgconfig"
	cat > "$PREFIX/lib/pkgconfig/$1.pc" <<-EOF
	prefix=$PREFIX
	libdir=\${prefix}/lib
	includedir=\${prefix}/include

	Name: $1
	Description: $3
	Version: $2
	Libs: -L\${libdir} $4
	Libs.private:${5:+ $5}
	Cflags: -I\${includedir}${6:+ $6}
	EOF
}

# Adds a define to the Cflags line of an installed .pc file unless it is
# there already, for packages whose own .pc file leaves it out.
add_pc_cflag() {
	local file="$PREFIX/lib/pkgconfig/$1.pc"
	grep -q -- "$2" "$file" || sed -i "s|^Cflags:.*|& $2|" "$file"
}

# Starts a clean build directory for library $1 and enters it.
enter_build_dir() {
	BUILD_DIR=$BUILDS/$1
	rm -rf "$BUILD_DIR"
	mkdir -p "$BUILD_DIR"
	cd "$BUILD_DIR"
}

cmake_configure() {
	run_logged cmake.log cmake -S "$SRC_DIR" -B "$BUILD_DIR" -G "Unix Makefiles" \
		-DCMAKE_TOOLCHAIN_FILE="$TOOLCHAIN_FILE" \
		-DTERN_WINDOWS_PREFIX="$PREFIX" \
		-DCMAKE_BUILD_TYPE=Release \
		-DCMAKE_INSTALL_PREFIX="$PREFIX" \
		-DCMAKE_INSTALL_LIBDIR=lib "$@"
}

build_libuv() {
	fetch_source libuv1 "$LIBUV_VERSION"
	enter_build_dir libuv
	cmake_configure -DLIBUV_BUILD_TESTS=OFF -DLIBUV_BUILD_BENCH=OFF
	# Only the static archive (target uv_a) is built because tern links
	# statically.
	run_logged build.log cmake --build . --target uv_a -j "$JOBS"
	mkdir -p "$PREFIX/lib" "$PREFIX/include/uv"
	install -m 644 libuv_a.a "$PREFIX/lib/libuv.a"
	install -m 644 "$SRC_DIR/include/uv.h" "$PREFIX/include/"
	install -m 644 "$SRC_DIR"/include/uv/*.h "$PREFIX/include/uv/"
	# The system libraries are the uv_libraries list of libuv's
	# CMakeLists.txt for WIN32.
	write_pc libuv "$(upstream_version "$LIBUV_VERSION")" \
		"multi-platform support library with a focus on asynchronous I/O" \
		"-luv" "-lpsapi -luser32 -ladvapi32 -liphlpapi -luserenv -lws2_32" ""
}

# Writes the results of c-ares's configure checks (HAVE_* and the
# function-in-library probes) from CMakeCache.txt $1 as a CMake initial
# cache script to file $2.
write_cares_check_cache() {
	{
		printf '# Results of the configure checks of c-ares %s for %s,\n' \
			"$(upstream_version "$CARES_VERSION")" "$HOST"
		printf '# written by build-deps.sh (write_cares_check_cache) with %s\n' \
			"$("$CC_HOST" --version | head -n 1)"
		printf '# and the headers of mingw-w64-x86-64-dev %s.\n' \
			"$(dpkg-query -W -f '${Version}' mingw-w64-x86-64-dev 2>/dev/null || echo unknown)"
		sed -n 's/^\(HAVE_[A-Za-z0-9_]*\|_CARES_FUNC_IN_LIB_GLOBAL_[A-Za-z0-9_]*\):INTERNAL=\(.*\)$/set(\1 "\2" CACHE INTERNAL "")/p' "$1"
	} > "$2"
}

build_cares() {
	local checks
	checks=$CONTRIB_WINDOWS/c-ares-$(upstream_version "$CARES_VERSION")-checks.cmake
	fetch_source c-ares "$CARES_VERSION"
	enter_build_dir c-ares
	# c-ares's CMakeLists.txt runs about 100 configure checks, each a
	# separate compile-and-link, which took most of this library's build
	# time. Their results for this version and compiler are preset from
	# $checks. A check whose variable is already in the cache is skipped
	# by CMake's check_* modules.
	# NOTE: nothing notices when Debian's mingw-w64 changes; delete
	# $checks then, and the script runs the checks and writes a new one.
	if [ -f "$checks" ]; then
		cmake_configure -C "$checks" -DCARES_STATIC=ON -DCARES_SHARED=OFF \
			-DCARES_BUILD_TOOLS=OFF -DCARES_BUILD_TESTS=OFF -DCARES_INSTALL=ON
	else
		say "no $(basename "$checks"), so c-ares runs all its configure checks"
		cmake_configure -DCARES_STATIC=ON -DCARES_SHARED=OFF \
			-DCARES_BUILD_TOOLS=OFF -DCARES_BUILD_TESTS=OFF -DCARES_INSTALL=ON
		write_cares_check_cache CMakeCache.txt checks.cmake
		say "copy $BUILD_DIR/checks.cmake to $checks to preset them next time"
	fi
	run_logged build.log cmake --build . -j "$JOBS"
	run_logged install.log cmake --install .
	# Without CARES_STATICLIB, ares.h declares every function dllimport.
	add_pc_cflag libcares -DCARES_STATICLIB
}

# SQLite's configure cannot cross-build, so the amalgamation (sqlite3.c)
# is generated with the native compiler and tclsh, and only that file is
# cross-compiled, with the options of Debian's debian/rules.
build_sqlite() {
	fetch_source sqlite3 "$SQLITE_VERSION"
	enter_build_dir sqlite3

	# main.mk is the makefile that SQLite's configured Makefile and its
	# Makefile.linux-gcc both include. Using it directly skips configure,
	# and for 3.40.1 the sqlite3.c and sqlite3.h it writes were compared
	# byte for byte with those of the configured build.
	mkdir native
	run_logged amalgamation.log make -C native -f "$SRC_DIR/main.mk" \
		-j "$JOBS" TOP="$SRC_DIR" BCC="gcc -O2" TCC="gcc -O2" \
		TCLSH_CMD=tclsh EXE= AR="ar cr" sqlite3.c sqlite3.h

	run_logged compile.log "$CC_HOST" -O2 -fno-strict-aliasing \
		-DSQLITE_SECURE_DELETE -DSQLITE_ENABLE_COLUMN_METADATA \
		-DSQLITE_ENABLE_FTS3 -DSQLITE_ENABLE_FTS3_PARENTHESIS \
		-DSQLITE_ENABLE_RTREE=1 -DSQLITE_SOUNDEX=1 \
		-DSQLITE_ENABLE_UNLOCK_NOTIFY \
		-DSQLITE_OMIT_LOOKASIDE=1 -DSQLITE_ENABLE_DBSTAT_VTAB \
		-DSQLITE_ALLOW_ROWID_IN_VIEW \
		-DSQLITE_ENABLE_UPDATE_DELETE_LIMIT=1 \
		-DSQLITE_ENABLE_LOAD_EXTENSION \
		-DSQLITE_ENABLE_JSON1 \
		-DSQLITE_LIKE_DOESNT_MATCH_BLOBS \
		-DSQLITE_THREADSAFE=1 \
		-DSQLITE_ENABLE_FTS3_TOKENIZER=1 \
		-DSQLITE_USE_URI=1 \
		-DSQLITE_MAX_SCHEMA_RETRY=25 \
		-DSQLITE_ENABLE_PREUPDATE_HOOK \
		-DSQLITE_ENABLE_SESSION \
		-DSQLITE_ENABLE_STMTVTAB \
		-DSQLITE_MAX_VARIABLE_NUMBER=250000 \
		-c native/sqlite3.c -o sqlite3.o
	"$AR_HOST" rcs libsqlite3.a sqlite3.o

	mkdir -p "$PREFIX/lib" "$PREFIX/include"
	install -m 644 libsqlite3.a "$PREFIX/lib/"
	install -m 644 native/sqlite3.h "$SRC_DIR/src/sqlite3ext.h" "$PREFIX/include/"
	write_pc sqlite3 "$(upstream_version "$SQLITE_VERSION")" \
		"SQL database engine" "-lsqlite3" "" ""
}

build_libconfig() {
	fetch_source libconfig "$LIBCONFIG_VERSION"
	enter_build_dir libconfig
	run_logged configure.log "$SRC_DIR/configure" --host="$HOST" \
		--prefix="$PREFIX" --disable-shared --enable-static \
		--disable-cxx --disable-examples
	# Only lib/ is built because the documentation and examples are not
	# needed.
	run_logged build.log make -C lib -j "$JOBS"
	run_logged install.log make -C lib install
	# Without LIBCONFIG_STATIC, libconfig.h declares functions dllimport.
	add_pc_cflag libconfig -DLIBCONFIG_STATIC
}

build_openssl() {
	fetch_source openssl "$OPENSSL_VERSION"
	enter_build_dir openssl
	# OpenSSL reads openssl.cnf from the compiled-in OPENSSLDIR, so that
	# must be a folder only administrators can write. Otherwise any local
	# user could configure the service's TLS. Configure treats "C:/..." as
	# relative to --prefix, so the make variable is set on the command
	# line instead. no-dso removes loading engines and providers from DLLs
	# (ENGINESDIR and MODULESDIR would point into this build's $PREFIX).
	# OpenSSL 3.0 has no no-docs option, so build_libs and install_dev
	# keep the build to the libraries and headers.
	#
	# The no-* options leave out what neither tern (TLS 1.2 and 1.3 with
	# ECDHE/DHE and AEAD suites, X.509, RSA, EC, Ed25519, SHA-1 and
	# SHA-2) nor libcurl, libopendkim or libspf2 use, which
	# shortens the build. smoke/smoke.c checks that what they use is
	# still there. DES stays because libcurl's NTLM code takes it from
	# OpenSSL when present (lib/curl_ntlm_core.c), and libcurl 7.88 does
	# not take MD4 from OpenSSL 3 (lib/md4.c). -O2, which Debian's own
	# build uses (dpkg-buildflags), replaces OpenSSL's default -O3 and
	# compiles faster. The hot paths are assembler either way.
	run_logged configure.log env CFLAGS="-Wall -O2" \
		"$SRC_DIR/Configure" mingw64 \
		--cross-compile-prefix="$HOST-" no-shared no-tests no-dso \
		no-legacy no-engine no-comp no-dtls no-srtp no-sctp no-srp \
		no-idea no-camellia no-seed no-rc2 no-rc4 no-md4 no-mdc2 \
		no-whirlpool no-cast no-bf no-aria no-sm2 no-sm3 no-sm4 \
		no-gost no-cmp no-cms no-ts no-ct no-ocb no-siv no-ec2m \
		no-rmd160 no-scrypt no-nextprotoneg no-rfc3779 no-ui-console \
		--prefix="$PREFIX" --libdir=lib

	run_logged build.log make -j "$JOBS" build_libs \
		OPENSSLDIR="$OPENSSL_DIR_WINDOWS"
	run_logged install.log make install_dev OPENSSLDIR="$OPENSSL_DIR_WINDOWS"
}

build_curl() {
	fetch_source curl "$CURL_VERSION"
	enter_build_dir curl
	# tern uses libcurl only to fetch MTA-STS policies over HTTPS, so
	# every other protocol and every optional library is left out.
	run_logged configure.log env PKG_CONFIG="pkg-config --static" \
		LIBS="-lws2_32 -lgdi32 -lcrypt32" \
		"$SRC_DIR/configure" --host="$HOST" --prefix="$PREFIX" \
		--disable-shared --enable-static \
		--with-openssl="$PREFIX" --without-zlib --without-brotli \
		--without-zstd --without-libidn2 --without-nghttp2 \
		--without-libpsl --without-libssh2 --without-librtmp \
		--without-libgsasl --disable-ldap --disable-ldaps \
		--disable-ftp --disable-file --disable-dict --disable-telnet \
		--disable-tftp --disable-pop3 --disable-imap --disable-smtp \
		--disable-smb --disable-gopher --disable-mqtt --disable-rtsp \
		--disable-manual --disable-docs
	run_logged build.log make -C lib -j "$JOBS"
	run_logged install-lib.log make -C lib install
	run_logged install-include.log make -C include install
	run_logged install-pc.log make install-pkgconfigDATA
	add_pc_cflag libcurl -DCURL_STATICLIB
}

# The six library sources are compiled directly, which needs neither
# argon2's Makefile nor cryptsetup's build system. opt.c (SSE2) is the
# implementation Debian's build selects on amd64, where debian/rules sets
# OPTTARGET to the CPU name x86_64.
build_argon2() {
	local origin="argon2 $ARGON2_VERSION" directory
	if try_fetch_source argon2 "$ARGON2_VERSION"; then
		directory=$SRC_DIR/src
		mkdir -p "$PREFIX/include"
		install -m 644 "$SRC_DIR/include/argon2.h" "$PREFIX/include/"
	else
		say "falling back to the Argon2 reference code bundled in Debian 12's cryptsetup $CRYPTSETUP_VERSION"
		fetch_source cryptsetup "$CRYPTSETUP_VERSION"
		origin="cryptsetup $CRYPTSETUP_VERSION (bundled Argon2 reference code)"
		directory=$SRC_DIR/lib/crypto_backend/argon2
		mkdir -p "$PREFIX/include"
		install -m 644 "$directory/argon2.h" "$PREFIX/include/"
	fi
	enter_build_dir argon2
	local source objects=()
	for source in argon2.c core.c encoding.c opt.c thread.c blake2/blake2b.c; do
		run_logged "compile-$(basename "$source" .c).log" \
			"$CC_HOST" -O2 -march=x86-64 -I"$directory" -I"$PREFIX/include" \
			-c "$directory/$source" -o "$(basename "$source" .c).o"
		objects+=("$(basename "$source" .c).o")
	done
	"$AR_HOST" rcs libargon2.a "${objects[@]}"
	mkdir -p "$PREFIX/lib"
	install -m 644 libargon2.a "$PREFIX/lib/"
	write_pc libargon2 "$(upstream_version "$ARGON2_VERSION")" \
		"Argon2 password hashing library" "-largon2" "" ""
	mkdir -p "$PREFIX/share/tern-deps"
	printf '%s\n' "$origin" > "$PREFIX/share/tern-deps/argon2.origin"
}

build_cmocka() {
	fetch_source cmocka "$CMOCKA_VERSION"
	enter_build_dir cmocka
	cmake_configure -DWITH_STATIC_LIB=ON -DWITH_EXAMPLES=OFF -DUNIT_TESTING=OFF
	run_logged build.log cmake --build . --target cmocka-static -j "$JOBS"
	mkdir -p "$PREFIX/lib" "$PREFIX/include"
	install -m 644 src/libcmocka-static.a "$PREFIX/lib/libcmocka.a"
	install -m 644 "$SRC_DIR/include/cmocka.h" "$SRC_DIR/include/cmocka_pbc.h" \
		"$PREFIX/include/"
	write_pc cmocka "$(upstream_version "$CMOCKA_VERSION")" \
		"unit testing framework for C with support for mock objects" \
		"-lcmocka" "" ""
}

# libpsl with a built-in list and no IDNA library, so it needs no other
# DLL or library. Without an IDNA library it handles ASCII (A-label)
# domains only. The list is the file of Debian's publicsuffix package,
# which is what Debian's own libpsl build compiles in (debian/rules
# --with-psl-file); it is data, the same on every architecture.
build_libpsl() {
	local list=/usr/share/publicsuffix/public_suffix_list.dat installed
	[ -f "$list" ] ||
		die "$list is missing; install it with: apt-get install publicsuffix"
	installed=$(dpkg-query -W -f '${Version}' publicsuffix 2>/dev/null || echo unknown)
	[ "$installed" = "$PUBLICSUFFIX_VERSION" ] ||
		say "note: publicsuffix $installed is installed, Debian 12 ships $PUBLICSUFFIX_VERSION; building in the installed list"

	fetch_source libpsl "$LIBPSL_VERSION"
	enter_build_dir libpsl
	# The source package has no configure script (Debian's build
	# generates it with autoreconf), so the two library sources are
	# compiled directly with the config.h that libpsl's meson.build would
	# write for this case.
	local version major minor patch
	version=$(upstream_version "$LIBPSL_VERSION")
	IFS=. read -r major minor patch <<< "$version"
	run_logged dafsa.log python3 "$SRC_DIR/src/psl-make-dafsa" \
		--output-format=cxx+ "$list" suffixes_dafsa.h

	cat > config.h <<-EOF
	#define PACKAGE_VERSION "$version"
	#define ENABLE_BUILTIN 1
	#define HAVE_STDINT_H 1
	#define HAVE_UNISTD_H 1
	#define HAVE_DIRENT_H 1
	#define HAVE_STRINGS_H 1
	EOF
	mkdir -p include
	sed -e "s/@LIBPSL_VERSION@/$version/" \
		-e "s/@LIBPSL_VERSION_MAJOR@/$major/" \
		-e "s/@LIBPSL_VERSION_MINOR@/$minor/" \
		-e "s/@LIBPSL_VERSION_PATCH@/$patch/" \
		-e "s/@LIBPSL_VERSION_NUMBER@/$(printf '0x%02x%02x%02x' "$major" "$minor" "$patch")/" \
		"$SRC_DIR/include/libpsl.h.in" > include/libpsl.h

	local source
	for source in psl lookup_string_in_fixed_set; do
		run_logged "compile-$source.log" "$CC_HOST" -O2 -DHAVE_CONFIG_H \
			-DPSL_STATIC -I. -Iinclude -c "$SRC_DIR/src/$source.c" \
			-o "$source.o"
	done
	"$AR_HOST" rcs libpsl.a psl.o lookup_string_in_fixed_set.o

	mkdir -p "$PREFIX/lib" "$PREFIX/include"
	install -m 644 libpsl.a "$PREFIX/lib/"
	install -m 644 include/libpsl.h "$PREFIX/include/"
	# PSL_STATIC keeps libpsl.h from declaring the functions dllimport.
	# libpsl calls inet_pton from Winsock.
	write_pc libpsl "$version" "Public Suffix List C library" \
		"-lpsl" "-lws2_32" "-DPSL_STATIC"
}

# Runs build function $3 for library $1 at version $2 unless it is
# stamped as built, and records the time it took.
step() {
	local name=$1 version=$2 function=$3 start seconds
	if is_built "$name" "$version"; then
		SUMMARY+=("$(printf '%-14s %-24s already built' "$name" "$version")")
		return 0
	fi
	say "building $name $version"
	start=$(date +%s)
	"$function"
	cd "$WORKDIR"
	seconds=$(( $(date +%s) - start ))
	mark_built "$name" "$version"
	say "built $name in $seconds s"
	SUMMARY+=("$(printf '%-14s %-24s built in %4d s' "$name" "$version" "$seconds")")
}

# Runs a build script from contrib/windows for a further library (TRE,
# libopendkim, libspf2), or reports that it is missing.
run_extra() {
	local script=$CONTRIB_WINDOWS/$1
	if [ ! -f "$script" ]; then
		say "skipping $1: not found in $CONTRIB_WINDOWS"
		SUMMARY+=("$(printf '%-14s %-24s skipped (no %s)' "${1%.sh}" "-" "$1")")
		return 0
	fi
	local start seconds
	start=$(date +%s)
	bash "$script"
	seconds=$(( $(date +%s) - start ))
	SUMMARY+=("$(printf '%-14s %-24s ran in %4d s' "${1%.sh}" "-" "$seconds")")
}

# Builds contrib/windows/smoke/smoke.c against the prefix and runs it
# under Wine. The program exits 0 only if every library works.
run_smoke_test() {
	local output=$WORKDIR/smoke/smoke.exe wine cflags libs
	local packages=(libuv libcares sqlite3 libconfig openssl libcurl libargon2 libpsl cmocka)
	mkdir -p "$WORKDIR/smoke"
	say "building the smoke test"
	cflags=$(pkg-config --static --cflags "${packages[@]}")
	libs=$(pkg-config --static --libs "${packages[@]}")
	# shellcheck disable=SC2086 # pkg-config prints a list of flags.
	"$CC_HOST" -Wall -Wextra -Werror -O2 -static $cflags \
		-o "$output" "$CONTRIB_WINDOWS/smoke/smoke.c" $libs
	wine=$(command -v wine64 || command -v wine) ||
		die "wine is not installed (contrib/debian/install-deps --windows)"
	export WINEPREFIX=${WINEPREFIX:-$WORKDIR/wine}
	export WINEDEBUG=${WINEDEBUG:--all}
	say "running the smoke test under $wine (WINEPREFIX=$WINEPREFIX)"
	"$wine" "$output" || die "the smoke test failed under Wine"
	say "smoke test passed"
}

mkdir -p "$PREFIX" "$SOURCES" "$BUILDS"
WORKDIR=$(cd "$WORKDIR" && pwd)
PREFIX=$(cd "$PREFIX" && pwd)
export PKG_CONFIG_LIBDIR="$PREFIX/lib/pkgconfig"

# The libraries form two chains that share nothing but $PREFIX: OpenSSL
# with what links against it, and the rest. No library in one chain
# looks for a library of the other.
build_openssl_chain() {
	step openssl "$OPENSSL_VERSION" build_openssl
	step curl "$CURL_VERSION" build_curl
	run_extra build-tre.sh
	run_extra build-opendkim.sh
}

build_other_chain() {
	step libuv "$LIBUV_VERSION" build_libuv
	step c-ares "$CARES_VERSION" build_cares
	step sqlite3 "$SQLITE_VERSION" build_sqlite
	step libconfig "$LIBCONFIG_VERSION" build_libconfig
	step argon2 "$ARGON2_VERSION" build_argon2
	step cmocka "$CMOCKA_VERSION" build_cmocka
	step libpsl "$LIBPSL_VERSION" build_libpsl
	run_extra build-libspf2.sh
}

# run_chain NAME FUNCTION: runs the chain FUNCTION and writes its summary
# lines to $WORKDIR/NAME.summary.
run_chain() {
	SUMMARY=()
	"$2"
	printf '%s\n' "${SUMMARY[@]}" > "$WORKDIR/$1.summary"
}

export PREFIX WORKDIR JOBS
total_start=$(date +%s)
rm -f "$WORKDIR/openssl.summary" "$WORKDIR/other.summary"
if [ "$JOBS" -gt 1 ]; then
	# Both chains run at once, so the single-threaded steps of one
	# (configure scripts, SQLite's one large file) overlap the parallel
	# compiles of the other. Fetching from the mirror is serialized by
	# the lock in fetch-source.sh.
	say "building the OpenSSL chain and the other libraries in parallel"
	run_chain openssl build_openssl_chain &
	openssl_chain_pid=$!
	run_chain other build_other_chain &
	other_chain_pid=$!
	chain_status=0
	wait "$openssl_chain_pid" || chain_status=1
	wait "$other_chain_pid" || chain_status=1
	[ "$chain_status" -eq 0 ] ||
		die "a library failed to build (see the messages above); the stamps of the built ones are kept"
else
	run_chain openssl build_openssl_chain
	run_chain other build_other_chain
fi
mapfile -t SUMMARY < <(cat "$WORKDIR/other.summary" "$WORKDIR/openssl.summary")
if [ "$check" = yes ]; then
	bash "$CONTRIB_WINDOWS/smoke/fetch_source_test.sh" >&2 ||
		die "the test of fetch-source.sh's checksum check failed"
	run_smoke_test
	bash "$CONTRIB_WINDOWS/smoke/dkim_spf_smoke.sh" ||
		die "the DKIM and SPF smoke test failed"
	say "DKIM and SPF smoke test passed"
fi

say "done in $(( $(date +%s) - total_start )) s; prefix $PREFIX:"
printf '  %s\n' "${SUMMARY[@]}" >&2
if [ -f "$PREFIX/share/tern-deps/argon2.origin" ]; then
	say "argon2 source: $(cat "$PREFIX/share/tern-deps/argon2.origin")"
fi
