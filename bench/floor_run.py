"""Runs a script as __main__ under the floor hook: floor_run.py BUILD_BENCH_DIR MODE SCRIPT [ARGS]."""
import os
import runpy
import sys

hook_dir, mode, script = sys.argv[1:4]
sys.path.insert(0, hook_dir)
import calltree_floor_hook  # noqa: E402  (built into the build tree, not installed)

del sys.path[0]
# What python3 SCRIPT would see: argv from the script on, the script's directory first on the path.
sys.argv = sys.argv[3:]
sys.path[0] = os.path.dirname(os.path.abspath(script))
calltree_floor_hook.install(mode)
runpy.run_path(script, run_name="__main__")
