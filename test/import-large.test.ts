// Importing 100,000 recipients: every row lands, numbered densely, and memory stays flat while it streams.
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { cli } from './helpers/cli';
import { createTestEnv, type TestEnv } from './helpers/env';

const ROWS = 100_000;
/** Far above what streaming needs, far below what holding 100,000 rows with their values would take at peak. */
const MAX_RSS_GROWTH = 150 * 1024 * 1024;
const ROOT = path.resolve(__dirname, '..');

/**
 * The peak RSS of the command run as a process of its own: measured in the jest worker, the figure also
 * carried whatever the worker's earlier test files had left for the collector.
 */
async function peakRss(env: Record<string, string>, ...argv: string[]): Promise<number> {
  const out = path.join(dir, `peak-${argv[0]}-${Date.now()}`);
  await promisify(execFile)(
    process.execPath,
    [
      '-r',
      path.join(__dirname, 'helpers', 'peak-rss.cjs'),
      '--import',
      'tsx',
      'workers/cli/main.ts',
      ...argv,
    ],
    { cwd: ROOT, env: { ...process.env, ...env, PEAK_RSS_FILE: out }, timeout: 240_000 },
  );
  return Number(await readFile(out, 'utf8'));
}

let t: TestEnv;
let dir: string;
let file: string;

/** Streams the CSV out row by row, so the test itself never holds the file in memory either. */
async function writeRecipients(target: string, rows: number): Promise<void> {
  const out = createWriteStream(target);
  out.write('email,first,city\n');
  for (let i = 0; i < rows; i++) {
    if (!out.write(`user${i}@example.com,First ${i},"City, ${i % 97}"\n`)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
}

beforeAll(async () => {
  t = await createTestEnv();
  dir = await mkdtemp(path.join(tmpdir(), 'import-large-'));
  file = path.join(dir, 'recipients.csv');
  await writeRecipients(file, ROWS);
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
  await t.cleanup();
});

describe('delivery create with 100,000 recipients', () => {
  let id: string;
  let toSend: number;
  let growth: number;

  beforeAll(async () => {
    const result = await cli(
      t.env,
      'delivery',
      'create',
      '--label',
      'large',
      '--recipients',
      file,
      '--subject',
      'Hello {{first}}',
      '--json',
    );
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    ({ id, toSend } = result.json<{ id: string; toSend: number }>());
    // The same import again, in a process of its own, beside that process doing nothing but start.
    const idle = await peakRss(t.env, 'delivery', 'create', '--help');
    const importing = await peakRss(t.env, 'delivery', 'create', '--label', 'measured', '--recipients', file);
    growth = importing - idle;
  }, 300_000);

  it('counts every recipient to send', async () => {
    expect(toSend).toBe(ROWS);
    const [delivery] = await t.sql`select state, to_send from deliveries where id = ${id}`;
    expect(delivery).toEqual({ state: 'prepared', to_send: ROWS });
  });

  it('stores every recipient, numbered densely from 0 in file order', async () => {
    const [stats] = await t.sql`
      select count(*)::int as n, count(distinct seq)::int as distinct_seq, min(seq) as min, max(seq) as max
      from delivery_targets where delivery_id = ${id}`;
    expect(stats).toEqual({ n: ROWS, distinct_seq: ROWS, min: 0, max: ROWS - 1 });
  });

  it('keeps each recipient with its personalization values', async () => {
    const rows = await t.sql`
      select seq, email, data from delivery_targets where delivery_id = ${id} and seq in (0, 54321, ${ROWS - 1}) order by seq`;
    expect(rows).toEqual([
      { seq: 0, email: 'user0@example.com', data: { first: 'First 0', city: 'City, 0' } },
      {
        seq: 54321,
        email: 'user54321@example.com',
        data: { first: 'First 54321', city: `City, ${54321 % 97}` },
      },
      {
        seq: ROWS - 1,
        email: `user${ROWS - 1}@example.com`,
        data: { first: `First ${ROWS - 1}`, city: `City, ${(ROWS - 1) % 97}` },
      },
    ]);
  });

  it('keeps memory flat while it streams the file', () => {
    expect(growth).toBeLessThan(MAX_RSS_GROWTH);
  });
});
