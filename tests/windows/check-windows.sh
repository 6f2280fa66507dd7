#!/usr/bin/env bash
# Runs tern's Windows checks on Debian (what "make check-windows" runs):
#   1. builds the static Windows dependencies (contrib/windows/build-deps.sh);
#   2. cross-builds tern for x86_64-w64-mingw32 in a copy of this source
#      tree, so an in-tree Linux build is left untouched;
#   3. makes a private Wine prefix in a temporary folder;
#   4. runs the cmocka unit tests under Wine;
#   5. runs the end-to-end tests in tests/windows/ (pytest, real peers on
#      loopback, ternd.exe under Wine, the Windows service under Wine's
#      service manager);
# then prints one line "windows: N passed, N failed" and exits non-zero
# when anything failed, a failed build included.
#
# It starts Wine only in its own prefix and stops it with
# "wineserver -k" on that prefix, so Wine programs of other users on this
# machine are left alone. Everything listens on loopback addresses.
#
# Environment:
#   TERN_WINDOWS_DEPS  a dependency prefix that is already built; it is
#                      used as it is and build-deps.sh is not run
#   PREFIX, WORKDIR, JOBS
#                      passed on to contrib/windows/build-deps.sh (PREFIX
#                      defaults to ~/.cache/tern-windows/prefix there)
#   TERN_WINDOWS_KEEP=1
#                      keep the build copy and the Wine prefix, and print
#                      where they are
# Usage: tests/windows/check-windows.sh [extra pytest arguments, e.g. -k pickup]

set -u -o pipefail

cd "$(dirname "$0")/../.." || exit 1
TOP=$(pwd)
PYTHON=/usr/bin/python3  # Debian's interpreter can import python3-aiosmtpd
HOST=x86_64-w64-mingw32
JOBS=${JOBS:-$(nproc 2>/dev/null || echo 2)}

passed=0
failed=0
skipped=0
WORK=
WINE_READY=

log() {
	printf 'check-windows: %s\n' "$*"
}

# Adds "PASSED FAILED SKIPPED" from a counting script to the totals; an
# empty line counts as one failure.
add_counts() {
	local p f s
	read -r p f s <<<"$1"
	passed=$((passed + ${p:-0}))
	failed=$((failed + ${f:-1}))
	skipped=$((skipped + ${s:-0}))
}

# Prints the closing line and exits with 0 only when nothing failed.
finish() {
	if [ -n "$WINE_READY" ]; then
		stop_wine
	fi
	if [ -n "$WORK" ]; then
		if [ "${TERN_WINDOWS_KEEP:-}" = 1 ] || [ "$failed" -gt 0 ]; then
			log "build copy, Wine prefix and logs kept in $WORK"
		else
			rm -rf "$WORK"
		fi
	fi
	if [ "$skipped" -gt 0 ]; then
		echo "windows: $passed passed, $failed failed, $skipped skipped"
	else
		echo "windows: $passed passed, $failed failed"
	fi
	if [ "$failed" -gt 0 ]; then
		exit 1
	fi
	exit 0
}

# Runs "$@" with its output in the log file $1, and shows the log's end
# when the command fails.
run_logged() {
	local logfile=$1
	shift
	"$@" >"$logfile" 2>&1
	local status=$?
	if [ $status -ne 0 ]; then
		tail -n 40 "$logfile"
		log "'$*' failed with status $status; full log: $logfile"
	fi
	return $status
}

# Sets DEPS to the prefix that contains the cross-built dependencies.
build_dependencies() {
	if [ -n "${TERN_WINDOWS_DEPS:-}" ]; then
		DEPS=$TERN_WINDOWS_DEPS
		if [ ! -d "$DEPS/lib/pkgconfig" ]; then
			log "TERN_WINDOWS_DEPS=$DEPS has no lib/pkgconfig folder;" \
			    "build it with contrib/windows/build-deps.sh"
			return 1
		fi
		log "using the dependencies in $DEPS (TERN_WINDOWS_DEPS)"
		return 0
	fi
	DEPS=${PREFIX:-$HOME/.cache/tern-windows/prefix}
	if [ ! -x contrib/windows/build-deps.sh ]; then
		log "contrib/windows/build-deps.sh is missing"
		return 1
	fi
	log "building the dependencies into $DEPS (build-deps.sh)"
	local start=$SECONDS
	PREFIX=$DEPS JOBS=$JOBS run_logged "$WORK/build-deps.log" \
	    contrib/windows/build-deps.sh || return 1
	grep -E '^build-deps: ' "$WORK/build-deps.log" | tail -n 20
	log "dependencies ready after $((SECONDS - start)) s"
}

# Copies the files that git lists (tracked and untracked, minus the
# ignored ones) into $SRC. A tracked file deleted in the work tree is
# skipped.
copy_source_tree() {
	if ! git -C "$TOP" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
		log "$TOP is not a git work tree; the Windows build copies" \
		    "the files that git lists"
		return 1
	fi
	mkdir -p "$SRC"
	git -C "$TOP" ls-files -z -co --exclude-standard |
	    while IFS= read -r -d '' file; do
		if [ -e "$file" ] || [ -L "$file" ]; then
			printf '%s\0' "$file"
		fi
	    done |
	    tar --null -T - -cf - | tar -xf - -C "$SRC"
}

cross_build() {
	local start=$SECONDS
	log "cross-building tern for $HOST in $SRC"
	copy_source_tree || return 1
	(
		cd "$SRC" &&
		run_logged "$WORK/autogen.log" ./autogen.sh &&
		run_logged "$WORK/configure.log" ./configure --host=$HOST \
		    --with-windows-deps="$DEPS" &&
		run_logged "$WORK/make.log" make -j"$JOBS"
	) || return 1
	local exe
	for exe in ternd tern tern-smtpd tern-qmgr tern-deliver tern-pickup; do
		if [ ! -f "$SRC/$exe.exe" ]; then
			log "the build made no $exe.exe"
			return 1
		fi
	done
	log "cross-build done after $((SECONDS - start)) s"
}

# Makes the private Wine prefix and starts its wineserver persistently.
# Wine ends a prefix's services when no ordinary Windows program is left
# in it. Without a persistent wineserver, a service started with
# "sc start" would end as soon as sc.exe exits.
start_wine() {
	export WINEPREFIX="$WORK/wine" WINEARCH=win64 WINEDEBUG=-all
	# No Mono or Gecko: tern needs neither, and their install would ask.
	export WINEDLLOVERRIDES="mscoree,mshtml="
	local start=$SECONDS
	log "making the Wine prefix $WINEPREFIX"
	run_logged "$WORK/wineboot.log" wineboot --init || return 1
	WINE_READY=1
	wineserver -w
	wineserver -p || return 1
	log "Wine prefix ready after $((SECONDS - start)) s"
}

stop_wine() {
	wineserver -k 2>/dev/null
	wineserver -w 2>/dev/null
	WINE_READY=
}

# Runs the cmocka programs under Wine through automake's test harness and
# counts their tests. "make check" runs no test when one program fails to
# build, so the programs are built first and only those that built run.
# count_unit.py counts each one that did not build as a failure.
run_unit_tests() {
	local start=$SECONDS
	log "building the unit tests"
	if ! (cd "$SRC" && make -k -j"$JOBS" check TESTS=) \
	    >"$WORK/make-check-build.log" 2>&1; then
		grep -E 'error|Error' "$WORK/make-check-build.log" | head -n 20
		log "some unit tests did not build; see" \
		    "$WORK/make-check-build.log"
	fi
	local program built=()
	for program in $("$PYTHON" tests/windows/count_unit.py list "$SRC"); do
		if [ -f "$SRC/$program" ]; then
			built+=("$program")
		fi
	done
	log "running ${#built[@]} unit test programs under Wine" \
	    "(make check-TESTS LOG_COMPILER=wine)"
	# check-TESTS depends on every check program, so check_PROGRAMS is
	# narrowed too. The limit only stops a hang.
	(cd "$SRC" && timeout --kill-after=30 1200 \
	    make -k -j"$JOBS" check-TESTS LOG_COMPILER=wine \
	    TESTS="${built[*]}" check_PROGRAMS="${built[*]}") \
	    >"$WORK/make-check.log" 2>&1
	# Seen once on a loaded machine: a test program that exits 1 having
	# printed nothing, not even cmocka's first line, and passes when run
	# again. That is Wine failing to start it, not a failed test, so only
	# such a program runs once more. A test that failed prints its cases
	# and is not repeated.
	local log_file
	for program in "${built[@]}"; do
		log_file="$SRC/${program%.exe}.log"
		if grep -q '^FAIL' "$log_file" 2>/dev/null &&
		    ! grep -q '^\[' "$log_file"; then
			log "$program printed nothing under Wine; running it again"
			rm -f "$log_file" "$SRC/${program%.exe}.trs"
			(cd "$SRC" && make check-TESTS LOG_COMPILER=wine \
			    TESTS="$program" check_PROGRAMS="$program") \
			    >>"$WORK/make-check.log" 2>&1
		fi
	done
	grep -E '^(PASS|FAIL|ERROR|XFAIL|XPASS|SKIP):' "$WORK/make-check.log"
	local counts
	counts=$("$PYTHON" tests/windows/count_unit.py count "$SRC")
	log "unit tests under Wine (passed failed skipped): ${counts:-none}," \
	    "after $((SECONDS - start)) s"
	add_counts "$counts"
}

run_end_to_end_tests() {
	local start=$SECONDS
	log "running the end-to-end tests under Wine (tests/windows)"
	local report="$WORK/pytest.xml"
	# The limit only stops a hang.
	TERN_WINDOWS_BUILD_DIR="$SRC" PYTHONDONTWRITEBYTECODE=1 \
	    timeout --kill-after=30 1500 \
	    "$PYTHON" -m pytest -v -p no:cacheprovider \
	    --junitxml="$report" tests/windows "$@"
	local status=$?
	local counts
	counts=$("$PYTHON" tests/count_results.py junit "$report")
	# pytest exits 0 (all passed), 1 (some failed) or 5 (none ran); any
	# other status means the run itself broke.
	case $status in
	0 | 1) ;;
	*)
		log "pytest exited with status $status"
		failed=$((failed + 1))
		;;
	esac
	log "end-to-end tests under Wine (passed failed skipped):" \
	    "${counts:-none}, after $((SECONDS - start)) s"
	add_counts "$counts"
}

main() {
	local start=$SECONDS
	WORK=$(mktemp -d /tmp/tern-windows.XXXXXX) || exit 1
	SRC="$WORK/src"
	trap 'log "interrupted"; failed=$((failed + 1)); finish' INT TERM

	if ! build_dependencies || ! cross_build; then
		failed=$((failed + 1))
		finish
	fi
	if ! start_wine; then
		failed=$((failed + 1))
		finish
	fi
	run_unit_tests
	run_end_to_end_tests "$@"
	log "all Windows checks took $((SECONDS - start)) s"
	finish
}

main "$@"
