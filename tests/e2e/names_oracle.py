"""What python3 itself says the functions of a program are called:
`python3 names_oracle.py OUT.json script.py args...`.

Runs the script under cProfile in every thread (cprofile_all_threads.py) and writes JSON with
  "stats":   [[file, first line, co_name]] for every function cProfile saw (C ones under "~"),
  "callers": [[caller file, C function name]] for every C function and each file that called it,
  "modules": {absolute file: module name} for every module loaded by the end of the run
             (the script itself is "__main__").
The test compares calltree's fn=/ob=/fl= with these, so it never trusts calltree's own naming.
"""
import json
import os
import sys

from cprofile_all_threads import profile_all_threads


def main():
    out, script = sys.argv[1], os.path.abspath(sys.argv[2])
    stats = profile_all_threads(script, sys.argv[3:]).stats
    modules = {}
    for name, module in list(sys.modules.items()):
        file = getattr(module, "__file__", None)
        if isinstance(file, str) and file.endswith(".py"):
            modules[os.path.abspath(file)] = name
    modules[script] = "__main__"
    keys = [list(key) for key in stats]
    callers = sorted({(c[0], key[2]) for key, v in stats.items() if key[0] == "~" for c in v[4]})
    with open(out, "w") as f:
        json.dump({"stats": keys, "callers": callers, "modules": modules}, f)


main()
