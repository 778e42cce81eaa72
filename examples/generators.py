"""Generators (one call per resumption, as cProfile counts them), yield from, genexprs, itertools."""
import itertools


def countdown(n):
    while n > 0:
        yield n
        n -= 1


def chained(n):
    yield from countdown(n)
    yield from (i * i for i in range(n))


def pairs(n):
    return list(itertools.islice(itertools.combinations(countdown(n), 2), 50))


print(sum(chained(100)))
print(len(pairs(20)))
print(max(x for x in countdown(40) if x % 3))
