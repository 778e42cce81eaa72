"""calltree --sample must not be noticeable by the program: what it does while the program runs
(reading the kernel's files about the program's threads, signalling them) must not change what
the program's own system calls return. Each program runs under python3 first, as the reference,
then under the sampler at its shortest interval, where any interference shows soonest."""
import os
import unittest

from helpers import CALLTREE, PYTHON, TempDirTest, run

PROGRAMS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sampling")


def program(name):
    return os.path.join(PROGRAMS, name)


class Unnoticed(TempDirTest):
    def same_as_python3(self, args):
        py = run([PYTHON, *args], timeout=120)
        self.assertEqual(py.returncode, 0, py.stderr)
        res = run([CALLTREE, "--sample", "--interval", "0.1ms", "-o", self.path("x.cg"), *args], timeout=120)
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertEqual(res.stdout, py.stdout)
        return py.stdout

    def test_lowest_descriptor_stays_the_programs(self):
        # The sampler opened and closed /proc/self/task/<tid>/... files while the program ran:
        # thousands of the program's dups got 4 instead of 3 in 1.5 s.
        out = self.same_as_python3([program("lowest_fd.py"), "1.5"])
        self.assertEqual(out, "other numbers: 0, looped: True\n")

    # A thread blocked in the kernel is never signalled. The sampler signalled any thread that
    # had used CPU since the last tick, blocked or not: CPython's test_signal
    # ItimerTest.test_itimer_real and test_io test_interrupted_write_unbuffered failed.

    def test_pause_returns_at_the_programs_signal(self):
        # pause() returned at the first sample signal, ~1 ms into a 0.3 s timer.
        out = self.same_as_python3([program("pause_until_timer.py"), "5"])
        self.assertEqual(out, "pauses that ended before their timer: []\n")

    def test_blocking_write_ends_with_the_programs_signal(self):
        # The write returned 65536 (what fitted in the pipe) at the first sample signal.
        out = self.same_as_python3([program("interrupted_write.py"), "3"])
        self.assertEqual(out, "['raised', 'raised', 'raised']\n")


if __name__ == "__main__":
    unittest.main()
