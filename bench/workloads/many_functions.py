"""A large function table for the peak-memory target: 5000 distinct functions in 50 generated
modules, about 10 000 caller->callee arcs, each function called a few times."""
MODULES = 50
PER_MODULE = 100  # 99 leaf callers and one helper per module
HELPER = PER_MODULE - 1


def module_source(m):
    lines = [f"def helper_{m}(x):\n    return x * 2\n"]
    lines += [f"def f_{m}_{i}(x):\n    return helper_{m}(x) + {i}\n" for i in range(HELPER)]
    lines.append(f"FUNCTIONS = [{', '.join(f'f_{m}_{i}' for i in range(HELPER))}]\n")
    return "\n".join(lines)


functions = []
for m in range(MODULES):
    namespace = {"__name__": f"generated_{m}"}
    exec(compile(module_source(m), f"<generated_{m}>", "exec"), namespace)
    functions += namespace["FUNCTIONS"]

total = 0
for _ in range(3):
    for fn in functions:
        total += fn(1)
print(total)
