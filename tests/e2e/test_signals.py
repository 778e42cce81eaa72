"""Signals that end python3 end the profiled program the same way (same status, as fast), after a
complete profile is written; the program cannot tell it is profiled (getsignal, its own
handlers, what fork children inherit); an exec writes the profile first."""
import os
import resource
import signal
import subprocess
import time
import unittest

from callgrind_parse import parse
from helpers import CALLTREE, PYTHON, TempDirTest
from test_behaviour import WROTE

LOOP = ("import time\ndef spin():\n    while True:\n        time.sleep(0.005)\n"
        "print('ready', flush=True)\nspin()\n")

# Signals raised by faults: the sanitizer build catches them itself, so their bits are not compared.
FAULTS = (signal.SIGSEGV, signal.SIGBUS, signal.SIGILL, signal.SIGFPE, signal.SIGABRT, signal.SIGTRAP,
          signal.SIGSYS)


def default_dispositions():
    # A shell without job control starts background jobs with SIGINT and SIGQUIT ignored, and
    # nohup ignores SIGHUP; give the program what an interactive user's program has (ctest's
    # children have it already, unittest's inherit the runner's). No core files for SIGQUIT.
    for sig in (signal.SIGINT, signal.SIGQUIT, signal.SIGHUP, signal.SIGTERM, signal.SIGUSR1, signal.SIGUSR2,
                signal.SIGVTALRM, signal.SIGPWR, signal.SIGRTMIN):
        signal.signal(sig, signal.SIG_DFL)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


class Signals(TempDirTest):
    def start(self, cmd):
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=self.tmp,
                                preexec_fn=default_dispositions)
        self.assertEqual(proc.stdout.readline(), "ready\n")
        return proc

    def killed(self, cmd, sig, settle=0.2):
        """Starts cmd, waits for its 'ready' line, sends sig; returns (status, stdout, stderr, seconds
        from the signal to the exit)."""
        proc = self.start(cmd)
        time.sleep(settle)
        sent = time.monotonic()
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=60)
        return proc.returncode, out, err, time.monotonic() - sent

    def both(self, script, args=(), **kwargs):
        py = subprocess.run([PYTHON, script, *args], capture_output=True, text=True, cwd=self.tmp, timeout=60,
                            preexec_fn=default_dispositions, **kwargs)
        ours = subprocess.run([CALLTREE, "-o", self.path("out.callgrind"), script, *args], capture_output=True,
                              text=True, cwd=self.tmp, timeout=60, preexec_fn=default_dispositions, **kwargs)
        return py, ours

    def assertSameEnd(self, py, ours):
        self.assertEqual(ours.returncode, py.returncode)
        self.assertEqual(ours.stdout, py.stdout)
        self.assertEqual(WROTE.sub("", ours.stderr), py.stderr)

    def assertProfiled(self, path, *functions):
        cg = parse(path)
        self.assertIsNotNone(cg.totals)
        for name in functions:
            self.assertTrue(cg.by_name(name), f"{name} missing from the profile")
        leftovers = [f for f in os.listdir(os.path.dirname(path)) if ".tmp." in f]
        self.assertEqual(leftovers, [])

    def test_signals_from_outside(self):
        script = self.write("loop.py", LOOP)
        for sig in (signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2, signal.SIGTERM,
                    signal.SIGVTALRM, signal.SIGPWR, signal.SIGRTMIN):
            with self.subTest(signal=sig.name):
                out = self.path(f"{sig.name}.callgrind")
                py_status, _, py_err, _ = self.killed([PYTHON, script], sig)
                status, _, err, _ = self.killed([CALLTREE, "-o", out, script], sig)
                self.assertEqual(py_status, -sig)
                self.assertEqual(status, py_status)
                self.assertEqual(WROTE.sub("", err), py_err)
                self.assertProfiled(out, "spin")

    def test_alarm_watchdog(self):
        script = self.write("alarm.py", "import signal\nsignal.alarm(1)\ndef loop():\n    n = 0\n"
                                        "    while True:\n        n += 1\nloop()\n")
        py, ours = self.both(script)
        self.assertEqual(py.returncode, -signal.SIGALRM)
        self.assertSameEnd(py, ours)
        self.assertProfiled(self.path("out.callgrind"), "loop")

    def test_long_c_call_dies_at_once(self):
        # pbkdf2 releases the GIL for seconds: python3 dies at once, and so must we.
        script = self.write("pbkdf2.py", "import hashlib\ndef work():\n    print('ready', flush=True)\n"
                                         "    hashlib.pbkdf2_hmac('sha256', b'x', b'y', 15_000_000)\nwork()\n")
        out = self.path("pbkdf2.callgrind")
        py_status, _, _, py_seconds = self.killed([PYTHON, script], signal.SIGTERM)
        status, _, err, seconds = self.killed([CALLTREE, "-o", out, script], signal.SIGTERM)
        self.assertEqual(status, py_status)
        self.assertLess(seconds, max(0.3, 3 * py_seconds), f"python3 died in {py_seconds:.3f} s")
        self.assertRegex(err, r"calltree: wrote .*pbkdf2\.callgrind")
        self.assertProfiled(out, "work")

    def test_gil_never_released_bounds_the_wait(self):
        # sum() over a huge range holds the GIL for seconds: we cannot stop the collectors, so we
        # die of the signal within about 2 s, without a profile, and say why.
        script = self.write("hold.py", "def hold():\n    print('ready', flush=True)\n"
                                       "    return sum(range(10**10))\nhold()\n")
        out = self.path("hold.callgrind")
        status, _, err, seconds = self.killed([CALLTREE, "-o", out, script], signal.SIGTERM)
        self.assertEqual(status, -signal.SIGTERM)
        self.assertLess(seconds, 5)
        self.assertIn("calltree: SIGTERM: the program held the GIL for 2 s", err)
        self.assertFalse(os.path.exists(out))
        self.assertEqual([f for f in os.listdir(self.tmp) if ".tmp." in f], [])

    def test_getsignal_shows_what_python3_shows(self):
        # Fault signals are skipped: the sanitizer build's runtime catches them before Python starts.
        script = self.write("getsignal.py", "import signal\nfor s in sorted(signal.valid_signals()):\n"
                                            f"    if s not in (signal.SIGKILL, signal.SIGSTOP, *{[int(f) for f in FAULTS]}):\n"
                                            "        print(s, signal.getsignal(s))\n")
        py, ours = self.both(script)
        self.assertEqual(py.returncode, 0, py.stderr)
        self.assertSameEnd(py, ours)

    def test_own_handler_keeps_control(self):
        script = self.write("own.py", "import os, signal\ndef h(sig, frame):\n    print('handled', sig)\n"
                                      "signal.signal(signal.SIGUSR1, h)\nos.kill(os.getpid(), signal.SIGUSR1)\n"
                                      "signal.signal(signal.SIGTERM, h)\nsignal.raise_signal(signal.SIGTERM)\n"
                                      "print('still here', signal.getsignal(signal.SIGUSR1) is h)\n")
        py, ours = self.both(script)
        self.assertEqual(py.returncode, 0, py.stderr)
        self.assertSameEnd(py, ours)
        self.assertProfiled(self.path("out.callgrind"), "h")

    def test_sig_dfl_set_by_the_program_ends_it_on_the_spot(self):
        # The cleanup-then-die idiom: a handler, SIG_DFL restored, the signal sent to ourselves. The
        # next line must not run (os.write is unbuffered, so it would show).
        script = self.write("redie.py", "import os, signal\ndef h(sig, frame):\n    os.write(1, b'handler\\n')\n"
                                        "signal.signal(signal.SIGTERM, h)\nos.kill(os.getpid(), signal.SIGTERM)\n"
                                        "signal.signal(signal.SIGTERM, signal.SIG_DFL)\n"
                                        "print(signal.getsignal(signal.SIGTERM), flush=True)\n"
                                        "def die(how):\n    how()\n    os.write(1, b'not reached\\n')\n"
                                        "die(lambda: os.kill(os.getpid(), signal.SIGTERM))\n")
        py, ours = self.both(script)
        self.assertEqual(py.returncode, -signal.SIGTERM)
        self.assertSameEnd(py, ours)
        self.assertProfiled(self.path("out.callgrind"), "die", "h")
        script = self.write("raise.py", "import os, signal\ndef die():\n    signal.raise_signal(signal.SIGUSR2)\n"
                                        "    os.write(1, b'not reached\\n')\ndie()\n")
        py, ours = self.both(script)
        self.assertEqual(py.returncode, -signal.SIGUSR2)
        self.assertSameEnd(py, ours)
        self.assertProfiled(self.path("out.callgrind"), "die")

    def test_c_signal_calls_see_and_set_what_python3_does(self):
        # A C extension's signal(), siginterrupt() and sysv_signal() (glibc routes them past the
        # sigaction interposer): told SIG_DFL, not our handler; the flags glibc would set; and a
        # SIGTERM after signal(SIGTERM, SIG_DFL) still writes the profile and ends the program.
        script = self.write("csig.py", """import ctypes, os, signal
libc = ctypes.CDLL(None, use_errno=True)
for name in ("signal", "sysv_signal"):
    getattr(libc, name).restype = ctypes.c_void_p
    getattr(libc, name).argtypes = [ctypes.c_int, ctypes.c_void_p]
class Action(ctypes.Structure):
    _fields_ = [("handler", ctypes.c_void_p), ("mask", ctypes.c_ulong * 16), ("flags", ctypes.c_int),
                ("restorer", ctypes.c_void_p)]
def flags(sig):
    a = Action()
    assert libc.sigaction(sig, None, ctypes.byref(a)) == 0
    names = [n for n, bit in (("RESTART", 0x10000000), ("RESETHAND", 0x80000000), ("NODEFER", 0x40000000))
             if a.flags & bit]
    return a.handler, names, bool(a.mask[0] & (1 << (sig - 1)))
SIG_IGN = 1
print("SIGTERM was", libc.signal(signal.SIGTERM, 0))
print("SIGUSR2 was", libc.signal(signal.SIGUSR2, SIG_IGN), flags(signal.SIGUSR2))
print(libc.siginterrupt(signal.SIGUSR2, 1), flags(signal.SIGUSR2))
libc.signal(signal.SIGUSR2, SIG_IGN)
print("after siginterrupt", flags(signal.SIGUSR2))
print(libc.siginterrupt(signal.SIGUSR2, 0), flags(signal.SIGUSR2))
print("sysv", libc.sysv_signal(signal.SIGHUP, SIG_IGN), flags(signal.SIGHUP))
print("bad", libc.signal(0, 0), libc.signal(signal.SIGKILL, SIG_IGN), ctypes.get_errno())
def die():
    os.kill(os.getpid(), signal.SIGTERM)
    os.write(1, b"not reached\\n")
print(flush=True, end="")
die()
""")
        py, ours = self.both(script)
        self.assertEqual(py.returncode, -signal.SIGTERM, py.stderr)
        self.assertIn("SIGTERM was None", py.stdout)
        self.assertSameEnd(py, ours)
        self.assertProfiled(self.path("out.callgrind"), "die")

    def test_signal_during_finalization(self):
        # After the program is over (module teardown runs __del__), the profile is still written
        # once and the process dies of the signal on the spot.
        script = self.write("bomb.py", "import os, signal\nclass Bomb:\n    def __del__(self):\n"
                                       "        os.kill(os.getpid(), signal.SIGTERM)\n        os.write(1, b'after\\n')\n"
                                       "def f():\n    return 1\nf()\nb = Bomb()\n")
        py, ours = self.both(script)
        self.assertEqual(py.returncode, -signal.SIGTERM)
        self.assertSameEnd(py, ours)
        self.assertEqual(len(WROTE.findall(ours.stderr)), 1)
        self.assertProfiled(self.path("out.callgrind"), "f")

    def test_two_signals_at_once_write_once(self):
        script = self.write("loop.py", LOOP)
        out = self.path("two.callgrind")
        proc = self.start([CALLTREE, "-o", out, script])
        time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        proc.send_signal(signal.SIGUSR1)
        _, err = proc.communicate(timeout=60)
        self.assertIn(proc.returncode, (-signal.SIGTERM, -signal.SIGUSR1))
        self.assertEqual(len(WROTE.findall(err)), 1, err)
        self.assertProfiled(out, "spin")

    def test_sigpipe_default_into_a_closed_pipe(self):
        # `prog | head -1` with SIG_DFL: python3 dies of SIGPIPE silently (no BrokenPipeError).
        script = self.write("emit.py", "import signal\nsignal.signal(signal.SIGPIPE, signal.SIG_DFL)\n"
                                       "def emit():\n    for i in range(100000):\n        print('line', i)\nemit()\n")
        results = []
        for cmd in ([PYTHON, script], [CALLTREE, "-o", self.path("pipe.callgrind"), script]):
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=self.tmp)
            first = proc.stdout.readline()
            proc.stdout.close()
            err = proc.stderr.read().decode()
            proc.stderr.close()
            proc.wait(timeout=60)
            results.append((proc.returncode, first, WROTE.sub("", err)))
        self.assertEqual(results[0], (-signal.SIGPIPE, b"line 0\n", ""))
        self.assertEqual(results[1], results[0])
        self.assertProfiled(self.path("pipe.callgrind"), "emit")

    def test_fork_children_inherit_nothing(self):
        # Pool workers in a long C call: terminate() must kill them at once, as under python3.
        script = self.write("pool.py", f"""
import hashlib, multiprocessing as mp, os, signal, time
FAULTS = {[int(s) for s in FAULTS]}
def caught():
    mask = int([l for l in open('/proc/self/status') if l.startswith('SigCgt')][0].split()[1], 16)
    return [s for s in range(1, 65) if mask >> (s - 1) & 1 and s not in FAULTS]
def work(x):
    return hashlib.pbkdf2_hmac('sha256', b'x', b'y', 10_000_000)
if __name__ == '__main__':
    # From 3.12 os.fork() warns while other threads exist, by the kernel's count, which can still
    # include the pool's threads just joined: python3 itself warns or not from run to run
    # (test_behaviour compares that warning; this test is about what the child inherits).
    import warnings
    warnings.filterwarnings('ignore', 'This process .* is multi-threaded', DeprecationWarning)
    mp.set_start_method('fork')
    pool = mp.Pool(2)
    pool.map_async(work, range(2))
    time.sleep(0.3)
    start = time.monotonic()
    pool.terminate()
    print('terminate fast:', time.monotonic() - start < 1.0)
    signal.signal(signal.SIGUSR2, signal.SIG_DFL)
    pid = os.fork()
    if pid == 0:
        print('child caught', caught(), 'getsignal', signal.getsignal(signal.SIGTERM), flush=True)
        os._exit(0)
    os.waitpid(pid, 0)
""")
        py, ours = self.both(script)
        self.assertEqual(py.returncode, 0, py.stderr)
        self.assertIn("terminate fast: True", py.stdout)
        self.assertSameEnd(py, ours)

    def test_exec_writes_the_profile_first(self):
        # A failing exec (the file does not exist) goes on profiling; execvp searches PATH.
        script = self.write("exec.py", "import os\ndef before():\n    return sum(range(10))\nbefore()\n"
                                       "print('about to exec', flush=True)\ntry:\n"
                                       "    os.execv('/nonexistent/prog', ['prog'])\nexcept OSError as e:\n"
                                       "    print('failed', e.errno, flush=True)\ndef after():\n    return 1\nafter()\n"
                                       "os.execvp('echo', ['echo', 'hello from echo'])\n")
        py, ours = self.both(script)
        self.assertEqual(py.returncode, 0, py.stderr)
        self.assertSameEnd(py, ours)
        self.assertRegex(ours.stderr, r"calltree: wrote .*out\.callgrind")
        self.assertProfiled(self.path("out.callgrind"), "before", "after")
        script = self.write("execv.py", "import os, sys\ndef go():\n"
                                        "    os.execv(sys.executable, [sys.executable, '-c', 'import sys; sys.exit(5)'])\n"
                                        "go()\n")
        py, ours = self.both(script)
        self.assertEqual(py.returncode, 5, py.stderr)
        self.assertSameEnd(py, ours)
        self.assertProfiled(self.path("out.callgrind"), "go")


if __name__ == "__main__":
    unittest.main()


# A program that asks libc (not the signal module) what SIGSEGV and SIGBUS do, optionally enables
# faulthandler, then faults in C. The modes that read frames from a signal handler keep a fault
# guard on these two signals (process/fault_guard.h): the program must neither see it nor lose
# what it set.
SEGV = r"""
import ctypes, faulthandler, signal, sys
libc = ctypes.CDLL(None)
class Sigaction(ctypes.Structure):
    _fields_ = [("handler", ctypes.c_void_p), ("mask", ctypes.c_ulong * 16), ("flags", ctypes.c_int),
                ("restorer", ctypes.c_void_p)]
def disposition(sig):
    old = Sigaction()
    libc.sigaction(sig, None, ctypes.byref(old))
    return old.handler or 0
print("getsignal", signal.getsignal(signal.SIGSEGV), "libc", disposition(signal.SIGSEGV),
      disposition(signal.SIGBUS), flush=True)
if sys.argv[1] == "faulthandler":
    faulthandler.enable()
    print("enabled", disposition(signal.SIGSEGV) != 0, flush=True)
x = sum(i * i for i in range(300000))  # some samples first
def crash():
    ctypes.string_at(0)
crash()
"""


class FaultGuard(TempDirTest):
    def outcome(self, cmd):
        r = subprocess.run(cmd, capture_output=True, text=True, cwd=self.tmp, preexec_fn=default_dispositions,
                           timeout=120)
        # Thread ids differ from run to run.
        lines = ["Current thread" if line.startswith("Current thread") else line
                 for line in r.stderr.splitlines() if not line.startswith("calltree:")]
        # faulthandler's C stack (3.14): its addresses differ from run to run, and under calltree
        # it holds calltree's own frames (the fault guard's handler, calltree's main below
        # Py_RunMain; python3 has Py_BytesMain there). What the program must see the same is
        # which files the other frames are in, each named as under python3.
        frames = [line for line in lines if line.startswith('  Binary file "')]
        if frames:
            files = sorted({line.split('"')[1] for line in frames} - {line.split('"')[1] for line in frames
                                                                      if "libcalltree" in line})
            at = lines.index(frames[0])
            lines = [line for line in lines if line not in frames]
            lines.insert(at, f"C stack in {files}")
        return r.returncode, r.stdout, "\n".join(lines)

    @unittest.skipIf(os.environ.get("CALLTREE_SANITIZED") == "1", "the sanitizers catch SIGSEGV themselves")
    def test_a_fault_ends_the_program_as_under_python3(self):
        script = self.write("segv.py", SEGV)
        for how in ("default", "faulthandler"):
            expected = self.outcome([PYTHON, script, how])
            self.assertEqual(expected[0], -signal.SIGSEGV)
            for mode in (["--sample", "--interval", "0.1ms"], ["--memory"], ["--sample", "--memory"]):
                with self.subTest(how=how, mode=mode):
                    self.assertEqual(self.outcome([CALLTREE, *mode, "-o", self.path("out.cg"), script, how]),
                                     expected)

    def test_an_ignored_sigsegv_stays_ignored_across_exec(self):
        script = self.write("ign.py", "import os, signal, sys\n"
                                      "signal.signal(signal.SIGSEGV, signal.SIG_IGN)\n"
                                      "x = sum(i * i for i in range(200000))\n"
                                      "os.execv(sys.executable, [sys.executable, '-c', "
                                      "'import signal; print(signal.getsignal(signal.SIGSEGV))'])\n")
        expected = self.outcome([PYTHON, script])
        self.assertEqual(expected[0], 0)
        self.assertNotIn("SIG_DFL", expected[1])  # python3 shows the inherited SIG_IGN
        modes = [["--sample", "--interval", "0.1ms"]]
        if os.environ.get("CALLTREE_SANITIZED") != "1":  # no --memory in sanitizer builds
            modes.append(["--memory"])
        for mode in modes:
            with self.subTest(mode=mode):
                self.assertEqual(self.outcome([CALLTREE, *mode, "-o", self.path("out.cg"), script]), expected)
