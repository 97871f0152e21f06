// `npm run demo`: the whole pipeline in one command, on a database and queue prefix of its own, with a simulated
// MTA, until two deliveries are finished; then it removes everything it created (unless --keep).
import { writeFile } from 'node:fs/promises';
import { Command, InvalidArgumentError } from 'commander';
import pino from 'pino';
import { openDatabase } from '../db/client';
import { loadConfig, redactUrl } from '../shared/config';
import { createWorkerConnection } from '../shared/redis';
import { parseDuration } from '../shared/rules/duration';
import { startProcess } from '../workers/start/process';
import { ROLES } from '../workers/start/roles';
import { DEFAULT_RATES, type Rates } from './fate';
import { DEFAULT_TIMING, startSimulatedMta } from './mta';
import { tellStory } from './story';
import { prepareWorld } from './world';

interface Options {
  recipients: number;
  seed: number;
  validity: string;
  retryInterval: string;
  port: number;
  database: string;
  prefix: string;
  report?: string;
  keep?: boolean;
  hard: number;
  softRecover: number;
  softNever: number;
  open: number;
  click: number;
}

const integer = (min: number, max: number) => (value: string) => {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < min || n > max)
    throw new InvalidArgumentError(`expected an integer from ${min} to ${max}`);
  return n;
};
const fraction = (value: string) => {
  const n = Number(value);
  if (!/^(0|1|0?\.\d+)$/.test(value) || n > 1)
    throw new InvalidArgumentError('expected a fraction, e.g. 0.03');
  return n;
};
const duration = (value: string) => {
  try {
    parseDuration(value);
    return value;
  } catch {
    throw new InvalidArgumentError('expected a duration, e.g. 45s or 1m');
  }
};

function parseOptions(argv: string[]): Options {
  const r = DEFAULT_RATES;
  const program = new Command('npm run demo --')
    .description(
      'Runs the pipeline with a simulated MTA until two deliveries are finished, live in the terminal.',
    )
    .option('--recipients <n>', 'recipients of each delivery', integer(1, 1_000_000), 10_000)
    .option('--seed <n>', "seed of the simulator's decisions", integer(0, 2 ** 31), 42)
    .option('--validity <duration>', 'validity period of both deliveries', duration, '60s')
    .option('--retry-interval <duration>', 'time between a soft bounce and its retry', duration, '10s')
    .option('--hard <fraction>', 'hard bounces (550 5.1.1 user unknown)', fraction, r.hard)
    .option('--soft-recover <fraction>', 'soft bounces delivered on retry', fraction, r.softRecover)
    .option('--soft-never <fraction>', 'soft bounces that never succeed', fraction, r.softNever)
    .option('--open <fraction>', 'delivered recipients who open', fraction, r.open)
    .option('--click <fraction>', 'openers who click', fraction, r.click)
    .option('--port <n>', 'port of the tile page and /metrics (taken: any free one)', integer(0, 65535), 9464)
    .option('--database <name>', "the demo's database, dropped at the end", 'campaign_demo')
    .option('--prefix <prefix>', "the demo's queue prefix, deleted at the end", 'campaign-demo')
    .option('--report <file>', 'write the final figures and the simulator decisions there as JSON')
    .option('--keep', 'keep the database and the queue keys, to look at them afterwards')
    .parse(argv, { from: 'user' });
  const options = program.opts<Options>();
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(options.database))
    program.error('--database: expected lower-case letters, digits and _');
  if (!/^[A-Za-z0-9_.-]+$/.test(options.prefix)) program.error('--prefix: expected letters, digits, _ . -');
  if (options.hard + options.softRecover + options.softNever > 1)
    program.error('--hard, --soft-recover and --soft-never add up to more than 1');
  return options;
}

async function main(): Promise<void> {
  const started = Date.now();
  const opts = parseOptions(process.argv.slice(2));
  const rates: Rates = {
    hard: opts.hard,
    softRecover: opts.softRecover,
    softNever: opts.softNever,
    open: opts.open,
    click: opts.click,
  };
  const world = await prepareWorld({ ...opts, env: process.env });
  const redis = createWorkerConnection(world.redisUrl);
  const mta = await startSimulatedMta({
    redis,
    prefix: world.prefix,
    seed: opts.seed,
    rates,
    timing: DEFAULT_TIMING,
  });
  const env = {
    DATABASE_URL: world.databaseUrl,
    REDIS_URL: world.redisUrl,
    QUEUE_PREFIX: world.prefix,
    METRICS_PORT: String(world.port),
    // Any free port for an HTTP feedback receiver, where the pipeline has one: the simulator needs none, and
    // a running `npm start` must not stop the demo. (Unknown to a configuration without that role: ignored.)
    FEEDBACK_PORT: '0',
    // The same for the bounce mailbox, on loopback only: the demo's bounces come from its simulator.
    BOUNCE_PORT: '0',
    BOUNCE_HOST: '127.0.0.1',
    // And for the operator console: the demo confirms through the queue, as upstream services do.
    CONSOLE_PORT: '0',
    MTA_URL: mta.url,
    // The hourly job every 5 seconds, retries looked for every 5: an hour of a real delivery in a minute.
    AGGREGATION_SCHEDULE: '*/5 * * * * *',
    RETRY_SWEEP_INTERVAL: '5s',
    METRICS_CACHE_TTL: '1s',
    SHUTDOWN_TIMEOUT: '10s',
    LOG_LEVEL: process.env.LOG_LEVEL ?? 'error',
  };
  const config = loadConfig(env);
  // Only errors, on stderr: the terminal belongs to the story.
  const log = pino({ level: config.LOG_LEVEL }, pino.destination(2));
  const proc = await startProcess([...ROLES], config, log);
  const database = openDatabase(world.databaseUrl, { max: 2 });

  let cleaning: Promise<void> | undefined;
  const cleanup = () => {
    cleaning ??= (async () => {
      await proc.stop();
      await mta.close();
      await database.close();
      await redis.quit().catch(() => redis.disconnect());
      if (!opts.keep) await world.remove();
    })();
    return cleaning;
  };
  process.once('SIGINT', () => {
    process.stdout.write('\nInterrupted: removing what the demo created.\n');
    void cleanup().finally(() => process.exit(130));
  });

  try {
    await proc.ready;
    const port = proc.port();
    const result = await tellStory({
      env,
      sql: database.sql,
      redis,
      mta,
      pageUrl: `http://127.0.0.1:${port}/deliveries`,
      recipients: opts.recipients,
      validity: opts.validity,
      retryInterval: opts.retryInterval,
    });
    const elapsedMs = Date.now() - started;
    if (opts.report) await writeFile(opts.report, JSON.stringify({ elapsedMs, ...result }, null, 2));
    whereToLookNext(opts, world.databaseUrl, result.deliveries[0]?.status.id ?? '1');
    process.stdout.write(`\nThe demo took ${(elapsedMs / 1000).toFixed(1)} s.\n`);
  } finally {
    await cleanup();
  }
}

function whereToLookNext(opts: Options, databaseUrl: string, id: string): void {
  const lines = [
    '',
    'Where to look next',
    ...(opts.keep
      ? [`  with DATABASE_URL=${redactUrl(databaseUrl)} QUEUE_PREFIX=${opts.prefix} set:`]
      : [
          '  (the demo removed its database and queues: run `npm run demo -- --keep` to keep them for these)',
        ]),
    `  npx campaign status ${id}         the KPI tile (--json: docs/CONTRACT.md's shape)`,
    `  npx campaign logs ${id} --json    one line per recipient, with its failure reason`,
    '  npm start, then http://127.0.0.1:9464/deliveries (the tile page) and /metrics (Prometheus)',
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

main().then(
  () => process.exit(0),
  (error: Error) => {
    process.stderr.write(`demo: ${error.message}\n`);
    process.exit(1);
  },
);
