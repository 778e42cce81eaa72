#!/usr/bin/python3
"""Synthetic cProfile-style .prof files of several shapes (deterministic), for convert_bench.py.

  make_prof_shapes.py DIR [SHAPE...]     writes DIR/SHAPE.prof (all shapes by default)

Shapes (functions / files / callers per function):
  project       the original synthetic file: 20 200 / 1 000 / ~6 random arcs, unshared strings
  many-files    30 000 / 1 000 files in 100 packages / 5 (the shape issue 10 found slow)
  few-files     30 000 / 10 / 5
  long-names    30 000 / 1 000 / 5, site-packages paths of ~110 characters, ~50-character names
  many-callers  5 000 / 100 / 30
  few-callers   60 000 / 2 000 / 2
  recursive     30 000 / 1 000 / 5, a third call themselves, the rest call each other in pairs
  sources       as many-files, with the source files written under DIR/src (real call sites)

Like cProfile's output (except `project`): a caller's key is one tuple referenced from every
callers dict it appears in (not the tuple keying its own entry), a file name one string per file
and a function name one string per function, so marshal writes back-references to them.
"""
import marshal
import os
import random
import sys

SHAPES = {
    # name: (functions, files, packages, callers, long names, recursion, sources on disk)
    "many-files": (30_000, 1_000, 100, 5, False, False, False),
    "few-files": (30_000, 10, 2, 5, False, False, False),
    "long-names": (30_000, 1_000, 100, 5, True, False, False),
    "many-callers": (5_000, 100, 10, 30, False, False, False),
    "few-callers": (60_000, 2_000, 100, 2, False, False, False),
    "recursive": (30_000, 1_000, 100, 5, False, True, False),
    "sources": (30_000, 1_000, 100, 5, False, False, True),
}
ALL = ["project", *SHAPES]
BUILTINS = 200


def project(out):
    """The file bench/make_big_prof.py wrote (issue 3's benchmark), byte for byte."""
    n_functions, n_arcs = 20_000, 120_000
    rng = random.Random(42)
    keys = [(f"/src/pkg{i % 200}/module{i % 1000}.py", 1 + (i * 7) % 3000, f"func_{i}") for i in range(n_functions)]
    keys += [("~", 0, f"<built-in method mod{i}.call>") for i in range(BUILTINS)]
    stats = {}
    for key in keys:
        nc = rng.randint(1, 10_000)
        tt = rng.random() / 100
        stats[key] = [nc, nc, tt, tt + rng.random() / 10, {}]
    for _ in range(n_arcs):
        caller, callee = rng.choice(keys), rng.choice(keys)
        calls = rng.randint(1, 500)
        stats[callee][4][caller] = (calls, calls, rng.random() / 1000, rng.random() / 100)
    with open(out, "wb") as f:
        marshal.dump({k: tuple(v) for k, v in stats.items()}, f)


def shaped(out, shape, src_dir):
    n_functions, n_files, n_packages, n_callers, long_names, recursion, sources = SHAPES[shape]
    rng = random.Random(shape)
    if sources:
        root = os.path.abspath(src_dir)
    elif long_names:
        root = "/home/developer/.virtualenvs/analytics-service-env/lib/python3.11/site-packages/vendorlib"
    else:
        root = "/src"
    files = []
    for f in range(n_files):
        package = f"pkg{f % n_packages}" if not long_names else f"subsystem_{f % n_packages}/components/internal"
        module = f"mod{f}" if not long_names else f"implementation_module_{f}"
        files.append(f"{root}/{package}/{module}.py")
    file_of = [rng.randrange(n_files) for _ in range(n_functions)]
    names = [f"f{i}" if not long_names else f"handle_request_for_resource_{i}_with_validation" for i in range(n_functions)]
    builtins = [f"<built-in method mod{i}.call>" for i in range(BUILTINS)]
    # Callers of each function: random others; recursion adds the function itself (a third of
    # them) or its partner in a mutually recursive pair.
    callers = []
    for i in range(n_functions):
        chosen = set()
        while len(chosen) < n_callers:
            c = rng.randrange(n_functions)
            if c != i:
                chosen.add(c)
        if recursion:
            chosen.add(i if i % 3 == 0 else i - 1 if i % 3 == 2 else i + 1)
        callers.append(sorted(chosen))
    builtin_callers = [sorted(rng.sample(range(n_functions), 50)) for _ in builtins]
    callees = [[] for _ in range(n_functions)]
    for i, cs in enumerate(callers):
        for c in cs:
            callees[c].append(names[i])
    for b, cs in enumerate(builtin_callers):
        for c in cs:
            callees[c].append("call")
    # Functions of a file one after another, each body calling its callees one per line.
    lines = [0] * n_functions
    by_file = [[] for _ in range(n_files)]
    for i, f in enumerate(file_of):
        by_file[f].append(i)
    for f, functions in enumerate(by_file):
        text = []
        for i in functions:
            lines[i] = len(text) + 1
            text.append(f"def {names[i]}(x):")
            text += [f"    x = {callee}(x)" for callee in callees[i]] or ["    pass"]
            text.append("")
        if sources:
            os.makedirs(os.path.dirname(files[f]), exist_ok=True)
            with open(files[f], "w") as fh:
                fh.write("\n".join(text) + "\n")
    file_strings = [sys.intern(f) for f in files]  # one object per file, as co_filename is
    keys = [(file_strings[file_of[i]], lines[i], names[i]) for i in range(n_functions)]
    builtin_keys = [("~", 0, b) for b in builtins]
    caller_keys = [(file, line, name) for file, line, name in keys]  # cProfile's second label()

    def entry(key_callers, own_primitive):
        nc = rng.randint(1, 10_000)
        cc = nc if own_primitive else max(1, nc // 3)
        tt = rng.random() / 100
        arcs = {}
        for c, is_self in key_callers:
            calls = rng.randint(1, 500)
            arcs[c] = (calls, calls if not is_self else 0, rng.random() / 1000, rng.random() / 100)
        return (cc, nc, tt, tt + rng.random() / 10, arcs)

    stats = {}
    for i in range(n_functions):
        stats[keys[i]] = entry([(caller_keys[c], c == i) for c in callers[i]], not recursion)
    for b, key in enumerate(builtin_keys):
        stats[key] = entry([(caller_keys[c], False) for c in builtin_callers[b]], True)
    with open(out, "wb") as f:
        marshal.dump(stats, f)


def make(shape, directory):
    """Writes DIR/SHAPE.prof (and, for `sources`, its sources) and returns the .prof's path."""
    out = os.path.join(directory, f"{shape}.prof")
    if shape == "project":
        project(out)
    else:
        shaped(out, shape, os.path.join(directory, "src"))
    return out


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    directory = sys.argv[1]
    os.makedirs(directory, exist_ok=True)
    for shape in sys.argv[2:] or ALL:
        if shape not in ALL:
            sys.exit(f"make_prof_shapes: unknown shape {shape!r} (known: {', '.join(ALL)})")
        out = make(shape, directory)
        print(f"{out}: {os.path.getsize(out) / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
