// What every role is built from: its dependencies, the producer queues, worker options, one close path.
import { Queue, type Worker } from 'bullmq';
import type postgres from 'postgres';
import type { Registry } from 'prom-client';
import type { Config } from '../../shared/config';
import type { Logger } from '../../shared/logger';
import {
  dispatchQueue,
  finalizeQueue,
  type QueueDeclaration,
  retryQueue,
  startQueue,
} from '../../shared/queues';
import type { RedisClient } from '../../shared/redis';
import type { WorkerDeps } from '../../shared/worker';
import { createDispatchPlanner } from '../dispatch/plan';
import { redisRateLimiter } from '../mta/rate-limit';
import { smtpTransport } from '../mta/smtp-pool';
import type { MtaTransport } from '../mta/transport';
import type { ReconcileKind, ReconcileScheduler } from '../reconcile';
import { raceGraceMs } from '../reconcile/kinds';

/** What every role is built from. */
export interface RoleDeps {
  config: Config;
  log: Logger;
  sql: postgres.Sql;
  redis: RedisClient;
  now: () => Date;
  /** Replaces the SMTP transport (benchmarks drop messages instead). */
  transport?: MtaTransport;
}

/** A role as its folder exports it: the queues it handles, and how it starts. */
export interface RoleModule {
  queues: readonly QueueDeclaration[];
  start(kit: RoleKit): RunningRole;
}

/** A started role: its workers, and what else it must close on shutdown. */
export interface RunningRole {
  workers: { queue: QueueDeclaration; worker: Worker }[];
  close(): Promise<void>;
  /** Metrics the role exports besides the process's own (the metrics role's shared figures). */
  registry?: Registry;
  /** A role that serves HTTP: resolves once it listens. */
  ready?: Promise<void>;
  /** The port it listens on, once ready. */
  httpPort?: () => number | null;
  /** The operator console's port, once ready. */
  consolePort?: () => number | null;
  /** A role that serves SMTP (the bounce mailbox): its port, once ready. */
  smtpPort?: () => number | null;
  /** What the role adds to /readyz: each check `ok`, or why not. */
  readiness?: () => Record<string, string>;
  /** The pending work of this role's queues that the process's reconciler restores when Redis lost it. */
  reconcile?: { kinds: ReconcileKind[]; schedulers: ReconcileScheduler[] };
}

/** The pieces a role's `index.ts` assembles its workers from. */
export interface RoleKit {
  deps: RoleDeps;
  /** What `startWorker` needs. */
  base: WorkerDeps;
  /** Worker options every role shares. */
  opts: { lockDuration: number; stalledInterval: number };
  /** The internal queues a role enqueues on. */
  q: { start: Queue; dispatch: Queue; finalize: Queue; retry: Queue };
  /** A queue of this process's prefix, opened once and closed with the role. */
  queue(name: string): Queue;
  planner(): ReturnType<typeof createDispatchPlanner>;
  /** The MTA side shared by first attempts and retries: the transport and the rate limit across replicas. */
  mta(): { transport: MtaTransport; rateLimiter: ReturnType<typeof redisRateLimiter> | null };
  /** Upserts a repeating job: every replica upserts the same scheduler, so it runs once per interval. */
  every(queue: Queue, id: string, ms: number, job: { name: string; data: unknown; opts: object }): void;
  /** How old pending work must be before the reconciler counts its missing job as lost (kinds.ts). */
  grace: number;
  /** Declares pending work of this role's queues that the reconciler reads from PostgreSQL. */
  reconcile(...kinds: ReconcileKind[]): void;
  /** The running role: workers close first (finishing their jobs), then queues and `after`. */
  running(workers: RunningRole['workers'], after?: () => Promise<unknown>): RunningRole;
}

export function createRoleKit(deps: RoleDeps): RoleKit {
  const options = { connection: deps.redis, prefix: deps.config.QUEUE_PREFIX };
  // Opened on first use, once each, and closed with the role: a role that enqueues nothing opens nothing.
  const opened = new Map<string, Queue>();
  const queue = (name: string) => {
    let open = opened.get(name);
    if (!open) {
      open = new Queue(name, options);
      // The shared connection's own listener (process.ts) reports Redis errors, once every 30 s; without
      // one here, BullMQ prints each reconnection attempt of every queue to stderr.
      open.on('error', () => {});
      opened.set(name, open);
    }
    return open;
  };
  const reconcile = { kinds: [] as ReconcileKind[], schedulers: [] as ReconcileScheduler[] };
  const q = {
    get start() {
      return queue(startQueue.name);
    },
    get dispatch() {
      return queue(dispatchQueue.name);
    },
    get finalize() {
      return queue(finalizeQueue.name);
    },
    get retry() {
      return queue(retryQueue.name);
    },
  };
  return {
    deps,
    base: { connection: deps.redis, prefix: deps.config.QUEUE_PREFIX, sql: deps.sql, log: deps.log },
    // A killed worker's jobs are found by the stalled-job check: check as often as a lock can expire.
    opts: {
      lockDuration: deps.config.WORKER_LOCK_DURATION,
      stalledInterval: deps.config.WORKER_LOCK_DURATION,
    },
    q,
    queue,
    planner: () =>
      createDispatchPlanner({
        sql: deps.sql,
        startQueue: q.start,
        dispatchQueue: q.dispatch,
        finalizeQueue: q.finalize,
        batchSize: deps.config.DISPATCH_BATCH_SIZE,
        now: deps.now,
      }),
    mta() {
      const transport =
        deps.transport ?? smtpTransport(deps.config.MTA_URL, { poolSize: deps.config.SMTP_POOL_SIZE });
      const rateLimiter =
        deps.config.DISPATCH_RATE_LIMIT > 0
          ? redisRateLimiter(deps.redis, deps.config.QUEUE_PREFIX, deps.config.DISPATCH_RATE_LIMIT)
          : null;
      return { transport, rateLimiter };
    },
    every(queue, id, ms, job) {
      reconcile.schedulers.push({ queue, id, every: ms, job });
      void queue
        .upsertJobScheduler(id, { every: ms }, job)
        .catch((error: Error) =>
          deps.log.warn(
            { err: error.message, scheduler: id },
            'Could not schedule a repeating job; tried again at the next start.',
          ),
        );
    },
    grace: raceGraceMs(deps.config.RECONCILE_INTERVAL),
    reconcile(...kinds) {
      reconcile.kinds.push(...kinds);
    },
    running: (workers, after = async () => {}) => ({
      workers,
      reconcile,
      close: async () => {
        await Promise.all(workers.map((w) => w.worker.close()));
        await Promise.all([...opened.values()].map((open) => open.close()));
        await after();
      },
    }),
  };
}
