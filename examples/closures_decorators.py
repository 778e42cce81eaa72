"""Closures, decorators with functools.wraps, lambdas: same-named inner functions stay distinct."""
import functools


def counted(fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        wrapper.calls += 1
        return fn(*args, **kwargs)

    wrapper.calls = 0
    return wrapper


def make_adder(n):
    def add(x):
        return x + n

    return add


@counted
def double(x):
    return 2 * x


@counted
def triple(x):
    return 3 * x


adders = [make_adder(i) for i in range(10)]
print(sum(a(1) for a in adders))
print(sum(double(i) + triple(i) for i in range(100)), double.calls, triple.calls)
by_len = sorted(["ccc", "a", "bb"], key=lambda s: len(s))
by_last = sorted(["xa", "yc", "zb"], key=lambda s: s[-1])
print(by_len, by_last)
