"""List, dict and set comprehensions, the same list built with a loop, and sorting with a key."""


def key(item):
    return item[1], item[0]


def squares_loop(n):
    out = []
    for i in range(n):
        out.append(i * i)
    return out


words = [f"w{i % 37}" for i in range(2000)]
lengths = {w: len(w) for w in words}
unique = {w for w in words if w.endswith("1")}
ranked = sorted(lengths.items(), key=key)
assert squares_loop(500) == [i * i for i in range(500)]
print(len(lengths), len(unique), ranked[:3])
