"""Bad input gets one clear line and a non-zero status, never a crash; output problems are found
before the program runs; nothing half-written is left behind."""
import os
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

    def test_full_disk(self):
        script = self.write("prog.py", "print('ran')\n")
        r = run([CALLTREE, "-o", "/dev/full", script], cwd=self.tmp)
        self.assertNotEqual(r.returncode, 0)
        self.assertEqual(r.stdout, "ran\n")
        self.assertEqual(r.stderr.strip(), "calltree: cannot write output file '/dev/full': No space left on device")
        self.assertEqual(sorted(os.listdir(self.tmp)), ["prog.py"])


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
        r = run([CALLTREE, "--version"])
        self.assertRegex(r.stdout, r"^calltree \d+\.\d+\.\d+ \(embeds Python 3\.\d+\.\d+\)")


if __name__ == "__main__":
    unittest.main()
