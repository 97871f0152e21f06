// The feedback benchmarks' story: two sent deliveries (one EFS) and a stream of MTA events over them, in
// jobs of 1,000, with 10 % duplicates and 5 % out of order, the same from one run to the next.
import type postgres from 'postgres';

/** Events a feedback job carries. */
export const JOB_EVENTS = 1000;
export const TOKEN = 'bec0ffee0123';

/** A deterministic generator, so that two runs replay the same story. */
function random(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/** Two deliveries of `perDelivery` sent messages each, written as the dispatch writes them. */
export async function seed(sql: postgres.Sql, perDelivery: number) {
  for (const [id, efs] of [
    [1, true],
    [2, false],
  ] as const) {
    await sql`
      insert into deliveries (id, label, state, efs, validity_seconds, retry_interval_seconds, sender, subject, token,
        to_send, valid_until, confirmed_at, sending_at, sent_at)
      values (${id}, ${`bench ${efs ? 'EFS' : 'no EFS'}`}, 'sent', ${efs}, 259200, 3600, 'bench@bench.test', 's',
        ${TOKEN}, ${perDelivery}, now() + interval '3 days', now(), now(), now())`;
    await sql`
      insert into delivery_logs (delivery_id, seq, email, status, attempts, message_id, handed_off_at, updated_at)
      select ${id}, g, 'user' || g || '-' || ${id} || '@bench.test', ${efs ? 'pending' : 'sent'}::log_status, 1,
             '1.' || g || '.' || ${id} || '.' || ${TOKEN} || '@bench.test', now(), now()
      from generate_series(0, ${perDelivery - 1}) g`;
    await sql`insert into delivery_kpis (delivery_id, sent, delivered) values (${id}, ${perDelivery}, ${efs ? 0 : perDelivery})`;
  }
  // The partition of the seeded deliveries only: beside 100M rows of history (bench/scale-history.ts), a
  // vacuum of the whole table would take minutes and measure nothing.
  const [part] =
    await sql`select tableoid::regclass::text as name from delivery_logs where delivery_id = 1 limit 1`;
  await sql.unsafe(`vacuum analyze ${part!.name}`);
}

/** One MTA event as the feedback queue carries it. */
export type Ev = {
  eventId: string;
  messageId: string;
  type: string;
  occurredAt: string;
  smtpCode?: number;
  enhancedStatus?: string;
  diagnostic?: string;
};

/** The event stream: one event for most messages, a second (sent first) for 5 %, then 10 % duplicates. */
export function* jobs(perDelivery: number, total: number): Generator<Ev[]> {
  const rnd = random(42);
  const messages = perDelivery * 2;
  const duplicates = Math.round(total * 0.1);
  const outOfOrder = Math.round(total * 0.05);
  const primaries = total - duplicates - outOfOrder;
  const at = (minute: number) => new Date(Date.UTC(2026, 10, 24, 10, minute)).toISOString();
  let n = 0;
  const recent: Ev[] = [];
  let batch: Ev[] = [];
  let count = 0;
  const push = function* (e: Ev) {
    count++;
    batch.push(e);
    if (recent.length < 50_000) recent.push(e);
    else recent[Math.floor(rnd() * recent.length)] = e;
    if (batch.length === JOB_EVENTS) {
      yield batch;
      batch = [];
    }
  };
  // Messages in send order, the two deliveries interleaved, as an MTA reports them (mostly in order).
  for (let i = 0; i < primaries; i++) {
    const m = i % messages;
    const deliveryId = m % 2 === 0 ? 1 : 2;
    const seq = Math.floor(m / 2);
    const messageId = `1.${seq}.${deliveryId}.${TOKEN}@bench.test`;
    const r = rnd();
    if (i % 20 === 7 && i / 20 < outOfOrder) {
      // Out of order: the later "delivered" arrives before the earlier soft bounce of the same attempt.
      yield* push({ eventId: `ev-${n++}`, messageId, type: 'delivered', occurredAt: at(30) });
      yield* push({
        eventId: `ev-${n++}`,
        messageId,
        type: 'soft_bounce',
        occurredAt: at(5),
        smtpCode: 452,
        enhancedStatus: '4.2.2',
        diagnostic: 'mailbox full',
      });
    } else if (r < 0.8) {
      yield* push({ eventId: `ev-${n++}`, messageId, type: 'delivered', occurredAt: at(10) });
    } else if (r < 0.9) {
      yield* push({
        eventId: `ev-${n++}`,
        messageId,
        type: 'hard_bounce',
        occurredAt: at(10),
        smtpCode: 550,
        enhancedStatus: '5.1.1',
        diagnostic: 'user unknown',
      });
    } else {
      yield* push({
        eventId: `ev-${n++}`,
        messageId,
        type: 'soft_bounce',
        occurredAt: at(10),
        smtpCode: 421,
        enhancedStatus: '4.7.0',
        diagnostic: 'try again later',
      });
    }
    if (i % 9 === 8 && recent.length > 0) yield* push(recent[Math.floor(rnd() * recent.length)]!);
  }
  // Top up with repeats so that the stream holds exactly `total` events.
  while (count < total) yield* push(recent[Math.floor(rnd() * recent.length)]!);
  if (batch.length > 0) yield batch;
}
