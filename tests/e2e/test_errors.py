"""Bad input gets one clear line and a non-zero status, never a crash; output problems are found
before the program runs; nothing half-written is left behind."""
import glob
import os
import re
import resource
import signal
import subprocess
import time
import unittest

from callgrind_parse import parse
from helpers import CALLTREE, PYTHON, TempDirTest, run

MARKER = "open({!r}, 'w').write('ran')\n"


class BadInput(TempDirTest):
    def test_missing_script_like_python3(self):
        missing = self.path("missing.py")
        r = run([CALLTREE, missing], cwd=self.tmp)
        py = run([PYTHON, missing], cwd=self.tmp)
        self.assertEqual(r.returncode, py.returncode)
        self.assertEqual(r.returncode, 2)
        self.assertEqual(r.stderr, py.stderr.replace(PYTHON, "calltree"))
        self.assertEqual(os.listdir(self.tmp), [])

    def test_usage_errors_are_one_line_with_status_2(self):
        script = self.write("ok.py", "print('ran')\n")
        for args in (["--bogus", script], [], ["--clock", "sundial", script], ["-m"], ["-o"]):
            with self.subTest(args=args):
                r = run([CALLTREE, *args], cwd=self.tmp)
                self.assertEqual(r.returncode, 2, r.stderr)
                self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)
                self.assertTrue(r.stderr.startswith("calltree: "), r.stderr)
                self.assertEqual(r.stdout, "")

    def test_unwritable_output_is_refused_before_the_program_runs(self):
        marker = self.path("marker")
        script = self.write("prog.py", MARKER.format(marker))
        for out in ("/nonexistent-dir/out.callgrind", "/dev/null/out", self.tmp):
            with self.subTest(output=out):
                r = run([CALLTREE, "-o", out, script], cwd=self.tmp)
                self.assertEqual(r.returncode, 2)
                self.assertIn("cannot write output file", r.stderr)
                self.assertEqual(len(r.stderr.strip().splitlines()), 1)
                self.assertFalse(os.path.exists(marker), "the program ran")

    @unittest.skipIf(os.environ.get("CALLTREE_SANITIZED") == "1", "the sanitizers need address space of their own")
    def test_too_little_address_space_is_an_error_not_a_crash(self):
        """Under `ulimit -v` too small for the sampler's tables: one line and status 1, no abort."""
        def limit():
            resource.setrlimit(resource.RLIMIT_AS, (100 << 20, 100 << 20))
        r = subprocess.run([CALLTREE, "--sample", "-o", self.path("out.cg"), "-c", "print('ran')"],
                           capture_output=True, text=True, preexec_fn=limit, cwd=self.tmp)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertRegex(r.stderr, r"^calltree: not enough memory to start profiling[^\n]*\n$")
        self.assertEqual(r.stdout, "")

    def test_full_disk(self):
        script = self.write("prog.py", "print('ran')\n")
        r = run([CALLTREE, "-o", "/dev/full", script], cwd=self.tmp)
        self.assertNotEqual(r.returncode, 0)
        self.assertEqual(r.stdout, "ran\n")
        self.assertEqual(r.stderr.strip(), "calltree: cannot write output file '/dev/full': No space left on device")
        self.assertEqual(sorted(os.listdir(self.tmp)), ["prog.py"])


# A program that imports enough to make a profile of tens of kilobytes, then waits for a signal.
WAITS = "import json, argparse, time\nprint('looping', flush=True)\nwhile True:\n    time.sleep(0.005)\n"
OLD_PROFILE = "# an earlier profile that must survive\n" * 10


def small_file_limit():
    """In the child: files may not grow beyond 4 KiB. Writing past the limit then fails with EFBIG
    (python3, and so calltree, ignores SIGXFSZ), even for root, which permission bits do not stop."""
    resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class OutputSurvivesAFailedWrite(TempDirTest):
    def setUp(self):
        super().setUp()
        self.out = self.write("out.callgrind", OLD_PROFILE)
        self.script = self.write("prog.py", WAITS)

    def assert_old_profile_intact(self, status, stderr):
        self.assertNotEqual(status, 0)
        self.assertRegex(stderr, r"(^|\n)calltree: cannot write output file '[^\n]*out\.callgrind': File too large\n")
        with open(self.out) as f:
            self.assertEqual(f.read(), OLD_PROFILE)
        self.assertEqual(sorted(os.listdir(self.tmp)), ["out.callgrind", "prog.py"], "temporary files left")

    def test_program_that_ends(self):
        script = self.write("prog.py", "import json, argparse\n")
        r = run([CALLTREE, "-o", self.out, script], preexec_fn=small_file_limit)
        self.assert_old_profile_intact(r.returncode, r.stderr)

    def test_after_sigint_and_sigterm(self):
        for sig in (signal.SIGINT, signal.SIGTERM):
            with self.subTest(signal=sig.name):
                proc = subprocess.Popen([CALLTREE, "-o", self.out, self.script], stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True, preexec_fn=small_file_limit)
                self.assertEqual(proc.stdout.readline(), "looping\n")
                time.sleep(0.1)
                proc.send_signal(sig)
                _, err = proc.communicate(timeout=60)
                self.assert_old_profile_intact(proc.returncode, err)


class OutputNaming(TempDirTest):
    def test_default_name_and_pid_expansion(self):
        script = self.write("prog.py", "import os\nprint(os.getpid())\n")
        r = run([CALLTREE, script], cwd=self.tmp)
        self.assertEqual(r.returncode, 0, r.stderr)
        pid = r.stdout.strip()
        expected = os.path.join(self.tmp, f"callgrind.out.{pid}")
        self.assertTrue(os.path.exists(expected))
        self.assertEqual(r.stderr, f"calltree: wrote {expected} (view it with: kcachegrind {expected})\n")

        r = run([CALLTREE, "-o", "run-%p.cg", script], cwd=self.tmp)
        self.assertTrue(os.path.exists(self.path(f"run-{r.stdout.strip()}.cg")))
        self.assertFalse([f for f in os.listdir(self.tmp) if f.startswith(".")], "temporary files left")

    def test_relative_output_is_relative_to_the_starting_directory(self):
        os.mkdir(self.path("sub"))
        script = self.write("prog.py", "import os\nos.chdir('sub')\n")
        r = run([CALLTREE, "-o", "rel.cg", script], cwd=self.tmp)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(os.path.exists(self.path("rel.cg")))
        self.assertEqual(os.listdir(self.path("sub")), [])

    def test_a_forked_child_does_not_clobber_the_parents_profile(self):
        # The child outlives the parent, so anything it writes comes last.
        script = self.write("fork.py", "import os, sys, time\nif os.fork() == 0:\n    time.sleep(0.3)\n"
                                       "    sys.exit(0)\nprint(os.getpid())\n")
        r = run([CALLTREE, "-o", "fork-%p.cg", script], cwd=self.tmp)  # returns when the child closes stderr
        self.assertEqual(r.returncode, 0, r.stderr)
        out = self.path(f"fork-{r.stdout.strip()}.cg")
        cg = parse(out)
        self.assertTrue(cg.by_name("<built-in method posix.getpid>"), "the parent's profile was replaced")
        self.assertIn(f"calltree: wrote {out} ", r.stderr)

    def test_help_and_version(self):
        r = run([CALLTREE, "--help"])
        self.assertEqual(r.returncode, 0)
        for option in ("-o,--output", "--clock", "--format", "--open", "-m", "-c", "convert", "Example"):
            self.assertIn(option, r.stdout)
        # --version lists every CPython version with a library (libcalltree-3.X.so) beside the
        # command (the build tree) or installed, the python3 under test among them.
        r = run([CALLTREE, "--version"])
        here = os.path.dirname(os.path.realpath(CALLTREE))
        libraries = glob.glob(os.path.join(here, "libcalltree-*.so")) or \
            glob.glob(os.path.join(here, "..", "lib*", "**", "calltree", "libcalltree-*.so"), recursive=True)
        versions = sorted({re.fullmatch(r"libcalltree-(\d+)\.(\d+)\.so", os.path.basename(p)).groups()
                           for p in libraries}, key=lambda v: tuple(map(int, v)))
        python = run([PYTHON, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"]).stdout.strip()
        # The sanitizer build has no library: it embeds the Python it was built with.
        listed = ", ".join(".".join(v) for v in versions) if versions else python
        self.assertRegex(r.stdout, rf"^calltree \d+\.\d+\.\d+ \(Python {re.escape(listed)}\)\n$")
        self.assertIn(python, listed.split(", "))


if __name__ == "__main__":
    unittest.main()
