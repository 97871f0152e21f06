// cachedRead: fresh values cost no read, one read at a time, a slow or failed read serves the last value.
import { cachedRead } from './cache';

function source<T>() {
  let pending: { resolve: (v: T) => void; reject: (e: Error) => void } | null = null;
  const read = jest.fn(
    () =>
      new Promise<T>((resolve, reject) => {
        pending = { resolve, reject };
      }),
  );
  return {
    read,
    resolve: (v: T) => pending!.resolve(v),
    reject: (e: Error) => pending!.reject(e),
  };
}

test('the first get waits for the first read; a second get within the TTL reads nothing', async () => {
  let now = 0;
  const s = source<number>();
  const cache = cachedRead(s.read, { ttlMs: 5000, waitMs: 10, clock: () => now });
  const first = cache.get();
  s.resolve(1);
  expect(await first).toBe(1);
  now = 4999;
  expect(await cache.get()).toBe(1);
  expect(s.read).toHaveBeenCalledTimes(1);
});

test('concurrent gets share one read', async () => {
  const s = source<number>();
  const cache = cachedRead(s.read, { ttlMs: 5000, waitMs: 10, clock: () => 0 });
  const gets = [cache.get(), cache.get(), cache.get()];
  s.resolve(7);
  expect(await Promise.all(gets)).toEqual([7, 7, 7]);
  expect(s.read).toHaveBeenCalledTimes(1);
});

test('once stale, a get serves the new value when the read is quick', async () => {
  let now = 0;
  let value = 1;
  const read = jest.fn(async () => value);
  const cache = cachedRead(read, { ttlMs: 1000, waitMs: 60_000, clock: () => now });
  expect(await cache.get()).toBe(1);
  value = 2;
  now = 1000;
  expect(await cache.get()).toBe(2);
  expect(read).toHaveBeenCalledTimes(2);
});

test('once stale, a get does not wait for a slow read: it serves the previous value', async () => {
  let now = 0;
  const s = source<number>();
  const cache = cachedRead(s.read, { ttlMs: 1000, waitMs: 1, clock: () => now });
  const first = cache.get();
  s.resolve(1);
  await first;
  now = 2000;
  expect(await cache.get()).toBe(1); // the read is still running
  expect(await cache.get()).toBe(1);
  expect(s.read).toHaveBeenCalledTimes(2); // still the one read, not one per scrape
  s.resolve(2);
  await new Promise((r) => setImmediate(r));
  expect(await cache.get()).toBe(2);
});

test('a failed read keeps the previous value, reports the error, and the next get tries again', async () => {
  let now = 0;
  const outcomes: string[] = [];
  const s = source<number>();
  const cache = cachedRead(s.read, {
    ttlMs: 1000,
    waitMs: 60_000,
    clock: () => now,
    onRead: (outcome) => outcomes.push(outcome),
  });
  const first = cache.get();
  s.resolve(1);
  await first;
  now = 2000;
  const second = cache.get();
  s.reject(new Error('database down'));
  expect(await second).toBe(1);
  expect(outcomes).toEqual(['ok', 'error']);
  const third = cache.get();
  s.resolve(3);
  expect(await third).toBe(3);
});

test('without any successful read, a get answers null', async () => {
  const s = source<number>();
  const cache = cachedRead(s.read, { ttlMs: 1000, waitMs: 10, clock: () => 0 });
  const first = cache.get();
  s.reject(new Error('database down'));
  expect(await first).toBeNull();
});
