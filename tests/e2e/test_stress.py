"""The crash-rate test: the stress programs of stress/ (class construction and super() in deep
recursion, generators and coroutines freed mid-iteration, C calling back into Python, threads
starting and ending, gc under deep stacks, asyncio) run under every mode that reads frames from a
signal handler or an allocation hook, at the finest interval. Zero runs may end differently from
python3 or leave no valid profile. class_recursion.py faulted in 4 of 20 runs at 0.1 ms before
the stack reads were guarded, so it gets the most runs; stress/soak.py runs thousands."""
import os
import sys
import unittest

from helpers import CALLTREE, TempDirTest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "stress"))
import soak  # noqa: E402


SANITIZED = os.environ.get("CALLTREE_SANITIZED") == "1"
# Sanitizer builds have no --memory (their runtime replaces malloc) and run several times slower.
MODES = ["sample-0.1ms"] if SANITIZED else list(soak.MODES)


class CrashRate(TempDirTest):
    def check(self, failures):
        failed = {k: v for k, v in failures.items() if v}
        self.assertEqual(failed, {}, "runs that ended differently from python3")

    def test_every_program_under_every_mode(self):
        self.check(soak.soak(CALLTREE, runs=1 if SANITIZED else 2, modes=MODES))

    def test_the_program_that_faulted_at_the_finest_interval(self):
        self.check(soak.soak(CALLTREE, runs=4 if SANITIZED else 12, programs=["class_recursion.py"], modes=["sample-0.1ms"]))


if __name__ == "__main__":
    unittest.main()
