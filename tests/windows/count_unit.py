"""List and count the cmocka unit tests of a Windows build.

    count_unit.py list BUILD_DIR
        Prints the TESTS of the Makefile in BUILD_DIR (test_x.exe ...), so
        the automake conditionals of the Windows build decide which
        programs run.

    count_unit.py count BUILD_DIR
        Reads the .log file that automake's test harness left for each of
        those programs. A program without a log (it did not build or run)
        or without cmocka's closing summary (it crashed) counts as one
        failed test on top of what it printed. Prints one line
        "PASSED FAILED SKIPPED" on standard output and explains every
        failure on standard error.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from count_results import count_cmocka_log, unit_programs  # noqa: E402


def count(build_dir):
    programs = unit_programs(build_dir)
    if not programs:
        print("count_unit: the Windows build lists no unit tests",
              file=sys.stderr)
        return 0, 1, 0
    passed = failed = skipped = 0
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


def main(argv):
    if len(argv) == 3 and argv[1] == "list":
        print(*unit_programs(argv[2]))
    elif len(argv) == 3 and argv[1] == "count":
        print(*count(argv[2]))
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
