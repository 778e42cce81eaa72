"""A deterministic CPU-bound program with a handful of hot lines, for the stability check. The
functions take turns every few milliseconds, so a change in the machine's load during the run
falls on all of them alike."""


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
    s = 0.0
    for i in range(n):
        s += i ** 0.5
    return s


for _ in range(1200):
    a(12_000)
    b(6_000)
    c(8_000)
