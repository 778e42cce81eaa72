"""From 3.12: a Python call under the legacy profile hook against a C sys.monitoring tool (run.sh)."""
import sys, time, ctbench
M = sys.monitoring
E = M.events

def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)

def calls(n):  # calls counted by hand: fib(n) makes 2*F(n+1)-1 calls
    a, b = 0, 1
    for _ in range(n + 1):
        a, b = b, a + b
    return 2 * a - 1

N = 22
CALLS = calls(N)

def best(runs=15):
    t = []
    for _ in range(runs):
        s = time.perf_counter_ns(); fib(N); t.append(time.perf_counter_ns() - s)
    return min(t)

def legacy():
    ctbench.legacy_on()
    try:
        return best()
    finally:
        ctbench.legacy_off()

TOOL = 3
def monitoring(event_set):
    M.use_tool_id(TOOL, "ctbench")
    for e in (E.PY_START, E.PY_RESUME, E.PY_RETURN, E.PY_YIELD, E.PY_UNWIND, E.PY_THROW, E.CALL, E.C_RETURN, E.C_RAISE):
        M.register_callback(TOOL, e, ctbench.monitor_cb)
    M.set_events(TOOL, event_set)
    try:
        return best()
    finally:
        M.set_events(TOOL, 0)
        M.free_tool_id(TOOL)

py_events = E.PY_START | E.PY_RESUME | E.PY_RETURN | E.PY_YIELD | E.PY_UNWIND | E.PY_THROW
all_events = py_events | E.CALL | E.C_RETURN | E.C_RAISE
results = {}
for rnd in range(3):
    for name, f in (("plain", best), ("legacy", legacy), ("monitor_py", lambda: monitoring(py_events)),
                    ("monitor_all", lambda: monitoring(all_events))):
        ctbench.count()
        v = f()
        results[name] = min(results.get(name, 1 << 62), v)
plain = results["plain"]
print(sys.version.split()[0], "fib(%d): %d calls, plain %.2f ms" % (N, CALLS, plain / 1e6))
for name in ("legacy", "monitor_py", "monitor_all"):
    print("  %-12s %.2f ms  +%.1f ns per call" % (name, results[name] / 1e6, (results[name] - plain) / CALLS))
