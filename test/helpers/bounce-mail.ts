// Bounce mails for tests: sends a delivery with VERP return paths, fills in the fixtures of test/fixtures/mailbox
// (real shapes: Postfix, Exim, ARF, an auto-reply) and delivers them to the bounce mailbox with nodemailer.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import nodemailer from 'nodemailer';
import type { PipelineProcess } from '../../workers/start/process';
import { cli } from './cli';
import type { TestEnv } from './env';
import { createDelivery } from './fixtures';
import type { TestMta } from './smtp';

export const BOUNCE_DOMAIN = 'bounces.example.test';
const FIXTURES = path.join(__dirname, '..', 'fixtures', 'mailbox');

/** One recipient of a sent delivery: its address, message id and the VERP return path it was sent with. */
export interface Sent {
  email: string;
  id: string;
  verp: string;
}

/** Creates a delivery with a return-path domain, confirms it as alice and waits until the MTA has it all. */
export async function sentDelivery(
  t: TestEnv,
  mta: TestMta,
  count: number,
  ...options: string[]
): Promise<{ id: string; sent: Sent[] }> {
  const id = await createDelivery(t, count, '--return-path-domain', BOUNCE_DOMAIN, ...options);
  const r = await cli(t.env, 'confirm', id, '--as', 'alice', '--wait');
  if (r.code !== 0) throw new Error(r.stderr);
  const rows =
    await t.sql`select email, message_id from delivery_logs where delivery_id = ${id} order by seq`;
  return {
    id,
    sent: rows.map((row) => {
      const message = mta.received.find((m) => m.messageId === row.message_id)!;
      return { email: row.email, id: row.message_id, verp: message.from };
    }),
  };
}

/** A fixture with the message it bounces filled in; `fbl` is the feedback-loop address an ARF report goes to. */
export const bounceMail = (name: string, s: Sent, fbl = `fbl@${BOUNCE_DOMAIN}`) =>
  readFileSync(path.join(FIXTURES, name), 'utf8')
    .replaceAll('{{VERP}}', s.verp)
    .replaceAll('{{RCPT}}', s.email)
    .replaceAll('{{ID}}', s.id)
    .replaceAll('{{FBL}}', fbl)
    // Each mail its own Message-ID, as real reports have: the event ids are derived from it.
    .replaceAll('{{UNIQ}}', `${s.id.split('@')[0]}-${name.split('.')[0]}`)
    .replace(/\r?\n/g, '\r\n');

/** What the mailbox answered to DATA (or to the first refused command). */
export type Answer = { ok: true; response: string } | { ok: false; code: number; response: string };

/** Delivers a mail to the bounce mailbox as an MTA returning a bounce does: null sender, its return path(s). */
export async function deliverBounce(
  pipeline: PipelineProcess,
  raw: string,
  to: string | string[],
): Promise<Answer> {
  const transport = nodemailer.createTransport({
    host: '127.0.0.1',
    port: pipeline.bouncePort()!,
    secure: false,
    ignoreTLS: true,
  });
  try {
    const info = await transport.sendMail({ envelope: { from: '', to: Array.isArray(to) ? to : [to] }, raw });
    return { ok: true, response: info.response };
  } catch (error) {
    const e = error as { responseCode?: number; response?: string };
    return { ok: false, code: e.responseCode ?? 0, response: e.response ?? String(error) };
  } finally {
    transport.close();
  }
}
