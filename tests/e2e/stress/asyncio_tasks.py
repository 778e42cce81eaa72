"""asyncio tasks created, awaited, cancelled; async generators; exceptions through awaits."""
import asyncio
import sys


async def work(n):
    total = 0
    for i in range(n):
        total += i
        if i % 50 == 0:
            await asyncio.sleep(0)
    return total


async def agen(n):
    for i in range(n):
        yield i
        await asyncio.sleep(0)


async def fails():
    await asyncio.sleep(0)
    raise KeyError("x")


async def main(rounds):
    total = 0
    for r in range(rounds):
        results = await asyncio.gather(*(work(200 + i) for i in range(20)))
        total += sum(results)
        async for v in agen(20):
            total += v
        t = asyncio.ensure_future(work(10_000))
        await asyncio.sleep(0)
        t.cancel()
        try:
            await t
        except asyncio.CancelledError:
            total += 1
        try:
            await fails()
        except KeyError:
            total += 1
    print(total)


asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 15))
