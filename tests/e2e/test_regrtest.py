"""A subset of CPython's own regression suite under calltree, test by test the same as python3
(regrtest/run_regrtest.py runs the whole list and prints the table)."""
import os
import sys
import sysconfig
import unittest

from helpers import CALLTREE, TempDirTest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "regrtest"))
import run_regrtest  # noqa: E402


# This runner is the interpreter under test (Debian's python3, another version's in its root, or
# the one scripts/test-pythons.sh names), so its own standard library says whether the suite is there.
SUITE = os.path.join(sysconfig.get_path("stdlib"), "test", "libregrtest")


@unittest.skipIf(os.environ.get("CALLTREE_SANITIZED") == "1", "CPython's suite is minutes long under the sanitizers")
@unittest.skipUnless(os.path.isdir(SUITE), f"CPython's test suite is not installed ({SUITE}; Debian: libpython3.X-testsuite)")
class RegressionSuite(TempDirTest):
    def test_same_results_as_python3(self):
        # One python3 run per module serves every mode (test_signal alone takes 50 s). Other
        # versions than Debian's 3.11 get a shorter list (scripts/test-pythons.sh runs three).
        if sys.version_info[:2] == (3, 11):
            modules, modes = run_regrtest.QUICK, ["trace", "memory", "sample-0.1ms", "sample-memory"]
        else:
            modules, modes = run_regrtest.OTHER_VERSIONS, ["trace", "memory", "sample-0.1ms"]
        results = run_regrtest.regrtest(CALLTREE, modules, modes, timeout=600, log=lambda text: None)
        self.assertEqual({k: v for k, v in results.items() if v is not None}, {})


if __name__ == "__main__":
    unittest.main()
