"""The program behaves under calltree exactly as under python3: output, argv, sys.path[0],
__main__, pickling, environment, tracebacks, exit status, signals."""
import os
import re
import signal
import subprocess
import sys
import time
import unittest

from callgrind_parse import parse
from helpers import CALLTREE, PYTHON, TempDirTest, run

# Not anchored to a line start: after a program whose stderr ends without a newline our line
# follows its last characters.
WROTE = re.compile(r"calltree: wrote .*\n")

PROBE = r'''
import os, pickle, sys
class Point:
    def __init__(self, x):
        self.x = x
p = pickle.loads(pickle.dumps(Point(3)))
print(p.x, __name__, sys.argv, sys.path[0], __file__, hash("calltree"), sys.executable)
print(os.environ.get("PROBE_VAR"), sys.stdin.read().strip())
print(sys.path, sys.flags, sys.warnoptions, sys.stdout.encoding, sys.stdout.line_buffering, "h\u00e9llo \u2713")
import probe_helper
print(probe_helper.VALUE)
'''


class SameAsPython(TempDirTest):
    def both(self, args, stdin="", env=None, cwd=None):
        """Runs args under python3 and under calltree; returns both CompletedProcesses."""
        full_env = dict(os.environ, **(env or {}))
        py = run([PYTHON, *args], input=stdin, env=full_env, cwd=cwd or self.tmp)
        ours = run([CALLTREE, "-o", self.path("out.callgrind"), *args], input=stdin, env=full_env,
                   cwd=cwd or self.tmp)
        return py, ours

    def assertSame(self, py, ours, profile_written=True):
        self.assertEqual(ours.stdout, py.stdout)
        self.assertEqual(WROTE.sub("", ours.stderr), py.stderr)
        self.assertEqual(ours.returncode, py.returncode)
        if profile_written:
            self.assertRegex(ours.stderr, r"calltree: wrote .*out\.callgrind")
            self.assertIsNotNone(parse(self.path("out.callgrind")).totals)

    def test_script_environment(self):
        self.write("lib/probe_helper.py", "VALUE = 'from PYTHONPATH'\n")
        script = self.write("probe.py", PROBE)
        env = {"PYTHONHASHSEED": "0", "PROBE_VAR": "set", "PYTHONPATH": self.path("lib"),
               "PYTHONWARNINGS": "ignore::UserWarning"}
        py, ours = self.both([script, "-o", "x", "--help", "arg with space"], stdin="from stdin\n", env=env)
        self.assertEqual(py.returncode, 0, py.stderr)
        self.assertSame(py, ours)

    @unittest.skipIf(os.environ.get("CALLTREE_SANITIZED") == "1",
                     "the sanitizer build embeds libpython instead, and ASan must be preloaded first")
    def test_environment_and_children_unchanged(self):
        """calltree runs inside python3 with its library preloaded: the program's environment,
        its own LD_PRELOAD and what its children load are as under python3."""
        code = ("import os, subprocess, sys\n"
                "print(sorted(os.environ.items()), os.readlink('/proc/self/exe'))\n"
                "maps = subprocess.run(['cat', '/proc/self/maps'], capture_output=True, text=True).stdout\n"
                "print('child loads libcalltree', 'libcalltree' in maps)\n"
                "print(subprocess.run([sys.executable, '-c', 'import os; print(os.environ.get(\"LD_PRELOAD\"))'],"
                " capture_output=True, text=True).stdout)\n")
        libm = "libm.so.6"  # a library every python3 loads anyway: harmless to preload
        for env in ({}, {"LD_PRELOAD": libm}):
            with self.subTest(env=env):
                base = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
                py = run([PYTHON, "-c", code], env=dict(base, **env), cwd=self.tmp)
                ours = run([CALLTREE, "-o", self.path("out.callgrind"), "-c", code], env=dict(base, **env),
                           cwd=self.tmp)
                self.assertIn("child loads libcalltree False", py.stdout)
                self.assertSame(py, ours)

    @unittest.skipIf(os.environ.get("CALLTREE_SANITIZED") == "1",
                     "the sanitizer build has no allocator interposers: its helper threads share glibc's heap")
    def test_glibc_still_sees_one_thread(self):
        """calltree's own threads (the signal writer, the sampler) do not make glibc treat the
        program as multi-threaded (its malloc would take locks it does not take under python3);
        threads the program starts still do."""
        code = ("import ctypes, threading\n"
                "flag = ctypes.c_char.in_dll(ctypes.CDLL(None), '__libc_single_threaded')\n"
                "print('before', flag.value)\n"
                "blocks = [bytearray(n) for n in range(1, 200000, 997)]\n"
                "t = threading.Thread(target=print, args=('in a thread',)); t.start(); t.join()\n"
                "print('after', flag.value, len(blocks))\n")
        py = run([PYTHON, "-c", code], cwd=self.tmp)
        self.assertIn("before b'\\x01'", py.stdout)
        self.assertIn("after b'\\x00'", py.stdout)
        for mode in ([], ["--sample"], ["--memory"], ["--sample", "--memory", "--memory-rate", "1"]):
            with self.subTest(mode=mode):
                ours = run([CALLTREE, *mode, "-o", self.path("out.callgrind"), "-c", code], cwd=self.tmp)
                self.assertSame(py, ours)

    @unittest.skipIf(os.environ.get("CALLTREE_SANITIZED") == "1",
                     "the sanitizer build has no fopen interposer: its helper threads are counted")
    def test_fork_warns_as_under_python3(self):
        """From 3.12 os.fork() warns (DeprecationWarning) when the process has other threads:
        calltree's own threads must not count, the program's must; also in a forked child that
        forks again (profiled too with --subprocesses) and while a thread of the program is
        running."""
        code = ("import os, re, sys, threading\n"
                "def fork_and_wait(then=None):\n"
                "    pid = os.fork()\n"
                "    if pid == 0:\n"
                "        if then: then()\n"
                "        os._exit(0)\n"
                "    os.waitpid(pid, 0)\n"
                "fork_and_wait()\n"
                "fork_and_wait(then=fork_and_wait)\n"
                "done = threading.Event()\n"
                "t = threading.Thread(target=done.wait)\n"
                "t.start()\n"
                "fork_and_wait()\n"
                "done.set(); t.join()\n"
                "fork_and_wait()\n"
                "print('forked', file=sys.stderr)\n")
        pid = re.compile(r"pid=\d+")
        py = run([PYTHON, "-c", code], cwd=self.tmp)
        self.assertEqual(py.returncode, 0, py.stderr)
        if sys.version_info >= (3, 12):
            self.assertEqual(py.stderr.count("DeprecationWarning"), 1, py.stderr)
        for mode in ([], ["--sample"], ["--memory"], ["--sample", "--memory"], ["--subprocesses"],
                     ["--subprocesses", "--sample", "--memory"]):
            with self.subTest(mode=mode):
                ours = run([CALLTREE, *mode, "-o", self.path("out.callgrind"), "-c", code], cwd=self.tmp)
                self.assertEqual(ours.returncode, 0, ours.stderr)
                self.assertEqual(pid.sub("pid=N", WROTE.sub("", ours.stderr)), pid.sub("pid=N", py.stderr))

    def test_module_and_code(self):
        self.write("pkg/__init__.py", "")
        self.write("pkg/__main__.py", "import sys\nprint('main', sys.argv, sys.path[0], __name__)\n")
        self.write("mod.py", "import sys\nprint('mod', sys.argv, sys.path[0], __name__)\n")
        for args in (["-m", "pkg", "a", "-b"], ["-m", "mod", "x"],
                     ["-c", "import sys; print(sys.argv, repr(sys.path[0]), __name__)", "q", "-o"]):
            with self.subTest(args=args):
                self.assertSame(*self.both(args))

    def test_exit_statuses_and_tracebacks(self):
        programs = {
            "normal": "print('ok')\n",
            "exit3": "import sys\nsys.exit(3)\n",
            "exit_msg": "import sys\nsys.exit('fatal: msg')\n",
            "uncaught": "def f():\n    raise ValueError('boom')\ndef g():\n    f()\ng()\n",
            "deep_exit": "def f(n):\n    if n == 0:\n        raise SystemExit(7)\n    f(n - 1)\nf(20)\n",
            "syntax_error": "x = (\n",
            "exit_256": "import sys\nsys.exit(256)\n",  # statuses are taken modulo 256
            "atexit": "import atexit\natexit.register(print, 'bye')\nprint('hi')\n",
            "keyboard_interrupt": "def f():\n    raise KeyboardInterrupt\nf()\n",
            "warning": "import warnings\nwarnings.warn('old', DeprecationWarning)\n",
            "unflushed": "import sys\nsys.stdout.write('no newline')\nsys.stderr.write('err')\nsys.exit(4)\n",
        }
        for name, source in programs.items():
            with self.subTest(program=name):
                script = self.write(name + ".py", source)
                if os.path.exists(self.path("out.callgrind")):
                    os.remove(self.path("out.callgrind"))
                # A syntax error stops python3 before the program's first line: no profile to write.
                started = name != "syntax_error"
                self.assertSame(*self.both([script]), profile_written=started)
                self.assertEqual(os.path.exists(self.path("out.callgrind")), started)

    def test_daemon_thread_still_running_at_exit(self):
        script = self.write("daemon.py", "import threading, time\ndef tick():\n    return 1\n"
                                         "def spin():\n    while True:\n        tick()\n"
                                         "threading.Thread(target=spin, daemon=True).start()\n"
                                         "time.sleep(0.05)\nprint('main done')\n")
        self.assertSame(*self.both([script]))
        cg = parse(self.path("out.callgrind"))
        self.assertGreater(cg.functions[cg.by_name("tick")[0]].calls_in, 0)

    def test_os_exit_status(self):
        script = self.write("osexit.py", "import os, sys\nprint('x', flush=True)\nos._exit(5)\n")
        py, ours = self.both([script])
        self.assertEqual((ours.returncode, ours.stdout), (py.returncode, py.stdout))
        self.assertEqual(ours.returncode, 5)

    def signalled(self, cmd, sig):
        # A shell without job control starts background jobs with SIGINT ignored, and the child
        # would inherit that: give it the default disposition an interactive user's program has.
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=self.tmp,
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        self.assertEqual(proc.stdout.readline(), "looping\n")
        time.sleep(0.2)
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=30)
        return proc.returncode, err

    def test_signals_still_write_the_profile(self):
        script = self.write("loop.py", "import time\ndef spin():\n    while True:\n        time.sleep(0.005)\n"
                                       "print('looping', flush=True)\nspin()\n")
        for sig in (signal.SIGINT, signal.SIGTERM):
            with self.subTest(signal=sig.name):
                out = self.path(f"{sig.name}.callgrind")
                py_status, py_err = self.signalled([PYTHON, script], sig)
                status, err = self.signalled([CALLTREE, "-o", out, script], sig)
                self.assertEqual(status, py_status)
                self.assertEqual(status, -sig)  # python3 dies of the signal; so must calltree
                self.assertEqual(WROTE.sub("", err), py_err)  # SIGINT: the same KeyboardInterrupt traceback
                self.assertRegex(err, r"calltree: wrote .*\.callgrind")
                cg = parse(out)
                self.assertIsNotNone(cg.totals)
                self.assertTrue(cg.by_name("spin"), "spin missing from the profile")
                self.assertEqual(cg.functions[cg.by_name("spin")[0]].calls_in, 1)


if __name__ == "__main__":
    unittest.main()
