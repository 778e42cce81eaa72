"""5000 distinct functions, each called a few times: checks the profiler's memory per function."""
source = "\n".join(f"def f{i}(x):\n    return x + {i}\n" for i in range(5000))
namespace = {}
exec(compile(source, "<generated>", "exec"), namespace)
functions = [namespace[f"f{i}"] for i in range(5000)]
total = 0
for _ in range(3):
    for fn in functions:
        total += fn(1)
print(total)
