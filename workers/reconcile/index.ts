// The reconciler: a plain timer in every process that puts back the jobs Redis lost, read from PostgreSQL.
import type { JobsOptions, Queue } from 'bullmq';
import type { Logger } from '../../shared/logger';
import { reconciledJobsTotal } from '../../shared/metrics';
import type { RedisClient } from '../../shared/redis';

/** A job PostgreSQL says should exist now, under the id its original producer gives it. */
export interface ExpectedJob {
  name: string;
  data: unknown;
  opts: JobsOptions & { jobId: string };
}

/** One kind of pending work: the queue it lives on and how to read from the database what must be queued. */
export interface ReconcileKind {
  /** The `kind` label of campaign_reconciled_jobs_total. */
  kind: string;
  queue: Queue;
  expected(now: Date): Promise<ExpectedJob[]>;
}

/** A repeating job (a BullMQ job scheduler) a role upserts at start; re-upserted when Redis lost it. */
export interface ReconcileScheduler {
  queue: Queue;
  id: string;
  every: number;
  job: { name: string; data: unknown; opts: object };
}

/** What one pass put back, by kind (empty when Redis had lost nothing). */
export type ReconcileReport = Record<string, number>;

/** Ids among `jobIds` with no job hash in Redis: one pipelined round trip of EXISTS. */
async function missingIds(redis: RedisClient, queue: Queue, jobIds: string[]): Promise<Set<string>> {
  if (jobIds.length === 0) return new Set();
  const pipeline = redis.pipeline();
  for (const id of jobIds) pipeline.exists(queue.toKey(id));
  const replies = (await pipeline.exec()) ?? [];
  const missing = new Set<string>();
  replies.forEach(([error, found], i) => {
    if (error) throw error;
    if (found === 0) missing.add(jobIds[i]!);
  });
  return missing;
}

/**
 * One pass: every kind's expected jobs that Redis does not hold are added again, under the same ids. A
 * job that its producer adds meanwhile makes the add a no-op; a job re-added after it completed and was
 * removed finds its work done in the database (every handler's writes are conditional), so it does nothing.
 */
export async function reconcileOnce(
  deps: { redis: RedisClient; kinds: readonly ReconcileKind[]; schedulers: readonly ReconcileScheduler[] },
  now: Date,
): Promise<ReconcileReport> {
  const report: ReconcileReport = {};
  for (const kind of deps.kinds) {
    const expected = await kind.expected(now);
    const missing = await missingIds(
      deps.redis,
      kind.queue,
      expected.map((e) => e.opts.jobId),
    );
    const lost = expected.filter((e) => missing.has(e.opts.jobId));
    if (lost.length === 0) continue;
    await kind.queue.addBulk(lost);
    report[kind.kind] = (report[kind.kind] ?? 0) + lost.length;
  }
  for (const s of deps.schedulers) {
    if (await s.queue.getJobScheduler(s.id)) continue;
    await s.queue.upsertJobScheduler(s.id, { every: s.every }, s.job);
    report.scheduler = (report.scheduler ?? 0) + 1;
  }
  return report;
}

/** A running reconciler: `stop` clears the timer and waits for a pass in progress. */
export interface Reconciler {
  stop(): Promise<void>;
  /** Runs a pass now, after the one in progress; rejects with its error (the timer's passes log theirs). */
  runNow(): Promise<ReconcileReport>;
}

/**
 * Starts the timer: a pass at once (a process starting after a loss puts the work back), then every
 * `intervalMs`. Not a Redis job on purpose: a job scheduler would be lost with the jobs it should restore.
 */
export function startReconciler(deps: {
  redis: RedisClient;
  kinds: readonly ReconcileKind[];
  schedulers: readonly ReconcileScheduler[];
  intervalMs: number;
  log: Logger;
  now: () => Date;
}): Reconciler {
  const log = deps.log.child({ component: 'reconciler' });
  let running: Promise<unknown> | null = null;
  let lastFailureLog = 0;
  /** One pass, counted and logged; rejects when Redis or PostgreSQL cannot be read. */
  const pass = (): Promise<ReconcileReport> => {
    const attempt = reconcileOnce(deps, deps.now()).then((report) => {
      const total = Object.values(report).reduce((a, b) => a + b, 0);
      if (total > 0) {
        for (const [kind, n] of Object.entries(report)) reconciledJobsTotal.inc({ kind }, n);
        log.warn(
          { reconciled: report, total },
          'Redis had lost pending work (a restart without persistence, a failover or an eviction): re-enqueued it from PostgreSQL.',
        );
      }
      return report;
    });
    running = attempt.then(
      () => {},
      () => {},
    );
    running.finally(() => {
      running = null;
    });
    return attempt;
  };
  const tick = () => {
    if (running) return; // the previous pass is still at work: passes never overlap
    pass().catch((error: Error) => {
      // Redis or PostgreSQL is down: the next pass tries again; one line a minute is enough to be found.
      if (Date.now() - lastFailureLog > 60_000) {
        lastFailureLog = Date.now();
        log.warn({ err: error.message }, 'Could not reconcile the queues with PostgreSQL; trying again.');
      }
    });
  };
  if (deps.kinds.length === 0 && deps.schedulers.length === 0) {
    return { stop: async () => {}, runNow: async () => ({}) };
  }
  // Every kind's series exists from the start at 0, so that the alert's increase() sees the first loss.
  for (const kind of new Set([
    ...deps.kinds.map((k) => k.kind),
    ...(deps.schedulers.length ? ['scheduler'] : []),
  ]))
    reconciledJobsTotal.labels({ kind }).inc(0);
  tick();
  const timer = setInterval(tick, deps.intervalMs);
  return {
    // After the pass in progress, a fresh one (it reads the database as it is now); its error is thrown.
    runNow: async () => {
      while (running) await running;
      return pass();
    },
    stop: async () => {
      clearInterval(timer);
      await running;
    },
  };
}
