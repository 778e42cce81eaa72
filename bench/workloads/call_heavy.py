"""Call-heavy: recursion and many small method calls, the worst case for a deterministic profiler."""


class Vector:
    def __init__(self, x, y):
        self.x = x
        self.y = y

    def add(self, other):
        return Vector(self.x + other.x, self.y + other.y)

    def norm2(self):
        return self.x * self.x + self.y * self.y


def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)


def walk(steps):
    v = Vector(0, 0)
    step = Vector(1, 2)
    total = 0
    for _ in range(steps):
        v = v.add(step)
        total += v.norm2() % 7
    return total


fib(27)
walk(400_000)
