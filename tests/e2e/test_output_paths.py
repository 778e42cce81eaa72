"""Where the profile goes: through symbolic links (never replacing them), directly into pipes and
devices, never over its own input; --open; file names that are not UTF-8; nothing written when
the program never started; a pasteable hint; unwritable outputs refused before the program runs."""
import cProfile
import os
import shlex
import stat
import subprocess
import threading
import unittest

from callgrind_parse import parse
from helpers import CALLTREE, PYTHON, TempDirTest, run

MARKER = "open({!r}, 'w').write('ran')\n"


def callgrind_header(path):
    with open(path, "rb") as f:
        return f.read(18)


class WritesThroughLinks(TempDirTest):
    def setUp(self):
        super().setUp()
        self.script = self.write("prog.py", "print('ran')\n")

    def test_a_link_to_a_new_file_stays_a_link(self):
        link = self.path("link.cg")
        os.symlink("sub/real.cg", link)
        os.mkdir(self.path("sub"))
        r = run([CALLTREE, "-o", link, self.script], cwd=self.tmp)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(os.path.islink(link))
        self.assertEqual(callgrind_header(self.path("sub/real.cg")), b"# callgrind format")
        self.assertEqual(sorted(os.listdir(self.path("sub"))), ["real.cg"], "temporary file left")

    def test_a_chain_of_links_to_an_existing_file(self):
        real = self.write("real.cg", "old\n")
        os.symlink(real, self.path("one"))
        os.symlink("one", self.path("two"))
        r = run([CALLTREE, "convert", self._prof(), "-o", self.path("two")], cwd=self.tmp)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(os.path.islink(self.path("two")) and os.path.islink(self.path("one")))
        self.assertEqual(callgrind_header(real), b"# callgrind format")

    def test_a_link_to_dev_null_is_written_not_replaced(self):
        link = self.path("null.cg")
        os.symlink("/dev/null", link)
        r = run([CALLTREE, "-o", link, self.script], cwd=self.tmp)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(os.path.islink(link))
        self.assertTrue(stat.S_ISCHR(os.stat("/dev/null").st_mode))

    # /dev/stdout is shared by every process on the machine: each test first proves on a link of
    # its own that the link survives (a failed assertion ends the test before /dev/stdout is
    # touched), and puts /dev/stdout back should it still be replaced.
    def _profile_to(self, target, **kwargs):
        r = run([CALLTREE, "-o", target, "-c", "pass"], cwd=self.tmp, **kwargs)
        self.assertEqual(r.returncode, 0, r.stderr)
        return r

    def _guard_dev_stdout(self):
        if not os.path.islink("/dev/stdout"):
            self.skipTest("/dev/stdout is not a symbolic link here")

        def restore():
            if not os.path.islink("/dev/stdout"):
                os.symlink("/proc/self/fd/1", "/dev/.stdout.calltree-test")
                os.replace("/dev/.stdout.calltree-test", "/dev/stdout")
                self.fail("/dev/stdout was replaced (restored)")
        self.addCleanup(restore)

    def test_dev_stdout_redirected_to_a_file(self):
        self._guard_dev_stdout()
        link = self.path("stdout.cg")
        os.symlink("/dev/stdout", link)
        out = self.path("out.txt")
        for target in (link, "/dev/stdout"):
            with open(out, "w") as f:
                self._profile_to(target, capture_output=False, stdout=f, stderr=subprocess.PIPE)
            self.assertTrue(os.path.islink(link), "our link to /dev/stdout was replaced")
            self.assertTrue(os.path.islink("/dev/stdout"), "/dev/stdout was replaced")
            self.assertEqual(callgrind_header(out), b"# callgrind format", target)
            parse(out)

    def test_dev_stdout_to_a_pipe_is_written_in_place(self):
        self._guard_dev_stdout()
        link = self.path("stdout.cg")
        os.symlink("/dev/stdout", link)
        for target in (link, "/dev/stdout"):
            r = self._profile_to(target)
            self.assertTrue(os.path.islink(link), "our link to /dev/stdout was replaced")
            self.assertTrue(os.path.islink("/dev/stdout"), "/dev/stdout was replaced")
            self.assertTrue(r.stdout.startswith("# callgrind format"), r.stdout[:100])

    def test_a_fifo_is_written_directly(self):
        fifo = self.path("fifo")
        os.mkfifo(fifo)
        got = []

        def read():
            with open(fifo, "rb") as f:
                got.append(f.read())

        reader = threading.Thread(target=read)
        reader.start()
        r = run([CALLTREE, "-o", fifo, self.script], cwd=self.tmp, timeout=60)
        reader.join(60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(stat.S_ISFIFO(os.lstat(fifo).st_mode), "the FIFO was replaced")
        self.assertTrue(got and got[0].startswith(b"# callgrind format"))
        self.assertEqual(sorted(os.listdir(self.tmp)), ["fifo", "prog.py"])

    def _prof(self):
        prof = self.path("a.prof")
        cProfile.runctx("sorted(range(10))", {}, {}, prof)
        return prof


class ConvertNeverOverwritesItsInput(TempDirTest):
    def test_output_is_input_under_any_name(self):
        prof = self.path("a.prof")
        cProfile.runctx("sorted(range(10))", {}, {}, prof)
        os.link(prof, self.path("hard.prof"))
        os.symlink("a.prof", self.path("soft.prof"))
        with open(prof, "rb") as f:
            original = f.read()
        for args in (["a.prof", "-o", "a.prof"], ["a.prof", "-o", "./a.prof"], ["a.prof", "-o", "hard.prof"],
                     ["soft.prof", "-o", "a.prof"], ["a.prof", "-o", "soft.prof"], ["x.prof", "a.prof", "-o", prof]):
            with self.subTest(args=args):
                if "x.prof" in args:
                    cProfile.runctx("len([])", {}, {}, self.path("x.prof"))
                r = run([CALLTREE, "convert", *args], cwd=self.tmp)
                self.assertEqual(r.returncode, 2, r.stderr)
                self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)
                self.assertIn("is the input file", r.stderr)
                with open(prof, "rb") as f:
                    self.assertEqual(f.read(), original)
        with open(prof, "rb") as stdin:  # /dev/stdin and "-" are the input too
            r = run([CALLTREE, "convert", "-", "-o", "a.prof"], cwd=self.tmp, stdin=stdin)
        self.assertEqual(r.returncode, 2, r.stderr)
        with open(prof, "rb") as f:
            self.assertEqual(f.read(), original)


class OpenViewer(TempDirTest):
    def setUp(self):
        super().setUp()
        self.script = self.write("prog.py", "import sys\nprint('ran')\nsys.exit(3)\n")
        self.bin = self.path("bin")
        os.mkdir(self.bin)
        self.record = self.path("viewer-args")
        viewer = self.write("bin/kcachegrind", f"#!/bin/sh\nprintf '%s\\n' \"$@\" > {self.record}.tmp\n"
                                               f"mv {self.record}.tmp {self.record}\n")
        os.chmod(viewer, 0o755)

    def env(self, path):
        return dict(os.environ, PATH=path)

    def wait_for_record(self):
        for _ in range(200):
            if os.path.exists(self.record):
                with open(self.record) as f:
                    return f.read().splitlines()
            threading.Event().wait(0.05)
        self.fail("the viewer was not started")

    def test_open_with_the_default_output(self):
        r = run([CALLTREE, "--open", self.script], cwd=self.tmp, env=self.env(self.bin + ":/usr/bin:/bin"))
        self.assertEqual(r.returncode, 3, r.stderr)
        self.assertEqual(r.stdout, "ran\n")
        args = self.wait_for_record()
        self.assertEqual(len(args), 1)
        self.assertTrue(os.path.basename(args[0]).startswith("callgrind.out."))
        parse(args[0])

    def test_open_with_an_output(self):
        out = self.path("x.cg")
        r = run([CALLTREE, "--open", "-o", out, self.script], cwd=self.tmp, env=self.env(self.bin + ":/usr/bin:/bin"))
        self.assertEqual(r.returncode, 3, r.stderr)
        self.assertEqual(self.wait_for_record(), [out])
        parse(out)

    def test_no_viewer_installed(self):
        out = self.path("x.cg")
        r = run([CALLTREE, "--open", "-o", out, self.script], cwd=self.tmp, env=self.env(self.path("empty")))
        self.assertEqual(r.returncode, 3, r.stderr)
        self.assertEqual(r.stdout, "ran\n")
        lines = r.stderr.strip().splitlines()
        self.assertEqual(len(lines), 2, r.stderr)  # "wrote ..." and the one line about the viewer
        self.assertTrue(lines[1].startswith("calltree: --open: "), r.stderr)
        parse(out)


class FileNamesThatAreNotUtf8(TempDirTest):
    def test_file_names_keep_their_bytes(self):
        tmp = os.fsencode(self.tmp)
        scripts = [os.path.join(tmp, name) for name in (b"mod\xff.py", b"mod\xfe.py")]
        for i, script in enumerate(scripts):
            with open(script, "w") as f:
                f.write(f"def work{i}():\n    return sum(range(100))\nwork{i}()\n")
        main = self.write("main.py", "import sys\nsys.path.insert(0, sys.argv[1])\n"
                                     "__import__('mod\\udcff')\n__import__('mod\\udcfe')\n")
        out = self.path("out.cg")
        r = run([CALLTREE, "-o", out, main, self.tmp], cwd=self.tmp)
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(out, "rb") as f:
            data = f.read()
        for script in scripts:
            self.assertIn(b" " + script + b"\n", data)  # fl=(n) /tmp/.../mod\xff.py
        cg = parse(out)
        for i, script in enumerate(scripts):
            (key,) = cg.by_name(f"work{i}")
            self.assertEqual(os.fsencode(key[1]), script)
        # callgrind_annotate finds the source by that name and annotates its lines.
        a = run(["callgrind_annotate", "--auto=yes", os.fsencode(out)], text=False)
        self.assertEqual(a.returncode, 0, a.stderr)
        self.assertIn(b"-- Auto-annotated source: " + scripts[0], a.stdout)
        self.assertIn(b"return sum(range(100))", a.stdout)

    def test_function_names_with_lone_surrogates_are_kept(self):
        script = self.write("names.py", "def f():\n    return 1\ndef g():\n    return 2\n"
                                        "f.__code__ = f.__code__.replace(co_qualname='f\\udcff')\n"
                                        "g.__code__ = g.__code__.replace(co_qualname='g\\ud800')\nf()\ng()\n")
        out = self.path("names.cg")
        r = run([CALLTREE, "-o", out, script], cwd=self.tmp)
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(out, "rb") as f:
            data = f.read()
        self.assertIn(b" f\xff\n", data)  # an escaped byte is that byte again
        self.assertIn(b" g\\ud800\n", data)  # any other surrogate stays visible, escaped

    def test_pstats_output_loads_in_python_with_the_same_names(self):
        script = os.path.join(os.fsencode(self.tmp), b"prog\xff.py")
        with open(script, "w") as f:
            f.write("def work():\n    return 1\nwork()\n")
        out = self.path("out.prof")
        r = run([CALLTREE, "--format", "pstats", "-o", out, script], cwd=self.tmp, text=False)
        self.assertEqual(r.returncode, 0, r.stderr)
        check = run([PYTHON, "-c", "import os, pstats, sys\nst = pstats.Stats(sys.argv[1]).stats\n"
                                   "print(sorted(os.fsencode(f) for f, _, n in st if n == 'work'))", out])
        self.assertEqual(check.returncode, 0, check.stderr)
        self.assertEqual(check.stdout.strip(), repr([script]))
        # and back: converting keeps the bytes, like a cProfile file of the same script
        prof = self.path("c.prof")
        cp = run([PYTHON, "-m", "cProfile", "-o", prof, script], cwd=self.tmp, text=False)
        self.assertEqual(cp.returncode, 0, cp.stderr)
        for source in (out, prof):
            with self.subTest(source=source):
                cg = self.path("c.cg")
                r = run([CALLTREE, "convert", source, "-o", cg], cwd=self.tmp)
                self.assertEqual(r.returncode, 0, r.stderr)
                (key,) = parse(cg).by_name("work")
                self.assertEqual(os.fsencode(key[1]), script)


class NothingWhenTheProgramNeverStarts(TempDirTest):
    def test_missing_module_and_directory_without_main(self):
        os.mkdir(self.path("pkgdir"))
        for args in (["-m", "no_such_module_xyz"], [self.path("pkgdir")]):
            with self.subTest(args=args):
                r = run([CALLTREE, *args], cwd=self.tmp)
                py = run([PYTHON, *args], cwd=self.tmp)
                self.assertEqual(r.returncode, py.returncode)
                self.assertEqual(r.stderr, py.stderr)
                self.assertEqual(sorted(os.listdir(self.tmp)), ["pkgdir"])

    def test_an_empty_program_still_gets_a_profile(self):
        r = run([CALLTREE, "-o", "empty.cg", "-c", ""], cwd=self.tmp)
        self.assertEqual(r.returncode, 0, r.stderr)
        parse(self.path("empty.cg"))


class OutputChecks(TempDirTest):
    def test_hint_is_shell_quoted(self):
        script = self.write("prog.py", "pass\n")
        for name in ("with space.cg", "it's.cg", "plain-name.cg"):
            with self.subTest(name=name):
                out = self.path(name)
                r = run([CALLTREE, "-o", out, script], cwd=self.tmp)
                self.assertEqual(r.returncode, 0, r.stderr)
                hint = r.stderr.strip().split("(view it with: ", 1)[1].rstrip(")")
                self.assertEqual(shlex.split(hint), ["kcachegrind", out])

    def test_unwritable_outputs_are_refused_before_the_program_runs(self):
        marker = self.path("marker")
        script = self.write("prog.py", MARKER.format(marker))
        outputs = ["/proc/x.cg", "/nonexistent-dir/out.cg", self.tmp, "/dev/null/out"]
        if os.path.isdir("/sys/kernel"):
            outputs.append("/sys/kernel/x.cg")  # sysfs takes no new files, whatever the permission bits say
        for out in outputs:
            with self.subTest(output=out):
                r = run([CALLTREE, "-o", out, script], cwd=self.tmp)
                self.assertEqual(r.returncode, 2, r.stderr)
                self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)
                self.assertIn("cannot write output file", r.stderr)
                self.assertFalse(os.path.exists(marker), "the program ran")
            if os.path.exists(marker):
                os.remove(marker)


if __name__ == "__main__":
    unittest.main()
