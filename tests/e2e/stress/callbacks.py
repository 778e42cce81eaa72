"""C calling back into Python: sorted(key=...), map, functools.reduce, __del__, weakref
callbacks, __eq__/__hash__ from dict operations, __getattr__ from getattr()."""
import functools
import sys
import weakref


class Key:
    def __init__(self, v):
        self.v = v

    def __hash__(self):
        return hash(self.v)

    def __eq__(self, other):
        return self.v == other.v

    def __lt__(self, other):
        return self.v < other.v

    def __getattr__(self, name):
        return len(name)

    def __del__(self):
        Key.deleted += 1


Key.deleted = 0


def key_of(x):
    return -x


def main(rounds):
    total = 0
    dead = []
    for r in range(rounds):
        total += sorted(range(200), key=key_of)[0]
        total += sum(map(lambda x: x * 2, range(200)))
        total += functools.reduce(lambda a, b: a + b, range(200))
        keys = [Key(i % 50) for i in range(200)]
        total += len(set(keys)) + len({k: 1 for k in keys})
        total += sum(getattr(k, "missing_attribute") for k in keys[:20])
        total += sorted(keys)[0].v
        refs = [weakref.ref(k, dead.append) for k in keys[:50]]
        del keys
        total += len(refs)
    print(total, Key.deleted, len(dead))


main(int(sys.argv[1]) if len(sys.argv) > 1 else 60)
