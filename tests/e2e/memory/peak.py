"""Ground truth for PeakBytes: the footprint peaks inside build() (50 MB of small bytes objects
plus an 80 MiB bytearray), and is lower before and after. Run by python3 with argv[1], it
measures its own peak with tracemalloc (started first, so only what the program allocates
counts) and writes it there."""
import json
import sys

if len(sys.argv) > 1:
    import tracemalloc

    tracemalloc.start()


def build():
    small = [bytes(1000) for _ in range(50_000)]  # LINE small
    large = bytearray(80 * 1024 * 1024)  # LINE large
    return len(small) + len(large)


def later():
    scratch = bytearray(30 * 1024 * 1024)
    return len(scratch)


before = [bytes(100) for _ in range(10_000)]
build()
later()
if len(sys.argv) > 1:
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    with open(sys.argv[1], "w") as f:
        json.dump({"peak": peak}, f)
