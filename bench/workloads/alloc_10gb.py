"""10 GB allocated in all (mixed sizes, from small objects to 1 MiB buffers, from many call
sites), little of it live at once: for measuring the memory hooks' own tables (memory_bench.py
--tables). Not in the default workload lists; ~1 s under plain python3 (most of the bytes are
1 MiB buffers, calloc'ed and never touched)."""


def small(n):
    return [(i, str(i)) for i in range(n)]


def medium(n):
    return [bytearray(4096 + i % 4096) for i in range(n)]


def large(n):
    total = 0
    for i in range(n):
        total += len(bytes(1 << 20))
    return total


def level(depth, fn, n):
    if depth == 0:
        return fn(n)
    return level(depth - 1, fn, n)


allocated = 0
rounds = 0
while allocated < 10 * 10**9:
    for depth in range(8):
        level(depth, small, 20_000)          # ~2.5 MB of tuples, ints, str
        level(depth, medium, 500)            # ~3 MB of buffers
        level(depth, large, 40)              # 40 MiB
        allocated += 2_500_000 + 3_000_000 + 40 * (1 << 20)
    rounds += 1
print(rounds, allocated)
