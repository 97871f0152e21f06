// The console role: its own fail-fast Redis connection (a click while Redis is away gets an error page, not a
// hang), the queues it produces on, and the fastify server on CONSOLE_PORT.
import type { FastifyInstance } from 'fastify';
import { consoleCsrfKey } from '../../../db/console-key';
import { createServerProducerConnection } from '../../../shared/redis';
import type { RoleDeps, RunningRole } from '../../start/role-kit';
import { consoleQueues } from './queues';
import { buildConsole } from './server';

export function startConsoleRole(deps: RoleDeps): RunningRole {
  const redis = createServerProducerConnection(deps.config.REDIS_URL);
  redis.on('error', () => {});
  const queues = consoleQueues(redis, deps.config.QUEUE_PREFIX);
  const log = deps.log.child({ role: 'console' });
  let app: FastifyInstance | null = null;
  const port = () => {
    const address = app?.server.address();
    return address && typeof address === 'object' ? address.port : null;
  };
  const ready = (async () => {
    const csrfKey = await consoleCsrfKey(deps.sql);
    app = await buildConsole({ ...deps, log, redis, queues, csrfKey });
    try {
      await app.listen({ port: deps.config.CONSOLE_PORT, host: deps.config.BIND_ADDRESS ?? '0.0.0.0' });
    } catch (error) {
      if ((error as { code?: string }).code === 'EADDRINUSE')
        throw new Error(
          `CONSOLE_PORT ${deps.config.CONSOLE_PORT} is already in use; set CONSOLE_PORT to a free port`,
        );
      throw error;
    }
    log.info({ port: port() }, 'Operator console listening on /console.');
  })();
  return {
    workers: [],
    ready,
    consolePort: port,
    close: async () => {
      await ready.catch(() => {});
      await app?.close();
      await queues.close();
      redis.disconnect();
    },
  };
}
