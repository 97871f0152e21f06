// Partitioned history (migration 0010): a database filled under 0009 converts without losing or changing a
// row, ranges follow the deliveries' months, and the hot paths' statements read only their delivery's range.
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { drizzle } from 'drizzle-orm/postgres-js';
import { migrate } from 'drizzle-orm/postgres-js/migrator';
import postgres from 'postgres';
import { computeDeliveryStats, runAggregationTick } from '../db/aggregate';
import { failuresByReason, logOutcomes, softBouncedAfterTheEnd } from '../db/delivery-page';
import { deliveryStatus } from '../db/delivery-status';
import { applyFeedbackBatch, type ClassifiedEvent } from '../db/feedback';
import { readDatabaseFigures } from '../db/metrics';
import { migrationsFolder } from '../db/migrate';
import { ensureHistoryPartitions, historyRanges } from '../db/partitions';
import { earliestDueRetries, openDispatchBatches, overdueFinalizations } from '../db/reconcile';
import { createDatabase, dropDatabase } from '../db/world';
import { serverUrl } from './helpers/env';
import { fillHistory } from './helpers/history-fill';

const database = `campaign_part_${process.pid}_${Date.now().toString(36)}`;
const url = serverUrl(database);
const folderAt0009 = mkdtempSync(path.join(tmpdir(), 'campaign-0009-'));
let sql: postgres.Sql;

const TABLES = ['delivery_logs', 'feedback_events', 'tracking_events', 'deliveries', 'delivery_kpis'];
/** Count and checksum of every row's text, in one order: equal before and after means no row lost or changed. */
const fingerprint = async (table: string, columns: string[]) =>
  (
    await sql.unsafe(
      `select count(*)::int as n, md5(coalesce(string_agg(r::text, '|' order by r::text), '')) as sum
       from (select ${columns.join(', ')} from ${table}) r`,
    )
  )[0];
/** The table's columns as they are now (the fingerprint after the migration reads the same ones). */
const columnsOf = async (table: string) =>
  (
    await sql`select column_name from information_schema.columns where table_name = ${table} order by ordinal_position`
  ).map((r) => r.column_name as string);

beforeAll(async () => {
  // The migrations folder as it was at 0009: the same files, the journal cut after its tenth entry.
  cpSync(migrationsFolder, folderAt0009, { recursive: true });
  const journalPath = path.join(folderAt0009, 'meta', '_journal.json');
  const journal = JSON.parse(readFileSync(journalPath, 'utf8')) as { entries: { tag: string }[] };
  const upTo = journal.entries.findIndex((e) => e.tag === '0009_message_key');
  writeFileSync(journalPath, JSON.stringify({ ...journal, entries: journal.entries.slice(0, upTo + 1) }));
  await createDatabase(url, { template: 'template0' });
  sql = postgres(url, { max: 2, onnotice: () => {} });
  await migrate(drizzle(sql), { migrationsFolder: folderAt0009 });
});

afterAll(async () => {
  await sql.end({ timeout: 5 });
  await dropDatabase(url);
  rmSync(folderAt0009, { recursive: true, force: true });
});

describe('migration 0010 on a database filled under 0009', () => {
  let before: Record<string, unknown>;

  it('copies every row unchanged into partitions, one range per month of the deliveries', async () => {
    await fillHistory(sql, { months: ['2026-09-10', '2026-10-10', '2026-11-10'], perMonth: 4, logs: 50 });
    // Rows no delivery range holds: an old unknown event without delivery, one naming an id never issued.
    await sql`
      insert into feedback_events (event_id, message_id, delivery_id, type, occurred_at, outcome)
      values ('orphan-1', 'x@y', null, 'delivered', now(), 'unknown'),
             ('orphan-2', '1.0.999.abcdef@y', 999, 'delivered', now(), 'unknown')`;
    before = {};
    const columns: Record<string, string[]> = {};
    for (const t of TABLES) {
      columns[t] = await columnsOf(t);
      before[t] = await fingerprint(t, columns[t]!);
    }
    expect((before.delivery_logs as { n: number }).n).toBe(600);

    await migrate(drizzle(sql), { migrationsFolder });

    for (const t of TABLES) {
      expect({ t, ...(await fingerprint(t, columns[t]!)) }).toEqual({ t, ...(before[t] as object) });
    }
    expect((await historyRanges(sql)).map((r) => [r.lo, r.hi])).toEqual([
      [1, 5],
      [5, 9],
      [9, 77],
    ]);
    const placed = await sql`
      select tableoid::regclass::text as part, count(*)::int as n from delivery_logs group by 1 order by 1`;
    expect(placed.map((r) => [r.part, r.n])).toEqual([
      ['delivery_logs_p1', 200],
      ['delivery_logs_p5', 200],
      ['delivery_logs_p9', 200],
    ]);
    const [orphans] = await sql`select count(*)::int as n from feedback_events_default`;
    expect(orphans!.n).toBe(2);
  });

  it('makes the next range ahead of need, once, whoever asks', async () => {
    const [{ id }] = (await sql`
      insert into deliveries (label, validity_seconds, retry_interval_seconds, sender, subject, token)
      values ('new', 3600, 600, 's@x.test', 'hi', 'tok') returning id`) as unknown as [{ id: number }];
    expect(Number(id)).toBe(13);
    // Delivery 13 enters the newest range [9, 77): the next one is made ahead, as wide as the month's
    // deliveries (1 created in the last 30 days: the narrowest, 16).
    expect((await ensureHistoryPartitions(sql, id, new Date())).map((r) => [r.lo, r.hi])).toEqual([[77, 93]]);
    expect(await ensureHistoryPartitions(sql, id, new Date())).toEqual([]);
    // Reaching 93 and past it (a burst): a range that holds it, then the next, made once by two racing callers.
    const other = postgres(url, { max: 1, onnotice: () => {} });
    try {
      const made = await Promise.all([
        ensureHistoryPartitions(sql, 1200, new Date()),
        ensureHistoryPartitions(other, 1200, new Date()),
      ]);
      expect(made.flat().map((r) => [r.lo, r.hi])).toEqual([
        [93, 1201],
        [1201, 1217],
      ]);
    } finally {
      await other.end();
    }
    const parts = await sql`
      select count(*)::int as n from pg_inherits where inhparent = 'tracking_events'::regclass`;
    expect(parts[0]!.n).toBe(7); // p1, p5, p9, p77, p93, p1201, default
    // The event naming delivery 999 moved from the default partition into [93, 1201) when that was made.
    const [moved] =
      await sql`select tableoid::regclass::text as part from feedback_events where delivery_id = 999`;
    expect(moved!.part).toBe('feedback_events_p93');
  });

  it('keeps drizzle-kit quiet: the schema files describe the converted tables', async () => {
    const { spawnSync } = await import('node:child_process');
    const out = mkdtempSync(path.join(tmpdir(), 'campaign-kit-'));
    try {
      cpSync(migrationsFolder, out, { recursive: true });
      const root = path.resolve(__dirname, '..');
      const run = spawnSync(
        'npx',
        ['drizzle-kit', 'generate', '--dialect', 'postgresql', '--schema', './db/schema/index.ts'].concat([
          '--out',
          path.relative(root, out),
        ]),
        { cwd: root, encoding: 'utf8' },
      );
      expect(`${run.stdout}${run.stderr}`).toContain('No schema changes');
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});

/** Every relation a statement's plan actually read (EXPLAIN ANALYZE: nodes run at least once). */
function scanned(plan: Record<string, unknown>, into = new Set<string>()): Set<string> {
  const loops = plan['Actual Loops'] as number | undefined;
  if (typeof plan['Relation Name'] === 'string' && (loops ?? 0) > 0) into.add(plan['Relation Name']);
  for (const child of (plan.Plans as Record<string, unknown>[] | undefined) ?? []) scanned(child, into);
  return into;
}

/** Runs `work` with a client that records its statements, then explains each of them (rolled back). */
async function partitionsRead(work: (client: postgres.Sql) => Promise<unknown>): Promise<string[]> {
  const statements: { query: string; params: unknown[] }[] = [];
  const client = postgres(url, {
    max: 1,
    onnotice: () => {},
    debug: (_c, query, params) => statements.push({ query, params: params as unknown[] }),
  });
  try {
    await work(client);
  } finally {
    await client.end();
  }
  const read = new Set<string>();
  for (const s of statements.filter((x) => /delivery_logs|feedback_events|tracking_events/.test(x.query))) {
    await sql
      .begin(async (tx) => {
        const [row] = await tx.unsafe(
          `explain (analyze, format json) ${s.query}`,
          s.params as postgres.ParameterOrJSON<never>[],
        );
        const plan = (row!['QUERY PLAN'] as { Plan: Record<string, unknown> }[])[0]!.Plan;
        if (process.env.SHOW_PLANS) console.log(s.query, JSON.stringify(plan, null, 1));
        scanned(plan, read);
        throw new Error('rollback');
      })
      .catch((e: Error) => {
        if (e.message !== 'rollback') throw e;
      });
  }
  return [...read].filter((r) => /_p\d+$|_default$/.test(r)).sort();
}

describe('the hot paths read only the partitions of the deliveries they name', () => {
  const now = new Date('2026-11-20T00:00:00Z');
  const rules = { threshold: 5, spacingMs: 86_400_000, mailboxFullReleaseMs: 0 };

  it('feedback apply: the range of the events’ delivery', async () => {
    const [log] = await sql`select message_id from delivery_logs where delivery_id = 6 and seq = 3`;
    const event: ClassifiedEvent = {
      eventId: 'fb-late-6-3',
      messageId: log!.message_id,
      deliveryId: '6',
      seq: 3,
      token: 'tok',
      attempt: 1,
      kind: 'delivered',
      type: 'delivered',
      occurredAt: now.getTime(),
      failureType: null,
      failureReason: null,
      smtpCode: null,
      enhancedStatus: null,
      diagnostic: null,
      recipient: null,
      raw: {},
    };
    const read = await partitionsRead((c) => applyFeedbackBatch(c, [event], 'job-1', now, rules));
    expect(read).toEqual(['delivery_logs_p5', 'feedback_events_p5']);
  });

  it('compute-stats, the status tile and the delivery page: the delivery’s range', async () => {
    // compute-stats first runs the hourly catch-up, whose window (by transaction id) may hold late opens
    // of any delivery: that one statement reads every range of tracking_events (an index probe each).
    const stats = await partitionsRead((c) => computeDeliveryStats(c, '10', () => now));
    expect(stats.filter((r) => !r.startsWith('tracking_events_'))).toEqual([
      'delivery_logs_p9',
      'feedback_events_p9',
    ]);
    for (const work of [
      (c: postgres.Sql) => deliveryStatus(c, '10'),
      (c: postgres.Sql) =>
        Promise.all([failuresByReason(c, '10'), softBouncedAfterTheEnd(c, '10'), logOutcomes(c, '10')]),
    ]) {
      const read = await partitionsRead(work);
      expect(read.filter((r) => !r.endsWith('_p9'))).toEqual([]);
    }
  });

  it('/metrics and reconcile read no history partition; the hourly run only tracking indexes', async () => {
    const metrics = await partitionsRead((c) =>
      Promise.all([
        readDatabaseFigures(c, { now, maxDeliveries: 20, quarantine: rules }),
        openDispatchBatches(c, now),
        overdueFinalizations(c, now),
        earliestDueRetries(c, now),
      ]),
    );
    // The due-retry questions use the partial retry_at index of each range: each an empty index probe.
    expect(metrics.filter((r) => !r.startsWith('delivery_logs_'))).toEqual([]);
    const hourly = await partitionsRead((c) => runAggregationTick(c, now, () => now));
    expect(hourly.every((r) => r.startsWith('tracking_events_'))).toBe(true);
  });
});
