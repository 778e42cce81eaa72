"""cProfile for every thread: `python3 cprofile_all_threads.py OUT.prof script.py args...`.

`python3 -m cProfile` profiles only the main thread. Here each threading.Thread runs under its own
cProfile.Profile (cProfile's profiler is per thread) and all are merged into one pstats file, so
the call counts of functions run by worker threads can be compared with calltree's.
From 3.12 cProfile is a sys.monitoring tool, interpreter-wide: one Profile sees every thread,
and a second one cannot be enabled while it is.
"""
import cProfile
import os
import pstats
import runpy
import sys
import threading

thread_profiles = []
original_run = threading.Thread.run


def profiled_run(self):
    profiler = cProfile.Profile()
    thread_profiles.append(profiler)  # list.append is atomic under the GIL
    profiler.runcall(original_run, self)


def profile_all_threads(script, argv):
    """Runs `script` with sys.argv[1:] = argv as `python3 script` would; returns the merged Stats."""
    sys.argv = [script, *argv]
    sys.path[0] = os.path.dirname(os.path.abspath(script))  # as `python3 script.py` sets it
    if sys.version_info < (3, 12):
        threading.Thread.run = profiled_run
    main_profile = cProfile.Profile()
    try:
        main_profile.runcall(runpy.run_path, script, run_name="__main__")
    except SystemExit:
        pass
    finally:
        stats = pstats.Stats(main_profile)
        for profiler in thread_profiles:
            stats.add(profiler)
    return stats


if __name__ == "__main__":
    out = sys.argv[1]
    profile_all_threads(sys.argv[2], sys.argv[3:]).dump_stats(out)
