// A child process of bench/scale.ts: dispatches one prepared delivery through the dropping transport in a
// process of its own (so its peak RSS is the dispatch's alone) and prints the run as one JSON line.
// Environment: the world's settings (DATABASE_URL, QUEUE_PREFIX, …), SCALE_DELIVERY_ID, SCALE_COUNT.
import postgres from 'postgres';
import { loadConfig } from '../shared/config';
import { measureDispatch } from './dispatch';

async function main() {
  const config = loadConfig(process.env);
  const url = new URL(process.env.DATABASE_URL!);
  const sql = postgres(process.env.DATABASE_URL!, { max: 2, onnotice: () => {} });
  try {
    const id = process.env.SCALE_DELIVERY_ID!;
    const count = Number(process.env.SCALE_COUNT);
    // Every 30 s: messages logged and this process's RSS, so a rate that falls as the delivery grows (or
    // memory that does) shows in the result, and on the console of a run too long to wait for.
    const progress: { seconds: number; sent: number; rssMb: number }[] = [];
    const started = performance.now();
    const sampler = setInterval(async () => {
      const [row] = await sql`select sent from delivery_kpi_totals where delivery_id = ${id}`;
      const sample = {
        seconds: Math.round((performance.now() - started) / 1000),
        sent: Number(row?.sent ?? 0),
        rssMb: Math.round(process.memoryUsage().rss / 1024 / 1024),
      };
      progress.push(sample);
      console.error(`  dispatch ${count}: ${JSON.stringify(sample)}`);
    }, 30_000);
    const run = await measureDispatch(
      { sql, config, database: url.pathname.slice(1) },
      id,
      count,
      'dropping',
      null,
    );
    // The true peak of this process, start-up included, beside the 100 ms samples of measureDispatch.
    clearInterval(sampler);
    const maxRssMb = Math.round(process.resourceUsage().maxRSS / 1024);
    process.stdout.write(
      `${JSON.stringify({ ...run, peakRssMb: Math.max(run.peakRssMb, maxRssMb), progress })}\n`,
    );
  } finally {
    await sql.end();
  }
}

main().then(
  () => process.exit(0),
  (error) => {
    console.error(error);
    process.exit(1);
  },
);
