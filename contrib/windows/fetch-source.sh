# Fetching and checking one Debian source package for the Windows
# dependency scripts. Sourced after common.sh, never run.
#
# apt-get authenticates the .dsc through the signed Sources index, and the
# .dsc lists the SHA-256 of every other file, so checking those sums ties
# each tarball to Debian's signed archive. apt-get source stops at the
# first file the mirror lacks, so the check below runs on its own and
# names every missing or corrupt file.
# shellcheck shell=bash

# Prints the Checksums-Sha256 field of a .dsc as "sha256 size name" lines.
dsc_sha256_lines() {
	awk '/^Checksums-Sha256:/ { in_field = 1; next }
	     in_field && /^ / { print $1, $2, $3; next }
	     { in_field = 0 }' "$1"
}

# fetch_debian_source PKG VERSION [orig-only]
#
# Downloads source package PKG at VERSION into $WORKDIR/src and checks
# each file the .dsc lists against its SHA-256. Dies naming the files
# that are missing or do not match. With "orig-only", only the upstream
# tarballs (*.orig.tar.*) must be present; a missing Debian tarball is
# then reported and skipped. Sets DSC_FILE to the path of the .dsc.
fetch_debian_source() {
	local pkg=$1 version=$2 mode=${3:-all}
	local dir="$WORKDIR/src"
	local upstream_version=${version#*:}
	local dsc="$dir/${pkg}_${upstream_version}.dsc"
	local bad="" sum size name

	mkdir -p "$dir"
	if ! apt-cache showsrc "$pkg" 2>/dev/null |
	    grep -qx "Version: $version"; then
		die "source package $pkg=$version not found in apt's lists; add a deb-src entry for Debian 12 (build-deps.sh does this) and run apt-get update"
	fi
	if [ ! -f "$dsc" ]; then
		say "fetching source package $pkg=$version"
		# A non-zero exit is expected when the mirror lacks a file;
		# the checksum loop below decides what is missing.
		(cd "$dir" && apt-get source --download-only -q \
		    "$pkg=$version" >"$dir/$pkg.fetch.log" 2>&1) || true
		[ -f "$dsc" ] || die "apt-get source did not fetch $dsc; see $dir/$pkg.fetch.log"
	fi

	while read -r sum size name; do
		if [ "$mode" = orig-only ]; then
			case $name in
			*.orig.tar.*|*.orig-*.tar.*) ;;
			*)
				[ -f "$dir/$name" ] ||
				    say "$pkg: $name is missing on the mirror and is not used"
				continue
				;;
			esac
		fi
		if [ ! -f "$dir/$name" ]; then
			bad="$bad $name(missing)"
		elif [ "$(stat -c %s "$dir/$name")" != "$size" ] ||
		    ! printf '%s  %s\n' "$sum" "$dir/$name" | sha256sum -c --status; then
			bad="$bad $name(checksum mismatch)"
		fi
	done < <(dsc_sha256_lines "$dsc")

	[ -z "$bad" ] || die "$pkg=$version: source files missing or corrupt:$bad (the mirror may lack them; see $dir/$pkg.fetch.log)"
	DSC_FILE=$dsc
}

# unpack_debian_source DSC DEST: unpacks the source package with Debian's
# patches applied into DEST, replacing an earlier unpacked copy.
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
