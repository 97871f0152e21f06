// The feedback-http role: its own producer connection and queues, and the HTTP receiver on FEEDBACK_PORT.
import { Queue } from 'bullmq';
import { feedbackQueue, trackingQueue } from '../../../shared/queues';
import { createServerProducerConnection } from '../../../shared/redis';
import type { RoleDeps, RunningRole } from '../../start/role-kit';
import { type FeedbackServer, startFeedbackServer } from './server';

/** Starts the receiver; `ready` resolves once it listens, `httpPort` then names its port. */
export function startFeedbackHttpRole(deps: RoleDeps): RunningRole {
  // A request while Redis is away gets a 503 and the provider retries.
  const redis = createServerProducerConnection(deps.config.REDIS_URL);
  const options = { connection: redis, prefix: deps.config.QUEUE_PREFIX };
  const feedback = new Queue(feedbackQueue.name, options);
  const tracking = new Queue(trackingQueue.name, options);
  let server: FeedbackServer | null = null;
  const ready = startFeedbackServer({
    config: deps.config,
    log: deps.log.child({ role: 'feedback-http' }),
    sql: deps.sql,
    feedbackQueue: feedback,
    trackingQueue: tracking,
  }).then(
    (s) => {
      server = s;
      deps.log.info({ port: s.port() }, 'Feedback receiver listening.');
    },
    (error: Error & { code?: string }) => {
      throw error.code === 'EADDRINUSE'
        ? new Error(
            `FEEDBACK_PORT ${deps.config.FEEDBACK_PORT} is already in use; set FEEDBACK_PORT to a free port`,
          )
        : error;
    },
  );
  return {
    workers: [],
    ready,
    httpPort: () => server?.port() ?? null,
    close: async () => {
      await ready.catch(() => {});
      await server?.close();
      await Promise.all([feedback.close(), tracking.close()]);
      redis.disconnect();
    },
  };
}
