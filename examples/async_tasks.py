"""asyncio: tasks, gather and sleep(0); every coroutine resumption is a call and a return."""
import asyncio


async def fetch(i):
    await asyncio.sleep(0)
    return i * 2


async def worker(i):
    a = await fetch(i)
    b = await fetch(i + 1)
    return a + b


async def main():
    tasks = [asyncio.create_task(worker(i)) for i in range(20)]
    results = await asyncio.gather(*tasks)
    print(sum(results))


asyncio.run(main())
