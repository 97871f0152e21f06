// The demo's MTA: a loopback SMTP server that accepts every message, then reports on it the way a real MTA and
// tracker would, later and in batches, on the public queues `mta-feedback` and `tracking-events` (docs/CONTRACT.md).
import type { AddressInfo } from 'node:net';
import { Queue } from 'bullmq';
import { SMTPServer } from 'smtp-server';
import { parseMessageId } from '../shared/message-id';
import { feedbackQueue, trackingQueue } from '../shared/queues';
import type { RedisClient } from '../shared/redis';
import { answerFor, delayFor, type Engagement, engagementOf, type Fate, fateOf, type Rates } from './fate';

/** Feedback arrives this long after the message (ms), tracking this long after the delivered event. */
export interface Timing {
  feedback: readonly [number, number];
  tracking: readonly [number, number];
}

// Feedback a second or more after the hand-off: the dispatch logs every 500 messages, and an event that outruns
// its log waits for a retry with backoff, which would stretch the story.
export const DEFAULT_TIMING: Timing = { feedback: [1000, 3000], tracking: [500, 4000] };

/** What the simulator decided for one delivery's recipients, and what it reported: the test's expectations. */
export interface DeliveryDecisions {
  received: number;
  fates: Record<Fate, number>;
  /** recipients for which a delivered event was sent (first attempt, or a retry of a soft-recover) */
  delivered: number;
  /** soft-recover recipients whose retry never reached the MTA (they end failed) */
  softRecoverNotRetried: number;
  opens: number;
  clicks: number;
  messages: number;
}

interface Recipient {
  fate: Fate;
  engagement: Engagement;
  delivered: boolean;
}

interface Pending {
  at: number;
  queue: 'feedback' | 'tracking';
  event: Record<string, unknown>;
}

const FLUSH_MS = 200;

/** The running simulator: its SMTP URL, whether it has said everything, what it decided. */
export interface SimulatedMta {
  url: string;
  /** true once every decided event is on its queue */
  idle(): boolean;
  decisions(): Record<string, DeliveryDecisions>;
  close(): Promise<void>;
}

export async function startSimulatedMta(options: {
  redis: RedisClient;
  prefix: string;
  seed: number;
  rates: Rates;
  timing: Timing;
}): Promise<SimulatedMta> {
  const { seed, rates, timing } = options;
  const queues = {
    feedback: new Queue(feedbackQueue.name, { connection: options.redis, prefix: options.prefix }),
    tracking: new Queue(trackingQueue.name, { connection: options.redis, prefix: options.prefix }),
  };
  const recipients = new Map<string, Map<number, Recipient>>();
  const seen = new Set<string>();
  const counts = new Map<string, { messages: number; opens: number; clicks: number }>();
  let pending: Pending[] = [];
  let flushing = 0;
  let eventCount = 0;

  const onMessage = (messageId: string) => {
    const ref = parseMessageId(messageId);
    // A repeat hand-off of the same attempt (a recovered batch) gets no second answer, as a real MTA dedups.
    if (!ref || seen.has(messageId)) return;
    seen.add(messageId);
    const byDelivery = recipients.get(ref.deliveryId) ?? new Map<number, Recipient>();
    recipients.set(ref.deliveryId, byDelivery);
    let r = byDelivery.get(ref.seq);
    if (!r) {
      r = {
        fate: fateOf(seed, rates, ref.deliveryId, ref.seq),
        engagement: engagementOf(seed, rates, ref.deliveryId, ref.seq),
        delivered: false,
      };
      byDelivery.set(ref.seq, r);
    }
    const c = counts.get(ref.deliveryId) ?? { messages: 0, opens: 0, clicks: 0 };
    counts.set(ref.deliveryId, c);
    c.messages++;
    const now = Date.now();
    const answer = answerFor(r.fate, ref.attempt);
    const at = now + delayFor(seed, messageId, timing.feedback);
    const occurredAt = new Date(at).toISOString();
    pending.push({
      at,
      queue: 'feedback',
      event: { eventId: `sim-${++eventCount}-${answer.type}`, messageId, occurredAt, ...answer },
    });
    if (answer.type !== 'delivered' || r.delivered) return;
    r.delivered = true;
    if (r.engagement === 'none') return;
    const openAt = at + delayFor(seed, `open:${messageId}`, timing.tracking);
    const open = { messageId, type: 'open', occurredAt: new Date(openAt).toISOString() };
    pending.push({ at: openAt, queue: 'tracking', event: { eventId: `trk-${++eventCount}`, ...open } });
    c.opens++;
    if (r.engagement !== 'click') return;
    const clickAt = openAt + delayFor(seed, `click:${messageId}`, timing.tracking);
    const click = { ...open, type: 'click', url: 'https://example.com/winter-sale' };
    pending.push({
      at: clickAt,
      queue: 'tracking',
      event: { eventId: `trk-${++eventCount}`, ...click, occurredAt: new Date(clickAt).toISOString() },
    });
    c.clicks++;
  };

  // Due events go out together, one job per queue and tick, as an MTA reports in batches.
  const flush = async () => {
    const now = Date.now();
    const due = pending.filter((p) => p.at <= now);
    if (due.length === 0) return;
    pending = pending.filter((p) => p.at > now);
    flushing++;
    try {
      for (const name of ['feedback', 'tracking'] as const) {
        const events = due.filter((p) => p.queue === name).map((p) => p.event);
        // The declared job options: an event that outruns its message's log is retried, as the queue intends.
        const options = (name === 'feedback' ? feedbackQueue : trackingQueue).jobOptions;
        if (events.length > 0) await queues[name].add('sim', { events }, options);
      }
    } finally {
      flushing--;
    }
  };
  const timer = setInterval(() => void flush(), FLUSH_MS);

  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    onData(stream, _session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        // The headers end at the first empty line; the message id is all the simulator needs.
        const raw = Buffer.concat(chunks).toString('utf8');
        const head = raw.slice(0, Math.max(0, raw.indexOf('\r\n\r\n')) || raw.length);
        const match = /^X-Campaign-Message-Id: *(.+)$/im.exec(head);
        if (match) onMessage(match[1]!.trim());
        callback();
      });
    },
  });
  server.on('error', () => {});
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.server.address() as AddressInfo).port;

  return {
    url: `smtp://127.0.0.1:${port}`,
    idle: () => pending.length === 0 && flushing === 0,
    decisions: () => {
      const result: Record<string, DeliveryDecisions> = {};
      for (const [deliveryId, byDelivery] of recipients) {
        const fates: Record<Fate, number> = { delivered: 0, hard: 0, 'soft-recover': 0, 'soft-never': 0 };
        let delivered = 0;
        let notRetried = 0;
        for (const r of byDelivery.values()) {
          fates[r.fate]++;
          if (r.delivered) delivered++;
          else if (r.fate === 'soft-recover') notRetried++;
        }
        const c = counts.get(deliveryId) ?? { messages: 0, opens: 0, clicks: 0 };
        result[deliveryId] = {
          received: byDelivery.size,
          fates,
          delivered,
          softRecoverNotRetried: notRetried,
          ...c,
        };
      }
      return result;
    },
    close: async () => {
      clearInterval(timer);
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await Promise.all([queues.feedback.close(), queues.tracking.close()]);
    },
  };
}
