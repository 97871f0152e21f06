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
    const run = await measureDispatch(
      { sql, config, database: url.pathname.slice(1) },
      id,
      count,
      'dropping',
      null,
    );
    // The true peak of this process, start-up included, beside the 100 ms samples of measureDispatch.
    const maxRssMb = Math.round(process.resourceUsage().maxRSS / 1024);
    process.stdout.write(`${JSON.stringify({ ...run, peakRssMb: Math.max(run.peakRssMb, maxRssMb) })}\n`);
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
