"""A subset of CPython's own regression suite under calltree, test by test the same as python3
(regrtest/run_regrtest.py runs the whole list and prints the table)."""
import os
import sys
import unittest

from helpers import CALLTREE, TempDirTest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "regrtest"))
import run_regrtest  # noqa: E402


@unittest.skipIf(os.environ.get("CALLTREE_SANITIZED") == "1", "CPython's suite is minutes long under the sanitizers")
@unittest.skipUnless(os.path.isdir("/usr/lib/python3.11/test/libregrtest"), "libpython3.11-testsuite is not installed")
class RegressionSuite(TempDirTest):
    def test_same_results_as_python3(self):
        # One python3 run per module serves every mode (test_signal alone takes 50 s).
        modes = ["trace", "memory", "sample-0.1ms", "sample-memory"]
        results = run_regrtest.regrtest(CALLTREE, run_regrtest.QUICK, modes, timeout=600, log=lambda text: None)
        self.assertEqual({k: v for k, v in results.items() if v is not None}, {})


if __name__ == "__main__":
    unittest.main()
