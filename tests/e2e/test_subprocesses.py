"""--subprocesses: every Python child (multiprocessing's three start methods, ProcessPoolExecutor,
subprocess running sys.executable, os.fork however the child ends) writes its own profile, the
program sees what python3 shows it, and without the flag children stay unprofiled."""
import glob
import os
import re
import stat
import time
import unittest

from callgrind_parse import parse
from helpers import CALLTREE, PYTHON, TempDirTest, run

WROTE = re.compile(r"^calltree: wrote .*\n", re.M)
PIDS = re.compile(r"^pids (.*)$", re.M)
WORKED = re.compile(r"^worked (.*)$", re.M)


def calls_to(path, name):
    cg = parse(path)
    return sum(cg.functions[k].calls_in for k in cg.by_name(name))


class Subprocesses(TempDirTest):
    def both(self, script, *args, calltree_args=("--subprocesses",), out="out.cg"):
        py = run([PYTHON, script, *args], cwd=self.tmp)
        ours = run([CALLTREE, *calltree_args, "-o", self.path(out), script, *args], cwd=self.tmp)
        return py, ours

    def assertSameRun(self, py, ours):
        self.assertEqual(ours.returncode, py.returncode, ours.stderr)
        strip = lambda out: WORKED.sub("", PIDS.sub("", out))
        self.assertEqual(strip(ours.stdout), strip(py.stdout))
        self.assertEqual(WROTE.sub("", ours.stderr), py.stderr)

    def profiles(self, expected_pids, base="out.cg"):
        """Waits for every expected child profile (helpers such as the resource tracker end after
        the program), then returns {pid: path} of all children's files."""
        want = {self.path(f"{base}.{pid}") for pid in expected_pids}
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not want <= set(glob.glob(self.path(base + ".*"))):
            time.sleep(0.1)
        time.sleep(0.2)
        found = {}
        for path in glob.glob(self.path(base + ".*")):
            if not path.endswith(".tmp") and ".calltree" not in os.path.basename(path):
                found[int(path.rsplit(".", 1)[1])] = path
        return found

    def assertAnnotates(self, path):
        r = run(["/usr/bin/callgrind_annotate", path])
        self.assertEqual(r.returncode, 0, f"{path}: {r.stderr}")

    POOL = """
import multiprocessing as mp, os, sys
from multiprocessing import resource_tracker, forkserver
def work(x):
    return os.getpid(), sum(i * i for i in range(x * 100))
if __name__ == '__main__':
    ctx = mp.get_context(sys.argv[1])
    with ctx.Pool(4) as pool:
        results = pool.map(work, range(40), chunksize=1)
        workers = [p.pid for p in pool._pool]
    print(sum(r for _, r in results))
    helpers = [resource_tracker._resource_tracker._pid, forkserver._forkserver._forkserver_pid]
    print('pids', *workers, *[p for p in helpers if p])
    print('worked', *sorted({pid for pid, _ in results}))
"""

    def test_pool_with_each_start_method(self):
        script = self.write("pool.py", self.POOL)
        for method in ("fork", "spawn", "forkserver"):
            with self.subTest(method=method):
                for f in glob.glob(self.path("out.cg*")):
                    os.unlink(f)
                py, ours = self.both(script, method)
                self.assertEqual(py.returncode, 0, py.stderr)
                self.assertSameRun(py, ours)
                pids = [int(p) for p in PIDS.search(ours.stdout).group(1).split()]
                self.assertEqual(len(pids), {"fork": 4, "spawn": 5, "forkserver": 6}[method])
                worked = [int(p) for p in WORKED.search(ours.stdout).group(1).split()]
                self.profiles(worked)
                # The helpers end after the program: a profile of theirs would be written then.
                deadline = time.monotonic() + 10
                while time.monotonic() < deadline and any(os.path.exists(f"/proc/{p}") for p in pids[4:]):
                    time.sleep(0.1)
                children = self.profiles(worked)
                # One file per process and no other. Only the workers that ran a task are
                # required: the pool's exit terminates the others, and on a loaded machine a
                # spawned worker can die of that SIGTERM before its own program started (as it
                # does under python3), which leaves nothing to profile.
                # multiprocessing's helpers (resource tracker, forkserver) write no profile of
                # their own: only the workers do, the forkserver's included.
                self.assertLessEqual(set(children), set(pids[:4]))
                self.assertEqual(sum(calls_to(children[p], "work") for p in worked), 40)
                self.assertEqual(calls_to(self.path("out.cg"), "work"), 0)
                self.assertRegex(ours.stderr, r"calltree: wrote \S+/out\.cg .*; \d+ child profiles?: \S+/out\.cg\.\d+")
                for path in [self.path("out.cg"), *children.values()]:
                    self.assertAnnotates(path)

    def test_process_pool_executor(self):
        script = self.write("executor.py", """
from concurrent.futures import ProcessPoolExecutor
def work(x):
    return x * x
if __name__ == '__main__':
    with ProcessPoolExecutor(max_workers=4) as ex:
        print(sum(ex.map(work, range(100))))
        workers = list(ex._processes)
    print('pids', *workers)
""")
        py, ours = self.both(script)
        self.assertEqual(py.returncode, 0, py.stderr)
        self.assertSameRun(py, ours)
        pids = [int(p) for p in PIDS.search(ours.stdout).group(1).split()]
        children = self.profiles(pids)
        self.assertEqual(sorted(children), sorted(pids))
        self.assertEqual(sum(calls_to(path, "work") for path in children.values()), 100)
        for path in [self.path("out.cg"), *children.values()]:
            self.assertAnnotates(path)

    def test_subprocess_run_sys_executable(self):
        child = self.write("child.py", "import os, sys\ndef child_work():\n    return sum(range(1000))\n"
                                       "child_work()\nprint('child', sys.executable, sys.argv[1:], flush=True)\n"
                                       "print('pids', os.getpid(), flush=True)\n"
                                       "print('to stderr', file=sys.stderr)\nsys.exit(3)\n")
        script = self.write("parent.py", f"""
import subprocess, sys
def parent_work():
    r = subprocess.run([sys.executable, {child!r}, 'a b'], capture_output=True, text=True)
    print(r.returncode, repr(r.stdout), repr(r.stderr))
    r = subprocess.run([sys.executable, '-c', 'import sys; print(sys.orig_argv[1:]); sys.exit(7)'])
    print(r.returncode)
parent_work()
""")
        py, ours = self.both(script)
        self.assertEqual(py.returncode, 0, py.stderr)
        self.assertIn(f"child {PYTHON} ['a b']", py.stdout)
        pid = int(re.search(r"pids (\d+)", ours.stdout).group(1))
        self.assertEqual(re.sub(r"pids \d+", "", ours.stdout), re.sub(r"pids \d+", "", py.stdout))
        self.assertEqual(WROTE.sub("", ours.stderr), py.stderr)
        children = self.profiles([pid])
        self.assertEqual(len(children), 2)  # the script and the -c code
        self.assertEqual(calls_to(children[pid], "child_work"), 1)
        self.assertEqual(calls_to(children[pid], "parent_work"), 0)
        self.assertEqual(calls_to(self.path("out.cg"), "child_work"), 0)
        for path in [self.path("out.cg"), *children.values()]:
            self.assertAnnotates(path)

    def test_forked_children_however_they_end(self):
        script = self.write("fork.py", """
import os, sys
def before_fork():
    return 1
before_fork()
kids = []
for how in ['return', 'exit', 'raise', '_exit']:
    pid = os.fork()
    if pid == 0:
        def child_work():
            return sum(range(1000))
        child_work()
        if how == 'exit': sys.exit(4)
        if how == 'raise': raise ValueError('boom')
        if how == '_exit': os._exit(5)
        break
    kids.append(pid)
    print(how, os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]), flush=True)
else:
    print('pids', *kids)
""")
        py, ours = self.both(script)
        self.assertEqual(py.returncode, 0, py.stderr)
        self.assertIn("_exit 5", py.stdout)
        self.assertSameRun(py, ours)
        pids = [int(p) for p in PIDS.search(ours.stdout).group(1).split()]
        children = self.profiles(pids)
        self.assertEqual(sorted(children), sorted(pids))
        for pid in pids:
            # A fresh profile from the fork on: the child's own call, not the parent's history.
            self.assertEqual(calls_to(children[pid], "child_work"), 1)
            self.assertEqual(calls_to(children[pid], "before_fork"), 0)
            self.assertAnnotates(children[pid])
        self.assertEqual(calls_to(self.path("out.cg"), "before_fork"), 1)
        self.assertEqual(calls_to(self.path("out.cg"), "child_work"), 0)

    def test_names_with_pid_template_and_default(self):
        script = self.write("one.py", "import os\nif os.fork() == 0:\n    os._exit(0)\n"
                                      "print('pids', os.wait()[0], os.getpid())\n")
        r = run([CALLTREE, "--subprocesses", "-o", self.path("prog.%p.cg"), script], cwd=self.tmp)
        self.assertEqual(r.returncode, 0, r.stderr)
        child, parent = PIDS.search(r.stdout).group(1).split()
        self.assertTrue(os.path.exists(self.path(f"prog.{parent}.cg")))
        self.assertTrue(os.path.exists(self.path(f"prog.{child}.cg")))
        r = run([CALLTREE, "--subprocesses", script], cwd=self.tmp)
        self.assertEqual(r.returncode, 0, r.stderr)
        child, parent = PIDS.search(r.stdout).group(1).split()
        self.assertTrue(os.path.exists(self.path(f"callgrind.out.{parent}")))
        self.assertTrue(os.path.exists(self.path(f"callgrind.out.{child}")))
        self.assertIn(f"1 child profile: {self.path('callgrind.out.' + child)}", r.stderr)

    def test_without_the_flag_children_are_not_profiled(self):
        script = self.write("pool.py", self.POOL)
        py, ours = self.both(script, "spawn", calltree_args=())
        self.assertSameRun(py, ours)
        time.sleep(0.5)
        self.assertEqual(glob.glob(self.path("out.cg*")), [self.path("out.cg")])
        self.assertNotIn("child profile", ours.stderr)

    def test_sampling_profiles_spawned_children_and_forked_ones_run(self):
        script = self.write("mixed.py", """
import os, subprocess, sys
r = subprocess.run([sys.executable, '-c', 'import os; print(os.getpid())'], capture_output=True, text=True)
pid = os.fork()
if pid == 0:
    print('forked child ran', flush=True)
    os._exit(6)
print(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
print('pids', r.stdout.strip())
""")
        py, ours = self.both(script, calltree_args=("--subprocesses", "--sample"))
        self.assertEqual(py.returncode, 0, py.stderr)
        self.assertSameRun(py, ours)
        spawned = int(PIDS.search(ours.stdout).group(1))
        self.assertEqual(sorted(self.profiles([spawned])), [spawned])
        self.assertAnnotates(self.path(f"out.cg.{spawned}"))


def header(path):
    """A callgrind file's header lines: `event:`, `events:` and `desc:` as {key: value}."""
    fields = {}
    with open(path, errors="replace") as f:
        for line in f:
            if line.startswith(("fl=", "fn=", "ob=")):
                break
            m = re.match(r"^(event: \S+|events|desc: [^:]+) ?: ?(.*)$", line.rstrip("\n"))
            if m:
                fields[m.group(1)] = m.group(2)
    return fields


class ChildOptions(TempDirTest):
    """Every option given to calltree has its effect in the children too: a spawned child and the
    child it spawns in turn (its options are the re-serialised ones of its parent)."""

    def setUp(self):
        super().setUp()
        self.child = self.write("child.py", """
import os, subprocess, sys
def child_work():
    return [bytes(4096) for _ in range(300)]
child_work()
print('pids', os.getpid(), flush=True)
if sys.argv[1:] == ['again']:
    subprocess.run([sys.executable, __file__])
""")
        self.script = self.write("parent.py", f"""
import subprocess, sys
subprocess.run([sys.executable, {self.child!r}, 'again'])
""")

    def children(self, *options, out="out.cg"):
        """Runs the program under `calltree --subprocesses OPTIONS -o out`: the parent's file and
        the two children's."""
        r = run([CALLTREE, "--subprocesses", *options, "-o", self.path(out), self.script], cwd=self.tmp)
        self.assertEqual(r.returncode, 0, r.stderr)
        pids = [int(p) for p in PIDS.findall(r.stdout) for p in p.split()]
        self.assertEqual(len(pids), 2, r.stdout)
        paths = [self.path(f"{out}.{pid}") for pid in pids]
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not all(os.path.exists(p) for p in paths):
            time.sleep(0.1)
        for p in paths:
            self.assertTrue(os.path.exists(p), f"{p}: {r.stderr}")
        return self.path(out), paths

    def assertChildrenLikeParent(self, parent, children, keys):
        """The header fields the options decide are the parent's in every child."""
        expected = {k: v for k, v in header(parent).items() if k in keys}
        self.assertEqual(set(expected), set(keys), header(parent))
        for child in children:
            self.assertEqual({k: v for k, v in header(child).items() if k in keys}, expected, child)

    @unittest.skipIf(os.environ.get("CALLTREE_SANITIZED") == "1", "sanitizer builds have no --memory")
    def test_memory_and_memory_rate(self):
        parent, children = self.children("--memory", "--memory-rate", "1")
        self.assertChildrenLikeParent(parent, children, {"events", "desc: Memory sampling rate"})
        for child in children:
            cg = parse(child)
            self.assertEqual(cg.events, ["Time", "AllocBytes", "Allocs", "LeakBytes", "PeakBytes", "CopyBytes"])
            self.assertEqual(header(child)["desc: Memory sampling rate"], "every allocation and copy")
            # Every allocation recorded: child_work's 300 blocks of 4 KiB at least.
            (work,) = cg.by_name("child_work")
            self.assertGreaterEqual(sum(a.inclusive[1] for a in cg.arcs if a.callee == work), 300 * 4096)
        parent, children = self.children("--memory", "--memory-rate=1MiB", out="rate.cg")
        for child in children:
            self.assertEqual(header(child)["desc: Memory sampling rate"], "1048576 bytes between samples on average")

    def test_sample_and_interval(self):
        parent, children = self.children("--sample", "--interval", "0.2ms")
        self.assertChildrenLikeParent(parent, children, {"events", "desc: Sampling interval"})
        self.assertTrue(header(parent)["desc: Sampling interval"].startswith("200.0"), header(parent))

    def test_format_pstats(self):
        import pstats
        parent, children = self.children("--format", "pstats", out="out.prof")
        for path in [parent, *children]:
            names = {func[2] for func in pstats.Stats(path).stats}
            self.assertIn("<module>", names, path)
        for child in children:
            self.assertIn("child_work", {func[2] for func in pstats.Stats(child).stats}, child)

    def test_clock(self):
        parent, children = self.children("--clock", "cpu")
        self.assertChildrenLikeParent(parent, children, {"event: Time"})
        self.assertEqual(header(parent)["event: Time"], "CPU time (ns)")
        # The counter clock: exactly 1000 ns per event, nothing subtracted.
        parent, children = self.children("--clock=counter", out="counter.cg")
        for child in children:
            self.assertNotIn("desc: Bias", header(child))
            cg = parse(child)
            (work,) = cg.by_name("child_work")
            self.assertEqual(cg.functions[work].self_cost[0] % 1000, 0)

    def test_no_bias_correction(self):
        parent, children = self.children()
        for path in [parent, *children]:
            self.assertIn("desc: Bias", header(path), path)
        parent, children = self.children("--no-bias-correction", out="raw.cg")
        for path in [parent, *children]:
            self.assertNotIn("desc: Bias", header(path), path)

    def test_open_is_the_parents_alone(self):
        bin_dir = self.path("bin")
        os.mkdir(bin_dir)
        record = self.path("viewer-args")
        viewer = self.write("bin/kcachegrind", f"#!/bin/sh\nprintf '%s\\n' \"$@\" >> {record}\n")
        os.chmod(viewer, 0o755)
        r = run([CALLTREE, "--subprocesses", "--open", "-o", self.path("out.cg"), self.script], cwd=self.tmp,
                env=dict(os.environ, PATH=bin_dir + ":/usr/bin:/bin"))
        self.assertEqual(r.returncode, 0, r.stderr)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not os.path.exists(record):
            time.sleep(0.05)
        time.sleep(0.5)
        with open(record) as f:
            self.assertEqual(f.read().splitlines(), [self.path("out.cg")])


UNPROFILED = re.compile(r"^calltree: child process (\d+) (?:runs unprofiled|has no profile): .*\n", re.M)
FINAL = re.compile(r"^calltree: wrote .*\n", re.M)


def runnable_by_others(path):
    """Whether a user without privileges can run `path`: every directory on the way searchable
    and the file executable by others."""
    d = path
    while True:
        if not os.stat(d).st_mode & stat.S_IXOTH:
            return False
        parent = os.path.dirname(d)
        if parent == d:
            return True
        d = parent


class ChildrenWithoutProfile(TempDirTest):
    """A child whose profile cannot be written runs all the same, as under python3: one line on
    stderr says why, and the parent's last line names it."""

    def compare(self, script, *options):
        py = run([PYTHON, script], cwd=self.tmp)
        self.assertEqual(py.returncode, 0, py.stderr)
        ours = run([CALLTREE, "--subprocesses", *options, script], cwd=self.tmp)
        self.assertEqual(ours.returncode, py.returncode, ours.stderr)
        self.assertEqual(ours.stdout, py.stdout)
        self.assertEqual(FINAL.sub("", UNPROFILED.sub("", ours.stderr)), py.stderr)
        said = UNPROFILED.findall(ours.stderr)
        final = FINAL.findall(ours.stderr)
        self.assertEqual(len(final), 1, ours.stderr)
        return said, final[0]

    def named(self, final):
        """The pids the parent's last line names as without a profile."""
        m = re.search(r"; (\d+) child(?:ren)? without a profile: pids? ([\d ]+)$", final.rstrip("\n"))
        self.assertIsNotNone(m, final)
        pids = m.group(2).split()
        self.assertEqual(int(m.group(1)), len(pids), final)
        self.assertEqual(pids, sorted(pids, key=int), final)
        return pids

    @unittest.skipUnless(os.geteuid() == 0, "needs root to start a child as another user")
    def test_child_running_as_another_user(self):
        # CPython's test_subprocess POSIXProcessTestCase.test_user: the child runs as nobody,
        # who can write neither the output directory (a private temporary one) nor, depending
        # where calltree is installed, run calltree itself.
        if not runnable_by_others(os.path.realpath(PYTHON)):
            self.skipTest(f"{PYTHON} cannot be run by nobody (a pyenv build under /root)")
        script = self.write("user.py", """
import subprocess, sys
r = subprocess.run([sys.executable, "-c", "print('hi')"], user="nobody")
print("status", r.returncode)
r = subprocess.run([sys.executable, "-c", "import os, sys; print(os.getuid()); sys.exit(4)"], user="nobody",
                   capture_output=True, text=True)
print("status", r.returncode, repr(r.stdout))
""")
        said, final = self.compare(script)
        # The second child's line went to the stderr the program captured.
        self.assertEqual(len(said), 1, said)
        named = self.named(final)
        self.assertEqual(len(named), 2, final)
        self.assertIn(said[0], named)

    def test_output_directory_not_there_for_the_child(self):
        # -o relative to the working directory, in a directory gone while a child starts (root
        # writes anywhere: taking the directory away is what stops it), then while a spawned
        # child and a forked one run, their profiles due at their end.
        os.mkdir(self.path("prof"))
        script = self.write("gone.py", """
import os, subprocess, sys
os.rename('prof', 'away')
r = subprocess.run([sys.executable, '-c', 'import sys; print("child ran"); sys.exit(5)'])
print('spawned', r.returncode, flush=True)
os.rename('away', 'prof')
r = subprocess.run([sys.executable, '-c', 'import os; os.rename("prof", "away"); print("second")'])
print('second', r.returncode, flush=True)
os.rename('away', 'prof')
pid = os.fork()
if pid == 0:
    os.rename('prof', 'away')
    sys.exit(0)
print('forked', os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
os.rename('away', 'prof')
""")
        said, final = self.compare(script, "-o", "prof/%p.cg")
        self.assertEqual(len(said), 3, said)
        self.assertEqual(self.named(final), sorted(said, key=int))
        self.assertRegex(final, r"^calltree: wrote \S+/prof/\d+\.cg ")


if __name__ == "__main__":
    unittest.main()
