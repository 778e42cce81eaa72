#!/usr/bin/python3
"""Writes a synthetic cProfile-style .prof with 20k functions and 100k+ caller arcs (deterministic):
make_big_prof.py OUT [FUNCTIONS] [ARCS]"""
import marshal
import random
import sys

out = sys.argv[1]
n_functions = int(sys.argv[2]) if len(sys.argv) > 2 else 20_000
n_arcs = int(sys.argv[3]) if len(sys.argv) > 3 else 120_000
rng = random.Random(42)
keys = [(f"/src/pkg{i % 200}/module{i % 1000}.py", 1 + (i * 7) % 3000, f"func_{i}") for i in range(n_functions)]
keys += [("~", 0, f"<built-in method mod{i}.call>") for i in range(200)]
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
print(f"{out}: {len(stats)} functions, {sum(len(v[4]) for v in stats.values())} arcs")
