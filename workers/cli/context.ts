// What a CLI command runs with: configuration, a lazily opened database and Redis, and output helpers.
import { userInfo } from 'node:os';
import type postgres from 'postgres';
import { type Database, openDatabase } from '../../db/client';
import { prepareDatabase } from '../../db/migrate';
import { type Config, ConfigError, loadConfig } from '../../shared/config';
import { connected, createProducerConnection, type RedisClient } from '../../shared/redis';
import { isConnectionError, ServiceUnavailable } from '../../shared/services';

/** A refusal the user can act on: printed as one line, exit code 1, never a stack trace. */
export class UserError extends Error {
  override name = 'UserError';
}

/**
 * Who an audited command acts as: `cli:` and the OS user running it (the console's rows name an operator's
 * login; a login never holds a colon). A user with no passwd entry (some containers) is named by its uid.
 */
export function cliActor(): string {
  try {
    return `cli:${userInfo().username}`;
  } catch {
    return `cli:uid-${process.getuid?.() ?? 'unknown'}`;
  }
}

/** Resources a command may use; each opens on first use and all close in `close()`. */
export class CliContext {
  private database?: Database;
  private redis?: RedisClient;
  readonly config: Config;

  constructor(env: Record<string, string | undefined>) {
    this.config = loadConfig(env);
  }

  /** The database, created and migrated on first use like every process does. */
  async sql(): Promise<postgres.Sql> {
    if (!this.database) {
      try {
        await prepareDatabase(this.config.DATABASE_URL);
      } catch (error) {
        if (isConnectionError(error))
          throw new ServiceUnavailable('PostgreSQL', this.config.DATABASE_URL, error);
        throw error;
      }
      this.database = openDatabase(this.config.DATABASE_URL, { max: 4 });
    }
    return this.database.sql;
  }

  async redisConnection(): Promise<RedisClient> {
    if (!this.redis) {
      const redis = createProducerConnection(this.config.REDIS_URL);
      redis.on('error', () => {}); // Reported by the command that needed it.
      try {
        await connected(redis);
      } catch (error) {
        redis.disconnect();
        throw new ServiceUnavailable('Redis', this.config.REDIS_URL, error);
      }
      this.redis = redis;
    }
    return this.redis;
  }

  async close(): Promise<void> {
    await this.database?.close();
    if (this.redis) await this.redis.quit().catch(() => this.redis?.disconnect());
  }
}

/** Prints a command's result: JSON for --json, else the human rendering. */
export function output(json: boolean | undefined, value: unknown, human: () => string): void {
  process.stdout.write(json ? `${JSON.stringify(value)}\n` : `${human()}\n`);
}

/** Maps any error to the one line the user sees. */
export function describeError(error: unknown): string {
  if (error instanceof ConfigError) return error.lines.join('\n');
  if (error instanceof UserError || error instanceof ServiceUnavailable) return error.message;
  if (isConnectionError(error)) return `a backing service is unreachable: ${(error as Error).message}`;
  const e = error as Error;
  return `${e.name ?? 'Error'}: ${e.message ?? String(error)}`;
}
