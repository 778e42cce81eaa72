"""Ground truth for LeakBytes of small objects (pymalloc's, under 512 bytes): churn() makes and
drops 20 lists of 50 000 short strings, keep() makes 200 000 that stay to the end. The true size
of what keep() keeps (sys.getsizeof of each string and of the list) is written to argv[1]."""
import json
import sys


def churn():
    for _ in range(20):
        tmp = [str(i) * 3 for i in range(50_000)]  # LINE churn
    return len(tmp)


def keep():
    return [str(i) * 3 for i in range(200_000)]  # LINE keep


kept = keep()
churn()
with open(sys.argv[1], "w") as f:
    json.dump({"keep": sum(map(sys.getsizeof, kept)) + sys.getsizeof(kept)}, f)
