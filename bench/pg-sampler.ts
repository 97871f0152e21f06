// A sampling profile of PostgreSQL by statement: pg_stat_activity read every few ms during a run, so a gap
// between a figure and its limit can be named (which statement, and whether it ran or waited on a lock).
import type postgres from 'postgres';

/** One statement's share of the samples in which a backend of the benchmark's database was active. */
export interface SampledStatement {
  statement: string;
  /** `cpu` when running, else PostgreSQL's wait event (e.g. Lock:transactionid, IO:WALSync, Client:ClientRead). */
  wait: string;
  share: number;
}

const INTERVAL_MS = Number(process.env.BENCH_PG_SAMPLE_MS ?? 20);

/** Starts sampling the active backends of `database` (by another connection); `stop` returns the profile. */
export function samplePostgres(sql: postgres.Sql, database: string) {
  const counts = new Map<string, number>();
  let samples = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      const rows = await sql`
        select regexp_replace(left(query, 90), '\\s+', ' ', 'g') as q,
               coalesce(wait_event_type || ':' || wait_event, 'cpu') as w
        from pg_stat_activity
        where datname = ${database} and state = 'active' and pid <> pg_backend_pid()`;
      for (const r of rows) {
        const key = `${r.w}\u0000${r.q}`;
        counts.set(key, (counts.get(key) ?? 0) + 1);
        samples++;
      }
      await new Promise((resolve) => setTimeout(resolve, INTERVAL_MS));
    }
  })();
  return {
    async stop(top = 8): Promise<SampledStatement[]> {
      running = false;
      await loop;
      return [...counts]
        .sort((a, b) => b[1] - a[1])
        .slice(0, top)
        .map(([key, n]) => {
          const [wait, statement] = key.split('\u0000') as [string, string];
          return {
            statement: statement.trim(),
            wait,
            share: Math.round((n / Math.max(1, samples)) * 1000) / 1000,
          };
        });
    },
  };
}
