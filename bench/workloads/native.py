"""Native-heavy (~1 s under plain python3): time spent in C called from Python: numpy matrix
products and sorts, a regex over a large text, sorted() of a big list. A sampler must add almost
nothing here: no per-call hook runs, and the samples land in native code."""
import re

import numpy as np

rng = np.random.default_rng(0)
a = rng.random((500, 500))
b = rng.random((500, 500))
for _ in range(12):
    c = a @ b
x = rng.random(2_000_000)
for _ in range(4):
    np.sort(x)
text = "lorem ipsum dolor sit amet, " * 200_000
for _ in range(6):
    len(re.findall(r"\b\w+m\b", text))
values = [(i * 7919) % 1_000_003 for i in range(600_000)]
for _ in range(4):
    sorted(values)
