"""Allocation-heavy: small objects (dicts, lists, str) built and dropped in bulk, medium buffers
copied, a few large numpy temporaries and a kept cache: the worst case for the memory hooks
(~1.5 GB allocated, ~1 s under plain python3)."""
import numpy as np


def records(n):
    return [{"id": i, "name": f"item{i}", "tags": [i, i + 1]} for i in range(n)]


def churn():
    total = 0
    for _ in range(12):
        recs = records(25_000)
        total += sum(len(r["name"]) for r in recs)
    return total


def strings():
    parts = [str(i) * 3 for i in range(300_000)]
    joined = ",".join(parts)
    return len(joined.split(","))


def buffers():
    total = 0
    for i in range(3_000):
        b = bytearray(64 * 1024)
        total += len(bytes(b))
    return total


def arrays():
    total = 0.0
    for i in range(40):
        a = np.arange(1_000_000, dtype=np.float64)
        total += float((a * 2.0 + 1.0).sum())
    return total


cache = []


def keep():
    for i in range(2_000):
        cache.append(bytes(10_000))


if __name__ == "__main__":
    print(churn(), strings(), buffers(), arrays())
    keep()
