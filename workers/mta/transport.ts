// What an MTA hand-off is (transport, result, the reading of a refusal), and a dropping transport for benchmarks.
import type { DsnRequest } from '../../shared/message-id';

/** What became of one hand-off. `temporary` failures (4xx, lost connection) are worth another try. */
export type HandOffResult =
  | { ok: true }
  | { ok: false; temporary: boolean; code: number | null; response: string };

/** Hands raw messages to an MTA. */
export interface MtaTransport {
  /** `dsn` is sent only where the MTA offers DSN (nodemailer leaves it out otherwise). */
  send(envelope: { from: string; to: string; dsn?: DsnRequest }, raw: Buffer): Promise<HandOffResult>;
  close(): Promise<void>;
}

/** Maps a nodemailer error to a hand-off result: 5xx (but 503) is permanent, anything else temporary. */
export function handOffFailure(error: unknown): HandOffResult {
  const e = error as { responseCode?: number; response?: string; message?: string; code?: string };
  // Only a refusal of the recipient or of the message speaks of this address; a 5xx to the greeting,
  // AUTH or MAIL FROM is the sender's or the session's problem, and stays temporary for the batch.
  const aboutMessage = e.code === 'EENVELOPE' || e.code === 'EMESSAGE';
  const code = typeof e.responseCode === 'number' && aboutMessage ? e.responseCode : null;
  const permanent = code !== null && code >= 500 && code < 600 && code !== 503;
  return {
    ok: false,
    temporary: !permanent,
    code,
    response: e.response ?? `${e.code ?? 'ERROR'}: ${e.message ?? String(error)}`,
  };
}

/** Accepts and discards every message: measures everything the pipeline does except the SMTP hand-off. */
export function droppingTransport(): MtaTransport & { count: () => number; bytes: () => number } {
  let count = 0;
  let bytes = 0;
  return {
    async send(_envelope, raw) {
      count++;
      bytes += raw.length;
      return { ok: true };
    },
    async close() {},
    count: () => count,
    bytes: () => bytes,
  };
}
