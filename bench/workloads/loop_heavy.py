"""Loop-heavy: arithmetic in tight loops with few calls; a profiler should cost almost nothing here."""


def sieve(n):
    flags = bytearray([1]) * (n + 1)
    flags[0] = flags[1] = 0
    i = 2
    while i * i <= n:
        if flags[i]:
            for j in range(i * i, n + 1, i):
                flags[j] = 0
        i += 1
    return sum(flags)


def checksum(n):
    acc = 0
    for i in range(n):
        acc = (acc * 31 + i) & 0xFFFFFFFF
    return acc


sieve(1_500_000)
checksum(1_500_000)
