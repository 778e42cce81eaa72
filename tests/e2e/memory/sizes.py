"""Ground truth for AllocBytes and LeakBytes: a kept 200 MiB bytearray, a 100 MB numpy temporary
freed on its own line, 500k small str objects kept in a tuple. Each tested line allocates only
what it is named for; the program writes the true sizes (sys.getsizeof, which is what the
allocator was asked for) as JSON to the file named by argv[1]."""
import json
import operator
import sys

import numpy as np

N_STR = 500_000
big = "abcdefghij" * (N_STR // 10 + 8)
getter = operator.itemgetter(*[slice(i, i + 40) for i in range(N_STR)])


def temporary():
    return float(np.ones(12_500_000).sum())  # LINE temporary


keep = bytearray(200 * 1024 * 1024)  # LINE keep
total = temporary()
strs = getter(big)  # LINE strs

truth = {
    "keep": sys.getsizeof(keep),
    "temporary": 12_500_000 * 8,
    "strs": sys.getsizeof(strs) + sum(map(sys.getsizeof, strs)),
}
with open(sys.argv[1], "w") as f:
    json.dump(truth, f)
