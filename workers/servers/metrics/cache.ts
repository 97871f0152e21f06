// A read kept for a while and shared by concurrent scrapes, so that a scrape costs memory, not a query.
import { setTimeout as sleep } from 'node:timers/promises';

/** The latest value of a read; null while no read has ever succeeded. */
export interface CachedRead<T> {
  get(): Promise<T | null>;
}

export interface CacheOptions {
  /** A value younger than this is served as is: no read at all. */
  ttlMs: number;
  /** Once stale, how long a scrape waits for the new read before it serves the previous value. */
  waitMs: number;
  /** Monotonic milliseconds; injected by tests. */
  clock?: () => number;
  /** Told of every read's outcome and duration (the role's own metrics, its logs). */
  onRead?: (outcome: 'ok' | 'error', seconds: number, error?: Error) => void;
}

/**
 * Wraps a read: fresh values are served from memory; a stale one starts one read (never two at once) and
 * waits for it at most `waitMs`, so that a slow database makes figures late rather than scrapes slow.
 * The first scrape waits for the first read. A failed read keeps the previous value.
 */
export function cachedRead<T>(read: () => Promise<T>, options: CacheOptions): CachedRead<T> {
  const clock = options.clock ?? (() => performance.now());
  let current: { at: number; value: T } | null = null;
  let inflight: Promise<void> | null = null;

  const refresh = (): Promise<void> => {
    inflight ??= (async () => {
      const started = clock();
      try {
        const value = await read();
        current = { at: clock(), value };
        options.onRead?.('ok', (clock() - started) / 1000);
      } catch (error) {
        options.onRead?.('error', (clock() - started) / 1000, error as Error);
      } finally {
        inflight = null;
      }
    })();
    return inflight;
  };

  return {
    async get() {
      if (current && clock() - current.at < options.ttlMs) return current.value;
      const pending = refresh();
      if (!current) {
        await pending;
        return current ? (current as { value: T }).value : null;
      }
      const ac = new AbortController();
      await Promise.race([pending, sleep(options.waitMs, undefined, { signal: ac.signal }).catch(() => {})]);
      ac.abort();
      return current.value;
    },
  };
}
