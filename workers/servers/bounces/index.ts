// The bounces role: the bounce mailbox on BOUNCE_PORT, with its own producer connection to mta-feedback.
import { Queue } from 'bullmq';
import { feedbackQueue } from '../../../shared/queues';
import { createServerProducerConnection } from '../../../shared/redis';
import type { RoleDeps, RunningRole } from '../../start/role-kit';
import { type ImapReader, imapSettings, startImapReader } from './imap';
import { type BounceServer, startBounceServer } from './server';

/** Starts the mailbox; `ready` resolves once it listens, `smtpPort` then names its port. */
export function startBouncesRole(deps: RoleDeps): RunningRole {
  // A mail while Redis is away gets a 451 and its MTA tries again later.
  const redis = createServerProducerConnection(deps.config.REDIS_URL);
  const feedback = new Queue(feedbackQueue.name, { connection: redis, prefix: deps.config.QUEUE_PREFIX });
  let server: BounceServer | null = null;
  let imap: ImapReader | null = null;
  const log = deps.log.child({ role: 'bounces' });
  const imapUrl = deps.config.BOUNCE_IMAP_URL;
  const ready = startBounceServer({
    config: deps.config,
    log,
    sql: deps.sql,
    feedbackQueue: feedback,
  }).then(
    (s) => {
      server = s;
      deps.log.info({ port: s.port(), host: deps.config.BOUNCE_HOST }, 'Bounce mailbox listening.');
      // The IMAP mailbox, if any, is read beside the SMTP one, through the same receiveMail.
      if (imapUrl)
        imap = startImapReader({
          settings: imapSettings({ ...deps.config, BOUNCE_IMAP_URL: imapUrl }),
          log: log.child({ source: 'imap' }),
          sql: deps.sql,
          feedbackQueue: feedback,
          maxSize: deps.config.BOUNCE_MAX_SIZE,
        });
    },
    (error: Error & { code?: string }) => {
      throw error.code === 'EADDRINUSE' || error.code === 'EACCES'
        ? new Error(
            `BOUNCE_PORT ${deps.config.BOUNCE_PORT} on ${deps.config.BOUNCE_HOST} cannot be bound (${error.code}); set BOUNCE_PORT to a free port`,
          )
        : error.code === 'EADDRNOTAVAIL'
          ? new Error(`BOUNCE_HOST ${deps.config.BOUNCE_HOST} is no address of this machine; set BOUNCE_HOST`)
          : error;
    },
  );
  return {
    workers: [],
    ready,
    smtpPort: () => server?.port() ?? null,
    readiness: () => ({
      bounces: server?.state() ?? 'not listening',
      ...(imapUrl ? { bouncesImap: imap?.state() ?? 'not started' } : {}),
    }),
    close: async () => {
      await ready.catch(() => {});
      await Promise.all([server?.close(), imap?.close()]);
      await feedback.close();
      redis.disconnect();
    },
  };
}
