"""Direct recursion: KCachegrind must not inflate inclusive times of recursive functions."""
import sys
import time


def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)


def factorial(n):
    return 1 if n <= 1 else n * factorial(n - 1)


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 18
    start = time.perf_counter()
    fib(n)
    elapsed = time.perf_counter() - start
    factorial(50)
    print(f"fib_seconds={elapsed:.6f}")
