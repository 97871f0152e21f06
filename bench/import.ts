// `npm run bench -- import [recipients]`: a recipients CSV imported as a delivery (parse, COPY into a temporary
// table, one row per address, quarantine check, numbering), beside its limit measured in the same round: the
// same rows, already in COPY's text format, COPYed straight into the targets table. Three rounds, interleaved.

import { once } from 'node:events';
import type postgres from 'postgres';
import { addBenchOperator, prepareDelivery, writeRecipients } from './delivery-kit';
import { interleave, machine, rateFigure } from './limits';
import { type SampledStatement, samplePostgres } from './pg-sampler';
import { openBenchWorld } from './world';

/** The recipients' target rows in COPY's text format, in 1 MB pieces, built as they are asked for. */
export function* copyPieces(count: number): Generator<string> {
  let piece: string[] = [];
  let length = 0;
  for (let seq = 0; seq < count; seq++) {
    const line = `${seq}\tuser${seq}@example${seq % 97}.test\t{"first":"First${seq}","city":"City${seq % 500}"}\n`;
    piece.push(line);
    length += line.length;
    if (length > 1 << 20) {
      yield piece.join('');
      piece = [];
      length = 0;
    }
  }
  if (piece.length > 0) yield piece.join('');
}

/**
 * The limit: the same rows, already in COPY's text format, COPYed straight into the targets table in one
 * transaction. `pieces` is an array built before the clock starts, or (bench/scale.ts, 10M rows) a
 * generator whose text is built as it goes, a few % of one core beside PostgreSQL's COPY.
 */
export async function copyLimit(sql: postgres.Sql, count: number, pieces: Iterable<string>): Promise<number> {
  const [d] = await sql`
    insert into deliveries (label, efs, validity_seconds, retry_interval_seconds, sender, subject, token, state)
    values ('bench copy', false, 86400, 3600, 'bench@example.test', 's', 'bec0ffee0123', 'prepared') returning id`;
  const started = performance.now();
  await sql.begin(async (tx) => {
    // The delivery id comes from a column default for the length of this transaction, so the pre-built
    // text serves every round; COPY fills the rest.
    await tx.unsafe(`alter table delivery_targets alter column delivery_id set default ${Number(d!.id)}`);
    const copy = await tx`copy delivery_targets (seq, email, data) from stdin`.writable();
    for (const piece of pieces) if (!copy.write(piece)) await once(copy, 'drain');
    copy.end();
    await once(copy, 'finish');
    await tx.unsafe('alter table delivery_targets alter column delivery_id drop default');
  });
  return count / ((performance.now() - started) / 1000);
}

export async function benchImport(sizes: number[]): Promise<Record<string, unknown>> {
  const count = sizes[0] ?? 500_000;
  const file = await writeRecipients(count);
  const pieces = [...copyPieces(count)];
  const world = await openBenchWorld('import', {}, { sqlMax: 2 });
  const { sql, config } = world;
  try {
    await addBenchOperator(sql);
    let postgres: SampledStatement[] = [];
    const v = await interleave([
      ['copy', () => copyLimit(sql, count, pieces)],
      [
        'import',
        async () => {
          const sampler = samplePostgres(sql, world.database);
          const started = performance.now();
          const { rows } = await prepareDelivery(sql, file, 'bench import', {
            mailboxFullReleaseMs: config.QUARANTINE_MAILBOX_FULL_RELEASE,
          });
          const seconds = (performance.now() - started) / 1000;
          postgres = await sampler.stop();
          if (rows !== count) throw new Error(`imported ${rows} rows of ${count}`);
          return count / seconds;
        },
      ],
    ]);
    const figure = rateFigure('import (CSV to targets)', 'rows/s', v.import, 'copyRowsPerSecond', v.copy, {
      of: 'share',
      atLeast: 0.7,
    });
    return {
      recipients: count,
      importRowsPerSecond: figure.value.median,
      copyRowsPerSecond: figure.limit!.median,
      shareOfLimit: figure.share!.median,
      figures: [figure],
      postgres,
      ...machine(),
    };
  } finally {
    await world.close();
  }
}
