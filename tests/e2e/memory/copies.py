"""Ground truth for CopyBytes: bytes(bytearray(50 MiB)) is one 50 MiB memcpy, ndarray.copy() of a
contiguous 8 MiB array one 8 MiB memmove, and np.array(list) converts element by element
without copying (checked with a counting shim; docs/memory.md, How exact it is)."""
import numpy as np

source = np.ones(1 << 20)  # 8 MiB
numbers = list(range(1 << 20))


def copy_bytes():
    return bytes(bytearray(50 * 1024 * 1024))  # LINE copy_bytes


def copy_array(a):
    return a.copy()  # LINE copy_array


def convert(values):
    return np.array(values)  # LINE convert


print(len(copy_bytes()), copy_array(source).nbytes, convert(numbers).nbytes)
