"""Ground truth for LeakBytes: 300 bytes objects of 100 KiB appended to a list that is never
freed. The true size of each is sys.getsizeof (header + data), written to argv[1]."""
import json
import sys

leaked = []


def grow():
    for _ in range(300):
        leaked.append(bytes(100 * 1024))  # LINE append


grow()
with open(sys.argv[1], "w") as f:
    json.dump({"append": sum(map(sys.getsizeof, leaked))}, f)
