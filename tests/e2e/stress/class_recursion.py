"""Deep recursion through class construction, super().__init__, generator expressions inside a
recursive builder and a recursive visitor with a comprehension per node: the shape that made
--sample fault in its stack reader (issue 14)."""
import sys


def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)


class Base:
    def __init__(self, value):
        self.value = value


class Node(Base):
    def __init__(self, value, children):
        super().__init__(value)
        self.children = children


def build(depth, k):
    if depth == 0:
        return Node(0, ())
    return Node(depth, tuple(build(depth - 1, k) for _ in range(k)))


def visit(node):
    return node.value + sum([visit(c) for c in node.children])


def main(rounds):
    total = 0
    for _ in range(rounds):
        total += fib(15)
        total += visit(build(7, 3))
    print(total)


main(int(sys.argv[1]) if len(sys.argv) > 1 else 40)
