// The pino logger: JSON in production, pretty when a person is watching a terminal.
import pino, { type Logger } from 'pino';

export type { Logger };

/** Builds the root logger of a process; workers derive child loggers bound to their queue and job. */
export function createLogger(level: string, name = 'campaign'): Logger {
  const pretty = process.stdout.isTTY && process.env.NODE_ENV !== 'production';
  return pino({
    name,
    level,
    ...(pretty
      ? { transport: { target: 'pino-pretty', options: { colorize: true, ignore: 'pid,hostname' } } }
      : {}),
  });
}
