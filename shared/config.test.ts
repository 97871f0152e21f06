// loadConfig: docs/CONTRACT.md's defaults, and one readable line per bad variable.
import { ConfigError, loadConfig, redactUrl } from './config';
import { parseRedisUrl } from './redis-url';

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
    ['RECONCILE_INTERVAL', '5s', 5000],
  ])('accepts %s=%s', (variable, value, parsed) => {
    expect(loadConfig({ [variable]: value })[variable as keyof ReturnType<typeof loadConfig>]).toBe(parsed);
  });

  it.each([
    ['REDIS_URL', 'http://127.0.0.1:6379', 'redis://…, rediss://… or redis+cluster://host1:port,host2:port'],
    ['REDIS_URL', 'not a url', 'is not a Redis URL'],
    ['REDIS_URL', 'redis+cluster://a:1,b:99999', 'has a bad node "b:99999"; expected host:port'],
    ['REDIS_URL', 'redis+cluster://', 'is not a cluster URL'],
    ['RECONCILE_INTERVAL', '500ms', 'a duration from 1s to 1h'],
    ['RECONCILE_INTERVAL', '2h', 'a duration from 1s to 1h'],
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

  it('reads a cluster URL into its seed nodes, credentials and TLS', () => {
    const url = 'rediss+cluster://app:p%40ss@10.0.0.1:7000,[::1]:7001,cache-3';
    expect(loadConfig({ REDIS_URL: url, QUEUE_PREFIX: '{campaign}' }).REDIS_URL).toBe(url);
    expect(parseRedisUrl(url)).toEqual({
      kind: 'cluster',
      nodes: [
        { host: '10.0.0.1', port: 7000 },
        { host: '::1', port: 7001 },
        { host: 'cache-3', port: 6379 },
      ],
      username: 'app',
      password: 'p@ss',
      tls: true,
    });
    expect(parseRedisUrl('redis://127.0.0.1:6379/2')).toEqual({
      kind: 'server',
      url: 'redis://127.0.0.1:6379/2',
    });
  });

  it.each([['campaign'], ['{}campaign'], ['camp{aign']])(
    'refuses a cluster URL with QUEUE_PREFIX=%s (no hash tag), naming the fix',
    (prefix) => {
      const lines = configErrorLines({ REDIS_URL: 'redis+cluster://127.0.0.1:7000', QUEUE_PREFIX: prefix });
      expect(lines).toHaveLength(1);
      expect(lines[0]).toContain(`config: QUEUE_PREFIX="${prefix}" has no {hash-tag}`);
      expect(lines[0]).toMatch(
        /expected e\.g\. QUEUE_PREFIX=\{campaign\}|expected e\.g\. QUEUE_PREFIX=\{camp/,
      );
    },
  );

  it('names an unset prefix as unset when a cluster needs a hash tag', () => {
    expect(configErrorLines({ REDIS_URL: 'redis+cluster://127.0.0.1:7000' })).toEqual([
      'config: QUEUE_PREFIX unset has no {hash-tag}, which Redis Cluster (REDIS_URL=redis+cluster://…) needs; expected e.g. QUEUE_PREFIX={campaign}',
    ]);
  });

  it('accepts any prefix on one server, and a prefix with a hash tag anywhere on a cluster', () => {
    expect(loadConfig({ QUEUE_PREFIX: 'campaign' }).QUEUE_PREFIX).toBe('campaign');
    const c = loadConfig({ REDIS_URL: 'redis+cluster://127.0.0.1:7000', QUEUE_PREFIX: 'prod-{campaign}' });
    expect(c.QUEUE_PREFIX).toBe('prod-{campaign}');
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
  it('names the scheme of a URL of the wrong kind instead of calling it no URL', () => {
    expect(() => loadConfig({ DATABASE_URL: 'mysql://x' })).toThrow(
      'config: DATABASE_URL="mysql://x" is a mysql:// URL; expected postgres://… or postgresql://…',
    );
    expect(() => loadConfig({ MTA_URL: 'not a url' })).toThrow(
      'is not a URL; expected smtp://… or smtps://…',
    );
  });
});
