// Registers a delivery and imports its recipients in one transaction: all of it, or nothing.
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import type postgres from 'postgres';
import { newMessageKey } from '../shared/message-id';
import type { RecipientBatch, RecipientRow, RowError } from '../shared/recipients';
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

/**
 * COPY … FROM STDIN whose failure is seen. postgres.js 3.4 never settles the stream when PostgreSQL refuses
 * the data after CopyDone (porsager/postgres#1173): the transaction would stay `idle in transaction
 * (aborted)` for ever. The query is still told of the error; hooked here, it rejects `failed`.
 */
async function copyIn(query: postgres.PendingQuery<postgres.Row[]>) {
  const hooked = query as unknown as { reject: (error: unknown) => void };
  const original = hooked.reject;
  const failed = new Promise<never>((_, reject) => {
    hooked.reject = (error) => {
      original(error);
      reject(error);
    };
  });
  failed.catch(() => {}); // observed by the races below; unobserved when the copy succeeds
  const stream = await query.writable();
  return { stream, failed };
}

/** What an import reads: the reader's batches (shared/recipients.ts), or rows one by one. */
type Rows = AsyncIterable<RecipientBatch | { row: RecipientRow } | { error: RowError }>;

/** What an import found, besides the delivery's id. */
type TargetStats = Omit<ImportResult, 'id'>;

/**
 * The 32-bit fingerprints of the addresses seen so far, in an open-addressing table (4 bytes an address,
 * 64 MB at 10M): an address whose fingerprint is new is surely no duplicate, so the server looks for
 * duplicates among the few others only (the true duplicates and about n²/2³³ collisions: ~12,000 at 10M).
 */
class Fingerprints {
  private bits = 16;
  private slots = new Uint32Array(1 << this.bits);
  private size = 0;

  /** Adds the address's fingerprint; true when it was there already (the address may be a duplicate). */
  seen(email: string): boolean {
    let h = 0x811c9dc5; // FNV-1a over the UTF-16 units
    for (let i = 0; i < email.length; i++) h = Math.imul(h ^ email.charCodeAt(i), 0x01000193);
    h = h >>> 0 || 1; // 0 marks an empty slot
    if (this.size * 4 >= this.slots.length * 3) this.grow();
    return this.place(this.slots, this.bits, h);
  }

  private place(slots: Uint32Array, bits: number, h: number): boolean {
    const mask = slots.length - 1;
    for (let i = Math.imul(h, 0x9e3779b1) >>> (32 - bits); ; i = (i + 1) & mask) {
      const v = slots[i]!;
      if (v === h) return true;
      if (v === 0) {
        slots[i] = h;
        this.size++;
        return false;
      }
    }
  }

  private grow() {
    const old = this.slots;
    this.bits++;
    this.slots = new Uint32Array(1 << this.bits);
    this.size = 0;
    for (const h of old) if (h !== 0) this.place(this.slots, this.bits, h);
  }
}

/** COPY text of the rows, written in pieces of about this many characters (one CopyData message each). */
const PIECE = 256 * 1024;
/** A pseudonym of shared/rules/erasure.ts, whose hash the import compares with each address's. */
const PSEUDONYM = `^erased-[0-9a-f]{64}@${ERASED_DOMAIN.replaceAll('.', '\\.')}$`;

/**
 * Streams the rows into a temporary table with COPY (memory stays flat whatever the file's size), each with
 * its rank among the file's valid rows; then, set-based on the server, finds the rows left out (an address's
 * later rows, and unless asked to keep them the quarantined addresses: a recurring delivery's audience keeps
 * them, each execution leaves out the addresses quarantined by then) and writes the rest as the delivery's
 * targets in one `insert … select`, numbered densely in file order: a kept row's seq is its rank less the
 * rows left out before it (`width_bucket` over their sorted ranks: no sort of the rows).
 */
async function importTargets(
  tx: postgres.TransactionSql,
  id: string,
  rows: Rows,
  options: ImportOptions & { keepQuarantined?: boolean },
): Promise<TargetStats> {
  const onProgress = options.onProgress ?? (() => {});
  await tx`create temporary table import_rows (n int not null, email text not null, data jsonb not null,
    maybe_duplicate boolean not null) on commit drop`;
  await tx`create temporary table import_left_out (n int not null, reason text) on commit drop`;

  const errors: RowError[] = [];
  let more = false;
  let count = 0;
  let candidates = 0;
  const fingerprints = new Fingerprints();
  const refuse = (error: RowError) => {
    if (errors.length < MAX_REPORTED_ERRORS) errors.push(error);
    else more = true;
  };
  const { stream: copy, failed } = await copyIn(
    tx`copy import_rows (n, email, data, maybe_duplicate) from stdin`,
  );
  let text = '';
  const flush = async () => {
    const piece = text;
    text = '';
    if (!copy.write(piece)) await Promise.race([once(copy, 'drain'), failed]);
  };
  /** One row's COPY line; an address from the reader holds no tab, newline or backslash (normalizeEmail). */
  const add = (email: string, data: string) => {
    const maybe = fingerprints.seen(email);
    if (maybe) candidates++;
    text += `${count++}\t${email}\t${data.includes('\\') ? data.replaceAll('\\', '\\\\') : data}\t${maybe ? 't' : 'f'}\n`;
  };
  let reported = 0;
  try {
    for await (const item of rows) {
      if ('emails' in item) {
        for (const error of item.errors) refuse({ line: error.line, message: error.message });
        // Refused already: read on only to report the other bad rows.
        if (errors.length > 0) continue;
        const { emails, data } = item;
        for (let i = 0; i < emails.length; i++) add(emails[i]!, data[i]!);
      } else if ('error' in item) {
        refuse(item.error);
        continue;
      } else if (errors.length === 0) {
        const { row } = item;
        add(copyField(row.email), JSON.stringify(row.data));
      }
      if (text.length >= PIECE) await flush();
      if (count - reported >= 10_000) {
        reported = count - (count % 10_000);
        onProgress(reported);
      }
    }
    if (text.length > 0 && errors.length === 0) await flush();
  } catch (error) {
    copy.destroy(error as Error);
    throw error;
  }
  copy.end();
  await Promise.race([once(copy, 'finish'), failed]);
  if (errors.length > 0) throw new ImportRefused(errors, more);
  // An empty file, or a header alone, would make a delivery that "sends" 0 of 0.
  if (count === 0)
    throw new ImportRefused(
      [{ line: 1, message: 'no recipients; give a header with an "email" column and at least one row' }],
      false,
    );
  onProgress(count);

  // An address's later rows: looked for among the addresses whose fingerprint came twice only.
  if (candidates > 0)
    await tx`
      insert into import_left_out (n)
      select n from (
        select s.n, min(s.n) over (partition by s.email) as first from import_rows s
        where s.email in (select c.email from import_rows c where c.maybe_duplicate)
      ) d where d.n > d.first`;
  if (!options.keepQuarantined) {
    const quarantined = quarantinedCondition(tx, options.now, options.quarantine);
    await tx`
      insert into import_left_out (n, reason)
      select s.n, coalesce(q.reason, 'not defined') from import_rows s join quarantine q on q.email = s.email
      where ${quarantined} and not exists (select 1 from import_left_out o where o.n = s.n)`;
    // An erased address is quarantined under its pseudonym, the hash of the address (shared/rules/erasure.ts):
    // each address is hashed only when such an entry exists.
    const [erased] =
      await tx`select 1 from quarantine q where q.email ~ ${PSEUDONYM} and ${quarantined} limit 1`;
    if (erased)
      await tx`
        insert into import_left_out (n, reason)
        select s.n, coalesce(e.reason, 'not defined') from import_rows s
        join (select distinct on (hash) decode(substring(q.email from 8 for 64), 'hex') as hash, q.reason
              from quarantine q where q.email ~ ${PSEUDONYM} and ${quarantined}) e
          on e.hash = sha256(convert_to(s.email, 'UTF8'))
        where not exists (select 1 from import_left_out o where o.n = s.n)`;
  }
  const leftOut = await tx<{ reason: string | null; n: number }[]>`
    select reason, count(*)::int as n from import_left_out group by reason`;
  const inserted =
    leftOut.length === 0
      ? await tx`insert into delivery_targets (delivery_id, seq, email, data)
          select ${id}, n, email, data from import_rows`
      : await tx`insert into delivery_targets (delivery_id, seq, email, data)
          select ${id}, s.n - width_bucket(s.n, (select array_agg(n order by n) from import_left_out)), s.email, s.data
          from import_rows s where not exists (select 1 from import_left_out o where o.n = s.n)`;
  const toSend = inserted.count;
  await tx`update deliveries set to_send = ${toSend} where id = ${id}`;
  const duplicates = leftOut.find((r) => r.reason === null)?.n ?? 0;
  const excludedByReason: Record<string, number> = {};
  for (const r of leftOut) if (r.reason !== null) excludedByReason[r.reason] = r.n;
  return { rows: count, toSend, duplicates, quarantined: count - duplicates - toSend, excludedByReason };
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
        return_path_domain, subject, text_body, html_body, columns, token, message_key, state)
      values (${delivery.label}, ${delivery.efs}, ${delivery.validitySeconds}, ${delivery.retryIntervalSeconds},
        ${delivery.contactDate}, ${delivery.sender}, ${delivery.returnPathDomain ?? null}, ${delivery.subject},
        ${delivery.textBody}, ${delivery.htmlBody}, ${delivery.columns}, ${randomBytes(6).toString('hex')}, ${newMessageKey()},
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
