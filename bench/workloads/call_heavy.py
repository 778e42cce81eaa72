"""Call-heavy: recursion and many small method and builtin calls, the worst case for a
deterministic profiler (about 18 million calls; ~1 s under plain python3)."""


class Vector:
    __slots__ = ("x", "y")

    def __init__(self, x, y):
        self.x = x
        self.y = y

    def add(self, other):
        return Vector(self.x + other.x, self.y + other.y)

    def scale(self, k):
        return Vector(self.x * k, self.y * k)

    def norm2(self):
        return self.x * self.x + self.y * self.y


class Particle:
    def __init__(self, vx, vy):
        self.pos = Vector(0, 0)
        self.vel = Vector(vx, vy)

    @property
    def speed2(self):
        return self.vel.norm2()

    def step(self, dt):
        self.pos = self.pos.add(self.vel.scale(dt))
        if abs(self.pos.x) > 1000:  # a builtin call per step, as real code is full of them
            self.pos = Vector(0, 0)


def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)


def is_even(n):
    return True if n == 0 else is_odd(n - 1)


def is_odd(n):
    return False if n == 0 else is_even(n - 1)


def simulate(particles, steps):
    trace = []
    for _ in range(steps):
        for p in particles:
            p.step(1)
        trace.append(max(p.speed2 for p in particles))
    return len(trace)


def parity(limit):
    # Mutual recursion 200 frames deep, repeated: deep shadow stacks.
    return sum(1 for n in range(limit) if is_even(200 + n % 7))


fib(31)
simulate([Particle(i, -i) for i in range(20)], 50_000)
parity(20_000)
