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

from count_results import count_unit, unit_programs  # noqa: E402


def main(argv):
    if len(argv) == 3 and argv[1] == "list":
        print(*unit_programs(argv[2]))
    elif len(argv) == 3 and argv[1] == "count":
        print(*count_unit(argv[2]))
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
