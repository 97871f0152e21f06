// Striped KPI counters (migration 0014): concurrent writers of one delivery's deltas take different row locks,
// a recount still waits for every writer in flight and folds the stripes back into one row with the same
// tile, and a database filled under 0013 converts with every tile reading the same figures.
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { drizzle } from 'drizzle-orm/postgres-js';
import { migrate } from 'drizzle-orm/postgres-js/migrator';
import postgres from 'postgres';
import { computeDeliveryStats } from '../db/aggregate';
import { deliveryStatus } from '../db/delivery-status';
import { addKpiDeltas, lockAllKpiStripes } from '../db/kpi';
import { readDatabaseFigures } from '../db/metrics';
import { migrationsFolder } from '../db/migrate';
import { KPI_STRIPES } from '../db/schema';
import { createDatabase, dropDatabase } from '../db/world';
import { createTestEnv, serverUrl, type TestEnv } from './helpers/env';
import { createDelivery } from './helpers/fixtures';

const LOCK_NOT_AVAILABLE = '55P03';

/** A one-connection client and its backend's id. */
interface Writer {
  sql: postgres.Sql;
  pid: number;
}

/** A promise and its resolver (Node 20 has no Promise.withResolvers). */
function signal(): { promise: Promise<void>; resolve: () => void } {
  let resolve: () => void = () => {};
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

describe('writers of one delivery', () => {
  let t: TestEnv;
  const clients: postgres.Sql[] = [];

  beforeAll(async () => {
    t = await createTestEnv();
  });

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.end({ timeout: 5 })));
    await t.cleanup();
  });

  /**
   * One-connection clients whose backends write different stripes, none of them stripe 0 (made with the
   * delivery): a stripe row the writer makes itself is the case a recount must still wait for. A lock wait
   * longer than `lock_timeout` fails with 55P03 instead of waiting: nothing here measures time.
   */
  async function writersOnDistinctStripes(n: number): Promise<Writer[]> {
    const picked = new Map<number, Writer>();
    while (picked.size < n) {
      if (clients.length > 4 * KPI_STRIPES) throw new Error('no backends on distinct stripes');
      const c = impatient();
      const [{ pid }] = (await c`select pg_backend_pid() as pid`) as unknown as [{ pid: number }];
      const stripe = pid % KPI_STRIPES;
      if (stripe !== 0 && !picked.has(stripe)) picked.set(stripe, { sql: c, pid });
    }
    return [...picked.values()];
  }

  /** A one-connection client whose lock waits fail after lock_timeout. */
  function impatient(): postgres.Sql {
    const c = postgres(t.databaseUrl, { max: 1, onnotice: () => {}, connection: { lock_timeout: 1000 } });
    clients.push(c);
    return c;
  }

  /** What a dispatch batch does: its log rows, then its KPI deltas last, in one transaction. */
  async function writeBatch(tx: postgres.TransactionSql, id: string, seqs: number[], failedSeq: number) {
    const rows = await tx`
      insert into delivery_logs (delivery_id, seq, email, status, message_id)
      select ${id}, s, 'r' || s || '@example.test', case when s = ${failedSeq} then 'failed' else 'sent' end::log_status,
        '1.' || s || '.' || ${id} || '.tok@localhost'
      from unnest(${seqs}::int[]) s returning status`;
    const failed = rows.filter((r) => r.status === 'failed').length;
    await addKpiDeltas(tx, [[id, { sent: rows.length, delivered: rows.length - failed, failed }]]);
  }

  test('two open transactions add to the same delivery without one waiting on the other; a recount waits for both, then yields the same tile on one row', async () => {
    const id = await createDelivery(t, 6);
    const [{ sql: a }, { sql: b }] = (await writersOnDistinctStripes(2)) as [Writer, Writer];
    const openA = signal();
    const commitA = signal();
    const openB = signal();
    const commitB = signal();
    const txA = a.begin(async (tx) => {
      await writeBatch(tx, id, [0, 1, 2], -1);
      openA.resolve();
      await commitA.promise;
    });
    await openA.promise;
    // A's stripe row is locked (made, not committed): B adds to the same delivery on its own stripe at once.
    const txB = b.begin(async (tx) => {
      await writeBatch(tx, id, [3, 4, 5], 5);
      openB.resolve();
      await commitB.promise;
    });
    await openB.promise;

    // The recount locks every stripe: with A and B still open, it waits for their rows (and fails here).
    await expect(computeDeliveryStats(impatient(), id, () => new Date())).rejects.toMatchObject({
      code: LOCK_NOT_AVAILABLE,
    });

    commitA.resolve();
    commitB.resolve();
    await Promise.all([txA, txB]);
    const stripes = await t.sql`select stripe from delivery_kpis where delivery_id = ${id} order by stripe`;
    expect(stripes).toHaveLength(3);
    const tile = await deliveryStatus(t.sql, id);
    expect(tile).toMatchObject({ sent: 6, delivered: 5, bouncesAndErrors: 1 });

    const stats = await computeDeliveryStats(t.sql, id, () => new Date());
    expect(stats).toMatchObject({
      counters: { sent: 6, delivered: 5, failed: 1 },
      drift: { sent: 0, delivered: 0, failed: 0, opens: 0, clicks: 0, complaints: 0 },
    });
    const after = await deliveryStatus(t.sql, id);
    expect({ ...after, statsComputedAt: null }).toEqual({ ...tile, statsComputedAt: null });
    expect([
      ...(await t.sql`select stripe, sent, delivered, failed from delivery_kpis where delivery_id = ${id}`),
    ]).toEqual([{ stripe: 0, sent: 6, delivered: 5, failed: 1 }]);
  });

  test('a writer blocked by a recount still counts once, on its stripe made anew after the recount removed it', async () => {
    const id = await createDelivery(t, 4);
    const [{ sql: a, pid }] = (await writersOnDistinctStripes(1)) as [Writer];
    await a.begin((tx) => writeBatch(tx, id, [0, 1], -1));
    // What compute-stats does, held open: every stripe locked, folded into stripe 0, the others removed.
    const held = signal();
    const folded = signal();
    const recount = t.sql.begin(async (tx) => {
      expect(await lockAllKpiStripes(tx, id)).toBe(true);
      await tx`
        with others as (delete from delivery_kpis where delivery_id = ${id} and stripe <> 0)
        update delivery_kpis set sent = 2, delivered = 2 where delivery_id = ${id} and stripe = 0`;
      folded.resolve();
      await held.promise;
    });
    await folded.promise;
    const second = a.begin(async (tx) => {
      await tx`set local lock_timeout = 0`;
      await writeBatch(tx, id, [2, 3], 3);
    });
    // A's next batch waits on its stripe's row, held (and removed) by the recount.
    for (;;) {
      const [w] = await t.sql`select wait_event_type from pg_stat_activity where pid = ${pid}`;
      if (w?.wait_event_type === 'Lock') break;
      await new Promise((r) => setImmediate(r));
    }
    held.resolve();
    await recount;
    await second;
    expect(await deliveryStatus(t.sql, id)).toMatchObject({ sent: 4, delivered: 3, bouncesAndErrors: 1 });
    const stats = await computeDeliveryStats(t.sql, id, () => new Date());
    expect(stats).toMatchObject({
      counters: { sent: 4, delivered: 3, failed: 1 },
      drift: { sent: 0, failed: 0 },
    });
  });
});

describe('migration 0014 on a database filled under 0013', () => {
  const database = `campaign_stripes_${process.pid}_${Date.now().toString(36)}`;
  const url = serverUrl(database);
  const folderAt0013 = mkdtempSync(path.join(tmpdir(), 'campaign-0013-'));
  let sql: postgres.Sql;

  beforeAll(async () => {
    cpSync(migrationsFolder, folderAt0013, { recursive: true });
    const journalPath = path.join(folderAt0013, 'meta', '_journal.json');
    const journal = JSON.parse(readFileSync(journalPath, 'utf8')) as { entries: { tag: string }[] };
    const upTo = journal.entries.findIndex((e) => e.tag.startsWith('0013_'));
    expect(upTo).toBeGreaterThan(0);
    writeFileSync(journalPath, JSON.stringify({ ...journal, entries: journal.entries.slice(0, upTo + 1) }));
    await createDatabase(url, { template: 'template0' });
    sql = postgres(url, { max: 2, onnotice: () => {} });
    await migrate(drizzle(sql), { migrationsFolder: folderAt0013 });
  });

  afterAll(async () => {
    await sql.end({ timeout: 5 });
    await dropDatabase(url);
    rmSync(folderAt0013, { recursive: true, force: true });
  });

  test("every delivery's figures read the same through the tile after the conversion", async () => {
    // drizzle swaps its client's date parsers for pass-through ones: the pipeline's code reads with its own.
    const reader = postgres(url, { max: 1, onnotice: () => {} });
    try {
      await fillMigrateAndRead(reader);
    } finally {
      await reader.end({ timeout: 5 });
    }
  });

  async function fillMigrateAndRead(reader: postgres.Sql) {
    await reader`
      insert into deliveries (label, state, validity_seconds, retry_interval_seconds, sender, subject, token,
        to_send, confirmed_at, valid_until)
      select 'old #' || i, 'sending', 86400, 3600, 'sender@example.test', 'Hello', 'tok', 1000 + i, now(),
        now() + interval '1 day'
      from generate_series(1, 5) i`;
    await reader`
      insert into delivery_kpis (delivery_id, sent, delivered, failed, opens, clicks, complaints, stats_computed_at)
      select id, 900 + id, 800 + id, 90, 400 + id, 100 + id, id, case when id % 2 = 0 then now() end
      from deliveries`;
    const counters = (table: string) =>
      reader.unsafe(`select delivery_id, sent, delivered, failed, opens, clicks, complaints, stats_computed_at
                     from ${table} order by delivery_id`);
    const before = [...(await counters('delivery_kpis'))];
    expect(before).toHaveLength(5);

    await migrate(drizzle(sql), { migrationsFolder });

    expect([...(await counters('delivery_kpi_totals'))]).toEqual(before);
    const [rows] = await reader`
      select count(*)::int as n, count(*) filter (where stripe = 0)::int as zero from delivery_kpis`;
    expect(rows).toEqual({ n: 5, zero: 5 });
    for (const k of before) {
      const tile = await deliveryStatus(reader, String(k.delivery_id));
      expect(tile).toMatchObject({ sent: k.sent, delivered: k.delivered, bouncesAndErrors: k.failed });
      expect(tile!.statsComputedAt).toEqual((k.stats_computed_at as Date | null)?.toISOString() ?? null);
    }
    const figures = await readDatabaseFigures(reader, {
      now: new Date(),
      maxDeliveries: 10,
      quarantine: { mailboxFullReleaseMs: 86_400_000 },
    });
    const total = (f: string) => before.reduce((n, k) => n + (k[f] as number), 0);
    expect(figures.messagesByStatus).toMatchObject({ sent: total('delivered'), failed: total('failed') });
    expect(figures.running.map((r) => [r.sent, r.delivered])).toEqual(
      [...before].reverse().map((k) => [k.sent, k.delivered]),
    );
  }
});
