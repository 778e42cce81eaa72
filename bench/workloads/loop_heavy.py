"""Loop-heavy: arithmetic in tight loops with few calls (~1 s under plain python3). Any
PyEval_SetProfile hook slows this down a little, because CPython 3.11 leaves its specialised
instructions while a profiler is set; the per-call cost of a profiler hardly matters here."""


def sieve(n):
    flags = bytearray([1]) * (n + 1)
    flags[0] = flags[1] = 0
    i = 2
    while i * i <= n:
        if flags[i]:
            for j in range(i * i, n + 1, i):
                flags[j] = 0
        i += 1
    return sum(flags)


def checksum(n):
    acc = 0
    for i in range(n):
        acc = (acc * 31 + i) & 0xFFFFFFFF
    return acc


def matmul(a, b):
    n, m, p = len(a), len(b), len(b[0])
    c = [[0.0] * p for _ in range(n)]
    for i in range(n):
        row, out = a[i], c[i]
        for k in range(m):
            aik, bk = row[k], b[k]
            for j in range(p):
                out[j] += aik * bk[j]
    return c


sieve(3_000_000)
checksum(9_000_000)
size = 160
identity = [[float(i == j) for j in range(size)] for i in range(size)]
matmul(identity, identity)
