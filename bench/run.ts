// `npm run bench -- NAME [sizes…]`: runs a benchmark, prints its figures, writes bench/results/NAME.json;
// `all` runs every one in turn and writes bench/results/summary.json; `readme` rewrites README's table from it.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { benchAggregate } from './aggregate';
import { benchBounces } from './bounces';
import { benchConsoleTile } from './console-tile';
import { benchDispatch } from './dispatch';
import { benchFeedback } from './feedback';
import { benchFeedbackHttp } from './feedback-http';
import { benchFeedbackTile } from './feedback-tile';
import { benchFirstMessage } from './first-message';
import { benchImport } from './import';
import { benchMetrics } from './metrics';
import { profileTop } from './profile-top';
import { benchRedisLoss } from './redis-loss';
import { benchScale } from './scale';
import { runAll, writeReadme } from './summary';

/** Every benchmark, in the order `all` runs them. */
export const BENCHES: Record<string, (sizes: number[], args: string[]) => Promise<Record<string, unknown>>> =
  {
    dispatch: (sizes) => benchDispatch(sizes),
    'first-message': (sizes) => benchFirstMessage(sizes),
    import: (sizes) => benchImport(sizes),
    feedback: (sizes) => benchFeedback(sizes),
    'feedback-tile': (sizes) => benchFeedbackTile(sizes),
    'feedback-http': (sizes) => benchFeedbackHttp(sizes),
    aggregate: (sizes) => benchAggregate(sizes),
    metrics: (sizes) => benchMetrics(sizes),
    bounces: (_sizes, args) => benchBounces(args),
    'redis-loss': (sizes) => benchRedisLoss(sizes),
  };

/** Benchmarks run only by name, never by `all`: they take long and fill the database with millions of rows. */
const ALONE: typeof BENCHES = {
  scale: (sizes) => benchScale(sizes),
  'console-tile': (sizes) => benchConsoleTile(sizes),
};

/** Small sizes for `all quick`: a look at every benchmark in a few minutes, not figures to commit. */
const QUICK: Record<string, string[]> = {
  dispatch: ['5000'],
  'first-message': ['1000', '20000'],
  import: ['20000'],
  feedback: ['20000'],
  'feedback-tile': ['5000', '8'],
  'feedback-http': ['20000'],
  aggregate: ['200000', '20000'],
  metrics: ['500', '200000'],
  'redis-loss': ['5000'],
};

/** Sizes `all` gives where a benchmark's own default would take too long beside the others. */
const ALL: Record<string, string[]> = { metrics: ['10000', '2000000'] };

async function main() {
  const [name, ...rest] = process.argv.slice(2);
  if (name === 'all')
    return runAll(Object.keys(BENCHES), rest[0] === 'quick' ? QUICK : ALL, rest[0] === 'quick');
  if (name === 'readme') return writeReadme();
  if (name === 'profile') return profileTop(rest[0]!);
  const bench = name ? (BENCHES[name] ?? ALONE[name]) : undefined;
  if (!bench) {
    console.error(
      `usage: npm run bench -- ${[...Object.keys(BENCHES), ...Object.keys(ALONE), 'all [quick]', 'readme'].join('|')} [sizes…] (bounces: [corpus dir])`,
    );
    process.exit(2);
  }
  const result = { bench: name, at: new Date().toISOString(), ...(await bench(rest.map(Number), rest)) };
  const dir = path.join(__dirname, 'results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, `${name}.json`), `${JSON.stringify(result, null, 2)}\n`);
  const { runs: _runs, figures: _figures, ...summary } = result as Record<string, unknown>;
  console.log(JSON.stringify(summary, null, 2));
}

main().then(
  () => process.exit(0),
  (error) => {
    console.error(error);
    process.exit(1);
  },
);
