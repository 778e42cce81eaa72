"""A program's own profile function (sys.setprofile, threading.setprofile, the pure-Python
`profile` module) sees under calltree exactly the events it sees under python3, and calltree
keeps recording meanwhile.
"""
import re
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


if __name__ == "__main__":
    unittest.main()
