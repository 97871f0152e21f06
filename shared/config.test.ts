// loadConfig: docs/CONTRACT.md's defaults, and one readable line per bad variable.
import { ConfigError, loadConfig, redactUrl } from './config';

function configErrorLines(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).lines;
  }
  throw new Error(`loadConfig accepted ${JSON.stringify(env)}`);
}

describe('loadConfig', () => {
  it('uses the defaults of docs/CONTRACT.md when nothing is set', () => {
    expect(loadConfig({})).toMatchObject({
      REDIS_URL: 'redis://127.0.0.1:6379',
      DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/campaign',
      QUEUE_PREFIX: 'campaign',
      METRICS_PORT: 9464,
      MTA_URL: 'smtp://127.0.0.1:25',
      LOG_LEVEL: 'info',
    });
  });

  it('treats an empty variable as unset', () => {
    expect(loadConfig({ METRICS_PORT: '', REDIS_URL: '', QUEUE_PREFIX: '' })).toMatchObject({
      METRICS_PORT: 9464,
      REDIS_URL: 'redis://127.0.0.1:6379',
      QUEUE_PREFIX: 'campaign',
    });
  });

  it('ignores variables it does not know', () => {
    expect(() => loadConfig({ PATH: '/usr/bin', SOMETHING_ELSE: 'x y z' })).not.toThrow();
  });

  it('returns a frozen object', () => {
    expect(Object.isFrozen(loadConfig({}))).toBe(true);
  });

  it.each([
    ['REDIS_URL', 'rediss://cache.example:6380/2', 'rediss://cache.example:6380/2'],
    ['DATABASE_URL', 'postgresql://app:pw@db.example/campaign', 'postgresql://app:pw@db.example/campaign'],
    ['QUEUE_PREFIX', '{campaign}', '{campaign}'],
    ['QUEUE_PREFIX', 'test-1_a.b', 'test-1_a.b'],
    ['METRICS_PORT', '0', 0],
    ['METRICS_PORT', '65535', 65535],
    ['MTA_URL', 'smtps://mta.example:465', 'smtps://mta.example:465'],
    ['LOG_LEVEL', 'silent', 'silent'],
    ['SHUTDOWN_TIMEOUT', '45s', 45_000],
    ['WORKER_LOCK_DURATION', '1h30m', 5_400_000],
    ['AGGREGATION_SCHEDULE', '*/30 * * * * *', '*/30 * * * * *'],
  ])('accepts %s=%s', (variable, value, parsed) => {
    expect(loadConfig({ [variable]: value })[variable as keyof ReturnType<typeof loadConfig>]).toBe(parsed);
  });

  it.each([
    ['REDIS_URL', 'http://127.0.0.1:6379', 'redis://… or rediss://…'],
    ['REDIS_URL', 'not a url', 'redis://… or rediss://…'],
    ['DATABASE_URL', 'mysql://127.0.0.1/campaign', 'postgres://… or postgresql://…'],
    ['DATABASE_URL', '127.0.0.1:5432', 'postgres://… or postgresql://…'],
    ['METRICS_PORT', 'abc', 'an integer from 0 to 65535'],
    ['METRICS_PORT', '70000', 'an integer from 0 to 65535'],
    ['METRICS_PORT', '-1', 'an integer from 0 to 65535'],
    ['QUEUE_PREFIX', 'my queue', 'letters, digits, _ . - and { }'],
    ['MTA_URL', 'http://127.0.0.1:25', 'smtp://… or smtps://…'],
    ['LOG_LEVEL', 'loud', 'fatal, error, warn, info, debug, trace, silent'],
    ['SHUTDOWN_TIMEOUT', '5 minutes', '45s, 10m, 1h, 3d'],
    ['WORKER_LOCK_DURATION', '0s', '45s, 10m, 1h, 3d'],
    ['DISPATCH_BATCH_SIZE', '0', 'an integer from 1 to 100000'],
    ['AGGREGATION_SCHEDULE', 'hourly', '"0 * * * *"'],
    ['AGGREGATION_SCHEDULE', '0 25 * * *', '"0 * * * *"'],
  ])('refuses %s=%s in one line naming the variable and what is accepted', (variable, value, accepted) => {
    const lines = configErrorLines({ [variable]: value });
    expect(lines).toHaveLength(1);
    const [line] = lines as [string];
    expect(line).not.toContain('\n');
    expect(line.startsWith(`config: ${variable}=`)).toBe(true);
    expect(line).toContain(accepted);
  });

  it('reports every bad variable at once, one line each', () => {
    const bad = {
      REDIS_URL: 'http://x',
      DATABASE_URL: 'mysql://x/y',
      METRICS_PORT: 'abc',
      QUEUE_PREFIX: 'a b',
      MTA_URL: 'http://m',
      LOG_LEVEL: 'loud',
      SHUTDOWN_TIMEOUT: 'soon',
    };
    const lines = configErrorLines({ ...bad, LOG_LEVEL_UNRELATED: 'fine' });
    expect(lines).toHaveLength(Object.keys(bad).length);
    for (const variable of Object.keys(bad)) {
      expect(lines.filter((line) => line.startsWith(`config: ${variable}=`))).toHaveLength(1);
    }
  });

  it('makes the error message the lines joined, so printing it prints one line per variable', () => {
    try {
      loadConfig({ METRICS_PORT: 'abc', LOG_LEVEL: 'loud' });
      throw new Error('accepted');
    } catch (error) {
      const e = error as ConfigError;
      expect(e.name).toBe('ConfigError');
      expect(e.message).toBe(e.lines.join('\n'));
    }
  });

  it.each([
    ['DATABASE_URL', 'mysql://app:s3cret@db.example/campaign'],
    ['REDIS_URL', 'http://:s3cret@cache.example:6379'],
    ['DATABASE_URL', 'postgres://app:s3cret@db.example:badport/campaign'],
    ['REDIS_URL', 'redis://:s3cret@cache.example:99999'],
  ])('never prints the password of a bad %s (%s)', (variable, value) => {
    const [line] = configErrorLines({ [variable]: value }) as [string];
    expect(line).toContain(variable);
    expect(line).not.toContain('s3cret');
    expect(line).toContain('***');
  });
});

describe('redactUrl', () => {
  it.each([
    ['postgres://app:s3cret@db.example:5432/campaign', 'postgres://app:***@db.example:5432/campaign'],
    ['redis://:s3cret@127.0.0.1:6379', 'redis://:***@127.0.0.1:6379'],
    ['postgres://postgres@127.0.0.1:5432/campaign', 'postgres://postgres@127.0.0.1:5432/campaign'],
    ['postgres://app:s3cret@db:port/x', 'postgres://app:***@db:port/x'],
    ['not a url', 'not a url'],
  ])('shows %s as %s', (value, shown) => {
    expect(redactUrl(value)).toBe(shown);
  });
});
