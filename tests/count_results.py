"""Count test results for tests/run.

    count_results.py unit BUILD_DIR
        Counts the individual tests of every cmocka program in the TESTS
        of BUILD_DIR's Makefile (so the automake conditionals decide which
        programs this build has), from the .log files that automake's
        test harness leaves next to each program. A program without a log
        (it did not build) or without cmocka's closing summary (it crashed)
        counts as one failed test on top of what it printed.

    count_results.py junit FILE
        Counts a pytest --junitxml report. A missing or unreadable report
        counts as one failed test.

Both print one line "PASSED FAILED SKIPPED" on standard output and explain
every failure on standard error.
"""

import re
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path

SUMMARY_RUN = re.compile(r"^\[=+\] (\d+) test\(s\) run\.", re.M)
SUMMARY_PASSED = re.compile(r"^\[  PASSED  \] (\d+) test\(s\)\.", re.M)
SUMMARY_FAILED = re.compile(r"^\[  FAILED  \] (\d+) test\(s\), listed", re.M)
SUMMARY_SKIPPED = re.compile(r"^\[  SKIPPED \] (\d+) test\(s\), listed",
                             re.M)
LINE_OK = re.compile(r"^\[       OK \] ", re.M)
LINE_FAILED = re.compile(r"^\[  FAILED  \] (?!\d+ test\(s\))", re.M)
TAP_OK = re.compile(r"^ok \d+", re.M)
TAP_NOT_OK = re.compile(r"^not ok \d+(?! # SKIP)", re.M)
TAP_SKIP = re.compile(r"^not ok \d+ # SKIP", re.M)


# A rule that prints the value of TESTS, fed to make after the Makefile,
# so that automake's conditionals (the Unix-only and Windows-only unit
# tests) decide which programs this build runs and counts.
PRINT_TESTS_RULE = "tern-print-tests:\n\t@echo $(TESTS)\n"


def unit_programs(build_dir):
    """The TESTS of the Makefile in build_dir, as make names them."""
    done = subprocess.run(
        ["make", "-s", "--no-print-directory", "-C", str(build_dir),
         "-f", "Makefile", "-f", "-", "tern-print-tests"],
        input=PRINT_TESTS_RULE, capture_output=True, text=True)
    if done.returncode != 0:
        print(f"count_results: make could not list TESTS in {build_dir}: "
              f"{done.stderr.strip()}", file=sys.stderr)
        return []
    return done.stdout.split()


def count_cmocka_log(text):
    """(passed, failed, skipped, complete) for one program's output."""
    total = lambda regex: sum(int(n) for n in regex.findall(text))
    if SUMMARY_RUN.search(text):
        return (total(SUMMARY_PASSED), total(SUMMARY_FAILED),
                total(SUMMARY_SKIPPED), True)
    if TAP_OK.search(text) or TAP_NOT_OK.search(text):
        complete = re.search(r"^1\.\.\d+", text, re.M) is not None
        return (len(TAP_OK.findall(text)), len(TAP_NOT_OK.findall(text)),
                len(TAP_SKIP.findall(text)), complete)
    return (len(LINE_OK.findall(text)), len(LINE_FAILED.findall(text)), 0,
            False)


def count_unit(build_dir):
    """Counts the cmocka cases of every unit test program in build_dir's
    TESTS, from their .log files; returns (passed, failed, skipped)."""
    passed = failed = skipped = 0
    programs = unit_programs(build_dir)
    if not programs:
        print(f"count_results: the Makefile in {build_dir} lists no unit "
              "tests", file=sys.stderr)
        return 0, 1, 0
    for program in programs:
        program = program.removesuffix(".exe")
        log = Path(build_dir) / (program + ".log")
        if not log.exists():
            print(f"unit test {program}: no log; it did not build or run",
                  file=sys.stderr)
            failed += 1
            continue
        p, f, s, complete = count_cmocka_log(log.read_text(errors="replace"))
        passed, failed, skipped = passed + p, failed + f, skipped + s
        if f:
            print(f"unit test {program}: {f} failed, see {log}",
                  file=sys.stderr)
        if not complete:
            print(f"unit test {program}: no closing summary (crashed or "
                  f"timed out), see {log}", file=sys.stderr)
            failed += 1
    return passed, failed, skipped


def count_junit(path):
    try:
        root = ElementTree.parse(path).getroot()
    except (OSError, ElementTree.ParseError) as e:
        print(f"pytest report {path} unreadable: {e}", file=sys.stderr)
        return 0, 1, 0
    suites = [root] if root.tag == "testsuite" else root.iter("testsuite")
    passed = failed = skipped = 0
    for suite in suites:
        for case in suite.iter("testcase"):
            name = f"{case.get('classname')}::{case.get('name')}"
            if case.find("failure") is not None or \
                    case.find("error") is not None:
                failed += 1
                print(f"integration test failed: {name}", file=sys.stderr)
            elif case.find("skipped") is not None:
                skipped += 1
            else:
                passed += 1
    if passed + failed + skipped == 0:
        print(f"pytest report {path} lists no tests", file=sys.stderr)
        failed += 1
    return passed, failed, skipped


def main(argv):
    if len(argv) == 3 and argv[1] == "unit":
        counts = count_unit(argv[2])
    elif len(argv) == 3 and argv[1] == "junit":
        counts = count_junit(argv[2])
    else:
        print(__doc__, file=sys.stderr)
        return 2
    print(*counts)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
