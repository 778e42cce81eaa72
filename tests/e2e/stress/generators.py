"""Generators and coroutines created, resumed, closed and freed mid-iteration; exceptions
unwinding through generators; generator expressions inside recursion."""
import sys


def counter(n):
    try:
        for i in range(n):
            yield i
    finally:
        pass


def failing(n):
    for i in range(n):
        if i == n - 1:
            raise ValueError(i)
        yield i


def nested(depth):
    if depth == 0:
        yield from counter(3)
        return
    yield from nested(depth - 1)
    yield sum(x for x in counter(depth))


async def leaf(n):
    return n


async def chain(depth):
    if depth == 0:
        return await leaf(1)
    return 1 + await chain(depth - 1)


def drive(coro):
    try:
        coro.send(None)
    except StopIteration as stop:
        return stop.value


def main(rounds):
    total = 0
    for r in range(rounds):
        g = counter(100)
        total += next(g) + next(g)
        g.close()  # closed mid-iteration
        del g
        h = counter(50)
        total += next(h)
        del h  # freed mid-iteration (finally runs in the dealloc)
        try:
            total += sum(failing(20))
        except ValueError as e:
            total += e.args[0]
        total += sum(nested(12))
        total += drive(chain(40))
        total += sum(sum(y for y in range(x)) for x in range(30))
    print(total)


main(int(sys.argv[1]) if len(sys.argv) > 1 else 150)
