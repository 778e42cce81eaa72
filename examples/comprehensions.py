"""List, dict and set comprehensions and sorting with a key function."""


def key(item):
    return item[1], item[0]


words = [f"w{i % 37}" for i in range(2000)]
lengths = {w: len(w) for w in words}
unique = {w for w in words if w.endswith("1")}
ranked = sorted(lengths.items(), key=key)
print(len(lengths), len(unique), ranked[:3])
