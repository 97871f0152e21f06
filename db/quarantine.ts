// The quarantine table: address outcomes applied set-wise under row locks, and the operator's list, show and release.
import type postgres from 'postgres';
import type { FailureType } from '../shared/rules/log-values';
import {
  type AddressOutcome,
  applyAddressOutcome,
  isQuarantined,
  MAILBOX_FULL,
  type QuarantineEntry,
  type QuarantineRules,
  releaseTime,
  sameEntry,
} from '../shared/rules/quarantine-rules';

type Sql = postgres.Sql | postgres.TransactionSql;

const time = (value: Date | null): number | null => (value === null ? null : value.getTime());
const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

function toEntry(r: postgres.Row): QuarantineEntry {
  return {
    email: r.email,
    errorCount: r.error_count,
    lastCountedAt: time(r.last_counted_at),
    firstFailureAt: time(r.first_failure_at),
    lastFailureAt: time(r.last_failure_at),
    failureType: r.failure_type,
    reason: r.reason,
    deliveryId: r.delivery_id === null ? null : String(r.delivery_id),
    quarantinedAt: time(r.quarantined_at),
    releasedAt: time(r.released_at),
  };
}

/**
 * The SQL twin of `isQuarantined` over a `quarantine` row aliased `q`: quarantined, not released by an
 * operator, and not a 'mailbox full' entry whose release delay has run out at `now`.
 */
export function quarantinedCondition(
  sql: Sql,
  now: number,
  rules: Pick<QuarantineRules, 'mailboxFullReleaseMs'>,
): postgres.PendingQuery<postgres.Row[]> {
  return sql`(q.quarantined_at is not null
    and (q.released_at is null or q.released_at < q.quarantined_at)
    and (q.reason is distinct from ${MAILBOX_FULL}
      or q.quarantined_at > ${new Date(now - rules.mailboxFullReleaseMs).toISOString()}::timestamptz))`;
}

/** The addresses among `emails` that are quarantined at `now`: they get no new attempt. */
export async function quarantinedAmong(
  sql: Sql,
  emails: string[],
  now: number,
  rules: Pick<QuarantineRules, 'mailboxFullReleaseMs'>,
): Promise<Set<string>> {
  const rows = await sql`select q.email from quarantine q where q.email = any(${emails}::text[])
    and ${quarantinedCondition(sql, now, rules)}`;
  return new Set(rows.map((r) => r.email as string));
}

/**
 * Applies outcomes of many addresses in two statements whatever their number: one reads and locks every
 * entry concerned, creating the missing entries of failing addresses (so that concurrent transactions wait
 * on the same row instead of each inserting its own view of it); then the changed entries are written in one
 * upsert. Each address's outcomes apply in `at` order. Call it once per transaction: a second call could wait
 * on a row another batch holds while holding one that batch waits for. Returns how many entries changed.
 */
export async function recordAddressOutcomes(
  tx: Sql,
  outcomes: AddressOutcome[],
  rules: QuarantineRules,
): Promise<number> {
  const relevant = outcomes.filter((o) => o.kind !== 'ignored');
  if (relevant.length === 0) return 0;
  const failing = [...new Set(relevant.filter((o) => o.kind !== 'delivered').map((o) => o.email))];
  // A delivery matters only to an address with errors to reset: most have no entry at all, so of the
  // delivered-only addresses just those with errors are locked, beside every failing one.
  const failingSet = new Set(failing);
  const deliveredOnly = [...new Set(relevant.filter((o) => !failingSet.has(o.email)).map((o) => o.email))];
  // One statement: the existing entries locked in email order (so two batches never deadlock; FOR UPDATE
  // re-reads a row another transaction changed meanwhile), then the failing addresses' missing entries
  // inserted in email order, returned as inserted. UNION ALL runs its branches in turn, so no insert waits
  // while this transaction still has rows to lock. A row the insert found but the lock could not see (another
  // transaction inserted it and committed once this statement had begun) is neither locked nor returned: it is
  // locked and read by one more statement, only then.
  const rows = await tx`
    with locked as (
      select q.* from quarantine q
      where q.email = any(${failing}::text[])
        or (q.email = any(${deliveredOnly}::text[]) and (q.error_count > 0 or q.last_counted_at is not null))
      order by q.email
      for update
    ), inserted as (
      insert into quarantine (email)
      select u.email from unnest(${failing}::text[]) as u(email)
      where u.email not in (select email from locked)
      order by u.email
      on conflict (email) do nothing
      returning *
    )
    select * from locked union all select * from inserted`;
  const seen = new Set(rows.map((r) => r.email as string));
  const raced = failing.filter((email) => !seen.has(email));
  if (raced.length > 0)
    rows.push(
      ...(await tx`select * from quarantine where email = any(${raced}::text[]) order by email for update`),
    );
  if (rows.length === 0) return 0;
  const before = new Map(rows.map((r) => [r.email as string, toEntry(r)]));
  const after = new Map<string, QuarantineEntry | null>(before);
  for (const o of [...relevant].sort((a, b) => a.at - b.at)) {
    after.set(o.email, applyAddressOutcome(after.get(o.email) ?? null, o, rules));
  }
  const changed = [...after.values()].filter(
    (e): e is QuarantineEntry => e !== null && !sameEntry(e, before.get(e.email) ?? null),
  );
  if (changed.length === 0) return 0;
  const column = <T>(pick: (e: QuarantineEntry) => T) => changed.map(pick);
  // Times go as ISO text and enums as text, cast in SQL: postgres.js cannot type arrays of Dates or enums.
  await tx`
    insert into quarantine (email, error_count, last_counted_at, first_failure_at, last_failure_at,
      failure_type, reason, delivery_id, quarantined_at, released_at, updated_at)
    select u.email, u.error_count, u.last_counted_at::timestamptz, u.first_failure_at::timestamptz,
      u.last_failure_at::timestamptz, u.failure_type::failure_type, u.reason, u.delivery_id::bigint,
      u.quarantined_at::timestamptz, u.released_at::timestamptz, now()
    from unnest(${column((e) => e.email)}::text[], ${column((e) => e.errorCount)}::int[],
      ${column((e) => iso(e.lastCountedAt)) as string[]}::text[],
      ${column((e) => iso(e.firstFailureAt)) as string[]}::text[],
      ${column((e) => iso(e.lastFailureAt)) as string[]}::text[],
      ${column((e) => e.failureType) as string[]}::text[], ${column((e) => e.reason) as string[]}::text[],
      ${column((e) => e.deliveryId) as string[]}::text[],
      ${column((e) => iso(e.quarantinedAt)) as string[]}::text[],
      ${column((e) => iso(e.releasedAt)) as string[]}::text[])
      as u(email, error_count, last_counted_at, first_failure_at, last_failure_at, failure_type, reason,
        delivery_id, quarantined_at, released_at)
    on conflict (email) do update set
      error_count = excluded.error_count, last_counted_at = excluded.last_counted_at,
      first_failure_at = excluded.first_failure_at, last_failure_at = excluded.last_failure_at,
      failure_type = excluded.failure_type, reason = excluded.reason, delivery_id = excluded.delivery_id,
      quarantined_at = excluded.quarantined_at, released_at = excluded.released_at, updated_at = now()`;
  return changed.length;
}

/** An entry as operators read it: times in ISO 8601, and its state at the time asked. */
export interface QuarantineView {
  email: string;
  /** quarantined: excluded from deliveries; released: it was, and no longer is; counting: errors only */
  state: 'quarantined' | 'released' | 'counting';
  errorCount: number;
  failureType: Exclude<FailureType, 'ignored'> | null;
  reason: string | null;
  deliveryId: string | null;
  firstFailureAt: string | null;
  lastFailureAt: string | null;
  lastCountedAt: string | null;
  quarantinedAt: string | null;
  /** by an operator, or by itself once a 'mailbox full' delay ran out */
  releasedAt: string | null;
  /** when a 'mailbox full' quarantine will end by itself */
  releasesAt: string | null;
}

function toView(entry: QuarantineEntry, now: number, rules: QuarantineRules): QuarantineView {
  const quarantined = isQuarantined(entry, now, rules);
  const released = entry.quarantinedAt === null ? entry.releasedAt : releaseTime(entry, now, rules);
  return {
    email: entry.email,
    state: quarantined ? 'quarantined' : entry.quarantinedAt !== null ? 'released' : 'counting',
    errorCount: entry.errorCount,
    failureType: entry.failureType,
    reason: entry.reason,
    deliveryId: entry.deliveryId,
    firstFailureAt: iso(entry.firstFailureAt),
    lastFailureAt: iso(entry.lastFailureAt),
    lastCountedAt: iso(entry.lastCountedAt),
    quarantinedAt: iso(entry.quarantinedAt),
    releasedAt: iso(released),
    releasesAt:
      quarantined && entry.reason === MAILBOX_FULL
        ? iso(entry.quarantinedAt! + rules.mailboxFullReleaseMs)
        : null,
  };
}

/** Quarantined addresses at `now`, newest first; with `all`, every entry (released ones, errors only). */
export async function listQuarantine(
  sql: Sql,
  filter: { limit: number; all?: boolean },
  now: number,
  rules: QuarantineRules,
): Promise<QuarantineView[]> {
  const rows = await sql`
    select * from quarantine q
    where ${filter.all ?? false}::boolean or ${quarantinedCondition(sql, now, rules)}
    order by q.quarantined_at desc nulls last, q.last_failure_at desc nulls last, q.email
    limit ${filter.limit}`;
  return rows.map((r) => toView(toEntry(r), now, rules));
}

/** One address's entry, or null if it has none. */
export async function showQuarantine(
  sql: Sql,
  email: string,
  now: number,
  rules: QuarantineRules,
): Promise<QuarantineView | null> {
  const [row] = await sql`select * from quarantine where email = ${email}`;
  return row ? toView(toEntry(row), now, rules) : null;
}

/**
 * Ends an address's quarantine at `now` and resets its counter; null if it is not quarantined. Never
 * dated before the quarantine itself, which would leave the address quarantined.
 */
export async function releaseAddress(
  sql: Sql,
  email: string,
  now: number,
  rules: QuarantineRules,
): Promise<QuarantineView | null> {
  const [row] = await sql`
    update quarantine q
    set released_at = greatest(${new Date(now).toISOString()}::timestamptz, q.quarantined_at),
      error_count = 0, last_counted_at = null, updated_at = now()
    where q.email = ${email} and ${quarantinedCondition(sql, now, rules)}
    returning *`;
  return row ? toView(toEntry(row), now, rules) : null;
}
