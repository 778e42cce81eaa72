"""Runs a script as __main__ under the floor hook: floor_run.py BUILD_DIR MODE SCRIPT [ARGS]."""
import runpy
import sys

build_dir, mode, script = sys.argv[1:4]
sys.path.insert(0, build_dir)
import calltree_floor_hook  # noqa: E402  (lives in the build tree)

sys.argv = sys.argv[3:]
sys.path[0] = __import__("os").path.dirname(__import__("os").path.abspath(script))
calltree_floor_hook.install(mode)
runpy.run_path(script, run_name="__main__")
