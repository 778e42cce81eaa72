"""A deterministic CPU-bound program with a handful of hot lines, for the stability check."""


def a(n):
    s = 0
    for i in range(n):
        s += i * 3
    return s


def b(n):
    s = ""
    for i in range(n):
        s = str(i)
    return s


def c(n):
    return sorted(range(n, 0, -1))


for _ in range(3):
    a(600_000)
    b(300_000)
    c(400_000)
