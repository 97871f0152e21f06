// Property tests over hostile input (issue 18): arbitrary strings and nesting through the receivers' translators,
// the bounce reader, the recipients reader, the template and the dead-letter writer. Nothing throws but the
// refusal it documents, and every input ends as events the workers accept, a refusal with a reason, or a dead
// letter PostgreSQL stores. Then a few of them through the running receiver: never a 5xx, never a wedged job.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { recordDeadLetters } from '../db/dead-letters';
import { readBounce } from '../shared/bounce';
import { readEvent } from '../shared/event-input';
import { feedbackEvent, trackingEvent } from '../shared/queues';
import { readRecipients } from '../shared/recipients';
import {
  compileTemplate,
  escapeHtml,
  placeholderProblem,
  placeholders,
  render,
} from '../shared/rules/template';
import { storable, unstorable } from '../shared/storable';
import { translateDsn } from '../workers/servers/feedback-http/dsn';
import { translateGeneric } from '../workers/servers/feedback-http/generic';
import { readKumoRecords, translateKumo } from '../workers/servers/feedback-http/kumomta';
import { screenTranslation } from '../workers/servers/feedback-http/screen';
import { translateSes } from '../workers/servers/feedback-http/ses';
import { translateSparkPost } from '../workers/servers/feedback-http/sparkpost';
import { BadPayload, type Translation } from '../workers/servers/feedback-http/translate';
import { createTestEnv, type TestEnv } from './helpers/env';

/** Characters that break things: NUL, lone surrogates, quotes, braces, newlines, non-BMP, prototype names. */
const nasty = fc.string({
  unit: fc.constantFrom(
    '\u0000',
    '\ud800',
    '\udc00',
    'a',
    '{',
    '}',
    '"',
    '\\',
    '\n',
    '\r',
    'é',
    '𝄞',
    ':',
    ';',
    '<',
    '@',
    '5',
    '.',
    ' ',
  ),
  maxLength: 40,
});
const key = fc.oneof(
  nasty,
  fc.constantFrom('constructor', '__proto__', 'toString', 'type', 'timestamp', 'msys', 'events'),
);
/** JSON-like values with hostile strings and keys, nested up to a few levels, and the occasional huge number. */
const value = fc.letrec((tie) => ({
  leaf: fc.oneof(
    nasty,
    fc.double(),
    fc.constantFrom(
      1e300,
      -1,
      0,
      99999999999999,
      253402300800,
      '0000-01-01T00:00:00Z',
      '9999-12-31T00:00:00Z',
      null,
      true,
    ),
  ),
  node: fc.oneof(
    { depthSize: 'small' },
    tie('leaf'),
    fc.array(tie('node'), { maxLength: 4 }),
    fc.dictionary(key, tie('node'), { maxKeys: 5 }),
  ),
})).node;
const NOW = new Date('2026-12-02T12:00:00Z');

/** Translates, screens as the receiver does, and checks the outcome: accepted, refused with a reason, or a 400. */
async function survives(translate: () => Translation | Promise<Translation>): Promise<void> {
  let t: Translation;
  try {
    t = await translate();
  } catch (error) {
    // The documented refusal of a whole body (answered 400 and dead-lettered); anything else is a crash.
    expect(error).toBeInstanceOf(BadPayload);
    return;
  }
  const screened = screenTranslation(t, NOW);
  for (const e of screened.feedback) expect(readEvent(feedbackEvent, e, NOW).ok).toBe(true);
  for (const e of screened.tracking) expect(readEvent(trackingEvent, e, NOW).ok).toBe(true);
  for (const r of screened.refused) expect(r.reason).toMatch(/\w/);
  // What is enqueued can be hashed for its job id, and what is refused can be stored.
  expect(() => JSON.stringify([...screened.feedback, ...screened.tracking])).not.toThrow();
  expect(unstorable(storable(screened.refused.map((r) => r.raw)))).toBeNull();
}

describe('the receivers, the bounce reader, the template and storable, on arbitrary input', () => {
  test('SparkPost batches', async () => {
    const batch = fc.array(
      fc.oneof(value, fc.record({ msys: fc.dictionary(key, fc.oneof(value, fc.dictionary(key, value))) })),
      { maxLength: 5 },
    );
    await fc.assert(
      fc.asyncProperty(fc.oneof(batch, value), (body) => survives(() => translateSparkPost(body))),
      {
        numRuns: 300,
      },
    );
  });

  test('KumoMTA bodies', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          nasty,
          value.map((v) => JSON.stringify(v) ?? ''),
        ),
        (body) => survives(() => translateKumo(readKumoRecords(body))),
      ),
      { numRuns: 300 },
    );
  });

  test('SES notifications', async () => {
    const ses = fc.record({
      notificationType: fc.constantFrom('Bounce', 'Complaint', 'Delivery', 'Open', 'Click', 'constructor'),
      mail: fc.dictionary(key, value),
      bounce: value,
      complaint: value,
      delivery: value,
    });
    await fc.assert(
      fc.asyncProperty(fc.oneof(ses, value), nasty, (m, id) => survives(() => translateSes(m, id))),
      {
        numRuns: 300,
      },
    );
  });

  test('generic bodies, JSON or mail', async () => {
    const body = fc.oneof(
      nasty,
      value.map((v) => JSON.stringify(v) ?? ''),
      fc.array(value, { maxLength: 4 }).map((events) => JSON.stringify({ events })),
    );
    await fc.assert(
      fc.asyncProperty(
        body,
        fc.constantFrom('application/json', 'message/rfc822', 'multipart/report'),
        (b, type) => survives(() => translateGeneric(b, type)),
      ),
      { numRuns: 300 },
    );
  });

  test('bounce mails: the reader never throws, and a DSN translation ends accepted or refused', async () => {
    const mail = fc
      .tuple(fc.array(fc.tuple(nasty, nasty), { maxLength: 6 }), nasty, fc.array(nasty, { maxLength: 6 }))
      .map(([headers, boundary, parts]) =>
        [
          ...headers.map(([k, v]) => `${k}: ${v}`),
          `Content-Type: multipart/report; report-type=delivery-status; boundary="${boundary}"`,
          '',
          ...parts.flatMap((p, i) => [
            `--${boundary}`,
            `Content-Type: ${i % 2 ? 'message/delivery-status' : 'text/rfc822-headers'}`,
            '',
            `Final-Recipient: rfc822; ${p}`,
            `Action: ${p}`,
            `Status: ${p}`,
            '',
          ]),
          `--${boundary}--`,
        ].join('\r\n'),
      );
    await fc.assert(
      fc.asyncProperty(fc.oneof(mail, nasty), async (raw) => {
        expect(() => readBounce(raw)).not.toThrow();
        await survives(() => translateDsn(raw));
      }),
      { numRuns: 200 },
    );
  });

  test('templates: any text and values render, and prototype names never reach a recipient', () => {
    fc.assert(
      fc.property(
        nasty,
        fc.dictionary(key, nasty),
        fc.constantFrom('constructor', '__proto__', 'toString', 'x'),
        (text, values, name) => {
          const t = compileTemplate(`${text}{{${name}}}${text}`);
          const out = render(t, values, escapeHtml);
          expect(typeof out).toBe('string');
          expect(out).not.toContain('[native code]');
          for (const column of placeholders(text))
            expect(placeholderProblem(column) ?? '').toEqual(expect.any(String));
        },
      ),
      { numRuns: 500 },
    );
  });

  test('storable makes any value one PostgreSQL stores and JSON round-trips', () => {
    fc.assert(
      fc.property(value, (v) => {
        const s = storable(v);
        expect(unstorable(s)).toBeNull();
        expect(unstorable(JSON.parse(JSON.stringify(s ?? null)))).toBeNull();
      }),
      { numRuns: 500 },
    );
  });
});

describe('against the real PostgreSQL', () => {
  let t: TestEnv;
  let dir: string;
  beforeAll(async () => {
    t = await createTestEnv();
    dir = await mkdtemp(path.join(tmpdir(), 'fuzz-import-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
    await t.cleanup();
  });

  test('any dead letter is written', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(nasty, value), { minLength: 1, maxLength: 5 }), async (entries) => {
        await recordDeadLetters(
          t.sql,
          entries.map(([reason, payload]) => ({ queue: reason, jobId: reason, reason, payload })),
        );
      }),
      { numRuns: 100 },
    );
  });

  test('any recipients file yields rows PostgreSQL stores, or errors with their line', async () => {
    let n = 0;
    const csv = fc
      .array(fc.array(nasty, { minLength: 1, maxLength: 4 }), { maxLength: 6 })
      .map((rows) => ['email,first', ...rows.map((r) => r.join(','))].join('\n'));
    const jsonl = fc
      .array(fc.dictionary(key, value, { maxKeys: 4 }), { maxLength: 6 })
      .map((rows) => rows.map((r) => JSON.stringify(r)).join('\n'));
    await fc.assert(
      fc.asyncProperty(fc.oneof(csv, jsonl, nasty), fc.constantFrom('csv', 'jsonl'), async (content, ext) => {
        const file = path.join(dir, `f${++n}.${ext}`);
        await writeFile(file, content);
        for await (const item of readRecipients(file, [])) {
          if ('error' in item) {
            expect(item.error.line).toBeGreaterThanOrEqual(0);
            expect(item.error.message).toMatch(/\w/);
          } else {
            expect(unstorable(item.row.data)).toBeNull();
            await t.sql`select ${JSON.stringify(item.row.data)}::jsonb, ${item.row.email}::text`;
          }
        }
      }),
      { numRuns: 150 },
    );
  });
});
