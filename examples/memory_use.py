"""Memory for --memory: a cache that is never emptied (LeakBytes), a large table built and
dropped (PeakBytes, AllocBytes) and copies of a buffer (CopyBytes)."""
cache = []


def remember(key):
    cache.append(("record %d " % key).encode() * 40)  # kept until the end: a leak


def fill_cache(count):
    for key in range(count):
        remember(key)


def build_table(rows):
    table = [[row * col for col in range(100)] for row in range(rows)]  # the footprint's peak
    return sum(map(sum, table))


def snapshots(buffer, count):
    return [bytes(buffer) for _ in range(count)]  # each one a copy of the whole buffer


def main():
    fill_cache(20_000)
    build_table(20_000)
    buffer = bytearray(4 * 1024 * 1024)
    copies = snapshots(buffer, 8)
    print(len(cache), "records cached,", len(copies), "snapshots")


if __name__ == "__main__":
    main()
