"""A program's own profile function (sys.setprofile, threading.setprofile, the pure-Python
`profile` module) sees under calltree exactly the events it sees under python3, and calltree
keeps recording meanwhile.
"""
import ast
import os
import re
import sys
import textwrap
import unittest

from callgrind_parse import parse
from helpers import PYTHON, TempDirTest, profile, run

PROGRAM = textwrap.dedent("""
    import profile
    import sys
    import threading

    leaf_calls = 0


    def leaf(x):
        global leaf_calls
        leaf_calls += 1
        return x + 1


    def work(n):
        total = 0
        for i in range(n):
            total += leaf(i)
        return len(str(total))


    events = []


    def mine(frame, event, arg):
        events.append((event, arg.__name__ if event.startswith("c_") else frame.f_code.co_name,
                       sorted(frame.f_locals)))


    def reset():
        print(events)
        events.clear()


    print("before:", sys.getprofile())
    sys.setprofile(mine)
    print("set:", sys.getprofile() is mine)
    work(3)
    sys.setprofile(None)
    print("after:", sys.getprofile())
    reset()

    # The profiler is switched off and back on by code that saves and restores it.
    old = sys.getprofile()
    sys.setprofile(mine)
    sys.setprofile(old)
    work(1)
    reset()

    # A profile function that raises is removed, and the exception reaches the program.
    def failing(frame, event, arg):
        raise ValueError(event)

    try:
        sys.setprofile(failing)
        work(1)
    except ValueError as e:
        print("raised at", e, "then", sys.getprofile())

    def failing_on_c_call(frame, event, arg):
        if event == "c_call":
            raise ValueError(event)

    def after_failed_c_call():
        try:
            sys.setprofile(failing_on_c_call)
            len("abc")
        except ValueError as e:
            print("raised at", e, "then", sys.getprofile())
        leaf(0)

    after_failed_c_call()

    p = profile.Profile()
    p.runcall(work, 5)
    p.create_stats()
    print(sorted((f[2] if f[0] != "profile" else "<builtin>", v[0], v[1]) for f, v in p.stats.items()))

    threading.setprofile(mine)
    t = threading.Thread(target=work, args=(2,))
    t.start()
    t.join()
    threading.setprofile(None)
    reset()
    print("leaf calls:", leaf_calls)
""")


# threading.setprofile_all_threads (3.12+) on threads that are inside a call (a lock's acquire)
# when it comes, first while no thread has a profile function, then while main has its own; and
# on threads started while it is on and after it was removed. The program's function notes what
# it gets on each thread (its first events after each change, and how many of each kind in this
# program's own code), each thread what sys.getprofile() answers, and an audit hook the
# "sys.setprofile" audit events.
ALL_THREADS_PROGRAM = textwrap.dedent("""
    import sys
    import threading
    import time

    names = {}          # thread ident -> name
    steps = []          # (name, step, what sys.getprofile() answered there)
    firsts = {}         # (phase, name) -> the first events the program's function got there
    counts = {}         # name -> {event: count} of the events in this program's own code
    leaf_calls = {}
    audits = []
    phase = "-"
    gates = [threading.Lock() for _ in range(5)]
    waiting = {}        # name -> the gate it waits at


    def f(frame, event, arg):
        name = names.get(threading.get_ident(), "?")
        first = firsts.setdefault((phase, name), [])
        if len(first) < 2:
            first.append((event, arg.__name__ if event.startswith("c_") else frame.f_code.co_name))
        if frame.f_code.co_filename in (__file__, "<string>") and frame.f_code is not blocked.__code__:
            mine = counts.setdefault(name, {})
            mine[event] = mine.get(event, 0) + 1


    def g(frame, event, arg):
        pass


    def answer():
        p = sys.getprofile()
        return "f" if p is f else "g" if p is g else repr(p)


    def audit(event, args):
        if "setprofile" in event:
            audits.append((phase, event))


    def worker(name, first):
        names[threading.get_ident()] = name
        exec(f"def leaf_{name}(x):\\n    return x + 1", globals())
        leaf = globals()[f"leaf_{name}"]
        for step in range(first, len(gates)):
            waiting[name] = step
            gates[step].acquire()  # blocks
            gates[step].release()
            total = 0
            for i in range(3):
                total += leaf(i)
            leaf_calls[name] = leaf_calls.get(name, 0) + 3
            steps.append((name, step, answer(), len(str(total))))


    BLOCKS = next(i for i, line in enumerate(open(__file__), 1) if line.strip() == "gates[step].acquire()  # blocks")


    def blocked(step, *threads):
        # Each thread is inside gates[step].acquire(): it began that call before what comes next.
        for t in threads:
            while True:
                frame = sys._current_frames().get(t.ident)
                if waiting.get(t.name) == step and frame is not None and frame.f_lineno == BLOCKS:
                    break
                time.sleep(0.001)


    def start(name, first):
        t = threading.Thread(target=worker, args=(name, first), name=name)
        t.start()
        return t


    names[threading.get_ident()] = "main"
    sys.addaudithook(audit)
    for gate in gates:
        gate.acquire()
    workers = [start("w0", 0), start("w1", 0)]
    blocked(0, *workers)

    # Installed while no thread has a profile function: the calls the threads are in began unseen.
    phase = "A"
    threading.setprofile_all_threads(f)
    print("main after A:", answer())
    workers.append(start("w2", 1))  # threading gives it f too
    gates[0].release()
    blocked(1, *workers)
    phase = "A-none"
    threading.setprofile_all_threads(None)
    print("main after A-none:", answer())
    workers.append(start("w3", 2))  # after None: no profile function
    gates[1].release()
    blocked(2, *workers)

    # Installed while main has its own: the calls the threads are in began seen.
    phase = "B-g"
    sys.setprofile(g)
    gates[2].release()
    blocked(3, *workers)
    phase = "B"
    threading.setprofile_all_threads(f)
    print("main after B:", answer())
    gates[3].release()
    blocked(4, *workers)
    phase = "B-none"
    threading.setprofile_all_threads(None)
    print("main after B-none:", answer())
    gates[4].release()
    for t in workers:
        t.join()

    print("steps:", sorted(steps))
    print("firsts:", sorted(firsts.items()))
    print("counts:", sorted((k, sorted(v.items())) for k, v in counts.items()))
    print("audits:", audits)
    print("leaf calls:", sorted(leaf_calls.items()))
""")


# Sanitizer builds have no --memory (their runtime replaces malloc).
MEMORY = [] if os.environ.get("CALLTREE_SANITIZED") == "1" else [["--memory"]]


def without_addresses(text):
    return re.sub(r" at 0x[0-9a-f]+", "", text)


class ProgramsOwnProfiler(TempDirTest):
    def test_same_events_as_python3_and_calls_still_recorded(self):
        script = self.write("own_profiler.py", PROGRAM)
        expected = run([PYTHON, script])
        self.assertEqual(expected.returncode, 0, expected.stderr)
        out = self.path("out.callgrind")
        ours = profile([script], out)
        self.assertEqual(ours.returncode, 0, ours.stderr)
        self.assertEqual(without_addresses(ours.stdout), without_addresses(expected.stdout))

        # calltree recorded every call, including those made while the program's profiler ran.
        leaf_calls = int(re.search(r"leaf calls: (\d+)", expected.stdout).group(1))
        cg = parse(out)
        (leaf,) = cg.by_name("leaf")
        self.assertEqual(cg.functions[leaf].calls_in, leaf_calls)
        # A c_call the program's function refused never ran: leaf is not called from it.
        callers = {a.caller[0] for a in cg.arcs if a.callee == leaf}
        self.assertEqual(callers, {"work", "after_failed_c_call"})

    def test_profile_module_runcall(self):
        script = self.write("runcall.py", "import profile\n\ndef f():\n    return sum(range(10))\n\n"
                                          "p = profile.Profile()\nprint(p.runcall(f))\n")
        r = profile([script], self.path("out.callgrind"))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, "45\n")

    def test_setprofile_reentrancy_and_getprofile_as_python3(self):
        # python3.11's _PyEval_SetProfile refuses a profile function installed while another is
        # being installed (here from the __del__ of the one being replaced, and from an audit
        # hook), lowers its guard when it does (a second try goes through), releases the old
        # function while none is installed, and audits every sys.setprofile. 3.12+ has no guard
        # (the audit hook recurses until RecursionError) and releases the old function after
        # storing the new one.
        script = self.write("reentrant.py", textwrap.dedent("""
            import sys

            def foo(*args):
                pass

            def bar(*args):
                pass

            class A:
                def __init__(self, tries):
                    self.tries = tries

                def __call__(self, frame, event, arg):
                    print("A got", event, getattr(arg, "__name__", None))

                def __del__(self):
                    print("__del__ sees", sys.getprofile())
                    for _ in range(self.tries):
                        try:
                            sys.setprofile(bar)
                            print("installed", sys.getprofile())
                        except RuntimeError as e:
                            print("refused:", e)

            def unraisable(u):
                print("unraisable", type(u.exc_value).__name__, u.exc_value, u.object.__qualname__)

            sys.unraisablehook = unraisable
            print("start", sys.getprofile())
            sys.setprofile(A(1))
            sys.setprofile(foo)
            print("now", sys.getprofile() is foo)
            sys.setprofile(A(2))
            sys.setprofile(None)
            print("now", sys.getprofile())
            # A __del__ that only raises: the error is unraisable, foo is installed all the same.
            class B:
                def __call__(self, *args):
                    pass
                def __del__(self):
                    sys.setprofile(bar)
            sys.setprofile(B())
            sys.setprofile(foo)
            print("now", sys.getprofile() is foo)
            sys.setprofile(None)

            def hook(event, args):
                if event == "sys.setprofile" and armed:
                    print("audit", event)
                    sys.setprofile(bar)
            armed = False
            sys.addaudithook(hook)
            armed = True
            try:
                sys.setprofile(foo)
            except RuntimeError as e:
                print("outer refused:", e)
            armed = False
            print("after audit", sys.getprofile())
            sys.setprofile(None)
            print("end", sys.getprofile())
        """))
        expected = run([PYTHON, script])
        self.assertEqual(expected.returncode, 0, expected.stderr)
        if sys.version_info < (3, 12):
            self.assertIn("refused: Cannot install a profile function while another profile function is being "
                          "installed", expected.stdout)
        for mode in ([], *MEMORY, ["--sample"]):
            with self.subTest(mode=mode):
                ours = profile([*mode, script], self.path("out.callgrind"))
                self.assertEqual(ours.returncode, expected.returncode, ours.stderr)
                self.assertEqual(without_addresses(ours.stdout), without_addresses(expected.stdout))

    def test_setprofile_audit_events_and_removal_as_python3(self):
        # python3 audits every change of the profile function, its trampoline's removal of a
        # function that raised included (whatever function is installed by then), and none for
        # a thread threading starts without a profile hook; an audit hook that refuses stops it.
        script = self.write("audited.py", textwrap.dedent("""
            import sys, threading
            log = []
            def hook(e, a):
                if e == "sys.setprofile":
                    log.append(e)
                    if refuse:
                        raise PermissionError("refused")
            refuse = False
            sys.addaudithook(hook)

            def g(*a):
                print("g got", a[1])

            def swapper(frame, event, arg):
                sys.setprofile(g)
                raise ValueError("swapped then raised")

            try:
                sys.setprofile(swapper)
                len("x")
            except ValueError as e:
                print("caught", e)
            print("after swapper", sys.getprofile(), len(log))

            refuse = True
            try:
                sys.setprofile(g)
            except PermissionError as e:
                print("refused", e)
            refuse = False
            print("after refusal", sys.getprofile(), len(log))

            def t():
                print("thread sees", sys.getprofile())
            th = threading.Thread(target=t); th.start(); th.join()
            print("threads audit", len(log))
        """))
        expected = run([PYTHON, script])
        self.assertEqual(expected.returncode, 0, expected.stderr)
        self.assertIn("threads audit 4", expected.stdout)
        for mode in ([], *MEMORY):
            with self.subTest(mode=mode):
                ours = profile([*mode, script], self.path("out.callgrind"))
                self.assertEqual(ours.returncode, expected.returncode, ours.stderr)
                self.assertEqual(without_addresses(ours.stdout), without_addresses(expected.stdout))

    def test_setprofile_all_threads_as_python3_and_calls_still_recorded(self):
        # threading.setprofile_all_threads(f) installs f on every thread of the interpreter (with
        # python3's own sys._setprofileallthreads), and threading gives it to the threads it starts
        # later: calltree's hook stays on each and f is chained after it. python3 reports the end
        # of a C call only if its profile events were on when the call began (from 3.12 on any
        # thread), which calltree's hook, always on, cannot tell it: calltree keeps track.
        if sys.version_info < (3, 12):
            self.skipTest("threading.setprofile_all_threads is new in 3.12")
        script = self.write("all_threads.py", ALL_THREADS_PROGRAM)
        expected = run([PYTHON, script])
        self.assertEqual(expected.returncode, 0, expected.stderr)
        # What python3 shows: no end of the acquire that began with no profile function anywhere,
        # the end of the one that began while main had one; f on every thread while it is on.
        self.assertIn("(('A', 'w0'), [('c_call', 'release'), ('c_return', 'release')])", expected.stdout)
        self.assertIn("(('B', 'w0'), [('c_return', 'acquire'), ('c_call', 'release')])", expected.stdout)
        self.assertIn("('w0', 0, 'f', 1)", expected.stdout)
        self.assertIn("('w3', 3, 'f', 1)", expected.stdout)
        for mode in ([], *MEMORY):
            with self.subTest(mode=mode):
                out = self.path("out.callgrind")
                ours = profile([*mode, script], out)
                self.assertEqual(ours.returncode, expected.returncode, ours.stderr)
                self.assertEqual(without_addresses(ours.stdout), without_addresses(expected.stdout))
                if mode:
                    continue
                # Every thread's calls recorded, those made while the program's function was on
                # and after it was removed (by the thread started then too).
                leaf_calls = ast.literal_eval(re.search(r"^leaf calls: (.*)$", expected.stdout, re.M).group(1))
                self.assertEqual(len(leaf_calls), 4)
                cg = parse(out)
                for name, calls in leaf_calls:
                    (leaf,) = cg.by_name(f"leaf_{name}")
                    self.assertEqual(cg.functions[leaf].calls_in, calls, name)

    def test_setprofile_all_threads_refused_or_restored_as_python3(self):
        # An audit hook refusing it: before 3.14 python3 reports that thread's refusal as
        # unraisable and goes on with the others, from 3.14 it raises and changes none. Code that
        # restores threading.getprofile() (None under python3, calltree's hook object under
        # calltree) removes the function everywhere, and threads started later are still recorded.
        if sys.version_info < (3, 12):
            self.skipTest("threading.setprofile_all_threads is new in 3.12")
        script = self.write("all_threads_refused.py", textwrap.dedent("""
            import sys
            import threading

            gate = threading.Lock()
            gate.acquire()
            started = threading.Event()
            seen = []


            def worker():
                started.set()
                gate.acquire()
                seen.append(("worker", repr(sys.getprofile())))


            def f(*args):
                pass


            def unraisable(u):
                print("unraisable", type(u.exc_value).__name__, u.exc_value, u.err_msg)


            refuse = 0


            def hook(event, args):
                global refuse
                if event == "sys.setprofile" and refuse:
                    refuse -= 1
                    raise PermissionError("no")


            sys.unraisablehook = unraisable
            sys.addaudithook(hook)
            t = threading.Thread(target=worker)
            t.start()
            started.wait()
            old = threading.getprofile()  # code that saves and restores threading's profiler
            refuse = 1
            try:
                threading.setprofile_all_threads(f)
            except PermissionError as e:
                print("raised", e)
            print("main", repr(sys.getprofile()))
            threading.setprofile_all_threads(f)
            print("main", repr(sys.getprofile()))
            threading.setprofile_all_threads(old)
            print("main", repr(sys.getprofile()))
            gate.release()
            t.join()
            print(seen)


            def late():
                seen.append(("late", repr(sys.getprofile())))


            t = threading.Thread(target=late)
            t.start()
            t.join()
            print(seen)
        """))
        expected = run([PYTHON, script])
        self.assertEqual(expected.returncode, 0, expected.stderr)
        self.assertIn("[('worker', 'None'), ('late', 'None')]", expected.stdout)
        for mode in ([], *MEMORY):
            with self.subTest(mode=mode):
                out = self.path("out.callgrind")
                ours = profile([*mode, script], out)
                self.assertEqual(ours.returncode, expected.returncode, ours.stderr)
                self.assertEqual(without_addresses(ours.stdout), without_addresses(expected.stdout))
                if not mode:
                    cg = parse(out)
                    (late,) = cg.by_name("late")
                    self.assertEqual(cg.functions[late].calls_in, 1)

    def test_end_of_a_c_call_only_when_python3_reports_it(self):
        # python3 reports the end of a C call to a profile function only if its profile events
        # were on when the call began: on 3.11 if that thread had a profile function, from 3.12
        # if any thread of the interpreter had one. calltree's hook, always on, sees every end.
        script = self.write("c_call_ends.py", textwrap.dedent("""
            import sys
            import threading


            def show(frame, event, arg):
                print(" ", event, arg.__name__ if event.startswith("c_") else frame.f_code.co_name)


            def install(x):
                sys.setprofile(show)
                return x


            def inside_sorted():
                sorted([1], key=install)
                sys.setprofile(None)


            print("no profile function before:")
            inside_sorted()
            ready = threading.Event()
            done = threading.Event()


            def other():
                sys.setprofile(lambda *args: None)
                ready.set()
                done.wait()
                sys.setprofile(None)


            t = threading.Thread(target=other)
            t.start()
            ready.wait()
            print("another thread's before:")
            inside_sorted()
            done.set()
            t.join()
        """))
        expected = run([PYTHON, script])
        self.assertEqual(expected.returncode, 0, expected.stderr)
        self.assertIn("c_return sorted" if sys.version_info >= (3, 12) else "another thread's before:\n  return install",
                      expected.stdout)
        for mode in ([], *MEMORY):
            with self.subTest(mode=mode):
                ours = profile([*mode, script], self.path("out.callgrind"))
                self.assertEqual(ours.returncode, expected.returncode, ours.stderr)
                self.assertEqual(ours.stdout, expected.stdout)

    def test_program_running_cprofile_gets_python3s_results(self):
        # A program that profiles itself with cProfile gets the same results under calltree as
        # under python3. From 3.12 cProfile is a sys.monitoring tool of its own beside the profile
        # hook calltree uses, so calltree records every call meanwhile: its counts of the calls
        # made while cProfile was on are cProfile's. On 3.11 cProfile replaces the hook (one per
        # thread): calltree records nothing from cProfile's enable() on, until the program next
        # calls sys.setprofile (as code that saves and restores the profiler does).
        script = self.write("own_cprofile.py", textwrap.dedent("""
            import cProfile
            import sys

            def leaf(x):
                return x + 1

            def work(n):
                return sum([leaf(i) for i in range(n)])

            earlier = sys.getprofile()
            p = cProfile.Profile()
            p.enable()
            work(10)
            p.disable()
            p.runcall(work, 3)
            with cProfile.Profile() as q:
                work(2)
            sys.setprofile(earlier)
            work(4)
            for prof in (p, q):
                prof.create_stats()
                print(sorted((f[2], v[0], v[1]) for f, v in prof.stats.items()))
            print("profile:", sys.getprofile() is earlier)
        """))
        expected = run([PYTHON, script])
        self.assertEqual(expected.returncode, 0, expected.stderr)
        self.assertIn("('leaf', 13, 13)", expected.stdout)
        for mode in ([], *MEMORY):
            with self.subTest(mode=mode):
                out = self.path("out.callgrind")
                ours = profile([*mode, script], out)
                self.assertEqual(ours.returncode, expected.returncode, ours.stderr)
                self.assertEqual(without_addresses(ours.stdout), without_addresses(expected.stdout))
                if mode:
                    continue
                cg = parse(out)
                (leaf,) = cg.by_name("leaf")
                (work,) = cg.by_name("work")
                recorded = (10 + 3 + 2 + 4, 4) if sys.version_info >= (3, 12) else (4, 1)
                self.assertEqual((cg.functions[leaf].calls_in, cg.functions[work].calls_in), recorded)

    def test_cpython_test_sys_setprofile(self):
        # CPython's own tests of sys.setprofile (Debian's libpython3.11-testsuite), whose
        # TestEdgeCases.test_reentrancy failed under calltree: each test's outcome as python3's.
        if not os.path.exists("/usr/lib/python3.11/test/test_sys_setprofile.py"):
            self.skipTest("libpython3.11-testsuite is not installed (scripts/install-deps.sh installs it)")
        outcome = re.compile(r"^(test\w* \(.*\) \.\.\. .*|Tests? result: .*|Result: .*)$", re.M)
        command = ["-m", "test", "-v", "test_sys_setprofile"]
        expected = run([PYTHON, *command], cwd=self.tmp)
        self.assertEqual(expected.returncode, 0, expected.stdout + expected.stderr)
        outcomes = outcome.findall(expected.stdout)
        self.assertIn("test_reentrancy (test.test_sys_setprofile.TestEdgeCases.test_reentrancy) ... ok", outcomes)
        for mode in ([], *MEMORY):
            with self.subTest(mode=mode):
                ours = profile([*mode, *command], self.path("out.callgrind"), cwd=self.tmp)
                self.assertEqual(ours.returncode, expected.returncode, ours.stdout + ours.stderr)
                self.assertEqual(outcome.findall(ours.stdout), outcomes)


if __name__ == "__main__":
    unittest.main()
