"""python3 -m calltree: the calltree command, running programs in this interpreter.

    python3 -m calltree [options] prog.py [args]    # as: calltree --python python3 ...
    python3 -m calltree convert prog.prof           # as: calltree convert prog.prof

The installed calltree program is executed with the same arguments; a
program it runs is run by this interpreter (sys.executable), unless the
arguments name another with --python.
"""
import os
import sys

from . import _build_info


def _names_python(args):
    """Whether calltree's own options (before the program) include --python."""
    for arg in args:
        if arg == "--" or not arg.startswith("-") or arg in ("-m", "-c"):
            return False
        if arg == "--python" or arg.startswith("--python="):
            return True
    return False


def main(args=None):
    args = sys.argv[1:] if args is None else list(args)
    launcher = os.path.normpath(_build_info.LAUNCHER)
    if not os.access(launcher, os.X_OK):
        sys.exit("calltree: cannot run %s, the calltree program this package was installed with" % launcher)
    if args[:1] != ["convert"] and not _names_python(args) and sys.executable:
        args = ["--python", sys.executable] + args
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(launcher, ["calltree"] + args)


if __name__ == "__main__":
    main()
