"""Worker threads started through threading: each thread's calls are profiled."""
import threading


def square(x):
    return x * x


def work(n, results, index):
    results[index] = sum(square(i) for i in range(n))


results = [0] * 4
threads = [threading.Thread(target=work, args=(2000, results, i)) for i in range(4)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(sum(results))
