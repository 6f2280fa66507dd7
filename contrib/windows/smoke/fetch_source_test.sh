#!/bin/bash
# Tests verify_dsc_files from fetch-source.sh on a made-up .dsc in a
# temporary folder: a good set of files passes, and a missing file, a
# wrong size or a wrong SHA-256 fails with that file named. Needs no
# network, no apt and no root. Exits non-zero if any check fails.
set -euo pipefail
. "$(dirname "$0")/../common.sh"
. "$CONTRIB_WINDOWS/fetch-source.sh"

dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
failures=0

expect() {
	local description=$1 expected_status=$2 expected_text=$3 status=0
	shift 3
	"$@" 2>/dev/null || status=$?
	if [ "$status" -eq "$expected_status" ] &&
	    [[ "$DSC_PROBLEMS" == *"$expected_text"* ]]; then
		echo "ok: $description"
	else
		echo "FAILED: $description (status $status, problems:$DSC_PROBLEMS)"
		failures=$((failures + 1))
	fi
}

# Writes $dir/demo_1.0-1.dsc listing the files in $dir as they are now.
write_dsc() {
	local name
	{
		echo "Format: 3.0 (quilt)"
		echo "Source: demo"
		echo "Checksums-Sha256:"
		for name in demo_1.0.orig.tar.gz demo_1.0-1.debian.tar.xz; do
			echo " $(sha256sum "$dir/$name" | cut -d' ' -f1) $(stat -c %s "$dir/$name") $name"
		done
		echo "Files:"
	} > "$dir/demo_1.0-1.dsc"
}

printf 'upstream' > "$dir/demo_1.0.orig.tar.gz"
printf 'debian' > "$dir/demo_1.0-1.debian.tar.xz"
write_dsc

expect "all files present" 0 "" verify_dsc_files "$dir/demo_1.0-1.dsc"

printf 'Upstream' > "$dir/demo_1.0.orig.tar.gz"
expect "same size, other SHA-256" 1 "demo_1.0.orig.tar.gz (SHA-256 differs)" \
	verify_dsc_files "$dir/demo_1.0-1.dsc"

printf 'upstream, longer' > "$dir/demo_1.0.orig.tar.gz"
expect "other size" 1 "demo_1.0.orig.tar.gz (size differs)" \
	verify_dsc_files "$dir/demo_1.0-1.dsc"

printf 'upstream' > "$dir/demo_1.0.orig.tar.gz"
rm "$dir/demo_1.0-1.debian.tar.xz"
expect "Debian tarball missing" 1 "demo_1.0-1.debian.tar.xz (missing)" \
	verify_dsc_files "$dir/demo_1.0-1.dsc"
expect "Debian tarball missing, orig-only" 0 "" \
	verify_dsc_files "$dir/demo_1.0-1.dsc" orig-only

rm "$dir/demo_1.0.orig.tar.gz"
expect "upstream tarball missing, orig-only" 1 "demo_1.0.orig.tar.gz (missing)" \
	verify_dsc_files "$dir/demo_1.0-1.dsc" orig-only

if [ "$failures" -ne 0 ]; then
	echo "$failures check(s) failed"
	exit 1
fi
echo "all checks passed"
