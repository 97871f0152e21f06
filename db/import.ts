// Registers a delivery and imports its recipients in one transaction: all of it, or nothing.
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import type postgres from 'postgres';
import type { RecipientRow, RowError } from '../shared/recipients';
import { ERASED_DOMAIN } from '../shared/rules/erasure';
import type { QuarantineRules } from '../shared/rules/quarantine-rules';
import { quarantinedCondition } from './quarantine';

/** What a new delivery is made of, besides its recipients. */
export interface NewDelivery {
  label: string;
  efs: boolean;
  validitySeconds: number;
  retryIntervalSeconds: number;
  contactDate: Date | null;
  sender: string;
  /** Optional: a VERP return path on this domain (see envelopeSender). */
  returnPathDomain?: string | null;
  subject: string;
  textBody: string | null;
  htmlBody: string | null;
  columns: string[];
}

export interface ImportResult {
  id: string;
  rows: number;
  toSend: number;
  duplicates: number;
  quarantined: number;
  /** the quarantined addresses left out, by quarantine reason */
  excludedByReason: Record<string, number>;
}

/** How an import runs: which addresses are quarantined depends on the time and the release delay. */
export interface ImportOptions {
  now: number;
  quarantine: Pick<QuarantineRules, 'mailboxFullReleaseMs'>;
  onProgress?: (rowsRead: number) => void;
}

/** Refusal of a whole import: the first errors found, each with its line. */
export class ImportRefused extends Error {
  constructor(
    readonly errors: RowError[],
    readonly more: boolean,
  ) {
    const first = errors[0]!;
    super(
      `line ${first.line}: ${first.message}` +
        (errors.length > 1 || more
          ? ` (and ${more ? 'more than ' : ''}${errors.length - 1} other bad rows)`
          : '') +
        '; nothing was imported',
    );
    this.name = 'ImportRefused';
  }
}

const MAX_REPORTED_ERRORS = 20;

/** COPY's text format: backslash, tab, newline and carriage return must be escaped. */
function copyField(value: string): string {
  return value.replace(/[\\\t\n\r]/g, (c) =>
    c === '\\' ? '\\\\' : c === '\t' ? '\\t' : c === '\n' ? '\\n' : '\\r',
  );
}

type Rows = AsyncIterable<{ row: RecipientRow } | { error: RowError }>;

/** What an import found, besides the delivery's id. */
type TargetStats = Omit<ImportResult, 'id'>;

/**
 * Streams the rows into a temporary table with COPY (memory stays flat whatever the file's size), then
 * keeps one row per address (its first), drops quarantined addresses unless asked to keep them (a
 * recurring delivery's audience: each execution leaves out the addresses quarantined by then) and numbers
 * the rest densely as the delivery's targets.
 */
async function importTargets(
  tx: postgres.TransactionSql,
  id: string,
  rows: Rows,
  options: ImportOptions & { keepQuarantined?: boolean },
): Promise<TargetStats> {
  const onProgress = options.onProgress ?? (() => {});
  await tx`create temporary table import_rows (line int not null, email text not null, data jsonb not null) on commit drop`;

  const errors: RowError[] = [];
  let more = false;
  let count = 0;
  const copy = await tx`copy import_rows (line, email, data) from stdin`.writable();
  try {
    for await (const item of rows) {
      if ('error' in item) {
        if (errors.length < MAX_REPORTED_ERRORS) errors.push(item.error);
        else more = true;
        continue;
      }
      if (errors.length > 0) continue; // Refused already: read on only to report the other bad rows.
      const { row } = item;
      const line = `${row.line}\t${copyField(row.email)}\t${copyField(JSON.stringify(row.data))}\n`;
      if (!copy.write(line)) await once(copy, 'drain');
      if (++count % 10_000 === 0) onProgress(count);
    }
  } catch (error) {
    copy.destroy(error as Error);
    throw error;
  }
  copy.end();
  await once(copy, 'finish');
  if (errors.length > 0) throw new ImportRefused(errors, more);
  // An empty file, or a header alone, would make a delivery that "sends" 0 of 0.
  if (count === 0)
    throw new ImportRefused(
      [{ line: 1, message: 'no recipients; give a header with an "email" column and at least one row' }],
      false,
    );
  onProgress(count);

  const excludeQuarantined = () =>
    options.keepQuarantined ? tx`false` : quarantinedCondition(tx, options.now, options.quarantine);
  const [stats] = await tx`
    with firsts as (
      select distinct on (email) line, email, data from import_rows order by email, line
    ), erased as (
      select q.email, q.reason from quarantine q
      where q.email like ${`erased-%@${ERASED_DOMAIN}`} and ${excludeQuarantined()}
    ), excluded as (
      select f.email, coalesce(q.reason, 'not defined') as reason
      from firsts f join quarantine q on q.email = f.email
      where ${excludeQuarantined()}
      union all
      -- An erased address is quarantined under its pseudonym (shared/rules/erasure.ts computes the same).
      select f.email, coalesce(e.reason, 'not defined') from firsts f join erased e
        on e.email = 'erased-' || encode(sha256(convert_to(f.email, 'UTF8')), 'hex') || ${`@${ERASED_DOMAIN}`}
    ), kept as (
      select f.* from firsts f where not exists (select 1 from excluded e where e.email = f.email)
    ), inserted as (
      insert into delivery_targets (delivery_id, seq, email, data)
      select ${id}, (row_number() over (order by line) - 1)::int, email, data from kept
      returning 1
    )
    select (select count(*) from import_rows)::int as rows,
           (select count(*) from firsts)::int as distinct_rows,
           (select count(*) from inserted)::int as to_send,
           (select coalesce(jsonb_object_agg(reason, n), '{}') from (
             select reason, count(*)::int as n from excluded group by reason) r) as excluded_by_reason`;
  const toSend = stats!.to_send as number;
  await tx`update deliveries set to_send = ${toSend} where id = ${id}`;
  return {
    rows: stats!.rows as number,
    toSend,
    duplicates: (stats!.rows as number) - (stats!.distinct_rows as number),
    quarantined: (stats!.distinct_rows as number) - toSend,
    excludedByReason: stats!.excluded_by_reason as Record<string, number>,
  };
}

/**
 * Registers a delivery and imports its recipients in one transaction. With `recurring`, the delivery is
 * a recurring delivery's template: never sent itself, its audience kept whole, and `recurring` writes its
 * schedule in the same transaction.
 */
export async function createDeliveryWithTargets(
  sql: postgres.Sql,
  delivery: NewDelivery,
  rows: Rows,
  options: ImportOptions & { recurring?: (tx: postgres.TransactionSql, id: string) => Promise<void> },
): Promise<ImportResult> {
  return sql.begin(async (tx) => {
    const [created] = await tx`
      insert into deliveries (label, efs, validity_seconds, retry_interval_seconds, contact_date, sender,
        return_path_domain, subject, text_body, html_body, columns, token, state)
      values (${delivery.label}, ${delivery.efs}, ${delivery.validitySeconds}, ${delivery.retryIntervalSeconds},
        ${delivery.contactDate}, ${delivery.sender}, ${delivery.returnPathDomain ?? null}, ${delivery.subject},
        ${delivery.textBody}, ${delivery.htmlBody}, ${delivery.columns}, ${randomBytes(6).toString('hex')},
        ${options.recurring ? 'recurring' : 'prepared'})
      returning id`;
    const id = String(created!.id);
    const stats = await importTargets(tx, id, rows, { ...options, keepQuarantined: !!options.recurring });
    await tx`insert into delivery_kpis (delivery_id) values (${id})`;
    await options.recurring?.(tx, id);
    return { id, ...stats };
  });
}

/**
 * Swaps a recurring delivery's audience for its next executions, with the same validation as create:
 * a bad file changes nothing. The columns the content uses must still be there.
 */
export async function replaceTargets(
  sql: postgres.Sql,
  templateId: string,
  rows: Rows,
  options: ImportOptions,
): Promise<ImportResult> {
  return sql.begin(async (tx) => {
    // Locked, so that an execution being produced copies the old audience or the new one, never a mix.
    const [template] = await tx`select state from deliveries where id = ${templateId} for update`;
    if (!template) throw new ImportRefusedState(`delivery ${templateId} not found`);
    if (template.state !== 'recurring')
      throw new ImportRefusedState(
        `delivery ${templateId} is not a recurring delivery (it is ${template.state}); only a recurring delivery's audience can be replaced`,
      );
    await tx`delete from delivery_targets where delivery_id = ${templateId}`;
    const stats = await importTargets(tx, templateId, rows, { ...options, keepQuarantined: true });
    return { id: templateId, ...stats };
  });
}

/** A replacement refused because of the delivery, not the file. */
export class ImportRefusedState extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ImportRefusedState';
  }
}
