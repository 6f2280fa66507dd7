# Fetching and checking Debian source packages for the scripts that
# cross-build tern's Windows dependencies. Sourced after common.sh, never
# run. The one implementation that build-deps.sh and the build-*.sh
# scripts share.
#
# apt-get authenticates the .dsc through the signed Sources index, and the
# .dsc lists the size and SHA-256 of every other file, so checking those
# ties each tarball to Debian's signed archive. apt-get source stops at
# the first file the mirror lacks, so the check below runs on its own and
# names every missing or corrupt file.
#
# Privileges: an ordinary user, except that ensure_deb_src needs root
# once when apt has no deb-src entry. Contacts only the Debian mirror
# that apt is configured to use.
# shellcheck shell=bash

# Prints the Checksums-Sha256 field of a .dsc as "sha256 size name" lines.
dsc_sha256_lines() {
	awk '/^Checksums-Sha256:/ { in_field = 1; next }
	     in_field && /^ / { print $1, $2, $3; next }
	     { in_field = 0 }' "$1"
}

# Debian's file names drop the epoch ("2:2.6.1-4" becomes "2.6.1-4").
strip_epoch() { printf '%s' "${1#*:}"; }

# Upstream part of a Debian version: no epoch and no Debian revision.
upstream_version() {
	local version
	version=$(strip_epoch "$1")
	printf '%s' "${version%-*}"
}

# Adds Debian 12's deb-src entries when apt lists no source of package $1.
ensure_deb_src() {
	if [ -n "$(apt-cache showsrc "$1" 2>/dev/null)" ]; then
		return 0
	fi
	[ "$(id -u)" -eq 0 ] ||
		die "apt has no deb-src entry for Debian 12; run once as root or add one to /etc/apt/sources.list.d/"
	say "adding Debian 12 deb-src entries in /etc/apt/sources.list.d/tern-deb-src.sources"
	cat > /etc/apt/sources.list.d/tern-deb-src.sources <<-'EOF'
	Types: deb-src
	URIs: http://deb.debian.org/debian
	Suites: bookworm bookworm-updates
	Components: main
	Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

	Types: deb-src
	URIs: http://deb.debian.org/debian-security
	Suites: bookworm-security
	Components: main
	Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
	EOF
	apt-get update -q
}

# verify_dsc_files DSC [orig-only]
#
# Checks that every file the .dsc lists is next to it, with its size and
# SHA-256. With "orig-only", a missing file other than an upstream tarball
# (*.orig.tar.*, *.orig-COMPONENT.tar.*) is reported and ignored. Sets
# DSC_PROBLEMS to a list of "name (reason)" and returns 1 when a needed
# file is missing or differs.
verify_dsc_files() {
	local dsc=$1 mode=${2:-all} directory sum size name
	directory=$(dirname "$dsc")
	DSC_PROBLEMS=""
	while read -r sum size name; do
		if [ "$mode" = orig-only ] && [ ! -f "$directory/$name" ]; then
			case $name in
			*.orig.tar.*|*.orig-*.tar.*) ;;
			*)
				say "$(basename "$dsc"): $name is missing on the mirror and is not used"
				continue
				;;
			esac
		fi
		if [ ! -f "$directory/$name" ]; then
			DSC_PROBLEMS="$DSC_PROBLEMS $name (missing)"
		elif [ "$(stat -c %s "$directory/$name")" != "$size" ]; then
			DSC_PROBLEMS="$DSC_PROBLEMS $name (size differs)"
		elif [ "$(sha256sum "$directory/$name" | cut -d' ' -f1)" != "$sum" ]; then
			DSC_PROBLEMS="$DSC_PROBLEMS $name (SHA-256 differs)"
		fi
	done < <(dsc_sha256_lines "$dsc")
	[ -z "$DSC_PROBLEMS" ]
}

# try_fetch_debian_source PKG VERSION [orig-only]
#
# Downloads source package PKG at VERSION into $WORKDIR/src, unless the
# files there already pass verify_dsc_files, and checks them. Sets
# DSC_FILE to the path of the .dsc. Returns 1 with a message naming each
# missing or corrupt file, so a caller can fall back to another source.
# build-deps.sh builds two chains of libraries at once, so one fetch at a
# time holds $WORKDIR/src/.fetch.lock (flock(1)), which also keeps two
# runs of ensure_deb_src apart.
try_fetch_debian_source() {
	local lock_fd status=0
	mkdir -p "$WORKDIR/src"
	exec {lock_fd}> "$WORKDIR/src/.fetch.lock"
	flock "$lock_fd"
	fetch_debian_source_locked "$@" || status=$?
	exec {lock_fd}>&-
	return "$status"
}

fetch_debian_source_locked() {
	local pkg=$1 version=$2 mode=${3:-all}
	local dir="$WORKDIR/src"
	local dsc="$dir/${pkg}_$(strip_epoch "$version").dsc"
	local log="$dir/$pkg.fetch.log"

	DSC_FILE=$dsc
	if [ -f "$dsc" ] && verify_dsc_files "$dsc" "$mode"; then
		return 0
	fi
	ensure_deb_src "$pkg"
	# grep reads all of apt-cache's output (no -q): an early exit would
	# kill apt-cache with SIGPIPE, which fails the pipeline under pipefail.
	if ! apt-cache showsrc "$pkg" 2>/dev/null |
	    grep -x "Version: $version" >/dev/null; then
		say "source package $pkg=$version is not in apt's lists; 'apt-cache showsrc $pkg' lists the versions apt knows"
		return 1
	fi
	mkdir -p "$dir"
	say "fetching the source of $pkg $version"
	# A non-zero exit is expected when the mirror lacks a file, and
	# verify_dsc_files below names what is missing.
	(cd "$dir" && apt-get source --download-only -q "$pkg=$version") \
		> "$log" 2>&1 || true
	grep '^E:' "$log" >&2 || true
	if [ ! -f "$dsc" ]; then
		say "the mirror has no $(basename "$dsc"); see $log"
		return 1
	fi
	if ! verify_dsc_files "$dsc" "$mode"; then
		say "$pkg $version: source files missing or corrupt:$DSC_PROBLEMS (the mirror may lack them; see $log)"
		return 1
	fi
}

# fetch_debian_source PKG VERSION [orig-only]: as try_fetch_debian_source,
# but stops the script when a file is missing or corrupt.
fetch_debian_source() {
	try_fetch_debian_source "$@" ||
		die "cannot get the source of $1 $2 (see the messages above); retry later or pin another version Debian 12 ships"
}

# unpack_debian_source DSC DEST: unpacks the source package with Debian's
# patches applied into DEST, replacing an earlier unpacked copy.
# --no-check skips dpkg-source's signature check, which only warns
# without debian-keyring; verify_dsc_files has checked every file against
# the .dsc that apt-get authenticated.
unpack_debian_source() {
	rm -rf "$2"
	dpkg-source --no-check -x "$1" "$2" >/dev/null ||
	    die "dpkg-source failed to unpack $1"
}

# unpack_orig_source DSC DEST: unpacks only the upstream tarball of the
# source package into DEST, without Debian's patches.
unpack_orig_source() {
	local dir tarball
	dir=$(dirname "$1")
	tarball=$(dsc_sha256_lines "$1" | awk '$3 ~ /\.orig\.tar\./ { print $3 }')
	[ -n "$tarball" ] || die "$1 lists no upstream tarball"
	rm -rf "$2"
	mkdir -p "$2"
	tar -xf "$dir/$tarball" -C "$2" --strip-components=1 ||
	    die "failed to unpack $dir/$tarball"
}

# apply_patches DEST PATCH...: applies each patch (-p1) to the tree in
# DEST, stopping with the patch's name when one does not apply.
apply_patches() {
	local dest=$1 patch
	shift
	for patch in "$@"; do
		say "applying $(basename "$patch")"
		patch -d "$dest" -p1 --forward --quiet < "$patch" ||
		    die "$(basename "$patch") does not apply to $dest"
	done
}
