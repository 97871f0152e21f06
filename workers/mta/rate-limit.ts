// The MTA rate limit, shared by every dispatch replica through one Redis counter.
import { setTimeout as sleep } from 'node:timers/promises';
import { RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import type { RedisClient } from '../../shared/redis';

/** Waits until `count` more messages may be handed to the MTA. */
export interface RateLimiter {
  take(count: number): Promise<void>;
}

/**
 * A fixed one-second window of `perSecond` messages across replicas. A refused take still counts in its
 * window (that is how the library counts), which only ever errs on the side of sending less.
 */
export function redisRateLimiter(redis: RedisClient, prefix: string, perSecond: number): RateLimiter {
  const limiter = new RateLimiterRedis({
    storeClient: redis,
    keyPrefix: `${prefix}:mta-rate`,
    points: perSecond,
    duration: 1,
  });
  return {
    async take(count) {
      // Never ask for more than one window holds, or the take could never succeed.
      let remaining = count;
      while (remaining > 0) {
        const want = Math.min(remaining, perSecond);
        try {
          await limiter.consume('dispatch', want);
          remaining -= want;
        } catch (error) {
          if (!(error instanceof RateLimiterRes)) throw error;
          await sleep(Math.max(error.msBeforeNext, 5));
        }
      }
    },
  };
}
