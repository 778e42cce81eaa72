"""Exceptions raised deep, caught high, re-raised, with finally blocks, and SystemExit from deep."""
import sys


class AppError(Exception):
    pass


def deep(n):
    if n == 0:
        raise AppError("bottom")
    try:
        deep(n - 1)
    finally:
        cleanup()


def cleanup():
    return None


def catch_many():
    caught = 0
    for _ in range(20):
        try:
            deep(15)
        except AppError:
            caught += 1
    return caught


def reraiser():
    try:
        deep(3)
    except AppError as e:
        raise RuntimeError("wrapped") from e


def exit_deep(n):
    if n == 0:
        sys.exit(0)
    exit_deep(n - 1)


def main():
    print(catch_many())
    try:
        reraiser()
    except RuntimeError:
        print("wrapped")
    exit_deep(10)


# The SystemExit raised 11 frames down unwinds all of them before it is caught here.
try:
    main()
except SystemExit as e:
    print("exit status", e.code)
