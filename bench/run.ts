// `npm run bench -- NAME [sizes…]`: runs a benchmark, prints its figures, writes bench/results/NAME.json.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { benchAggregate } from './aggregate';
import { benchBounces } from './bounces';
import { benchDispatch } from './dispatch';
import { benchFeedback } from './feedback';
import { benchFeedbackHttp } from './feedback-http';
import { benchMetrics } from './metrics';

const BENCHES: Record<string, (sizes: number[], args: string[]) => Promise<Record<string, unknown>>> = {
  dispatch: (sizes) => benchDispatch(sizes.length > 0 ? sizes : [100_000, 1_000_000]),
  feedback: (sizes) => benchFeedback(sizes),
  aggregate: (sizes) => benchAggregate(sizes),
  'feedback-http': (sizes) => benchFeedbackHttp(sizes),
  metrics: (sizes) => benchMetrics(sizes),
  bounces: (_sizes, args) => benchBounces(args),
};

async function main() {
  const [name, ...rest] = process.argv.slice(2);
  const bench = name ? BENCHES[name] : undefined;
  if (!bench) {
    console.error(
      `usage: npm run bench -- ${Object.keys(BENCHES).join('|')} [recipient counts…] (bounces: [corpus dir])`,
    );
    process.exit(2);
  }
  const result = { bench: name, at: new Date().toISOString(), ...(await bench(rest.map(Number), rest)) };
  const dir = path.join(__dirname, 'results');
  mkdirSync(dir, { recursive: true });
  const { runs: _runs, ...summary } = result as Record<string, unknown>;
  writeFileSync(path.join(dir, `${name}.json`), `${JSON.stringify(result, null, 2)}\n`);
  console.log(JSON.stringify(summary, null, 2));
  process.exit(0);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
